//! The queue's one way to presence: its gRPC APIs, also when both run in one process
//! (DESIGN.md section 1). Presence is sharded: each agent's state lives at the presence node
//! that owns the agent's shard ([`keys::presence_shard`]), so every request about an agent
//! goes to that shard's channel in [`ShardRoutes`], and the agents are followed shard by
//! shard. `cc.presence.internal.v1.PresenceControl` to follow a shard's agents
//! (`WatchShard`) and to reserve and release them, `cc.agents.v1.Agents` to pause the ones
//! who miss offers. Every request is bounded by a timeout; a shard's stream is opened within
//! one and then read for as long as it lasts. The wire types stop here: the rest of the
//! crate sees [`Seen`] news, a [`Reservation`] outcome and a [`tonic::Status`] for "presence
//! slow or unreachable" (a node that does not own the shard answers UNAVAILABLE).

use std::future::Future;
use std::time::Duration;

use cc_cluster::ShardRoutes;
use cc_cluster::keys;
use cc_proto::agents::v1 as agents;
use cc_proto::agents::v1::agents_client::AgentsClient;
use cc_proto::presence::internal::v1 as control;
use cc_proto::presence::internal::v1::presence_control_client::PresenceControlClient;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

use crate::actor::Seen;
use crate::core::{AgentId, CallId, EdgeNode, PauseReason};

/// What presence answered a reservation with, when it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reservation {
    /// The agent is ours for the call until the ttl, unless rung.
    Taken,
    /// Presence refused: the agent is not available (taken, offline, paused, busy) or not an
    /// agent at all. An expected outcome of racing other news, not a failure.
    Refused(String),
}

/// Presence's gRPC APIs, one channel per shard.
#[derive(Debug, Clone)]
pub(crate) struct PresenceLink {
    routes: ShardRoutes,
    timeout: Duration,
}

impl PresenceLink {
    /// Presence at `routes` (each shard's owner); each request gives up after `timeout`.
    pub(crate) fn new(routes: ShardRoutes, timeout: Duration) -> Self {
        Self { routes, timeout }
    }

    /// How many shards presence's agents are cut into (`0..shards()`).
    pub(crate) fn shards(&self) -> u32 {
        self.routes.count()
    }

    /// The channel to the presence node that owns `agent`'s shard.
    fn channel_of(&self, agent: &AgentId) -> Channel {
        self.routes.get(keys::presence_shard(agent.as_str()))
    }

    /// `PresenceControl` at the owner of `agent`'s shard.
    fn control_of(&self, agent: &AgentId) -> PresenceControlClient<Channel> {
        PresenceControlClient::new(self.channel_of(agent))
    }

    /// Takes `agent` for `call`, carried by the sip-edge node `edge` when known, for at most
    /// `ttl`. `Err` means presence did not answer (slow, unreachable) or refused the request
    /// itself (a ttl beyond its maximum): the reservation may or may not exist.
    pub(crate) async fn reserve(
        &self,
        agent: &AgentId,
        call: &CallId,
        edge: Option<&EdgeNode>,
        ttl: Duration,
    ) -> Result<Reservation, Status> {
        let request = reserve_request(agent, call, edge, ttl);
        let mut client = self.control_of(agent);
        match self.bounded(client.reserve(request)).await {
            Ok(_) => Ok(Reservation::Taken),
            Err(status) => reservation_refused(status).map(Reservation::Refused),
        }
    }

    /// Frees `agent` from `call` (ring stopped, the call went elsewhere).
    pub(crate) async fn release(&self, agent: &AgentId, call: &CallId) -> Result<(), Status> {
        let request = control::AgentCall {
            agent_id: agent.to_string(),
            call_id: call.to_string(),
        };
        let mut client = self.control_of(agent);
        self.bounded(client.released(request)).await.map(drop)
    }

    /// Pauses `agent` for `reason` (through the public Agents API, as a supervisor would).
    pub(crate) async fn pause(&self, agent: &AgentId, reason: PauseReason) -> Result<(), Status> {
        let reason = match reason {
            PauseReason::NoAnswer => agents::PauseReason::NoAnswer,
        };
        let request = agents::PauseRequest {
            agent_id: agent.to_string(),
            reason: reason.into(),
            text: String::new(),
        };
        let mut client = AgentsClient::new(self.channel_of(agent));
        self.bounded(client.pause(request)).await.map(drop)
    }

    /// The agents of `shard`: first every one as it is now (ADDED), then each change, from
    /// the node that owns the shard. Opening fails with UNAVAILABLE when the node asked does
    /// not own the shard (no owner yet, or a takeover in progress).
    pub(crate) async fn watch_shard(&self, shard: u32) -> Result<AgentNews, Status> {
        let request = control::WatchShardRequest { shard };
        let mut client = PresenceControlClient::new(self.routes.get(shard));
        let stream = self
            .bounded(client.watch_shard(request))
            .await?
            .into_inner();
        Ok(AgentNews { stream })
    }

    /// Waits for `request` at most the link's timeout.
    async fn bounded<T>(
        &self,
        request: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<tonic::Response<T>, Status> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(answered) => answered,
            Err(_) => Err(Status::deadline_exceeded(format!(
                "presence did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

/// One shard's stream of agents (the snapshot, then the changes), as [`Seen`] news.
#[derive(Debug)]
pub(crate) struct AgentNews {
    stream: Streaming<agents::AgentEvent>,
}

impl AgentNews {
    /// The next agent or change; `None` when presence ended the stream (it stopped),
    /// `Some(Err)` when the stream broke (connection lost, the node stopped owning the shard,
    /// or this watcher fell too far behind).
    pub(crate) async fn next(&mut self) -> Option<Result<(AgentId, Seen), Status>> {
        match self.stream.message().await {
            Ok(Some(event)) => Some(Ok(news(event))),
            Ok(None) => None,
            Err(status) => Some(Err(status)),
        }
    }
}

/// A reservation on the wire; an unknown edge is empty.
fn reserve_request(
    agent: &AgentId,
    call: &CallId,
    edge: Option<&EdgeNode>,
    ttl: Duration,
) -> control::ReserveRequest {
    control::ReserveRequest {
        agent_id: agent.to_string(),
        call_id: call.to_string(),
        ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        edge_node: edge.map(ToString::to_string).unwrap_or_default(),
    }
}

/// Whether a failed reservation is presence's "no" (`Ok`, with its reason) rather than
/// presence being slow, unreachable or refusing the request itself (`Err`).
fn reservation_refused(status: Status) -> Result<String, Status> {
    match status.code() {
        Code::FailedPrecondition | Code::NotFound => Ok(status.message().to_owned()),
        _ => Err(status),
    }
}

/// One event of a shard's stream: an ADDED agent (the snapshot) or a change, each decided by
/// its new state; a removed agent is no longer offerable.
fn news(event: agents::AgentEvent) -> (AgentId, Seen) {
    use agents::agent_event::Kind;
    let seen = match event.kind() {
        Kind::Removed => Seen::Unavailable,
        Kind::Added | Kind::StateChanged | Kind::Unspecified => seen(event.to(), event.call_id),
    };
    (AgentId::new(event.agent_id), seen)
}

/// An agent's state reduced to what the queue needs. `call_id` is the call of the state
/// when it is call-bound (an event names the call of the state left otherwise, which is
/// why the state decides).
fn seen(state: agents::AgentState, call_id: String) -> Seen {
    use agents::AgentState as S;
    match state {
        S::Available => Seen::Available,
        S::Reserved | S::Ringing | S::OnCall if !call_id.is_empty() => {
            Seen::OnCall(CallId::new(call_id))
        }
        S::Reserved
        | S::Ringing
        | S::OnCall
        | S::Offline
        | S::WrapUp
        | S::Paused
        | S::Unspecified => Seen::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_presences_no_withdraws_an_agent() {
        let refused = [
            Status::failed_precondition("agent anna cannot be reserved: paused (break)"),
            Status::not_found("agent_id: \"zed\" is not an agent"),
        ];
        for status in refused {
            assert_eq!(
                reservation_refused(status.clone()).unwrap(),
                status.message()
            );
        }
        let not_an_answer = [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Cancelled,
            Code::Unknown,
            Code::Internal,
            Code::InvalidArgument,
            Code::ResourceExhausted,
        ];
        for code in not_an_answer {
            let e = reservation_refused(Status::new(code, "no")).unwrap_err();
            assert_eq!(e.code(), code);
        }
    }

    #[test]
    fn a_reservation_names_the_calls_edge_node() {
        let (anna, c1) = (AgentId::new("anna"), CallId::new("c1"));
        let edge = EdgeNode::new("edge-a");
        let request = reserve_request(&anna, &c1, Some(&edge), Duration::from_secs(20));
        assert_eq!(
            request,
            control::ReserveRequest {
                agent_id: "anna".into(),
                call_id: "c1".into(),
                ttl_ms: 20_000,
                edge_node: "edge-a".into(),
            }
        );
        let unknown = reserve_request(&anna, &c1, None, Duration::from_secs(20));
        assert_eq!(unknown.edge_node, "");
    }

    #[test]
    fn the_new_state_decides_what_the_queue_sees() {
        let event = |kind: agents::agent_event::Kind, to: agents::AgentState, call: &str| {
            agents::AgentEvent {
                agent_id: "anna".into(),
                kind: kind.into(),
                to: to.into(),
                call_id: call.into(),
                ..Default::default()
            }
        };
        use agents::AgentState as S;
        use agents::agent_event::Kind as K;
        let anna = AgentId::new("anna");
        let cases = [
            // The snapshot of a shard: each agent ADDED in its current state.
            (K::Added, S::Offline, "", Seen::Unavailable),
            (K::Added, S::Available, "", Seen::Available),
            (K::Added, S::Ringing, "c1", Seen::OnCall(CallId::new("c1"))),
            (K::Added, S::Paused, "", Seen::Unavailable),
            (K::StateChanged, S::Available, "", Seen::Available),
            (
                K::StateChanged,
                S::Reserved,
                "c1",
                Seen::OnCall(CallId::new("c1")),
            ),
            (
                K::StateChanged,
                S::OnCall,
                "c1",
                Seen::OnCall(CallId::new("c1")),
            ),
            // Wrap-up after c1: the event names c1 (the call left), the agent is not on it.
            (K::StateChanged, S::WrapUp, "c1", Seen::Unavailable),
            (K::StateChanged, S::Paused, "", Seen::Unavailable),
            (K::Removed, S::Unspecified, "c1", Seen::Unavailable),
        ];
        for (kind, to, call, expected) in cases {
            assert_eq!(
                news(event(kind, to, call)),
                (anna.clone(), expected),
                "{kind:?} to {to:?}"
            );
        }
    }
}
