//! The media service: RTP endpoints on UDP ports of `[media] rtp_ports`, carried by a few
//! socket loops (OS threads, about one per core). Each loop owns its endpoints outright, so
//! a relayed packet never crosses threads and never takes a lock; control commands reach
//! a loop through a channel and an eventfd wake-up, events leave through a broadcast
//! channel that the gRPC `WatchEvents` stream (and in-process callers) subscribe to.
//!
//! The protocol logic (RTP, G.711, DTMF, prompts, digit collection) is `cc-media-core`;
//! this crate is sockets, threads, files and the control API.

mod api;
mod endpoint;
mod engine;
mod ports;
mod prompts;
mod recorder;
mod recordings;
mod shard;
mod webrtc;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use api::MediaControlService;
pub use engine::{
    CollectRequest, Created, CreatedWebRtc, Load, MediaEngine, PlayRequest, RemoteApplied,
};
pub use prompts::PromptStore;

use cc_sip::sdp::{Codec, Direction};

/// An endpoint's id: unique on this node for its lifetime, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u64);

impl std::fmt::Display for EndpointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ep-{}", self.0)
    }
}

impl std::str::FromStr for EndpointId {
    type Err = MediaError;

    fn from_str(s: &str) -> Result<Self, MediaError> {
        s.strip_prefix("ep-")
            .and_then(|n| n.parse().ok())
            .map(EndpointId)
            .ok_or_else(|| MediaError::InvalidArgument(format!("{s:?} is not an endpoint id")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("endpoint {0} does not exist")]
    NotFound(EndpointId),
    #[error("no free RTP port in [media] rtp_ports")]
    NoPorts,
    #[error("this node holds its maximum of {0} endpoints ([media] max_endpoints)")]
    Capacity(usize),
    #[error("SDP: {0}")]
    Sdp(#[from] cc_sip::sdp::SdpError),
    #[error("unknown prompt {0:?}")]
    UnknownPrompt(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    State(String),
    #[error("prompts: {0}")]
    Prompts(String),
    #[error("recording: {0}")]
    Recording(String),
    /// A `recording:` entry of a Play request whose file is missing or unreadable; the
    /// message names the entry and the reason.
    #[error("{0}")]
    RecordingNotFound(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the media engine is shutting down")]
    ShuttingDown,
}

/// What the offer/answer exchange settled on for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event: Option<u8>,
    pub remote: SocketAddr,
    pub direction: Direction,
}

/// Where a digit was heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    Rfc4733,
    InBand,
}

/// Why a digit collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectEnd {
    MaxDigits,
    Terminator,
    Timeout,
    Cancelled,
}

/// Everything that happens on an endpoint, in order per endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    Digit {
        endpoint: EndpointId,
        digit: char,
        duration_ms: u32,
        source: DigitSource,
    },
    PlayDone {
        endpoint: EndpointId,
        playback: u64,
        stopped: bool,
    },
    CollectDone {
        endpoint: EndpointId,
        collection: u64,
        digits: String,
        end: CollectEnd,
    },
    RtpTimeout {
        endpoint: EndpointId,
        silent_seconds: u32,
    },
    RecordingDone {
        endpoint: EndpointId,
        path: PathBuf,
        seconds: f64,
    },
    /// A WebRTC leg's connection (ICE and DTLS) came up or went down.
    Ice {
        endpoint: EndpointId,
        connected: bool,
    },
}

impl MediaEvent {
    pub fn endpoint(&self) -> EndpointId {
        match self {
            MediaEvent::Digit { endpoint, .. }
            | MediaEvent::PlayDone { endpoint, .. }
            | MediaEvent::CollectDone { endpoint, .. }
            | MediaEvent::RtpTimeout { endpoint, .. }
            | MediaEvent::RecordingDone { endpoint, .. }
            | MediaEvent::Ice { endpoint, .. } => *endpoint,
        }
    }
}
