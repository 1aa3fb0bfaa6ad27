//! Events into the store: one follower per node that raises events (sip-edge for calls,
//! presence for agents) reads the node's own stream (`cc.events.v1.Events/WatchEvents
//! { local_only }`), maps it ([`crate::v1`]) and hands it to the writer in batches, each
//! with the position it covers.
//!
//! Where a follower resumes: a node numbers its stream from its start
//! (`numbered_since_unix_ms`), so a source is a node's address *and* that start
//! (`events.v1@ADDRESS/SINCE`), checkpointed in the same transaction as its events. A
//! follower that (re)connects without knowing where it was reads the node from its oldest
//! kept event and skips what the checkpoint of that numbering covers: a restarted
//! reporting node loses nothing the source nodes still keep, and an event read twice is
//! stored once anyway (events are identified by call and the call's own number). Events a
//! source no longer keeps are counted in the log as lost.

use std::time::Duration;

use cc_proto::events::v1 as pb;
use cc_proto::events::v1::events_client::EventsClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use super::Stores;
use crate::core::ReportEvent;
use crate::v1;

/// A batch is handed over at this many events...
pub const BATCH_EVENTS: usize = 1000;
/// ...or this long after its first event, whichever comes first.
pub const BATCH_WAIT: Duration = Duration::from_millis(200);
/// How soon a broken stream is opened again.
const RETRY: Duration = Duration::from_millis(500);

/// Events of one source, up to a position.
#[derive(Debug)]
pub struct SourceBatch {
    pub source: String,
    /// The sequence of the last event it covers.
    pub position: u64,
    pub events: Vec<ReportEvent>,
}

/// The checkpoint name of a node's numbering.
pub fn source_name(address: &str, numbered_since: u64) -> String {
    format!("events.v1@{address}/{numbered_since}")
}

/// Where the follower is in the node's stream.
#[derive(Debug, Clone, Copy)]
struct Place {
    since: u64,
    /// The next sequence to read.
    next: u64,
}

/// Follows one node's events into `writer` until aborted (when the node leaves the
/// cluster) or the writer is gone.
pub async fn follow_node(
    address: String,
    channel: Channel,
    stores: Stores,
    writer: mpsc::Sender<SourceBatch>,
) {
    let mut client = EventsClient::new(channel);
    let mut place: Option<Place> = None;
    loop {
        let request = match place {
            Some(p) => pb::WatchEventsRequest {
                from_sequence: p.next,
                local_only: true,
                from_oldest: false,
            },
            None => pb::WatchEventsRequest {
                from_sequence: 0,
                local_only: true,
                from_oldest: true,
            },
        };
        match client.watch_events(request).await {
            Ok(stream) => {
                let outcome =
                    read(&address, stream.into_inner(), &mut place, &stores, &writer).await;
                match outcome {
                    Read::WriterGone => return,
                    Read::Restarted => {
                        tracing::info!(%address, "reporting: the node numbers its events afresh (it restarted); reading it from its oldest event");
                        place = None;
                        continue;
                    }
                    Read::Broke => {}
                }
            }
            Err(e)
                if matches!(
                    e.code(),
                    tonic::Code::OutOfRange | tonic::Code::InvalidArgument
                ) =>
            {
                // Gone from the node's history, or beyond it (the node restarted): find
                // the place again from its oldest event.
                tracing::debug!(%address, error = %e, "reporting: resuming from the node's oldest event");
                place = None;
                continue;
            }
            Err(e) => tracing::debug!(%address, error = %e, "reporting: node not reachable yet"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

enum Read {
    /// The stream ended or broke: open it again where the follower is.
    Broke,
    /// The node's numbering is not the one the follower was in.
    Restarted,
    WriterGone,
}

async fn read(
    address: &str,
    mut stream: tonic::Streaming<pb::Event>,
    place: &mut Option<Place>,
    stores: &Stores,
    writer: &mpsc::Sender<SourceBatch>,
) -> Read {
    let mut batch: Option<SourceBatch> = None;
    let mut deadline = tokio::time::Instant::now() + BATCH_WAIT;
    loop {
        let next = if batch.is_some() {
            match tokio::time::timeout_at(deadline, stream.message()).await {
                Ok(next) => next,
                Err(_) => {
                    if let Some(b) = batch.take()
                        && writer.send(b).await.is_err()
                    {
                        return Read::WriterGone;
                    }
                    continue;
                }
            }
        } else {
            stream.message().await
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) | Err(_) => {
                if let Some(b) = batch.take()
                    && writer.send(b).await.is_err()
                {
                    return Read::WriterGone;
                }
                return Read::Broke;
            }
        };
        let since = event.numbered_since_unix_ms;
        let skip_through = match *place {
            Some(p) if p.since != since => {
                if let Some(b) = batch.take()
                    && writer.send(b).await.is_err()
                {
                    return Read::WriterGone;
                }
                return Read::Restarted;
            }
            Some(p) => p.next.saturating_sub(1),
            None => {
                // The first event of a stream read from the oldest: where was the
                // follower in this numbering, if ever?
                let source = source_name(address, since);
                let done = stores.checkpoint(source.clone()).await.unwrap_or_else(|e| {
                    tracing::warn!(%source, error = %e, "reporting: cannot read the checkpoint; reading everything kept");
                    None
                });
                let done = done.unwrap_or(0);
                if event.sequence > done + 1 {
                    let lost = event.sequence - done - 1;
                    tracing::error!(%address, lost, "reporting: events the node no longer keeps were never read; the reports miss them");
                }
                done
            }
        };
        *place = Some(Place {
            since,
            next: event.sequence.max(skip_through) + 1,
        });
        if event.sequence <= skip_through {
            continue;
        }
        let b = batch.get_or_insert_with(|| {
            deadline = tokio::time::Instant::now() + BATCH_WAIT;
            SourceBatch {
                source: source_name(address, since),
                position: event.sequence,
                events: Vec::new(),
            }
        });
        b.position = event.sequence;
        match v1::map_event(&event) {
            Ok(Some(e)) => b.events.push(e),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%address, error = %e, "reporting: an event cannot be reported")
            }
        }
        if b.events.len() >= BATCH_EVENTS
            && let Some(b) = batch.take()
            && writer.send(b).await.is_err()
        {
            return Read::WriterGone;
        }
    }
}
