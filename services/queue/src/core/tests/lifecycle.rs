//! Queue order, offer outcomes, pauses, wrap-up, shared agents and misuse.

use super::*;

fn enqueue_at(h: &mut Harness, call: &str, priority: u8, enqueued_at: Option<Instant>) {
    h.core
        .handle_enqueue(
            h.now,
            Enqueue {
                call: call.into(),
                department: "d".into(),
                priority: Priority(priority),
                enqueued_at,
                edge: None,
                caller: None,
            },
        )
        .unwrap();
}

#[test]
fn higher_priority_goes_first_then_enqueue_time() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.enqueue("c1", "d", 0);
    h.now = h.at(1);
    h.enqueue("c2", "d", 5);
    h.now = h.at(2);
    h.enqueue("c3", "d", 0);
    // Re-enqueued after an owner change: keeps its original (earliest) time.
    let original = h.t0 - Duration::from_secs(30);
    enqueue_at(&mut h, "c0", 0, Some(original));
    let positions: Vec<usize> = ["c2", "c0", "c1", "c3"]
        .iter()
        .map(|c| h.core.position(&(*c).into()).unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3, 4]);
    assert_eq!(
        h.core.wait_time(&"c0".into(), h.now).unwrap(),
        Duration::from_secs(32)
    );
    assert_eq!(h.core.waiting(&"d".into()).unwrap(), 4);
    let mut served = Vec::new();
    h.available(&["a"]);
    for _ in 0..4 {
        let (call, _) = h.offers().remove(0);
        served.push(call.to_string());
        h.handle(call.as_str(), "a", 1);
    }
    assert_eq!(served, ["c2", "c0", "c1", "c3"]);
}

#[test]
fn queue_changed_reports_the_number_waiting() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.enqueue("c1", "d", 0);
    h.enqueue("c2", "d", 0);
    let changes: Vec<usize> = h
        .drain()
        .into_iter()
        .filter_map(|o| match o {
            Output::QueueChanged { waiting, .. } => Some(waiting),
            _ => None,
        })
        .collect();
    assert_eq!(changes, [1, 2]);
    h.core.handle_abandon(h.now, &"c1".into()).unwrap();
    assert_eq!(
        h.drain(),
        [Output::QueueChanged {
            department: "d".into(),
            waiting: 1
        }]
    );
    assert_eq!(h.core.position(&"c2".into()).unwrap(), 1);
}

#[test]
fn a_decline_moves_on_to_the_next_target_at_once() {
    let mut h = Harness::new(vec![dept(Strategy::Sequential, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.drain();
    h.now = h.at(3);
    h.core
        .handle_reject(h.now, &"c1".into(), &"a".into(), RejectReason::Declined)
        .unwrap();
    let out = h.drain();
    let Some(Output::PlanChanged { call, plan }) = out.first() else {
        panic!("expected a changed plan, got {out:?}");
    };
    assert_eq!(call.as_str(), "c1");
    assert_eq!(targets(plan), s(&[("b", 3, 13)]));
    assert_eq!(h.facts("a").consecutive_no_answers, 1);
    // b rings out too: the call waits again and is re-offered to both.
    h.advance_to(13);
    let out = h.drain();
    assert_eq!(
        out[0],
        Output::CancelOffer {
            call: "c1".into(),
            agent: "b".into()
        },
        "a target that rang out is cancelled"
    );
    assert_eq!(out[1], Output::OfferFailed { call: "c1".into() });
    let Some(Output::Offer { plan, .. }) = out.get(2) else {
        panic!("expected a new offer, got {out:?}");
    };
    assert_eq!(targets(plan), s(&[("a", 0, 10), ("b", 10, 20)]));
    assert_eq!(h.core.position(&"c1".into()).unwrap(), 1);
}

#[test]
fn consecutive_no_answers_pause_the_agent() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.available(&["a"]);
    h.enqueue("c1", "d", 0);
    h.advance_to(10);
    h.advance_to(20);
    assert!(
        h.drain()
            .iter()
            .all(|o| !matches!(o, Output::PauseAgent { .. }))
    );
    h.advance_to(30);
    let out = h.drain();
    assert!(out.contains(&Output::PauseAgent {
        agent: "a".into(),
        reason: PauseReason::NoAnswer
    }));
    assert!(!out.iter().any(|o| matches!(o, Output::Offer { .. })));
    assert!(!h.facts("a").available);
    assert_eq!(h.core.poll_timeout(), None);
    // Presence un-pauses the agent: the waiting call is offered again, the count restarts.
    h.available(&["a"]);
    assert_eq!(h.offers().len(), 1);
    assert_eq!(h.facts("a").consecutive_no_answers, 0);
}

#[test]
fn an_answer_resets_the_no_answer_count() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.available(&["a"]);
    h.enqueue("c1", "d", 0);
    h.advance_to(10);
    h.advance_to(20);
    h.answer("c1", "a");
    assert_eq!(h.facts("a").consecutive_no_answers, 0);
}

#[test]
fn wrap_up_keeps_the_agent_away_for_its_time() {
    let mut h = Harness::new(vec![
        dept(Strategy::LongestIdle, &["a"]).wrap_up_seconds(30),
    ]);
    h.available(&["a"]);
    h.enqueue("c1", "d", 0);
    h.answer("c1", "a");
    h.drain();
    h.now = h.at(10);
    h.end("c1");
    h.enqueue("c2", "d", 0);
    assert!(h.offers().is_empty());
    assert_eq!(h.core.poll_timeout(), Some(h.at(40)));
    h.advance_to(39);
    assert!(h.offers().is_empty());
    h.advance_to(40);
    assert_eq!(h.offers().len(), 1);
    assert_eq!(h.facts("a").idle_since, Some(h.at(40)));
}

#[test]
fn a_shared_agent_never_gets_two_offers() {
    let mut h = Harness::new(vec![
        DepartmentConfig::new("s", Strategy::RingAll).member("a"),
        DepartmentConfig::new("t", Strategy::Sequential)
            .member("a")
            .member("b"),
    ]);
    h.enqueue("s1", "s", 0);
    h.enqueue("t1", "t", 0);
    h.available(&["a"]);
    let offers = h.offers();
    assert_eq!(offers.len(), 1, "a is offered exactly one call");
    assert_eq!(offers[0].0.as_str(), "s1", "the call that waited longer");
    h.answer("s1", "a");
    assert!(h.offers().is_empty());
    h.available(&["b"]);
    let offers = h.offers();
    assert_eq!(
        order(&offers[0].1),
        ["b"],
        "a is busy in the other department"
    );
    // A more urgent call in t wins the shared agent over an older one in s.
    h.enqueue("s2", "s", 0);
    h.enqueue("t2", "t", 9);
    assert!(h.offers().is_empty(), "a talks, b rings for t1");
    h.end("s1");
    let offers = h.offers();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].0.as_str(), "t2");
}

#[test]
fn abandon_while_ringing_cancels_every_target() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.drain();
    h.core.handle_abandon(h.now, &"c1".into()).unwrap();
    let out = h.drain();
    for agent in ["a", "b"] {
        assert!(out.contains(&Output::CancelOffer {
            call: "c1".into(),
            agent: agent.into()
        }));
    }
    assert!(h.facts("a").available && h.facts("b").available);
    assert_eq!(h.facts("a").consecutive_no_answers, 0);
    assert_eq!(h.core.poll_timeout(), None, "the offer's timer is gone");
    assert_eq!(
        h.core.position(&"c1".into()),
        Err(QueueError::UnknownCall("c1".into()))
    );
}

#[test]
fn an_agent_going_offline_while_ringing_is_skipped() {
    let mut h = Harness::new(vec![dept(Strategy::Sequential, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.drain();
    h.now = h.at(2);
    h.core.handle_agent_unavailable(h.now, &"a".into());
    let out = h.drain();
    assert_eq!(
        out[0],
        Output::CancelOffer {
            call: "c1".into(),
            agent: "a".into()
        }
    );
    let Output::PlanChanged { plan, .. } = &out[1] else {
        panic!("expected a changed plan, got {out:?}");
    };
    assert_eq!(targets(plan), s(&[("b", 2, 12)]));
    assert_eq!(h.facts("a").consecutive_no_answers, 0, "not a miss");
}

#[test]
fn waiting_calls_use_agents_in_parallel_with_a_plan_limit() {
    let mut h = Harness::new(vec![
        dept(Strategy::LongestIdle, &["a", "b", "c"]).max_plan_targets(1),
    ]);
    h.enqueue("c1", "d", 0);
    h.enqueue("c2", "d", 0);
    h.available(&["a", "b", "c"]);
    let offers = h.offers();
    assert_eq!(offers.len(), 2);
    assert_eq!(order(&offers[0].1), ["a"]);
    assert_eq!(order(&offers[1].1), ["b"]);
    assert!(h.facts("c").available);
}

#[test]
fn expected_wait_uses_the_average_handle_time() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.offers();
    h.handle("c1", "a", 60);
    h.enqueue("x", "d", 0);
    h.offers();
    h.answer("x", "a");
    for c in ["w1", "w2", "w3"] {
        h.enqueue(c, "d", 0);
    }
    h.offers();
    // w1 is offered to b; w3 has two calls ahead, two ready agents, 60 s average.
    assert_eq!(
        h.core.expected_wait(&"w3".into()).unwrap(),
        Some(Duration::from_secs(60))
    );
}

#[test]
fn misuse_is_a_typed_error_and_changes_nothing() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a", "b"])]);
    let now = h.now;
    let unknown = h.core.handle_enqueue(
        now,
        Enqueue {
            call: "c1".into(),
            department: "nope".into(),
            priority: Priority(0),
            enqueued_at: None,
            edge: None,
            caller: None,
        },
    );
    assert_eq!(unknown, Err(QueueError::UnknownDepartment("nope".into())));
    h.available(&["a"]);
    h.enqueue("c1", "d", 0);
    let dup = h.core.handle_enqueue(
        now,
        Enqueue {
            call: "c1".into(),
            department: "d".into(),
            priority: Priority(0),
            enqueued_at: None,
            edge: None,
            caller: None,
        },
    );
    assert_eq!(dup, Err(QueueError::DuplicateCall("c1".into())));
    assert_eq!(
        h.core.handle_answer(now, &"c1".into(), &"b".into()),
        Err(QueueError::NotOffered {
            call: "c1".into(),
            agent: "b".into()
        })
    );
    assert_eq!(
        h.core.handle_answer(now, &"zz".into(), &"a".into()),
        Err(QueueError::UnknownCall("zz".into()))
    );
    assert_eq!(
        h.core.handle_call_ended(now, &"c1".into()),
        Err(QueueError::UnknownCall("c1".into()))
    );
    assert!(h.core.handle_abandon(now, &"zz".into()).is_err());
    assert!(h.core.waiting(&"nope".into()).is_err());
    // The offer to a is untouched.
    h.answer("c1", "a");
}

#[test]
fn bad_configuration_is_refused() {
    let new = |d: Vec<DepartmentConfig>| QueueCore::new(CoreConfig::default(), d).err();
    assert_eq!(
        new(vec![
            dept(Strategy::RingAll, &["a"]),
            dept(Strategy::RingAll, &["b"])
        ]),
        Some(QueueError::DuplicateDepartment("d".into()))
    );
    assert!(matches!(
        new(vec![dept(Strategy::RingAll, &["a", "a"])]),
        Some(QueueError::DuplicateMember { .. })
    ));
    assert!(matches!(
        new(vec![dept(Strategy::RingAll, &["a"]).member_ringing("b", 0)]),
        Some(QueueError::ZeroRingTime { .. })
    ));
}

#[test]
fn late_and_early_timeouts_are_harmless() {
    let mut h = Harness::new(vec![dept(Strategy::Sequential, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.drain();
    h.core.handle_timeout(h.at(1));
    assert!(h.drain().is_empty());
    // One late wake-up covers both ring-outs.
    h.core.handle_timeout(h.at(25));
    let out = h.drain();
    let cancel = |agent: &str| Output::CancelOffer {
        call: "c1".into(),
        agent: agent.into(),
    };
    assert_eq!(
        out[..3],
        [
            cancel("a"),
            cancel("b"),
            Output::OfferFailed { call: "c1".into() }
        ]
    );
    assert_eq!(h.facts("a").consecutive_no_answers, 1);
    assert_eq!(h.facts("b").consecutive_no_answers, 1);
}

#[test]
fn with_one_target_per_plan_a_call_passes_over_agents_who_missed_it_then_starts_over() {
    let mut h = Harness::new(vec![
        dept(Strategy::Sequential, &["a", "b", "c"]).max_plan_targets(1),
    ]);
    h.available(&["a", "b", "c"]);
    h.enqueue("c1", "d", 0);
    let first = h.offers();
    assert_eq!(order(&first[0].1), ["a"]);
    // a rings out and is free again, first in order, but c1 goes to b, then c.
    h.advance_to(10);
    assert_eq!(order(&h.offers()[0].1), ["b"]);
    h.advance_to(20);
    assert_eq!(order(&h.offers()[0].1), ["c"]);
    // Everyone has had a turn: the round starts again with the strategy's first choice.
    h.advance_to(30);
    assert_eq!(order(&h.offers()[0].1), ["a"]);
}

fn present(h: &mut Harness, call: &str, agent: &str) {
    h.core
        .handle_presenting(h.now, &call.into(), &agent.into())
        .unwrap();
}

#[test]
fn a_presented_agent_alone_keeps_the_call_past_its_ring_time() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.drain();
    h.now = h.at(4);
    present(&mut h, "c1", "a");
    assert_eq!(
        h.drain(),
        [Output::CancelOffer {
            call: "c1".into(),
            agent: "b".into()
        }],
        "the other phone stops ringing"
    );
    assert!(h.facts("b").available, "b is free for other calls");
    assert_eq!(h.facts("b").consecutive_no_answers, 0, "b missed nothing");
    // Well past the 10 s ring time: a still hears who calls, and then takes the call.
    h.advance_to(40);
    assert_eq!(h.drain(), []);
    assert_eq!(h.core.position(&"c1".into()).unwrap(), 1, "still in line");
    h.answer("c1", "a");
    assert!(h.core.position(&"c1".into()).is_err());
}

#[test]
fn a_declined_presentation_offers_the_call_to_the_next_agent() {
    let mut h = Harness::new(vec![dept(Strategy::Sequential, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.drain();
    h.now = h.at(2);
    present(&mut h, "c1", "a");
    h.drain();
    h.now = h.at(20);
    h.core
        .handle_reject(h.now, &"c1".into(), &"a".into(), RejectReason::Declined)
        .unwrap();
    let out = h.drain();
    assert_eq!(out[0], Output::OfferFailed { call: "c1".into() });
    let Some(Output::Offer { plan, .. }) = out.get(1) else {
        panic!("expected a new offer, got {out:?}");
    };
    assert_eq!(order(plan), ["b"], "a declined: b is next, alone");
    assert_eq!(h.facts("a").consecutive_no_answers, 1);
}

#[test]
fn a_presentation_without_a_choice_counts_as_no_answer() {
    let config = CoreConfig {
        max_presentation: Duration::from_secs(30),
        ..CoreConfig::default()
    };
    let mut h = Harness::with_config(config, vec![dept(Strategy::RingAll, &["a", "b"])]);
    h.available(&["a", "b"]);
    h.enqueue("c1", "d", 0);
    h.drain();
    h.now = h.at(5);
    present(&mut h, "c1", "a");
    h.drain();
    h.advance_to(34);
    assert_eq!(h.drain(), []);
    h.advance_to(35);
    let out = h.drain();
    assert_eq!(
        out[0],
        Output::CancelOffer {
            call: "c1".into(),
            agent: "a".into()
        }
    );
    assert_eq!(out[1], Output::OfferFailed { call: "c1".into() });
    let Some(Output::Offer { plan, .. }) = out.get(2) else {
        panic!("expected a new offer, got {out:?}");
    };
    assert_eq!(order(plan), ["b"]);
    // Presenting is for an agent of the plan only.
    let refused = h
        .core
        .handle_presenting(h.now, &"c1".into(), &"a".into())
        .unwrap_err();
    assert!(
        matches!(refused, QueueError::NotOffered { .. }),
        "{refused}"
    );
}
