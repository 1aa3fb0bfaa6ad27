//! The per-call fold: a call's events, deduplicated by sequence number and put in sequence
//! order, become one [`CallRecord`]: what the call was, which scenarios and operations it
//! walked, its queue wait, talk and hold time, and how it ended.

use std::collections::{BTreeMap, BTreeSet};

use super::event::{CallEvent, CallEventKind, CallType, EndReason, ScenarioEntry, UnixMs};
use super::ids::{AgentId, CallId, DepartmentId, OperationId, ScenarioId};

/// What the start event told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStart {
    pub at: UnixMs,
    /// The virtual number dialled (inbound) or the number called.
    pub number: String,
    pub caller: String,
    pub call_type: CallType,
}

/// What the end event told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEnd {
    pub at: UnixMs,
    pub reason: EndReason,
}

/// One scenario as one call walked it: the unit the scenario report counts.
///
/// A call counts once under every scenario it entered (an agent re-running another
/// scenario "by option" puts the call under both); entering the same scenario again is a
/// re-pass of that one pass, not a second pass. A call that entered no scenario has one
/// pass with no scenario, so that every started call is in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioPass {
    /// None for a call that entered no scenario.
    pub scenario: Option<ScenarioId>,
    /// How many times the call entered the scenario (0 for the no-scenario pass).
    pub entries: u32,
    /// An agent entered it by hand at least once.
    pub by_option: bool,
    /// The operations walked while in this scenario. Operations entered before the first
    /// scenario belong to the first scenario entered.
    pub operations: BTreeSet<OperationId>,
}

impl ScenarioPass {
    /// The call ran the scenario again (R-60 "re-pass").
    pub fn is_re_pass(&self) -> bool {
        self.entries > 1
    }
}

/// The caller's request to be called back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    /// The department that calls back; None when an employee does.
    pub department: Option<DepartmentId>,
}

/// Everything the reports need of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub call: CallId,
    /// None until the start event arrives: such a call is in no time range and so in no
    /// report.
    pub start: Option<CallStart>,
    /// In the order of first entry; never empty.
    pub passes: Vec<ScenarioPass>,
    /// Every operation entered, in the order walked (repeats kept).
    pub operations: Vec<OperationId>,
    /// The first department the call queued in: the one whose service level its wait
    /// counts for, and its agent group in the report.
    pub department: Option<DepartmentId>,
    /// When it first joined a queue.
    pub queued: Option<UnixMs>,
    /// The first answer after it first joined a queue (what the queue's wait ends with).
    pub queue_answered: Option<UnixMs>,
    /// The first answer of any kind.
    pub answered: Option<UnixMs>,
    /// The last agent who answered: who handled the call.
    pub agent: Option<AgentId>,
    /// Net talk time: answered and not on hold, not ringing a transfer target.
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub transferred: bool,
    pub recordings: Vec<String>,
    pub callback: Option<CallbackRequest>,
    pub end: Option<CallEnd>,
    /// The highest sequence number folded in.
    pub last_seq: u64,
    /// How many distinct events were folded in.
    pub events: usize,
}

/// The talk clock of a call: one state, the time it started inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    /// Not connected to anyone (before the answer, or ringing a transfer target).
    Idle,
    Talking {
        since: UnixMs,
    },
    Held {
        since: UnixMs,
    },
}

impl CallRecord {
    /// Folds one call's events. The events may come in any order and with duplicates:
    /// they are deduplicated by sequence number (the first one given wins, as in the store)
    /// and walked in sequence order. Events of other calls are ignored.
    pub fn fold<'a>(call: &CallId, events: impl IntoIterator<Item = &'a CallEvent>) -> Self {
        let mut by_seq: BTreeMap<u64, &CallEvent> = BTreeMap::new();
        for e in events.into_iter().filter(|e| e.call == *call) {
            by_seq.entry(e.seq).or_insert(e);
        }
        let mut fold = Fold::new(call.clone());
        for e in by_seq.values() {
            fold.step(e);
        }
        fold.finish(by_seq.len())
    }

    /// Folds a mix of calls' events into one record per call.
    pub fn fold_all<'a>(
        events: impl IntoIterator<Item = &'a CallEvent>,
    ) -> BTreeMap<CallId, CallRecord> {
        let mut per_call: BTreeMap<&CallId, Vec<&CallEvent>> = BTreeMap::new();
        for e in events {
            per_call.entry(&e.call).or_default().push(e);
        }
        per_call
            .into_iter()
            .map(|(call, events)| (call.clone(), Self::fold(call, events)))
            .collect()
    }

    /// Start to end; None while the call goes on (or before its start is known).
    pub fn total_ms(&self) -> Option<i64> {
        match (&self.start, &self.end) {
            (Some(s), Some(e)) => Some(e.at.saturating_sub(s.at).max(0)),
            _ => None,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.end.is_some()
    }

    /// Ended with zero net talk time (R-60 "no conversation"). A call still going on is
    /// neither this nor completed: its outcome is not known yet.
    pub fn no_conversation(&self) -> bool {
        self.is_ended() && self.talk_ms == 0
    }

    /// Ended by one of the parties hanging up after a conversation (R-60 "completed").
    pub fn completed(&self) -> bool {
        self.end
            .is_some_and(|e| e.reason.is_hang_up() && self.talk_ms > 0)
    }

    /// How long the caller waited in the queue before the answer, for an answered queued
    /// call.
    pub fn wait_ms(&self) -> Option<i64> {
        Some(self.queue_answered?.saturating_sub(self.queued?).max(0))
    }

    /// How long a caller who gave up waited: a queued call never answered, ended by the
    /// caller, who did not ask for a callback instead (virtual hold keeps their place).
    pub fn abandon_wait_ms(&self) -> Option<i64> {
        let queued = self.queued?;
        let end = self.end?;
        let by_caller = matches!(
            end.reason,
            EndReason::CallerHungUp | EndReason::AbandonedInQueue
        );
        (self.queue_answered.is_none() && self.callback.is_none() && by_caller)
            .then(|| end.at.saturating_sub(queued).max(0))
    }

    /// Talk plus hold of an answered call that ended: what average handle time averages
    /// (after-call work is the agent's, in occupancy, until agent events name the call).
    pub fn handle_ms(&self) -> Option<i64> {
        (self.answered.is_some() && self.is_ended())
            .then_some(self.talk_ms.saturating_add(self.hold_ms))
    }

    /// A callback call that reached a conversation: a callback kept.
    pub fn callback_kept(&self) -> bool {
        self.start
            .as_ref()
            .is_some_and(|s| s.call_type == CallType::Callback)
            && self.is_ended()
            && self.talk_ms > 0
    }

    /// The first scenario entered (what the call list shows).
    pub fn first_scenario(&self) -> Option<&ScenarioId> {
        self.passes.first().and_then(|p| p.scenario.as_ref())
    }
}

/// The fold's working state.
struct Fold {
    record: CallRecord,
    leg: Leg,
    /// Index into `record.passes` of the scenario the call is in.
    current: Option<usize>,
    /// Operations entered before any scenario.
    orphans: BTreeSet<OperationId>,
}

impl Fold {
    fn new(call: CallId) -> Self {
        Self {
            record: CallRecord {
                call,
                start: None,
                passes: Vec::new(),
                operations: Vec::new(),
                department: None,
                queued: None,
                queue_answered: None,
                answered: None,
                agent: None,
                talk_ms: 0,
                hold_ms: 0,
                transferred: false,
                recordings: Vec::new(),
                callback: None,
                end: None,
                last_seq: 0,
                events: 0,
            },
            leg: Leg::Idle,
            current: None,
            orphans: BTreeSet::new(),
        }
    }

    /// Stops the talk or hold clock at `at`, adding what ran.
    fn stop_clock(&mut self, at: UnixMs) {
        match self.leg {
            Leg::Idle => {}
            Leg::Talking { since } => {
                self.record.talk_ms = self
                    .record
                    .talk_ms
                    .saturating_add(at.saturating_sub(since).max(0));
            }
            Leg::Held { since } => {
                self.record.hold_ms = self
                    .record
                    .hold_ms
                    .saturating_add(at.saturating_sub(since).max(0));
            }
        }
        self.leg = Leg::Idle;
    }

    fn step(&mut self, e: &CallEvent) {
        let r = &mut self.record;
        r.last_seq = e.seq;
        if r.end.is_some() {
            // Stragglers after the end (a late recording notice, say) change nothing a
            // report measures, but a recording is still worth listing.
            if let CallEventKind::RecordingStarted { recording } = &e.kind {
                r.recordings.push(recording.clone());
            }
            return;
        }
        match &e.kind {
            CallEventKind::Started {
                number,
                caller,
                call_type,
            } => {
                if r.start.is_none() {
                    r.start = Some(CallStart {
                        at: e.at,
                        number: number.clone(),
                        caller: caller.clone(),
                        call_type: *call_type,
                    });
                }
            }
            CallEventKind::ScenarioEntered { scenario, entry } => {
                let index = match r
                    .passes
                    .iter()
                    .position(|p| p.scenario.as_ref() == Some(scenario))
                {
                    Some(i) => i,
                    None => {
                        r.passes.push(ScenarioPass {
                            scenario: Some(scenario.clone()),
                            entries: 0,
                            by_option: false,
                            operations: std::mem::take(&mut self.orphans),
                        });
                        r.passes.len() - 1
                    }
                };
                let pass = &mut r.passes[index];
                pass.entries = pass.entries.saturating_add(1);
                pass.by_option |= matches!(entry, ScenarioEntry::ByOption { .. });
                self.current = Some(index);
            }
            CallEventKind::OperationEntered { operation } => {
                r.operations.push(operation.clone());
                match self.current {
                    Some(i) => {
                        r.passes[i].operations.insert(operation.clone());
                    }
                    None => {
                        self.orphans.insert(operation.clone());
                    }
                }
            }
            CallEventKind::OperationLeft { .. } | CallEventKind::Offered { .. } => {}
            CallEventKind::Queued { department } => {
                if r.queued.is_none() {
                    r.queued = Some(e.at);
                    r.department = Some(department.clone());
                }
            }
            CallEventKind::Answered { agent } => {
                r.answered.get_or_insert(e.at);
                if r.queued.is_some() && r.queue_answered.is_none() {
                    r.queue_answered = Some(e.at);
                }
                r.agent = agent.clone();
                if self.leg == Leg::Idle {
                    self.leg = Leg::Talking { since: e.at };
                }
            }
            CallEventKind::Transferred { .. } => {
                r.transferred = true;
                self.stop_clock(e.at);
            }
            CallEventKind::Held => {
                if let Leg::Talking { .. } = self.leg {
                    self.stop_clock(e.at);
                    self.leg = Leg::Held { since: e.at };
                }
            }
            CallEventKind::Resumed => {
                if let Leg::Held { .. } = self.leg {
                    self.stop_clock(e.at);
                    self.leg = Leg::Talking { since: e.at };
                }
            }
            CallEventKind::RecordingStarted { recording } => {
                r.recordings.push(recording.clone());
            }
            CallEventKind::CallbackRequested { department } => {
                r.callback.get_or_insert(CallbackRequest {
                    department: department.clone(),
                });
            }
            CallEventKind::Ended { reason } => {
                self.stop_clock(e.at);
                self.record.end = Some(CallEnd {
                    at: e.at,
                    reason: *reason,
                });
            }
        }
    }

    fn finish(mut self, events: usize) -> CallRecord {
        if self.record.passes.is_empty() {
            self.record.passes.push(ScenarioPass {
                scenario: None,
                entries: 0,
                by_option: false,
                operations: self.orphans,
            });
        }
        self.record.events = events;
        self.record
    }
}
