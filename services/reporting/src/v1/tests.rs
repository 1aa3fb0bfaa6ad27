use cc_proto::agents::v1::AgentState as PbAgentState;

use super::*;

fn event(sequence: u64, kind: Kind) -> pb::Event {
    pb::Event {
        sequence,
        unix_ms: 1_700_000_000_000 + sequence,
        numbered_since_unix_ms: 1_600_000_000_000,
        call_sequence: 0,
        event: Some(kind),
    }
}

fn call_kind(e: &pb::Event) -> CallEventKind {
    match map_event(e) {
        Ok(Some(ReportEvent::Call(c))) => {
            assert_eq!(c.call, CallId::from("c1"));
            assert_eq!(
                c.seq, e.sequence,
                "the stream's sequence numbers the call's events"
            );
            assert_eq!(c.at, 1_700_000_000_000 + e.sequence as i64);
            c.kind
        }
        other => panic!("not a call event: {other:?}"),
    }
}

#[test]
fn every_call_event_maps() {
    let started = event(
        1,
        Kind::CallStarted(pb::CallStarted {
            call_id: "c1".into(),
            dialed: "+4930100".into(),
            caller: "+49170".into(),
            call_type: pb::CallType::Unspecified as i32,
        }),
    );
    assert_eq!(
        call_kind(&started),
        CallEventKind::Started {
            number: "+4930100".into(),
            caller: "+49170".into(),
            call_type: CallType::Inbound
        }
    );
    let cases = [
        (
            Kind::CallOperation(pb::CallOperation {
                call_id: "c1".into(),
                operation_id: "menu".into(),
            }),
            CallEventKind::OperationEntered {
                operation: "menu".into(),
            },
        ),
        (
            Kind::CallQueued(pb::CallQueued {
                call_id: "c1".into(),
                department_id: "support".into(),
                position: 3,
            }),
            CallEventKind::Queued {
                department: "support".into(),
            },
        ),
        (
            Kind::CallOffered(pb::CallOffered {
                call_id: "c1".into(),
                agent_id: "anna".into(),
            }),
            CallEventKind::Offered {
                agent: "anna".into(),
            },
        ),
        (
            Kind::CallAnswered(pb::CallAnswered {
                call_id: "c1".into(),
                agent_id: String::new(),
            }),
            CallEventKind::Answered { agent: None },
        ),
        (
            Kind::CallTransferred(pb::CallTransferred {
                call_id: "c1".into(),
                target: "billing".into(),
            }),
            CallEventKind::Transferred {
                target: "billing".into(),
            },
        ),
        (
            Kind::CallHeld(pb::CallHeld {
                call_id: "c1".into(),
                by: pb::HoldBy::Callee.into(),
            }),
            CallEventKind::Held,
        ),
        (
            Kind::CallResumed(pb::CallResumed {
                call_id: "c1".into(),
            }),
            CallEventKind::Resumed,
        ),
        (
            Kind::CallbackRequested(pb::CallbackRequested {
                call_id: "c1".into(),
                department_id: String::new(),
                employee_id: "anna".into(),
                ..Default::default()
            }),
            CallEventKind::CallbackRequested { department: None },
        ),
        (
            Kind::MessageLeft(pb::MessageLeft {
                call_id: "c1".into(),
                recording_path: "messages/c1.wav".into(),
                ..Default::default()
            }),
            CallEventKind::RecordingStarted {
                recording: "messages/c1.wav".into(),
            },
        ),
        (
            Kind::CallEnded(pb::CallEnded {
                call_id: "c1".into(),
                reason: "caller cancelled".into(),
            }),
            CallEventKind::Ended {
                reason: EndReason::CallerHungUp,
            },
        ),
    ];
    for (i, (kind, expected)) in cases.into_iter().enumerate() {
        assert_eq!(call_kind(&event(i as u64 + 2, kind)), expected);
    }
}

#[test]
fn agent_states_map_and_unspecified_is_skipped() {
    let changed = |state: PbAgentState| {
        map_event(&event(
            9,
            Kind::AgentStateChanged(pb::AgentStateChanged {
                agent_id: "anna".into(),
                state: state as i32,
            }),
        ))
    };
    assert_eq!(
        changed(PbAgentState::WrapUp),
        Ok(Some(ReportEvent::Agent(AgentEvent {
            agent: "anna".into(),
            seq: 1_700_000_000_009_009,
            at: 1_700_000_000_009,
            state: AgentState::WrapUp
        })))
    );
    assert_eq!(changed(PbAgentState::Unspecified), Ok(None));
}

#[test]
fn events_the_reporting_does_not_use_map_to_nothing() {
    let queue = event(
        1,
        Kind::QueueChanged(pb::QueueChanged {
            department_id: "support".into(),
            waiting: 2,
        }),
    );
    assert_eq!(map_event(&queue), Ok(None));
    let screened = event(
        2,
        Kind::CallScreened(pb::CallScreened {
            call_id: "c1".into(),
            employee_id: "anna".into(),
        }),
    );
    assert_eq!(map_event(&screened), Ok(None));
    assert_eq!(map_event(&pb::Event::default()), Ok(None));
}

#[test]
fn an_event_without_its_call_id_is_an_error_naming_it() {
    let e = event(
        7,
        Kind::CallEnded(pb::CallEnded {
            call_id: String::new(),
            reason: "caller hung up".into(),
        }),
    );
    let err = map_event(&e).expect_err("no call id");
    assert_eq!(
        err.to_string(),
        "cc.events.v1 event 7 (CallEnded) has no call id"
    );
}

#[test]
fn sip_edge_s_end_words_map_to_reasons() {
    for (words, reason) in [
        ("caller hung up", EndReason::CallerHungUp),
        ("agent hung up", EndReason::AgentHungUp),
        ("abandoned in queue", EndReason::AbandonedInQueue),
        ("the phones were rung", EndReason::NoAnswer),
        ("nobody to take the call", EndReason::NoAnswer),
        ("rejected by screening", EndReason::RejectedByScreening),
        ("media timeout", EndReason::Timeout),
        ("no media", EndReason::Failure),
        ("routing unavailable", EndReason::Failure),
        ("message left", EndReason::MessageLeft),
        ("callback requested", EndReason::CallbackRequested),
        ("said goodbye", EndReason::ScenarioEnded),
        ("the cat ate the cable", EndReason::Other),
    ] {
        assert_eq!(end_reason(words), reason, "{words}");
    }
}

#[test]
fn a_call_event_is_numbered_by_its_call_when_it_says() {
    let mut resumed = event(
        40,
        Kind::CallResumed(pb::CallResumed {
            call_id: "c1".into(),
        }),
    );
    resumed.call_sequence = 3;
    let Ok(Some(ReportEvent::Call(c))) = map_event(&resumed) else {
        panic!("a call event");
    };
    assert_eq!(c.seq, 3, "the call's own numbering, not the stream's 40");
    // Read again through another node, numbered 7 there: the same event.
    resumed.sequence = 7;
    assert_eq!(map_event(&resumed), Ok(Some(ReportEvent::Call(c))));
}

#[test]
fn a_scenario_entered_by_routing_or_by_an_agent_maps() {
    let by = |agent: &str| {
        call_kind(&event(
            2,
            Kind::CallScenario(pb::CallScenario {
                call_id: "c1".into(),
                scenario_id: "front-desk".into(),
                by_agent_id: agent.into(),
            }),
        ))
    };
    assert_eq!(
        by(""),
        CallEventKind::ScenarioEntered {
            scenario: "front-desk".into(),
            entry: ScenarioEntry::Routing
        }
    );
    assert_eq!(
        by("anna"),
        CallEventKind::ScenarioEntered {
            scenario: "front-desk".into(),
            entry: ScenarioEntry::ByOption {
                agent: Some("anna".into())
            }
        }
    );
}

#[test]
fn a_call_type_maps_and_a_relay_leg_is_left_out() {
    let started = |call_type: pb::CallType| {
        event(
            1,
            Kind::CallStarted(pb::CallStarted {
                call_id: "c1".into(),
                dialed: "201".into(),
                caller: "202".into(),
                call_type: call_type as i32,
            }),
        )
    };
    for (wire, expected) in [
        (pb::CallType::Inbound, CallType::Inbound),
        (pb::CallType::Internal, CallType::Internal),
        (pb::CallType::Callback, CallType::Callback),
        (pb::CallType::Outbound, CallType::Outbound),
    ] {
        assert_eq!(
            call_kind(&started(wire)),
            CallEventKind::Started {
                number: "201".into(),
                caller: "202".into(),
                call_type: expected
            }
        );
    }
    assert_eq!(map_event(&started(pb::CallType::Relay)), Ok(None));
}
