//! Random input sequences (seeded, so reproducible) never panic and keep the core's
//! bookkeeping consistent: an agent is in at most one plan, exactly the reserved agents are
//! in plans, the available indexes hold exactly the available agents, and memberships match
//! the departments' member lists while departments are added, changed, closed, removed and
//! lost to another node.

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::super::agents::Activity;
use super::super::queue::Lifecycle;
use super::*;

fn check(core: &QueueCore) {
    let mut planned: HashMap<usize, &CallId> = HashMap::new();
    for (call, entry) in &core.calls {
        let department = &core.departments[entry.department];
        assert!(department.queued.contains_key(&entry.key));
        assert_eq!(
            department.pending.contains_key(&entry.key),
            entry.offer.is_none()
        );
        for target in entry.offer.iter().flat_map(|o| &o.targets) {
            assert!(
                planned.insert(target.agent, call).is_none(),
                "agent in two plans"
            );
            let agent = core.agents.get(target.agent).unwrap();
            assert_eq!(agent.activity, Activity::Reserved { call: call.clone() });
        }
    }
    for (d, department) in core.departments.iter().enumerate() {
        for &a in &department.members {
            let agent = core.agents.get(a).unwrap();
            let indexed = department.available.values().any(|x| *x == a);
            assert_eq!(indexed, agent.is_available(), "index of {}", agent.id);
            assert_eq!(agent.membership(d).unwrap().indexed.is_some(), indexed);
            if let Activity::Reserved { call } = &agent.activity {
                assert_eq!(planned.get(&a), Some(&call));
            }
        }
        // Nothing is left that could be offered.
        assert!(department.pending.is_empty() || department.available.is_empty());
        match department.lifecycle {
            Lifecycle::Removed => {
                assert!(department.members.is_empty() && department.available.is_empty());
                assert!(department.queued.is_empty() && department.pending.is_empty());
                assert_ne!(core.department_index.get(&department.id), Some(&d));
            }
            Lifecycle::Closing => {
                assert!(
                    !department.queued.is_empty(),
                    "an empty closing department is removed"
                );
                assert_eq!(core.department_index.get(&department.id), Some(&d));
            }
            Lifecycle::Open => assert_eq!(core.department_index.get(&department.id), Some(&d)),
        }
    }
    // Every membership is one of a live department's members, and only once.
    for (a, agent) in core.agents.list_for_tests().iter().enumerate() {
        for m in &agent.memberships {
            let department = &core.departments[m.department];
            assert_ne!(department.lifecycle, Lifecycle::Removed);
            assert_eq!(department.members.get(m.position as usize), Some(&a));
        }
        let mut seen: Vec<usize> = agent.memberships.iter().map(|m| m.department).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len(),
            agent.memberships.len(),
            "one membership per department"
        );
    }
}

/// A random configuration of departments x and y (each may be left out, to be removed).
fn random_departments(rng: &mut SmallRng, strategies: &[Strategy]) -> Vec<DepartmentConfig> {
    let mut departments = Vec::new();
    for id in ["x", "y"] {
        if rng.random_bool(0.2) {
            continue;
        }
        let mut members = vec!["a", "b", "c", "d", "e"];
        members.shuffle(rng);
        members.truncate(rng.random_range(0..=5));
        let strategy = strategies[rng.random_range(0..strategies.len())];
        let config = members.iter().fold(
            DepartmentConfig::new(id, strategy)
                .ring_seconds(rng.random_range(1..8))
                .wrap_up_seconds(rng.random_range(0..4)),
            |d, m| d.member(*m),
        );
        departments.push(config);
    }
    departments
}

#[test]
fn random_inputs_keep_the_core_consistent() {
    let agents = ["a", "b", "c", "d", "e"];
    let calls: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    let edges = [Some("edge-a"), Some("edge-b"), None];
    for seed in 0..40 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let strategies = [
            Strategy::RingAll,
            Strategy::Sequential,
            Strategy::Progressive,
            Strategy::LongestIdle,
            Strategy::RoundRobin,
            Strategy::FewestCalls,
            Strategy::LeastTalkTime,
            Strategy::Random,
        ];
        let pick = |rng: &mut SmallRng| strategies[rng.random_range(0..strategies.len())];
        let first = DepartmentConfig::new("x", pick(&mut rng))
            .ring_seconds(5)
            .wrap_up_seconds(3)
            .member("a")
            .member("b")
            .member("c");
        let second = DepartmentConfig::new("y", pick(&mut rng))
            .ring_seconds(7)
            .member_ringing("c", 3)
            .member("d")
            .member("e")
            .member("a");
        let mut h = Harness::with_config(
            CoreConfig {
                max_no_answers: 2,
                rng_seed: seed,
                ..CoreConfig::default()
            },
            vec![first, second],
        );
        for step in 0..400 {
            let now = h.at(step);
            h.now = now;
            let agent = AgentId::from(agents[rng.random_range(0..agents.len())]);
            let call = CallId::from(calls[rng.random_range(0..calls.len())].as_str());
            // Errors are expected here (random calls and agents); panics are not.
            let _ = match rng.random_range(0..10) {
                0 => {
                    h.core.handle_agent_available(now, &agent);
                    Ok(())
                }
                1 => {
                    h.core.handle_agent_unavailable(now, &agent);
                    Ok(())
                }
                2 | 3 => h.core.handle_enqueue(
                    now,
                    Enqueue {
                        call,
                        department: if rng.random() { "x" } else { "y" }.into(),
                        priority: Priority(rng.random_range(0..3)),
                        enqueued_at: None,
                        edge: edges[rng.random_range(0..edges.len())].map(EdgeNode::from),
                        caller: None,
                    },
                ),
                4 if rng.random_bool(0.2) => {
                    let edge = edges[rng.random_range(0..edges.len())].unwrap_or("edge-a");
                    h.core.handle_edge_gone(now, &edge.into());
                    Ok(())
                }
                4 => h.core.handle_abandon(now, &call),
                5 => {
                    // Mostly a real target, so answers and talk time happen.
                    let target = h
                        .core
                        .calls
                        .get(&call)
                        .and_then(|c| c.offer.as_ref())
                        .and_then(|o| o.targets.first())
                        .and_then(|t| h.core.agents.get(t.agent))
                        .map_or(agent, |a| a.id.clone());
                    h.core.handle_answer(now, &call, &target)
                }
                6 => h
                    .core
                    .handle_reject(now, &call, &agent, RejectReason::NoAnswer),
                7 => h.core.handle_call_ended(now, &call),
                8 if rng.random_bool(0.3) => h
                    .core
                    .handle_configure(now, random_departments(&mut rng, &strategies))
                    .map(|_| ()),
                // Ownership moving away, then coming back with the next configuration.
                8 if rng.random_bool(0.1) => h
                    .core
                    .handle_disown(now, &if rng.random() { "x" } else { "y" }.into())
                    .map(|_| ()),
                _ => {
                    h.core.handle_timeout(now);
                    Ok(())
                }
            };
            h.drain();
            check(&h.core);
        }
    }
}
