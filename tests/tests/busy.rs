//! Line busy (R-22), end to end through a real `ccd all` with SIPp: a caller whose direct
//! call finds the employee busy hears so and chooses: 1 waits and the phone rings again,
//! 2 leaves a message for the employee.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::{describe, phone, run};
use cc_tests::phones::Behaviour;
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;

const ANNA: &str = "48221110000";

/// Anna's direct line; a caller who waits for her waits 2 s.
fn organisation() -> NodeConfig {
    NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"
mobile_forward_seconds = 0
busy_wait_seconds = 2

[[numbers]]
number = "{ANNA}"
route = {{ employee = "anna" }}
"#
    ))
}

/// A caller to Anna pressing `key` 3 s into the busy choices.
fn caller(node: &Ccd, scenario: &str, key: char) -> Sipp {
    Sipp::new(scenario, node.addr(), Transport::Udp)
        .service(ANNA)
        .caller("+48600700800")
        .with_pcaps()
        .file(
            "dtmf.pcap",
            Path::new(&format!("/usr/share/sip-tester/dtmf_2833_{key}.pcap")),
        )
        .arg("-d")
        .arg("3000")
        .timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_waits_for_a_busy_employee_is_put_through_again_after_the_wait() {
    let node = Ccd::start(organisation());
    let anna = phone(&node, "201", Behaviour::Busy);
    // 1: wait; Anna is busy again, the caller presses nothing the second time, and the
    // call ends politely (480).
    let call = run(caller(&node, "caller_waiting_key.xml", '1')).await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &[&anna])
    );
    assert_eq!(
        anna.received("INVITE").len(),
        2,
        "rung again after the wait\n{}",
        anna.describe()
    );
    let log = node.log_text();
    assert!(
        log.contains("the caller waits for the busy employee"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_finds_the_employee_busy_may_leave_a_message() {
    let node = Ccd::start(organisation());
    let anna = phone(&node, "201", Behaviour::Busy);
    let call = run(caller(&node, "caller_waiting_message.xml", '2')).await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &[&anna])
    );
    assert_eq!(anna.received("INVITE").len(), 1, "{}", anna.describe());
    // The message is saved once the recording is complete, which may be just after the
    // caller's BYE.
    assert!(
        node.wait_for_log("message left", Duration::from_secs(10)),
        "{}",
        node.log_text()
    );
    assert!(node.log_text().contains("taking a message"));
}
