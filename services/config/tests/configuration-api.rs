//! `cc.config.v1.Configuration` in process: resources listed, read, created, updated and
//! deleted with etags; every refusal with its status code and a message naming the field;
//! and a change reaching routing through the store's watch (schedules included, decided
//! at fixed instants).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cc_common::Config;
use cc_common::config::DEMO_TOML;
use cc_config::ConfigStore;
use cc_config::api::ConfigApi;
use cc_proto::config::v1 as pb;
use cc_proto::config::v1::configuration_server::Configuration;
use cc_proto::routing::internal::v1 as routing;
use cc_proto::routing::internal::v1::routing_server::Routing;
use cc_routing::api::RoutingApi;
use cc_routing::clock::Clock;
use tonic::{Code, Request};

async fn api() -> (ConfigApi, Arc<ConfigStore>) {
    let store = ConfigStore::in_memory(Config::from_toml(DEMO_TOML).unwrap())
        .await
        .unwrap();
    (ConfigApi::new(store.clone()), store)
}

async fn get_employee(api: &ConfigApi, id: &str) -> Result<pb::Employee, tonic::Status> {
    api.get_employee(Request::new(pb::GetEmployeeRequest { id: id.into() }))
        .await
        .map(tonic::Response::into_inner)
}

async fn update_employee(api: &ConfigApi, e: pb::Employee) -> Result<pb::Employee, tonic::Status> {
    api.update_employee(Request::new(pb::UpdateEmployeeRequest {
        employee: Some(e),
    }))
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn resources_are_listed_and_read_with_etags_and_never_with_passwords() {
    let (api, _) = api().await;
    let list = api
        .list_employees(Request::new(pb::ListEmployeesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.revision, 1);
    assert_eq!(list.employees.len(), 3);
    assert!(list.employees.iter().all(|e| e.sip_password.is_empty()));
    assert!(list.employees.iter().all(|e| e.etag == "r1"));

    let anna = get_employee(&api, "anna").await.unwrap();
    assert_eq!(anna.extension, "201");
    assert_eq!(anna.role, pb::Role::Admin as i32);
    assert_eq!(anna.sip_password, "");

    let departments = api
        .list_departments(Request::new(pb::ListDepartmentsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .departments;
    assert_eq!(departments[0].strategy, pb::Strategy::Sequential as i32);
    assert_eq!(departments[0].members, ["anna", "piotr"]);

    let number = api
        .get_number(Request::new(pb::GetNumberRequest {
            number: "+48221234567".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        number.route,
        Some(pb::number::Route::Department("sales".into()))
    );
    let missing = get_employee(&api, "nobody").await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let empty = get_employee(&api, "").await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_second_of_two_concurrent_edits_is_aborted_and_nothing_is_lost() {
    let (api, store) = api().await;
    let admin_one = get_employee(&api, "piotr").await.unwrap();
    let admin_two = get_employee(&api, "piotr").await.unwrap();

    let updated = update_employee(
        &api,
        pb::Employee {
            name: "Piotr N.".into(),
            ..admin_one
        },
    )
    .await
    .unwrap();
    assert_eq!(updated.etag, "r2");
    let err = update_employee(
        &api,
        pb::Employee {
            mobile: "+48600999999".into(),
            ..admin_two.clone()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(
        err.message().contains("employee \"piotr\"")
            && err.message().contains("r1")
            && err.message().contains("r2"),
        "{}",
        err.message()
    );
    let piotr = store.snapshot();
    let piotr = piotr.employee("piotr").unwrap();
    assert_eq!(
        (piotr.name.as_str(), piotr.mobile.as_deref()),
        ("Piotr N.", None)
    );
    assert_eq!(
        piotr.sip_password, "piotr-secret",
        "kept although never sent"
    );

    // Without an etag an update is refused before anything else.
    let err = update_employee(
        &api,
        pb::Employee {
            etag: String::new(),
            ..admin_two
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "employee.etag: etag is required");
}

#[tokio::test]
async fn invalid_resources_are_refused_with_a_message_naming_the_field() {
    let (api, store) = api().await;
    let ewa = pb::Employee {
        id: "ewa".into(),
        name: "Ewa".into(),
        extension: "202".into(),
        sip_password: "ewa-secret".into(),
        role: pb::Role::User.into(),
        mobile: String::new(),
        etag: String::new(),
        priority: 0,
    };
    let err = api
        .create_employee(Request::new(pb::CreateEmployeeRequest {
            employee: Some(ewa.clone()),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "employee.extension: \"202\" is used twice");

    let hr = pb::Department {
        id: "hr".into(),
        name: "HR".into(),
        extension: "800".into(),
        strategy: pb::Strategy::RingAll.into(),
        members: vec!["nobody".into()],
        ring_seconds: None,
        wrap_up_seconds: 0,
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
    let err = api
        .create_department(Request::new(pb::CreateDepartmentRequest {
            department: Some(hr.clone()),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("department.members: \"nobody\""),
        "{}",
        err.message()
    );
    let err = api
        .create_department(Request::new(pb::CreateDepartmentRequest {
            department: Some(pb::Department {
                strategy: 0,
                ..hr.clone()
            }),
        }))
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("department.strategy: "),
        "{}",
        err.message()
    );
    let err = api
        .create_trunk(Request::new(pb::CreateTrunkRequest {
            trunk: Some(pb::Trunk {
                id: "pstn".into(),
                target: "nowhere".into(),
                etag: String::new(),
            }),
        }))
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("trunk.target: "),
        "{}",
        err.message()
    );
    let err = api
        .create_trunk(Request::new(pb::CreateTrunkRequest { trunk: None }))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "trunk: required");
    assert_eq!(store.revision(), 1, "nothing was accepted");

    let err = api
        .create_employee(Request::new(pb::CreateEmployeeRequest {
            employee: Some(pb::Employee {
                id: "anna".into(),
                extension: "299".into(),
                ..ewa
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn a_referenced_resource_cannot_be_deleted_and_an_unreferenced_one_can() {
    let (api, _) = api().await;
    let err = api
        .delete_department(Request::new(pb::DeleteDepartmentRequest {
            id: "sales".into(),
            etag: "r1".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .contains("number \"48221234567\" routes to it"),
        "{}",
        err.message()
    );
    let err = api
        .delete_department(Request::new(pb::DeleteDepartmentRequest {
            id: "support".into(),
            etag: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    api.delete_department(Request::new(pb::DeleteDepartmentRequest {
        id: "support".into(),
        etag: "r1".into(),
    }))
    .await
    .unwrap();
    let err = api
        .get_department(Request::new(pb::GetDepartmentRequest {
            id: "support".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn a_number_and_department_created_through_the_api_route_at_once() {
    let (api, store) = api().await;
    let routing = RoutingApi::new(store.subscribe());
    let decide = |dialed: &str| {
        let request = routing::DecideRequest {
            dialed: dialed.into(),
            caller_extension: String::new(),
            facts: Some(routing::Facts {
                greeted: true,
                dial_outcome: 0,
            }),
            ..Default::default()
        };
        let routing = routing.clone();
        async move {
            routing
                .decide(Request::new(request))
                .await
                .unwrap()
                .into_inner()
                .step
        }
    };
    assert!(matches!(
        decide("48225550000").await,
        Some(routing::decide_response::Step::NotFound(_))
    ));

    let hr = api
        .create_department(Request::new(pb::CreateDepartmentRequest {
            department: Some(pb::Department {
                id: "hr".into(),
                name: "HR".into(),
                extension: "800".into(),
                strategy: pb::Strategy::RoundRobin.into(),
                members: vec!["maria".into()],
                ring_seconds: Some(20),
                wrap_up_seconds: 10,
                etag: String::new(),
                last_agent_minutes: 0,
                last_agent_ring_seconds: None,
                announce_seconds: None,
                waiting_choices: false,
                schedule: String::new(),
                callback_mode: pb::CallbackMode::CustomerFirst.into(),
                callback_abandoned: false,
                record_calls: false,
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hr.etag, "r2");
    assert_eq!(hr.callback_mode(), pb::CallbackMode::CustomerFirst);
    let number = api
        .create_number(Request::new(pb::CreateNumberRequest {
            number: Some(pb::Number {
                number: "+48225550000".into(),
                route: Some(pb::number::Route::Department("hr".into())),
                greeting: String::new(),
                greetings: vec![],
                etag: String::new(),
                schedule: String::new(),
                after_hours: None,
                priority: 0,
                rules: vec![],
                callback_abandoned: None,
                callback_missed: false,
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(number.etag, "r3");
    assert_eq!(
        decide("48225550000").await,
        Some(routing::decide_response::Step::Queue(routing::Queue {
            department_id: "hr".into(),
            // Level 0, from outside: 2 × 0 + 1.
            priority: 1,
        }))
    );

    // Pointing the number at an employee instead reroutes it, and frees HR for deletion.
    api.update_number(Request::new(pb::UpdateNumberRequest {
        number: Some(pb::Number {
            route: Some(pb::number::Route::Employee("maria".into())),
            ..number
        }),
    }))
    .await
    .unwrap();
    assert!(matches!(
        decide("48225550000").await,
        Some(routing::decide_response::Step::Dial(_))
    ));
    api.delete_department(Request::new(pb::DeleteDepartmentRequest {
        id: "hr".into(),
        etag: hr.etag,
    }))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_schedule_created_through_the_api_switches_a_number_in_and_out_of_hours() {
    let (api, store) = api().await;
    // Monday 2026-01-12 in Warsaw (UTC+1), the demo organisation's zone.
    let monday = |utc_hour: i64| 1_768_176_000 + utc_hour * 3600;
    let decide = |utc_hour: i64| {
        let routing = RoutingApi::with_clock(store.subscribe(), Clock::fixed(monday(utc_hour)));
        let request = routing::DecideRequest {
            dialed: "48221234567".into(),
            caller_extension: String::new(),
            facts: Some(routing::Facts {
                greeted: true,
                dial_outcome: 0,
            }),
            ..Default::default()
        };
        async move {
            routing
                .decide(Request::new(request))
                .await
                .unwrap()
                .into_inner()
                .step
        }
    };
    let sales = Some(routing::decide_response::Step::Queue(routing::Queue {
        department_id: "sales".into(),
        // Level 0, from outside: 2 × 0 + 1.
        priority: 1,
    }));
    let closed = Some(routing::decide_response::Step::Hangup(routing::Hangup {
        prompt: "closed".into(),
    }));

    let weekdays = vec!["08:00-17:00".to_owned()];
    let office = api
        .create_schedule(Request::new(pb::CreateScheduleRequest {
            schedule: Some(pb::Schedule {
                id: "office".into(),
                hours: Some(pb::WeekHours {
                    mon: weekdays.clone(),
                    tue: weekdays.clone(),
                    wed: weekdays.clone(),
                    thu: weekdays.clone(),
                    fri: weekdays,
                    ..Default::default()
                }),
                holidays: vec!["12-25".into()],
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(office.etag, "r2");
    let listed = api
        .list_schedules(Request::new(pb::ListSchedulesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.schedules, std::slice::from_ref(&office));
    assert_eq!(listed.revision, 2);

    let number = api
        .get_number(Request::new(pb::GetNumberRequest {
            number: "48221234567".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (number.schedule.as_str(), number.after_hours.as_ref()),
        ("", None)
    );
    let hangup = pb::AfterHours {
        target: Some(pb::after_hours::Target::Hangup("closed".into())),
    };
    let number = api
        .update_number(Request::new(pb::UpdateNumberRequest {
            number: Some(pb::Number {
                schedule: "office".into(),
                after_hours: Some(hangup.clone()),
                ..number
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(number.after_hours, Some(hangup));
    assert_eq!(decide(8).await, sales, "09:00 in Warsaw");
    assert_eq!(decide(19).await, closed, "20:00 in Warsaw");

    // A one-off exception closes that Monday; the schedule cannot go while the number
    // follows it.
    let office = api
        .update_schedule(Request::new(pb::UpdateScheduleRequest {
            schedule: Some(pb::Schedule {
                exceptions: vec![pb::ScheduleException {
                    date: "2026-01-12".into(),
                    hours: vec![],
                }],
                ..office
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decide(8).await, closed, "the exception");
    let err = api
        .delete_schedule(Request::new(pb::DeleteScheduleRequest {
            id: "office".into(),
            etag: office.etag.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("number \"48221234567\" follows it"),
        "{err:?}"
    );

    let err = api
        .create_schedule(Request::new(pb::CreateScheduleRequest {
            schedule: Some(pb::Schedule {
                id: "night".into(),
                hours: Some(pb::WeekHours {
                    sun: vec!["22:00-06:00".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "schedule.hours.sun[0]: \"22:00-06:00\" does not end after it starts"
    );
    let got = api
        .get_schedule(Request::new(pb::GetScheduleRequest {
            id: "office".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, office);
}
