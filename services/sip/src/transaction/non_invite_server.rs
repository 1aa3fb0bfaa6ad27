//! Non-INVITE server transaction (RFC 3261 17.2.2).

use std::time::Instant;

use super::timer::{Timer, TimerConfig, Timers};
use super::{Action, Machine, TransactionError};
use crate::message::{Message, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NonInviteServerState {
    /// No response yet: retransmitted requests are absorbed silently.
    Trying,
    /// A provisional was sent; retransmitted requests get it again.
    Proceeding {
        last: Response,
    },
    /// The final response was sent; retransmitted requests get it again until timer J.
    Completed {
        last: Response,
    },
    Terminated,
}

impl NonInviteServerState {
    fn name(&self) -> &'static str {
        match self {
            NonInviteServerState::Trying => "Trying",
            NonInviteServerState::Proceeding { .. } => "Proceeding",
            NonInviteServerState::Completed { .. } => "Completed",
            NonInviteServerState::Terminated => "Terminated",
        }
    }
}

#[derive(Debug)]
pub(crate) struct NonInviteServer {
    reliable: bool,
    config: TimerConfig,
    timers: Timers,
    state: NonInviteServerState,
}

impl NonInviteServer {
    pub(crate) fn new(reliable: bool, config: TimerConfig) -> Self {
        let state = NonInviteServerState::Trying;
        NonInviteServer {
            reliable,
            config,
            timers: Timers::default(),
            state,
        }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> &NonInviteServerState {
        &self.state
    }

    /// A retransmission of the request: answer it with the last response, if any.
    pub(crate) fn handle_request(&mut self, out: &mut Vec<Action>) {
        if let NonInviteServerState::Proceeding { last }
        | NonInviteServerState::Completed { last } = &self.state
        {
            out.push(Action::Transmit(Message::Response(last.clone())));
        }
    }

    pub(crate) fn send_response(
        &mut self,
        resp: Response,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Result<(), TransactionError> {
        use NonInviteServerState::*;
        let status = resp.status;
        match (&self.state, status) {
            (Trying | Proceeding { .. }, 100..=199) => {
                self.state = Proceeding { last: resp.clone() }
            }
            (Trying | Proceeding { .. }, 200..=699) if self.reliable => self.state = Terminated,
            (Trying | Proceeding { .. }, 200..=699) => {
                self.timers.set(Timer::J, now, self.config.timeout());
                self.state = Completed { last: resp.clone() };
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
}

impl Machine for NonInviteServer {
    fn timers(&self) -> &Timers {
        &self.timers
    }

    fn timers_mut(&mut self) -> &mut Timers {
        &mut self.timers
    }

    fn on_timer(&mut self, timer: Timer, _now: Instant, _out: &mut Vec<Action>) {
        if timer == Timer::J {
            self.timers.clear();
            self.state = NonInviteServerState::Terminated;
        }
    }

    fn is_terminated(&self) -> bool {
        self.state == NonInviteServerState::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::test_support::{drive, ms, request, response};

    #[test]
    fn retransmission_before_any_response_is_absorbed_silently() {
        let mut tx = NonInviteServer::new(false, TimerConfig::default());
        let mut out = Vec::new();
        tx.handle_request(&mut out);
        assert!(out.is_empty());
        assert_eq!(tx.state(), &NonInviteServerState::Trying);
    }

    #[test]
    fn retransmission_gets_the_last_response_again() {
        let t0 = Instant::now();
        let req = request("BYE", "z9hG4bKns");
        let mut tx = NonInviteServer::new(false, TimerConfig::default());
        let mut out = Vec::new();
        let trying = response(&req, 100);
        tx.send_response(trying.clone(), t0, &mut out).unwrap();
        tx.handle_request(&mut out);
        let ok = response(&req, 200);
        tx.send_response(ok.clone(), t0, &mut out).unwrap();
        tx.handle_request(&mut out);
        let sent: Vec<_> = [trying.clone(), trying, ok.clone(), ok]
            .into_iter()
            .map(|r| Action::Transmit(Message::Response(r)))
            .collect();
        assert_eq!(out, sent);
    }

    #[test]
    fn timer_j_keeps_a_completed_transaction_for_64_t1_on_udp() {
        let t0 = Instant::now();
        let req = request("OPTIONS", "z9hG4bKj");
        let mut tx = NonInviteServer::new(false, TimerConfig::default());
        let mut out = Vec::new();
        tx.send_response(response(&req, 200), t0, &mut out).unwrap();
        assert!(drive(&mut tx, t0, ms(31_999)).is_empty());
        assert!(!tx.is_terminated());
        assert!(
            drive(&mut tx, t0, ms(32_000)).is_empty(),
            "J fires without retransmitting"
        );
        assert!(tx.is_terminated());
    }

    #[test]
    fn final_response_on_reliable_transport_terminates_at_once() {
        let t0 = Instant::now();
        let req = request("OPTIONS", "z9hG4bKj");
        let mut tx = NonInviteServer::new(true, TimerConfig::default());
        let mut out = Vec::new();
        tx.send_response(response(&req, 200), t0, &mut out).unwrap();
        assert_eq!(out.len(), 1, "the response still goes out");
        assert!(tx.is_terminated());
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn a_response_after_the_final_one_is_refused() {
        let t0 = Instant::now();
        let req = request("OPTIONS", "z9hG4bKj");
        let mut tx = NonInviteServer::new(false, TimerConfig::default());
        let mut out = Vec::new();
        tx.send_response(response(&req, 200), t0, &mut out).unwrap();
        let err = tx.send_response(response(&req, 180), t0, &mut out);
        assert_eq!(
            err,
            Err(TransactionError::InvalidState {
                status: 180,
                state: "Completed"
            })
        );
    }
}
