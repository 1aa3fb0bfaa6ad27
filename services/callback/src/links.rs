//! The scheduler's links to the rest of a running contact center (what `ccd` wires in):
//! - [`SipEdgeDialer`] places each attempt through a sip-edge node
//!   (`cc.sip.internal.v1.Dialer/PlaceCallback`), which makes it a call of its own;
//! - [`follow_capacity`] counts, from presence, the agents of each department who are at
//!   work, and whether each employee is free;
//! - [`follow_hours`] keeps the working hours in step with the configuration.

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, Members};
use cc_common::Shutdown;
use cc_common::config::Config;
use cc_proto::agents::v1 as agents;
use cc_proto::agents::v1::agents_client::AgentsClient;
use cc_proto::sip::internal::v1 as sip;
use cc_proto::sip::internal::v1::dialer_client::DialerClient;
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::core::{Dispatch, Outcome, Target};
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

/// Places attempts through the sip-edge nodes of the cluster (balanced over them).
#[derive(Debug, Clone)]
pub struct SipEdgeDialer {
    edges: Channel,
    timings: DialTimings,
}

impl SipEdgeDialer {
    /// Follows the sip-edge nodes registered in `coordinator`.
    pub fn new(coordinator: Arc<dyn Coordinator>, timings: DialTimings) -> Self {
        SipEdgeDialer {
            edges: Members::follow(coordinator, "sip-edge").route(),
            timings,
        }
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
        }
    }
}

#[async_trait::async_trait]
impl Dialer for SipEdgeDialer {
    async fn dial(&self, dispatch: Dispatch) -> Outcome {
        let request = self.request(&dispatch);
        let mut client = DialerClient::new(self.edges.clone());
        let placed = tokio::time::timeout(self.timings.deadline, client.place_callback(request));
        let answer = match placed.await {
            Ok(Ok(answer)) => answer.into_inner(),
            Ok(Err(e)) => {
                tracing::warn!(callback = %dispatch.id, attempt = dispatch.attempt, error = %e, "a sip-edge node could not place the callback");
                return Outcome::Failed(format!("sip-edge: {}", e.message()));
            }
            Err(_) => return Outcome::Failed("no outcome from sip-edge in time".into()),
        };
        use sip::CallbackOutcome as O;
        let outcome = match O::try_from(answer.outcome) {
            Ok(O::Reached) => Outcome::Reached,
            Ok(O::NoAnswer) => Outcome::NoAnswer,
            Ok(O::Busy) => Outcome::Busy,
            Ok(O::Failed | O::Unspecified) | Err(_) => Outcome::Failed(answer.detail),
        };
        tracing::info!(callback = %dispatch.id, attempt = dispatch.attempt, call = %answer.call_id, ?outcome, "callback attempt ended");
        outcome
    }
}

/// How often the agents' states are read again from presence.
const CAPACITY_EVERY: Duration = Duration::from_millis(250);

/// Who can take callbacks now, read from presence (every [`CAPACITY_EVERY`]): for each
/// department, its members at work (logged in with a phone, not paused: available, on a
/// call, ringing or in wrap-up), since a department's callback waits in its queue for the
/// next of them like a caller; for each employee, 1 while available. Until presence
/// answers, nobody.
pub fn follow_capacity(
    coordinator: Arc<dyn Coordinator>,
    config: watch::Receiver<Arc<Config>>,
    mut shutdown: Shutdown,
) -> watch::Receiver<Capacity> {
    let (tx, rx) = watch::channel(Capacity::new());
    let presence = Members::follow(coordinator, "presence").route();
    tokio::spawn(async move {
        let mut client = AgentsClient::new(presence);
        let mut every = tokio::time::interval(CAPACITY_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.wait() => return,
            }
            let listed = tokio::time::timeout(
                Duration::from_secs(2),
                client.list_agents(agents::ListAgentsRequest { local_only: false }),
            );
            let agents = match listed.await {
                Ok(Ok(r)) => r.into_inner().agents,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "callbacks: presence not reachable for capacity");
                    continue;
                }
                Err(_) => continue,
            };
            let capacity = capacity(&config.borrow(), &agents);
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

/// The capacity the agents' states give (see [`follow_capacity`]).
pub fn capacity(config: &Config, agents: &[agents::Agent]) -> Capacity {
    use agents::AgentState as S;
    let state = |a: &agents::Agent| S::try_from(a.state).unwrap_or(S::Unspecified);
    let at_work = |a: &agents::Agent| {
        matches!(
            state(a),
            S::Available | S::Reserved | S::Ringing | S::OnCall | S::WrapUp
        )
    };
    let by_id: std::collections::HashMap<&str, &agents::Agent> =
        agents.iter().map(|a| (a.agent_id.as_str(), a)).collect();
    let mut capacity = Capacity::new();
    for d in &config.departments {
        let working = d
            .members
            .iter()
            .filter(|m| by_id.get(m.as_str()).is_some_and(|a| at_work(a)))
            .count();
        if working > 0 {
            capacity.insert(
                Target::department(d.id.clone()),
                u32::try_from(working).unwrap_or(u32::MAX),
            );
        }
    }
    for a in agents {
        if state(a) == S::Available {
            capacity.insert(Target::employee(a.agent_id.clone()), 1);
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

    fn agent(id: &str, state: S) -> agents::Agent {
        agents::Agent {
            agent_id: id.into(),
            state: state.into(),
            ..Default::default()
        }
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
        let capacity = capacity(&demo(), &agents);
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
        assert!(capacity(&demo(), &agents).is_empty());
        assert!(capacity(&demo(), &[]).is_empty());
    }

    #[test]
    fn every_state_of_work_counts_for_a_department() {
        for state in [S::Available, S::Reserved, S::Ringing, S::OnCall, S::WrapUp] {
            let capacity = capacity(&demo(), &[agent("maria", state)]);
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
