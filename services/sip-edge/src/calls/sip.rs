//! The SIP messages a call actor builds for its legs. Pure functions of their inputs, so
//! the shape of every request and response is tested without sockets.

use std::net::SocketAddr;

use cc_sip::dialog::{Dialog, DialogId, DialogState};
use cc_sip::{
    CSeq, Contact, Header, Host, MediaType, Method, NameAddr, Request, Response, SipUri, Transport,
    Uri, Via,
};

use crate::transport::Peer;

/// How this node names itself in Via and Contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// The address peers reach this node's SIP port at.
    pub addr: SocketAddr,
    /// The SIP domain of the organisation (From/To of calls to agents).
    pub domain: String,
}

impl Local {
    /// Our Contact for a leg over `transport`.
    pub fn contact(&self, transport: Transport) -> NameAddr {
        let mut uri = SipUri::new(
            Some("ccd"),
            Host::Ip(self.addr.ip()),
            Some(self.addr.port()),
        );
        if transport == Transport::Tcp {
            uri.params.set("transport", Some("tcp"));
        }
        NameAddr::new(Uri::Sip(uri))
    }

    /// A top Via for a new request over `transport`.
    pub fn via(&self, transport: Transport, branch: &str) -> Via {
        let mut via = Via::new(
            transport,
            Host::Ip(self.addr.ip()),
            Some(self.addr.port()),
            branch,
        );
        via.params.set("rport", None);
        via
    }
}

/// A response to `req` carrying our tag and, for INVITE 1xx/2xx and REFER 2xx (both use a
/// dialog, RFC 3515 2.4.2), our Contact; `sdp` as body.
pub fn response(
    req: &Request,
    status: u16,
    tag: &str,
    local: &Local,
    peer: Peer,
    sdp: Option<&str>,
) -> Response {
    let mut r = Response::to_request(req, status, Some(tag));
    let with_contact = match req.method {
        Method::Invite => (101..300).contains(&status),
        Method::Refer => (200..300).contains(&status),
        _ => false,
    };
    if with_contact {
        r.headers.push(Header::Contact(Contact::Addr(
            local.contact(peer.transport()),
        )));
    }
    if let Some(sdp) = sdp {
        set_sdp(&mut r.headers, &mut r.body, sdp);
    }
    r
}

/// Who an outbound INVITE rings and as whom it presents the caller.
#[derive(Debug, Clone)]
pub struct OutboundInvite<'a> {
    /// The device's Contact URI (Request-URI).
    pub target: Uri,
    /// The To URI (the extension or number being called).
    pub to: Uri,
    /// The caller as the callee sees them.
    pub from: NameAddr,
    pub call_id: &'a str,
    pub branch: &'a str,
    pub sdp: &'a str,
    pub dest: Peer,
}

/// The INVITE for a new outbound leg.
pub fn invite(local: &Local, o: OutboundInvite<'_>) -> Request {
    let mut req = Request::new(Method::Invite, o.target);
    let transport = o.dest.transport();
    let h = &mut req.headers;
    h.push(Header::Via(local.via(transport.clone(), o.branch)));
    h.push(Header::MaxForwards(70));
    h.push(Header::From(o.from));
    h.push(Header::To(NameAddr::new(o.to)));
    h.push(Header::CallId(o.call_id.into()));
    h.push(Header::CSeq(CSeq {
        seq: 1,
        method: Method::Invite,
    }));
    h.push(Header::Contact(Contact::Addr(local.contact(transport))));
    h.push(Header::Allow(vec![
        Method::Invite,
        Method::Ack,
        Method::Cancel,
        Method::Bye,
        Method::Options,
        Method::Refer,
    ]));
    set_sdp(&mut req.headers, &mut req.body, o.sdp);
    req
}

/// The caller as an agent's phone shows them: their display name and user at our domain.
pub fn presented_caller(caller_invite: &Request, domain: &str, tag: &str) -> NameAddr {
    let from = caller_invite.headers.from();
    let user = from.and_then(|f| f.uri.user()).unwrap_or("anonymous");
    let uri = SipUri::new(Some(user), Host::Domain(domain.into()), None);
    let mut name = NameAddr::new(Uri::Sip(uri)).with_tag(tag);
    name.display = from.and_then(|f| f.display.clone());
    name
}

/// A From showing `number` at our domain (a callback's customer to the agent, our caller
/// ID to the customer).
pub fn presented_number(number: &str, domain: &str, tag: &str) -> NameAddr {
    let uri = SipUri::new(Some(number), Host::Domain(domain.into()), None);
    NameAddr::new(Uri::Sip(uri)).with_tag(tag)
}

/// The number a caller from outside calls from (the From user: digits with an optional
/// leading `+`); `None` when they withhold it or show none: an anonymous From (RFC 3323:
/// `anonymous`, `anonymous.invalid`), `Privacy: user` / `header` / `id`, no user, or a
/// user that is no number (carriers' "Restricted", "unknown", "Private").
pub fn caller_number(invite: &Request) -> Option<&str> {
    let uri = &invite.headers.from()?.uri;
    let user = uri.user().filter(|u| !u.is_empty())?;
    let withheld = user.eq_ignore_ascii_case("anonymous")
        || uri.as_sip().is_some_and(
            |u| matches!(&u.host, Host::Domain(d) if d.eq_ignore_ascii_case("anonymous.invalid")),
        )
        || invite.headers.other("Privacy").is_some_and(|p| {
            p.split(';').map(str::trim).any(|v| {
                ["user", "header", "id"]
                    .iter()
                    .any(|k| v.eq_ignore_ascii_case(k))
            })
        });
    let digits = user.strip_prefix('+').unwrap_or(user);
    let number = !digits.is_empty()
        && digits.len() <= cc_common::config::MAX_CALLER_DIGITS
        && digits.bytes().all(|b| b.is_ascii_digit());
    (!withheld && number).then_some(user)
}

/// A SIP URI `sip:user@domain`.
pub fn user_uri(user: &str, host: &str) -> Uri {
    let host = Host::parse(host).unwrap_or_else(|| Host::Domain(host.into()));
    Uri::Sip(SipUri::new(Some(user), host, None))
}

/// A SIP URI `sip:user@ip:port`.
pub fn addr_uri(user: &str, addr: SocketAddr) -> Uri {
    Uri::Sip(SipUri::new(
        Some(user),
        Host::Ip(addr.ip()),
        Some(addr.port()),
    ))
}

/// Gives an in-dialog request (from [`cc_sip::dialog::Dialog::request`] or `ack`) its Via.
pub fn with_via(mut req: Request, local: &Local, transport: Transport, branch: &str) -> Request {
    req.headers.push_top_via(local.via(transport, branch));
    req
}

/// Whether `request` is the peer's BYE in a dialog we have already ended with our own (the
/// two BYEs crossed): the dialog is over either way, so it is answered 200, not 481.
pub fn crossed_bye(dialog: &Dialog, request: &Request) -> bool {
    request.method == Method::Bye
        && dialog.state() == DialogState::Terminated
        && DialogId::of_incoming_request(request).as_ref() == Some(dialog.id())
}

/// The SDP body of a message, when it has one.
pub fn sdp_of(headers: &cc_sip::Headers, body: &[u8]) -> Option<String> {
    let sdp = headers
        .content_type()
        .is_some_and(|t| t.is("application", "sdp"));
    (sdp && !body.is_empty())
        .then(|| String::from_utf8_lossy(body).into_owned())
        .filter(|s| !s.trim().is_empty())
}

fn set_sdp(headers: &mut cc_sip::Headers, body: &mut Vec<u8>, sdp: &str) {
    headers.set(Header::ContentType(MediaType::sdp()));
    *body = sdp.as_bytes().to_vec();
}

#[cfg(test)]
mod tests {
    use cc_sip::parse_message;

    use super::*;

    fn local() -> Local {
        Local {
            addr: "127.0.0.1:5060".parse().unwrap(),
            domain: "cc.local".into(),
        }
    }

    fn caller_invite() -> Request {
        let raw = "INVITE sip:48221234567@127.0.0.1 SIP/2.0\r\n\
                   Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1\r\n\
                   From: \"Jan\" <sip:600100200@pstn.example>;tag=abc\r\n\
                   To: <sip:48221234567@127.0.0.1>\r\n\
                   Call-ID: in-1\r\nCSeq: 1 INVITE\r\nContact: <sip:jan@127.0.0.1:5070>\r\n\
                   Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";
        match parse_message(raw.as_bytes()).unwrap() {
            cc_sip::Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    /// The caller's INVITE with another From (and extra headers).
    fn invite_from(from: &str, extra: &str) -> Request {
        let raw = format!(
            "INVITE sip:48221234567@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1\r\n\
             From: {from};tag=abc\r\n{extra}\
             To: <sip:48221234567@127.0.0.1>\r\n\
             Call-ID: in-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        match parse_message(raw.as_bytes()).unwrap() {
            cc_sip::Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_caller_number_is_the_from_user_unless_withheld() {
        assert_eq!(caller_number(&caller_invite()), Some("600100200"));
        assert_eq!(
            caller_number(&invite_from("<sip:+48600100200@pstn.example>", "")),
            Some("+48600100200")
        );
        assert_eq!(
            caller_number(&invite_from("<tel:+48600100200>", "")),
            Some("+48600100200")
        );
        for (from, extra) in [
            ("\"Anonymous\" <sip:anonymous@anonymous.invalid>", ""),
            ("<sip:Anonymous@pstn.example>", ""),
            ("<sip:600100200@anonymous.invalid>", ""),
            ("<sip:pstn.example>", ""),
            ("<sip:600100200@pstn.example>", "Privacy: id\r\n"),
            ("<sip:600100200@pstn.example>", "Privacy: header;user\r\n"),
            ("<sip:Restricted@pstn.example>", ""),
            ("<sip:unknown@pstn.example>", ""),
        ] {
            assert_eq!(
                caller_number(&invite_from(from, extra)),
                None,
                "{from} {extra}"
            );
        }
        assert_eq!(
            caller_number(&invite_from(
                "<sip:600100200@pstn.example>",
                "Privacy: none\r\n"
            )),
            Some("600100200")
        );
    }

    #[test]
    fn an_outbound_invite_presents_the_caller_and_carries_our_offer() {
        let from = presented_caller(&caller_invite(), "cc.local", "t1");
        let dest = Peer::Udp("127.0.0.1:5080".parse().unwrap());
        let req = invite(
            &local(),
            OutboundInvite {
                target: addr_uri("201", "127.0.0.1:5080".parse().unwrap()),
                to: user_uri("201", "cc.local"),
                from,
                call_id: "out-1",
                branch: "z9hG4bKo1",
                sdp: "v=0\r\n",
                dest,
            },
        );
        let text = String::from_utf8(req.to_bytes()).unwrap();
        assert!(
            text.starts_with("INVITE sip:201@127.0.0.1:5080 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKo1;rport\r\n"));
        assert!(
            text.contains("From: \"Jan\" <sip:600100200@cc.local>;tag=t1\r\n"),
            "{text}"
        );
        assert!(text.contains("To: <sip:201@cc.local>\r\n"));
        assert!(text.contains("Contact: <sip:ccd@127.0.0.1:5060>\r\n"));
        assert!(text.contains("Content-Type: application/sdp\r\n"));
        assert!(text.ends_with("\r\n\r\nv=0\r\n"));
        // It parses back: the peer can read it.
        parse_message(&req.to_bytes()).unwrap();
    }

    #[test]
    fn a_2xx_to_an_invite_has_our_contact_and_tag_and_a_4xx_no_contact() {
        let req = caller_invite();
        let peer = Peer::Udp("127.0.0.1:5070".parse().unwrap());
        let ok = response(&req, 200, "me", &local(), peer, Some("v=0\r\n"));
        assert_eq!(ok.headers.to().and_then(|t| t.tag()), Some("me"));
        assert_eq!(ok.headers.contacts().count(), 1);
        assert_eq!(sdp_of(&ok.headers, &ok.body).as_deref(), Some("v=0\r\n"));
        let busy = response(&req, 486, "me", &local(), peer, None);
        assert_eq!(busy.headers.contacts().count(), 0);
        assert!(sdp_of(&busy.headers, &busy.body).is_none());
    }

    #[test]
    fn a_202_to_a_refer_has_our_contact_and_a_refusal_none() {
        let raw = "REFER sip:ccd@127.0.0.1:5060 SIP/2.0\r\n\
                   Via: SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bKr\r\n\
                   From: <sip:201@cc.local>;tag=phone\r\nTo: <sip:jan@cc.local>;tag=us\r\n\
                   Call-ID: leg-1\r\nCSeq: 2 REFER\r\nRefer-To: <sip:202@cc.local>\r\n\
                   Contact: <sip:201@127.0.0.1:5072>\r\nContent-Length: 0\r\n\r\n";
        let Ok(cc_sip::Message::Request(refer)) = parse_message(raw.as_bytes()) else {
            panic!("not a request")
        };
        let peer = Peer::Udp("127.0.0.1:5072".parse().unwrap());
        let accepted = response(&refer, 202, "us", &local(), peer, None);
        assert_eq!(accepted.reason, "Accepted");
        assert_eq!(accepted.headers.contacts().count(), 1);
        let refused = response(&refer, 403, "us", &local(), peer, None);
        assert_eq!(refused.headers.contacts().count(), 0);
    }

    /// Our dialog with an agent's phone: we sent the INVITE, the phone answered.
    fn leg_dialog() -> (Dialog, Request) {
        let invite = match parse_message(
            "INVITE sip:201@127.0.0.1:5072 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKi\r\n\
             From: <sip:jan@cc.local>;tag=us\r\nTo: <sip:201@cc.local>\r\nCall-ID: leg-1\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:ccd@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n"
                .as_bytes(),
        ) {
            Ok(cc_sip::Message::Request(r)) => r,
            _ => unreachable!(),
        };
        let mut ok = Response::to_request(&invite, 200, Some("phone"));
        ok.headers
            .push(Header::Contact(Contact::Addr(NameAddr::new(addr_uri(
                "201",
                "127.0.0.1:5072".parse().unwrap(),
            )))));
        let dialog = Dialog::uac(&invite, &ok).unwrap();
        // The phone's BYE in that dialog.
        let bye = match parse_message(
            "BYE sip:ccd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bKb\r\n\
             From: <sip:201@cc.local>;tag=phone\r\nTo: <sip:jan@cc.local>;tag=us\r\n\
             Call-ID: leg-1\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n"
                .as_bytes(),
        ) {
            Ok(cc_sip::Message::Request(r)) => r,
            _ => unreachable!(),
        };
        (dialog, bye)
    }

    #[test]
    fn a_bye_crossing_ours_is_recognised_and_no_other_request_is() {
        let (mut dialog, bye) = leg_dialog();
        assert!(
            !crossed_bye(&dialog, &bye),
            "the dialog is still up: the BYE is an ordinary one"
        );
        let _ours = dialog.request(Method::Bye);
        assert_eq!(dialog.state(), DialogState::Terminated);
        assert!(crossed_bye(&dialog, &bye));
        let mut other = bye.clone();
        other.headers.set(Header::CallId("leg-2".into()));
        assert!(!crossed_bye(&dialog, &other), "another dialog's BYE");
        let mut info = bye;
        info.method = Method::Info;
        assert!(!crossed_bye(&dialog, &info));
    }

    #[test]
    fn a_tcp_leg_gets_a_tcp_contact() {
        let contact = local().contact(Transport::Tcp);
        assert_eq!(
            contact.to_string(),
            "<sip:ccd@127.0.0.1:5060;transport=tcp>"
        );
    }
}
