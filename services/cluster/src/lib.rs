//! Coordination between nodes (DESIGN.md section 4).
//!
//! One [`Coordinator`] trait with two backends that pass the same conformance suite:
//! [`EtcdCoordinator`] (a real etcd v3 cluster) and [`MemoryCoordinator`] (in-process, for
//! `ccd all` on one machine with no etcd). On top of the trait, and therefore identical for
//! both backends:
//!
//! - [`NodeLease`]: one lease per node, kept alive, granted again when it is lost (an etcd
//!   restart after the TTL ran out, a partition), with a generation number so that whatever
//!   hung off the old lease is put back;
//! - [`Follower`]: a prefix listed and then watched, resumed from the last revision seen after
//!   a broken stream and listed again after compaction;
//! - [`Ownership`]: a key owned by one node at a time, bound to its lease, with the key's
//!   create revision as a fencing token (elections are ownership of a well-known key);
//! - [`Registration`] and [`Members`]: nodes registered under their lease with address and
//!   load, followed by the clients that pick one;
//! - [`Owners`], [`routed`] and [`Peers`]: gRPC channels that follow the nodes of a service
//!   or the owner of a key as they change;
//! - [`ShardClaims`] and [`ShardRoutes`]: a service cut into shards, each owned by one node,
//!   spread evenly over the nodes, and a channel to each shard's owner.
//!
//! Keys are UTF-8 paths (`/cc/nodes/<service>/<node>` ...); values are bytes. Nothing per
//! call or per packet ever goes through here.

mod backoff;
mod discovery;
mod etcd;
mod follow;
mod lease;
mod membership;
mod memory;
mod namespace;
mod ownership;
mod shards;
pub mod testing;

use std::fmt;
use std::time::Duration;

pub use discovery::{NodeTasks, Owner, Owners, Peers, endpoint, follow_nodes, routed};
pub use etcd::EtcdCoordinator;
pub use follow::{Follower, Update};
pub use lease::{LeaseState, NodeLease};
pub use membership::{Members, NODES, NodeInfo, Registration};
pub use memory::MemoryCoordinator;
pub use namespace::Namespaced;
pub use ownership::{Owned, Ownership};
pub use shards::{
    RELEASE_PAUSE, RELEASE_PAUSE_MAX, ShardClaims, ShardHolder, ShardRoutes, Step, UNOWNED_GRACE,
    View, fnv1a, next_step,
};

/// The key space (DESIGN.md section 4).
pub mod keys {
    /// Where nodes register: `/cc/nodes/<service>/<node>`.
    pub use crate::membership::NODES;

    /// Where the owner of each department's queue is written, its value the owner's
    /// [`crate::NodeInfo`] as JSON.
    pub const QUEUE_OWNERS: &str = "/cc/own/queue/";

    /// Where the owner of each presence shard is written (value as for queues).
    pub const PRESENCE_OWNERS: &str = "/cc/own/presence/";

    /// How many shards presence's agents are cut into: each shard is owned by one presence
    /// node at a time, the shards spread evenly over the presence nodes
    /// ([`crate::ShardClaims`]). Fixed for the cluster: changing it moves most agents.
    pub const PRESENCE_SHARDS: u32 = 8;

    /// The presence shard that owns `agent`'s state.
    pub fn presence_shard(agent: &str) -> u32 {
        crate::shards::fnv1a(agent) % PRESENCE_SHARDS
    }

    /// The ownership key of a department's queue.
    pub fn queue_owner(department: &str) -> String {
        format!("{QUEUE_OWNERS}{department}")
    }

    /// The ownership key of a presence shard.
    pub fn presence_owner(shard: u32) -> String {
        format!("{PRESENCE_OWNERS}{shard}")
    }
}

/// A store revision: increases by one with every change anywhere in the key space.
pub type Revision = i64;

/// A lease handed out by [`Coordinator::grant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub i64);

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// One key with its value and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision that created the key (it changes when the key is deleted and created
    /// again, so it identifies one incarnation: a fencing token for ownership keys).
    pub create_revision: Revision,
    /// The revision of the last change to the key.
    pub mod_revision: Revision,
    /// The lease the key is bound to, if any.
    pub lease: Option<LeaseId>,
}

/// The keys under a prefix at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The store revision the listing was read at: watch from `revision + 1` to see every
    /// change after it.
    pub revision: Revision,
    /// The keys, in key order.
    pub kvs: Vec<KeyValue>,
}

/// What a compare-and-swap expects the key to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The key does not exist.
    Absent,
    /// The key exists and was last changed at this revision.
    ModRevision(Revision),
}

/// What a compare-and-swap does when the expectation holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Put {
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Delete,
}

/// The outcome of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// Written; the store is now at this revision.
    Done(Revision),
    /// The expectation did not hold: nothing was written. The key as it is now.
    Conflict(Option<KeyValue>),
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Put(KeyValue),
    Delete { key: String, mod_revision: Revision },
}

impl Event {
    pub fn key(&self) -> &str {
        match self {
            Event::Put(kv) => &kv.key,
            Event::Delete { key, .. } => key,
        }
    }

    /// The revision of the change.
    pub fn revision(&self) -> Revision {
        match self {
            Event::Put(kv) => kv.mod_revision,
            Event::Delete { mod_revision, .. } => *mod_revision,
        }
    }
}

/// Changes under a watched prefix, in revision order, in batches (one batch holds every
/// change of one revision or more). The stream ends with an error (the coordinator went
/// away, or the start revision was compacted) or when the coordinator is dropped; either
/// way the watcher resumes with a new [`Coordinator::watch`] from the revision after the
/// last one it saw ([`Follower`] does exactly that).
#[derive(Debug)]
pub struct WatchStream {
    rx: tokio::sync::mpsc::Receiver<Result<Vec<Event>, Error>>,
}

impl WatchStream {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<Result<Vec<Event>, Error>>) -> Self {
        Self { rx }
    }

    /// The next batch; `None` when the stream ended without an error.
    pub async fn next(&mut self) -> Option<Result<Vec<Event>, Error>> {
        self.rx.recv().await
    }
}

/// Errors of the coordinator. Every one is a reason to retry later, except [`Error::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The coordinator cannot be reached or did not answer in time.
    #[error("coordinator unavailable: {0}")]
    Unavailable(String),
    /// A watch asked for history that was compacted away: list again, then watch.
    #[error("revision {requested} is compacted (the oldest kept is {oldest})")]
    Compacted {
        requested: Revision,
        oldest: Revision,
    },
    /// The lease expired or was revoked; keys bound to it are gone.
    #[error("lease {0} not found (expired or revoked)")]
    LeaseNotFound(LeaseId),
    /// A request the coordinator refuses as such (an empty key, a zero TTL ...).
    #[error("invalid coordinator request: {0}")]
    Invalid(String),
}

/// The coordination primitives both backends implement (DESIGN.md section 4).
#[async_trait::async_trait]
pub trait Coordinator: Send + Sync + fmt::Debug + 'static {
    /// One key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error>;

    /// Every key starting with `prefix`, with the revision they were read at.
    async fn list(&self, prefix: &str) -> Result<Listing, Error>;

    /// Writes a key unconditionally (bound to `lease` when given); returns the new revision.
    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<Revision, Error>;

    /// Deletes a key; true when it existed.
    async fn delete(&self, key: &str) -> Result<bool, Error>;

    /// Writes only if the key is as expected, atomically.
    async fn swap(&self, key: &str, expect: Expect, write: Write) -> Result<Swap, Error>;

    /// A new lease that expires `ttl` after its last keep-alive (rounded up to seconds).
    async fn grant(&self, ttl: Duration) -> Result<LeaseId, Error>;

    /// Refreshes a lease to its full TTL; [`Error::LeaseNotFound`] when it is gone.
    async fn keep_alive(&self, lease: LeaseId) -> Result<(), Error>;

    /// Ends a lease now, deleting its keys. Revoking a lease that is gone is not an error.
    async fn revoke(&self, lease: LeaseId) -> Result<(), Error>;

    /// Changes under `prefix` from revision `from` on (history first, then live).
    /// `from` older than the compacted history fails with [`Error::Compacted`], either here
    /// or as the first item of the stream.
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, Error>;

    /// Forgets history before `revision` (operators and tests; etcd compacts by itself
    /// when configured to).
    async fn compact(&self, revision: Revision) -> Result<(), Error>;
}

/// Rounds a TTL up to whole seconds, at least one (what etcd grants).
pub(crate) fn ttl_seconds(ttl: Duration) -> i64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}
