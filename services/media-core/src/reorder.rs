//! A small reorder buffer for one incoming RTP stream, for the consumers that need audio in
//! order (mixing, recording, DTMF detection) rather than as it arrived.
//!
//! It holds at most `depth` packets in slots allocated once at construction, so the per-packet
//! path copies the payload but never allocates. A missing packet is waited for until either
//! `depth` later packets are held or the oldest held packet has waited `max_wait`; then it is
//! reported as a [`Popped::Gap`] so the caller can insert silence or conceal. The bound keeps
//! the added latency small (3 packets / 60 ms by default) - a relay never goes through here.
//!
//! Calling contract: [`ReorderBuffer::push`] each received packet, then
//! [`ReorderBuffer::pop`] until it returns `None`; when nothing arrives, call `pop` again at
//! [`ReorderBuffer::deadline`] so a gap is released on time.

use std::time::{Duration, Instant};

use crate::rtp::RtpHeader;

/// Default number of packets held while waiting for a missing one.
pub const DEFAULT_DEPTH: usize = 3;
/// Default longest wait for a missing packet.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_millis(60);
/// Largest payload of a packet that fits an Ethernet MTU (1500 - IPv4 - UDP - RTP header).
pub const DEFAULT_MAX_PAYLOAD: usize = 1460;

/// Forward jump still taken as loss, and backward step still taken as lateness (RFC 3550 A.1).
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
/// Extended sequence numbers start here so they never go below zero.
const EXT_BASE: u64 = 1 << 32;

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Held until its turn.
    Stored,
    /// Older than what was already popped or skipped; dropped.
    Late,
    /// Already held; dropped.
    Duplicate,
    /// Payload larger than the slots; dropped.
    TooLarge,
    /// All slots busy because `pop` was not drained after the last push; dropped.
    Overflow,
    /// Far outside the expected window; dropped unless the next packet confirms the jump.
    OutOfWindow,
    /// A new SSRC, or a confirmed jump: the held packets were discarded and the stream
    /// restarts at this packet, which is stored.
    Restarted { discarded: usize },
}

/// What [`ReorderBuffer::pop`] hands out, in sequence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popped<'a> {
    Packet {
        header: RtpHeader,
        payload: &'a [u8],
    },
    /// `count` packets starting at `first_seq` never arrived in time.
    Gap { first_seq: u16, count: u16 },
}

/// Counters for quality reporting (RTCP receiver reports, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReorderStats {
    pub received: u64,
    pub late: u64,
    pub duplicates: u64,
    pub too_large: u64,
    pub overflow: u64,
    pub out_of_window: u64,
    /// Packets reported as gaps.
    pub lost: u64,
    pub restarts: u64,
    /// Held packets thrown away by restarts.
    pub discarded: u64,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    ext_seq: u64,
    header: RtpHeader,
    len: usize,
    arrived: Instant,
}

/// Reorders one incoming stream. See the module docs for the calling contract.
#[derive(Debug)]
pub struct ReorderBuffer {
    slots: Vec<Option<Held>>,
    data: Vec<u8>,
    max_payload: usize,
    max_wait: Duration,
    ssrc: Option<u32>,
    /// Extended sequence number of the next packet to pop.
    next: u64,
    probe: Option<u16>,
    stats: ReorderStats,
}

impl ReorderBuffer {
    /// A buffer holding up to `depth` (at least 1) packets of up to `max_payload` bytes; a
    /// missing packet is waited for at most `max_wait`. Allocates all storage now.
    /// `max_payload` is capped at 65535 (no UDP datagram is larger).
    pub fn new(depth: usize, max_payload: usize, max_wait: Duration) -> Self {
        let depth = depth.max(1);
        let max_payload = max_payload.min(usize::from(u16::MAX));
        Self {
            slots: vec![None; depth],
            data: vec![0; depth * max_payload],
            max_payload,
            max_wait,
            ssrc: None,
            next: EXT_BASE,
            probe: None,
            stats: ReorderStats::default(),
        }
    }

    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// Packets currently held.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Forgets the stream (held packets and position); statistics are kept.
    pub fn reset(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.ssrc = None;
        self.probe = None;
    }

    /// Takes a received packet; the payload is copied into a preallocated slot.
    pub fn push(&mut self, header: &RtpHeader, payload: &[u8], now: Instant) -> PushOutcome {
        self.stats.received += 1;
        if payload.len() > self.max_payload {
            self.stats.too_large += 1;
            return PushOutcome::TooLarge;
        }
        let mut restarted = None;
        if self.ssrc != Some(header.ssrc) {
            restarted = self.ssrc.map(|_| self.restart());
            self.ssrc = Some(header.ssrc);
            self.next = EXT_BASE + u64::from(header.sequence);
        }
        let delta = header.sequence.wrapping_sub(self.next as u16);
        let ext_seq = if delta <= MAX_DROPOUT {
            self.next + u64::from(delta)
        } else if delta > u16::MAX - MAX_MISORDER {
            self.stats.late += 1;
            return PushOutcome::Late;
        } else if self.probe == Some(header.sequence) {
            restarted = Some(self.restart());
            self.next = EXT_BASE + u64::from(header.sequence);
            self.next
        } else {
            self.probe = Some(header.sequence.wrapping_add(1));
            self.stats.out_of_window += 1;
            return PushOutcome::OutOfWindow;
        };
        self.probe = None;
        if self.slots.iter().flatten().any(|h| h.ext_seq == ext_seq) {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        let Some(index) = self.slots.iter().position(Option::is_none) else {
            self.stats.overflow += 1;
            return PushOutcome::Overflow;
        };
        let start = index * self.max_payload;
        self.data[start..start + payload.len()].copy_from_slice(payload);
        self.slots[index] = Some(Held {
            ext_seq,
            header: *header,
            len: payload.len(),
            arrived: now,
        });
        match restarted {
            Some(discarded) => PushOutcome::Restarted { discarded },
            None => PushOutcome::Stored,
        }
    }

    /// The next packet in order, a gap that may no longer be waited for, or `None` when the
    /// buffer is empty or still waiting for a missing packet.
    pub fn pop(&mut self, now: Instant) -> Option<Popped<'_>> {
        let (index, first) = self.first_held()?;
        if first.ext_seq == self.next {
            self.slots[index] = None;
            self.next += 1;
            let start = index * self.max_payload;
            let payload = &self.data[start..start + first.len];
            return Some(Popped::Packet {
                header: first.header,
                payload,
            });
        }
        let full = self.slots.iter().all(Option::is_some);
        let waited = self
            .oldest_arrival()
            .is_some_and(|t| now.saturating_duration_since(t) >= self.max_wait);
        if !(full || waited) {
            return None;
        }
        let missing = first.ext_seq - self.next;
        let gap = Popped::Gap {
            first_seq: self.next as u16,
            count: u16::try_from(missing).unwrap_or(u16::MAX),
        };
        self.stats.lost += missing;
        self.next = first.ext_seq;
        Some(gap)
    }

    /// When `pop` should be called again if nothing arrives: now-or-past when a packet is
    /// ready, the end of the wait for a missing one, `None` when empty (or the wait is too
    /// long to represent).
    pub fn deadline(&self) -> Option<Instant> {
        let (_, first) = self.first_held()?;
        if first.ext_seq == self.next {
            return Some(first.arrived);
        }
        self.oldest_arrival()
            .and_then(|t| t.checked_add(self.max_wait))
    }

    fn first_held(&self) -> Option<(usize, Held)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|h| (i, h)))
            .min_by_key(|(_, h)| h.ext_seq)
    }

    fn oldest_arrival(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|h| h.arrived).min()
    }

    fn restart(&mut self) -> usize {
        let discarded = self.len();
        self.slots.iter_mut().for_each(|s| *s = None);
        self.stats.restarts += 1;
        self.stats.discarded += discarded as u64;
        discarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn h(seq: u16) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 1,
        }
    }

    fn buf() -> ReorderBuffer {
        ReorderBuffer::new(DEFAULT_DEPTH, 16, DEFAULT_MAX_WAIT)
    }

    /// Everything `pop` releases at `now`, as seqs (packets) and (first, count) gaps.
    fn drain(b: &mut ReorderBuffer, now: Instant) -> Vec<Result<u16, (u16, u16)>> {
        let mut out = Vec::new();
        while let Some(p) = b.pop(now) {
            out.push(match p {
                Popped::Packet { header, payload } => {
                    assert_eq!(payload, header.sequence.to_be_bytes());
                    Ok(header.sequence)
                }
                Popped::Gap { first_seq, count } => Err((first_seq, count)),
            });
        }
        out
    }

    fn push(b: &mut ReorderBuffer, seq: u16, now: Instant) -> PushOutcome {
        b.push(&h(seq), &seq.to_be_bytes(), now)
    }

    #[test]
    fn in_order_passes_straight_through() {
        let t = Instant::now();
        let mut b = buf();
        for seq in 10..20 {
            assert_eq!(push(&mut b, seq, t), PushOutcome::Stored);
            assert_eq!(drain(&mut b, t), vec![Ok(seq)]);
        }
        assert!(b.is_empty());
        assert_eq!(b.deadline(), None);
    }

    #[test]
    fn swapped_packets_come_out_in_order() {
        let t = Instant::now();
        let mut b = buf();
        push(&mut b, 1, t);
        assert_eq!(drain(&mut b, t), vec![Ok(1)]);
        push(&mut b, 3, t);
        assert_eq!(drain(&mut b, t), vec![]);
        assert_eq!(b.deadline(), Some(t + DEFAULT_MAX_WAIT));
        push(&mut b, 2, t + 5 * MS);
        assert_eq!(drain(&mut b, t + 5 * MS), vec![Ok(2), Ok(3)]);
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped_and_counted() {
        let t = Instant::now();
        let mut b = buf();
        push(&mut b, 1, t);
        drain(&mut b, t);
        push(&mut b, 3, t);
        assert_eq!(push(&mut b, 3, t), PushOutcome::Duplicate);
        assert_eq!(push(&mut b, 1, t), PushOutcome::Late, "already popped");
        assert_eq!(drain(&mut b, t + 60 * MS), vec![Err((2, 1)), Ok(3)]);
        assert_eq!(push(&mut b, 2, t), PushOutcome::Late, "skipped as a gap");
        let s = b.stats();
        assert_eq!((s.received, s.duplicates, s.late, s.lost), (5, 1, 2, 1));
    }

    #[test]
    fn lost_packet_is_skipped_when_the_depth_fills() {
        let t = Instant::now();
        let mut b = buf();
        push(&mut b, 1, t);
        drain(&mut b, t);
        for seq in [3, 4] {
            push(&mut b, seq, t);
            assert_eq!(drain(&mut b, t), vec![]);
        }
        push(&mut b, 5, t);
        assert_eq!(drain(&mut b, t), vec![Err((2, 1)), Ok(3), Ok(4), Ok(5)]);
    }

    #[test]
    fn lost_packet_is_skipped_after_max_wait() {
        let t = Instant::now();
        let mut b = buf();
        push(&mut b, 1, t);
        drain(&mut b, t);
        push(&mut b, 4, t + 20 * MS);
        assert_eq!(drain(&mut b, t + 79 * MS), vec![]);
        assert_eq!(b.deadline(), Some(t + 80 * MS));
        assert_eq!(drain(&mut b, t + 80 * MS), vec![Err((2, 2)), Ok(4)]);
        assert_eq!(b.stats().lost, 2);
    }

    #[test]
    fn sequence_wrap_around() {
        let t = Instant::now();
        let mut b = buf();
        push(&mut b, 65534, t);
        assert_eq!(drain(&mut b, t), vec![Ok(65534)]);
        push(&mut b, 0, t);
        push(&mut b, 65535, t);
        assert_eq!(drain(&mut b, t), vec![Ok(65535), Ok(0)]);
        push(&mut b, 1, t);
        assert_eq!(drain(&mut b, t), vec![Ok(1)]);
        push(&mut b, 3, t);
        assert_eq!(
            drain(&mut b, t + DEFAULT_MAX_WAIT),
            vec![Err((2, 1)), Ok(3)]
        );
    }

    #[test]
    fn new_ssrc_and_confirmed_jump_restart_the_stream() {
        let t = Instant::now();
        let mut b = buf();
        push(&mut b, 1, t);
        push(&mut b, 3, t);
        let other = RtpHeader { ssrc: 2, ..h(500) };
        assert_eq!(
            b.push(&other, &500u16.to_be_bytes(), t),
            PushOutcome::Restarted { discarded: 2 }
        );
        assert_eq!(drain(&mut b, t), vec![Ok(500)]);
        let jumped = |seq| RtpHeader { ssrc: 2, ..h(seq) };
        assert_eq!(b.push(&jumped(20_000), &[], t), PushOutcome::OutOfWindow);
        assert_eq!(
            b.push(&jumped(20_001), &20_001u16.to_be_bytes(), t),
            PushOutcome::Restarted { discarded: 0 }
        );
        assert_eq!(drain(&mut b, t), vec![Ok(20_001)]);
        assert_eq!(b.stats().restarts, 2);
    }

    #[test]
    fn misuse_is_dropped_not_panicked() {
        let t = Instant::now();
        let mut b = ReorderBuffer::new(0, 2, DEFAULT_MAX_WAIT);
        assert_eq!(b.push(&h(1), &[0; 3], t), PushOutcome::TooLarge);
        assert_eq!(push(&mut b, 5, t), PushOutcome::Stored);
        assert_eq!(
            push(&mut b, 6, t),
            PushOutcome::Overflow,
            "pop was not drained"
        );
        assert_eq!(b.len(), 1);
        b.reset();
        assert!(b.is_empty());
        assert_eq!(push(&mut b, 9, t), PushOutcome::Stored);
        let mut forever = ReorderBuffer::new(2, 4, Duration::MAX);
        push(&mut forever, 1, t);
        drain(&mut forever, t);
        push(&mut forever, 3, t);
        assert_eq!(forever.deadline(), None);
        assert_eq!(drain(&mut forever, t + Duration::from_secs(3600)), vec![]);
    }

    proptest! {
        /// Any arrival order of a window of packets, with some lost and some duplicated,
        /// comes out strictly in order, each packet at most once, gaps accounting for the rest.
        #[test]
        fn output_is_ordered_and_complete(
            start in any::<u16>(),
            moves in proptest::collection::vec((0usize..3, any::<bool>(), any::<bool>()), 1..200),
        ) {
            let t = Instant::now();
            let mut b = buf();
            let mut arrivals: Vec<u16> = Vec::new();
            for (i, (shift, lose, dup)) in moves.iter().enumerate() {
                let seq = start.wrapping_add(i as u16);
                if !lose || i == 0 { arrivals.push(seq); }
                if *dup { arrivals.push(seq); }
                let n = arrivals.len();
                if *shift > 0 && n > *shift { arrivals.swap(n - 1, n - 1 - shift); }
            }
            let mut out = Vec::new();
            for (i, seq) in arrivals.iter().enumerate() {
                let now = t + 20 * MS * i as u32;
                push(&mut b, *seq, now);
                out.extend(drain(&mut b, now));
            }
            out.extend(drain(&mut b, t + Duration::from_secs(3600)));
            // The first arrival fixes the start; anything older is late by definition.
            let mut expect = arrivals[0];
            for item in out {
                match item {
                    Ok(seq) => { prop_assert_eq!(seq, expect); expect = expect.wrapping_add(1); }
                    Err((first, count)) => {
                        prop_assert_eq!(first, expect);
                        prop_assert!(count > 0);
                        expect = expect.wrapping_add(count);
                    }
                }
            }
            prop_assert!(b.is_empty());
        }

        #[test]
        fn arbitrary_input_never_panics(
            pkts in proptest::collection::vec((any::<u16>(), 0u32..3, 0usize..20, 0u64..100), 0..200),
        ) {
            let t = Instant::now();
            let mut b = ReorderBuffer::new(4, 8, DEFAULT_MAX_WAIT);
            let mut now = t;
            for (seq, ssrc, len, step) in pkts {
                now += Duration::from_millis(step);
                let header = RtpHeader { ssrc, ..h(seq) };
                b.push(&header, &vec![0; len], now);
                while b.pop(now).is_some() {}
                prop_assert!(b.len() < 4);
            }
        }
    }
}
