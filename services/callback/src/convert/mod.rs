//! `cc.callbacks.v1` <-> the core's vocabulary, in one place (DESIGN.md section 2):
//! [`input`] checks requests as far as the wire shape goes, each refusal naming the field;
//! the core checks the rest and [`status`] names the field of its refusals too;
//! [`output`] shows callbacks and their changes.

mod input;
mod output;

use tonic::Status;

use crate::core::{CallbackError, Timestamp};
use crate::error::ServiceError;

pub(crate) use input::{callback_id, list, new_id, page_token, request, reschedule, watch};
pub(crate) use output::{callback, change};

fn invalid(field: &str, why: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {why}"))
}

fn instant(field: &str, ms: u64) -> Result<Timestamp, Status> {
    i64::try_from(ms)
        .map(Timestamp::from_unix_ms)
        .map_err(|_| invalid(field, format!("{ms} is beyond the end of time")))
}

fn ms(t: Timestamp) -> u64 {
    u64::try_from(t.unix_ms()).unwrap_or(0)
}

/// A refusal on the wire, naming the field where there is one.
pub(crate) fn status(e: ServiceError) -> Status {
    match e {
        ServiceError::Callback(e) => core_status(e),
        e @ ServiceError::NotFound(_) => Status::not_found(format!("callback_id: {e}")),
        e @ ServiceError::Finished { .. } => {
            Status::failed_precondition(format!("callback_id: {e}"))
        }
        ServiceError::NotLeader => Status::unavailable(
            "no callback scheduler leader answered here (leadership is moving); retry",
        ),
        e @ (ServiceError::Interrupted
        | ServiceError::Contended(_)
        | ServiceError::Store(_)
        | ServiceError::Stopped
        | ServiceError::Timeout(_)) => Status::unavailable(e.to_string()),
    }
}

fn core_status(e: CallbackError) -> Status {
    match e {
        e @ CallbackError::InvalidNumber { .. } => invalid("number", e),
        e @ CallbackError::InvalidWindow(_) => invalid("latest_unix_ms", e),
        e @ CallbackError::InvalidTimeZone(_) => invalid("time_zone", e),
        CallbackError::InvalidField { field, why } => {
            let field = match field {
                "id" => "callback_id",
                field => field,
            };
            invalid(field, why)
        }
        e @ CallbackError::WindowOver => invalid("latest_unix_ms", e),
        e @ CallbackError::DuplicateId(_) => Status::already_exists(format!("callback_id: {e}")),
        e @ CallbackError::UnknownCallback(_) => Status::not_found(format!("callback_id: {e}")),
        e @ CallbackError::Full { .. } => Status::resource_exhausted(e.to_string()),
        e @ CallbackError::NotPending { .. } => Status::failed_precondition(format!(
            "callback_id: {e}; retry after the attempt's outcome"
        )),
        e @ CallbackError::Fenced { .. } => Status::unavailable(format!(
            "{e}; the callback scheduler's leadership moved: retry"
        )),
        e @ (CallbackError::StaleAttempt { .. } | CallbackError::InvalidRecord { .. }) => {
            Status::internal(e.to_string())
        }
    }
}
