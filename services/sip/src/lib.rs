//! Sans-IO SIP (RFC 3261 and friends): message model, parser and serializer, transaction
//! state machines, dialogs, digest authentication and SDP offer/answer.
//!
//! Nothing here touches a socket, spawns a task or reads a clock: bytes and `now` go in,
//! messages to send, events and the next deadline come out. Transports and timers live in
//! `cc-sip-edge`.

pub mod dialog;
pub mod digest;
mod error;
pub mod header;
mod message;
mod method;
mod params;
mod parse;
pub mod refer;
mod scan;
pub mod sdp;
mod stream;
pub mod transaction;
mod uri;

/// Short text fields (URI parts, parameters, tokens) live inline up to 24 bytes, so
/// parsing a typical message allocates for little more than its long values.
pub use compact_str::CompactString as Text;
pub use error::ParseError;
pub use header::{
    Auth, AuthParam, CSeq, Contact, Header, MediaType, NameAddr, Reason, Transport, Via,
};
pub use message::{Headers, Message, Request, Response, reason_phrase};
pub use method::Method;
pub use params::{Param, Params};
pub use parse::{error_response_from_raw, parse_message};
pub use stream::{Frame, StreamFramer};
pub use transaction::{
    RequestOutcome, ResponseOutcome, Timer, TimerConfig, TransactionError, TransactionEvent,
    TransactionTable, Transmit, TxHandle,
};
pub use uri::{Host, OtherUri, Scheme, SipUri, TelUri, Uri};
