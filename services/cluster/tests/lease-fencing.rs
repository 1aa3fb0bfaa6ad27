//! A node must stop acting on its lease before the coordinator can expire it, also when the
//! way to the coordinator is cut and a keep-alive hangs instead of failing (a partition
//! answers nothing) right after one that failed at once. On a paused clock: the loss is reported by TTL minus one keep-alive
//! period after the last keep-alive went through, never later.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cc_cluster::{
    Coordinator, Error, Expect, KeyValue, LeaseId, Listing, MemoryCoordinator, NodeLease, Revision,
    Swap, WatchStream, Write,
};
use tokio::time::Instant;

/// The in-memory coordinator, except that while `cut` is set the first keep-alive fails at
/// once (a connection refused) and every later one hangs (packets dropped).
#[derive(Debug, Default)]
struct Partitioned {
    inner: MemoryCoordinator,
    cut: AtomicBool,
    refused_once: AtomicBool,
}

#[async_trait::async_trait]
impl Coordinator for Partitioned {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Listing, Error> {
        self.inner.list(prefix).await
    }
    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<Revision, Error> {
        self.inner.put(key, value, lease).await
    }
    async fn delete(&self, key: &str) -> Result<bool, Error> {
        self.inner.delete(key).await
    }
    async fn swap(&self, key: &str, expect: Expect, write: Write) -> Result<Swap, Error> {
        self.inner.swap(key, expect, write).await
    }
    async fn grant(&self, ttl: Duration) -> Result<LeaseId, Error> {
        self.inner.grant(ttl).await
    }
    async fn keep_alive(&self, lease: LeaseId) -> Result<(), Error> {
        if self.cut.load(Ordering::SeqCst) {
            if !self.refused_once.swap(true, Ordering::SeqCst) {
                return Err(Error::Unavailable("connection refused".into()));
            }
            std::future::pending::<()>().await;
        }
        self.inner.keep_alive(lease).await
    }
    async fn revoke(&self, lease: LeaseId) -> Result<(), Error> {
        self.inner.revoke(lease).await
    }
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, Error> {
        self.inner.watch(prefix, from).await
    }
    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        self.inner.compact(revision).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_lease_whose_keep_alives_hang_is_lost_before_it_can_expire() {
    const TTL: Duration = Duration::from_secs(3);
    let coordinator = Arc::new(Partitioned::default());
    let lease = NodeLease::start(coordinator.clone(), TTL).await.unwrap();
    let mut state = lease.subscribe();
    // Kept alive for a while: never lost. Keep-alives go every TTL / 3 (1 s) from the
    // start; the cut comes half a period after the last one went through.
    tokio::time::sleep(TTL * 3 + TTL / 6).await;
    assert!(lease.current().is_some());
    let cut_at = Instant::now();
    coordinator.cut.store(true, Ordering::SeqCst);
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
