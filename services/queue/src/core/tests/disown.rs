//! Ownership of a department moving to another queue node: the department goes at once
//! with its waiting and offered calls and without outputs about them, agents reserved for
//! them are free again, answered calls talk on, and owning it again starts afresh.

use super::*;

fn disown(h: &mut Harness, department: &str) -> Vec<CallId> {
    h.core.handle_disown(h.now, &department.into()).unwrap()
}

fn calls(names: &[&str]) -> Vec<CallId> {
    names.iter().map(|c| CallId::from(*c)).collect()
}

/// Whether an output is about one of `calls`, or about the department `d` at all.
fn mentions(output: &Output, calls: &[CallId], d: &str) -> bool {
    match output {
        Output::Offer { call, plan } | Output::PlanChanged { call, plan } => {
            calls.contains(call) || plan.department.as_str() == d
        }
        Output::CancelOffer { call, .. } | Output::OfferFailed { call } => calls.contains(call),
        Output::QueueChanged { department, .. } => department.as_str() == d,
        Output::PauseAgent { .. } => false,
    }
}

#[test]
fn a_lost_department_goes_at_once_with_its_calls_and_says_nothing_about_them() {
    let mut h = Harness::new(vec![
        dept(Strategy::RingAll, &["a", "b"]),
        DepartmentConfig::new("e", Strategy::Sequential)
            .ring_seconds(10)
            .member("b"),
    ]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.enqueue("c2", "d", 0);
    h.now = h.at(1);
    h.enqueue("c3", "e", 0);
    let offers = h.offers();
    assert_eq!(offers.len(), 1);
    assert_eq!(
        (offers[0].0.as_str(), order(&offers[0].1)),
        ("c1", vec!["a".to_owned(), "b".to_owned()])
    );

    // c1 is offered to a and b, c2 waits behind it; c3 waits in e for b.
    assert_eq!(disown(&mut h, "d"), calls(&["c1", "c2"]));
    let out = h.drain();
    let gone = calls(&["c1", "c2"]);
    assert!(
        !out.iter().any(|o| mentions(o, &gone, "d")),
        "nothing about the lost calls: {out:?}"
    );
    // b, free again here, takes e's call at once.
    let [Output::Offer { call, plan }] = out.as_slice() else {
        panic!("only e's call is offered: {out:?}");
    };
    assert_eq!((call.as_str(), order(plan)), ("c3", vec!["b".to_owned()]));
    assert!(h.facts("a").available, "a is free, in no department now");

    assert_eq!(h.core.departments(), [DepartmentId::from("e")]);
    assert_eq!(
        h.core.waiting(&"d".into()),
        Err(QueueError::UnknownDepartment("d".into()))
    );
    assert_eq!(
        h.core.position(&"c1".into()),
        Err(QueueError::UnknownCall("c1".into()))
    );
    assert_eq!(
        h.core.handle_answer(h.now, &"c1".into(), &"a".into()),
        Err(QueueError::UnknownCall("c1".into()))
    );
    assert_eq!(
        h.core.handle_abandon(h.now, &"c2".into()),
        Err(QueueError::UnknownCall("c2".into()))
    );

    // c1's ring time runs out: its stale deadline says nothing either.
    h.advance_to(30);
    let later = h.drain();
    assert!(
        !later.iter().any(|o| mentions(o, &gone, "d")),
        "nothing about the lost calls later: {later:?}"
    );
}

#[test]
fn an_answered_call_of_a_lost_department_talks_on_until_it_ends() {
    let mut h = Harness::new(vec![
        DepartmentConfig::new("d", Strategy::RingAll)
            .wrap_up_seconds(5)
            .member("a"),
        DepartmentConfig::new("e", Strategy::RingAll).member("a"),
    ]);
    h.available(&["a"]);
    h.enqueue("c1", "d", 0);
    h.answer("c1", "a");
    h.enqueue("c2", "e", 0);
    h.drain();

    assert_eq!(disown(&mut h, "d"), calls(&[]));
    assert!(h.drain().is_empty());
    assert!(!h.facts("a").available, "a is still talking");

    h.now = h.at(60);
    h.end("c1");
    assert!(h.offers().is_empty(), "a wraps up first, as answered");
    assert_eq!(h.facts("a").calls_handled, 1);
    h.advance_to(65);
    let offers = h.offers();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].0.as_str(), "c2");
}

#[test]
fn a_department_owned_again_starts_empty() {
    let d = dept(Strategy::RingAll, &["a"]);
    let mut h = Harness::new(vec![d.clone()]);
    h.enqueue("c1", "d", 0);
    h.enqueue("c2", "d", 3);
    assert_eq!(disown(&mut h, "d"), calls(&["c2", "c1"]));
    assert!(h.core.departments().is_empty());

    let done = h.core.handle_configure(h.now, vec![d]).unwrap();
    assert_eq!(done.added, [DepartmentId::from("d")]);
    assert_eq!(h.core.waiting(&"d".into()), Ok(0));
    // The calls come back from their edges, with their original times.
    h.now = h.at(20);
    for (call, at) in [("c1", 0), ("c2", 5)] {
        h.core
            .handle_enqueue(
                h.now,
                Enqueue {
                    call: call.into(),
                    department: "d".into(),
                    priority: Priority(0),
                    enqueued_at: Some(h.at(at)),
                    edge: None,
                    caller: None,
                },
            )
            .unwrap();
    }
    assert_eq!(h.core.position(&"c1".into()), Ok(1));
    assert_eq!(
        h.core.wait_time(&"c1".into(), h.now),
        Ok(Duration::from_secs(20))
    );
    h.available(&["a"]);
    assert_eq!(h.offers()[0].0.as_str(), "c1");
}

#[test]
fn a_closing_department_can_be_lost_too() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.enqueue("c1", "d", 0);
    let done = h.core.handle_configure(h.now, vec![]).unwrap();
    assert_eq!(done.closing, [DepartmentId::from("d")]);
    assert_eq!(disown(&mut h, "d"), calls(&["c1"]));
    assert!(h.core.departments().is_empty());
    assert!(h.drain().iter().all(|o| !matches!(o, Output::Offer { .. })));
}

#[test]
fn losing_a_department_not_served_is_refused_and_changes_nothing() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.enqueue("c1", "d", 0);
    h.drain();
    assert_eq!(
        h.core.handle_disown(h.now, &"e".into()),
        Err(QueueError::UnknownDepartment("e".into()))
    );
    assert!(h.drain().is_empty());
    assert_eq!(h.core.waiting(&"d".into()), Ok(1));
}

#[test]
fn a_department_just_taken_over_offers_nothing_until_its_calls_are_back_in_line() {
    let mut h = Harness::new(vec![
        DepartmentConfig::new("d", Strategy::Sequential)
            .ring_seconds(10)
            .member("a"),
    ]);
    h.available(&["a"]);
    h.now = h.at(100);
    h.core.handle_hold(h.now, &"d".into(), h.at(101)).unwrap();
    // The calls come back from their edges in any order, with their original times.
    for (call, called_at) in [("late", 60), ("early", 10), ("middle", 30)] {
        h.core
            .handle_enqueue(
                h.now,
                Enqueue {
                    call: call.into(),
                    department: "d".into(),
                    priority: Priority(0),
                    enqueued_at: Some(h.at(called_at)),
                    edge: None,
                    caller: None,
                },
            )
            .unwrap();
    }
    assert!(h.offers().is_empty(), "nothing is offered during the hold");
    assert_eq!(h.core.position(&"early".into()), Ok(1));
    h.advance_to(101);
    let offers = h.offers();
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(
        offers[0].0.as_str(),
        "early",
        "the first caller is served first"
    );
}

#[test]
fn a_hold_in_the_past_offers_at_once_and_an_unknown_department_is_refused() {
    let mut h = Harness::new(vec![
        DepartmentConfig::new("d", Strategy::Sequential)
            .ring_seconds(10)
            .member("a"),
    ]);
    h.core.handle_hold(h.now, &"d".into(), h.at(5)).unwrap();
    h.enqueue("c1", "d", 0);
    h.available(&["a"]);
    assert!(h.offers().is_empty());
    // Lifting it early (a hold ending now) offers at once.
    h.core.handle_hold(h.now, &"d".into(), h.now).unwrap();
    assert_eq!(h.offers().len(), 1);
    assert_eq!(
        h.core.handle_hold(h.now, &"x".into(), h.at(1)),
        Err(QueueError::UnknownDepartment("x".into()))
    );
}
