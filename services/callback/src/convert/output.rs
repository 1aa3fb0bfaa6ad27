//! Callbacks and their changes on the wire.

use cc_proto::callbacks::v1 as pb;

use super::ms;
use crate::core::{Change, HistoryEntry, Outcome, Record, Source, State, Target};

fn proto_target(t: &Target) -> pb::Target {
    pb::Target {
        target: Some(match t {
            Target::Department(d) => pb::target::Target::DepartmentId(d.as_str().to_owned()),
            Target::Employee(e) => pb::target::Target::EmployeeId(e.as_str().to_owned()),
        }),
    }
}

fn proto_source(s: Source) -> pb::Source {
    match s {
        Source::VirtualHold => pb::Source::VirtualHold,
        Source::Message => pb::Source::Message,
        Source::Abandoned => pb::Source::Abandoned,
        Source::Missed => pb::Source::Missed,
        Source::Offer => pb::Source::Offer,
        Source::Api => pb::Source::Api,
    }
}

fn outcome(o: &Outcome) -> pb::AttemptOutcome {
    use pb::attempt_outcome::Kind;
    let (kind, detail) = match o {
        Outcome::Reached => (Kind::Reached, String::new()),
        Outcome::NoAnswer => (Kind::NoAnswer, String::new()),
        Outcome::Busy => (Kind::Busy, String::new()),
        Outcome::Failed(why) => (Kind::Failed, why.clone()),
        Outcome::InDoubt => (Kind::InDoubt, String::new()),
    };
    pb::AttemptOutcome {
        kind: kind.into(),
        detail,
    }
}

/// One history entry (and event) on the wire.
pub(crate) fn change(h: &HistoryEntry) -> pb::Change {
    use pb::change as c;
    let change = match &h.change {
        Change::Created { source } => c::Change::Created(c::Created {
            source: proto_source(*source).into(),
        }),
        Change::Merged {
            request,
            source,
            reason,
        } => c::Change::Merged(c::Merged {
            request_id: request.as_str().to_owned(),
            source: proto_source(*source).into(),
            reason: reason.clone(),
        }),
        Change::Dispatched { attempt, token } => c::Change::Dispatched(c::Dispatched {
            attempt: *attempt,
            leader_token: token.0,
        }),
        Change::Retried {
            attempt,
            outcome: o,
            next_at,
        } => c::Change::Retried(c::Retried {
            attempt: *attempt,
            outcome: Some(outcome(o)),
            next_attempt_unix_ms: ms(*next_at),
        }),
        Change::Reached { attempt } => c::Change::Reached(c::Reached { attempt: *attempt }),
        Change::GaveUp {
            attempt,
            outcome: o,
        } => c::Change::GaveUp(c::GaveUp {
            attempt: *attempt,
            outcome: Some(outcome(o)),
        }),
        Change::Cancelled { during_attempt } => c::Change::Cancelled(c::Cancelled {
            during_attempt: *during_attempt,
        }),
        Change::Expired { attempts, last } => c::Change::Expired(c::Expired {
            attempts: *attempts,
            last: last.as_ref().map(outcome),
        }),
        Change::Rescheduled { earliest, latest } => c::Change::Rescheduled(c::Rescheduled {
            earliest_unix_ms: ms(*earliest),
            latest_unix_ms: ms(*latest),
        }),
    };
    pb::Change {
        unix_ms: ms(h.at),
        change: Some(change),
    }
}

/// A callback on the wire.
pub(crate) fn callback(r: &Record) -> pb::Callback {
    let (state, since) = match &r.state {
        State::Pending => (pb::CallbackState::Pending, None),
        State::Dispatching { since, .. } => (pb::CallbackState::Dispatching, Some(*since)),
        State::Reached { at } => (pb::CallbackState::Reached, Some(*at)),
        State::GaveUp { at } => (pb::CallbackState::GaveUp, Some(*at)),
        State::Cancelled { at } => (pb::CallbackState::Cancelled, Some(*at)),
        State::Expired { at } => (pb::CallbackState::Expired, Some(*at)),
    };
    pb::Callback {
        callback_id: r.id.as_str().to_owned(),
        number: r.number.as_str().to_owned(),
        name: r.name.clone(),
        reasons: r.reasons.clone(),
        target: Some(proto_target(&r.target)),
        source: proto_source(r.source).into(),
        window: Some(pb::Window {
            spans: r
                .window
                .spans()
                .iter()
                .map(|s| pb::Span {
                    start_unix_ms: ms(s.start),
                    end_unix_ms: ms(s.end),
                })
                .collect(),
            time_zone: r.window.tz().to_owned(),
        }),
        enqueued_at_unix_ms: r.enqueued_at.map(ms),
        created_unix_ms: ms(r.created_at),
        priority: u32::from(r.priority.0),
        attempts: r.attempts,
        max_attempts: r.max_attempts,
        next_attempt_unix_ms: ms(r.next_attempt_at),
        state: state.into(),
        state_unix_ms: since.map_or(0, ms),
        history: r.history.iter().map(change).collect(),
    }
}
