//! `cc.queues.v1.Queues` in process: per-department statistics, waiting calls in line order,
//! and errors that name the field.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use cc_common::Shutdown;
use cc_presence::core::AgentConfig;
use cc_proto::queues::v1 as pb;
use cc_proto::queues::v1::queues_server::Queues;
use cc_queue::api::QueuesApi;
use cc_queue::core::{CallId, DepartmentConfig, DepartmentId, Priority, Strategy};
use cc_queue::{QueueService, Settings};
use common::{PresenceNode, jump};
use tonic::{Code, Request};

#[tokio::test]
async fn queues_and_waiting_calls_are_listed_and_unknown_departments_refused() {
    let (_trigger, shutdown) = Shutdown::new();
    let agents = vec![AgentConfig::new("anna", "Anna")];
    let presence = PresenceNode::start(agents).await;
    let departments = vec![
        DepartmentConfig::new("sales", Strategy::RingAll).member("anna"),
        DepartmentConfig::new("support", Strategy::LongestIdle),
    ];
    let queue = QueueService::start_with(
        departments,
        presence.routes(),
        Settings::default(),
        shutdown,
    )
    .await
    .unwrap()
    .handle();
    let sales = DepartmentId::new("sales");
    queue
        .enqueue(CallId::new("c1"), sales.clone(), Priority(0))
        .await
        .unwrap();
    jump(Duration::from_secs(10)).await;
    queue
        .enqueue(CallId::new("vip"), sales.clone(), Priority(5))
        .await
        .unwrap();
    let api = QueuesApi::new(queue);

    let queues = api
        .list_queues(Request::new(pb::ListQueuesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .queues;
    assert_eq!(
        queues,
        vec![
            pb::Queue {
                department_id: "sales".into(),
                waiting_calls: 2,
                longest_wait_seconds: 10,
                available_agents: 0,
                agents: 1,
            },
            pb::Queue {
                department_id: "support".into(),
                waiting_calls: 0,
                longest_wait_seconds: 0,
                available_agents: 0,
                agents: 0,
            },
        ]
    );

    let calls = api
        .list_waiting_calls(Request::new(pb::ListWaitingCallsRequest {
            department_id: "sales".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .calls;
    let line: Vec<_> = calls
        .iter()
        .map(|c| (c.call_id.as_str(), c.position, c.wait_seconds, c.priority))
        .collect();
    assert_eq!(line, vec![("vip", 1, 0, 5), ("c1", 2, 10, 0)]);

    let unknown = api
        .list_waiting_calls(Request::new(pb::ListWaitingCallsRequest {
            department_id: "billing".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        unknown.message(),
        "department_id: \"billing\" is not a department"
    );
    let empty = api
        .list_waiting_calls(Request::new(pb::ListWaitingCallsRequest {
            department_id: String::new(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().starts_with("department_id:"));
}
