//! Two scheduler nodes on a real etcd (started by the test, as the other etcd tests do),
//! each serving its API on 127.0.0.1. Requests sent to the follower are forwarded to the
//! leader. The leader is killed in the middle of dispatching (its dials still ringing, its
//! lease revoked); the follower takes over, restores every callback from etcd and dials the
//! rest. Every callback is dialled exactly once across both leaders: the attempts the dead
//! leader had dispatched are not dialled again; they stay in doubt, or are settled with
//! the outcome the dialler tells the new leader (sip-edge runs them on).

#![allow(clippy::unwrap_used)]

mod node;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cc_callback::api::CallbacksApi;
use cc_callback::core::{CallbackId, CoreConfig, LeaderToken, Outcome, State};
use cc_callback::{Clock, Role};
use cc_cluster::Coordinator;
use cc_cluster::testing::EtcdServer;
use cc_proto::callbacks::v1 as pb;
use cc_proto::callbacks::v1::callbacks_client::CallbacksClient;
use node::{Node, NodeSpec, TestDialer, sales};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

/// Callbacks scheduled.
const CALLBACKS: usize = 10;
/// Agents free in sales: the leader dials this many at a time.
const FREE: u32 = 3;
/// Bounds the test (real clock, real etcd).
const WITHIN: Duration = Duration::from_secs(60);

/// Starts a node on `coordinator` and serves its API on 127.0.0.1:0.
async fn start(
    name: &str,
    coordinator: Arc<dyn Coordinator>,
    dialer: Arc<TestDialer>,
    free: tokio::sync::watch::Receiver<cc_callback::feeds::Capacity>,
) -> (Node, JoinHandle<()>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut spec = NodeSpec::new(name, addr, dialer, free);
    spec.clock = Clock::system();
    // Nothing dispatched by the dead leader is retried while the test runs.
    spec.core = CoreConfig {
        in_doubt_after: Duration::from_secs(3600),
        ..CoreConfig::default()
    };
    let node = Node::start(coordinator, spec).await;
    let server =
        tonic::transport::Server::builder().add_service(CallbacksApi::server(node.handle.clone()));
    let server = tokio::spawn(async move {
        let _ = server
            .serve_with_incoming(TcpIncoming::from(listener))
            .await;
    });
    (node, server, format!("http://{addr}"))
}

#[tokio::test]
async fn a_new_leader_restores_and_every_due_callback_is_dialled_exactly_once() {
    failover(Resume::Nobody).await;
}

#[tokio::test]
async fn a_new_leader_learns_how_the_attempts_under_way_ended_without_dialling_them_again() {
    failover(Resume::Reached).await;
}

/// What the dialler tells a new leader about its predecessor's attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Nobody can tell: they stay in doubt.
    Nobody,
    /// They reached their customers (sip-edge ran them on).
    Reached,
}

async fn failover(resume: Resume) {
    let etcd = EtcdServer::start().await.expect("etcd starts");
    tokio::time::timeout(WITHIN, async {
        // The dead leader's dials never end; the new leader's reach the customer.
        let hold = Arc::new(AtomicBool::new(true));
        let holding = hold.clone();
        let dialer = TestDialer::resuming(
            move |_| (!holding.load(Ordering::SeqCst)).then_some(Outcome::Reached),
            move |_| (resume == Resume::Reached).then_some(Outcome::Reached),
        );
        let (_capacity, free) = sales(FREE);

        let (a, a_server, _) = start(
            "a",
            Arc::new(etcd.connect().await),
            dialer.clone(),
            free.clone(),
        )
        .await;
        let token_a = a.leading().await;
        let b_coordinator: Arc<dyn Coordinator> = Arc::new(etcd.connect().await);
        let (b, _b_server, b_url) = start("b", b_coordinator.clone(), dialer.clone(), free).await;
        assert_eq!(*b.handle.role().borrow(), Role::Following);

        // Every request goes to the follower, which forwards it to the leader.
        let mut client = CallbacksClient::connect(b_url).await.unwrap();
        let now = u64::try_from(b.handle.clock().now().unix_ms()).unwrap();
        let mut ids = Vec::new();
        for i in 0..CALLBACKS {
            let scheduled = client
                .schedule_callback(pb::ScheduleCallbackRequest {
                    callback_id: format!("cb-{i:02}"),
                    number: format!("+4822100{i:04}"),
                    target: Some(pb::Target {
                        target: Some(pb::target::Target::DepartmentId("sales".into())),
                    }),
                    latest_unix_ms: now + 3_600_000,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            ids.push(CallbackId::new(scheduled.callback.unwrap().callback_id));
        }
        assert_eq!(
            *b.handle.role().borrow(),
            Role::Following,
            "b only forwarded"
        );

        // The leader dispatched as many as agents are free, and they are still ringing.
        dialer
            .until("the leader dials its first attempts", |d| {
                d.len() == FREE as usize
            })
            .await;
        assert!(dialer.dialled().iter().all(|d| d.token == token_a));

        // The leader dies mid-dispatch: its task ends, then its lease is revoked.
        a_server.abort();
        let lease = a.crash();
        hold.store(false, Ordering::SeqCst);
        lease.revoke().await.unwrap();

        let token_b = b.leading().await;
        assert!(token_b > token_a, "the new leader's token is newer");
        dialer
            .until("every callback is dialled", |d| d.len() >= CALLBACKS)
            .await;
        // The new leader's dials reach their customers; wait (on the store's changes, not
        // a timer) until all are stored so.
        let reached = |records: Vec<cc_callback::Stored>| {
            records
                .iter()
                .filter(|s| matches!(s.record.state, State::Reached { .. }))
                .count()
        };
        let mut changes = cc_callback::events::watch(b_coordinator.clone(), 0)
            .await
            .unwrap();
        let settled = match resume {
            Resume::Nobody => CALLBACKS - FREE as usize,
            Resume::Reached => CALLBACKS,
        };
        while reached(b.handle.list().await.unwrap().0) < settled {
            changes.recv().await.unwrap().unwrap();
        }

        let mut per_callback: BTreeMap<CallbackId, Vec<LeaderToken>> = BTreeMap::new();
        for d in dialer.dialled() {
            per_callback.entry(d.id).or_default().push(d.token);
        }
        let dialled: Vec<&CallbackId> = per_callback.keys().collect();
        assert_eq!(
            dialled,
            ids.iter().collect::<Vec<_>>(),
            "every callback dialled"
        );
        for (id, tokens) in &per_callback {
            assert_eq!(
                tokens.len(),
                1,
                "{id} dialled {} times: {tokens:?}",
                tokens.len()
            );
        }
        let by_a = per_callback.values().filter(|t| t[0] == token_a).count();
        assert_eq!(by_a, FREE as usize);

        // What etcd holds: the dead leader's attempts in doubt (or reached, as the dialler
        // told the new leader), the rest reached.
        let (records, _) = b.handle.list().await.unwrap();
        for stored in records {
            let tokens = &per_callback[&stored.record.id];
            match stored.record.state {
                State::Dispatching { token, attempt, .. } if resume == Resume::Nobody => {
                    assert_eq!((token, attempt), (token_a, 1));
                    assert_eq!(tokens, &vec![token_a]);
                }
                State::Reached { .. } if resume == Resume::Reached => {
                    assert_eq!(tokens.len(), 1, "{tokens:?}");
                    assert_eq!(stored.record.attempts, 1);
                }
                State::Reached { .. } => assert_eq!(tokens, &vec![token_b]),
                other => panic!("{}: unexpected {other:?}", stored.record.id),
            }
        }
        b.stop().await;
    })
    .await
    .expect("the failover finishes in time");
}
