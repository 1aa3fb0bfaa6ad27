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
//!
//! And who calls (R-30, R-32, R-33; see [`callers`]):
//! - A number's caller rules come first: the first whose list holds the caller sends the
//!   call elsewhere (in and out of hours: spam to a polite prompt) and/or raises its
//!   priority.
//! - Whenever a call would ring an employee who has a screening policy (a number's route,
//!   a scenario's dial, an internal call), the policy decides; a call it turns away never
//!   rings them and goes to the policy's `declined` destination instead (a deputy there
//!   is rung without screening, so two policies cannot send a call round in circles).
//! - A queued call's priority is `2 × level + 1` from outside (or from an employee with a
//!   priority level) and `2 × level` otherwise, the level being the highest of the
//!   number's, the caller rule's, the queue step's and the calling employee's.

mod callers;
mod greeting;
pub mod scenario;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cc_common::config::{Config, Destination, MAX_PRIORITY_LEVEL, Number, Route};
use chrono_tz::Tz;

pub use callers::Caller;
pub use greeting::Greetings;
pub use scenario::{Cursor, Decision, Outcome};
pub use schedule::{LocalTime, Schedule};

use callers::{ListId, Lists, Policy};
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
        /// Announce the caller first: the caller says who they are, the employee
        /// hears it and accepts or declines; a declined call is reported as
        /// [`DialOutcome::Declined`].
        announce: bool,
    },
    /// Ring an outside number through a trunk; ask again with the dial outcome if nobody
    /// answers.
    Transfer { number: &'t str, trunk: &'t str },
    /// Play a polite prompt, if any, and end the call.
    Hangup { prompt: Option<&'t str> },
    /// Take a message for an employee or department (by id) and end the call.
    Message { to: &'t str },
    /// Offer a callback from an employee or department (by id) and end the call.
    Callback { from: &'t str },
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
    /// The employee heard the caller announced and declined (or did not accept in time).
    Declined,
}

/// The call as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The user part of the Request-URI.
    pub dialed: &'a str,
    /// Who calls: an employee's registered device (an internal call), or a number from
    /// outside.
    pub caller: Caller<'a>,
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Department(String),
    Employee(String),
    /// Play the prompt and end the call (a number out of hours).
    Hangup(String),
    /// Walk the scenario (an index into the table's `scenarios`).
    Scenario(usize),
    /// Take a message for this employee or department id.
    Message(String),
    /// Offer a callback from this employee or department id.
    Callback(String),
}

#[derive(Debug, Clone)]
struct NumberPlan {
    target: Target,
    greetings: Greetings,
    /// The zone of its greeting bands: its schedule's, else the organisation's.
    tz: Tz,
    /// Its working hours and where calls go outside them; `None`: open 24/7.
    hours: Option<(Arc<Schedule>, Target)>,
    /// Its priority level in queues.
    level: u8,
    /// Caller rules, in order.
    rules: Vec<Rule>,
}

/// A number's caller rule, compiled.
#[derive(Debug, Clone)]
struct Rule {
    list: ListId,
    goto: Option<Target>,
    level: u8,
}

#[derive(Debug, Clone)]
struct Person {
    mobile: Option<String>,
    /// The screening policy protecting them.
    policy: Option<Policy>,
}

/// What decides a queued call's priority, gathered on the way to the step.
#[derive(Debug, Clone, Copy, Default)]
struct Rank {
    level: u8,
    /// From outside, or from an employee with a priority level of their own.
    outside: bool,
}

impl Rank {
    fn at_least(self, level: u8) -> Rank {
        Rank {
            level: self.level.max(level),
            ..self
        }
    }

    /// The queue priority of a step at `level`.
    fn priority(self, level: u8) -> u8 {
        let level = self.level.max(level).min(MAX_PRIORITY_LEVEL);
        level * 2 + u8::from(self.outside)
    }
}

/// The routing table of one organisation, built from its configuration.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    numbers: HashMap<String, NumberPlan>,
    extensions: HashMap<String, Target>,
    people: HashMap<String, Person>,
    /// Priority levels of employees who have one, by extension.
    caller_levels: HashMap<String, u8>,
    scenarios: Vec<Graph>,
    /// The scenarios by id (an agent puts a call into one by its id).
    scenario_ids: HashMap<String, usize>,
    /// Scenarios by their fingerprint, to follow a cursor wherever the call was sent.
    by_fingerprint: HashMap<u32, usize>,
    lists: Lists,
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
        let lists = Lists::new(&config.caller_lists);
        let numbers = config
            .numbers
            .iter()
            .map(|n| {
                let plan = number_plan(n, &schedules, &scenario_index, &lists, tz);
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
                let policy = config.screening_of(e.id.as_str()).map(|p| Policy {
                    dnd: p.dnd.as_deref().and_then(|s| schedules.get(s)).cloned(),
                    vip: p.vip.iter().filter_map(|l| lists.id(l)).collect(),
                    never: p.never.iter().filter_map(|l| lists.id(l)).collect(),
                    limited: p
                        .limited
                        .iter()
                        .filter_map(|l| {
                            Some((
                                lists.id(&l.callers)?,
                                schedules.get(l.schedule.as_str())?.clone(),
                            ))
                        })
                        .collect(),
                    anonymous: p.anonymous,
                    announce: p.announce,
                    declined: destination(&p.declined, &scenario_index),
                });
                let person = Person {
                    mobile: e.mobile.clone(),
                    policy,
                };
                (e.id.as_str().to_owned(), person)
            })
            .collect();
        let caller_levels = config
            .employees
            .iter()
            .filter(|e| e.priority > 0)
            .map(|e| (e.extension.as_str().to_owned(), e.priority))
            .collect();
        let by_fingerprint = scenarios
            .iter()
            .enumerate()
            .map(|(i, g)| (g.fingerprint(), i))
            .collect();
        let seconds = config.organization.mobile_forward_seconds;
        RoutingTable {
            numbers,
            extensions,
            people,
            caller_levels,
            scenario_ids: scenario_index
                .iter()
                .map(|(id, i)| ((*id).to_owned(), *i))
                .collect(),
            scenarios,
            by_fingerprint,
            lists,
            forward_after: (seconds > 0).then(|| Duration::from_secs(u64::from(seconds))),
            trunk: config.trunks.first().map(|t| t.id.clone()),
        }
    }

    /// What `call` does next, given what already happened, at Unix time `now_unix`.
    pub fn decide(&self, call: &Call<'_>, facts: &Facts<'_>, now_unix: i64) -> Decision<'_> {
        let here = Here {
            caller: call.caller,
            now_unix,
        };
        if let Caller::Employee(extension) = call.caller {
            let rank = self.employee_rank(extension);
            if let Some(cursor) = facts.cursor
                && let Some(decision) = self.resume(cursor, facts.outcome, &here)
            {
                return ranked(decision, rank);
            }
            if let (Some(DialOutcome::Declined), Some(Target::Employee(e))) =
                (facts.dial, self.extensions.get(call.dialed))
            {
                return ranked(self.declined_by(e), rank);
            }
            if facts.dial.is_some() {
                return Decision::plain(unavailable());
            }
            return match self.extensions.get(call.dialed) {
                Some(target) => ranked(self.route(target, &here), rank),
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
        let rule = plan
            .rules
            .iter()
            .find(|r| self.lists.holds(r.list, &call.caller));
        let rank = Rank {
            level: plan.level,
            outside: true,
        }
        .at_least(rule.map_or(0, |r| r.level));
        if let Some(cursor) = facts.cursor
            && let Some(decision) = self.resume(cursor, facts.outcome, &here)
        {
            return ranked(decision, rank);
        }
        let target = match (rule.and_then(|r| r.goto.as_ref()), &plan.hours) {
            (Some(goto), _) => goto,
            (None, Some((schedule, after_hours))) if !schedule.open_at(now_unix) => after_hours,
            (None, _) => &plan.target,
        };
        let decision = match target {
            // A scenario starts afresh: the call just arrived, or its cursor is stale.
            Target::Scenario(_) if facts.cursor.is_some() => self.route(target, &here),
            // The employee heard the caller announced and declined.
            Target::Employee(e) if facts.dial == Some(DialOutcome::Declined) => self.declined_by(e),
            // The person did not take it (mobile included, when forwarded), and the dial
            // was no scenario's (a route's, a transfer's): a polite end.
            _ if facts.dial.is_some() => Decision::plain(unavailable()),
            _ => self.route(target, &here),
        };
        ranked(decision, rank)
    }

    /// How an employee's calls rank in queues: by their level (most organisations give
    /// nobody one: then no hashing).
    fn employee_rank(&self, extension: &str) -> Rank {
        let level = if self.caller_levels.is_empty() {
            None
        } else {
            self.caller_levels.get(extension).copied()
        };
        Rank {
            level: level.unwrap_or(0),
            outside: level.is_some(),
        }
    }

    /// How a call ranks in queues: an employee's by their level, one from outside by its
    /// number's level and its caller rule's.
    fn rank_of(&self, call: &Call<'_>) -> Rank {
        if let Caller::Employee(extension) = call.caller {
            return self.employee_rank(extension);
        }
        let dialed = call.dialed.strip_prefix('+').unwrap_or(call.dialed);
        let outside = Rank {
            level: 0,
            outside: true,
        };
        let Some(plan) = self.numbers.get(dialed) else {
            return outside;
        };
        let rule = plan
            .rules
            .iter()
            .find(|r| self.lists.holds(r.list, &call.caller));
        Rank {
            level: plan.level,
            ..outside
        }
        .at_least(rule.map_or(0, |r| r.level))
    }

    /// The first step of scenario `id`, which an agent put the call into by hand (the
    /// caller fell into the wrong one: R-60 "by option"), whatever the call did before;
    /// its employees are screened as on any route. NotFound for an id that is no
    /// scenario.
    pub fn start_scenario(&self, id: &str, call: &Call<'_>, now_unix: i64) -> Decision<'_> {
        let here = Here {
            caller: call.caller,
            now_unix,
        };
        match self
            .scenario_ids
            .get(id)
            .and_then(|i| self.scenarios.get(*i))
        {
            Some(graph) => ranked(
                graph.start(|e, announce| self.dial_screened(e, announce, &here)),
                self.rank_of(call),
            ),
            None => Decision::plain(Step::NotFound),
        }
    }

    /// The next step of a call under way in a scenario (in or out of hours: a call
    /// finishes the scenario it started, also one a rule or a screening policy sent it
    /// to); `None` when the cursor names no scenario of this configuration or does not fit.
    fn resume<'t>(
        &'t self,
        cursor: Cursor,
        outcome: Option<Outcome<'_>>,
        here: &Here<'_>,
    ) -> Option<Decision<'t>> {
        let graph = self
            .scenarios
            .get(*self.by_fingerprint.get(&cursor.scenario)?)?;
        if outcome == Some(Outcome::Dial(DialOutcome::Declined))
            && let Some(employee) = graph.dialled(cursor)
            && self
                .people
                .get(employee)
                .is_some_and(|p| p.policy.is_some())
        {
            return Some(self.declined_by(employee));
        }
        graph.resume(cursor, outcome, |e, announce| {
            self.dial_screened(e, announce, here)
        })
    }

    /// The first step towards `target`, employees screened.
    fn route<'t>(&'t self, target: &'t Target, here: &Here<'_>) -> Decision<'t> {
        match target {
            Target::Employee(e) => match self.dial_screened(e, false, here) {
                Ok(step) => Decision::plain(step),
                Err(declined) => *declined,
            },
            Target::Scenario(i) => match self.scenarios.get(*i) {
                Some(graph) => graph.start(|e, announce| self.dial_screened(e, announce, here)),
                None => Decision::plain(Step::NotFound),
            },
            _ => self.route_unscreened(target),
        }
    }

    /// The first step towards `target`, where a screening policy sent the call: nobody
    /// there is screened again.
    fn route_unscreened<'t>(&'t self, target: &'t Target) -> Decision<'t> {
        let step = match target {
            Target::Department(d) => Step::Queue {
                department: d,
                priority: 0,
            },
            Target::Employee(e) => self.dial(e, false),
            Target::Hangup(prompt) => Step::Hangup {
                prompt: Some(prompt),
            },
            Target::Message(to) => Step::Message { to },
            Target::Callback(from) => Step::Callback { from },
            Target::Scenario(i) => {
                return match self.scenarios.get(*i) {
                    Some(graph) => graph.start(|e, announce| Ok(self.dial(e, announce))),
                    None => Decision::plain(Step::NotFound),
                };
            }
        };
        Decision::plain(step)
    }

    /// Rings an employee (announcing the caller when asked, or when their policy says so),
    /// unless their screening policy turns the call away: then the decision where it goes
    /// instead, marked as screened.
    fn dial_screened<'t>(
        &'t self,
        employee: &'t str,
        announce: bool,
        here: &Here<'_>,
    ) -> Result<Step<'t>, Box<Decision<'t>>> {
        let policy = self.people.get(employee).and_then(|p| p.policy.as_ref());
        match policy {
            Some(p) if !p.admits(&self.lists, &here.caller, here.now_unix) => {
                Err(Box::new(self.turned_away(employee, p)))
            }
            Some(p) => Ok(self.dial(employee, announce || p.announce)),
            None => Ok(self.dial(employee, announce)),
        }
    }

    /// Where a call `employee`'s policy turned away (or they declined) goes instead.
    fn turned_away<'t>(&'t self, employee: &'t str, policy: &'t Policy) -> Decision<'t> {
        let mut decision = self.route_unscreened(&policy.declined);
        decision.screened = Some(employee);
        decision
    }

    /// Where a call goes that `employee` declined when it was announced: their policy's
    /// `declined`, or a polite end without one.
    fn declined_by<'t>(&'t self, employee: &'t str) -> Decision<'t> {
        match self.people.get(employee).and_then(|p| p.policy.as_ref()) {
            Some(p) => self.turned_away(employee, p),
            None => Decision::plain(unavailable()),
        }
    }

    /// Rings an employee, forwarded to their mobile when they have one and a trunk exists.
    fn dial<'t>(&'t self, employee: &'t str, announce: bool) -> Step<'t> {
        Step::Dial {
            employee,
            forward: self.forward(employee),
            announce,
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

/// Who calls and when: what screening looks at.
#[derive(Debug, Clone, Copy)]
struct Here<'a> {
    caller: Caller<'a>,
    now_unix: i64,
}

/// The decision with a queue step's level turned into the call's priority.
fn ranked(mut decision: Decision<'_>, rank: Rank) -> Decision<'_> {
    if let Step::Queue { priority, .. } = &mut decision.step {
        *priority = rank.priority(*priority);
    }
    decision
}

/// The polite end of a call nobody took.
fn unavailable() -> Step<'static> {
    Step::Hangup {
        prompt: Some(UNAVAILABLE),
    }
}

/// A destination as a routing target (validated at load: a scenario that is missing all
/// the same is not found).
fn destination(to: &Destination, scenarios: &HashMap<&str, usize>) -> Target {
    match to {
        Destination::Department(d) => Target::Department(d.clone()),
        Destination::Employee(e) => Target::Employee(e.clone()),
        Destination::Hangup(prompt) => Target::Hangup(prompt.clone()),
        Destination::Message(to) => Target::Message(to.clone()),
        Destination::Callback(from) => Target::Callback(from.clone()),
        Destination::Scenario(id) => {
            Target::Scenario(scenarios.get(id.as_str()).copied().unwrap_or(usize::MAX))
        }
    }
}

/// A number's plan: its route or scenario, greetings, hours when it has a schedule, and
/// caller rules (validated at load; a schedule, scenario or list that is missing all the
/// same leaves the number open 24/7, not found, or without that rule).
fn number_plan(
    n: &Number,
    schedules: &HashMap<&str, Arc<Schedule>>,
    scenarios: &HashMap<&str, usize>,
    lists: &Lists,
    org_tz: Tz,
) -> NumberPlan {
    let target = match (&n.route, &n.scenario) {
        (Some(Route::Department(d)), _) => Target::Department(d.clone()),
        (Some(Route::Employee(e)), _) => Target::Employee(e.clone()),
        (None, Some(id)) => destination(&Destination::Scenario(id.clone()), scenarios),
        (None, None) => Target::Scenario(usize::MAX),
    };
    let schedule = n.schedule.as_deref().and_then(|id| schedules.get(id));
    let after_hours = n.after_hours.as_ref().map(|a| destination(a, scenarios));
    let rules = n
        .rules
        .iter()
        .filter_map(|r| {
            Some(Rule {
                list: lists.id(&r.callers)?,
                goto: r.goto.as_ref().map(|g| destination(g, scenarios)),
                level: r.priority.unwrap_or(0),
            })
        })
        .collect();
    NumberPlan {
        target,
        greetings: Greetings::new(n.greeting.clone(), &n.greetings),
        tz: schedule.map_or(org_tz, |s| s.tz()),
        hours: schedule.cloned().zip(after_hours),
        level: n.priority,
        rules,
    }
}

#[cfg(test)]
mod tests;
