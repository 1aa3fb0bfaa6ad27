//! One agent's record: the facts presence was told (login, devices, pause) and the state
//! derived from them and from the agent's current call.

use std::collections::BTreeMap;
use std::time::Instant;

use super::ids::{AgentId, Device, DeviceId, EdgeNode};
use super::state::{AgentState, PauseReason};

/// The configured part of an agent (from the declarative configuration or the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The agent's id; fixed for the agent's life in presence.
    pub id: AgentId,
    /// Name shown to supervisors and to callers being transferred.
    pub display_name: String,
}

impl AgentConfig {
    /// A configuration with the given id and display name.
    pub fn new(id: impl Into<AgentId>, display_name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            display_name: display_name.into(),
        }
    }
}

/// An agent as presence knows it. Read-only outside the core: every change goes through
/// [`super::Presence`] so that it is evented and its timers are kept.
#[derive(Debug, Clone)]
pub struct Agent {
    pub(crate) config: AgentConfig,
    pub(crate) logged_in: bool,
    pub(crate) devices: BTreeMap<DeviceId, Device>,
    pub(crate) pause: Option<PauseReason>,
    pub(crate) state: AgentState,
    pub(crate) since: Instant,
    /// The sip-edge node carrying the agent's call, when known; only while call-bound
    /// (cleared whenever the state leaves that call).
    pub(crate) edge: Option<EdgeNode>,
    /// Gone from the configuration while in a call: never Available again, removed when the
    /// call lets go of the agent (see [`super::Presence::configure`]).
    pub(crate) retiring: bool,
}

impl Agent {
    pub(crate) fn new(config: AgentConfig, now: Instant) -> Self {
        Self {
            config,
            logged_in: false,
            devices: BTreeMap::new(),
            pause: None,
            state: AgentState::Offline,
            since: now,
            edge: None,
            retiring: false,
        }
    }

    /// The agent's id.
    pub fn id(&self) -> &AgentId {
        &self.config.id
    }

    /// The agent's configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The agent's state.
    pub fn state(&self) -> &AgentState {
        &self.state
    }

    /// When the agent entered its current state (longest-idle routing orders by this).
    pub fn since(&self) -> Instant {
        self.since
    }

    /// The sip-edge node that carries the agent's call, when the binding named one
    /// (always `None` when the agent is not bound to a call).
    pub fn edge(&self) -> Option<&EdgeNode> {
        self.edge.as_ref()
    }

    /// Whether the agent is logged in; a logout during a call clears this at once while the
    /// state stays with the call.
    pub fn logged_in(&self) -> bool {
        self.logged_in
    }

    /// Whether the agent was removed from the configuration during a call and leaves presence
    /// when the call ends.
    pub fn retiring(&self) -> bool {
        self.retiring
    }

    /// The agent's devices, by id.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// The pause the agent asked for: shown as `Paused` when idle, applied after the call
    /// when asked during one.
    pub fn pause_reason(&self) -> Option<&PauseReason> {
        self.pause.as_ref()
    }

    /// The state the agent rests in when no call holds them: the availability rule.
    ///
    /// Offline unless logged in *and* at least one device (and still configured); then
    /// Paused if a pause was asked for, else Available. Login and devices are kept apart
    /// because they come from different places (the API and the registrar) and either can
    /// be lost on its own.
    pub(crate) fn rest_state(&self) -> AgentState {
        if self.retiring || !self.logged_in || self.devices.is_empty() {
            AgentState::Offline
        } else if let Some(reason) = &self.pause {
            AgentState::Paused {
                reason: reason.clone(),
            }
        } else {
            AgentState::Available
        }
    }

    /// The state the agent should be in after a change of facts.
    ///
    /// A call-bound state stays until its call says otherwise (so logout, pause and device
    /// loss take effect after the call). Wrap-up only holds back the next call from an
    /// agent who would otherwise be Available; if the agent would rest anywhere else (logged
    /// out, no device, paused), wrap-up ends at once.
    pub(crate) fn settled_state(&self) -> AgentState {
        match &self.state {
            state if state.is_call_bound() => state.clone(),
            state @ AgentState::WrapUp { .. } => {
                let rest = self.rest_state();
                if rest.is_available() {
                    state.clone()
                } else {
                    rest
                }
            }
            _ => self.rest_state(),
        }
    }
}
