//! A virtual clock and helpers shared by the presence tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use cc_presence::core::{
    AgentConfig, AgentId, AgentState, CallId, Device, DeviceId, DeviceKind, EdgeNode, Presence,
    PresenceConfig, PresenceEvent,
};

/// Presence driven on a virtual clock: `now` only moves when the test says so.
pub struct Harness {
    pub p: Presence,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(PresenceConfig::default())
    }

    pub fn with_config(config: PresenceConfig) -> Self {
        Self {
            p: Presence::new(config),
            now: Instant::now(),
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Moves the clock and fires whatever timers are due, as the service's timer would.
    pub fn advance_and_fire(&mut self, by: Duration) {
        self.advance(by);
        self.p.handle_timeout(self.now);
    }

    /// Adds an agent, logs them in and registers one SIP device: Available.
    pub fn ready_agent(&mut self, name: &str) -> AgentId {
        let id = AgentId::from(name);
        self.p
            .add_agent(AgentConfig::new(name, name.to_uppercase()), self.now)
            .unwrap();
        self.p.login(&id, self.now).unwrap();
        self.p
            .device_registered(&id, sip(&format!("{name}-phone")), self.now)
            .unwrap();
        assert_eq!(self.state(&id), AgentState::Available);
        id
    }

    pub fn state(&self, id: &AgentId) -> AgentState {
        self.p.state(id).unwrap().clone()
    }

    pub fn events(&mut self) -> Vec<PresenceEvent> {
        std::iter::from_fn(|| self.p.poll_event()).collect()
    }

    /// `(from, to)` of every state change drained, in order.
    pub fn changes(&mut self) -> Vec<(AgentState, AgentState)> {
        self.events()
            .into_iter()
            .filter_map(|event| match event {
                PresenceEvent::AgentStateChanged { from, to, .. } => Some((from, to)),
                _ => None,
            })
            .collect()
    }
}

/// A SIP phone whose registrar did not say its sip-edge node.
pub fn sip(id: &str) -> Device {
    Device {
        id: DeviceId::from(id),
        kind: DeviceKind::Sip {
            extension: "1001".into(),
            contact: format!("sip:{id}@127.0.0.1:5070"),
        },
        edge: None,
    }
}

/// A SIP phone registered with the sip-edge node `edge`.
pub fn sip_on(id: &str, edge: &str) -> Device {
    Device {
        edge: Some(EdgeNode::new(edge)),
        ..sip(id)
    }
}

pub fn call(id: &str) -> CallId {
    CallId::from(id)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
