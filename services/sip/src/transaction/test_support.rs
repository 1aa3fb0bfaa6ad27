//! Test helpers: messages from text and a virtual-clock driver for the machines.

use std::time::{Duration, Instant};

use super::{Action, Machine};
use crate::message::{Message, Request, Response};
use crate::parse::parse_message;

/// A request from alice to bob through one loose-routing proxy, CSeq 1.
pub(crate) fn request(method: &str, branch: &str) -> Request {
    let text = format!(
        "{method} sip:bob@b.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP a.example:5060;branch={branch}\r\n\
         Route: <sip:p1.example;lr>\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@a.example>;tag=fa\r\n\
         To: <sip:bob@b.example>\r\n\
         Call-ID: c1@a.example\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@10.0.0.1>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match parse_message(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("test request does not parse: {other:?}"),
    }
}

/// A response to `req` with To tag `tb` (none for 100).
pub(crate) fn response(req: &Request, status: u16) -> Response {
    Response::to_request(req, status, (status > 100).then_some("tb"))
}

/// Fires every deadline of `m` up to `t0 + until`, logging what it did and when.
pub(crate) fn drive<M: Machine>(
    m: &mut M,
    t0: Instant,
    until: Duration,
) -> Vec<(Duration, Action)> {
    let mut log = Vec::new();
    while let Some(at) = m.poll_timeout() {
        if at > t0 + until {
            break;
        }
        let mut out = Vec::new();
        m.handle_timeout(at, &mut out);
        log.extend(out.into_iter().map(|a| (at - t0, a)));
    }
    log
}

/// The instants (from t0) at which something was transmitted.
pub(crate) fn sent_at(log: &[(Duration, Action)]) -> Vec<Duration> {
    log.iter()
        .filter(|(_, a)| matches!(a, Action::Transmit(_)))
        .map(|(t, _)| *t)
        .collect()
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
