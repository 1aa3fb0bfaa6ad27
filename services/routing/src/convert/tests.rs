//! proto <-> domain conversion: every step variant, every dial outcome, internal vs external.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tonic::Code;

use super::*;

fn request(dialed: &str, caller_extension: &str) -> pb::DecideRequest {
    pb::DecideRequest {
        dialed: dialed.into(),
        caller_extension: caller_extension.into(),
        facts: None,
    }
}

fn with_outcome(outcome: i32) -> pb::Facts {
    pb::Facts {
        greeted: true,
        dial_outcome: outcome,
    }
}

#[test]
fn an_empty_caller_extension_is_a_call_from_outside() {
    let outside = request("48221234567", "");
    let call = call(&outside);
    assert_eq!(call.dialed, "48221234567");
    assert_eq!(call.caller_extension, None);

    let inside = request("600", "202");
    let call = super::call(&inside);
    assert_eq!(call.dialed, "600");
    assert_eq!(call.caller_extension, Some("202"));
}

#[test]
fn absent_facts_are_those_of_a_new_call() {
    assert_eq!(facts(None).unwrap(), Facts::default());
    let greeted = pb::Facts {
        greeted: true,
        dial_outcome: pb::DialOutcome::Unspecified.into(),
    };
    assert_eq!(
        facts(Some(&greeted)).unwrap(),
        Facts {
            greeted: true,
            dial: None
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
        let f = facts(Some(&with_outcome(wire.into()))).unwrap();
        assert_eq!(f.dial, domain, "{wire:?}");
        assert!(f.greeted);
    }
    let unknown = facts(Some(&with_outcome(42))).unwrap_err();
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
            Step::Play {
                prompt: "welcome".into(),
            },
            PbStep::Play(pb::Play {
                prompt: "welcome".into(),
            }),
        ),
        (
            Step::Queue {
                department: "sales".into(),
                priority: 7,
            },
            PbStep::Queue(pb::Queue {
                department_id: "sales".into(),
                priority: 7,
            }),
        ),
        (
            Step::Dial {
                employee: "piotr".into(),
                forward: None,
            },
            PbStep::Dial(pb::Dial {
                employee_id: "piotr".into(),
                forward: None,
            }),
        ),
        (
            Step::Dial {
                employee: "anna".into(),
                forward: Some(Forward {
                    after: Duration::from_millis(8_500),
                    number: "+48600100200".into(),
                    trunk: "pstn".into(),
                }),
            },
            PbStep::Dial(pb::Dial {
                employee_id: "anna".into(),
                forward: Some(pb::Forward {
                    after_ms: 8_500,
                    number: "+48600100200".into(),
                    trunk_id: "pstn".into(),
                }),
            }),
        ),
        (
            Step::Hangup {
                prompt: Some("unavailable".into()),
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
    ];
    for (domain, wire) in cases {
        assert_eq!(step(domain.clone()).step, Some(wire), "{domain:?}");
    }
}

#[test]
fn a_forward_delay_beyond_u32_milliseconds_saturates() {
    let long = Step::Dial {
        employee: "anna".into(),
        forward: Some(Forward {
            after: Duration::from_secs(u64::from(u32::MAX)),
            number: "+48600100200".into(),
            trunk: "pstn".into(),
        }),
    };
    let Some(PbStep::Dial(dial)) = step(long).step else {
        panic!("expected a dial step");
    };
    assert_eq!(dial.forward.unwrap().after_ms, u32::MAX);
}
