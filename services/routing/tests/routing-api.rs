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
            priority: 0,
        }))
    );
    // An employee dials a colleague's extension: no greeting.
    assert_eq!(
        decide(&api, "202", "201", None).await.unwrap(),
        Some(Step::Dial(pb::Dial {
            employee_id: "piotr".into(),
            forward: None,
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
        route: Route::Department("support".into()),
        greeting: None,
        greetings: Vec::new(),
        schedule: None,
        after_hours: None,
    });
    next.departments[0].extension = "610".into();
    next.check().unwrap();
    publish.send_replace(Arc::new(next));

    assert_eq!(
        decide(&api, "48220000000", "", None).await.unwrap(),
        Some(Step::Queue(pb::Queue {
            department_id: "support".into(),
            priority: 0,
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
