use super::*;

#[test]
fn an_answered_call_has_its_talk_time_and_total_duration() {
    let r = call("c")
        .inbound(0)
        .scenario(0, "sales")
        .queued(5, "support")
        .answered(12, "anna")
        .ended(72, EndReason::CallerHungUp)
        .record();
    assert_eq!(r.talk_ms, 60_000);
    assert_eq!(r.total_ms(), Some(72_000));
    assert_eq!(r.wait_ms(), Some(7_000));
    assert_eq!(r.agent, Some("anna".into()));
    assert_eq!(r.department, Some("support".into()));
    assert!(r.completed());
    assert!(!r.no_conversation());
    assert_eq!(r.handle_ms(), Some(60_000));
}

#[test]
fn hold_is_not_talk_time() {
    let r = call("c")
        .inbound(0)
        .answered(10, "anna")
        .held(20)
        .resumed(50)
        .ended(60, EndReason::AgentHungUp)
        .record();
    assert_eq!(r.talk_ms, 20_000);
    assert_eq!(r.hold_ms, 30_000);
    assert_eq!(r.handle_ms(), Some(50_000));
}

#[test]
fn a_transfer_stops_talk_until_the_next_answer() {
    let r = call("c")
        .inbound(0)
        .answered(10, "anna")
        .transferred(30, "billing")
        .answered(40, "ben")
        .ended(100, EndReason::CallerHungUp)
        .record();
    assert!(r.transferred);
    assert_eq!(r.talk_ms, 20_000 + 60_000);
    assert_eq!(r.agent, Some("ben".into()), "the last agent handled it");
    assert_eq!(r.answered, Some(ms(10)));
}

#[test]
fn a_call_never_answered_had_no_conversation() {
    let r = call("c")
        .inbound(0)
        .queued(1, "support")
        .ended(30, EndReason::NoAnswer)
        .record();
    assert!(r.no_conversation());
    assert!(!r.completed());
    assert_eq!(r.talk_ms, 0);
    assert_eq!(r.wait_ms(), None);
    assert_eq!(r.abandon_wait_ms(), None, "the caller did not give up");
    assert_eq!(r.handle_ms(), None);
}

#[test]
fn a_call_in_progress_has_no_outcome_yet() {
    let r = call("c").inbound(0).answered(10, "anna").record();
    assert!(!r.is_ended());
    assert!(!r.no_conversation());
    assert!(!r.completed());
    assert_eq!(r.total_ms(), None);
}

#[test]
fn a_conversation_ended_by_the_system_is_not_completed() {
    let r = call("c")
        .inbound(0)
        .answered(10, "anna")
        .ended(40, EndReason::Failure)
        .record();
    assert!(!r.completed());
    assert!(!r.no_conversation());
}

#[test]
fn entering_the_same_scenario_again_is_a_re_pass() {
    let r = call("c")
        .inbound(0)
        .scenario(0, "menu")
        .op(1, "greeting")
        .scenario(10, "menu")
        .op(11, "choice")
        .ended(20, EndReason::CallerHungUp)
        .record();
    assert_eq!(r.passes.len(), 1);
    assert_eq!(r.passes[0].entries, 2);
    assert!(r.passes[0].is_re_pass());
    assert!(!r.passes[0].by_option);
    assert_eq!(r.passes[0].operations.len(), 2);
}

#[test]
fn an_agent_re_running_a_scenario_puts_the_call_under_both_by_option() {
    let r = call("c")
        .inbound(0)
        .scenario(0, "sales")
        .op(1, "sales-queue")
        .answered(10, "anna")
        .by_option(20, "support")
        .op(21, "support-queue")
        .ended(60, EndReason::CallerHungUp)
        .record();
    let scenarios: Vec<_> = r.passes.iter().map(|p| p.scenario.clone()).collect();
    assert_eq!(
        scenarios,
        vec![Some("sales".into()), Some("support".into())]
    );
    assert!(!r.passes[0].by_option);
    assert!(r.passes[1].by_option);
    assert!(!r.passes[1].is_re_pass());
    assert_eq!(
        r.passes[1].operations.iter().collect::<Vec<_>>(),
        vec![&OperationId::from("support-queue")],
        "operations belong to the scenario they were walked in"
    );
    assert_eq!(r.first_scenario(), Some(&"sales".into()));
}

#[test]
fn operations_before_any_scenario_belong_to_the_first_one() {
    let r = call("c")
        .inbound(0)
        .op(0, "welcome")
        .scenario(1, "sales")
        .op(2, "menu")
        .record();
    assert_eq!(r.passes.len(), 1);
    assert_eq!(r.passes[0].operations.len(), 2);
    assert_eq!(r.operations, vec!["welcome".into(), "menu".into()]);
}

#[test]
fn a_call_without_a_scenario_has_one_pass_without_one() {
    let r = call("c")
        .inbound(0)
        .op(0, "welcome")
        .ended(5, EndReason::CallerHungUp)
        .record();
    assert_eq!(r.passes.len(), 1);
    assert_eq!(r.passes[0].scenario, None);
    assert_eq!(r.passes[0].entries, 0);
    assert_eq!(r.passes[0].operations.len(), 1);
}

#[test]
fn duplicates_and_disorder_fold_to_the_same_record() {
    let events = call("c")
        .inbound(0)
        .scenario(0, "sales")
        .queued(2, "support")
        .answered(10, "anna")
        .held(20)
        .resumed(25)
        .transferred(30, "ben")
        .answered(35, "ben")
        .ended(90, EndReason::AgentHungUp)
        .events();
    let ordered = CallRecord::fold(&"c".into(), &events);
    let mut messy: Vec<CallEvent> = events.iter().rev().cloned().collect();
    messy.extend(events.iter().step_by(2).cloned());
    messy.rotate_left(3);
    assert_eq!(CallRecord::fold(&"c".into(), &messy), ordered);
    assert_eq!(ordered.events, events.len());
    assert_eq!(ordered.last_seq, events.len() as u64);
}

#[test]
fn of_two_events_with_the_same_sequence_number_the_first_given_wins() {
    let mut events = call("c")
        .inbound(0)
        .ended(10, EndReason::CallerHungUp)
        .events();
    let mut impostor = events[1].clone();
    impostor.kind = CallEventKind::Ended {
        reason: EndReason::Failure,
    };
    events.push(impostor);
    let r = CallRecord::fold(&"c".into(), &events);
    assert_eq!(r.end.map(|e| e.reason), Some(EndReason::CallerHungUp));
}

#[test]
fn events_after_the_end_change_no_measure_but_recordings_are_kept() {
    let r = call("c")
        .inbound(0)
        .answered(10, "anna")
        .ended(20, EndReason::CallerHungUp)
        .answered(30, "ben")
        .at(
            31,
            CallEventKind::RecordingStarted {
                recording: "rec/c.wav".into(),
            },
        )
        .record();
    assert_eq!(r.talk_ms, 10_000);
    assert_eq!(r.agent, Some("anna".into()));
    assert_eq!(r.recordings, vec!["rec/c.wav".to_owned()]);
}

#[test]
fn a_call_whose_start_is_missing_has_no_start() {
    let events = call("c")
        .inbound(0)
        .answered(10, "anna")
        .ended(20, EndReason::CallerHungUp)
        .events();
    let r = CallRecord::fold(&"c".into(), &events[1..]);
    assert_eq!(r.start, None);
    assert_eq!(r.total_ms(), None);
    assert_eq!(r.talk_ms, 10_000);
}

#[test]
fn a_caller_who_hangs_up_in_the_queue_abandoned_unless_they_asked_for_a_callback() {
    let gave_up = call("a")
        .inbound(0)
        .queued(2, "support")
        .ended(32, EndReason::CallerHungUp)
        .record();
    assert_eq!(gave_up.abandon_wait_ms(), Some(30_000));
    let called_back = call("b")
        .inbound(0)
        .queued(2, "support")
        .callback(20, Some("support"))
        .ended(21, EndReason::CallbackRequested)
        .record();
    assert_eq!(called_back.abandon_wait_ms(), None);
    assert_eq!(
        called_back.callback,
        Some(CallbackRequest {
            department: Some("support".into())
        })
    );
    let never_queued = call("c")
        .inbound(0)
        .ended(3, EndReason::CallerHungUp)
        .record();
    assert_eq!(never_queued.abandon_wait_ms(), None);
}

#[test]
fn the_first_queue_is_the_department_and_the_wait_ends_with_the_first_answer_after_it() {
    let r = call("c")
        .inbound(0)
        .answered(1, "reception")
        .transferred(5, "support")
        .queued(6, "support")
        .answered(16, "anna")
        .transferred(30, "billing")
        .queued(31, "billing")
        .answered(40, "ben")
        .ended(60, EndReason::CallerHungUp)
        .record();
    assert_eq!(r.department, Some("support".into()));
    assert_eq!(r.wait_ms(), Some(10_000));
    assert_eq!(r.answered, Some(ms(1)));
}

#[test]
fn a_callback_call_that_reached_a_conversation_is_a_callback_kept() {
    let kept = call("k")
        .started(0, "+4930100", CallType::Callback)
        .queued(0, "support")
        .answered(5, "anna")
        .ended(50, EndReason::AgentHungUp)
        .record();
    assert!(kept.callback_kept());
    let missed = call("m")
        .started(0, "+4930100", CallType::Callback)
        .ended(30, EndReason::NoAnswer)
        .record();
    assert!(!missed.callback_kept());
}

#[test]
fn a_clock_going_backwards_never_makes_time_negative() {
    let r = call("c")
        .inbound(10)
        .answered(9, "anna")
        .ended(5, EndReason::CallerHungUp)
        .record();
    assert_eq!(r.talk_ms, 0);
    assert_eq!(r.total_ms(), Some(0));
}
