//! Contact-center KPIs for one department (or all) over one period: service level,
//! average speed of answer, abandonment, average handle time, occupancy, callbacks.
//!
//! Definitions (calls count in the range their start falls in; see [`TimeRange`]):
//! - offered: calls that joined the department's queue (their first queue);
//! - answered: offered calls answered after queueing; their wait is queue to answer;
//! - abandoned: offered calls never answered that the caller ended without asking for a
//!   callback; a short abandon waited less than [`KpiQuery::short_abandon`] and is left
//!   out of service level and abandonment (a caller who hangs up at once never really
//!   waited);
//! - service level: answered within [`KpiQuery::service_level_threshold`] over offered
//!   less short abandons;
//! - ASA: the average wait of the answered calls;
//! - abandonment rate: abandoned (less short) over offered less short abandons;
//! - AHT: the average talk + hold time of answered calls that ended;
//! - occupancy: the agents' busy time (reserved, ringing, on a call, wrap-up) over their
//!   staffed time (busy or available), clipped to the range;
//! - callbacks requested: calls that asked the department for a callback; kept: callback
//!   calls of the department (their first queue) that reached a conversation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::event::{AgentEvent, AgentState, UnixMs};
use super::ids::{AgentId, DepartmentId};
use super::range::TimeRange;
use super::record::CallRecord;

/// Whose time occupancy measures. The store knows calls, not who belongs to which
/// department (configuration does), so the caller says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentScope {
    All,
    Only(BTreeSet<AgentId>),
}

impl AgentScope {
    pub fn includes(&self, agent: &AgentId) -> bool {
        match self {
            Self::All => true,
            Self::Only(agents) => agents.contains(agent),
        }
    }
}

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiQuery {
    pub range: TimeRange,
    /// None: every department together (calls never queued still count for nothing but
    /// callbacks).
    pub department: Option<DepartmentId>,
    /// The agents whose occupancy counts: the department's members.
    pub agents: AgentScope,
    /// Answered within this wait counts for the service level (the "20" of 80/20).
    pub service_level_threshold: Duration,
    /// The service level aimed at (the "80" of 80/20), as a fraction.
    pub service_level_target: f64,
    /// A caller who hangs up before this does not count as abandoned.
    pub short_abandon: Duration,
    /// The time the KPIs are computed at: an agent's current state (the last one known)
    /// lasts until then, or until the range's end if that is sooner. None: the range's
    /// end (a closed period).
    pub now: Option<UnixMs>,
}

impl KpiQuery {
    /// 80/20, short abandons under 5 s, every agent.
    pub fn new(range: TimeRange, department: Option<DepartmentId>) -> Self {
        Self {
            range,
            department,
            agents: AgentScope::All,
            service_level_threshold: Duration::from_secs(20),
            service_level_target: 0.8,
            short_abandon: Duration::from_secs(5),
            now: None,
        }
    }

    /// Where the agents' current states end: `now`, capped by the range's end.
    pub fn open_until(&self) -> UnixMs {
        self.now
            .map_or(self.range.to(), |now| now.min(self.range.to()))
    }

    /// The service level threshold in milliseconds.
    pub fn threshold_ms(&self) -> i64 {
        i64::try_from(self.service_level_threshold.as_millis()).unwrap_or(i64::MAX)
    }

    /// The short abandon threshold in milliseconds.
    pub fn short_abandon_ms(&self) -> i64 {
        i64::try_from(self.short_abandon.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The KPIs as counts and sums (so the store's SQL can be compared exactly); the rates
/// are derived.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Kpis {
    pub offered: u64,
    pub answered: u64,
    pub answered_in_threshold: u64,
    /// Waits of the answered calls, summed.
    pub wait_ms: i64,
    /// Abandoned calls, short ones included.
    pub abandoned: u64,
    pub short_abandoned: u64,
    /// Answered calls that ended.
    pub handled: u64,
    pub handle_ms: i64,
    pub busy_ms: i64,
    pub staffed_ms: i64,
    pub callbacks_requested: u64,
    pub callbacks_kept: u64,
    /// Copied from the query, for [`Kpis::meets_target`].
    pub service_level_target: f64,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn average(sum: i64, n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs_f64(sum.max(0) as f64 / n as f64 / 1000.0))
}

impl Kpis {
    fn counted(&self) -> u64 {
        self.offered.saturating_sub(self.short_abandoned)
    }

    /// Answered within the threshold over offered (less short abandons).
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_in_threshold, self.counted())
    }

    pub fn meets_target(&self) -> Option<bool> {
        self.service_level()
            .map(|sl| sl >= self.service_level_target)
    }

    /// Average speed of answer.
    pub fn asa(&self) -> Option<Duration> {
        average(self.wait_ms, self.answered)
    }

    pub fn abandonment_rate(&self) -> Option<f64> {
        ratio(self.abandoned - self.short_abandoned, self.counted())
    }

    /// Average handle time.
    pub fn aht(&self) -> Option<Duration> {
        average(self.handle_ms, self.handled)
    }

    pub fn occupancy(&self) -> Option<f64> {
        (self.staffed_ms > 0).then(|| self.busy_ms as f64 / self.staffed_ms as f64)
    }

    /// Callbacks kept over callbacks requested.
    pub fn callbacks_kept_rate(&self) -> Option<f64> {
        ratio(self.callbacks_kept, self.callbacks_requested)
    }
}

/// What one call contributes to the call-side KPIs of its department: the columns the
/// store keeps per call and sums in SQL, computed here once for both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallKpiFacts {
    pub queued: bool,
    pub wait_ms: Option<i64>,
    pub abandon_wait_ms: Option<i64>,
    pub handle_ms: Option<i64>,
    pub callback_kept: bool,
}

impl CallKpiFacts {
    pub fn of(call: &CallRecord) -> Self {
        Self {
            queued: call.queued.is_some(),
            wait_ms: call.wait_ms(),
            abandon_wait_ms: call.abandon_wait_ms(),
            handle_ms: call.handle_ms(),
            callback_kept: call.callback_kept(),
        }
    }
}

/// Adds one call (already known to be in the range) to the call-side KPIs.
fn add_call(k: &mut Kpis, call: &CallRecord, query: &KpiQuery) {
    let of_department =
        |d: Option<&DepartmentId>| query.department.as_ref().is_none_or(|q| d == Some(q));
    if let Some(cb) = &call.callback
        && of_department(cb.department.as_ref())
    {
        k.callbacks_requested += 1;
    }
    if !of_department(call.department.as_ref()) {
        return;
    }
    let facts = CallKpiFacts::of(call);
    k.offered += u64::from(facts.queued);
    if let Some(wait) = facts.wait_ms {
        k.answered += 1;
        k.wait_ms = k.wait_ms.saturating_add(wait);
        k.answered_in_threshold += u64::from(wait <= query.threshold_ms());
    }
    if let Some(wait) = facts.abandon_wait_ms {
        k.abandoned += 1;
        k.short_abandoned += u64::from(wait < query.short_abandon_ms());
    }
    if let Some(handle) = facts.handle_ms {
        k.handled += 1;
        k.handle_ms = k.handle_ms.saturating_add(handle);
    }
    k.callbacks_kept += u64::from(facts.callback_kept);
}

/// Busy and staffed time of agents over a range, from their state changes. Each state
/// lasts from its event to the agent's next event (by sequence number), the last one until
/// `open_until`; duplicates by (agent, seq) count once (the first given).
pub fn agent_time<'a>(
    events: impl IntoIterator<Item = &'a AgentEvent>,
    range: &TimeRange,
    open_until: UnixMs,
    scope: &AgentScope,
) -> (i64, i64) {
    let mut per_agent: BTreeMap<&AgentId, BTreeMap<u64, &AgentEvent>> = BTreeMap::new();
    for e in events.into_iter().filter(|e| scope.includes(&e.agent)) {
        per_agent
            .entry(&e.agent)
            .or_default()
            .entry(e.seq)
            .or_insert(e);
    }
    let (mut busy, mut staffed) = (0, 0);
    for events in per_agent.values() {
        let mut walk = events.values().peekable();
        while let Some(e) = walk.next() {
            let until = walk.peek().map_or(open_until, |next| next.at);
            let (b, s) = interval_time(e.state, e.at, until, range);
            // Saturating: the terms are never negative, so the sum is the same in any
            // order (the store's too), even for absurd stamps.
            busy = i64::saturating_add(busy, b);
            staffed = i64::saturating_add(staffed, s);
        }
    }
    (busy, staffed)
}

/// What one state interval `[at, until)` adds to (busy, staffed), clipped to the range.
pub fn interval_time(
    state: AgentState,
    at: UnixMs,
    until: UnixMs,
    range: &TimeRange,
) -> (i64, i64) {
    let ms = range.overlap_ms(at, until);
    (
        if state.is_busy() { ms } else { 0 },
        if state.is_staffed() { ms } else { 0 },
    )
}

/// The KPIs over call records and agent events: the reference the store's SQL must equal.
pub fn kpis<'a>(
    calls: impl IntoIterator<Item = &'a CallRecord>,
    agent_events: impl IntoIterator<Item = &'a AgentEvent>,
    query: &KpiQuery,
) -> Kpis {
    let mut k = Kpis {
        service_level_target: query.service_level_target,
        ..Kpis::default()
    };
    for call in calls {
        if call
            .start
            .as_ref()
            .is_some_and(|s| query.range.contains(s.at))
        {
            add_call(&mut k, call, query);
        }
    }
    (k.busy_ms, k.staffed_ms) = agent_time(
        agent_events,
        &query.range,
        query.open_until(),
        &query.agents,
    );
    k
}
