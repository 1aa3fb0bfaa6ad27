//! Attended transfer from the agent's phone (RFC 5589: a REFER whose Refer-To carries a
//! Replaces) through a real `ccd all`, the agent's phone being PJSIP (pjsua2, the
//! `tests/pjsua/attended_transfer.py` peer): a SIPp caller is queued and answered by Anna's
//! PJSIP phone, which puts them on hold, calls Piotr's SIPp phone through ccd, then hands
//! the caller over. Piotr's call carries on with the caller, without ringing again; Anna is
//! hung up on both calls.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::net::{free_media_port, free_port};
use cc_tests::org::{describe, first_call_story, log_in_available, phone, run, watch_events};
use cc_tests::phones::Behaviour;
use cc_tests::pjsua::Pjsua;
use cc_tests::sip::Transport;
use cc_tests::tools::{Capture, PORTS_AND_METHOD, Sipp, requests_from, sent_to};

/// The number that goes straight to the sales queue.
const SALES_NUMBER: &str = "48220000001";

/// Sales is Anna alone; support (extension 700) is Piotr (extension 202) alone.
fn center() -> NodeConfig {
    NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna"]
ring_seconds = 5
wrap_up_seconds = 0

[[departments]]
id = "support"
name = "Support"
extension = "700"
strategy = "sequential"
members = ["piotr"]
ring_seconds = 5
wrap_up_seconds = 0

[[numbers]]
number = "{SALES_NUMBER}"
route = {{ department = "sales" }}
"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_hands_the_caller_to_the_colleague_they_consulted() {
    hand_over_to("202").await;
}

/// Anna consults the support department (its queue gives her Piotr) and hands the caller
/// over: Piotr's presence follows the caller's call, and he is free again once it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_hands_the_caller_to_the_department_agent_they_consulted() {
    let node = hand_over_to("700").await;
    // Free again after the caller's call: not stuck on the consultation that ended.
    log_in_available(&node, &["piotr"]).await;
}

/// Anna's PJSIP phone takes a sales caller, consults `target` (Piotr directly, or the
/// support department where only he works), and hands the caller over.
async fn hand_over_to(target: &str) -> Ccd {
    let node = Ccd::start(center());
    let mut stream = watch_events(&node).await;
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 200 });
    let anna_port = free_port();
    let mut anna = Pjsua::start(
        "attended_transfer.py",
        &[
            node.addr().to_string(),
            "201".into(),
            "anna-secret".into(),
            target.into(),
            anna_port.to_string(),
            "40".into(),
        ],
    );
    anna.until("registered", Duration::from_secs(15));
    log_in_available(&node, &["anna"]).await;
    if target == "700" {
        log_in_available(&node, &["piotr"]).await;
    }

    // Piotr's audio, and Anna's SIP to tell when she handed the caller over.
    let capture = Capture::start(&format!(
        "udp and (dst port {} or src port {anna_port})",
        piotr.media_port
    ));
    let caller_port = free_media_port();
    let sipp = Sipp::new("caller.xml", node.addr(), Transport::Udp)
        .service(SALES_NUMBER)
        .with_pcaps()
        .media_port(caller_port)
        .arg("-d")
        .arg("8000")
        .timeout(Duration::from_secs(40));
    let caller = tokio::spawn(run(sipp));

    anna.until("\"referred\"", Duration::from_secs(20));
    let done = tokio::task::spawn_blocking(move || {
        let done = anna.until("\"done\"", Duration::from_secs(20));
        let code = anna.exit_code(Duration::from_secs(10));
        (done, code, anna.seen.clone())
    })
    .await
    .unwrap();
    let caller = caller.await.unwrap();
    let packets = capture.stop_fields(&PORTS_AND_METHOD);
    let (done, code, seen) = done;
    assert_eq!(
        code,
        Some(0),
        "{done}\nAnna's phone said {seen:?}\n{}",
        describe(&caller, &node, &[&piotr])
    );
    assert!(done.contains("\"transfer_status\": 200"), "{done}");
    assert!(
        caller.all_calls_succeeded(),
        "{}",
        describe(&caller, &node, &[&piotr])
    );

    // Piotr was rung once (Anna's consultation call), never again, and his call carried on
    // with the caller until the caller hung up.
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());
    assert!(
        piotr.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        piotr.describe()
    );
    assert_eq!(piotr.received("BYE").len(), 1, "{}", piotr.describe());

    // After Anna's REFER, Piotr hears the caller (their audio, 50 packets a second, while
    // the caller's recording plays): the two are bridged.
    let refers = requests_from(&packets, anna_port, "REFER");
    assert!(!refers.is_empty(), "no REFER from Anna in the capture");
    let heard = sent_to(&packets[refers[0]..], piotr.media_port);
    assert!(heard >= 25, "{heard} packets to Piotr after the transfer");

    // The caller's call: answered by Anna, held, handed to Piotr, ended by the caller.
    let story = first_call_story(&mut stream).await;
    assert_eq!(
        story,
        [
            "started",
            "queued sales",
            "answered anna",
            "held by Callee",
            "resumed",
            &format!("transferred {target}"),
            "answered piotr",
            "ended",
        ],
        "{}",
        node.log_text()
    );
    node
}
