//! Minimal RTCP (RFC 3550 section 6): read SR, RR and BYE out of a compound packet, step over
//! every other type (SDES, APP, feedback...) by its length, and build SR, RR and BYE.
//!
//! A contact center needs RTCP for liveness (BYE, receiver reports that prove the far end
//! still hears us) and for quality numbers (loss, jitter, round trip), not for the rest, so
//! unknown packets are handed out raw instead of being decoded. Parsing borrows and never
//! allocates; building appends to a caller's `Vec` so a compound packet is several calls.

use thiserror::Error;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of source description (skipped).
pub const PT_SDES: u8 = 202;
/// Packet type of BYE.
pub const PT_BYE: u8 = 203;
/// Packet type of application-defined packets (skipped).
pub const PT_APP: u8 = 204;
/// The 5-bit count field limits report blocks and BYE sources to 31.
pub const MAX_COUNT: usize = 31;

const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// Why an RTCP datagram cannot be read, or a packet cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer than the 4 bytes of a common header (or the part named) remain.
    #[error("RTCP packet too short: need {needed} bytes, have {len}")]
    TooShort { needed: usize, len: usize },
    /// The version field is not 2.
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// The length field points past the end of the datagram.
    #[error("RTCP length field says {declared} bytes, only {available} remain")]
    LengthOverrun { declared: usize, available: usize },
    /// The padding bit is set but the padding count is zero.
    #[error("RTCP padding bit set but padding count is zero")]
    ZeroPadding,
    /// The padding count exceeds the packet body.
    #[error("RTCP padding of {padding} bytes is longer than the {available}-byte body")]
    PaddingOverrun { padding: u8, available: usize },
    /// The report or source count needs more bytes than the packet has.
    #[error("RTCP packet type {packet_type} with count {count} does not fit its length")]
    CountOverrun { packet_type: u8, count: u8 },
    /// A BYE reason's length byte points past the end of the packet.
    #[error("RTCP BYE reason of {0} bytes runs past the end of the packet")]
    ReasonOverrun(u8),
    /// More than 31 report blocks or BYE sources were given to a builder.
    #[error("{0} items given, an RTCP packet holds at most 31")]
    TooManyItems(usize),
    /// A BYE reason longer than 255 bytes was given to the builder.
    #[error("BYE reason of {0} bytes, at most 255 allowed")]
    ReasonTooLong(usize),
}

/// What a datagram on a port shared by RTP and RTCP (RFC 5761) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuxedKind {
    Rtp,
    Rtcp,
    /// Not version 2 or too short to tell: STUN, DTLS or garbage (RFC 7983 demultiplexing).
    Other,
}

/// Tells RTP from RTCP on a muxed port. RFC 5761 section 4: the second octet of RTCP is its
/// packet type, 192..=223 in practice (SR..APP are 200..=204); in RTP the same octet is
/// marker + payload type, and payload types 64..=95 are not used when muxing, so there is no
/// overlap.
pub fn classify_muxed(datagram: &[u8]) -> MuxedKind {
    match datagram {
        [b0, b1, ..] if b0 >> 6 == 2 => {
            if (192..=223).contains(b1) {
                MuxedKind::Rtcp
            } else {
                MuxedKind::Rtp
            }
        }
        _ => MuxedKind::Other,
    }
}

/// Shorthand for `classify_muxed(d) == MuxedKind::Rtcp`.
pub fn is_rtcp(datagram: &[u8]) -> bool {
    classify_muxed(datagram) == MuxedKind::Rtcp
}

/// The sender information block of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// 64-bit NTP time (seconds since 1900 in the high 32 bits, fraction in the low).
    pub ntp_timestamp: u64,
    /// The same instant on the stream's RTP clock.
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

impl SenderInfo {
    /// The middle 32 bits of the NTP timestamp: what a receiver echoes as LSR.
    pub fn ntp_middle(&self) -> u32 {
        ((self.ntp_timestamp >> 16) & 0xffff_ffff) as u32
    }
}

/// One reception report about one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost: a signed 24-bit field (duplicates can make it negative);
    /// values outside -2^23..2^23 are clamped when writing.
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    pub jitter: u32,
    pub last_sr: u32,
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit count by shifting it into the top of an i32 and back.
        let lost = (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8;
        Self {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost: lost,
            extended_highest_seq: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.push(self.fraction_lost);
        let lost = self
            .cumulative_lost
            .clamp(-0x80_0000, 0x7f_ffff)
            .to_be_bytes();
        out.extend_from_slice(&lost[1..]);
        for w in [
            self.extended_highest_seq,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        ] {
            out.extend_from_slice(&w.to_be_bytes());
        }
    }
}

/// The report blocks of an SR or RR, decoded lazily.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportBlocks<'a> {
    bytes: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;
    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.bytes.split_at_checked(REPORT_BLOCK_LEN)?;
        self.bytes = rest;
        Some(ReportBlock::read(block))
    }
}

/// A sender report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderReport<'a> {
    pub ssrc: u32,
    pub info: SenderInfo,
    blocks: &'a [u8],
}

/// A receiver report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    pub ssrc: u32,
    blocks: &'a [u8],
}

impl<'a> SenderReport<'a> {
    pub fn reports(&self) -> ReportBlocks<'a> {
        ReportBlocks { bytes: self.blocks }
    }
}

impl<'a> ReceiverReport<'a> {
    pub fn reports(&self) -> ReportBlocks<'a> {
        ReportBlocks { bytes: self.blocks }
    }
}

/// A BYE: the sources leaving and an optional reason (text, not guaranteed UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    pub reason: Option<&'a [u8]>,
}

impl<'a> Bye<'a> {
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.ssrcs
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The reason if it is valid UTF-8.
    pub fn reason_str(&self) -> Option<&'a str> {
        self.reason.and_then(|r| std::str::from_utf8(r).ok())
    }
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    SenderReport(SenderReport<'a>),
    ReceiverReport(ReceiverReport<'a>),
    Bye(Bye<'a>),
    /// Any other type (SDES, APP, RTPFB...), stepped over by its length field.
    Other {
        packet_type: u8,
        count: u8,
        body: &'a [u8],
    },
}

/// Iterates over the packets of a compound datagram. After the first error it yields that
/// error once and then stops, because a bad length field makes the rest unreadable.
#[derive(Debug, Clone)]
pub struct RtcpPackets<'a> {
    rest: &'a [u8],
}

/// Reads a compound RTCP datagram packet by packet.
pub fn parse_compound(datagram: &[u8]) -> RtcpPackets<'_> {
    RtcpPackets { rest: datagram }
}

impl<'a> Iterator for RtcpPackets<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = split_packet(self.rest);
        match result {
            Ok((packet, rest)) => {
                self.rest = rest;
                Some(Ok(packet))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn split_packet(buf: &[u8]) -> Result<(RtcpPacket<'_>, &[u8]), RtcpError> {
    let [b0, packet_type, l0, l1, ..] = *buf else {
        return Err(RtcpError::TooShort {
            needed: 4,
            len: buf.len(),
        });
    };
    let version = b0 >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let count = b0 & 0x1f;
    let declared = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
    let (packet, rest) = buf
        .split_at_checked(declared)
        .ok_or(RtcpError::LengthOverrun {
            declared,
            available: buf.len(),
        })?;
    let mut body = &packet[4..];
    if b0 & 0x20 != 0 {
        let Some(&padding) = body.last() else {
            return Err(RtcpError::PaddingOverrun {
                padding: 0,
                available: 0,
            });
        };
        if padding == 0 {
            return Err(RtcpError::ZeroPadding);
        }
        let keep =
            body.len()
                .checked_sub(usize::from(padding))
                .ok_or(RtcpError::PaddingOverrun {
                    padding,
                    available: body.len(),
                })?;
        body = &body[..keep];
    }
    let overrun = RtcpError::CountOverrun { packet_type, count };
    let blocks_len = usize::from(count) * REPORT_BLOCK_LEN;
    let word = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let parsed = match packet_type {
        PT_SR => {
            let fixed = 4 + SENDER_INFO_LEN;
            let blocks = body.get(fixed..fixed + blocks_len).ok_or(overrun)?;
            let ntp = (u64::from(word(body, 4)) << 32) | u64::from(word(body, 8));
            RtcpPacket::SenderReport(SenderReport {
                ssrc: word(body, 0),
                info: SenderInfo {
                    ntp_timestamp: ntp,
                    rtp_timestamp: word(body, 12),
                    packet_count: word(body, 16),
                    octet_count: word(body, 20),
                },
                blocks,
            })
        }
        PT_RR => {
            let blocks = body.get(4..4 + blocks_len).ok_or(overrun)?;
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: word(body, 0),
                blocks,
            })
        }
        PT_BYE => {
            let ssrc_len = usize::from(count) * 4;
            let ssrcs = body.get(..ssrc_len).ok_or(overrun)?;
            let reason = match body.get(ssrc_len..) {
                Some([len, text @ ..]) if *len > 0 => Some(
                    text.get(..usize::from(*len))
                        .ok_or(RtcpError::ReasonOverrun(*len))?,
                ),
                _ => None,
            };
            RtcpPacket::Bye(Bye { ssrcs, reason })
        }
        _ => RtcpPacket::Other {
            packet_type,
            count,
            body,
        },
    };
    Ok((parsed, rest))
}

/// Appends the common header for a body of `body_len` bytes (a multiple of 4): the length
/// field is the packet length in 32-bit words minus one, which is `body_len / 4`.
fn write_common(out: &mut Vec<u8>, count: usize, packet_type: u8, body_len: usize) {
    // Callers checked count <= 31 and body_len is a small multiple of 4.
    out.push(0x80 | (count & 0x1f) as u8);
    out.push(packet_type);
    let words = u16::try_from(body_len / 4).unwrap_or(u16::MAX);
    out.extend_from_slice(&words.to_be_bytes());
}

fn check_count(n: usize) -> Result<(), RtcpError> {
    if n > MAX_COUNT {
        Err(RtcpError::TooManyItems(n))
    } else {
        Ok(())
    }
}

/// Appends a sender report and returns its length in bytes.
pub fn write_sr(
    out: &mut Vec<u8>,
    ssrc: u32,
    info: &SenderInfo,
    reports: &[ReportBlock],
) -> Result<usize, RtcpError> {
    check_count(reports.len())?;
    let body_len = 4 + SENDER_INFO_LEN + reports.len() * REPORT_BLOCK_LEN;
    write_common(out, reports.len(), PT_SR, body_len);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp_timestamp.to_be_bytes());
    for w in [info.rtp_timestamp, info.packet_count, info.octet_count] {
        out.extend_from_slice(&w.to_be_bytes());
    }
    reports.iter().for_each(|r| r.write(out));
    Ok(4 + body_len)
}

/// Appends a receiver report and returns its length in bytes.
pub fn write_rr(out: &mut Vec<u8>, ssrc: u32, reports: &[ReportBlock]) -> Result<usize, RtcpError> {
    check_count(reports.len())?;
    let body_len = 4 + reports.len() * REPORT_BLOCK_LEN;
    write_common(out, reports.len(), PT_RR, body_len);
    out.extend_from_slice(&ssrc.to_be_bytes());
    reports.iter().for_each(|r| r.write(out));
    Ok(4 + body_len)
}

/// Appends a BYE for `ssrcs` with an optional reason and returns its length in bytes.
pub fn write_bye(
    out: &mut Vec<u8>,
    ssrcs: &[u32],
    reason: Option<&str>,
) -> Result<usize, RtcpError> {
    check_count(ssrcs.len())?;
    let reason = reason.unwrap_or("").as_bytes();
    let reason_len =
        u8::try_from(reason.len()).map_err(|_| RtcpError::ReasonTooLong(reason.len()))?;
    let reason_bytes = if reason.is_empty() {
        0
    } else {
        1 + reason.len()
    };
    let body_len = (ssrcs.len() * 4 + reason_bytes).div_ceil(4) * 4;
    write_common(out, ssrcs.len(), PT_BYE, body_len);
    let body_start = out.len();
    ssrcs
        .iter()
        .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
    if !reason.is_empty() {
        out.push(reason_len);
        out.extend_from_slice(reason);
    }
    out.resize(body_start + body_len, 0);
    Ok(4 + body_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: lost,
            extended_highest_seq: 0x0001_0005,
            jitter: 40,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    fn info() -> SenderInfo {
        SenderInfo {
            ntp_timestamp: 0xe000_0001_8000_0000,
            rtp_timestamp: 160,
            packet_count: 3,
            octet_count: 480,
        }
    }

    #[test]
    fn compound_sr_sdes_rr_bye_round_trips() {
        let mut buf = Vec::new();
        assert_eq!(write_sr(&mut buf, 7, &info(), &[block(1, -3)]).unwrap(), 52);
        // An SDES with CNAME "ab", which must be stepped over.
        buf.extend_from_slice(&[
            0x81, PT_SDES, 0, 3, 0, 0, 0, 7, 1, 2, b'a', b'b', 0, 0, 0, 0,
        ]);
        write_rr(&mut buf, 8, &[block(2, 100), block(3, 0)]).unwrap();
        write_bye(&mut buf, &[7, 9], Some("hangup")).unwrap();
        let packets: Vec<_> = parse_compound(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 4);
        let RtcpPacket::SenderReport(sr) = &packets[0] else {
            panic!("{:?}", packets[0])
        };
        assert_eq!((sr.ssrc, sr.info), (7, info()));
        assert_eq!(sr.reports().collect::<Vec<_>>(), vec![block(1, -3)]);
        assert!(matches!(
            packets[1],
            RtcpPacket::Other { packet_type: PT_SDES, count: 1, body } if body.len() == 12
        ));
        let RtcpPacket::ReceiverReport(rr) = &packets[2] else {
            panic!()
        };
        assert_eq!(rr.ssrc, 8);
        assert_eq!(
            rr.reports().collect::<Vec<_>>(),
            vec![block(2, 100), block(3, 0)]
        );
        let RtcpPacket::Bye(bye) = &packets[3] else {
            panic!()
        };
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![7, 9]);
        assert_eq!(bye.reason_str(), Some("hangup"));
    }

    #[test]
    fn bye_without_reason_and_padding() {
        let mut buf = Vec::new();
        assert_eq!(write_bye(&mut buf, &[5], None).unwrap(), 8);
        let p = parse_compound(&buf).next().unwrap().unwrap();
        assert_eq!(
            p,
            RtcpPacket::Bye(Bye {
                ssrcs: &[0, 0, 0, 5],
                reason: None
            })
        );
        // Reason of 3 bytes: 4 (ssrc) + 1 + 3 = 8, already aligned.
        buf.clear();
        assert_eq!(write_bye(&mut buf, &[5], Some("bye")).unwrap(), 12);
        let too_long = "x".repeat(256);
        assert_eq!(
            write_bye(&mut buf, &[], Some(&too_long)),
            Err(RtcpError::ReasonTooLong(256))
        );
    }

    #[test]
    fn rr_with_padding_bit_is_read() {
        // RR, no blocks, padded with 4 bytes (count byte 4).
        let buf = [0xa0, PT_RR, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4];
        let p = parse_compound(&buf).next().unwrap().unwrap();
        let RtcpPacket::ReceiverReport(rr) = p else {
            panic!()
        };
        assert_eq!(rr.ssrc, 1);
        assert_eq!(rr.reports().count(), 0);
    }

    #[test]
    fn errors_name_the_problem() {
        fn first(b: &[u8]) -> Result<RtcpPacket<'_>, RtcpError> {
            parse_compound(b).next().unwrap()
        }
        assert_eq!(
            first(&[0x80, 200]),
            Err(RtcpError::TooShort { needed: 4, len: 2 })
        );
        assert_eq!(first(&[0x40, 200, 0, 0]), Err(RtcpError::BadVersion(1)));
        assert_eq!(
            first(&[0x80, 201, 0, 2, 0, 0, 0, 1]),
            Err(RtcpError::LengthOverrun {
                declared: 12,
                available: 8
            })
        );
        assert_eq!(
            first(&[0xa0, 201, 0, 0]),
            Err(RtcpError::PaddingOverrun {
                padding: 0,
                available: 0
            })
        );
        assert_eq!(
            first(&[0xa0, 201, 0, 1, 0, 0, 0, 0]),
            Err(RtcpError::ZeroPadding)
        );
        assert_eq!(
            first(&[0xa0, 201, 0, 1, 0, 0, 0, 9]),
            Err(RtcpError::PaddingOverrun {
                padding: 9,
                available: 4
            })
        );
        assert_eq!(
            first(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::CountOverrun {
                packet_type: 201,
                count: 1
            })
        );
        assert_eq!(
            first(&[0x81, 203, 0, 2, 0, 0, 0, 1, 9, b'a', 0, 0]),
            Err(RtcpError::ReasonOverrun(9))
        );
        assert_eq!(
            write_rr(&mut Vec::new(), 1, &[block(1, 1); 32]),
            Err(RtcpError::TooManyItems(32))
        );
    }

    #[test]
    fn error_stops_iteration() {
        let mut buf = Vec::new();
        write_rr(&mut buf, 1, &[]).unwrap();
        buf.extend_from_slice(&[0x80, 201, 0, 9]);
        let mut it = parse_compound(&buf);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn cumulative_lost_is_signed_24_bit_and_clamped() {
        for (given, read) in [
            (-1, -1),
            (0x7f_ffff, 0x7f_ffff),
            (0x100_0000, 0x7f_ffff),
            (i32::MIN, -0x80_0000),
        ] {
            let mut buf = Vec::new();
            write_rr(&mut buf, 1, &[block(1, given)]).unwrap();
            let Some(Ok(RtcpPacket::ReceiverReport(rr))) = parse_compound(&buf).next() else {
                panic!()
            };
            assert_eq!(rr.reports().next().unwrap().cumulative_lost, read);
        }
    }

    #[test]
    fn muxed_port_demux() {
        let mut rtcp = Vec::new();
        write_rr(&mut rtcp, 1, &[]).unwrap();
        assert_eq!(classify_muxed(&rtcp), MuxedKind::Rtcp);
        assert!(is_rtcp(&rtcp));
        for pt in [0u8, 8, 101, 0x80, 0x80 | 101] {
            assert_eq!(
                classify_muxed(&[0x80, pt, 0, 0]),
                MuxedKind::Rtp,
                "pt byte {pt}"
            );
        }
        assert_eq!(classify_muxed(&[0x80, 223]), MuxedKind::Rtcp);
        assert_eq!(classify_muxed(&[0x80, 224]), MuxedKind::Rtp);
        assert_eq!(
            classify_muxed(&[0x00, 0x01, 0, 0]),
            MuxedKind::Other,
            "STUN"
        );
        assert_eq!(classify_muxed(&[22, 0xfe]), MuxedKind::Other, "DTLS");
        assert_eq!(classify_muxed(&[0x80]), MuxedKind::Other);
        assert!(!is_rtcp(&[]));
    }

    #[test]
    fn ntp_middle_is_the_lsr_value() {
        assert_eq!(info().ntp_middle(), 0x0001_8000);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            for p in parse_compound(&bytes).take(300) {
                match p {
                    Ok(RtcpPacket::SenderReport(sr)) => { let _ = sr.reports().count(); }
                    Ok(RtcpPacket::ReceiverReport(rr)) => { let _ = rr.reports().count(); }
                    Ok(RtcpPacket::Bye(b)) => { let _ = (b.ssrcs().count(), b.reason_str()); }
                    Ok(RtcpPacket::Other { .. }) => {}
                    Err(_) => {}
                }
            }
            let _ = classify_muxed(&bytes);
        }

        #[test]
        fn built_packets_parse_back(
            ssrcs in proptest::collection::vec(any::<u32>(), 0..=31),
            reason in "[a-z ]{0,40}",
            n_blocks in 0usize..=31,
        ) {
            let blocks: Vec<_> = (0..n_blocks).map(|i| block(i as u32, i as i32 - 5)).collect();
            let mut buf = Vec::new();
            write_sr(&mut buf, 1, &info(), &blocks).unwrap();
            write_bye(&mut buf, &ssrcs, Some(&reason)).unwrap();
            prop_assert_eq!(buf.len() % 4, 0);
            let packets: Vec<_> = parse_compound(&buf).collect::<Result<_, _>>().unwrap();
            let RtcpPacket::SenderReport(sr) = &packets[0] else { panic!() };
            prop_assert_eq!(sr.reports().collect::<Vec<_>>(), blocks);
            let RtcpPacket::Bye(bye) = &packets[1] else { panic!() };
            prop_assert_eq!(bye.ssrcs().collect::<Vec<_>>(), ssrcs);
            prop_assert_eq!(bye.reason_str(), if reason.is_empty() { None } else { Some(reason.as_str()) });
        }
    }
}
