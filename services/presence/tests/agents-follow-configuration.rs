//! The configured set of agents follows the configuration: employees added become agents,
//! employees removed stop being agents at once or, when in a call, as soon as the call lets
//! go of them; a refused configuration changes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use cc_presence::core::{
    AgentConfig, AgentId, AgentState, PresenceConfig, PresenceError, PresenceEvent, Reconfigured,
};
use common::{Harness, call, secs};

fn ids(names: &[&str]) -> Vec<AgentId> {
    names.iter().map(|n| AgentId::from(*n)).collect()
}

fn configs(names: &[&str]) -> Vec<AgentConfig> {
    names
        .iter()
        .map(|n| AgentConfig::new(*n, n.to_uppercase()))
        .collect()
}

fn agent_ids(h: &Harness) -> Vec<String> {
    h.p.agents().map(|a| a.id().to_string()).collect()
}

#[test]
fn new_employees_become_agents_and_removed_ones_stop_being_agents() {
    let mut h = Harness::new();
    h.ready_agent("alice");
    h.ready_agent("bob");
    h.events();

    let mut next = configs(&["bob", "carol"]);
    next[0].display_name = "Bob B.".into();
    let done = h.p.configure(next, h.now).unwrap();
    assert_eq!(
        done,
        Reconfigured {
            added: ids(&["carol"]),
            updated: ids(&["bob"]),
            removed: ids(&["alice"]),
            retiring: vec![],
        }
    );
    assert_eq!(agent_ids(&h), ["bob", "carol"]);
    let bob = h.p.agent(&AgentId::from("bob")).unwrap();
    assert_eq!(bob.config().display_name, "Bob B.");
    assert_eq!(
        bob.state(),
        &AgentState::Available,
        "an update keeps the state"
    );
    assert_eq!(h.state(&AgentId::from("carol")), AgentState::Offline);

    let events = h.events();
    assert!(
        matches!(
            &events[..],
            [
                PresenceEvent::AgentRemoved { agent, last: AgentState::Available, .. },
                PresenceEvent::AgentAdded { agent: added, .. },
            ] if agent.as_str() == "alice" && added.as_str() == "carol"
        ),
        "{events:?}"
    );

    // The same configuration again changes nothing.
    let done = h.p.configure(configs(&["bob", "carol"]), h.now).unwrap();
    assert_eq!(done.updated, ids(&["bob"]), "the display name went back");
    let done = h.p.configure(configs(&["bob", "carol"]), h.now).unwrap();
    assert_eq!(done, Reconfigured::default());
    assert!(h.events().is_empty());
}

#[test]
fn an_agent_removed_during_a_call_finishes_it_then_leaves_without_wrap_up() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let c = call("c1");
    h.p.reserve(&a, c.clone(), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &c, h.now).unwrap();
    h.events();

    let done = h.p.configure(vec![], h.now).unwrap();
    assert_eq!(done.retiring, ids(&["alice"]));
    assert_eq!(h.state(&a), AgentState::OnCall { call: c.clone() });
    assert!(h.p.agent(&a).unwrap().retiring());
    assert!(
        h.events().is_empty(),
        "nothing visible changes during the call"
    );
    // Asked again, it is still (not newly) retiring.
    assert_eq!(
        h.p.configure(vec![], h.now).unwrap(),
        Reconfigured::default()
    );

    h.advance(secs(30));
    h.p.call_ended(&a, &c, secs(10), h.now).unwrap();
    let events = h.events();
    assert!(
        matches!(
            &events[..],
            [
                PresenceEvent::AgentStateChanged {
                    to: AgentState::Offline,
                    ..
                },
                PresenceEvent::AgentRemoved {
                    last: AgentState::Offline,
                    ..
                },
            ]
        ),
        "{events:?}"
    );
    assert_eq!(h.p.agent(&a).unwrap_err(), PresenceError::UnknownAgent(a));
    assert_eq!(h.p.poll_timeout(), None, "no wrap-up timer left behind");
}

#[test]
fn a_retiring_agent_whose_reservation_lapses_leaves_at_once() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.configure(vec![], h.now).unwrap();
    h.advance_and_fire(secs(5));
    assert!(h.p.is_empty());
    assert_eq!(h.p.poll_timeout(), None);
}

#[test]
fn a_retiring_agent_configured_again_stays_and_works_on() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let c = call("c1");
    h.p.reserve(&a, c.clone(), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &c, h.now).unwrap();
    h.p.configure(vec![], h.now).unwrap();
    let done = h.p.configure(configs(&["alice"]), h.now).unwrap();
    assert_eq!(done.updated, ids(&["alice"]));
    assert!(!h.p.agent(&a).unwrap().retiring());
    h.p.call_ended(&a, &c, secs(0), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn a_refused_configuration_changes_nothing() {
    let mut h = Harness::with_config(PresenceConfig {
        max_agents: 2,
        ..PresenceConfig::default()
    });
    let a = h.ready_agent("alice");
    let c = call("c1");
    h.p.reserve(&a, c.clone(), None, secs(5), h.now).unwrap();
    h.events();

    assert_eq!(
        h.p.configure(configs(&["bob", "bob"]), h.now).unwrap_err(),
        PresenceError::AgentExists(AgentId::from("bob"))
    );
    assert!(matches!(
        h.p.configure(configs(&["bob", ""]), h.now),
        Err(PresenceError::Empty { .. })
    ));
    // Alice stays until her call ends, so two new agents would make three.
    assert_eq!(
        h.p.configure(configs(&["bob", "carol"]), h.now)
            .unwrap_err(),
        PresenceError::TooManyAgents { max: 2 }
    );
    assert_eq!(agent_ids(&h), ["alice"]);
    assert!(!h.p.agent(&a).unwrap().retiring());
    assert!(h.events().is_empty());
    // One new agent fits next to the retiring one.
    let done = h.p.configure(configs(&["bob"]), h.now).unwrap();
    assert_eq!(
        (done.added, done.retiring),
        (ids(&["bob"]), ids(&["alice"]))
    );
}
