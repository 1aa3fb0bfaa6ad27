//! The callbacks' events, read from the store: every change of a callback is one write of
//! its record (`/cc/callbacks/<id>`) whose last history entry is the change, so watching
//! the store's prefix yields each change exactly when it is durable, in store order, with
//! its revision to resume from. Any node serves it, whoever leads, and a watcher misses
//! nothing across a change of leader.

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, Error, Event, Revision};
use tokio::sync::mpsc;

use crate::core::Record;
use crate::service::ELECTION_KEY;
use crate::store::{PREFIX, decode};

/// Changes a watcher may fall behind before the store's watch waits for it.
const BUFFER: usize = 256;
/// The first pause before watching again after the coordinator's watch broke.
const RETRY: Duration = Duration::from_millis(100);
/// The longest pause between two tries.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// One stored change of a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// The store revision of the change.
    pub revision: Revision,
    /// The callback after it; its last history entry is the change.
    pub record: Record,
}

/// Why a watch cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The store no longer keeps the changes from `requested` on.
    #[error(
        "revision {requested} is compacted (the oldest kept is {oldest}); list the callbacks again and watch from the revision the list names plus one"
    )]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision kept.
        oldest: Revision,
    },
    /// The coordinator did not answer.
    #[error("callback store unavailable: {0}")]
    Unavailable(String),
}

/// The changes of every callback from revision `from` on (0: from now). The stream goes on,
/// resuming the coordinator's watch after it breaks, until the receiver is dropped or the
/// store no longer keeps a revision it needs ([`WatchError::Compacted`], then it ends).
pub async fn watch(
    coordinator: Arc<dyn Coordinator>,
    from: Revision,
) -> Result<mpsc::Receiver<Result<StoredChange, WatchError>>, WatchError> {
    let from = if from > 0 {
        from
    } else {
        // The election's key alone: the cheapest read that says the store's revision.
        let listing = coordinator
            .list(ELECTION_KEY)
            .await
            .map_err(|e| WatchError::Unavailable(e.to_string()))?;
        listing.revision + 1
    };
    let stream = coordinator
        .watch(PREFIX, from)
        .await
        .map_err(|e| error(e, from))?;
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(follow(coordinator, stream, from, tx));
    Ok(rx)
}

fn error(e: Error, from: Revision) -> WatchError {
    match e {
        Error::Compacted { oldest, .. } => WatchError::Compacted {
            requested: from,
            oldest,
        },
        e => WatchError::Unavailable(e.to_string()),
    }
}

/// Forwards the changes, watching again from the next revision after a broken stream.
async fn follow(
    coordinator: Arc<dyn Coordinator>,
    mut stream: cc_cluster::WatchStream,
    mut next: Revision,
    tx: mpsc::Sender<Result<StoredChange, WatchError>>,
) {
    let mut pause = RETRY;
    loop {
        let batch = tokio::select! {
            batch = stream.next() => batch,
            () = tx.closed() => return,
        };
        match batch {
            Some(Ok(events)) => {
                pause = RETRY;
                for event in events {
                    next = next.max(event.revision() + 1);
                    let Event::Put(kv) = event else { continue };
                    let Some(stored) = decode(&kv) else { continue };
                    let change = StoredChange {
                        revision: kv.mod_revision,
                        record: stored.record,
                    };
                    if tx.send(Ok(change)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            Some(Err(e @ Error::Compacted { .. })) => {
                let _ = tx.send(Err(error(e, next))).await;
                return;
            }
            Some(Err(e)) => tracing::debug!(error = %e, "callback watch broke; watching again"),
            None => tracing::debug!("callback watch ended; watching again"),
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = tx.closed() => return,
            }
            pause = (pause * 2).min(RETRY_MAX);
            match coordinator.watch(PREFIX, next).await {
                Ok(resumed) => {
                    stream = resumed;
                    break;
                }
                Err(e @ Error::Compacted { .. }) => {
                    let _ = tx.send(Err(error(e, next))).await;
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "cannot watch the callbacks again yet"),
            }
        }
    }
}
