//! The receiving side of RFC 4733: one report per key press out of a stream of repeated
//! updates and triple end packets, also when the end packets are lost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Digit, DtmfError, TelephoneEvent};
use crate::SAMPLE_RATE;

/// A key press as reported by [`DtmfReceiver`], once per press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedDigit {
    pub digit: Digit,
    /// RTP timestamp of the event (its start), which identifies the press.
    pub timestamp: u32,
    /// Longest duration reported by the sender, in samples (8 kHz); segments of events
    /// longer than 0xFFFF are added up.
    pub samples: u32,
    /// How the receiver knew the press was over.
    pub ended_by: DigitEnd,
}

impl ReceivedDigit {
    /// Duration of the press.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(u64::from(self.samples) * 1_000_000 / u64::from(SAMPLE_RATE))
    }
}

/// How the end of a press was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitEnd {
    /// An end packet arrived.
    EndPacket,
    /// Updates stopped for longer than the end timeout (end packets lost).
    Timeout,
    /// A packet of a newer event arrived before this one's end.
    NextEvent,
}

/// How [`DtmfReceiver`] waits for lost end packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfReceiverConfig {
    /// A press without updates for this long is reported as ended. Senders update every
    /// 20-50 ms; a sender that sends no updates only gets its duration under-reported.
    pub end_timeout: Duration,
}

impl Default for DtmfReceiverConfig {
    fn default() -> Self {
        DtmfReceiverConfig {
            end_timeout: Duration::from_millis(300),
        }
    }
}

/// A timestamp this far behind the newest event is a late packet of an older event; further
/// than that it is a sender restart (new timestamp base) and starts a new event.
const REORDER_WINDOW: u32 = SAMPLE_RATE * 5;
/// Reports waiting for `poll_digit`; a caller that never polls loses the oldest, not memory.
const MAX_PENDING: usize = 32;
/// Reported presses remembered to drop their late repeats.
const RECENT: usize = 4;

/// Where a packet belongs.
#[derive(Debug, Clone, Copy)]
enum Relation {
    /// The newest event: an update, a retransmission or its end.
    Current,
    /// A late packet of an older event.
    Stale,
    /// The next segment of a long event (section 2.5.1.3).
    NextSegment,
    /// A new press.
    New,
}

#[derive(Debug, Clone, Copy)]
struct ActiveEvent {
    digit: Digit,
    /// Timestamp of the current segment (changes for events longer than 0xFFFF).
    segment_ts: u32,
    /// Timestamp of the first segment, which identifies the press.
    first_ts: u32,
    /// Samples of the finished segments before the current one.
    earlier: u32,
    /// Longest duration seen in the current segment.
    duration: u16,
    last_update: Instant,
}

impl ActiveEvent {
    fn report(&self, ended_by: DigitEnd) -> ReceivedDigit {
        ReceivedDigit {
            digit: self.digit,
            timestamp: self.first_ts,
            samples: self.earlier.saturating_add(u32::from(self.duration)),
            ended_by,
        }
    }
}

/// Turns the RFC 4733 packets of one RTP stream into one [`ReceivedDigit`] per press.
///
/// Contract: call [`handle_packet`](Self::handle_packet) for every telephone-event packet
/// of the stream, then drain [`poll_digit`](Self::poll_digit); arm a timer at
/// [`poll_timeout`](Self::poll_timeout) and call [`handle_timeout`](Self::handle_timeout)
/// when it fires. Call [`reset`](Self::reset) when the sender changes (new SSRC).
///
/// A press is identified by its RTP timestamp: repeated updates and the three end packets
/// share it, and a new press of the same key has a new one.
#[derive(Debug)]
pub struct DtmfReceiver {
    config: DtmfReceiverConfig,
    /// Timestamp and key of the newest event seen, reported or not.
    newest: Option<(u32, Digit)>,
    /// The last few reported presses, for senders that reuse a timestamp (below).
    reported: [Option<(u32, Digit)>; RECENT],
    reported_next: usize,
    active: Option<ActiveEvent>,
    pending: VecDeque<ReceivedDigit>,
}

impl Default for DtmfReceiver {
    fn default() -> Self {
        DtmfReceiver::new(DtmfReceiverConfig::default())
    }
}

impl DtmfReceiver {
    pub fn new(config: DtmfReceiverConfig) -> Self {
        DtmfReceiver {
            config,
            newest: None,
            reported: [None; RECENT],
            reported_next: 0,
            active: None,
            pending: VecDeque::with_capacity(4),
        }
    }

    /// Feeds one packet: its RTP timestamp, marker bit and payload. A bad payload changes
    /// nothing and is returned as an error for the caller to count.
    pub fn handle_packet(
        &mut self,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        now: Instant,
    ) -> Result<(), DtmfError> {
        let event = TelephoneEvent::parse(payload)?;
        match self.relate(timestamp, marker, event) {
            Relation::Current => {
                self.update_same(event, now);
                return Ok(());
            }
            Relation::Stale => return Ok(()),
            Relation::NextSegment => {
                self.newest = Some((timestamp, event.digit));
                if let Some(active) = self.active.as_mut() {
                    active.earlier = active.earlier.saturating_add(u32::from(active.duration));
                    active.segment_ts = timestamp;
                    active.duration = 0;
                }
                self.update_same(event, now);
                return Ok(());
            }
            Relation::New => {}
        }
        if let Some(old) = self.active.take() {
            self.push(old.report(DigitEnd::NextEvent));
        }
        self.newest = Some((timestamp, event.digit));
        self.active = Some(ActiveEvent {
            digit: event.digit,
            segment_ts: timestamp,
            first_ts: timestamp,
            earlier: 0,
            duration: 0,
            last_update: now,
        });
        self.update_same(event, now);
        Ok(())
    }

    /// How a packet relates to the events seen so far.
    fn relate(&self, timestamp: u32, marker: bool, event: TelephoneEvent) -> Relation {
        let Some((newest, newest_digit)) = self.newest else {
            return Relation::New;
        };
        let behind = newest.wrapping_sub(timestamp);
        if behind == 0 {
            if newest_digit == event.digit {
                return Relation::Current;
            }
            if self.reported.contains(&Some((timestamp, event.digit))) {
                return Relation::Stale;
            }
            // A different key at the same timestamp: a sender that does not advance its
            // clock between presses (it sends no audio). Still a new press.
            return Relation::New;
        }
        if self.active.is_some_and(|a| behind <= a.earlier) {
            // An earlier segment of the long event in progress.
            return Relation::Stale;
        }
        if behind <= REORDER_WINDOW {
            return Relation::Stale;
        }
        if self.continues_long_event(timestamp, marker, event) {
            return Relation::NextSegment;
        }
        Relation::New
    }

    /// Section 2.5.1.3: an event longer than 0xFFFF continues in a new segment whose
    /// timestamp is the old one plus 0xFFFF, without the marker bit.
    fn continues_long_event(&self, timestamp: u32, marker: bool, event: TelephoneEvent) -> bool {
        self.active.is_some_and(|a| {
            !marker
                && a.digit == event.digit
                && a.duration == u16::MAX
                && a.segment_ts.wrapping_add(u32::from(u16::MAX)) == timestamp
        })
    }

    /// A packet of the newest event: grow the duration, report on the first end packet,
    /// ignore everything once reported.
    fn update_same(&mut self, event: TelephoneEvent, now: Instant) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        active.duration = active.duration.max(event.duration);
        active.last_update = now;
        if event.end {
            let done = active.report(DigitEnd::EndPacket);
            self.active = None;
            self.push(done);
        }
    }

    fn push(&mut self, digit: ReceivedDigit) {
        if let Some(slot) = self.reported.get_mut(self.reported_next % RECENT) {
            *slot = Some((digit.timestamp, digit.digit));
        }
        self.reported_next = self.reported_next.wrapping_add(1);
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(digit);
    }

    /// The next finished press, oldest first.
    #[must_use]
    pub fn poll_digit(&mut self) -> Option<ReceivedDigit> {
        self.pending.pop_front()
    }

    /// When the current press will be declared over if no packet arrives.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // A timeout too large to represent means "never".
        self.active
            .as_ref()
            .and_then(|a| a.last_update.checked_add(self.config.end_timeout))
    }

    /// Reports the current press if its updates stopped (end packets lost).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout()
            && now >= deadline
            && let Some(active) = self.active.take()
        {
            self.push(active.report(DigitEnd::Timeout));
        }
    }

    /// Forgets the stream (new SSRC, re-INVITE); a press in progress is dropped unreported.
    pub fn reset(&mut self) {
        self.newest = None;
        self.active = None;
        self.reported = [None; RECENT];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::DtmfSender;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn payload(digit: Digit, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            digit,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    fn drain(rx: &mut DtmfReceiver) -> Vec<ReceivedDigit> {
        std::iter::from_fn(|| rx.poll_digit()).collect()
    }

    /// Sends a whole press as a well-behaved sender would, on the virtual clock `t0 + at`.
    fn press(rx: &mut DtmfReceiver, t0: Instant, at: Duration, digit: Digit, ts: u32) {
        let mut tx = DtmfSender::new(digit, ts, ms(100), t0 + at);
        while let Some(when) = tx.poll_timeout() {
            let p = tx.poll_packet(when).unwrap();
            rx.handle_packet(p.timestamp, p.marker, &p.payload, when)
                .unwrap();
        }
    }

    #[test]
    fn each_press_reported_once_despite_repeats() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        press(&mut rx, t0, ms(0), Digit::D4, 8000);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digit, Digit::D4);
        assert_eq!(got[0].timestamp, 8000);
        assert_eq!(got[0].samples, 800);
        assert_eq!(got[0].duration(), ms(100));
        assert_eq!(got[0].ended_by, DigitEnd::EndPacket);
        assert_eq!(rx.poll_timeout(), None);
        // A duplicated end packet much later changes nothing.
        rx.handle_packet(8000, false, &payload(Digit::D4, true, 800), t0 + ms(500))
            .unwrap();
        assert!(drain(&mut rx).is_empty());
    }

    #[test]
    fn same_key_twice_is_two_digits() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        press(&mut rx, t0, ms(0), Digit::D7, 1000);
        press(&mut rx, t0, ms(300), Digit::D7, 1000 + 2400);
        let got: Vec<(Digit, u32)> = drain(&mut rx)
            .iter()
            .map(|d| (d.digit, d.timestamp))
            .collect();
        assert_eq!(got, [(Digit::D7, 1000), (Digit::D7, 3400)]);
    }

    #[test]
    fn lost_end_packets_are_reported_on_timeout() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        for i in 0..4u16 {
            let now = t0 + ms(20) * u32::from(i);
            rx.handle_packet(500, i == 0, &payload(Digit::D9, false, 160 * (i + 1)), now)
                .unwrap();
        }
        assert!(drain(&mut rx).is_empty());
        let deadline = rx.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + ms(60) + ms(300));
        rx.handle_timeout(deadline - ms(1));
        assert!(drain(&mut rx).is_empty());
        rx.handle_timeout(deadline);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].digit, got[0].samples, got[0].ended_by),
            (Digit::D9, 640, DigitEnd::Timeout)
        );
        // The end packets arriving after all must not report it again.
        rx.handle_packet(500, false, &payload(Digit::D9, true, 800), deadline + ms(5))
            .unwrap();
        assert!(drain(&mut rx).is_empty());
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn new_event_flushes_an_unfinished_one() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        rx.handle_packet(100, true, &payload(Digit::D1, false, 160), t0)
            .unwrap();
        // End packets of '1' lost; '2' starts and ends quickly (only its end got through).
        rx.handle_packet(1700, true, &payload(Digit::D2, true, 640), t0 + ms(200))
            .unwrap();
        let got: Vec<(Digit, DigitEnd)> = drain(&mut rx)
            .iter()
            .map(|d| (d.digit, d.ended_by))
            .collect();
        assert_eq!(
            got,
            [
                (Digit::D1, DigitEnd::NextEvent),
                (Digit::D2, DigitEnd::EndPacket)
            ]
        );
    }

    #[test]
    fn late_packets_of_an_old_event_are_ignored() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        press(&mut rx, t0, ms(0), Digit::D3, 10_000);
        press(&mut rx, t0, ms(300), Digit::D5, 12_400);
        assert_eq!(drain(&mut rx).len(), 2);
        rx.handle_packet(10_000, false, &payload(Digit::D3, false, 320), t0 + ms(600))
            .unwrap();
        rx.handle_packet(10_000, true, &payload(Digit::D3, true, 800), t0 + ms(600))
            .unwrap();
        assert!(drain(&mut rx).is_empty());
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn timestamp_wraparound_and_sender_restart() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        press(&mut rx, t0, ms(0), Digit::A, u32::MAX - 100);
        press(&mut rx, t0, ms(300), Digit::B, 2300);
        // A sender restart jumps far back: treated as a new event, not a late one.
        press(
            &mut rx,
            t0,
            ms(600),
            Digit::C,
            2300u32.wrapping_sub(1_000_000),
        );
        let got: Vec<Digit> = drain(&mut rx).iter().map(|d| d.digit).collect();
        assert_eq!(got, [Digit::A, Digit::B, Digit::C]);
    }

    #[test]
    fn long_event_segments_are_one_press() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        rx.handle_packet(50, true, &payload(Digit::D0, false, 30_000), t0)
            .unwrap();
        rx.handle_packet(
            50,
            false,
            &payload(Digit::D0, false, u16::MAX),
            t0 + ms(100),
        )
        .unwrap();
        let next = 50 + u32::from(u16::MAX);
        rx.handle_packet(next, false, &payload(Digit::D0, false, 800), t0 + ms(200))
            .unwrap();
        // A late update of the first segment is neither a new press nor a flush.
        rx.handle_packet(50, false, &payload(Digit::D0, false, 40_000), t0 + ms(210))
            .unwrap();
        assert!(drain(&mut rx).is_empty());
        rx.handle_packet(next, false, &payload(Digit::D0, true, 1600), t0 + ms(300))
            .unwrap();
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timestamp, 50);
        assert_eq!(got[0].samples, u32::from(u16::MAX) + 1600);
    }

    #[test]
    fn keys_sharing_a_timestamp_are_separate_presses() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        for (i, digit) in [Digit::D1, Digit::D2].into_iter().enumerate() {
            let at = t0 + ms(300) * i as u32;
            rx.handle_packet(90, true, &payload(digit, false, 160), at)
                .unwrap();
            for _ in 0..3 {
                rx.handle_packet(90, false, &payload(digit, true, 800), at + ms(80))
                    .unwrap();
            }
        }
        // A late end packet of the first key must not report it twice.
        rx.handle_packet(90, false, &payload(Digit::D1, true, 800), t0 + ms(700))
            .unwrap();
        let got: Vec<Digit> = drain(&mut rx).iter().map(|d| d.digit).collect();
        assert_eq!(got, [Digit::D1, Digit::D2]);
        // Without end packets, the second key also ends the first.
        let mut rx = DtmfReceiver::default();
        rx.handle_packet(5, true, &payload(Digit::A, false, 160), t0)
            .unwrap();
        rx.handle_packet(5, true, &payload(Digit::B, false, 160), t0 + ms(50))
            .unwrap();
        let got: Vec<(Digit, DigitEnd)> = drain(&mut rx)
            .iter()
            .map(|d| (d.digit, d.ended_by))
            .collect();
        assert_eq!(got, [(Digit::A, DigitEnd::NextEvent)]);
    }

    #[test]
    fn bad_payloads_change_nothing() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        assert_eq!(
            rx.handle_packet(1, true, &[], t0),
            Err(DtmfError::TooShort(0))
        );
        assert_eq!(
            rx.handle_packet(1, true, &[16, 0x80, 0, 160], t0),
            Err(DtmfError::UnsupportedEvent(16))
        );
        assert_eq!(rx.poll_timeout(), None);
        assert!(drain(&mut rx).is_empty());
    }

    #[test]
    fn reset_forgets_the_stream() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        press(&mut rx, t0, ms(0), Digit::D1, 4000);
        assert_eq!(drain(&mut rx).len(), 1);
        rx.reset();
        // The new sender happens to reuse the timestamp: still a new press.
        press(&mut rx, t0, ms(300), Digit::D1, 4000);
        assert_eq!(drain(&mut rx).len(), 1);
    }

    #[test]
    fn pending_reports_are_bounded() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::default();
        for i in 0..100u32 {
            rx.handle_packet(
                i * 1600,
                true,
                &payload(Digit::D8, true, 400),
                t0 + ms(200) * i,
            )
            .unwrap();
        }
        let got = drain(&mut rx);
        assert_eq!(got.len(), MAX_PENDING);
        assert_eq!(got.last().unwrap().timestamp, 99 * 1600);
    }

    proptest! {
        #[test]
        fn receiver_never_panics(packets in proptest::collection::vec(
            (any::<u32>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..6), 0u64..2000),
            0..64,
        )) {
            let t0 = Instant::now();
            let mut rx = DtmfReceiver::default();
            let mut now = t0;
            for (ts, marker, bytes, step) in packets {
                now += Duration::from_millis(step);
                let _ = rx.handle_packet(ts, marker, &bytes, now);
                rx.handle_timeout(now);
                while rx.poll_digit().is_some() {}
            }
        }

        #[test]
        fn any_sent_press_is_received_once(
            code in 0u8..16, ts in any::<u32>(), millis in 40u64..3000, lose_ends in any::<bool>(),
        ) {
            let t0 = Instant::now();
            let digit = Digit::from_event(code).unwrap();
            let mut tx = DtmfSender::new(digit, ts, ms(millis), t0);
            let mut rx = DtmfReceiver::default();
            let mut last = t0;
            while let Some(when) = tx.poll_timeout() {
                let p = tx.poll_packet(when).unwrap();
                last = when;
                if !(lose_ends && p.end) {
                    rx.handle_packet(p.timestamp, p.marker, &p.payload, when).unwrap();
                }
            }
            rx.handle_timeout(last + Duration::from_secs(1));
            let got = drain(&mut rx);
            prop_assert_eq!(got.len(), 1);
            prop_assert_eq!(got[0].digit, digit);
            prop_assert_eq!(got[0].timestamp, ts);
        }
    }
}
