//! RTP inactivity detection: a call whose peer stopped sending media is usually a call
//! whose BYE got lost (NAT timeout, crashed phone), and it must not hold an agent forever.
//!
//! While the call is on hold (sendonly, recvonly or inactive direction) the peer is allowed
//! to send nothing, so the detector can be paused.

use std::time::{Duration, Instant};

use thiserror::Error;

/// A configuration that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InactivityError {
    #[error("RTP inactivity timeout must be longer than zero")]
    ZeroTimeout,
}

/// What the detector reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactivityEvent {
    /// No packet since `since` (the last packet, or the start or resume of watching) for
    /// the whole timeout. Reported once per silent period.
    Inactive { since: Instant },
    /// Packets flow again after an [`Inactive`](Self::Inactive) report.
    Resumed,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for packets; silence is counted from `last`.
    Watching { last: Instant },
    /// `Inactive` was reported; waiting for a packet to re-arm.
    Reported,
    /// Not watching (hold).
    Paused,
}

/// Raises [`InactivityEvent::Inactive`] when no RTP arrived for the configured timeout.
///
/// Contract: call [`handle_packet`](Self::handle_packet) for every packet received on the
/// stream (RTP or RTCP, as the caller prefers), arm a timer at
/// [`poll_timeout`](Self::poll_timeout) and call [`handle_timeout`](Self::handle_timeout)
/// when it fires. [`pause`](Self::pause) while the peer is allowed to be silent,
/// [`resume`](Self::resume) when it no longer is.
#[derive(Debug, Clone)]
pub struct InactivityDetector {
    timeout: Duration,
    state: State,
}

impl InactivityDetector {
    /// Starts watching at `now`: a peer that never sends is reported `timeout` later.
    pub fn new(timeout: Duration, now: Instant) -> Result<Self, InactivityError> {
        if timeout.is_zero() {
            return Err(InactivityError::ZeroTimeout);
        }
        Ok(InactivityDetector {
            timeout,
            state: State::Watching { last: now },
        })
    }

    /// A packet arrived; returns [`InactivityEvent::Resumed`] if the stream had been
    /// reported inactive.
    pub fn handle_packet(&mut self, now: Instant) -> Option<InactivityEvent> {
        match self.state {
            State::Paused => None,
            State::Reported => {
                self.state = State::Watching { last: now };
                Some(InactivityEvent::Resumed)
            }
            State::Watching { last } => {
                // Packets handled out of order by the caller must not move silence back.
                self.state = State::Watching {
                    last: last.max(now),
                };
                None
            }
        }
    }

    /// When the stream will be declared inactive; `None` while paused or already reported.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            // A timeout too large to represent means "never".
            State::Watching { last } => last.checked_add(self.timeout),
            State::Reported | State::Paused => None,
        }
    }

    /// Reports inactivity once the deadline has passed.
    #[must_use]
    pub fn handle_timeout(&mut self, now: Instant) -> Option<InactivityEvent> {
        let State::Watching { last } = self.state else {
            return None;
        };
        if now < self.poll_timeout()? {
            return None;
        }
        self.state = State::Reported;
        Some(InactivityEvent::Inactive { since: last })
    }

    /// Stops watching (hold: the peer may legitimately send nothing).
    pub fn pause(&mut self) {
        self.state = State::Paused;
    }

    /// Watches again, counting silence from `now`. Does nothing unless paused.
    pub fn resume(&mut self, now: Instant) {
        if let State::Paused = self.state {
            self.state = State::Watching { last: now };
        }
    }

    pub fn is_paused(&self) -> bool {
        matches!(self.state, State::Paused)
    }

    /// Changes the timeout (re-INVITE, new configuration); the silence counted so far
    /// stays.
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), InactivityError> {
        if timeout.is_zero() {
            return Err(InactivityError::ZeroTimeout);
        }
        self.timeout = timeout;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn detector(t0: Instant) -> InactivityDetector {
        InactivityDetector::new(secs(30), t0).unwrap()
    }

    #[test]
    fn a_peer_that_never_sends_is_reported() {
        let t0 = Instant::now();
        let mut d = detector(t0);
        assert_eq!(d.poll_timeout(), Some(t0 + secs(30)));
        assert_eq!(d.handle_timeout(t0 + secs(29)), None);
        assert_eq!(
            d.handle_timeout(t0 + secs(30)),
            Some(InactivityEvent::Inactive { since: t0 })
        );
    }

    #[test]
    fn packets_push_the_deadline() {
        let t0 = Instant::now();
        let mut d = detector(t0);
        for i in 1..=100 {
            assert_eq!(d.handle_packet(t0 + Duration::from_millis(20 * i)), None);
        }
        let last = t0 + secs(2);
        assert_eq!(d.poll_timeout(), Some(last + secs(30)));
        assert_eq!(d.handle_timeout(t0 + secs(31)), None);
        // A late call with an older `now` does not move the deadline back.
        d.handle_packet(t0 + secs(1));
        assert_eq!(d.poll_timeout(), Some(last + secs(30)));
    }

    #[test]
    fn reported_once_per_silent_period_and_rearmed_by_a_packet() {
        let t0 = Instant::now();
        let mut d = detector(t0);
        assert!(d.handle_timeout(t0 + secs(30)).is_some());
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + secs(90)), None, "only once");
        assert_eq!(
            d.handle_packet(t0 + secs(100)),
            Some(InactivityEvent::Resumed)
        );
        assert_eq!(d.handle_packet(t0 + secs(101)), None);
        assert_eq!(d.poll_timeout(), Some(t0 + secs(131)));
        assert_eq!(
            d.handle_timeout(t0 + secs(131)),
            Some(InactivityEvent::Inactive {
                since: t0 + secs(101)
            })
        );
    }

    #[test]
    fn paused_while_on_hold() {
        let t0 = Instant::now();
        let mut d = detector(t0);
        d.handle_packet(t0 + secs(5));
        d.pause();
        assert!(d.is_paused());
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + secs(600)), None);
        assert_eq!(d.handle_packet(t0 + secs(601)), None);
        assert!(d.is_paused(), "packets do not end a hold");
        d.resume(t0 + secs(700));
        assert_eq!(d.poll_timeout(), Some(t0 + secs(730)));
        // Resume while watching changes nothing.
        d.resume(t0 + secs(720));
        assert_eq!(d.poll_timeout(), Some(t0 + secs(730)));
        assert_eq!(
            d.handle_timeout(t0 + secs(730)),
            Some(InactivityEvent::Inactive {
                since: t0 + secs(700)
            })
        );
    }

    #[test]
    fn pause_after_report_then_resume_rearms() {
        let t0 = Instant::now();
        let mut d = detector(t0);
        assert!(d.handle_timeout(t0 + secs(30)).is_some());
        d.pause();
        d.resume(t0 + secs(40));
        assert_eq!(d.poll_timeout(), Some(t0 + secs(70)));
    }

    #[test]
    fn timeouts_are_validated_and_can_change() {
        let t0 = Instant::now();
        assert_eq!(
            InactivityDetector::new(Duration::ZERO, t0).unwrap_err(),
            InactivityError::ZeroTimeout
        );
        let mut d = detector(t0);
        assert_eq!(
            d.set_timeout(Duration::ZERO),
            Err(InactivityError::ZeroTimeout)
        );
        d.set_timeout(secs(60)).unwrap();
        assert_eq!(d.poll_timeout(), Some(t0 + secs(60)));
        d.set_timeout(Duration::MAX).unwrap();
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + secs(1_000_000)), None);
    }
}
