//! Messages (R-40, R-41), end to end through a real `ccd all` with SIPp callers: a
//! scenario's message operation answers the caller, records what they say until #, reads
//! their number back and ends the call; a caller who hangs up while speaking leaves their
//! message all the same; a waiting caller who presses 2 leaves one for the department.
//! Each message is raised as a `MessageLeft` event with its recording.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use cc_proto::events::v1 as events_pb;
use cc_proto::events::v1::events_client::EventsClient;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::run;
use cc_tests::sip::Transport;
use cc_tests::tools::{Sipp, SippRun};
use tonic::Streaming;

/// A number whose scenario takes a message for Anna; the sales line, whose waiting
/// callers hear the choices every 5 s.
const FOR_ANNA: &str = "48221110001";
const SALES: &str = "48220000001";
const CUSTOMER: &str = "+48600700800";

fn organisation() -> NodeConfig {
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
members = ["anna", "piotr"]
announce_seconds = 5
waiting_choices = true

[[scenarios]]
id = "message-for-anna"
start = "take"
[[scenarios.operations]]
id = "take"
message = "anna"

[[numbers]]
number = "{FOR_ANNA}"
scenario = "message-for-anna"

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}
"#
    ))
}

async fn watch(node: &Ccd) -> Streaming<events_pb::Event> {
    let mut events = EventsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    events
        .watch_events(events_pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner()
}

/// The message left and how the call ended, from the event stream (and the scenario
/// operations the call walked, in order).
async fn message_and_end(
    stream: &mut Streaming<events_pb::Event>,
    node: &Ccd,
) -> (events_pb::MessageLeft, String, Vec<String>) {
    use events_pb::event::Event as E;
    let mut message = None;
    let mut operations = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| panic!("no event within 10 s\n{}", node.log_text()))
            .unwrap()
            .unwrap();
        match e.event.unwrap() {
            E::MessageLeft(m) => message = Some(m),
            E::CallOperation(o) => operations.push(o.operation_id),
            E::CallEnded(end) => {
                let m = message.unwrap_or_else(|| panic!("no message\n{}", node.log_text()));
                return (m, end.reason, operations);
            }
            _ => {}
        }
    }
}

fn assert_ok(run: &SippRun, node: &Ccd) {
    assert!(
        run.all_calls_succeeded(),
        "{}\n--- ccd log ---\n{}",
        run.describe(),
        node.log_text()
    );
}

/// The recording holds the caller's words: a WAV well beyond its header.
fn assert_recorded(m: &events_pb::MessageLeft, at_least_seconds: f64) {
    let bytes = std::fs::metadata(&m.recording_path)
        .unwrap_or_else(|e| panic!("no recording at {}: {e}", m.recording_path))
        .len();
    assert!(bytes > 8_000, "{bytes} bytes at {}", m.recording_path);
    assert!(m.seconds >= at_least_seconds, "{} s recorded", m.seconds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_leaves_a_message_ended_by_pound_and_hears_their_number_read_back() {
    let node = Ccd::start(organisation());
    let mut events = watch(&node).await;
    let caller = Sipp::new("caller_message.xml", node.addr(), Transport::Udp)
        .service(FOR_ANNA)
        .caller(CUSTOMER)
        .with_pcaps()
        .file(
            "dtmf.pcap",
            Path::new("/usr/share/sip-tester/dtmf_2833_pound.pcap"),
        )
        .arg("-d")
        .arg("8000")
        .timeout(Duration::from_secs(60));
    let done = run(caller).await;
    assert_ok(&done, &node);
    let (m, reason, operations) = message_and_end(&mut events, &node).await;
    assert_eq!(m.recipient_id, "anna");
    assert_eq!(m.caller_number, CUSTOMER);
    assert_eq!(reason, "message left");
    assert_eq!(operations, ["take"], "the scenario operation is an event");
    assert_recorded(&m, 5.0);
    assert!(m.seconds < 20.0, "# ended it: {} s", m.seconds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_speaking_leaves_the_message_all_the_same() {
    let node = Ccd::start(organisation());
    let mut events = watch(&node).await;
    // Answered, speaks from the start, hangs up 14 s in: 4 s after the tone.
    let caller = Sipp::new("caller.xml", node.addr(), Transport::Udp)
        .service(FOR_ANNA)
        .caller(CUSTOMER)
        .with_pcaps()
        .arg("-d")
        .arg("14000")
        .timeout(Duration::from_secs(40));
    let done = run(caller).await;
    assert_ok(&done, &node);
    let (m, reason, _) = message_and_end(&mut events, &node).await;
    assert_eq!(m.recipient_id, "anna");
    assert_eq!(reason, "message left");
    assert_recorded(&m, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_caller_who_presses_2_leaves_a_message_for_the_department() {
    let node = Ccd::start(organisation());
    let mut events = watch(&node).await;
    // Nobody works: the choices come 5 s in; the caller presses 2 at 7 s, is answered and
    // hangs up after speaking.
    let caller = Sipp::new("caller_waiting_message.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .caller(CUSTOMER)
        .with_pcaps()
        .file(
            "dtmf.pcap",
            Path::new("/usr/share/sip-tester/dtmf_2833_2.pcap"),
        )
        .arg("-d")
        .arg("7000")
        .timeout(Duration::from_secs(60));
    let done = run(caller).await;
    assert_ok(&done, &node);
    let (m, reason, _) = message_and_end(&mut events, &node).await;
    assert_eq!(m.recipient_id, "sales");
    assert_eq!(m.caller_number, CUSTOMER);
    assert_eq!(reason, "message left");
}
