//! The reporting node: follows the cluster's events into a store ([`follow`]) and answers
//! `cc.reporting.v1.Reporting` from it ([`api`]).
//!
//! The store is synchronous ([`ReportStore`]); it is used from blocking threads. Writes go
//! through one writer task, in the order the followers hand batches over; reads have a
//! store of their own when the database allows a second connection (SQLite in WAL mode
//! does: a report never waits for an ingest, nor an ingest for a report).

pub mod api;
pub mod convert;
pub mod follow;
pub mod live;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{Checkpoint, IngestBatch, ReportStore, StoreError};
use follow::SourceBatch;

/// How many batches may wait for the writer before the followers wait too.
const QUEUED_BATCHES: usize = 16;
/// The first pause before a failed write is tried again; doubled up to [`RETRY_MAX`].
const RETRY: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

type Shared = Arc<Mutex<Box<dyn ReportStore>>>;

/// The node's store: one for writes, and one for reads (the same one when the database
/// allows a single connection).
#[derive(Clone)]
pub struct Stores {
    writer: Shared,
    reader: Shared,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// A store's operation failed, or its thread did.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the report store's thread failed: {0}")]
    Thread(String),
}

impl Stores {
    /// One store for reads and writes.
    pub fn single(store: Box<dyn ReportStore>) -> Self {
        let shared = Arc::new(Mutex::new(store));
        Self {
            writer: shared.clone(),
            reader: shared,
        }
    }

    /// A store for writes and another (on the same database) for reads.
    pub fn split(writer: Box<dyn ReportStore>, reader: Box<dyn ReportStore>) -> Self {
        Self {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        }
    }

    /// Runs `f` on the read store, on a blocking thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn ReportStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(store.as_mut()).map_err(NodeError::from)
        })
        .await
        .map_err(|e| NodeError::Thread(e.to_string()))?
    }

    /// Where `source` was read up to.
    pub async fn checkpoint(&self, source: String) -> Result<Option<u64>, NodeError> {
        self.read(move |s| s.checkpoint(&source)).await
    }

    async fn write(&self, batch: Arc<SourceBatch>) -> Result<(), NodeError> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = writer.lock().unwrap_or_else(|p| p.into_inner());
            let checkpoint = Checkpoint {
                source: batch.source.clone(),
                position: batch.position,
            };
            store
                .ingest(IngestBatch {
                    events: &batch.events,
                    checkpoint: Some(&checkpoint),
                })
                .map(|_| ())
                .map_err(NodeError::from)
        })
        .await
        .map_err(|e| NodeError::Thread(e.to_string()))?
    }
}

/// Starts the writer: batches sent to the returned sender are ingested in order, each
/// tried again (with back-off) until the store takes it, so an accepted event is never
/// dropped. Ends when every sender is gone.
pub fn start_writer(stores: Stores) -> (mpsc::Sender<SourceBatch>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<SourceBatch>(QUEUED_BATCHES);
    let task = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            let batch = Arc::new(batch);
            let mut pause = RETRY;
            while let Err(e) = stores.write(batch.clone()).await {
                tracing::warn!(error = %e, source = %batch.source, retry_in = ?pause, "reporting: cannot store events; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
            metrics::counter!("cc_reporting_events_ingested_total")
                .increment(batch.events.len() as u64);
        }
    });
    (tx, task)
}
