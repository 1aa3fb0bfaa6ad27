//! One conformance suite, run against both backends: the in-memory coordinator and a real
//! etcd member started by the test (DESIGN.md section 4). Failure cases that only a real
//! server has (SIGKILL and restart) are at the end, etcd only.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::testing::EtcdServer;
use cc_cluster::{
    Coordinator, Error, Event, Expect, Follower, Members, MemoryCoordinator, NodeInfo, NodeLease,
    Ownership, Registration, Swap, Update, Write,
};
use tokio::time::timeout;

/// Upper bound for anything that should happen "soon" (lease expiry included).
const SOON: Duration = Duration::from_secs(10);

struct Backend {
    coordinator: Arc<dyn Coordinator>,
    /// Keeps the etcd member alive for the test.
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

/// An etcd seen through a key prefix (as `ccd --etcd-prefix` does), with a neighbour's
/// keys beside it that the suite must never see.
async fn namespaced_etcd() -> Backend {
    let server = EtcdServer::start().await.expect("etcd starts");
    let raw: Arc<dyn Coordinator> = Arc::new(server.connect().await);
    for key in ["/cc/x", "/t/a", "/other/t/a"] {
        raw.put(key, b"a neighbour's".to_vec(), None).await.unwrap();
    }
    Backend {
        coordinator: Arc::new(cc_cluster::Namespaced::new(raw, "/tenant").unwrap()),
        _etcd: Some(server),
    }
}

macro_rules! conformance {
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
        mod namespaced_etcd_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::namespaced_etcd().await).await;
                }
            )*
        }
    };
}

#[tokio::test]
async fn a_key_prefix_keeps_two_clusters_on_one_etcd_apart() {
    let server = EtcdServer::start().await.expect("etcd starts");
    let raw: Arc<dyn Coordinator> = Arc::new(server.connect().await);
    let acme = cc_cluster::Namespaced::new(raw.clone(), "/acme").unwrap();
    let globex = cc_cluster::Namespaced::new(raw.clone(), "/globex").unwrap();
    acme.put("/cc/config", b"acme".to_vec(), None)
        .await
        .unwrap();
    globex
        .put("/cc/config", b"globex".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(
        acme.get("/cc/config").await.unwrap().unwrap().value,
        b"acme"
    );
    let listed = globex.list("/cc/").await.unwrap().kvs;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].key.as_str(), &listed[0].value[..]),
        ("/cc/config", &b"globex"[..])
    );
    let stored: Vec<String> = raw
        .list("/")
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(stored, ["/acme/cc/config", "/globex/cc/config"]);
    for bad in ["acme", "/acme/", "/"] {
        assert!(matches!(
            cc_cluster::Namespaced::new(raw.clone(), bad),
            Err(Error::Invalid(_))
        ));
    }
}

conformance!(
    keys_have_revisions_and_list_by_prefix,
    swap_writes_only_when_the_key_is_as_expected,
    keys_of_a_revoked_or_expired_lease_disappear,
    a_kept_alive_lease_outlives_its_ttl,
    put_on_a_lease_that_is_gone_is_refused,
    watch_replays_history_from_a_revision_then_follows,
    watch_from_compacted_history_is_refused,
    follower_lists_again_when_its_history_was_compacted,
    ownership_has_one_holder_and_passes_on_when_the_lease_ends,
    ownership_is_lost_when_the_key_is_deleted,
    node_lease_is_replaced_when_it_is_revoked,
    nodes_register_with_their_load_and_vanish_with_their_lease,
);

async fn keys_have_revisions_and_list_by_prefix(b: Backend) {
    let c = &b.coordinator;
    let r1 = c.put("/t/a", b"1".to_vec(), None).await.unwrap();
    let r2 = c.put("/t/b", b"2".to_vec(), None).await.unwrap();
    let r3 = c.put("/t/a", b"3".to_vec(), None).await.unwrap();
    c.put("/u/a", b"other prefix".to_vec(), None).await.unwrap();
    assert!(r1 < r2 && r2 < r3, "revisions increase: {r1} {r2} {r3}");

    let a = c.get("/t/a").await.unwrap().unwrap();
    assert_eq!(a.value, b"3");
    assert_eq!((a.create_revision, a.mod_revision), (r1, r3));
    assert_eq!(a.lease, None);
    assert_eq!(c.get("/t/missing").await.unwrap(), None);

    let listing = c.list("/t/").await.unwrap();
    let keys: Vec<_> = listing.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/t/a", "/t/b"]);
    assert!(listing.revision > r3);

    assert!(c.delete("/t/a").await.unwrap());
    assert!(
        !c.delete("/t/a").await.unwrap(),
        "deleting twice is not a change"
    );
    assert_eq!(c.list("/t/").await.unwrap().kvs.len(), 1);
    assert!(matches!(
        c.put("", b"x".to_vec(), None).await,
        Err(Error::Invalid(_))
    ));
}

async fn swap_writes_only_when_the_key_is_as_expected(b: Backend) {
    let c = &b.coordinator;
    let put = |v: &str| Write::Put {
        value: v.as_bytes().to_vec(),
        lease: None,
    };
    let Swap::Done(created) = c.swap("/s/k", Expect::Absent, put("a")).await.unwrap() else {
        panic!("an absent key is created");
    };
    let Swap::Conflict(Some(current)) = c.swap("/s/k", Expect::Absent, put("b")).await.unwrap()
    else {
        panic!("a second create conflicts");
    };
    assert_eq!(
        (current.value.as_slice(), current.mod_revision),
        (&b"a"[..], created)
    );

    let Swap::Done(updated) = c
        .swap("/s/k", Expect::ModRevision(created), put("c"))
        .await
        .unwrap()
    else {
        panic!("an update at the current revision succeeds");
    };
    // Two admins read revision `created`; the second write must not win.
    assert!(matches!(
        c.swap("/s/k", Expect::ModRevision(created), put("d")).await.unwrap(),
        Swap::Conflict(Some(kv)) if kv.value == b"c"
    ));
    assert!(matches!(
        c.swap("/s/k", Expect::ModRevision(created), Write::Delete)
            .await
            .unwrap(),
        Swap::Conflict(Some(_))
    ));
    assert!(matches!(
        c.swap("/s/k", Expect::ModRevision(updated), Write::Delete)
            .await
            .unwrap(),
        Swap::Done(_)
    ));
    assert_eq!(c.get("/s/k").await.unwrap(), None);
    assert!(matches!(
        c.swap("/s/k", Expect::ModRevision(updated), put("e"))
            .await
            .unwrap(),
        Swap::Conflict(None)
    ));
}

async fn keys_of_a_revoked_or_expired_lease_disappear(b: Backend) {
    let c = &b.coordinator;
    let revoked = c.grant(Duration::from_secs(30)).await.unwrap();
    c.put("/l/revoked", b"x".to_vec(), Some(revoked))
        .await
        .unwrap();
    assert_eq!(
        c.get("/l/revoked").await.unwrap().unwrap().lease,
        Some(revoked)
    );
    c.revoke(revoked).await.unwrap();
    assert_eq!(c.get("/l/revoked").await.unwrap(), None);
    c.revoke(revoked).await.unwrap();

    let expiring = c.grant(Duration::from_secs(1)).await.unwrap();
    let from = c
        .put("/l/expiring", b"x".to_vec(), Some(expiring))
        .await
        .unwrap();
    let mut watch = c.watch("/l/", from + 1).await.unwrap();
    let batch = timeout(SOON, watch.next())
        .await
        .expect("the lease expires within 10 s")
        .unwrap()
        .unwrap();
    assert!(matches!(&batch[..], [Event::Delete { key, .. }] if key == "/l/expiring"));
    assert!(matches!(
        c.keep_alive(expiring).await,
        Err(Error::LeaseNotFound(id)) if id == expiring
    ));
}

async fn a_kept_alive_lease_outlives_its_ttl(b: Backend) {
    let c = &b.coordinator;
    let lease = c.grant(Duration::from_secs(1)).await.unwrap();
    c.put("/k/alive", b"x".to_vec(), Some(lease)).await.unwrap();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.keep_alive(lease).await.unwrap();
    }
    assert!(
        c.get("/k/alive").await.unwrap().is_some(),
        "2.4 s on a 1 s lease"
    );
}

async fn put_on_a_lease_that_is_gone_is_refused(b: Backend) {
    let c = &b.coordinator;
    let lease = c.grant(Duration::from_secs(30)).await.unwrap();
    c.revoke(lease).await.unwrap();
    assert_eq!(
        c.put("/g/k", b"x".to_vec(), Some(lease)).await,
        Err(Error::LeaseNotFound(lease))
    );
    let create = Write::Put {
        value: b"x".to_vec(),
        lease: Some(lease),
    };
    assert_eq!(
        c.swap("/g/k", Expect::Absent, create).await,
        Err(Error::LeaseNotFound(lease))
    );
    assert_eq!(c.get("/g/k").await.unwrap(), None);
}

async fn watch_replays_history_from_a_revision_then_follows(b: Backend) {
    let c = &b.coordinator;
    c.put("/w/a", b"1".to_vec(), None).await.unwrap();
    let from = c.put("/w/b", b"2".to_vec(), None).await.unwrap();
    c.put("/other", b"x".to_vec(), None).await.unwrap();
    c.delete("/w/a").await.unwrap();

    let mut watch = c.watch("/w/", from).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.extend(timeout(SOON, watch.next()).await.unwrap().unwrap().unwrap());
    }
    assert!(matches!(&seen[0], Event::Put(kv) if kv.key == "/w/b" && kv.mod_revision == from));
    assert!(matches!(&seen[1], Event::Delete { key, .. } if key == "/w/a"));

    let live = c.put("/w/c", b"3".to_vec(), None).await.unwrap();
    let batch = timeout(SOON, watch.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!((batch[0].key(), batch[0].revision()), ("/w/c", live));
}

async fn watch_from_compacted_history_is_refused(b: Backend) {
    let c = &b.coordinator;
    let old = c.put("/c/k", b"1".to_vec(), None).await.unwrap();
    c.put("/c/k", b"2".to_vec(), None).await.unwrap();
    let now = c.put("/c/k", b"3".to_vec(), None).await.unwrap();
    c.compact(now).await.unwrap();
    let refused = match c.watch("/c/", old).await {
        Err(e) => e,
        Ok(mut stream) => timeout(SOON, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap_err(),
    };
    assert!(
        matches!(refused, Error::Compacted { oldest, .. } if oldest == now),
        "{refused:?}"
    );
    // From the compaction revision on, history is still there.
    let mut watch = c.watch("/c/", now).await.unwrap();
    let batch = timeout(SOON, watch.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(batch[0].revision(), now);
}

async fn follower_lists_again_when_its_history_was_compacted(b: Backend) {
    let c = &b.coordinator;
    c.put("/f/a", b"1".to_vec(), None).await.unwrap();
    let mut follower = Follower::new(c.clone(), "/f/");
    assert_eq!(timeout(SOON, follower.next()).await.unwrap(), Update::Reset);
    assert_eq!(follower.kvs().len(), 1);

    c.put("/f/b", b"2".to_vec(), None).await.unwrap();
    assert!(matches!(
        timeout(SOON, follower.next()).await.unwrap(),
        Update::Changed(events) if events.len() == 1 && events[0].key() == "/f/b"
    ));
    assert_eq!(follower.kvs().len(), 2);

    // The follower falls behind: its next watch starts in compacted history, so it must
    // list again and end up with exactly the current keys.
    let follower_at = follower.revision();
    c.delete("/f/a").await.unwrap();
    c.put("/f/c", b"3".to_vec(), None).await.unwrap();
    let now = c.put("/f/c", b"4".to_vec(), None).await.unwrap();
    c.compact(now).await.unwrap();
    assert!(follower_at < now);
    let mut follower = Follower::new(c.clone(), "/f/");
    timeout(SOON, follower.next()).await.unwrap();
    let keys: Vec<_> = follower.kvs().keys().cloned().collect();
    assert_eq!(keys, ["/f/b", "/f/c"]);
    assert_eq!(follower.kvs()["/f/c"].value, b"4");
}

async fn ownership_has_one_holder_and_passes_on_when_the_lease_ends(b: Backend) {
    let c = &b.coordinator;
    let first = NodeLease::start(c.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    let second = NodeLease::start(c.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    let a = Ownership::new(c.clone(), "/cc/own/queue/sales", b"node-a".to_vec());
    let bee = Ownership::new(c.clone(), "/cc/own/queue/sales", b"node-b".to_vec());

    let owned = timeout(SOON, a.acquire(&mut first.subscribe()))
        .await
        .unwrap();
    assert_eq!(owned.lease, first.current().unwrap().lease);
    // Asking again under the same lease is idempotent.
    assert_eq!(a.try_acquire(owned.lease).await.unwrap(), Ok(owned.clone()));
    let holder = bee
        .try_acquire(second.current().unwrap().lease)
        .await
        .unwrap();
    assert!(matches!(holder, Err(kv) if kv.value == b"node-a"));

    let mut waiting_lease = second.subscribe();
    let waiting = tokio::spawn(async move { bee.acquire(&mut waiting_lease).await });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    // The first node goes away gracefully; the second takes over with a greater token.
    first.revoke().await.unwrap();
    let taken = timeout(SOON, waiting).await.unwrap().unwrap();
    assert!(taken.token > owned.token, "fencing token increases");
    assert_eq!(
        a.holder().await.unwrap().unwrap().value,
        b"node-b",
        "the key names its new owner"
    );
}

async fn ownership_is_lost_when_the_key_is_deleted(b: Backend) {
    let c = &b.coordinator;
    let lease = NodeLease::start(c.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    let own = Ownership::new(c.clone(), "/cc/election/callback", b"n1".to_vec());
    let owned = own.acquire(&mut lease.subscribe()).await;
    let mut subscription = lease.subscribe();
    let (own2, owned2) = (own.clone(), owned.clone());
    let lost = tokio::spawn(async move { own2.lost(&owned2, &mut subscription).await });
    // An unrelated key with the same prefix is not a loss.
    c.put("/cc/election/callback-other", b"x".to_vec(), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!lost.is_finished());
    c.delete("/cc/election/callback").await.unwrap();
    timeout(SOON, lost).await.unwrap().unwrap();
    own.release(&owned).await.unwrap();
}

async fn node_lease_is_replaced_when_it_is_revoked(b: Backend) {
    let c = &b.coordinator;
    let lease = NodeLease::start(c.clone(), Duration::from_secs(1))
        .await
        .unwrap();
    let first = lease.current().unwrap();
    assert_eq!(first.generation, 1);
    let mut changes = lease.subscribe();
    // As if the lease had expired while the node was cut off.
    c.revoke(first.lease).await.unwrap();
    let replaced = timeout(SOON, async {
        loop {
            changes.changed().await.unwrap();
            if let Some(state) = *changes.borrow_and_update() {
                return state;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(replaced.generation, 2);
    assert_ne!(replaced.lease, first.lease);
    c.put("/n/k", b"x".to_vec(), Some(replaced.lease))
        .await
        .unwrap();
    lease.revoke().await.unwrap();
    assert_eq!(c.get("/n/k").await.unwrap(), None);
}

async fn nodes_register_with_their_load_and_vanish_with_their_lease(b: Backend) {
    let c = &b.coordinator;
    let members = Members::follow(c.clone(), "media");
    let changes = members.subscribe();
    let node = |name: &str, load| NodeInfo {
        service: "media".into(),
        node: name.into(),
        address: format!("{name}:50051"),
        load,
    };
    let one = NodeLease::start(c.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    let two = NodeLease::start(c.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    let busy = Registration::start(c.clone(), &one, node("m1", 10));
    let _idle = Registration::start(c.clone(), &two, node("m2", 3));
    let wait_for = |want: &'static [(&'static str, u64)]| {
        let mut changes = changes.clone();
        async move {
            timeout(
                SOON,
                changes.wait_for(|nodes| {
                    nodes
                        .iter()
                        .map(|n| (n.node.as_str(), n.load))
                        .collect::<Vec<_>>()
                        == want
                }),
            )
            .await
            .unwrap_or_else(|_| panic!("members never became {want:?}"))
            .unwrap();
        }
    };
    wait_for(&[("m1", 10), ("m2", 3)]).await;
    assert_eq!(members.least_loaded().unwrap().node, "m2");

    busy.set_load(1);
    wait_for(&[("m1", 1), ("m2", 3)]).await;
    assert_eq!(members.least_loaded().unwrap().address, "m1:50051");

    // m2's node dies: its registration goes with its lease.
    two.revoke().await.unwrap();
    wait_for(&[("m1", 1)]).await;

    // m1's lease is replaced: it registers again under the new one.
    let old = one.current().unwrap().lease;
    let mut lease = one.subscribe();
    c.revoke(old).await.unwrap();
    let new = timeout(SOON, lease.wait_for(|s| s.is_some_and(|s| s.lease != old)))
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .lease;
    let mut m1 = members.subscribe();
    timeout(SOON, async {
        while c
            .get("/cc/nodes/media/m1")
            .await
            .unwrap()
            .and_then(|kv| kv.lease)
            != Some(new)
        {
            m1.changed().await.unwrap();
        }
    })
    .await
    .expect("m1 registered again under its new lease");
    wait_for(&[("m1", 1)]).await;
}

// ---- etcd only: what a real server does when it crashes and comes back ----

#[tokio::test]
async fn etcd_follower_and_node_lease_survive_an_etcd_crash_and_restart() {
    let mut server = EtcdServer::start().await.unwrap();
    let c: Arc<dyn Coordinator> = Arc::new(server.connect().await);
    let lease = NodeLease::start(c.clone(), Duration::from_secs(3))
        .await
        .unwrap();
    c.put("/r/a", b"1".to_vec(), Some(lease.current().unwrap().lease))
        .await
        .unwrap();
    let mut follower = Follower::new(c.clone(), "/r/");
    assert_eq!(follower.next().await, Update::Reset);

    server.kill();
    assert!(matches!(c.get("/r/a").await, Err(Error::Unavailable(_))));
    server.restart().await.unwrap();

    // The follower resumes its watch on the restarted server and misses nothing.
    c.put("/r/b", b"2".to_vec(), None).await.unwrap();
    let update = timeout(SOON, follower.next()).await.unwrap();
    assert!(
        matches!(&update, Update::Changed(events) if events[0].key() == "/r/b"),
        "{update:?}"
    );
    assert_eq!(follower.kvs().len(), 2);
    // The lease outlived the short outage (or was replaced); either way the node has one.
    let state = timeout(SOON, async {
        let mut changes = lease.subscribe();
        loop {
            if let Some(state) = *changes.borrow_and_update() {
                return state;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    c.keep_alive(state.lease).await.unwrap();
}

#[tokio::test]
async fn etcd_node_lease_is_reported_lost_while_etcd_is_down() {
    let mut server = EtcdServer::start().await.unwrap();
    let c: Arc<dyn Coordinator> = Arc::new(server.connect().await);
    let lease = NodeLease::start(c.clone(), Duration::from_secs(2))
        .await
        .unwrap();
    let mut changes = lease.subscribe();
    server.kill();
    // Lost within the TTL: an owner stops acting before etcd could have expired the lease.
    let lost_within = tokio::time::Instant::now();
    timeout(Duration::from_secs(4), async {
        while changes.borrow_and_update().is_some() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the lease is reported lost");
    assert!(lost_within.elapsed() <= Duration::from_secs(3));
    server.restart().await.unwrap();
    timeout(SOON, async {
        while changes.borrow_and_update().is_none() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("a lease again after etcd is back");
}

#[tokio::test]
async fn etcd_connect_to_nothing_fails_with_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = cc_cluster::EtcdCoordinator::connect(
        &[format!("127.0.0.1:{port}")],
        Duration::from_millis(500),
    )
    .await;
    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}
