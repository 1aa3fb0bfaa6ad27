//! The eight kinds of configuration resource the store edits one at a time, and the etag
//! that versions each of them.

use std::fmt;

use cc_common::Config;
use cc_common::config::{
    CallerList, Department, Employee, Number, Scenario, Schedule, Screening, Trunk,
};

/// A kind of resource.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Employee,
    Department,
    Number,
    Trunk,
    Schedule,
    Scenario,
    CallerList,
    /// A screening policy, keyed by the employee it protects.
    Screening,
}

impl Kind {
    /// The singular name, also the request field a resource travels in (`employee`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Employee => "employee",
            Kind::Department => "department",
            Kind::Number => "number",
            Kind::Trunk => "trunk",
            Kind::Schedule => "schedule",
            Kind::Scenario => "scenario",
            Kind::CallerList => "caller_list",
            Kind::Screening => "screening_policy",
        }
    }

    /// The table of the configuration file (`employees`), as validation names fields.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Employee => "employees",
            Kind::Department => "departments",
            Kind::Number => "numbers",
            Kind::Trunk => "trunks",
            Kind::Schedule => "schedules",
            Kind::Scenario => "scenarios",
            Kind::CallerList => "caller_lists",
            Kind::Screening => "screening",
        }
    }

    pub(crate) const ALL: [Kind; 8] = [
        Kind::Employee,
        Kind::Department,
        Kind::Number,
        Kind::Trunk,
        Kind::Schedule,
        Kind::Scenario,
        Kind::CallerList,
        Kind::Screening,
    ];
}

/// How messages call the kind: its name in words (`caller list`).
impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::CallerList => f.write_str("caller list"),
            Kind::Screening => f.write_str("screening policy"),
            other => f.write_str(other.name()),
        }
    }
}

/// The version of one resource: the configuration revision of its last change, shown as
/// `r<revision>`. Backends other than memory (etcd) use their own revision the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Etag(pub u64);

impl Etag {
    /// Parses `r<revision>`; `None` for anything this service never hands out.
    pub fn parse(text: &str) -> Option<Etag> {
        let digits = text.strip_prefix('r')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(Etag)
    }
}

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// A resource as read, with its etag.
#[derive(Debug, Clone)]
pub struct Versioned<R> {
    pub resource: R,
    pub etag: Etag,
}

/// A table of the configuration that the store edits one entry at a time.
pub trait Resource: Clone + Send + Sync + 'static {
    /// Which kind this is.
    const KIND: Kind;

    /// The resource's key in its table: the id, or for a number the digits without `+`.
    fn key(&self) -> &str;

    /// Its table.
    fn all(config: &Config) -> &[Self];

    /// Its table, to edit a candidate configuration.
    fn all_mut(config: &mut Config) -> &mut Vec<Self>;

    /// A key as a caller may spell it, in the form [`Resource::key`] returns.
    fn normalize_key(key: &str) -> &str {
        key
    }

    /// Fills fields the API never returns (and so an update may leave empty) from the
    /// current version.
    fn keep_write_only(&mut self, _current: &Self) {}
}

impl Resource for Employee {
    const KIND: Kind = Kind::Employee;

    fn key(&self) -> &str {
        self.id.as_str()
    }

    fn all(config: &Config) -> &[Self] {
        &config.employees
    }

    fn all_mut(config: &mut Config) -> &mut Vec<Self> {
        &mut config.employees
    }

    /// The SIP password is write-only: an update without one keeps the current password.
    fn keep_write_only(&mut self, current: &Self) {
        if self.sip_password.is_empty() {
            self.sip_password.clone_from(&current.sip_password);
        }
    }
}

impl Resource for Department {
    const KIND: Kind = Kind::Department;

    fn key(&self) -> &str {
        &self.id
    }

    fn all(config: &Config) -> &[Self] {
        &config.departments
    }

    fn all_mut(config: &mut Config) -> &mut Vec<Self> {
        &mut config.departments
    }
}

impl Resource for Number {
    const KIND: Kind = Kind::Number;

    fn key(&self) -> &str {
        self.normalized()
    }

    fn all(config: &Config) -> &[Self] {
        &config.numbers
    }

    fn all_mut(config: &mut Config) -> &mut Vec<Self> {
        &mut config.numbers
    }

    fn normalize_key(key: &str) -> &str {
        key.strip_prefix('+').unwrap_or(key)
    }
}

impl Resource for Trunk {
    const KIND: Kind = Kind::Trunk;

    fn key(&self) -> &str {
        &self.id
    }

    fn all(config: &Config) -> &[Self] {
        &config.trunks
    }

    fn all_mut(config: &mut Config) -> &mut Vec<Self> {
        &mut config.trunks
    }
}

impl Resource for Schedule {
    const KIND: Kind = Kind::Schedule;

    fn key(&self) -> &str {
        &self.id
    }

    fn all(config: &Config) -> &[Self] {
        &config.schedules
    }

    fn all_mut(config: &mut Config) -> &mut Vec<Self> {
        &mut config.schedules
    }
}

impl Resource for Scenario {
    const KIND: Kind = Kind::Scenario;

    fn key(&self) -> &str {
        &self.id
    }

    fn all(config: &Config) -> &[Self] {
        &config.scenarios
    }

    fn all_mut(config: &mut Config) -> &mut Vec<Self> {
        &mut config.scenarios
    }
}

impl Resource for CallerList {
    const KIND: Kind = Kind::CallerList;

    fn key(&self) -> &str {
        &self.id
    }

    fn all(config: &Config) -> &[Self] {
        &config.caller_lists
    }

    fn all_mut(config: &mut Config) -> &mut Vec<Self> {
        &mut config.caller_lists
    }
}

/// One policy per employee: the employee's id is the key.
impl Resource for Screening {
    const KIND: Kind = Kind::Screening;

    fn key(&self) -> &str {
        &self.employee
    }

    fn all(config: &Config) -> &[Self] {
        &config.screening
    }

    fn all_mut(config: &mut Config) -> &mut Vec<Self> {
        &mut config.screening
    }
}

/// The key of the entry at `index` of `kind`'s table, for naming fields by id.
pub(crate) fn key_at(config: &Config, kind: Kind, index: usize) -> Option<&str> {
    match kind {
        Kind::Employee => config.employees.get(index).map(Resource::key),
        Kind::Department => config.departments.get(index).map(Resource::key),
        Kind::Number => config.numbers.get(index).map(Resource::key),
        Kind::Trunk => config.trunks.get(index).map(Resource::key),
        Kind::Schedule => config.schedules.get(index).map(Resource::key),
        Kind::Scenario => config.scenarios.get(index).map(Resource::key),
        Kind::CallerList => config.caller_lists.get(index).map(Resource::key),
        Kind::Screening => config.screening.get(index).map(Resource::key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_print_and_parse_as_r_revision() {
        assert_eq!(Etag(17).to_string(), "r17");
        assert_eq!(Etag::parse("r17"), Some(Etag(17)));
        for bad in [
            "",
            "r",
            "17",
            "r-1",
            "r1x",
            "R1",
            "r99999999999999999999999",
        ] {
            assert_eq!(Etag::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn kinds_keep_their_stored_names_and_read_as_words() {
        // Stored etags name the kind: the names of the first six must never change.
        let stored: Vec<String> = Kind::ALL
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(
            stored,
            [
                "\"employee\"",
                "\"department\"",
                "\"number\"",
                "\"trunk\"",
                "\"schedule\"",
                "\"scenario\"",
                "\"caller_list\"",
                "\"screening\"",
            ]
        );
        assert_eq!(Kind::CallerList.to_string(), "caller list");
        assert_eq!(Kind::Screening.to_string(), "screening policy");
        assert_eq!(Kind::Employee.to_string(), "employee");
        assert_eq!(Kind::Screening.name(), "screening_policy");
    }
}
