//! Requests that belong to another request's transaction: the ACK for a non-2xx final
//! response (RFC 3261 17.1.1.3) and CANCEL (RFC 3261 9.1). Both reuse the original's
//! branch so that the next hop matches them to it.

use crate::header::{CSeq, Header, NameAddr};
use crate::message::{Request, Response};
use crate::method::Method;

/// The ACK the INVITE client transaction sends for a non-2xx final response: the
/// INVITE's Request-URI, top Via, Route, From, Call-ID and CSeq number, and the To of
/// the response (it carries the UAS's tag).
pub(crate) fn ack_for_non_2xx(invite: &Request, resp: &Response) -> Request {
    let to = resp.headers.to().or(invite.headers.to());
    same_hop(invite, Method::Ack, to)
}

/// A CANCEL for a pending request (RFC 3261 9.1). Send it with
/// [`super::TransactionTable::send_request`] only after a provisional response arrived.
pub fn cancel_for(request: &Request) -> Request {
    same_hop(request, Method::Cancel, request.headers.to())
}

fn same_hop(orig: &Request, method: Method, to: Option<&NameAddr>) -> Request {
    let mut req = Request::new(method.clone(), orig.uri.clone());
    let h = &mut req.headers;
    if let Some(via) = orig.headers.top_via() {
        h.push(Header::Via(via.clone()));
    }
    for route in orig.headers.routes() {
        h.push(Header::Route(route.clone()));
    }
    h.push(Header::MaxForwards(
        orig.headers.max_forwards().unwrap_or(70),
    ));
    if let Some(from) = orig.headers.from() {
        h.push(Header::From(from.clone()));
    }
    if let Some(to) = to {
        h.push(Header::To(to.clone()));
    }
    if let Some(call_id) = orig.headers.call_id() {
        h.push(Header::CallId(call_id.into()));
    }
    if let Some(cseq) = orig.headers.cseq() {
        h.push(Header::CSeq(CSeq {
            seq: cseq.seq,
            method,
        }));
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::test_support::{request, response};

    #[test]
    fn ack_for_non_2xx_copies_the_invite_hop_and_the_response_to_tag() {
        let mut invite = request("INVITE", "z9hG4bKack");
        invite
            .headers
            .push_top_via(crate::Via::parse("SIP/2.0/UDP top.example;branch=z9hG4bKtop").unwrap());
        let resp = response(&invite, 486);
        let ack = ack_for_non_2xx(&invite, &resp);
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri, invite.uri);
        assert_eq!(ack.headers.vias().count(), 1);
        assert_eq!(ack.headers.top_via(), invite.headers.top_via());
        assert_eq!(ack.headers.to().and_then(|t| t.tag()), Some("tb"));
        assert_eq!(ack.headers.from(), invite.headers.from());
        assert_eq!(ack.headers.call_id(), invite.headers.call_id());
        assert_eq!(
            ack.headers.cseq(),
            Some(&CSeq {
                seq: 1,
                method: Method::Ack
            })
        );
        assert!(ack.headers.routes().eq(invite.headers.routes()));
        assert!(ack.body.is_empty());
    }

    #[test]
    fn cancel_keeps_the_branch_and_cseq_number_of_the_request() {
        let invite = request("INVITE", "z9hG4bKc");
        let cancel = cancel_for(&invite);
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(
            cancel.headers.top_via().and_then(|v| v.branch()),
            Some("z9hG4bKc")
        );
        assert_eq!(
            cancel.headers.cseq(),
            Some(&CSeq {
                seq: 1,
                method: Method::Cancel
            })
        );
        assert_eq!(cancel.headers.to(), invite.headers.to());
        assert!(cancel.headers.contacts().next().is_none());
    }
}
