//! The streams every call needs but no call owns: media events (by endpoint) from every
//! media node, and the queues' ring plans (by call id) from every queue node, each re-opened
//! after a failure and followed as nodes come and go, fanned out to the call actors through
//! the registry. And the queue owners: when a department's queue moves to another node
//! (or its owner starts afresh), this node's calls waiting in it join it again; when a
//! presence shard does, the calls tell its new owner which of its agents they hold.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{NodeInfo, NodeTasks, Owner};
use cc_common::Shutdown;
use cc_proto::media::internal::v1::media_control_client::MediaControlClient;
use cc_proto::media::internal::v1::{MediaEvent, WatchEventsRequest};
use cc_proto::queue::internal::v1::queue_control_client::QueueControlClient;
use cc_proto::queue::internal::v1::{OfferEvent, WatchOffersRequest};
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use super::{CallContext, CallMsg, CallState};
use crate::shards::OwnerTokens;

/// Starts the media and queue subscriptions and the re-enqueueing; all end on `shutdown`.
pub fn spawn_dispatchers(ctx: Arc<CallContext>, shutdown: Shutdown) {
    let media = ctx.clone();
    tokio::spawn(each_node(
        "media events",
        ctx.services.media_nodes(),
        shutdown.clone(),
        move |channel: Channel| {
            let ctx = media.clone();
            let open = move || {
                let mut client = MediaControlClient::new(channel.clone());
                async move { client.watch_events(WatchEventsRequest {}).await }
            };
            let route = move |event: MediaEvent| {
                if let Some(actor) = ctx.registry.by_endpoint(&event.endpoint_id) {
                    let _ = actor.cast(CallMsg::Media(event));
                }
            };
            (open, route)
        },
    ));
    let queue = ctx.clone();
    tokio::spawn(each_node(
        "queue offers",
        ctx.services.queue_nodes(),
        shutdown.clone(),
        move |channel: Channel| {
            let ctx = queue.clone();
            let open = move || {
                let mut client = QueueControlClient::new(channel.clone());
                async move { client.watch_offers(WatchOffersRequest {}).await }
            };
            // Offers lost while the stream was down are recovered by the calls' ring-stop
            // timers and the queue's reservation expiry.
            let route = move |event: OfferEvent| {
                if let Some(actor) = ctx.registry.by_id(&event.call_id) {
                    let _ = actor.cast(CallMsg::Offer(event));
                }
            };
            (open, route)
        },
    ));
    tokio::spawn(requeue_on_move(ctx.clone(), shutdown.clone()));
    tokio::spawn(report_calls_on_presence_move(ctx, shutdown));
}

/// When presence shards get a new owner (a node took over from one that died, or the
/// shards were spread anew over the nodes), every call of this node tells the new owners
/// which of their agents it holds (the call picks the agents of the moved shards).
async fn report_calls_on_presence_move(ctx: Arc<CallContext>, mut shutdown: Shutdown) {
    let mut owners = ctx.services.presence_owners();
    let mut tokens = OwnerTokens::new(&owners.borrow_and_update());
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            changed = owners.changed() => if changed.is_err() { return },
        }
        let moved = tokens.moved(&owners.borrow_and_update());
        if moved.is_empty() {
            continue;
        }
        let calls = ctx.registry.list();
        tracing::info!(
            calls = calls.len(),
            shards = ?moved,
            "presence shards have a new owner; reporting the calls in progress"
        );
        let moved = Arc::new(moved);
        for call in calls {
            if let Some(actor) = ctx.registry.by_id(&call.id) {
                let _ = actor.cast(CallMsg::PresenceMoved(moved.clone()));
            }
        }
    }
}

const RETRY: Duration = Duration::from_millis(500);

/// Follows one stream from each node in `nodes`: a node that joins gets a subscription, one
/// that leaves has its subscription ended.
async fn each_node<T, F, O, R>(
    what: &'static str,
    mut nodes: watch::Receiver<Vec<NodeInfo>>,
    mut shutdown: Shutdown,
    stream_of: impl Fn(Channel) -> (O, R),
) where
    T: Send + 'static,
    F: Future<Output = Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>>
        + Send
        + 'static,
    O: Fn() -> F + Send + 'static,
    R: Fn(T) + Send + 'static,
{
    let mut following = NodeTasks::default();
    loop {
        let addresses: Vec<String> = nodes
            .borrow_and_update()
            .iter()
            .map(|n| n.address.clone())
            .collect();
        following.reconcile(what, &addresses, |_, channel| {
            let (open, route) = stream_of(channel);
            tokio::spawn(follow(what, shutdown.clone(), open, route))
        });
        tokio::select! {
            _ = shutdown.wait() => break,
            changed = nodes.changed() => if changed.is_err() { break },
        }
    }
}

/// When a department's queue gets a new owner (a node took over, or the owner starts anew
/// under a new lease), every call of this node waiting in it joins again, keeping its
/// original enqueue time and priority.
async fn requeue_on_move(ctx: Arc<CallContext>, mut shutdown: Shutdown) {
    let mut owners = ctx.services.queue_owners();
    let mut known: BTreeMap<String, Owner> = owners.borrow_and_update().clone();
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            changed = owners.changed() => if changed.is_err() { return },
        }
        let now = owners.borrow_and_update().clone();
        for (department, owner) in &now {
            if known
                .get(department)
                .is_some_and(|o| o.token == owner.token)
            {
                continue;
            }
            let waiting: Vec<String> = ctx
                .registry
                .list()
                .into_iter()
                .filter(|c| {
                    c.state == CallState::Queued && c.department.as_deref() == Some(department)
                })
                .map(|c| c.id)
                .collect();
            if !waiting.is_empty() {
                tracing::info!(%department, owner = %owner.node.node, calls = waiting.len(), "the department's queue moved; its waiting calls join the new owner");
            }
            for id in waiting {
                if let Some(actor) = ctx.registry.by_id(&id) {
                    let _ = actor.cast(CallMsg::Requeue);
                }
            }
        }
        known = now;
    }
}

/// Reads a server stream, handing each item to `route`, and opens it again after a failure
/// until `shutdown`.
async fn follow<T, F>(what: &str, mut shutdown: Shutdown, open: impl Fn() -> F, route: impl Fn(T))
where
    F: Future<Output = Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>>,
{
    loop {
        let opened = tokio::select! {
            _ = shutdown.wait() => return,
            s = open() => s,
        };
        match opened {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    let next = tokio::select! {
                        _ = shutdown.wait() => return,
                        n = stream.next() => n,
                    };
                    match next {
                        Some(Ok(item)) => route(item),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "{what}: stream failed");
                            break;
                        }
                        None => break,
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "{what}: not available yet"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}
