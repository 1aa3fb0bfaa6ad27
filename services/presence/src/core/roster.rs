//! The configured set of agents following the configuration: employees added at run time
//! become agents, employees removed stop being agents. Removal never cuts a call short: an
//! agent in a call when its employee goes is *retiring* (never Available again) and leaves
//! when the call lets go of it.

use std::collections::BTreeSet;
use std::time::Instant;

use super::agent::AgentConfig;
use super::ids::AgentId;
use super::{Presence, PresenceError, Result};

/// What [`Presence::configure`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// New agents, `Offline` until they log in and register a device.
    pub added: Vec<AgentId>,
    /// Agents whose configuration (display name) changed; their state is untouched.
    pub updated: Vec<AgentId>,
    /// Agents removed at once (not in a call).
    pub removed: Vec<AgentId>,
    /// Agents in a call: removed when it ends (or its reservation lapses).
    pub retiring: Vec<AgentId>,
}

impl Presence {
    /// Makes the configured set of agents `agents`, as one input: every entry is checked
    /// first, so an `Err` (an empty, oversized or repeated id, too many agents) changes
    /// nothing.
    ///
    /// Agents not listed are removed, or retired when in a call (see the module docs); a
    /// retiring agent listed again is kept as if it had never gone.
    pub fn configure(&mut self, agents: Vec<AgentConfig>, now: Instant) -> Result<Reconfigured> {
        self.handle_timeout(now);
        let mut wanted = BTreeSet::new();
        for config in &agents {
            self.check_text("agent id", config.id.as_str().len())?;
            self.check_display_name(config)?;
            if !wanted.insert(config.id.clone()) {
                return Err(PresenceError::AgentExists(config.id.clone()));
            }
        }
        let gone: Vec<AgentId> = self
            .agents
            .keys()
            .filter(|id| !wanted.contains(*id))
            .cloned()
            .collect();
        let staying = gone
            .iter()
            .filter(|id| {
                self.agents
                    .get(*id)
                    .is_some_and(|a| a.state.is_call_bound())
            })
            .count();
        if wanted.len().saturating_add(staying) > self.config.max_agents {
            return Err(PresenceError::TooManyAgents {
                max: self.config.max_agents,
            });
        }
        let mut done = Reconfigured::default();
        for id in gone {
            let Some(agent) = self.agents.get_mut(&id) else {
                continue;
            };
            if agent.state.is_call_bound() {
                if !agent.retiring {
                    agent.retiring = true;
                    done.retiring.push(id);
                }
            } else {
                self.remove_now(&id, now);
                done.removed.push(id);
            }
        }
        for config in agents {
            match self.agents.get_mut(&config.id) {
                Some(agent) => {
                    let changed = agent.config != config || agent.retiring;
                    agent.retiring = false;
                    if changed {
                        done.updated.push(config.id.clone());
                        agent.config = config;
                    }
                }
                None => {
                    let id = config.id.clone();
                    // Cannot fail: the id, the name and the limit (retiring agents
                    // included) were checked above.
                    self.add_agent(config, now)?;
                    done.added.push(id);
                }
            }
        }
        Ok(done)
    }
}
