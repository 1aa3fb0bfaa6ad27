//! Matching waiting calls with available agents: the available indexes, making a plan for
//! a department's head call, and running the plan until an answer or its end.

use std::time::Duration;
use std::time::Instant;

use super::agents::{Activity, AgentIdx};
use super::plan::{LiveTarget, Offer};
use super::queue::QueueKey;
use super::strategy::{Strategy, schedule};
use super::timer::Timer;
use super::{CallId, Output, PauseReason, QueueCore};

impl QueueCore {
    pub(super) fn next_id(&mut self) -> u64 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }

    /// Puts the agent into (or takes it out of) the available index of each of its
    /// departments to match its state; a department that gains an agent may now offer.
    pub(super) fn sync_agent(&mut self, a: AgentIdx) {
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        let available = agent.is_available();
        let facts = agent.key_facts();
        for m in &mut agent.memberships {
            let Some(department) = self.departments.get_mut(m.department) else {
                continue;
            };
            match (available, m.indexed) {
                (true, None) => {
                    let key = department.strategy.available_key(m.position, facts);
                    department.available.insert(key, a);
                    m.indexed = Some(key);
                    self.dirty.insert(m.department);
                }
                (false, Some(key)) => {
                    department.available.remove(&key);
                    m.indexed = None;
                }
                _ => {}
            }
        }
    }

    /// Offers calls while some department has both a waiting call and an available member.
    /// Across departments the best head call (priority, then enqueue time) goes first, so an
    /// agent shared by several departments takes the most urgent of their calls.
    pub(super) fn dispatch(&mut self, now: Instant) {
        loop {
            let departments = &self.departments;
            let mut best: Option<(QueueKey, usize)> = None;
            self.dirty.retain(|d| {
                let Some(department) = departments.get(*d) else {
                    return false;
                };
                if department.held_until.is_some_and(|until| until > now) {
                    // Stays dirty: offered when the hold ends.
                    return true;
                }
                let head = department.pending.first_key_value().map(|(k, _)| *k);
                match head {
                    Some(key) if !department.available.is_empty() => {
                        if best.is_none_or(|(b, _)| key < b) {
                            best = Some((key, *d));
                        }
                        true
                    }
                    _ => false,
                }
            });
            let Some((_, d)) = best else {
                break;
            };
            if !self.offer_head(now, d) {
                self.dirty.remove(&d);
            }
        }
    }

    /// Makes and emits the plan for the department's head call; false if it could not.
    fn offer_head(&mut self, now: Instant, d: usize) -> bool {
        let Some(department) = self.departments.get_mut(d) else {
            return false;
        };
        let Some((_, head)) = department.pending.first_key_value() else {
            return false;
        };
        let tried = self.calls.get(head).map_or(&[][..], |c| &c.tried[..]);
        // A returning caller rings the member they last spoke to, alone, first.
        let returning = department.config.last_agent.and_then(|last_agent| {
            let caller = self.calls.get(head)?.caller.as_ref()?;
            let a = department.last_agent_of(caller, now)?;
            let agent = self.agents.get(a)?;
            let member = agent.membership(d)?;
            (agent.is_available() && member.indexed.is_some() && !tried.contains(&a))
                .then_some((a, last_agent.ring))
        });
        let picked = match returning {
            Some((a, _)) => vec![a],
            None => department.pick(&mut self.rng, tried),
        };
        if let Some(entry) = self.calls.get_mut(head)
            && !picked.is_empty()
            && picked.iter().all(|a| entry.tried.contains(a))
        {
            // Everyone available has missed this call once: a new round.
            entry.tried.clear();
        }
        let Some((key, call)) = department.pending.pop_first() else {
            return false;
        };
        let mut agents = Vec::with_capacity(picked.len());
        let mut rings = Vec::with_capacity(picked.len());
        for a in picked {
            if let Some(m) = self.agents.get(a).and_then(|agent| agent.membership(d)) {
                agents.push((a, m.position));
                rings.push(returning.map_or(m.ring, |(_, ring)| ring));
            }
        }
        if agents.is_empty() {
            department.pending.insert(key, call);
            return false;
        }
        if department.strategy == Strategy::RoundRobin {
            department.last_offered = agents.first().map(|(_, p)| *p);
        }
        let targets: Vec<LiveTarget> = agents
            .iter()
            .zip(schedule(department.strategy.overlap(), &rings))
            .map(|((a, _), (start, stop))| LiveTarget {
                agent: *a,
                start: at(now, start),
                stop: at(now, stop),
            })
            .collect();
        let department_id = department.id.clone();
        for (a, _) in &agents {
            if let Some(agent) = self.agents.get_mut(*a) {
                agent.activity = Activity::Reserved { call: call.clone() };
            }
            self.sync_agent(*a);
        }
        let offer = Offer {
            created_at: now,
            targets,
            generation: self.next_id(),
        };
        if let Some(stop) = offer.next_stop() {
            self.timers.arm(
                stop,
                Timer::OfferStop {
                    call: call.clone(),
                    generation: offer.generation,
                },
            );
        }
        let plan = offer.to_plan(department_id, |a| self.agent_id(a));
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.offer = Some(offer);
        }
        self.outputs.push_back(Output::Offer { call, plan });
        true
    }

    /// Removes one target before its stop: rejected (`missed`) or its agent went away.
    pub(super) fn withdraw_target(
        &mut self,
        now: Instant,
        call: &CallId,
        a: AgentIdx,
        missed: bool,
    ) {
        let removed = self
            .calls
            .get_mut(call)
            .and_then(|c| c.offer.as_mut())
            .is_some_and(|o| o.remove(a));
        if !removed {
            return;
        }
        if missed {
            self.count_miss(a);
            self.mark_tried(call, a);
        } else {
            self.outputs.push_back(Output::CancelOffer {
                call: call.clone(),
                agent: self.agent_id(a),
            });
        }
        self.release(a);
        self.settle_offer(now, call);
    }

    /// Targets whose ring time is over count as misses and are cancelled; the plan goes on
    /// or fails.
    pub(super) fn expire_targets(&mut self, now: Instant, call: &CallId, generation: u64) {
        let Some(offer) = self
            .calls
            .get_mut(call)
            .and_then(|c| c.offer.as_mut())
            .filter(|o| o.generation == generation)
        else {
            return;
        };
        let (expired, remaining): (Vec<LiveTarget>, Vec<LiveTarget>) =
            offer.targets.drain(..).partition(|t| t.stop <= now);
        offer.targets = remaining;
        for target in expired {
            // Say so: the node executing the plan stops ringing, presence frees the agent
            // now rather than when its reservation would lapse.
            self.outputs.push_back(Output::CancelOffer {
                call: call.clone(),
                agent: self.agent_id(target.agent),
            });
            self.count_miss(target.agent);
            self.mark_tried(call, target.agent);
            self.release(target.agent);
        }
        self.settle_offer(now, call);
    }

    fn mark_tried(&mut self, call: &CallId, a: AgentIdx) {
        if let Some(entry) = self.calls.get_mut(call)
            && !entry.tried.contains(&a)
        {
            entry.tried.push(a);
        }
    }

    /// After targets left a plan: fail it if none remain (the call waits again in its place),
    /// otherwise bring the schedule forward if nobody rings and re-arm its deadline.
    fn settle_offer(&mut self, now: Instant, call: &CallId) {
        let generation = self.next_id();
        let Some(entry) = self.calls.get_mut(call) else {
            return;
        };
        let d = entry.department;
        let Some(offer) = entry.offer.as_mut() else {
            return;
        };
        if offer.targets.is_empty() {
            entry.offer = None;
            if let Some(department) = self.departments.get_mut(d) {
                department.pending.insert(entry.key, call.clone());
            }
            self.dirty.insert(d);
            self.outputs
                .push_back(Output::OfferFailed { call: call.clone() });
            return;
        }
        let moved = offer.move_on(now);
        offer.generation = generation;
        if let Some(stop) = offer.next_stop() {
            self.timers.arm(
                stop,
                Timer::OfferStop {
                    call: call.clone(),
                    generation,
                },
            );
        }
        if moved && let Some(department) = self.departments.get(d) {
            let plan = offer.to_plan(department.id.clone(), |a| {
                self.agents
                    .get(a)
                    .map(|agent| agent.id.clone())
                    .unwrap_or_else(|| super::AgentId::new(""))
            });
            self.outputs.push_back(Output::PlanChanged {
                call: call.clone(),
                plan,
            });
        }
    }

    /// Stops ringing an agent because the call was answered elsewhere or left the queue.
    pub(super) fn cancel_target(&mut self, call: &CallId, a: AgentIdx) {
        self.outputs.push_back(Output::CancelOffer {
            call: call.clone(),
            agent: self.agent_id(a),
        });
        self.release(a);
    }

    /// Frees an agent reserved for a call.
    pub(super) fn release(&mut self, a: AgentIdx) {
        if let Some(agent) = self.agents.get_mut(a)
            && matches!(agent.activity, Activity::Reserved { .. })
        {
            agent.activity = Activity::Idle;
        }
        self.sync_agent(a);
    }

    /// One more offer without an answer; enough in a row pause the agent until presence
    /// reports it available again.
    fn count_miss(&mut self, a: AgentIdx) {
        let limit = self.config.max_no_answers;
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        agent.consecutive_no_answers = agent.consecutive_no_answers.saturating_add(1);
        if limit > 0 && agent.consecutive_no_answers >= limit && agent.ready {
            agent.ready = false;
            self.outputs.push_back(Output::PauseAgent {
                agent: agent.id.clone(),
                reason: PauseReason::NoAnswer,
            });
        }
    }

    fn agent_id(&self, a: AgentIdx) -> super::AgentId {
        self.agents
            .get(a)
            .map(|agent| agent.id.clone())
            .unwrap_or_else(|| super::AgentId::new(""))
    }
}

/// `base + offset`, saturating instead of panicking at the end of `Instant`'s range.
fn at(base: Instant, offset: Duration) -> Instant {
    base.checked_add(offset).unwrap_or(base)
}
