//! The queue service: starts the actor that owns the core, the task that follows presence
//! into it, and hands out [`QueueHandle`]s through which the gRPC API and (later) sip-edge's
//! call actors talk to it. Every call to the actor is bounded by a timeout (`call_t!`), and
//! so is every request to presence, which the queue reaches only through presence's gRPC
//! API (`presence_link`), at the owner of each agent's presence shard ([`ShardRoutes`]),
//! following the shards one by one (`follow`). In a cluster it serves only the departments this node owns
//! ([`Ownership`]), and drops the calls of sip-edge nodes that left the cluster (`edges`).

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::ShardRoutes;
use cc_common::config::{Applied, ConfigWatch};
use cc_common::{Config, Shutdown};
use ractor::{Actor, ActorRef, RactorErr, call_t};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::actor::{Args, Input, Msg, QueueActor};
use crate::core::{
    AgentId, CallId, CoreConfig, DepartmentConfig, DepartmentId, Enqueue, LastAgent, MemberConfig,
    Priority, Reconfigured, RejectReason, RingPlan, Strategy,
};
use crate::edges;
use crate::error::ServiceError;
use crate::follow;
use crate::owners::{Claims, Ownership};
use crate::presence_link::PresenceLink;

/// What the queue tells the call actors that execute its plans (the core's outputs minus
/// the pauses, which the service applies to presence itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    /// The plan's agents are reserved; ring them as scheduled.
    Offer {
        /// The queued call.
        call: CallId,
        /// Whom to ring, when.
        plan: RingPlan,
    },
    /// Stop ringing (or never start) this agent for this call.
    CancelOffer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// The running plan was brought forward; replaces it.
    PlanChanged {
        /// The queued call.
        call: CallId,
        /// The remaining schedule.
        plan: RingPlan,
    },
    /// Nobody answered; the call waits again in its place.
    OfferFailed {
        /// The call.
        call: CallId,
    },
    /// The number of calls in a department's queue changed.
    QueueChanged {
        /// The department.
        department: DepartmentId,
        /// Calls now in its queue, offered ones included.
        waiting: usize,
    },
}

/// One call in a department's queue, as callers and supervisors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingCall {
    /// The call.
    pub call: CallId,
    /// 1-based place in line (offered calls included).
    pub position: usize,
    /// Time since its original enqueue.
    pub wait: Duration,
    /// The core's rough estimate, when it has one.
    pub expected_wait: Option<Duration>,
    /// Its priority.
    pub priority: Priority,
}

/// The state of one department's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    /// The department.
    pub department: DepartmentId,
    /// Calls in its queue, offered ones included.
    pub waiting: usize,
    /// The wait of the call waiting longest (zero when none waits).
    pub longest_wait: Duration,
    /// Members that would be put into the next plan.
    pub available_agents: usize,
    /// Members configured.
    pub agents: usize,
}

/// Tunables of the service around the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The core's knobs.
    pub core: CoreConfig,
    /// How long a caller waits for the actor before giving up.
    pub call_timeout: Duration,
    /// How far a [`QueueEvent`] subscriber may fall behind before it loses events.
    pub event_buffer: usize,
    /// How long a reservation outlives its target's ring time without a ringing confirmation.
    pub reservation_grace: Duration,
    /// Presence's upper bound on a reservation's time-to-live.
    pub max_reservation: Duration,
    /// How long one request to presence (reserve, release, pause, opening a shard's watch)
    /// may take before presence counts as slow or unreachable.
    pub presence_timeout: Duration,
    /// How long releasing one ownership key may take when the queue stops or a department
    /// leaves the configuration (ownership mode); past it the key goes with the node lease.
    pub release_timeout: Duration,
    /// How long a sip-edge node may be missing from the cluster's members before its calls
    /// leave the queues (ownership mode): a node whose lease was merely replaced registers
    /// again at once under the same name.
    pub edge_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            core: CoreConfig::default(),
            call_timeout: Duration::from_secs(2),
            event_buffer: 16_384,
            reservation_grace: Duration::from_secs(5),
            max_reservation: Duration::from_secs(120),
            presence_timeout: Duration::from_secs(3),
            release_timeout: Duration::from_secs(3),
            edge_grace: Duration::from_secs(10),
        }
    }
}

/// A running queue service.
#[derive(Debug)]
pub struct QueueService {
    handle: QueueHandle,
    actor: JoinHandle<()>,
}

impl QueueService {
    /// Starts the queues of every `[[departments]]` entry (members are employee ids, which
    /// are presence's agent ids), following presence at `presence`: one channel per presence
    /// shard ([`cc_cluster::keys::PRESENCE_SHARDS`] of them), each to the node that owns
    /// the shard and serves `cc.agents.v1.Agents` and `cc.presence.internal.v1.PresenceControl`
    /// for it ([`ShardRoutes::follow`] in a cluster, [`ShardRoutes::single`] for one presence
    /// node owning every shard). The channels may be lazy, and presence nodes may come and
    /// go and shards move between them. Also follows `config`: departments added,
    /// changed or removed later take effect from the next plan on; a removed department with
    /// waiting calls closes and goes when they have left (see
    /// [`crate::core::QueueCore::handle_configure`]). Stops on `shutdown`.
    ///
    /// With `ownership`, serves only the configured departments this node owns in the
    /// cluster, and claims every configured department (see [`Self::start_with_ownership`]);
    /// without, serves every configured department.
    pub async fn start(
        config: ConfigWatch,
        presence: ShardRoutes,
        ownership: Option<Ownership>,
        shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        let departments = departments_of(&config.borrow());
        let service = Self::start_with_ownership(
            departments,
            presence,
            Settings::default(),
            ownership,
            shutdown.clone(),
        )
        .await?;
        let queue = service.handle();
        tokio::spawn(cc_common::config::follow(
            config,
            shutdown,
            move |config: Arc<Config>| {
                let queue = queue.clone();
                async move { queue.follow_config(&config).await }
            },
        ));
        Ok(service)
    }

    /// Starts with the given departments and settings (tests use a small miss limit),
    /// serving every one of them.
    pub async fn start_with(
        departments: Vec<DepartmentConfig>,
        presence: ShardRoutes,
        settings: Settings,
        shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        Self::start_with_ownership(departments, presence, settings, None, shutdown).await
    }

    /// Starts with the given departments and settings; with `ownership`, serves only those
    /// this node owns in the cluster (`None` serves them all, as [`Self::start_with`]).
    ///
    /// In ownership mode every configured department is claimed: its key
    /// `/cc/own/queue/<department>` ([`cc_cluster::keys::queue_owner`]) is acquired under the
    /// node's lease with `ownership.node` as JSON for its value, and the department is served
    /// from then on. When the ownership is lost (lease lost or replaced, key deleted or
    /// taken), the department is dropped before anything else — waiting and offered calls
    /// included, without events about them ([`crate::core::QueueCore::handle_disown`]): the
    /// calls' sip-edge nodes enqueue them again at the new owner — and claimed again.
    /// Departments configured later are claimed too; departments removed have their key
    /// released. A department configured but not owned refuses calls with
    /// [`ServiceError::NotOwned`]. On `shutdown` the queue stops offering, then releases every
    /// key it holds (a graceful hand-over: another node takes over at once instead of when
    /// the lease expires), and only then reports [`Self::stopped`].
    ///
    /// In ownership mode the queue also follows the sip-edge nodes registered with the
    /// coordinator (`/cc/nodes/sip-edge/<node>`): when one that was registered stays away
    /// for longer than [`Settings::edge_grace`], every queued call whose enqueue named it
    /// ([`Enqueue::edge`]) is abandoned, its offer's agents released in presence.
    pub async fn start_with_ownership(
        departments: Vec<DepartmentConfig>,
        presence: ShardRoutes,
        settings: Settings,
        ownership: Option<Ownership>,
        mut shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        let edge_coordinator = ownership.as_ref().map(|o| o.coordinator.clone());
        let claims = ownership
            .map(|o| Claims::new(o, settings.release_timeout))
            .transpose()
            .map_err(|e| ServiceError::Start(format!("node info not serialisable: {e}")))?;
        let (events, _) = broadcast::channel(settings.event_buffer.max(1));
        // Handles keep only a weak sender: once the actor (the one strong sender) stops,
        // every subscription ends instead of waiting forever.
        let weak_events = events.downgrade();
        let presence = PresenceLink::new(presence, settings.presence_timeout);
        let args = Args {
            core: settings.core,
            departments,
            claims,
            presence: presence.clone(),
            events,
            reservation_grace: settings.reservation_grace,
            max_reservation: settings.max_reservation,
        };
        let (actor, join) = Actor::spawn(None, QueueActor, args)
            .await
            .map_err(|e| ServiceError::Start(e.to_string()))?;
        follow::spawn(presence, actor.clone(), shutdown.clone());
        if let Some(coordinator) = edge_coordinator {
            edges::spawn(
                coordinator,
                settings.edge_grace,
                actor.clone(),
                shutdown.clone(),
            );
        }
        let stop = actor.clone();
        tokio::spawn(async move {
            shutdown.wait().await;
            stop.stop(Some("shutdown".into()));
        });
        let timeout_ms = u64::try_from(settings.call_timeout.as_millis()).unwrap_or(u64::MAX);
        tracing::info!("queue started");
        Ok(Self {
            handle: QueueHandle {
                actor,
                events: weak_events,
                timeout_ms,
            },
            actor: join,
        })
    }

    /// A handle to talk to the queues.
    pub fn handle(&self) -> QueueHandle {
        self.handle.clone()
    }

    /// Waits until the actor has stopped (after shutdown was triggered) and, in ownership
    /// mode, has released the departments it owned.
    pub async fn stopped(self) {
        let _ = self.actor.await;
    }
}

/// The core's view of a configuration's departments.
fn departments_of(config: &Config) -> Vec<DepartmentConfig> {
    config.departments.iter().map(department).collect()
}

/// The core's view of one configured department.
///
/// Strategies that ring one member at a time get plans of one target: the next member is
/// chosen when that ring ends (passing over members who already missed the call), so the
/// other free members stay free for the calls behind it. Ring-all and progressive ring
/// several members at once, so their plans hold every available member.
fn department(d: &cc_common::config::Department) -> DepartmentConfig {
    let strategy = strategy(d.strategy);
    let max_plan_targets = match strategy {
        Strategy::RingAll | Strategy::Progressive => None,
        Strategy::Sequential
        | Strategy::LongestIdle
        | Strategy::RoundRobin
        | Strategy::FewestCalls
        | Strategy::LeastTalkTime
        | Strategy::Random => Some(1),
    };
    DepartmentConfig {
        id: DepartmentId::new(d.id.as_str()),
        strategy,
        ring_seconds: d.ring_seconds,
        wrap_up_seconds: d.wrap_up_seconds,
        members: d
            .members
            .iter()
            .map(|m| MemberConfig {
                agent: AgentId::new(m.as_str()),
                ring_seconds: None,
            })
            .collect(),
        max_plan_targets,
        last_agent: (d.last_agent_minutes > 0).then(|| LastAgent {
            remember: Duration::from_secs(u64::from(d.last_agent_minutes) * 60),
            ring: Duration::from_secs(u64::from(d.last_agent_ring_seconds)),
        }),
    }
}

fn strategy(s: cc_common::config::Strategy) -> Strategy {
    use cc_common::config::Strategy as S;
    match s {
        S::RingAll => Strategy::RingAll,
        S::Sequential => Strategy::Sequential,
        S::Progressive => Strategy::Progressive,
        S::LongestIdle => Strategy::LongestIdle,
        S::RoundRobin => Strategy::RoundRobin,
        S::FewestCalls => Strategy::FewestCalls,
        S::LeastTalkTime => Strategy::LeastTalkTime,
        S::Random => Strategy::Random,
    }
}

/// A cheap, cloneable way to send queue inputs and queries.
#[derive(Debug, Clone)]
pub struct QueueHandle {
    actor: ActorRef<Msg>,
    events: broadcast::WeakSender<QueueEvent>,
    timeout_ms: u64,
}

impl QueueHandle {
    /// Offers, cancellations and queue changes from now on. A subscriber that falls more than
    /// [`Settings::event_buffer`] events behind gets `Lagged` and must re-read what it needs.
    /// The receiver is closed once the queue has stopped.
    pub fn subscribe(&self) -> broadcast::Receiver<QueueEvent> {
        match self.events.upgrade() {
            Some(events) => events.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Applies one input.
    pub async fn apply(&self, input: Input) -> Result<(), ServiceError> {
        let reply = call_t!(self.actor, Msg::Apply, self.timeout_ms, input);
        reply.map_err(|e| self.failed(e))?
    }

    /// A call joins a department's queue now. In ownership mode a department configured but
    /// not owned here is refused with [`ServiceError::NotOwned`].
    pub async fn enqueue(
        &self,
        call: CallId,
        department: DepartmentId,
        priority: Priority,
    ) -> Result<(), ServiceError> {
        self.apply(Input::Enqueue(Enqueue {
            call,
            department,
            priority,
            enqueued_at: None,
            edge: None,
            caller: None,
        }))
        .await
    }

    /// A call joins a department's queue (at its original time when `enqueued_at` is set)
    /// and gets its place in line right after joining, in one step. Refused as
    /// [`Self::enqueue`].
    pub async fn join(&self, request: Enqueue) -> Result<WaitingCall, ServiceError> {
        let reply = call_t!(self.actor, Msg::Join, self.timeout_ms, request);
        reply.map_err(|e| self.failed(e))?
    }

    /// The caller left the queue (hung up, voicemail, callback).
    pub async fn abandon(&self, call: CallId) -> Result<(), ServiceError> {
        self.apply(Input::Abandon(call)).await
    }

    /// The agent answered the call.
    pub async fn answered(&self, call: CallId, agent: AgentId) -> Result<(), ServiceError> {
        self.apply(Input::Answered { call, agent }).await
    }

    /// The agent answered and hears who calls before taking the call.
    pub async fn presenting(&self, call: CallId, agent: AgentId) -> Result<(), ServiceError> {
        self.apply(Input::Presenting { call, agent }).await
    }

    /// The agent declined or did not answer.
    pub async fn rejected(
        &self,
        call: CallId,
        agent: AgentId,
        reason: RejectReason,
    ) -> Result<(), ServiceError> {
        self.apply(Input::Rejected {
            call,
            agent,
            reason,
        })
        .await
    }

    /// An answered call ended.
    pub async fn call_ended(&self, call: CallId) -> Result<(), ServiceError> {
        self.apply(Input::CallEnded(call)).await
    }

    /// The calls in a department's queue, in line order. In ownership mode only an owned
    /// department answers; one configured but owned by another node is refused with
    /// [`ServiceError::NotOwned`].
    pub async fn waiting(
        &self,
        department: &DepartmentId,
    ) -> Result<Vec<WaitingCall>, ServiceError> {
        let reply = call_t!(
            self.actor,
            Msg::Waiting,
            self.timeout_ms,
            department.clone()
        );
        reply.map_err(|e| self.failed(e))?
    }

    /// A queued call's place in line and its waits. Only calls queued at this node are known
    /// (in a cluster, those of the departments it owns).
    pub async fn position(&self, call: &CallId) -> Result<WaitingCall, ServiceError> {
        let reply = call_t!(self.actor, Msg::Position, self.timeout_ms, call.clone());
        Ok(reply.map_err(|e| self.failed(e))??)
    }

    /// Makes the configured departments `departments`
    /// ([`crate::core::QueueCore::handle_configure`]). In ownership mode the new ones are
    /// claimed and served once owned, the removed ones released, and the result lists only
    /// changes to the departments served here.
    pub async fn configure(
        &self,
        departments: Vec<DepartmentConfig>,
    ) -> Result<Reconfigured, ServiceError> {
        let reply = call_t!(self.actor, Msg::Configure, self.timeout_ms, departments);
        Ok(reply.map_err(|e| self.failed(e))??)
    }

    /// Applies a new configuration snapshot, for [`cc_common::config::follow`].
    async fn follow_config(&self, config: &Config) -> Applied {
        match self.configure(departments_of(config)).await {
            Ok(done) if done == Reconfigured::default() => {
                tracing::debug!("queues follow: nothing to change");
                Applied::Done
            }
            Ok(done) => {
                tracing::info!(
                    added = ?done.added,
                    updated = ?done.updated,
                    removed = ?done.removed,
                    closing = ?done.closing,
                    "queues follow the new configuration"
                );
                Applied::Done
            }
            Err(ServiceError::Stopped) => Applied::Stop,
            Err(e @ ServiceError::Timeout(_)) => {
                tracing::warn!(error = %e, "queue busy; the configuration is retried");
                Applied::Retry
            }
            Err(e) => {
                // Refused as a whole: the same snapshot would be refused again.
                tracing::error!(error = %e, "queue refused the new configuration");
                Applied::Done
            }
        }
    }

    /// Every configured department, in configured order, whether this node owns it or not.
    pub async fn configured(&self) -> Result<Vec<DepartmentId>, ServiceError> {
        call_t!(self.actor, Msg::Configured, self.timeout_ms).map_err(|e| self.failed(e))
    }

    /// Every department's queue, in configured order: in ownership mode only the departments
    /// this node owns (plus closing ones it still drains); the others are on their owners.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, ServiceError> {
        call_t!(self.actor, Msg::Stats, self.timeout_ms).map_err(|e| self.failed(e))
    }

    fn failed(&self, e: RactorErr<Msg>) -> ServiceError {
        match e {
            RactorErr::Timeout => ServiceError::Timeout(self.timeout_ms),
            _ => ServiceError::Stopped,
        }
    }
}
