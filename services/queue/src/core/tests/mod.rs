//! Unit tests of the core, driven on a virtual clock (`t0` plus offsets).

#![allow(clippy::unwrap_used)]

mod disown;
mod edges;
mod invariants;
mod lifecycle;
mod reconfigure;
mod returning;
mod strategies;

use std::time::{Duration, Instant};

use super::*;

/// A core plus a virtual clock.
pub(super) struct Harness {
    pub core: QueueCore,
    pub t0: Instant,
    pub now: Instant,
}

impl Harness {
    pub fn new(departments: Vec<DepartmentConfig>) -> Self {
        Self::with_config(CoreConfig::default(), departments)
    }

    pub fn with_config(config: CoreConfig, departments: Vec<DepartmentConfig>) -> Self {
        let t0 = Instant::now();
        Self {
            core: QueueCore::new(config, departments).unwrap(),
            t0,
            now: t0,
        }
    }

    pub fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    /// Moves the clock to `secs` after `t0`, firing every deadline on the way.
    pub fn advance_to(&mut self, secs: u64) {
        let target = self.at(secs);
        while let Some(deadline) = self.core.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            self.core.handle_timeout(self.now);
        }
        self.now = target;
    }

    pub fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    /// Drains outputs and returns the offers among them.
    pub fn offers(&mut self) -> Vec<(CallId, RingPlan)> {
        self.drain()
            .into_iter()
            .filter_map(|o| match o {
                Output::Offer { call, plan } => Some((call, plan)),
                _ => None,
            })
            .collect()
    }

    pub fn available(&mut self, agents: &[&str]) {
        for a in agents {
            self.core
                .handle_agent_available(self.now, &AgentId::from(*a));
        }
    }

    pub fn enqueue(&mut self, call: &str, department: &str, priority: u8) {
        self.core
            .handle_enqueue(
                self.now,
                Enqueue {
                    call: call.into(),
                    department: department.into(),
                    priority: Priority(priority),
                    enqueued_at: None,
                    edge: None,
                    caller: None,
                },
            )
            .unwrap();
    }

    pub fn answer(&mut self, call: &str, agent: &str) {
        self.core
            .handle_answer(self.now, &call.into(), &agent.into())
            .unwrap();
    }

    pub fn end(&mut self, call: &str) {
        self.core.handle_call_ended(self.now, &call.into()).unwrap();
    }

    /// Answers and immediately ends a call, so the agent is free again (no wrap-up).
    pub fn handle(&mut self, call: &str, agent: &str, talk_secs: u64) {
        self.answer(call, agent);
        let end = self.now + Duration::from_secs(talk_secs);
        self.now = end;
        self.end(call);
    }

    pub fn facts(&self, agent: &str) -> AgentFacts {
        self.core.agent(&agent.into()).unwrap()
    }
}

/// The plan's targets as (agent, start s, stop s).
pub(super) fn targets(plan: &RingPlan) -> Vec<(String, u64, u64)> {
    plan.targets
        .iter()
        .map(|t| (t.agent.to_string(), t.start.as_secs(), t.stop.as_secs()))
        .collect()
}

/// The plan's agents in ring order.
pub(super) fn order(plan: &RingPlan) -> Vec<String> {
    plan.targets.iter().map(|t| t.agent.to_string()).collect()
}

pub(super) fn dept(strategy: Strategy, members: &[&str]) -> DepartmentConfig {
    members.iter().fold(
        DepartmentConfig::new("d", strategy).ring_seconds(10),
        |d, m| d.member(*m),
    )
}

pub(super) fn s(v: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    v.iter()
        .map(|(a, b, c)| ((*a).to_owned(), *b, *c))
        .collect()
}
