//! A waiting caller is come back to (R-20), end to end through a real `ccd all` with a SIPp
//! caller: every `announce_seconds` they hear their place and the choices, and pressing 3
//! asks for a callback that keeps their place: the call leaves the queue, ends politely,
//! and a callback request with the original enqueue time is raised as an event and
//! scheduled.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use cc_proto::callbacks::v1 as callbacks_pb;
use cc_proto::callbacks::v1::callbacks_client::CallbacksClient;
use cc_proto::events::v1 as events_pb;
use cc_proto::events::v1::events_client::EventsClient;
use cc_proto::queues::v1 as queues_pb;
use cc_proto::queues::v1::queues_client::QueuesClient;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::run;
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;

const SALES: &str = "48220000001";

/// The callback the scheduler holds for `number` (waits up to 10 s for it).
async fn scheduled_callback(node: &Ccd, number: &str) -> callbacks_pb::Callback {
    let mut callbacks = CallbacksClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    for _ in 0..100 {
        let list = callbacks
            .list_callbacks(callbacks_pb::ListCallbacksRequest {
                number: number.into(),
                ..Default::default()
            })
            .await;
        if let Ok(list) = list
            && let Some(c) = list.into_inner().callbacks.into_iter().next()
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no callback scheduled for {number}\n{}", node.log_text());
}

fn department_of(c: &callbacks_pb::Callback) -> Option<&str> {
    match c.target.as_ref()?.target.as_ref()? {
        callbacks_pb::target::Target::DepartmentId(d) => Some(d),
        callbacks_pb::target::Target::EmployeeId(_) => None,
    }
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

    // The promise is kept durably: the scheduler holds the callback at the caller's
    // original place in line, pending until an agent of sales is at work.
    let kept = scheduled_callback(&node, CUSTOMER).await;
    assert_eq!(department_of(&kept), Some("sales"));
    assert_eq!(kept.source(), callbacks_pb::Source::VirtualHold);
    assert_eq!(kept.enqueued_at_unix_ms, Some(request.enqueued_at_unix_ms));
    assert_eq!(kept.state(), callbacks_pb::CallbackState::Pending);

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
    let kept = scheduled_callback(&node, CUSTOMER).await;
    assert_eq!(department_of(&kept), Some("sales"));
    assert_eq!(kept.source(), callbacks_pb::Source::Offer);
}
