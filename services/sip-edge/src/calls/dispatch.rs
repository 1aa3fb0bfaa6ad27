//! The two streams every call needs but no call owns: media events (by endpoint) and the
//! queue's ring plans (by call id). One subscription each per node, re-opened after a
//! failure, fanned out to the call actors through the registry.

use std::sync::Arc;
use std::time::Duration;

use cc_common::Shutdown;
use cc_proto::media::internal::v1::{MediaEvent, WatchEventsRequest};
use cc_proto::queue::internal::v1::{OfferEvent, WatchOffersRequest};
use tokio_stream::StreamExt;

use super::{CallContext, CallMsg};

/// Starts the media and queue subscriptions; both end on `shutdown`.
pub fn spawn_dispatchers(ctx: Arc<CallContext>, shutdown: Shutdown) {
    tokio::spawn(media_events(ctx.clone(), shutdown.clone()));
    tokio::spawn(queue_offers(ctx, shutdown));
}

const RETRY: Duration = Duration::from_millis(500);

async fn media_events(ctx: Arc<CallContext>, shutdown: Shutdown) {
    let open = || {
        let mut media = ctx.services.media.clone();
        async move { media.watch_events(WatchEventsRequest {}).await }
    };
    follow("media events", shutdown, open, |event: MediaEvent| {
        if let Some(actor) = ctx.registry.by_endpoint(&event.endpoint_id) {
            let _ = actor.cast(CallMsg::Media(event));
        }
    })
    .await
}

async fn queue_offers(ctx: Arc<CallContext>, shutdown: Shutdown) {
    let open = || {
        let mut queue = ctx.services.queue.clone();
        async move { queue.watch_offers(WatchOffersRequest {}).await }
    };
    // Offers lost while the stream was down are recovered by the calls' ring-stop timers
    // and the queue's reservation expiry.
    follow("queue offers", shutdown, open, |event: OfferEvent| {
        if let Some(actor) = ctx.registry.by_id(&event.call_id) {
            let _ = actor.cast(CallMsg::Offer(event));
        }
    })
    .await
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
