//! Unit tests of the core, driven on a virtual clock (`T0` plus offsets in seconds).

#![allow(clippy::unwrap_used)]

mod control;
mod fencing;
mod order;
mod requests;
mod retries;

use std::time::Duration;

use super::*;

/// 2023-11-14T22:13:20Z.
pub(super) const T0: i64 = 1_700_000_000_000;
pub(super) const HOUR: u64 = 3600;
pub(super) const DAY: u64 = 24 * HOUR;
pub(super) const TOKEN: LeaderToken = LeaderToken(10);

/// `secs` after `T0`.
pub(super) fn at(secs: u64) -> Timestamp {
    Timestamp::from_unix_ms(T0).saturating_add(Duration::from_secs(secs))
}

pub(super) fn dept(name: &str) -> Target {
    Target::department(name)
}

/// A window from `from` to `to` seconds after `T0`, in Berlin.
pub(super) fn window(from: u64, to: u64) -> Window {
    Window::new(at(from), at(to), "Europe/Berlin").unwrap()
}

/// A scheduled (API) request for `number`, for the department `target`, open for a day
/// from `from`.
pub(super) fn request(id: &str, number: &str, target: &str, from: u64) -> Request {
    Request {
        id: id.into(),
        number: PhoneNumber::parse(number).unwrap(),
        name: format!("caller {id}"),
        reason: format!("reason {id}"),
        target: dept(target),
        source: Source::Api,
        window: window(from, from + DAY),
        enqueued_at: None,
        priority: Priority(0),
        max_attempts: None,
    }
}

/// A virtual-hold request: the caller joined the queue `enqueued` seconds after `T0`.
pub(super) fn hold(id: &str, number: &str, target: &str, enqueued: u64, now: u64) -> Request {
    Request {
        source: Source::VirtualHold,
        enqueued_at: Some(at(enqueued)),
        ..request(id, number, target, now)
    }
}

/// A core plus a virtual clock.
pub(super) struct Harness {
    pub core: CallbackCore,
    pub now: Timestamp,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(CoreConfig::default(), AlwaysOpen)
    }

    pub fn with(config: CoreConfig, hours: impl Hours + 'static) -> Self {
        Self {
            core: CallbackCore::new(config, TOKEN, hours),
            now: at(0),
        }
    }

    /// Moves the clock to `secs` after `T0`, firing every deadline on the way.
    pub fn advance_to(&mut self, secs: u64) {
        let target = at(secs);
        while let Some(deadline) = self.core.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            self.core.handle_timeout(self.now);
        }
        self.now = target;
        self.core.handle_timeout(self.now);
    }

    pub fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    /// Drains the outputs and returns the dispatches as (id, attempt).
    pub fn dispatched(&mut self) -> Vec<(String, u32)> {
        self.drain()
            .into_iter()
            .filter_map(|o| match o {
                Output::Dispatch(d) => Some((d.id.to_string(), d.attempt)),
                Output::Changed(_) => None,
            })
            .collect()
    }

    /// Drains the outputs and returns their events' changes.
    pub fn changes(&mut self) -> Vec<(String, Change)> {
        self.drain()
            .into_iter()
            .filter_map(|o| o.event())
            .map(|e| (e.id.to_string(), e.change))
            .collect()
    }

    pub fn request(&mut self, request: Request) -> Accepted {
        self.core.handle_request(self.now, request).unwrap()
    }

    pub fn capacity(&mut self, target: &str, free: u32) {
        self.core
            .handle_capacity(self.now, &dept(target), free)
            .unwrap();
    }

    pub fn result(&mut self, id: &str, attempt: u32, outcome: Outcome) {
        self.core
            .handle_result(self.now, &id.into(), attempt, TOKEN, outcome)
            .unwrap();
    }

    pub fn state(&self, id: &str) -> Option<StateKind> {
        self.core.get(&id.into()).map(|r| r.state.kind())
    }
}
