//! `cc.callbacks.v1.Callbacks`: the scheduler seen from gRPC. Handlers only convert (see
//! [`crate::convert`]); every decision is the core's.
//!
//! Any scheduler node answers. Schedule, Cancel and Reschedule need the leader: a node
//! that does not lead forwards them to the node the election key names, once (a forwarded
//! request is marked and never forwarded again), and answers UNAVAILABLE while nobody
//! leads. Get, List and Watch read the store where they are asked.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use cc_cluster::{NodeInfo, Owners, Peers};
use cc_proto::callbacks::v1 as pb;
use cc_proto::callbacks::v1::callbacks_client::CallbacksClient;
use cc_proto::callbacks::v1::callbacks_server::{Callbacks, CallbacksServer};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::ServiceError;
use crate::events::{self, WatchError};
use crate::service::{ELECTION_KEY, ELECTION_NAME, ELECTION_PREFIX, SchedulerHandle};

/// Marks a request one scheduler node forwarded to another.
const FORWARDED: &str = "x-cc-forwarded";

/// How long the leader may take to answer a forwarded request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// The Callbacks service over one node's scheduler.
#[derive(Debug, Clone)]
pub struct CallbacksApi {
    scheduler: SchedulerHandle,
    /// Who leads, followed from the election key.
    leaders: Owners,
    peers: Peers,
}

impl CallbacksApi {
    /// The service over `scheduler` (without the tonic wrapper, e.g. for tests). Follows
    /// the election through the scheduler's coordinator, to forward to the leader.
    pub fn new(scheduler: SchedulerHandle) -> Self {
        let leaders = Owners::follow(scheduler.coordinator(), ELECTION_PREFIX);
        Self {
            scheduler,
            leaders,
            peers: Peers::default(),
        }
    }

    /// The tonic server for `scheduler`.
    pub fn server(scheduler: SchedulerHandle) -> CallbacksServer<CallbacksApi> {
        CallbacksServer::new(Self::new(scheduler))
    }

    /// Answers with this node's `result`, or, when this node does not lead, with what
    /// `remote` gets from the leader (unless the request was forwarded here already).
    async fn answer<T, R, F>(
        &self,
        forwarded: bool,
        result: Result<T, ServiceError>,
        reply: impl FnOnce(T) -> R,
        remote: impl FnOnce(CallbacksClient<Channel>) -> F,
    ) -> Result<Response<R>, Status>
    where
        F: Future<Output = Result<Response<R>, Status>>,
    {
        match result {
            Ok(value) => Ok(Response::new(reply(value))),
            Err(ServiceError::NotLeader) if !forwarded => {
                let client = CallbacksClient::new(self.leader().await?);
                match tokio::time::timeout(FORWARD_TIMEOUT, remote(client)).await {
                    Ok(answer) => answer,
                    Err(_) => Err(Status::unavailable(
                        "the callback scheduler leader did not answer in time; retry",
                    )),
                }
            }
            Err(ServiceError::NotLeader) => Err(Status::unavailable(
                "the node the election named does not lead the callback scheduler any more (leadership is moving); retry",
            )),
            Err(e) => Err(convert::status(e)),
        }
    }

    /// A channel to the leader, when another node leads.
    async fn leader(&self) -> Result<Channel, Status> {
        let leader = match self.leaders.get(ELECTION_NAME) {
            Some(owner) => owner.node,
            // Not seen yet (this node just started following), or really nobody.
            None => self.read_leader().await?,
        };
        if leader.node == self.scheduler.node().node {
            return Err(Status::unavailable(
                "this node is taking over or giving up the callback scheduler's leadership; retry",
            ));
        }
        self.peers.channel(&leader.address).map_err(|e| {
            Status::unavailable(format!(
                "callback scheduler leader {} at {:?}: {e}",
                leader.node, leader.address
            ))
        })
    }

    /// The leader as the election key says now.
    async fn read_leader(&self) -> Result<NodeInfo, Status> {
        let kv = self
            .scheduler
            .coordinator()
            .get(ELECTION_KEY)
            .await
            .map_err(|e| {
                Status::unavailable(format!(
                    "cannot read the callback scheduler's election: {e}"
                ))
            })?
            .ok_or_else(|| {
                Status::unavailable(
                    "no callback scheduler leads right now (an election is under way); retry",
                )
            })?;
        serde_json::from_slice(&kv.value).map_err(|e| {
            Status::unavailable(format!(
                "the callback scheduler's election key holds no readable leader: {e}"
            ))
        })
    }
}

/// `message` as a request one scheduler node forwards to another.
fn forwarded<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    request
}

/// Whether `request` was forwarded by another scheduler node.
fn was_forwarded<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FORWARDED)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::CallbackEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Callbacks for CallbacksApi {
    async fn schedule_callback(
        &self,
        request: Request<pb::ScheduleCallbackRequest>,
    ) -> Result<Response<pb::ScheduleCallbackResponse>, Status> {
        let hop = was_forwarded(&request);
        let mut request = request.into_inner();
        if request.callback_id.is_empty() {
            // Chosen here, so that the leader gets the same id whichever way it goes.
            request.callback_id = convert::new_id();
        }
        let domain = convert::request(&request, self.scheduler.clock().now())?;
        let result = self.scheduler.schedule(domain).await;
        self.answer(
            hop,
            result,
            |s| pb::ScheduleCallbackResponse {
                callback: Some(convert::callback(&s.record)),
                merged: matches!(s.accepted, crate::core::Accepted::Merged(_)),
            },
            |mut c| async move { c.schedule_callback(forwarded(request)).await },
        )
        .await
    }

    async fn get_callback(
        &self,
        request: Request<pb::GetCallbackRequest>,
    ) -> Result<Response<pb::Callback>, Status> {
        let id = convert::callback_id("callback_id", &request.get_ref().callback_id)?;
        let stored = self.scheduler.get(&id).await.map_err(convert::status)?;
        Ok(Response::new(convert::callback(&stored.record)))
    }

    async fn list_callbacks(
        &self,
        request: Request<pb::ListCallbacksRequest>,
    ) -> Result<Response<pb::ListCallbacksResponse>, Status> {
        let (filter, size, after) = convert::list(request.get_ref())?;
        let (stored, revision) = self.scheduler.list().await.map_err(convert::status)?;
        let mut page = stored
            .iter()
            .filter(|s| after.as_ref().is_none_or(|a| s.record.id > *a))
            .filter(|s| filter.matches(&s.record));
        let callbacks: Vec<&crate::core::Record> =
            page.by_ref().take(size).map(|s| &s.record).collect();
        let next_page_token = match (callbacks.last(), page.next()) {
            (Some(last), Some(_)) => convert::page_token(&last.id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListCallbacksResponse {
            callbacks: callbacks.into_iter().map(convert::callback).collect(),
            next_page_token,
            revision: u64::try_from(revision).unwrap_or(0),
        }))
    }

    async fn cancel_callback(
        &self,
        request: Request<pb::CancelCallbackRequest>,
    ) -> Result<Response<pb::Callback>, Status> {
        let hop = was_forwarded(&request);
        let request = request.into_inner();
        let id = convert::callback_id("callback_id", &request.callback_id)?;
        let result = self.scheduler.cancel(id).await;
        self.answer(
            hop,
            result,
            |r| convert::callback(&r),
            |mut c| async move { c.cancel_callback(forwarded(request)).await },
        )
        .await
    }

    async fn reschedule_callback(
        &self,
        request: Request<pb::RescheduleCallbackRequest>,
    ) -> Result<Response<pb::Callback>, Status> {
        let hop = was_forwarded(&request);
        let request = request.into_inner();
        let id = convert::callback_id("callback_id", &request.callback_id)?;
        // The callback's own time zone when the request names none: read it (an unknown
        // callback is refused by the leader, which knows).
        let current = if request.time_zone.is_empty() {
            match self.scheduler.get(&id).await {
                Ok(stored) => Some(stored.record.window.tz().to_owned()),
                Err(ServiceError::NotFound(_)) => None,
                Err(e) => return Err(convert::status(e)),
            }
        } else {
            None
        };
        let reschedule =
            convert::reschedule(&request, current.as_deref(), self.scheduler.clock().now())?;
        let result = self.scheduler.reschedule(id, reschedule).await;
        self.answer(
            hop,
            result,
            |r| convert::callback(&r),
            |mut c| async move { c.reschedule_callback(forwarded(request)).await },
        )
        .await
    }

    type WatchCallbackEventsStream = EventStream;

    async fn watch_callback_events(
        &self,
        request: Request<pb::WatchCallbackEventsRequest>,
    ) -> Result<Response<Self::WatchCallbackEventsStream>, Status> {
        let (from, filter) = convert::watch(request.get_ref())?;
        let changes = events::watch(self.scheduler.coordinator(), from)
            .await
            .map_err(watch_status)?;
        let stream = ReceiverStream::new(changes).filter_map(move |change| match change {
            Ok(change) if filter.matches(&change.record) => Some(Ok(pb::CallbackEvent {
                revision: u64::try_from(change.revision).unwrap_or(0),
                change: change.record.last_change().map(convert::change),
                callback: Some(convert::callback(&change.record)),
            })),
            Ok(_) => None,
            Err(e) => Some(Err(watch_status(e))),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

fn watch_status(e: WatchError) -> Status {
    match e {
        e @ WatchError::Compacted { .. } => Status::out_of_range(format!("from_revision: {e}")),
        e @ WatchError::Unavailable(_) => Status::unavailable(e.to_string()),
    }
}
