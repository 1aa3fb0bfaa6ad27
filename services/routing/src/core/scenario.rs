//! Scenarios compiled for walking. Each `[[scenarios]]` entry becomes a
//! `Graph`: its operations in an array, edges as indexes, menu keys in a table by key, so
//! a step costs a few array lookups and allocates nothing.
//!
//! Routing keeps no per-call state: where a call is in its scenario travels with the call
//! as a [`Cursor`] (given with each step, sent back with the next request together with
//! how the step ended). A cursor names its scenario by a fingerprint of the scenario's
//! content, so one from before a change of that scenario, or one that does not fit (a
//! forged one, an operation that no longer exists, an outcome of the wrong kind), is not
//! followed: the call starts the scenario again at `start`.

use std::fmt;
use std::hash::{Hash, Hasher};

use cc_common::config::{Action, Scenario, Trunk};

use super::{DialOutcome, Step};

/// Where a call is in a scenario: the operation whose step it was given, and at a menu the
/// invalid keys pressed so far. Printed as `<fingerprint>.<operation>.<invalid>`, e.g.
/// `1f3a09c2.4.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The fingerprint of the scenario: a hash of its id and content.
    pub scenario: u32,
    /// The operation's index in the scenario.
    pub operation: u16,
    /// Invalid keys pressed at this menu so far (0 elsewhere).
    pub invalid: u8,
}

impl Cursor {
    /// Parses what [`Cursor`]'s `Display` printed; `None` for anything else.
    pub fn parse(text: &str) -> Option<Cursor> {
        let mut parts = text.split('.');
        let (fingerprint, operation, invalid) = (parts.next()?, parts.next()?, parts.next()?);
        let decimal = |s: &str, max_len: usize| {
            !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
        };
        if parts.next().is_some()
            || fingerprint.len() != 8
            || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit())
            || !decimal(operation, 5)
            || !decimal(invalid, 1)
        {
            return None;
        }
        Some(Cursor {
            scenario: u32::from_str_radix(fingerprint, 16).ok()?,
            operation: operation.parse().ok()?,
            invalid: invalid.parse().ok()?,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:08x}.{}.{}",
            self.scenario, self.operation, self.invalid
        )
    }
}

/// How the step of the cursor's operation ended, as the call actor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A prompt was played to its end (or stopped).
    Played,
    /// A menu got these keys.
    Digits(&'a str),
    /// A menu got no key in time.
    MenuTimeout,
    /// Nobody answered a dial or transfer.
    Dial(DialOutcome),
}

/// One scenario, ready to walk.
#[derive(Debug, Clone)]
pub(super) struct Graph {
    /// The scenario's id (reports group calls by it).
    id: String,
    start: u16,
    ops: Vec<Op>,
    /// Tells this scenario's cursors from those of any other scenario or of an earlier
    /// version of it: a hash of its id and content, the same on every routing node.
    fingerprint: u32,
}

#[derive(Debug, Clone, Hash)]
struct Op {
    id: String,
    act: Act,
}

/// What an operation does, its edges resolved to indexes.
#[derive(Debug, Clone, Hash)]
enum Act {
    Play {
        prompt: String,
        next: u16,
    },
    Menu {
        prompt: String,
        invalid_prompt: Option<String>,
        timeout_ms: u32,
        tries: u8,
        /// By [`key_slot`].
        keys: [Option<u16>; KEYS],
        default: u16,
    },
    Queue {
        department: String,
        priority: u8,
    },
    Dial {
        employee: String,
        announce: bool,
        no_answer: Option<u16>,
    },
    Transfer {
        number: String,
        trunk: String,
        no_answer: Option<u16>,
    },
    Hangup {
        prompt: Option<String>,
    },
    Message {
        to: String,
    },
    Callback {
        from: String,
    },
}

/// Keys a menu can offer: 0-9, * and #.
const KEYS: usize = 12;

fn key_slot(key: u8) -> Option<usize> {
    match key {
        b'0'..=b'9' => Some(usize::from(key - b'0')),
        b'*' => Some(10),
        b'#' => Some(11),
        _ => None,
    }
}

/// Menus collect one key.
const MENU_DIGITS: u8 = 1;

/// The prompt of a dial or transfer nobody answered, without a `no_answer` operation.
pub(super) const UNAVAILABLE: &str = "unavailable";

/// A step of a scenario: the step, the operation it comes from, and the cursor to send
/// back with the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'t> {
    pub step: Step<'t>,
    /// The id of the scenario operation the step comes from (for reports); `None` outside
    /// scenarios (greetings, routes, extensions).
    pub operation: Option<&'t str>,
    /// The id of the scenario the step comes from (for reports); `None` outside scenarios.
    pub scenario: Option<&'t str>,
    /// Where the call is in its scenario; `None` outside scenarios.
    pub cursor: Option<Cursor>,
    /// The employee whose screening policy turned the call away: the step is where it
    /// goes instead (R-30; reports count it as rejected by screening).
    pub screened: Option<&'t str>,
}

impl<'t> Decision<'t> {
    /// A step that is not part of a scenario.
    pub fn plain(step: Step<'t>) -> Self {
        Decision {
            step,
            operation: None,
            scenario: None,
            cursor: None,
            screened: None,
        }
    }
}

impl Graph {
    /// Compiles a validated scenario (an edge that names nothing, which validation
    /// refuses, would lead to the start); transfers without a trunk of their own take the
    /// first of `trunks`.
    pub(super) fn new(s: &Scenario, trunks: &[Trunk]) -> Graph {
        let index = |id: &str| {
            s.operations
                .iter()
                .position(|o| o.id == id)
                .and_then(|i| u16::try_from(i).ok())
        };
        let start = index(&s.start).unwrap_or(0);
        let to = |id: Option<&String>| id.and_then(|id| index(id));
        let ops: Vec<Op> = s
            .operations
            .iter()
            .map(|o| {
                let act = match o.action() {
                    Some(Action::Play(prompt)) => Act::Play {
                        prompt: prompt.to_owned(),
                        next: to(o.next.as_ref()).unwrap_or(start),
                    },
                    Some(Action::Menu(m)) => {
                        let mut keys = [None; KEYS];
                        for (key, target) in &o.keys {
                            if let (&[k], Some(target)) = (key.as_bytes(), index(target))
                                && let Some(slot) = key_slot(k)
                            {
                                keys[slot] = Some(target);
                            }
                        }
                        Act::Menu {
                            prompt: m.prompt.clone(),
                            invalid_prompt: m.invalid_prompt.clone(),
                            timeout_ms: m.timeout_seconds.saturating_mul(1000),
                            tries: u8::try_from(m.tries).unwrap_or(u8::MAX).max(1),
                            keys,
                            default: to(o.default.as_ref()).unwrap_or(start),
                        }
                    }
                    Some(Action::Queue(q)) => Act::Queue {
                        department: q.department.clone(),
                        priority: q.priority,
                    },
                    Some(Action::Dial(d)) => Act::Dial {
                        employee: d.employee.clone(),
                        announce: d.announce,
                        no_answer: to(o.no_answer.as_ref()),
                    },
                    Some(Action::Transfer(t)) => Act::Transfer {
                        number: t.number.clone(),
                        trunk: t
                            .trunk
                            .clone()
                            .or_else(|| trunks.first().map(|t| t.id.clone()))
                            .unwrap_or_default(),
                        no_answer: to(o.no_answer.as_ref()),
                    },
                    Some(Action::Hangup(h)) => Act::Hangup {
                        prompt: h.prompt.clone(),
                    },
                    Some(Action::Message(to)) => Act::Message { to: to.to_owned() },
                    Some(Action::Callback(from)) => Act::Callback {
                        from: from.to_owned(),
                    },
                    None => Act::Hangup { prompt: None },
                };
                Op {
                    id: o.id.clone(),
                    act,
                }
            })
            .collect();
        let mut hasher = Fnv1a::default();
        (&s.id, start, &ops).hash(&mut hasher);
        let hash = hasher.finish();
        Graph {
            id: s.id.clone(),
            start,
            ops,
            // Folded: a cursor stays short, and 32 bits tell versions apart well enough
            // (a collision only lets a stale cursor be read against the new content).
            fingerprint: (hash ^ (hash >> 32)) as u32,
        }
    }

    /// The employee the cursor's operation rings, when it is a dial of this scenario.
    pub(super) fn dialled(&self, cursor: Cursor) -> Option<&str> {
        if cursor.scenario != self.fingerprint {
            return None;
        }
        match &self.ops.get(usize::from(cursor.operation))?.act {
            Act::Dial { employee, .. } => Some(employee),
            _ => None,
        }
    }

    pub(super) fn fingerprint(&self) -> u32 {
        self.fingerprint
    }

    /// The first step of the scenario.
    pub(super) fn start<'t>(
        &'t self,
        dial: impl FnOnce(&'t str, bool) -> Result<Step<'t>, Box<Decision<'t>>>,
    ) -> Decision<'t> {
        self.enter(self.start, 0, dial)
    }

    /// The next step after the cursor's operation ended with `outcome`; `None` when the
    /// cursor is not one of this scenario's or the outcome does not fit its operation.
    pub(super) fn resume<'t>(
        &'t self,
        cursor: Cursor,
        outcome: Option<Outcome<'_>>,
        dial: impl FnOnce(&'t str, bool) -> Result<Step<'t>, Box<Decision<'t>>>,
    ) -> Option<Decision<'t>> {
        if cursor.scenario != self.fingerprint {
            return None;
        }
        let op = self.ops.get(usize::from(cursor.operation))?;
        match (&op.act, outcome?) {
            (Act::Play { next, .. }, Outcome::Played) if cursor.invalid == 0 => {
                Some(self.enter(*next, 0, dial))
            }
            (
                Act::Menu {
                    keys,
                    default,
                    tries,
                    ..
                },
                outcome,
            ) if cursor.invalid < *tries => {
                let chosen = match outcome {
                    Outcome::MenuTimeout | Outcome::Digits("") => None,
                    Outcome::Digits(digits) => Some(digits.as_bytes()[0]),
                    Outcome::Played | Outcome::Dial(_) => return None,
                };
                let Some(key) = chosen else {
                    return Some(self.enter(*default, 0, dial));
                };
                if let Some(target) = key_slot(key).and_then(|slot| keys[slot]) {
                    return Some(self.enter(target, 0, dial));
                }
                let invalid = cursor.invalid + 1;
                if invalid >= *tries {
                    Some(self.enter(*default, 0, dial))
                } else {
                    Some(self.enter(cursor.operation, invalid, dial))
                }
            }
            (Act::Dial { no_answer, .. } | Act::Transfer { no_answer, .. }, Outcome::Dial(_))
                if cursor.invalid == 0 =>
            {
                Some(match no_answer {
                    Some(next) => self.enter(*next, 0, dial),
                    None => Decision {
                        step: Step::Hangup {
                            prompt: Some(UNAVAILABLE),
                        },
                        operation: Some(&op.id),
                        scenario: Some(&self.id),
                        cursor: None,
                        screened: None,
                    },
                })
            }
            _ => None,
        }
    }

    /// The step of operation `index`, at a menu after `invalid` wrong keys; `dial` makes
    /// the step that rings an employee (with mobile forwarding, as the table knows it), or
    /// the decision where the call goes instead when their screening turns it away.
    fn enter<'t>(
        &'t self,
        index: u16,
        invalid: u8,
        dial: impl FnOnce(&'t str, bool) -> Result<Step<'t>, Box<Decision<'t>>>,
    ) -> Decision<'t> {
        let Some(op) = self.ops.get(usize::from(index)) else {
            // Compiled edges always name an operation; a bug ends the call politely.
            return Decision::plain(Step::Hangup {
                prompt: Some(UNAVAILABLE),
            });
        };
        let step = match &op.act {
            Act::Play { prompt, .. } => Step::Play { prompt },
            Act::Menu {
                prompt,
                invalid_prompt,
                timeout_ms,
                ..
            } => Step::Menu {
                prompt,
                invalid_prompt: if invalid > 0 {
                    invalid_prompt.as_deref()
                } else {
                    None
                },
                timeout_ms: *timeout_ms,
                max_digits: MENU_DIGITS,
            },
            Act::Queue {
                department,
                priority,
            } => Step::Queue {
                department,
                priority: *priority,
            },
            Act::Dial {
                employee, announce, ..
            } => match dial(employee, *announce) {
                Ok(step) => step,
                // Turned away by the employee's screening: where the call goes instead,
                // leaving this scenario (the dial operation named, for reports).
                Err(declined) => {
                    return Decision {
                        operation: declined.operation.or(Some(&op.id)),
                        scenario: declined.scenario.or(Some(&self.id)),
                        ..*declined
                    };
                }
            },
            Act::Transfer { number, trunk, .. } => Step::Transfer { number, trunk },
            Act::Hangup { prompt } => Step::Hangup {
                prompt: prompt.as_deref(),
            },
            Act::Message { to } => Step::Message { to },
            Act::Callback { from } => Step::Callback { from },
        };
        Decision {
            step,
            operation: Some(&op.id),
            scenario: Some(&self.id),
            cursor: Some(Cursor {
                scenario: self.fingerprint,
                operation: index,
                invalid,
            }),
            screened: None,
        }
    }
}

/// FNV-1a (64 bits): a fixed, seedless hash, so every routing node (of one build)
/// computes the same fingerprint for the same scenario.
#[derive(Debug)]
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
