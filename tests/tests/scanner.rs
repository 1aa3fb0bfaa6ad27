//! What the scanners attackers run find: sipvicious maps the node (svmap), tries to
//! enumerate extensions (svwar) and to guess a password (svcrack) with a small dictionary
//! that lacks the real one. Nothing may be learnt, and the node must keep answering.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_tests::TempDir;
use cc_tests::ccd::Ccd;
use cc_tests::net::free_udp_ports;
use cc_tests::sip::{Request, SipClient, Transport};
use cc_tests::tools::{ToolRun, sipvicious};

/// Loopback only, from a given local port (sipvicious binds 5060 otherwise), at most one
/// request per 50 ms.
fn common_args(local_port: u16) -> Vec<String> {
    [
        "-P",
        &local_port.to_string(),
        "-b",
        "127.0.0.1",
        "-x",
        "127.0.0.1",
        "-t",
        "0.05",
    ]
    .map(String::from)
    .to_vec()
}

fn assert_finished(run: &ToolRun) {
    assert!(
        !run.timed_out,
        "the scanner had to be killed\n{}",
        run.describe()
    );
}

#[test]
fn sipvicious_scans_learn_nothing_and_the_node_keeps_answering() {
    let node = Ccd::start_default();
    let port = node.port().to_string();
    let local = free_udp_ports(3);
    let dir = TempDir::new("sipvicious");
    let extensions = dir.write("extensions.txt", "100\n200\n201\n202\n203\n999\n1000\n");
    // Common guesses; six stay below the default block threshold (10 failures a minute).
    let passwords = dir.write(
        "passwords.txt",
        "123456\npassword\n201\nanna\nsecret\nanna2024\n",
    );
    assert!(
        !std::fs::read_to_string(&passwords)
            .unwrap()
            .contains("anna-secret")
    );

    let mut svmap = common_args(local[0]);
    svmap.extend(["-p".into(), port.clone(), "127.0.0.1".into()]);
    let run = sipvicious("svmap", &svmap, Duration::from_secs(30));
    assert_finished(&run);
    assert!(
        run.stdout.contains(&node.addr().to_string()),
        "svmap did not see the node at all\n{}",
        run.describe()
    );

    // --force: go on although an unknown extension is challenged like a known one.
    let mut svwar = common_args(local[1]);
    svwar.extend([
        "-d".into(),
        extensions.display().to_string(),
        "--maximumtime".into(),
        "3".into(),
        "--force".into(),
    ]);
    svwar.extend(["-p".into(), port.clone(), "127.0.0.1".into()]);
    let run = sipvicious("svwar", &svwar, Duration::from_secs(30));
    assert_finished(&run);
    for ext in ["201", "202"] {
        let listed = run
            .output()
            .lines()
            .any(|l| l.contains(&format!("| {ext} ")) || l.contains(&format!("'{ext}' exists")));
        assert!(
            !listed,
            "svwar enumerated extension {ext} over REGISTER\n{}",
            run.describe()
        );
    }

    let mut svcrack = common_args(local[2]);
    svcrack.extend([
        "-u".into(),
        "201".into(),
        "-d".into(),
        passwords.display().to_string(),
    ]);
    svcrack.extend([
        "--maximumtime".into(),
        "3".into(),
        "-p".into(),
        port.clone(),
        "127.0.0.1".into(),
    ]);
    let run = sipvicious("svcrack", &svcrack, Duration::from_secs(40));
    assert_finished(&run);
    let out = run.output();
    assert!(
        !out.contains("The password for")
            && !out.contains("anna-secret")
            && !out.contains("cracked users"),
        "svcrack reported a password\n{}",
        run.describe()
    );
    // svcrack 0.3.x answers the first challenge with MD5 only (it stops at its first guess
    // when SHA-256 is offered first): make sure its guesses reached the digest check.
    let rejected = node.log_count("authentication failed");
    assert!(
        rejected > 0,
        "svcrack never got a guess checked by the node\n{}\n--- ccd log ---\n{}",
        run.describe(),
        node.log_text()
    );
    eprintln!("svcrack: {rejected} guesses rejected\n{}", run.describe());

    for transport in Transport::BOTH {
        let mut client = SipClient::connect(transport, node.addr());
        let ping = Request::new("OPTIONS", &client.server_uri(Some("ping")));
        let r = client.exchange(&ping);
        assert_eq!(
            r.status,
            200,
            "OPTIONS over {transport} after the scans\n{}",
            client.transcript_text()
        );
    }
}
