//! INVITE server transaction (RFC 3261 17.2.1, with the Accepted state of RFC 6026).

use std::time::{Duration, Instant};

use super::timer::{Timer, TimerConfig, Timers};
use super::{Action, Machine, TransactionError};
use crate::message::{Message, Request, Response};
use crate::method::Method;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InviteServerState {
    /// Waiting for the TU's final response; a retransmitted INVITE gets the last
    /// provisional again (the automatic 100 Trying at first).
    Proceeding {
        last: Response,
    },
    /// A non-2xx final was sent; on unreliable transports timer G retransmits it (doubling
    /// up to T2) until the ACK arrives or timer H gives up.
    Completed {
        last: Response,
        retransmit: Duration,
    },
    /// The ACK arrived; its retransmissions are absorbed until timer I.
    Confirmed,
    /// A 2xx was sent (RFC 6026): INVITE retransmissions are absorbed and further 2xx
    /// from the TU (its 2xx retransmissions) pass through until timer L.
    Accepted,
    Terminated,
}

impl InviteServerState {
    fn name(&self) -> &'static str {
        match self {
            InviteServerState::Proceeding { .. } => "Proceeding",
            InviteServerState::Completed { .. } => "Completed",
            InviteServerState::Confirmed => "Confirmed",
            InviteServerState::Accepted => "Accepted",
            InviteServerState::Terminated => "Terminated",
        }
    }
}

/// What became of a request that matched an existing INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InviteServerInput {
    Retransmission,
    AckAbsorbed,
    /// An ACK sharing the INVITE's key after a 2xx (RFC 2543 peers): the dialog's.
    AckForTu,
}

#[derive(Debug)]
pub(crate) struct InviteServer {
    reliable: bool,
    config: TimerConfig,
    timers: Timers,
    state: InviteServerState,
}

impl InviteServer {
    /// Sends 100 Trying at once so the client stops retransmitting (RFC 3261 17.2.1).
    pub(crate) fn new(
        request: &Request,
        reliable: bool,
        config: TimerConfig,
        out: &mut Vec<Action>,
    ) -> Self {
        let trying = Response::to_request(request, 100, None);
        out.push(Action::Transmit(Message::Response(trying.clone())));
        let state = InviteServerState::Proceeding { last: trying };
        InviteServer {
            reliable,
            config,
            timers: Timers::default(),
            state,
        }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> &InviteServerState {
        &self.state
    }

    /// A retransmitted INVITE or an ACK matching this transaction.
    pub(crate) fn handle_request(
        &mut self,
        method: &Method,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> InviteServerInput {
        use InviteServerState::*;
        if *method != Method::Ack {
            if let Proceeding { last } | Completed { last, .. } = &self.state {
                out.push(Action::Transmit(Message::Response(last.clone())));
            }
            return InviteServerInput::Retransmission;
        }
        match self.state {
            Completed { .. } => {
                self.timers.clear();
                if self.reliable {
                    self.state = Terminated;
                } else {
                    self.timers.set(Timer::I, now, self.config.t4);
                    self.state = Confirmed;
                }
                InviteServerInput::AckAbsorbed
            }
            Accepted => InviteServerInput::AckForTu,
            // An ACK before any final response is meaningless; drop it.
            Proceeding { .. } | Confirmed | Terminated => InviteServerInput::AckAbsorbed,
        }
    }

    pub(crate) fn send_response(
        &mut self,
        resp: Response,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Result<(), TransactionError> {
        use InviteServerState::*;
        let status = resp.status;
        match (&self.state, status) {
            (Proceeding { .. }, 100..=199) => self.state = Proceeding { last: resp.clone() },
            (Proceeding { .. }, 200..=299) => {
                self.timers.set(Timer::L, now, self.config.timeout());
                self.state = Accepted;
            }
            (Accepted, 200..=299) => {}
            (Proceeding { .. }, 300..=699) => {
                if !self.reliable {
                    self.timers.set(Timer::G, now, self.config.t1);
                }
                self.timers.set(Timer::H, now, self.config.timeout());
                self.state = Completed {
                    last: resp.clone(),
                    retransmit: self.config.t1,
                };
            }
            (state, _) => {
                return Err(TransactionError::InvalidState {
                    status,
                    state: state.name(),
                });
            }
        }
        out.push(Action::Transmit(Message::Response(resp)));
        Ok(())
    }

    fn terminate(&mut self) {
        self.timers.clear();
        self.state = InviteServerState::Terminated;
    }
}

impl Machine for InviteServer {
    fn timers(&self) -> &Timers {
        &self.timers
    }

    fn timers_mut(&mut self) -> &mut Timers {
        &mut self.timers
    }

    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        use InviteServerState::*;
        match (&self.state, timer) {
            (Completed { last, retransmit }, Timer::G) => {
                let next = self.config.backoff_capped(*retransmit);
                out.push(Action::Transmit(Message::Response(last.clone())));
                self.timers.set(Timer::G, now, next);
                self.state = Completed {
                    last: last.clone(),
                    retransmit: next,
                };
            }
            (Completed { .. }, Timer::H) => {
                out.push(Action::Timeout(Timer::H));
                self.terminate();
            }
            (Confirmed, Timer::I) | (Accepted, Timer::L) => self.terminate(),
            _ => {}
        }
    }

    fn is_terminated(&self) -> bool {
        self.state == InviteServerState::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::test_support::{drive, ms, request, response, sent_at};

    fn proceeding(reliable: bool) -> (InviteServer, Request) {
        let invite = request("INVITE", "z9hG4bKis");
        let mut out = Vec::new();
        let tx = InviteServer::new(&invite, reliable, TimerConfig::default(), &mut out);
        assert_eq!(
            out,
            [Action::Transmit(Message::Response(response(&invite, 100)))]
        );
        (tx, invite)
    }

    fn transmitted(out: &[Action]) -> Vec<u16> {
        out.iter()
            .filter_map(|a| match a {
                Action::Transmit(Message::Response(r)) => Some(r.status),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn retransmitted_invite_gets_the_last_provisional_again() {
        let t0 = Instant::now();
        let (mut tx, invite) = proceeding(false);
        let mut out = Vec::new();
        assert_eq!(
            tx.handle_request(&Method::Invite, t0, &mut out),
            InviteServerInput::Retransmission
        );
        tx.send_response(response(&invite, 180), t0, &mut out)
            .unwrap();
        tx.handle_request(&Method::Invite, t0 + ms(500), &mut out);
        assert_eq!(transmitted(&out), [100, 180, 180]);
        assert_eq!(
            tx.poll_timeout(),
            None,
            "no timer runs while the TU decides"
        );
    }

    #[test]
    fn non_2xx_final_is_retransmitted_doubling_up_to_t2_until_timer_h() {
        let t0 = Instant::now();
        let (mut tx, invite) = proceeding(false);
        let mut out = Vec::new();
        tx.send_response(response(&invite, 486), t0, &mut out)
            .unwrap();
        let log = drive(&mut tx, t0, ms(100_000));
        let expected: Vec<_> = [
            500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
        ]
        .into_iter()
        .map(ms)
        .collect();
        assert_eq!(sent_at(&log), expected);
        assert_eq!(log.last(), Some(&(ms(32_000), Action::Timeout(Timer::H))));
        assert!(tx.is_terminated());
    }

    #[test]
    fn ack_stops_retransmissions_and_timer_i_absorbs_ack_retransmissions() {
        let t0 = Instant::now();
        let (mut tx, invite) = proceeding(false);
        let mut out = Vec::new();
        tx.send_response(response(&invite, 404), t0, &mut out)
            .unwrap();
        tx.handle_request(&Method::Invite, t0 + ms(100), &mut out);
        assert_eq!(
            transmitted(&out),
            [404, 404],
            "a retransmitted INVITE gets the final again"
        );
        assert_eq!(
            tx.handle_request(&Method::Ack, t0 + ms(200), &mut out),
            InviteServerInput::AckAbsorbed
        );
        assert_eq!(tx.state(), &InviteServerState::Confirmed);
        assert_eq!(
            tx.handle_request(&Method::Ack, t0 + ms(300), &mut out),
            InviteServerInput::AckAbsorbed
        );
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(5200)));
        assert!(drive(&mut tx, t0, ms(100_000)).is_empty());
        assert!(tx.is_terminated());
    }

    #[test]
    fn reliable_transport_sends_the_final_once_and_ack_terminates_at_once() {
        let t0 = Instant::now();
        let (mut tx, invite) = proceeding(true);
        let mut out = Vec::new();
        tx.send_response(response(&invite, 486), t0, &mut out)
            .unwrap();
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(32_000)), "only timer H");
        tx.handle_request(&Method::Ack, t0 + ms(10), &mut out);
        assert!(tx.is_terminated());
    }

    #[test]
    fn after_a_2xx_invite_retransmissions_are_absorbed_and_2xx_pass_until_timer_l() {
        let t0 = Instant::now();
        let (mut tx, invite) = proceeding(false);
        let ok = response(&invite, 200);
        let mut out = Vec::new();
        tx.send_response(ok.clone(), t0, &mut out).unwrap();
        tx.handle_request(&Method::Invite, t0 + ms(100), &mut out);
        tx.send_response(ok.clone(), t0 + ms(500), &mut out)
            .unwrap();
        assert_eq!(transmitted(&out), [200, 200]);
        assert_eq!(
            tx.handle_request(&Method::Ack, t0 + ms(600), &mut out),
            InviteServerInput::AckForTu
        );
        let err = tx.send_response(response(&invite, 500), t0 + ms(700), &mut out);
        assert_eq!(
            err,
            Err(TransactionError::InvalidState {
                status: 500,
                state: "Accepted"
            })
        );
        assert!(drive(&mut tx, t0, ms(31_999)).is_empty());
        drive(&mut tx, t0, ms(32_000));
        assert!(tx.is_terminated());
    }

    #[test]
    fn a_second_final_response_is_refused() {
        let t0 = Instant::now();
        let (mut tx, invite) = proceeding(false);
        let mut out = Vec::new();
        tx.send_response(response(&invite, 486), t0, &mut out)
            .unwrap();
        let err = tx.send_response(response(&invite, 200), t0, &mut out);
        assert_eq!(
            err,
            Err(TransactionError::InvalidState {
                status: 200,
                state: "Completed"
            })
        );
        assert_eq!(transmitted(&out), [486]);
    }
}
