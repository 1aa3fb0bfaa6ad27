//! `[[scenarios]]`: what a number's calls go through, as a small graph of operations that
//! routing walks: play a prompt, offer a menu, queue for a department, ring an
//! employee, transfer to an outside number, hang up with a prompt. Each operation has an
//! id (reports group by it); the edges between them (`next`, `keys`, `default`,
//! `no_answer`) name operations of the same scenario.
//!
//! The file keeps one flat table per operation (its kind is whichever of `play`, `menu`,
//! `queue`, `dial`, `transfer` or `hangup` it has), so the TOML reads as written and every
//! mistake is refused here naming its path (`scenarios[0].operations[2].keys."7"`).
//! [`Operation::action`] gives the typed view; a new kind of operation is one more field,
//! one more [`Action`] variant and its rules in [`validate`].

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::org::is_id;
use super::{ConfigError, invalid};

/// `[[scenarios]]`: a graph of operations, entered at `start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Stable id numbers refer to (letters, digits, '-', '_', '.').
    pub id: String,
    /// The id of the first operation.
    pub start: String,
    pub operations: Vec<Operation>,
}

/// `[[scenarios.operations]]`: one step of a scenario. Exactly one of `play`, `menu`,
/// `queue`, `dial`, `transfer` and `hangup` says what it does; the other fields say where
/// the call goes after it, and apply only to the kinds named on them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Unique in its scenario; reports name the operation by it.
    pub id: String,
    /// Play this prompt, then go to `next`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play: Option<String>,
    /// Offer a voice menu: `keys` say where each key goes, `default` where the call goes
    /// without a key in time or after too many invalid ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu: Option<Menu>,
    /// Wait in a department's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueOp>,
    /// Ring an employee's phones (then the mobile, as for a direct number); `no_answer`
    /// when nobody answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial: Option<DialOp>,
    /// Ring an outside number through a trunk; `no_answer` when nobody answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferOp>,
    /// Play a prompt, if any, and end the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hangup: Option<HangupOp>,
    /// Take a message for this employee or department and end the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Offer a callback from this employee or department and end the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    /// After `play`: the next operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// After `menu`: a key (one of 0-9 * #) -> the operation it leads to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, String>,
    /// After `menu`: where the call goes without a key within the timeout, or after
    /// `tries` invalid keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// After `dial` or `transfer`: where the call goes when nobody answers (no answer,
    /// busy, unreachable). Without it the caller hears "unavailable" and the call ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_answer: Option<String>,
}

/// `menu = { prompt = "...", timeout_seconds = 5, tries = 3, invalid_prompt = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// The prompt offering the choices; a key stops it (barge-in).
    pub prompt: String,
    /// How long to wait for a key after the prompt ends, 1-60 s.
    #[serde(default = "default_menu_timeout")]
    pub timeout_seconds: u32,
    /// Invalid keys accepted before the call takes `default`, 1-9: each one before that
    /// plays `invalid_prompt` and the menu again.
    #[serde(default = "default_menu_tries")]
    pub tries: u32,
    /// Played before the menu is offered again after an invalid key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_prompt: Option<String>,
}

/// A menu's timeout when the file gives none (R-15: 5 s).
pub const DEFAULT_MENU_TIMEOUT_SECONDS: u32 = 5;
/// A menu's tries when the file gives none.
pub const DEFAULT_MENU_TRIES: u32 = 3;

fn default_menu_timeout() -> u32 {
    DEFAULT_MENU_TIMEOUT_SECONDS
}

fn default_menu_tries() -> u32 {
    DEFAULT_MENU_TRIES
}

/// `queue = { department = "...", priority = 0 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueOp {
    pub department: String,
    /// Priority level 0-9, higher served first (see [`super::MAX_PRIORITY_LEVEL`]).
    #[serde(default)]
    pub priority: u8,
}

/// `dial = { employee = "...", announce = false }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialOp {
    pub employee: String,
    /// Announce the caller first (R-31, as a screening policy's `announce`): a declined
    /// call takes `no_answer`, or the employee's policy's `declined` when they have one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub announce: bool,
}

/// `transfer = { number = "+48...", trunk = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferOp {
    /// Digits with an optional leading +.
    pub number: String,
    /// The `[[trunks]]` id to call through; the first trunk when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunk: Option<String>,
}

/// `hangup = { prompt = "..." }` (or `hangup = {}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HangupOp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// What an operation does: the typed view of its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// A prompt id.
    Play(&'a str),
    Menu(&'a Menu),
    Queue(&'a QueueOp),
    Dial(&'a DialOp),
    Transfer(&'a TransferOp),
    Hangup(&'a HangupOp),
    /// The employee or department id a message is for.
    Message(&'a str),
    /// The employee or department id who calls back.
    Callback(&'a str),
}

/// The fields that say what an operation does, in the order errors list them.
const KINDS: [&str; 8] = [
    "play", "menu", "queue", "dial", "transfer", "hangup", "message", "callback",
];

impl Action<'_> {
    /// Its field name (`play`, `menu`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Action::Play(_) => "play",
            Action::Menu(_) => "menu",
            Action::Queue(_) => "queue",
            Action::Dial(_) => "dial",
            Action::Transfer(_) => "transfer",
            Action::Hangup(_) => "hangup",
            Action::Message(_) => "message",
            Action::Callback(_) => "callback",
        }
    }
}

impl Operation {
    /// What the operation does; `None` unless exactly one kind is given (refused at load).
    pub fn action(&self) -> Option<Action<'_>> {
        let mut given = self.actions();
        let first = given.next()?;
        given.next().is_none().then_some(first)
    }

    fn actions(&self) -> impl Iterator<Item = Action<'_>> {
        [
            self.play.as_deref().map(Action::Play),
            self.menu.as_ref().map(Action::Menu),
            self.queue.as_ref().map(Action::Queue),
            self.dial.as_ref().map(Action::Dial),
            self.transfer.as_ref().map(Action::Transfer),
            self.hangup.as_ref().map(Action::Hangup),
            self.message.as_deref().map(Action::Message),
            self.callback.as_deref().map(Action::Callback),
        ]
        .into_iter()
        .flatten()
    }
}

impl Scenario {
    /// The operation with this id.
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }
}

/// Whether `key` is one DTMF key a menu can offer.
pub fn is_menu_key(key: &str) -> bool {
    matches!(key.as_bytes(), [b'0'..=b'9' | b'*' | b'#'])
}

/// What scenarios may refer to outside themselves.
pub(super) struct Known<'a> {
    pub departments: &'a HashSet<&'a str>,
    pub employees: &'a HashSet<&'a str>,
    pub trunks: &'a HashSet<&'a str>,
}

/// Checks the scenarios (ids, operations, edges, references, no endless loop of prompts)
/// and returns their ids.
pub(super) fn validate<'a>(
    scenarios: &'a [Scenario],
    known: &Known<'_>,
) -> Result<HashSet<&'a str>, ConfigError> {
    let mut ids = HashSet::new();
    for (i, s) in scenarios.iter().enumerate() {
        let field = |f: &str| format!("scenarios[{i}].{f}");
        if !is_id(&s.id) {
            return Err(invalid(
                field("id"),
                format!("{:?} must be 1-64 letters, digits, '-', '_' or '.'", s.id),
            ));
        }
        if !ids.insert(s.id.as_str()) {
            return Err(invalid(field("id"), format!("{:?} is used twice", s.id)));
        }
        if s.operations.is_empty() {
            return Err(invalid(field("operations"), "a scenario needs operations"));
        }
        if s.operations.len() > usize::from(u16::MAX) {
            return Err(invalid(field("operations"), "too many operations"));
        }
        let mut index = HashMap::new();
        for (k, op) in s.operations.iter().enumerate() {
            if !is_id(&op.id) {
                return Err(invalid(
                    field(&format!("operations[{k}].id")),
                    format!("{:?} must be 1-64 letters, digits, '-', '_' or '.'", op.id),
                ));
            }
            if index.insert(op.id.as_str(), k).is_some() {
                return Err(invalid(
                    field(&format!("operations[{k}].id")),
                    format!("{:?} is used twice in this scenario", op.id),
                ));
            }
        }
        if !index.contains_key(s.start.as_str()) {
            return Err(invalid(
                field("start"),
                format!("{:?} is not an operation of this scenario", s.start),
            ));
        }
        for (k, op) in s.operations.iter().enumerate() {
            let at = format!("scenarios[{i}].operations[{k}]");
            check_operation(op, &at, &index, known)?;
        }
        check_prompt_loops(s, i, &index)?;
    }
    Ok(ids)
}

/// One operation: exactly one kind, its values, and only the edges its kind takes.
fn check_operation(
    op: &Operation,
    at: &str,
    index: &HashMap<&str, usize>,
    known: &Known<'_>,
) -> Result<(), ConfigError> {
    let field = |f: &str| format!("{at}.{f}");
    let Some(action) = op.action() else {
        let given: Vec<&str> = op.actions().map(Action::name).collect();
        let reason = if given.is_empty() {
            format!("say what it does: one of {}", KINDS.join(", "))
        } else {
            format!(
                "give only one of {} (found {})",
                KINDS.join(", "),
                given.join(" and ")
            )
        };
        return Err(invalid(at, reason));
    };
    let edge = |name: &str, target: &str| {
        if index.contains_key(target) {
            Ok(())
        } else {
            Err(invalid(
                field(name),
                format!("{target:?} is not an operation of this scenario"),
            ))
        }
    };
    let only = |name: &str, given: bool, kinds: &str| {
        if given {
            Err(invalid(
                field(name),
                format!("applies only to {kinds}, not to {}", action.name()),
            ))
        } else {
            Ok(())
        }
    };
    let prompt = |name: &str, p: &str| {
        if is_id(p) {
            Ok(())
        } else {
            Err(invalid(
                field(name),
                format!("{p:?} is not a prompt id (a file stem in [media] prompts_dir)"),
            ))
        }
    };
    let is_menu = matches!(action, Action::Menu(_));
    let takes_no_answer = matches!(action, Action::Dial(_) | Action::Transfer(_));
    only(
        "next",
        op.next.is_some() && !matches!(action, Action::Play(_)),
        "play",
    )?;
    only("keys", !op.keys.is_empty() && !is_menu, "menu")?;
    only("default", op.default.is_some() && !is_menu, "menu")?;
    only(
        "no_answer",
        op.no_answer.is_some() && !takes_no_answer,
        "dial and transfer",
    )?;
    match action {
        Action::Play(p) => {
            prompt("play", p)?;
            let Some(next) = &op.next else {
                return Err(invalid(field("next"), "a play needs the next operation"));
            };
            edge("next", next)?;
        }
        Action::Menu(m) => {
            prompt("menu.prompt", &m.prompt)?;
            if let Some(p) = &m.invalid_prompt {
                prompt("menu.invalid_prompt", p)?;
            }
            if !(1..=60).contains(&m.timeout_seconds) {
                return Err(invalid(field("menu.timeout_seconds"), "must be 1-60"));
            }
            if !(1..=9).contains(&m.tries) {
                return Err(invalid(field("menu.tries"), "must be 1-9"));
            }
            if op.keys.is_empty() {
                return Err(invalid(field("keys"), "a menu needs keys"));
            }
            for (key, target) in &op.keys {
                let name = format!("keys.{key:?}");
                if !is_menu_key(key) {
                    return Err(invalid(
                        field(&name),
                        format!("{key:?} is not one key: 0-9, * or #"),
                    ));
                }
                edge(&name, target)?;
            }
            let Some(default) = &op.default else {
                return Err(invalid(
                    field("default"),
                    "a menu needs a default: where the call goes without a valid key",
                ));
            };
            edge("default", default)?;
        }
        Action::Queue(q) => {
            if !known.departments.contains(q.department.as_str()) {
                return Err(invalid(
                    field("queue.department"),
                    format!("department {:?} is not configured", q.department),
                ));
            }
            super::callers::check_level(field("queue.priority"), q.priority)?;
        }
        Action::Dial(d) => {
            if !known.employees.contains(d.employee.as_str()) {
                return Err(invalid(
                    field("dial.employee"),
                    format!("employee {:?} is not configured", d.employee),
                ));
            }
        }
        Action::Transfer(t) => {
            let digits = t.number.strip_prefix('+').unwrap_or(&t.number);
            if digits.is_empty() || digits.len() > 32 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(invalid(
                    field("transfer.number"),
                    format!("{:?} must be digits with an optional leading +", t.number),
                ));
            }
            match &t.trunk {
                Some(trunk) if !known.trunks.contains(trunk.as_str()) => {
                    return Err(invalid(
                        field("transfer.trunk"),
                        format!("trunk {trunk:?} is not configured"),
                    ));
                }
                None if known.trunks.is_empty() => {
                    return Err(invalid(
                        field("transfer"),
                        "an outside number needs a trunk: configure [[trunks]]",
                    ));
                }
                _ => {}
            }
        }
        Action::Hangup(h) => {
            if let Some(p) = &h.prompt {
                prompt("hangup.prompt", p)?;
            }
        }
        Action::Message(to) | Action::Callback(to) => {
            if !known.employees.contains(to) && !known.departments.contains(to) {
                return Err(invalid(
                    field(action.name()),
                    format!("{to:?} is neither an employee nor a department id"),
                ));
            }
        }
    }
    if let Some(target) = &op.no_answer {
        edge("no_answer", target)?;
    }
    Ok(())
}

/// Refuses a loop of prompts: plays whose `next` leads back to themselves through plays
/// only would keep the caller listening for ever, never asked anything nor connected.
fn check_prompt_loops(
    s: &Scenario,
    i: usize,
    index: &HashMap<&str, usize>,
) -> Result<(), ConfigError> {
    let next_play = |k: usize| -> Option<usize> {
        let op = &s.operations[k];
        op.play.as_ref()?;
        let next = *index.get(op.next.as_deref()?)?;
        s.operations[next].play.is_some().then_some(next)
    };
    for start in 0..s.operations.len() {
        if s.operations[start].play.is_none() {
            continue;
        }
        // A walk through plays longer than the scenario has visited one twice.
        let mut path = vec![start];
        let mut at = start;
        while let Some(next) = next_play(at) {
            if next == start {
                let names: Vec<&str> = path
                    .iter()
                    .chain([&start])
                    .map(|&k| s.operations[k].id.as_str())
                    .collect();
                return Err(invalid(
                    format!("scenarios[{i}].operations[{start}].next"),
                    format!(
                        "the prompts {} loop for ever: the caller is never asked anything \
                         nor connected (put a menu, queue, dial, transfer or hangup in the loop)",
                        names.join(" -> ")
                    ),
                ));
            }
            if path.len() > s.operations.len() {
                // A loop that does not come back to `start`: reported from its own play.
                break;
            }
            path.push(next);
            at = next;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
