//! The routing core: the organisation's numbers, extensions and people as a lookup table,
//! and the decision of what a call does next. Pure: the time comes in as a Unix timestamp,
//! the answer is a [`Step`]; nothing here reads a clock or keeps per-call state.
//!
//! Rules (MISSION ):
//! - A call from outside reaches only configured numbers. It first hears the number's
//!   greeting for the time of day in the organisation's time zone, then goes to its route:
//!   a department's queue, or an employee's devices (forwarded to their mobile after
//!   `mobile_forward_seconds` without an answer, when they have one and a trunk exists).
//! - An internal call (from an employee's device) dials extensions: an employee rings
//!   directly, a department's extension queues; no external greeting.
//! - What cannot be routed is refused (not found) rather than left ringing.

mod greeting;

use std::collections::HashMap;
use std::time::Duration;

use cc_common::config::{Config, Route};
use chrono_tz::Tz;

pub use greeting::Greetings;

/// What the call does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer (if not yet) and play a prompt, then ask again with `greeted` set.
    Play { prompt: String },
    /// Wait in a department's queue.
    Queue { department: String, priority: u8 },
    /// Ring an employee's devices.
    Dial {
        employee: String,
        forward: Option<Forward>,
    },
    /// Play a polite prompt, if any, and end the call.
    Hangup { prompt: Option<String> },
    /// Refuse the call: nothing is configured for what was dialled (SIP 404).
    NotFound,
}

/// Ring a mobile number through a trunk when the desk phone is not answered in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub after: Duration,
    pub number: String,
    pub trunk: String,
}

/// How a dial step ended, reported back as a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialOutcome {
    NoAnswer,
    Busy,
    Unreachable,
}

/// The call as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The user part of the Request-URI.
    pub dialed: &'a str,
    /// The caller's extension when the call comes from an employee's registered device.
    pub caller_extension: Option<&'a str>,
}

/// What happened so far, as the call actor reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    pub greeted: bool,
    pub dial: Option<DialOutcome>,
}

#[derive(Debug, Clone)]
enum Target {
    Department(String),
    Employee(String),
}

#[derive(Debug, Clone)]
struct NumberPlan {
    target: Target,
    greetings: Greetings,
}

#[derive(Debug, Clone)]
struct Person {
    mobile: Option<String>,
}

/// The routing table of one organisation, built from its configuration.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    numbers: HashMap<String, NumberPlan>,
    extensions: HashMap<String, Target>,
    people: HashMap<String, Person>,
    tz: Tz,
    forward_after: Option<Duration>,
    trunk: Option<String>,
}

impl RoutingTable {
    /// Builds the table; the configuration was validated when it was loaded.
    pub fn new(config: &Config) -> RoutingTable {
        let numbers = config
            .numbers
            .iter()
            .map(|n| {
                let target = match &n.route {
                    Route::Department(d) => Target::Department(d.clone()),
                    Route::Employee(e) => Target::Employee(e.clone()),
                };
                let plan = NumberPlan {
                    target,
                    greetings: Greetings::new(n.greeting.clone(), &n.greetings),
                };
                (n.normalized().to_owned(), plan)
            })
            .collect();
        let mut extensions: HashMap<String, Target> = config
            .employees
            .iter()
            .map(|e| {
                (
                    e.extension.as_str().to_owned(),
                    Target::Employee(e.id.as_str().to_owned()),
                )
            })
            .collect();
        for d in &config.departments {
            extensions.insert(d.extension.clone(), Target::Department(d.id.clone()));
        }
        let people = config
            .employees
            .iter()
            .map(|e| {
                (
                    e.id.as_str().to_owned(),
                    Person {
                        mobile: e.mobile.clone(),
                    },
                )
            })
            .collect();
        let seconds = config.organization.mobile_forward_seconds;
        RoutingTable {
            numbers,
            extensions,
            people,
            tz: config.organization.tz(),
            forward_after: (seconds > 0).then(|| Duration::from_secs(u64::from(seconds))),
            trunk: config.trunks.first().map(|t| t.id.clone()),
        }
    }

    /// What `call` does next, given what already happened, at Unix time `now_unix`.
    pub fn decide(&self, call: &Call<'_>, facts: &Facts, now_unix: i64) -> Step {
        if facts.dial.is_some() {
            // The person did not take it (mobile included, when forwarded). Messages and
            // callbacks come with the scenarios; until then, a polite end.
            return Step::Hangup {
                prompt: Some("unavailable".into()),
            };
        }
        if call.caller_extension.is_some() {
            return match self.extensions.get(call.dialed) {
                Some(target) => self.route(target),
                None => Step::NotFound,
            };
        }
        let dialed = call.dialed.strip_prefix('+').unwrap_or(call.dialed);
        let Some(plan) = self.numbers.get(dialed) else {
            return Step::NotFound;
        };
        if !facts.greeted
            && let Some(prompt) = plan.greetings.at(now_unix, self.tz)
        {
            return Step::Play {
                prompt: prompt.to_owned(),
            };
        }
        self.route(&plan.target)
    }

    fn route(&self, target: &Target) -> Step {
        match target {
            Target::Department(d) => Step::Queue {
                department: d.clone(),
                priority: 0,
            },
            Target::Employee(e) => Step::Dial {
                employee: e.clone(),
                forward: self.forward(e),
            },
        }
    }

    fn forward(&self, employee: &str) -> Option<Forward> {
        let mobile = self.people.get(employee)?.mobile.as_ref()?;
        Some(Forward {
            after: self.forward_after?,
            number: mobile.clone(),
            trunk: self.trunk.clone()?,
        })
    }
}

#[cfg(test)]
mod tests;
