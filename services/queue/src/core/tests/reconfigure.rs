//! Departments changing at run time: added, changed (strategy, members, ring time),
//! removed when empty, closed while calls wait and removed when the last one leaves.

use super::*;

fn configure(h: &mut Harness, departments: Vec<DepartmentConfig>) -> Reconfigured {
    h.core.handle_configure(h.now, departments).unwrap()
}

fn ids(names: &[&str]) -> Vec<DepartmentId> {
    names.iter().map(|n| DepartmentId::from(*n)).collect()
}

#[test]
fn a_department_added_at_run_time_takes_calls_for_agents_already_free() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.available(&["a", "b"]);
    let done = configure(
        &mut h,
        vec![
            dept(Strategy::RingAll, &["a"]),
            DepartmentConfig::new("e", Strategy::Sequential).member("b"),
        ],
    );
    assert_eq!(
        done,
        Reconfigured {
            added: ids(&["e"]),
            ..Reconfigured::default()
        }
    );
    assert_eq!(h.core.departments(), ids(&["d", "e"]));
    h.enqueue("c1", "e", 0);
    let offers = h.offers();
    assert_eq!(order(&offers[0].1), ["b"]);
    assert_eq!(offers[0].1.department, DepartmentId::from("e"));
}

#[test]
fn the_same_configuration_again_changes_nothing() {
    let departments = vec![dept(Strategy::Sequential, &["a", "b"])];
    let mut h = Harness::new(departments.clone());
    h.available(&["a"]);
    h.drain();
    assert_eq!(configure(&mut h, departments), Reconfigured::default());
    assert!(h.drain().is_empty());
}

#[test]
fn a_new_strategy_member_order_and_ring_time_apply_from_the_next_plan() {
    let mut h = Harness::new(vec![dept(Strategy::Sequential, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    let first = h.offers();
    assert_eq!(targets(&first[0].1), s(&[("a", 0, 10), ("b", 10, 20)]));

    let changed = DepartmentConfig::new("d", Strategy::Progressive)
        .ring_seconds(5)
        .member("b")
        .member("a");
    let done = configure(&mut h, vec![changed]);
    assert_eq!(done.updated, ids(&["d"]));
    assert!(h.drain().is_empty(), "the running plan is left alone");
    assert_eq!(
        h.core.members(&"d".into()).unwrap(),
        ["b", "a"].map(AgentId::from)
    );

    h.answer("c1", "a");
    h.end("c1");
    h.enqueue("c2", "d", 0);
    let next = h.offers();
    assert_eq!(targets(&next[0].1), s(&[("b", 0, 10), ("a", 5, 10)]));
}

#[test]
fn a_member_taken_out_finishes_the_plan_it_rings_in_but_gets_no_new_one() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.drain();
    configure(&mut h, vec![dept(Strategy::RingAll, &["a"])]);
    assert!(h.drain().is_empty());
    // b still rings for c1 and may take it.
    h.answer("c1", "b");
    let out = h.drain();
    assert!(out.contains(&Output::CancelOffer {
        call: "c1".into(),
        agent: "a".into()
    }));
    h.end("c1");
    h.enqueue("c2", "d", 0);
    h.enqueue("c3", "d", 0);
    let offers = h.offers();
    assert_eq!(offers.len(), 1, "only a takes calls of d now");
    assert_eq!(order(&offers[0].1), ["a"]);
    assert!(
        h.facts("b").available,
        "b is still known, just in no department"
    );
}

#[test]
fn a_department_removed_with_an_empty_queue_is_gone_at_once() {
    let mut h = Harness::new(vec![
        dept(Strategy::RingAll, &["a"]),
        DepartmentConfig::new("e", Strategy::RingAll).member("a"),
    ]);
    let done = configure(&mut h, vec![dept(Strategy::RingAll, &["a"])]);
    assert_eq!(done.removed, ids(&["e"]));
    assert_eq!(h.core.departments(), ids(&["d"]));
    let err = h
        .core
        .handle_enqueue(
            h.now,
            Enqueue {
                call: "c1".into(),
                department: "e".into(),
                priority: Priority(0),
                enqueued_at: None,
                edge: None,
                caller: None,
            },
        )
        .unwrap_err();
    assert_eq!(err, QueueError::UnknownDepartment("e".into()));
    // Added again later, it is a fresh department.
    let done = configure(
        &mut h,
        vec![
            dept(Strategy::RingAll, &["a"]),
            DepartmentConfig::new("e", Strategy::RingAll).member("a"),
        ],
    );
    assert_eq!(done.added, ids(&["e"]));
    h.enqueue("c1", "e", 0);
}

#[test]
fn a_department_removed_while_calls_wait_serves_them_then_goes() {
    let mut h = Harness::new(vec![
        dept(Strategy::RingAll, &["a"]),
        DepartmentConfig::new("e", Strategy::RingAll).member("a"),
    ]);
    h.enqueue("c1", "e", 0);
    h.enqueue("c2", "e", 0);
    let done = configure(&mut h, vec![dept(Strategy::RingAll, &["a"])]);
    assert_eq!(done.closing, ids(&["e"]));
    assert_eq!(h.core.departments(), ids(&["d", "e"]));
    let refused = h.core.handle_enqueue(
        h.now,
        Enqueue {
            call: "c3".into(),
            department: "e".into(),
            priority: Priority(0),
            enqueued_at: None,
            edge: None,
            caller: None,
        },
    );
    assert_eq!(refused, Err(QueueError::DepartmentClosing("e".into())));
    assert_eq!(h.core.position(&"c2".into()).unwrap(), 2);

    // Its members still serve the calls that wait.
    h.available(&["a"]);
    let offers = h.offers();
    assert_eq!(offers[0].0.as_str(), "c1");
    h.handle("c1", "a", 10);
    assert_eq!(h.offers()[0].0.as_str(), "c2");
    h.core.handle_abandon(h.now, &"c2".into()).unwrap();
    assert_eq!(h.core.departments(), ids(&["d"]), "gone with its last call");
    assert_eq!(
        h.core.waiting(&"e".into()),
        Err(QueueError::UnknownDepartment("e".into()))
    );
    assert!(h.facts("a").available);
}

#[test]
fn a_closing_department_configured_again_reopens_with_its_queue() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.enqueue("c1", "d", 0);
    configure(&mut h, vec![]);
    let done = configure(&mut h, vec![dept(Strategy::RingAll, &["a", "b"])]);
    assert_eq!(done.updated, ids(&["d"]));
    assert_eq!(h.core.position(&"c1".into()).unwrap(), 1);
    h.enqueue("c2", "d", 0);
    h.available(&["b"]);
    assert_eq!(h.offers()[0].0.as_str(), "c1");
}

#[test]
fn a_refused_configuration_changes_nothing() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    let twice = vec![
        DepartmentConfig::new("x", Strategy::RingAll).member("a"),
        DepartmentConfig::new("x", Strategy::RingAll).member("b"),
    ];
    assert_eq!(
        h.core.handle_configure(h.now, twice),
        Err(QueueError::DuplicateDepartment("x".into()))
    );
    let zero = vec![DepartmentConfig::new("x", Strategy::RingAll).member_ringing("a", 0)];
    assert!(matches!(
        h.core.handle_configure(h.now, zero),
        Err(QueueError::ZeroRingTime { .. })
    ));
    assert_eq!(h.core.departments(), ids(&["d"]));
    h.available(&["a"]);
    h.enqueue("c1", "d", 0);
    assert_eq!(h.offers().len(), 1);
}
