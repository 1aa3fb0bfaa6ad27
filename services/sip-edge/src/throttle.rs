//! Throttling of sources that keep failing authentication (password guessing, svcrack).
//!
//! Pure state: failures and `now` in, a verdict out. Memory is bounded: at most
//! `max_sources` addresses are tracked; the stalest entry makes room for a new one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures within `window` that block a source.
    pub max_failures: u32,
    pub window: Duration,
    /// How long a blocked source stays blocked; it doubles on each repeat offence up to 16x.
    pub block_for: Duration,
    pub max_sources: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
    offences: u32,
    last_seen: Instant,
}

#[derive(Debug)]
pub struct AuthThrottle {
    config: ThrottleConfig,
    sources: HashMap<IpAddr, Entry>,
}

impl AuthThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        AuthThrottle {
            config,
            sources: HashMap::new(),
        }
    }

    /// Whether requests from `ip` should be ignored right now.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.sources
            .get(&ip)
            .and_then(|e| e.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Records one failed authentication; returns true when this failure blocked the source.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.config.max_sources {
            self.evict_one(now);
        }
        let window = self.config.window;
        let e = self.sources.entry(ip).or_insert(Entry {
            window_start: now,
            failures: 0,
            blocked_until: None,
            offences: 0,
            last_seen: now,
        });
        e.last_seen = now;
        if now.duration_since(e.window_start) > window {
            e.window_start = now;
            e.failures = 0;
        }
        e.failures += 1;
        if e.failures >= self.config.max_failures {
            let factor = 1u32 << e.offences.min(4);
            e.blocked_until = Some(now + self.config.block_for * factor);
            e.offences += 1;
            e.failures = 0;
            e.window_start = now;
            return true;
        }
        false
    }

    /// A successful authentication clears the failure count (not an active block).
    pub fn record_success(&mut self, ip: IpAddr) {
        if let Some(e) = self.sources.get_mut(&ip)
            && e.blocked_until.is_none()
        {
            self.sources.remove(&ip);
        }
    }

    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    fn evict_one(&mut self, now: Instant) {
        // Prefer an entry that is neither blocked nor recent; otherwise the least recently seen.
        let victim = self
            .sources
            .iter()
            .min_by_key(|(_, e)| (e.blocked_until.is_some_and(|u| u > now), e.last_seen))
            .map(|(ip, _)| *ip);
        if let Some(ip) = victim {
            self.sources.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max_sources: usize) -> AuthThrottle {
        AuthThrottle::new(ThrottleConfig {
            max_failures: 3,
            window: Duration::from_secs(60),
            block_for: Duration::from_secs(10),
            max_sources,
        })
    }

    #[test]
    fn repeated_failures_block_then_release_and_repeat_offences_block_longer() {
        let mut t = throttle(10);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        assert!(!t.record_failure(ip, t0));
        assert!(!t.record_failure(ip, t0));
        assert!(t.record_failure(ip, t0));
        assert!(t.is_blocked(ip, t0 + Duration::from_secs(9)));
        assert!(!t.is_blocked(ip, t0 + Duration::from_secs(10)));
        let t1 = t0 + Duration::from_secs(11);
        for _ in 0..3 {
            t.record_failure(ip, t1);
        }
        assert!(
            t.is_blocked(ip, t1 + Duration::from_secs(19)),
            "second offence blocks for twice as long"
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut t = throttle(10);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        t.record_failure(ip, t0);
        t.record_failure(ip, t0);
        assert!(!t.record_failure(ip, t0 + Duration::from_secs(61)));
        t.record_success(ip);
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn memory_is_bounded_and_blocked_sources_survive_eviction() {
        let mut t = throttle(2);
        let t0 = Instant::now();
        let bad: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            t.record_failure(bad, t0);
        }
        for i in 2..50u8 {
            t.record_failure(
                IpAddr::from([192, 0, 2, i]),
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert_eq!(t.tracked(), 2);
        assert!(t.is_blocked(bad, t0 + Duration::from_secs(1)));
    }
}
