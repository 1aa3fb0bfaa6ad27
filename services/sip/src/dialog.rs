//! Dialogs (RFC 3261 12): the state an INVITE sets up between two user agents, the
//! requests built inside it and the checks on requests received in it.
//!
//! A dialog is plain data: the TU keeps one per call leg, finds it by [`DialogId`], and
//! sends what it builds through the transaction table (adding the Via itself).

use thiserror::Error;

use crate::header::{CSeq, Contact, Header, NameAddr};
use crate::message::{Headers, Request, Response};
use crate::method::Method;
use crate::uri::Uri;

/// CSeq numbers stay below 2^31 (RFC 3261 8.1.1.5).
const MAX_CSEQ: u32 = (1 << 31) - 1;

/// Call-ID and both tags, seen from this side. A missing From tag (RFC 2543 peers) is
/// the empty tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog a received request belongs to (local tag from To, remote from From);
    /// `None` when it has no To tag, i.e. is outside any dialog.
    pub fn of_incoming_request(request: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: request.headers.call_id()?.to_owned(),
            local_tag: request.headers.to()?.tag()?.to_owned(),
            remote_tag: tag_or_empty(request.headers.from()),
        })
    }

    /// The dialog a received response belongs to (local tag from From, remote from To);
    /// `None` while the response has no To tag.
    pub fn of_incoming_response(response: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: response.headers.call_id()?.to_owned(),
            local_tag: tag_or_empty(response.headers.from()),
            remote_tag: response.headers.to()?.tag()?.to_owned(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response; a 2xx confirms it, a failure ends it.
    Early,
    Confirmed,
    Terminated,
}

/// Which side of the dialog-creating request this side was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Uac,
    Uas,
}

/// Why a dialog cannot be created from a request and response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DialogError {
    #[error("the message has no {0} header")]
    MissingHeader(&'static str),
    #[error("the {0} header has no tag")]
    MissingTag(&'static str),
    #[error("no Contact address to use as the remote target")]
    MissingContact,
    #[error("a {0} response does not create a dialog")]
    NotDialogCreating(u16),
}

/// What to do with a request received inside a dialog (RFC 3261 12.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestCheck {
    /// Process it; the dialog has already taken its CSeq, target refresh or BYE into account.
    Accept,
    /// Its CSeq is below one already received: answer 500.
    OutOfOrder,
    /// Not for this dialog, or the dialog has ended: answer 481.
    NoDialog,
    /// It has no CSeq: answer 400.
    Malformed,
}

impl RequestCheck {
    /// The status to reject the request with, if it is rejected.
    pub fn reject_status(self) -> Option<u16> {
        match self {
            RequestCheck::Accept => None,
            RequestCheck::OutOfOrder => Some(500),
            RequestCheck::NoDialog => Some(481),
            RequestCheck::Malformed => Some(400),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    role: Role,
    id: DialogId,
    state: DialogState,
    /// `None` until a UAS sends its first request in the dialog.
    local_seq: Option<u32>,
    /// `None` until a UAC receives the first request from its peer.
    remote_seq: Option<u32>,
    /// Our From in requests we send (with the local tag).
    local: NameAddr,
    /// Our To in requests we send (with the remote tag).
    remote: NameAddr,
    remote_target: Uri,
    route_set: Vec<NameAddr>,
    /// Sent as Contact in target refresh requests.
    local_contact: Option<NameAddr>,
}

impl Dialog {
    /// The UAC's dialog (RFC 3261 12.1.2) from the request it sent and a 101-299 response
    /// with a To tag: early for 1xx, confirmed for 2xx. The route set is the response's
    /// Record-Route reversed.
    pub fn uac(request: &Request, response: &Response) -> Result<Dialog, DialogError> {
        let state = creating_state(response.status)?;
        let local = request
            .headers
            .from()
            .ok_or(DialogError::MissingHeader("From"))?
            .clone();
        let remote = response
            .headers
            .to()
            .ok_or(DialogError::MissingHeader("To"))?
            .clone();
        let id = DialogId {
            call_id: call_id(&request.headers)?,
            local_tag: tag_or_empty(Some(&local)),
            remote_tag: remote
                .tag()
                .ok_or(DialogError::MissingTag("To"))?
                .to_owned(),
        };
        Ok(Dialog {
            role: Role::Uac,
            id,
            state,
            local_seq: Some(cseq(&request.headers)?),
            remote_seq: None,
            local,
            remote,
            remote_target: contact_uri(&response.headers).ok_or(DialogError::MissingContact)?,
            route_set: uac_route_set(response),
            local_contact: contact_addr(&request.headers),
        })
    }

    /// The UAS's dialog (RFC 3261 12.1.1) from the request it received and the 101-299
    /// response it sends, which carries its To tag. The route set is the request's
    /// Record-Route in order.
    pub fn uas(request: &Request, response: &Response) -> Result<Dialog, DialogError> {
        let state = creating_state(response.status)?;
        let local = response
            .headers
            .to()
            .ok_or(DialogError::MissingHeader("To"))?
            .clone();
        let remote = request
            .headers
            .from()
            .ok_or(DialogError::MissingHeader("From"))?
            .clone();
        let id = DialogId {
            call_id: call_id(&request.headers)?,
            local_tag: local.tag().ok_or(DialogError::MissingTag("To"))?.to_owned(),
            remote_tag: tag_or_empty(Some(&remote)),
        };
        Ok(Dialog {
            role: Role::Uas,
            id,
            state,
            local_seq: None,
            remote_seq: Some(cseq(&request.headers)?),
            local,
            remote,
            remote_target: contact_uri(&request.headers).ok_or(DialogError::MissingContact)?,
            route_set: request.headers.record_routes().cloned().collect(),
            local_contact: contact_addr(&response.headers),
        })
    }

    pub fn id(&self) -> &DialogId {
        &self.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn state(&self) -> DialogState {
        self.state
    }

    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Local URI and tag (the From of requests this side sends).
    pub fn local_uri(&self) -> &NameAddr {
        &self.local
    }

    /// Remote URI and tag (the To of requests this side sends).
    pub fn remote_uri(&self) -> &NameAddr {
        &self.remote
    }

    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    /// A request inside the dialog (RFC 3261 12.2.1.1) with the next local CSeq. The
    /// caller adds a Via with a fresh branch, and a body if any. Use [`Dialog::ack`] for
    /// the ACK of a 2xx and [`crate::transaction::cancel_for`] for CANCEL; both keep the
    /// CSeq number of their INVITE. A BYE ends the dialog at once (RFC 3261 15.1.1).
    pub fn request(&mut self, method: Method) -> Request {
        let seq = match method {
            Method::Ack | Method::Cancel => self.local_seq.unwrap_or(1),
            _ => {
                let next = self
                    .local_seq
                    .map_or(1, |s| s.saturating_add(1).min(MAX_CSEQ));
                self.local_seq = Some(next);
                next
            }
        };
        if method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        self.build(method, seq)
    }

    /// The ACK for a 2xx to the INVITE whose CSeq number is `invite_seq` (RFC 3261
    /// 13.2.2.4). It is sent outside any transaction and takes no CSeq of its own.
    pub fn ack(&self, invite_seq: u32) -> Request {
        self.build(Method::Ack, invite_seq)
    }

    /// Checks a request received in this dialog (RFC 3261 12.2.2) and, if it is in order,
    /// records its CSeq, refreshes the remote target (re-INVITE, UPDATE) and ends the
    /// dialog on BYE. ACK and CANCEL carry their INVITE's number and are not ordered.
    pub fn handle_request(&mut self, request: &Request) -> RequestCheck {
        if self.state == DialogState::Terminated
            || DialogId::of_incoming_request(request).as_ref() != Some(&self.id)
        {
            return RequestCheck::NoDialog;
        }
        let Some(cseq) = request.headers.cseq() else {
            return RequestCheck::Malformed;
        };
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return RequestCheck::Accept;
        }
        if self.remote_seq.is_some_and(|last| cseq.seq < last) {
            return RequestCheck::OutOfOrder;
        }
        self.remote_seq = Some(cseq.seq);
        if is_target_refresh(&request.method)
            && let Some(target) = contact_uri(&request.headers)
        {
            self.remote_target = target;
        }
        if request.method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        RequestCheck::Accept
    }

    /// A response received for a request this side sent: the dialog-creating INVITE (a 2xx
    /// confirms an early dialog and, for the UAC, recomputes the route set; a failure ends
    /// it) or an in-dialog request (a 2xx to a target refresh updates the remote target;
    /// 481 and 408 end the dialog, RFC 3261 12.2.1.2).
    pub fn handle_response(&mut self, response: &Response) {
        let Some(cseq) = response.headers.cseq() else {
            return;
        };
        let creating = self.state == DialogState::Early && cseq.method == Method::Invite;
        match response.status {
            _ if self.state == DialogState::Terminated => {}
            200..=299 => {
                if creating {
                    self.state = DialogState::Confirmed;
                    if self.role == Role::Uac {
                        self.route_set = uac_route_set(response);
                    }
                }
                if is_target_refresh(&cseq.method)
                    && let Some(target) = contact_uri(&response.headers)
                {
                    self.remote_target = target;
                }
            }
            408 | 481 => self.state = DialogState::Terminated,
            300..=699 if creating => self.state = DialogState::Terminated,
            _ => {}
        }
    }

    /// A response this side (the UAS) sent to the dialog-creating INVITE: a 2xx confirms
    /// the early dialog, a failure ends it.
    pub fn handle_sent_response(&mut self, response: &Response) {
        let to_invite = response
            .headers
            .cseq()
            .is_some_and(|c| c.method == Method::Invite);
        if self.state != DialogState::Early || !to_invite {
            return;
        }
        match response.status {
            200..=299 => self.state = DialogState::Confirmed,
            300..=699 => self.state = DialogState::Terminated,
            _ => {}
        }
    }

    /// Ends the dialog, e.g. when an in-dialog request timed out (RFC 3261 12.2.1.2).
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    fn build(&self, method: Method, seq: u32) -> Request {
        let (uri, routes) = self.next_hop();
        let mut req = Request::new(method.clone(), uri);
        let h = &mut req.headers;
        for route in routes {
            h.push(Header::Route(route));
        }
        h.push(Header::MaxForwards(70));
        h.push(Header::From(self.local.clone()));
        h.push(Header::To(self.remote.clone()));
        h.push(Header::CallId(self.id.call_id.as_str().into()));
        let carries_contact = matches!(
            method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
        );
        h.push(Header::CSeq(CSeq { seq, method }));
        if carries_contact && let Some(contact) = &self.local_contact {
            h.push(Header::Contact(Contact::Addr(contact.clone())));
        }
        req
    }

    /// Request-URI and Route headers (RFC 3261 12.2.1.1): with a loose first route (`lr`)
    /// the request goes to the remote target through the route set; with a strict one the
    /// first route becomes the Request-URI and the remote target the last Route.
    fn next_hop(&self) -> (Uri, Vec<NameAddr>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        if first.uri.as_sip().is_some_and(|u| u.params.contains("lr")) {
            return (self.remote_target.clone(), self.route_set.clone());
        }
        let mut uri = first.uri.clone();
        if let Uri::Sip(sip) = &mut uri {
            sip.headers.clear();
        }
        let mut routes: Vec<NameAddr> = self.route_set.iter().skip(1).cloned().collect();
        routes.push(NameAddr::new(self.remote_target.clone()));
        (uri, routes)
    }
}

fn creating_state(status: u16) -> Result<DialogState, DialogError> {
    match status {
        101..=199 => Ok(DialogState::Early),
        200..=299 => Ok(DialogState::Confirmed),
        _ => Err(DialogError::NotDialogCreating(status)),
    }
}

fn is_target_refresh(method: &Method) -> bool {
    matches!(method, Method::Invite | Method::Update)
}

fn uac_route_set(response: &Response) -> Vec<NameAddr> {
    let mut routes: Vec<NameAddr> = response.headers.record_routes().cloned().collect();
    routes.reverse();
    routes
}

fn tag_or_empty(addr: Option<&NameAddr>) -> String {
    addr.and_then(NameAddr::tag).unwrap_or_default().to_owned()
}

fn call_id(headers: &Headers) -> Result<String, DialogError> {
    headers
        .call_id()
        .map(str::to_owned)
        .ok_or(DialogError::MissingHeader("Call-ID"))
}

fn cseq(headers: &Headers) -> Result<u32, DialogError> {
    headers
        .cseq()
        .map(|c| c.seq)
        .ok_or(DialogError::MissingHeader("CSeq"))
}

fn contact_addr(headers: &Headers) -> Option<NameAddr> {
    headers.contacts().find_map(|c| match c {
        Contact::Addr(addr) => Some(addr.clone()),
        Contact::Wildcard => None,
    })
}

fn contact_uri(headers: &Headers) -> Option<Uri> {
    contact_addr(headers).map(|a| a.uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::parse::parse_message;

    fn parse(text: &str) -> Message {
        parse_message(text.replace('\n', "\r\n").as_bytes()).unwrap()
    }

    /// The INVITE as it reaches bob, after proxies p1 then p2 record-routed it.
    fn invite(record_route: &str) -> Request {
        let text = format!(
            "INVITE sip:bob@b.example SIP/2.0
Via: SIP/2.0/UDP p2.example;branch=z9hG4bKp2
Via: SIP/2.0/UDP a.example;branch=z9hG4bKa
{record_route}Max-Forwards: 68
From: \"Alice\" <sip:alice@a.example>;tag=fa
To: <sip:bob@b.example>
Call-ID: call-1
CSeq: 10 INVITE
Contact: <sip:alice@10.0.0.1>
Content-Length: 0

"
        );
        match parse(&text) {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    const LOOSE: &str = "Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\n";

    /// Bob's answer (To tag `tb`), copying the Record-Route as RFC 3261 12.1.1 asks.
    fn answer(invite: &Request, status: u16) -> Response {
        let mut r = Response::to_request(invite, status, Some("tb"));
        let bob = NameAddr::parse("<sip:bob@10.0.0.2:5070>", "Contact").unwrap();
        r.headers.push(Header::Contact(Contact::Addr(bob)));
        r
    }

    fn uri(s: &str) -> Uri {
        Uri::parse(s).unwrap()
    }

    fn route_uris(routes: impl IntoIterator<Item = NameAddr>) -> Vec<String> {
        routes.into_iter().map(|r| r.uri.to_string()).collect()
    }

    fn dialogs() -> (Dialog, Dialog) {
        let inv = invite(LOOSE);
        let ok = answer(&inv, 200);
        (
            Dialog::uac(&inv, &ok).unwrap(),
            Dialog::uas(&inv, &ok).unwrap(),
        )
    }

    /// What the peer receives: the request plus the Via its sender's transport adds.
    fn over_the_wire(mut req: Request) -> Request {
        req.headers
            .push_top_via(crate::Via::parse("SIP/2.0/UDP x.example;branch=z9hG4bKw").unwrap());
        req
    }

    #[test]
    fn uac_dialog_from_invite_and_200_reverses_the_record_route() {
        let (uac, _) = dialogs();
        assert_eq!(uac.role(), Role::Uac);
        assert_eq!(uac.state(), DialogState::Confirmed);
        let id = DialogId {
            call_id: "call-1".into(),
            local_tag: "fa".into(),
            remote_tag: "tb".into(),
        };
        assert_eq!(uac.id(), &id);
        assert_eq!((uac.local_seq(), uac.remote_seq()), (Some(10), None));
        assert_eq!(uac.remote_target(), &uri("sip:bob@10.0.0.2:5070"));
        assert_eq!(
            route_uris(uac.route_set().to_vec()),
            ["sip:p1.example;lr", "sip:p2.example;lr"]
        );
        assert_eq!(uac.local_uri().display.as_deref(), Some("Alice"));
        assert_eq!(uac.remote_uri().tag(), Some("tb"));
    }

    #[test]
    fn uas_dialog_keeps_the_record_route_order() {
        let (_, uas) = dialogs();
        assert_eq!(uas.state(), DialogState::Confirmed);
        let id = DialogId {
            call_id: "call-1".into(),
            local_tag: "tb".into(),
            remote_tag: "fa".into(),
        };
        assert_eq!(uas.id(), &id);
        assert_eq!((uas.local_seq(), uas.remote_seq()), (None, Some(10)));
        assert_eq!(uas.remote_target(), &uri("sip:alice@10.0.0.1"));
        assert_eq!(
            route_uris(uas.route_set().to_vec()),
            ["sip:p2.example;lr", "sip:p1.example;lr"]
        );
    }

    #[test]
    fn bye_is_loose_routed_to_the_remote_target_and_ends_the_dialog() {
        let (mut uac, _) = dialogs();
        let bye = uac.request(Method::Bye);
        assert_eq!(bye.uri, uri("sip:bob@10.0.0.2:5070"));
        assert_eq!(
            route_uris(bye.headers.routes().cloned()),
            ["sip:p1.example;lr", "sip:p2.example;lr"]
        );
        assert_eq!(
            bye.headers.cseq(),
            Some(&CSeq {
                seq: 11,
                method: Method::Bye
            })
        );
        assert_eq!(bye.headers.from().and_then(|f| f.tag()), Some("fa"));
        assert_eq!(bye.headers.to().and_then(|t| t.tag()), Some("tb"));
        assert_eq!(bye.headers.call_id(), Some("call-1"));
        assert!(bye.headers.contacts().next().is_none());
        assert_eq!(uac.state(), DialogState::Terminated);
    }

    #[test]
    fn strict_first_route_becomes_the_request_uri_and_the_target_the_last_route() {
        let inv = invite("Record-Route: <sip:p2.example;lr>, <sip:p1.example>\n");
        let mut uac = Dialog::uac(&inv, &answer(&inv, 200)).unwrap();
        let info = uac.request(Method::Info);
        assert_eq!(info.uri, uri("sip:p1.example"));
        assert_eq!(
            route_uris(info.headers.routes().cloned()),
            ["sip:p2.example;lr", "sip:bob@10.0.0.2:5070"]
        );
        let inv = invite("");
        let mut direct = Dialog::uac(&inv, &answer(&inv, 200)).unwrap();
        let info = direct.request(Method::Info);
        assert_eq!(info.uri, uri("sip:bob@10.0.0.2:5070"));
        assert_eq!(info.headers.routes().count(), 0);
    }

    #[test]
    fn local_cseq_increments_and_the_ack_reuses_the_invite_number() {
        let (mut uac, mut uas) = dialogs();
        assert_eq!(
            uac.ack(10).headers.cseq(),
            Some(&CSeq {
                seq: 10,
                method: Method::Ack
            })
        );
        assert_eq!(
            uac.request(Method::Info).headers.cseq().map(|c| c.seq),
            Some(11)
        );
        let reinvite = uac.request(Method::Invite);
        assert_eq!(reinvite.headers.cseq().map(|c| c.seq), Some(12));
        assert_eq!(
            reinvite.headers.contacts().count(),
            1,
            "a target refresh carries our Contact"
        );
        assert_eq!(uac.ack(12).headers.cseq().map(|c| c.seq), Some(12));
        assert_eq!(uac.local_seq(), Some(12));
        // The UAS's local sequence starts empty; its first request picks 1.
        assert_eq!(
            uas.request(Method::Info).headers.cseq().map(|c| c.seq),
            Some(1)
        );
        assert_eq!(
            uas.request(Method::Info).headers.cseq().map(|c| c.seq),
            Some(2)
        );
    }

    #[test]
    fn requests_built_by_one_side_are_accepted_in_order_by_the_other() {
        let (mut uac, mut uas) = dialogs();
        for _ in 0..2 {
            let info = over_the_wire(uac.request(Method::Info));
            assert_eq!(uas.handle_request(&info), RequestCheck::Accept);
        }
        assert_eq!(uas.remote_seq(), Some(12));
        let from_uas = over_the_wire(uas.request(Method::Info));
        assert_eq!(
            DialogId::of_incoming_request(&from_uas).as_ref(),
            Some(uac.id())
        );
        assert_eq!(uac.handle_request(&from_uas), RequestCheck::Accept);
        assert_eq!(uac.remote_seq(), Some(1));
    }

    #[test]
    fn lower_cseq_is_rejected_with_500_but_ack_and_cancel_are_not_ordered() {
        let (mut uac, mut uas) = dialogs();
        let first = over_the_wire(uac.request(Method::Info));
        let second = over_the_wire(uac.request(Method::Info));
        assert_eq!(uas.handle_request(&second), RequestCheck::Accept);
        let late = uas.handle_request(&first);
        assert_eq!(late, RequestCheck::OutOfOrder);
        assert_eq!(late.reject_status(), Some(500));
        assert_eq!(
            uas.remote_seq(),
            Some(12),
            "a rejected request does not move the remote CSeq"
        );
        assert_eq!(
            uas.handle_request(&over_the_wire(uac.ack(10))),
            RequestCheck::Accept
        );
    }

    #[test]
    fn reinvite_and_update_refresh_the_remote_target() {
        let (mut uac, mut uas) = dialogs();
        let mut reinvite = over_the_wire(uac.request(Method::Invite));
        let moved = NameAddr::parse("<sip:alice@10.9.9.9>", "Contact").unwrap();
        reinvite.headers.set(Header::Contact(Contact::Addr(moved)));
        assert_eq!(uas.handle_request(&reinvite), RequestCheck::Accept);
        assert_eq!(uas.remote_target(), &uri("sip:alice@10.9.9.9"));
        // The UAC learns a new target from the 2xx to its UPDATE.
        let update = over_the_wire(uac.request(Method::Update));
        let mut ok = Response::to_request(&update, 200, None);
        let moved = NameAddr::parse("<sip:bob@10.8.8.8>", "Contact").unwrap();
        ok.headers.push(Header::Contact(Contact::Addr(moved)));
        uac.handle_response(&ok);
        assert_eq!(uac.remote_target(), &uri("sip:bob@10.8.8.8"));
        // An INFO's Contact is not a target refresh.
        let mut info = over_the_wire(uac.request(Method::Info));
        info.headers
            .push(Header::Contact(Contact::Addr(NameAddr::new(uri(
                "sip:x@y",
            )))));
        assert_eq!(uas.handle_request(&info), RequestCheck::Accept);
        assert_eq!(uas.remote_target(), &uri("sip:alice@10.9.9.9"));
    }

    #[test]
    fn bye_ends_the_dialog_and_later_requests_get_481() {
        let (mut uac, mut uas) = dialogs();
        let bye = over_the_wire(uac.request(Method::Bye));
        assert_eq!(uas.handle_request(&bye), RequestCheck::Accept);
        assert_eq!(uas.state(), DialogState::Terminated);
        let info = over_the_wire(uac.request(Method::Info));
        assert_eq!(uas.handle_request(&info).reject_status(), Some(481));
    }

    #[test]
    fn request_for_another_dialog_gets_481() {
        let (mut uac, mut uas) = dialogs();
        let mut info = over_the_wire(uac.request(Method::Info));
        if let Some(to) = info.headers.to_mut() {
            to.params.set("tag", Some("other"));
        }
        assert_eq!(uas.handle_request(&info), RequestCheck::NoDialog);
        assert_eq!(uas.remote_seq(), Some(10));
    }

    #[test]
    fn early_dialog_is_confirmed_by_the_2xx_which_sets_the_route_set() {
        let inv = invite(LOOSE);
        let mut ringing = answer(&inv, 180);
        ringing.headers.remove("Record-Route");
        let mut uac = Dialog::uac(&inv, &ringing).unwrap();
        assert_eq!(uac.state(), DialogState::Early);
        assert!(uac.route_set().is_empty());
        uac.handle_response(&answer(&inv, 200));
        assert_eq!(uac.state(), DialogState::Confirmed);
        assert_eq!(
            route_uris(uac.route_set().to_vec()),
            ["sip:p1.example;lr", "sip:p2.example;lr"]
        );
    }

    #[test]
    fn early_dialog_ends_on_a_failure_response_on_both_sides() {
        let inv = invite(LOOSE);
        let ringing = answer(&inv, 180);
        let mut uac = Dialog::uac(&inv, &ringing).unwrap();
        let mut uas = Dialog::uas(&inv, &ringing).unwrap();
        assert_eq!(uas.state(), DialogState::Early);
        let busy = answer(&inv, 486);
        uac.handle_response(&busy);
        uas.handle_sent_response(&busy);
        assert_eq!(
            (uac.state(), uas.state()),
            (DialogState::Terminated, DialogState::Terminated)
        );
        let mut uas = Dialog::uas(&inv, &ringing).unwrap();
        uas.handle_sent_response(&answer(&inv, 200));
        assert_eq!(uas.state(), DialogState::Confirmed);
    }

    #[test]
    fn response_481_to_an_in_dialog_request_ends_the_dialog() {
        let (mut uac, _) = dialogs();
        let info = over_the_wire(uac.request(Method::Info));
        uac.handle_response(&Response::to_request(&info, 481, None));
        assert_eq!(uac.state(), DialogState::Terminated);
    }

    #[test]
    fn dialog_needs_a_to_tag_a_contact_and_a_non_failure_response() {
        let inv = invite(LOOSE);
        let mut untagged = Response::to_request(&inv, 180, None);
        untagged
            .headers
            .push(Header::Contact(Contact::Addr(NameAddr::new(uri(
                "sip:b@h",
            )))));
        assert_eq!(
            Dialog::uac(&inv, &untagged),
            Err(DialogError::MissingTag("To"))
        );
        assert_eq!(
            Dialog::uas(&inv, &untagged),
            Err(DialogError::MissingTag("To"))
        );
        let no_contact = Response::to_request(&inv, 200, Some("tb"));
        assert_eq!(
            Dialog::uac(&inv, &no_contact),
            Err(DialogError::MissingContact)
        );
        assert_eq!(
            Dialog::uac(&inv, &answer(&inv, 100)),
            Err(DialogError::NotDialogCreating(100))
        );
        assert_eq!(
            Dialog::uas(&inv, &answer(&inv, 404)),
            Err(DialogError::NotDialogCreating(404))
        );
    }
}
