//! Follows presence into the queue actor: every agent's state as a [`Seen`], first as a
//! snapshot and then as it changes. Presence is the owner of agent state; the queue only
//! mirrors whether each agent may be offered a call.

use cc_presence::PresenceHandle;
use cc_presence::core::{AgentState, PresenceEvent};
use ractor::ActorRef;

use crate::actor::{Msg, Seen};
use crate::core::AgentId;

/// Spawns the follower; it ends when presence or the queue actor stops.
pub(crate) fn spawn(presence: PresenceHandle, queue: ActorRef<Msg>) {
    tokio::spawn(async move { follow(presence, queue).await });
}

async fn follow(presence: PresenceHandle, queue: ActorRef<Msg>) {
    loop {
        // Watch first, then list: an event between the two is applied after the snapshot
        // that already contains it, and applying an agent's latest state twice is harmless.
        let mut events = match presence.watch(0).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "queue cannot follow presence");
                return;
            }
        };
        let agents = match presence.agents().await {
            Ok(agents) => agents,
            Err(e) => {
                tracing::warn!(error = %e, "queue cannot list presence agents");
                return;
            }
        };
        for agent in &agents {
            if tell(&queue, agent.id().as_str(), seen(agent.state())).is_err() {
                return;
            }
        }
        loop {
            match events.recv().await {
                None => return,
                Some(Ok(event)) => {
                    let state = match &event {
                        PresenceEvent::AgentAdded { state, .. } => seen(state),
                        PresenceEvent::AgentStateChanged { to, .. } => seen(to),
                        PresenceEvent::AgentRemoved { .. } => Seen::Unavailable,
                    };
                    if tell(&queue, event.agent().as_str(), state).is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    // Fell out of presence's history: start over from a fresh snapshot.
                    tracing::warn!(error = %e, "queue lost presence events; resynchronising");
                    break;
                }
            }
        }
    }
}

fn tell(queue: &ActorRef<Msg>, agent: &str, seen: Seen) -> Result<(), ()> {
    queue
        .cast(Msg::Presence(AgentId::new(agent), seen))
        .map_err(|_| ())
}

fn seen(state: &AgentState) -> Seen {
    match (state, state.call()) {
        (AgentState::Available, _) => Seen::Available,
        (_, Some(call)) => Seen::OnCall(call.clone()),
        (_, None) => Seen::Unavailable,
    }
}
