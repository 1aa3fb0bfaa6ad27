//! Inputs about who the agents are and whether they can work: configuration, login,
//! devices and pause. None of these can take an agent out of a call; see the module rules.

use std::time::Instant;

use super::agent::{Agent, AgentConfig};
use super::event::{Cause, PresenceEvent};
use super::ids::{AgentId, Device, DeviceId, DeviceKind, EdgeNode};
use super::state::PauseReason;
use super::{Presence, PresenceError, Result};

impl Presence {
    /// Adds an agent to the configured set, `Offline` and logged out.
    pub fn add_agent(&mut self, config: AgentConfig, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        self.check_text("agent id", config.id.as_str().len())?;
        self.check_display_name(&config)?;
        if self.agents.contains_key(&config.id) {
            return Err(PresenceError::AgentExists(config.id));
        }
        if self.agents.len() >= self.config.max_agents {
            return Err(PresenceError::TooManyAgents {
                max: self.config.max_agents,
            });
        }
        let agent = Agent::new(config, now);
        let seq = self.events.next_seq();
        self.events.push(PresenceEvent::AgentAdded {
            seq,
            agent: agent.id().clone(),
            state: agent.state.clone(),
            at: now,
        });
        self.agents.insert(agent.id().clone(), agent);
        Ok(())
    }

    /// Replaces an agent's configuration; the agent's state is untouched.
    pub fn update_agent(&mut self, config: AgentConfig) -> Result<()> {
        self.check_display_name(&config)?;
        let agent = self.agent_mut(&config.id)?;
        agent.config = config;
        Ok(())
    }

    /// Removes an agent. Refused while the agent is in a call, so that the call's owner can
    /// still finish it; the configuration source retries after the call.
    pub fn remove_agent(&mut self, id: &AgentId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        let agent = self.agent(id)?;
        if agent.state.is_call_bound() {
            return Err(PresenceError::AgentEngaged {
                agent: id.clone(),
                state: agent.state.clone(),
            });
        }
        self.remove_now(id, now);
        Ok(())
    }

    /// Logs the agent in (idempotent). A fresh login starts unpaused; logging in again
    /// during a call cancels a deferred logout.
    pub fn login(&mut self, id: &AgentId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        let agent = self.agent_mut(id)?;
        if agent.logged_in {
            return Ok(());
        }
        agent.logged_in = true;
        agent.pause = None;
        self.settle(id, Cause::Login, now);
        Ok(())
    }

    /// Logs the agent out (idempotent): at once when idle or in wrap-up, at the end of the
    /// call otherwise. Clears any pause, so the next login starts Available.
    pub fn logout(&mut self, id: &AgentId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        let agent = self.agent_mut(id)?;
        if !agent.logged_in {
            return Ok(());
        }
        agent.logged_in = false;
        agent.pause = None;
        self.settle(id, Cause::Logout, now);
        Ok(())
    }

    /// A device registered (or re-registered: the same id replaces the device in place, its
    /// contact and its edge, so a phone that moved to another sip-edge node, or to one that
    /// does not say its name, follows). The first device of a logged-in agent makes the
    /// agent Available.
    pub fn device_registered(&mut self, id: &AgentId, device: Device, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        self.check_device(&device)?;
        let max = self.config.max_devices_per_agent;
        let agent = self.agent_mut(id)?;
        if !agent.devices.contains_key(&device.id) && agent.devices.len() >= max {
            return Err(PresenceError::TooManyDevices {
                agent: id.clone(),
                max,
            });
        }
        agent.devices.insert(device.id.clone(), device);
        self.settle(id, Cause::DeviceRegistered, now);
        Ok(())
    }

    /// A device went away (unregistered, registration expired, browser closed). Unknown
    /// devices are ignored: expiry and unregister race. Losing the last device makes the
    /// agent Offline, after the call if in one.
    pub fn device_gone(&mut self, id: &AgentId, device: &DeviceId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        let agent = self.agent_mut(id)?;
        if agent.devices.remove(device).is_some() {
            self.settle(id, Cause::DeviceGone, now);
        }
        Ok(())
    }

    /// Removes every device registered with the sip-edge node `edge`, settling each agent
    /// that lost one as [`Self::device_gone`] does (with [`Cause::DeviceGone`]); for
    /// [`Self::edge_gone`]. Returns the devices removed, ordered by agent, then device.
    pub(super) fn remove_devices_of(
        &mut self,
        edge: &EdgeNode,
        now: Instant,
    ) -> Vec<(AgentId, DeviceId)> {
        let mut removed = Vec::new();
        let mut touched = Vec::new();
        for agent in self.agents.values_mut() {
            let before = removed.len();
            agent.devices.retain(|id, device| {
                let on_edge = device.edge.as_ref() == Some(edge);
                if on_edge {
                    removed.push((agent.config.id.clone(), id.clone()));
                }
                !on_edge
            });
            if removed.len() > before {
                touched.push(agent.config.id.clone());
            }
        }
        for id in &touched {
            self.settle(id, Cause::DeviceGone, now);
        }
        removed
    }

    /// Forgets everything presence was told about the agent: logged out, no devices, no
    /// pause, no call; `Offline` at once, whatever it was doing (with [`Cause::Forgotten`];
    /// a retiring agent leaves). For a node that stops owning the agent's shard: the next
    /// owner rebuilds the agent from the sessions store and sip-edge's reports, and this
    /// node must not keep (or later act on) what it knew.
    pub fn forget(&mut self, id: &AgentId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        let agent = self.agent_mut(id)?;
        agent.logged_in = false;
        agent.pause = None;
        agent.devices.clear();
        agent.edge = None;
        self.set_state(id, super::AgentState::Offline, Cause::Forgotten, now);
        Ok(())
    }

    /// Pauses a logged-in agent: at once when idle or in wrap-up (ending it), after the call
    /// otherwise. Pausing again with another reason changes the reason.
    ///
    /// To keep an agent who did not answer from being offered the next call, the queue
    /// sends `pause(NoAnswer)` *before* `released`: the release then lands in Paused.
    pub fn pause(&mut self, id: &AgentId, reason: PauseReason, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        if let PauseReason::Other(text) = &reason {
            self.check_text("pause reason", text.len())?;
        }
        let agent = self.agent_mut(id)?;
        if !agent.logged_in {
            return Err(PresenceError::NotLoggedIn(id.clone()));
        }
        agent.pause = Some(reason);
        self.settle(id, Cause::Pause, now);
        Ok(())
    }

    /// Ends a pause (idempotent); during a call it cancels a deferred pause. In wrap-up it
    /// means "ready": wrap-up ends early.
    pub fn resume(&mut self, id: &AgentId, now: Instant) -> Result<()> {
        self.handle_timeout(now);
        let agent = self.agent_mut(id)?;
        agent.pause = None;
        let to = match agent.state {
            super::AgentState::WrapUp { .. } => agent.rest_state(),
            _ => agent.settled_state(),
        };
        self.set_state(id, to, Cause::Resume, now);
        Ok(())
    }

    pub(super) fn check_display_name(&self, config: &AgentConfig) -> Result<()> {
        let len = config.display_name.len();
        if len > self.config.max_text_len {
            return Err(PresenceError::TooLong {
                field: "display name",
                len,
                max: self.config.max_text_len,
            });
        }
        Ok(())
    }

    fn check_device(&self, device: &Device) -> Result<()> {
        self.check_text("device id", device.id.as_str().len())?;
        if let DeviceKind::Sip { extension, contact } = &device.kind {
            self.check_text("extension", extension.len())?;
            self.check_text("contact", contact.len())?;
        }
        self.check_edge(device.edge.as_ref())
    }
}
