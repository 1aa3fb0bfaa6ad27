//! `cc.messages.v1` <-> the messages' vocabulary, in one place: requests checked as far as
//! the wire shape goes (each refusal naming the field), messages and changes shown, and the
//! domain's refusals as statuses.

use std::collections::BTreeSet;

use cc_proto::events::v1 as events;
use cc_proto::messages::v1 as pb;
use tonic::Status;

use super::MessageError;
use super::record::{
    CallbackTime, Caller, Edit, Message, MessageId, MessageState, NewMessage, Origin, Recipient,
    VoiceLeft,
};
use super::recording::RecordingError;
use super::store::{Cursor, Etag, Query};
use super::watch::{Change, ChangeKind, WatchError};
use crate::core::Timestamp;

/// Messages in a page when the request does not say.
const DEFAULT_PAGE: usize = 100;
/// Most messages in a page.
const MAX_PAGE: usize = 1000;
/// What starts a page token: the previous page's last creation time and id follow.
const PAGE_TOKEN: &str = "before:";

fn invalid(field: &str, why: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {why}"))
}

/// A refusal on the wire; every message names the field or the id.
pub(crate) fn status(e: MessageError) -> Status {
    match e {
        e @ MessageError::Invalid { .. } => Status::invalid_argument(e.to_string()),
        e @ MessageError::NotFound(_) => Status::not_found(e.to_string()),
        e @ MessageError::AlreadyExists(_) => Status::already_exists(e.to_string()),
        e @ MessageError::Conflict { .. } => Status::aborted(e.to_string()),
        e @ MessageError::Backwards { .. } => Status::failed_precondition(e.to_string()),
        e @ MessageError::Unavailable(_) => Status::unavailable(e.to_string()),
        e @ MessageError::Unreadable { .. } => Status::internal(e.to_string()),
    }
}

pub(crate) fn recording_status(e: RecordingError) -> Status {
    match e {
        e @ (RecordingError::None(_)
        | RecordingError::Missing { .. }
        | RecordingError::BadPath { .. }) => Status::not_found(e.to_string()),
        e @ RecordingError::Io { .. } => Status::internal(e.to_string()),
    }
}

pub(crate) fn watch_status(e: WatchError) -> Status {
    match e {
        e @ WatchError::Compacted { .. } => Status::out_of_range(format!("from_revision: {e}")),
        e @ WatchError::Unavailable(_) => Status::unavailable(e.to_string()),
    }
}

/// The id a request names.
pub(crate) fn id(raw: &str) -> Result<MessageId, Status> {
    MessageId::parse("message_id", raw).map_err(status)
}

/// The etag an update or deletion must carry.
pub(crate) fn etag(raw: &str) -> Result<Etag, Status> {
    if raw.is_empty() {
        return Err(invalid("etag", "etag is required (the one last read)"));
    }
    Etag::parse(raw).ok_or_else(|| {
        invalid(
            "etag",
            format!("{raw:?} is not an etag of this service (they look like \"r17\")"),
        )
    })
}

fn instant(field: &str, ms: u64) -> Result<Timestamp, Status> {
    i64::try_from(ms)
        .map(Timestamp::from_unix_ms)
        .map_err(|_| invalid(field, format!("{ms} is beyond the end of time")))
}

fn ms(t: Timestamp) -> u64 {
    u64::try_from(t.unix_ms()).unwrap_or(0)
}

fn callback_time(t: &pb::PreferredCallbackTime) -> Result<Option<CallbackTime>, Status> {
    match &t.time {
        None => Ok(None),
        Some(pb::preferred_callback_time::Time::Text(text)) => {
            Ok(Some(CallbackTime::Said { text: text.clone() }))
        }
        Some(pb::preferred_callback_time::Time::Window(w)) => Ok(Some(CallbackTime::Window {
            earliest: instant(
                "preferred_callback_time.window.earliest_unix_ms",
                w.earliest_unix_ms,
            )?,
            latest: instant(
                "preferred_callback_time.window.latest_unix_ms",
                w.latest_unix_ms,
            )?,
        })),
    }
}

/// A create request: the id (chosen here when the request has none) and the message.
pub(crate) fn create(r: pb::CreateMessageRequest) -> Result<(MessageId, NewMessage), Status> {
    let id = if r.message_id.is_empty() {
        MessageId::random()
    } else {
        MessageId::parse_new("message_id", &r.message_id).map_err(status)?
    };
    let callback_time = match &r.preferred_callback_time {
        Some(t) => callback_time(t)?,
        None => None,
    };
    Ok((
        id,
        NewMessage {
            recipient_id: r.recipient_id,
            caller: Caller {
                name: r.caller_name,
                position: r.caller_position,
                company: r.company,
            },
            substance: r.substance,
            callback_number: r.callback_number,
            callback_time,
            deputy_id: r.deputy_id,
        },
    ))
}

fn state(field: &str, value: i32) -> Result<Option<MessageState>, Status> {
    match pb::MessageState::try_from(value) {
        Ok(pb::MessageState::Unspecified) => Ok(None),
        Ok(pb::MessageState::New) => Ok(Some(MessageState::New)),
        Ok(pb::MessageState::Read) => Ok(Some(MessageState::Read)),
        Ok(pb::MessageState::Done) => Ok(Some(MessageState::Done)),
        Err(_) => Err(invalid(field, format!("{value} is not a message state"))),
    }
}

/// An update request: which message, at which etag, and the edit.
pub(crate) fn update(r: pb::UpdateMessageRequest) -> Result<(MessageId, Etag, Edit), Status> {
    let id = id(&r.message_id)?;
    let etag = etag(&r.etag)?;
    let callback_time = match &r.preferred_callback_time {
        Some(t) => Some(callback_time(t)?),
        None => None,
    };
    if r.recipient_id.as_deref() == Some("") {
        return Err(invalid("recipient_id", "cannot be cleared"));
    }
    let edit = Edit {
        state: state("state", r.state)?,
        recipient_id: r.recipient_id,
        caller_name: r.caller_name,
        caller_position: r.caller_position,
        company: r.company,
        substance: r.substance,
        callback_number: r.callback_number,
        callback_time,
        deputy_id: r.deputy_id,
    };
    Ok((id, etag, edit))
}

/// A list request as a query.
pub(crate) fn list(r: &pb::ListMessagesRequest) -> Result<Query, Status> {
    let mut states = BTreeSet::new();
    for (i, s) in r.states.iter().enumerate() {
        match state(&format!("states[{i}]"), *s)? {
            Some(s) => states.insert(s),
            None => return Err(invalid(&format!("states[{i}]"), "UNSPECIFIED is no state")),
        };
    }
    let size = match r.page_size {
        0 => DEFAULT_PAGE,
        n if n as usize > MAX_PAGE => {
            return Err(invalid("page_size", format!("{n} is more than {MAX_PAGE}")));
        }
        n => n as usize,
    };
    let after = match r.page_token.as_str() {
        "" => None,
        token => Some(
            page_cursor(token)
                .ok_or_else(|| invalid("page_token", "not a next_page_token of ListMessages"))?,
        ),
    };
    Ok(Query {
        recipient_id: (!r.recipient_id.is_empty()).then(|| r.recipient_id.clone()),
        states,
        size,
        after,
    })
}

fn page_cursor(token: &str) -> Option<Cursor> {
    let (created, id) = token.strip_prefix(PAGE_TOKEN)?.split_once('/')?;
    Some(Cursor {
        created: Timestamp::from_unix_ms(created.parse().ok()?),
        id: MessageId::parse("page_token", id).ok()?,
    })
}

/// The token of the page after `last`.
pub(crate) fn page_token(last: &Cursor) -> String {
    format!("{PAGE_TOKEN}{}/{}", last.created.unix_ms(), last.id)
}

/// A watch request: from which revision, and whose messages.
pub(crate) fn watch(r: &pb::WatchMessagesRequest) -> Result<(i64, Option<String>), Status> {
    let from = i64::try_from(r.from_revision).map_err(|_| {
        invalid(
            "from_revision",
            format!("{} is beyond any revision", r.from_revision),
        )
    })?;
    Ok((
        from,
        (!r.recipient_id.is_empty()).then(|| r.recipient_id.clone()),
    ))
}

impl VoiceLeft {
    /// The voice message a sip-edge `MessageLeft` event reports; `unix_ms` is the event's
    /// time (0: unknown).
    pub fn from_event(e: &events::MessageLeft, unix_ms: u64) -> VoiceLeft {
        VoiceLeft {
            call_id: e.call_id.clone(),
            recipient_id: e.recipient_id.clone(),
            caller_number: e.caller_number.clone(),
            recording_path: e.recording_path.clone(),
            seconds: e.seconds,
            edge_node: e.edge_node.clone(),
            at: i64::try_from(unix_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(Timestamp::from_unix_ms),
        }
    }
}

fn kind(r: Option<&Recipient>) -> pb::RecipientKind {
    match r {
        Some(Recipient::Employee(_)) => pb::RecipientKind::Employee,
        Some(Recipient::Department(_)) => pb::RecipientKind::Department,
        Some(Recipient::Unlisted(_)) | None => pb::RecipientKind::Unspecified,
    }
}

/// A message as shown.
pub(crate) fn message(m: &Message, etag: Etag) -> pb::Message {
    let preferred_callback_time = m.callback_time.as_ref().map(|t| pb::PreferredCallbackTime {
        time: Some(match t {
            CallbackTime::Said { text } => pb::preferred_callback_time::Time::Text(text.clone()),
            CallbackTime::Window { earliest, latest } => {
                pb::preferred_callback_time::Time::Window(pb::CallbackWindow {
                    earliest_unix_ms: ms(*earliest),
                    latest_unix_ms: ms(*latest),
                })
            }
        }),
    });
    let mut out = pb::Message {
        message_id: m.id.to_string(),
        recipient_id: m.recipient_id().to_owned(),
        recipient_kind: kind(Some(&m.recipient)).into(),
        caller_name: m.caller.name.clone(),
        caller_position: m.caller.position.clone(),
        company: m.caller.company.clone(),
        substance: m.substance.clone(),
        callback_number: m
            .callback_number
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        preferred_callback_time,
        deputy_id: m
            .deputy
            .as_ref()
            .map(|d| d.id().to_owned())
            .unwrap_or_default(),
        deputy_kind: kind(m.deputy.as_ref()).into(),
        state: match m.state {
            MessageState::New => pb::MessageState::New,
            MessageState::Read => pb::MessageState::Read,
            MessageState::Done => pb::MessageState::Done,
        }
        .into(),
        source: pb::Source::Api.into(),
        created_unix_ms: ms(m.created),
        updated_unix_ms: ms(m.updated),
        etag: etag.to_string(),
        ..Default::default()
    };
    match &m.origin {
        Origin::Voice(v) => {
            out.source = pb::Source::Voice.into();
            out.call_id = v.call_id.clone();
            out.caller_number = v.caller_number.clone();
            out.recording = Some(pb::Recording {
                path: v.recording_path.clone(),
                seconds: v.recording_ms as f64 / 1000.0,
            });
            out.edge_node = v.edge_node.clone();
        }
        Origin::CallbackRequest(c) => {
            out.source = pb::Source::CallbackRequest.into();
            out.call_id = c.call_id.clone();
            out.caller_number = c.number.clone();
        }
        Origin::Api => {}
    }
    out
}

/// A stored change as an event, when `recipient` (if given) wants it.
pub(crate) fn event(change: Change, recipient: Option<&str>) -> Option<pb::MessageEvent> {
    let wanted = |m: &Message| recipient.is_none_or(|r| m.recipient_id() == r);
    let revision = change.revision;
    let etag = Etag(revision);
    let change = match change.kind {
        ChangeKind::Created(m) if wanted(&m) => {
            pb::message_event::Change::Created(message(&m, etag))
        }
        ChangeKind::Updated(m) if wanted(&m) => {
            pb::message_event::Change::Updated(message(&m, etag))
        }
        ChangeKind::Deleted(id) => pb::message_event::Change::DeletedMessageId(id.to_string()),
        ChangeKind::Created(_) | ChangeKind::Updated(_) => return None,
    };
    Some(pb::MessageEvent {
        revision: u64::try_from(revision).unwrap_or(0),
        change: Some(change),
    })
}
