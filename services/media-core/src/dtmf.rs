//! RFC 4733 telephone-events for DTMF: the 4-byte payload, a receiver that turns the
//! redundant packet stream of a sender into one report per key press, and a sender that
//! paces the packets of one key press.
//!
//! Senders repeat themselves on purpose (updates while a key is held, the end packet three
//! times) because RTP is lossy; the receiver's job is to undo that redundancy without
//! losing a press when the end packets are the ones that got lost.

use std::fmt;

use thiserror::Error;

mod receiver;
mod sender;

pub use receiver::{DigitEnd, DtmfReceiver, DtmfReceiverConfig, ReceivedDigit};
pub use sender::{DEFAULT_VOLUME, DtmfPacket, DtmfSender};

/// One DTMF key. The event codes 0-15 of RFC 4733 section 3.2 map to these in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Digit {
    D0,
    D1,
    D2,
    D3,
    D4,
    D5,
    D6,
    D7,
    D8,
    D9,
    Star,
    Hash,
    A,
    B,
    C,
    D,
}

impl Digit {
    /// All sixteen keys in event-code order.
    pub const ALL: [Digit; 16] = [
        Digit::D0,
        Digit::D1,
        Digit::D2,
        Digit::D3,
        Digit::D4,
        Digit::D5,
        Digit::D6,
        Digit::D7,
        Digit::D8,
        Digit::D9,
        Digit::Star,
        Digit::Hash,
        Digit::A,
        Digit::B,
        Digit::C,
        Digit::D,
    ];

    /// The key for an RFC 4733 event code; `None` for the non-DTMF events (flash, tones...).
    pub fn from_event(code: u8) -> Option<Digit> {
        Digit::ALL.get(usize::from(code)).copied()
    }

    /// The RFC 4733 event code of this key.
    pub fn event_code(self) -> u8 {
        self as u8
    }

    /// Parses the usual printed form; `a`-`d` are accepted in lower case too because
    /// configuration files are written by people.
    pub fn from_char(c: char) -> Option<Digit> {
        let code = match c {
            '0'..='9' => c as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => c as u8 - b'A' + 12,
            'a'..='d' => c as u8 - b'a' + 12,
            _ => return None,
        };
        Digit::from_event(code)
    }

    /// The printed form: `0`-`9`, `*`, `#`, `A`-`D`.
    pub fn as_char(self) -> char {
        const CHARS: [char; 16] = [
            '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
        ];
        CHARS[usize::from(self.event_code() & 0x0F)]
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Why a telephone-event payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DtmfError {
    #[error("telephone-event payload of {0} bytes, at least 4 are needed")]
    TooShort(usize),
    #[error("telephone-event code {0} is not a DTMF key (only 0-15 are supported)")]
    UnsupportedEvent(u8),
}

/// Size of a telephone-event payload.
pub const EVENT_PAYLOAD_LEN: usize = 4;

/// The payload of one RFC 4733 packet (section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub digit: Digit,
    /// The E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level as 0..=63 meaning 0 to -63 dBm0; higher bits are dropped when written.
    pub volume: u8,
    /// Duration so far, in timestamp units (samples at 8 kHz) from the event's timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses a payload. Bytes after the first four are ignored: RFC 4733 payloads are four
    /// bytes and a longer one is padding we do not need.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        let [code, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::TooShort(payload.len()));
        };
        let digit = Digit::from_event(code).ok_or(DtmfError::UnsupportedEvent(code))?;
        Ok(TelephoneEvent {
            digit,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Writes the payload; the reserved bit is zero.
    pub fn to_bytes(&self) -> [u8; EVENT_PAYLOAD_LEN] {
        let flags = (u8::from(self.end) << 7) | (self.volume & 0x3F);
        let [d0, d1] = self.duration.to_be_bytes();
        [self.digit.event_code(), flags, d0, d1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_codes_and_chars_round_trip() {
        for (code, d) in Digit::ALL.iter().enumerate() {
            assert_eq!(d.event_code() as usize, code);
            assert_eq!(Digit::from_event(code as u8), Some(*d));
            assert_eq!(Digit::from_char(d.as_char()), Some(*d));
        }
        assert_eq!(Digit::from_char('b'), Some(Digit::B));
        assert_eq!(Digit::from_char('x'), None);
        assert_eq!(Digit::from_event(16), None);
        let s: String = Digit::ALL.iter().map(|d| d.to_string()).collect();
        assert_eq!(s, "0123456789*#ABCD");
    }

    #[test]
    fn payload_parse_and_build() {
        // Event 5, end bit, reserved bit set (ignored), volume 10, duration 800.
        let bytes = [5, 0x80 | 0x40 | 10, 0x03, 0x20];
        let ev = TelephoneEvent::parse(&bytes).unwrap();
        assert_eq!(
            ev,
            TelephoneEvent {
                digit: Digit::D5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.to_bytes(), [5, 0x80 | 10, 0x03, 0x20]);
        let loud = TelephoneEvent { volume: 0xFF, ..ev };
        assert_eq!(loud.to_bytes()[1], 0x80 | 0x3F);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort(3))
        );
        assert_eq!(
            TelephoneEvent::parse(&[16, 0, 0, 0]),
            Err(DtmfError::UnsupportedEvent(16))
        );
        assert!(TelephoneEvent::parse(&[11, 0, 0, 0, 0xAA]).is_ok());
    }
}
