//! Who is calling, and what that changes:
//!
//! - `[[caller_lists]]`: named lists of caller numbers and number prefixes ("key clients",
//!   "known spam", "suppliers"), and the anonymous caller;
//! - a number's `rules`: callers on a list go elsewhere (a polite prompt for spam, a
//!   department, a scenario) or wait with a higher priority;
//! - `[[screening]]`: the policy that protects one employee (the director): callers never
//!   connected, VIPs connected at any time, callers connected only in given hours,
//!   do-not-disturb hours, anonymous callers, and where a call the policy turns away goes
//!   instead (a neutral prompt, a deputy, the secretariat).
//!
//! Caller numbers are compared as digits: a leading `+` is ignored on both sides, nothing
//! else is rewritten (list the forms the trunk delivers, e.g. `+4822*` and `004822*`).
//! Internal callers are matched by their extension.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::org::{Destination, DestinationIds, check_destination, is_id};
use super::scenario::Scenario;
use super::{ConfigError, invalid};

/// `[[caller_lists]]`: callers by number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerList {
    /// Stable id rules and screening policies refer to.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Each entry one of: a number (`+48221234567`), a prefix ending in `*` (`+4822*`:
    /// every number that starts so), or `anonymous` (a caller who withholds the number).
    pub entries: Vec<String>,
}

/// One entry of a caller list, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallerPattern {
    /// A caller who withholds the number (no number, `anonymous`, or privacy asked).
    Anonymous,
    /// Exactly this number, as digits without a leading `+`.
    Number(String),
    /// Every number that starts with these digits (no leading `+`).
    Prefix(String),
}

/// The longest number or prefix a list entry may have (E.164 has 15 digits; room for
/// international and carrier prefixes).
pub const MAX_CALLER_DIGITS: usize = 24;

impl CallerPattern {
    /// Parses one entry; the error says what a valid entry looks like.
    pub fn parse(entry: &str) -> Result<CallerPattern, String> {
        if entry.eq_ignore_ascii_case("anonymous") {
            return Ok(CallerPattern::Anonymous);
        }
        let digits = entry.strip_prefix('+').unwrap_or(entry);
        let (digits, prefix) = match digits.strip_suffix('*') {
            Some(d) => (d, true),
            None => (digits, false),
        };
        if digits.is_empty()
            || digits.len() > MAX_CALLER_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!(
                "{entry:?} is not a caller: give a number (digits, optional leading +), \
                 a prefix ending in * (\"+4822*\") or \"anonymous\""
            ));
        }
        Ok(if prefix {
            CallerPattern::Prefix(digits.to_owned())
        } else {
            CallerPattern::Number(digits.to_owned())
        })
    }
}

/// `[[numbers.rules]]`: what happens to a number's callers who are on a list. The first
/// rule whose list holds the caller applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerRule {
    /// The `[[caller_lists]]` id.
    pub callers: String,
    /// Where these callers go instead of the number's route (in and out of hours):
    /// `{ hangup = "<prompt>" }` ("please send your offer by e-mail"), `{ department }`,
    /// `{ employee }` or `{ scenario }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goto: Option<Destination>,
    /// Their priority level in queues (0-9; see [`MAX_PRIORITY_LEVEL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

/// Priority levels run 0-9. A queued call's priority is `2 × level + 1` for a call from
/// outside (or from an employee with a priority of their own, R-32: "except calls from the
/// director") and `2 × level` for any other internal call, so at the same level outside
/// callers go first. The level is the highest that applies: the number's, the caller
/// rule's, the scenario's queue step's, the calling employee's.
pub const MAX_PRIORITY_LEVEL: u8 = 9;

/// What the screening does with callers who withhold their number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnonymousPolicy {
    /// Like any other caller (not on a list, subject to do-not-disturb).
    #[default]
    Connect,
    /// Turned away like a never-connect caller.
    Decline,
}

/// `limited = [{ callers = "suppliers", schedule = "supplier-hours" }]`: callers put
/// through only while the schedule is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitedCallers {
    pub callers: String,
    pub schedule: String,
}

/// `[[screening]]`: the policy protecting one employee. Checked whenever a call
/// would ring them (a number's route, a scenario's dial, a menu key, an internal call), in
/// this order: `never` (turned away), `vip` (put through, also during do-not-disturb),
/// `limited` (put through while their schedule is open, else turned away), `anonymous`,
/// then `dnd` (turned away while it is open). A turned-away call never rings the employee:
/// it goes to `declined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Screening {
    /// The protected employee's id; one policy per employee.
    pub employee: String,
    /// A `[[schedules]]` id: while it is open, the employee is not disturbed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnd: Option<String>,
    /// Caller lists put through at any time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vip: Vec<String>,
    /// Caller lists never put through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<String>,
    /// Caller lists put through only in given hours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limited: Vec<LimitedCallers>,
    #[serde(default)]
    pub anonymous: AnonymousPolicy,
    /// Announced transfer: a call the policy puts through is announced first. The
    /// caller says their name, company and purpose (recorded); the employee's phone rings
    /// and, answered, plays it and asks to accept (1) or decline (2). Only an accepted call
    /// is connected; a declined one (or no key, or the employee hanging up) goes to
    /// `declined`, and the caller, who only heard "please hold" and music, never hears
    /// "connecting" first.
    #[serde(default, skip_serializing_if = "is_false")]
    pub announce: bool,
    /// Where a turned-away call goes: a neutral prompt and the end of the call (`{ hangup
    /// = "in-a-meeting" }`, never what the person is really doing), a deputy (`{ employee
    /// }`), a department or a scenario (e.g. one that takes a message).
    #[serde(default = "default_declined")]
    pub declined: Destination,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The prompt a turned-away caller hears when the policy names no `declined`.
pub const DECLINED_PROMPT: &str = "unavailable";

fn default_declined() -> Destination {
    Destination::Hangup(DECLINED_PROMPT.into())
}

/// Checks the caller lists and returns their ids.
pub(super) fn validate_lists(lists: &[CallerList]) -> Result<HashSet<&str>, ConfigError> {
    let mut ids = HashSet::new();
    for (i, list) in lists.iter().enumerate() {
        let field = |f: &str| format!("caller_lists[{i}].{f}");
        if !is_id(&list.id) {
            return Err(invalid(
                field("id"),
                format!(
                    "{:?} must be 1-64 letters, digits, '-', '_' or '.'",
                    list.id
                ),
            ));
        }
        if !ids.insert(list.id.as_str()) {
            return Err(invalid(field("id"), format!("{:?} is used twice", list.id)));
        }
        for (k, entry) in list.entries.iter().enumerate() {
            CallerPattern::parse(entry)
                .map_err(|reason| invalid(field(&format!("entries[{k}]")), reason))?;
        }
    }
    Ok(ids)
}

/// Checks one list reference.
pub(super) fn check_list(
    field: String,
    id: &str,
    lists: &HashSet<&str>,
) -> Result<(), ConfigError> {
    if lists.contains(id) {
        Ok(())
    } else {
        Err(invalid(field, format!("{id:?} is not a caller list id")))
    }
}

/// Checks one priority level.
pub(super) fn check_level(field: String, level: u8) -> Result<(), ConfigError> {
    if level > MAX_PRIORITY_LEVEL {
        return Err(invalid(
            field,
            format!("{level} is not a priority level (0-{MAX_PRIORITY_LEVEL})"),
        ));
    }
    Ok(())
}

/// Checks a number's caller rules.
pub(super) fn validate_rules(
    at: &str,
    rules: &[CallerRule],
    lists: &HashSet<&str>,
    known: &DestinationIds<'_>,
) -> Result<(), ConfigError> {
    for (k, rule) in rules.iter().enumerate() {
        let field = |f: &str| format!("{at}.rules[{k}].{f}");
        check_list(field("callers"), &rule.callers, lists)?;
        if rule.goto.is_none() && rule.priority.is_none() {
            return Err(invalid(
                format!("{at}.rules[{k}]"),
                "say what the rule does: goto (where these callers go) and/or priority",
            ));
        }
        if let Some(goto) = &rule.goto {
            check_destination(field("goto"), goto, known)?;
        }
        if let Some(level) = rule.priority {
            check_level(field("priority"), level)?;
        }
    }
    Ok(())
}

/// Checks the screening policies: one per employee, every list, schedule and destination
/// known.
pub(super) fn validate_screening(
    policies: &[Screening],
    lists: &HashSet<&str>,
    known: &DestinationIds<'_>,
    scenarios: &[Scenario],
) -> Result<(), ConfigError> {
    let mut protected = HashSet::new();
    for (i, p) in policies.iter().enumerate() {
        let field = |f: &str| format!("screening[{i}].{f}");
        if !known.employees.contains(p.employee.as_str()) {
            return Err(invalid(
                field("employee"),
                format!("{:?} is not an employee id", p.employee),
            ));
        }
        if !protected.insert(p.employee.as_str()) {
            return Err(invalid(
                field("employee"),
                format!("{:?} has a policy already (one per employee)", p.employee),
            ));
        }
        if let Some(s) = &p.dnd
            && !known.schedules.contains(s.as_str())
        {
            return Err(invalid(field("dnd"), format!("{s:?} is not a schedule id")));
        }
        for (k, id) in p.vip.iter().enumerate() {
            check_list(field(&format!("vip[{k}]")), id, lists)?;
        }
        for (k, id) in p.never.iter().enumerate() {
            check_list(field(&format!("never[{k}]")), id, lists)?;
        }
        for (k, l) in p.limited.iter().enumerate() {
            check_list(field(&format!("limited[{k}].callers")), &l.callers, lists)?;
            if !known.schedules.contains(l.schedule.as_str()) {
                return Err(invalid(
                    field(&format!("limited[{k}].schedule")),
                    format!("{:?} is not a schedule id", l.schedule),
                ));
            }
        }
        if p.declined == Destination::Employee(p.employee.clone()) {
            return Err(invalid(
                field("declined"),
                "a turned-away call cannot go to the protected employee",
            ));
        }
        check_destination(field("declined"), &p.declined, known)?;
        if let Destination::Scenario(id) = &p.declined
            && let Some(s) = scenarios.iter().find(|s| &s.id == id)
            && s.operations
                .iter()
                .any(|o| o.dial.as_ref().is_some_and(|d| d.employee == p.employee))
        {
            return Err(invalid(
                field("declined"),
                format!(
                    "scenario {id:?} rings {:?} again: a turned-away call would go round in circles",
                    p.employee
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
