//! Results: reached, retries with back-off, giving up, expiring, attempts in doubt.

use super::*;

#[test]
fn back_off_grows_by_the_factor_up_to_the_cap() {
    let config = CoreConfig {
        first_retry: Duration::from_secs(60),
        retry_factor: 3.0,
        max_retry: Duration::from_secs(1000),
        ..CoreConfig::default()
    };
    let delays: Vec<u64> = (1..=5).map(|n| config.retry_delay(n).as_secs()).collect();
    assert_eq!(delays, vec![60, 180, 540, 1000, 1000]);
    let odd = CoreConfig {
        retry_factor: f64::NAN,
        ..config
    };
    assert_eq!(
        odd.retry_delay(4).as_secs(),
        60,
        "a nonsense factor means no growth"
    );
}

#[test]
fn no_answer_and_busy_are_retried_with_back_off_until_reached_on_the_third_attempt() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 0));
    h.capacity("sales", 10);
    assert_eq!(h.dispatched(), vec![("a".into(), 1)]);

    h.advance_to(30);
    h.result("a", 1, Outcome::NoAnswer);
    let changes = h.changes();
    assert_eq!(
        changes,
        vec![(
            "a".to_owned(),
            Change::Retried {
                attempt: 1,
                outcome: Outcome::NoAnswer,
                next_at: at(150)
            }
        )],
        "first retry 120 s after the result"
    );
    assert_eq!(h.core.poll_timeout(), Some(at(150)));
    h.advance_to(149);
    assert!(h.dispatched().is_empty());
    h.advance_to(150);
    assert_eq!(h.dispatched(), vec![("a".into(), 2)]);

    h.advance_to(160);
    h.result("a", 2, Outcome::Busy);
    h.drain();
    h.advance_to(399);
    assert!(
        h.dispatched().is_empty(),
        "second retry waits twice as long"
    );
    h.advance_to(400);
    assert_eq!(h.dispatched(), vec![("a".into(), 3)]);

    h.advance_to(420);
    h.result("a", 3, Outcome::Reached);
    let outputs = h.drain();
    let record = outputs[0].record();
    assert_eq!(record.state, State::Reached { at: at(420) });
    assert_eq!(record.attempts, 3);
    let story: Vec<&Change> = record.history.iter().map(|e| &e.change).collect();
    assert!(matches!(
        story.as_slice(),
        [
            Change::Created { .. },
            Change::Dispatched { attempt: 1, .. },
            Change::Retried { attempt: 1, .. },
            Change::Dispatched { attempt: 2, .. },
            Change::Retried { attempt: 2, .. },
            Change::Dispatched { attempt: 3, .. },
            Change::Reached { attempt: 3 },
        ]
    ));
    assert_eq!(h.core.active(), 0);
}

#[test]
fn the_last_failed_attempt_gives_up() {
    let mut h = Harness::new();
    h.request(Request {
        max_attempts: Some(2),
        ..request("a", "+4930111", "sales", 0)
    });
    h.capacity("sales", 10);
    h.drain();
    h.result("a", 1, Outcome::Failed("503 from the trunk".into()));
    h.advance_to(120);
    assert_eq!(h.dispatched(), vec![("a".into(), 2)]);
    h.result("a", 2, Outcome::NoAnswer);
    let changes = h.changes();
    assert_eq!(
        changes,
        vec![(
            "a".to_owned(),
            Change::GaveUp {
                attempt: 2,
                outcome: Outcome::NoAnswer
            }
        )]
    );
    assert_eq!(h.core.active(), 0);
}

#[test]
fn a_retry_never_goes_beyond_the_window() {
    let mut h = Harness::new();
    h.request(Request {
        window: window(0, 100),
        ..request("a", "+4930111", "sales", 0)
    });
    h.capacity("sales", 10);
    h.drain();
    h.advance_to(10);
    h.result("a", 1, Outcome::Busy);
    let outputs = h.drain();
    assert_eq!(outputs[0].record().state, State::Expired { at: at(10) });
    assert_eq!(
        outputs[0].record().last_change().unwrap().change,
        Change::Expired {
            attempts: 1,
            last: Some(Outcome::Busy)
        }
    );
}

#[test]
fn an_attempt_without_a_result_counts_as_failed_after_the_in_doubt_timeout() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 0));
    h.capacity("sales", 10);
    h.drain();
    assert_eq!(h.core.poll_timeout(), Some(at(600)));
    h.advance_to(600);
    let changes = h.changes();
    assert_eq!(
        changes,
        vec![(
            "a".to_owned(),
            Change::Retried {
                attempt: 1,
                outcome: Outcome::InDoubt,
                next_at: at(720)
            }
        )]
    );
    // The late result of that attempt is refused: the attempt is over.
    assert_eq!(
        h.core
            .handle_result(h.now, &"a".into(), 1, TOKEN, Outcome::Reached),
        Err(CallbackError::StaleAttempt {
            id: "a".into(),
            attempt: 1,
            token: TOKEN
        })
    );
    h.advance_to(720);
    assert_eq!(h.dispatched(), vec![("a".into(), 2)]);
}
