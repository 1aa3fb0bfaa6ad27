//! A source that keeps failing digest authentication is ignored: no response at all, to any
//! request, over any transport, for `auth_block_secs`. The test is the guesser itself, so it
//! only checks the silence (waiting out the block would take the block's length).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::register::{answer, challenges, register_request};
use cc_tests::sip::{Request, SipClient, Transport};

/// Long enough to tell "no answer" from a slow one: the node answers in milliseconds.
const SILENCE: Duration = Duration::from_secs(2);

#[test]
fn repeated_wrong_passwords_silence_the_source() {
    let node = Ccd::start(
        NodeConfig::default()
            .sip("auth_failures_before_block", "3")
            .sip("auth_block_secs", "30"),
    );
    let mut guesser = SipClient::connect(Transport::Udp, node.addr());
    for (attempt, password) in ["123456", "password", "anna123"].into_iter().enumerate() {
        let req = register_request(&guesser, "201", "cc.local", None);
        let (_, cs) = challenges(&mut guesser, &req);
        let (_, r) = answer(&mut guesser, &req, &cs[0], "201", password);
        assert_eq!(
            r.status,
            403,
            "wrong password #{}\n{}",
            attempt + 1,
            guesser.transcript_text()
        );
    }
    assert!(
        node.wait_for_log("source blocked", Duration::from_secs(2)),
        "the node did not log the block\n{}",
        node.log_text()
    );

    let req = register_request(&guesser, "201", "cc.local", None);
    guesser.send(&req);
    let r = guesser.recv(SILENCE);
    assert!(
        r.is_none(),
        "a REGISTER from the blocked source was answered\n{}",
        guesser.transcript_text()
    );

    // Another socket of the same address is the same source, over UDP and TCP.
    for transport in Transport::BOTH {
        let mut fresh = SipClient::connect(transport, node.addr());
        let ping = Request::new("OPTIONS", &fresh.server_uri(Some("ping")));
        fresh.send(&ping);
        let r = fresh.recv(SILENCE);
        assert!(
            r.is_none(),
            "an OPTIONS over {transport} from the blocked source was answered\n{}",
            fresh.transcript_text()
        );
    }

    let mut node = node;
    assert!(node.is_running(), "ccd stopped\n{}", node.log_text());
}
