//! One outgoing RTP stream as the far end sees it: a single SSRC whose sequence numbers and
//! timestamps run on without jumps while what we send switches between local frames
//! (prompts, music on hold) and packets relayed from another leg.
//!
//! Phones and gateways treat a changed SSRC, or a sequence/timestamp jump, as a new stream:
//! some reset their jitter buffer audibly, some drop packets until they resynchronise. So the
//! leg keeps its own numbering and maps every source onto it:
//! - local frames get the next sequence number and a timestamp advanced by the previous
//!   frame's length;
//! - relayed packets keep the deltas of their source (so its gaps, reordering and jitter
//!   reach the receiver unchanged) plus a fixed offset chosen when the relay segment starts;
//! - at a switch (first packet, local <-> relay, a new incoming SSRC, or a source that
//!   restarts its numbering) the sequence continues by exactly one, the timestamp advances by
//!   the wall-clock time since the last packet (at least the last packet's duration, so audio
//!   never overlaps), and the marker bit is set, as for a new talkspurt (RFC 3551 section 4.1).
//!
//! The stream only computes header values; the caller writes them with
//! [`crate::rtp::RtpBuilder`] or [`crate::rtp::rewrite_header`]. Nothing here allocates.

use std::time::{Duration, Instant};

use crate::rtp::RtpHeader;
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Largest forward sequence jump still taken as loss in one source (RFC 3550 A.1).
const MAX_DROPOUT: u16 = 3000;
/// Largest backward sequence step still taken as reordering (RFC 3550 A.1).
const MAX_MISORDER: u16 = 100;
/// A relayed timestamp that moves further than this in one in-order step means the source
/// restarted its clock; we re-anchor on the wall clock rather than pass the jump on.
const MAX_TIMESTAMP_JUMP: u32 = 5 * SAMPLE_RATE;
/// Local frames that resume after a pause longer than this start a new talkspurt; shorter
/// lateness is scheduling jitter of the caller and must not disturb the timestamps.
const LOCAL_RESUME_GAP: Duration = Duration::from_millis(100);
/// Longest packet we believe in when inferring a relayed packet's length (120 ms, the usual
/// maxptime).
const MAX_FRAME_SAMPLES: u32 = 960;

/// The last packet sent, which the next one continues from.
#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u16,
    timestamp: u32,
    at: Instant,
    /// Samples the packet covers: the minimum timestamp advance at a switch.
    duration: u32,
}

/// How incoming numbers of the current relay source map to ours.
#[derive(Debug, Clone, Copy)]
struct RelayMap {
    ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
    /// First incoming sequence of this segment: older packets would reuse numbers we already
    /// sent for the previous source, so they are dropped.
    base_seq: u16,
    last_in_seq: u16,
    last_in_ts: u32,
    /// After a jump, the sequence number that would confirm it (RFC 3550 A.1 probation).
    probe: Option<u16>,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Local,
    Relay(RelayMap),
}

/// The numbering of one outgoing RTP leg. See the module docs for the rules.
///
/// Calling contract: call [`OutgoingStream::next_frame`] for each locally generated frame and
/// [`OutgoingStream::relay`] for each packet forwarded from another leg, in sending order,
/// with the time of sending as `now`. Switching between them needs no extra call.
#[derive(Debug, Clone)]
pub struct OutgoingStream {
    ssrc: u32,
    initial_seq: u16,
    initial_timestamp: u32,
    last: Option<Sent>,
    source: Option<Source>,
    packets_sent: u64,
}

/// Whole 8 kHz ticks in `elapsed`, rounded to nearest, modulo 2^32 like the RTP clock.
fn ticks(elapsed: Duration) -> u32 {
    let t = (elapsed.as_nanos() * u128::from(SAMPLE_RATE) + 500_000_000) / 1_000_000_000;
    (t % (1u128 << 32)) as u32
}

impl OutgoingStream {
    /// A stream with our SSRC and the first sequence number and timestamp; RFC 3550 wants
    /// all three random, which the caller provides (this crate has no randomness).
    pub fn new(ssrc: u32, initial_seq: u16, initial_timestamp: u32) -> Self {
        Self {
            ssrc,
            initial_seq,
            initial_timestamp,
            last: None,
            source: None,
            packets_sent: 0,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Packets numbered so far (relayed duplicates and reordered packets included).
    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    /// Makes the next packet, local or relayed, start a new segment (marker, wall-clock
    /// timestamp) even if it comes from the same source as the last one, e.g. when a bridge
    /// resumes after a hold during which the peer's packets were not forwarded.
    pub fn mark_discontinuity(&mut self) {
        self.source = None;
    }

    /// Our RTP timestamp for the instant `now`, for an RTCP sender report; `None` before the
    /// first packet.
    pub fn rtp_timestamp_at(&self, now: Instant) -> Option<u32> {
        let last = self.last?;
        Some(
            last.timestamp
                .wrapping_add(ticks(now.saturating_duration_since(last.at))),
        )
    }

    /// Header for a locally generated frame of `samples` samples (160 for 20 ms).
    pub fn next_frame(&mut self, payload_type: u8, samples: u32, now: Instant) -> RtpHeader {
        let continuing = match (self.source, self.last) {
            (Some(Source::Local), Some(last)) => {
                let elapsed = ticks(now.saturating_duration_since(last.at));
                let allowed = last.duration.saturating_add(ticks(LOCAL_RESUME_GAP));
                (elapsed <= allowed).then(|| {
                    (
                        last.seq.wrapping_add(1),
                        last.timestamp.wrapping_add(last.duration),
                    )
                })
            }
            _ => None,
        };
        let marker = continuing.is_none();
        let (seq, timestamp) = continuing.unwrap_or_else(|| self.switch_point(now));
        self.source = Some(Source::Local);
        self.record(seq, timestamp, now, samples);
        RtpHeader {
            marker,
            payload_type,
            sequence: seq,
            timestamp,
            ssrc: self.ssrc,
        }
    }

    /// Header for relaying `incoming` on this leg, or `None` when the packet must be dropped:
    /// it is older than the start of the current relay segment (its numbers are taken), or
    /// it is the first packet after a sequence jump, which is only believed once the next
    /// packet confirms it (RFC 3550 A.1). The payload type is copied; a caller that maps
    /// payload types between legs overwrites it in the result.
    pub fn relay(&mut self, incoming: &RtpHeader, now: Instant) -> Option<RtpHeader> {
        let Some(Source::Relay(mut map)) = self
            .source
            .filter(|s| matches!(s, Source::Relay(m) if m.ssrc == incoming.ssrc))
        else {
            return Some(self.start_relay(incoming, now));
        };
        let d_seq = incoming.sequence.wrapping_sub(map.last_in_seq);
        if d_seq != 0 && d_seq <= MAX_DROPOUT {
            let d_ts = incoming.timestamp.wrapping_sub(map.last_in_ts);
            if d_ts > MAX_TIMESTAMP_JUMP {
                // Covers both a big forward jump and any backward step (large as u32).
                return Some(self.start_relay(incoming, now));
            }
            map.last_in_seq = incoming.sequence;
            map.last_in_ts = incoming.timestamp;
            map.probe = None;
            self.source = Some(Source::Relay(map));
            let header = map.apply(incoming, self.ssrc);
            // The packet's length is the per-packet step, when that looks like a frame and
            // not like the end of the source's silence suppression.
            let duration = match d_ts / u32::from(d_seq) {
                d @ 1..=MAX_FRAME_SAMPLES => d,
                _ => self.last.map_or(FRAME_SAMPLES as u32, |l| l.duration),
            };
            self.record(header.sequence, header.timestamp, now, duration);
            return Some(header);
        }
        if d_seq == 0 || d_seq > u16::MAX - MAX_MISORDER {
            // A duplicate or a reordered packet: it keeps its place in our numbering, unless
            // that place belongs to the previous source.
            let since_base = incoming.sequence.wrapping_sub(map.base_seq);
            if since_base > u16::MAX / 2 {
                return None;
            }
            self.packets_sent += 1;
            return Some(map.apply(incoming, self.ssrc));
        }
        if map.probe == Some(incoming.sequence) {
            return Some(self.start_relay(incoming, now));
        }
        map.probe = Some(incoming.sequence.wrapping_add(1));
        self.source = Some(Source::Relay(map));
        None
    }

    /// Anchors a new relay segment on `incoming` and returns its (marked) first header.
    fn start_relay(&mut self, incoming: &RtpHeader, now: Instant) -> RtpHeader {
        let (seq, timestamp) = self.switch_point(now);
        let map = RelayMap {
            ssrc: incoming.ssrc,
            seq_offset: seq.wrapping_sub(incoming.sequence),
            ts_offset: timestamp.wrapping_sub(incoming.timestamp),
            base_seq: incoming.sequence,
            last_in_seq: incoming.sequence,
            last_in_ts: incoming.timestamp,
            probe: None,
        };
        self.source = Some(Source::Relay(map));
        self.record(seq, timestamp, now, FRAME_SAMPLES as u32);
        RtpHeader {
            marker: true,
            ..map.apply(incoming, self.ssrc)
        }
    }

    /// Where the packet after a switch goes: the next sequence number, and a timestamp that
    /// has moved with the wall clock but not less than the last packet's duration.
    fn switch_point(&self, now: Instant) -> (u16, u32) {
        match self.last {
            None => (self.initial_seq, self.initial_timestamp),
            Some(last) => {
                let elapsed = ticks(now.saturating_duration_since(last.at));
                (
                    last.seq.wrapping_add(1),
                    last.timestamp.wrapping_add(elapsed.max(last.duration)),
                )
            }
        }
    }

    fn record(&mut self, seq: u16, timestamp: u32, at: Instant, duration: u32) {
        self.last = Some(Sent {
            seq,
            timestamp,
            at,
            duration,
        });
        self.packets_sent += 1;
    }
}

impl RelayMap {
    fn apply(&self, incoming: &RtpHeader, ssrc: u32) -> RtpHeader {
        RtpHeader {
            marker: incoming.marker,
            payload_type: incoming.payload_type,
            sequence: incoming.sequence.wrapping_add(self.seq_offset),
            timestamp: incoming.timestamp.wrapping_add(self.ts_offset),
            ssrc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn inc(ssrc: u32, seq: u16, ts: u32) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
    }

    /// Asserts `b` directly follows `a`: seq + 1 and timestamp advanced by `ts_step`.
    fn follows(a: &RtpHeader, b: &RtpHeader, ts_step: u32) {
        assert_eq!(b.sequence, a.sequence.wrapping_add(1), "{a:?} -> {b:?}");
        assert_eq!(
            b.timestamp,
            a.timestamp.wrapping_add(ts_step),
            "{a:?} -> {b:?}"
        );
        assert_eq!(b.ssrc, a.ssrc);
    }

    #[test]
    fn local_frames_are_continuous_and_only_the_first_is_marked() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(77, 1000, 5000);
        let first = s.next_frame(0, 160, t0);
        assert_eq!(
            first,
            RtpHeader {
                marker: true,
                payload_type: 0,
                sequence: 1000,
                timestamp: 5000,
                ssrc: 77
            }
        );
        let mut prev = first;
        for i in 1..50u32 {
            // Sending jitter of a few ms must not leak into the timestamps.
            let h = s.next_frame(0, 160, t0 + 20 * MS * i + (i % 3) * 7 * MS);
            assert!(!h.marker);
            follows(&prev, &h, 160);
            prev = h;
        }
        assert_eq!(s.packets_sent(), 50);
        assert_eq!(s.ssrc(), 77);
    }

    #[test]
    fn every_switch_continues_seq_advances_by_elapsed_time_and_marks() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(1, 10, 0);
        let a = s.next_frame(0, 160, t0); // prompt
        let b = s.next_frame(0, 160, t0 + 20 * MS);
        // Bridge: relayed packets from SSRC 0xA, 30 ms after the last prompt frame.
        let r1 = s.relay(&inc(0xa, 40_000, 123_456), t0 + 50 * MS).unwrap();
        assert!(r1.marker);
        follows(&b, &r1, 240);
        let r2 = s.relay(&inc(0xa, 40_001, 123_616), t0 + 70 * MS).unwrap();
        assert!(!r2.marker);
        follows(&r1, &r2, 160);
        // The far leg re-INVITEs and its SSRC changes: a switch, 45 ms later.
        let r3 = s.relay(&inc(0xb, 7, 9), t0 + 115 * MS).unwrap();
        assert!(r3.marker);
        follows(&r2, &r3, 360);
        // Back to music on hold 100 ms later.
        let m = s.next_frame(8, 160, t0 + 215 * MS);
        assert!(m.marker);
        assert_eq!(m.payload_type, 8);
        follows(&r3, &m, 800);
        let m2 = s.next_frame(8, 160, t0 + 235 * MS);
        assert!(!m2.marker);
        follows(&m, &m2, 160);
        assert!(a.marker && !b.marker);
    }

    #[test]
    fn immediate_switch_never_overlaps_the_previous_frame() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(1, 0, 0);
        let a = s.next_frame(0, 160, t0);
        let r = s.relay(&inc(5, 1, 1), t0).unwrap();
        follows(&a, &r, 160);
        let b = s.next_frame(0, 160, t0);
        follows(&r, &b, 160);
    }

    #[test]
    fn relay_keeps_source_gaps_and_jitter_and_markers() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(9, 100, 1000);
        let first = s.relay(&inc(3, 500, 8000), t0).unwrap();
        assert_eq!(
            (first.sequence, first.timestamp, first.ssrc),
            (100, 1000, 9)
        );
        // Packet 501 lost; 502 arrives with its timestamp; then a talkspurt with a marker.
        let h = s.relay(&inc(3, 502, 8320), t0 + 40 * MS).unwrap();
        assert_eq!((h.sequence, h.timestamp, h.marker), (102, 1320, false));
        let spurt = RtpHeader {
            marker: true,
            ..inc(3, 503, 16_000)
        };
        let h = s.relay(&spurt, t0 + 1000 * MS).unwrap();
        assert_eq!((h.sequence, h.timestamp, h.marker), (103, 9000, true));
        // Reordered 501 arrives late: keeps its own place.
        let h = s.relay(&inc(3, 501, 8160), t0 + 1001 * MS).unwrap();
        assert_eq!((h.sequence, h.timestamp), (101, 1160));
        // Numbering continues after the highest, not after the straggler.
        let h = s.relay(&inc(3, 504, 16_160), t0 + 1020 * MS).unwrap();
        assert_eq!(h.sequence, 104);
        let l = s.next_frame(0, 160, t0 + 1040 * MS);
        follows(&h, &l, 160);
    }

    #[test]
    fn stragglers_from_before_a_switch_are_dropped() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(9, 0, 0);
        s.next_frame(0, 160, t0);
        let r = s.relay(&inc(3, 50, 0), t0 + 20 * MS).unwrap();
        assert_eq!(r.sequence, 1);
        assert_eq!(
            s.relay(&inc(3, 49, 0), t0 + 21 * MS),
            None,
            "would reuse seq 0"
        );
        assert!(
            s.relay(&inc(3, 50, 0), t0 + 22 * MS).is_some(),
            "a duplicate maps to itself"
        );
    }

    #[test]
    fn source_restarting_its_numbering_is_a_switch_after_probation() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(9, 0, 0);
        s.relay(&inc(3, 100, 0), t0).unwrap();
        let last = s.relay(&inc(3, 101, 160), t0 + 20 * MS).unwrap();
        assert_eq!(s.relay(&inc(3, 30_000, 777), t0 + 40 * MS), None);
        let h = s.relay(&inc(3, 30_001, 937), t0 + 60 * MS).unwrap();
        assert!(h.marker);
        follows(&last, &h, 320);
        // A lone wild packet (not confirmed) changes nothing.
        assert_eq!(s.relay(&inc(3, 9, 0), t0 + 70 * MS), None);
        let n = s.relay(&inc(3, 30_002, 1097), t0 + 80 * MS).unwrap();
        assert!(!n.marker);
        follows(&h, &n, 160);
    }

    #[test]
    fn timestamp_going_backwards_in_one_source_re_anchors() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(9, 0, 0);
        let a = s.relay(&inc(3, 1, 100_000), t0).unwrap();
        let b = s.relay(&inc(3, 2, 50), t0 + 20 * MS).unwrap();
        assert!(b.marker);
        follows(&a, &b, 160);
        let c = s
            .relay(&inc(3, 3, 50 + 6 * SAMPLE_RATE), t0 + 40 * MS)
            .unwrap();
        assert!(c.marker, "a jump of 6 s is a restart too");
        follows(&b, &c, 160);
    }

    #[test]
    fn source_silence_suppression_does_not_inflate_the_next_switch() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(9, 0, 0);
        s.relay(&inc(3, 1, 0), t0).unwrap();
        s.relay(&inc(3, 2, 160), t0 + 20 * MS).unwrap();
        // 3 s of silence at the source, then one packet, then we switch to a prompt at once.
        let r = s.relay(&inc(3, 3, 160 + 24_000), t0 + 3020 * MS).unwrap();
        assert_eq!(r.timestamp, 24_160);
        let l = s.next_frame(0, 160, t0 + 3020 * MS);
        follows(&r, &l, 160);
    }

    #[test]
    fn explicit_discontinuity_re_anchors_the_same_source() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(9, 0, 0);
        let a = s.relay(&inc(3, 1, 0), t0).unwrap();
        s.mark_discontinuity();
        // The peer kept sending during a hold; we forwarded nothing for 1 s.
        let b = s.relay(&inc(3, 51, 8000), t0 + 1000 * MS).unwrap();
        assert!(b.marker);
        follows(&a, &b, 8000);
        s.mark_discontinuity();
        let c = s.next_frame(0, 160, t0 + 1000 * MS);
        assert!(c.marker);
        follows(&b, &c, 160);
    }

    #[test]
    fn local_pause_starts_a_new_talkspurt_at_wall_clock_time() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(9, 0, 0);
        let a = s.next_frame(0, 160, t0);
        let b = s.next_frame(0, 160, t0 + 2000 * MS);
        assert!(b.marker);
        follows(&a, &b, 16_000);
        assert_eq!(s.rtp_timestamp_at(t0 + 2010 * MS), Some(16_080));
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let t0 = Instant::now();
        let mut s = OutgoingStream::new(9, u16::MAX - 1, u32::MAX - 200);
        let mut prev = s.next_frame(0, 160, t0);
        for i in 1..4u32 {
            let h = s.next_frame(0, 160, t0 + 20 * MS * i);
            follows(&prev, &h, 160);
            prev = h;
        }
        assert_eq!(prev.sequence, 1);
        // Incoming numbers wrapping as well.
        let r = s
            .relay(&inc(4, u16::MAX, u32::MAX - 10), t0 + 80 * MS)
            .unwrap();
        follows(&prev, &r, 160);
        let r2 = s.relay(&inc(4, 0, 150), t0 + 100 * MS).unwrap();
        assert!(!r2.marker);
        follows(&r, &r2, 161);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Local,
        Relay(u32),
    }

    proptest! {
        /// Random schedules of local frames and gap-free relays from two sources: every packet
        /// is seq + 1, the timestamp never goes back, and the marker is set exactly on switches.
        #[test]
        fn continuity_across_random_switches(
            ops in proptest::collection::vec((prop_oneof![Just(Op::Local), (1u32..3).prop_map(Op::Relay)], 0u64..200), 1..80),
            seq0 in any::<u16>(), ts0 in any::<u32>(),
        ) {
            let t0 = Instant::now();
            let mut s = OutgoingStream::new(42, seq0, ts0);
            let mut now = t0;
            let mut in_seq = [0u16, 60_000, 123];
            let mut in_ts = [0u32, u32::MAX - 500, 99];
            let mut prev: Option<(RtpHeader, Instant, Option<u32>)> = None;
            for (op, gap_ms) in ops {
                now += Duration::from_millis(gap_ms);
                let (h, src) = match op {
                    Op::Local => (s.next_frame(0, 160, now), None),
                    Op::Relay(k) => {
                        let i = k as usize;
                        in_seq[i] = in_seq[i].wrapping_add(1);
                        in_ts[i] = in_ts[i].wrapping_add(160);
                        (s.relay(&inc(k, in_seq[i], in_ts[i]), now).unwrap(), Some(k))
                    }
                };
                if let Some((p, at, psrc)) = prev {
                    prop_assert_eq!(h.sequence, p.sequence.wrapping_add(1));
                    let step = h.timestamp.wrapping_sub(p.timestamp);
                    prop_assert!((160..u32::MAX / 2).contains(&step));
                    let elapsed = ticks(now - at);
                    let local_pause = src.is_none() && psrc.is_none() && elapsed > 160 + 800;
                    let switched = src != psrc || local_pause;
                    prop_assert_eq!(h.marker, switched);
                    if switched {
                        prop_assert_eq!(step, elapsed.max(160));
                    } else if src.is_none() {
                        prop_assert_eq!(step, 160);
                    }
                } else {
                    prop_assert!(h.marker);
                }
                prev = Some((h, now, src));
            }
        }
    }
}
