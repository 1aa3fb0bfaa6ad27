//! The messages' changes, read from the store: every change of a message is one write (or
//! the deletion) of its key, so watching `/cc/messages/` yields each change exactly when it
//! is durable, in store order, with its revision to resume from. Any node serves it.

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, Error, Event, Revision};
use tokio::sync::mpsc;

use super::record::{Message, MessageId};
use super::store::{PREFIX, decode};

/// Changes a watcher may fall behind before the store's watch waits for it.
const BUFFER: usize = 256;
/// The first pause before watching again after the coordinator's watch broke.
const RETRY: Duration = Duration::from_millis(100);
/// The longest pause between two tries.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// A prefix no message key has (ids start with a letter or digit): listing it is the
/// cheapest read that says the store's revision.
const PROBE: &str = "/cc/messages/.";

/// One stored change of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The store revision of the change.
    pub revision: Revision,
    pub kind: ChangeKind,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new message.
    Created(Box<Message>),
    /// A message after a change.
    Updated(Box<Message>),
    /// A message was deleted.
    Deleted(MessageId),
}

/// Why a watch cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The store no longer keeps the changes from `requested` on.
    #[error(
        "revision {requested} is compacted (the oldest kept is {oldest}); list the messages again and watch from the revision the list names plus one"
    )]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision kept.
        oldest: Revision,
    },
    /// The coordinator did not answer.
    #[error("message store unavailable: {0}")]
    Unavailable(String),
}

/// The changes of every message from revision `from` on (0: from now). The stream goes on,
/// resuming the coordinator's watch after it breaks, until the receiver is dropped or the
/// store no longer keeps a revision it needs ([`WatchError::Compacted`], then it ends).
pub async fn watch(
    coordinator: Arc<dyn Coordinator>,
    from: Revision,
) -> Result<mpsc::Receiver<Result<Change, WatchError>>, WatchError> {
    let from = if from > 0 {
        from
    } else {
        let listing = coordinator
            .list(PROBE)
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

/// A coordinator event as a message change; `None` for a value that cannot be read
/// (logged).
fn change(event: Event) -> Option<Change> {
    match event {
        Event::Put(kv) => match decode(&kv) {
            Ok(stored) => Some(Change {
                revision: kv.mod_revision,
                kind: if stored.created {
                    ChangeKind::Created(Box::new(stored.message))
                } else {
                    ChangeKind::Updated(Box::new(stored.message))
                },
            }),
            Err(e) => {
                tracing::warn!(key = %kv.key, error = %e, "skipping an unreadable message change");
                None
            }
        },
        Event::Delete { key, mod_revision } => {
            let id = key.strip_prefix(PREFIX)?;
            Some(Change {
                revision: mod_revision,
                kind: ChangeKind::Deleted(MessageId::from_key(id)),
            })
        }
    }
}

/// Forwards the changes, watching again from the next revision after a broken stream.
async fn follow(
    coordinator: Arc<dyn Coordinator>,
    mut stream: cc_cluster::WatchStream,
    mut next: Revision,
    tx: mpsc::Sender<Result<Change, WatchError>>,
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
                    let Some(change) = change(event) else {
                        continue;
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
            Some(Err(e)) => tracing::debug!(error = %e, "message watch broke; watching again"),
            None => tracing::debug!("message watch ended; watching again"),
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
                Err(e) => tracing::debug!(error = %e, "cannot watch the messages again yet"),
            }
        }
    }
}
