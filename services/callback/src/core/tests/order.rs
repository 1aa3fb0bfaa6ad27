//! Due order, virtual hold keeping its place, working hours and capacity.

use super::*;

#[test]
fn virtual_hold_keeps_its_place_then_scheduled_by_due_time() {
    let mut h = Harness::new();
    h.advance_to(100);
    // Scheduled callbacks due long ago and just now.
    h.request(request("s1", "+4930001", "sales", 0));
    h.request(request("s2", "+4930002", "sales", 50));
    // Callers who chose a callback while waiting, with the times they joined the queue:
    // the one who asked last had joined first.
    h.request(hold("v10", "+4930010", "sales", 10, 100));
    h.advance_to(120);
    h.request(hold("v5", "+4930005", "sales", 5, 120));
    h.request(hold("v30", "+4930030", "sales", 30, 120));
    assert_eq!(
        h.core.due_order(&dept("sales")),
        ["v5", "v10", "v30", "s1", "s2"]
            .map(CallbackId::from)
            .to_vec()
    );
    h.drain();
    // One agent at a time frees up: the line is served in that order.
    let mut order = Vec::new();
    for _ in 0..5 {
        h.capacity("sales", 1);
        let d = h.dispatched();
        assert_eq!(d.len(), 1, "one dispatch per free agent");
        order.push(d[0].0.clone());
    }
    assert_eq!(order, ["v5", "v10", "v30", "s1", "s2"]);
}

#[test]
fn priority_comes_first() {
    let mut h = Harness::new();
    h.request(hold("v", "+4930010", "sales", 0, 0));
    h.request(Request {
        priority: Priority(5),
        ..request("director", "+4930099", "sales", 0)
    });
    assert_eq!(
        h.core.due_order(&dept("sales")),
        ["director", "v"].map(CallbackId::from).to_vec()
    );
}

#[test]
fn a_virtual_hold_request_without_an_enqueue_time_joins_now() {
    let mut h = Harness::new();
    h.advance_to(50);
    h.request(Request {
        enqueued_at: None,
        ..hold("v", "+4930010", "sales", 0, 50)
    });
    assert_eq!(h.core.get(&"v".into()).unwrap().enqueued_at, Some(at(50)));
}

#[test]
fn capacity_limits_dispatches_per_report() {
    let mut h = Harness::new();
    for i in 0..5 {
        h.request(request(
            &format!("c{i}"),
            &format!("+493000{i}"),
            "sales",
            0,
        ));
    }
    assert!(h.dispatched().is_empty(), "nothing without capacity");
    h.capacity("sales", 2);
    assert_eq!(h.dispatched(), vec![("c0".into(), 1), ("c1".into(), 1)]);
    assert_eq!(
        h.core.capacity(&dept("sales")),
        0,
        "each dispatch uses one free agent"
    );
    h.advance_to(60);
    assert!(h.dispatched().is_empty());
    h.capacity("sales", 1);
    assert_eq!(h.dispatched(), vec![("c2".into(), 1)]);
    // Capacity of another department does not help.
    h.capacity("support", 5);
    assert!(h.dispatched().is_empty());
    // Capacity left over goes to callbacks that become due later.
    h.capacity("sales", 3);
    assert_eq!(h.dispatched().len(), 2);
    h.request(request("late", "+4930100", "sales", 100));
    h.advance_to(99);
    assert!(h.dispatched().is_empty(), "not before its window");
    h.advance_to(100);
    assert_eq!(h.dispatched(), vec![("late".into(), 1)]);
}

/// Open from 08:00 to 16:00 of each day after `T0`, for `sales` only; `support` is closed
/// with no known opening.
fn office(target: &Target, t: Timestamp) -> Openness {
    let day_ms = (DAY * 1000) as i64;
    let since = t.unix_ms() - T0;
    let day = since.div_euclid(day_ms);
    let of_day = since.rem_euclid(day_ms);
    let (open, close) = ((8 * HOUR * 1000) as i64, (16 * HOUR * 1000) as i64);
    match target {
        Target::Department(d) if d.as_str() == "sales" => {
            if (open..close).contains(&of_day) {
                Openness::Open
            } else {
                let next_day = if of_day < open { day } else { day + 1 };
                Openness::Closed {
                    next_open: Some(Timestamp::from_unix_ms(T0 + next_day * day_ms + open)),
                }
            }
        }
        _ => Openness::Closed { next_open: None },
    }
}

#[test]
fn a_callback_outside_working_hours_waits_for_the_next_opening() {
    let mut h = Harness::with(CoreConfig::default(), office);
    h.request(request("a", "+4930111", "sales", 0));
    h.capacity("sales", 1);
    assert!(h.dispatched().is_empty(), "closed at midnight");
    assert_eq!(
        h.core.poll_timeout(),
        Some(at(8 * HOUR)),
        "wakes when it opens"
    );
    h.advance_to(8 * HOUR - 1);
    assert!(h.dispatched().is_empty());
    h.advance_to(8 * HOUR);
    assert_eq!(h.dispatched(), vec![("a".into(), 1)]);
}

#[test]
fn a_target_closed_with_no_known_opening_is_asked_again_when_hours_change() {
    let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hours = {
        let open = open.clone();
        move |_: &Target, _: Timestamp| {
            if open.load(std::sync::atomic::Ordering::SeqCst) {
                Openness::Open
            } else {
                Openness::Closed { next_open: None }
            }
        }
    };
    let mut h = Harness::with(CoreConfig::default(), hours);
    h.request(request("a", "+4930111", "support", 0));
    h.core.handle_capacity(h.now, &dept("support"), 1).unwrap();
    assert!(h.dispatched().is_empty());
    assert_eq!(
        h.core.poll_timeout(),
        Some(at(DAY)),
        "only the window's end"
    );
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    h.core.handle_hours_changed(h.now).unwrap();
    assert_eq!(h.dispatched(), vec![("a".into(), 1)]);
}

#[test]
fn a_window_that_closes_before_anyone_is_free_expires_with_the_outcome_recorded() {
    let mut h = Harness::new();
    h.request(Request {
        window: window(0, HOUR),
        ..request("a", "+4930111", "sales", 0)
    });
    h.drain();
    h.advance_to(HOUR);
    let outputs = h.drain();
    assert_eq!(outputs.len(), 1);
    let record = outputs[0].record();
    assert_eq!(record.state, State::Expired { at: at(HOUR) });
    assert_eq!(
        record.last_change().unwrap().change,
        Change::Expired {
            attempts: 0,
            last: None
        }
    );
    assert_eq!(h.core.active(), 0, "finished callbacks leave the core");
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn a_window_of_several_spans_is_dialled_only_inside_them() {
    let mut h = Harness::new();
    h.request(Request {
        window: window(0, 100),
        ..request("a", "+4930111", "sales", 0)
    });
    h.request(Request {
        window: window(1000, 1100),
        ..request("b", "+4930111", "sales", 0)
    });
    h.drain();
    // Nobody free in the first span: it waits for the second one.
    h.advance_to(500);
    assert_eq!(h.state("a"), Some(StateKind::Pending));
    assert!(
        h.core.due_order(&dept("sales")).is_empty(),
        "not due between the spans"
    );
    h.capacity("sales", 1);
    assert!(h.dispatched().is_empty());
    h.advance_to(1000);
    assert_eq!(h.dispatched(), vec![("a".into(), 1)]);
}
