//! Property: across random requests, capacity, results, cancels, time and leader changes
//! (the new leader restored from the store's contents while the old one, not yet aware,
//! keeps dispatching for a while), no attempt of any callback is ever dialled twice, and no
//! callback is lost: every accepted request ends up in a stored callback, and once time runs
//! on with agents free, every stored callback finishes.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cc_callback::core::{
    CallbackError, CallbackId, CoreConfig, LeaderToken, Outcome, PhoneNumber, Priority, Record,
    Request, Source, Target, Timestamp, Window,
};
use cc_cluster::{Coordinator, MemoryCoordinator};
use common::{Leader, Pumped, at};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Request {
        number: u8,
        target: u8,
        hold: bool,
        from: u16,
        len: u16,
    },
    Capacity {
        target: u8,
        free: u8,
    },
    Advance {
        secs: u16,
    },
    Result {
        pick: u16,
        outcome: u8,
    },
    Cancel {
        pick: u16,
    },
    /// A new leader restores from the store; the old one keeps running as a zombie (it has
    /// not noticed yet) or is gone.
    LeaderChange {
        zombie: bool,
    },
    /// The zombie, if any, acts on its stale view: capacity and time.
    Zombie {
        target: u8,
        free: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6, 0u8..2, any::<bool>(), 0u16..900, 60u16..7200).prop_map(
            |(number, target, hold, from, len)| Op::Request { number, target, hold, from, len }
        ),
        3 => (0u8..2, 0u8..3).prop_map(|(target, free)| Op::Capacity { target, free }),
        3 => (1u16..900).prop_map(|secs| Op::Advance { secs }),
        3 => (any::<u16>(), 0u8..4).prop_map(|(pick, outcome)| Op::Result { pick, outcome }),
        1 => any::<u16>().prop_map(|pick| Op::Cancel { pick }),
        1 => any::<bool>().prop_map(|zombie| Op::LeaderChange { zombie }),
        2 => (0u8..2, 1u8..3).prop_map(|(target, free)| Op::Zombie { target, free }),
    ]
}

fn target(i: u8) -> Target {
    Target::department(["sales", "support"][usize::from(i % 2)])
}

fn outcome(i: u8) -> Outcome {
    match i {
        0 => Outcome::Reached,
        1 => Outcome::NoAnswer,
        2 => Outcome::Busy,
        _ => Outcome::Failed("503".into()),
    }
}

fn config() -> CoreConfig {
    CoreConfig {
        first_retry: Duration::from_secs(60),
        in_doubt_after: Duration::from_secs(300),
        ..CoreConfig::default()
    }
}

/// A dial in progress: who dispatched which attempt.
#[derive(Debug, Clone)]
struct Dial {
    id: CallbackId,
    attempt: u32,
    token: LeaderToken,
}

struct World {
    coordinator: Arc<dyn Coordinator>,
    now: Timestamp,
    secs: u64,
    leader: Leader,
    zombie: Option<Leader>,
    next_token: i64,
    next_request: u64,
    /// Every attempt ever dialled, by any leader.
    dialled: HashSet<(CallbackId, u32)>,
    dials_per_callback: BTreeMap<CallbackId, u32>,
    in_progress: Vec<Dial>,
    /// The callbacks accepted requests went into.
    accepted: BTreeSet<CallbackId>,
}

impl World {
    async fn new() -> Self {
        let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
        let (leader, _) = Leader::elect(coordinator.clone(), LeaderToken(1), config(), at(0)).await;
        Self {
            coordinator,
            now: at(0),
            secs: 0,
            leader,
            zombie: None,
            next_token: 2,
            next_request: 0,
            dialled: HashSet::new(),
            dials_per_callback: BTreeMap::new(),
            in_progress: Vec::new(),
            accepted: BTreeSet::new(),
        }
    }

    /// Dials what was written; the property: never the same attempt twice.
    fn dial(&mut self, pumped: Pumped) {
        for d in pumped.dial {
            assert!(
                self.dialled.insert((d.id.clone(), d.attempt)),
                "attempt {} of {} dialled twice",
                d.attempt,
                d.id
            );
            *self.dials_per_callback.entry(d.id.clone()).or_default() += 1;
            self.in_progress.push(Dial {
                id: d.id,
                attempt: d.attempt,
                token: d.token,
            });
        }
    }

    async fn pump_leader(&mut self) -> Pumped {
        match self.leader.pump(self.now).await {
            Ok(pumped) => pumped,
            Err(by) => panic!("the current leader was fenced by {by}"),
        }
    }

    async fn pump_zombie(&mut self) {
        let Some(zombie) = self.zombie.as_mut() else {
            return;
        };
        match zombie.pump(self.now).await {
            Ok(pumped) => self.dial(pumped),
            // It finally learns it was replaced, and stops.
            Err(_) => self.zombie = None,
        }
    }

    async fn elect(&mut self) {
        let token = LeaderToken(self.next_token);
        self.next_token += 1;
        let (leader, restored) =
            Leader::elect(self.coordinator.clone(), token, config(), self.now).await;
        assert_eq!(
            restored.duplicates, 0,
            "two active callbacks for one number"
        );
        assert!(restored.invalid.is_empty());
        let old = std::mem::replace(&mut self.leader, leader);
        self.zombie = Some(old);
        let pumped = self.pump_leader().await;
        self.dial(pumped);
    }

    async fn apply(&mut self, op: Op) {
        match op {
            Op::Request {
                number,
                target: t,
                hold,
                from,
                len,
            } => {
                self.next_request += 1;
                let from = self
                    .now
                    .saturating_add(Duration::from_secs(u64::from(from)));
                let request = Request {
                    id: CallbackId::new(format!("r{}", self.next_request)),
                    number: PhoneNumber::parse(&format!("+4930000{number}")).unwrap(),
                    name: String::new(),
                    reason: format!("request {}", self.next_request),
                    target: target(t),
                    source: if hold {
                        Source::VirtualHold
                    } else {
                        Source::Api
                    },
                    window: Window::new(
                        from,
                        from.saturating_add(Duration::from_secs(u64::from(len))),
                        "UTC",
                    )
                    .unwrap(),
                    enqueued_at: None,
                    priority: Priority(0),
                    max_attempts: None,
                };
                // As the service will: a request whose write met another leader's record is
                // applied again to the record as stored.
                for _ in 0..4 {
                    let accepted = match self.leader.core.handle_request(self.now, request.clone())
                    {
                        Ok(accepted) => accepted,
                        Err(CallbackError::DuplicateId(_)) => break,
                        Err(e) => panic!("{e}"),
                    };
                    let pumped = self.pump_leader().await;
                    let conflicted = pumped.conflicts.contains(accepted.id());
                    self.dial(pumped);
                    if !conflicted {
                        self.accepted.insert(accepted.id().clone());
                        break;
                    }
                }
            }
            Op::Capacity { target: t, free } => {
                self.leader
                    .core
                    .handle_capacity(self.now, &target(t), u32::from(free))
                    .unwrap();
                let pumped = self.pump_leader().await;
                self.dial(pumped);
            }
            Op::Advance { secs } => {
                self.secs += u64::from(secs);
                self.now = at(self.secs);
                self.leader.core.handle_timeout(self.now);
                let pumped = self.pump_leader().await;
                self.dial(pumped);
            }
            Op::Result { pick, outcome: o } => {
                if self.in_progress.is_empty() {
                    return;
                }
                let dial = self
                    .in_progress
                    .remove(usize::from(pick) % self.in_progress.len());
                // The dialler reports to whoever leads now, under the dial's token; a
                // stale or unknown attempt is refused, which is fine.
                let _ = self.leader.core.handle_result(
                    self.now,
                    &dial.id,
                    dial.attempt,
                    dial.token,
                    outcome(o),
                );
                let pumped = self.pump_leader().await;
                self.dial(pumped);
            }
            Op::Cancel { pick } => {
                let ids: Vec<CallbackId> = self.accepted.iter().cloned().collect();
                if ids.is_empty() {
                    return;
                }
                let id = &ids[usize::from(pick) % ids.len()];
                let _ = self.leader.core.handle_cancel(self.now, id);
                let pumped = self.pump_leader().await;
                self.dial(pumped);
            }
            Op::LeaderChange { zombie } => {
                self.elect().await;
                if !zombie {
                    self.zombie = None;
                }
            }
            Op::Zombie { target: t, free } => {
                if let Some(z) = self.zombie.as_mut() {
                    // A fenced core refuses; then it is dropped.
                    if z.core
                        .handle_capacity(self.now, &target(t), u32::from(free))
                        .is_err()
                    {
                        self.zombie = None;
                        return;
                    }
                    z.core.handle_timeout(self.now);
                }
                self.pump_zombie().await;
            }
        }
        self.check_merge_invariant();
    }

    fn check_merge_invariant(&self) {
        let mut keys = HashSet::new();
        for r in self.leader.core.records() {
            assert!(
                keys.insert((r.number.clone(), r.target.clone())),
                "two active callbacks for {} and {}",
                r.number,
                r.target
            );
        }
    }

    async fn stored(&self) -> Vec<Record> {
        let mut store =
            cc_callback::CallbackStore::new(self.coordinator.clone(), LeaderToken(self.next_token));
        let loaded = store.load_all().await.unwrap();
        assert_eq!(loaded.skipped, 0);
        loaded.records
    }

    /// A last leader change with the zombie gone, then agents free and time running on
    /// until nothing is left to do; every dial is answered "no answer".
    async fn finish(&mut self) {
        self.elect().await;
        self.zombie = None;
        for _ in 0..200 {
            for t in 0..2 {
                self.leader
                    .core
                    .handle_capacity(self.now, &target(t), 100)
                    .unwrap();
            }
            for dial in std::mem::take(&mut self.in_progress) {
                let _ = self.leader.core.handle_result(
                    self.now,
                    &dial.id,
                    dial.attempt,
                    dial.token,
                    Outcome::NoAnswer,
                );
            }
            let pumped = self.pump_leader().await;
            self.dial(pumped);
            if self.leader.core.active() == 0 && self.in_progress.is_empty() {
                break;
            }
            self.secs += 120;
            self.now = at(self.secs);
            self.leader.core.handle_timeout(self.now);
            let pumped = self.pump_leader().await;
            self.dial(pumped);
        }
    }
}

fn run(ops: Vec<Op>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut world = World::new().await;
        for op in ops {
            world.apply(op).await;
        }
        // None lost: every accepted request is in a stored callback...
        let stored = world.stored().await;
        let ids: BTreeSet<CallbackId> = stored.iter().map(|r| r.id.clone()).collect();
        for id in &world.accepted {
            assert!(ids.contains(id), "callback {id} is not in the store");
        }
        // ... and with agents free and time running on, every one finishes.
        world.finish().await;
        let stored = world.stored().await;
        assert!(
            !stored.is_empty() || world.accepted.is_empty(),
            "the store lost callbacks"
        );
        for record in &stored {
            assert!(
                record.state.is_final(),
                "callback {} never finished: {:?}",
                record.id,
                record.state
            );
            let dials = world
                .dials_per_callback
                .get(&record.id)
                .copied()
                .unwrap_or(0);
            assert!(
                dials <= record.attempts,
                "{} dialled more often than attempted",
                record.id
            );
            assert!(record.attempts <= record.max_attempts);
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_attempt_is_dialled_twice_and_no_callback_is_lost(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        run(ops);
    }
}
