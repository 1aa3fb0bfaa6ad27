//! Which departments this queue node owns in the cluster (DESIGN.md section 4). With a
//! coordinator, a node serves only the departments whose key `/cc/own/queue/<department>`
//! it holds; the other configured departments are served by other queue nodes.
//!
//! One claim task per configured department: it acquires the key, tells the actor that the
//! department is owned, waits until the ownership is lost (node lease lost or replaced, key
//! deleted or taken), tells the actor to drop the department, and claims it again. A claim
//! that is stopped (the department left the configuration, or the queue stops) releases the
//! key, so that another node takes over at once rather than when the lease expires.
//!
//! Claims report through one ordered channel that the actor drains before it handles any
//! message: once a loss is known, the actor drops the department before it does anything
//! else, whatever waits in its mailbox.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, LeaseState, NodeInfo};
use ractor::ActorRef;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::actor::Msg;
use crate::core::{DepartmentConfig, DepartmentId};

/// Serve only the departments this node owns: what the queue needs to claim them.
#[derive(Debug, Clone)]
pub struct Ownership {
    /// The cluster's coordinator.
    pub coordinator: Arc<dyn Coordinator>,
    /// The node's lease ([`cc_cluster::NodeLease::subscribe`]); ownership keys are bound to
    /// it, so they go with the node.
    pub lease: watch::Receiver<Option<LeaseState>>,
    /// Who this node is: the value of every ownership key it holds, as JSON, so that other
    /// nodes find the owner's address there.
    pub node: NodeInfo,
    /// How long a department just taken makes no offers, so that the calls waiting at the
    /// previous owner are back in line (with their original times) before the first is
    /// offered ([`crate::core::QueueCore::handle_hold`]). Zero where no other node can have
    /// owned it (a single node).
    pub takeover_hold: Duration,
}

/// A change of ownership, as a claim reports it.
#[derive(Debug)]
struct News {
    department: DepartmentId,
    /// Which claim of the department reports: news of a claim stopped since is stale.
    epoch: u64,
    owned: bool,
}

/// What the actor must do about a department, in the order the claims saw it happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Owned now: serve it.
    Owned(DepartmentId),
    /// No longer owned: drop it at once ([`crate::core::QueueCore::handle_disown`]).
    Lost(DepartmentId),
}

/// One department's claim task.
#[derive(Debug)]
struct Claim {
    epoch: u64,
    /// Dropping it stops the task, which releases the key if it holds it.
    _stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The claims of the configured departments and what they own, kept by the actor.
#[derive(Debug)]
pub(crate) struct Claims {
    ownership: Ownership,
    value: Vec<u8>,
    /// How long releasing a key may take.
    release_within: Duration,
    claims: HashMap<DepartmentId, Claim>,
    /// Stopped claims, possibly still releasing their key: a new claim of the same
    /// department waits for that first (else it would find the key still its node's).
    retired: HashMap<DepartmentId, JoinHandle<()>>,
    owned: BTreeSet<DepartmentId>,
    news_tx: mpsc::UnboundedSender<News>,
    news: mpsc::UnboundedReceiver<News>,
    next_epoch: u64,
}

impl Claims {
    /// No claims yet ([`Self::follow`] starts them).
    /// How long a department just taken makes no offers.
    pub(crate) fn takeover_hold(&self) -> Duration {
        self.ownership.takeover_hold
    }

    pub(crate) fn new(ownership: Ownership, release_within: Duration) -> serde_json::Result<Self> {
        let value = serde_json::to_vec(&ownership.node)?;
        let (news_tx, news) = mpsc::unbounded_channel();
        Ok(Self {
            ownership,
            value,
            release_within,
            claims: HashMap::new(),
            retired: HashMap::new(),
            owned: BTreeSet::new(),
            news_tx,
            news,
            next_epoch: 0,
        })
    }

    /// Claims the configured departments not claimed yet, and stops the claims of the
    /// departments no longer configured (they are not owned from now on; their keys are
    /// released).
    pub(crate) fn follow(&mut self, configured: &[DepartmentConfig], queue: &ActorRef<Msg>) {
        let wanted: BTreeSet<&DepartmentId> = configured.iter().map(|d| &d.id).collect();
        let gone: Vec<DepartmentId> = self
            .claims
            .keys()
            .filter(|d| !wanted.contains(d))
            .cloned()
            .collect();
        for department in gone {
            if let Some(claim) = self.claims.remove(&department) {
                tracing::info!(%department, "department no longer configured; its queue ownership is given up");
                self.retired.insert(department.clone(), claim.task);
            }
            self.owned.remove(&department);
        }
        self.retired.retain(|_, task| !task.is_finished());
        for department in wanted {
            if !self.claims.contains_key(department) {
                self.start(department.clone(), queue);
            }
        }
    }

    fn start(&mut self, department: DepartmentId, queue: &ActorRef<Msg>) {
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        let (stop, stopped) = oneshot::channel();
        let claim = Claimer {
            key: cc_cluster::Ownership::new(
                self.ownership.coordinator.clone(),
                cc_cluster::keys::queue_owner(department.as_str()),
                self.value.clone(),
            ),
            department: department.clone(),
            epoch,
            lease: self.ownership.lease.clone(),
            news: self.news_tx.clone(),
            queue: queue.clone(),
            release_within: self.release_within,
        };
        let before = self.retired.remove(&department);
        let task = tokio::spawn(claim.run(before, stopped));
        self.claims.insert(
            department,
            Claim {
                epoch,
                _stop: stop,
                task,
            },
        );
    }

    /// Whether this node owns the department now.
    pub(crate) fn owns(&self, department: &DepartmentId) -> bool {
        self.owned.contains(department)
    }

    /// The next change the claims reported, stale news (of stopped claims) and repeats
    /// skipped; the owned set already reflects it.
    pub(crate) fn next_change(&mut self) -> Option<Change> {
        while let Ok(news) = self.news.try_recv() {
            let current = self
                .claims
                .get(&news.department)
                .is_some_and(|c| c.epoch == news.epoch);
            if !current {
                continue;
            }
            if news.owned {
                if self.owned.insert(news.department.clone()) {
                    return Some(Change::Owned(news.department));
                }
            } else if self.owned.remove(&news.department) {
                return Some(Change::Lost(news.department));
            }
        }
        None
    }

    /// Stops every claim and waits until each has released its key (each bounded by the
    /// release time): the graceful hand-over when the queue stops.
    pub(crate) async fn release_all(&mut self) {
        self.owned.clear();
        let tasks: Vec<JoinHandle<()>> = self
            .claims
            .drain()
            .map(|(_, claim)| claim.task)
            .chain(self.retired.drain().map(|(_, task)| task))
            .collect();
        // Every claim is stopped now (its sender dropped); they release concurrently.
        let bound = self.release_within.saturating_add(Duration::from_secs(1));
        for mut task in tasks {
            if tokio::time::timeout(bound, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

/// One department's claim task.
struct Claimer {
    key: cc_cluster::Ownership,
    department: DepartmentId,
    epoch: u64,
    lease: watch::Receiver<Option<LeaseState>>,
    news: mpsc::UnboundedSender<News>,
    queue: ActorRef<Msg>,
    release_within: Duration,
}

impl Claimer {
    /// Claims until stopped (`stop` fires or its sender is dropped), the node's lease ends
    /// for good, or the queue actor is gone; first waits for `before`, the previous claim of
    /// the department, to finish releasing.
    async fn run(mut self, before: Option<JoinHandle<()>>, mut stop: oneshot::Receiver<()>) {
        if let Some(before) = before {
            let _ = tokio::time::timeout(self.release_within, before).await;
        }
        let ended = lease_ended(self.lease.clone());
        tokio::pin!(ended);
        // The incarnation this claim lost last, to end before claiming again.
        let mut lost: Option<cc_cluster::Owned> = None;
        loop {
            if self.lease.has_changed().is_err() {
                tracing::info!(department = %self.department, "node lease ended; department no longer claimed");
                return;
            }
            if let Some(lost) = lost.take() {
                tokio::select! {
                    biased;
                    _ = &mut stop => return,
                    () = &mut ended => return,
                    () = self.key.retire(&lost) => {}
                }
            }
            let owned = tokio::select! {
                biased;
                _ = &mut stop => return,
                () = &mut ended => {
                    tracing::info!(department = %self.department, "node lease ended; department no longer claimed");
                    return;
                }
                owned = self.key.acquire(&mut self.lease) => owned,
            };
            if self.tell(true).is_err() {
                self.release(&owned).await;
                return;
            }
            tokio::select! {
                biased;
                _ = &mut stop => {
                    self.release(&owned).await;
                    return;
                }
                () = self.key.lost(&owned, &mut self.lease) => {
                    // Before anything else: the actor drops the department (and says so).
                    if self.tell(false).is_err() {
                        return;
                    }
                    lost = Some(owned);
                }
            }
        }
    }

    /// Reports to the actor and wakes it up; `Err` when the actor is gone.
    fn tell(&self, owned: bool) -> Result<(), ()> {
        let news = News {
            department: self.department.clone(),
            epoch: self.epoch,
            owned,
        };
        self.news.send(news).map_err(drop)?;
        self.queue.cast(Msg::Claims).map_err(drop)
    }

    /// Gives the key up (a graceful hand-over), within the release time.
    async fn release(&self, owned: &cc_cluster::Owned) {
        let department = &self.department;
        match tokio::time::timeout(self.release_within, self.key.release(owned)).await {
            Ok(Ok(())) => tracing::info!(%department, "queue ownership released"),
            Ok(Err(e)) => {
                tracing::warn!(%department, error = %e, "cannot release queue ownership; it ends with the lease")
            }
            Err(_) => {
                tracing::warn!(%department, "releasing queue ownership timed out; it ends with the lease")
            }
        }
    }
}

/// Resolves when the node's lease will never change again (its keeper stopped).
async fn lease_ended(mut lease: watch::Receiver<Option<LeaseState>>) {
    while lease.changed().await.is_ok() {}
}
