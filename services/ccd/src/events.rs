//! `cc.events.v1.Events`: one numbered stream of what happens in the cluster (calls from
//! sip-edge, agent states from presence, queue sizes from the queues), kept for a while so
//! a watcher can resume from the sequence after its last one.
//!
//! Each node has two hubs. The *local* one numbers what this node's own services do (its
//! in-process subscriptions; agent states only while this node owns presence, so a standby
//! says nothing). The *cluster* one gathers the local hubs of every sip-edge, presence and
//! queue node (its own in process, the others over `WatchEvents { local_only }`, resumed
//! after a broken stream) and numbers them again, so whichever node a watcher picks it sees
//! everything, in one order.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use cc_cluster::{Coordinator, follow_nodes};
use cc_common::Shutdown;
use cc_proto::events::v1 as pb;
use cc_proto::events::v1::events_client::EventsClient;
use cc_proto::events::v1::events_server::{Events, EventsServer};
use cc_sip_edge::calls::{Automatic, CallEvent, CallKind, HoldBy};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

/// How many events are kept for resuming watchers.
const HISTORY: usize = 16_384;

#[derive(Debug)]
struct State {
    next: u64,
    /// When the numbering began (the hub's creation).
    since: u64,
    history: VecDeque<pb::Event>,
}

/// The node's event stream.
#[derive(Debug, Clone)]
pub struct EventHub {
    state: Arc<Mutex<State>>,
    live: broadcast::Sender<pb::Event>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub {
            state: Arc::new(Mutex::new(State {
                next: 1,
                since: unix_ms(),
                history: VecDeque::new(),
            })),
            live: broadcast::channel(4096).0,
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EventHub {
    /// Numbers an event that happens now, keeps it, and hands it to the watchers.
    pub fn publish(&self, event: pb::event::Event) {
        self.publish_call(0, event);
    }

    /// [`EventHub::publish`] for a call's event, `call_sequence` its place among its
    /// call's events.
    pub fn publish_call(&self, call_sequence: u64, event: pb::event::Event) {
        self.relay(pb::Event {
            sequence: 0,
            unix_ms: unix_ms(),
            numbered_since_unix_ms: 0,
            call_sequence,
            event: Some(event),
        });
    }

    /// Numbers an event another hub numbered (keeping when it happened and its call's
    /// numbering), keeps it, and hands it to the watchers.
    fn relay(&self, mut e: pb::Event) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        e.sequence = s.next;
        e.numbered_since_unix_ms = s.since;
        s.next += 1;
        if s.history.len() >= HISTORY {
            s.history.pop_front();
        }
        s.history.push_back(e.clone());
        // Sent under the lock: watchers see the events in sequence order.
        let _ = self.live.send(e);
    }

    /// The kept events from `from` on (from the oldest kept with [`Start::Oldest`]), and
    /// the live ones after them.
    #[allow(clippy::result_large_err)]
    fn watch(
        &self,
        from: Start,
    ) -> Result<(Vec<pb::Event>, broadcast::Receiver<pb::Event>), Status> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.live.subscribe();
        let from = match from {
            Start::Now => return Ok((Vec::new(), live)),
            Start::Oldest => return Ok((s.history.iter().cloned().collect(), live)),
            Start::Sequence(from) => from,
        };
        if from > s.next {
            return Err(Status::invalid_argument(format!(
                "from_sequence: {from} is beyond the next sequence {}",
                s.next
            )));
        }
        let oldest = s.history.front().map_or(s.next, |e| e.sequence);
        if from < oldest {
            return Err(Status::out_of_range(format!(
                "from_sequence: {from} is no longer kept (oldest {oldest}); re-read the state and watch from 0"
            )));
        }
        let replay = s
            .history
            .iter()
            .filter(|e| e.sequence >= from)
            .cloned()
            .collect();
        Ok((replay, live))
    }

    /// Follows this node's services until `shutdown`; presence's agent states only of the
    /// agents this node serves (the others are forgotten here, and their owner tells).
    pub fn follow(
        &self,
        edge: Option<&cc_sip_edge::EdgeHandle>,
        presence: Option<cc_presence::PresenceHandle>,
        queue: Option<cc_queue::QueueHandle>,
        shutdown: Shutdown,
    ) {
        if let Some(mut calls) = edge.and_then(|e| e.call_events()) {
            let hub = self.clone();
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.wait() => return,
                        e = calls.recv() => match e {
                            Ok(e) => hub.publish_call(e.call_seq, call_event(e.event)),
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(missed = n, "events: fell behind the call events");
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                }
            });
        }
        if let Some(presence) = presence {
            let scope = presence.scope();
            let hub = self.clone();
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                let mut agents = match presence.watch(0).await {
                    Ok(s) => s,
                    Err(e) => return tracing::warn!(error = %e, "events: no agent events"),
                };
                loop {
                    tokio::select! {
                        _ = stop.wait() => return,
                        e = agents.recv() => match e {
                            Some(Ok(cc_presence::core::PresenceEvent::AgentStateChanged { agent, to, .. })) if scope.borrow().covers(&agent) => {
                                hub.publish(pb::event::Event::AgentStateChanged(pb::AgentStateChanged {
                                    agent_id: agent.as_str().to_owned(),
                                    state: cc_presence::api::proto_state(&to).into(),
                                }));
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => return tracing::warn!(error = %e, "events: agent events ended"),
                            None => return,
                        }
                    }
                }
            });
        }
        if let Some(queue) = queue {
            let hub = self.clone();
            let mut stop = shutdown;
            let mut queues = queue.subscribe();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.wait() => return,
                        e = queues.recv() => match e {
                            Ok(cc_queue::QueueEvent::QueueChanged { department, waiting }) => {
                                hub.publish(pb::event::Event::QueueChanged(pb::QueueChanged {
                                    department_id: department.as_str().to_owned(),
                                    waiting: u32::try_from(waiting).unwrap_or(u32::MAX),
                                }));
                            }
                            Ok(_) => {}
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(missed = n, "events: fell behind the queue events");
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                }
            });
        }
    }
}

/// Where a watcher starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Only events from now on.
    Now,
    /// The oldest kept event on.
    Oldest,
    /// This sequence on.
    Sequence(u64),
}

impl Start {
    fn of(request: &pb::WatchEventsRequest) -> Start {
        match (request.from_oldest, request.from_sequence) {
            (true, _) => Start::Oldest,
            (false, 0) => Start::Now,
            (false, n) => Start::Sequence(n),
        }
    }
}

/// How soon a broken stream from another node is opened again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// The services whose nodes have events to gather.
const SOURCES: [&str; 3] = ["sip-edge", "presence", "queue"];

/// Feeds `cluster` with `local` (in process) and with the local hubs of every other
/// sip-edge, presence and queue node (`me` is this node's advertised address), following
/// nodes as they come and go, until `shutdown`.
pub fn gather(
    cluster: &EventHub,
    local: &EventHub,
    coordinator: Arc<dyn Coordinator>,
    me: String,
    shutdown: Shutdown,
) {
    let mut own = local.live.subscribe();
    let into = cluster.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.wait() => return,
                e = own.recv() => match e {
                    Ok(e) => into.relay(e),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "events: fell behind this node's events");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let cluster = cluster.clone();
    follow_nodes(
        coordinator,
        &SOURCES,
        Some(me),
        "events",
        async move {
            let mut shutdown = shutdown;
            shutdown.wait().await;
        },
        move |address, channel| {
            tokio::spawn(follow_node(cluster.clone(), address.to_owned(), channel))
        },
    );
}

/// Follows one node's local events into `cluster`, resuming after its last one.
async fn follow_node(cluster: EventHub, address: String, channel: tonic::transport::Channel) {
    let mut client = EventsClient::new(channel);
    let mut next = 0;
    loop {
        let request = pb::WatchEventsRequest {
            from_sequence: next,
            local_only: true,
            from_oldest: false,
        };
        match client.watch_events(request).await {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(e)) => {
                            next = e.sequence + 1;
                            cluster.relay(e);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(%address, error = %e, "events: a node's stream broke");
                            break;
                        }
                    }
                }
            }
            Err(e) if e.code() == tonic::Code::OutOfRange => {
                tracing::warn!(%address, error = %e, "events: a node's events were missed; following it from now on");
                next = 0;
                continue;
            }
            Err(e) => tracing::debug!(%address, error = %e, "events: node not reachable yet"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

fn call_event(e: CallEvent) -> pb::event::Event {
    use pb::event::Event as E;
    match e {
        CallEvent::Started {
            id,
            dialed,
            caller,
            kind,
        } => E::CallStarted(pb::CallStarted {
            call_id: id,
            dialed,
            caller,
            call_type: match kind {
                CallKind::Inbound => pb::CallType::Inbound,
                CallKind::Internal => pb::CallType::Internal,
                CallKind::Callback => pb::CallType::Callback,
                CallKind::Relay => pb::CallType::Relay,
            }
            .into(),
        }),
        CallEvent::Queued {
            id,
            department,
            position,
        } => E::CallQueued(pb::CallQueued {
            call_id: id,
            department_id: department,
            position,
        }),
        CallEvent::Offered { id, agent } => E::CallOffered(pb::CallOffered {
            call_id: id,
            agent_id: agent,
        }),
        CallEvent::Answered { id, agent } => E::CallAnswered(pb::CallAnswered {
            call_id: id,
            agent_id: agent.unwrap_or_default(),
        }),
        CallEvent::Transferred { id, target } => E::CallTransferred(pb::CallTransferred {
            call_id: id,
            target,
        }),
        CallEvent::Ended { id, reason } => E::CallEnded(pb::CallEnded {
            call_id: id,
            reason,
        }),
        CallEvent::MessageLeft {
            id,
            recipient,
            caller_number,
            recording_path,
            duration_ms,
            edge_node,
        } => E::MessageLeft(pb::MessageLeft {
            call_id: id,
            recipient_id: recipient,
            caller_number,
            recording_path,
            seconds: duration_ms as f64 / 1000.0,
            edge_node,
        }),
        CallEvent::Held { id, by } => E::CallHeld(pb::CallHeld {
            call_id: id,
            by: match by {
                HoldBy::Caller => pb::HoldBy::Caller,
                HoldBy::Callee => pb::HoldBy::Callee,
                HoldBy::Api => pb::HoldBy::Api,
            }
            .into(),
        }),
        CallEvent::Resumed { id } => E::CallResumed(pb::CallResumed { call_id: id }),
        CallEvent::Scenario { id, scenario, by } => E::CallScenario(pb::CallScenario {
            call_id: id,
            scenario_id: scenario,
            by_agent_id: by.unwrap_or_default(),
        }),
        CallEvent::Operation { id, operation } => E::CallOperation(pb::CallOperation {
            call_id: id,
            operation_id: operation,
        }),
        CallEvent::OperationLeft { id, operation } => E::CallOperationLeft(pb::CallOperationLeft {
            call_id: id,
            operation_id: operation,
        }),
        CallEvent::Screened { id, employee } => E::CallScreened(pb::CallScreened {
            call_id: id,
            employee_id: employee,
        }),
        CallEvent::RecordingStarted { id, recording_path } => {
            E::CallRecordingStarted(pb::CallRecordingStarted {
                call_id: id,
                recording_path,
            })
        }
        CallEvent::CallbackRequested {
            id,
            department,
            employee,
            number,
            enqueued_at_unix_ms,
            priority,
            keeps_place,
            automatic,
        } => E::CallbackRequested(pb::CallbackRequested {
            call_id: id,
            department_id: department,
            number,
            enqueued_at_unix_ms,
            priority,
            employee_id: employee,
            keeps_place,
            lost: match automatic {
                None => pb::LostCall::Unspecified,
                Some(Automatic::Abandoned) => pb::LostCall::Abandoned,
                Some(Automatic::Missed) => pb::LostCall::Missed,
            }
            .into(),
        }),
    }
}

/// The gRPC face of the hubs.
#[derive(Debug, Clone)]
pub struct EventsApi {
    cluster: EventHub,
    local: EventHub,
}

impl EventsApi {
    pub fn server(cluster: EventHub, local: EventHub) -> EventsServer<EventsApi> {
        EventsServer::new(EventsApi { cluster, local })
    }
}

type Watch = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl Events for EventsApi {
    type WatchEventsStream = Watch;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Watch>, Status> {
        let request = request.into_inner();
        let hub = if request.local_only {
            &self.local
        } else {
            &self.cluster
        };
        let (replay, live) = hub.watch(Start::of(&request))?;
        let last = replay.last().map(|e| e.sequence);
        let replayed = tokio_stream::iter(replay.into_iter().map(Ok));
        let live = BroadcastStream::new(live)
            // Events published between the replay and the subscription come twice: skip them.
            .filter(move |e| !matches!((e, last), (Ok(e), Some(l)) if e.sequence <= l))
            .map(|e| match e {
                Ok(e) => Ok(e),
                Err(BroadcastStreamRecvError::Lagged(n)) => Err(Status::data_loss(format!(
                    "the watcher fell {n} events behind; resume from its last sequence + 1"
                ))),
            });
        Ok(Response::new(Box::pin(replayed.chain(live)) as Watch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue_changed(waiting: u32) -> pb::event::Event {
        pb::event::Event::QueueChanged(pb::QueueChanged {
            department_id: "sales".into(),
            waiting,
        })
    }

    #[test]
    fn events_are_numbered_and_a_watcher_resumes_from_a_kept_sequence() {
        let hub = EventHub::default();
        for w in 0..5 {
            hub.publish(queue_changed(w));
        }
        let (replay, _) = hub.watch(Start::Sequence(3)).unwrap();
        assert_eq!(
            replay.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        let (replay, mut live) = hub.watch(Start::Sequence(6)).unwrap();
        assert!(replay.is_empty());
        hub.publish(queue_changed(9));
        assert_eq!(live.try_recv().unwrap().sequence, 6);
        assert_eq!(
            hub.watch(Start::Sequence(8)).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn a_sequence_no_longer_kept_is_out_of_range() {
        let hub = EventHub::default();
        for w in 0..(HISTORY as u32 + 10) {
            hub.publish(queue_changed(w));
        }
        let e = hub.watch(Start::Sequence(2)).unwrap_err();
        assert_eq!(e.code(), tonic::Code::OutOfRange);
        assert!(e.message().contains("from_sequence"), "{}", e.message());
    }

    #[test]
    fn a_relayed_event_keeps_its_time_and_its_calls_numbering() {
        let local = EventHub::default();
        let cluster = EventHub::default();
        cluster.publish(queue_changed(1));
        local.publish_call(
            4,
            pb::event::Event::CallResumed(pb::CallResumed {
                call_id: "c1".into(),
            }),
        );
        let (kept, _) = local.watch(Start::Oldest).unwrap();
        let original = kept[0].clone();
        cluster.relay(original.clone());
        let (all, _) = cluster.watch(Start::Oldest).unwrap();
        let relayed = &all[1];
        assert_eq!(relayed.sequence, 2, "numbered by the hub that relays it");
        assert_eq!(relayed.call_sequence, 4);
        assert_eq!(relayed.unix_ms, original.unix_ms);
        assert_eq!(all[0].call_sequence, 0, "no call event");
        assert!(relayed.numbered_since_unix_ms > 0);
    }

    #[test]
    fn the_oldest_kept_event_is_where_a_rereading_watcher_starts() {
        let hub = EventHub::default();
        for w in 0..(HISTORY as u32 + 3) {
            hub.publish(queue_changed(w));
        }
        let (replay, _) = hub.watch(Start::Oldest).unwrap();
        assert_eq!(replay.len(), HISTORY);
        assert_eq!(replay[0].sequence, 4);
        let request = pb::WatchEventsRequest {
            from_sequence: 2,
            local_only: true,
            from_oldest: true,
        };
        assert_eq!(Start::of(&request), Start::Oldest);
    }
}
