//! Calls: one actor per call (a B2BUA), driven by the SIP core's [`ToCall`] events, the
//! media node's events and the queue's ring plans, acting through [`FromCall`] commands and
//! the other services' gRPC APIs (routing, queue, presence, media).

mod actor;
mod announce;
mod api;
mod attended;
mod busy;
mod callback;
mod dialer;
mod dispatch;
mod hold;
mod lost;
mod menu;
mod message;
mod outbox;
mod record;
pub mod sip;
mod transfer;
mod waiting;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use cc_cluster::{Coordinator, Members, NodeInfo, Owner, Owners, Peers, ShardRoutes, keys};
use cc_common::Config;
use cc_proto::media::internal::v1::media_control_client::MediaControlClient;
use cc_proto::presence::internal::v1::presence_control_client::PresenceControlClient;
use cc_proto::queue::internal::v1::queue_control_client::QueueControlClient;
use cc_proto::routing::internal::v1::routing_client::RoutingClient;
use cc_proto::sip::v1::registrations_client::RegistrationsClient;
use ractor::{Actor, ActorRef};
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;

use crate::core::{CallNo, FromCall, ToCall};
pub use actor::CallMsg;
use actor::{CallActor, CallArgs};
pub use api::CallsApi;
pub use callback::{CallbackTarget, PlaceError, Placed, Placement, place};
pub use dialer::DialerApi;
pub use dispatch::spawn_dispatchers;
pub use sip::Local;

/// The services a call talks to, each over its gRPC API, found in the cluster (in `ccd all`
/// served by this same process, and still reached through gRPC): routing balanced over its
/// nodes, presence at the owner of the shard of the agent a request names
/// ([`CallServices::presence_for`]), each department's queue at its owner, and media on the
/// least loaded node when a call makes its first endpoint (its endpoints then stay on that
/// node, so both legs of a bridge share one). The registered phones are reported to
/// presence too, each at the shard of the agent whose extension it is.
#[derive(Debug, Clone)]
pub struct CallServices {
    pub routing: RoutingClient<Channel>,
    /// A channel to the owner of each presence shard.
    presence: ShardRoutes,
    presence_owners: Owners,
    queue_owners: Owners,
    queues: Arc<Mutex<HashMap<String, QueueControlClient<Channel>>>>,
    queue_nodes: Members,
    media_nodes: Members,
    /// Balanced over every media node: used only while no node is known to pick.
    any_media: MediaControlClient<Channel>,
    peers: Peers,
    /// This node's name in the cluster: queue and presence note it with each call, and
    /// let go of the calls of a node that is gone.
    node: String,
    /// The sip-edge nodes, this one included: a phone registered with another one is rung
    /// through it.
    edges: Members,
}

impl CallServices {
    /// Finds the services through `coordinator` and follows them as nodes come and go;
    /// `node` is this sip-edge node's name in the cluster.
    pub fn discover(coordinator: Arc<dyn Coordinator>, node: String) -> Self {
        let presence_owners = Owners::follow(coordinator.clone(), keys::PRESENCE_OWNERS);
        let media_nodes = Members::follow(coordinator.clone(), "media");
        CallServices {
            routing: RoutingClient::new(Members::follow(coordinator.clone(), "routing").route()),
            presence: ShardRoutes::follow(&presence_owners, keys::PRESENCE_SHARDS),
            presence_owners,
            queue_owners: Owners::follow(coordinator.clone(), keys::QUEUE_OWNERS),
            queues: Arc::default(),
            queue_nodes: Members::follow(coordinator.clone(), "queue"),
            edges: Members::follow(coordinator, "sip-edge"),
            any_media: MediaControlClient::new(media_nodes.route()),
            media_nodes,
            peers: Peers::default(),
            node,
        }
    }

    /// This sip-edge node's name in the cluster.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Where the other sip-edge nodes that have a device of `extension` registered take
    /// SIP: each rings its own devices of the extension when sent an INVITE for it. Asks
    /// them all at once; one that does not answer within `timeout` is left out.
    pub async fn remote_devices(&self, extension: &str, timeout: Duration) -> Vec<SocketAddr> {
        let mut asked = tokio::task::JoinSet::new();
        for edge in self.edges.current() {
            if edge.node == self.node {
                continue;
            }
            let Ok(channel) = self.peers.channel(&edge.address) else {
                continue;
            };
            let request = cc_proto::sip::v1::ListRegistrationsRequest {
                extension: extension.to_owned(),
            };
            asked.spawn(async move {
                let mut client = RegistrationsClient::new(channel);
                let answer = tokio::time::timeout(timeout, client.list_registrations(request));
                match answer.await {
                    Ok(Ok(r)) => {
                        let r = r.into_inner();
                        if r.registrations.is_empty() {
                            return None;
                        }
                        r.sip_address.parse::<SocketAddr>().ok()
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(node = %edge.node, error = %e, "cannot ask a sip-edge node for its devices");
                        None
                    }
                    Err(_) => {
                        tracing::debug!(node = %edge.node, "a sip-edge node did not say in time which devices it has");
                        None
                    }
                }
            });
        }
        let mut found = Vec::new();
        while let Some(answer) = asked.join_next().await {
            if let Ok(Some(address)) = answer {
                found.push(address);
            }
        }
        found.sort();
        found
    }

    /// The queue of `department`, at whichever node owns it now.
    pub fn queue(&self, department: &str) -> QueueControlClient<Channel> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues
            .entry(department.to_owned())
            .or_insert_with(|| QueueControlClient::new(self.queue_owners.route(department)))
            .clone()
    }

    /// Who owns each department's queue, followed live.
    pub fn queue_owners(&self) -> watch::Receiver<BTreeMap<String, Owner>> {
        self.queue_owners.subscribe()
    }

    /// Who owns each presence shard (keyed by the shard number), followed live.
    pub fn presence_owners(&self) -> watch::Receiver<BTreeMap<String, Owner>> {
        self.presence_owners.subscribe()
    }

    /// Presence at the owner of `agent`'s shard: every request naming an agent goes there
    /// (another node answers UNAVAILABLE).
    pub fn presence_for(&self, agent: &str) -> PresenceControlClient<Channel> {
        self.presence_shard(keys::presence_shard(agent))
    }

    /// Presence at the owner of `shard`.
    pub fn presence_shard(&self, shard: u32) -> PresenceControlClient<Channel> {
        PresenceControlClient::new(self.presence.get(shard))
    }

    /// The channels to the owners of the presence shards.
    pub fn presence_routes(&self) -> ShardRoutes {
        self.presence.clone()
    }

    /// The queue nodes (each streams the ring plans of the departments it owns).
    pub fn queue_nodes(&self) -> watch::Receiver<Vec<NodeInfo>> {
        self.queue_nodes.subscribe()
    }

    /// The media nodes (each streams the events of its endpoints).
    pub fn media_nodes(&self) -> watch::Receiver<Vec<NodeInfo>> {
        self.media_nodes.subscribe()
    }

    /// The media node for a new call: one of the least loaded, at random among equals (so a
    /// burst between two load reports spreads).
    /// A media node for a new call's endpoints, the least loaded, with its address (empty
    /// for the media service as a whole, when no node is listed).
    pub fn pick_media(&self) -> (String, MediaControlClient<Channel>) {
        let nodes = self.media_nodes.current();
        let least = nodes.iter().map(|n| n.load).min();
        let candidates: Vec<&NodeInfo> = nodes.iter().filter(|n| Some(n.load) == least).collect();
        if candidates.is_empty() {
            return (String::new(), self.any_media.clone());
        }
        let node = candidates[rand::random_range(0..candidates.len())];
        match self.peers.channel(&node.address) {
            Ok(channel) => (node.address.clone(), MediaControlClient::new(channel)),
            Err(e) => {
                tracing::warn!(node = %node.node, address = %node.address, error = %e, "unusable media node address");
                (String::new(), self.any_media.clone())
            }
        }
    }
}

/// Timings of call handling.
#[derive(Debug, Clone)]
pub struct CallTimings {
    /// Longest wait for one gRPC request to another service.
    pub rpc_timeout: Duration,
    /// How often a waiting caller hears their position at most.
    pub position_every: Duration,
    /// How long an employee's phones ring on a direct call (without mobile forwarding).
    pub dial_ring: Duration,
    /// How long a call lingers after it ended for late answers of its outbound legs.
    pub linger: Duration,
}

impl Default for CallTimings {
    fn default() -> Self {
        CallTimings {
            rpc_timeout: Duration::from_secs(2),
            position_every: Duration::from_secs(40),
            dial_ring: Duration::from_secs(30),
            linger: Duration::from_secs(32),
        }
    }
}

/// What every call actor of a node shares.
#[derive(Debug)]
pub struct CallContext {
    /// The organisation as configured now.
    pub config: tokio::sync::watch::Receiver<Arc<Config>>,
    pub services: CallServices,
    pub local: Local,
    pub timings: CallTimings,
    /// This node's prefix for call ids (unique per process start).
    pub node: String,
    pub core: mpsc::UnboundedSender<FromCall>,
    pub registry: Registry,
    /// What happens to calls, for the events API.
    pub events: tokio::sync::broadcast::Sender<NumberedEvent>,
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    Routing,
    Queued,
    Dialing,
    Talking,
    Ending,
}

/// A call as the calls API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub id: String,
    pub dialed: String,
    pub caller: String,
    pub state: CallState,
    pub department: Option<String>,
    pub agent: Option<String>,
    pub started_unix_ms: u64,
    pub connected_unix_ms: Option<u64>,
    /// Since when the call is on hold; `None` while not held.
    pub held_since_unix_ms: Option<u64>,
}

/// A call event with its place among its call's events (1, 2, ...): the call's own
/// numbering, so that a reader who gets an event twice (through two nodes, or again after
/// a restart) can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberedEvent {
    pub call_seq: u64,
    pub event: CallEvent,
}

/// Which way a call goes, as its start tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// From outside, to one of the organisation's numbers.
    Inbound,
    /// From an employee's phone.
    Internal,
    /// Placed by the callback scheduler to keep a promised callback.
    Callback,
    /// Another sip-edge node's call, ringing this node's phones: that node reports it.
    Relay,
}

/// What happens to calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    Started {
        id: String,
        dialed: String,
        caller: String,
        kind: CallKind,
    },
    Queued {
        id: String,
        department: String,
        position: u32,
    },
    Offered {
        id: String,
        agent: String,
    },
    Answered {
        id: String,
        agent: Option<String>,
    },
    Transferred {
        id: String,
        target: String,
    },
    Ended {
        id: String,
        reason: String,
    },
    /// A connected call went on hold: whoever is held hears the on-hold audio.
    Held {
        id: String,
        by: HoldBy,
    },
    /// A held call talks again.
    Resumed {
        id: String,
    },
    /// The call entered a scenario (routing took it there; reports group calls by it).
    /// Entering the scenario it is in already is no entry; entering it again after
    /// leaving it is (a re-pass).
    Scenario {
        id: String,
        scenario: String,
        /// The agent who put the call into it by hand ("by option"); none: routing did.
        by: Option<String>,
    },
    /// The call entered a scenario operation (reports group calls by it).
    Operation {
        id: String,
        operation: String,
    },
    /// The call left the operation it was in (for the next, another scenario or its end).
    OperationLeft {
        id: String,
        operation: String,
    },
    /// An employee's screening policy turned the call away.
    Screened {
        id: String,
        employee: String,
    },
    /// The call's conversation is being recorded: its department records calls.
    RecordingStarted {
        id: String,
        recording_path: String,
    },
    /// A caller left a message.
    MessageLeft {
        id: String,
        recipient: String,
        caller_number: String,
        recording_path: String,
        /// The recording's length in milliseconds (0 when unknown).
        duration_ms: u64,
        edge_node: String,
    },
    /// The caller asked to be called back: a waiting caller keeping their place
    /// (R-20, `keeps_place`), or a scenario's offer; from a department or an employee. Or
    /// nobody asked and the call was lost (`automatic`, R-43).
    CallbackRequested {
        id: String,
        department: String,
        employee: String,
        number: String,
        enqueued_at_unix_ms: u64,
        priority: u32,
        keeps_place: bool,
        /// Nobody asked: the call was lost and the organisation calls back.
        automatic: Option<Automatic>,
    },
}

/// Why a callback nobody asked for is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Automatic {
    /// The caller hung up while waiting in the department's queue.
    Abandoned,
    /// The employee the caller rang did not answer, and the caller left no message.
    Missed,
}

/// Why an answer to an announcement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnouncementError {
    #[error("the call is not being presented to anyone")]
    NotPresented,
}

/// Who put a connected call on hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldBy {
    /// The caller's phone (or a callback's customer's).
    Caller,
    /// The phone that took the call.
    Callee,
    /// The Calls API, on behalf of the one who took the call.
    Api,
}

/// Why the Calls API cannot hold or resume a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("the call is not connected")]
    NotConnected,
    #[error("the call has ended")]
    Gone,
}

/// Why a transfer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("the call is not connected")]
    NotConnected,
    #[error("target: {0:?} is no extension, and no trunk is configured for outside numbers")]
    Unreachable(String),
    #[error(
        "target: {0:?} is an outside number: only an employee or a department can be announced to"
    )]
    NotAnnounceable(String),
    #[error("the call has ended")]
    Gone,
    #[error("scenario_id: {0:?} is no scenario")]
    NoScenario(String),
    /// An attended transfer names a dialog that is no call's caller on this node.
    #[error("the dialog to replace is not a call on this node")]
    NoSuchDialog,
    /// An attended transfer this node cannot make (and why).
    #[error("attended transfer not possible: {0}")]
    Unsupported(String),
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl CallContext {
    /// The latest configuration.
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }
}

/// Which actor owns which call, media endpoint and queue call id.
#[derive(Debug, Default)]
pub struct Registry {
    calls: Mutex<HashMap<CallNo, ActorRef<CallMsg>>>,
    endpoints: Mutex<HashMap<String, CallNo>>,
    ids: Mutex<HashMap<String, CallNo>>,
    infos: Mutex<HashMap<CallNo, CallInfo>>,
    /// The calls by the SIP Call-ID of their caller's dialog (an attended transfer names
    /// the call it replaces by it).
    callers: Mutex<HashMap<String, CallNo>>,
    /// Each call's own entries, so that forgetting a call touches only those.
    owned: Mutex<HashMap<CallNo, Owned>>,
}

/// What the registry holds for one call.
#[derive(Debug, Default)]
struct Owned {
    id: String,
    endpoints: Vec<String>,
    caller: Option<String>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    pub fn actor(&self, call: CallNo) -> Option<ActorRef<CallMsg>> {
        locked(&self.calls).get(&call).cloned()
    }

    pub fn by_endpoint(&self, endpoint: &str) -> Option<ActorRef<CallMsg>> {
        let call = *locked(&self.endpoints).get(endpoint)?;
        self.actor(call)
    }

    pub fn by_id(&self, id: &str) -> Option<ActorRef<CallMsg>> {
        let call = *locked(&self.ids).get(id)?;
        self.actor(call)
    }

    pub fn add_endpoint(&self, endpoint: &str, call: CallNo) {
        locked(&self.endpoints).insert(endpoint.to_owned(), call);
        if let Some(owned) = locked(&self.owned).get_mut(&call) {
            owned.endpoints.push(endpoint.to_owned());
        }
    }

    /// `endpoint` now belongs to `call` (its media events go there), no longer to the call
    /// that had it.
    pub fn move_endpoint(&self, endpoint: &str, call: CallNo) {
        let from = locked(&self.endpoints).insert(endpoint.to_owned(), call);
        let mut owned = locked(&self.owned);
        if let Some(from) = from.and_then(|f| owned.get_mut(&f)) {
            from.endpoints.retain(|e| e != endpoint);
        }
        if let Some(to) = owned.get_mut(&call) {
            to.endpoints.push(endpoint.to_owned());
        }
    }

    /// Notes the SIP Call-ID of the call's caller dialog.
    pub(crate) fn add_caller(&self, sip_call_id: &str, call: CallNo) {
        locked(&self.callers).insert(sip_call_id.to_owned(), call);
        if let Some(owned) = locked(&self.owned).get_mut(&call) {
            owned.caller = Some(sip_call_id.to_owned());
        }
    }

    /// The call whose caller's dialog has this SIP Call-ID.
    pub fn by_caller(&self, sip_call_id: &str) -> Option<(CallNo, ActorRef<CallMsg>)> {
        let call = *locked(&self.callers).get(sip_call_id)?;
        Some((call, self.actor(call)?))
    }

    /// Every call in progress, oldest first.
    pub fn list(&self) -> Vec<CallInfo> {
        let infos = locked(&self.infos);
        let mut calls: Vec<(CallNo, CallInfo)> =
            infos.iter().map(|(n, i)| (*n, i.clone())).collect();
        calls.sort_by_key(|(n, _)| *n);
        calls.into_iter().map(|(_, i)| i).collect()
    }

    pub fn info(&self, id: &str) -> Option<CallInfo> {
        let call = *locked(&self.ids).get(id)?;
        locked(&self.infos).get(&call).cloned()
    }

    pub(crate) fn update(&self, call: CallNo, change: impl FnOnce(&mut CallInfo)) {
        if let Some(info) = locked(&self.infos).get_mut(&call) {
            change(info);
        }
    }

    pub(crate) fn set_info(&self, call: CallNo, info: CallInfo) {
        locked(&self.infos).insert(call, info);
    }

    /// Live calls.
    pub fn len(&self) -> usize {
        locked(&self.calls).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn insert(&self, call: CallNo, id: &str, actor: ActorRef<CallMsg>) {
        locked(&self.calls).insert(call, actor);
        locked(&self.ids).insert(id.to_owned(), call);
        locked(&self.owned).insert(
            call,
            Owned {
                id: id.to_owned(),
                ..Owned::default()
            },
        );
    }

    fn remove(&self, call: CallNo) {
        locked(&self.calls).remove(&call);
        locked(&self.infos).remove(&call);
        let Some(owned) = locked(&self.owned).remove(&call) else {
            return;
        };
        locked(&self.ids).remove(&owned.id);
        if let Some(caller) = owned.caller {
            locked(&self.callers).remove(&caller);
        }
        let mut all = locked(&self.endpoints);
        for e in owned.endpoints {
            all.remove(&e);
        }
    }
}

/// Hands a core event to its call's actor, creating the actor for a new call.
pub async fn deliver(ctx: &Arc<CallContext>, call: CallNo, event: ToCall) {
    if let ToCall::New { .. } = &event {
        let id = format!("{}-{call}", ctx.node);
        let args = CallArgs {
            no: call,
            id: id.clone(),
            ctx: ctx.clone(),
        };
        match Actor::spawn(None, CallActor, args).await {
            Ok((actor, _)) => {
                ctx.registry.insert(call, &id, actor.clone());
                let _ = actor.cast(CallMsg::Sip(event));
            }
            Err(e) => {
                tracing::error!(call, error = %e, "cannot start a call actor");
                if let ToCall::New { tx, request, .. } = event {
                    let response = cc_sip::Response::to_request(&request, 500, Some("failed"));
                    let _ = ctx.core.send(FromCall::Respond { tx, response });
                }
                let _ = ctx.core.send(FromCall::Ended { call });
            }
        }
        return;
    }
    match ctx.registry.actor(call) {
        Some(actor) => {
            let _ = actor.cast(CallMsg::Sip(event));
        }
        None => tracing::debug!(call, "event for a call that has ended"),
    }
}
