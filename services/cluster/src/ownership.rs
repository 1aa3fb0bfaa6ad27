//! Keys owned by one node at a time: a department's queue (`/cc/own/queue/<dept>`), the
//! callback scheduler's leadership (`/cc/election/callback`). The owner's key is bound to
//! its node lease, so it disappears when the node dies; the key's create revision is the
//! fencing token: a new owner always has a higher one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::{
    Coordinator, Error, Event, Expect, KeyValue, LeaseId, LeaseState, Revision, Swap, Write,
};

/// Ownership of one key held under one lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub key: String,
    pub lease: LeaseId,
    /// The key's create revision: strictly greater than every earlier owner's.
    pub token: Revision,
}

/// Acquiring, watching and releasing ownership of a key.
#[derive(Debug, Clone)]
pub struct Ownership {
    coordinator: Arc<dyn Coordinator>,
    key: String,
    value: Vec<u8>,
}

impl Ownership {
    /// Ownership of `key`; `value` says who owns it (e.g. the node's id and address).
    pub fn new(coordinator: Arc<dyn Coordinator>, key: impl Into<String>, value: Vec<u8>) -> Self {
        Self {
            coordinator,
            key: key.into(),
            value,
        }
    }

    /// Takes the key if nobody holds it; `Ok(Err(holder))` when someone else does.
    pub async fn try_acquire(&self, lease: LeaseId) -> Result<Result<Owned, KeyValue>, Error> {
        let put = Write::Put {
            value: self.value.clone(),
            lease: Some(lease),
        };
        match self
            .coordinator
            .swap(&self.key, Expect::Absent, put)
            .await?
        {
            Swap::Done(revision) => Ok(Ok(self.owned(lease, revision))),
            // Ours already (asked again after a lost answer, or by a second task).
            Swap::Conflict(Some(kv)) if kv.lease == Some(lease) => {
                Ok(Ok(self.owned(lease, kv.create_revision)))
            }
            Swap::Conflict(Some(kv)) => Ok(Err(kv)),
            // Deleted in between: try again.
            Swap::Conflict(None) => Box::pin(self.try_acquire(lease)).await,
        }
    }

    fn owned(&self, lease: LeaseId, token: Revision) -> Owned {
        Owned {
            key: self.key.clone(),
            lease,
            token,
        }
    }

    /// Waits until this node owns the key under its current lease. Retries while the
    /// coordinator is unavailable or the node has no lease; never fails.
    pub async fn acquire(&self, lease: &mut watch::Receiver<Option<LeaseState>>) -> Owned {
        let mut retry = Backoff::from(Duration::from_millis(50));
        loop {
            let Some(current) = *lease.borrow_and_update() else {
                // No lease: wait for the next one.
                if lease.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            };
            match self.try_acquire(current.lease).await {
                Ok(Ok(owned)) => {
                    tracing::info!(key = %self.key, token = owned.token, "ownership acquired");
                    return owned;
                }
                Ok(Err(holder)) => {
                    // Wait for the holder's key to go (or the lease to change), then retry.
                    tokio::select! {
                        result = self.gone(holder.mod_revision + 1) => {
                            if let Err(e) = result {
                                tracing::debug!(key = %self.key, error = %e, "waiting for the owner failed");
                                tokio::time::sleep(retry.take()).await;
                            }
                        }
                        _ = lease.changed() => {}
                    }
                    retry.reset();
                }
                Err(e) => {
                    tracing::warn!(key = %self.key, error = %e, retry = ?retry.peek(), "cannot acquire ownership");
                    tokio::time::sleep(retry.take()).await;
                }
            }
        }
    }

    /// Resolves when the key is deleted (or changes owner) at or after revision `from`.
    async fn gone(&self, from: Revision) -> Result<(), Error> {
        let mut stream = self.coordinator.watch(&self.key, from).await?;
        while let Some(batch) = stream.next().await {
            if batch?.iter().any(|e| e.key() == self.key) {
                return Ok(());
            }
        }
        Err(Error::Unavailable("watch ended".into()))
    }

    /// Resolves when `owned` is no longer valid: the node's lease was lost or replaced, or
    /// the key was deleted or now belongs to another incarnation. The owner must stop
    /// acting before it does anything else.
    pub async fn lost(&self, owned: &Owned, lease: &mut watch::Receiver<Option<LeaseState>>) {
        let lease_gone = async {
            loop {
                if lease.borrow_and_update().map(|s| s.lease) != Some(owned.lease) {
                    return;
                }
                if lease.changed().await.is_err() {
                    return;
                }
            }
        };
        let key_gone = async {
            let mut retry = Backoff::from(Duration::from_millis(50));
            loop {
                match self.coordinator.watch(&self.key, owned.token).await {
                    Ok(mut stream) => {
                        while let Some(batch) = stream.next().await {
                            let Ok(batch) = batch else { break };
                            let taken = batch.iter().any(|e| match e {
                                Event::Put(kv) => {
                                    kv.key == self.key && kv.create_revision != owned.token
                                }
                                Event::Delete { key, .. } => *key == self.key,
                            });
                            if taken {
                                return;
                            }
                        }
                    }
                    // The history since we took it is gone: look at the key itself.
                    Err(Error::Compacted { .. }) => match self.coordinator.get(&self.key).await {
                        Ok(Some(kv)) if kv.create_revision == owned.token => {}
                        Ok(_) => return,
                        Err(_) => {}
                    },
                    Err(_) => {}
                }
                tokio::time::sleep(retry.take()).await;
            }
        };
        tokio::select! {
            () = lease_gone => tracing::warn!(key = %self.key, "ownership lost with the node lease"),
            () = key_gone => tracing::warn!(key = %self.key, "ownership key deleted or taken"),
        }
    }

    /// Gives the key up (a graceful hand-over): deletes it only if it is still this
    /// incarnation.
    pub async fn release(&self, owned: &Owned) -> Result<(), Error> {
        let Some(kv) = self.coordinator.get(&self.key).await? else {
            return Ok(());
        };
        if kv.create_revision != owned.token {
            return Ok(());
        }
        match self
            .coordinator
            .swap(
                &self.key,
                Expect::ModRevision(kv.mod_revision),
                Write::Delete,
            )
            .await?
        {
            Swap::Done(_) | Swap::Conflict(_) => Ok(()),
        }
    }

    /// Ends the incarnation `lost` for good before this node claims the key again; retries
    /// until the coordinator answers.
    ///
    /// A lease declared lost for want of keep-alives can be confirmed again before the
    /// coordinator expires it, and the key lives on with it. Claimed again, it would come
    /// back under its old token, and the nodes that follow the owner would see nothing
    /// change while this node has dropped what it held (a queue's waiting calls, a shard's
    /// agents). So the key is deleted if it is still that incarnation: the next owner,
    /// this node or another, takes it under a new token that everyone notices.
    pub async fn retire(&self, lost: &Owned) {
        let mut retry = Backoff::from(Duration::from_millis(50));
        while let Err(e) = self.release(lost).await {
            tracing::debug!(key = %self.key, error = %e, retry = ?retry.peek(), "cannot retire a lost ownership yet");
            tokio::time::sleep(retry.take()).await;
        }
    }

    /// The current holder of the key, if any (who leads an election).
    pub async fn holder(&self) -> Result<Option<KeyValue>, Error> {
        self.coordinator.get(&self.key).await
    }
}
