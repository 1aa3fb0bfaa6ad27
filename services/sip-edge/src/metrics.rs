//! Counters of the SIP front door, cheap enough for the per-message path.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub malformed: AtomicU64,
    pub overload_rejected: AtomicU64,
    pub send_dropped: AtomicU64,
    pub auth_failures: AtomicU64,
    pub throttled: AtomicU64,
    pub registrations: AtomicU64,
}

impl Counters {
    /// A snapshot as (name, value) pairs for logs and metrics export.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("sip_messages_received_total", g(&self.received)),
            ("sip_messages_malformed_total", g(&self.malformed)),
            (
                "sip_requests_rejected_overload_total",
                g(&self.overload_rejected),
            ),
            ("sip_sends_dropped_total", g(&self.send_dropped)),
            ("sip_auth_failures_total", g(&self.auth_failures)),
            ("sip_requests_throttled_total", g(&self.throttled)),
            ("sip_registrations_total", g(&self.registrations)),
        ]
    }
}
