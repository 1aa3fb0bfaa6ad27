//! Inputs to presence from other services, kept free of their types: sip-edge's registrar
//! reports phones as (extension, contact) pairs, with the sip-edge node that holds the
//! registration, over `PresenceControl` ([`crate::control`]), and they become device inputs
//! here. Neither crate depends on the other.

use std::collections::HashMap;

use cc_common::Config;
use cc_common::config::ConfigWatch;

use crate::core::{AgentId, Device, DeviceId, DeviceKind, EdgeNode};
use crate::error::ServiceError;
use crate::service::PresenceHandle;

/// Which agent a phone registering for an extension belongs to (from `[[employees]]`).
#[derive(Debug, Clone)]
pub struct Extensions {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Fixed(HashMap<String, AgentId>),
    /// The latest configuration: an employee added at run time registers at once.
    Live(ConfigWatch),
}

impl Default for Extensions {
    fn default() -> Self {
        Self {
            source: Source::Fixed(HashMap::new()),
        }
    }
}

impl Extensions {
    /// The extension -> agent map of the configured employees.
    pub fn from_config(config: &Config) -> Self {
        let agents = config
            .employees
            .iter()
            .map(|e| (e.extension.to_string(), AgentId::new(e.id.to_string())))
            .collect();
        Self {
            source: Source::Fixed(agents),
        }
    }

    /// The extensions of the latest configuration snapshot, whenever asked.
    pub fn following(config: ConfigWatch) -> Self {
        Self {
            source: Source::Live(config),
        }
    }

    /// The agent whose extension this is.
    pub fn agent(&self, extension: &str) -> Option<AgentId> {
        match &self.source {
            Source::Fixed(agents) => agents.get(extension).cloned(),
            Source::Live(config) => config
                .borrow()
                .employee_by_extension(extension)
                .map(|e| AgentId::new(e.id.to_string())),
        }
    }
}

/// Feeds SIP registrations of employees' phones into presence. Each contact is one device,
/// so a second phone on the same extension is a second device.
#[derive(Debug, Clone)]
pub struct SipDevices {
    presence: PresenceHandle,
    extensions: Extensions,
}

impl SipDevices {
    /// An adapter that sends to `presence`.
    pub fn new(presence: PresenceHandle, extensions: Extensions) -> Self {
        Self {
            presence,
            extensions,
        }
    }

    /// A phone registered (or refreshed) `contact` for `extension` with the sip-edge node
    /// `edge` (`None`: not known), where its registration lives: the device goes when that
    /// node does ([`crate::core::Presence::edge_gone`]), and a refresh through another node
    /// moves it there. An extension that is no employee's is ignored (`Ok(false)`): the
    /// registrar only admits employees, so it can only be a configuration changed in between.
    pub async fn registered(
        &self,
        extension: &str,
        contact: &str,
        edge: Option<EdgeNode>,
    ) -> Result<bool, ServiceError> {
        let Some(agent) = self.extensions.agent(extension) else {
            return Ok(false);
        };
        let device = Device {
            id: DeviceId::new(contact),
            kind: DeviceKind::Sip {
                extension: extension.to_owned(),
                contact: contact.to_owned(),
            },
            edge,
        };
        self.presence.device_registered(&agent, device).await?;
        Ok(true)
    }

    /// A phone's registration of `contact` for `extension` ended (expired, removed, replaced).
    pub async fn gone(&self, extension: &str, contact: &str) -> Result<bool, ServiceError> {
        let Some(agent) = self.extensions.agent(extension) else {
            return Ok(false);
        };
        self.presence
            .device_gone(&agent, DeviceId::new(contact))
            .await?;
        Ok(true)
    }
}
