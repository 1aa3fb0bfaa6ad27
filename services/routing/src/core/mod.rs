//! The routing core: the organisation's numbers, extensions, people and scenarios as a
//! lookup table, and the decision of what a call does next. Pure: the time comes in as a
//! Unix timestamp, the answer is a [`Decision`]; nothing here reads a clock or keeps
//! per-call state (where a call is in its scenario travels with the call as a [`Cursor`]).
//!
//! Rules (MISSION ..R-15):
//! - A call from outside reaches only configured numbers. It first hears the number's
//!   greeting for the time of day in the number's time zone (its schedule's, else the
//!   organisation's), then goes to its route: a department's queue, or an employee's
//!   devices (forwarded to their mobile after `mobile_forward_seconds` without an answer,
//!   when they have one and a trunk exists), or walks its scenario (see [`scenario`]):
//!   prompts, menus, queues, employees, outside numbers, a polite hang-up.
//! - A number with a schedule takes that route (or scenario) in hours only; out of hours
//!   (see [`schedule`] for the rule, daylight-saving changes included) it takes its
//!   `after_hours` route: a department, an employee, a scenario, or a polite prompt and
//!   hang-up. A call already in a scenario finishes it even if the hours change meanwhile.
//! - An internal call (from an employee's device) dials extensions: an employee rings
//!   directly, a department's extension queues; no external greeting.
//! - What cannot be routed is refused (not found) rather than left ringing.

mod greeting;
pub mod scenario;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cc_common::config::{AfterHours, Config, Number, Route};
use chrono_tz::Tz;

pub use greeting::Greetings;
pub use scenario::{Cursor, Decision, Outcome};
pub use schedule::{LocalTime, Schedule};

use scenario::{Graph, UNAVAILABLE};

/// What the call does next. Borrowed from the table: a decision allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'t> {
    /// Answer (if not yet) and play a prompt, then ask again with `greeted` set (and, in a
    /// scenario, the outcome `Played`).
    Play { prompt: &'t str },
    /// Answer (if not yet), play `invalid_prompt` (after an invalid key) and `prompt`,
    /// stopped by the first key, and collect up to `max_digits` keys, waiting `timeout_ms`
    /// for the first after the prompt; then ask again with the keys or the timeout.
    Menu {
        prompt: &'t str,
        invalid_prompt: Option<&'t str>,
        timeout_ms: u32,
        max_digits: u8,
    },
    /// Wait in a department's queue.
    Queue { department: &'t str, priority: u8 },
    /// Ring an employee's devices.
    Dial {
        employee: &'t str,
        forward: Option<Forward<'t>>,
    },
    /// Ring an outside number through a trunk; ask again with the dial outcome if nobody
    /// answers.
    Transfer { number: &'t str, trunk: &'t str },
    /// Play a polite prompt, if any, and end the call.
    Hangup { prompt: Option<&'t str> },
    /// Refuse the call: nothing is configured for what was dialled (SIP 404).
    NotFound,
}

/// Ring a mobile number through a trunk when the desk phone is not answered in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward<'t> {
    pub after: Duration,
    pub number: &'t str,
    pub trunk: &'t str,
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
pub struct Facts<'a> {
    /// The number's greeting was played.
    pub greeted: bool,
    /// How ringing an employee ended (outside scenarios).
    pub dial: Option<DialOutcome>,
    /// The cursor of the previous decision, in a scenario.
    pub cursor: Option<Cursor>,
    /// How the previous step ended, in a scenario.
    pub outcome: Option<Outcome<'a>>,
}

#[derive(Debug, Clone)]
enum Target {
    Department(String),
    Employee(String),
    /// Play the prompt and end the call (a number out of hours).
    Hangup(String),
    /// Walk the scenario (an index into the table's `scenarios`).
    Scenario(usize),
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
    scenarios: Vec<Graph>,
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
        let scenarios: Vec<Graph> = config
            .scenarios
            .iter()
            .map(|s| Graph::new(s, &config.trunks))
            .collect();
        let scenario_index: HashMap<&str, usize> = config
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let numbers = config
            .numbers
            .iter()
            .map(|n| {
                let plan = number_plan(n, &schedules, &scenario_index, tz);
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
            scenarios,
            forward_after: (seconds > 0).then(|| Duration::from_secs(u64::from(seconds))),
            trunk: config.trunks.first().map(|t| t.id.clone()),
        }
    }

    /// What `call` does next, given what already happened, at Unix time `now_unix`.
    pub fn decide(&self, call: &Call<'_>, facts: &Facts<'_>, now_unix: i64) -> Decision<'_> {
        if call.caller_extension.is_some() {
            if facts.dial.is_some() {
                return Decision::plain(unavailable());
            }
            return match self.extensions.get(call.dialed) {
                Some(target) => self.route(target),
                None => Decision::plain(Step::NotFound),
            };
        }
        let dialed = call.dialed.strip_prefix('+').unwrap_or(call.dialed);
        let Some(plan) = self.numbers.get(dialed) else {
            return Decision::plain(Step::NotFound);
        };
        if !facts.greeted
            && let Some(prompt) = plan.greetings.at_local(|| LocalTime::at(now_unix, plan.tz))
        {
            return Decision::plain(Step::Play { prompt });
        }
        if let Some(cursor) = facts.cursor
            && let Some(decision) = self.resume(plan, cursor, facts.outcome)
        {
            return decision;
        }
        let target = match &plan.hours {
            Some((schedule, after_hours)) if !schedule.open_at(now_unix) => after_hours,
            _ => &plan.target,
        };
        match target {
            // A scenario starts afresh: the call just arrived, or its cursor is stale.
            Target::Scenario(_) if facts.cursor.is_some() => self.route(target),
            // The person did not take it (mobile included, when forwarded), and the dial
            // was no scenario's (a route's, a transfer's): a polite end.
            _ if facts.dial.is_some() => Decision::plain(unavailable()),
            _ => self.route(target),
        }
    }

    /// The next step of a call under way in one of the number's scenarios (in or out of
    /// hours: a call finishes the scenario it started); `None` when the cursor is not one
    /// of theirs or does not fit.
    fn resume<'t>(
        &'t self,
        plan: &NumberPlan,
        cursor: Cursor,
        outcome: Option<Outcome<'_>>,
    ) -> Option<Decision<'t>> {
        let after_hours = plan.hours.as_ref().map(|(_, t)| t);
        [Some(&plan.target), after_hours]
            .into_iter()
            .flatten()
            .find_map(|t| match t {
                Target::Scenario(i) => self
                    .scenarios
                    .get(*i)
                    .filter(|g| g.fingerprint() == cursor.scenario),
                _ => None,
            })?
            .resume(cursor, outcome, |e| self.dial(e))
    }

    fn route<'t>(&'t self, target: &'t Target) -> Decision<'t> {
        let step = match target {
            Target::Department(d) => Step::Queue {
                department: d,
                priority: 0,
            },
            Target::Employee(e) => self.dial(e),
            Target::Hangup(prompt) => Step::Hangup {
                prompt: Some(prompt),
            },
            Target::Scenario(i) => {
                return match self.scenarios.get(*i) {
                    Some(graph) => graph.start(|e| self.dial(e)),
                    None => Decision::plain(Step::NotFound),
                };
            }
        };
        Decision::plain(step)
    }

    /// Rings an employee, forwarded to their mobile when they have one and a trunk exists.
    fn dial<'t>(&'t self, employee: &'t str) -> Step<'t> {
        Step::Dial {
            employee,
            forward: self.forward(employee),
        }
    }

    fn forward(&self, employee: &str) -> Option<Forward<'_>> {
        let mobile = self.people.get(employee)?.mobile.as_deref()?;
        Some(Forward {
            after: self.forward_after?,
            number: mobile,
            trunk: self.trunk.as_deref()?,
        })
    }
}

/// The polite end of a call nobody took.
fn unavailable() -> Step<'static> {
    Step::Hangup {
        prompt: Some(UNAVAILABLE),
    }
}

/// A number's plan: its route or scenario, greetings, and hours when it has a schedule
/// (validated at load; a schedule or scenario that is missing all the same leaves the
/// number open 24/7, or not found).
fn number_plan(
    n: &Number,
    schedules: &HashMap<&str, Arc<Schedule>>,
    scenarios: &HashMap<&str, usize>,
    org_tz: Tz,
) -> NumberPlan {
    let scenario = |id: &str| Target::Scenario(scenarios.get(id).copied().unwrap_or(usize::MAX));
    let target = match (&n.route, &n.scenario) {
        (Some(Route::Department(d)), _) => Target::Department(d.clone()),
        (Some(Route::Employee(e)), _) => Target::Employee(e.clone()),
        (None, Some(id)) => scenario(id),
        (None, None) => Target::Scenario(usize::MAX),
    };
    let schedule = n.schedule.as_deref().and_then(|id| schedules.get(id));
    let after_hours = n.after_hours.as_ref().map(|a| match a {
        AfterHours::Department(d) => Target::Department(d.clone()),
        AfterHours::Employee(e) => Target::Employee(e.clone()),
        AfterHours::Hangup(prompt) => Target::Hangup(prompt.clone()),
        AfterHours::Scenario(id) => scenario(id),
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
