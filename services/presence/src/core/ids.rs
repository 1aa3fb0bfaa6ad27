//! Typed identifiers and devices: the vocabulary every presence input is written in.
//!
//! Ids are opaque strings chosen elsewhere (configuration, sip-edge); presence only compares
//! and stores them, so the newtypes exist to keep an agent id from being passed as a call id.

use std::fmt;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id; length limits are checked by the core when the id is stored.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text (for logs and protocol conversion).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// An agent (an employee who takes calls), as named in the configuration.
    AgentId
);
string_id!(
    /// A call, as named by the sip-edge node that owns it.
    CallId
);
string_id!(
    /// A sip-edge node, by its node name in the cluster: the node that carries a call and
    /// alone can end it.
    EdgeNode
);
string_id!(
    /// One of an agent's devices: a SIP registration (one per contact) or a browser session.
    DeviceId
);

/// A device an agent can be rung on. Presence keeps it so that whoever rings the agent can
/// ask where; only the count of devices matters for the agent's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Stable id of the registration or session; re-registering with the same id updates it.
    pub id: DeviceId,
    /// How to reach the device.
    pub kind: DeviceKind,
    /// The sip-edge node the device registered with: its registration lives there, so the
    /// device is gone when that node is ([`super::Presence::edge_gone`]). `None` when not
    /// known (and for a browser session); such a device only goes by `device_gone`.
    pub edge: Option<EdgeNode>,
}

/// How a device is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKind {
    /// A SIP registration: the agent's extension and the contact URI it registered.
    Sip {
        /// The extension (user part) the device registered for.
        extension: String,
        /// The Contact URI to send INVITEs to.
        contact: String,
    },
    /// A WebRTC browser session (the media and signalling path is owned elsewhere).
    Browser,
}
