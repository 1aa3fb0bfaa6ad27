//! Typed identifiers and the call priority: the core never passes bare strings around.

use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier issued elsewhere (sip-edge, presence, configuration).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as text, for logs and wire conversion.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
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
    };
}

string_id!(
    /// An agent (an employee who takes calls), named as presence and the configuration name
    /// it; the queue reaches presence over gRPC, so the id crosses as text.
    AgentId
);

string_id!(
    /// A call, named by the sip-edge node that owns it.
    CallId
);

string_id!(
    /// A department (agent group) that owns one queue.
    DepartmentId
);

string_id!(
    /// Who calls: the caller's number (or extension) as sip-edge saw it, for last-agent
    /// routing (MISSION R-34).
    Caller
);

string_id!(
    /// A sip-edge node that carries calls, by its node name in the cluster
    /// (`/cc/nodes/sip-edge/<node>`): when it dies, nobody can end its calls any more.
    EdgeNode
);

/// Urgency of a queued call: a higher value is served first (R-32: director calls and
/// external calls outrank internal ones). Calls of equal priority are served in enqueue
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Priority(pub u8);
