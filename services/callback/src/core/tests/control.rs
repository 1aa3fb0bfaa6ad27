//! Cancel and reschedule.

use super::*;

#[test]
fn a_pending_callback_is_cancelled() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 100));
    h.drain();
    assert_eq!(h.core.handle_cancel(h.now, &"a".into()), Ok(None));
    let outputs = h.drain();
    assert_eq!(outputs[0].record().state, State::Cancelled { at: at(0) });
    assert_eq!(h.core.poll_timeout(), None);
    assert_eq!(
        h.core.handle_cancel(h.now, &"a".into()),
        Err(CallbackError::UnknownCallback("a".into()))
    );
    // The number and target are free for a new callback.
    assert_eq!(
        h.request(request("b", "+4930111", "sales", 0)),
        Accepted::Created("b".into())
    );
}

#[test]
fn cancelling_during_a_dial_names_the_attempt_and_refuses_its_result() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 0));
    h.capacity("sales", 1);
    h.drain();
    assert_eq!(h.core.handle_cancel(h.now, &"a".into()), Ok(Some(1)));
    assert_eq!(
        h.changes(),
        vec![(
            "a".to_owned(),
            Change::Cancelled {
                during_attempt: Some(1)
            }
        )]
    );
    assert!(
        h.core
            .handle_result(h.now, &"a".into(), 1, TOKEN, Outcome::Reached)
            .is_err()
    );
}

#[test]
fn a_reschedule_replaces_the_window_and_can_add_attempts() {
    let mut h = Harness::new();
    h.request(Request {
        max_attempts: Some(1),
        ..request("a", "+4930111", "sales", 0)
    });
    h.capacity("sales", 1);
    h.drain();
    // Refused while dialling.
    let tomorrow = Reschedule {
        window: window(DAY, DAY + HOUR),
        extra_attempts: Some(2),
        priority: Some(Priority(3)),
    };
    assert_eq!(
        h.core
            .handle_reschedule(h.now, &"a".into(), tomorrow.clone()),
        Err(CallbackError::NotPending {
            id: "a".into(),
            state: StateKind::Dispatching
        })
    );
    // Give the one attempt a second one first, so it is pending again.
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 0));
    h.capacity("sales", 1);
    h.result("a", 1, Outcome::NoAnswer);
    h.drain();
    h.core
        .handle_reschedule(h.now, &"a".into(), tomorrow)
        .unwrap();
    let record = h.core.get(&"a".into()).unwrap();
    assert_eq!(record.window.spans().len(), 1, "replaced, not merged");
    assert_eq!(record.next_attempt_at, at(DAY));
    assert_eq!(record.max_attempts, 3, "1 made + 2 more");
    assert_eq!(record.priority, Priority(3));
    assert_eq!(
        h.changes(),
        vec![(
            "a".to_owned(),
            Change::Rescheduled {
                earliest: at(DAY),
                latest: at(DAY + HOUR)
            }
        )]
    );
    h.capacity("sales", 1);
    h.advance_to(DAY - 1);
    assert!(h.dispatched().is_empty());
    h.advance_to(DAY);
    assert_eq!(h.dispatched(), vec![("a".into(), 2)]);
}

#[test]
fn a_reschedule_into_the_past_is_refused() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 0));
    h.advance_to(500);
    let past = Reschedule {
        window: window(0, 100),
        extra_attempts: None,
        priority: None,
    };
    assert_eq!(
        h.core.handle_reschedule(h.now, &"a".into(), past),
        Err(CallbackError::WindowOver)
    );
}
