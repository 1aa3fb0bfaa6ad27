//! The store against both coordinator backends (in-memory and a real etcd member started by
//! the test): records round-trip, writes are compare-and-swap, a replaced leader is fenced,
//! an old leader's late write is seen by the new one, unreadable values are skipped, and a
//! dispatch whose write answer was lost is never dialled twice.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use cc_callback::core::{
    AlwaysOpen, CallbackCore, CoreConfig, LeaderToken, Outcome, PhoneNumber, Priority, Record,
    Request, Source, State, StateKind, Target, Window,
};
use cc_callback::store::{self, PREFIX};
use cc_callback::{CallbackStore, StoreError, Written};
use cc_cluster::testing::{EtcdServer, Faulty};
use cc_cluster::{Coordinator, MemoryCoordinator};
use common::{Leader, at};

const OLD: LeaderToken = LeaderToken(5);
const NEW: LeaderToken = LeaderToken(9);

struct Backend {
    coordinator: Arc<dyn Coordinator>,
    _etcd: Option<EtcdServer>,
}

async fn memory() -> Backend {
    Backend {
        coordinator: Arc::new(MemoryCoordinator::default()),
        _etcd: None,
    }
}

async fn etcd() -> Backend {
    let server = EtcdServer::start().await.expect("etcd starts");
    Backend {
        coordinator: Arc::new(server.connect().await),
        _etcd: Some(server),
    }
}

fn request(id: &str, number: &str) -> Request {
    Request {
        id: id.into(),
        number: PhoneNumber::parse(number).unwrap(),
        name: "Ivan Ivanovich".into(),
        reason: "about the forum meeting".into(),
        target: Target::department("sales"),
        source: Source::VirtualHold,
        window: Window::new(at(0), at(86_400), "Europe/Moscow").unwrap(),
        enqueued_at: Some(at(0)),
        priority: Priority(1),
        max_attempts: None,
    }
}

/// A leader with callbacks `a` and `b` written, nothing dispatched.
async fn leader_with_two(coordinator: Arc<dyn Coordinator>, token: LeaderToken) -> Leader {
    let (mut leader, _) = Leader::elect(coordinator, token, CoreConfig::default(), at(0)).await;
    for (id, number) in [("a", "+74951110001"), ("b", "+74951110002")] {
        leader
            .core
            .handle_request(at(0), request(id, number))
            .unwrap();
    }
    let pumped = leader.pump(at(0)).await.unwrap();
    assert!(pumped.conflicts.is_empty());
    leader
}

async fn records_round_trip(b: Backend) {
    let leader = leader_with_two(b.coordinator.clone(), OLD).await;
    let mut other = CallbackStore::new(b.coordinator.clone(), NEW);
    let loaded = other.load_all().await.unwrap();
    assert_eq!(loaded.skipped, 0);
    let ids: Vec<&str> = loaded.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let a = leader.core.get(&"a".into()).unwrap();
    assert_eq!(&loaded.records[0], a);
    // The stored value is the documented JSON envelope.
    let kv = b
        .coordinator
        .get(&store::key(&"a".into()))
        .await
        .unwrap()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["leader"], 5);
    assert_eq!(json["record"]["number"], "+74951110001");
    assert_eq!(json["record"]["state"]["kind"], "pending");
}

async fn a_replaced_leader_is_fenced(b: Backend) {
    let mut old = leader_with_two(b.coordinator.clone(), OLD).await;
    let (mut new, restored) =
        Leader::elect(b.coordinator.clone(), NEW, CoreConfig::default(), at(10)).await;
    assert_eq!(restored.active, 2);
    // The new leader dispatches `a` (written under its token)...
    new.core
        .handle_capacity(at(10), &Target::department("sales"), 1)
        .unwrap();
    let dial = new.pump(at(10)).await.unwrap().dial;
    assert_eq!(dial.len(), 1);
    assert_eq!((dial[0].id.as_str(), dial[0].attempt), ("a", 1));
    // ... so the old leader, dispatching the same attempt, is refused and learns it was
    // replaced.
    old.core
        .handle_capacity(at(11), &Target::department("sales"), 1)
        .unwrap();
    assert_eq!(old.pump(at(11)).await.unwrap_err(), NEW);
    // And a newer leader's record in the store fences a stale leader's restore.
    let mut stale = CallbackStore::new(b.coordinator.clone(), OLD);
    assert_eq!(
        stale.load_all().await.unwrap_err(),
        StoreError::Fenced { by: NEW }
    );
}

async fn an_old_leaders_late_write_is_seen_by_the_new_leader(b: Backend) {
    let mut old = leader_with_two(b.coordinator.clone(), OLD).await;
    let (mut new, _) =
        Leader::elect(b.coordinator.clone(), NEW, CoreConfig::default(), at(10)).await;
    // The old leader, not yet aware, dispatches `a` after the new one restored: the record
    // still has the revision it knows, so the write goes through and it dials.
    old.core
        .handle_capacity(at(11), &Target::department("sales"), 1)
        .unwrap();
    let old_dial = old.pump(at(11)).await.unwrap().dial;
    assert_eq!(old_dial.len(), 1);
    // The new leader would dispatch the same attempt: its write is refused, it takes the
    // stored record (attempt 1 in doubt under the old token) and dials nothing.
    new.core
        .handle_capacity(at(12), &Target::department("sales"), 2)
        .unwrap();
    let pumped = new.pump(at(12)).await.unwrap();
    assert_eq!(pumped.conflicts, vec!["a".into()]);
    let dialled: Vec<&str> = pumped.dial.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(dialled, ["b"], "a is not dialled twice");
    assert!(matches!(
        new.core.get(&"a".into()).unwrap().state,
        State::Dispatching {
            attempt: 1,
            token: OLD,
            ..
        }
    ));
    // The old dial's result reaches the new leader and is taken.
    new.core
        .handle_result(at(30), &"a".into(), 1, OLD, Outcome::Reached)
        .unwrap();
    new.pump(at(30)).await.unwrap();
    let stored = new.store.read(&"a".into()).await.unwrap().unwrap();
    assert_eq!(stored.state.kind(), StateKind::Reached);
}

async fn unreadable_values_are_skipped(b: Backend) {
    let c = &b.coordinator;
    leader_with_two(c.clone(), OLD).await;
    c.put(&format!("{PREFIX}garbage"), b"{not json".to_vec(), None)
        .await
        .unwrap();
    c.put(
        &format!("{PREFIX}future"),
        br#"{"version":2,"leader":1,"record":{"shape":"new"}}"#.to_vec(),
        None,
    )
    .await
    .unwrap();
    // A readable record under another record's key.
    let a = c.get(&store::key(&"a".into())).await.unwrap().unwrap();
    c.put(&format!("{PREFIX}elsewhere"), a.value, None)
        .await
        .unwrap();
    let mut s = CallbackStore::new(c.clone(), NEW);
    let loaded = s.load_all().await.unwrap();
    assert_eq!(loaded.skipped, 3);
    assert_eq!(loaded.records.len(), 2);
}

async fn finished_records_stay_in_the_store_but_not_in_the_core(b: Backend) {
    let mut leader = leader_with_two(b.coordinator.clone(), OLD).await;
    leader.core.handle_cancel(at(5), &"b".into()).unwrap();
    leader.pump(at(5)).await.unwrap();
    let (_, restored) =
        Leader::elect(b.coordinator.clone(), NEW, CoreConfig::default(), at(10)).await;
    assert_eq!((restored.active, restored.finished), (1, 1));
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::memory().await).await;
                }
            )*
        }
        mod etcd_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::etcd().await).await;
                }
            )*
        }
    };
}

both_backends!(
    records_round_trip,
    a_replaced_leader_is_fenced,
    an_old_leaders_late_write_is_seen_by_the_new_leader,
    unreadable_values_are_skipped,
    finished_records_stay_in_the_store_but_not_in_the_core,
);

#[tokio::test]
async fn a_dispatch_whose_write_answer_was_lost_is_not_dialled_and_falls_in_doubt() {
    let coordinator = Arc::new(Faulty::default());
    let mut store = CallbackStore::new(coordinator.clone(), NEW);
    let mut core = CallbackCore::new(CoreConfig::default(), NEW, AlwaysOpen);
    core.handle_request(at(0), request("a", "+74951110001"))
        .unwrap();
    let created = core.poll_output().unwrap();
    assert_eq!(store.write(created.record()).await, Ok(Written::Done));
    core.handle_capacity(at(1), &Target::department("sales"), 1)
        .unwrap();
    let dispatch = core.poll_output().unwrap();
    coordinator.lose_next_swap_answer();
    // The write landed, but the leader cannot know: it must not dial.
    assert!(matches!(
        store.write(dispatch.record()).await,
        Err(StoreError::Unavailable(_))
    ));
    let stored: Option<Record> = store.read(&"a".into()).await.unwrap();
    core.handle_stored(at(2), &"a".into(), stored).unwrap();
    // The record is dispatching under this leader's own token with no dial behind it: it
    // waits out the in-doubt timeout and is retried as attempt 2, never attempt 1 again.
    core.handle_capacity(at(3), &Target::department("sales"), 1)
        .unwrap();
    assert_eq!(core.poll_output(), None);
    core.handle_timeout(at(1 + 600));
    let retried = core.poll_output().unwrap();
    assert_eq!(retried.record().state, State::Pending);
    assert_eq!(store.write(retried.record()).await, Ok(Written::Done));
    core.handle_timeout(at(1 + 600 + 120));
    let next = core.poll_output().unwrap();
    assert!(matches!(
        next.record().state,
        State::Dispatching { attempt: 2, .. }
    ));
    assert_eq!(store.write(next.record()).await, Ok(Written::Done));
}
