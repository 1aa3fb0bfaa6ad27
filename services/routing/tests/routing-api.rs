//! `cc.routing.internal.v1.Routing` in process: the demo organisation's numbers and
//! extensions through the handler, a bad dial outcome refused naming its field, and the
//! table following configuration changes.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cc_common::Config;
use cc_common::config::{DEMO_TOML, Number, Route, fixed};
use cc_proto::routing::internal::v1 as pb;
use cc_proto::routing::internal::v1::decide_response::Step;
use cc_proto::routing::internal::v1::routing_server::Routing;
use cc_routing::api::RoutingApi;
use tonic::{Code, Request};

async fn decide(
    api: &RoutingApi,
    dialed: &str,
    caller_extension: &str,
    facts: Option<pb::Facts>,
) -> Result<Option<Step>, tonic::Status> {
    let request = pb::DecideRequest {
        dialed: dialed.into(),
        caller_extension: caller_extension.into(),
        facts,
        ..Default::default()
    };
    Ok(api.decide(Request::new(request)).await?.into_inner().step)
}

fn greeted(dial_outcome: pb::DialOutcome) -> Option<pb::Facts> {
    Some(pb::Facts {
        greeted: true,
        dial_outcome: dial_outcome.into(),
    })
}

#[tokio::test]
async fn calls_are_greeted_queued_dialled_or_refused() {
    let api = RoutingApi::new(fixed(Config::from_toml(DEMO_TOML).unwrap()));

    // The sales number greets first (one greeting all day), then queues.
    assert_eq!(
        decide(&api, "+48221234567", "", None).await.unwrap(),
        Some(Step::Play(pb::Play {
            prompt: "welcome".into()
        }))
    );
    assert_eq!(
        decide(
            &api,
            "+48221234567",
            "",
            greeted(pb::DialOutcome::Unspecified)
        )
        .await
        .unwrap(),
        Some(Step::Queue(pb::Queue {
            department_id: "sales".into(),
            priority: 1,
        }))
    );
    // An employee dials a colleague's extension: no greeting.
    assert_eq!(
        decide(&api, "202", "201", None).await.unwrap(),
        Some(Step::Dial(pb::Dial {
            employee_id: "piotr".into(),
            forward: None,
            announce: false,
        }))
    );
    // Extensions are not reachable from outside.
    assert_eq!(
        decide(&api, "202", "", None).await.unwrap(),
        Some(Step::NotFound(pb::NotFound {}))
    );
    // Nobody took the dialled call: a polite end.
    assert_eq!(
        decide(&api, "202", "201", greeted(pb::DialOutcome::Busy))
            .await
            .unwrap(),
        Some(Step::Hangup(pb::Hangup {
            prompt: "unavailable".into()
        }))
    );

    let bad = decide(
        &api,
        "202",
        "201",
        Some(pb::Facts {
            greeted: false,
            dial_outcome: 9,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().starts_with("facts.dial_outcome:"),
        "{}",
        bad.message()
    );
}

#[tokio::test]
async fn a_configuration_change_routes_from_the_next_decision_on() {
    let demo = Config::from_toml(DEMO_TOML).unwrap();
    let (publish, watch) = tokio::sync::watch::channel(Arc::new(demo.clone()));
    let api = RoutingApi::new(watch);
    assert_eq!(
        decide(&api, "48220000000", "", None).await.unwrap(),
        Some(Step::NotFound(pb::NotFound {}))
    );

    // A new number for support, and sales' extension moves from 600 to 610.
    let mut next = demo.clone();
    next.numbers.push(Number {
        number: "48220000000".into(),
        route: Some(Route::Department("support".into())),
        scenario: None,
        greeting: None,
        greetings: Vec::new(),
        schedule: None,
        after_hours: None,
        priority: 0,
        rules: Vec::new(),
        callback_abandoned: None,
        callback_missed: false,
    });
    next.departments[0].extension = "610".into();
    next.check().unwrap();
    publish.send_replace(Arc::new(next));

    assert_eq!(
        decide(&api, "48220000000", "", None).await.unwrap(),
        Some(Step::Queue(pb::Queue {
            department_id: "support".into(),
            priority: 1,
        }))
    );
    assert_eq!(
        decide(&api, "610", "201", None).await.unwrap(),
        Some(Step::Queue(pb::Queue {
            department_id: "sales".into(),
            priority: 0,
        }))
    );
    assert_eq!(
        decide(&api, "600", "201", None).await.unwrap(),
        Some(Step::NotFound(pb::NotFound {}))
    );
}

/// The demo organisation with a menu on a third number: 1 for sales, 2 for Anna.
fn with_menu() -> Config {
    Config::from_toml(&format!(
        "{DEMO_TOML}
[[scenarios]]
id = \"main\"
start = \"menu\"
[[scenarios.operations]]
id = \"menu\"
menu = {{ prompt = \"enter-extension\", timeout_seconds = 4, invalid_prompt = \"invalid-choice\" }}
keys = {{ \"1\" = \"sales\", \"2\" = \"anna\" }}
default = \"sales\"
[[scenarios.operations]]
id = \"sales\"
queue = {{ department = \"sales\" }}
[[scenarios.operations]]
id = \"anna\"
dial = {{ employee = \"anna\" }}
[[numbers]]
number = \"48229990000\"
scenario = \"main\"
"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_scenario_is_walked_by_sending_the_cursor_back_with_the_keys() {
    let api = RoutingApi::new(fixed(with_menu()));
    let ask = |cursor: String, outcome| {
        let request = pb::DecideRequest {
            dialed: "48229990000".into(),
            facts: greeted(pb::DialOutcome::Unspecified),
            cursor,
            outcome,
            ..Default::default()
        };
        let api = api.clone();
        async move {
            api.decide(Request::new(request))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let menu = ask(String::new(), None).await;
    assert_eq!(menu.operation_id, "menu");
    assert_eq!(
        menu.step,
        Some(Step::Menu(pb::Menu {
            prompt: "enter-extension".into(),
            invalid_prompt: String::new(),
            timeout_ms: 4000,
            max_digits: 1,
        }))
    );
    use pb::decide_request::Outcome;
    let anna = ask(menu.cursor.clone(), Some(Outcome::Digits("2".into()))).await;
    assert_eq!(anna.operation_id, "anna");
    assert!(matches!(anna.step, Some(Step::Dial(d)) if d.employee_id == "anna"));

    let again = ask(menu.cursor.clone(), Some(Outcome::Digits("9".into()))).await;
    assert_eq!(again.operation_id, "menu");
    assert!(
        matches!(&again.step, Some(Step::Menu(m)) if m.invalid_prompt == "invalid-choice"),
        "{again:?}"
    );
    assert_ne!(
        again.cursor, menu.cursor,
        "the cursor counts the invalid key"
    );

    let forged = ask("00000000.1.0".into(), Some(Outcome::Digits("2".into()))).await;
    assert_eq!(
        forged.operation_id, "menu",
        "a cursor of no scenario starts over"
    );
}
