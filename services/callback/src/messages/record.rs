//! A message as kept, and the rules a new one or an edit must follow. Nothing here reads a
//! clock or the store: the configuration and `now` come in.

use std::fmt;

use cc_common::Config;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{MessageError, phone};
use crate::core::{DepartmentId, EmployeeId, PhoneNumber, Timestamp};

/// Longest caller name, position and company, in characters.
pub const MAX_NAME: usize = 200;
/// Longest substance, in characters.
pub const MAX_SUBSTANCE: usize = 4000;
/// Longest preferred callback time in words, in characters.
pub const MAX_WHEN: usize = 200;
/// Longest id a voice message keeps of what the call presented (call id, caller number,
/// recording path, node), in characters: these come from another service, so they are cut,
/// not refused.
const MAX_VOICE_FIELD: usize = 1024;

/// A message's id: the last segment of its key `/cc/messages/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// Longest id, in bytes.
    pub const MAX_LEN: usize = 128;
    /// How a voice message's id starts (then its call's id): reserved for them, so that a
    /// repeated `MessageLeft` finds the message it made.
    pub const VOICE_PREFIX: &'static str = "call-";

    /// An id from a request: 1 to 128 letters, digits, '-', '_', '.' or ':', starting with a
    /// letter or digit.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, MessageError> {
        if raw.is_empty() {
            return Err(MessageError::invalid(field, "required"));
        }
        if !plain(raw) {
            let shown: String = raw.chars().take(40).collect();
            return Err(MessageError::invalid(
                field,
                format!(
                    "{shown:?} must be 1 to {} letters, digits, '-', '_', '.' or ':', starting with a letter or digit",
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// An id a client chose for a new message: as [`MessageId::parse`], and not one of the
    /// voice messages' ids.
    pub fn parse_new(field: &'static str, raw: &str) -> Result<Self, MessageError> {
        let id = Self::parse(field, raw)?;
        if id.0.starts_with(Self::VOICE_PREFIX) {
            return Err(MessageError::invalid(
                field,
                format!(
                    "ids starting with {:?} are the voice messages'",
                    Self::VOICE_PREFIX
                ),
            ));
        }
        Ok(id)
    }

    /// A fresh id: a random UUID (version 4).
    pub fn random() -> Self {
        Self(crate::convert::new_id())
    }

    /// The id of the voice message left on call `call_id`: the same for the same call,
    /// whichever node asks. A call id that could not be part of a key is hashed.
    pub fn for_call(call_id: &str) -> Self {
        let id = format!("{}{call_id}", Self::VOICE_PREFIX);
        if plain(&id) {
            return Self(id);
        }
        let digest = Sha256::digest(call_id.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("{}h{hex}", Self::VOICE_PREFIX))
    }

    /// The id a stored key ends with, as it is (to name what cannot be read).
    pub(crate) fn from_key(id: &str) -> Self {
        Self(id.to_owned())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn plain(id: &str) -> bool {
    id.len() <= MessageId::MAX_LEN
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a message is for, or who could take it instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Recipient {
    Employee(EmployeeId),
    Department(DepartmentId),
    /// An id the configuration did not have when a caller left a voice message for it
    /// (deleted since routing sent the caller there): the message is kept all the same.
    Unlisted(String),
}

impl Recipient {
    /// The employee or department id.
    pub fn id(&self) -> &str {
        match self {
            Recipient::Employee(e) => e.as_str(),
            Recipient::Department(d) => d.as_str(),
            Recipient::Unlisted(id) => id,
        }
    }

    /// What `id` names in `config`: an employee first, then a department.
    pub fn lookup(config: &Config, id: &str) -> Option<Recipient> {
        if config.employees.iter().any(|e| e.id.as_str() == id) {
            return Some(Recipient::Employee(EmployeeId::new(id)));
        }
        config
            .departments
            .iter()
            .any(|d| d.id == id)
            .then(|| Recipient::Department(DepartmentId::new(id)))
    }

    /// `id` as a recipient `config` knows, refused naming `field`.
    fn known(config: &Config, field: &'static str, id: &str) -> Result<Recipient, MessageError> {
        if id.is_empty() {
            return Err(MessageError::invalid(field, "required"));
        }
        Recipient::lookup(config, id).ok_or_else(|| {
            let shown: String = id.chars().take(60).collect();
            MessageError::invalid(
                field,
                format!("{shown:?} is neither an employee nor a department id"),
            )
        })
    }
}

/// Where a message stands: it only moves forward.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Nobody has read it yet.
    #[default]
    New,
    /// Read; the call back is still to be made.
    Read,
    /// Dealt with.
    Done,
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageState::New => "NEW",
            MessageState::Read => "READ",
            MessageState::Done => "DONE",
        })
    }
}

/// When the caller wants to be called back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallbackTime {
    /// As the caller said it ("after 3 pm").
    Said { text: String },
    /// A window [earliest, latest).
    Window {
        earliest: Timestamp,
        latest: Timestamp,
    },
}

impl CallbackTime {
    fn check(self) -> Result<Self, MessageError> {
        const FIELD: &str = "preferred_callback_time";
        match self {
            CallbackTime::Said { text } => Ok(CallbackTime::Said {
                text: text_field("preferred_callback_time.text", &text, MAX_WHEN)?,
            }),
            CallbackTime::Window { earliest, latest } if latest <= earliest => {
                Err(MessageError::invalid(
                    FIELD,
                    format!(
                        "window.latest_unix_ms {} is not after window.earliest_unix_ms {}",
                        latest.unix_ms(),
                        earliest.unix_ms()
                    ),
                ))
            }
            window => Ok(window),
        }
    }
}

/// Who called, as they said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Full name.
    pub name: String,
    /// Position in their company.
    pub position: String,
    pub company: String,
}

/// How a message was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Through the API (a receptionist, an integrator).
    Api,
    /// Left by the caller on the phone.
    Voice(Voice),
    /// A caller asked to be called back (R-20's virtual hold, or a scenario's offer).
    CallbackRequest(CallbackAsked),
}

/// What a call's request to be called back carried (`cc.events.v1.CallbackRequested`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackAsked {
    pub call_id: String,
    /// The number to call back, as the call presented it.
    pub number: String,
    /// The caller's place in line: when they first queued (virtual hold), else when they
    /// asked.
    pub enqueued_at_unix_ms: u64,
    pub priority: u32,
    /// A waiting caller's virtual hold: they gave up their place on the promise.
    pub keeps_place: bool,
    /// Nobody asked: the call was lost and is called back all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<LostCall>,
}

/// Why a callback nobody asked for is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LostCall {
    /// The caller hung up while waiting in line.
    Abandoned,
    /// The employee the caller rang did not answer.
    Missed,
}

impl LostCall {
    /// From the event's field; `None` when the caller asked.
    pub fn from_event(lost: i32) -> Option<LostCall> {
        use cc_proto::events::v1::LostCall as L;
        match L::try_from(lost) {
            Ok(L::Abandoned) => Some(LostCall::Abandoned),
            Ok(L::Missed) => Some(LostCall::Missed),
            Ok(L::Unspecified) | Err(_) => None,
        }
    }
}

/// What the call of a voice message left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voice {
    /// The call it was left on (what makes its id).
    pub call_id: String,
    /// The caller's number as the call presented it; empty when withheld.
    pub caller_number: String,
    /// The WAV's path as the media node wrote it, in its recordings directory.
    pub recording_path: String,
    /// How long the recording is.
    pub recording_ms: u64,
    /// The sip-edge node that took the call.
    pub edge_node: String,
}

/// A message as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub recipient: Recipient,
    pub caller: Caller,
    /// What it is about.
    pub substance: String,
    pub callback_number: Option<PhoneNumber>,
    pub callback_time: Option<CallbackTime>,
    /// Who could take it instead.
    pub deputy: Option<Recipient>,
    pub state: MessageState,
    pub origin: Origin,
    /// When it was taken (R-40's date and time).
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
}

/// A message as a request gives it, unchecked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMessage {
    pub recipient_id: String,
    pub caller: Caller,
    pub substance: String,
    pub callback_number: String,
    pub callback_time: Option<CallbackTime>,
    pub deputy_id: String,
}

/// A change to a message, unchecked: each field given replaces the message's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edit {
    /// The new state (forward only).
    pub state: Option<MessageState>,
    pub recipient_id: Option<String>,
    pub caller_name: Option<String>,
    pub caller_position: Option<String>,
    pub company: Option<String>,
    pub substance: Option<String>,
    /// An empty one clears the number.
    pub callback_number: Option<String>,
    /// `Some(None)` clears the preference.
    pub callback_time: Option<Option<CallbackTime>>,
    /// An empty one clears the deputy.
    pub deputy_id: Option<String>,
}

/// A voice message as sip-edge reported it (`cc.events.v1.MessageLeft`).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceLeft {
    pub call_id: String,
    /// The employee or department id routing took the message for.
    pub recipient_id: String,
    /// The caller's number; empty when withheld.
    pub caller_number: String,
    pub recording_path: String,
    pub seconds: f64,
    pub edge_node: String,
    /// When the event was raised, if it says.
    pub at: Option<Timestamp>,
}

impl Message {
    /// The message a caller's request to be called back leaves for `recipient_id` (a
    /// department or an employee). Never refused for what the call carried, as a voice
    /// message; only a missing call id is (it makes the message's id).
    pub fn from_callback_request(
        recipient_id: &str,
        asked: CallbackAsked,
        config: &Config,
        at: Timestamp,
    ) -> Result<Message, MessageError> {
        if asked.call_id.is_empty() {
            return Err(MessageError::invalid("call_id", "required"));
        }
        let recipient = Recipient::lookup(config, recipient_id)
            .unwrap_or_else(|| Recipient::Unlisted(cut(recipient_id)));
        let substance = match (asked.lost, asked.keeps_place) {
            (Some(LostCall::Abandoned), _) => "Hung up while waiting in line: call them back.",
            (Some(LostCall::Missed), _) => "Called and nobody answered: call them back.",
            (None, true) => {
                "Asked to be called back instead of waiting, keeping their place in line."
            }
            (None, false) => "Asked to be called back.",
        };
        Ok(Message {
            id: MessageId::for_call(&format!("{}-callback", asked.call_id)),
            recipient,
            caller: Caller::default(),
            substance: substance.to_owned(),
            callback_number: PhoneNumber::parse(&asked.number).ok(),
            callback_time: None,
            deputy: None,
            state: MessageState::New,
            origin: Origin::CallbackRequest(CallbackAsked {
                call_id: cut(&asked.call_id),
                number: cut(&asked.number),
                ..asked
            }),
            created: at,
            updated: at,
        })
    }

    /// A new message taken through the API, checked against `config`.
    pub fn create(
        id: MessageId,
        new: NewMessage,
        config: &Config,
        now: Timestamp,
    ) -> Result<Message, MessageError> {
        let message = Message {
            id,
            recipient: Recipient::known(config, "recipient_id", &new.recipient_id)?,
            caller: Caller {
                name: text_field("caller_name", &new.caller.name, MAX_NAME)?,
                position: text_field("caller_position", &new.caller.position, MAX_NAME)?,
                company: text_field("company", &new.caller.company, MAX_NAME)?,
            },
            substance: text_field("substance", &new.substance, MAX_SUBSTANCE)?,
            callback_number: phone("callback_number", &new.callback_number)?,
            callback_time: new.callback_time.map(CallbackTime::check).transpose()?,
            deputy: deputy(config, &new.deputy_id)?,
            state: MessageState::New,
            origin: Origin::Api,
            created: now,
            updated: now,
        };
        Ok(message)
    }

    /// The message a caller left on the phone. Never refused for what the call carried (a
    /// recipient deleted since, a number that is no phone number): the caller has spoken,
    /// and the message is kept. Only a missing call id is refused (it is what makes the
    /// message's id).
    pub fn from_voice(
        left: VoiceLeft,
        config: &Config,
        now: Timestamp,
    ) -> Result<Message, MessageError> {
        if left.call_id.is_empty() {
            return Err(MessageError::invalid("call_id", "required"));
        }
        let recipient = Recipient::lookup(config, &left.recipient_id)
            .unwrap_or_else(|| Recipient::Unlisted(cut(&left.recipient_id)));
        let seconds = if left.seconds.is_finite() && left.seconds > 0.0 {
            left.seconds
        } else {
            0.0
        };
        let at = left.at.unwrap_or(now);
        Ok(Message {
            id: MessageId::for_call(&left.call_id),
            recipient,
            caller: Caller::default(),
            substance: String::new(),
            callback_number: PhoneNumber::parse(&left.caller_number).ok(),
            callback_time: None,
            deputy: None,
            state: MessageState::New,
            origin: Origin::Voice(Voice {
                call_id: cut(&left.call_id),
                caller_number: cut(&left.caller_number),
                recording_path: cut(&left.recording_path),
                // Saturating: an absurd length shows as the longest one.
                recording_ms: (seconds * 1000.0).round() as u64,
                edge_node: cut(&left.edge_node),
            }),
            created: at,
            updated: at,
        })
    }

    /// This message with `edit` applied, checked as a new one is.
    pub fn apply(
        &self,
        edit: Edit,
        config: &Config,
        now: Timestamp,
    ) -> Result<Message, MessageError> {
        let mut next = self.clone();
        if let Some(to) = edit.state {
            if to < self.state {
                return Err(MessageError::Backwards {
                    from: self.state,
                    to,
                });
            }
            next.state = to;
        }
        if let Some(id) = edit.recipient_id
            && id != self.recipient.id()
        {
            next.recipient = Recipient::known(config, "recipient_id", &id)?;
        }
        if let Some(name) = edit.caller_name {
            next.caller.name = text_field("caller_name", &name, MAX_NAME)?;
        }
        if let Some(position) = edit.caller_position {
            next.caller.position = text_field("caller_position", &position, MAX_NAME)?;
        }
        if let Some(company) = edit.company {
            next.caller.company = text_field("company", &company, MAX_NAME)?;
        }
        if let Some(substance) = edit.substance {
            next.substance = text_field("substance", &substance, MAX_SUBSTANCE)?;
        }
        if let Some(number) = edit.callback_number {
            next.callback_number = phone("callback_number", &number)?;
        }
        if let Some(time) = edit.callback_time {
            next.callback_time = time.map(CallbackTime::check).transpose()?;
        }
        if let Some(id) = edit.deputy_id
            && Some(id.as_str()) != self.deputy.as_ref().map(Recipient::id)
        {
            next.deputy = deputy(config, &id)?;
        }
        if next != *self {
            next.updated = now;
        }
        Ok(next)
    }

    /// The recipient's id (what lists and watches filter by).
    pub fn recipient_id(&self) -> &str {
        self.recipient.id()
    }
}

/// The deputy `id` names (none when empty), refused when `config` does not know it.
fn deputy(config: &Config, id: &str) -> Result<Option<Recipient>, MessageError> {
    if id.is_empty() {
        return Ok(None);
    }
    Recipient::known(config, "deputy_id", id).map(Some)
}

/// A text field: at most `max` characters, no control characters but line breaks and tabs,
/// surrounding white space dropped.
fn text_field(field: &'static str, value: &str, max: usize) -> Result<String, MessageError> {
    let value = value.trim();
    let chars = value.chars().count();
    if chars > max {
        return Err(MessageError::invalid(
            field,
            format!("{chars} characters, at most {max}"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(MessageError::invalid(
            field,
            format!("contains the control character {c:?}"),
        ));
    }
    Ok(value.to_owned())
}

/// What another service reported, cut to a length worth keeping.
fn cut(value: &str) -> String {
    value.chars().take(MAX_VOICE_FIELD).collect()
}

#[cfg(test)]
mod tests;
