//! Blind transfer from the agent's phone (RFC 3515 REFER) through a real `ccd all`: a SIPp
//! caller is queued and answered by Anna's SIPp phone, which then sends a REFER naming
//! another employee's extension, a department's, one that reaches nothing, or (an attended
//! transfer) a consultation dialog that is no call. What each
//! phone was sent comes from its SIP log; what the call did, from the events API.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_proto::events::v1 as events_pb;
use cc_proto::events::v1::event::Event as E;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::{describe, log_in_available, phone, run, watch_events};
use cc_tests::phones::{Behaviour, Logged, Phone};
use cc_tests::sip::Transport;
use cc_tests::tools::{Sipp, SippRun};
use tonic::Streaming;

/// The number that goes straight to the sales queue.
const SALES_NUMBER: &str = "48220000001";

/// Sales (Anna, extension 600) takes the calls; support (Piotr, extension 700) is where a
/// department transfer goes.
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

/// The call events up to the call's end, each in a word with its detail.
async fn call_story(stream: &mut Streaming<events_pb::Event>) -> Vec<String> {
    let mut story = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| panic!("the call did not end within 10 s: {story:?}"))
            .unwrap()
            .unwrap();
        let line = match event.event {
            Some(E::CallStarted(_)) => "started".to_owned(),
            Some(E::CallQueued(q)) => format!("queued {}", q.department_id),
            Some(E::CallOffered(o)) => format!("offered {}", o.agent_id),
            Some(E::CallAnswered(a)) => format!("answered {}", a.agent_id),
            Some(E::CallTransferred(t)) => format!("transferred {}", t.target),
            Some(E::CallEnded(_)) => {
                story.push("ended".to_owned());
                return story;
            }
            _ => continue,
        };
        story.push(line);
    }
}

/// A caller dialling the sales number with `scenario`, staying `talk_ms` once answered.
async fn call(node: &Ccd, scenario: &str, talk_ms: u64) -> SippRun {
    let sipp = Sipp::new(scenario, node.addr(), Transport::Udp)
        .service(SALES_NUMBER)
        .with_pcaps()
        .arg("-d")
        .arg(&talk_ms.to_string())
        .timeout(Duration::from_secs(40));
    run(sipp).await
}

/// What the transferring phone saw of its REFER: the status ccd answered it with, and the
/// NOTIFYs of its subscription (in order).
struct ReferSeen {
    answer: String,
    notifies: Vec<Logged>,
}

fn refer_seen(phone: &Phone) -> ReferSeen {
    let log = phone.log();
    let answer = log
        .iter()
        .find(|m| m.received && m.start_line.starts_with("SIP/2.0") && m.text.contains(" REFER"))
        .map(|m| m.start_line.clone())
        .unwrap_or_else(|| panic!("no answer to the REFER\n{}", phone.describe()));
    ReferSeen {
        answer,
        notifies: phone.received("NOTIFY"),
    }
}

/// Checks a NOTIFY of the refer subscription: its event, its state and its sipfrag.
fn assert_notify(notify: &Logged, state: &str, sipfrag: &str) {
    let text = &notify.text;
    assert!(text.contains("Event: refer"), "{text}");
    assert!(
        text.contains(&format!("Subscription-State: {state}")),
        "{text}"
    );
    assert!(text.contains("Content-Type: message/sipfrag"), "{text}");
    assert!(text.contains(sipfrag), "{text}");
}

/// The status line ccd answered the phone's own BYE with.
fn answer_to_own_bye(phone: &Phone) -> String {
    phone
        .log()
        .into_iter()
        .find(|m| {
            m.received && m.start_line.starts_with("SIP/2.0") && m.text.contains("CSeq: 2 BYE")
        })
        .map(|m| m.start_line)
        .unwrap_or_else(|| panic!("the phone's BYE was not answered\n{}", phone.describe()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refer_from_the_agents_phone_hands_the_caller_to_another_employee() {
    let node = Ccd::start(center());
    let mut stream = watch_events(&node).await;
    let anna = phone(
        &node,
        "201",
        Behaviour::AnswerThenRefer {
            ring_ms: 200,
            talk_ms: 1000,
            target: "202",
        },
    );
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 500 });
    log_in_available(&node, &["anna"]).await;

    let run = call(&node, "caller.xml", 5000).await;
    let all = [&anna, &piotr];
    assert!(run.all_calls_succeeded(), "{}", describe(&run, &node, &all));

    // Anna's REFER was accepted, she was told it went through, then hung up on.
    let seen = refer_seen(&anna);
    assert_eq!(seen.answer, "SIP/2.0 202 Accepted", "{}", anna.describe());
    assert_eq!(seen.notifies.len(), 2, "{}", anna.describe());
    assert_notify(&seen.notifies[0], "active", "SIP/2.0 100 Trying");
    assert_notify(&seen.notifies[1], "terminated", "SIP/2.0 200 OK");
    let byes = anna.received("BYE");
    assert_eq!(byes.len(), 1, "{}", anna.describe());
    assert!(byes[0].at >= seen.notifies[1].at, "{}", anna.describe());
    // Piotr's phone rang once, took the caller, and got the caller's BYE.
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());
    assert!(
        piotr.wait_for("BYE", 1, Duration::from_secs(3)),
        "{}",
        piotr.describe()
    );
    assert_eq!(
        call_story(&mut stream).await,
        [
            "started",
            "queued sales",
            "offered anna",
            "answered anna",
            "transferred 202",
            "answered piotr",
            "ended"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refer_to_a_department_queues_the_caller_there_even_if_the_phone_hangs_up_itself() {
    let node = Ccd::start(center());
    let mut stream = watch_events(&node).await;
    let anna = phone(
        &node,
        "201",
        Behaviour::AnswerThenReferAndHangUp {
            ring_ms: 200,
            talk_ms: 1000,
            target: "700",
        },
    );
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 300 });
    log_in_available(&node, &["anna", "piotr"]).await;

    let run = call(&node, "caller.xml", 5000).await;
    let all = [&anna, &piotr];
    assert!(run.all_calls_succeeded(), "{}", describe(&run, &node, &all));

    let seen = refer_seen(&anna);
    assert_eq!(seen.answer, "SIP/2.0 202 Accepted", "{}", anna.describe());
    assert_eq!(seen.notifies.len(), 2, "{}", anna.describe());
    assert_notify(&seen.notifies[1], "terminated", "SIP/2.0 200 OK");
    // ccd hung Anna up at once; her own BYE, coming after, reached a dialog ccd had ended
    // (as a BYE crossing ccd's would) and was answered 200, not 481.
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        anna.describe()
    );
    assert_eq!(anna.received("BYE").len(), 1, "{}", anna.describe());
    assert_eq!(answer_to_own_bye(&anna), "SIP/2.0 200 OK");
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());
    assert_eq!(
        call_story(&mut stream).await,
        [
            "started",
            "queued sales",
            "offered anna",
            "answered anna",
            "transferred 700",
            "queued support",
            "offered piotr",
            "answered piotr",
            "ended"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refer_to_an_extension_that_reaches_nothing_is_reported_failed_and_the_agent_keeps_the_caller()
 {
    refer_fails_and_the_agent_keeps_the_caller("299", "SIP/2.0 404 Not Found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attended_transfer_replacing_no_call_is_reported_failed_and_the_agent_keeps_the_caller()
{
    refer_fails_and_the_agent_keeps_the_caller(
        // The scenario appends `@domain`: it lands in a header of its own.
        "202@cc.local?Replaces=no-such-call%3Bto-tag%3D1%3Bfrom-tag%3D2&x=",
        "SIP/2.0 481 Call/Transaction Does Not Exist",
    )
    .await;
}

/// Anna's phone sends a REFER naming `target` (after `sip:`), which ccd accepts, then
/// reports failed with `sipfrag`; the call stays hers until she hangs up.
async fn refer_fails_and_the_agent_keeps_the_caller(target: &'static str, sipfrag: &str) {
    let node = Ccd::start(center());
    let mut stream = watch_events(&node).await;
    let anna = phone(
        &node,
        "201",
        Behaviour::AnswerThenReferAndHangUp {
            ring_ms: 200,
            talk_ms: 1000,
            target,
        },
    );
    log_in_available(&node, &["anna"]).await;

    // The caller stays until hung up on: by Anna, after her transfer failed.
    let run = call(&node, "caller_until_bye.xml", 0).await;
    assert!(
        run.all_calls_succeeded(),
        "{}",
        describe(&run, &node, &[&anna])
    );

    let seen = refer_seen(&anna);
    assert_eq!(seen.answer, "SIP/2.0 202 Accepted", "{}", anna.describe());
    assert_eq!(seen.notifies.len(), 2, "{}", anna.describe());
    assert_notify(&seen.notifies[0], "active", "SIP/2.0 100 Trying");
    assert_notify(&seen.notifies[1], "terminated", sipfrag);
    // Still connected after the failure: ccd never hung Anna up, she hung up herself.
    assert!(anna.received("BYE").is_empty(), "{}", anna.describe());
    assert_eq!(answer_to_own_bye(&anna), "SIP/2.0 200 OK");
    assert!(
        node.log_text().contains("agent hung up"),
        "{}",
        node.log_text()
    );
    assert_eq!(
        call_story(&mut stream).await,
        [
            "started",
            "queued sales",
            "offered anna",
            "answered anna",
            "ended"
        ]
    );
}
