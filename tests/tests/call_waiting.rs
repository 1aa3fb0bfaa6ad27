//! Call waiting (R-23) with a real phone: Anna's PJSIP phone (pjsua2, the
//! `tests/pjsua/call_waiting.py` peer) is talking to a caller from the sales queue when a
//! second caller dials her direct line. Her phone puts the first caller on hold (who hears
//! the on-hold prompt and music, never silence: R-21), takes the second call, hangs it up
//! after a moment and takes the first caller back, who talks on until they hang up.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::net::{free_media_port, free_port};
use cc_tests::org::{describe, first_call_story, log_in_available, run, watch_events};
use cc_tests::pjsua::Pjsua;
use cc_tests::sip::Transport;
use cc_tests::tools::{Capture, PORTS_AND_METHOD, Sipp, requests_from, sent_to};

/// The sales line (Anna's department) and Anna's direct line.
const SALES: &str = "48220000001";
const ANNA: &str = "48221110000";

fn center() -> NodeConfig {
    NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"
mobile_forward_seconds = 0

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna"]
ring_seconds = 5
wrap_up_seconds = 0

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}

[[numbers]]
number = "{ANNA}"
route = {{ employee = "anna" }}
"#
    ))
}

fn caller(node: &Ccd, number: &str, scenario: &str, talk_ms: u64) -> Sipp {
    Sipp::new(scenario, node.addr(), Transport::Udp)
        .service(number)
        .with_pcaps()
        .arg("-d")
        .arg(&talk_ms.to_string())
        .timeout(Duration::from_secs(40))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_holds_a_call_takes_a_second_one_and_resumes_the_first() {
    let node = Ccd::start(center());
    let mut events = watch_events(&node).await;
    let anna_port = free_port();
    let mut anna = Pjsua::start(
        "call_waiting.py",
        &[
            node.addr().to_string(),
            "201".into(),
            "anna-secret".into(),
            anna_port.to_string(),
            "1.5".into(),
            "40".into(),
        ],
    );
    let mut anna = tokio::task::spawn_blocking(move || {
        anna.until("registered", Duration::from_secs(15));
        anna
    })
    .await
    .unwrap();
    log_in_available(&node, &["anna"]).await;

    let first_port = free_media_port();
    let capture = Capture::start(&format!(
        "udp and (dst port {first_port} or src port {anna_port})"
    ));
    let first = tokio::spawn(run(
        caller(&node, SALES, "caller.xml", 9000).media_port(first_port)
    ));
    let mut anna = tokio::task::spawn_blocking(move || {
        anna.until("answered first", Duration::from_secs(15));
        anna
    })
    .await
    .unwrap();
    // The second caller dials Anna's line while she talks; she hangs up on them.
    let second = run(caller(&node, ANNA, "caller_until_bye.xml", 0)).await;
    let (done, code) = tokio::task::spawn_blocking(move || {
        let done = anna.until("\"done\"", Duration::from_secs(30));
        (done, anna.exit_code(Duration::from_secs(10)))
    })
    .await
    .unwrap();
    let first = first.await.unwrap();
    let packets = capture.stop_fields(&PORTS_AND_METHOD);
    assert_eq!(code, Some(0), "{done}\n{}", describe(&first, &node, &[]));
    assert!(
        second.all_calls_succeeded(),
        "{}",
        describe(&second, &node, &[])
    );
    assert!(
        first.all_calls_succeeded(),
        "{}",
        describe(&first, &node, &[])
    );

    // Between Anna's hold and her resume the first caller heard the prompt and music.
    let invites = requests_from(&packets, anna_port, "INVITE");
    assert!(invites.len() >= 2, "Anna's re-INVITEs: {invites:?}");
    let heard = sent_to(&packets[invites[0]..invites[invites.len() - 1]], first_port);
    assert!(heard >= 40, "{heard} packets to the first caller on hold");

    // The first call was held by Anna's phone and resumed, once.
    assert_eq!(
        first_call_story(&mut events).await,
        [
            "started",
            "queued sales",
            "answered anna",
            "held by Callee",
            "resumed",
            "ended"
        ]
    );
}
