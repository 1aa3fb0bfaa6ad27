//! Scenarios through `cc.config.v1.Configuration`: created, read, listed, updated and
//! deleted with etags; a number pointed at one (in hours and after hours); mistakes refused
//! naming the request's field; a scenario, or what its operations name, kept while in use;
//! and routing walking the scenario at once.
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
use pb::operation::Action;
use tonic::{Code, Request};

async fn api() -> (ConfigApi, Arc<ConfigStore>) {
    let store = ConfigStore::in_memory(Config::from_toml(DEMO_TOML).unwrap())
        .await
        .unwrap();
    (ConfigApi::new(store.clone()), store)
}

fn op(id: &str, action: Action) -> pb::Operation {
    pb::Operation {
        id: id.into(),
        action: Some(action),
        ..Default::default()
    }
}

/// A welcome, then a menu: 1 for sales, 2 for Anna (who may not answer: goodbye).
fn main_menu() -> pb::Scenario {
    pb::Scenario {
        id: "main".into(),
        start: "greet".into(),
        operations: vec![
            pb::Operation {
                next: "menu".into(),
                ..op(
                    "greet",
                    Action::Play(pb::PlayOperation {
                        prompt: "welcome".into(),
                    }),
                )
            },
            pb::Operation {
                keys: [("1".into(), "sales".into()), ("2".into(), "anna".into())].into(),
                default: "sales".into(),
                ..op(
                    "menu",
                    Action::Menu(pb::MenuOperation {
                        prompt: "enter-extension".into(),
                        timeout_seconds: None,
                        tries: Some(2),
                        invalid_prompt: "invalid-choice".into(),
                    }),
                )
            },
            op(
                "sales",
                Action::Queue(pb::QueueOperation {
                    department: "sales".into(),
                    priority: 3,
                }),
            ),
            pb::Operation {
                no_answer: "bye".into(),
                ..op(
                    "anna",
                    Action::Dial(pb::DialOperation {
                        employee: "anna".into(),
                        announce: false,
                    }),
                )
            },
            op(
                "bye",
                Action::Hangup(pb::HangupOperation {
                    prompt: "goodbye".into(),
                }),
            ),
        ],
        etag: String::new(),
    }
}

async fn create(api: &ConfigApi, s: pb::Scenario) -> Result<pb::Scenario, tonic::Status> {
    api.create_scenario(Request::new(pb::CreateScenarioRequest {
        scenario: Some(s),
    }))
    .await
    .map(tonic::Response::into_inner)
}

async fn update(api: &ConfigApi, s: pb::Scenario) -> Result<pb::Scenario, tonic::Status> {
    api.update_scenario(Request::new(pb::UpdateScenarioRequest {
        scenario: Some(s),
    }))
    .await
    .map(tonic::Response::into_inner)
}

async fn delete(api: &ConfigApi, id: &str, etag: &str) -> Result<(), tonic::Status> {
    api.delete_scenario(Request::new(pb::DeleteScenarioRequest {
        id: id.into(),
        etag: etag.into(),
    }))
    .await
    .map(|_| ())
}

async fn sales_number(api: &ConfigApi) -> pb::Number {
    api.get_number(Request::new(pb::GetNumberRequest {
        number: "48221234567".into(),
    }))
    .await
    .unwrap()
    .into_inner()
}

async fn update_number(api: &ConfigApi, n: pb::Number) -> Result<pb::Number, tonic::Status> {
    api.update_number(Request::new(pb::UpdateNumberRequest { number: Some(n) }))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_scenario_round_trips_with_defaults_filled_and_an_etag() {
    let (api, _) = api().await;
    let created = create(&api, main_menu()).await.unwrap();
    assert_eq!(created.etag, "r2");
    // The menu's timeout was left out: the default is what is stored and shown.
    let Some(Action::Menu(menu)) = &created.operations[1].action else {
        panic!("a menu: {created:?}")
    };
    assert_eq!((menu.timeout_seconds, menu.tries), (Some(5), Some(2)));
    let mut expected = main_menu();
    if let Some(Action::Menu(m)) = &mut expected.operations[1].action {
        m.timeout_seconds = Some(5);
    }
    assert_eq!(
        created,
        pb::Scenario {
            etag: "r2".into(),
            ..expected
        }
    );
    let got = api
        .get_scenario(Request::new(pb::GetScenarioRequest { id: "main".into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, created);
    let listed = api
        .list_scenarios(Request::new(pb::ListScenariosRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (listed.scenarios, listed.revision),
        (vec![created.clone()], 2)
    );

    let again = create(&api, main_menu()).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    // An update with the etag read; a second one with the same, now stale, etag fails.
    let mut edited = created.clone();
    edited.start = "menu".into();
    let updated = update(&api, edited.clone()).await.unwrap();
    assert_eq!(
        (updated.start.as_str(), updated.etag.as_str()),
        ("menu", "r3")
    );
    let stale = update(&api, edited).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");

    let stale = delete(&api, "main", "r2").await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    delete(&api, "main", "r3").await.unwrap();
    let gone = delete(&api, "main", "r3").await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn mistakes_are_refused_naming_the_field_of_the_request() {
    let (api, _) = api().await;
    let mut cases: Vec<(pb::Scenario, &str)> = Vec::new();
    let mut s = main_menu();
    s.operations[1].keys.insert("7".into(), "nowhere".into());
    cases.push((s, "scenario.operations[1].keys.\"7\""));
    let mut s = main_menu();
    s.operations[1].keys.insert("10".into(), "sales".into());
    cases.push((s, "scenario.operations[1].keys.\"10\""));
    let mut s = main_menu();
    s.operations[0].action = None;
    cases.push((s, "scenario.operations[0]"));
    let mut s = main_menu();
    s.operations[2].action = Some(Action::Queue(pb::QueueOperation {
        department: "sales".into(),
        priority: 256,
    }));
    cases.push((s, "scenario.operations[2].queue.priority"));
    let mut s = main_menu();
    if let Some(Action::Menu(m)) = &mut s.operations[1].action {
        m.timeout_seconds = Some(61);
    }
    cases.push((s, "scenario.operations[1].menu.timeout_seconds"));
    let mut s = main_menu();
    s.operations[0].next = "greet".into();
    cases.push((s, "scenario.operations[0].next"));
    let mut s = main_menu();
    s.operations[3].action = Some(Action::Dial(pb::DialOperation {
        employee: "zofia".into(),
        announce: false,
    }));
    cases.push((s, "scenario.operations[3].dial.employee"));
    let mut s = main_menu();
    s.start = "hello".into();
    cases.push((s, "scenario.start"));
    for (scenario, field) in cases {
        let err = create(&api, scenario).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            err.message().starts_with(field),
            "{field} not named in {err:?}"
        );
    }
}

#[tokio::test]
async fn a_scenario_in_use_and_what_it_names_cannot_be_deleted() {
    let (api, _) = api().await;
    let created = create(&api, main_menu()).await.unwrap();
    let number = sales_number(&api).await;
    let number = update_number(
        &api,
        pb::Number {
            route: Some(pb::number::Route::Scenario("main".into())),
            ..number
        },
    )
    .await
    .unwrap();
    assert_eq!(
        sales_number(&api).await.route,
        Some(pb::number::Route::Scenario("main".into()))
    );
    let refused = delete(&api, "main", &created.etag).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("48221234567"), "{refused:?}");

    // Out of hours only: still in use.
    let number = update_number(
        &api,
        pb::Number {
            route: Some(pb::number::Route::Department("support".into())),
            ..number
        },
    )
    .await
    .unwrap();
    let unknown = update_number(
        &api,
        pb::Number {
            route: Some(pb::number::Route::Scenario("night".into())),
            ..number.clone()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().starts_with("number.scenario"),
        "{unknown:?}"
    );
    api.create_schedule(Request::new(pb::CreateScheduleRequest {
        schedule: Some(pb::Schedule {
            id: "office".into(),
            ..Default::default()
        }),
    }))
    .await
    .unwrap();
    update_number(
        &api,
        pb::Number {
            schedule: "office".into(),
            after_hours: Some(pb::AfterHours {
                target: Some(pb::after_hours::Target::Scenario("main".into())),
            }),
            ..number
        },
    )
    .await
    .unwrap();
    let refused = delete(&api, "main", &created.etag).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("after hours"), "{refused:?}");

    // The scenario queues for sales and dials Anna: neither can go while it does.
    let sales = api
        .get_department(Request::new(pb::GetDepartmentRequest {
            id: "sales".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let refused = api
        .delete_department(Request::new(pb::DeleteDepartmentRequest {
            id: "sales".into(),
            etag: sales.etag,
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("scenario \"main\""),
        "{refused:?}"
    );
}

#[tokio::test]
async fn routing_walks_a_scenario_created_through_the_api_at_once() {
    let (api, store) = api().await;
    create(&api, main_menu()).await.unwrap();
    let number = sales_number(&api).await;
    update_number(
        &api,
        pb::Number {
            route: Some(pb::number::Route::Scenario("main".into())),
            greeting: String::new(),
            ..number
        },
    )
    .await
    .unwrap();
    let routing = RoutingApi::new(store.subscribe());
    let first = routing
        .decide(Request::new(routing::DecideRequest {
            dialed: "48221234567".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.operation_id, "greet");
    assert_eq!(
        first.step,
        Some(routing::decide_response::Step::Play(routing::Play {
            prompt: "welcome".into()
        }))
    );
    assert!(!first.cursor.is_empty());
}
