//! Random call and agent event sequences for the property tests: small vocabularies (three
//! scenarios, three operations, two departments, two agents) so that rows collide, every
//! event kind, calls missing their start, events after the end, ties in time.

#![allow(dead_code)]

use cc_reporting::core::{
    AgentEvent, AgentState, CallEvent, CallEventKind, CallType, EndReason, ReportEvent,
    ScenarioEntry, UnixMs,
};
use proptest::prelude::*;

pub const T0: UnixMs = 1_700_000_000_000;

fn kind() -> impl Strategy<Value = CallEventKind> {
    let scenario = prop::sample::select(vec!["s0", "s1", "s2"]);
    let operation = prop::sample::select(vec!["op0", "op1", "op2"]);
    let department = prop::sample::select(vec!["d0", "d1"]);
    let agent = prop::sample::select(vec!["a0", "a1"]);
    prop_oneof![
        3 => (scenario, any::<bool>()).prop_map(|(s, by_option)| CallEventKind::ScenarioEntered {
            scenario: s.into(),
            entry: if by_option {
                ScenarioEntry::ByOption { agent: Some("a0".into()) }
            } else {
                ScenarioEntry::Routing
            },
        }),
        3 => operation.clone().prop_map(|o| CallEventKind::OperationEntered { operation: o.into() }),
        1 => operation.prop_map(|o| CallEventKind::OperationLeft { operation: o.into() }),
        2 => department.clone().prop_map(|d| CallEventKind::Queued { department: d.into() }),
        1 => agent.clone().prop_map(|a| CallEventKind::Offered { agent: a.into() }),
        3 => prop::option::of(agent).prop_map(|a| CallEventKind::Answered { agent: a.map(Into::into) }),
        1 => Just(CallEventKind::Transferred { target: "t".into() }),
        1 => Just(CallEventKind::Held),
        1 => Just(CallEventKind::Resumed),
        1 => Just(CallEventKind::RecordingStarted { recording: "r.wav".into() }),
        1 => prop::option::of(department)
            .prop_map(|d| CallEventKind::CallbackRequested { department: d.map(Into::into) }),
        2 => prop::sample::select(EndReason::ALL.to_vec())
            .prop_map(|reason| CallEventKind::Ended { reason }),
    ]
}

/// One call's events in sequence order (seq 1..), times non-decreasing from its start;
/// starts within two minutes half the time (rows collide), else within four hours (the
/// store's hourly rollup has whole hours to use).
pub fn call(index: usize) -> impl Strategy<Value = Vec<CallEvent>> {
    (
        prop_oneof![0i64..120, 0i64..14_400],
        prop::sample::select(CallType::ALL.to_vec()),
        prop::sample::select(vec!["+4930100", "+4930200"]),
        prop::bool::weighted(0.9),
        prop::collection::vec((kind(), 0i64..40), 0..12),
    )
        .prop_map(move |(start_s, call_type, number, has_start, rest)| {
            let id = format!("call-{index}");
            let mut at = T0 + start_s * 1000;
            let mut kinds = Vec::new();
            if has_start {
                kinds.push((
                    CallEventKind::Started {
                        number: number.into(),
                        caller: "+49170".into(),
                        call_type,
                    },
                    0,
                ));
            }
            kinds.extend(rest);
            kinds
                .into_iter()
                .enumerate()
                .map(|(i, (kind, gap_s))| {
                    at += gap_s * 1000;
                    CallEvent {
                        call: id.as_str().into(),
                        seq: i as u64 + 1,
                        at,
                        kind,
                    }
                })
                .collect()
        })
}

/// One agent's state changes in sequence order.
pub fn agent(name: &'static str) -> impl Strategy<Value = Vec<AgentEvent>> {
    prop::collection::vec(
        (prop::sample::select(AgentState::ALL.to_vec()), -20i64..60),
        0..10,
    )
    .prop_map(move |changes| {
        let mut at = T0;
        changes
            .into_iter()
            .enumerate()
            .map(|(i, (state, gap_s))| {
                // Mostly forward, sometimes a clock step back.
                at += gap_s * 1000;
                AgentEvent {
                    agent: name.into(),
                    seq: i as u64 + 1,
                    at,
                    state,
                }
            })
            .collect()
    })
}

/// The first whole hour after [`T0`].
pub fn first_hour() -> UnixMs {
    (T0.div_euclid(3_600_000) + 1) * 3_600_000
}

/// A day's events as they might arrive: several calls and two agents, shuffled (so out of
/// order within a call), some events twice.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// In arrival order.
    pub events: Vec<ReportEvent>,
    /// Where arrival is cut into batches.
    pub cuts: Vec<usize>,
}

impl Traffic {
    pub fn call_events(&self) -> Vec<CallEvent> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ReportEvent::Call(c) => Some(c.clone()),
                ReportEvent::Agent(_) => None,
            })
            .collect()
    }

    pub fn agent_events(&self) -> Vec<AgentEvent> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ReportEvent::Agent(a) => Some(a.clone()),
                ReportEvent::Call(_) => None,
            })
            .collect()
    }

    /// The events cut into batches at `cuts`.
    pub fn batches(&self) -> Vec<&[ReportEvent]> {
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in &self.cuts {
            let cut = cut.min(self.events.len());
            if cut > from {
                out.push(&self.events[from..cut]);
                from = cut;
            }
        }
        out.push(&self.events[from..]);
        out
    }
}

pub fn traffic() -> impl Strategy<Value = Traffic> {
    let calls = (1usize..8).prop_flat_map(|n| (0..n).map(call).collect::<Vec<_>>());
    (
        calls,
        agent("a0"),
        agent("a1"),
        prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        prop::collection::vec(any::<prop::sample::Index>(), 0..5),
    )
        .prop_flat_map(|(calls, a0, a1, dups, cuts)| {
            let mut events: Vec<ReportEvent> = calls
                .into_iter()
                .flatten()
                .map(ReportEvent::Call)
                .chain(a0.into_iter().chain(a1).map(ReportEvent::Agent))
                .collect();
            if !events.is_empty() {
                let again: Vec<ReportEvent> = dups
                    .iter()
                    .map(|i| events[i.index(events.len())].clone())
                    .collect();
                events.extend(again);
            }
            let len = events.len();
            (Just(events).prop_shuffle(), Just(cuts), Just(len))
        })
        .prop_map(|(events, cuts, len)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
            cuts.sort_unstable();
            Traffic { events, cuts }
        })
}

/// A PostgreSQL server of the test's own and a store in a fresh database on it.
pub fn postgres_store() -> (
    cc_reporting::testing::PostgresServer,
    cc_reporting::store::PostgresStore,
) {
    let server = cc_reporting::testing::PostgresServer::start()
        .expect("start PostgreSQL (scripts/setup.sh installs it)");
    let url = server.fresh_database().expect("a database");
    let store = cc_reporting::store::PostgresStore::connect(&url).expect("connect");
    (server, store)
}

/// Two tests of a check that takes `&mut dyn ReportStore`: `<check>::sqlite` (in
/// memory) and `<check>::postgres` (a server of its own).
#[allow(unused_macros)]
macro_rules! on_both_stores {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[test]
            fn sqlite() {
                let mut store =
                    cc_reporting::store::SqliteStore::open_in_memory().expect("open");
                super::$check(&mut store);
            }

            #[test]
            fn postgres() {
                let (_server, mut store) = super::common::postgres_store();
                super::$check(&mut store);
            }
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use on_both_stores;
