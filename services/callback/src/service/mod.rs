//! The scheduler service of one node: one task that campaigns for the scheduler's
//! leadership ([`ELECTION_KEY`], held under the node's lease, its create revision the
//! leader's fencing token) and, while it leads, owns a [`CallbackCore`] restored from the
//! store ([`leader`]). Requests reach the task through a bounded channel from
//! [`SchedulerHandle`]s; a node that does not lead answers them [`ServiceError::NotLeader`]
//! (the API forwards them to the leader).
//!
//! A term of leadership ends when the lease or the election key is lost, when a store write
//! shows a newer leader (fenced), or when the store stops answering: the core and every
//! running dial are dropped at once and the node campaigns again. Nothing is kept from one
//! term to the next; the next leader (this node or another) restores from the store.

mod command;
mod leader;

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, LeaseState, NodeInfo, Owned, Ownership};
use cc_common::Shutdown;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::core::{Accepted, CallbackId, CoreConfig, LeaderToken, Record, Request, Reschedule};
use crate::dialer::Dialer;
use crate::error::ServiceError;
use crate::feeds::{Capacity, SharedHours};
use crate::store::{self, Stored};
use command::Command;
use leader::{Ended, Leader, StepDown};

/// The scheduler's election (DESIGN.md section 4): whoever holds this key leads; its value
/// is the leader's [`NodeInfo`] (where followers forward requests).
pub const ELECTION_KEY: &str = "/cc/election/callback";
/// The prefix of the elections, as [`cc_cluster::Owners`] follows them.
pub const ELECTION_PREFIX: &str = "/cc/election/";
/// The scheduler's name under [`ELECTION_PREFIX`].
pub const ELECTION_NAME: &str = "callback";

/// Tunables of the service around the core.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The core's settings (retries, in-doubt delay, limits).
    pub core: CoreConfig,
    /// Where the scheduler reads the time (tests anchor their own calendar).
    pub clock: Clock,
    /// How long a caller waits for the scheduler, store writes included.
    pub call_timeout: Duration,
    /// Requests that may wait for the scheduler task.
    pub command_buffer: usize,
    /// How long giving up the election key may take at shutdown; past it the key goes
    /// with the node's lease.
    pub release_timeout: Duration,
    /// The first pause before campaigning again after the store stopped answering
    /// (doubled while it keeps failing, up to 16 times this).
    pub retry_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            core: CoreConfig::default(),
            clock: Clock::system(),
            call_timeout: Duration::from_secs(5),
            command_buffer: 1024,
            release_timeout: Duration::from_secs(3),
            retry_after: Duration::from_millis(500),
        }
    }
}

/// Where the node stands in the cluster (DESIGN.md section 4).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The cluster's coordinator: callbacks and the election live there.
    pub coordinator: Arc<dyn Coordinator>,
    /// The node's lease ([`cc_cluster::NodeLease::subscribe`]); the election key is bound
    /// to it, so leadership goes with the node.
    pub lease: watch::Receiver<Option<LeaseState>>,
    /// This node (service `callback`): the election key's value, where followers find the
    /// leader's API address.
    pub node: NodeInfo,
}

/// What the scheduler works with besides the store.
#[derive(Clone)]
pub struct Links {
    /// Places the calls.
    pub dialer: Arc<dyn Dialer>,
    /// Free agents per target (from presence).
    pub capacity: watch::Receiver<Capacity>,
    /// The targets' working hours ([`crate::feeds::always_open`] until the configuration
    /// has department hours).
    pub hours: watch::Receiver<SharedHours>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("dialer", &self.dialer)
            .field("capacity", &*self.capacity.borrow())
            .finish_non_exhaustive()
    }
}

/// Whether this node leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Campaigning, or restoring the store before leading.
    Following,
    /// Leading under this fencing token.
    Leading(LeaderToken),
}

/// What a request became, once stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// Created or merged, and which callback will be dialled.
    pub accepted: Accepted,
    /// That callback as stored.
    pub record: Record,
}

/// A running scheduler node. Dropping it stops the node at once, as a crash would (the
/// election key goes with the lease); [`Scheduler::stopped`] after `shutdown` is the
/// graceful way, which gives the key up.
#[derive(Debug)]
pub struct Scheduler {
    handle: SchedulerHandle,
    task: Option<JoinHandle<()>>,
}

impl Scheduler {
    /// Starts the node's scheduler: it campaigns for the leadership under the node's lease
    /// and leads while it holds it, until `shutdown`.
    pub fn start(
        cluster: Cluster,
        links: Links,
        settings: Settings,
        shutdown: Shutdown,
    ) -> Result<Self, ServiceError> {
        let value = serde_json::to_vec(&cluster.node)
            .map_err(|e| ServiceError::Store(format!("cannot encode the node's info: {e}")))?;
        let election = Ownership::new(cluster.coordinator.clone(), ELECTION_KEY, value);
        let (commands_tx, commands) = mpsc::channel(settings.command_buffer.max(1));
        let (role_tx, role) = watch::channel(Role::Following);
        let handle = SchedulerHandle {
            commands: commands_tx,
            role,
            coordinator: cluster.coordinator.clone(),
            node: Arc::new(cluster.node.clone()),
            clock: settings.clock,
            timeout: settings.call_timeout,
        };
        let node = Node {
            lease: cluster.lease,
            coordinator: cluster.coordinator,
            election,
            links,
            settings,
            commands,
            role: role_tx,
            shutdown,
        };
        let task = tokio::spawn(node.run());
        Ok(Self {
            handle,
            task: Some(task),
        })
    }

    /// A handle to talk to the scheduler.
    pub fn handle(&self) -> SchedulerHandle {
        self.handle.clone()
    }

    /// Waits until the node has stopped (after shutdown was triggered).
    pub async fn stopped(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Talks to the node's scheduler task (mutations) and reads the store (queries). Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    commands: mpsc::Sender<Command>,
    role: watch::Receiver<Role>,
    coordinator: Arc<dyn Coordinator>,
    node: Arc<NodeInfo>,
    clock: Clock,
    timeout: Duration,
}

impl SchedulerHandle {
    /// Asks for a callback (leader only): created or merged, and stored.
    pub async fn schedule(&self, request: Request) -> Result<Scheduled, ServiceError> {
        self.ask(|reply| Command::Schedule { request, reply }).await
    }

    /// Cancels an active callback (leader only); answers it as stored, cancelled.
    pub async fn cancel(&self, id: CallbackId) -> Result<Record, ServiceError> {
        self.ask(|reply| Command::Cancel { id, reply }).await
    }

    /// Gives a pending callback a new window (leader only); answers it as stored.
    pub async fn reschedule(
        &self,
        id: CallbackId,
        reschedule: Reschedule,
    ) -> Result<Record, ServiceError> {
        self.ask(|reply| Command::Reschedule {
            id,
            reschedule,
            reply,
        })
        .await
    }

    /// One callback as stored, active or finished (any node).
    pub async fn get(&self, id: &CallbackId) -> Result<Stored, ServiceError> {
        store::get(&*self.coordinator, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(id.clone()))
    }

    /// Every stored callback in id order, and the store revision they were read at (any
    /// node).
    pub async fn list(&self) -> Result<(Vec<Stored>, cc_cluster::Revision), ServiceError> {
        Ok(store::list(&*self.coordinator).await?)
    }

    /// Whether this node leads, followed.
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// The clock the scheduler runs on.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// This node, as written into the election key when it leads.
    pub fn node(&self) -> &NodeInfo {
        &self.node
    }

    /// The cluster's coordinator (where the API reads callbacks and follows the election).
    pub fn coordinator(&self) -> Arc<dyn Coordinator> {
        self.coordinator.clone()
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, ServiceError>>) -> Command,
    ) -> Result<T, ServiceError> {
        let (reply, answer) = oneshot::channel();
        let asked = async {
            self.commands
                .send(command(reply))
                .await
                .map_err(|_| ServiceError::Stopped)?;
            // A dropped reply: the term ended while the request was being handled.
            answer.await.map_err(|_| ServiceError::Interrupted)?
        };
        let ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        tokio::time::timeout(self.timeout, asked)
            .await
            .map_err(|_| ServiceError::Timeout(ms))?
    }
}

/// The node's task: campaigns, leads, campaigns again.
struct Node {
    lease: watch::Receiver<Option<LeaseState>>,
    coordinator: Arc<dyn Coordinator>,
    election: Ownership,
    links: Links,
    settings: Settings,
    commands: mpsc::Receiver<Command>,
    role: watch::Sender<Role>,
    shutdown: Shutdown,
}

impl Node {
    async fn run(mut self) {
        let mut pause = Duration::ZERO;
        // The term lost last, whose key must be gone before campaigning again.
        let mut lost: Option<Owned> = None;
        loop {
            let Some(owned) = self.campaign(pause, lost.take()).await else {
                tracing::info!("callback scheduler stopped");
                return;
            };
            let ended = self.lead(&owned).await;
            self.role.send_replace(Role::Following);
            match ended {
                Ended::Shutdown => {
                    self.release(&owned).await;
                    tracing::info!("callback scheduler stopped");
                    return;
                }
                Ended::Orphaned => {
                    self.release(&owned).await;
                    return;
                }
                Ended::Lost => {
                    tracing::warn!(
                        token = owned.token,
                        "callback scheduler leadership lost; campaigning again"
                    );
                    pause = Duration::ZERO;
                    lost = Some(owned);
                }
                Ended::SteppedDown {
                    why: StepDown::Fenced(by),
                    ..
                } => {
                    tracing::warn!(token = owned.token, newer = %by, "a newer callback scheduler leader wrote; stepping down");
                    pause = Duration::ZERO;
                    // Still holding the key, this node is the newest holder: the newer
                    // token can only come from an earlier store (a journal replayed into
                    // a fresh coordinator). Campaigning again under a new token heals it.
                    lost = Some(owned);
                }
                Ended::SteppedDown {
                    why: StepDown::Store(why),
                    restored,
                } => {
                    let first = self.settings.retry_after;
                    pause = if restored {
                        first
                    } else {
                        (pause * 2).clamp(first, first * 16)
                    };
                    tracing::warn!(token = owned.token, error = %why, retry = ?pause, "callback store out of reach; stepping down");
                }
            }
        }
    }

    /// Waits `pause` (and for the `lost` term's key to be gone), then until this node
    /// holds the election key, refusing requests meanwhile. `None` at shutdown, or when no
    /// handle is left to ask anything.
    async fn campaign(&mut self, pause: Duration, lost: Option<Owned>) -> Option<Owned> {
        let election = self.election.clone();
        let mut lease = self.lease.clone();
        let acquire = async move {
            tokio::time::sleep(pause).await;
            if let Some(lost) = &lost {
                election.retire(lost).await;
            }
            election.acquire(&mut lease).await
        };
        tokio::pin!(acquire);
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.wait() => return None,
                owned = &mut acquire => return Some(owned),
                command = self.commands.recv() => match command {
                    Some(command) => command.refuse(ServiceError::NotLeader),
                    None => return None,
                },
            }
        }
    }

    /// One term: restore, then lead until it ends.
    async fn lead(&mut self, owned: &Owned) -> Ended {
        let token = LeaderToken(owned.token);
        let mut lease = self.lease.clone();
        let lost = self.election.lost(owned, &mut lease);
        tokio::pin!(lost);
        let restore = Leader::restore(self.coordinator.clone(), token, &self.links, &self.settings);
        let leader = tokio::select! {
            biased;
            () = &mut lost => return Ended::Lost,
            () = self.shutdown.wait() => return Ended::Shutdown,
            restored = restore => match restored {
                Ok(leader) => leader,
                Err(why) => return Ended::SteppedDown { why, restored: false },
            },
        };
        self.role.send_replace(Role::Leading(token));
        leader
            .run(lost, &mut self.commands, &mut self.shutdown)
            .await
    }

    /// Gives the election key up (a graceful hand-over), within the release time.
    async fn release(&self, owned: &Owned) {
        let within = self.settings.release_timeout;
        match tokio::time::timeout(within, self.election.release(owned)).await {
            Ok(Ok(())) => tracing::info!("callback scheduler leadership released"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot release the callback scheduler's leadership; it ends with the lease")
            }
            Err(_) => tracing::warn!(
                "releasing the callback scheduler's leadership timed out; it ends with the lease"
            ),
        }
    }
}
