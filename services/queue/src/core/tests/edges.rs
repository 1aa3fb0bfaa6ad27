//! Calls of a sip-edge node that is gone: they leave every queue as if abandoned, and the
//! agents they held go to the calls of other edges.

use super::*;

fn enqueue_on(h: &mut Harness, call: &str, department: &str, edge: Option<&str>) {
    h.core
        .handle_enqueue(
            h.now,
            Enqueue {
                call: call.into(),
                department: department.into(),
                priority: Priority(0),
                enqueued_at: None,
                edge: edge.map(EdgeNode::from),
                caller: None,
            },
        )
        .unwrap();
}

#[test]
fn a_call_remembers_its_edge() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    enqueue_on(&mut h, "c1", "d", Some("edge-a"));
    enqueue_on(&mut h, "c2", "d", None);
    assert_eq!(
        h.core.edge(&"c1".into()),
        Ok(Some(&EdgeNode::new("edge-a")))
    );
    assert_eq!(h.core.edge(&"c2".into()), Ok(None));
    assert_eq!(
        h.core.edge(&"zz".into()),
        Err(QueueError::UnknownCall("zz".into()))
    );
}

#[test]
fn the_calls_of_a_gone_edge_leave_every_department_and_free_their_agents() {
    let x = DepartmentConfig::new("x", Strategy::Sequential)
        .ring_seconds(10)
        .member("a");
    let y = DepartmentConfig::new("y", Strategy::Sequential)
        .ring_seconds(10)
        .member("b");
    let mut h = Harness::new(vec![x, y]);
    h.available(&["a"]);
    // c1 rings a; c2 (same edge) and c3 (another edge) wait behind it; c4 waits in y.
    enqueue_on(&mut h, "c1", "x", Some("edge-a"));
    enqueue_on(&mut h, "c2", "x", Some("edge-a"));
    enqueue_on(&mut h, "c3", "x", Some("edge-b"));
    enqueue_on(&mut h, "c4", "y", Some("edge-a"));
    enqueue_on(&mut h, "c5", "y", None);
    assert_eq!(h.offers().len(), 1);

    h.now = h.at(3);
    let gone = h.core.handle_edge_gone(h.now, &"edge-a".into());
    assert_eq!(
        gone,
        ["c1", "c2", "c4"].map(CallId::from),
        "by department and line"
    );
    let out = h.drain();
    assert_eq!(
        out[..4],
        [
            Output::CancelOffer {
                call: "c1".into(),
                agent: "a".into()
            },
            Output::QueueChanged {
                department: "x".into(),
                waiting: 2
            },
            Output::QueueChanged {
                department: "x".into(),
                waiting: 1
            },
            Output::QueueChanged {
                department: "y".into(),
                waiting: 1
            },
        ]
    );
    // The agent freed goes to the call of the other edge, never to c2.
    let offered: Vec<&str> = out[4..]
        .iter()
        .filter_map(|o| match o {
            Output::Offer { call, .. } => Some(call.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(offered, ["c3"], "{out:?}");
    for call in ["c1", "c2", "c4"] {
        assert_eq!(
            h.core.position(&call.into()),
            Err(QueueError::UnknownCall(call.into()))
        );
    }
    assert_eq!(h.core.waiting(&"x".into()), Ok(1));
    assert_eq!(h.core.waiting(&"y".into()), Ok(1));
    assert_eq!(h.facts("a").consecutive_no_answers, 0, "not a miss");
}

#[test]
fn an_edge_without_calls_here_changes_nothing() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    enqueue_on(&mut h, "c1", "d", Some("edge-b"));
    h.drain();
    assert!(h.core.handle_edge_gone(h.now, &"edge-a".into()).is_empty());
    assert_eq!(h.drain(), []);
    assert_eq!(h.core.position(&"c1".into()), Ok(1));
}

#[test]
fn an_answered_call_of_a_gone_edge_ends_and_frees_its_agent() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a"])]);
    h.available(&["a"]);
    enqueue_on(&mut h, "c1", "d", Some("edge-a"));
    h.drain();
    h.answer("c1", "a");
    enqueue_on(&mut h, "c2", "d", Some("edge-b"));
    assert!(h.offers().is_empty(), "a talks on c1");
    // Nobody will report c1's end: it ends now, and a takes the next call.
    assert!(h.core.handle_edge_gone(h.now, &"edge-a".into()).is_empty());
    let offers = h.offers();
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(offers[0].0.as_str(), "c2");
    assert_eq!(
        h.core.handle_call_ended(h.now, &"c1".into()),
        Err(QueueError::UnknownCall("c1".into()))
    );
}
