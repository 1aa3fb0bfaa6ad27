//! The data directory of a node without etcd (`--data-dir`): its coordinator is in memory,
//! so what must outlive the process (messages, callbacks) is journaled to a file there and
//! replayed at start. The directory is locked for the life of the process: two nodes
//! replaying and appending to one journal would each lose the other's writes.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use cc_callback::journal::Journaled;
use cc_cluster::{Coordinator, MemoryCoordinator};

/// The key prefixes kept across restarts.
const KEPT: [&str; 2] = [cc_callback::messages::PREFIX, cc_callback::store::PREFIX];

/// A locked data directory; the lock goes with the value (or the process).
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Held locked, never read.
    _lock: File,
}

impl DataDir {
    /// Creates `path` if needed and locks it for this process.
    pub fn open(path: &Path) -> anyhow::Result<DataDir> {
        std::fs::create_dir_all(path)
            .with_context(|| format!("cannot create the data directory {}", path.display()))?;
        let lock_path = path.join("ccd.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "the data directory {} is in use by another ccd: give each node its own --data-dir",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()));
            }
        }
        Ok(DataDir {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// `memory` with messages and callbacks journaled in this directory (what an earlier
    /// process kept is replayed into it first).
    pub async fn journaled(
        &self,
        memory: Arc<MemoryCoordinator>,
    ) -> anyhow::Result<Arc<dyn Coordinator>> {
        let journal = self.path.join("journal.jsonl");
        let journaled = Journaled::open(&journal, memory.clone(), &KEPT)
            .await
            .with_context(|| format!("cannot replay the journal {}", journal.display()))?;
        // Callbacks carry the scheduler leader's token (a revision of the earlier process):
        // the tokens of this one must be greater, or its leader would take itself for an
        // older one.
        memory.advance_revision(journaled.revision_floor().await);
        tracing::info!(journal = %journal.display(), "messages and callbacks are kept in the data directory");
        Ok(Arc::new(journaled))
    }
}
