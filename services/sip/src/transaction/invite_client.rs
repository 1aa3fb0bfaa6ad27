//! INVITE client transaction (RFC 3261 17.1.1, with the Accepted state of RFC 6026).

use std::time::{Duration, Instant};

use super::build::ack_for_non_2xx;
use super::timer::{TIMER_D, Timer, TimerConfig, Timers};
use super::{Action, Machine};
use crate::message::{Message, Request, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InviteClientState {
    /// INVITE sent. On unreliable transports timer A retransmits it, the interval
    /// doubling each time without cap (timer B ends it).
    Calling {
        retransmit: Duration,
    },
    /// A provisional arrived, so the peer has the INVITE: no more retransmissions.
    Proceeding,
    /// A non-2xx final was ACKed; its retransmissions are ACKed again until timer D.
    Completed {
        ack: Request,
    },
    /// A 2xx arrived; more 2xx (retransmissions, other forks) go to the TU until timer M.
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub(crate) struct InviteClient {
    request: Request,
    reliable: bool,
    config: TimerConfig,
    timers: Timers,
    state: InviteClientState,
}

impl InviteClient {
    /// Sends the INVITE and arms A (unreliable only) and B.
    pub(crate) fn new(
        request: Request,
        reliable: bool,
        config: TimerConfig,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Self {
        let mut timers = Timers::default();
        if !reliable {
            timers.set(Timer::A, now, config.t1);
        }
        timers.set(Timer::B, now, config.timeout());
        out.push(Action::Transmit(Message::Request(request.clone())));
        let state = InviteClientState::Calling {
            retransmit: config.t1,
        };
        InviteClient {
            request,
            reliable,
            config,
            timers,
            state,
        }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> &InviteClientState {
        &self.state
    }

    pub(crate) fn handle_response(&mut self, resp: Response, now: Instant, out: &mut Vec<Action>) {
        use InviteClientState::*;
        match (&self.state, resp.status) {
            (Calling { .. } | Proceeding, 100..=199) => {
                self.timers.stop(Timer::A);
                if matches!(self.state, Calling { .. }) {
                    // B guards Calling only; in Proceeding it is armed by a CANCEL.
                    self.timers.stop(Timer::B);
                }
                self.state = Proceeding;
                out.push(Action::Deliver(resp));
            }
            (Calling { .. } | Proceeding, 200..=299) => {
                self.timers.clear();
                self.timers.set(Timer::M, now, self.config.timeout());
                self.state = Accepted;
                out.push(Action::Deliver(resp));
            }
            (Calling { .. } | Proceeding, 300..=699) => {
                let ack = ack_for_non_2xx(&self.request, &resp);
                out.push(Action::Transmit(Message::Request(ack.clone())));
                out.push(Action::Deliver(resp));
                self.timers.clear();
                if self.reliable {
                    self.state = Terminated;
                } else {
                    self.timers.set(Timer::D, now, TIMER_D);
                    self.state = Completed { ack };
                }
            }
            (Completed { ack }, 300..=699) => {
                out.push(Action::Transmit(Message::Request(ack.clone())));
            }
            (Accepted, 200..=299) => out.push(Action::Deliver(resp)),
            _ => {}
        }
    }

    /// A CANCEL was sent for this INVITE: if no final response comes within 64*T1, the
    /// INVITE is given up (RFC 3261 9.1), which keeps the table bounded.
    pub(crate) fn cancel_sent(&mut self, now: Instant) {
        if self.state == InviteClientState::Proceeding {
            self.timers.set(Timer::B, now, self.config.timeout());
        }
    }

    fn terminate(&mut self) {
        self.timers.clear();
        self.state = InviteClientState::Terminated;
    }
}

impl Machine for InviteClient {
    fn timers(&self) -> &Timers {
        &self.timers
    }

    fn timers_mut(&mut self) -> &mut Timers {
        &mut self.timers
    }

    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        use InviteClientState::*;
        match (&self.state, timer) {
            (Calling { retransmit }, Timer::A) => {
                let next = retransmit.saturating_mul(2);
                out.push(Action::Transmit(Message::Request(self.request.clone())));
                self.timers.set(Timer::A, now, next);
                self.state = Calling { retransmit: next };
            }
            (Calling { .. } | Proceeding, Timer::B) => {
                out.push(Action::Timeout(Timer::B));
                self.terminate();
            }
            (Completed { .. }, Timer::D) | (Accepted, Timer::M) => self.terminate(),
            _ => {}
        }
    }

    fn is_terminated(&self) -> bool {
        self.state == InviteClientState::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::test_support::{drive, ms, request, response, sent_at};
    use std::time::Duration;

    fn calling(reliable: bool, t0: Instant) -> InviteClient {
        let mut out = Vec::new();
        let tx = InviteClient::new(
            request("INVITE", "z9hG4bKic"),
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
    fn invite_over_udp_is_retransmitted_at_doubling_intervals_until_timer_b() {
        let t0 = Instant::now();
        let mut tx = calling(false, t0);
        let log = drive(&mut tx, t0, Duration::from_secs(100));
        assert_eq!(
            sent_at(&log),
            [ms(500), ms(1500), ms(3500), ms(7500), ms(15500), ms(31500)]
        );
        assert_eq!(log.last(), Some(&(ms(32_000), Action::Timeout(Timer::B))));
        assert!(tx.is_terminated());
    }

    #[test]
    fn invite_over_reliable_transport_is_sent_once_and_times_out_at_64_t1() {
        let t0 = Instant::now();
        let mut tx = calling(true, t0);
        let log = drive(&mut tx, t0, Duration::from_secs(100));
        assert_eq!(log, [(ms(32_000), Action::Timeout(Timer::B))]);
    }

    #[test]
    fn provisional_stops_retransmissions_and_timer_b() {
        let t0 = Instant::now();
        let mut tx = calling(false, t0);
        assert_eq!(sent_at(&drive(&mut tx, t0, ms(600))), [ms(500)]);
        let mut out = Vec::new();
        let ringing = response(&tx.request, 180);
        tx.handle_response(ringing.clone(), t0 + ms(700), &mut out);
        assert_eq!(out, [Action::Deliver(ringing)]);
        assert_eq!(tx.state(), &InviteClientState::Proceeding);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn non_2xx_final_is_delivered_once_and_acked_on_every_retransmission() {
        let t0 = Instant::now();
        let mut tx = calling(false, t0);
        let busy = response(&tx.request, 486);
        let ack = ack_for_non_2xx(&tx.request, &busy);
        let mut out = Vec::new();
        tx.handle_response(busy.clone(), t0 + ms(100), &mut out);
        assert_eq!(
            out,
            [
                Action::Transmit(Message::Request(ack.clone())),
                Action::Deliver(busy.clone())
            ]
        );
        out.clear();
        tx.handle_response(busy, t0 + ms(600), &mut out);
        assert_eq!(out, [Action::Transmit(Message::Request(ack))]);
        // Timer D: 32 s after the final response, and nothing retransmitted meanwhile.
        let log = drive(&mut tx, t0, Duration::from_secs(100));
        assert!(log.is_empty());
        assert!(tx.is_terminated());
        let mut again = calling(false, t0);
        again.handle_response(response(&again.request, 486), t0 + ms(100), &mut out);
        assert_eq!(again.poll_timeout(), Some(t0 + ms(100) + TIMER_D));
    }

    #[test]
    fn non_2xx_final_on_reliable_transport_terminates_at_once() {
        let t0 = Instant::now();
        let mut tx = calling(true, t0);
        let mut out = Vec::new();
        tx.handle_response(response(&tx.request, 603), t0 + ms(100), &mut out);
        assert_eq!(out.len(), 2);
        assert!(tx.is_terminated());
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn retransmitted_2xx_reach_the_tu_until_timer_m() {
        let t0 = Instant::now();
        let mut tx = calling(false, t0);
        let ok = response(&tx.request, 200);
        let mut out = Vec::new();
        tx.handle_response(ok.clone(), t0 + ms(100), &mut out);
        tx.handle_response(ok.clone(), t0 + ms(600), &mut out);
        tx.handle_response(response(&tx.request, 486), t0 + ms(700), &mut out);
        assert_eq!(out, [Action::Deliver(ok.clone()), Action::Deliver(ok)]);
        assert_eq!(tx.state(), &InviteClientState::Accepted);
        assert!(drive(&mut tx, t0, ms(32_099)).is_empty());
        assert!(!tx.is_terminated());
        drive(&mut tx, t0, ms(32_100));
        assert!(tx.is_terminated());
    }

    #[test]
    fn invite_is_given_up_64_t1_after_its_cancel_when_no_final_comes() {
        let t0 = Instant::now();
        let mut tx = calling(false, t0);
        let mut out = Vec::new();
        tx.handle_response(response(&tx.request, 180), t0 + ms(100), &mut out);
        tx.cancel_sent(t0 + ms(10_000));
        let log = drive(&mut tx, t0, Duration::from_secs(100));
        assert_eq!(log, [(ms(42_000), Action::Timeout(Timer::B))]);
    }
}
