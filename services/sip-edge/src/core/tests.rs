//! The SIP core driven without sockets: parsed requests and a virtual `now` in, responses out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_common::Config;
use cc_sip::digest::{ClientCredentials, authorize};
use cc_sip::{Header, Message, Method, Request, Response, parse_message};

use super::{EdgeCore, FromCall, ToCall};
use crate::metrics::Counters;
use crate::registrar::{GoneReason, RegistrarEvent};
use crate::transport::{ConnId, Inbound, Peer};

const CONFIG: &str = r#"
[sip]
listen = "127.0.0.1:5060"
domain = "cc.local"
min_expires = 60
auth_failures_before_block = 3
auth_block_secs = 60
[[employees]]
id = "anna"
name = "Anna Kowalska"
extension = "201"
sip_password = "anna-secret"
role = "user"
[[employees]]
id = "piotr"
name = "Piotr Nowak"
extension = "202"
sip_password = "piotr-secret"
role = "user"
"#;

const UNIX: u64 = 1_800_000_000;

struct Harness {
    core: EdgeCore,
    t0: Instant,
    cseq: u32,
}

fn peer() -> Peer {
    Peer::Udp("192.0.2.10:5062".parse().unwrap())
}

impl Harness {
    fn new() -> Self {
        let config = Arc::new(Config::from_toml(CONFIG).unwrap());
        let core = EdgeCore::new(config, vec![7; 32], 42, Arc::new(Counters::default())).unwrap();
        Harness {
            core,
            t0: Instant::now(),
            cseq: 0,
        }
    }

    /// Sends a request and returns every response the core produced for it.
    fn send_from(&mut self, raw: &str, from: Peer, at: Duration) -> Vec<Response> {
        let message = parse_message(raw.as_bytes()).unwrap();
        self.core.handle_inbound(
            Inbound {
                message,
                peer: from,
            },
            self.t0 + at,
            UNIX + at.as_secs(),
        );
        std::iter::from_fn(|| self.core.poll_outgoing())
            .map(|o| match parse_message(&o.bytes).unwrap() {
                Message::Response(r) => r,
                Message::Request(r) => panic!("unexpected request {r}"),
            })
            .collect()
    }

    fn send(&mut self, raw: &str) -> Vec<Response> {
        self.send_from(raw, peer(), Duration::ZERO)
    }

    fn register(&mut self, user: &str, extra: &str) -> String {
        self.cseq += 1;
        format!(
            "REGISTER sip:cc.local SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKr{c};rport\r\n\
             From: <sip:{user}@cc.local>;tag=f1\r\nTo: <sip:{user}@cc.local>\r\nCall-ID: reg-{user}\r\n\
             CSeq: {c} REGISTER\r\nContact: <sip:{user}@192.0.2.10:5062>\r\n{extra}Content-Length: 0\r\n\r\n",
            c = self.cseq
        )
    }

    /// REGISTER, answer the challenge with `password`, return the final response.
    fn register_with(&mut self, user: &str, password: &str, expires: &str) -> Response {
        self.register_as(user, user, password, expires)
    }

    /// REGISTER for `aor`, answer the challenge as `username`, return the final response.
    fn register_as(&mut self, aor: &str, username: &str, password: &str, extra: &str) -> Response {
        let raw = self.register(aor, extra);
        let first = self.send(&raw);
        let challenge = first[0].headers.www_authenticate().unwrap().clone();
        let creds = authorize(
            &challenge,
            &Method::Register,
            "sip:cc.local",
            ClientCredentials { username, password },
            "c0ffee",
            1,
        )
        .unwrap();
        let raw = self.register(aor, &format!("Authorization: {creds}\r\n{extra}"));
        self.send(&raw).pop().unwrap()
    }
}

fn request(method: &str, uri: &str, extra: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{method}1\r\n\
         From: <sip:caller@example.com>;tag=x\r\nTo: <{uri}>\r\nCall-ID: c-{method}\r\n\
         CSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn register_is_challenged_then_accepted_with_the_right_password() {
    let mut h = Harness::new();
    let raw = h.register("201", "");
    let first = h.send(&raw);
    assert_eq!(first[0].status, 401);
    let algorithms: Vec<_> = first[0]
        .headers
        .iter()
        .filter_map(|x| match x {
            Header::WwwAuthenticate(a) => a.param("algorithm").map(str::to_owned),
            _ => None,
        })
        .collect();
    assert_eq!(algorithms, ["MD5", "SHA-256"]);
    let ok = h.register_with("201", "anna-secret", "Expires: 600\r\n");
    assert_eq!(ok.status, 200);
    let contact = ok.headers.contacts().next().unwrap();
    assert_eq!(contact.expires(), Some(600));
    assert_eq!(h.core.registrar().bindings("201", h.t0).len(), 1);
    assert!(matches!(
        h.core.poll_event(),
        Some(RegistrarEvent::DeviceRegistered { .. })
    ));
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_403() {
    let mut h = Harness::new();
    assert_eq!(h.register_with("201", "guess", "").status, 403);
    assert_eq!(h.register_with("299", "guess", "").status, 403);
    assert_eq!(h.core.registrar().binding_count(), 0);
}

#[test]
fn an_employee_cannot_register_another_extension() {
    let mut h = Harness::new();
    assert_eq!(h.register_as("202", "201", "anna-secret", "").status, 403);
}

#[test]
fn repeated_failures_silence_the_source_but_not_others() {
    let mut h = Harness::new();
    for _ in 0..3 {
        assert_eq!(h.register_with("201", "guess", "").status, 403);
    }
    let options = request("OPTIONS", "sip:ping@cc.local", "");
    assert!(
        h.send(&options).is_empty(),
        "a blocked source gets no answer at all"
    );
    let other = Peer::Udp("192.0.2.99:5060".parse().unwrap());
    assert_eq!(h.send_from(&options, other, Duration::ZERO)[0].status, 200);
    assert_eq!(
        h.send_from(
            &options.replace("OPTIONS1", "OPTIONS2"),
            peer(),
            Duration::from_secs(61)
        )[0]
        .status,
        200
    );
}

#[test]
fn short_expiry_gets_423_with_min_expires() {
    let mut h = Harness::new();
    let r = h.register_with("201", "anna-secret", "Expires: 10\r\n");
    assert_eq!(r.status, 423);
    assert_eq!(r.headers.other("Min-Expires"), Some("60"));
}

#[test]
fn expired_registration_raises_device_gone() {
    let mut h = Harness::new();
    assert_eq!(
        h.register_with("201", "anna-secret", "Expires: 60\r\n")
            .status,
        200
    );
    while h.core.poll_event().is_some() {}
    let deadline = h.core.poll_timeout().unwrap();
    h.core.handle_timeout(h.t0 + Duration::from_secs(61));
    assert!(deadline <= h.t0 + Duration::from_secs(60));
    assert!(std::iter::from_fn(|| h.core.poll_event()).any(|e| matches!(
        e,
        RegistrarEvent::DeviceGone { reason: GoneReason::Expired, ref aor, .. } if aor == "201"
    )));
}

#[test]
fn options_invite_bye_and_other_methods_get_their_answers() {
    let mut h = Harness::new();
    let r = h.send(&request("OPTIONS", "sip:ping@cc.local", ""));
    assert_eq!(r[0].status, 200);
    assert!(r[0].headers.iter().any(|x| matches!(x, Header::Allow(_))));
    let r = h.send(&request("INVITE", "sip:999@cc.local", ""));
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [100, 404]);
    let r = h.send(
        &request("INVITE", "sip:201@cc.local", "")
            .replace("INVITE1", "INVITE2")
            .replace("c-INVITE", "c-i2"),
    );
    // Every caller must offer audio: an INVITE without SDP is refused.
    assert_eq!(r.last().unwrap().status, 488);
    assert_eq!(
        h.send(&request("BYE", "sip:201@cc.local", ""))[0].status,
        481
    );
    assert_eq!(
        h.send(&request("SUBSCRIBE", "sip:201@cc.local", ""))[0].status,
        405
    );
    assert_eq!(
        h.send(&request("FROB", "sip:201@cc.local", ""))[0].status,
        501
    );
    let r = h.send(
        &request("OPTIONS", "sip:ping@cc.local", "Require: 100rel\r\n")
            .replace("OPTIONS1", "OPTIONS3"),
    );
    assert_eq!(r[0].status, 420);
    assert_eq!(r[0].headers.other("Unsupported"), Some("100rel"));
}

#[test]
fn a_retransmitted_invite_gets_the_same_final_response_once_more() {
    let mut h = Harness::new();
    let raw = request("INVITE", "sip:999@cc.local", "");
    let first = h.send(&raw);
    let again = h.send(&raw);
    assert_eq!(first.last(), again.last());
    assert_eq!(again.last().unwrap().status, 404);
}

#[test]
fn options_pings_and_challenges_leave_no_transaction_behind() {
    let mut h = Harness::new();
    for i in 0..100 {
        let raw = request("OPTIONS", "sip:ping@cc.local", "").replace("OPTIONS1", &format!("O{i}"));
        assert_eq!(h.send(&raw)[0].status, 200);
        let raw = h.register("201", "");
        assert_eq!(h.send(&raw)[0].status, 401);
    }
    assert_eq!(h.core.transactions.len(), 0);
}

#[test]
fn a_full_transaction_table_answers_503() {
    let config = CONFIG.replace("min_expires = 60", "min_expires = 60\nmax_transactions = 2");
    let config = Arc::new(Config::from_toml(&config).unwrap());
    let core = EdgeCore::new(config, vec![7; 32], 42, Arc::new(Counters::default())).unwrap();
    let mut h = Harness {
        core,
        t0: Instant::now(),
        cseq: 0,
    };
    let statuses: Vec<u16> = (0..3)
        .map(|i| {
            let raw =
                request("INVITE", "sip:999@cc.local", "").replace("INVITE1", &format!("I{i}"));
            h.send(&raw).last().unwrap().status
        })
        .collect();
    assert_eq!(statuses, [404, 404, 503]);
    // Once the old transactions end (timer H/I), new ones are accepted again.
    h.core.handle_timeout(h.t0 + Duration::from_secs(64));
    let raw = request("INVITE", "sip:999@cc.local", "").replace("INVITE1", "I9");
    assert_eq!(
        h.send_from(&raw, peer(), Duration::from_secs(64))
            .last()
            .unwrap()
            .status,
        404
    );
}

#[test]
fn responses_follow_rport_and_received() {
    let mut h = Harness::new();
    // The client says 10.0.0.1:5062 but the packet came from a NAT at 198.51.100.7:40000.
    let raw = "OPTIONS sip:ping@cc.local SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKnat;rport\r\n\
               From: <sip:a@cc.local>;tag=x\r\nTo: <sip:ping@cc.local>\r\nCall-ID: nat\r\nCSeq: 1 OPTIONS\r\n\
               Content-Length: 0\r\n\r\n";
    let from: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let message = parse_message(raw.as_bytes()).unwrap();
    h.core.handle_inbound(
        Inbound {
            message,
            peer: Peer::Udp(from),
        },
        h.t0,
        UNIX,
    );
    let out = h.core.poll_outgoing().unwrap();
    assert_eq!(out.peer, Peer::Udp(from));
    let Message::Response(r) = parse_message(&out.bytes).unwrap() else {
        panic!()
    };
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.received(), Some("198.51.100.7"));
    assert_eq!(via.rport(), Some(Some(40000)));
    // Without rport: the source IP and the Via port.
    let no_rport = raw
        .replace(";rport", "")
        .replace("z9hG4bKnat", "z9hG4bKnat2");
    let message = parse_message(no_rport.as_bytes()).unwrap();
    h.core.handle_inbound(
        Inbound {
            message,
            peer: Peer::Udp(from),
        },
        h.t0,
        UNIX,
    );
    assert_eq!(
        h.core.poll_outgoing().unwrap().peer,
        Peer::Udp("198.51.100.7:5062".parse().unwrap())
    );
    // TCP: always the same connection.
    let tcp = Peer::Tcp {
        conn: ConnId(9),
        addr: from,
    };
    let message = parse_message(raw.replace("z9hG4bKnat", "z9hG4bKnat3").as_bytes()).unwrap();
    h.core
        .handle_inbound(Inbound { message, peer: tcp }, h.t0, UNIX);
    assert_eq!(h.core.poll_outgoing().unwrap().peer, tcp);
}

#[test]
fn requests_build_without_panicking_for_tel_and_ipv6_uris() {
    let mut h = Harness::new();
    let raw = request("INVITE", "tel:+48600100200", "");
    assert_eq!(h.send(&raw).last().unwrap().status, 404);
    let _ = Request::new(
        Method::Options,
        cc_sip::Uri::parse("sip:[::1]:5060").unwrap(),
    );
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 0\r\n";

fn invite_with_sdp(uri: &str, call_id: &str) -> String {
    format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{call_id}\r\n\
         From: <sip:201@cc.local>;tag=x\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:201@192.0.2.10:5062>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

#[test]
fn an_invite_to_a_reachable_extension_becomes_a_call_with_its_cancel_and_bye() {
    let mut h = Harness::new();
    let r = h.send(&invite_with_sdp("sip:202@cc.local", "call-1"));
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [100]);
    let (call, event) = h.core.poll_call_event().unwrap();
    let ToCall::New {
        tx,
        caller_extension,
        ..
    } = event
    else {
        panic!("not a new call: {event:?}")
    };
    // Not registered from this address: an outside caller, whatever its From says.
    assert_eq!(caller_extension, None);
    assert_eq!(h.core.call_count(), 1);

    // The same INVITE by another path is a merged request.
    let merged = invite_with_sdp("sip:202@cc.local", "call-1")
        .replace("branch=z9hG4bKcall-1", "branch=z9hG4bKother");
    assert_eq!(h.send(&merged).last().unwrap().status, 482);

    let cancel = "CANCEL sip:202@cc.local SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKcall-1\r\n\
                  From: <sip:201@cc.local>;tag=x\r\nTo: <sip:202@cc.local>\r\nCall-ID: call-1\r\n\
                  CSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(h.send(cancel)[0].status, 200);
    assert!(
        matches!(h.core.poll_call_event(), Some((c, ToCall::Cancelled { invite })) if c == call && invite == tx)
    );

    // The actor answers 487 through its transaction; then the call is forgotten.
    let request =
        match parse_message(invite_with_sdp("sip:202@cc.local", "call-1").as_bytes()).unwrap() {
            Message::Request(r) => r,
            _ => unreachable!(),
        };
    let response = Response::to_request(&request, 487, Some("t"));
    h.core
        .handle_command(FromCall::Respond { tx, response }, h.t0);
    let out = h.core.poll_outgoing().unwrap();
    assert!(String::from_utf8_lossy(&out.bytes).starts_with("SIP/2.0 487"));
    h.core.handle_command(FromCall::Ended { call }, h.t0);
    assert_eq!(h.core.call_count(), 0);
    let bye = request_in_dialog("BYE", "call-1");
    assert_eq!(h.send(&bye)[0].status, 481);
}

fn request_in_dialog(method: &str, call_id: &str) -> String {
    format!(
        "{method} sip:ccd@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{method}{call_id}\r\n\
         From: <sip:201@cc.local>;tag=x\r\nTo: <sip:202@cc.local>;tag=t\r\nCall-ID: {call_id}\r\n\
         CSeq: 2 {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_call_from_a_registered_device_knows_its_extension_and_its_legs_get_their_responses() {
    let mut h = Harness::new();
    assert_eq!(h.register_with("201", "anna-secret", "").status, 200);
    h.send(&invite_with_sdp("sip:202@cc.local", "call-2"));
    let (call, event) = h.core.poll_call_event().unwrap();
    assert!(matches!(event, ToCall::New { caller_extension: Some(ref e), .. } if e == "201"));

    // The actor rings a device: the INVITE goes out, its Call-ID is now one of the call's.
    let contacts = h.core.contacts("201", h.t0);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].dest, peer());
    let leg = match parse_message(invite_with_sdp("sip:201@192.0.2.10:5062", "leg-1").as_bytes())
        .unwrap()
    {
        Message::Request(r) => r,
        _ => unreachable!(),
    };
    h.core.handle_command(
        FromCall::Request {
            call,
            request: leg.clone(),
            dest: contacts[0].dest,
        },
        h.t0,
    );
    assert!(h.core.poll_outgoing().is_some());
    let ringing = Response::to_request(&leg, 180, Some("dev"));
    h.core.handle_inbound(
        Inbound {
            message: Message::Response(ringing),
            peer: peer(),
        },
        h.t0,
        UNIX,
    );
    assert!(
        matches!(h.core.poll_call_event(), Some((c, ToCall::Response { response })) if c == call && response.status == 180)
    );

    // A BYE in the leg's dialog reaches the call; so does one in the caller's.
    h.send(&request_in_dialog("BYE", "leg-1"));
    assert!(matches!(h.core.poll_call_event(), Some((c, ToCall::Request { .. })) if c == call));

    // A leg with no response at all times out (timer B) into the call.
    let silent = match parse_message(invite_with_sdp("sip:201@192.0.2.10:5062", "leg-2").as_bytes())
        .unwrap()
    {
        Message::Request(r) => r,
        _ => unreachable!(),
    };
    h.core.handle_command(
        FromCall::Request {
            call,
            request: silent,
            dest: peer(),
        },
        h.t0,
    );
    h.core.handle_timeout(h.t0 + Duration::from_secs(40));
    let events: Vec<_> = std::iter::from_fn(|| h.core.poll_call_event()).collect();
    assert!(
        events.iter().any(|(c, e)| *c == call
            && matches!(e, ToCall::Timeout { call_id, .. } if call_id == "leg-2")),
        "{events:?}"
    );
}

#[test]
fn a_refer_outside_a_dialog_gets_403_and_one_for_no_call_481_naming_refer_in_allow() {
    let mut h = Harness::new();
    let out_of_dialog = request(
        "REFER",
        "sip:201@cc.local",
        "Refer-To: <sip:202@cc.local>\r\n",
    );
    let r = h.send(&out_of_dialog);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 403);
    assert!(r[0].reason.contains("dialog"), "{}", r[0].reason);
    assert_eq!(
        h.core.transactions.len(),
        0,
        "refused without keeping state"
    );
    let unknown = request_in_dialog("REFER", "no-such-call");
    assert_eq!(h.send(&unknown)[0].status, 481);
    // REFER is advertised; NOTIFY (and SUBSCRIBE) are still refused.
    let r = h.send(&request("OPTIONS", "sip:ping@cc.local", ""));
    let allow = r[0].headers.iter().find_map(|x| match x {
        Header::Allow(methods) => Some(methods.clone()),
        _ => None,
    });
    assert!(allow.unwrap().contains(&Method::Refer));
    assert_eq!(
        h.send(&request("NOTIFY", "sip:201@cc.local", ""))[0].status,
        405
    );
}

#[test]
fn a_refer_in_a_calls_dialog_reaches_the_call_once_however_often_it_is_sent() {
    let mut h = Harness::new();
    h.send(&invite_with_sdp("sip:202@cc.local", "call-r"));
    let (call, _) = h.core.poll_call_event().unwrap();
    let refer = request_in_dialog("REFER", "call-r").replace(
        "Content-Length: 0",
        "Refer-To: <sip:600@cc.local>\r\nContent-Length: 0",
    );
    assert!(h.send(&refer).is_empty(), "the call answers, not the core");
    let Some((c, ToCall::Request { tx, request, .. })) = h.core.poll_call_event() else {
        panic!("the REFER did not reach the call")
    };
    assert_eq!(c, call);
    assert_eq!(request.method, Method::Refer);
    // A retransmission is absorbed by the REFER's transaction: the call sees it once...
    assert!(h.send(&refer).is_empty());
    assert!(h.core.poll_call_event().is_none());
    // ...and once answered, gets the same answer again.
    let accepted = Response::to_request(&request, 202, Some("t"));
    h.core.handle_command(
        FromCall::Respond {
            tx,
            response: accepted,
        },
        h.t0,
    );
    assert!(h.core.poll_outgoing().is_some());
    let again = h.send(&refer);
    assert_eq!(again.iter().map(|r| r.status).collect::<Vec<_>>(), [202]);
    assert!(h.core.poll_call_event().is_none());
}

#[test]
fn a_leg_handed_to_another_call_takes_its_requests_and_transactions_along() {
    let mut h = Harness::new();
    assert_eq!(h.register_with("201", "anna-secret", "").status, 200);
    h.send(&invite_with_sdp("sip:202@cc.local", "call-a"));
    let (first, _) = h.core.poll_call_event().unwrap();
    h.send(&invite_with_sdp("sip:202@cc.local", "call-b"));
    let (second, _) = h.core.poll_call_event().unwrap();
    assert_ne!(first, second);
    let parse = |raw: String| match parse_message(raw.as_bytes()).unwrap() {
        Message::Request(r) => r,
        _ => unreachable!(),
    };
    // The first call rings a phone (leg-1), then sends it a re-INVITE still unanswered.
    let invite = parse(invite_with_sdp("sip:201@192.0.2.10:5062", "leg-1"));
    h.core.handle_command(
        FromCall::Request {
            call: first,
            request: invite,
            dest: peer(),
        },
        h.t0,
    );
    let reinvite = parse(
        invite_with_sdp("sip:201@192.0.2.10:5062", "leg-1")
            .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
            .replace("branch=z9hG4bKleg-1", "branch=z9hG4bKleg-1-re"),
    );
    h.core.handle_command(
        FromCall::Request {
            call: first,
            request: reinvite.clone(),
            dest: peer(),
        },
        h.t0,
    );
    while h.core.poll_outgoing().is_some() {}

    h.core.handle_command(
        FromCall::MoveLeg {
            call_id: "leg-1".into(),
            to: second,
        },
        h.t0,
    );
    // The re-INVITE's answer, and requests in the leg's dialog, go to the second call...
    h.core.handle_inbound(
        Inbound {
            message: Message::Response(Response::to_request(&reinvite, 200, Some("dev"))),
            peer: peer(),
        },
        h.t0,
        UNIX,
    );
    assert!(
        matches!(h.core.poll_call_event(), Some((c, ToCall::Response { response })) if c == second && response.status == 200)
    );
    h.send(&request_in_dialog("REFER", "leg-1"));
    assert!(matches!(h.core.poll_call_event(), Some((c, ToCall::Request { .. })) if c == second));
    // ...also once the first call has ended.
    h.core.handle_command(FromCall::Ended { call: first }, h.t0);
    h.send(&request_in_dialog("BYE", "leg-1"));
    assert!(matches!(h.core.poll_call_event(), Some((c, ToCall::Request { .. })) if c == second));
    h.core
        .handle_command(FromCall::Ended { call: second }, h.t0);
    assert_eq!(h.core.call_count(), 0);
}
