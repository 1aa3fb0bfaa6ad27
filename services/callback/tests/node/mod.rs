//! A scheduler node as the service runs it (node lease, election, leader, API), with a test
//! dialer that records every attempt it is handed and answers as the test says.

#![allow(dead_code, clippy::unwrap_used)]

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cc_callback::core::{
    CallbackId, Change, CoreConfig, Dispatch, LeaderToken, Outcome, Record, Target, Timestamp,
};
use cc_callback::events::{self, StoredChange};
use cc_callback::feeds::{self, Capacity};
use cc_callback::{Clock, Cluster, Dialer, Links, Role, Scheduler, SchedulerHandle, Settings};
use cc_cluster::{Coordinator, NodeInfo, NodeLease};
use cc_common::{Shutdown, ShutdownTrigger};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// How long a wait may take: long in virtual time (a paused clock jumps to the scheduler's
/// next deadline, windows open hours later); tests on the real clock bound themselves.
pub const PATIENCE: Duration = Duration::from_secs(4 * 3600);

/// One attempt the dialer was handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialled {
    pub id: CallbackId,
    pub attempt: u32,
    pub token: LeaderToken,
    pub target: Target,
    /// When (tokio's clock).
    pub at: Instant,
}

type Policy = Box<dyn Fn(&Dispatch) -> Option<Outcome> + Send + Sync>;

/// Records every attempt, then answers what `policy` says (`None`: never answers, the dial
/// hangs until the scheduler drops it).
pub struct TestDialer {
    policy: Policy,
    /// How a previous leader's attempt ended, when a new leader asks; `None`: nobody can
    /// tell.
    resume: Policy,
    dialled: watch::Sender<Vec<Dialled>>,
}

impl fmt::Debug for TestDialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDialer")
            .field("dialled", &self.dialled.borrow().len())
            .finish_non_exhaustive()
    }
}

impl TestDialer {
    pub fn new(policy: impl Fn(&Dispatch) -> Option<Outcome> + Send + Sync + 'static) -> Arc<Self> {
        Self::resuming(policy, |_| None)
    }

    /// A dialler that also tells a new leader how a previous leader's attempt ended
    /// (`resume`), as sip-edge does.
    pub fn resuming(
        policy: impl Fn(&Dispatch) -> Option<Outcome> + Send + Sync + 'static,
        resume: impl Fn(&Dispatch) -> Option<Outcome> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            policy: Box::new(policy),
            resume: Box::new(resume),
            dialled: watch::channel(Vec::new()).0,
        })
    }

    /// Every attempt so far, in order.
    pub fn dialled(&self) -> Vec<Dialled> {
        self.dialled.borrow().clone()
    }

    /// Waits (bounded) until the attempts so far satisfy `check`.
    pub async fn until(&self, what: &str, check: impl Fn(&[Dialled]) -> bool) {
        let mut seen = self.dialled.subscribe();
        let waited = tokio::time::timeout(PATIENCE, seen.wait_for(|d| check(d))).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "{what}: never happened; dialled {:?}",
            self.dialled()
        );
    }
}

#[async_trait::async_trait]
impl Dialer for TestDialer {
    async fn dial(&self, dispatch: Dispatch) -> Outcome {
        self.dialled.send_modify(|d| {
            d.push(Dialled {
                id: dispatch.id.clone(),
                attempt: dispatch.attempt,
                token: dispatch.token,
                target: dispatch.record.target.clone(),
                at: Instant::now(),
            })
        });
        match (self.policy)(&dispatch) {
            Some(outcome) => outcome,
            None => std::future::pending().await,
        }
    }

    async fn resume(&self, dispatch: Dispatch) -> Option<Outcome> {
        (self.resume)(&dispatch)
    }
}

/// A scheduler node, running until dropped (a crash) or [`Node::stop`].
pub struct Node {
    pub name: String,
    pub scheduler: Scheduler,
    pub handle: SchedulerHandle,
    pub lease: NodeLease,
    trigger: ShutdownTrigger,
}

/// What a node is started with.
pub struct NodeSpec {
    pub name: String,
    /// Where its API listens (the election key's value).
    pub address: SocketAddr,
    pub dialer: Arc<TestDialer>,
    pub capacity: watch::Receiver<Capacity>,
    pub core: CoreConfig,
    pub clock: Clock,
}

impl NodeSpec {
    /// A node `name` whose API would listen on `address`, with default settings, the clock
    /// starting at [`T0`].
    pub fn new(
        name: &str,
        address: SocketAddr,
        dialer: Arc<TestDialer>,
        capacity: watch::Receiver<Capacity>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            address,
            dialer,
            capacity,
            core: CoreConfig::default(),
            clock: Clock::starting_at(Timestamp::from_unix_ms(T0)),
        }
    }
}

impl Node {
    /// Grants the node's lease in `coordinator` and starts its scheduler.
    pub async fn start(coordinator: Arc<dyn Coordinator>, spec: NodeSpec) -> Node {
        let lease = NodeLease::start(coordinator.clone(), Duration::from_secs(3))
            .await
            .unwrap();
        let (trigger, shutdown) = Shutdown::new();
        let cluster = Cluster {
            coordinator,
            lease: lease.subscribe(),
            node: NodeInfo {
                service: "callback".into(),
                node: spec.name.clone(),
                address: spec.address.to_string(),
                load: 0,
            },
        };
        let links = Links {
            dialer: spec.dialer,
            capacity: spec.capacity,
            hours: feeds::always_open(),
        };
        let settings = Settings {
            core: spec.core,
            clock: spec.clock,
            ..Settings::default()
        };
        let scheduler = Scheduler::start(cluster, links, settings, shutdown).unwrap();
        Node {
            name: spec.name,
            handle: scheduler.handle(),
            scheduler,
            lease,
            trigger,
        }
    }

    /// Waits until this node leads; its token.
    pub async fn leading(&self) -> LeaderToken {
        let mut role = self.handle.role();
        let led = tokio::time::timeout(PATIENCE, role.wait_for(|r| matches!(r, Role::Leading(_))))
            .await
            .unwrap_or_else(|_| panic!("{} never led", self.name))
            .unwrap();
        match *led {
            Role::Leading(token) => token,
            Role::Following => unreachable!(),
        }
    }

    /// A crash: the node's task ends at once (its dials with it) and nothing is given up;
    /// the lease it held is returned, still kept alive, for the test to revoke or keep.
    pub fn crash(self) -> NodeLease {
        drop(self.scheduler);
        // After the abort: dropping the trigger is a shutdown the aborted task never sees.
        drop(self.trigger);
        self.lease
    }

    /// A graceful stop: the election key is given up.
    pub async fn stop(self) {
        self.trigger.trigger();
        self.scheduler.stopped().await;
    }
}

/// Free agents: `free` in department `sales`.
pub fn sales(free: u32) -> (watch::Sender<Capacity>, watch::Receiver<Capacity>) {
    watch::channel(Capacity::from([(Target::department("sales"), free)]))
}

/// Changes of every callback from now on.
pub async fn changes(
    coordinator: Arc<dyn Coordinator>,
) -> mpsc::Receiver<Result<StoredChange, events::WatchError>> {
    events::watch(coordinator, 0).await.unwrap()
}

/// The next stored change (bounded wait).
pub async fn next(
    changes: &mut mpsc::Receiver<Result<StoredChange, events::WatchError>>,
) -> StoredChange {
    tokio::time::timeout(PATIENCE, changes.recv())
        .await
        .expect("a change within the test's patience")
        .expect("the watch goes on")
        .expect("no watch error")
}

/// The changes of one callback until (and with) the first that satisfies `last`.
pub async fn until(
    changes: &mut mpsc::Receiver<Result<StoredChange, events::WatchError>>,
    id: &CallbackId,
    last: impl Fn(&Change) -> bool,
) -> Vec<(Timestamp, Change)> {
    let mut seen = Vec::new();
    loop {
        let change = next(changes).await;
        if change.record.id != *id {
            continue;
        }
        let entry = change.record.last_change().unwrap().clone();
        let done = last(&entry.change);
        seen.push((entry.at, entry.change));
        if done {
            return seen;
        }
    }
}

/// `secs` after [`T0`].
pub fn at(secs: u64) -> Timestamp {
    Timestamp::from_unix_ms(T0).saturating_add(Duration::from_secs(secs))
}

/// The record as stored.
pub async fn stored(handle: &SchedulerHandle, id: &CallbackId) -> Record {
    handle.get(id).await.unwrap().record
}
