//! One lease per node, kept alive for as long as the node runs.
//!
//! The node must stop acting on anything bound to its lease (queue ownership, election)
//! before the coordinator can have expired it: the lease is reported lost when no
//! keep-alive succeeded for its TTL minus one keep-alive period, counted from when the last
//! successful keep-alive was *sent* (the coordinator refreshed it no earlier than that).
//! A lease the coordinator says is gone (expired while the node was cut off, or revoked) is
//! replaced by a new one with the next generation number; everything that hung off the old
//! one has to be put back by its owner.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::{Coordinator, Error, LeaseId};

/// The node's lease while it is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseState {
    pub lease: LeaseId,
    /// 1 for the first lease, then one more for each replacement.
    pub generation: u64,
}

/// The node's lease and the task that keeps it alive.
#[derive(Debug)]
pub struct NodeLease {
    coordinator: Arc<dyn Coordinator>,
    state: watch::Receiver<Option<LeaseState>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl NodeLease {
    /// Grants the node's lease (failing when the coordinator cannot) and keeps it alive
    /// every `ttl / 3`.
    pub async fn start(coordinator: Arc<dyn Coordinator>, ttl: Duration) -> Result<Self, Error> {
        if ttl < Duration::from_secs(1) {
            return Err(Error::Invalid(format!(
                "a node lease lives at least 1 s, not {ttl:?}"
            )));
        }
        let sent = Instant::now();
        let lease = coordinator.grant(ttl).await?;
        let first = LeaseState {
            lease,
            generation: 1,
        };
        tracing::info!(lease = %lease, ?ttl, "node lease granted");
        let (tx, state) = watch::channel(Some(first));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(keep_alive(
            coordinator.clone(),
            ttl,
            first,
            sent,
            tx,
            stopped,
        ));
        Ok(Self {
            coordinator,
            state,
            stop,
            task,
        })
    }

    /// The lease now; `None` while it is lost (between the loss and its replacement).
    pub fn current(&self) -> Option<LeaseState> {
        *self.state.borrow()
    }

    /// Every change of [`Self::current`].
    pub fn subscribe(&self) -> watch::Receiver<Option<LeaseState>> {
        self.state.clone()
    }

    /// Stops keeping the lease alive and revokes it, so the node's keys disappear now
    /// rather than after the TTL (a graceful shutdown).
    pub async fn revoke(mut self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
        match self.current() {
            Some(state) => self.coordinator.revoke(state.lease).await,
            None => Ok(()),
        }
    }
}

impl Drop for NodeLease {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn keep_alive(
    coordinator: Arc<dyn Coordinator>,
    ttl: Duration,
    mut state: LeaseState,
    mut sent: Instant,
    tx: watch::Sender<Option<LeaseState>>,
    mut stop: watch::Receiver<bool>,
) {
    let period = ttl / 3;
    let valid_for = ttl - period;
    loop {
        // The loss is declared on time, whether the node waits for its next keep-alive or
        // an attempt hangs (a cut link answers nothing): it must stop acting as an owner
        // before the coordinator can expire the lease and another node take over.
        let due = Instant::now() + period;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(due) => break,
                () = tokio::time::sleep_until(sent + valid_for), if tx.borrow().is_some() => {
                    lose(state, valid_for, &tx);
                }
                _ = stop.changed() => return,
            }
        }
        let attempt = Instant::now();
        let request = tokio::time::timeout(period, coordinator.keep_alive(state.lease));
        tokio::pin!(request);
        let outcome = loop {
            tokio::select! {
                outcome = &mut request => break outcome,
                () = tokio::time::sleep_until(sent + valid_for), if tx.borrow().is_some() => {
                    lose(state, valid_for, &tx);
                }
                _ = stop.changed() => return,
            }
        };
        match outcome {
            Ok(Ok(())) => {
                sent = attempt;
                if tx.borrow().is_none() {
                    tracing::info!(lease = %state.lease, "node lease confirmed again");
                    tx.send_replace(Some(state));
                }
            }
            Ok(Err(Error::LeaseNotFound(_))) => {
                tracing::warn!(lease = %state.lease, "node lease is gone; granting a new one");
                tx.send_replace(None);
                let Some((lease, granted)) = grant(&*coordinator, ttl, &mut stop).await else {
                    return;
                };
                state = LeaseState {
                    lease,
                    generation: state.generation + 1,
                };
                sent = granted;
                tracing::info!(lease = %lease, generation = state.generation, "node lease granted");
                tx.send_replace(Some(state));
            }
            outcome => {
                let error = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => "keep-alive timed out".to_owned(),
                };
                tracing::debug!(lease = %state.lease, %error, "keep-alive failed");
            }
        }
    }
}

/// No keep-alive went through for `valid_for`: the coordinator may expire the lease from
/// now on, so everything bound to it must stop.
fn lose(state: LeaseState, valid_for: Duration, tx: &watch::Sender<Option<LeaseState>>) {
    tracing::warn!(lease = %state.lease, ?valid_for, "node lease lost: no keep-alive went through in time");
    tx.send_replace(None);
}

/// Grants a lease, retrying until it works or the node stops; returns when it was asked.
async fn grant(
    coordinator: &dyn Coordinator,
    ttl: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Option<(LeaseId, Instant)> {
    let mut retry = Backoff::from(Duration::from_millis(100));
    loop {
        let asked = Instant::now();
        match coordinator.grant(ttl).await {
            Ok(lease) => return Some((lease, asked)),
            Err(e) => {
                tracing::warn!(error = %e, retry = ?retry.peek(), "cannot grant a node lease")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(retry.take()) => {}
            _ = stop.changed() => return None,
        }
    }
}
