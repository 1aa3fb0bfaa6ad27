//! The pure ACD core: state + input + `now` -> outputs and the next deadline. No clock reads,
//! no I/O, no entropy: time comes in as `std::time::Instant` on every input and randomness
//! from a generator seeded by [`CoreConfig::rng_seed`].
//!
//! One [`QueueCore`] holds every department its owner serves and one registry of agents
//! shared by them, so an agent reserved for one call is out of every department's plans until
//! released.

mod agents;
mod config;
mod configure;
mod dispatch;
mod error;
mod handlers;
mod ids;
mod output;
mod plan;
mod queue;
mod strategy;
mod timer;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;

pub use agents::AgentFacts;
pub use config::{CoreConfig, DepartmentConfig, LastAgent, MemberConfig};
pub use configure::Reconfigured;
pub use error::QueueError;
pub use ids::{AgentId, CallId, Caller, DepartmentId, EdgeNode, Priority};
pub use output::{Output, PauseReason};
pub use plan::{RingPlan, RingTarget};
pub use strategy::Strategy;

use agents::{AgentIdx, Agents};
use plan::Offer;
use queue::{Department, QueueKey};
use timer::{Timer, Timers};

/// A call entering a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// The call.
    pub call: CallId,
    /// The department whose queue it joins.
    pub department: DepartmentId,
    /// Its urgency.
    pub priority: Priority,
    /// When it first joined; a call re-enqueued after a queue owner moved keeps its original
    /// time and so its place in line. `None` means now.
    pub enqueued_at: Option<Instant>,
    /// The sip-edge node that carries the call, when known: its calls leave the queue when
    /// it is gone ([`QueueCore::handle_edge_gone`]).
    pub edge: Option<EdgeNode>,
    /// Who calls, when known: a caller answered recently by a member of a department with
    /// [`DepartmentConfig::last_agent`] is offered to that member first.
    pub caller: Option<Caller>,
}

/// Why an offered agent did not take the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The agent declined.
    Declined,
    /// The phone rang out without an answer.
    NoAnswer,
}

/// A call in a queue.
#[derive(Debug)]
struct QueuedCall {
    department: usize,
    key: QueueKey,
    offer: Option<Offer>,
    /// Agents who missed this call in the current round: the next plans pass them over
    /// until every available member has had a turn (then the round starts again).
    tried: Vec<AgentIdx>,
    /// The sip-edge node that carries it, when known.
    edge: Option<EdgeNode>,
    /// Who calls, when known.
    caller: Option<Caller>,
}

/// The ACD state machine of one queue owner.
///
/// Calling contract (sans-IO, like quinn-proto's `Connection`):
/// 1. feed inputs with the `handle_*` methods, each with the current time;
/// 2. drain [`QueueCore::poll_output`] until `None` and act on every [`Output`];
/// 3. arm a timer for [`QueueCore::poll_timeout`] and call [`QueueCore::handle_timeout`]
///    when it fires (early or late calls are harmless);
/// 4. read the queries (`position`, `wait_time`, `waiting`, `edge`, `agent`) at any time.
///
/// Errors are returned only for misuse (unknown department or call, an answer from an agent
/// that was not offered the call); the state is unchanged when an input is refused.
///
/// The departments can change while calls wait ([`QueueCore::handle_configure`]): a
/// change applies from the next plan on; a removed department whose queue is not empty
/// closes (no new calls) and is removed when its last waiting call leaves. A department
/// whose ownership moved to another queue node goes at once, calls and all, without outputs
/// about them ([`QueueCore::handle_disown`]).
#[derive(Debug)]
pub struct QueueCore {
    config: CoreConfig,
    departments: Vec<Department>,
    department_index: HashMap<DepartmentId, usize>,
    agents: Agents,
    calls: HashMap<CallId, QueuedCall>,
    /// Answered calls and the agent talking on each, until the call ends.
    talking: HashMap<CallId, usize>,
    /// The sip-edge node of each answered call that has one (to end its calls if it dies).
    talking_edges: HashMap<CallId, EdgeNode>,
    timers: Timers,
    outputs: VecDeque<Output>,
    /// Departments that may be able to make an offer (a call or an agent became free).
    dirty: BTreeSet<usize>,
    rng: SmallRng,
    next_seq: u64,
}

impl QueueCore {
    /// A core serving these departments. Every agent starts unavailable until presence says
    /// otherwise.
    pub fn new(config: CoreConfig, departments: Vec<DepartmentConfig>) -> Result<Self, QueueError> {
        let mut core = Self {
            rng: SmallRng::seed_from_u64(config.rng_seed),
            config,
            departments: Vec::with_capacity(departments.len()),
            department_index: HashMap::new(),
            agents: Agents::default(),
            calls: HashMap::new(),
            talking: HashMap::new(),
            talking_edges: HashMap::new(),
            timers: Timers::default(),
            outputs: VecDeque::new(),
            dirty: BTreeSet::new(),
            next_seq: 0,
        };
        core.check_departments(&departments)?;
        for department in departments {
            core.add_department(department);
        }
        Ok(core)
    }

    /// The next instruction or event, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next deadline at which [`QueueCore::handle_timeout`] has work to do.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        loop {
            let (at, timer) = self.timers.peek()?;
            if self.timer_is_live(timer) {
                return Some(at);
            }
            self.timers.pop();
        }
    }

    fn timer_is_live(&self, timer: &Timer) -> bool {
        match timer {
            Timer::OfferStop { call, generation } => self
                .calls
                .get(call)
                .and_then(|c| c.offer.as_ref())
                .is_some_and(|o| o.generation == *generation),
            Timer::WrapUpEnd { agent } => self
                .agents
                .get(*agent)
                .is_some_and(|a| matches!(a.activity, agents::Activity::WrapUp { .. })),
            Timer::HoldEnd { department } => self
                .departments
                .get(*department)
                .is_some_and(|d| d.held_until.is_some()),
        }
    }

    /// 1-based place of the call in its department's queue (offered calls included).
    pub fn position(&self, call: &CallId) -> Result<usize, QueueError> {
        let entry = self.call(call)?;
        let department = self.department(entry.department)?;
        Ok(department.queued.range(..entry.key).count() + 1)
    }

    /// How long the call has been waiting (since its original enqueue time).
    pub fn wait_time(&self, call: &CallId, now: Instant) -> Result<Duration, QueueError> {
        Ok(now.saturating_duration_since(self.call(call)?.key.enqueued_at))
    }

    /// A rough expected wait: the calls ahead times the department's average handle time,
    /// spread over its ready members. `None` until a call of the department has ended or while
    /// no member is ready.
    pub fn expected_wait(&self, call: &CallId) -> Result<Option<Duration>, QueueError> {
        let entry = self.call(call)?;
        let department = self.department(entry.department)?;
        let ahead = department.queued.range(..entry.key).count();
        let ready = department
            .members
            .iter()
            .filter(|a| self.agents.get(**a).is_some_and(|a| a.ready))
            .count();
        Ok(match (department.average_handle, ready) {
            (Some(avg), ready) if ready > 0 => {
                let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
                let ready = u32::try_from(ready).unwrap_or(u32::MAX);
                Some(avg.saturating_mul(ahead) / ready)
            }
            _ => None,
        })
    }

    /// Calls in the department's queue, offered ones included.
    pub fn waiting(&self, department: &DepartmentId) -> Result<usize, QueueError> {
        let idx = self.department_idx(department)?;
        Ok(self.department(idx)?.queued.len())
    }

    /// The member of `department` who last answered `caller`, if within the department's
    /// [`DepartmentConfig::last_agent`] memory at `now`.
    pub fn last_agent(
        &self,
        department: &DepartmentId,
        caller: &Caller,
        now: Instant,
    ) -> Option<AgentId> {
        let d = self.department_idx(department).ok()?;
        let a = self.department(d).ok()?.last_agent_of(caller, now)?;
        self.agents.get(a).map(|agent| agent.id.clone())
    }

    /// The sip-edge node that carries a queued call, when the enqueue named one.
    pub fn edge(&self, call: &CallId) -> Result<Option<&EdgeNode>, QueueError> {
        Ok(self.call(call)?.edge.as_ref())
    }

    /// What the core knows about an agent; `None` for an agent it has never heard of.
    pub fn agent(&self, agent: &AgentId) -> Option<AgentFacts> {
        let idx = self.agents.find(agent)?;
        self.agents.get(idx).map(agents::Agent::facts)
    }

    fn call(&self, call: &CallId) -> Result<&QueuedCall, QueueError> {
        self.calls
            .get(call)
            .ok_or_else(|| QueueError::UnknownCall(call.clone()))
    }

    fn department_idx(&self, id: &DepartmentId) -> Result<usize, QueueError> {
        self.department_index
            .get(id)
            .copied()
            .ok_or_else(|| QueueError::UnknownDepartment(id.clone()))
    }

    fn department(&self, idx: usize) -> Result<&Department, QueueError> {
        // Indices come from our own maps; a miss would be a bug, reported rather than panicked.
        self.departments
            .get(idx)
            .ok_or_else(|| QueueError::UnknownDepartment(DepartmentId::new(format!("#{idx}"))))
    }
}
