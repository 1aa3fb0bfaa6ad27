//! The presence service: starts the actor that owns the core and hands out
//! [`PresenceHandle`]s, through which its gRPC APIs (the only way other services reach it)
//! talk to it. Every call to the actor is bounded by a timeout (`call_t!`). With the
//! cluster's coordinator, the agents' sessions are mirrored there for a node that takes over
//! ([`crate::SESSIONS_PREFIX`], [`PresenceHandle::restore_sessions`]), and a task follows the
//! sip-edge nodes registered there: one gone for good frees the agents of its calls
//! ([`crate::edges::EdgeGrace`], [`crate::core::Presence::edge_gone`]).

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, LeaseState, Members, NodeInfo, ShardClaims};
use cc_common::actor::now;
use cc_common::config::{Applied, ConfigWatch};
use cc_common::{Config, Shutdown};
use ractor::{Actor, ActorRef, RactorErr, call_t};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::actor::{Args, Command, Msg, PresenceActor, Subscription};
use crate::adapters::Extensions;
use crate::core::{
    Agent, AgentConfig, AgentId, CallId, Device, DeviceId, EdgeNode, PauseReason, PresenceConfig,
    PresenceEvent, Reconfigured,
};
use crate::edges::EdgeGrace;
use crate::error::ServiceError;
use crate::sessions::{Session, Sessions};
use crate::shards::{Holder, Scope, shard_of};
use crate::wall::WallClock;

/// Tunables of the service around the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The core's limits.
    pub limits: PresenceConfig,
    /// Recent events kept for watchers that resume from a sequence.
    pub history: usize,
    /// How far a live watcher may fall behind before it is re-fed from the history.
    pub watcher_buffer: usize,
    /// How long a caller waits for the actor before giving up.
    pub call_timeout: Duration,
    /// How long a sip-edge node must stay unregistered before presence takes it for dead
    /// and frees the agents of its calls (with a coordinator only). A node whose lease was
    /// merely replaced registers again at once under the same name; the node's own lease
    /// TTL (~4 s) passes before its registration vanishes at all.
    pub edge_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            limits: PresenceConfig::default(),
            history: 4096,
            watcher_buffer: 1024,
            call_timeout: Duration::from_secs(2),
            edge_grace: Duration::from_secs(10),
        }
    }
}

/// What a presence node of a cluster needs to own its share of the shards.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The cluster's coordinator: sessions, owners and the sip-edge nodes live there.
    pub coordinator: Arc<dyn Coordinator>,
    /// The node's lease ([`cc_cluster::NodeLease::subscribe`]); shard keys are bound to it.
    pub lease: watch::Receiver<Option<LeaseState>>,
    /// This node as it registers (service `presence`): the value of its shard keys, where
    /// clients find its address.
    pub node: NodeInfo,
}

/// A running presence service.
#[derive(Debug)]
pub struct PresenceService {
    handle: PresenceHandle,
    extensions: Extensions,
    actor: JoinHandle<()>,
}

impl PresenceService {
    /// Starts presence with every `[[employees]]` entry as an agent (agent id = employee id),
    /// all `Offline` until they log in and register a device, and follows `config`:
    /// employees added later become agents, employees removed stop being agents (after their
    /// call, if in one; see [`crate::core::Presence::configure`]). Stops on `shutdown`.
    ///
    /// With the cluster's `coordinator`, every login, logout, pause and resume made through
    /// the handle is also written, in the background, to the coordinator under
    /// [`crate::SESSIONS_PREFIX`], where [`PresenceHandle::restore_sessions`] of the node
    /// that takes over finds it; and the sip-edge nodes registered there are followed: when
    /// one stays unregistered for [`Settings::edge_grace`], the agents bound to calls it
    /// carried are freed ([`crate::core::Presence::edge_gone`]).
    pub async fn start(
        config: ConfigWatch,
        coordinator: Option<Arc<dyn Coordinator>>,
        shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        let agents = agents_of(&config.borrow());
        let settings = Settings::default();
        let mut service =
            Self::launch(agents, settings, coordinator, Scope::All, shutdown.clone()).await?;
        service.follow(config, shutdown);
        Ok(service)
    }

    /// Starts presence as one node of a cluster: like [`Self::start`] with the cluster's
    /// coordinator, but serving only the agents of the presence shards it owns
    /// ([`crate::shards`]): it claims its share of them (all of them when alone), takes more
    /// over when another node dies, and hands them over when it stops (on `shutdown`).
    pub async fn start_sharded(
        config: ConfigWatch,
        cluster: Cluster,
        shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        let agents = agents_of(&config.borrow());
        let coordinator = Some(cluster.coordinator.clone());
        let mut service = Self::launch(
            agents,
            Settings::default(),
            coordinator,
            Scope::none(),
            shutdown.clone(),
        )
        .await?;
        service.follow(config, shutdown.clone());
        let claims = ShardClaims {
            coordinator: cluster.coordinator,
            prefix: cc_cluster::keys::PRESENCE_OWNERS,
            shards: cc_cluster::keys::PRESENCE_SHARDS,
            node: cluster.node,
            lease: cluster.lease,
        };
        let holder = Holder {
            presence: service.handle(),
        };
        let mut stop = shutdown;
        tokio::spawn(async move { claims.run(holder, async move { stop.wait().await }).await });
        Ok(service)
    }

    /// Follows `config`: employees become agents, see [`Self::start`].
    fn follow(&mut self, config: ConfigWatch, shutdown: Shutdown) {
        self.extensions = Extensions::following(config.clone());
        let presence = self.handle();
        tokio::spawn(cc_common::config::follow(
            config,
            shutdown,
            move |config: Arc<Config>| {
                let presence = presence.clone();
                async move { presence.follow_config(&config).await }
            },
        ));
    }

    /// Starts presence with the given agents and settings (tests use a small history). No
    /// extension is an agent's ([`Self::extensions`]).
    pub async fn start_with(
        agents: Vec<AgentConfig>,
        settings: Settings,
        shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        Self::launch(agents, settings, None, Scope::All, shutdown).await
    }

    /// Like [`Self::start_with`], in a cluster: sessions mirrored into `coordinator` and the
    /// sip-edge nodes registered there followed, as [`Self::start`] does with one.
    pub async fn start_in_cluster(
        agents: Vec<AgentConfig>,
        settings: Settings,
        coordinator: Arc<dyn Coordinator>,
        shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        Self::launch(agents, settings, Some(coordinator), Scope::All, shutdown).await
    }

    async fn launch(
        agents: Vec<AgentConfig>,
        settings: Settings,
        coordinator: Option<Arc<dyn Coordinator>>,
        scope: Scope,
        mut shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        let sessions = coordinator
            .as_ref()
            .map(|c| Sessions::start(c.clone(), shutdown.clone()));
        let (scope, scopes) = watch::channel(scope);
        let args = Args {
            scope,
            agents,
            limits: settings.limits,
            history: settings.history,
            broadcast: settings.watcher_buffer,
            sessions: sessions.clone(),
        };
        let wall = WallClock::now();
        let (actor, join) = Actor::spawn(None, PresenceActor, args)
            .await
            .map_err(|e| ServiceError::Start(e.to_string()))?;
        if let Some(coordinator) = coordinator {
            let edges = Members::follow(coordinator, SIP_EDGE);
            let grace = EdgeGrace::new(settings.edge_grace);
            tokio::spawn(follow_edges(edges, grace, actor.clone(), shutdown.clone()));
        }
        let stop = actor.clone();
        tokio::spawn(async move {
            shutdown.wait().await;
            stop.stop(Some("shutdown".into()));
        });
        let timeout_ms = u64::try_from(settings.call_timeout.as_millis()).unwrap_or(u64::MAX);
        tracing::info!("presence started");
        Ok(Self {
            handle: PresenceHandle {
                actor,
                wall,
                timeout_ms,
                sessions,
                scope: scopes,
            },
            extensions: Extensions::default(),
            actor: join,
        })
    }

    /// A handle to talk to presence.
    pub fn handle(&self) -> PresenceHandle {
        self.handle.clone()
    }

    /// Which agent a phone registering for an extension belongs to: the employees of the
    /// configuration followed (for `PresenceControl`'s device reports).
    pub fn extensions(&self) -> Extensions {
        self.extensions.clone()
    }

    /// Waits until the actor has stopped (after shutdown was triggered).
    pub async fn stopped(self) {
        let _ = self.actor.await;
    }
}

/// The agents of a configuration: its employees (agent id = employee id).
fn agents_of(config: &Config) -> Vec<AgentConfig> {
    config
        .employees
        .iter()
        .map(|e| AgentConfig::new(e.id.as_str(), e.name.as_str()))
        .collect()
}

/// The cluster service whose nodes carry calls (`/cc/nodes/sip-edge/<node>`).
const SIP_EDGE: &str = "sip-edge";

/// Feeds the sip-edge membership to `grace` and tells the actor about every node gone for
/// good, until shutdown or the actor stops. The actor logs what it freed.
async fn follow_edges(
    members: Members,
    mut grace: EdgeGrace,
    actor: ActorRef<Msg>,
    mut shutdown: Shutdown,
) {
    let mut nodes = members.subscribe();
    let mut changed = true;
    loop {
        if changed {
            let present: Vec<EdgeNode> = nodes
                .borrow_and_update()
                .iter()
                .map(|n| EdgeNode::new(n.node.as_str()))
                .collect();
            grace.handle_members(present, now());
        } else {
            grace.handle_timeout(now());
        }
        while let Some(edge) = grace.poll_gone() {
            if actor.cast(Msg::EdgeGone(edge)).is_err() {
                return;
            }
        }
        let deadline = grace.poll_timeout();
        let wake = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = nodes.changed() => {
                if result.is_err() {
                    return;
                }
                changed = true;
            }
            () = wake => changed = false,
            () = shutdown.wait() => return,
        }
    }
}

/// Runs presence until `shutdown` (the `run(config, shutdown)` every service crate offers),
/// alone: no coordinator keeps its sessions.
pub async fn run(config: ConfigWatch, shutdown: Shutdown) -> Result<(), ServiceError> {
    PresenceService::start(config, None, shutdown)
        .await?
        .stopped()
        .await;
    Ok(())
}

/// A cheap, cloneable way to send presence inputs and queries.
#[derive(Debug, Clone)]
pub struct PresenceHandle {
    actor: ActorRef<Msg>,
    wall: WallClock,
    timeout_ms: u64,
    sessions: Option<Sessions>,
    scope: watch::Receiver<Scope>,
}

/// Events for one watcher, in sequence order; ends with an error if the watcher fell out of
/// the history, and without one when presence stops.
pub type EventStream = mpsc::Receiver<Result<PresenceEvent, ServiceError>>;

impl PresenceHandle {
    /// Maps the core's instants to Unix time for the API.
    pub fn wall_clock(&self) -> WallClock {
        self.wall
    }

    /// Applies one input to one agent and returns the agent afterwards.
    pub async fn apply(&self, agent: &AgentId, command: Command) -> Result<Agent, ServiceError> {
        let reply = call_t!(
            self.actor,
            Msg::Apply,
            self.timeout_ms,
            agent.clone(),
            command
        );
        reply.map_err(|e| self.failed(e))?
    }

    /// Logs the agent in.
    pub async fn login(&self, agent: &AgentId) -> Result<Agent, ServiceError> {
        self.apply(agent, Command::Login).await
    }

    /// Logs the agent out.
    pub async fn logout(&self, agent: &AgentId) -> Result<Agent, ServiceError> {
        self.apply(agent, Command::Logout).await
    }

    /// Pauses the agent.
    pub async fn pause(&self, agent: &AgentId, reason: PauseReason) -> Result<Agent, ServiceError> {
        self.apply(agent, Command::Pause(reason)).await
    }

    /// Ends the agent's pause.
    pub async fn resume(&self, agent: &AgentId) -> Result<Agent, ServiceError> {
        self.apply(agent, Command::Resume).await
    }

    /// One of the agent's devices registered (or refreshed).
    pub async fn device_registered(
        &self,
        agent: &AgentId,
        device: Device,
    ) -> Result<Agent, ServiceError> {
        self.apply(agent, Command::DeviceRegistered(device)).await
    }

    /// One of the agent's devices went away.
    pub async fn device_gone(
        &self,
        agent: &AgentId,
        device: DeviceId,
    ) -> Result<Agent, ServiceError> {
        self.apply(agent, Command::DeviceGone(device)).await
    }

    /// Takes an available agent for `call`, carried by the sip-edge node `edge` if known,
    /// for at most `ttl` ([`crate::core::Presence::reserve`]).
    pub async fn reserve(
        &self,
        agent: &AgentId,
        call: CallId,
        edge: Option<EdgeNode>,
        ttl: Duration,
    ) -> Result<Agent, ServiceError> {
        self.apply(agent, Command::Reserve { call, edge, ttl })
            .await
    }

    /// A call already ringing the agent (`answered == false`) or talking with them, carried
    /// by the sip-edge node `edge` if known, reported after this node took over
    /// ([`crate::core::Presence::call_in_progress`]).
    pub async fn call_in_progress(
        &self,
        agent: &AgentId,
        call: CallId,
        edge: Option<EdgeNode>,
        answered: bool,
    ) -> Result<Agent, ServiceError> {
        let command = Command::CallInProgress {
            call,
            edge,
            answered,
        };
        self.apply(agent, command).await
    }

    /// Makes the agents' sessions (logged in, paused and why) what the coordinator given to
    /// [`PresenceService::start`] holds under [`crate::SESSIONS_PREFIX`]: for the node that
    /// has just taken presence over. Returns how many stored sessions were applied; an
    /// agent already in its stored session counts without changing.
    ///
    /// Idempotent. Stored sessions of unknown agents, and unreadable ones, are skipped.
    /// A session changed through this handle after the read began is newer and is kept.
    /// Nothing applied here is written back. Without a coordinator there is nothing to
    /// restore (`Ok(0)`); [`ServiceError::Sessions`] when the coordinator cannot be read
    /// (nothing changed then).
    pub async fn restore_sessions(&self) -> Result<usize, ServiceError> {
        self.restore_sessions_of(None).await
    }

    /// [`Self::restore_sessions`] for the agents of one shard only (`None`: every agent).
    pub async fn restore_sessions_of(&self, shard: Option<u32>) -> Result<usize, ServiceError> {
        let Some(sessions) = &self.sessions else {
            return Ok(0);
        };
        // Changes made here before the mark are in the coordinator before the read, so the
        // read is at least as new for every agent not changed after the mark.
        let mark = sessions.mark();
        sessions.flush(mark).await.map_err(ServiceError::Sessions)?;
        let listing = sessions.list().await.map_err(ServiceError::Sessions)?;
        let stored = listing
            .kvs
            .iter()
            .filter_map(|kv| {
                match Session::parse(&kv.key, &kv.value).and_then(|(id, s)| Ok((id, s.restore()?)))
                {
                    Ok((id, _)) if shard.is_some_and(|s| shard_of(&id) != s) => None,
                    Ok(stored) => Some(stored),
                    Err(e) => {
                        tracing::warn!(key = %kv.key, error = %e, "unreadable session skipped");
                        None
                    }
                }
            })
            .collect();
        let reply = call_t!(self.actor, Msg::Restore, self.timeout_ms, stored, mark);
        let applied = reply.map_err(|e| self.failed(e))?;
        tracing::info!(
            applied,
            stored = listing.kvs.len(),
            "agents' sessions restored"
        );
        Ok(applied)
    }

    /// Writes out every session change made here so far (for a node handing a shard over:
    /// the next owner reads them). Without a coordinator there is nothing to write.
    pub async fn flush_sessions(&self) -> Result<(), ServiceError> {
        match &self.sessions {
            Some(sessions) => sessions
                .flush(sessions.mark())
                .await
                .map_err(ServiceError::Sessions),
            None => Ok(()),
        }
    }

    /// Serves the agents of `shard` from now on, starting from nothing.
    pub async fn own(&self, shard: u32) -> Result<(), ServiceError> {
        call_t!(self.actor, Msg::Own, self.timeout_ms, shard).map_err(|e| self.failed(e))
    }

    /// Stops serving the agents of `shard` and forgets them.
    pub async fn disown(&self, shard: u32) -> Result<(), ServiceError> {
        call_t!(self.actor, Msg::Disown, self.timeout_ms, shard).map_err(|e| self.failed(e))
    }

    /// Which agents this node serves, followed.
    pub fn scope(&self) -> watch::Receiver<Scope> {
        self.scope.clone()
    }

    /// The agents of `shard` as they are now, then their events; the stream ends with
    /// [`ServiceError::ShardNotOwned`] when this node stops owning the shard and with
    /// [`ServiceError::Lagged`] when the watcher falls behind. Refused at once with
    /// [`ServiceError::ShardNotOwned`] when the node does not own it.
    pub async fn watch_shard(&self, shard: u32) -> Result<(Vec<Agent>, EventStream), ServiceError> {
        let reply = call_t!(self.actor, Msg::WatchShard, self.timeout_ms, shard);
        let (agents, sub) = reply.map_err(|e| self.failed(e))??;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(feed_shard(sub, shard, self.scope.clone(), tx));
        Ok((agents, rx))
    }

    /// Makes the configured set of agents `agents` ([`crate::core::Presence::configure`]).
    pub async fn configure(&self, agents: Vec<AgentConfig>) -> Result<Reconfigured, ServiceError> {
        let reply = call_t!(self.actor, Msg::Configure, self.timeout_ms, agents);
        Ok(reply.map_err(|e| self.failed(e))??)
    }

    /// Applies a new configuration snapshot, for [`cc_common::config::follow`].
    async fn follow_config(&self, config: &Config) -> Applied {
        match self.configure(agents_of(config)).await {
            Ok(done) if done == Reconfigured::default() => {
                tracing::debug!("presence follows: nothing to change");
                Applied::Done
            }
            Ok(done) => {
                tracing::info!(
                    added = done.added.len(),
                    updated = done.updated.len(),
                    removed = done.removed.len(),
                    retiring = done.retiring.len(),
                    "presence follows the new configuration"
                );
                Applied::Done
            }
            Err(ServiceError::Stopped) => Applied::Stop,
            Err(e @ ServiceError::Timeout(_)) => {
                tracing::warn!(error = %e, "presence busy; the configuration is retried");
                Applied::Retry
            }
            Err(e) => {
                // Refused as a whole (e.g. beyond the agent limit): the same snapshot would
                // be refused again, so wait for the next one.
                tracing::error!(error = %e, "presence refused the new configuration");
                Applied::Done
            }
        }
    }

    /// Every agent, ordered by id.
    pub async fn agents(&self) -> Result<Vec<Agent>, ServiceError> {
        call_t!(self.actor, Msg::List, self.timeout_ms).map_err(|e| self.failed(e))
    }

    /// One agent.
    pub async fn agent(&self, agent: &AgentId) -> Result<Agent, ServiceError> {
        let reply = call_t!(self.actor, Msg::Get, self.timeout_ms, agent.clone());
        reply.map_err(|e| self.failed(e))?
    }

    /// Events from sequence `from` on (0: only new ones). Refused at once when `from` is no
    /// longer in the history. A watcher that falls behind the live channel is re-fed from
    /// the history, so it sees every sequence exactly once or an error, never a silent gap.
    pub async fn watch(&self, from: u64) -> Result<EventStream, ServiceError> {
        let first = self.subscribe(from).await?;
        let (tx, rx) = mpsc::channel(64);
        let handle = self.clone();
        tokio::spawn(async move { handle.feed(first, tx).await });
        Ok(rx)
    }

    async fn subscribe(&self, from: u64) -> Result<Subscription, ServiceError> {
        let reply = call_t!(self.actor, Msg::Watch, self.timeout_ms, from);
        reply.map_err(|e| self.failed(e))?
    }

    /// Copies a subscription into a watcher's channel until the watcher leaves or presence
    /// stops, resubscribing from the next expected sequence when the live channel lagged.
    async fn feed(
        &self,
        mut sub: Subscription,
        tx: mpsc::Sender<Result<PresenceEvent, ServiceError>>,
    ) {
        loop {
            for event in sub.replay.drain(..) {
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            let mut next = sub.next;
            let lagged = loop {
                let received = tokio::select! {
                    received = sub.live.recv() => received,
                    () = tx.closed() => return,
                };
                match received {
                    // Cannot happen (replay and live are split in one actor turn); kept so
                    // that a watcher never sees a sequence twice whatever changes there.
                    Ok(event) if event.seq() < next => {}
                    Ok(event) => {
                        next = event.seq().saturating_add(1);
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => break true,
                    Err(broadcast::error::RecvError::Closed) => break false,
                }
            };
            if !lagged {
                return;
            }
            match self.subscribe(next).await {
                Ok(fresh) => sub = fresh,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    }

    fn failed(&self, e: RactorErr<Msg>) -> ServiceError {
        match e {
            RactorErr::Timeout => ServiceError::Timeout(self.timeout_ms),
            _ => ServiceError::Stopped,
        }
    }
}

/// Copies the events of `shard`'s agents from `sub` to a shard watcher until it leaves, the
/// node stops owning the shard or the watcher falls behind.
async fn feed_shard(
    sub: Subscription,
    shard: u32,
    mut scope: watch::Receiver<Scope>,
    tx: mpsc::Sender<Result<PresenceEvent, ServiceError>>,
) {
    let mut live = sub.live;
    loop {
        let ended = tokio::select! {
            received = live.recv() => match received {
                Ok(event) if shard_of(event.agent()) == shard => {
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => ServiceError::Lagged,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = scope.changed() => {
                if changed.is_ok() && scope.borrow_and_update().covers_shard(shard) {
                    continue;
                }
                ServiceError::ShardNotOwned(shard)
            }
            () = tx.closed() => return,
        };
        let _ = tx.send(Err(ended)).await;
        return;
    }
}
