//! RTP packets (RFC 3550 section 5.1): parse without copying, build into caller buffers, and
//! rewrite a header in place for the relay fast path.
//!
//! Parsing borrows from the datagram and never allocates, so a relayed packet can be parsed,
//! rewritten with [`rewrite_header`] and sent from the same receive buffer. Building never
//! allocates either when given a `&mut [u8]`; the `Vec` variant only appends (it may grow the
//! vector, which a caller reusing one vector per loop amortises away).

use thiserror::Error;

/// The only RTP version in use (RFC 3550); anything else is not RTP.
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed header, without CSRCs or extension.
pub const RTP_HEADER_LEN: usize = 12;
/// A 4-bit CSRC count limits the list to 15 entries.
pub const MAX_CSRCS: usize = 15;

/// Why a datagram is not a valid RTP packet, or why a packet cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer bytes than the fixed header (or the part named) needs.
    #[error("RTP packet too short: need {needed} bytes, have {len}")]
    TooShort { needed: usize, len: usize },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The CSRC count points past the end of the datagram.
    #[error("RTP CSRC list ({count} entries) runs past the end of the packet")]
    CsrcOverrun { count: u8 },
    /// The header extension's length points past the end of the datagram.
    #[error("RTP header extension of {len} bytes runs past the end of the packet")]
    ExtensionOverrun { len: usize },
    /// The padding bit is set but the padding count is zero (it counts itself, so >= 1).
    #[error("RTP padding bit set but padding count is zero")]
    ZeroPadding,
    /// The padding count is larger than what follows the header.
    #[error("RTP padding of {padding} bytes is longer than the {available} bytes after the header")]
    PaddingOverrun { padding: u8, available: usize },
    /// More than 15 CSRCs were given to the builder.
    #[error("{0} CSRCs given, RTP allows at most 15")]
    TooManyCsrcs(usize),
    /// Extension data must be whole 32-bit words and at most 65535 of them.
    #[error("RTP header extension of {0} bytes is not a whole number of 32-bit words (max 65535)")]
    BadExtensionLength(usize),
    /// The output slice cannot hold the packet.
    #[error("output buffer of {capacity} bytes cannot hold a {needed}-byte RTP packet")]
    BufferTooSmall { needed: usize, capacity: usize },
}

/// The fields of the fixed header a relay or sender cares about. Version is implied (2);
/// padding, CSRCs and extension are properties of a particular packet, see [`RtpPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// Marks a significant event, for audio the first packet of a talkspurt (RFC 3551).
    pub marker: bool,
    /// 7-bit payload type; higher bits are ignored when writing.
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// A header extension (RFC 3550 5.3.1): a profile-defined 16-bit id and whole 32-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    pub profile: u16,
    /// The extension words; its length is a multiple of 4.
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing from the datagram it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub header: RtpHeader,
    /// The raw CSRC list (4 bytes per entry); iterate with [`RtpPacket::csrcs`].
    csrc_bytes: &'a [u8],
    /// The header extension, kept so a caller can forward or inspect it; ignoring it skips it.
    pub extension: Option<RtpExtension<'a>>,
    /// The media payload, padding removed.
    pub payload: &'a [u8],
    /// Padding bytes removed from the end (including the count byte), 0 without padding.
    pub padding: u8,
    /// Offset of the payload in the datagram: fixed header + CSRCs + extension.
    pub header_len: usize,
}

impl<'a> RtpPacket<'a> {
    /// Parses one RTP datagram. Checks every length field against the buffer, so any input
    /// either parses or yields an error; nothing is copied.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::TooShort {
                needed: RTP_HEADER_LEN,
                len: buf.len(),
            });
        }
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0f;
        let header = read_header(buf);

        let mut offset = RTP_HEADER_LEN;
        let csrc_end = offset + 4 * usize::from(csrc_count);
        let csrc_bytes = buf
            .get(offset..csrc_end)
            .ok_or(RtpError::CsrcOverrun { count: csrc_count })?;
        offset = csrc_end;

        let extension = if has_extension {
            let ext_head = buf
                .get(offset..offset + 4)
                .ok_or(RtpError::ExtensionOverrun { len: 4 })?;
            let profile = u16::from_be_bytes([ext_head[0], ext_head[1]]);
            let len = 4 * usize::from(u16::from_be_bytes([ext_head[2], ext_head[3]]));
            let data = buf
                .get(offset + 4..offset + 4 + len)
                .ok_or(RtpError::ExtensionOverrun { len: len + 4 })?;
            offset += 4 + len;
            Some(RtpExtension { profile, data })
        } else {
            None
        };

        let rest = &buf[offset..];
        let padding = if has_padding {
            let Some(&count) = rest.last() else {
                return Err(RtpError::PaddingOverrun {
                    padding: 0,
                    available: 0,
                });
            };
            if count == 0 {
                return Err(RtpError::ZeroPadding);
            }
            if usize::from(count) > rest.len() {
                return Err(RtpError::PaddingOverrun {
                    padding: count,
                    available: rest.len(),
                });
            }
            count
        } else {
            0
        };
        let payload = &rest[..rest.len() - usize::from(padding)];
        Ok(Self {
            header,
            csrc_bytes,
            extension,
            payload,
            padding,
            header_len: offset,
        })
    }

    /// Number of contributing sources listed.
    pub fn csrc_count(&self) -> usize {
        self.csrc_bytes.len() / 4
    }

    /// The contributing sources, in packet order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc_bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// Reads the fixed-header fields; the caller has checked `buf.len() >= 12`.
fn read_header(buf: &[u8]) -> RtpHeader {
    RtpHeader {
        marker: buf[1] & 0x80 != 0,
        payload_type: buf[1] & 0x7f,
        sequence: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
    }
}

/// Writes marker, payload type, sequence, timestamp and SSRC into the fixed header of an
/// existing RTP packet, leaving version, padding, CSRCs, extension and payload untouched.
///
/// This is the relay fast path: the received buffer is rewritten and sent as is, with no
/// copy and no allocation. The buffer must start with a version-2 fixed header.
pub fn rewrite_header(packet: &mut [u8], header: &RtpHeader) -> Result<(), RtpError> {
    let Some(fixed) = packet.get_mut(..RTP_HEADER_LEN) else {
        return Err(RtpError::TooShort {
            needed: RTP_HEADER_LEN,
            len: packet.len(),
        });
    };
    let version = fixed[0] >> 6;
    if version != RTP_VERSION {
        return Err(RtpError::BadVersion(version));
    }
    write_fixed_tail(fixed, header);
    Ok(())
}

/// Writes bytes 1..12 (everything after the V/P/X/CC byte).
fn write_fixed_tail(fixed: &mut [u8], h: &RtpHeader) {
    fixed[1] = (u8::from(h.marker) << 7) | (h.payload_type & 0x7f);
    fixed[2..4].copy_from_slice(&h.sequence.to_be_bytes());
    fixed[4..8].copy_from_slice(&h.timestamp.to_be_bytes());
    fixed[8..12].copy_from_slice(&h.ssrc.to_be_bytes());
}

/// Everything needed to serialise a packet except the payload. Most senders only need
/// [`RtpBuilder::new`]; CSRCs, an extension and padding are there for mixers and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpBuilder<'a> {
    pub header: RtpHeader,
    pub csrcs: &'a [u32],
    pub extension: Option<RtpExtension<'a>>,
    /// Padding bytes to append including the count byte; 0 means no padding.
    pub padding: u8,
}

impl<'a> RtpBuilder<'a> {
    /// A plain packet: fixed header and payload.
    pub fn new(header: RtpHeader) -> Self {
        Self {
            header,
            ..Self::default()
        }
    }

    /// Checks the optional parts and returns the header length (fixed + CSRC + extension).
    fn header_len(&self) -> Result<usize, RtpError> {
        if self.csrcs.len() > MAX_CSRCS {
            return Err(RtpError::TooManyCsrcs(self.csrcs.len()));
        }
        let ext_len = match self.extension {
            Some(ext) if ext.data.len() % 4 != 0 || ext.data.len() / 4 > usize::from(u16::MAX) => {
                return Err(RtpError::BadExtensionLength(ext.data.len()));
            }
            Some(ext) => 4 + ext.data.len(),
            None => 0,
        };
        Ok(RTP_HEADER_LEN + 4 * self.csrcs.len() + ext_len)
    }

    /// Total bytes of the packet with a payload of `payload_len` bytes.
    pub fn packet_len(&self, payload_len: usize) -> Result<usize, RtpError> {
        Ok(self.header_len()? + payload_len + usize::from(self.padding))
    }

    /// Writes the packet at the start of `out` and returns its length.
    pub fn write_to_slice(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let header_len = self.header_len()?;
        let total = header_len + payload.len() + usize::from(self.padding);
        let capacity = out.len();
        let Some(out) = out.get_mut(..total) else {
            return Err(RtpError::BufferTooSmall {
                needed: total,
                capacity,
            });
        };
        // Lengths were validated above, so the narrowing below cannot lose bits.
        let csrc_count = (self.csrcs.len() & 0x0f) as u8;
        out[0] = (RTP_VERSION << 6)
            | (u8::from(self.padding > 0) << 5)
            | (u8::from(self.extension.is_some()) << 4)
            | csrc_count;
        write_fixed_tail(&mut out[..RTP_HEADER_LEN], &self.header);
        let mut offset = RTP_HEADER_LEN;
        for csrc in self.csrcs {
            out[offset..offset + 4].copy_from_slice(&csrc.to_be_bytes());
            offset += 4;
        }
        if let Some(ext) = self.extension {
            let words = u16::try_from(ext.data.len() / 4)
                .map_err(|_| RtpError::BadExtensionLength(ext.data.len()))?;
            out[offset..offset + 2].copy_from_slice(&ext.profile.to_be_bytes());
            out[offset + 2..offset + 4].copy_from_slice(&words.to_be_bytes());
            out[offset + 4..offset + 4 + ext.data.len()].copy_from_slice(ext.data);
            offset += 4 + ext.data.len();
        }
        out[offset..offset + payload.len()].copy_from_slice(payload);
        offset += payload.len();
        if self.padding > 0 {
            let pad = &mut out[offset..];
            pad.fill(0);
            if let Some(last) = pad.last_mut() {
                *last = self.padding;
            }
        }
        Ok(total)
    }

    /// Appends the packet to `out` (existing contents are kept) and returns its length.
    pub fn write_to_vec(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<usize, RtpError> {
        let total = self.packet_len(payload.len())?;
        let start = out.len();
        out.resize(start + total, 0);
        match self.write_to_slice(payload, &mut out[start..]) {
            Ok(n) => Ok(n),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hdr() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xfffe,
            timestamp: 0xdead_beef,
            ssrc: 0x0102_0304,
        }
    }

    #[test]
    fn parses_known_bytes() {
        let bytes = [
            0x80, 0x80, 0x12, 0x34, 0x00, 0x00, 0x01, 0x40, 0xca, 0xfe, 0xba, 0xbe, 1, 2, 3,
        ];
        let p = RtpPacket::parse(&bytes).unwrap();
        assert!(p.header.marker);
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(p.header.sequence, 0x1234);
        assert_eq!(p.header.timestamp, 320);
        assert_eq!(p.header.ssrc, 0xcafe_babe);
        assert_eq!(p.payload, &[1, 2, 3]);
        assert_eq!(p.header_len, 12);
        assert_eq!(p.csrc_count(), 0);
        assert!(p.extension.is_none());
    }

    #[test]
    fn build_then_parse_round_trips_every_part() {
        let ext_data = [9u8, 8, 7, 6, 5, 4, 3, 2];
        let b = RtpBuilder {
            header: hdr(),
            csrcs: &[7, 0xffff_ffff],
            extension: Some(RtpExtension {
                profile: 0xbede,
                data: &ext_data,
            }),
            padding: 3,
        };
        let mut out = vec![0xaa];
        let n = b.write_to_vec(&[1, 2, 3, 4, 5], &mut out).unwrap();
        assert_eq!(n, 12 + 8 + 4 + 8 + 5 + 3);
        assert_eq!(out.len(), 1 + n);
        let p = RtpPacket::parse(&out[1..]).unwrap();
        assert_eq!(p.header, hdr());
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![7, 0xffff_ffff]);
        assert_eq!(
            p.extension,
            Some(RtpExtension {
                profile: 0xbede,
                data: &ext_data
            })
        );
        assert_eq!(p.payload, &[1, 2, 3, 4, 5]);
        assert_eq!(p.padding, 3);
        assert_eq!(p.header_len, 32);
    }

    #[test]
    fn rejects_short_and_bad_version() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::TooShort {
                needed: 12,
                len: 11
            })
        );
        let mut b = [0u8; 12];
        b[0] = 0x40;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadVersion(1)));
    }

    #[test]
    fn rejects_overruns() {
        let mut b = [0u8; 16];
        b[0] = 0x82; // two CSRCs but room for one
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::CsrcOverrun { count: 2 })
        );
        b[0] = 0x90; // extension header says 1 word, none present
        b[12..16].copy_from_slice(&[0, 0, 0, 1]);
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::ExtensionOverrun { len: 8 })
        );
        b[0] = 0x90;
        assert!(RtpPacket::parse(&b[..14]).is_err());
    }

    #[test]
    fn rejects_bad_padding() {
        let mut b = [0u8; 14];
        b[0] = 0xa0;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::ZeroPadding));
        b[13] = 3;
        assert_eq!(
            RtpPacket::parse(&b),
            Err(RtpError::PaddingOverrun {
                padding: 3,
                available: 2
            })
        );
        b[13] = 2;
        let p = RtpPacket::parse(&b).unwrap();
        assert!(p.payload.is_empty());
        assert_eq!(p.padding, 2);
        assert!(matches!(
            RtpPacket::parse(&b[..12]),
            Err(RtpError::PaddingOverrun {
                padding: 0,
                available: 0
            })
        ));
    }

    #[test]
    fn builder_rejects_bad_parts() {
        let csrcs = [0u32; 16];
        let b = RtpBuilder {
            csrcs: &csrcs,
            ..RtpBuilder::new(hdr())
        };
        assert_eq!(
            b.write_to_vec(&[], &mut Vec::new()),
            Err(RtpError::TooManyCsrcs(16))
        );
        let b = RtpBuilder {
            extension: Some(RtpExtension {
                profile: 1,
                data: &[1, 2, 3],
            }),
            ..RtpBuilder::new(hdr())
        };
        let mut v = vec![1, 2];
        assert_eq!(
            b.write_to_vec(&[], &mut v),
            Err(RtpError::BadExtensionLength(3))
        );
        assert_eq!(v, vec![1, 2], "a failed append leaves the vector as it was");
        let mut small = [0u8; 13];
        assert_eq!(
            RtpBuilder::new(hdr()).write_to_slice(&[1, 2], &mut small),
            Err(RtpError::BufferTooSmall {
                needed: 14,
                capacity: 13
            })
        );
    }

    #[test]
    fn rewrite_keeps_everything_but_the_five_fields() {
        let b = RtpBuilder {
            csrcs: &[42],
            extension: Some(RtpExtension {
                profile: 5,
                data: &[1, 1, 1, 1],
            }),
            ..RtpBuilder::new(hdr())
        };
        let mut buf = [0u8; 64];
        let n = b.write_to_slice(b"payload", &mut buf).unwrap();
        let new = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        };
        rewrite_header(&mut buf[..n], &new).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.header, new);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![42]);
        assert_eq!(p.payload, b"payload");
        assert!(p.extension.is_some());
        assert_eq!(
            rewrite_header(&mut [0x80; 5], &new),
            Err(RtpError::TooShort { needed: 12, len: 5 })
        );
        assert_eq!(
            rewrite_header(&mut [0u8; 12], &new),
            Err(RtpError::BadVersion(0))
        );
    }

    #[test]
    fn payload_type_high_bit_does_not_leak_into_marker() {
        let h = RtpHeader {
            marker: false,
            payload_type: 0xff,
            ..hdr()
        };
        let mut out = Vec::new();
        RtpBuilder::new(h).write_to_vec(&[], &mut out).unwrap();
        let p = RtpPacket::parse(&out).unwrap();
        assert!(!p.header.marker);
        assert_eq!(p.header.payload_type, 0x7f);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = RtpPacket::parse(&bytes) {
                prop_assert!(p.header_len + p.payload.len() + usize::from(p.padding) == bytes.len());
                prop_assert_eq!(p.csrcs().count(), p.csrc_count());
            }
            let mut copy = bytes.clone();
            let _ = rewrite_header(&mut copy, &hdr());
        }

        #[test]
        fn build_parse_round_trip(
            marker in any::<bool>(), pt in 0u8..128, seq in any::<u16>(), ts in any::<u32>(),
            ssrc in any::<u32>(), csrcs in proptest::collection::vec(any::<u32>(), 0..16),
            ext_words in proptest::option::of(0usize..4), padding in any::<u8>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let header = RtpHeader { marker, payload_type: pt, sequence: seq, timestamp: ts, ssrc };
            let ext_data = vec![0x5a; ext_words.unwrap_or(0) * 4];
            let b = RtpBuilder {
                header,
                csrcs: &csrcs,
                extension: ext_words.map(|_| RtpExtension { profile: 0x1000, data: &ext_data }),
                padding,
            };
            let mut out = Vec::new();
            b.write_to_vec(&payload, &mut out).unwrap();
            let p = RtpPacket::parse(&out).unwrap();
            prop_assert_eq!(p.header, header);
            prop_assert_eq!(p.csrcs().collect::<Vec<_>>(), csrcs);
            prop_assert_eq!(p.payload, &payload[..]);
            prop_assert_eq!(p.padding, padding);
            prop_assert_eq!(p.extension.map(|e| e.data.len()), ext_words.map(|w| w * 4));
        }
    }
}
