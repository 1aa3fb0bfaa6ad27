//! Requests from the wire, checked and turned into the core's vocabulary.

use std::collections::BTreeSet;

use cc_proto::callbacks::v1 as pb;
use tonic::Status;

use super::{instant, invalid};
use crate::core::{
    CallbackError, CallbackId, DepartmentId, EmployeeId, PhoneNumber, Priority, Record, Request,
    Reschedule, Source, StateKind, Target, Timestamp, Window,
};

/// Longest callback id, in bytes.
const MAX_ID: usize = 128;
/// Callbacks in a page when the request does not say.
const DEFAULT_PAGE: usize = 100;
/// Most callbacks in a page.
const MAX_PAGE: usize = 1000;
/// The time zone of a request that names none.
const DEFAULT_TZ: &str = "UTC";

/// A callback id from a request: 1 to 128 letters, digits, '-', '_', '.' or ':'.
pub(crate) fn callback_id(field: &str, id: &str) -> Result<CallbackId, Status> {
    if id.is_empty() {
        return Err(invalid(field, "required"));
    }
    let ok = id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !ok {
        let shown: String = id.chars().take(40).collect();
        return Err(invalid(
            field,
            format!("{shown:?} must be 1 to {MAX_ID} letters, digits, '-', '_', '.' or ':'"),
        ));
    }
    Ok(CallbackId::new(id))
}

/// A fresh callback id: a random UUID (version 4).
pub(crate) fn new_id() -> String {
    let bits: u128 = rand::random();
    // Version 4 and the RFC 4122 variant.
    let bits = (bits & !(0xf << 76)) | (0x4 << 76);
    let bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn target(target: Option<&pb::Target>) -> Result<Target, Status> {
    match target.and_then(|t| t.target.as_ref()) {
        Some(pb::target::Target::DepartmentId(d)) if !d.is_empty() => {
            Ok(Target::Department(DepartmentId::new(d.as_str())))
        }
        Some(pb::target::Target::DepartmentId(_)) => {
            Err(invalid("target.department_id", "required"))
        }
        Some(pb::target::Target::EmployeeId(e)) if !e.is_empty() => {
            Ok(Target::Employee(EmployeeId::new(e.as_str())))
        }
        Some(pb::target::Target::EmployeeId(_)) => Err(invalid("target.employee_id", "required")),
        None => Err(invalid(
            "target",
            "required: a department_id or an employee_id",
        )),
    }
}

fn source(value: i32) -> Result<Source, Status> {
    match pb::Source::try_from(value) {
        Ok(pb::Source::Unspecified | pb::Source::Api) => Ok(Source::Api),
        Ok(pb::Source::VirtualHold) => Ok(Source::VirtualHold),
        Ok(pb::Source::Message) => Ok(Source::Message),
        Ok(pb::Source::Abandoned) => Ok(Source::Abandoned),
        Ok(pb::Source::Missed) => Ok(Source::Missed),
        Ok(pb::Source::Offer) => Ok(Source::Offer),
        Err(_) => Err(invalid("source", format!("{value} is not a Source"))),
    }
}

fn priority(value: u32) -> Result<Priority, Status> {
    u8::try_from(value)
        .map(Priority)
        .map_err(|_| invalid("priority", format!("{value} is not 0 to 255")))
}

/// `[earliest, latest)` in `tz`, the start 0 meaning `now`.
fn window(earliest: u64, latest: u64, tz: &str, now: Timestamp) -> Result<Window, Status> {
    let start = if earliest == 0 {
        now
    } else {
        instant("earliest_unix_ms", earliest)?
    };
    if latest == 0 {
        return Err(invalid("latest_unix_ms", "required"));
    }
    let end = instant("latest_unix_ms", latest)?;
    if end <= start {
        let start_field = if earliest == 0 {
            "now".to_owned()
        } else {
            format!("earliest_unix_ms {earliest}")
        };
        return Err(invalid(
            "latest_unix_ms",
            format!("{latest} is not after {start_field}"),
        ));
    }
    Window::new(start, end, tz).map_err(|e| match e {
        CallbackError::InvalidTimeZone(_) => invalid("time_zone", e),
        e => invalid("latest_unix_ms", e),
    })
}

/// A schedule request (`callback_id` already filled in) as the core takes it; `now` stands
/// for the start of a window that names none.
pub(crate) fn request(r: &pb::ScheduleCallbackRequest, now: Timestamp) -> Result<Request, Status> {
    let id = callback_id("callback_id", &r.callback_id)?;
    let number = PhoneNumber::parse(&r.number).map_err(|e| invalid("number", e))?;
    let tz = if r.time_zone.is_empty() {
        DEFAULT_TZ
    } else {
        r.time_zone.as_str()
    };
    let enqueued_at = match r.enqueued_at_unix_ms {
        0 => None,
        ms => Some(instant("enqueued_at_unix_ms", ms)?),
    };
    Ok(Request {
        id,
        number,
        name: r.name.clone(),
        reason: r.reason.clone(),
        target: target(r.target.as_ref())?,
        source: source(r.source)?,
        window: window(r.earliest_unix_ms, r.latest_unix_ms, tz, now)?,
        enqueued_at,
        priority: priority(r.priority)?,
        max_attempts: (r.max_attempts > 0).then_some(r.max_attempts),
    })
}

/// A reschedule request as the core takes it; an empty time zone keeps `current`'s.
pub(crate) fn reschedule(
    r: &pb::RescheduleCallbackRequest,
    current_tz: Option<&str>,
    now: Timestamp,
) -> Result<Reschedule, Status> {
    let tz = match (r.time_zone.as_str(), current_tz) {
        ("", Some(tz)) => tz,
        ("", None) => DEFAULT_TZ,
        (tz, _) => tz,
    };
    Ok(Reschedule {
        window: window(r.earliest_unix_ms, r.latest_unix_ms, tz, now)?,
        extra_attempts: r.extra_attempts,
        priority: r.priority.map(priority).transpose()?,
    })
}

/// What a list or watch keeps.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    states: BTreeSet<StateKind>,
    targets: BTreeSet<Target>,
    number: Option<PhoneNumber>,
}

impl Filter {
    /// Whether `record` passes every filter given.
    pub(crate) fn matches(&self, record: &Record) -> bool {
        (self.states.is_empty() || self.states.contains(&record.state.kind()))
            && (self.targets.is_empty() || self.targets.contains(&record.target))
            && self.number.as_ref().is_none_or(|n| *n == record.number)
    }
}

fn targets(departments: &[String], employees: &[String]) -> Result<BTreeSet<Target>, Status> {
    let mut targets = BTreeSet::new();
    for (i, d) in departments.iter().enumerate() {
        if d.is_empty() {
            return Err(invalid(&format!("department_ids[{i}]"), "empty"));
        }
        targets.insert(Target::Department(DepartmentId::new(d.as_str())));
    }
    for (i, e) in employees.iter().enumerate() {
        if e.is_empty() {
            return Err(invalid(&format!("employee_ids[{i}]"), "empty"));
        }
        targets.insert(Target::Employee(EmployeeId::new(e.as_str())));
    }
    Ok(targets)
}

/// A list request: what to keep, how many, and the id to start after.
pub(crate) fn list(
    r: &pb::ListCallbacksRequest,
) -> Result<(Filter, usize, Option<CallbackId>), Status> {
    let mut states = BTreeSet::new();
    for (i, s) in r.states.iter().enumerate() {
        let kind = match pb::CallbackState::try_from(*s) {
            Ok(pb::CallbackState::Pending) => StateKind::Pending,
            Ok(pb::CallbackState::Dispatching) => StateKind::Dispatching,
            Ok(pb::CallbackState::Reached) => StateKind::Reached,
            Ok(pb::CallbackState::GaveUp) => StateKind::GaveUp,
            Ok(pb::CallbackState::Cancelled) => StateKind::Cancelled,
            Ok(pb::CallbackState::Expired) => StateKind::Expired,
            Ok(pb::CallbackState::Unspecified) | Err(_) => {
                return Err(invalid(
                    &format!("states[{i}]"),
                    format!("{s} is not a callback state"),
                ));
            }
        };
        states.insert(kind);
    }
    let number = match r.number.as_str() {
        "" => None,
        n => Some(PhoneNumber::parse(n).map_err(|e| invalid("number", e))?),
    };
    let size = match usize::try_from(r.page_size).unwrap_or(usize::MAX) {
        0 => DEFAULT_PAGE,
        n if n > MAX_PAGE => {
            return Err(invalid(
                "page_size",
                format!("{} is more than {MAX_PAGE}", r.page_size),
            ));
        }
        n => n,
    };
    let after = match r.page_token.as_str() {
        "" => None,
        token => Some(
            token
                .strip_prefix(PAGE_TOKEN)
                .and_then(|id| callback_id("page_token", id).ok())
                .ok_or_else(|| invalid("page_token", "not a next_page_token of ListCallbacks"))?,
        ),
    };
    let filter = Filter {
        states,
        targets: targets(&r.department_ids, &r.employee_ids)?,
        number,
    };
    Ok((filter, size, after))
}

/// What starts a page token: the last id of the previous page follows.
const PAGE_TOKEN: &str = "after:";

/// The token of the page after the one ending with `last`.
pub(crate) fn page_token(last: &CallbackId) -> String {
    format!("{PAGE_TOKEN}{last}")
}

/// A watch request: from which revision, and which targets.
pub(crate) fn watch(r: &pb::WatchCallbackEventsRequest) -> Result<(i64, Filter), Status> {
    let from = i64::try_from(r.from_revision).map_err(|_| {
        invalid(
            "from_revision",
            format!("{} is beyond any revision", r.from_revision),
        )
    })?;
    let filter = Filter {
        targets: targets(&r.department_ids, &r.employee_ids)?,
        ..Filter::default()
    };
    Ok((from, filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_4_uuids_and_valid_callback_ids() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert!(callback_id("callback_id", &id).is_ok());
        assert_ne!(new_id(), id);
    }

    #[test]
    fn a_window_ending_before_it_starts_names_the_end_field() {
        let now = Timestamp::from_unix_ms(1_000_000);
        let e = window(2_000_000, 1_500_000, "", now).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().starts_with("latest_unix_ms: "),
            "{}",
            e.message()
        );
        let e = window(0, 2_000_000, "Mars/Base", now).unwrap_err();
        assert!(e.message().starts_with("time_zone: "), "{}", e.message());
    }
}
