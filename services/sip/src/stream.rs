//! Framing SIP messages on a byte stream (TCP) by Content-Length (RFC 3261 18.3), with
//! RFC 5626 CRLF keep-alives.

use crate::error::ParseError;
use crate::parse::header_end;

/// What the framer found at the front of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The bytes of exactly one message, ready for [`crate::parse_message`].
    Message(Vec<u8>),
    /// A double CRLF keep-alive ping; answer with a single CRLF.
    Ping,
}

/// Accumulates stream bytes and cuts them into messages.
///
/// A frame larger than `max_message` is an error after which the connection must be
/// closed: the stream can no longer be trusted to be in sync.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max_message: usize,
    /// How much of `buf` has been searched for the end of the headers without finding it.
    scanned: usize,
}

impl StreamFramer {
    pub fn new(max_message: usize) -> Self {
        StreamFramer {
            buf: Vec::new(),
            max_message,
            scanned: 0,
        }
    }

    pub fn handle_bytes(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame; `Ok(None)` when more bytes are needed.
    pub fn poll_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        // Skip stray CR/LF before a message, one byte at a time as if it came byte by byte,
        // so that how the stream was cut into reads never changes what is found: stop at
        // a ping, or at what may be the start of one still arriving.
        const PING: &[u8] = b"\r\n\r\n";
        let mut skip = 0;
        while matches!(self.buf.get(skip), Some(b'\r' | b'\n')) {
            let rest = &self.buf[skip..];
            if rest.starts_with(PING) || PING.starts_with(rest) {
                break;
            }
            skip += 1;
        }
        if skip > 0 {
            self.consume(skip);
        }
        if self.buf.starts_with(PING) {
            self.consume(PING.len());
            return Ok(Some(Frame::Ping));
        }
        if !self.buf.is_empty() && PING.starts_with(&self.buf) {
            return Ok(None);
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        // Resume where the last search stopped (less the 2 bytes an empty line may have
        // started with), so a header block arriving in small reads is scanned once.
        let from = self.scanned.saturating_sub(2);
        let Some(end) = header_end(&self.buf[from..]).map(|e| e + from) else {
            self.scanned = self.buf.len();
            if self.buf.len() > self.max_message {
                return Err(ParseError::TooLarge {
                    size: self.buf.len(),
                    limit: self.max_message,
                });
            }
            return Ok(None);
        };
        let body_len = content_length(&self.buf[..end])?;
        let total = end.saturating_add(body_len);
        if total > self.max_message {
            return Err(ParseError::TooLarge {
                size: total,
                limit: self.max_message,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf[..total].to_vec();
        self.consume(total);
        Ok(Some(Frame::Message(frame)))
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.scanned = 0;
    }
}

/// Reads Content-Length (or `l`) from a raw header block; a stream message without one
/// has no body.
fn content_length(head: &[u8]) -> Result<usize, ParseError> {
    let head = String::from_utf8_lossy(head);
    for line in head.split('\n') {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let v = value.trim();
            return crate::scan::digits::<u32>(v)
                .map(|n| n as usize)
                .ok_or_else(|| {
                    ParseError::header(
                        "Content-Length",
                        format!("{:?} is not a length", crate::error::truncate(v, 20)),
                    )
                });
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:cc.local SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn a_ping_split_across_reads_is_still_a_ping() {
        let mut f = StreamFramer::new(4096);
        f.handle_bytes(b"\r\n");
        assert_eq!(f.poll_frame().unwrap(), None);
        f.handle_bytes(b"\r\n");
        assert_eq!(f.poll_frame().unwrap(), Some(Frame::Ping));
        f.handle_bytes(b"\r\n\r");
        assert_eq!(f.poll_frame().unwrap(), None);
        f.handle_bytes(b"\n");
        assert_eq!(f.poll_frame().unwrap(), Some(Frame::Ping));
        // Stray CRLFs before a message are still skipped.
        f.handle_bytes(b"\r\n");
        f.handle_bytes(OPTIONS);
        assert_eq!(
            f.poll_frame().unwrap(),
            Some(Frame::Message(OPTIONS.to_vec()))
        );
    }

    #[test]
    fn a_header_block_arriving_in_small_reads_is_scanned_once() {
        let mut f = StreamFramer::new(64 * 1024);
        f.handle_bytes(b"OPTIONS sip:a SIP/2.0\r\nX: ");
        for _ in 0..1000 {
            f.handle_bytes(b"a");
            assert_eq!(f.poll_frame().unwrap(), None);
            // The next search starts where this one stopped.
            assert_eq!(f.scanned, f.buffered());
        }
        // The empty line straddles two reads.
        f.handle_bytes(b"\r\n\r");
        assert_eq!(f.poll_frame().unwrap(), None);
        f.handle_bytes(b"\n");
        assert!(matches!(f.poll_frame(), Ok(Some(Frame::Message(_)))));
        assert_eq!((f.buffered(), f.scanned), (0, 0));
    }

    #[test]
    fn frames_split_and_coalesced_messages() {
        let mut f = StreamFramer::new(4096);
        let mut two = OPTIONS.to_vec();
        two.extend_from_slice(b"\r\n\r\n");
        two.extend_from_slice(OPTIONS);
        // feed byte by byte: every prefix must be "need more"
        for b in &two[..OPTIONS.len() - 1] {
            f.handle_bytes(&[*b]);
            assert_eq!(f.poll_frame().unwrap(), None);
        }
        f.handle_bytes(&two[OPTIONS.len() - 1..]);
        assert_eq!(
            f.poll_frame().unwrap(),
            Some(Frame::Message(OPTIONS.to_vec()))
        );
        assert_eq!(f.poll_frame().unwrap(), Some(Frame::Ping));
        assert_eq!(
            f.poll_frame().unwrap(),
            Some(Frame::Message(OPTIONS.to_vec()))
        );
        assert_eq!(f.poll_frame().unwrap(), None);
    }

    #[test]
    fn oversize_and_bad_length_are_errors() {
        let mut f = StreamFramer::new(64);
        f.handle_bytes(&[b'A'; 65]);
        assert!(matches!(f.poll_frame(), Err(ParseError::TooLarge { .. })));
        let mut f = StreamFramer::new(4096);
        f.handle_bytes(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n");
        assert!(matches!(f.poll_frame(), Err(ParseError::TooLarge { .. })));
        let mut f = StreamFramer::new(4096);
        f.handle_bytes(b"OPTIONS sip:x SIP/2.0\r\nl: -5\r\n\r\n");
        assert!(matches!(f.poll_frame(), Err(ParseError::Header { .. })));
    }
}
