//! SDP (RFC 4566) for a call center's audio: the session description model, its parser and
//! printer, and RFC 3264 offer/answer for one audio stream.
//!
//! The model keeps every line it does not interpret (unknown attributes verbatim, `i=`,
//! `u=`, `k=` ...), so an SDP can be parsed, inspected and printed back unchanged.

mod negotiate;
mod parse;
mod print;

use std::net::IpAddr;

use thiserror::Error;

pub use negotiate::{
    Answer, LocalMedia, NegotiatedAudio, TELEPHONE_EVENT_FMTP, TELEPHONE_EVENT_PT, answer, offer,
    read_answer,
};

/// Why an SDP could not be parsed or negotiated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    #[error("SDP is not valid UTF-8")]
    NotUtf8,
    /// `number` is 1-based; `line` is the offending line (truncated).
    #[error("SDP line {number} {line:?}: {reason}")]
    Line {
        number: usize,
        line: String,
        reason: &'static str,
    },
    #[error("SDP has no {0}= line")]
    Missing(char),
    #[error("no audio stream in the SDP")]
    NoAudio,
    #[error("no audio codec in common")]
    NoCommonCodec,
    #[error("no local codec configured")]
    NoLocalCodec,
    #[error("unsupported media transport {0:?}")]
    UnsupportedTransport(String),
    #[error("media stream {0} has no c= line")]
    NoConnection(usize),
    #[error("connection address {0:?} is not an IP address")]
    UnresolvedAddress(String),
    #[error("answer does not match the offer: {0}")]
    AnswerMismatch(&'static str),
    #[error("the answer rejected our audio stream")]
    AudioRejected,
}

/// A parsed session description (RFC 4566 5), fields in the order they are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    pub session_name: String,
    pub info: Option<String>,
    pub uri: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub connection: Option<Connection>,
    pub bandwidths: Vec<Bandwidth>,
    pub times: Vec<Timing>,
    pub zone: Option<String>,
    pub key: Option<String>,
    pub attributes: Vec<Attribute>,
    pub media: Vec<Media>,
}

/// `o=<username> <sess-id> <sess-version> IN <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    /// Digits, kept as text: it is only compared, and some stacks exceed 64 bits.
    pub session_id: String,
    /// Must grow with every changed SDP in a dialog (RFC 3264 8).
    pub session_version: u64,
    pub address_type: AddressType,
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    Ip4,
    Ip6,
}

impl AddressType {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Ip4 => "IP4",
            AddressType::Ip6 => "IP6",
        }
    }

    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() {
            AddressType::Ip4
        } else {
            AddressType::Ip6
        }
    }
}

/// `c=IN <addrtype> <address>`; `address` is kept as written (it may be a host name or carry
/// a multicast `/ttl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub address_type: AddressType,
    pub address: String,
}

impl Connection {
    pub fn new(ip: IpAddr) -> Self {
        Connection {
            address_type: AddressType::of(ip),
            address: ip.to_string(),
        }
    }

    /// The address as an IP literal, without any multicast suffix.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.split('/').next().and_then(|a| a.parse().ok())
    }

    /// `c=IN IP4 0.0.0.0`: the RFC 2543 way of putting a call on hold (RFC 3264 8.4).
    pub fn is_legacy_hold(&self) -> bool {
        self.ip() == Some(IpAddr::from([0, 0, 0, 0]))
    }
}

/// `b=<type>:<kbps>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    pub kind: String,
    pub value: u64,
}

/// `t=<start> <stop>` and the `r=` lines that follow it (kept verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub start: u64,
    pub stop: u64,
    pub repeats: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    Text,
    Application,
    Message,
    Image,
    Other(String),
}

impl MediaKind {
    pub fn parse(s: &str) -> MediaKind {
        match s {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "text" => MediaKind::Text,
            "application" => MediaKind::Application,
            "message" => MediaKind::Message,
            "image" => MediaKind::Image,
            other => MediaKind::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Text => "text",
            MediaKind::Application => "application",
            MediaKind::Message => "message",
            MediaKind::Image => "image",
            MediaKind::Other(s) => s,
        }
    }
}

/// A media section: `m=<kind> <port>[/<count>] <proto> <fmt>...` and its own lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    /// 0 means the stream is rejected or disabled (RFC 3264 6).
    pub port: u16,
    pub port_count: Option<u16>,
    pub protocol: String,
    /// Payload type numbers for RTP, opaque tokens otherwise.
    pub formats: Vec<String>,
    pub info: Option<String>,
    pub connections: Vec<Connection>,
    pub bandwidths: Vec<Bandwidth>,
    pub key: Option<String>,
    pub attributes: Vec<Attribute>,
}

/// The attributes audio negotiation reads are typed; every other one is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    Rtpmap(Rtpmap),
    /// `a=fmtp:<pt> <params>`; an fmtp for a non-numeric format is kept as `Other`.
    Fmtp {
        payload_type: u8,
        params: String,
    },
    Ptime(u32),
    MaxPtime(u32),
    Direction(Direction),
    Other {
        name: String,
        value: Option<String>,
    },
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

/// Media direction (RFC 3264 5.1), always from the point of view of the SDP's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    pub fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end.
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both allow.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

/// The audio codecs this stack negotiates. All use an 8000 Hz RTP clock (G.722 too, by the
/// RFC 3551 quirk) and have static payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
    G722,
}

impl Codec {
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::G722 => 9,
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
        }
    }

    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// The codec of a static payload type used without an rtpmap (RFC 3551 6).
    pub fn from_static(pt: u8) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma, Codec::G722]
            .into_iter()
            .find(|c| c.static_payload_type() == pt)
    }

    pub fn from_rtpmap(map: &Rtpmap) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma, Codec::G722]
            .into_iter()
            .find(|c| {
                map.encoding.eq_ignore_ascii_case(c.encoding_name())
                    && map.clock_rate == c.clock_rate()
                    && map.channels.is_none_or(|n| n == 1)
            })
    }

    fn rtpmap(self, payload_type: u8) -> Rtpmap {
        Rtpmap {
            payload_type,
            encoding: self.encoding_name().to_owned(),
            clock_rate: self.clock_rate(),
            channels: None,
        }
    }
}

impl SessionDescription {
    /// A media section's direction: its own attribute, else the session's, else sendrecv.
    pub fn direction_of(&self, media: &Media) -> Direction {
        media
            .direction()
            .or_else(|| direction_in(&self.attributes))
            .unwrap_or_default()
    }

    /// A media section's connection: its own c= line, else the session's.
    pub fn connection_of<'a>(&'a self, media: &'a Media) -> Option<&'a Connection> {
        media.connections.first().or(self.connection.as_ref())
    }
}

impl Media {
    pub fn rtpmap(&self, payload_type: u8) -> Option<&Rtpmap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtpmap(m) if m.payload_type == payload_type => Some(m),
            _ => None,
        })
    }

    pub fn fmtp(&self, payload_type: u8) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp {
                payload_type: pt,
                params,
            } if *pt == payload_type => Some(params.as_str()),
            _ => None,
        })
    }

    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    /// The media-level direction attribute only; see `SessionDescription::direction_of`.
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// The value of the first attribute kept verbatim under `name`.
    pub fn other_attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Other { name: n, value } if n == name => Some(value.as_deref()),
            _ => None,
        })
    }

    /// Payload types in offer order (formats that are not numbers are skipped).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    /// The codec behind a payload type: its rtpmap if present, else the static table.
    pub fn codec(&self, payload_type: u8) -> Option<Codec> {
        match self.rtpmap(payload_type) {
            Some(map) => Codec::from_rtpmap(map),
            None => Codec::from_static(payload_type),
        }
    }

    /// Whether this is plain RTP (the only transport the media layer speaks).
    pub fn is_rtp_avp(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("RTP/AVP")
    }
}

fn direction_in(attributes: &[Attribute]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_algebra() {
        use Direction::*;
        assert_eq!(SendOnly.reversed(), RecvOnly);
        assert_eq!(RecvOnly.reversed(), SendOnly);
        assert_eq!(SendRecv.reversed(), SendRecv);
        assert_eq!(Inactive.reversed(), Inactive);
        assert_eq!(SendRecv.intersect(SendOnly), SendOnly);
        assert_eq!(SendOnly.intersect(RecvOnly), Inactive);
        for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
    }

    #[test]
    fn codecs_by_static_type_and_rtpmap() {
        assert_eq!(Codec::from_static(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_static(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_static(18), None);
        let map = |enc: &str, rate, ch| Rtpmap {
            payload_type: 96,
            encoding: enc.into(),
            clock_rate: rate,
            channels: ch,
        };
        assert_eq!(
            Codec::from_rtpmap(&map("pcma", 8000, None)),
            Some(Codec::Pcma)
        );
        assert_eq!(
            Codec::from_rtpmap(&map("PCMA", 8000, Some(1))),
            Some(Codec::Pcma)
        );
        assert_eq!(Codec::from_rtpmap(&map("PCMA", 8000, Some(2))), None);
        assert_eq!(Codec::from_rtpmap(&map("PCMU", 16000, None)), None);
    }
}
