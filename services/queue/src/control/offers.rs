//! The `WatchOffers` response: the queue's event broadcast, filtered to what call actors
//! execute and converted at the moment each event is sent (plan offsets count from then).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use cc_common::actor::now;
use cc_proto::queue::internal::v1 as pb;
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tonic::Status;

use super::convert;
use crate::service::QueueEvent;

/// Offer events for one watcher until it falls behind (then one `DATA_LOSS` and the end:
/// the watcher re-subscribes) or the queue stops (then the end).
#[derive(Debug)]
pub struct OfferStream {
    events: BroadcastStream<QueueEvent>,
    ended: bool,
}

impl OfferStream {
    pub(super) fn new(events: broadcast::Receiver<QueueEvent>) -> Self {
        Self {
            events: BroadcastStream::new(events),
            ended: false,
        }
    }
}

impl Stream for OfferStream {
    type Item = Result<pb::OfferEvent, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut self.events).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Ok(event)) => {
                    if let Some(event) = convert::offer_event(&event, now()) {
                        return Poll::Ready(Some(Ok(event)));
                    }
                }
                Some(Err(BroadcastStreamRecvError::Lagged(missed))) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(Status::data_loss(format!(
                        "fell {missed} queue events behind; watch again"
                    )))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio_stream::StreamExt;
    use tonic::Code;

    use super::*;
    use crate::core::{CallId, DepartmentId};

    fn failed(call: &str) -> QueueEvent {
        QueueEvent::OfferFailed {
            call: CallId::new(call),
        }
    }

    #[tokio::test]
    async fn queue_lengths_are_skipped_and_the_end_of_the_queue_ends_the_stream() {
        let (tx, rx) = broadcast::channel(8);
        let mut offers = OfferStream::new(rx);
        let length = QueueEvent::QueueChanged {
            department: DepartmentId::new("sales"),
            waiting: 1,
        };
        tx.send(length).unwrap();
        tx.send(failed("c1")).unwrap();
        drop(tx);
        let event = offers.next().await.unwrap().unwrap();
        assert_eq!(event.call_id, "c1");
        assert!(offers.next().await.is_none());
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_gets_data_loss_then_the_end() {
        let (tx, rx) = broadcast::channel(1);
        let mut offers = OfferStream::new(rx);
        tx.send(failed("c1")).unwrap();
        tx.send(failed("c2")).unwrap();
        tx.send(failed("c3")).unwrap();
        let lost = offers.next().await.unwrap().unwrap_err();
        assert_eq!(lost.code(), Code::DataLoss);
        assert!(offers.next().await.is_none(), "no event after the loss");
        drop(tx);
    }
}
