//! Synthetic call traffic for benches and load tests: deterministic (a seed, no clock),
//! shaped like a contact center's day: calls enter a scenario, walk a few operations, most
//! queue in a department and are answered, some are held, transferred, re-run by an agent
//! ("by option") or abandoned. [`Traffic::batch`] interleaves the events of many calls in
//! progress, as a live stream would.

use std::collections::VecDeque;

use crate::core::{
    AgentId, CallEvent, CallEventKind, CallId, CallType, DepartmentId, EndReason, OperationId,
    ReportEvent, ScenarioEntry, ScenarioId, UnixMs,
};

/// The shape of the traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficConfig {
    pub scenarios: u32,
    pub numbers: u32,
    pub departments: u32,
    pub agents: u32,
    pub operations: u32,
    /// The first call's start.
    pub start_ms: UnixMs,
    /// Time between two calls' starts.
    pub spacing_ms: i64,
    /// Calls in progress whose events [`Traffic::batch`] interleaves.
    pub concurrency: usize,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            scenarios: 20,
            numbers: 50,
            departments: 5,
            agents: 50,
            operations: 8,
            start_ms: 1_800_000_000_000,
            spacing_ms: 250,
            concurrency: 64,
        }
    }
}

/// A generator of calls.
#[derive(Debug, Clone)]
pub struct Traffic {
    config: TrafficConfig,
    state: u64,
    next_call: u64,
    open: Vec<VecDeque<CallEvent>>,
}

impl Traffic {
    pub fn new(seed: u64, config: TrafficConfig) -> Self {
        Self {
            config,
            state: seed,
            next_call: 0,
            open: Vec::new(),
        }
    }

    /// SplitMix64: small, fast and good enough for traffic shapes.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }

    /// Calls generated so far.
    pub fn calls(&self) -> u64 {
        self.next_call
    }

    /// One whole call's events, in sequence order.
    pub fn call(&mut self) -> Vec<CallEvent> {
        let n = self.next_call;
        self.next_call += 1;
        let call = CallId::new(format!("call-{n}"));
        let mut at = self.config.start_ms + n as i64 * self.config.spacing_ms;
        let mut events = Vec::new();
        let mut push = |at: UnixMs, kind: CallEventKind| {
            events.push(CallEvent {
                call: call.clone(),
                seq: events.len() as u64 + 1,
                at,
                kind,
            });
        };
        let call_type = match self.below(20) {
            0 => CallType::Callback,
            1 => CallType::Outbound,
            2 => CallType::Internal,
            _ => CallType::Inbound,
        };
        let number = format!("+4930{:04}", self.below(self.config.numbers));
        let caller = format!("+49170{:07}", self.below(10_000_000));
        push(
            at,
            CallEventKind::Started {
                number,
                caller,
                call_type,
            },
        );
        let scenario = ScenarioId::new(format!("scenario-{}", self.below(self.config.scenarios)));
        push(
            at,
            CallEventKind::ScenarioEntered {
                scenario: scenario.clone(),
                entry: ScenarioEntry::Routing,
            },
        );
        for _ in 0..1 + self.below(3) {
            at += i64::from(1_000 + self.below(8_000));
            let operation = OperationId::new(format!("op-{}", self.below(self.config.operations)));
            push(at, CallEventKind::OperationEntered { operation });
        }
        if self.chance(5) {
            // The caller chose to hear the menu again.
            push(
                at,
                CallEventKind::ScenarioEntered {
                    scenario: scenario.clone(),
                    entry: ScenarioEntry::Routing,
                },
            );
        }
        let reason = if self.chance(80) {
            let department =
                DepartmentId::new(format!("dept-{}", self.below(self.config.departments)));
            push(at, CallEventKind::Queued { department });
            at += i64::from(self.below(60_000));
            let agent = AgentId::new(format!("agent-{}", self.below(self.config.agents)));
            push(
                at,
                CallEventKind::Offered {
                    agent: agent.clone(),
                },
            );
            if self.chance(85) {
                at += i64::from(2_000 + self.below(8_000));
                push(at, CallEventKind::Answered { agent: Some(agent) });
                if self.chance(15) {
                    at += i64::from(self.below(60_000));
                    push(at, CallEventKind::Held);
                    at += i64::from(self.below(30_000));
                    push(at, CallEventKind::Resumed);
                }
                if self.chance(4) {
                    // The caller was in the wrong scenario: the agent re-runs another.
                    let other =
                        ScenarioId::new(format!("scenario-{}", self.below(self.config.scenarios)));
                    at += i64::from(self.below(20_000));
                    push(
                        at,
                        CallEventKind::ScenarioEntered {
                            scenario: other,
                            entry: ScenarioEntry::ByOption { agent: None },
                        },
                    );
                }
                if self.chance(10) {
                    at += i64::from(self.below(60_000));
                    push(
                        at,
                        CallEventKind::Transferred {
                            target: format!("dept-{}", self.below(self.config.departments)),
                        },
                    );
                    at += i64::from(3_000 + self.below(10_000));
                    push(at, CallEventKind::Answered { agent: None });
                }
                at += i64::from(10_000 + self.below(300_000));
                if self.chance(50) {
                    EndReason::CallerHungUp
                } else {
                    EndReason::AgentHungUp
                }
            } else if self.chance(50) {
                EndReason::AbandonedInQueue
            } else {
                EndReason::Timeout
            }
        } else {
            at += i64::from(self.below(20_000));
            EndReason::ALL[self.below(EndReason::ALL.len() as u32) as usize]
        };
        push(at, CallEventKind::Ended { reason });
        events
    }

    /// `size` events of calls in progress, interleaved (each call's own events in order).
    pub fn batch(&mut self, size: usize) -> Vec<ReportEvent> {
        let mut out = Vec::with_capacity(size);
        while out.len() < size {
            while self.open.len() < self.config.concurrency.max(1) {
                let call = self.call().into();
                self.open.push(call);
            }
            let i = self.below(self.open.len() as u32) as usize;
            match self.open[i].pop_front() {
                Some(e) => out.push(ReportEvent::Call(e)),
                None => {
                    self.open.swap_remove(i);
                }
            }
        }
        out
    }
}
