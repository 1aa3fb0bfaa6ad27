//! The scheduler's links to the rest of a running contact center (what `ccd` wires in):
//! - [`SipEdgeDialer`] places each attempt through a sip-edge node
//!   (`cc.sip.internal.v1.Dialer/PlaceCallback`), which makes it a call of its own;
//! - [`follow_capacity`] counts, from presence's shards as they change, the agents of each department who are at
//!   work, and whether each employee is free;
//! - [`follow_hours`] keeps the working hours in step with the configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, Members, Owners, Peers, ShardRoutes, keys};
use cc_common::Shutdown;
use cc_common::config::Config;
use cc_proto::agents::v1 as agents;
use cc_proto::presence::internal::v1 as control;
use cc_proto::presence::internal::v1::presence_control_client::PresenceControlClient;
use cc_proto::sip::internal::v1 as sip;
use cc_proto::sip::internal::v1::dialer_client::DialerClient;
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;

use crate::core::{CallbackId, Dispatch, Outcome, Target};
use crate::dialer::Dialer;
use crate::feeds::{Capacity, SharedHours};
use crate::hours::ConfigHours;

/// How an attempt is placed: timings the sip-edge node follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialTimings {
    /// The longest an attempt waits in the department's queue for an agent.
    pub max_wait: Duration,
    /// How long the customer's phone rings.
    pub ring: Duration,
    /// The longest the dialler waits for an outcome (under the core's `in_doubt_after`).
    pub deadline: Duration,
}

impl DialTimings {
    /// Timings that fit within `in_doubt_after`: the agent wait takes what is left after
    /// ringing an agent and the customer, with a minute's margin.
    pub fn within(in_doubt_after: Duration, ring: Duration) -> Self {
        let deadline = in_doubt_after.saturating_sub(Duration::from_secs(30));
        let max_wait = deadline
            .saturating_sub(ring * 2 + Duration::from_secs(30))
            .max(Duration::from_secs(10));
        DialTimings {
            max_wait,
            ring,
            deadline,
        }
    }
}

/// Places attempts through the sip-edge nodes of the cluster (balanced over them); asks
/// every one of them how an attempt ended, and to withdraw one.
#[derive(Debug, Clone)]
pub struct SipEdgeDialer {
    members: Members,
    edges: Channel,
    peers: Peers,
    timings: DialTimings,
}

/// How long asking one sip-edge node about an attempt may take to start answering (a node
/// that runs it answers when it ends).
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a dialler just started waits for the sip-edge nodes to be known.
const FIRST_MEMBERS: Duration = Duration::from_secs(5);

impl SipEdgeDialer {
    /// Follows the sip-edge nodes registered in `coordinator`.
    pub fn new(coordinator: Arc<dyn Coordinator>, timings: DialTimings) -> Self {
        let members = Members::follow(coordinator, "sip-edge");
        SipEdgeDialer {
            edges: members.route(),
            members,
            peers: Peers::default(),
            timings,
        }
    }

    /// Asks every sip-edge node (again, a second apart) how an attempt whose request broke
    /// ends, until one tells or the dial's deadline (from `started`) passes.
    async fn settle_unsure(&self, dispatch: Dispatch, started: tokio::time::Instant) -> Outcome {
        let deadline = started + self.timings.deadline;
        loop {
            if let Some(outcome) = self.resume(dispatch.clone()).await {
                return outcome;
            }
            if tokio::time::Instant::now() + Duration::from_secs(1) >= deadline {
                return Outcome::Failed("no sip-edge node could tell how the attempt ended".into());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// A Dialer client for each sip-edge node registered now (waiting a moment for them to
    /// be known just after start), and whether a node could not be reached at all.
    async fn each_edge(&self) -> (Vec<(String, DialerClient<Channel>)>, bool) {
        let mut nodes = self.members.subscribe();
        let _ = tokio::time::timeout(FIRST_MEMBERS, nodes.wait_for(|n| !n.is_empty())).await;
        let mut unreachable = false;
        let edges = self
            .members
            .current()
            .into_iter()
            .filter_map(|node| match self.peers.channel(&node.address) {
                Ok(channel) => Some((node.address, DialerClient::new(channel))),
                Err(e) => {
                    tracing::warn!(address = %node.address, error = %e, "a sip-edge node's address is unusable");
                    unreachable = true;
                    None
                }
            })
            .collect();
        (edges, unreachable)
    }

    fn request(&self, dispatch: &Dispatch) -> sip::PlaceCallbackRequest {
        let record = &dispatch.record;
        let (department_id, employee_id) = match &record.target {
            Target::Department(d) => (d.as_str().to_owned(), String::new()),
            Target::Employee(e) => (String::new(), e.as_str().to_owned()),
        };
        sip::PlaceCallbackRequest {
            callback_id: dispatch.id.as_str().to_owned(),
            attempt: dispatch.attempt,
            number: record.number.as_str().to_owned(),
            name: record.name.clone(),
            reasons: record.reasons.clone(),
            department_id,
            employee_id,
            enqueued_at_unix_ms: record
                .enqueued_at
                .and_then(|t| u64::try_from(t.unix_ms()).ok())
                .unwrap_or(0),
            priority: u32::from(record.priority.0),
            max_wait_ms: self.timings.max_wait.as_millis() as u64,
            ring_ms: self.timings.ring.as_millis() as u64,
            resume_only: false,
        }
    }
}

#[async_trait::async_trait]
impl Dialer for SipEdgeDialer {
    async fn dial(&self, dispatch: Dispatch) -> Outcome {
        let request = self.request(&dispatch);
        let mut client = DialerClient::new(self.edges.clone());
        let placed = tokio::time::timeout(self.timings.deadline, client.place_callback(request));
        let started = tokio::time::Instant::now();
        let answer = match placed.await {
            Ok(Ok(answer)) => answer.into_inner(),
            Ok(Err(e)) if refused(&e) => {
                tracing::warn!(callback = %dispatch.id, attempt = dispatch.attempt, error = %e, "a sip-edge node refused the callback");
                return Outcome::Failed(format!("sip-edge: {}", e.message()));
            }
            Ok(Err(e)) => {
                // The connection broke, or the node did not answer: the attempt may run on
                // there. Ask the nodes how it ends, rather than dial it again.
                tracing::warn!(callback = %dispatch.id, attempt = dispatch.attempt, error = %e, "lost the sip-edge node placing the callback; asking how the attempt ends");
                return self.settle_unsure(dispatch, started).await;
            }
            Err(_) => return Outcome::Failed("no outcome from sip-edge in time".into()),
        };
        let outcome = outcome(answer.outcome, answer.detail);
        tracing::info!(callback = %dispatch.id, attempt = dispatch.attempt, call = %answer.call_id, ?outcome, "callback attempt ended");
        outcome
    }

    /// Asks every sip-edge node at once; the one that placed the attempt answers its
    /// outcome (when it ends), the others NOT_FOUND. Every node answering NOT_FOUND means
    /// the attempt runs nowhere: it was withdrawn or lost with its node, or never arrived
    /// (the previous leader's lease expired before this leader started, so nothing it
    /// sent is still on its way).
    async fn resume(&self, dispatch: Dispatch) -> Option<Outcome> {
        let mut request = self.request(&dispatch);
        request.resume_only = true;
        let (edges, mut unsure) = self.each_edge().await;
        if edges.is_empty() {
            return None;
        }
        let mut asked: tokio::task::JoinSet<Result<sip::PlaceCallbackResponse, tonic::Status>> =
            tokio::task::JoinSet::new();
        for (_, mut client) in edges {
            let request = request.clone();
            let deadline = self.timings.deadline;
            asked.spawn(async move {
                let answer = tokio::time::timeout(deadline, client.place_callback(request));
                match answer.await {
                    Ok(answer) => answer.map(tonic::Response::into_inner),
                    Err(_) => Err(tonic::Status::deadline_exceeded("no outcome in time")),
                }
            });
        }
        while let Some(joined) = asked.join_next().await {
            match joined {
                Ok(Ok(answer)) => {
                    let outcome = outcome(answer.outcome, answer.detail);
                    tracing::info!(callback = %dispatch.id, attempt = dispatch.attempt, call = %answer.call_id, ?outcome, "a previous leader's callback attempt ended");
                    return Some(outcome);
                }
                Ok(Err(e)) if e.code() == tonic::Code::NotFound => {}
                Ok(Err(e)) => {
                    tracing::debug!(callback = %dispatch.id, error = %e, "a sip-edge node could not say how a callback attempt ended");
                    unsure = true;
                }
                Err(_) => unsure = true,
            }
        }
        if unsure {
            return None;
        }
        tracing::info!(callback = %dispatch.id, attempt = dispatch.attempt, "a previous leader's callback attempt runs on no sip-edge node");
        Some(Outcome::Failed(
            "the attempt ended with the scheduler leader that placed it".into(),
        ))
    }

    async fn withdraw(&self, id: CallbackId, attempt: u32) {
        let request = sip::WithdrawCallbackRequest {
            callback_id: id.as_str().to_owned(),
            attempt,
        };
        for (address, mut client) in self.each_edge().await.0 {
            let asked =
                tokio::time::timeout(ASK_TIMEOUT, client.withdraw_callback(request.clone()));
            match asked.await {
                Ok(Ok(_)) => {
                    tracing::info!(callback = %id, attempt, edge = %address, "callback attempt withdrawn");
                }
                Ok(Err(e)) if e.code() == tonic::Code::NotFound => {}
                Ok(Err(e)) => {
                    tracing::warn!(callback = %id, attempt, edge = %address, error = %e, "cannot withdraw a callback attempt")
                }
                Err(_) => {
                    tracing::warn!(callback = %id, attempt, edge = %address, "a sip-edge node did not answer a withdrawal")
                }
            }
        }
    }
}

/// Whether sip-edge refused to place an attempt (it is certainly not placed), as opposed
/// to the request failing on the way (it may be).
fn refused(status: &tonic::Status) -> bool {
    use tonic::Code as C;
    matches!(
        status.code(),
        C::InvalidArgument
            | C::FailedPrecondition
            | C::NotFound
            | C::AlreadyExists
            | C::PermissionDenied
            | C::ResourceExhausted
            | C::Unimplemented
            | C::OutOfRange
    )
}

/// The core's outcome for what sip-edge answered.
fn outcome(outcome: i32, detail: String) -> Outcome {
    use sip::CallbackOutcome as O;
    match O::try_from(outcome) {
        Ok(O::Reached) => Outcome::Reached,
        Ok(O::NoAnswer) => Outcome::NoAnswer,
        Ok(O::Busy) => Outcome::Busy,
        Ok(O::Failed | O::Unspecified) | Err(_) => Outcome::Failed(detail),
    }
}

/// A shard's follower retries this soon after losing its stream, then twice as long each
/// time up to [`MAX_RETRY`]; a stream that opens starts over.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// How long opening a shard's stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// What a shard's follower tells the counter.
#[derive(Debug)]
enum ShardNews {
    /// The agent is now in this state (`None`: removed from presence).
    Agent {
        shard: u32,
        agent: String,
        state: Option<agents::AgentState>,
    },
    /// The shard's stream is gone: its agents are unknown until it is followed again.
    Lost(u32),
}

/// Who can take callbacks now, as presence tells it: for each department, its members at
/// work (logged in with a phone, not paused: available, on a call, ringing or in wrap-up),
/// since a department's callback waits in its queue for the next of them like a caller;
/// for each employee, 1 while available. Until presence answers, nobody.
///
/// Presence is followed shard by shard at each shard's owner (`WatchShard`: the shard's
/// agents as they are, then every change), so a change reaches the scheduler as soon as
/// presence makes it, with no polling. A shard that cannot be followed (its node died, or
/// the shard moved) counts nobody until its stream opens again, with the snapshot it starts
/// with.
pub fn follow_capacity(
    coordinator: Arc<dyn Coordinator>,
    config: watch::Receiver<Arc<Config>>,
    shutdown: Shutdown,
) -> watch::Receiver<Capacity> {
    let owners = Owners::follow(coordinator, keys::PRESENCE_OWNERS);
    let routes = ShardRoutes::follow(&owners, keys::PRESENCE_SHARDS);
    follow_capacity_at(routes, config, shutdown)
}

/// [`follow_capacity`] with presence at `routes`.
pub fn follow_capacity_at(
    routes: ShardRoutes,
    mut config: watch::Receiver<Arc<Config>>,
    mut shutdown: Shutdown,
) -> watch::Receiver<Capacity> {
    let (tx, rx) = watch::channel(Capacity::new());
    let (news_tx, mut news) = mpsc::channel(1024);
    for shard in 0..routes.count() {
        tokio::spawn(follow_shard(
            shard,
            routes.get(shard),
            news_tx.clone(),
            shutdown.clone(),
        ));
    }
    drop(news_tx);
    tokio::spawn(async move {
        let mut states: HashMap<String, (u32, agents::AgentState)> = HashMap::new();
        let mut config_open = true;
        loop {
            tokio::select! {
                got = news.recv() => {
                    let Some(first) = got else { return };
                    apply(&mut states, first);
                    // Everything already waiting counts in one go (a snapshot, a burst).
                    while let Ok(more) = news.try_recv() {
                        apply(&mut states, more);
                    }
                }
                changed = config.changed(), if config_open => {
                    // A configuration that can no longer change stays as it is.
                    config_open = changed.is_ok();
                }
                () = shutdown.wait() => return,
            }
            let capacity = capacity(
                &config.borrow_and_update(),
                states.iter().map(|(id, (_, state))| (id.as_str(), *state)),
            );
            tx.send_if_modified(|current| {
                let changed = *current != capacity;
                *current = capacity;
                changed
            });
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}

fn apply(states: &mut HashMap<String, (u32, agents::AgentState)>, news: ShardNews) {
    match news {
        ShardNews::Agent {
            shard,
            agent,
            state: Some(state),
        } => {
            states.insert(agent, (shard, state));
        }
        ShardNews::Agent {
            agent, state: None, ..
        } => {
            states.remove(&agent);
        }
        ShardNews::Lost(shard) => states.retain(|_, (s, _)| *s != shard),
    }
}

/// Follows one presence shard at `channel` (its owner, wherever it is now) for the counter,
/// stream after stream, until shutdown or until the counter is gone.
async fn follow_shard(
    shard: u32,
    channel: Channel,
    news: mpsc::Sender<ShardNews>,
    mut shutdown: Shutdown,
) {
    let mut client = PresenceControlClient::new(channel);
    let mut retry = FIRST_RETRY;
    loop {
        let opened = tokio::select! {
            opened = tokio::time::timeout(
                OPEN_TIMEOUT,
                client.watch_shard(control::WatchShardRequest { shard }),
            ) => opened,
            () = shutdown.wait() => return,
        };
        match opened {
            Ok(Ok(stream)) => {
                retry = FIRST_RETRY;
                let mut stream = stream.into_inner();
                loop {
                    let event = tokio::select! {
                        event = stream.message() => event,
                        () = shutdown.wait() => return,
                    };
                    let event = match event {
                        Ok(Some(event)) => event,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(shard, error = %e, "callbacks: presence shard stream broke");
                            break;
                        }
                    };
                    let state = match agents::agent_event::Kind::try_from(event.kind) {
                        Ok(agents::agent_event::Kind::Removed) => None,
                        _ => Some(
                            agents::AgentState::try_from(event.to)
                                .unwrap_or(agents::AgentState::Unspecified),
                        ),
                    };
                    let told = news.send(ShardNews::Agent {
                        shard,
                        agent: event.agent_id,
                        state,
                    });
                    if told.await.is_err() {
                        return;
                    }
                }
                if news.send(ShardNews::Lost(shard)).await.is_err() {
                    return;
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(shard, error = %e, "callbacks: presence shard not followed yet");
            }
            Err(_) => tracing::debug!(shard, "callbacks: presence shard did not answer in time"),
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            () = shutdown.wait() => return,
        }
        retry = retry.saturating_mul(2).min(MAX_RETRY);
    }
}

/// The capacity the agents' states give (see [`follow_capacity`]).
pub fn capacity<'a>(
    config: &Config,
    agents: impl IntoIterator<Item = (&'a str, agents::AgentState)>,
) -> Capacity {
    use agents::AgentState as S;
    let by_id: HashMap<&str, S> = agents.into_iter().collect();
    let at_work = |id: &str| {
        matches!(
            by_id.get(id),
            Some(S::Available | S::Reserved | S::Ringing | S::OnCall | S::WrapUp)
        )
    };
    let mut capacity = Capacity::new();
    for d in &config.departments {
        let working = d.members.iter().filter(|m| at_work(m)).count();
        if working > 0 {
            capacity.insert(
                Target::department(d.id.clone()),
                u32::try_from(working).unwrap_or(u32::MAX),
            );
        }
    }
    for (id, state) in &by_id {
        if *state == S::Available {
            capacity.insert(Target::employee((*id).to_owned()), 1);
        }
    }
    capacity
}

/// The configured working hours, replaced whenever the configuration changes.
pub fn follow_hours(
    mut config: watch::Receiver<Arc<Config>>,
    mut shutdown: Shutdown,
) -> watch::Receiver<SharedHours> {
    let first: SharedHours = Arc::new(ConfigHours::new(&config.borrow_and_update()));
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = config.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = shutdown.wait() => return,
            }
            let hours: SharedHours = Arc::new(ConfigHours::new(&config.borrow_and_update()));
            if tx.send(hours).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use agents::AgentState as S;

    fn agent(id: &str, state: S) -> (&str, S) {
        (id, state)
    }

    fn demo() -> Config {
        Config::from_toml(cc_common::config::DEMO_TOML).unwrap()
    }

    #[test]
    fn a_department_counts_its_members_at_work_and_an_employee_counts_only_when_free() {
        // Demo: sales = anna, piotr; support = piotr, maria.
        let agents = [
            agent("anna", S::OnCall),
            agent("piotr", S::Available),
            agent("maria", S::Paused),
        ];
        let capacity = capacity(&demo(), agents);
        assert_eq!(capacity.get(&Target::department("sales")), Some(&2));
        assert_eq!(capacity.get(&Target::department("support")), Some(&1));
        assert_eq!(capacity.get(&Target::employee("piotr")), Some(&1));
        assert_eq!(capacity.get(&Target::employee("anna")), None, "on a call");
        assert_eq!(capacity.get(&Target::employee("maria")), None, "paused");
    }

    #[test]
    fn nobody_logged_in_is_no_capacity_at_all() {
        let agents = [
            agent("anna", S::Offline),
            agent("piotr", S::Paused),
            agent("maria", S::Unspecified),
        ];
        assert!(capacity(&demo(), agents).is_empty());
        assert!(capacity(&demo(), []).is_empty());
    }

    #[test]
    fn every_state_of_work_counts_for_a_department() {
        for state in [S::Available, S::Reserved, S::Ringing, S::OnCall, S::WrapUp] {
            let capacity = capacity(&demo(), [agent("maria", state)]);
            assert_eq!(
                capacity.get(&Target::department("support")),
                Some(&1),
                "{state:?}"
            );
        }
    }

    #[test]
    fn dial_timings_leave_room_for_both_rings_within_the_in_doubt_time() {
        let t = DialTimings::within(Duration::from_secs(600), Duration::from_secs(30));
        assert_eq!(t.deadline, Duration::from_secs(570));
        assert_eq!(t.max_wait, Duration::from_secs(480));
        assert!(t.max_wait + t.ring * 2 < t.deadline);
        // A short in-doubt time still gives the queue some time.
        let short = DialTimings::within(Duration::from_secs(60), Duration::from_secs(30));
        assert_eq!(short.max_wait, Duration::from_secs(10));
    }
}
