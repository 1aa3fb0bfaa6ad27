//! Presence is sharded: each agent's state lives at the presence node that owns the agent's
//! shard, and a node answers UNAVAILABLE for the shards it does not own. The queue follows
//! every shard at its owner, reserves each agent there, and follows a shard that moves to
//! its new owner. Presence here is a fake `PresenceControl` per node (the real one is
//! tested in cc-presence), its shard owners written into an in-memory coordinator.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cc_cluster::keys::{self, PRESENCE_SHARDS, presence_shard};
use cc_cluster::{Coordinator, MemoryCoordinator, NodeInfo, Owners, ShardRoutes};
use cc_common::Shutdown;
use cc_common::shutdown::ShutdownTrigger;
use cc_proto::agents::v1::agent_event::Kind;
use cc_proto::agents::v1::{AgentEvent, AgentState};
use cc_proto::presence::internal::v1 as pb;
use cc_proto::presence::internal::v1::presence_control_server::{
    PresenceControl, PresenceControlServer,
};
use cc_queue::core::{AgentId, CallId, DepartmentConfig, DepartmentId, Priority, Strategy};
use cc_queue::{QueueEvent, QueueHandle, QueueService, Settings};
use common::until;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// An agent's state and the call it is bound to (empty when none).
type Agent = (AgentState, String);

type Events = Pin<Box<dyn Stream<Item = Result<AgentEvent, Status>> + Send>>;

/// One fake presence node: the agents of the shards it owns, their changes, and the
/// reservations it granted.
#[derive(Clone)]
struct FakeNode {
    name: String,
    agents: Arc<Mutex<BTreeMap<String, Agent>>>,
    reserved: Arc<Mutex<Vec<String>>>,
    changes: broadcast::Sender<AgentEvent>,
    owned: Arc<watch::Sender<BTreeSet<u32>>>,
    /// Reservations in flight; a reservation waits until at least `together` are, so
    /// that only requests sent together are ever answered.
    in_flight: Arc<watch::Sender<usize>>,
    together: usize,
}

impl FakeNode {
    fn new(name: &str, shards: Range<u32>) -> Self {
        Self {
            name: name.into(),
            agents: Arc::default(),
            reserved: Arc::default(),
            changes: broadcast::channel(64).0,
            owned: Arc::new(watch::channel(shards.collect()).0),
            in_flight: Arc::new(watch::channel(0).0),
            together: 1,
        }
    }

    /// Serves `PresenceControl` on 127.0.0.1:0; the node's info for its ownership keys.
    async fn serve(&self) -> NodeInfo {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tonic::transport::Server::builder()
            .add_service(PresenceControlServer::new(self.clone()));
        tokio::spawn(server.serve_with_incoming(TcpIncoming::from(listener)));
        NodeInfo {
            service: "presence".into(),
            node: self.name.clone(),
            address,
            load: 0,
        }
    }

    fn owns(&self, shard: u32) -> bool {
        self.owned.borrow().contains(&shard)
    }

    /// Sets an agent's state (adding it) and tells the watchers of its shard.
    fn set(&self, agent: &str, state: AgentState, call: &str) {
        self.agents
            .lock()
            .unwrap()
            .insert(agent.into(), (state, call.into()));
        let _ = self
            .changes
            .send(event(agent, Kind::StateChanged, state, call));
    }

    /// Hands `shard` with its agents over to `to`: this node stops owning it (its watchers'
    /// streams end with UNAVAILABLE) once `to` owns it.
    fn hand_over(&self, shard: u32, to: &FakeNode) {
        let mut agents = self.agents.lock().unwrap();
        let moving: Vec<String> = agents
            .keys()
            .filter(|agent| presence_shard(agent) == shard)
            .cloned()
            .collect();
        for agent in moving {
            let state = agents.remove(&agent).unwrap();
            to.agents.lock().unwrap().insert(agent, state);
        }
        drop(agents);
        to.owned.send_modify(|owned| {
            owned.insert(shard);
        });
        self.owned.send_modify(|owned| {
            owned.remove(&shard);
        });
    }

    fn reserved(&self) -> Vec<String> {
        self.reserved.lock().unwrap().clone()
    }

    /// UNAVAILABLE unless this node owns `agent`'s shard.
    fn owner_of(&self, agent: &str) -> Result<(), Status> {
        let shard = presence_shard(agent);
        if self.owns(shard) {
            Ok(())
        } else {
            Err(Status::unavailable(format!(
                "{} does not own shard {shard}",
                self.name
            )))
        }
    }
}

fn event(agent: &str, kind: Kind, to: AgentState, call: &str) -> AgentEvent {
    AgentEvent {
        agent_id: agent.into(),
        kind: kind.into(),
        to: to.into(),
        call_id: call.into(),
        ..Default::default()
    }
}

/// Feeds one shard's watcher: the snapshot, then the shard's changes until the node stops
/// owning the shard (then UNAVAILABLE) or the watcher hangs up.
async fn feed(
    shard: u32,
    snapshot: Vec<AgentEvent>,
    mut changes: broadcast::Receiver<AgentEvent>,
    mut owned: watch::Receiver<BTreeSet<u32>>,
    tx: mpsc::Sender<Result<AgentEvent, Status>>,
) {
    for added in snapshot {
        if tx.send(Ok(added)).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            Ok(change) = changes.recv() => {
                if presence_shard(&change.agent_id) == shard && tx.send(Ok(change)).await.is_err() {
                    return;
                }
            }
            _ = owned.changed() => {
                if !owned.borrow_and_update().contains(&shard) {
                    let _ = tx.send(Err(Status::unavailable("shard moved"))).await;
                    return;
                }
            }
        }
    }
}

#[tonic::async_trait]
impl PresenceControl for FakeNode {
    type WatchShardStream = Events;

    async fn watch_shard(
        &self,
        request: Request<pb::WatchShardRequest>,
    ) -> Result<Response<Events>, Status> {
        let shard = request.into_inner().shard;
        if !self.owns(shard) {
            return Err(Status::unavailable(format!(
                "{} does not own shard {shard}",
                self.name
            )));
        }
        // Subscribe before the snapshot: a change between the two is sent twice, harmless.
        let changes = self.changes.subscribe();
        let snapshot = self
            .agents
            .lock()
            .unwrap()
            .iter()
            .filter(|(agent, _)| presence_shard(agent) == shard)
            .map(|(agent, (state, call))| event(agent, Kind::Added, *state, call))
            .collect();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(feed(shard, snapshot, changes, self.owned.subscribe(), tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn reserve(
        &self,
        request: Request<pb::ReserveRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        let request = request.into_inner();
        self.owner_of(&request.agent_id)?;
        self.in_flight.send_modify(|n| *n += 1);
        let mut in_flight = self.in_flight.subscribe();
        let _ = in_flight.wait_for(|n| *n >= self.together).await;
        let state = self.agents.lock().unwrap().get(&request.agent_id).cloned();
        match state {
            None => Err(Status::not_found("not an agent")),
            Some((AgentState::Available, _)) => {
                self.reserved.lock().unwrap().push(request.agent_id.clone());
                self.set(&request.agent_id, AgentState::Reserved, &request.call_id);
                Ok(Response::new(pb::Done {}))
            }
            Some(_) => Err(Status::failed_precondition("not available")),
        }
    }

    async fn released(
        &self,
        request: Request<pb::AgentCall>,
    ) -> Result<Response<pb::Done>, Status> {
        let request = request.into_inner();
        self.owner_of(&request.agent_id)?;
        self.set(&request.agent_id, AgentState::Available, "");
        Ok(Response::new(pb::Done {}))
    }

    async fn confirm_ringing(
        &self,
        _: Request<pb::AgentCall>,
    ) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn answered(&self, _: Request<pb::AgentCall>) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn call_ended(
        &self,
        _: Request<pb::CallEndedRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn device_registered(
        &self,
        _: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn device_gone(
        &self,
        _: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn call_in_progress(
        &self,
        _: Request<pb::CallInProgressRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

/// The first agent name whose shard is in `shards`.
fn agent_in(shards: Range<u32>) -> String {
    (0..)
        .map(|i| format!("agent-{i}"))
        .find(|agent| shards.contains(&presence_shard(agent)))
        .unwrap()
}

/// Writes `node` as the owner of `shards`, as a presence node claiming them would.
async fn own(coordinator: &Arc<dyn Coordinator>, shards: Range<u32>, node: &NodeInfo) {
    for shard in shards {
        let value = serde_json::to_vec(node).unwrap();
        coordinator
            .put(&keys::presence_owner(shard), value, None)
            .await
            .unwrap();
    }
}

/// A ring-all queue of `members`, following presence at the owners in `coordinator`; it
/// runs until the trigger is dropped.
async fn queue(
    coordinator: &Arc<dyn Coordinator>,
    members: &[&str],
) -> (QueueHandle, ShutdownTrigger) {
    queue_with(coordinator, members, Settings::default()).await
}

async fn queue_with(
    coordinator: &Arc<dyn Coordinator>,
    members: &[&str],
    settings: Settings,
) -> (QueueHandle, ShutdownTrigger) {
    let owners = Owners::follow(coordinator.clone(), keys::PRESENCE_OWNERS);
    let routes = ShardRoutes::follow(&owners, PRESENCE_SHARDS);
    let sales = members.iter().fold(
        DepartmentConfig::new("sales", Strategy::RingAll),
        |d, member| d.member(*member),
    );
    let (trigger, shutdown) = Shutdown::new();
    let service = QueueService::start_with(vec![sales], routes, settings, shutdown)
        .await
        .unwrap();
    (service.handle(), trigger)
}

async fn available(queue: &QueueHandle, n: usize) {
    until(&format!("{n} available in the queue"), || async {
        queue.stats().await.unwrap()[0].available_agents == n
    })
    .await;
}

/// The agents of the next offer.
async fn offered(
    queue: &QueueHandle,
    events: &mut broadcast::Receiver<QueueEvent>,
) -> Vec<AgentId> {
    queue
        .enqueue(CallId::new("c1"), DepartmentId::new("sales"), Priority(0))
        .await
        .unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .unwrap();
        if let QueueEvent::Offer { plan, .. } = event {
            return plan.targets.into_iter().map(|t| t.agent).collect();
        }
    }
}

#[tokio::test]
async fn each_agent_is_followed_and_reserved_at_the_owner_of_its_shard() {
    let half = PRESENCE_SHARDS / 2;
    let (anna, piotr) = (agent_in(0..half), agent_in(half..PRESENCE_SHARDS));
    let (a, b) = (
        FakeNode::new("a", 0..half),
        FakeNode::new("b", half..PRESENCE_SHARDS),
    );
    a.set(&anna, AgentState::Available, "");
    b.set(&piotr, AgentState::Available, "");
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    own(&coordinator, 0..half, &a.serve().await).await;
    own(&coordinator, half..PRESENCE_SHARDS, &b.serve().await).await;

    let (queue, _trigger) = queue(&coordinator, &[&anna, &piotr]).await;
    available(&queue, 2).await;

    let mut events = queue.subscribe();
    let mut agents = offered(&queue, &mut events).await;
    agents.sort();
    let mut expected = vec![AgentId::new(&anna), AgentId::new(&piotr)];
    expected.sort();
    assert_eq!(agents, expected);
    assert_eq!(a.reserved(), vec![anna]);
    assert_eq!(b.reserved(), vec![piotr]);
}

#[tokio::test]
async fn a_shard_that_moves_is_followed_at_its_new_owner() {
    let anna = agent_in(0..PRESENCE_SHARDS);
    let shard = presence_shard(&anna);
    let (a, b) = (
        FakeNode::new("a", 0..PRESENCE_SHARDS),
        FakeNode::new("b", 0..0),
    );
    a.set(&anna, AgentState::Available, "");
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    own(&coordinator, 0..PRESENCE_SHARDS, &a.serve().await).await;
    let b_info = b.serve().await;

    let (queue, _trigger) = queue(&coordinator, &[&anna]).await;
    available(&queue, 1).await;

    // Anna's shard moves to b: a's stream ends, a refuses it, the owner key names b.
    a.hand_over(shard, &b);
    own(&coordinator, shard..shard + 1, &b_info).await;
    // Followed at b: b's news reach the queue.
    b.set(&anna, AgentState::Paused, "");
    available(&queue, 0).await;
    b.set(&anna, AgentState::Available, "");
    available(&queue, 1).await;

    let mut events = queue.subscribe();
    assert_eq!(
        offered(&queue, &mut events).await,
        vec![AgentId::new(&anna)]
    );
    assert_eq!(b.reserved(), vec![anna]);
    assert!(a.reserved().is_empty());
}

#[tokio::test]
async fn the_agents_of_a_plan_are_reserved_together_not_one_after_another() {
    // Node b answers a reservation only once two are in flight: asked one at a time, the
    // first would wait for the presence timeout and the offer would never come in time.
    let (b1, b2) = ("agent-1".to_owned(), "agent-2".to_owned());
    let mut b = FakeNode::new("b", 0..PRESENCE_SHARDS);
    b.together = 2;
    b.set(&b1, AgentState::Available, "");
    b.set(&b2, AgentState::Available, "");
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    own(&coordinator, 0..PRESENCE_SHARDS, &b.serve().await).await;
    let settings = Settings {
        presence_timeout: Duration::from_secs(60),
        ..Settings::default()
    };
    let (queue, _trigger) = queue_with(&coordinator, &[&b1, &b2], settings).await;
    available(&queue, 2).await;

    let mut events = queue.subscribe();
    let mut agents = offered(&queue, &mut events).await;
    agents.sort();
    let mut reserved = b.reserved();
    reserved.sort();
    assert_eq!(reserved, vec![b1.clone(), b2.clone()]);
    assert_eq!(agents, vec![AgentId::new(&b1), AgentId::new(&b2)]);
}
