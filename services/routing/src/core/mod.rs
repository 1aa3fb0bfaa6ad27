//! The routing core: the organisation's numbers, extensions and people as a lookup table,
//! and the decision of what a call does next. Pure: the time comes in as a Unix timestamp,
//! the answer is a [`Step`]; nothing here reads a clock or keeps per-call state.
//!
//! Rules (MISSION ):
//! - A call from outside reaches only configured numbers. It first hears the number's
//!   greeting for the time of day in the number's time zone (its schedule's, else the
//!   organisation's), then goes to its route: a department's queue, or an employee's
//!   devices (forwarded to their mobile after `mobile_forward_seconds` without an answer,
//!   when they have one and a trunk exists).
//! - A number with a schedule takes that route in hours only; out of hours (see
//!   [`schedule`] for the rule, daylight-saving changes included) it takes its
//!   `after_hours` route: a department, an employee, or a polite prompt and hang-up.
//! - An internal call (from an employee's device) dials extensions: an employee rings
//!   directly, a department's extension queues; no external greeting.
//! - What cannot be routed is refused (not found) rather than left ringing.

mod greeting;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cc_common::config::{AfterHours, Config, Number, Route};
use chrono_tz::Tz;

pub use greeting::Greetings;
pub use schedule::{LocalTime, Schedule};

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
    /// Play the prompt and end the call (a number out of hours).
    Hangup(String),
}

#[derive(Debug, Clone)]
struct NumberPlan {
    target: Target,
    greetings: Greetings,
    /// The zone of its greeting bands: its schedule's, else the organisation's.
    tz: Tz,
    /// Its working hours and where calls go outside them; `None`: open 24/7.
    hours: Option<(Arc<Schedule>, Target)>,
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
    forward_after: Option<Duration>,
    trunk: Option<String>,
}

impl RoutingTable {
    /// Builds the table; the configuration was validated when it was loaded.
    pub fn new(config: &Config) -> RoutingTable {
        let schedules: HashMap<&str, Arc<Schedule>> = config
            .schedules
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    Arc::new(Schedule::new(s, &config.organization)),
                )
            })
            .collect();
        let tz = config.organization.tz();
        let numbers = config
            .numbers
            .iter()
            .map(|n| (n.normalized().to_owned(), number_plan(n, &schedules, tz)))
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
            && let Some(prompt) = plan.greetings.at_local(|| LocalTime::at(now_unix, plan.tz))
        {
            return Step::Play {
                prompt: prompt.to_owned(),
            };
        }
        match &plan.hours {
            Some((schedule, after_hours)) if !schedule.open_at(now_unix) => self.route(after_hours),
            _ => self.route(&plan.target),
        }
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
            Target::Hangup(prompt) => Step::Hangup {
                prompt: Some(prompt.clone()),
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

/// A number's plan: its route, greetings, and hours when it has a schedule (validated at
/// load; a schedule that is missing all the same leaves the number open 24/7).
fn number_plan(n: &Number, schedules: &HashMap<&str, Arc<Schedule>>, org_tz: Tz) -> NumberPlan {
    let target = match &n.route {
        Route::Department(d) => Target::Department(d.clone()),
        Route::Employee(e) => Target::Employee(e.clone()),
    };
    let schedule = n.schedule.as_deref().and_then(|id| schedules.get(id));
    let after_hours = n.after_hours.as_ref().map(|a| match a {
        AfterHours::Department(d) => Target::Department(d.clone()),
        AfterHours::Employee(e) => Target::Employee(e.clone()),
        AfterHours::Hangup(prompt) => Target::Hangup(prompt.clone()),
    });
    NumberPlan {
        target,
        greetings: Greetings::new(n.greeting.clone(), &n.greetings),
        tz: schedule.map_or(org_tz, |s| s.tz()),
        hours: schedule.cloned().zip(after_hours),
    }
}

#[cfg(test)]
mod tests;
