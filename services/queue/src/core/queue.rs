//! One department: its member order, the index of its available members in strategy order,
//! and its waiting calls in service order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::agents::AgentIdx;
use super::config::DepartmentConfig;
use super::ids::{CallId, Caller, DepartmentId, Priority};
use super::strategy::{AvailableKey, Strategy};

/// Service order of waiting calls: higher priority first, then earlier enqueue time, then
/// arrival at this core (two calls may carry the same enqueue time after a re-enqueue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct QueueKey {
    pub urgency: Reverse<Priority>,
    pub enqueued_at: Instant,
    pub seq: u64,
}

/// Where a department is in its life: configuration changes close and remove departments
/// without dropping a caller who already waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Takes new calls.
    Open,
    /// Removed from the configuration while calls waited: takes no new calls, serves those
    /// waiting, and is removed when the last one leaves.
    Closing,
    /// Gone. The slot stays (indices into `departments` are never reused) but holds no
    /// members and no calls.
    Removed,
}

#[derive(Debug)]
pub(crate) struct Department {
    pub id: DepartmentId,
    /// The configuration it was built from, to tell a real change from a repeated one.
    pub config: DepartmentConfig,
    pub lifecycle: Lifecycle,
    pub strategy: Strategy,
    pub wrap_up: Duration,
    pub max_plan_targets: Option<usize>,
    /// Members by position.
    pub members: Vec<AgentIdx>,
    /// Available members in strategy order.
    pub available: BTreeMap<AvailableKey, AgentIdx>,
    /// Every call in the queue, offered or not: positions are counted here.
    pub queued: BTreeMap<QueueKey, CallId>,
    /// Calls waiting for a plan (queued and not currently offered).
    pub pending: BTreeMap<QueueKey, CallId>,
    /// Position of the member offered last, for round-robin.
    pub last_offered: Option<u32>,
    /// Moving average of handle (talk) time, for the expected-wait estimate.
    pub average_handle: Option<Duration>,
    /// No offers before this (a department just taken over, while the calls waiting in it
    /// come back from their sip-edge nodes).
    pub held_until: Option<Instant>,
    /// Who last answered each recent caller, and when (with [`DepartmentConfig::last_agent`]).
    pub recent: HashMap<Caller, (AgentIdx, Instant)>,
}

/// Most callers one department remembers for last-agent routing; beyond it the expired
/// ones are forgotten first, then the oldest.
pub(crate) const MAX_REMEMBERED_CALLERS: usize = 100_000;

/// How many of the oldest callers are forgotten at once when the memory is full.
const FORGET_BATCH: usize = MAX_REMEMBERED_CALLERS / 100;

impl Department {
    /// An open department of `config`, without members yet.
    pub fn new(config: &DepartmentConfig) -> Self {
        Self {
            id: config.id.clone(),
            config: config.clone(),
            lifecycle: Lifecycle::Open,
            strategy: config.strategy,
            wrap_up: Duration::from_secs(u64::from(config.wrap_up_seconds)),
            max_plan_targets: config.max_plan_targets,
            members: Vec::new(),
            available: BTreeMap::new(),
            queued: BTreeMap::new(),
            pending: BTreeMap::new(),
            last_offered: None,
            average_handle: None,
            held_until: None,
            recent: HashMap::new(),
        }
    }

    /// Remembers that member `a` answered `caller` at `now` (when the department routes
    /// returning callers), within [`MAX_REMEMBERED_CALLERS`].
    pub fn remember_caller(&mut self, caller: &Caller, a: AgentIdx, now: Instant) {
        let Some(last_agent) = self.config.last_agent else {
            return;
        };
        if self.recent.len() >= MAX_REMEMBERED_CALLERS && !self.recent.contains_key(caller) {
            self.make_room(last_agent.remember, now);
        }
        self.recent.insert(caller.clone(), (a, now));
    }

    /// Forgets the callers remembered longer than `remember`, and if that frees too little,
    /// the oldest [`FORGET_BATCH`] more: one scan per batch rather than per answered call.
    fn make_room(&mut self, remember: Duration, now: Instant) {
        self.recent
            .retain(|_, (_, at)| now.saturating_duration_since(*at) <= remember);
        if self.recent.len() < MAX_REMEMBERED_CALLERS {
            return;
        }
        let mut times: Vec<Instant> = self.recent.values().map(|(_, at)| *at).collect();
        let (_, cutoff, _) = times.select_nth_unstable(FORGET_BATCH - 1);
        let cutoff = *cutoff;
        self.recent.retain(|_, (_, at)| *at > cutoff);
    }

    /// The member who last answered `caller`, if within the department's memory at `now`.
    pub fn last_agent_of(&self, caller: &Caller, now: Instant) -> Option<AgentIdx> {
        let remember = self.config.last_agent?.remember;
        let (a, at) = self.recent.get(caller)?;
        (now.saturating_duration_since(*at) <= remember).then_some(*a)
    }

    /// Takes the knobs of a new configuration of the same department (members apart).
    pub fn apply(&mut self, config: &DepartmentConfig) {
        if config.strategy != self.strategy || config.members != self.config.members {
            // Round-robin's memory is a member position; it means nothing in a new order.
            self.last_offered = None;
        }
        self.strategy = config.strategy;
        self.wrap_up = Duration::from_secs(u64::from(config.wrap_up_seconds));
        self.max_plan_targets = config.max_plan_targets;
        if config.last_agent.is_none() {
            self.recent.clear();
        }
        self.config = config.clone();
        self.lifecycle = Lifecycle::Open;
    }

    /// Available members in the order the strategy offers them, at most the plan limit,
    /// passing over `tried` (members who missed this call in the current round) unless
    /// nobody else is available.
    pub fn pick(&self, rng: &mut impl rand::Rng, tried: &[AgentIdx]) -> Vec<AgentIdx> {
        if !tried.is_empty() {
            let fresh = self.pick_from(rng, |a| !tried.contains(&a));
            if !fresh.is_empty() {
                return fresh;
            }
        }
        self.pick_from(rng, |_| true)
    }

    fn pick_from(
        &self,
        rng: &mut impl rand::Rng,
        eligible: impl Fn(AgentIdx) -> bool,
    ) -> Vec<AgentIdx> {
        let limit = self.max_plan_targets.unwrap_or(usize::MAX);
        match self.strategy {
            Strategy::RoundRobin => {
                let split =
                    AvailableKey::Position(self.last_offered.map_or(0, |p| p.saturating_add(1)));
                self.available
                    .range(split..)
                    .chain(self.available.range(..split))
                    .map(|(_, a)| *a)
                    .filter(|a| eligible(*a))
                    .take(limit)
                    .collect()
            }
            Strategy::Random => {
                let mut all: Vec<AgentIdx> = self
                    .available
                    .values()
                    .copied()
                    .filter(|a| eligible(*a))
                    .collect();
                let take = limit.min(all.len());
                // A partial Fisher-Yates: only the first `take` slots need to be drawn.
                for i in 0..take {
                    let j = rng.random_range(i..all.len());
                    all.swap(i, j);
                }
                all.truncate(take);
                all
            }
            Strategy::RingAll
            | Strategy::Sequential
            | Strategy::Progressive
            | Strategy::LongestIdle
            | Strategy::FewestCalls
            | Strategy::LeastTalkTime => self
                .available
                .values()
                .copied()
                .filter(|a| eligible(*a))
                .take(limit)
                .collect(),
        }
    }

    /// Folds one handle time into the moving average (weight 1/8: recent calls dominate
    /// without one long call swinging the estimate).
    pub fn record_handle_time(&mut self, handle: Duration) {
        self.average_handle = Some(match self.average_handle {
            None => handle,
            Some(avg) => avg.saturating_mul(7).saturating_add(handle) / 8,
        });
    }
}
