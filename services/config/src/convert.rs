//! proto <-> domain for `cc.config.v1`, in one place. What the proto cannot say by itself
//! (a required message, an enum left unspecified, a target that is not `ip:port`) is refused
//! here naming the request field; everything else is the configuration's own check, run by
//! the store on the whole candidate. Caller lists, screening policies and the caller rules
//! and destinations they share with numbers are in [`callers`].

use cc_common::config::{
    Action, AfterHours, CallbackMode, DEFAULT_ANNOUNCE_SECONDS, DEFAULT_MENU_TIMEOUT_SECONDS,
    DEFAULT_MENU_TRIES, Department, DialOp, Employee, GreetingBand, HangupOp, MAX_PRIORITY_LEVEL,
    Menu, Number, Operation, QueueOp, Role, Route, Scenario, Schedule, ScheduleException, Strategy,
    TransferOp, Trunk, WeekHours,
};
use cc_common::ids::{EmployeeId, Extension};
use cc_proto::config::v1 as pb;
use tonic::Status;

use crate::error::StoreError;
use crate::resource::{Etag, Versioned};

mod callers;

pub(crate) use callers::{caller_list, caller_list_pb, screening, screening_pb};

/// The ring time of a department that does not give one (as in the configuration file).
const DEFAULT_RING_SECONDS: u32 = 15;
/// How long a returning caller's last agent rings alone when the request leaves it out.
const DEFAULT_LAST_AGENT_RING_SECONDS: u32 = 10;

// ----- requests -----

/// A required message field.
pub(crate) fn required<T>(value: Option<T>, field: &str) -> Result<T, Status> {
    value.ok_or_else(|| Status::invalid_argument(format!("{field}: required")))
}

/// A key (id or number) naming the resource a request is about.
pub(crate) fn key(value: &str, field: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!(
            "{field}: must not be empty"
        )));
    }
    Ok(())
}

/// The etag an update or delete must carry.
pub(crate) fn etag(value: &str, field: &str) -> Result<Etag, Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!(
            "{field}: etag is required"
        )));
    }
    Etag::parse(value).ok_or_else(|| {
        Status::invalid_argument(format!(
            "{field}: {value:?} is not an etag of this service (they look like \"r17\")"
        ))
    })
}

/// A priority level. The proto has no byte: a value too big for one is refused here, the
/// rest (10-255) by the configuration's check, both naming the field.
pub(crate) fn level(value: u32, field: &str) -> Result<u8, Status> {
    u8::try_from(value).map_err(|_| {
        Status::invalid_argument(format!(
            "{field}: {value} is not a priority level (0-{MAX_PRIORITY_LEVEL})"
        ))
    })
}

pub(crate) fn employee(e: pb::Employee) -> Result<Employee, Status> {
    let role = match pb::Role::try_from(e.role) {
        Ok(pb::Role::Admin) => Role::Admin,
        Ok(pb::Role::User) => Role::User,
        Ok(pb::Role::Unspecified) => {
            return Err(Status::invalid_argument(
                "employee.role: required (ROLE_ADMIN or ROLE_USER)",
            ));
        }
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "employee.role: {} is not a Role",
                e.role
            )));
        }
    };
    Ok(Employee {
        id: EmployeeId(e.id),
        name: e.name,
        extension: Extension(e.extension),
        sip_password: e.sip_password,
        role,
        mobile: non_empty(e.mobile),
        priority: level(e.priority, "employee.priority")?,
    })
}

pub(crate) fn department(d: pb::Department) -> Result<Department, Status> {
    use pb::Strategy as P;
    let strategy = match P::try_from(d.strategy) {
        Ok(P::RingAll) => Strategy::RingAll,
        Ok(P::Sequential) => Strategy::Sequential,
        Ok(P::Progressive) => Strategy::Progressive,
        Ok(P::LongestIdle) => Strategy::LongestIdle,
        Ok(P::RoundRobin) => Strategy::RoundRobin,
        Ok(P::FewestCalls) => Strategy::FewestCalls,
        Ok(P::LeastTalkTime) => Strategy::LeastTalkTime,
        Ok(P::Random) => Strategy::Random,
        Ok(P::Unspecified) => {
            return Err(Status::invalid_argument(
                "department.strategy: required (e.g. STRATEGY_SEQUENTIAL)",
            ));
        }
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "department.strategy: {} is not a Strategy",
                d.strategy
            )));
        }
    };
    Ok(Department {
        id: d.id,
        name: d.name,
        extension: d.extension,
        strategy,
        members: d.members,
        ring_seconds: d.ring_seconds.unwrap_or(DEFAULT_RING_SECONDS),
        wrap_up_seconds: d.wrap_up_seconds,
        last_agent_minutes: d.last_agent_minutes,
        last_agent_ring_seconds: d
            .last_agent_ring_seconds
            .unwrap_or(DEFAULT_LAST_AGENT_RING_SECONDS),
        announce_seconds: d.announce_seconds.unwrap_or(DEFAULT_ANNOUNCE_SECONDS),
        waiting_choices: d.waiting_choices,
        schedule: non_empty(d.schedule),
        callback_mode: match pb::CallbackMode::try_from(d.callback_mode) {
            Ok(pb::CallbackMode::Unspecified | pb::CallbackMode::AgentFirst) => {
                CallbackMode::AgentFirst
            }
            Ok(pb::CallbackMode::CustomerFirst) => CallbackMode::CustomerFirst,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "department.callback_mode: {} is not a CallbackMode",
                    d.callback_mode
                )));
            }
        },
        callback_abandoned: d.callback_abandoned,
        record_calls: d.record_calls,
    })
}

pub(crate) fn number(n: pb::Number) -> Result<Number, Status> {
    let (route, scenario) = match n.route {
        Some(pb::number::Route::Department(d)) => (Some(Route::Department(d)), None),
        Some(pb::number::Route::Employee(e)) => (Some(Route::Employee(e)), None),
        Some(pb::number::Route::Scenario(s)) => (None, Some(s)),
        None => {
            return Err(Status::invalid_argument(
                "number.route: required (a department, an employee or a scenario)",
            ));
        }
    };
    Ok(Number {
        number: n.number,
        route,
        scenario,
        greeting: non_empty(n.greeting),
        greetings: n
            .greetings
            .into_iter()
            .map(|b| GreetingBand {
                from: b.from,
                greeting: b.greeting,
            })
            .collect(),
        schedule: non_empty(n.schedule),
        after_hours: n.after_hours.map(after_hours).transpose()?,
        priority: level(n.priority, "number.priority")?,
        rules: n
            .rules
            .into_iter()
            .enumerate()
            .map(|(k, r)| callers::caller_rule(r, &format!("number.rules[{k}]")))
            .collect::<Result<_, _>>()?,
        callback_abandoned: n.callback_abandoned,
        callback_missed: n.callback_missed,
    })
}

/// `number.after_hours`: when present, it must say where calls go.
fn after_hours(a: pb::AfterHours) -> Result<AfterHours, Status> {
    use pb::after_hours::Target;
    match a.target {
        Some(Target::Department(d)) => Ok(AfterHours::Department(d)),
        Some(Target::Employee(e)) => Ok(AfterHours::Employee(e)),
        Some(Target::Hangup(prompt)) => Ok(AfterHours::Hangup(prompt)),
        Some(Target::Scenario(s)) => Ok(AfterHours::Scenario(s)),
        Some(Target::Message(m)) => Ok(AfterHours::Message(m)),
        Some(Target::Callback(c)) => Ok(AfterHours::Callback(c)),
        None => Err(Status::invalid_argument(
            "number.after_hours: a department, an employee, a scenario, a hangup prompt, a \
             message recipient or a callback is required (leave after_hours out for a number \
             without a schedule)",
        )),
    }
}

pub(crate) fn schedule(s: pb::Schedule) -> Schedule {
    let hours = s.hours.unwrap_or_default();
    Schedule {
        id: s.id,
        timezone: non_empty(s.timezone),
        hours: WeekHours {
            mon: hours.mon,
            tue: hours.tue,
            wed: hours.wed,
            thu: hours.thu,
            fri: hours.fri,
            sat: hours.sat,
            sun: hours.sun,
        },
        holidays: s.holidays,
        exceptions: s
            .exceptions
            .into_iter()
            .map(|e| ScheduleException {
                date: e.date,
                hours: e.hours,
            })
            .collect(),
    }
}

/// A scenario; what the configuration's check refuses (an operation that does nothing,
/// an edge to nowhere) is left to it, so the error names the field the same way.
pub(crate) fn scenario(s: pb::Scenario) -> Result<Scenario, Status> {
    let operations = s
        .operations
        .into_iter()
        .enumerate()
        .map(|(k, o)| operation(o, k))
        .collect::<Result<_, _>>()?;
    Ok(Scenario {
        id: s.id,
        start: s.start,
        operations,
    })
}

fn operation(o: pb::Operation, k: usize) -> Result<Operation, Status> {
    use pb::operation::Action as A;
    let mut op = Operation {
        id: o.id,
        next: non_empty(o.next),
        keys: o.keys.into_iter().collect(),
        default: non_empty(o.default),
        no_answer: non_empty(o.no_answer),
        ..Operation::default()
    };
    match o.action {
        Some(A::Play(p)) => op.play = Some(p.prompt),
        Some(A::Menu(m)) => {
            op.menu = Some(Menu {
                prompt: m.prompt,
                timeout_seconds: m.timeout_seconds.unwrap_or(DEFAULT_MENU_TIMEOUT_SECONDS),
                tries: m.tries.unwrap_or(DEFAULT_MENU_TRIES),
                invalid_prompt: non_empty(m.invalid_prompt),
            })
        }
        Some(A::Queue(q)) => {
            op.queue = Some(QueueOp {
                department: q.department,
                priority: level(
                    q.priority,
                    &format!("scenario.operations[{k}].queue.priority"),
                )?,
            });
        }
        Some(A::Dial(d)) => {
            op.dial = Some(DialOp {
                employee: d.employee,
                announce: d.announce,
            })
        }
        Some(A::Transfer(t)) => {
            op.transfer = Some(TransferOp {
                number: t.number,
                trunk: non_empty(t.trunk),
            })
        }
        Some(A::Hangup(h)) => {
            op.hangup = Some(HangupOp {
                prompt: non_empty(h.prompt),
            })
        }
        Some(A::Message(m)) => op.message = Some(m.r#for),
        Some(A::Callback(c)) => op.callback = Some(c.from),
        None => {}
    }
    Ok(op)
}

pub(crate) fn trunk(t: pb::Trunk) -> Result<Trunk, Status> {
    let target = t.target.parse().map_err(|_| {
        Status::invalid_argument(format!(
            "trunk.target: {:?} is not an address ip:port",
            t.target
        ))
    })?;
    Ok(Trunk { id: t.id, target })
}

pub(crate) fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

// ----- responses -----

/// An employee as the API shows it: never with its SIP password.
pub(crate) fn employee_pb(v: &Versioned<Employee>) -> pb::Employee {
    let e = &v.resource;
    let role = match e.role {
        Role::Admin => pb::Role::Admin,
        Role::User => pb::Role::User,
    };
    pb::Employee {
        id: e.id.to_string(),
        name: e.name.clone(),
        extension: e.extension.to_string(),
        sip_password: String::new(),
        role: role.into(),
        mobile: e.mobile.clone().unwrap_or_default(),
        etag: v.etag.to_string(),
        priority: u32::from(e.priority),
    }
}

pub(crate) fn department_pb(v: &Versioned<Department>) -> pb::Department {
    use pb::Strategy as P;
    let d = &v.resource;
    let strategy = match d.strategy {
        Strategy::RingAll => P::RingAll,
        Strategy::Sequential => P::Sequential,
        Strategy::Progressive => P::Progressive,
        Strategy::LongestIdle => P::LongestIdle,
        Strategy::RoundRobin => P::RoundRobin,
        Strategy::FewestCalls => P::FewestCalls,
        Strategy::LeastTalkTime => P::LeastTalkTime,
        Strategy::Random => P::Random,
    };
    pb::Department {
        id: d.id.clone(),
        name: d.name.clone(),
        extension: d.extension.clone(),
        strategy: strategy.into(),
        members: d.members.clone(),
        ring_seconds: Some(d.ring_seconds),
        wrap_up_seconds: d.wrap_up_seconds,
        etag: v.etag.to_string(),
        last_agent_minutes: d.last_agent_minutes,
        last_agent_ring_seconds: Some(d.last_agent_ring_seconds),
        announce_seconds: Some(d.announce_seconds),
        waiting_choices: d.waiting_choices,
        schedule: d.schedule.clone().unwrap_or_default(),
        callback_mode: match d.callback_mode {
            CallbackMode::AgentFirst => pb::CallbackMode::AgentFirst,
            CallbackMode::CustomerFirst => pb::CallbackMode::CustomerFirst,
        }
        .into(),
        callback_abandoned: d.callback_abandoned,
        record_calls: d.record_calls,
    }
}

pub(crate) fn number_pb(v: &Versioned<Number>) -> pb::Number {
    let n = &v.resource;
    let route = match (&n.route, &n.scenario) {
        (Some(Route::Department(d)), _) => Some(pb::number::Route::Department(d.clone())),
        (Some(Route::Employee(e)), _) => Some(pb::number::Route::Employee(e.clone())),
        (None, Some(s)) => Some(pb::number::Route::Scenario(s.clone())),
        (None, None) => None,
    };
    pb::Number {
        number: n.number.clone(),
        route,
        greeting: n.greeting.clone().unwrap_or_default(),
        greetings: n
            .greetings
            .iter()
            .map(|b| pb::GreetingBand {
                from: b.from.clone(),
                greeting: b.greeting.clone(),
            })
            .collect(),
        etag: v.etag.to_string(),
        schedule: n.schedule.clone().unwrap_or_default(),
        after_hours: n.after_hours.as_ref().map(after_hours_pb),
        priority: u32::from(n.priority),
        rules: n.rules.iter().map(callers::caller_rule_pb).collect(),
        callback_abandoned: n.callback_abandoned,
        callback_missed: n.callback_missed,
    }
}

fn after_hours_pb(a: &AfterHours) -> pb::AfterHours {
    use pb::after_hours::Target;
    let target = match a {
        AfterHours::Department(d) => Target::Department(d.clone()),
        AfterHours::Employee(e) => Target::Employee(e.clone()),
        AfterHours::Hangup(prompt) => Target::Hangup(prompt.clone()),
        AfterHours::Scenario(s) => Target::Scenario(s.clone()),
        AfterHours::Message(m) => Target::Message(m.clone()),
        AfterHours::Callback(c) => Target::Callback(c.clone()),
    };
    pb::AfterHours {
        target: Some(target),
    }
}

pub(crate) fn schedule_pb(v: &Versioned<Schedule>) -> pb::Schedule {
    let s = &v.resource;
    let h = &s.hours;
    pb::Schedule {
        id: s.id.clone(),
        timezone: s.timezone.clone().unwrap_or_default(),
        hours: Some(pb::WeekHours {
            mon: h.mon.clone(),
            tue: h.tue.clone(),
            wed: h.wed.clone(),
            thu: h.thu.clone(),
            fri: h.fri.clone(),
            sat: h.sat.clone(),
            sun: h.sun.clone(),
        }),
        holidays: s.holidays.clone(),
        exceptions: s
            .exceptions
            .iter()
            .map(|e| pb::ScheduleException {
                date: e.date.clone(),
                hours: e.hours.clone(),
            })
            .collect(),
        etag: v.etag.to_string(),
    }
}

pub(crate) fn scenario_pb(v: &Versioned<Scenario>) -> pb::Scenario {
    let s = &v.resource;
    pb::Scenario {
        id: s.id.clone(),
        start: s.start.clone(),
        operations: s.operations.iter().map(operation_pb).collect(),
        etag: v.etag.to_string(),
    }
}

fn operation_pb(o: &Operation) -> pb::Operation {
    use pb::operation::Action as A;
    // Stored operations passed the check: each does exactly one thing.
    let action = o.action().map(|a| match a {
        Action::Play(prompt) => A::Play(pb::PlayOperation {
            prompt: prompt.to_owned(),
        }),
        Action::Menu(m) => A::Menu(pb::MenuOperation {
            prompt: m.prompt.clone(),
            timeout_seconds: Some(m.timeout_seconds),
            tries: Some(m.tries),
            invalid_prompt: m.invalid_prompt.clone().unwrap_or_default(),
        }),
        Action::Queue(q) => A::Queue(pb::QueueOperation {
            department: q.department.clone(),
            priority: u32::from(q.priority),
        }),
        Action::Dial(d) => A::Dial(pb::DialOperation {
            employee: d.employee.clone(),
            announce: d.announce,
        }),
        Action::Transfer(t) => A::Transfer(pb::TransferOperation {
            number: t.number.clone(),
            trunk: t.trunk.clone().unwrap_or_default(),
        }),
        Action::Hangup(h) => A::Hangup(pb::HangupOperation {
            prompt: h.prompt.clone().unwrap_or_default(),
        }),
        Action::Message(to) => A::Message(pb::MessageOperation {
            r#for: to.to_owned(),
        }),
        Action::Callback(from) => A::Callback(pb::CallbackOperation {
            from: from.to_owned(),
        }),
    });
    pb::Operation {
        id: o.id.clone(),
        action,
        next: o.next.clone().unwrap_or_default(),
        keys: o.keys.clone().into_iter().collect(),
        default: o.default.clone().unwrap_or_default(),
        no_answer: o.no_answer.clone().unwrap_or_default(),
    }
}

pub(crate) fn trunk_pb(v: &Versioned<Trunk>) -> pb::Trunk {
    pb::Trunk {
        id: v.resource.id.clone(),
        target: v.resource.target.to_string(),
        etag: v.etag.to_string(),
    }
}

// ----- errors -----

/// The gRPC status of a refused change: see the service comment in `config.proto`.
pub(crate) fn status(e: StoreError) -> Status {
    let message = e.to_string();
    match e {
        StoreError::Invalid { .. } => Status::invalid_argument(message),
        StoreError::NotFound { .. } => Status::not_found(message),
        StoreError::AlreadyExists { .. } => Status::already_exists(message),
        StoreError::Conflict { .. } => Status::aborted(message),
        StoreError::Referenced { .. } => Status::failed_precondition(message),
        StoreError::TooLarge { .. } => Status::resource_exhausted(message),
        StoreError::Unavailable(_) => Status::unavailable(message),
        StoreError::Corrupt(_) => Status::internal(message),
    }
}

#[cfg(test)]
mod tests;
