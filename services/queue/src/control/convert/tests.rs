//! proto <-> domain for the queue control API: ids, priorities, original enqueue times,
//! rejection reasons, positions and ring plans re-based on the moment they are sent.
#![allow(clippy::unwrap_used)]

use tonic::Code;

use super::*;
use crate::core::{DepartmentId, RingTarget};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request(call: &str, department: &str, priority: u32, at: u64) -> pb::EnqueueRequest {
    pb::EnqueueRequest {
        call_id: call.into(),
        department_id: department.into(),
        priority,
        enqueued_at_unix_ms: at,
        edge_node: String::new(),
        caller: String::new(),
    }
}

fn field(status: &Status) -> &str {
    status.message().split(':').next().unwrap_or_default()
}

#[test]
fn empty_ids_are_refused_naming_the_field() {
    let now = Instant::now();
    for (req, name) in [
        (request("", "sales", 0, 0), "call_id"),
        (request("c1", "", 0, 0), "department_id"),
    ] {
        let e = enqueue(req, now, 1_000).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(field(&e), name, "{}", e.message());
    }
    let e = call_id(String::new()).unwrap_err();
    assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, "call_id"));
    let e = agent_id(String::new()).unwrap_err();
    assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, "agent_id"));
    assert_eq!(agent_id("anna".into()).unwrap(), AgentId::new("anna"));
}

#[test]
fn a_priority_above_255_is_refused() {
    let now = Instant::now();
    let e = enqueue(request("c1", "sales", 256, 0), now, 1_000).unwrap_err();
    assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, "priority"));
    let ok = enqueue(request("c1", "sales", 255, 0), now, 1_000).unwrap();
    assert_eq!(
        ok,
        Enqueue {
            call: CallId::new("c1"),
            department: DepartmentId::new("sales"),
            priority: Priority(255),
            enqueued_at: None,
            edge: None,
            caller: None,
        }
    );
}

#[test]
fn the_edge_node_is_carried_and_empty_means_unknown() {
    let now = Instant::now();
    let on_edge = pb::EnqueueRequest {
        edge_node: "edge-a".into(),
        caller: String::new(),
        ..request("c1", "sales", 0, 0)
    };
    assert_eq!(
        enqueue(on_edge, now, 1_000).unwrap().edge,
        Some(EdgeNode::new("edge-a"))
    );
    assert_eq!(
        enqueue(request("c1", "sales", 0, 0), now, 1_000)
            .unwrap()
            .edge,
        None
    );
}

#[test]
fn the_original_enqueue_time_is_as_far_before_now_as_in_unix_time() {
    let now = Instant::now() + Duration::from_secs(3600);
    let unix_now = 1_768_435_200_000;
    assert_eq!(enqueued_at(0, now, unix_now), None, "0 means now");
    assert_eq!(
        enqueued_at(unix_now - 30_000, now, unix_now),
        Some(now - ms(30_000))
    );
    assert_eq!(
        enqueued_at(unix_now + 5_000, now, unix_now),
        Some(now),
        "a time ahead of this node's clock is now"
    );
    let req = request("c1", "sales", 2, unix_now - 1_500);
    assert_eq!(
        enqueue(req, now, unix_now).unwrap().enqueued_at,
        Some(now - ms(1_500))
    );
}

#[test]
fn an_enqueue_time_before_the_clocks_origin_saturates() {
    let now = Instant::now();
    assert!(enqueued_at(1, now, u64::MAX).unwrap() <= now);
    let at = earliest(now, Duration::MAX);
    assert!(at <= now);
    assert!(
        at.checked_sub(Duration::from_nanos(1)).is_none(),
        "nothing representable lies further back"
    );
}

#[test]
fn rejection_reasons_map_and_unspecified_is_refused() {
    use pb::rejected_request::Reason as R;
    assert_eq!(
        reject_reason(R::Declined.into()).unwrap(),
        RejectReason::Declined
    );
    assert_eq!(
        reject_reason(R::NoAnswer.into()).unwrap(),
        RejectReason::NoAnswer
    );
    for bad in [R::Unspecified as i32, 9] {
        let e = reject_reason(bad).unwrap_err();
        assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, "reason"));
    }
}

#[test]
fn positions_are_in_milliseconds() {
    let call = WaitingCall {
        call: CallId::new("c1"),
        position: 3,
        wait: ms(42_250),
        expected_wait: Some(ms(90_000)),
        priority: Priority(0),
    };
    assert_eq!(
        position(&call),
        pb::Position {
            position: 3,
            wait_ms: 42_250,
            expected_wait_ms: Some(90_000),
        }
    );
    let unknown = WaitingCall {
        expected_wait: None,
        ..call
    };
    assert_eq!(position(&unknown).expected_wait_ms, None);
}

fn plan(created_at: Instant) -> RingPlan {
    RingPlan {
        department: DepartmentId::new("sales"),
        created_at,
        targets: vec![
            RingTarget {
                agent: AgentId::new("anna"),
                start: ms(0),
                stop: ms(15_000),
            },
            RingTarget {
                agent: AgentId::new("piotr"),
                start: ms(15_000),
                stop: ms(30_000),
            },
        ],
    }
}

fn targets(e: Option<pb::OfferEvent>) -> Vec<(String, u64, u64)> {
    let Some(pb::OfferEvent {
        event: Some(Event::Offer(plan) | Event::PlanChanged(plan)),
        ..
    }) = e
    else {
        panic!("expected a plan, got {e:?}");
    };
    assert_eq!(plan.department_id, "sales");
    plan.targets
        .into_iter()
        .map(|t| (t.agent_id, t.start_ms, t.stop_ms))
        .collect()
}

#[test]
fn plan_offsets_count_from_the_moment_the_event_is_sent() {
    let created = Instant::now();
    let offer = QueueEvent::Offer {
        call: CallId::new("c1"),
        plan: plan(created),
    };
    assert_eq!(
        targets(offer_event(&offer, created)),
        vec![("anna".into(), 0, 15_000), ("piotr".into(), 15_000, 30_000)]
    );
    // Sent 4 s late: anna rings at once for what is left of her time.
    let changed = QueueEvent::PlanChanged {
        call: CallId::new("c1"),
        plan: plan(created),
    };
    assert_eq!(
        targets(offer_event(&changed, created + ms(4_000))),
        vec![("anna".into(), 0, 11_000), ("piotr".into(), 11_000, 26_000)]
    );
    // Sent after anna's time: she stops at once.
    assert_eq!(
        targets(offer_event(&offer, created + ms(20_000))),
        vec![("anna".into(), 0, 0), ("piotr".into(), 0, 10_000)]
    );
}

#[test]
fn cancellations_and_failures_are_sent_and_queue_lengths_are_not() {
    let now = Instant::now();
    let cancel = QueueEvent::CancelOffer {
        call: CallId::new("c1"),
        agent: AgentId::new("anna"),
    };
    assert_eq!(
        offer_event(&cancel, now),
        Some(pb::OfferEvent {
            call_id: "c1".into(),
            event: Some(Event::CancelAgentId("anna".into())),
        })
    );
    let failed = QueueEvent::OfferFailed {
        call: CallId::new("c2"),
    };
    assert_eq!(
        offer_event(&failed, now),
        Some(pb::OfferEvent {
            call_id: "c2".into(),
            event: Some(Event::OfferFailed(pb::OfferFailed {})),
        })
    );
    let length = QueueEvent::QueueChanged {
        department: DepartmentId::new("sales"),
        waiting: 3,
    };
    assert_eq!(offer_event(&length, now), None);
}
