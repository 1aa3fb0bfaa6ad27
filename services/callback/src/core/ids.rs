//! Typed vocabulary: ids, the callee, the caller's number, the leader's fencing token and
//! the priority. The core never passes bare strings around.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::CallbackError;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier issued elsewhere.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as text, for logs, keys and wire conversion.
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
    /// A callback, named by whoever asked for it (the service issues a UUID per request);
    /// also the last segment of its key `/cc/callbacks/<id>`.
    CallbackId
);

string_id!(
    /// A department (agent group), as the configuration names it.
    DepartmentId
);

string_id!(
    /// An employee, as the configuration names it.
    EmployeeId
);

/// Who calls back: a department's agents or one employee.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    /// Any free agent of the department.
    Department(DepartmentId),
    /// That employee (a secretary's "he will call you back").
    Employee(EmployeeId),
}

impl Target {
    /// A department target.
    pub fn department(id: impl Into<String>) -> Self {
        Self::Department(DepartmentId::new(id))
    }

    /// An employee target.
    pub fn employee(id: impl Into<String>) -> Self {
        Self::Employee(EmployeeId::new(id))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Department(d) => write!(f, "department {d}"),
            Target::Employee(e) => write!(f, "employee {e}"),
        }
    }
}

/// The number to call back, normalised: an optional leading `+` and 3 to 15 digits
/// (E.164 allows at most 15; short internal extensions have 3 or more). Spaces, dashes,
/// dots and parentheses are dropped when parsing, so "+49 (30) 123-45" and "+493012345"
/// are the same number (and merge).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Fewest digits of a number.
    pub const MIN_DIGITS: usize = 3;
    /// Most digits of a number (E.164).
    pub const MAX_DIGITS: usize = 15;

    /// Checks and normalises `raw`.
    pub fn parse(raw: &str) -> Result<Self, CallbackError> {
        let invalid = |why: &str| CallbackError::InvalidNumber {
            number: raw.chars().take(40).collect(),
            why: why.to_owned(),
        };
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len() + 1);
        if plus {
            digits.push('+');
        }
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(invalid(
                        "only digits, an optional leading '+' and separators",
                    ));
                }
            }
        }
        let count = digits.len() - usize::from(plus);
        if count < Self::MIN_DIGITS {
            return Err(invalid("too few digits"));
        }
        if count > Self::MAX_DIGITS {
            return Err(invalid("more than 15 digits"));
        }
        Ok(Self(digits))
    }

    /// The normalised number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = CallbackError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<PhoneNumber> for String {
    fn from(n: PhoneNumber) -> Self {
        n.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scheduler leader's fencing token: the create revision of its election key
/// (`cc_cluster::Owned::token`), strictly greater than every earlier leader's.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LeaderToken(pub i64);

impl fmt::Display for LeaderToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Urgency of a callback: a higher value is dispatched first among a target's due
/// callbacks (R-32: the director's). Equal priorities follow the due order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Priority(pub u8);
