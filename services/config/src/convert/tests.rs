//! proto <-> domain conversion: round trips of every resource, the write-only password,
//! defaults, refusals that name the request field, and the status code of each store error.
#![allow(clippy::unwrap_used)]

use cc_common::config::{
    AnonymousPolicy, CallerRule, DECLINED_PROMPT, Destination, LimitedCallers, Screening,
};
use tonic::Code;

use super::*;

fn versioned<R>(resource: R, revision: u64) -> Versioned<R> {
    Versioned {
        resource,
        etag: Etag(revision),
    }
}

fn pb_employee() -> pb::Employee {
    pb::Employee {
        id: "ewa".into(),
        name: "Ewa".into(),
        extension: "204".into(),
        sip_password: "ewa-secret".into(),
        role: pb::Role::Admin.into(),
        mobile: "+48600100300".into(),
        etag: String::new(),
        priority: 3,
    }
}

#[test]
fn an_employee_round_trips_without_its_password() {
    let e = employee(pb_employee()).unwrap();
    assert_eq!(e.id.as_str(), "ewa");
    assert_eq!(e.role, Role::Admin);
    assert_eq!(e.mobile.as_deref(), Some("+48600100300"));
    assert_eq!(e.sip_password, "ewa-secret");
    assert_eq!(e.priority, 3);
    let back = employee_pb(&versioned(e, 7));
    assert_eq!(
        back,
        pb::Employee {
            sip_password: String::new(),
            etag: "r7".into(),
            ..pb_employee()
        }
    );
    let no_mobile = employee(pb::Employee {
        mobile: String::new(),
        ..pb_employee()
    })
    .unwrap();
    assert_eq!(no_mobile.mobile, None);
}

#[test]
fn an_employee_without_a_role_is_refused_naming_the_field() {
    for role in [0, 99] {
        let err = employee(pb::Employee {
            role,
            ..pb_employee()
        })
        .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with("employee.role: "), "{err:?}");
    }
}

#[test]
fn a_department_round_trips_and_ring_time_defaults_to_15_seconds() {
    let request = pb::Department {
        id: "hr".into(),
        name: "HR".into(),
        extension: "800".into(),
        strategy: pb::Strategy::Progressive.into(),
        members: vec!["anna".into(), "piotr".into()],
        ring_seconds: None,
        wrap_up_seconds: 10,
        etag: String::new(),
        last_agent_minutes: 0,
        last_agent_ring_seconds: None,
        announce_seconds: None,
        waiting_choices: false,
        schedule: String::new(),
        callback_mode: pb::CallbackMode::Unspecified.into(),
        callback_abandoned: false,
        record_calls: false,
    };
    let d = department(request.clone()).unwrap();
    assert_eq!(d.strategy, Strategy::Progressive);
    assert_eq!((d.ring_seconds, d.wrap_up_seconds), (15, 10));
    let back = department_pb(&versioned(d, 3));
    assert_eq!(back.ring_seconds, Some(15));
    assert_eq!(back.etag, "r3");
    assert_eq!(back.members, request.members);
    assert_eq!(back.strategy, request.strategy);
    // Unset means agent first; both modes round-trip; an unknown one is named.
    assert_eq!(back.callback_mode(), pb::CallbackMode::AgentFirst);
    let customer_first = department(pb::Department {
        callback_mode: pb::CallbackMode::CustomerFirst.into(),
        callback_abandoned: false,
        record_calls: false,
        ..request.clone()
    })
    .unwrap();
    assert_eq!(customer_first.callback_mode, CallbackMode::CustomerFirst);
    assert_eq!(
        department_pb(&versioned(customer_first, 4)).callback_mode(),
        pb::CallbackMode::CustomerFirst
    );
    let err = department(pb::Department {
        callback_mode: 9,
        callback_abandoned: false,
        record_calls: false,
        ..request.clone()
    })
    .unwrap_err();
    assert!(
        err.message().starts_with("department.callback_mode: "),
        "{err:?}"
    );
    // An explicit zero is passed on, for the check to refuse it by name.
    let zero = department(pb::Department {
        ring_seconds: Some(0),
        ..request.clone()
    })
    .unwrap();
    assert_eq!(zero.ring_seconds, 0);
    for strategy in [0, 42] {
        let err = department(pb::Department {
            strategy,
            ..request.clone()
        })
        .unwrap_err();
        assert!(
            err.message().starts_with("department.strategy: "),
            "{err:?}"
        );
    }
}

#[test]
fn every_strategy_maps_both_ways() {
    for value in 1..=8 {
        let d = department(pb::Department {
            id: "d".into(),
            strategy: value,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(department_pb(&versioned(d, 1)).strategy, value);
    }
}

#[test]
fn a_number_round_trips_with_its_route_and_greetings() {
    let request = pb::Number {
        number: "+48221234567".into(),
        route: Some(pb::number::Route::Employee("anna".into())),
        greeting: String::new(),
        greetings: vec![pb::GreetingBand {
            from: "08:00".into(),
            greeting: "morning".into(),
        }],
        etag: String::new(),
        schedule: String::new(),
        after_hours: None,
        priority: 0,
        rules: vec![],
        callback_abandoned: None,
        callback_missed: false,
    };
    let n = number(request.clone()).unwrap();
    assert_eq!(n.route, Some(Route::Employee("anna".into())));
    assert_eq!(n.scenario, None);
    assert_eq!(n.greeting, None);
    assert_eq!(n.greetings[0].from, "08:00");
    let back = number_pb(&versioned(n, 2));
    assert_eq!(
        back,
        pb::Number {
            etag: "r2".into(),
            ..request.clone()
        }
    );
    let department = number(pb::Number {
        route: Some(pb::number::Route::Department("sales".into())),
        greeting: "welcome".into(),
        ..request.clone()
    })
    .unwrap();
    assert_eq!(department.route, Some(Route::Department("sales".into())));
    assert_eq!(department.greeting.as_deref(), Some("welcome"));
    let err = number(pb::Number {
        route: None,
        ..request
    })
    .unwrap_err();
    assert!(
        err.message().starts_with("number.route: required"),
        "{err:?}"
    );
}

#[test]
fn a_number_round_trips_with_its_schedule_and_each_after_hours_route() {
    use pb::after_hours::Target;
    for target in [
        Target::Department("support".into()),
        Target::Employee("anna".into()),
        Target::Hangup("closed".into()),
        Target::Scenario("night".into()),
        Target::Message("sales".into()),
        Target::Callback("sales".into()),
    ] {
        let request = pb::Number {
            number: "48221234567".into(),
            route: Some(pb::number::Route::Department("sales".into())),
            schedule: "office".into(),
            after_hours: Some(pb::AfterHours {
                target: Some(target.clone()),
            }),
            ..Default::default()
        };
        let n = number(request.clone()).unwrap();
        assert_eq!(n.schedule.as_deref(), Some("office"));
        let expected = match target {
            Target::Department(d) => AfterHours::Department(d),
            Target::Employee(e) => AfterHours::Employee(e),
            Target::Hangup(p) => AfterHours::Hangup(p),
            Target::Scenario(s) => AfterHours::Scenario(s),
            Target::Message(m) => AfterHours::Message(m),
            Target::Callback(c) => AfterHours::Callback(c),
        };
        assert_eq!(n.after_hours, Some(expected));
        assert_eq!(
            number_pb(&versioned(n, 5)),
            pb::Number {
                etag: "r5".into(),
                ..request
            }
        );
    }
    let without = number(pb::Number {
        route: Some(pb::number::Route::Employee("anna".into())),
        ..Default::default()
    })
    .unwrap();
    assert_eq!((without.schedule, without.after_hours), (None, None));
    let err = number(pb::Number {
        route: Some(pb::number::Route::Employee("anna".into())),
        schedule: "office".into(),
        after_hours: Some(pb::AfterHours { target: None }),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("number.after_hours: "), "{err:?}");
}

#[test]
fn a_schedule_round_trips_with_hours_holidays_and_exceptions() {
    let request = pb::Schedule {
        id: "office".into(),
        timezone: "America/New_York".into(),
        hours: Some(pb::WeekHours {
            mon: vec!["08:00-12:00".into(), "13:00-17:00".into()],
            fri: vec!["08:00-24:00".into()],
            sat: vec!["00:00-02:00".into()],
            ..Default::default()
        }),
        holidays: vec!["2026-11-11".into(), "12-25".into()],
        exceptions: vec![
            pb::ScheduleException {
                date: "2026-12-24".into(),
                hours: vec!["08:00-12:00".into()],
            },
            pb::ScheduleException {
                date: "2026-12-31".into(),
                hours: vec![],
            },
        ],
        etag: String::new(),
    };
    let s = schedule(request.clone());
    assert_eq!(s.timezone.as_deref(), Some("America/New_York"));
    assert_eq!(s.hours.mon, ["08:00-12:00", "13:00-17:00"]);
    assert!(s.hours.tue.is_empty());
    assert_eq!(s.exceptions[0].date, "2026-12-24");
    assert_eq!(
        schedule_pb(&versioned(s, 9)),
        pb::Schedule {
            etag: "r9".into(),
            ..request
        }
    );
    // Without a zone or hours: the organisation's zone, closed every weekday.
    let bare = schedule(pb::Schedule {
        id: "closed".into(),
        ..Default::default()
    });
    assert_eq!(bare.timezone, None);
    assert_eq!(bare.hours, WeekHours::default());
    let back = schedule_pb(&versioned(bare, 1));
    assert_eq!(back.timezone, "");
    assert_eq!(back.hours, Some(pb::WeekHours::default()));
}

#[test]
fn a_trunk_needs_an_ip_and_port() {
    let t = trunk(pb::Trunk {
        id: "pstn".into(),
        target: "127.0.0.1:5099".into(),
        etag: String::new(),
    })
    .unwrap();
    assert_eq!(trunk_pb(&versioned(t, 4)).target, "127.0.0.1:5099");
    let err = trunk(pb::Trunk {
        id: "pstn".into(),
        target: "pstn.example:5060".into(),
        etag: String::new(),
    })
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("trunk.target: "), "{err:?}");
}

#[test]
fn etags_are_required_and_must_be_ours() {
    assert_eq!(etag("r12", "employee.etag").unwrap(), Etag(12));
    let err = etag("", "employee.etag").unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "employee.etag: etag is required");
    let err = etag("W/\"abc\"", "etag").unwrap_err();
    assert!(err.message().starts_with("etag: "), "{err:?}");
    assert!(key("", "id").is_err());
    assert!(required::<pb::Trunk>(None, "trunk").is_err());
}

#[test]
fn store_errors_become_their_status_codes() {
    use crate::resource::Kind;
    let cases = [
        (
            StoreError::Invalid {
                field: "employee.extension".into(),
                reason: "\"201\" is used twice".into(),
            },
            Code::InvalidArgument,
        ),
        (
            StoreError::NotFound {
                kind: Kind::Employee,
                key: "x".into(),
            },
            Code::NotFound,
        ),
        (
            StoreError::AlreadyExists {
                kind: Kind::Trunk,
                key: "x".into(),
            },
            Code::AlreadyExists,
        ),
        (
            StoreError::Conflict {
                kind: Kind::Number,
                key: "1".into(),
                given: Etag(1),
                current: Etag(2),
            },
            Code::Aborted,
        ),
        (
            StoreError::Referenced {
                kind: Kind::Department,
                key: "sales".into(),
                by: "number \"1\" routes to it".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            StoreError::TooLarge {
                size: 1_600_000,
                limit: 1_500_000,
            },
            Code::ResourceExhausted,
        ),
    ];
    for (error, code) in cases {
        let message = error.to_string();
        let status = status(error);
        assert_eq!(status.code(), code);
        assert_eq!(status.message(), message);
    }
    let status = status(StoreError::Invalid {
        field: "employee.extension".into(),
        reason: "\"201\" is used twice".into(),
    });
    assert_eq!(
        status.message(),
        "employee.extension: \"201\" is used twice"
    );
}

#[test]
fn priority_levels_too_big_for_a_byte_are_refused_naming_the_field() {
    // 10-255 pass on for the configuration's check to refuse by name; beyond, here.
    assert_eq!(level(9, "number.priority").unwrap(), 9);
    assert_eq!(level(255, "number.priority").unwrap(), 255);
    for (result, field) in [
        (
            employee(pb::Employee {
                priority: 256,
                ..pb_employee()
            })
            .map(drop),
            "employee.priority",
        ),
        (
            number(pb::Number {
                route: Some(pb::number::Route::Employee("anna".into())),
                priority: 1000,
                ..Default::default()
            })
            .map(drop),
            "number.priority",
        ),
        (
            number(pb::Number {
                route: Some(pb::number::Route::Employee("anna".into())),
                rules: vec![
                    pb::CallerRule {
                        callers: "vip".into(),
                        goto: None,
                        priority: Some(9),
                    },
                    pb::CallerRule {
                        callers: "spam".into(),
                        goto: None,
                        priority: Some(300),
                    },
                ],
                ..Default::default()
            })
            .map(drop),
            "number.rules[1].priority",
        ),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(&format!("{field}: ")), "{err:?}");
        assert!(
            err.message().ends_with("is not a priority level (0-9)"),
            "{err:?}"
        );
    }
}

#[test]
fn a_number_round_trips_with_its_priority_and_caller_rules() {
    use pb::destination::Target;
    let rule = |callers: &str, target: Option<Target>, priority: Option<u32>| pb::CallerRule {
        callers: callers.into(),
        goto: target.map(|t| pb::Destination { target: Some(t) }),
        priority,
    };
    let request = pb::Number {
        number: "48221234567".into(),
        route: Some(pb::number::Route::Department("sales".into())),
        priority: 2,
        rules: vec![
            rule("spam", Some(Target::Hangup("send-an-email".into())), None),
            rule(
                "key-clients",
                Some(Target::Department("vip".into())),
                Some(7),
            ),
            rule("suppliers", Some(Target::Employee("anna".into())), None),
            rule("callers", Some(Target::Scenario("menu".into())), None),
            rule("partners", None, Some(5)),
        ],
        ..Default::default()
    };
    let n = number(request.clone()).unwrap();
    assert_eq!(n.priority, 2);
    assert_eq!(
        n.rules[0],
        CallerRule {
            callers: "spam".into(),
            goto: Some(Destination::Hangup("send-an-email".into())),
            priority: None,
        }
    );
    assert_eq!(n.rules[1].goto, Some(Destination::Department("vip".into())));
    assert_eq!(n.rules[1].priority, Some(7));
    assert_eq!(n.rules[2].goto, Some(Destination::Employee("anna".into())));
    assert_eq!(n.rules[3].goto, Some(Destination::Scenario("menu".into())));
    assert_eq!(
        (n.rules[4].goto.as_ref(), n.rules[4].priority),
        (None, Some(5))
    );
    assert_eq!(
        number_pb(&versioned(n, 4)),
        pb::Number {
            etag: "r4".into(),
            ..request.clone()
        }
    );

    // A goto without a target says nothing: refused naming the rule's field.
    let err = number(pb::Number {
        rules: vec![
            rule("spam", None, Some(1)),
            pb::CallerRule {
                goto: Some(pb::Destination { target: None }),
                ..rule("vip", None, None)
            },
        ],
        ..request
    })
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("number.rules[1].goto: "),
        "{err:?}"
    );
}

#[test]
fn a_caller_list_round_trips_and_an_empty_name_is_none() {
    let request = pb::CallerList {
        id: "spam".into(),
        name: "Known spam".into(),
        entries: vec!["+48221234567".into(), "+4870*".into(), "anonymous".into()],
        etag: String::new(),
    };
    let l = caller_list(request.clone());
    assert_eq!(l.name.as_deref(), Some("Known spam"));
    assert_eq!(l.entries, request.entries);
    assert_eq!(
        caller_list_pb(&versioned(l, 6)),
        pb::CallerList {
            etag: "r6".into(),
            ..request.clone()
        }
    );
    let unnamed = caller_list(pb::CallerList {
        name: String::new(),
        ..request
    });
    assert_eq!(unnamed.name, None);
    assert_eq!(caller_list_pb(&versioned(unnamed, 1)).name, "");
}

fn pb_policy() -> pb::ScreeningPolicy {
    pb::ScreeningPolicy {
        employee: "anna".into(),
        dnd: "meetings".into(),
        vip: vec!["family".into(), "board".into()],
        never: vec!["spam".into()],
        limited: vec![pb::LimitedCallers {
            callers: "suppliers".into(),
            schedule: "supplier-hours".into(),
        }],
        anonymous: pb::AnonymousPolicy::Decline.into(),
        declined: Some(pb::Destination {
            target: Some(pb::destination::Target::Employee("piotr".into())),
        }),
        etag: String::new(),
        announce: true,
    }
}

#[test]
fn a_screening_policy_round_trips_with_every_field() {
    let p = screening(pb_policy()).unwrap();
    assert_eq!(
        p,
        Screening {
            employee: "anna".into(),
            dnd: Some("meetings".into()),
            vip: vec!["family".into(), "board".into()],
            never: vec!["spam".into()],
            limited: vec![LimitedCallers {
                callers: "suppliers".into(),
                schedule: "supplier-hours".into(),
            }],
            anonymous: AnonymousPolicy::Decline,
            announce: true,
            declined: Destination::Employee("piotr".into()),
        }
    );
    assert_eq!(
        screening_pb(&versioned(p, 8)),
        pb::ScreeningPolicy {
            etag: "r8".into(),
            ..pb_policy()
        }
    );
}

#[test]
fn a_bare_screening_policy_connects_anonymous_callers_and_declines_with_the_neutral_prompt() {
    let bare = screening(pb::ScreeningPolicy {
        employee: "anna".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(bare.dnd, None);
    assert_eq!(bare.anonymous, AnonymousPolicy::Connect);
    assert_eq!(bare.declined, Destination::Hangup(DECLINED_PROMPT.into()));
    // Read back, the defaults are spelled out.
    let back = screening_pb(&versioned(bare, 1));
    assert_eq!(back.anonymous, pb::AnonymousPolicy::Connect as i32);
    assert_eq!(
        back.declined,
        Some(pb::Destination {
            target: Some(pb::destination::Target::Hangup("unavailable".into())),
        })
    );
    let connect = screening(pb::ScreeningPolicy {
        anonymous: pb::AnonymousPolicy::Connect.into(),
        ..pb_policy()
    })
    .unwrap();
    assert_eq!(connect.anonymous, AnonymousPolicy::Connect);
}

#[test]
fn a_screening_policy_without_a_declined_target_or_with_an_unknown_anonymous_is_refused() {
    let cases = [
        (
            pb::ScreeningPolicy {
                declined: Some(pb::Destination { target: None }),
                ..pb_policy()
            },
            "screening_policy.declined: ",
        ),
        (
            pb::ScreeningPolicy {
                anonymous: 7,
                ..pb_policy()
            },
            "screening_policy.anonymous: ",
        ),
    ];
    for (request, field) in cases {
        let err = screening(request).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(field), "{err:?}");
    }
}
