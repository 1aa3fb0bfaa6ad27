//! The organisation: `[organization]`, `[[departments]]`, `[[trunks]]` and `[[numbers]]`
//! (the `[[schedules]]` and `[[scenarios]]` numbers name are in [`super::schedule`] and
//! [`super::scenario`]).
//! Cross-references (members, routes) are checked against the employees here, so a wrong
//! id is refused when the node starts, naming the field, not found mid-call.

use std::collections::HashSet;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::callers::{self, CallerRule};
use super::scenario::{self, Known};
use super::{Config, ConfigError, invalid};

/// `[organization]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub name: String,
    /// IANA time zone ("Europe/Warsaw"): greetings' time-of-day bands are in it.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// A direct call an employee does not answer within this many seconds also rings
    /// their mobile through the first trunk; 0 turns forwarding off.
    #[serde(default = "default_mobile_forward_seconds")]
    pub mobile_forward_seconds: u32,
    /// Answer (200 OK) callers before their greeting and queue. By default they hear the
    /// greeting, music and announcements as early media (183 with SDP) and are answered
    /// when someone takes the call: the caller pays nothing for waiting and may give up with
    /// CANCEL. Turn on for trunks that cut early media short.
    #[serde(default)]
    pub answer_before_queue: bool,
    /// Longest wait in a department's queue: then the caller hears that nobody can take
    /// the call and the call ends (it also bounds a caller who vanished without a CANCEL).
    /// 0 waits for ever.
    #[serde(default = "default_max_wait_seconds")]
    pub max_wait_seconds: u32,
    /// A caller from outside whose direct call finds the employee busy hears so and
    /// chooses: 1 waits (music, then the phones ring again after `busy_wait_seconds`, up to
    /// three times), 2 leaves a message; no key: the call goes on as routing says. Off:
    /// routing decides at once (a polite end, or the scenario's `no_answer`).
    #[serde(default = "default_true")]
    pub busy_choices: bool,
    /// How long a caller who chose to wait for a busy employee waits before the next ring.
    #[serde(default = "default_busy_wait_seconds")]
    pub busy_wait_seconds: u32,
}

fn default_true() -> bool {
    true
}

fn default_busy_wait_seconds() -> u32 {
    20
}

fn default_max_wait_seconds() -> u32 {
    1800
}

fn default_mobile_forward_seconds() -> u32 {
    10
}

impl Default for Organization {
    fn default() -> Self {
        Organization {
            name: "Organisation".into(),
            timezone: default_timezone(),
            mobile_forward_seconds: default_mobile_forward_seconds(),
            answer_before_queue: false,
            max_wait_seconds: default_max_wait_seconds(),
            busy_choices: true,
            busy_wait_seconds: default_busy_wait_seconds(),
        }
    }
}

fn default_timezone() -> String {
    "UTC".into()
}

impl Organization {
    /// The parsed time zone (validated at load, so this cannot fail afterwards).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }
}

/// How a department distributes its calls to members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Every available member rings at once; the first to answer takes the call.
    RingAll,
    /// Members in order, each for its ring time.
    Sequential,
    /// Members in order, each added every ring time while the earlier ones keep ringing.
    Progressive,
    /// The member idle the longest.
    LongestIdle,
    /// The member after the one offered last.
    RoundRobin,
    /// The member who took the fewest calls.
    FewestCalls,
    /// The member with the least talk time.
    LeastTalkTime,
    Random,
}

/// `[[departments]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: String,
    pub name: String,
    /// Internal extension that reaches the department's queue.
    pub extension: String,
    pub strategy: Strategy,
    /// Employee ids, in the order sequential and progressive ring them.
    pub members: Vec<String>,
    #[serde(default = "default_ring_seconds")]
    pub ring_seconds: u32,
    #[serde(default)]
    pub wrap_up_seconds: u32,
    /// Last-agent routing: a caller answered by a member within this many minutes
    /// is offered to that member alone first, when the member is available (0: off).
    #[serde(default)]
    pub last_agent_minutes: u32,
    /// How long that member alone rings before the department's strategy takes over.
    #[serde(default = "default_last_agent_ring_seconds")]
    pub last_agent_ring_seconds: u32,
    /// How often a waiting caller hears their place in line and the expected wait.
    #[serde(default = "default_announce_seconds")]
    pub announce_seconds: u32,
    /// After each announcement, a caller who shows a number hears the choices: 2 leaves a
    /// message for the department, 3 asks to be called back keeping their place in
    /// line (R-20, virtual hold); 1 or no key keeps waiting.
    #[serde(default)]
    pub waiting_choices: bool,
    /// A `[[schedules]]` id: the department's working hours, when callbacks from it are
    /// dialled. Absent: around the clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// How the department's callbacks are placed: `agent_first` (default) reserves
    /// an agent, tells them whom they call back and why, then dials the customer;
    /// `customer_first` dials the customer, greets them, then queues them first in line.
    #[serde(default)]
    pub callback_mode: CallbackMode,
    /// Callers who hang up while waiting in the department's queue are called back,
    /// when they showed a number and waited at least `[callbacks]
    /// abandoned_after_seconds`. A number's own `callback_abandoned` overrides it for the
    /// calls that came through that number.
    #[serde(default, skip_serializing_if = "is_false")]
    pub callback_abandoned: bool,
    /// The conversations of the calls its agents answer are recorded: the caller
    /// and whoever they talk to, transfers included, into one stereo WAV in `[media]
    /// recordings_dir`, listed with the call in the Reporting API.
    #[serde(default, skip_serializing_if = "is_false")]
    pub record_calls: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How a department's callbacks are placed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackMode {
    /// An agent takes the callback in their turn, hears whom they call and why, then the
    /// customer is dialled through the trunk and connected.
    #[default]
    AgentFirst,
    /// The customer is dialled first, greeted, then queued first in line for an agent.
    CustomerFirst,
}

/// How often a waiting caller hears their place when the department says nothing.
pub const DEFAULT_ANNOUNCE_SECONDS: u32 = 40;

fn default_announce_seconds() -> u32 {
    DEFAULT_ANNOUNCE_SECONDS
}

fn default_ring_seconds() -> u32 {
    15
}

fn default_last_agent_ring_seconds() -> u32 {
    10
}

/// The longest a department remembers its callers for last-agent routing: 90 days.
pub const MAX_LAST_AGENT_MINUTES: u32 = 90 * 24 * 60;

/// `[[trunks]]`: where outbound calls go (mobile forwarding, callbacks).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub id: String,
    pub target: SocketAddr,
}

/// Where a number's calls go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Route {
    Department(String),
    Employee(String),
}

/// `[[numbers]]`: a number callers dial.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Number {
    /// The user part of the inbound Request-URI; a leading `+` is ignored.
    pub number: String,
    /// Where its calls go: a department or an employee. Exactly one of `route` and
    /// `scenario` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// The `[[scenarios]]` id its calls walk instead of a `route` (after the greeting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Prompt id played before routing (at any time of day without `greetings`).
    #[serde(default)]
    pub greeting: Option<String>,
    /// Time-of-day greetings ("good morning / afternoon / evening"), in the number's time
    /// zone (its schedule's, else the organisation's): each applies from its `from` until
    /// the next band's; before the first band of the day the last one (of the evening
    /// before) applies.
    #[serde(default)]
    pub greetings: Vec<GreetingBand>,
    /// The `[[schedules]]` id of its working hours: `route` in hours, `after_hours` out
    /// of them. Absent: open 24/7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Where calls go out of hours; required with `schedule`, refused without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_hours: Option<AfterHours>,
    /// Priority level (0-9) of its calls in queues (R-32: the director's line first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: u8,
    /// Callers on a list who go elsewhere or wait with a higher priority;
    /// the first rule whose list holds the caller applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<CallerRule>,
    /// Whether its callers who hang up while waiting in a queue are called back;
    /// absent: as the department says (`[[departments]] callback_abandoned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_abandoned: Option<bool>,
    /// Its callers who rang an employee and hung up before anyone answered (or whom nobody
    /// answered) are called back by that employee, unless they left a message.
    #[serde(default, skip_serializing_if = "is_false")]
    pub callback_missed: bool,
}

fn is_zero(level: &u8) -> bool {
    *level == 0
}

/// Where calls go instead of a number's route (out of hours, by a caller rule, turned
/// away by a screening policy): `{ department = "..." }`, `{ employee = "..." }`,
/// `{ scenario = "..." }` or `{ hangup = "<prompt id>" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Destination {
    Department(String),
    Employee(String),
    /// Play this prompt ("we are closed, our hours are ...") and end the call.
    Hangup(String),
    /// Walk this `[[scenarios]]` id (e.g. a menu offering a message or a callback).
    Scenario(String),
    /// Take a message for this employee or department id: the caller is answered,
    /// speaks after the tone, and hears the number they will be called back at.
    Message(String),
    /// Offer a callback from this employee or department id: the caller hears the
    /// number they will be called back at and the confirmation, and the call ends; a
    /// caller who withholds their number leaves a message instead.
    Callback(String),
}

/// Where a scheduled number's calls go out of hours (its first name).
pub type AfterHours = Destination;

/// One time-of-day greeting band of a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreetingBand {
    /// Local time `HH:MM` the band starts at.
    pub from: String,
    pub greeting: String,
}

impl GreetingBand {
    /// Minutes after midnight of `from` (validated at load).
    pub fn from_minute(&self) -> u16 {
        parse_hhmm(&self.from).unwrap_or(0)
    }
}

/// `HH:MM` (24-hour) -> minutes after midnight.
fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Number {
    /// The number as matched against Request-URIs: without a leading `+`.
    pub fn normalized(&self) -> &str {
        self.number.strip_prefix('+').unwrap_or(&self.number)
    }
}

/// A resource id or prompt id: 1-64 letters, digits, '-', '_' or '.'.
pub(super) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks the organisation's tables against each other and the employees.
pub(super) fn validate(
    config: &Config,
    schedule_ids: &HashSet<&str>,
    lists: &HashSet<&str>,
) -> Result<(), ConfigError> {
    let Config {
        organization: org,
        employees,
        departments,
        trunks,
        numbers,
        scenarios,
        screening,
        ..
    } = config;
    if org.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(invalid(
            "organization.timezone",
            format!(
                "{:?} is not an IANA time zone (e.g. \"Europe/Warsaw\")",
                org.timezone
            ),
        ));
    }
    if !(1..=600).contains(&org.busy_wait_seconds) {
        return Err(invalid("organization.busy_wait_seconds", "must be 1-600"));
    }
    let employee_ids: HashSet<&str> = employees.iter().map(|e| e.id.as_str()).collect();
    let mut extensions: HashSet<&str> = employees.iter().map(|e| e.extension.as_str()).collect();
    let mut department_ids = HashSet::new();
    for (i, d) in departments.iter().enumerate() {
        let field = |f: &str| format!("departments[{i}].{f}");
        if !is_id(&d.id) {
            return Err(invalid(
                field("id"),
                format!("{:?} must be 1-64 letters, digits, '-', '_' or '.'", d.id),
            ));
        }
        if !department_ids.insert(d.id.as_str()) {
            return Err(invalid(field("id"), format!("{:?} is used twice", d.id)));
        }
        // Messages and callbacks name "an employee or department id": one must not be both.
        if employee_ids.contains(d.id.as_str()) {
            return Err(invalid(
                field("id"),
                format!("{:?} is an employee's id already", d.id),
            ));
        }
        if !is_id(&d.extension) || !extensions.insert(d.extension.as_str()) {
            return Err(invalid(
                field("extension"),
                format!(
                    "{:?} is not a valid extension or is already used by an employee or department",
                    d.extension
                ),
            ));
        }
        if d.members.is_empty() {
            return Err(invalid(field("members"), "a department needs members"));
        }
        let mut seen = HashSet::new();
        for m in &d.members {
            if !employee_ids.contains(m.as_str()) {
                return Err(invalid(
                    field("members"),
                    format!("{m:?} is not an employee id"),
                ));
            }
            if !seen.insert(m.as_str()) {
                return Err(invalid(field("members"), format!("{m:?} is listed twice")));
            }
        }
        if d.ring_seconds == 0 || d.ring_seconds > 600 {
            return Err(invalid(field("ring_seconds"), "must be 1-600"));
        }
        if d.last_agent_minutes > MAX_LAST_AGENT_MINUTES {
            return Err(invalid(
                field("last_agent_minutes"),
                format!("must be at most {MAX_LAST_AGENT_MINUTES} (90 days)"),
            ));
        }
        if d.last_agent_ring_seconds == 0 || d.last_agent_ring_seconds > 600 {
            return Err(invalid(field("last_agent_ring_seconds"), "must be 1-600"));
        }
        if let Some(s) = &d.schedule
            && !schedule_ids.contains(s.as_str())
        {
            return Err(invalid(
                field("schedule"),
                format!("{s:?} is not a schedule id"),
            ));
        }
        if !(5..=600).contains(&d.announce_seconds) {
            return Err(invalid(field("announce_seconds"), "must be 5-600"));
        }
        if d.wrap_up_seconds > 3600 {
            return Err(invalid(field("wrap_up_seconds"), "must be at most 3600"));
        }
    }
    let mut trunk_ids = HashSet::new();
    for (i, t) in trunks.iter().enumerate() {
        if !is_id(&t.id) || !trunk_ids.insert(t.id.as_str()) {
            return Err(invalid(
                format!("trunks[{i}].id"),
                format!("{:?} is not a valid id or is used twice", t.id),
            ));
        }
    }
    let scenario_ids = scenario::validate(
        scenarios,
        &Known {
            departments: &department_ids,
            employees: &employee_ids,
            trunks: &trunk_ids,
        },
    )?;
    let known = DestinationIds {
        departments: &department_ids,
        employees: &employee_ids,
        scenarios: &scenario_ids,
        schedules: schedule_ids,
    };
    let mut seen_numbers = HashSet::new();
    for (i, n) in numbers.iter().enumerate() {
        let field = |f: &str| format!("numbers[{i}].{f}");
        let digits = n.normalized();
        if digits.is_empty() || digits.len() > 32 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                field("number"),
                format!("{:?} must be digits with an optional leading +", n.number),
            ));
        }
        if !seen_numbers.insert(digits) {
            return Err(invalid(
                field("number"),
                format!("{:?} is used twice", n.number),
            ));
        }
        match (&n.route, &n.scenario) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    field("scenario"),
                    "give either a route or a scenario, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    field("route"),
                    "required: a route ({ department = \"...\" } or { employee = \"...\" }) \
                     or a scenario id",
                ));
            }
            (Some(Route::Department(d)), _) if !department_ids.contains(d.as_str()) => {
                return Err(invalid(
                    field("route"),
                    format!("department {d:?} is not configured"),
                ));
            }
            (Some(Route::Employee(e)), _) if !employee_ids.contains(e.as_str()) => {
                return Err(invalid(
                    field("route"),
                    format!("employee {e:?} is not configured"),
                ));
            }
            (_, Some(s)) if !scenario_ids.contains(s.as_str()) => {
                return Err(invalid(
                    field("scenario"),
                    format!("{s:?} is not a scenario id"),
                ));
            }
            _ => {}
        }
        check_hours(n, &field, &known)?;
        callers::check_level(field("priority"), n.priority)?;
        callers::validate_rules(&format!("numbers[{i}]"), &n.rules, lists, &known)?;
        if let Some(g) = &n.greeting
            && !is_id(g)
        {
            return Err(invalid(
                field("greeting"),
                format!("{g:?} is not a prompt id (a file stem in [media] prompts_dir)"),
            ));
        }
        check_greetings(i, &n.greetings)?;
    }
    callers::validate_screening(screening, lists, &known, scenarios)?;
    Ok(())
}

/// The ids a [`Destination`] may name.
pub(super) struct DestinationIds<'a> {
    pub departments: &'a HashSet<&'a str>,
    pub employees: &'a HashSet<&'a str>,
    pub scenarios: &'a HashSet<&'a str>,
    pub schedules: &'a HashSet<&'a str>,
}

/// A destination names what exists.
pub(super) fn check_destination(
    field: String,
    to: &Destination,
    known: &DestinationIds<'_>,
) -> Result<(), ConfigError> {
    match to {
        Destination::Department(d) if !known.departments.contains(d.as_str()) => Err(invalid(
            field,
            format!("department {d:?} is not configured"),
        )),
        Destination::Employee(e) if !known.employees.contains(e.as_str()) => {
            Err(invalid(field, format!("employee {e:?} is not configured")))
        }
        Destination::Scenario(s) if !known.scenarios.contains(s.as_str()) => {
            Err(invalid(field, format!("{s:?} is not a scenario id")))
        }
        Destination::Hangup(p) if !is_id(p) => Err(invalid(
            field,
            format!("{p:?} is not a prompt id (a file stem in [media] prompts_dir)"),
        )),
        Destination::Message(to) | Destination::Callback(to)
            if !known.employees.contains(to.as_str())
                && !known.departments.contains(to.as_str()) =>
        {
            Err(invalid(
                field,
                format!("{to:?} is neither an employee nor a department id"),
            ))
        }
        _ => Ok(()),
    }
}

/// A number's `schedule` and `after_hours`: both or neither, each naming what exists.
fn check_hours(
    n: &Number,
    field: &dyn Fn(&str) -> String,
    known: &DestinationIds<'_>,
) -> Result<(), ConfigError> {
    if let Some(s) = &n.schedule
        && !known.schedules.contains(s.as_str())
    {
        return Err(invalid(
            field("schedule"),
            format!("{s:?} is not a schedule id"),
        ));
    }
    match (&n.schedule, &n.after_hours) {
        (Some(_), None) => Err(invalid(
            field("after_hours"),
            "a number with a schedule needs after_hours: { department = \"...\" }, \
             { employee = \"...\" }, { scenario = \"...\" } or { hangup = \"<prompt id>\" }",
        )),
        (None, Some(_)) => Err(invalid(
            field("after_hours"),
            "applies only to a number with a schedule (without one it is open 24/7)",
        )),
        (_, Some(to)) => check_destination(field("after_hours"), to, known),
        (None, None) => Ok(()),
    }
}

/// A number's time-of-day greeting bands: valid times in increasing order, prompt ids.
fn check_greetings(i: usize, greetings: &[GreetingBand]) -> Result<(), ConfigError> {
    let mut last = None;
    for (k, band) in greetings.iter().enumerate() {
        let band_field = |f: &str| format!("numbers[{i}].greetings[{k}].{f}");
        let Some(minute) = parse_hhmm(&band.from) else {
            return Err(invalid(
                band_field("from"),
                format!("{:?} is not a time HH:MM", band.from),
            ));
        };
        if last.is_some_and(|l| minute <= l) {
            return Err(invalid(
                band_field("from"),
                "bands must be in increasing order",
            ));
        }
        last = Some(minute);
        if !is_id(&band.greeting) {
            return Err(invalid(
                band_field("greeting"),
                format!("{:?} is not a prompt id", band.greeting),
            ));
        }
    }
    Ok(())
}
