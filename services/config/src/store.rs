//! A node's view of the organisation's configuration, kept in the coordinator (etcd in a
//! cluster, the in-memory coordinator under a lone `ccd all`) under one key.
//!
//! Every node holds the latest [`ConfigState`] it has seen and follows the key, so a change
//! made through any node's API reaches every node. A write reads the node's state, applies
//! the change to it (etag and validation checks included) and stores the result with a
//! compare-and-swap on the key's revision; when another node wrote in between, the write is
//! applied again to that newer state, so two admins never lose each other's changes and a
//! stale etag is still refused. The first node of an empty cluster seeds the key from its
//! file; later nodes take what is stored (their file only gives their own `[sip]`,
//! `[grpc]` and `[media]` settings).
//!
//! Consumers see snapshots in revision order (possibly skipping some: a `watch` keeps only
//! the latest, which is all a consumer that rebuilds from the whole needs).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cc_cluster::{Coordinator, Expect, Follower, Revision, Swap, Write};
use cc_common::config::ConfigWatch;
use cc_common::{Config, Shutdown};
use tokio::sync::watch;

use crate::error::StoreError;
use crate::resource::{Etag, Resource, Versioned};
use crate::state::ConfigState;

/// Where the organisation's configuration is kept in the coordinator.
pub const KEY: &str = "/cc/config/organization";

/// The most bytes the stored configuration may take. etcd refuses a request above its
/// `--max-request-bytes`, 1.5 MiB (1,572,864 bytes) by default, and a write is the value plus
/// the key and the compare-and-swap around it (about 100 bytes): this leaves room for them.
/// Checked whatever the coordinator, so that a configuration a lone node accepts also fits
/// a cluster; what etcd refuses anyway (run with a smaller limit) fails as unavailable.
pub const MAX_STORED_BYTES: usize = 1_500_000;

/// How often a write is applied again to a newer state before giving up (only many nodes
/// writing at the same instant get near this).
const MAX_ATTEMPTS: usize = 16;

/// The organisation's configuration, editable one resource at a time with etags.
///
/// Operations per resource kind (`R` is `Employee`, `Department`, `Number`, `Trunk`,
/// `Schedule`, `Scenario`, `CallerList` or `Screening` from `cc_common::config`):
/// [`list`](Self::list), [`get`](Self::get), [`create`](Self::create),
/// [`update`](Self::update) and [`delete`](Self::delete). A write that would make the
/// stored configuration larger than [`MAX_STORED_BYTES`] is refused with
/// [`StoreError::TooLarge`] and changes nothing.
#[derive(Debug)]
pub struct ConfigStore {
    coordinator: Arc<dyn Coordinator>,
    /// This node's file: its own settings, and the seed of an empty cluster.
    node: Config,
    current: Mutex<Current>,
    published: watch::Sender<Arc<Config>>,
}

#[derive(Debug)]
struct Current {
    state: ConfigState,
    /// The coordinator revision of the key `state` was read from or written as.
    stored_at: Revision,
}

impl ConfigStore {
    /// Opens the configuration kept in `coordinator`, seeding it with `node` (checked
    /// first) when there is none, and follows it until `shutdown`.
    pub async fn open(
        coordinator: Arc<dyn Coordinator>,
        node: Config,
        mut shutdown: Shutdown,
    ) -> Result<Arc<Self>, StoreError> {
        let seed = ConfigState::new(node.clone())?;
        let unavailable = |e: cc_cluster::Error| StoreError::Unavailable(e.to_string());
        let value = seed.to_stored();
        let seeded = if let Err(too_large) = fits(&value) {
            // This node's file cannot seed the cluster; what is stored may still serve it.
            match coordinator.get(KEY).await.map_err(unavailable)? {
                Some(kv) => Swap::Conflict(Some(kv)),
                None => return Err(too_large),
            }
        } else {
            let write = Write::Put { value, lease: None };
            coordinator
                .swap(KEY, Expect::Absent, write)
                .await
                .map_err(unavailable)?
        };
        let (state, stored_at) = match seeded {
            Swap::Done(revision) => {
                tracing::info!("configuration seeded from this node's file");
                (seed, revision)
            }
            Swap::Conflict(Some(kv)) => {
                let state = ConfigState::from_stored(&kv.value, &node)?;
                tracing::info!(
                    revision = state.revision(),
                    "configuration taken from the coordinator (the file's organisation is not used)"
                );
                (state, kv.mod_revision)
            }
            Swap::Conflict(None) => {
                return Err(StoreError::Unavailable(
                    "the configuration key vanished while it was being seeded".into(),
                ));
            }
        };
        let (published, _) = watch::channel(state.config().clone());
        let store = Arc::new(Self {
            coordinator: coordinator.clone(),
            node,
            current: Mutex::new(Current { state, stored_at }),
            published,
        });
        let follower_store = Arc::downgrade(&store);
        tokio::spawn(async move {
            let mut follower = Follower::new(coordinator, KEY);
            loop {
                tokio::select! {
                    _ = follower.next() => {}
                    () = shutdown.wait() => return,
                }
                let Some(store) = follower_store.upgrade() else {
                    return;
                };
                if let Some(kv) = follower.kvs().get(KEY) {
                    store.install(&kv.value, kv.mod_revision);
                }
            }
        });
        Ok(store)
    }

    /// A store of its own in memory, seeded with `config` (tests, tools): nobody else
    /// writes to it, so it needs no follower.
    pub async fn in_memory(config: Config) -> Result<Arc<Self>, StoreError> {
        let (_, shutdown) = Shutdown::new();
        Self::open(
            Arc::new(cc_cluster::MemoryCoordinator::default()),
            config,
            shutdown,
        )
        .await
    }

    /// The latest snapshot now and every later one: what routing, the queues, presence and
    /// sip-edge follow.
    pub fn subscribe(&self) -> ConfigWatch {
        self.published.subscribe()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Config> {
        self.lock().state.config().clone()
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.lock().state.revision()
    }

    /// Every resource of a kind with its etag, and the revision they were read at.
    pub fn list<R: Resource>(&self) -> (Vec<Versioned<R>>, u64) {
        let current = self.lock();
        (current.state.list(), current.state.revision())
    }

    /// One resource with its etag.
    pub fn get<R: Resource>(&self, key: &str) -> Result<Versioned<R>, StoreError> {
        self.lock().state.get(key)
    }

    /// Adds a resource; [`StoreError::AlreadyExists`] if its key is taken.
    pub async fn create<R: Resource>(&self, resource: R) -> Result<Versioned<R>, StoreError> {
        self.write(|state| state.create(resource.clone())).await
    }

    /// Replaces a resource if `etag` is current; [`StoreError::Conflict`] otherwise.
    pub async fn update<R: Resource>(
        &self,
        resource: R,
        etag: Etag,
    ) -> Result<Versioned<R>, StoreError> {
        self.write(|state| state.update(resource.clone(), etag))
            .await
    }

    /// Removes a resource if `etag` is current and nothing refers to it.
    pub async fn delete<R: Resource>(&self, key: &str, etag: Etag) -> Result<(), StoreError> {
        self.write(|state| state.delete::<R>(key, etag)).await
    }

    /// Applies `change` to the latest state and stores the result if nobody wrote in
    /// between; otherwise applies it again to the newer state.
    async fn write<T>(
        &self,
        change: impl Fn(&mut ConfigState) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let (mut state, stored_at) = {
                let current = self.lock();
                (current.state.clone(), current.stored_at)
            };
            let result = change(&mut state)?;
            let value = state.to_stored();
            fits(&value)?;
            let write = Write::Put {
                value: value.clone(),
                lease: None,
            };
            match self
                .coordinator
                .swap(KEY, Expect::ModRevision(stored_at), write)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
            {
                Swap::Done(revision) => {
                    self.install(&value, revision);
                    tracing::info!(revision = state.revision(), "configuration changed");
                    return Ok(result);
                }
                Swap::Conflict(Some(kv)) => self.install(&kv.value, kv.mod_revision),
                Swap::Conflict(None) => {
                    return Err(StoreError::Unavailable(format!(
                        "the configuration key {KEY} was deleted from the coordinator"
                    )));
                }
            }
        }
        Err(StoreError::Unavailable(
            "other nodes kept changing the configuration at the same time".into(),
        ))
    }

    /// Makes a stored state current if it is newer than the node's, and publishes it.
    fn install(&self, value: &[u8], stored_at: Revision) {
        let mut current = self.lock();
        if stored_at <= current.stored_at {
            return;
        }
        match ConfigState::from_stored(value, &self.node) {
            Ok(state) => {
                current.state = state;
                current.stored_at = stored_at;
                self.published.send_replace(current.state.config().clone());
            }
            Err(e) => {
                // Keep serving the last good configuration; say loudly why not the new one.
                tracing::error!(error = %e, revision = stored_at, "ignoring a stored configuration");
                current.stored_at = stored_at;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Current> {
        // A panic while the lock was held cannot leave a half-made change: the state is only
        // ever replaced whole, after the check.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a stored configuration is small enough for the coordinator.
fn fits(value: &[u8]) -> Result<(), StoreError> {
    if value.len() > MAX_STORED_BYTES {
        return Err(StoreError::TooLarge {
            size: value.len(),
            limit: MAX_STORED_BYTES,
        });
    }
    Ok(())
}
