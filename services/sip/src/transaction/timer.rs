//! Transaction timers as data: the RFC's names, their base values, and a per-transaction
//! table of deadlines whose minimum is the next wake-up.

use std::time::{Duration, Instant};

/// The timers of RFC 3261 17 (A-K) and RFC 6026 (L, M).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client retransmission.
    A,
    /// INVITE client timeout.
    B,
    /// INVITE client wait for final response retransmissions.
    D,
    /// Non-INVITE client retransmission.
    E,
    /// Non-INVITE client timeout.
    F,
    /// INVITE server final response retransmission.
    G,
    /// INVITE server wait for ACK.
    H,
    /// INVITE server wait for ACK retransmissions.
    I,
    /// Non-INVITE server wait for request retransmissions.
    J,
    /// Non-INVITE client wait for response retransmissions.
    K,
    /// INVITE server in Accepted: wait for INVITE retransmissions (RFC 6026).
    L,
    /// INVITE client in Accepted: wait for 2xx retransmissions (RFC 6026).
    M,
}

impl Timer {
    const ALL: [Timer; 12] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Timer base values (RFC 3261 17.1.1.1 and table 4). Lower them in tests or on
/// networks known to be fast; raise T1 for high-latency links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip estimate: first retransmission interval.
    pub t1: Duration,
    /// Cap on retransmission intervals of non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// How long a message may stay in the network.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Timer D on unreliable transports (RFC 3261: "at least 32 seconds").
pub(crate) const TIMER_D: Duration = Duration::from_secs(32);

impl TimerConfig {
    /// B, F, H, L and M: 64*T1.
    pub(crate) fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// The next retransmission interval after `current`, capped at T2.
    pub(crate) fn backoff_capped(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.t2)
    }

    /// Zero durations would make a retransmission timer fire forever at the same instant.
    pub(crate) fn sanitized(self) -> Self {
        let min = Duration::from_millis(1);
        TimerConfig {
            t1: self.t1.max(min),
            t2: self.t2.max(min),
            t4: self.t4.max(min),
        }
    }
}

/// The deadlines of one transaction, one slot per timer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Timers([Option<Instant>; Timer::ALL.len()]);

impl Timers {
    /// Arms `timer` to fire `after` from `now`; a deadline past the end of time never fires.
    pub(crate) fn set(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.0[timer.index()] = now.checked_add(after);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.0[timer.index()] = None;
    }

    pub(crate) fn clear(&mut self) {
        self.0 = Default::default();
    }

    /// The next wake-up: the earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (i, _) = self
            .0
            .iter()
            .enumerate()
            .filter_map(|(i, at)| at.filter(|at| *at <= now).map(|at| (i, at)))
            .min_by_key(|(_, at)| *at)?;
        self.0[i] = None;
        Timer::ALL.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_deadline_is_the_earliest_armed_timer() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(Timer::B, t0, Duration::from_secs(32));
        t.set(Timer::A, t0, Duration::from_millis(500));
        assert_eq!(t.next(), Some(t0 + Duration::from_millis(500)));
        t.stop(Timer::A);
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(32)));
    }

    #[test]
    fn expired_timers_pop_in_deadline_order_and_only_once() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set(Timer::K, t0, Duration::from_secs(2));
        t.set(Timer::E, t0, Duration::from_secs(1));
        t.set(Timer::F, t0, Duration::from_secs(3));
        let now = t0 + Duration::from_secs(2);
        assert_eq!(t.pop_expired(now), Some(Timer::E));
        assert_eq!(t.pop_expired(now), Some(Timer::K));
        assert_eq!(t.pop_expired(now), None);
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn a_deadline_beyond_instant_range_never_fires() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set(Timer::B, t0, Duration::MAX);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn default_config_is_rfc_3261_and_backoff_caps_at_t2() {
        let c = TimerConfig::default();
        assert_eq!(c.timeout(), Duration::from_secs(32));
        assert_eq!(
            c.backoff_capped(Duration::from_secs(1)),
            Duration::from_secs(2)
        );
        assert_eq!(
            c.backoff_capped(Duration::from_secs(2)),
            Duration::from_secs(4)
        );
        assert_eq!(
            c.backoff_capped(Duration::from_secs(4)),
            Duration::from_secs(4)
        );
        let zero = TimerConfig {
            t1: Duration::ZERO,
            ..c
        }
        .sanitized();
        assert!(zero.t1 > Duration::ZERO);
    }
}
