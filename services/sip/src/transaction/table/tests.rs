//! Demultiplexing through the public table API, on a virtual clock.

use std::time::Duration;

use super::*;
use crate::transaction::test_support::{ms, request, response};
use crate::transaction::{Timer, cancel_for};

type Table = TransactionTable<&'static str>;

fn table() -> Table {
    TransactionTable::new(TimerConfig::default())
}

fn transmits(t: &mut Table) -> Vec<Transmit<&'static str>> {
    std::iter::from_fn(|| t.poll_transmit()).collect()
}

fn events(t: &mut Table) -> Vec<TransactionEvent> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

fn statuses(sent: &[Transmit<&'static str>]) -> Vec<u16> {
    sent.iter()
        .filter_map(|t| match &t.message {
            Message::Response(r) => Some(r.status),
            Message::Request(_) => None,
        })
        .collect()
}

fn new_handle(outcome: Result<RequestOutcome, TransactionError>) -> TxHandle {
    match outcome {
        Ok(RequestOutcome::New { handle, .. }) => handle,
        other => panic!("expected a new transaction, got {other:?}"),
    }
}

/// Runs every timer of `t` until it has none left, returning when that was.
fn run_timers(t: &mut Table) -> Option<Instant> {
    let mut last = None;
    while let Some(at) = t.poll_timeout() {
        t.handle_timeout(at);
        last = Some(at);
    }
    last
}

#[test]
fn new_invite_queues_100_trying_to_its_sender() {
    let t0 = Instant::now();
    let mut t = table();
    let invite = request("INVITE", "z9hG4bK1");
    let outcome = t
        .handle_request(invite.clone(), false, "alice", t0)
        .unwrap();
    assert!(matches!(outcome, RequestOutcome::New { ref request, .. } if *request == invite));
    let sent = transmits(&mut t);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].dest, "alice");
    assert_eq!(statuses(&sent), [100]);
    assert_eq!(t.len(), 1);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn retransmitted_request_gets_the_last_response_again() {
    let t0 = Instant::now();
    let mut t = table();
    let options = request("OPTIONS", "z9hG4bK2");
    let h = new_handle(t.handle_request(options.clone(), false, "alice", t0));
    let again = t
        .handle_request(options.clone(), false, "alice", t0 + ms(100))
        .unwrap();
    assert_eq!(again, RequestOutcome::Retransmission(h));
    assert!(
        transmits(&mut t).is_empty(),
        "nothing to resend before the TU answers"
    );
    t.send_response(h, response(&options, 200), t0 + ms(200))
        .unwrap();
    let again = t
        .handle_request(options, false, "alice", t0 + ms(600))
        .unwrap();
    assert_eq!(again, RequestOutcome::Retransmission(h));
    assert_eq!(statuses(&transmits(&mut t)), [200, 200]);
}

#[test]
fn ack_for_non_2xx_is_absorbed_and_timer_i_reaps_the_transaction() {
    let t0 = Instant::now();
    let mut t = table();
    let invite = request("INVITE", "z9hG4bK3");
    let h = new_handle(t.handle_request(invite.clone(), false, "alice", t0));
    t.send_response(h, response(&invite, 486), t0).unwrap();
    let ack = crate::transaction::build::ack_for_non_2xx(&invite, &response(&invite, 486));
    assert_eq!(
        t.handle_request(ack, false, "alice", t0 + ms(50)).unwrap(),
        RequestOutcome::AckAbsorbed(h)
    );
    assert_eq!(statuses(&transmits(&mut t)), [100, 486]);
    assert_eq!(run_timers(&mut t), Some(t0 + ms(5050)));
    assert_eq!(events(&mut t), [TransactionEvent::Terminated { handle: h }]);
    assert!(t.is_empty());
    assert_eq!(
        t.send_response(h, response(&invite, 486), t0),
        Err(TransactionError::UnknownTransaction(h))
    );
}

#[test]
fn ack_for_2xx_goes_to_the_transaction_user() {
    let t0 = Instant::now();
    let mut t = table();
    let invite = request("INVITE", "z9hG4bK4");
    let h = new_handle(t.handle_request(invite.clone(), false, "alice", t0));
    t.send_response(h, response(&invite, 200), t0).unwrap();
    // The ACK for a 2xx is a transaction of its own: a new branch.
    let ack = request("ACK", "z9hG4bK4ack");
    assert_eq!(
        t.handle_request(ack.clone(), false, "alice", t0).unwrap(),
        RequestOutcome::Ack(ack)
    );
    // A retransmitted INVITE is still absorbed by the Accepted state.
    assert_eq!(
        t.handle_request(invite, false, "alice", t0).unwrap(),
        RequestOutcome::Retransmission(h)
    );
}

#[test]
fn cancel_finds_the_invite_server_transaction_it_cancels() {
    let t0 = Instant::now();
    let mut t = table();
    let invite = request("INVITE", "z9hG4bK5");
    let h_invite = new_handle(t.handle_request(invite.clone(), false, "alice", t0));
    let cancel = cancel_for(&invite);
    let h_cancel = match t
        .handle_request(cancel.clone(), false, "alice", t0)
        .unwrap()
    {
        RequestOutcome::Cancel {
            handle,
            invite: Some(inv),
            ..
        } if inv == h_invite => handle,
        other => panic!("{other:?}"),
    };
    assert_ne!(h_cancel, h_invite);
    assert_eq!(
        t.handle_request(cancel, false, "alice", t0).unwrap(),
        RequestOutcome::Retransmission(h_cancel)
    );
    t.send_response(h_cancel, response(&request("CANCEL", "z9hG4bK5"), 200), t0)
        .unwrap();
    t.send_response(h_invite, response(&invite, 487), t0)
        .unwrap();
    assert_eq!(statuses(&transmits(&mut t)), [100, 200, 487]);

    let stray = cancel_for(&request("INVITE", "z9hG4bKother"));
    let outcome = t.handle_request(stray, false, "alice", t0).unwrap();
    assert!(
        matches!(outcome, RequestOutcome::Cancel { invite: None, .. }),
        "{outcome:?}"
    );
}

#[test]
fn requests_without_magic_cookie_match_by_call_id_cseq_from_tag_and_via() {
    let t0 = Instant::now();
    let mut t = table();
    let invite = request("INVITE", "rfc2543");
    let h = new_handle(t.handle_request(invite.clone(), false, "old", t0));
    assert_eq!(
        t.handle_request(invite.clone(), false, "old", t0).unwrap(),
        RequestOutcome::Retransmission(h)
    );
    let outcome = t
        .handle_request(cancel_for(&invite), false, "old", t0)
        .unwrap();
    assert!(matches!(outcome, RequestOutcome::Cancel { invite: Some(i), .. } if i == h));
    let mut next = invite;
    next.headers.set(crate::Header::CSeq(crate::CSeq {
        seq: 2,
        method: Method::Invite,
    }));
    new_handle(t.handle_request(next, false, "old", t0));
}

#[test]
fn responses_match_by_branch_and_cseq_method() {
    let t0 = Instant::now();
    let mut t = table();
    let invite = request("INVITE", "z9hG4bK6");
    let h_invite = t.send_request(invite.clone(), false, "bob", t0).unwrap();
    t.handle_response(response(&invite, 180), t0 + ms(100));
    let cancel = cancel_for(&invite);
    let h_cancel = t
        .send_request(cancel.clone(), false, "bob", t0 + ms(200))
        .unwrap();
    assert_eq!(
        t.handle_response(response(&cancel, 200), t0 + ms(300)),
        ResponseOutcome::Matched(h_cancel)
    );
    assert_eq!(
        t.handle_response(response(&invite, 487), t0 + ms(300)),
        ResponseOutcome::Matched(h_invite)
    );
    let sent = transmits(&mut t);
    let methods: Vec<_> = sent
        .iter()
        .filter_map(|t| match &t.message {
            Message::Request(r) => Some(r.method.clone()),
            Message::Response(_) => None,
        })
        .collect();
    assert_eq!(methods, [Method::Invite, Method::Cancel, Method::Ack]);
    let got: Vec<_> = events(&mut t)
        .into_iter()
        .filter_map(|e| match e {
            TransactionEvent::Response { handle, response } => Some((handle, response.status)),
            _ => None,
        })
        .collect();
    assert_eq!(got, [(h_invite, 180), (h_cancel, 200), (h_invite, 487)]);

    let stray = response(&request("INVITE", "z9hG4bKnone"), 200);
    assert_eq!(
        t.handle_response(stray.clone(), t0),
        ResponseOutcome::Unmatched(stray)
    );
}

#[test]
fn client_timeouts_are_reported_then_the_transaction_is_reaped() {
    let t0 = Instant::now();
    let mut t = table();
    let h_invite = t
        .send_request(request("INVITE", "z9hG4bK7"), true, "bob", t0)
        .unwrap();
    let h_options = t
        .send_request(request("OPTIONS", "z9hG4bK7o"), false, "bob", t0 + ms(100))
        .unwrap();
    assert_eq!(
        t.poll_timeout(),
        Some(t0 + ms(600)),
        "E of the OPTIONS comes first"
    );
    assert_eq!(run_timers(&mut t), Some(t0 + ms(32_100)));
    assert_eq!(
        transmits(&mut t).len(),
        2 + 10,
        "INVITE once over TCP, OPTIONS 1 + 10 times over UDP"
    );
    assert_eq!(
        events(&mut t),
        [
            TransactionEvent::Timeout {
                handle: h_invite,
                timer: Timer::B
            },
            TransactionEvent::Terminated { handle: h_invite },
            TransactionEvent::Timeout {
                handle: h_options,
                timer: Timer::F
            },
            TransactionEvent::Terminated { handle: h_options },
        ]
    );
    assert!(t.is_empty());
}

#[test]
fn misuse_is_a_typed_error_not_a_panic() {
    let t0 = Instant::now();
    let mut t = table();
    let ack = request("ACK", "z9hG4bK8");
    assert_eq!(
        t.send_request(ack, false, "bob", t0),
        Err(TransactionError::AckWithoutTransaction)
    );
    let old = request("OPTIONS", "1234");
    assert_eq!(
        t.send_request(old, false, "bob", t0),
        Err(TransactionError::BranchWithoutMagicCookie("1234".into()))
    );
    let options = request("OPTIONS", "z9hG4bK8");
    let h = t.send_request(options.clone(), false, "bob", t0).unwrap();
    assert_eq!(
        t.send_request(options.clone(), false, "bob", t0),
        Err(TransactionError::DuplicateTransaction)
    );
    assert_eq!(
        t.send_response(h, response(&options, 200), t0),
        Err(TransactionError::NotAServerTransaction(h))
    );
    assert_eq!(
        t.send_response(h, Response::new(700), t0),
        Err(TransactionError::InvalidStatus(700))
    );
    let bare = Request::new(Method::Options, options.uri.clone());
    assert_eq!(
        t.handle_request(bare, false, "x", t0),
        Err(TransactionError::MissingHeader("Via"))
    );
    let bare = Response::new(200);
    assert_eq!(
        t.handle_response(bare.clone(), t0),
        ResponseOutcome::Unmatched(bare)
    );
}

#[test]
fn stateless_messages_go_out_as_given() {
    let mut t = table();
    let ack = Message::Request(request("ACK", "z9hG4bK9"));
    t.send_stateless(ack.clone(), "bob");
    assert_eq!(
        t.poll_transmit(),
        Some(Transmit {
            message: ack,
            dest: "bob"
        })
    );
    assert!(t.is_empty());
}

/// Two tables talking over UDP on a virtual clock; the first INVITE is lost.
#[test]
fn rejected_call_survives_a_lost_invite_and_both_sides_clean_up() {
    let t0 = Instant::now();
    let (mut uac, mut uas) = (table(), table());
    let invite = request("INVITE", "z9hG4bKe2e");
    let h = uac.send_request(invite, false, "uas", t0).unwrap();
    assert!(uac.poll_transmit().is_some(), "lost on the way");
    let mut now = t0;
    let mut acks_absorbed = 0;
    while now < t0 + Duration::from_secs(60) {
        // Deliver instantly, until both sides have nothing more to say.
        loop {
            let mut idle = true;
            while let Some(Transmit { message, .. }) = uac.poll_transmit() {
                idle = false;
                let Message::Request(req) = message else {
                    panic!("UAC sends requests")
                };
                match uas.handle_request(req, false, "uac", now).unwrap() {
                    RequestOutcome::New { handle, request } => uas
                        .send_response(handle, response(&request, 486), now)
                        .unwrap(),
                    RequestOutcome::AckAbsorbed(_) => acks_absorbed += 1,
                    other => panic!("{other:?}"),
                }
            }
            while let Some(Transmit { message, .. }) = uas.poll_transmit() {
                idle = false;
                let Message::Response(resp) = message else {
                    panic!("UAS sends responses")
                };
                assert_eq!(uac.handle_response(resp, now), ResponseOutcome::Matched(h));
            }
            if idle {
                break;
            }
        }
        let Some(next) = [uac.poll_timeout(), uas.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = next;
        uac.handle_timeout(now);
        uas.handle_timeout(now);
    }
    assert_eq!(acks_absorbed, 1);
    assert_eq!(
        now,
        t0 + ms(500) + Duration::from_secs(32),
        "timer D is the last to fire"
    );
    let got: Vec<_> = events(&mut uac)
        .into_iter()
        .map(|e| match e {
            TransactionEvent::Response { response, .. } => response.status,
            TransactionEvent::Terminated { .. } => 0,
            TransactionEvent::Timeout { .. } => panic!("no timeout expected"),
        })
        .collect();
    assert_eq!(got, [100, 486, 0]);
    assert!(uac.is_empty() && uas.is_empty());
}
