//! Blind transfer, as decided before a call acts on it: where a target sends the caller,
//! and what a REFER from the agent's phone (RFC 3515) asks for. Pure functions of the
//! configuration and the request; the call actor carries the transfer out (the same way
//! for the Calls API and for a phone's REFER).

use cc_common::Config;
use cc_sip::refer::{refer_to, replaces};
use cc_sip::{Request, Uri, reason_phrase};

use super::TransferError;

/// Where a transfer target sends the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Goal {
    /// A department's extension: its queue (by department id).
    Queue(String),
    /// An employee's extension: their phones ring (by employee id).
    Employee(String),
    /// An outside number, through the first trunk.
    Outside,
}

/// Where `target` (an extension or a number) sends the caller: a department's extension
/// first, then an employee's, then an outside number when a trunk can reach it.
pub(super) fn goal(config: &Config, target: &str) -> Result<Goal, TransferError> {
    if let Some(d) = config.departments.iter().find(|d| d.extension == target) {
        return Ok(Goal::Queue(d.id.clone()));
    }
    if let Some(e) = config.employee_by_extension(target) {
        return Ok(Goal::Employee(e.id.as_str().to_owned()));
    }
    if !config.trunks.is_empty() && is_number(target) {
        return Ok(Goal::Outside);
    }
    Err(TransferError::Unreachable(target.to_owned()))
}

/// Digits, with an optional leading `+`.
fn is_number(target: &str) -> bool {
    let digits = target.strip_prefix('+').unwrap_or(target);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Why a REFER is refused outright (before any 202): the status and the reason phrase,
/// which names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub status: u16,
    pub reason: String,
}

impl Refusal {
    pub(super) fn new(status: u16, why: &str) -> Refusal {
        Refusal {
            status,
            reason: format!("{} ({why})", reason_phrase(status)),
        }
    }
}

/// What a REFER asks for: a blind transfer to `target`, or, with `replaces`, an attended
/// one: the phone has called the target itself (the dialog `replaces` names) and asks that
/// the caller take its place there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReferRequest {
    pub target: String,
    pub replaces: Option<Replaces>,
}

/// The dialog a Refer-To's Replaces names (RFC 3891 3): its Call-ID and both tags. Which
/// tag is whose depends on who made the dialog, so it is matched either way round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
}

impl Replaces {
    /// Parses `call-id;to-tag=..;from-tag=..` (other parameters, such as `early-only`,
    /// are ignored).
    pub(super) fn parse(value: &str) -> Result<Replaces, Refusal> {
        let bad = |why: &str| Refusal::new(400, &format!("Refer-To: Replaces {why}"));
        let mut parts = value.split(';');
        let call_id = parts.next().unwrap_or_default().trim();
        if call_id.is_empty() {
            return Err(bad("names no Call-ID"));
        }
        let (mut to_tag, mut from_tag) = (None, None);
        for part in parts {
            let (name, tag) = part.split_once('=').unwrap_or((part, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "to-tag" => to_tag = Some(tag.trim()),
                "from-tag" => from_tag = Some(tag.trim()),
                _ => {}
            }
        }
        match (to_tag, from_tag) {
            (Some(to), Some(from)) if !to.is_empty() && !from.is_empty() => Ok(Replaces {
                call_id: call_id.to_owned(),
                to_tag: to.to_owned(),
                from_tag: from.to_owned(),
            }),
            _ => Err(bad("lacks its to-tag or from-tag")),
        }
    }

    /// Whether these are the tags of a dialog whose own tags are `ours` and `theirs`.
    pub(super) fn names(&self, call_id: &str, ours: &str, theirs: &str) -> bool {
        self.call_id == call_id
            && ((self.to_tag == ours && self.from_tag == theirs)
                || (self.to_tag == theirs && self.from_tag == ours))
    }
}

/// What a REFER asks for: the user part of its one `sip:`/`sips:` Refer-To (any host:
/// phones put our domain or our address there) or the number of a `tel:` one, and the
/// dialog its Replaces names, if any. Whether the target reaches anything is decided
/// later, by [`goal`], and told in the final NOTIFY.
///
/// Refused: no or several Refer-To (400, RFC 3515 2.4.1); another URI scheme (416); a URI
/// without a user, or a Replaces without its Call-ID or tags (400).
pub(super) fn refer_target(request: &Request) -> Result<ReferRequest, Refusal> {
    let to = refer_to(request).map_err(|e| Refusal::new(e.status(), &e.to_string()))?;
    if let Uri::Other(other) = &to.uri {
        let why = format!("Refer-To: {}: URIs are not supported", other.scheme);
        return Err(Refusal::new(416, &why));
    }
    let replaces = replaces(&to.uri).map(Replaces::parse).transpose()?;
    match to.uri.user() {
        Some(user) if !user.is_empty() => Ok(ReferRequest {
            target: user.to_owned(),
            replaces,
        }),
        _ => Err(Refusal::new(400, "Refer-To names no extension or number")),
    }
}

/// The status line the final NOTIFY of a REFER reports when the transfer cannot be made.
pub(super) fn failure_status(e: &TransferError) -> u16 {
    match e {
        TransferError::Unreachable(_)
        | TransferError::NotAnnounceable(_)
        | TransferError::NoScenario(_) => 404,
        TransferError::NotConnected | TransferError::Gone => 503,
        TransferError::NoSuchDialog => 481,
        TransferError::Unsupported(_) => 501,
    }
}

/// A REFER accepted (202) on one of the call's legs: where its NOTIFYs go (the leg's
/// dialog) and which REFER they are about (its CSeq number, the `id` of `Event: refer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReferSubscription {
    pub leg: usize,
    pub id: u32,
}

#[cfg(test)]
mod tests {
    use cc_sip::{Message, parse_message};

    use super::*;

    const CONFIG: &str = r#"
[sip]
listen = "127.0.0.1:5060"
domain = "cc.local"
[[employees]]
id = "anna"
name = "Anna Kowalska"
extension = "201"
sip_password = "anna-secret"
role = "user"
[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "ring-all"
members = ["anna"]
"#;

    const TRUNK: &str = r#"
[[trunks]]
id = "pstn"
target = "127.0.0.1:5090"
"#;

    fn config(extra: &str) -> Config {
        Config::from_toml(&format!("{CONFIG}{extra}")).unwrap()
    }

    #[test]
    fn a_target_is_a_department_then_an_employee_then_an_outside_number() {
        let with_trunk = config(TRUNK);
        assert_eq!(goal(&with_trunk, "600"), Ok(Goal::Queue("sales".into())));
        assert_eq!(goal(&with_trunk, "201"), Ok(Goal::Employee("anna".into())));
        assert_eq!(goal(&with_trunk, "+48600100200"), Ok(Goal::Outside));
        assert_eq!(goal(&with_trunk, "0048600100200"), Ok(Goal::Outside));
        for nothing in ["", "+", "nowhere", "60 0"] {
            assert_eq!(
                goal(&with_trunk, nothing),
                Err(TransferError::Unreachable(nothing.into())),
                "{nothing:?}"
            );
        }
        // Without a trunk an outside number reaches nothing.
        assert_eq!(
            goal(&config(""), "48600100200"),
            Err(TransferError::Unreachable("48600100200".into()))
        );
    }

    fn refer(refer_to: &str) -> Request {
        let text = format!(
            "REFER sip:ccd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bKr\r\n\
             From: <sip:201@cc.local>;tag=a\r\nTo: <sip:600100200@cc.local>;tag=b\r\n\
             Call-ID: leg-1\r\nCSeq: 2 REFER\r\n{refer_to}Contact: <sip:201@127.0.0.1:5072>\r\n\
             Content-Length: 0\r\n\r\n"
        );
        match parse_message(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    #[test]
    fn a_refer_names_its_target_by_the_user_of_its_refer_to() {
        let target = |h: &str| {
            refer_target(&refer(&format!("Refer-To: {h}\r\n"))).map(|r| {
                assert_eq!(r.replaces, None);
                r.target
            })
        };
        assert_eq!(target("<sip:202@cc.local>"), Ok("202".into()));
        assert_eq!(
            target("<sip:600@127.0.0.1:5060;user=phone>"),
            Ok("600".into())
        );
        assert_eq!(target("\"Piotr\" <sips:202@cc.local>"), Ok("202".into()));
        assert_eq!(target("<tel:+48600100200>"), Ok("+48600100200".into()));
    }

    #[test]
    fn an_attended_transfer_names_the_dialog_it_replaces_either_way_round() {
        let asked = refer_target(&refer(
            "Refer-To: <sip:202@cc.local?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2%3Bearly-only>\r\n",
        ))
        .unwrap();
        assert_eq!(asked.target, "202");
        let replaces = asked.replaces.unwrap();
        assert_eq!(
            replaces,
            Replaces {
                call_id: "abc@host".into(),
                to_tag: "1".into(),
                from_tag: "2".into(),
            }
        );
        assert!(replaces.names("abc@host", "1", "2"));
        assert!(replaces.names("abc@host", "2", "1"));
        assert!(!replaces.names("abc@host", "1", "3"));
        assert!(!replaces.names("other", "1", "2"));
    }

    #[test]
    fn a_refer_without_a_usable_target_is_refused_naming_the_header() {
        let refused = |headers: &str| refer_target(&refer(headers)).unwrap_err();
        let none = refused("");
        assert_eq!(none.status, 400);
        assert_eq!(none.reason, "Bad Request (no Refer-To header)");
        let two = refused("Refer-To: <sip:202@cc.local>\r\nRefer-To: <sip:600@cc.local>\r\n");
        assert_eq!(two.status, 400);
        assert!(
            two.reason.contains("more than one Refer-To"),
            "{}",
            two.reason
        );
        let no_user = refused("Refer-To: <sip:cc.local>\r\n");
        assert_eq!(no_user.status, 400);
        assert!(no_user.reason.contains("Refer-To"), "{}", no_user.reason);
        let web = refused("Refer-To: <http://example.com/>\r\n");
        assert_eq!(web.status, 416);
        assert!(web.reason.contains("Refer-To: http"), "{}", web.reason);
        for broken in [
            "",
            "x%3Bto-tag%3D1",
            "x%3Bfrom-tag%3D2",
            "%3Bto-tag%3D1%3Bfrom-tag%3D2",
        ] {
            let attended = refused(&format!(
                "Refer-To: <sip:202@cc.local?Replaces={broken}>\r\n"
            ));
            assert_eq!(attended.status, 400, "{broken}");
            assert!(attended.reason.contains("Replaces"), "{}", attended.reason);
        }
    }

    #[test]
    fn a_transfer_that_cannot_be_made_is_reported_as_a_final_failure() {
        assert_eq!(failure_status(&TransferError::Unreachable("x".into())), 404);
        assert_eq!(failure_status(&TransferError::Gone), 503);
        assert_eq!(failure_status(&TransferError::NotConnected), 503);
        assert_eq!(failure_status(&TransferError::NoSuchDialog), 481);
        assert_eq!(
            failure_status(&TransferError::Unsupported("why".into())),
            501
        );
    }
}
