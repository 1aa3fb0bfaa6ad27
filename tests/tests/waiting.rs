//! A waiting caller is come back to (R-20), end to end through a real `ccd all` with a SIPp
//! caller: every `announce_seconds` they hear their place and the choices, and pressing 3
//! asks for a callback that keeps their place: the call leaves the queue, ends politely,
//! and a callback request with the original enqueue time is raised as an event.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use cc_proto::events::v1 as events_pb;
use cc_proto::events::v1::events_client::EventsClient;
use cc_proto::messages::v1 as messages_pb;
use cc_proto::queues::v1 as queues_pb;
use cc_proto::queues::v1::queues_client::QueuesClient;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::run;
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;

const SALES: &str = "48220000001";

/// The message a callback request left for `recipient` (waits up to 5 s for it).
async fn callback_message(node: &Ccd, recipient: &str) -> messages_pb::Message {
    let mut messages = messages_pb::messages_client::MessagesClient::connect(format!(
        "http://{}",
        node.api_addr()
    ))
    .await
    .unwrap();
    for _ in 0..50 {
        let list = messages
            .list_messages(messages_pb::ListMessagesRequest {
                recipient_id: recipient.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(m) = list
            .messages
            .into_iter()
            .find(|m| m.source == messages_pb::Source::CallbackRequest as i32)
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no callback request kept for {recipient}\n{}",
        node.log_text()
    );
}
const CUSTOMER: &str = "+48600700800";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_caller_who_presses_3_gets_a_callback_request_that_keeps_their_place() {
    // Nobody works: the caller waits; the choices come every 5 s.
    let node = Ccd::start(NodeConfig::default().toml(&format!(
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

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}
"#
    )));
    let mut events = EventsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let mut stream = events
        .watch_events(events_pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;

    // The key 3 seven seconds in: after the first announcement and its choices began.
    let caller = Sipp::new("caller_waiting_key.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .caller(CUSTOMER)
        .file(
            "dtmf.pcap",
            Path::new("/usr/share/sip-tester/dtmf_2833_3.pcap"),
        )
        .arg("-d")
        .arg("7000")
        .timeout(Duration::from_secs(30));
    let done = run(caller).await;
    assert!(
        done.all_calls_succeeded(),
        "{}\n--- ccd log ---\n{}",
        done.describe(),
        node.log_text()
    );

    use events_pb::event::Event as E;
    let mut request = None;
    let mut ended = None;
    while ended.is_none() {
        let e = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        match e.event.unwrap() {
            E::CallbackRequested(r) => request = Some(r),
            E::CallEnded(end) => ended = Some(end),
            _ => {}
        }
    }
    let request = request.unwrap_or_else(|| panic!("no callback request\n{}", node.log_text()));
    assert_eq!(request.department_id, "sales");
    assert_eq!(request.number, CUSTOMER);
    assert_eq!(request.priority, 1, "a call from outside at level 0");
    assert!(request.keeps_place);
    assert!(
        request.enqueued_at_unix_ms >= started && request.enqueued_at_unix_ms <= started + 3_000,
        "the place in line is the original enqueue time: {} vs start {started}",
        request.enqueued_at_unix_ms
    );
    assert_eq!(ended.unwrap().reason, "callback requested");

    // The promise is kept durably: a message for the department to call back.
    let kept = callback_message(&node, "sales").await;
    assert_eq!(kept.callback_number, CUSTOMER);

    // The call left the queue.
    let mut queues = QueuesClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let waiting = queues
        .list_queues(queues_pb::ListQueuesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .queues
        .iter()
        .map(|q| q.waiting_calls)
        .sum::<u32>();
    assert_eq!(waiting, 0, "{}", node.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenarios_callback_offer_reads_the_number_back_and_raises_a_request() {
    let node = Ccd::start(NodeConfig::default().toml(
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

[[scenarios]]
id = "call-me"
start = "offer"
[[scenarios.operations]]
id = "offer"
callback = "sales"

[[numbers]]
number = "48220000002"
scenario = "call-me"
"#,
    ));
    let mut events = EventsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let mut stream = events
        .watch_events(events_pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Early media only: the number read back and the confirmation, then 480.
    let caller = Sipp::new("caller_closed.xml", node.addr(), Transport::Udp)
        .service("48220000002")
        .caller(CUSTOMER)
        .timeout(Duration::from_secs(30));
    let done = run(caller).await;
    assert!(
        done.all_calls_succeeded(),
        "{}\n--- ccd log ---\n{}",
        done.describe(),
        node.log_text()
    );
    use events_pb::event::Event as E;
    let mut request = None;
    loop {
        let e = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        match e.event.unwrap() {
            E::CallbackRequested(r) => request = Some(r),
            E::CallEnded(end) => {
                assert_eq!(end.reason, "callback requested");
                break;
            }
            _ => {}
        }
    }
    let request = request.unwrap_or_else(|| panic!("no callback request\n{}", node.log_text()));
    assert_eq!(
        (request.department_id.as_str(), request.employee_id.as_str()),
        ("sales", "")
    );
    assert_eq!(request.number, CUSTOMER);
    assert!(!request.keeps_place, "an offer takes no place in a line");
    let kept = callback_message(&node, "sales").await;
    assert_eq!(kept.callback_number, CUSTOMER);
}
