//! The sending side of RFC 4733: the paced packets of one key press.

use std::time::{Duration, Instant};

use super::{Digit, EVENT_PAYLOAD_LEN, TelephoneEvent};
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Volume of the events we send: -10 dBm0, a usual level for DTMF.
pub const DEFAULT_VOLUME: u8 = 10;

/// One packet to send for a key press; the caller adds sequence number and SSRC of the
/// audio stream and suppresses audio while the event is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Set on the first packet only.
    pub marker: bool,
    /// The event's start timestamp, the same for every packet of the press.
    pub timestamp: u32,
    pub payload: [u8; EVENT_PAYLOAD_LEN],
    /// The packet carries the end bit (the last three do).
    pub end: bool,
}

/// Times the end packet is sent (RFC 4733 section 2.5.1.4).
const END_REPEATS: u32 = 3;
/// Packet interval of the sender.
const PACKET_INTERVAL: Duration = Duration::from_millis(20);

/// Paces the packets of one key press (RFC 4733 section 2.5.1): a first packet with the
/// marker bit, an update every 20 ms with the duration so far, then the end packet three
/// times with the final duration, all with the event's start timestamp.
///
/// Contract: arm a timer at [`poll_timeout`](Self::poll_timeout) and call
/// [`poll_packet`](Self::poll_packet) until it returns `None` each time it fires; the press
/// is fully sent when [`is_done`](Self::is_done).
#[derive(Debug, Clone)]
pub struct DtmfSender {
    digit: Digit,
    timestamp: u32,
    volume: u8,
    /// Final duration in samples.
    total: u16,
    /// Packets before the first end packet.
    updates: u32,
    /// Index of the next packet to send.
    next: u32,
    started: Instant,
}

impl DtmfSender {
    /// Starts a press of `duration` (clamped to one frame .. 0xFFFF samples, about 8 s)
    /// with the RTP timestamp the audio stream would have at `now`.
    pub fn new(digit: Digit, timestamp: u32, duration: Duration, now: Instant) -> Self {
        let samples = duration
            .as_micros()
            .saturating_mul(u128::from(SAMPLE_RATE))
            .div_ceil(1_000_000);
        let total = u16::try_from(samples)
            .unwrap_or(u16::MAX)
            .max(FRAME_SAMPLES as u16);
        let frames = u32::from(total).div_ceil(FRAME_SAMPLES as u32);
        DtmfSender {
            digit,
            timestamp,
            volume: DEFAULT_VOLUME,
            total,
            updates: frames - 1,
            next: 0,
            started: now,
        }
    }

    /// Sets the volume (0..=63 meaning 0 to -63 dBm0; larger values are clamped).
    pub fn with_volume(mut self, volume: u8) -> Self {
        self.volume = volume.min(63);
        self
    }

    /// The final duration in samples.
    pub fn duration_samples(&self) -> u16 {
        self.total
    }

    /// All packets, the three end packets included, have been sent.
    pub fn is_done(&self) -> bool {
        self.next >= self.updates + END_REPEATS
    }

    /// When the next packet is due; `None` once all are sent.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        // Cannot overflow for real clocks; if it did, the packet is simply due now.
        Some(
            self.started
                .checked_add(PACKET_INTERVAL * self.next)
                .unwrap_or(self.started),
        )
    }

    /// The next packet if it is due at `now`. Call repeatedly: after a late wake-up several
    /// packets may be due at once.
    #[must_use]
    pub fn poll_packet(&mut self, now: Instant) -> Option<DtmfPacket> {
        if now < self.poll_timeout()? {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let end = index >= self.updates;
        let duration = if end {
            self.total
        } else {
            // index < updates <= 409, so this fits and stays below the final duration.
            u16::try_from((index + 1) * FRAME_SAMPLES as u32).unwrap_or(self.total)
        };
        let event = TelephoneEvent {
            digit: self.digit,
            end,
            volume: self.volume,
            duration,
        };
        Some(DtmfPacket {
            marker: index == 0,
            timestamp: self.timestamp,
            payload: event.to_bytes(),
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn sender_follows_rfc_4733_pacing() {
        let t0 = Instant::now();
        let mut tx = DtmfSender::new(Digit::Hash, 1000, ms(100), t0);
        assert_eq!(tx.duration_samples(), 800);
        let mut sent = Vec::new();
        while let Some(when) = tx.poll_timeout() {
            assert_eq!(tx.poll_packet(when - ms(1)), None, "not due yet");
            let p = tx.poll_packet(when).unwrap();
            assert_eq!(p.marker, sent.is_empty());
            assert_eq!(p.timestamp, 1000);
            let ev = TelephoneEvent::parse(&p.payload).unwrap();
            assert_eq!(p.end, ev.end);
            sent.push((when, ev));
        }
        assert!(tx.is_done());
        assert_eq!(tx.poll_packet(t0 + ms(10_000)), None);
        let durations: Vec<u16> = sent.iter().map(|(_, e)| e.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<bool> = sent.iter().map(|(_, e)| e.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        for (i, (when, ev)) in sent.iter().enumerate() {
            assert_eq!(*when, t0 + ms(20) * i as u32);
            assert_eq!(ev.digit, Digit::Hash);
            assert_eq!(ev.volume, DEFAULT_VOLUME);
        }
    }

    #[test]
    fn sender_first_packet_has_marker_and_catches_up_after_late_wakeup() {
        let t0 = Instant::now();
        let mut tx = DtmfSender::new(Digit::D1, 7, ms(60), t0).with_volume(200);
        let late: Vec<DtmfPacket> = std::iter::from_fn(|| tx.poll_packet(t0 + ms(1000))).collect();
        assert_eq!(late.len(), 5);
        assert!(late[0].marker && late.iter().skip(1).all(|p| !p.marker));
        assert_eq!(TelephoneEvent::parse(&late[0].payload).unwrap().volume, 63);
        assert!(tx.is_done() && tx.poll_timeout().is_none());
    }

    #[test]
    fn sender_clamps_durations() {
        let t0 = Instant::now();
        assert_eq!(
            DtmfSender::new(Digit::D1, 0, ms(0), t0).duration_samples(),
            160
        );
        assert_eq!(
            DtmfSender::new(Digit::D1, 0, ms(45), t0).duration_samples(),
            360
        );
        let long = DtmfSender::new(Digit::D1, 0, Duration::from_secs(3600), t0);
        assert_eq!(long.duration_samples(), u16::MAX);
        let mut long = long;
        let n = std::iter::from_fn(|| long.poll_packet(t0 + Duration::from_secs(100))).count();
        assert_eq!(n, 410 + 2);
    }
}
