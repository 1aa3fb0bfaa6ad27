//! The SIP front door as callers and monitors see it: OPTIONS pings (sipsak, SIPp), calls to
//! numbers nobody answers (SIPp), methods outside a dialog, and what malformed, oversize
//! and wrong-version datagrams get, after which the node must keep answering.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_tests::ccd::Ccd;
use cc_tests::sip::{Request, SipClient, Transport};
use cc_tests::tools::{Sipp, sipsak_options};

#[test]
fn options_ping_from_sipsak_gets_200() {
    let node = Ccd::start_default();
    for transport in Transport::BOTH {
        let run = sipsak_options(node.addr(), transport);
        assert!(
            run.success() && run.stdout.contains("SIP/2.0 200"),
            "sipsak OPTIONS over {transport} did not get 200\n{}",
            run.describe()
        );
    }
}

#[test]
fn options_from_sipp_get_200_with_allow_over_udp_and_tcp() {
    let node = Ccd::start_default();
    for transport in Transport::BOTH {
        let run = Sipp::new("options.xml", node.addr(), transport)
            .key("domain", "cc.local")
            .service("ping")
            .run();
        assert!(
            run.all_calls_succeeded(),
            "OPTIONS over {transport}\n{}",
            run.describe()
        );
    }
}

#[test]
fn invite_to_unknown_number_gets_404_over_udp_and_tcp() {
    let node = Ccd::start_default();
    for transport in Transport::BOTH {
        let run = Sipp::new("invite_unknown_number.xml", node.addr(), transport)
            .key("domain", "cc.local")
            .service("48221234567")
            .run();
        assert!(
            run.all_calls_succeeded(),
            "INVITE to an unknown number over {transport}\n{}",
            run.describe()
        );
    }
}

#[test]
fn invite_to_an_employee_without_an_sdp_offer_gets_488() {
    let node = Ccd::start_default();
    for transport in Transport::BOTH {
        let mut client = SipClient::connect(transport, node.addr());
        let invite = Request::new("INVITE", &client.server_uri(Some("201")))
            .header("Contact", &format!("<sip:e2e@{}>", client.local_addr()));
        let r = client.exchange(&invite);
        assert_eq!(
            r.status,
            488,
            "over {transport}\n{}",
            client.transcript_text()
        );
    }
}

#[test]
fn a_404_is_retransmitted_until_acknowledged_and_then_no_more() {
    let node = Ccd::start_default();
    let mut client = SipClient::connect(Transport::Udp, node.addr());
    let local = client.local_addr();
    let invite = Request::new("INVITE", &client.server_uri(Some("48221234567")))
        .header("Contact", &format!("<sip:e2e@{local}>"));
    client.send(&invite);
    let first = client.final_response(&invite, Duration::from_secs(5));
    let first = first.unwrap_or_else(|| panic!("no final response\n{}", client.transcript_text()));
    assert_eq!(first.status, 404, "{}", client.transcript_text());
    // Unacknowledged over UDP, the 404 comes again after T1 (500 ms): RFC 3261 Timer G.
    let again = client.final_response(&invite, Duration::from_secs(2));
    assert!(
        again.is_some_and(|r| r.status == 404),
        "the 404 was not retransmitted\n{}",
        client.transcript_text()
    );

    assert!(
        first.to_tag().is_some(),
        "404 without a To tag\n{}",
        first.raw
    );
    client.send(&invite.ack_for(&first));
    // Drain a retransmission that may have crossed the ACK, then expect silence.
    let _ = client.final_response(&invite, Duration::from_millis(300));
    let late = client.final_response(&invite, Duration::from_secs(3));
    assert!(
        late.is_none(),
        "the 404 was retransmitted after the ACK\n{}",
        client.transcript_text()
    );
}

#[test]
fn bye_outside_a_dialog_gets_481() {
    let node = Ccd::start_default();
    for transport in Transport::BOTH {
        let mut client = SipClient::connect(transport, node.addr());
        let bye = Request::new("BYE", &client.server_uri(Some("201")));
        let r = client.exchange(&bye);
        assert_eq!(
            r.status,
            481,
            "over {transport}\n{}",
            client.transcript_text()
        );
    }
}

#[test]
fn unsupported_methods_get_405_with_allow_unknown_ones_501_and_a_refer_outside_a_call_403() {
    let node = Ccd::start_default();
    let mut client = SipClient::connect(Transport::Udp, node.addr());
    for method in [
        "SUBSCRIBE",
        "MESSAGE",
        "NOTIFY",
        "INFO",
        "PUBLISH",
        "UPDATE",
    ] {
        let req = Request::new(method, &client.server_uri(Some("201")));
        let r = client.exchange(&req);
        assert_eq!(r.status, 405, "{method}\n{}", client.transcript_text());
        let allow = r
            .header("Allow")
            .unwrap_or_else(|| panic!("405 to {method} without Allow\n{}", r.raw));
        assert!(
            allow.contains("INVITE") && allow.contains("REGISTER") && allow.contains("REFER"),
            "{method}: Allow: {allow}"
        );
    }
    // REFER is taken inside a call's dialog only (a blind transfer from the agent's phone).
    let refer = Request::new("REFER", &client.server_uri(Some("201")))
        .header("Refer-To", "<sip:202@cc.local>");
    let r = client.exchange(&refer);
    assert_eq!(r.status, 403, "{}", client.transcript_text());
    let req = Request::new("FROBNICATE", &client.server_uri(Some("201")));
    let r = client.exchange(&req);
    assert_eq!(r.status, 501, "{}", client.transcript_text());
}

#[test]
fn malformed_and_oversize_datagrams_get_400_and_513_and_the_node_keeps_answering() {
    let node = Ccd::start_default();
    let mut client = SipClient::connect(Transport::Udp, node.addr());
    let local = client.local_addr();
    let uri = client.server_uri(Some("ping"));

    // Garbage has nothing to answer to: it is dropped. The next response must be the one
    // to the OPTIONS sent after it (loopback UDP keeps the order).
    client.send_raw(b"\x00\x01\x02 this is not SIP at all\r\n\r\n");
    let ping = Request::new("OPTIONS", &uri);
    client.send(&ping);
    let r = client
        .recv(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer\n{}", client.transcript_text()));
    assert!(
        r.answers(&ping) && r.status == 200,
        "garbage was answered\n{}",
        client.transcript_text()
    );

    // A CSeq that is not a number: no response could be matched to the request, so the
    // message is dropped and the next request is the next one answered.
    let bad = Request::new("OPTIONS", &uri);
    let text = String::from_utf8(bad.encode(Transport::Udp, local)).unwrap();
    client.send_raw(
        text.replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS")
            .as_bytes(),
    );
    let ping = Request::new("OPTIONS", &uri);
    client.send(&ping);
    let r = client
        .recv(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer\n{}", client.transcript_text()));
    assert!(
        r.answers(&ping) && r.status == 200,
        "a request with an unusable CSeq was answered\n{}",
        client.transcript_text()
    );

    // A malformed header outside the five a response copies: 400 naming it.
    let bad = Request::new("OPTIONS", &uri);
    let text = String::from_utf8(bad.encode(Transport::Udp, local)).unwrap();
    client.send_raw(
        text.replace("Max-Forwards: 70", "Max-Forwards: many")
            .as_bytes(),
    );
    let r = client
        .recv(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no 400\n{}", client.transcript_text()));
    assert_eq!(r.status, 400, "{}", client.transcript_text());
    assert_eq!(r.call_id(), Some(bad.call_id.as_str()), "{}", r.raw);
    assert!(
        r.reason.contains("Max-Forwards"),
        "the reason phrase does not name Max-Forwards: {:?}",
        r.reason
    );

    // 20 KB: more than max_message_bytes (16 KB by default).
    let big = Request::new("OPTIONS", &uri)
        .header("Content-Type", "text/plain")
        .body(&vec![b'x'; 20 * 1024]);
    client.send(&big);
    let r = client
        .recv(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no 513\n{}", client.transcript_text()));
    assert_eq!(r.status, 513, "{}", client.transcript_text());
    assert_eq!(r.call_id(), Some(big.call_id.as_str()), "{}", r.raw);

    // A version this node does not speak.
    let v3 = Request::new("OPTIONS", &uri);
    let text = String::from_utf8(v3.encode(Transport::Udp, local)).unwrap();
    let text = text.replacen(" SIP/2.0\r\n", " SIP/3.0\r\n", 1);
    client.send_raw(text.as_bytes());
    let r = client
        .recv(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no 505\n{}", client.transcript_text()));
    assert_eq!(r.status, 505, "{}", client.transcript_text());
    assert_eq!(r.call_id(), Some(v3.call_id.as_str()), "{}", r.raw);

    // Still answering, over both transports.
    for transport in Transport::BOTH {
        let mut fresh = SipClient::connect(transport, node.addr());
        let ping = Request::new("OPTIONS", &uri);
        let r = fresh.exchange(&ping);
        assert_eq!(
            r.status,
            200,
            "over {transport} after the bad datagrams\n{}",
            fresh.transcript_text()
        );
    }
    let r = client.exchange(&Request::new("OPTIONS", &uri));
    assert_eq!(r.status, 200, "{}", client.transcript_text());
}

#[test]
fn sigterm_stops_the_node_promptly() {
    let mut node = Ccd::start_default();
    assert!(node.is_running());
    let status = node.terminate(Duration::from_secs(8));
    let status =
        status.unwrap_or_else(|| panic!("ccd still runs 8 s after SIGTERM\n{}", node.log_text()));
    assert!(
        status.success(),
        "ccd exited with {status} after SIGTERM\n{}",
        node.log_text()
    );
}
