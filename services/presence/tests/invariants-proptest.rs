//! Random inputs and timeouts never leave an agent Reserved past its ttl or in WrapUp past
//! its end, never put an agent in two calls, never keep a retired agent beyond its call,
//! never keep a call's edge after the call, never leave an agent on a dead edge's call or
//! with a phone registered with a dead edge, and the events always describe the state.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cc_presence::core::{
    AgentConfig, AgentId, AgentState, CallId, Cause, Device, DeviceId, DeviceKind, EdgeNode,
    PauseReason, Presence, PresenceConfig, PresenceEvent,
};
use proptest::prelude::*;

const AGENTS: u8 = 2;

#[derive(Debug, Clone)]
enum Input {
    Add,
    Remove,
    Login,
    Logout,
    /// A device (0..3) registers with an edge (0: unknown, 1 or 2: a sip-edge node).
    DeviceUp {
        device: u8,
        edge: u8,
    },
    DeviceDown(u8),
    Pause(u8),
    Resume,
    Reserve {
        call: u8,
        edge: u8,
        ttl_ms: u64,
    },
    Confirm(u8),
    Answer(u8),
    Release(u8),
    End {
        call: u8,
        wrap_ms: u64,
    },
    Timeout,
    /// A call already ringing or talking, reported after a takeover.
    InProgress {
        call: u8,
        edge: u8,
        answered: bool,
    },
    /// The sip-edge node (1 or 2) died: every agent on one of its calls is freed, and every
    /// device registered with it is gone.
    EdgeGone(u8),
    /// The configured set becomes the agents whose bit is set.
    Configure(u8),
}

fn input() -> impl Strategy<Value = Input> {
    // Weighted towards the call path so that runs reach OnCall and WrapUp often.
    prop_oneof![
        1 => Just(Input::Add),
        1 => Just(Input::Remove),
        2 => Just(Input::Login),
        1 => Just(Input::Logout),
        2 => (0u8..3, 0u8..3).prop_map(|(device, edge)| Input::DeviceUp { device, edge }),
        1 => (0u8..3).prop_map(Input::DeviceDown),
        1 => (0u8..3).prop_map(Input::Pause),
        2 => Just(Input::Resume),
        4 => (0u8..2, 0u8..3, 0u64..130_000)
            .prop_map(|(call, edge, ttl_ms)| Input::Reserve { call, edge, ttl_ms }),
        3 => (0u8..2).prop_map(Input::Confirm),
        3 => (0u8..2).prop_map(Input::Answer),
        2 => (0u8..2).prop_map(Input::Release),
        3 => (0u8..2, 0u64..300_000).prop_map(|(call, wrap_ms)| Input::End { call, wrap_ms }),
        2 => Just(Input::Timeout),
        1 => (0u8..2, 0u8..3, any::<bool>())
            .prop_map(|(call, edge, answered)| Input::InProgress { call, edge, answered }),
        1 => (1u8..3).prop_map(Input::EdgeGone),
        1 => (0u8..(1 << AGENTS)).prop_map(Input::Configure),
    ]
}

/// One step: move the clock, then apply an input to one agent.
fn step() -> impl Strategy<Value = (u64, u8, Input)> {
    let advance = prop_oneof![2 => Just(0u64), 2 => 0u64..5_000, 1 => 0u64..90_000];
    (advance, 0..AGENTS, input())
}

/// Edge 0 is "unknown", 1 and 2 are sip-edge nodes.
fn e(n: u8) -> Option<EdgeNode> {
    (n > 0).then(|| EdgeNode::new(format!("edge-{n}")))
}

/// Applies one input; refusals are expected (random inputs are mostly wrong) and must
/// change nothing, which the event/state comparison in the test checks.
fn apply(p: &mut Presence, now: Instant, agent: &AgentId, input: &Input) {
    let c = |n: &u8| CallId::new(format!("call-{n}"));
    let _refused_or_ok = match input {
        Input::Add => p.add_agent(AgentConfig::new(agent.clone(), "x"), now),
        Input::Remove => p.remove_agent(agent, now),
        Input::Login => p.login(agent, now),
        Input::Logout => p.logout(agent, now),
        Input::DeviceUp { device, edge } => {
            let device = Device {
                id: DeviceId::new(format!("d{device}")),
                kind: DeviceKind::Browser,
                edge: e(*edge),
            };
            p.device_registered(agent, device, now)
        }
        Input::DeviceDown(d) => p.device_gone(agent, &DeviceId::new(format!("d{d}")), now),
        Input::Pause(r) => {
            let reason = match r {
                0 => PauseReason::NoAnswer,
                1 => PauseReason::Break,
                _ => PauseReason::Other("custom".into()),
            };
            p.pause(agent, reason, now)
        }
        Input::Resume => p.resume(agent, now),
        Input::Reserve { call, edge, ttl_ms } => p
            .reserve(
                agent,
                c(call),
                e(*edge),
                Duration::from_millis(*ttl_ms),
                now,
            )
            .map(|_| ()),
        Input::Confirm(call) => p.confirm_ringing(agent, &c(call), now),
        Input::Answer(call) => p.answered(agent, &c(call), now),
        Input::Release(call) => p.released(agent, &c(call), now),
        Input::End { call, wrap_ms } => {
            p.call_ended(agent, &c(call), Duration::from_millis(*wrap_ms), now)
        }
        Input::Timeout => {
            p.handle_timeout(now);
            Ok(())
        }
        Input::InProgress {
            call,
            edge,
            answered,
        } => p.call_in_progress(agent, c(call), e(*edge), *answered, now),
        Input::EdgeGone(n) => {
            let edge = EdgeNode::new(format!("edge-{n}"));
            let bound: Vec<AgentId> = p
                .agents()
                .filter(|a| a.edge() == Some(&edge) && a.state().is_call_bound())
                .map(|a| a.id().clone())
                .collect();
            let registered: Vec<(AgentId, DeviceId)> = p
                .agents()
                .flat_map(|a| {
                    a.devices()
                        .filter(|d| d.edge.as_ref() == Some(&edge))
                        .map(|d| (a.id().clone(), d.id.clone()))
                })
                .collect();
            let cleared = p.edge_gone(&edge, now);
            // Timers due at `now` apply first, so some of `bound` may have left already (a
            // retiring agent with its devices).
            assert!(
                cleared.freed.iter().all(|id| bound.contains(id)),
                "{cleared:?} not all in {bound:?}"
            );
            assert!(
                cleared.devices.iter().all(|d| registered.contains(d)),
                "{cleared:?} not all in {registered:?}"
            );
            assert!(
                p.agents().all(|a| a.edge() != Some(&edge)),
                "nobody left on {edge}"
            );
            assert!(
                p.agents()
                    .all(|a| a.devices().all(|d| d.edge.as_ref() != Some(&edge))),
                "no device left on {edge}"
            );
            Ok(())
        }
        Input::Configure(mask) => {
            let agents = (0..AGENTS)
                .filter(|n| mask & (1 << n) != 0)
                .map(|n| AgentConfig::new(format!("agent-{n}"), "x"))
                .collect();
            p.configure(agents, now).map(|_| ())
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_keep_every_invariant(steps in proptest::collection::vec(step(), 1..120)) {
        let config = PresenceConfig { max_reservation_ttl: Duration::from_secs(120), ..Default::default() };
        let max_ttl = config.max_reservation_ttl;
        let max_wrap = config.max_wrap_up;
        let mut p = Presence::new(config);
        let mut now = Instant::now();
        // The state of each agent as told by events alone.
        let mut shadow: BTreeMap<AgentId, AgentState> = BTreeMap::new();
        let mut last_seq = 0u64;

        for (advance_ms, who, input) in &steps {
            now += Duration::from_millis(*advance_ms);
            let agent = AgentId::new(format!("agent-{who}"));
            apply(&mut p, now, &agent, input);

            while let Some(event) = p.poll_event() {
                prop_assert_eq!(event.seq(), last_seq + 1, "contiguous sequence");
                last_seq = event.seq();
                match event {
                    PresenceEvent::AgentAdded { agent, state, .. } => {
                        prop_assert!(shadow.insert(agent, state).is_none());
                    }
                    PresenceEvent::AgentRemoved { agent, last, .. } => {
                        prop_assert_eq!(shadow.remove(&agent), Some(last));
                    }
                    PresenceEvent::AgentStateChanged { agent, from, to, at, cause, .. } => {
                        prop_assert_ne!(&from, &to);
                        prop_assert_eq!(at, now);
                        prop_assert_eq!(shadow.get(&agent), Some(&from));
                        // Never straight from one call into another.
                        if let (Some(a), Some(b)) = (from.call(), to.call()) {
                            prop_assert_eq!(a, b);
                        }
                        // A call-bound state is only entered from Available (by reserve), or
                        // from anywhere by a call already in progress after a takeover.
                        if to.call().is_some() && from.call().is_none() && cause != Cause::Restored {
                            prop_assert_eq!(&from, &AgentState::Available);
                        }
                        // A dead edge only ever takes an agent out of its call (its phones go
                        // as any device does, with `DeviceGone`).
                        if cause == Cause::EdgeGone {
                            prop_assert!(from.is_call_bound() && !to.is_call_bound());
                        }
                        shadow.insert(agent, to);
                    }
                }
            }

            let mut earliest: Option<Instant> = None;
            for a in p.agents() {
                prop_assert_eq!(shadow.get(a.id()), Some(a.state()), "events describe the state");
                prop_assert!(
                    !a.retiring() || a.state().is_call_bound(),
                    "a retired agent stays only for its call"
                );
                prop_assert!(
                    a.edge().is_none() || a.state().is_call_bound(),
                    "an edge is only kept with its call"
                );
                match a.state() {
                    AgentState::Reserved { until, .. } => {
                        prop_assert!(*until > now, "reserved past its ttl");
                        prop_assert!(*until <= now + max_ttl);
                    }
                    AgentState::WrapUp { until } => {
                        prop_assert!(*until > now, "in wrap-up past its end");
                        prop_assert!(*until <= now + max_wrap);
                    }
                    AgentState::Available => {
                        prop_assert!(a.logged_in());
                        prop_assert!(a.devices().next().is_some());
                        prop_assert!(a.pause_reason().is_none());
                    }
                    AgentState::Paused { .. } => {
                        prop_assert!(a.logged_in() && a.devices().next().is_some());
                    }
                    _ => {}
                }
                if let Some(d) = a.state().deadline() {
                    earliest = Some(earliest.map_or(d, |e| e.min(d)));
                }
            }
            prop_assert_eq!(p.poll_timeout(), earliest, "poll_timeout is the earliest deadline");
            prop_assert_eq!(shadow.len(), p.len());
        }
    }
}
