//! proto <-> domain conversion: round trips of every resource, the write-only password,
//! defaults, refusals that name the request field, and the status code of each store error.
#![allow(clippy::unwrap_used)]

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
    }
}

#[test]
fn an_employee_round_trips_without_its_password() {
    let e = employee(pb_employee()).unwrap();
    assert_eq!(e.id.as_str(), "ewa");
    assert_eq!(e.role, Role::Admin);
    assert_eq!(e.mobile.as_deref(), Some("+48600100300"));
    assert_eq!(e.sip_password, "ewa-secret");
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
    };
    let d = department(request.clone()).unwrap();
    assert_eq!(d.strategy, Strategy::Progressive);
    assert_eq!((d.ring_seconds, d.wrap_up_seconds), (15, 10));
    let back = department_pb(&versioned(d, 3));
    assert_eq!(back.ring_seconds, Some(15));
    assert_eq!(back.etag, "r3");
    assert_eq!(back.members, request.members);
    assert_eq!(back.strategy, request.strategy);
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
