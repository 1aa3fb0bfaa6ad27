//! Follows presence into the queue actor: every agent's state as a [`Seen`], first as a
//! snapshot and then as it changes, over presence's gRPC API. Presence is the owner of agent
//! state; the queue only mirrors whether each agent may be offered a call.
//!
//! Presence is sharded (each agent's state lives at the node that owns its shard), so one
//! follower runs per shard, each on its shard's `WatchShard` stream: the shard's agents as
//! they are now, then their changes. Presence nodes may be other processes that die and
//! come back, and shards move between nodes, so a follower never gives up: when its shard
//! cannot be watched (the node is unreachable or does not own the shard) or its stream ends
//! or breaks, it retries with a capped back-off and resynchronises from the snapshot of the
//! next stream. While it cannot follow its shard, every agent of the shard it had reported
//! available is reported [`Seen::Unknown`]: the queue offers calls only to agents whose
//! state it sees fresh (reservations would fail anyway, but a plan whose reservation merely
//! failed would still ring the agent). The other shards' followers go on meanwhile.

use std::collections::HashSet;
use std::time::Duration;

use cc_common::Shutdown;
use ractor::ActorRef;
use tonic::Status;

use crate::actor::{Msg, Seen};
use crate::core::AgentId;
use crate::presence_link::PresenceLink;

/// The first retry comes this soon after a failure; each further one waits twice as long,
/// up to [`MAX_RETRY`]. A successful resynchronisation starts over.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// Spawns one follower per presence shard; each ends on shutdown or when the queue actor
/// stops.
pub(crate) fn spawn(presence: PresenceLink, queue: ActorRef<Msg>, shutdown: Shutdown) {
    for shard in 0..presence.shards() {
        spawn_shard(shard, presence.clone(), queue.clone(), shutdown.clone());
    }
}

/// Spawns the follower of `shard`.
fn spawn_shard(shard: u32, presence: PresenceLink, queue: ActorRef<Msg>, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut follower = Follower {
            shard,
            presence,
            queue,
            offerable: HashSet::new(),
        };
        tokio::select! {
            () = shutdown.wait() => {}
            () = follower.run() => {}
        }
    });
}

/// The queue actor has stopped: nothing left to follow for.
struct QueueGone;

/// How one session of following a shard ended.
enum Ended {
    /// The queue actor has stopped.
    QueueGone,
    /// The shard could not be watched (presence unreachable, or the node asked does not own
    /// the shard).
    Unreachable(Status),
    /// Followed, then the stream ended (`None`: presence stopped) or broke.
    Lost(Option<Status>),
}

impl From<QueueGone> for Ended {
    fn from(_: QueueGone) -> Self {
        Ended::QueueGone
    }
}

/// The follower of one presence shard.
struct Follower {
    /// The shard followed.
    shard: u32,
    presence: PresenceLink,
    queue: ActorRef<Msg>,
    /// Agents of the shard last reported available: the ones to report unknown when the
    /// shard is lost.
    offerable: HashSet<AgentId>,
}

impl Follower {
    /// Follows the shard, session after session, until the queue actor stops.
    async fn run(&mut self) {
        let shard = self.shard;
        let mut retry = FIRST_RETRY;
        let mut reported = false;
        loop {
            match self.session().await {
                Ended::QueueGone => return,
                Ended::Unreachable(e) => {
                    // Logged once per outage, not once per attempt.
                    if reported {
                        tracing::debug!(shard, error = %e, "queue still cannot watch presence shard");
                    } else {
                        tracing::warn!(shard, error = %e, "queue cannot watch presence shard; retrying");
                        reported = true;
                    }
                }
                Ended::Lost(e) => {
                    let error = e.as_ref().map(ToString::to_string);
                    tracing::warn!(
                        shard,
                        error,
                        "queue lost presence shard's agent events; resynchronising"
                    );
                    retry = FIRST_RETRY;
                    reported = false;
                }
            }
            if self.lose().is_err() {
                return;
            }
            tokio::time::sleep(retry).await;
            retry = retry.saturating_mul(2).min(MAX_RETRY);
        }
    }

    /// Watches the shard and follows its stream (the snapshot, then the changes) until it
    /// ends.
    async fn session(&mut self) -> Ended {
        let mut news = match self.presence.watch_shard(self.shard).await {
            Ok(news) => news,
            Err(e) => return Ended::Unreachable(e),
        };
        tracing::info!(shard = self.shard, "queue follows presence shard");
        loop {
            match news.next().await {
                Some(Ok((agent, seen))) => {
                    if let Err(gone) = self.tell(agent, seen) {
                        return gone.into();
                    }
                }
                Some(Err(e)) => return Ended::Lost(Some(e)),
                None => return Ended::Lost(None),
            }
        }
    }

    /// Passes one agent's news to the queue, remembering whether it is offerable.
    fn tell(&mut self, agent: AgentId, seen: Seen) -> Result<(), QueueGone> {
        if seen == Seen::Available {
            self.offerable.insert(agent.clone());
        } else {
            self.offerable.remove(&agent);
        }
        self.queue
            .cast(Msg::Presence(agent, seen))
            .map_err(|_| QueueGone)
    }

    /// The shard is out of sight: no agent it reported available stays offerable.
    fn lose(&mut self) -> Result<(), QueueGone> {
        for agent in std::mem::take(&mut self.offerable) {
            self.queue
                .cast(Msg::Presence(agent, Seen::Unknown))
                .map_err(|_| QueueGone)?;
        }
        Ok(())
    }
}
