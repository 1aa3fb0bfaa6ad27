//! The registrar behind digest authentication: SIPp registers employees' phones over UDP and
//! TCP; a raw client checks the challenge itself, both offered algorithms, expiry rules and
//! unknown users.
#![allow(clippy::unwrap_used)]

use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::register::{answer, challenges, register_request};
use cc_tests::sip::{SipClient, Transport};
use cc_tests::tools::{Sipp, SippRun};

/// SIPp 3.6.x answers only MD5 and only the first challenge it is given.
fn sipp_hint(run: &SippRun) -> &'static str {
    if run.errors.contains("authentication must use MD5") {
        "\nHINT: SIPp 3.6 answers only the first WWW-Authenticate and only MD5: is MD5 offered first?"
    } else {
        ""
    }
}

#[test]
fn register_with_right_password_is_accepted_over_udp_and_tcp() {
    let node = Ccd::start_default();
    let anna = node.config().employee("201").clone();
    for transport in Transport::BOTH {
        let run = Sipp::new("register_digest.xml", node.addr(), transport)
            .key("domain", &node.config().domain)
            .service(&anna.extension)
            .auth(&anna.extension, &anna.password)
            .run();
        assert!(
            run.all_calls_succeeded(),
            "REGISTER with the right password over {transport} was not accepted{}\n{}",
            sipp_hint(&run),
            run.describe()
        );
    }
}

#[test]
fn register_with_wrong_password_is_forbidden() {
    let node = Ccd::start_default();
    for transport in Transport::BOTH {
        let run = Sipp::new("register_wrong_password.xml", node.addr(), transport)
            .key("domain", &node.config().domain)
            .service("201")
            .auth("201", "not-annas-password")
            .run();
        assert!(
            run.all_calls_succeeded(),
            "REGISTER with a wrong password over {transport} did not end in 403{}\n{}",
            sipp_hint(&run),
            run.describe()
        );
    }
}

/// The algorithms of the 401 to an unauthenticated REGISTER, in the order offered.
fn offered_algorithms(node: &Ccd, transport: Transport) -> Vec<String> {
    let mut client = SipClient::connect(transport, node.addr());
    let req = register_request(&client, "201", "cc.local", None);
    let (r, cs) = challenges(&mut client, &req);
    for c in &cs {
        assert!(
            c.offers_qop_auth(),
            "challenge without qop=auth over {transport}:\n{}",
            r.raw
        );
        assert_eq!(c.realm, "cc.local", "{}", r.raw);
    }
    cs.into_iter().map(|c| c.algorithm).collect()
}

#[test]
fn challenge_offers_md5_then_sha256_by_default_with_qop_auth() {
    // MD5 first: SIPp 3.6 and many desk phones answer the first challenge only.
    let node = Ccd::start_default();
    for transport in Transport::BOTH {
        assert_eq!(
            offered_algorithms(&node, transport),
            ["MD5", "SHA-256"],
            "over {transport}"
        );
    }
}

#[test]
fn challenge_order_follows_digest_algorithms() {
    let node = Ccd::start(NodeConfig::default().sip("digest_algorithms", "[\"SHA-256\", \"MD5\"]"));
    assert_eq!(
        offered_algorithms(&node, Transport::Udp),
        ["SHA-256", "MD5"]
    );
    let node = Ccd::start(NodeConfig::default().sip("digest_algorithms", "[\"SHA-256\"]"));
    assert_eq!(offered_algorithms(&node, Transport::Tcp), ["SHA-256"]);
}

#[test]
fn register_answering_either_offered_challenge_is_accepted() {
    let node = Ccd::start_default();
    for transport in Transport::BOTH {
        for algorithm in ["SHA-256", "MD5"] {
            let mut client = SipClient::connect(transport, node.addr());
            let req = register_request(&client, "202", "cc.local", Some(600));
            let (_, cs) = challenges(&mut client, &req);
            let c = cs.iter().find(|c| c.algorithm == algorithm).unwrap();
            let (_, ok) = answer(&mut client, &req, c, "202", "piotr-secret");
            assert_eq!(
                ok.status,
                200,
                "{algorithm} over {transport}\n{}",
                client.transcript_text()
            );
            let ours = client.local_addr().to_string();
            let contact = ok.all("Contact").into_iter().find(|c| c.contains(&ours));
            let contact =
                contact.unwrap_or_else(|| panic!("200 does not list our Contact\n{}", ok.raw));
            assert!(
                contact.contains("expires="),
                "Contact without expires: {contact}"
            );
        }
    }
}

#[test]
fn expires_zero_removes_the_binding() {
    let node = Ccd::start_default();
    let mut client = SipClient::connect(Transport::Udp, node.addr());
    let ours = client.local_addr().to_string();
    let req = register_request(&client, "201", "cc.local", Some(300));
    let (_, cs) = challenges(&mut client, &req);
    let (_, ok) = answer(&mut client, &req, &cs[1], "201", "anna-secret");
    assert_eq!(ok.status, 200, "{}", client.transcript_text());
    assert!(
        ok.all("Contact").iter().any(|c| c.contains(&ours)),
        "{}",
        ok.raw
    );

    let remove = register_request(&client, "201", "cc.local", Some(0));
    let (_, cs) = challenges(&mut client, &remove);
    let (_, gone) = answer(&mut client, &remove, &cs[0], "201", "anna-secret");
    assert_eq!(gone.status, 200, "{}", client.transcript_text());
    assert!(
        !gone.all("Contact").iter().any(|c| c.contains(&ours)),
        "the binding is still listed after Expires: 0\n{}",
        gone.raw
    );
}

#[test]
fn expires_below_the_minimum_gets_423_with_min_expires() {
    let node = Ccd::start_default();
    let mut client = SipClient::connect(Transport::Udp, node.addr());
    let req = register_request(&client, "201", "cc.local", Some(30));
    let (_, cs) = challenges(&mut client, &req);
    let (_, r) = answer(&mut client, &req, &cs[0], "201", "anna-secret");
    assert_eq!(r.status, 423, "{}", client.transcript_text());
    assert_eq!(r.header("Min-Expires"), Some("60"), "{}", r.raw);
}

#[test]
fn register_for_an_unknown_user_is_challenged_then_forbidden() {
    let node = Ccd::start_default();
    let mut client = SipClient::connect(Transport::Udp, node.addr());
    // The challenge must not tell an unknown user from a known one (no enumeration).
    let req = register_request(&client, "999", "cc.local", None);
    let (_, cs) = challenges(&mut client, &req);
    let (_, r) = answer(&mut client, &req, &cs[0], "999", "whatever");
    assert_eq!(r.status, 403, "{}", client.transcript_text());
}

#[test]
fn an_employee_cannot_register_another_extension() {
    let node = Ccd::start_default();
    let mut client = SipClient::connect(Transport::Tcp, node.addr());
    let req = register_request(&client, "201", "cc.local", None);
    let (_, cs) = challenges(&mut client, &req);
    // Piotr's valid credentials for Anna's address of record.
    let (_, r) = answer(&mut client, &req, &cs[0], "202", "piotr-secret");
    assert_eq!(r.status, 403, "{}", client.transcript_text());
}
