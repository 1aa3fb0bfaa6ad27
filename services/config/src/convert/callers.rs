//! proto <-> domain for caller lists, screening policies, and the caller rules and
//! destinations numbers and policies share. Entries, ids and references are the
//! configuration check's to refuse; only what the proto cannot say (a destination without
//! a target, an enum value out of range, a level too big for a byte) is refused here.

use cc_common::config::{
    AnonymousPolicy, CallerList, CallerRule, DECLINED_PROMPT, Destination, LimitedCallers,
    Screening,
};
use cc_proto::config::v1 as pb;
use tonic::Status;

use super::{level, non_empty};
use crate::resource::Versioned;

pub(crate) fn caller_list(l: pb::CallerList) -> CallerList {
    CallerList {
        id: l.id,
        name: non_empty(l.name),
        entries: l.entries,
    }
}

pub(crate) fn caller_list_pb(v: &Versioned<CallerList>) -> pb::CallerList {
    let l = &v.resource;
    pb::CallerList {
        id: l.id.clone(),
        name: l.name.clone().unwrap_or_default(),
        entries: l.entries.clone(),
        etag: v.etag.to_string(),
    }
}

/// One of a number's rules; `at` is the rule's request field (`number.rules[0]`).
pub(super) fn caller_rule(r: pb::CallerRule, at: &str) -> Result<CallerRule, Status> {
    Ok(CallerRule {
        callers: r.callers,
        goto: r
            .goto
            .map(|d| destination(d, &format!("{at}.goto")))
            .transpose()?,
        priority: r
            .priority
            .map(|p| level(p, &format!("{at}.priority")))
            .transpose()?,
    })
}

pub(super) fn caller_rule_pb(r: &CallerRule) -> pb::CallerRule {
    pb::CallerRule {
        callers: r.callers.clone(),
        goto: r.goto.as_ref().map(destination_pb),
        priority: r.priority.map(u32::from),
    }
}

/// A screening policy. Without `declined` a turned-away caller hears the neutral
/// [`DECLINED_PROMPT`], as in the configuration file.
pub(crate) fn screening(p: pb::ScreeningPolicy) -> Result<Screening, Status> {
    use pb::AnonymousPolicy as P;
    let anonymous = match P::try_from(p.anonymous) {
        Ok(P::Unspecified | P::Connect) => AnonymousPolicy::Connect,
        Ok(P::Decline) => AnonymousPolicy::Decline,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "screening_policy.anonymous: {} is not an AnonymousPolicy",
                p.anonymous
            )));
        }
    };
    let declined = match p.declined {
        Some(d) => destination(d, "screening_policy.declined")?,
        None => Destination::Hangup(DECLINED_PROMPT.into()),
    };
    Ok(Screening {
        employee: p.employee,
        dnd: non_empty(p.dnd),
        vip: p.vip,
        never: p.never,
        limited: p
            .limited
            .into_iter()
            .map(|l| LimitedCallers {
                callers: l.callers,
                schedule: l.schedule,
            })
            .collect(),
        anonymous,
        announce: p.announce,
        declined,
    })
}

pub(crate) fn screening_pb(v: &Versioned<Screening>) -> pb::ScreeningPolicy {
    use pb::AnonymousPolicy as P;
    let p = &v.resource;
    let anonymous = match p.anonymous {
        AnonymousPolicy::Connect => P::Connect,
        AnonymousPolicy::Decline => P::Decline,
    };
    pb::ScreeningPolicy {
        employee: p.employee.clone(),
        dnd: p.dnd.clone().unwrap_or_default(),
        vip: p.vip.clone(),
        never: p.never.clone(),
        limited: p
            .limited
            .iter()
            .map(|l| pb::LimitedCallers {
                callers: l.callers.clone(),
                schedule: l.schedule.clone(),
            })
            .collect(),
        anonymous: anonymous.into(),
        declined: Some(destination_pb(&p.declined)),
        etag: v.etag.to_string(),
        announce: p.announce,
    }
}

/// A destination given in `field`: when present, it must say where calls go.
fn destination(d: pb::Destination, field: &str) -> Result<Destination, Status> {
    use pb::destination::Target;
    match d.target {
        Some(Target::Department(d)) => Ok(Destination::Department(d)),
        Some(Target::Employee(e)) => Ok(Destination::Employee(e)),
        Some(Target::Hangup(prompt)) => Ok(Destination::Hangup(prompt)),
        Some(Target::Scenario(s)) => Ok(Destination::Scenario(s)),
        Some(Target::Message(m)) => Ok(Destination::Message(m)),
        Some(Target::Callback(c)) => Ok(Destination::Callback(c)),
        None => Err(Status::invalid_argument(format!(
            "{field}: a department, an employee, a scenario, a hangup prompt, a message \
             recipient or a callback is required (or leave it out)"
        ))),
    }
}

fn destination_pb(d: &Destination) -> pb::Destination {
    use pb::destination::Target;
    let target = match d {
        Destination::Department(d) => Target::Department(d.clone()),
        Destination::Employee(e) => Target::Employee(e.clone()),
        Destination::Hangup(prompt) => Target::Hangup(prompt.clone()),
        Destination::Scenario(s) => Target::Scenario(s.clone()),
        Destination::Message(m) => Target::Message(m.clone()),
        Destination::Callback(c) => Target::Callback(c.clone()),
    };
    pb::Destination {
        target: Some(target),
    }
}
