//! `ccd all` keeps callbacks in a journal file beside its in-memory coordinator: a restart
//! (a new process: a fresh coordinator replaying the file) finds every callback as it was
//! last written, pending, dispatching and finished alike.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::sync::Arc;

use cc_callback::core::{
    CoreConfig, LeaderToken, PhoneNumber, Priority, Record, Request, Source, StateKind, Target,
    Window,
};
use cc_callback::journal::Journaled;
use cc_callback::store::PREFIX;
use cc_cluster::{Coordinator, MemoryCoordinator};
use common::{Leader, at};

fn request(id: &str, number: &str) -> Request {
    Request {
        id: id.into(),
        number: PhoneNumber::parse(number).unwrap(),
        name: String::new(),
        reason: "missed call".into(),
        target: Target::department("sales"),
        source: Source::Missed,
        window: Window::new(at(0), at(86_400), "UTC").unwrap(),
        enqueued_at: None,
        priority: Priority(0),
        max_attempts: None,
    }
}

/// A process start: a fresh in-memory coordinator with the journal replayed into it.
async fn start(path: &std::path::Path) -> Arc<dyn Coordinator> {
    Arc::new(
        Journaled::open(path, Arc::new(MemoryCoordinator::default()), &[PREFIX])
            .await
            .unwrap(),
    )
}

async fn stored(coordinator: Arc<dyn Coordinator>) -> Vec<Record> {
    let mut store = cc_callback::CallbackStore::new(coordinator, LeaderToken(i64::MAX));
    let loaded = store.load_all().await.unwrap();
    assert_eq!(loaded.skipped, 0);
    loaded.records
}

#[tokio::test]
async fn a_restart_loses_no_callback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callbacks.journal");
    let before = {
        let coordinator = start(&path).await;
        let (mut leader, _) = Leader::elect(
            coordinator.clone(),
            LeaderToken(1),
            CoreConfig::default(),
            at(0),
        )
        .await;
        for (id, number) in [("a", "+4930001"), ("b", "+4930002"), ("c", "+4930003")] {
            leader
                .core
                .handle_request(at(0), request(id, number))
                .unwrap();
        }
        leader
            .core
            .handle_capacity(at(1), &Target::department("sales"), 1)
            .unwrap();
        leader.core.handle_cancel(at(2), &"c".into()).unwrap();
        let pumped = leader.pump(at(2)).await.unwrap();
        assert_eq!(pumped.dial.len(), 1);
        // Something else in the coordinator: not journaled.
        coordinator
            .put("/cc/config/organization", b"{}".to_vec(), None)
            .await
            .unwrap();
        stored(coordinator).await
    };
    let kinds: Vec<(String, StateKind)> = before
        .iter()
        .map(|r| (r.id.to_string(), r.state.kind()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("a".into(), StateKind::Dispatching),
            ("b".into(), StateKind::Pending),
            ("c".into(), StateKind::Cancelled),
        ]
    );

    let coordinator = start(&path).await;
    assert_eq!(stored(coordinator.clone()).await, before);
    assert_eq!(
        coordinator.get("/cc/config/organization").await.unwrap(),
        None
    );
    // The restarted leader goes on from there: `a`'s attempt is in doubt, not dialled again.
    let (mut leader, restored) = Leader::elect(
        coordinator.clone(),
        LeaderToken(2),
        CoreConfig::default(),
        at(60),
    )
    .await;
    assert_eq!(
        (restored.active, restored.in_doubt, restored.finished),
        (2, 1, 1)
    );
    leader
        .core
        .handle_capacity(at(60), &Target::department("sales"), 5)
        .unwrap();
    let dialled: Vec<String> = leader
        .pump(at(60))
        .await
        .unwrap()
        .dial
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(dialled, ["b"]);
}

#[tokio::test]
async fn the_journal_is_compacted_and_survives_a_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callbacks.journal");
    {
        let coordinator =
            Journaled::with_compaction(&path, Arc::new(MemoryCoordinator::default()), &[PREFIX], 5)
                .await
                .unwrap();
        for i in 0..50 {
            coordinator
                .put(
                    &format!("{PREFIX}k{}", i % 2),
                    format!("v{i}").into_bytes(),
                    None,
                )
                .await
                .unwrap();
        }
        coordinator
            .put(&format!("{PREFIX}gone"), b"x".to_vec(), None)
            .await
            .unwrap();
        assert!(coordinator.delete(&format!("{PREFIX}gone")).await.unwrap());
    }
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(lines <= 7, "{lines} lines: not compacted");
    // A crash in the middle of a line.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(br#"{"key":"/cc/callbacks/k0","val"#)
        .unwrap();
    let coordinator = start(&path).await;
    let listing = coordinator.list(PREFIX).await.unwrap();
    let kvs: Vec<(String, String)> = listing
        .kvs
        .iter()
        .map(|kv| (kv.key.clone(), String::from_utf8(kv.value.clone()).unwrap()))
        .collect();
    assert_eq!(
        kvs,
        vec![
            (format!("{PREFIX}k0"), "v48".to_owned()),
            (format!("{PREFIX}k1"), "v49".to_owned()),
        ]
    );
    // Opening compacted the torn line away.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);
}

#[tokio::test]
async fn a_restart_keeps_the_keys_of_every_journaled_prefix_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ccd.journal");
    let prefixes = [PREFIX, cc_callback::messages::PREFIX];
    let open = || async {
        let coordinator: Arc<dyn Coordinator> = Arc::new(
            Journaled::open(&path, Arc::new(MemoryCoordinator::default()), &prefixes)
                .await
                .unwrap(),
        );
        coordinator
    };
    {
        let coordinator = open().await;
        coordinator
            .put("/cc/messages/m1", b"one".to_vec(), None)
            .await
            .unwrap();
        coordinator
            .put("/cc/messages/m2", b"two".to_vec(), None)
            .await
            .unwrap();
        coordinator.delete("/cc/messages/m2").await.unwrap();
        coordinator
            .put("/cc/callbacks/c1", b"cb".to_vec(), None)
            .await
            .unwrap();
        coordinator
            .put("/cc/nodes/queue/a", b"node".to_vec(), None)
            .await
            .unwrap();
    }
    let coordinator = open().await;
    let value = |key: &'static str| {
        let coordinator = coordinator.clone();
        async move { coordinator.get(key).await.unwrap().map(|kv| kv.value) }
    };
    assert_eq!(value("/cc/messages/m1").await, Some(b"one".to_vec()));
    assert_eq!(value("/cc/messages/m2").await, None);
    assert_eq!(value("/cc/callbacks/c1").await, Some(b"cb".to_vec()));
    assert_eq!(value("/cc/nodes/queue/a").await, None, "not journaled");
}

/// Callbacks carry their leader's token, a revision of the process that wrote them: the
/// process after a restart must give out greater revisions, or its leader would take
/// itself for an older one and step down for ever. The journal remembers the highest
/// revision, through compactions and from journals written before it kept any.
#[tokio::test]
async fn a_restarted_store_gives_revisions_beyond_those_of_the_earlier_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callbacks.journal");
    let last = {
        let memory = Arc::new(MemoryCoordinator::default());
        // A long-running process: revisions far beyond the number of keys kept.
        memory.advance_revision(5_000);
        let journaled = Journaled::with_compaction(&path, memory, &[PREFIX], 2)
            .await
            .unwrap();
        let mut last = 0;
        for i in 0..5 {
            last = journaled
                .put(&format!("{PREFIX}cb-{i}"), b"{}".to_vec(), None)
                .await
                .unwrap();
        }
        assert!(last > 5_000);
        last
    };
    let memory = Arc::new(MemoryCoordinator::default());
    let journaled = Journaled::open(&path, memory.clone(), &[PREFIX])
        .await
        .unwrap();
    let floor = journaled.revision_floor().await;
    assert!(floor >= last, "floor {floor} below the last write {last}");
    memory.advance_revision(floor);
    let next = journaled
        .put(&format!("{PREFIX}after"), b"{}".to_vec(), None)
        .await
        .unwrap();
    assert!(
        next > last,
        "revision {next} after the restart, {last} before"
    );
    drop(journaled);

    // A journal from before revisions were kept: no floor, every line still read.
    std::fs::write(
        &path,
        format!("{{\"key\":\"{PREFIX}old\",\"value\":\"{{}}\"}}\n"),
    )
    .unwrap();
    let journaled = Journaled::open(&path, Arc::new(MemoryCoordinator::default()), &[PREFIX])
        .await
        .unwrap();
    // Only the replay's own revision: nothing an earlier process gave out.
    assert!(journaled.revision_floor().await <= 2);
    assert!(
        journaled
            .get(&format!("{PREFIX}old"))
            .await
            .unwrap()
            .is_some()
    );
}
