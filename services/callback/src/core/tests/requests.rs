//! Requests: validation, creation, merging, bounds.

use super::*;

#[test]
fn numbers_are_normalised_and_checked() {
    let n = PhoneNumber::parse(" +49 (30) 123-45.67 ").unwrap();
    assert_eq!(n.as_str(), "+49301234567");
    assert_eq!(PhoneNumber::parse("0301234").unwrap().as_str(), "0301234");
    assert_eq!(PhoneNumber::parse("100").unwrap().as_str(), "100");
    for bad in [
        "",
        "+",
        "12",
        "+1234567890123456",
        "49 30 abc",
        "++49301234",
        "sip:100@x",
    ] {
        assert!(
            matches!(
                PhoneNumber::parse(bad),
                Err(CallbackError::InvalidNumber { .. })
            ),
            "{bad:?} accepted"
        );
    }
    // Stored numbers are checked on the way in too.
    assert!(serde_json::from_str::<PhoneNumber>("\"12ab\"").is_err());
}

#[test]
fn windows_are_checked() {
    assert!(matches!(
        Window::new(at(10), at(10), "UTC"),
        Err(CallbackError::InvalidWindow(_))
    ));
    assert!(matches!(
        Window::new(at(0), at(10), "Mars/Olympus"),
        Err(CallbackError::InvalidTimeZone(_))
    ));
    let mut h = Harness::new();
    h.advance_to(100);
    let over = Request {
        window: window(0, 50),
        ..request("a", "+4930111", "sales", 0)
    };
    assert_eq!(
        h.core.handle_request(h.now, over),
        Err(CallbackError::WindowOver)
    );
    let too_long = Request {
        window: window(0, 365 * DAY),
        ..request("a", "+4930111", "sales", 0)
    };
    assert!(matches!(
        h.core.handle_request(h.now, too_long),
        Err(CallbackError::InvalidWindow(_))
    ));
    let bad_id = request("a/b", "+4930111", "sales", 0);
    assert!(matches!(
        h.core.handle_request(h.now, bad_id),
        Err(CallbackError::InvalidField { field: "id", .. })
    ));
    let zero = Request {
        max_attempts: Some(0),
        ..request("a", "+4930111", "sales", 0)
    };
    assert!(matches!(
        h.core.handle_request(h.now, zero),
        Err(CallbackError::InvalidField {
            field: "max_attempts",
            ..
        })
    ));
    assert_eq!(h.core.active(), 0);
    assert!(h.drain().is_empty(), "a refused request outputs nothing");
}

#[test]
fn a_request_creates_a_pending_callback_and_says_so() {
    let mut h = Harness::new();
    let accepted = h.request(request("a", "+49 30 111", "sales", 60));
    assert_eq!(accepted, Accepted::Created("a".into()));
    let outputs = h.drain();
    assert_eq!(outputs.len(), 1);
    let record = outputs[0].record();
    assert_eq!(record.state, State::Pending);
    assert_eq!(record.number.as_str(), "+4930111");
    assert_eq!(record.next_attempt_at, at(60));
    assert_eq!(record.max_attempts, 3);
    assert_eq!(record.reasons, vec!["reason a".to_owned()]);
    assert_eq!(
        outputs[0].event().unwrap().change,
        Change::Created {
            source: Source::Api
        }
    );
    assert_eq!(
        h.core.poll_timeout(),
        Some(at(60)),
        "due at the window's start"
    );
    assert_eq!(
        h.core
            .handle_request(h.now, request("a", "+4930999", "sales", 0)),
        Err(CallbackError::DuplicateId("a".into()))
    );
}

#[test]
fn a_second_request_for_the_same_number_and_target_merges() {
    let mut h = Harness::new();
    h.request(hold("a", "+4930111", "sales", 0, 100));
    h.drain();
    h.advance_to(200);
    // The same caller asks again, through another channel and with another window.
    let again = Request {
        reason: "about the invoice".into(),
        source: Source::Message,
        window: window(2 * DAY, 3 * DAY),
        priority: Priority(2),
        max_attempts: Some(5),
        enqueued_at: Some(at(150)),
        ..request("b", "+49-30-111", "sales", 0)
    };
    assert_eq!(h.request(again), Accepted::Merged("a".into()));
    assert_eq!(
        h.core.active(),
        1,
        "never two callbacks for one number and target"
    );
    let record = h.core.get(&"a".into()).unwrap();
    assert_eq!(record.enqueued_at, Some(at(0)), "the earliest enqueue time");
    assert_eq!(record.priority, Priority(2));
    assert_eq!(record.max_attempts, 5);
    assert_eq!(record.reasons, vec!["reason a", "about the invoice"]);
    assert_eq!(
        record.window.spans(),
        &[
            Span {
                start: at(100),
                end: at(100 + DAY)
            },
            Span {
                start: at(2 * DAY),
                end: at(3 * DAY)
            }
        ],
        "the union of both windows"
    );
    assert_eq!(
        h.changes(),
        vec![(
            "a".to_owned(),
            Change::Merged {
                request: "b".into(),
                source: Source::Message,
                reason: "about the invoice".into()
            }
        )]
    );
    // Another target or another number is another callback.
    assert!(matches!(
        h.request(request("c", "+4930111", "support", 0)),
        Accepted::Created(_)
    ));
    assert!(matches!(
        h.request(request("d", "+4930112", "sales", 0)),
        Accepted::Created(_)
    ));
}

#[test]
fn a_merge_pulls_the_next_attempt_earlier_but_not_outside_the_window() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", DAY));
    h.request(request("b", "+4930111", "sales", 3 * HOUR));
    let record = h.core.get(&"a".into()).unwrap();
    assert_eq!(record.next_attempt_at, at(3 * HOUR));
    assert_eq!(record.window.spans().len(), 1, "overlapping windows join");
    assert_eq!(record.window.earliest(), at(3 * HOUR));
    assert_eq!(record.window.latest(), at(2 * DAY));
}

#[test]
fn union_of_many_disjoint_windows_stays_bounded() {
    let mut w = window(0, 10);
    for i in 1..20 {
        w.union(&window(i * 100, i * 100 + 10 + i));
    }
    assert_eq!(w.spans().len(), MAX_SPANS);
    assert_eq!(w.earliest(), at(0));
    assert_eq!(w.latest(), at(1900 + 29));
    assert!(w.spans().windows(2).all(|p| p[0].end < p[1].start));
    for i in 0..20 {
        assert!(w.contains(at(i * 100)), "every requested start is kept");
    }
}

#[test]
fn a_merge_into_a_dispatching_callback_waits_for_its_result() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 0));
    h.capacity("sales", 1);
    assert_eq!(h.dispatched(), vec![("a".to_owned(), 1)]);
    assert_eq!(
        h.request(request("b", "+4930111", "sales", 0)),
        Accepted::Merged("a".into())
    );
    assert_eq!(h.state("a"), Some(StateKind::Dispatching));
    assert!(h.dispatched().is_empty());
}

#[test]
fn the_scheduler_is_bounded() {
    let config = CoreConfig {
        max_pending: 2,
        ..CoreConfig::default()
    };
    let mut h = Harness::with(config, AlwaysOpen);
    h.request(request("a", "+4930111", "sales", 0));
    h.request(request("b", "+4930112", "sales", 0));
    assert_eq!(
        h.core
            .handle_request(h.now, request("c", "+4930113", "sales", 0)),
        Err(CallbackError::Full { max: 2 })
    );
    // A request that merges needs no room.
    assert_eq!(
        h.request(request("d", "+4930111", "sales", 0)),
        Accepted::Merged("a".into())
    );
    // A finished callback makes room.
    h.core.handle_cancel(h.now, &"b".into()).unwrap();
    assert!(matches!(
        h.request(request("c", "+4930113", "sales", 0)),
        Accepted::Created(_)
    ));
}

#[test]
fn history_is_bounded_and_keeps_its_first_entry() {
    let config = CoreConfig {
        max_history: 4,
        ..CoreConfig::default()
    };
    let mut h = Harness::with(config, AlwaysOpen);
    h.request(request("a", "+4930111", "sales", 0));
    for i in 0..10 {
        h.request(request(&format!("m{i}"), "+4930111", "sales", 0));
    }
    let record = h.core.get(&"a".into()).unwrap();
    assert_eq!(record.history.len(), 4);
    assert!(matches!(record.history[0].change, Change::Created { .. }));
    assert!(matches!(
        &record.history[3].change,
        Change::Merged { request, .. } if request.as_str() == "m9"
    ));
}
