//! Last-agent routing (MISSION R-34): a returning caller rings the member they last spoke
//! to, alone, first.

use std::time::Duration;

use super::*;

fn harness() -> Harness {
    let sales = dept(Strategy::RingAll, &["anna", "piotr", "maria"])
        .last_agent(Duration::from_secs(3600), Duration::from_secs(5));
    Harness::new(vec![sales])
}

fn enqueue_from(h: &mut Harness, call: &str, caller: Option<&str>) {
    h.core
        .handle_enqueue(
            h.now,
            Enqueue {
                call: call.into(),
                department: "d".into(),
                priority: Priority(0),
                enqueued_at: None,
                edge: None,
                caller: caller.map(Caller::from),
            },
        )
        .unwrap();
}

/// The customer +48600 speaks to piotr once (everyone is rung; piotr answers).
fn first_call_answered_by_piotr(h: &mut Harness) {
    h.available(&["anna", "piotr", "maria"]);
    enqueue_from(h, "c1", Some("+48600"));
    let offers = h.offers();
    assert_eq!(order(&offers[0].1), ["anna", "piotr", "maria"]);
    h.handle("c1", "piotr", 60);
    h.drain();
}

#[test]
fn a_returning_caller_rings_their_last_agent_alone_first() {
    let mut h = harness();
    first_call_answered_by_piotr(&mut h);
    assert_eq!(
        h.core
            .last_agent(&"d".into(), &"+48600".into(), h.now)
            .as_ref()
            .map(AgentId::as_str),
        Some("piotr")
    );
    h.advance_to(600);
    enqueue_from(&mut h, "c2", Some("+48600"));
    let offers = h.offers();
    assert_eq!(offers.len(), 1);
    assert_eq!(targets(&offers[0].1), s(&[("piotr", 0, 5)]));
}

#[test]
fn when_the_last_agent_does_not_answer_the_strategy_takes_over() {
    let mut h = harness();
    first_call_answered_by_piotr(&mut h);
    h.advance_to(600);
    enqueue_from(&mut h, "c2", Some("+48600"));
    assert_eq!(order(&h.offers()[0].1), ["piotr"]);
    // Piotr's 5 s ring out: everyone else is rung, piotr passed over this round.
    h.advance_to(605);
    let offers = h.offers();
    assert_eq!(order(&offers[0].1), ["anna", "maria"]);
}

#[test]
fn a_busy_last_agent_or_another_caller_gets_the_strategy_at_once() {
    let mut h = harness();
    first_call_answered_by_piotr(&mut h);
    // Another caller: the whole department.
    enqueue_from(&mut h, "c2", Some("+48700"));
    assert_eq!(order(&h.offers()[0].1), ["anna", "piotr", "maria"]);
    h.answer("c2", "piotr");
    h.drain();
    // The returning caller while piotr is busy: the others, without waiting.
    enqueue_from(&mut h, "c3", Some("+48600"));
    assert_eq!(order(&h.offers()[0].1), ["anna", "maria"]);
}

#[test]
fn the_memory_expires_and_anonymous_callers_are_never_remembered() {
    let mut h = harness();
    first_call_answered_by_piotr(&mut h);
    h.advance_to(3700);
    enqueue_from(&mut h, "c2", Some("+48600"));
    assert_eq!(order(&h.offers()[0].1), ["anna", "piotr", "maria"]);
    h.answer("c2", "anna");
    h.drain();
    enqueue_from(&mut h, "c3", None);
    assert_eq!(order(&h.offers()[0].1), ["piotr", "maria"]);
    h.answer("c3", "maria");
    h.drain();
    assert!(h.core.last_agent(&"d".into(), &"".into(), h.now).is_none());
}

#[test]
fn a_department_without_last_agent_routing_remembers_nobody() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["anna", "piotr"])]);
    h.available(&["anna", "piotr"]);
    enqueue_from(&mut h, "c1", Some("+48600"));
    h.offers();
    h.handle("c1", "piotr", 10);
    h.drain();
    enqueue_from(&mut h, "c2", Some("+48600"));
    assert_eq!(order(&h.offers()[0].1), ["anna", "piotr"]);
    assert!(
        h.core
            .last_agent(&"d".into(), &"+48600".into(), h.now)
            .is_none()
    );
}

#[test]
fn a_full_memory_forgets_its_oldest_callers_first() {
    let mut h = harness();
    h.available(&["anna", "piotr", "maria"]);
    let anna = h.core.agents.find(&"anna".into()).unwrap();
    let full = super::super::queue::MAX_REMEMBERED_CALLERS;
    let department = &mut h.core.departments[0];
    for i in 0..full {
        let at = h.t0 + Duration::from_millis(i as u64);
        department.remember_caller(&Caller::new(format!("+48{i}")), anna, at);
    }
    let later = h.t0 + Duration::from_secs(1000);
    department.remember_caller(&Caller::new("+48new"), anna, later);
    assert!(department.recent.len() <= full);
    assert_eq!(
        department.last_agent_of(&"+48new".into(), later),
        Some(anna)
    );
    assert_eq!(department.last_agent_of(&"+480".into(), later), None);
    let newest_old = Caller::new(format!("+48{}", full - 1));
    assert_eq!(department.last_agent_of(&newest_old, later), Some(anna));
}
