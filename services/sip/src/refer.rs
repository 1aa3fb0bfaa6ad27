//! REFER (RFC 3515) as a REFER recipient sees it: the one Refer-To of a request, whether
//! it asks for an attended transfer (an embedded Replaces, RFC 3891), and the NOTIFYs of
//! the implicit `refer` subscription, whose `message/sipfrag` bodies (RFC 3420) tell the
//! referrer how the referenced request went.
//!
//! Plain functions of their inputs: the TU decides what to do with the target, and sends
//! the NOTIFYs it builds here through the transaction table (adding the Via itself).

use thiserror::Error;

use crate::dialog::Dialog;
use crate::header::{Header, MediaType, NameAddr};
use crate::message::{Request, reason_phrase};
use crate::method::Method;
use crate::params::Params;
use crate::uri::Uri;

/// How long the subscription a REFER creates is said to last while it is active. The
/// final NOTIFY ends it long before in practice; RFC 3515 2.4.4 leaves the value to us.
pub const SUBSCRIPTION_SECS: u32 = 60;

/// Why a REFER's Refer-To cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReferToError {
    /// RFC 3515 2.4.1: exactly one Refer-To value, else 400.
    #[error("no Refer-To header")]
    Missing,
    #[error("more than one Refer-To header")]
    Several,
}

impl ReferToError {
    /// The status to refuse the REFER with (RFC 3515 2.4.1).
    pub fn status(&self) -> u16 {
        400
    }
}

/// The single Refer-To of a REFER request (RFC 3515 2.4.1). A value that does not parse
/// never gets here: the whole message is refused as malformed.
pub fn refer_to(request: &Request) -> Result<&NameAddr, ReferToError> {
    let mut all = request.headers.iter().filter_map(|h| match h {
        Header::ReferTo(a) => Some(a),
        _ => None,
    });
    let first = all.next().ok_or(ReferToError::Missing)?;
    match all.next() {
        Some(_) => Err(ReferToError::Several),
        None => Ok(first),
    }
}

/// The Replaces header embedded in a Refer-To URI (`sip:bob@b?Replaces=...`): present when
/// the referrer asks for an attended transfer, replacing one of its own dialogs.
pub fn replaces(uri: &Uri) -> Option<&str> {
    uri.as_sip()?
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("Replaces"))
        .map(|(_, value)| value.as_str())
}

/// The state of the subscription a NOTIFY reports (RFC 6665 8.2.3, RFC 3515 2.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    Active {
        expires: u32,
    },
    /// The referenced request has its final outcome: nothing more will be reported.
    Terminated,
}

impl SubscriptionState {
    /// What a NOTIFY carrying `status` says: active while the outcome is provisional,
    /// terminated with the final one.
    pub fn for_status(status: u16) -> SubscriptionState {
        if status < 200 {
            SubscriptionState::Active {
                expires: SUBSCRIPTION_SECS,
            }
        } else {
            SubscriptionState::Terminated
        }
    }

    /// The Subscription-State header value.
    pub fn value(self) -> String {
        match self {
            SubscriptionState::Active { expires } => format!("active;expires={expires}"),
            SubscriptionState::Terminated => "terminated;reason=noresource".to_owned(),
        }
    }
}

/// A `message/sipfrag` body holding only a status line (RFC 3515 2.4.5): the outcome of
/// the referenced request as the referrer reads it.
pub fn sipfrag(status: u16) -> String {
    format!("SIP/2.0 {status} {}\r\n", reason_phrase(status))
}

/// A NOTIFY for the `refer` subscription made by the REFER numbered `refer_seq` in
/// `dialog`, reporting `status` in a sipfrag body. It carries `Event: refer;id=N` (the id
/// is required from the second REFER of a dialog on and allowed for the first, RFC 3515
/// 2.4.6, so it is always given) and the subscription's state: active for a provisional
/// status, terminated for a final one. The caller adds a Via with a fresh branch.
pub fn notify(dialog: &mut Dialog, refer_seq: u32, status: u16) -> Request {
    let mut request = dialog.request(Method::Notify);
    let h = &mut request.headers;
    h.push(Header::Other {
        name: "Event".into(),
        value: format!("refer;id={refer_seq}").into(),
    });
    h.push(Header::Other {
        name: "Subscription-State".into(),
        value: SubscriptionState::for_status(status).value().into(),
    });
    let mut params = Params::new();
    params.set("version", Some("2.0"));
    h.push(Header::ContentType(MediaType {
        top: "message".into(),
        sub: "sipfrag".into(),
        params,
    }));
    request.body = sipfrag(status).into_bytes();
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Response};
    use crate::parse::parse_message;

    fn request(text: &str) -> Request {
        match parse_message(text.replace('\n', "\r\n").as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    fn refer(refer_to: &str) -> Request {
        request(&format!(
            "REFER sip:ccd@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKr
From: <sip:201@cc.local>;tag=a
To: <sip:600100200@cc.local>;tag=b
Call-ID: leg-1
CSeq: 2 REFER
{refer_to}Contact: <sip:201@10.0.0.2>
Content-Length: 0

"
        ))
    }

    #[test]
    fn the_one_refer_to_is_found_in_either_form() {
        let r = refer("Refer-To: <sip:202@cc.local>\n");
        assert_eq!(refer_to(&r).unwrap().uri.user(), Some("202"));
        let compact = refer("r: sip:600@cc.local\n");
        assert_eq!(refer_to(&compact).unwrap().uri.user(), Some("600"));
        let tel = refer("Refer-To: <tel:+48600100200>\n");
        assert_eq!(refer_to(&tel).unwrap().uri.user(), Some("+48600100200"));
    }

    #[test]
    fn none_or_two_refer_to_headers_are_a_bad_request() {
        assert_eq!(refer_to(&refer("")), Err(ReferToError::Missing));
        let two = refer("Refer-To: <sip:202@cc.local>\nRefer-To: <sip:203@cc.local>\n");
        assert_eq!(refer_to(&two), Err(ReferToError::Several));
        assert_eq!(ReferToError::Several.status(), 400);
        assert_eq!(ReferToError::Missing.to_string(), "no Refer-To header");
    }

    #[test]
    fn an_embedded_replaces_marks_an_attended_transfer() {
        let attended =
            refer("Refer-To: <sip:202@cc.local?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>\n");
        let uri = &refer_to(&attended).unwrap().uri;
        assert_eq!(replaces(uri), Some("abc@h;to-tag=1;from-tag=2"));
        let blind = refer("Refer-To: <sip:202@cc.local?Subject=hi>\n");
        assert_eq!(replaces(&refer_to(&blind).unwrap().uri), None);
    }

    /// The agent's leg: we sent the INVITE, the phone answered, then sent a REFER.
    fn leg_dialog() -> Dialog {
        let invite = request(
            "INVITE sip:201@10.0.0.2 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKi
From: <sip:600100200@cc.local>;tag=b
To: <sip:201@cc.local>
Call-ID: leg-1
CSeq: 1 INVITE
Contact: <sip:ccd@10.0.0.1>
Content-Length: 0

",
        );
        let mut ok = Response::to_request(&invite, 200, Some("a"));
        let phone = NameAddr::parse("<sip:201@10.0.0.2>", "Contact").unwrap();
        ok.headers
            .push(Header::Contact(crate::header::Contact::Addr(phone)));
        Dialog::uac(&invite, &ok).unwrap()
    }

    #[test]
    fn notifies_carry_the_event_the_state_and_the_outcome_as_sipfrag() {
        let mut dialog = leg_dialog();
        let trying = notify(&mut dialog, 2, 100);
        let text = String::from_utf8(trying.to_bytes()).unwrap();
        assert!(
            text.starts_with("NOTIFY sip:201@10.0.0.2 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nEvent: refer;id=2\r\n"), "{text}");
        assert!(text.contains("\r\nSubscription-State: active;expires=60\r\n"));
        assert!(text.contains("\r\nContent-Type: message/sipfrag;version=2.0\r\n"));
        assert!(text.contains("\r\nCSeq: 2 NOTIFY\r\n"), "{text}");
        assert!(text.contains("\r\nContact: <sip:ccd@10.0.0.1>\r\n"));
        assert!(text.ends_with("\r\n\r\nSIP/2.0 100 Trying\r\n"), "{text}");

        let done = notify(&mut dialog, 2, 200);
        assert_eq!(done.headers.cseq().map(|c| c.seq), Some(3));
        assert_eq!(
            done.headers.other("Subscription-State"),
            Some("terminated;reason=noresource")
        );
        assert_eq!(done.body, b"SIP/2.0 200 OK\r\n");
        assert_eq!(sipfrag(404), "SIP/2.0 404 Not Found\r\n");
        assert_eq!(sipfrag(503), "SIP/2.0 503 Service Unavailable\r\n");
        // What the referrer receives parses back (with the Via its sender adds).
        let mut wire = done;
        wire.headers
            .push_top_via(crate::Via::parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKn").unwrap());
        assert!(parse_message(&wire.to_bytes()).is_ok());
    }
}
