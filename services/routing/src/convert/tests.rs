//! proto <-> domain conversion: every step variant, every outcome, cursors, internal vs
//! external.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tonic::Code;

use super::*;

fn request(dialed: &str, caller_extension: &str) -> pb::DecideRequest {
    pb::DecideRequest {
        dialed: dialed.into(),
        caller_extension: caller_extension.into(),
        ..Default::default()
    }
}

fn with_facts(facts: Option<pb::Facts>) -> pb::DecideRequest {
    pb::DecideRequest {
        facts,
        ..request("48221234567", "")
    }
}

fn with_outcome(outcome: i32) -> pb::DecideRequest {
    with_facts(Some(pb::Facts {
        greeted: true,
        dial_outcome: outcome,
    }))
}

#[test]
fn an_empty_caller_extension_is_a_call_from_outside() {
    let outside = request("48221234567", "");
    let call = call(&outside);
    assert_eq!(call.dialed, "48221234567");
    assert_eq!(call.caller, Caller::Outside(None), "no number: withheld");

    let known = pb::DecideRequest {
        caller_number: "+48600100200".into(),
        ..request("48221234567", "")
    };
    assert_eq!(
        super::call(&known).caller,
        Caller::Outside(Some("+48600100200"))
    );

    let inside = request("600", "202");
    let call = super::call(&inside);
    assert_eq!(call.dialed, "600");
    assert_eq!(call.caller, Caller::Employee("202"));
}

#[test]
fn absent_facts_are_those_of_a_new_call() {
    assert_eq!(facts(&with_facts(None)).unwrap(), Facts::default());
    let greeted = pb::Facts {
        greeted: true,
        dial_outcome: pb::DialOutcome::Unspecified.into(),
    };
    assert_eq!(
        facts(&with_facts(Some(greeted))).unwrap(),
        Facts {
            greeted: true,
            ..Facts::default()
        }
    );
}

#[test]
fn dial_outcomes_map_and_an_unknown_one_names_the_field() {
    let cases = [
        (pb::DialOutcome::Unspecified, None),
        (pb::DialOutcome::NoAnswer, Some(DialOutcome::NoAnswer)),
        (pb::DialOutcome::Busy, Some(DialOutcome::Busy)),
        (pb::DialOutcome::Unreachable, Some(DialOutcome::Unreachable)),
    ];
    for (wire, domain) in cases {
        let r = with_outcome(wire.into());
        let f = facts(&r).unwrap();
        assert_eq!(f.dial, domain, "{wire:?}");
        assert!(f.greeted);
    }
    let unknown = facts(&with_outcome(42)).unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().starts_with("facts.dial_outcome: 42"),
        "{}",
        unknown.message()
    );
}

#[test]
fn every_step_becomes_its_oneof_case() {
    let cases = [
        (
            Step::Play { prompt: "welcome" },
            PbStep::Play(pb::Play {
                prompt: "welcome".into(),
            }),
        ),
        (
            Step::Queue {
                department: "sales",
                priority: 7,
            },
            PbStep::Queue(pb::Queue {
                department_id: "sales".into(),
                priority: 7,
            }),
        ),
        (
            Step::Dial {
                employee: "piotr",
                forward: None,
                announce: false,
            },
            PbStep::Dial(pb::Dial {
                employee_id: "piotr".into(),
                forward: None,
                announce: false,
            }),
        ),
        (
            Step::Dial {
                employee: "anna",
                forward: Some(Forward {
                    after: Duration::from_millis(8_500),
                    number: "+48600100200",
                    trunk: "pstn",
                }),
                announce: false,
            },
            PbStep::Dial(pb::Dial {
                employee_id: "anna".into(),
                forward: Some(pb::Forward {
                    after_ms: 8_500,
                    number: "+48600100200".into(),
                    trunk_id: "pstn".into(),
                }),
                announce: false,
            }),
        ),
        (
            Step::Hangup {
                prompt: Some("unavailable"),
            },
            PbStep::Hangup(pb::Hangup {
                prompt: "unavailable".into(),
            }),
        ),
        (
            Step::Hangup { prompt: None },
            PbStep::Hangup(pb::Hangup {
                prompt: String::new(),
            }),
        ),
        (Step::NotFound, PbStep::NotFound(pb::NotFound {})),
        (
            Step::Message { to: "sales" },
            PbStep::TakeMessage(pb::TakeMessage {
                recipient_id: "sales".into(),
            }),
        ),
        (
            Step::Callback { from: "sales" },
            PbStep::OfferCallback(pb::OfferCallback {
                from_id: "sales".into(),
            }),
        ),
        (
            Step::Menu {
                prompt: "main-menu",
                invalid_prompt: Some("invalid-choice"),
                timeout_ms: 5000,
                max_digits: 1,
            },
            PbStep::Menu(pb::Menu {
                prompt: "main-menu".into(),
                invalid_prompt: "invalid-choice".into(),
                timeout_ms: 5000,
                max_digits: 1,
            }),
        ),
        (
            Step::Menu {
                prompt: "main-menu",
                invalid_prompt: None,
                timeout_ms: 1000,
                max_digits: 1,
            },
            PbStep::Menu(pb::Menu {
                prompt: "main-menu".into(),
                invalid_prompt: String::new(),
                timeout_ms: 1000,
                max_digits: 1,
            }),
        ),
        (
            Step::Transfer {
                number: "+48600100200",
                trunk: "pstn",
            },
            PbStep::Transfer(pb::Transfer {
                number: "+48600100200".into(),
                trunk_id: "pstn".into(),
            }),
        ),
    ];
    for (domain, wire) in cases {
        let response = decision(Decision::plain(domain.clone()));
        assert_eq!(response.step, Some(wire), "{domain:?}");
        assert_eq!(
            (response.operation_id, response.scenario_id, response.cursor),
            (String::new(), String::new(), String::new())
        );
    }
}

#[test]
fn a_forward_delay_beyond_u32_milliseconds_saturates() {
    let long = Step::Dial {
        employee: "anna",
        forward: Some(Forward {
            after: Duration::from_secs(u64::from(u32::MAX)),
            number: "+48600100200",
            trunk: "pstn",
        }),
        announce: false,
    };
    let Some(PbStep::Dial(dial)) = decision(Decision::plain(long)).step else {
        panic!("expected a dial step");
    };
    assert_eq!(dial.forward.unwrap().after_ms, u32::MAX);
}

#[test]
fn a_scenario_decision_carries_its_operation_and_cursor() {
    let cursor = Cursor {
        scenario: 0x1f3a_09c2,
        operation: 4,
        invalid: 1,
    };
    let response = decision(Decision {
        step: Step::Play { prompt: "welcome" },
        operation: Some("greet"),
        scenario: Some("front-desk"),
        cursor: Some(cursor),
        screened: None,
    });
    assert_eq!(response.operation_id, "greet");
    assert_eq!(response.scenario_id, "front-desk");
    assert_eq!(response.screened_by, "");
    let screened = decision(Decision {
        screened: Some("anna"),
        ..Decision::plain(Step::Hangup {
            prompt: Some("unavailable"),
        })
    });
    assert_eq!(screened.screened_by, "anna");
    assert_eq!(response.cursor, "1f3a09c2.4.1");
    let back = pb::DecideRequest {
        cursor: response.cursor,
        outcome: Some(pb::decide_request::Outcome::Played(pb::Played {})),
        ..request("48221234567", "")
    };
    let f = facts(&back).unwrap();
    assert_eq!((f.cursor, f.outcome), (Some(cursor), Some(Outcome::Played)));
}

#[test]
fn every_outcome_maps_and_an_unspecified_dial_outcome_is_refused() {
    use pb::decide_request::Outcome as O;
    let cases = [
        (O::Played(pb::Played {}), Outcome::Played),
        (O::Digits("7".into()), Outcome::Digits("7")),
        (O::MenuTimeout(pb::MenuTimeout {}), Outcome::MenuTimeout),
        (
            O::Dial(pb::DialOutcome::Busy.into()),
            Outcome::Dial(DialOutcome::Busy),
        ),
    ];
    for (wire, domain) in cases {
        let r = pb::DecideRequest {
            outcome: Some(wire),
            ..request("1", "")
        };
        assert_eq!(facts(&r).unwrap().outcome, Some(domain));
    }
    let r = pb::DecideRequest {
        outcome: Some(O::Dial(pb::DialOutcome::Unspecified.into())),
        ..request("1", "")
    };
    let refused = facts(&r).unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().starts_with("dial:"),
        "{}",
        refused.message()
    );
}

#[test]
fn a_malformed_cursor_is_no_cursor_rather_than_an_error() {
    for bad in [
        "",
        "x",
        "1f3a09c2.4",
        "1f3a09c2.4.1.0",
        "1f3a09cz.4.1",
        "1f3a09c2.-4.1",
        "1f3a09c2.4.12",
        "1f3a09c2.999999.1",
    ] {
        let r = pb::DecideRequest {
            cursor: bad.into(),
            ..request("1", "")
        };
        assert_eq!(facts(&r).unwrap().cursor, None, "{bad:?}");
    }
}
