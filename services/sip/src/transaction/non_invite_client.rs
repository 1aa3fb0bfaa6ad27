//! Non-INVITE client transaction (RFC 3261 17.1.2).

use std::time::{Duration, Instant};

use super::timer::{Timer, TimerConfig, Timers};
use super::{Action, Machine};
use crate::message::{Message, Request, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NonInviteClientState {
    /// Request sent. On unreliable transports timer E retransmits it, the interval
    /// doubling up to T2.
    Trying {
        retransmit: Duration,
    },
    /// A provisional arrived; retransmissions continue every T2 until the final one.
    Proceeding,
    /// The final response arrived; its retransmissions are absorbed until timer K.
    Completed,
    Terminated,
}

#[derive(Debug)]
pub(crate) struct NonInviteClient {
    request: Request,
    reliable: bool,
    config: TimerConfig,
    timers: Timers,
    state: NonInviteClientState,
}

impl NonInviteClient {
    /// Sends the request and arms E (unreliable only) and F.
    pub(crate) fn new(
        request: Request,
        reliable: bool,
        config: TimerConfig,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Self {
        let mut timers = Timers::default();
        if !reliable {
            timers.set(Timer::E, now, config.t1);
        }
        timers.set(Timer::F, now, config.timeout());
        out.push(Action::Transmit(Message::Request(request.clone())));
        let state = NonInviteClientState::Trying {
            retransmit: config.t1,
        };
        NonInviteClient {
            request,
            reliable,
            config,
            timers,
            state,
        }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> &NonInviteClientState {
        &self.state
    }

    pub(crate) fn handle_response(&mut self, resp: Response, now: Instant, out: &mut Vec<Action>) {
        use NonInviteClientState::*;
        match (&self.state, resp.status) {
            (Trying { .. } | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(Action::Deliver(resp));
            }
            (Trying { .. } | Proceeding, 200..=699) => {
                out.push(Action::Deliver(resp));
                self.timers.clear();
                if self.reliable {
                    self.state = Terminated;
                } else {
                    self.timers.set(Timer::K, now, self.config.t4);
                    self.state = Completed;
                }
            }
            _ => {}
        }
    }

    fn retransmit(&mut self, next: Duration, now: Instant, out: &mut Vec<Action>) {
        out.push(Action::Transmit(Message::Request(self.request.clone())));
        self.timers.set(Timer::E, now, next);
    }

    fn terminate(&mut self) {
        self.timers.clear();
        self.state = NonInviteClientState::Terminated;
    }
}

impl Machine for NonInviteClient {
    fn timers(&self) -> &Timers {
        &self.timers
    }

    fn timers_mut(&mut self) -> &mut Timers {
        &mut self.timers
    }

    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        use NonInviteClientState::*;
        match (&self.state, timer) {
            (Trying { retransmit }, Timer::E) => {
                let next = self.config.backoff_capped(*retransmit);
                self.retransmit(next, now, out);
                self.state = Trying { retransmit: next };
            }
            (Proceeding, Timer::E) => self.retransmit(self.config.t2, now, out),
            (Trying { .. } | Proceeding, Timer::F) => {
                out.push(Action::Timeout(Timer::F));
                self.terminate();
            }
            (Completed, Timer::K) => self.terminate(),
            _ => {}
        }
    }

    fn is_terminated(&self) -> bool {
        self.state == NonInviteClientState::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::test_support::{drive, ms, request, response, sent_at};

    fn trying(reliable: bool, t0: Instant) -> NonInviteClient {
        let mut out = Vec::new();
        let tx = NonInviteClient::new(
            request("OPTIONS", "z9hG4bKnc"),
            reliable,
            TimerConfig::default(),
            t0,
            &mut out,
        );
        assert_eq!(
            out,
            [Action::Transmit(Message::Request(tx.request.clone()))]
        );
        tx
    }

    #[test]
    fn request_over_udp_is_retransmitted_doubling_up_to_t2_until_timer_f() {
        let t0 = Instant::now();
        let mut tx = trying(false, t0);
        let log = drive(&mut tx, t0, ms(100_000));
        let expected: Vec<_> = [
            500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
        ]
        .into_iter()
        .map(ms)
        .collect();
        assert_eq!(sent_at(&log), expected);
        assert_eq!(log.last(), Some(&(ms(32_000), Action::Timeout(Timer::F))));
        assert!(tx.is_terminated());
    }

    #[test]
    fn request_over_reliable_transport_is_never_retransmitted() {
        let t0 = Instant::now();
        let mut tx = trying(true, t0);
        assert_eq!(
            drive(&mut tx, t0, ms(100_000)),
            [(ms(32_000), Action::Timeout(Timer::F))]
        );
    }

    #[test]
    fn after_a_provisional_retransmissions_continue_every_t2() {
        let t0 = Instant::now();
        let mut tx = trying(false, t0);
        assert_eq!(sent_at(&drive(&mut tx, t0, ms(1000))), [ms(500)]);
        let mut out = Vec::new();
        tx.handle_response(response(&tx.request, 100), t0 + ms(1000), &mut out);
        assert_eq!(tx.state(), &NonInviteClientState::Proceeding);
        // The E armed in Trying (at 1.5 s) still fires; every later one is T2 apart.
        let log = drive(&mut tx, t0, ms(14_000));
        assert_eq!(sent_at(&log), [ms(1500), ms(5500), ms(9500), ms(13_500)]);
    }

    #[test]
    fn final_response_is_delivered_once_and_timer_k_ends_the_transaction() {
        let t0 = Instant::now();
        let mut tx = trying(false, t0);
        let ok = response(&tx.request, 200);
        let mut out = Vec::new();
        tx.handle_response(ok.clone(), t0 + ms(200), &mut out);
        tx.handle_response(ok.clone(), t0 + ms(700), &mut out);
        assert_eq!(out, [Action::Deliver(ok)]);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(5200)));
        assert!(drive(&mut tx, t0, ms(60_000)).is_empty());
        assert!(tx.is_terminated());
    }

    #[test]
    fn final_response_on_reliable_transport_terminates_at_once() {
        let t0 = Instant::now();
        let mut tx = trying(true, t0);
        let mut out = Vec::new();
        tx.handle_response(response(&tx.request, 404), t0 + ms(200), &mut out);
        assert_eq!(out.len(), 1);
        assert!(tx.is_terminated());
    }
}
