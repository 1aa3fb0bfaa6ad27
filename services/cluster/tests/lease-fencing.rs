//! A node must stop acting on its lease before the coordinator can expire it, also when the
//! way to the coordinator is cut and a keep-alive hangs instead of failing (a partition
//! answers nothing) right after one that failed at once. On a paused clock: the loss is
//! reported by TTL minus one keep-alive period after the last keep-alive went through,
//! never later. And what was owned under a lease given up for lost never comes back under
//! its old token, even when the coordinator kept the lease and the node confirms it again.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::testing::Faulty;
use cc_cluster::{Coordinator, Event, MemoryCoordinator, NodeLease, Ownership};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_lease_whose_keep_alives_hang_is_lost_before_it_can_expire() {
    const TTL: Duration = Duration::from_secs(3);
    let coordinator = Arc::new(Faulty::default());
    let lease = NodeLease::start(coordinator.clone(), TTL).await.unwrap();
    let mut state = lease.subscribe();
    // Kept alive for a while: never lost. Keep-alives go every TTL / 3 (1 s) from the
    // start; the cut comes half a period after the last one went through.
    tokio::time::sleep(TTL * 3 + TTL / 6).await;
    assert!(lease.current().is_some());
    let cut_at = Instant::now();
    coordinator.cut_keep_alives(true);
    state.borrow_and_update();
    while state.borrow_and_update().is_some() {
        state.changed().await.unwrap();
    }
    let lost_after = cut_at.elapsed();
    // The last keep-alive that went through was sent half a period before the cut: the
    // loss must come no later than TTL - TTL/3 after it (the coordinator may expire the
    // lease from TTL on), i.e. by 1.5 s after the cut, although the keep-alive then in
    // flight hangs until its own timeout.
    assert!(
        lost_after <= TTL - TTL / 3 - TTL / 6,
        "lost {lost_after:?} after the cut (TTL {TTL:?})"
    );
    assert!(
        lost_after > TTL / 6,
        "lost at the first failed keep-alive already: {lost_after:?}"
    );
}

/// Waits until the lease is `lost` (`None`) or back (`Some`).
async fn until_lease(
    state: &mut tokio::sync::watch::Receiver<Option<cc_cluster::LeaseState>>,
    lost: bool,
) {
    while state.borrow_and_update().is_some() == lost {
        state.changed().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn an_ownership_lost_with_a_lease_confirmed_again_comes_back_under_a_new_token() {
    const TTL: Duration = Duration::from_secs(3);
    const KEY: &str = "/cc/own/queue/sales";
    let coordinator = Arc::new(Faulty::default().stretched_leases());
    let lease = NodeLease::start(coordinator.clone(), TTL).await.unwrap();
    let mut state = lease.subscribe();
    let ownership = Ownership::new(coordinator.clone(), KEY, b"queue-a".to_vec());
    let owned = ownership.acquire(&mut lease.subscribe()).await;
    let mut followers = coordinator.watch(KEY, owned.token + 1).await.unwrap();

    // No keep-alive goes through for long enough: the node gives the ownership up...
    coordinator.cut_keep_alives(true);
    ownership.lost(&owned, &mut lease.subscribe()).await;
    // ...but the coordinator kept the lease, and the node confirms it again.
    coordinator.cut_keep_alives(false);
    until_lease(&mut state, false).await;
    assert_eq!(lease.current().map(|s| s.lease), Some(owned.lease));
    let stale = coordinator.get(KEY).await.unwrap().unwrap();
    assert_eq!(
        stale.create_revision, owned.token,
        "the key outlived the loss"
    );

    ownership.retire(&owned).await;
    let again = ownership.acquire(&mut lease.subscribe()).await;
    assert!(again.token > owned.token, "{again:?} after {owned:?}");
    // Whoever follows the owner saw the old incarnation end, then the new one begin.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let batch = followers.next().await.unwrap().unwrap();
        seen.extend(batch.into_iter().map(|e| match e {
            Event::Delete { .. } => "deleted".to_owned(),
            Event::Put(kv) => format!("taken at {}", kv.create_revision),
        }));
    }
    assert_eq!(
        seen,
        ["deleted".to_owned(), format!("taken at {}", again.token)]
    );
}

#[tokio::test(start_paused = true)]
async fn retiring_an_ownership_leaves_a_newer_owner_alone() {
    let coordinator = Arc::new(MemoryCoordinator::default());
    let first = NodeLease::start(coordinator.clone(), Duration::from_secs(3))
        .await
        .unwrap();
    let second = NodeLease::start(coordinator.clone(), Duration::from_secs(3))
        .await
        .unwrap();
    let a = Ownership::new(coordinator.clone(), "/k", b"a".to_vec());
    let b = Ownership::new(coordinator.clone(), "/k", b"b".to_vec());
    let old = a.acquire(&mut first.subscribe()).await;
    a.release(&old).await.unwrap();
    let newer = b.acquire(&mut second.subscribe()).await;
    a.retire(&old).await;
    let holder = coordinator.get("/k").await.unwrap().unwrap();
    assert_eq!(holder.create_revision, newer.token);
    assert_eq!(holder.value, b"b");
}
