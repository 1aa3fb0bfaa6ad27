//! `cc.callbacks.v1.Callbacks` served on 127.0.0.1 (a free port) by one node on the
//! in-memory coordinator, on the real clock (gRPC goes through real sockets, which a paused
//! clock would not wait for); every window lies in the future, so nothing waits for time.
//! Cancel and reschedule change the stored callback and raise events; bad requests are
//! refused with the status and a message that names the field.

#![allow(clippy::unwrap_used)]

mod node;

use std::sync::Arc;
use std::time::Duration;

use cc_callback::api::CallbacksApi;
use cc_callback::feeds;
use cc_callback::{Cluster, Links, Scheduler, Settings};
use cc_cluster::{Coordinator, MemoryCoordinator, NodeInfo};
use cc_common::Shutdown;
use cc_proto::callbacks::v1 as pb;
use cc_proto::callbacks::v1::callbacks_client::CallbacksClient;
use cc_proto::callbacks::v1::callbacks_server::Callbacks;
use node::{Node, NodeSpec, TestDialer, sales};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request};

const HOUR: u64 = 3_600_000;
/// Bounds each test (the real clock).
const WITHIN: Duration = Duration::from_secs(30);

/// A node leading on its own, its API served on 127.0.0.1:0, and a client of it.
async fn serve() -> (Node, CallbacksClient<Channel>, Arc<TestDialer>) {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dialer = TestDialer::new(|_| None);
    let (_, free) = sales(1);
    let node = Node::start(coordinator, NodeSpec::new("a", addr, dialer.clone(), free)).await;
    node.leading().await;
    let server =
        tonic::transport::Server::builder().add_service(CallbacksApi::server(node.handle.clone()));
    tokio::spawn(server.serve_with_incoming(TcpIncoming::from(listener)));
    let client = CallbacksClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    (node, client, dialer)
}

fn now_ms(node: &Node) -> u64 {
    u64::try_from(node.handle.clock().now().unix_ms()).unwrap()
}

fn sales_target() -> Option<pb::Target> {
    Some(pb::Target {
        target: Some(pb::target::Target::DepartmentId("sales".into())),
    })
}

/// A valid request: +48 22 123 45 67 for sales, an hour from now for an hour.
fn schedule(node: &Node) -> pb::ScheduleCallbackRequest {
    let now = now_ms(node);
    pb::ScheduleCallbackRequest {
        number: "+48 22 123 45 67".into(),
        name: "Jan Nowak".into(),
        reason: "invoice".into(),
        target: sales_target(),
        earliest_unix_ms: now + HOUR,
        latest_unix_ms: now + 2 * HOUR,
        time_zone: "Europe/Warsaw".into(),
        ..Default::default()
    }
}

fn change(event: &pb::CallbackEvent) -> &pb::change::Change {
    event.change.as_ref().unwrap().change.as_ref().unwrap()
}

#[tokio::test]
async fn cancel_and_reschedule_through_the_api_are_stored_and_raised_as_events() {
    tokio::time::timeout(WITHIN, async {
        let (node, mut client, dialer) = serve().await;
        let mut events = client
            .watch_callback_events(pb::WatchCallbackEventsRequest {
                department_ids: vec!["sales".into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();

        let scheduled = client
            .schedule_callback(schedule(&node))
            .await
            .unwrap()
            .into_inner();
        assert!(!scheduled.merged);
        let callback = scheduled.callback.unwrap();
        assert_eq!(callback.state(), pb::CallbackState::Pending);
        assert_eq!(callback.number, "+48221234567");
        assert_eq!(callback.callback_id.len(), 36, "a UUID was chosen");
        let id = callback.callback_id.clone();

        let now = now_ms(&node);
        let rescheduled = client
            .reschedule_callback(pb::RescheduleCallbackRequest {
                callback_id: id.clone(),
                earliest_unix_ms: now + 3 * HOUR,
                latest_unix_ms: now + 4 * HOUR,
                extra_attempts: Some(2),
                priority: Some(5),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let window = rescheduled.window.clone().unwrap();
        assert_eq!(
            (
                window.spans.len(),
                window.spans[0].start_unix_ms,
                window.spans[0].end_unix_ms
            ),
            (1, now + 3 * HOUR, now + 4 * HOUR)
        );
        assert_eq!(
            window.time_zone, "Europe/Warsaw",
            "the callback's zone is kept"
        );
        assert_eq!((rescheduled.priority, rescheduled.max_attempts), (5, 2));
        assert_eq!(rescheduled.next_attempt_unix_ms, now + 3 * HOUR);

        let pending = client
            .list_callbacks(pb::ListCallbacksRequest {
                states: vec![pb::CallbackState::Pending.into()],
                department_ids: vec!["sales".into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let ids: Vec<&str> = pending
            .callbacks
            .iter()
            .map(|c| c.callback_id.as_str())
            .collect();
        assert_eq!(ids, vec![id.as_str()]);

        let cancelled = client
            .cancel_callback(pb::CancelCallbackRequest {
                callback_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cancelled.state(), pb::CallbackState::Cancelled);
        let again = client
            .cancel_callback(pb::CancelCallbackRequest {
                callback_id: id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(again.code(), Code::FailedPrecondition);
        assert!(
            again.message().starts_with("callback_id: "),
            "{}",
            again.message()
        );
        assert!(again.message().contains("cancelled"), "{}", again.message());
        let late = client
            .reschedule_callback(pb::RescheduleCallbackRequest {
                callback_id: id.clone(),
                latest_unix_ms: now + 5 * HOUR,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(late.code(), Code::FailedPrecondition, "{}", late.message());

        let got = client
            .get_callback(pb::GetCallbackRequest {
                callback_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.state(), pb::CallbackState::Cancelled);
        assert_eq!(got.history.len(), 3);

        // Created, rescheduled, cancelled: each once, in store order.
        let mut seen = Vec::new();
        let mut last_revision = 0;
        while seen.len() < 3 {
            let event = events.message().await.unwrap().unwrap();
            assert!(event.revision > last_revision);
            last_revision = event.revision;
            assert_eq!(event.callback.as_ref().unwrap().callback_id, id);
            seen.push(change(&event).clone());
        }
        assert!(matches!(seen[0], pb::change::Change::Created(_)));
        assert!(matches!(seen[1], pb::change::Change::Rescheduled(_)));
        assert_eq!(
            seen[2],
            pb::change::Change::Cancelled(pb::change::Cancelled {
                during_attempt: None
            })
        );
        assert!(dialer.dialled().is_empty(), "nothing was due");
        node.stop().await;
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn lists_page_through_matching_callbacks_in_id_order() {
    tokio::time::timeout(WITHIN, async {
        let (node, mut client, _) = serve().await;
        for (id, number) in [("c", "+48 1001"), ("a", "+48 1002"), ("b", "+48 1003")] {
            let mut request = schedule(&node);
            request.callback_id = id.into();
            request.number = number.into();
            client.schedule_callback(request).await.unwrap();
        }
        let mut ids = Vec::new();
        let mut token = String::new();
        loop {
            let page = client
                .list_callbacks(pb::ListCallbacksRequest {
                    page_size: 2,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            ids.extend(page.callbacks.into_iter().map(|c| c.callback_id));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(ids, vec!["a", "b", "c"]);
        let one = client
            .list_callbacks(pb::ListCallbacksRequest {
                number: "+48-1003".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(one.callbacks.len(), 1);
        assert_eq!(one.callbacks[0].callback_id, "b");
        node.stop().await;
    })
    .await
    .expect("the test finishes in time");
}

/// The status of a refused request: its code and the field its message starts with.
fn refused(status: tonic::Status) -> (Code, String) {
    let field = status
        .message()
        .split_once(':')
        .map_or_else(String::new, |(f, _)| f.to_owned());
    (status.code(), field)
}

#[tokio::test]
async fn invalid_requests_are_refused_naming_the_field() {
    tokio::time::timeout(WITHIN, async {
        let (node, mut client, _) = serve().await;
        let now = now_ms(&node);
        let cases: Vec<(&str, pb::ScheduleCallbackRequest, Code, &str)> = vec![
            (
                "a number with letters",
                pb::ScheduleCallbackRequest {
                    number: "+48 22 12x".into(),
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "number",
            ),
            (
                "a window ending before it starts",
                pb::ScheduleCallbackRequest {
                    earliest_unix_ms: now + 2 * HOUR,
                    latest_unix_ms: now + HOUR,
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "latest_unix_ms",
            ),
            (
                "a window without an end",
                pb::ScheduleCallbackRequest {
                    latest_unix_ms: 0,
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "latest_unix_ms",
            ),
            (
                "a window already over",
                pb::ScheduleCallbackRequest {
                    earliest_unix_ms: now - 2 * HOUR,
                    latest_unix_ms: now - HOUR,
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "latest_unix_ms",
            ),
            (
                "no target",
                pb::ScheduleCallbackRequest {
                    target: None,
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "target",
            ),
            (
                "an unknown time zone",
                pb::ScheduleCallbackRequest {
                    time_zone: "Europe/Atlantis".into(),
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "time_zone",
            ),
            (
                "a priority beyond 255",
                pb::ScheduleCallbackRequest {
                    priority: 300,
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "priority",
            ),
            (
                "too many attempts",
                pb::ScheduleCallbackRequest {
                    max_attempts: 99,
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "max_attempts",
            ),
            (
                "an id with a slash",
                pb::ScheduleCallbackRequest {
                    callback_id: "a/b".into(),
                    ..schedule(&node)
                },
                Code::InvalidArgument,
                "callback_id",
            ),
        ];
        for (what, request, code, field) in cases {
            let status = client.schedule_callback(request).await.unwrap_err();
            assert_eq!(
                refused(status.clone()),
                (code, field.to_owned()),
                "{what}: {status:?}"
            );
        }

        let taken = pb::ScheduleCallbackRequest {
            callback_id: "taken".into(),
            ..schedule(&node)
        };
        client.schedule_callback(taken.clone()).await.unwrap();
        let status = client.schedule_callback(taken).await.unwrap_err();
        assert_eq!(refused(status), (Code::AlreadyExists, "callback_id".into()));

        let unknown = || "no-such-callback".to_owned();
        let status = client
            .get_callback(pb::GetCallbackRequest {
                callback_id: unknown(),
            })
            .await
            .unwrap_err();
        assert_eq!(refused(status), (Code::NotFound, "callback_id".into()));
        let status = client
            .cancel_callback(pb::CancelCallbackRequest {
                callback_id: unknown(),
            })
            .await
            .unwrap_err();
        assert_eq!(refused(status), (Code::NotFound, "callback_id".into()));
        let status = client
            .reschedule_callback(pb::RescheduleCallbackRequest {
                callback_id: unknown(),
                latest_unix_ms: now + HOUR,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused(status), (Code::NotFound, "callback_id".into()));
        let status = client
            .list_callbacks(pb::ListCallbacksRequest {
                page_token: "page-2".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            refused(status),
            (Code::InvalidArgument, "page_token".into())
        );
        let status = client
            .list_callbacks(pb::ListCallbacksRequest {
                states: vec![42],
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused(status), (Code::InvalidArgument, "states[0]".into()));
        node.stop().await;
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test(start_paused = true)]
async fn with_no_leader_anywhere_a_change_is_unavailable() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let (_trigger, shutdown) = Shutdown::new();
    // A node without a lease never leads, and nobody else does.
    let (_lease, no_lease) = watch::channel(None);
    let (_, free) = sales(1);
    let cluster = Cluster {
        coordinator,
        lease: no_lease,
        node: NodeInfo {
            service: "callback".into(),
            node: "a".into(),
            address: "127.0.0.1:1".into(),
            load: 0,
        },
    };
    let links = Links {
        dialer: TestDialer::new(|_| None),
        capacity: free,
        hours: feeds::always_open(),
    };
    let scheduler = Scheduler::start(cluster, links, Settings::default(), shutdown).unwrap();
    let api = CallbacksApi::new(scheduler.handle());
    let now = u64::try_from(scheduler.handle().clock().now().unix_ms()).unwrap();
    let status = api
        .schedule_callback(Request::new(pb::ScheduleCallbackRequest {
            number: "+48221234567".into(),
            target: sales_target(),
            latest_unix_ms: now + HOUR,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("no callback scheduler leads"),
        "{}",
        status.message()
    );
}
