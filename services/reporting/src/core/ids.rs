//! Newtype ids: a call, a scenario, a scenario's operation, a department (agent group) and
//! an agent are never confused with each other or with a phone number.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id as the service that minted it spells it.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text (what the store keeps).
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

id!(
    /// A call, as sip-edge names it for its whole life (transfers included).
    CallId
);
id!(
    /// A routing scenario (what a virtual number points at).
    ScenarioId
);
id!(
    /// An operation (step) of a scenario: menu, prompt, queue, dial... unique in its
    /// scenario.
    OperationId
);
id!(
    /// A department: the agent group calls queue for.
    DepartmentId
);
id!(
    /// An agent (employee) who takes calls.
    AgentId
);
