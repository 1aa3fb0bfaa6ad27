//! The in-memory configuration store of a node: one [`ConfigState`] behind a lock, and a
//! `watch` channel on which every accepted change is published as a whole snapshot.
//!
//! Writes are serialised by the lock and each publishes before the lock is released, so
//! consumers see snapshots in revision order (possibly skipping some: a `watch` keeps only
//! the latest, which is all a consumer that rebuilds from the whole needs).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cc_common::Config;
use cc_common::config::ConfigWatch;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::resource::{Etag, Resource, Versioned};
use crate::state::ConfigState;

/// The organisation's configuration, editable one resource at a time with etags.
///
/// Operations per resource kind (`R` is `Employee`, `Department`, `Number` or `Trunk` from
/// `cc_common::config`): [`list`](Self::list), [`get`](Self::get),
/// [`create`](Self::create), [`update`](Self::update) and [`delete`](Self::delete). A
/// backend that keeps the configuration elsewhere (etcd) offers the same five.
#[derive(Debug)]
pub struct ConfigStore {
    state: Mutex<ConfigState>,
    published: watch::Sender<Arc<Config>>,
}

impl ConfigStore {
    /// A store holding `config` (checked first) as revision 1.
    pub fn new(config: Config) -> Result<Self, StoreError> {
        let state = ConfigState::new(config)?;
        let (published, _) = watch::channel(state.config().clone());
        Ok(Self {
            state: Mutex::new(state),
            published,
        })
    }

    /// The latest snapshot now and every later one: what routing, the queues, presence and
    /// sip-edge follow.
    pub fn subscribe(&self) -> ConfigWatch {
        self.published.subscribe()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Config> {
        self.lock().config().clone()
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.lock().revision()
    }

    /// Every resource of a kind with its etag, and the revision they were read at.
    pub fn list<R: Resource>(&self) -> (Vec<Versioned<R>>, u64) {
        let state = self.lock();
        (state.list(), state.revision())
    }

    /// One resource with its etag.
    pub fn get<R: Resource>(&self, key: &str) -> Result<Versioned<R>, StoreError> {
        self.lock().get(key)
    }

    /// Adds a resource; [`StoreError::AlreadyExists`] if its key is taken.
    pub fn create<R: Resource>(&self, resource: R) -> Result<Versioned<R>, StoreError> {
        self.write(|state| state.create(resource))
    }

    /// Replaces a resource if `etag` is current; [`StoreError::Conflict`] otherwise.
    pub fn update<R: Resource>(&self, resource: R, etag: Etag) -> Result<Versioned<R>, StoreError> {
        self.write(|state| state.update(resource, etag))
    }

    /// Removes a resource if `etag` is current and nothing refers to it.
    pub fn delete<R: Resource>(&self, key: &str, etag: Etag) -> Result<(), StoreError> {
        self.write(|state| state.delete::<R>(key, etag))
    }

    fn write<T>(
        &self,
        change: impl FnOnce(&mut ConfigState) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock();
        let result = change(&mut state)?;
        self.published.send_replace(state.config().clone());
        tracing::info!(revision = state.revision(), "configuration changed");
        Ok(result)
    }

    fn lock(&self) -> MutexGuard<'_, ConfigState> {
        // A panic while the lock was held cannot leave a half-made change: the state is only
        // ever replaced whole, after the check.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
