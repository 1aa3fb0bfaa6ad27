//! Callbacks and messages that survive a restart of a lone `ccd all`, where the coordinator
//! is in memory: [`Journaled`] wraps a coordinator and journals every change of the keys
//! under chosen prefixes (`/cc/callbacks/`, `/cc/messages/`) to a file, one JSON line per
//! change (`{"key": .., "value": ..}`, the value `null` for a deletion), synced before the
//! write is answered. Opening it replays the
//! file into the coordinator and compacts it: the live keys are written to a temporary file,
//! synced and renamed over the journal. It compacts again when the journal has grown by as
//! many lines as there were live keys (at least `compact_after`).
//!
//! Everything else passes through untouched. Keys under the prefixes are replayed without
//! their lease (callbacks and messages have none). Writes under the prefixes are serialised, so the file
//! has them in the coordinator's order. A torn last line (a crash mid-write) is skipped with
//! a warning. If a line cannot be written, the write is answered
//! [`Error::Unavailable`] (it did land in memory, which is what a lost answer looks like to
//! the store) and the next write rewrites the whole journal from memory first.
//!
//! In a cluster etcd is durable by itself and this is not used.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{
    Coordinator, Error, Expect, KeyValue, LeaseId, Listing, Revision, Swap, WatchStream, Write,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// Journal lines appended before a compaction is considered, at least.
pub const COMPACT_AFTER: usize = 10_000;

/// One change as journaled.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    key: String,
    /// The new value; `None` when the key was deleted.
    value: Option<String>,
    /// The coordinator's revision when the line was written, at least (older journals
    /// have none). A store rebuilt from the journal starts beyond the highest one: values
    /// carry revisions as fencing tokens, which must stay older than the new ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<Revision>,
}

/// A coordinator whose keys under some prefixes are kept in a file too.
#[derive(Debug)]
pub struct Journaled {
    inner: Arc<dyn Coordinator>,
    prefixes: Vec<String>,
    compact_after: usize,
    journal: Mutex<Journal>,
}

#[derive(Debug)]
struct Journal {
    path: PathBuf,
    /// Open for appending; `None` while a write is in flight or after a failure.
    file: Option<File>,
    /// Lines appended since the last compaction.
    appended: usize,
    /// Keys written by the last compaction.
    live: usize,
    /// A line may be missing or torn: rewrite the journal before the next line.
    broken: bool,
    /// The highest revision the journal has seen, in this process or an earlier one.
    high: Revision,
}

impl Journaled {
    /// Replays the journal at `path` (none yet is fine) into `inner`, compacts it, and
    /// journals every later change under `prefixes` made through the returned coordinator.
    /// Keys the journal holds under other prefixes are dropped (a prefix no longer kept).
    pub async fn open(
        path: impl Into<PathBuf>,
        inner: Arc<dyn Coordinator>,
        prefixes: &[&str],
    ) -> io::Result<Self> {
        Self::with_compaction(path, inner, prefixes, COMPACT_AFTER).await
    }

    /// As [`Journaled::open`], compacting after at least `compact_after` lines (tests).
    pub async fn with_compaction(
        path: impl Into<PathBuf>,
        inner: Arc<dyn Coordinator>,
        prefixes: &[&str],
        compact_after: usize,
    ) -> io::Result<Self> {
        let path = path.into();
        let prefixes: Vec<String> = prefixes.iter().map(|p| (*p).to_owned()).collect();
        if prefixes.iter().any(String::is_empty) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an empty prefix would journal every key",
            ));
        }
        let (entries, high) = blocking({
            let path = path.clone();
            move || replay(&path)
        })
        .await?;
        let mut replayed = 0usize;
        for (key, value) in entries {
            if prefixes.iter().any(|p| key.starts_with(p.as_str())) {
                inner
                    .put(&key, value.into_bytes(), None)
                    .await
                    .map_err(io::Error::other)?;
                replayed += 1;
            }
        }
        tracing::info!(path = %path.display(), keys = replayed, revision = high, "journal replayed");
        let journaled = Self {
            inner,
            prefixes,
            compact_after: compact_after.max(1),
            journal: Mutex::new(Journal {
                path,
                file: None,
                appended: 0,
                live: 0,
                broken: true,
                high,
            }),
        };
        {
            let mut journal = journaled.journal.lock().await;
            journaled.compact(&mut journal).await?;
        }
        Ok(journaled)
    }

    /// The highest revision the journal names (an earlier process's, or the replay's
    /// own): the coordinator it was replayed into must give greater ones from now on (for
    /// the in-memory one, [`cc_cluster::MemoryCoordinator::advance_revision`]).
    pub async fn revision_floor(&self) -> Revision {
        self.journal.lock().await.high
    }

    fn journaled(&self, key: &str) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p.as_str()))
    }

    /// Rewrites the journal from the coordinator's keys under the prefixes.
    async fn compact(&self, journal: &mut Journal) -> io::Result<()> {
        let mut kvs = Vec::new();
        for prefix in &self.prefixes {
            let listing = self.inner.list(prefix).await.map_err(io::Error::other)?;
            kvs.extend(listing.kvs);
        }
        // Nested prefixes would list a key twice.
        kvs.sort_by(|a, b| a.key.cmp(&b.key));
        kvs.dedup_by(|a, b| a.key == b.key);
        let mut bytes = Vec::new();
        let high = kvs
            .iter()
            .map(|kv| kv.mod_revision)
            .fold(journal.high, Revision::max);
        for kv in &kvs {
            let line = Line {
                key: kv.key.clone(),
                value: Some(String::from_utf8_lossy(&kv.value).into_owned()),
                revision: Some(high),
            };
            serde_json::to_writer(&mut bytes, &line).map_err(io::Error::other)?;
            bytes.push(b'\n');
        }
        journal.file = None;
        let path = journal.path.clone();
        let file = blocking(move || snapshot(&path, &bytes)).await?;
        journal.file = Some(file);
        journal.appended = 0;
        journal.live = kvs.len();
        journal.broken = false;
        journal.high = high;
        Ok(())
    }

    /// Journals a change already made in the coordinator.
    async fn record(
        &self,
        journal: &mut Journal,
        key: &str,
        value: Option<&[u8]>,
        revision: Option<Revision>,
    ) -> Result<(), Error> {
        if let Some(revision) = revision {
            journal.high = journal.high.max(revision);
        }
        let path = journal.path.display().to_string();
        let unavailable = |e: io::Error| {
            tracing::error!(%path, error = %e, "cannot write the journal");
            Error::Unavailable(format!("journal: {e}"))
        };
        if journal.broken {
            // The rewrite from memory includes this change.
            return self.compact(journal).await.map_err(unavailable);
        }
        let line = Line {
            key: key.to_owned(),
            value: value.map(|v| String::from_utf8_lossy(v).into_owned()),
            revision,
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|e| Error::Invalid(e.to_string()))?;
        bytes.push(b'\n');
        let file = journal.file.take();
        let appended = blocking(move || {
            let mut file = file.ok_or_else(|| io::Error::other("journal not open"))?;
            file.write_all(&bytes)?;
            file.sync_data()?;
            Ok(file)
        })
        .await;
        match appended {
            Ok(file) => {
                journal.file = Some(file);
                journal.appended += 1;
                if journal.appended >= journal.live.max(self.compact_after)
                    && let Err(e) = self.compact(journal).await
                {
                    // The line is written; the next write tries the rewrite again.
                    tracing::warn!(error = %e, "cannot compact the journal");
                    journal.broken = true;
                }
                Ok(())
            }
            Err(e) => {
                journal.broken = true;
                Err(unavailable(e))
            }
        }
    }
}

#[async_trait::async_trait]
impl Coordinator for Journaled {
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
        if !self.journaled(key) {
            return self.inner.put(key, value, lease).await;
        }
        let mut journal = self.journal.lock().await;
        let revision = self.inner.put(key, value.clone(), lease).await?;
        self.record(&mut journal, key, Some(&value), Some(revision))
            .await?;
        Ok(revision)
    }

    async fn delete(&self, key: &str) -> Result<bool, Error> {
        if !self.journaled(key) {
            return self.inner.delete(key).await;
        }
        let mut journal = self.journal.lock().await;
        let existed = self.inner.delete(key).await?;
        if existed {
            self.record(&mut journal, key, None, None).await?;
        }
        Ok(existed)
    }

    async fn swap(&self, key: &str, expect: Expect, write: Write) -> Result<Swap, Error> {
        if !self.journaled(key) {
            return self.inner.swap(key, expect, write).await;
        }
        let mut journal = self.journal.lock().await;
        let value = match &write {
            Write::Put { value, .. } => Some(value.clone()),
            Write::Delete => None,
        };
        let swapped = self.inner.swap(key, expect, write).await?;
        if let Swap::Done(revision) = swapped {
            self.record(&mut journal, key, value.as_deref(), Some(revision))
                .await?;
        }
        Ok(swapped)
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, Error> {
        self.inner.grant(ttl).await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), Error> {
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

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

/// The keys and values the journal at `path` ends with (nothing if there is no journal),
/// and the highest revision it names (0 when none).
fn replay(path: &Path) -> io::Result<(BTreeMap<String, String>, Revision)> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((BTreeMap::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut entries = BTreeMap::new();
    let mut high: Revision = 0;
    for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(line) => {
                high = high.max(line.revision.unwrap_or(0));
                match line.value {
                    Some(value) => entries.insert(line.key, value),
                    None => entries.remove(&line.key),
                };
            }
            Err(e) => tracing::warn!(
                path = %path.display(), line = n + 1, error = %e,
                "skipping an unreadable journal line (torn by a crash?)"
            ),
        }
    }
    Ok((entries, high))
}

/// Writes `bytes` as the new journal (temporary file, sync, rename, sync the directory) and
/// opens it for appending.
fn snapshot(path: &Path, bytes: &[u8]) -> io::Result<File> {
    let temporary = path.with_extension("tmp");
    {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    OpenOptions::new().append(true).open(path)
}
