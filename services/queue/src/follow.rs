//! Follows presence into the queue actor: every agent's state as a [`Seen`], first as a
//! snapshot and then as it changes, over presence's gRPC API. Presence is the owner of agent
//! state; the queue only mirrors whether each agent may be offered a call.
//!
//! Presence may be another process that dies and comes back, so the follower never gives
//! up: when presence cannot be reached or its stream ends or breaks, it retries with a
//! capped back-off and resynchronises (watch first, then list). While it cannot follow
//! presence, every agent it had reported available is reported [`Seen::Unknown`]: the queue
//! offers calls only to agents whose state it sees fresh (reservations would fail anyway,
//! but a plan whose reservation merely failed would still ring the agent).

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

/// Spawns the follower; it ends on shutdown or when the queue actor stops.
pub(crate) fn spawn(presence: PresenceLink, queue: ActorRef<Msg>, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut follower = Follower {
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

/// How one session of following presence ended.
enum Ended {
    /// The queue actor has stopped.
    QueueGone,
    /// Presence could not be watched or listed.
    Unreachable(Status),
    /// Followed, then the stream ended (`None`: presence stopped) or broke.
    Lost(Option<Status>),
}

impl From<QueueGone> for Ended {
    fn from(_: QueueGone) -> Self {
        Ended::QueueGone
    }
}

struct Follower {
    presence: PresenceLink,
    queue: ActorRef<Msg>,
    /// Agents last reported available: the ones to report unknown when presence is lost.
    offerable: HashSet<AgentId>,
}

impl Follower {
    async fn run(&mut self) {
        let mut retry = FIRST_RETRY;
        let mut reported = false;
        loop {
            match self.session().await {
                Ended::QueueGone => return,
                Ended::Unreachable(e) => {
                    // Logged once per outage, not once per attempt.
                    if reported {
                        tracing::debug!(error = %e, "queue still cannot reach presence");
                    } else {
                        tracing::warn!(error = %e, "queue cannot reach presence; retrying");
                        reported = true;
                    }
                }
                Ended::Lost(e) => {
                    let error = e.as_ref().map(ToString::to_string);
                    tracing::warn!(error, "queue lost presence's agent events; resynchronising");
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

    /// Watches, lists, then follows the stream until it ends.
    async fn session(&mut self) -> Ended {
        // Watch first, then list: an event between the two is applied after the snapshot
        // that already contains it, and applying an agent's latest state twice is harmless.
        let mut news = match self.presence.watch().await {
            Ok(news) => news,
            Err(e) => return Ended::Unreachable(e),
        };
        let agents = match self.presence.agents().await {
            Ok(agents) => agents,
            Err(e) => return Ended::Unreachable(e),
        };
        tracing::info!(agents = agents.len(), "queue follows presence");
        for (agent, seen) in agents {
            if let Err(gone) = self.tell(agent, seen) {
                return gone.into();
            }
        }
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

    /// Presence is out of sight: no agent it reported available stays offerable.
    fn lose(&mut self) -> Result<(), QueueGone> {
        for agent in std::mem::take(&mut self.offerable) {
            self.queue
                .cast(Msg::Presence(agent, Seen::Unknown))
                .map_err(|_| QueueGone)?;
        }
        Ok(())
    }
}
