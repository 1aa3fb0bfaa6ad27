//! Complete calls through a real `ccd all`, with SIPp on both sides: agents' phones register
//! with digest and answer (echoing RTP), refuse or let it ring; a SIPp caller dials a company
//! number, hears the greeting, waits in the department's queue and is connected by the
//! department's strategy. What each phone was sent, and when, comes from its SIP log.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_proto::agents::v1 as pb;
use cc_proto::calls::v1 as calls_pb;
use cc_proto::calls::v1::calls_client::CallsClient;
use cc_proto::events::v1 as events_pb;
use cc_proto::events::v1::events_client::EventsClient;
use cc_proto::queues::v1 as queues_pb;
use cc_proto::queues::v1::queues_client::QueuesClient;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::net::free_media_port;
use cc_tests::org::{agents, describe, phone, run, watch_events};
use cc_tests::phones::{Behaviour, Logged, Phone};
use cc_tests::sip::Transport;
use cc_tests::tools::{Capture, PORTS_AND_METHOD, Sipp, SippRun, requests_from, sent_to};
use tonic::transport::Channel;

/// The number that greets, and one that goes straight to the queue.
const GREETED: &str = "48221234567";
const DIRECT_TO_QUEUE: &str = "48220000001";

/// The test organisation with a `sales` department of the given strategy (anna, piotr).
fn center(strategy: &str, ring_seconds: u32, wrap_up_seconds: u32) -> NodeConfig {
    NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"
mobile_forward_seconds = 2

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "{strategy}"
members = ["anna", "piotr"]
ring_seconds = {ring_seconds}
wrap_up_seconds = {wrap_up_seconds}

[[numbers]]
number = "{GREETED}"
route = {{ department = "sales" }}
greeting = "welcome"

[[numbers]]
number = "{DIRECT_TO_QUEUE}"
route = {{ department = "sales" }}
"#
    ))
}

async fn login(node: &Ccd, ids: &[&str]) {
    let mut client = agents(node.api_addr()).await;
    for id in ids {
        client
            .login(pb::LoginRequest {
                agent_id: (*id).into(),
            })
            .await
            .unwrap();
    }
}

async fn state(node: &Ccd, id: &str) -> i32 {
    let mut client = agents(node.api_addr()).await;
    client
        .get_agent(pb::GetAgentRequest {
            agent_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .state
}

/// Waits until the agent is in `wanted`, failing with its last state.
async fn wait_state(node: &Ccd, id: &str, wanted: pb::AgentState, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = state(node, id).await;
        if now == wanted as i32 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} is {:?}, not {wanted:?}, after {within:?}",
            pb::AgentState::try_from(now)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A sequential sales department where only Anna is logged in, her phone registered and
/// behaving as given, and she is available.
async fn anna_alone(wrap_up_seconds: u32, behaviour: Behaviour) -> (Ccd, Phone) {
    let node = Ccd::start(center("sequential", 5, wrap_up_seconds));
    login(&node, &["anna"]).await;
    let anna = phone(&node, "201", behaviour);
    available(&node, "anna").await;
    (node, anna)
}

/// Fails with both sides' logs unless every call of the run succeeded.
fn assert_ok(run: &SippRun, node: &Ccd, phones: &[&Phone]) {
    assert!(run.all_calls_succeeded(), "{}", describe(run, node, phones));
}

/// Waits (at most 5 s) until the agent is offered calls again.
async fn available(node: &Ccd, id: &str) {
    wait_state(node, id, pb::AgentState::Available, Duration::from_secs(5)).await;
}

/// A caller dialling `number`, talking for `talk_ms` after being answered, then hanging up.
fn caller(node: &Ccd, number: &str, scenario: &str, talk_ms: u64) -> Sipp {
    Sipp::new(scenario, node.addr(), Transport::Udp)
        .service(number)
        .with_pcaps()
        .arg("-d")
        .arg(&talk_ms.to_string())
        .timeout(Duration::from_secs(40))
}

fn first(log: &[Logged], method: &str) -> f64 {
    log.iter()
        .find(|m| m.received && m.is_request(method))
        .unwrap_or_else(|| panic!("no {method} in {log:#?}"))
        .at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_hears_the_greeting_reaches_an_agent_and_audio_flows_both_ways() {
    let (node, anna) = anna_alone(1, Behaviour::Answer { ring_ms: 300 }).await;
    let caller_port = free_media_port();
    let capture = Capture::start(&format!(
        "udp and (port {caller_port} or port {})",
        anna.media_port
    ));
    let run = run(caller(&node, GREETED, "caller.xml", 6000).media_port(caller_port)).await;
    let packets = capture.stop();
    assert_ok(&run, &node, &[&anna]);

    // The agent's phone rang once, was connected, and got the caller's BYE.
    for method in ["INVITE", "ACK", "BYE"] {
        assert_eq!(
            anna.received(method).len(),
            1,
            "{method}\n{}",
            anna.describe()
        );
    }
    // The greeting was played before anyone was rung.
    assert!(node.log_text().contains("queued"), "{}", node.log_text());
    // The greeting and the wait were early media (183); the 200 came with the agent.
    let early = run.messages.find("SIP/2.0 183").expect("a 183 with SDP");
    let answered = run.messages.find("SIP/2.0 200").expect("a 200");
    assert!(early < answered, "183 before 200\n{}", run.messages);

    let to = |port: u16| packets.iter().filter(|(_, d)| *d == port).count();
    let from = |port: u16| packets.iter().filter(|(s, _)| *s == port).count();
    // 50 packets a second: greeting and the echoed voice to the caller; the caller's voice
    // relayed to the agent, and the agent's echo back.
    assert!(to(caller_port) > 150, "to the caller: {}", to(caller_port));
    assert!(
        from(caller_port) > 150,
        "from the caller: {}",
        from(caller_port)
    );
    assert!(
        to(anna.media_port) > 50,
        "to the agent: {}",
        to(anna.media_port)
    );
    assert!(
        from(anna.media_port) > 50,
        "from the agent: {}",
        from(anna.media_port)
    );

    // After the call: wrap-up, then available again.
    available(&node, "anna").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_hanging_up_ends_the_call_for_the_caller() {
    let (node, anna) = anna_alone(
        0,
        Behaviour::AnswerThenHangUp {
            ring_ms: 200,
            talk_ms: 1500,
        },
    )
    .await;
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller_until_bye.xml", 0)).await;
    assert_ok(&run, &node, &[&anna]);
    assert!(node.log_text().contains("agent hung up"));
    available(&node, "anna").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_rings_the_first_member_then_the_next_after_ring_seconds() {
    let node = Ccd::start(center("sequential", 2, 0));
    login(&node, &["anna", "piotr"]).await;
    let anna = phone(&node, "201", Behaviour::NoAnswer);
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 300 });
    available(&node, "piotr").await;
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 5000)).await;
    assert_ok(&run, &node, &[&anna, &piotr]);
    let (a, p) = (anna.log(), piotr.log());
    let anna_rang = first(&a, "INVITE");
    let anna_stopped = first(&a, "CANCEL");
    let piotr_rang = first(&p, "INVITE");
    assert!(
        (anna_stopped - anna_rang - 2.0).abs() < 0.7,
        "anna rang {anna_rang}, cancelled {anna_stopped}"
    );
    assert!(
        piotr_rang >= anna_rang + 1.7 && (piotr_rang - anna_stopped).abs() < 0.7,
        "piotr rang at {piotr_rang}; anna {anna_rang}..{anna_stopped}"
    );
    assert!(
        piotr.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        piotr.describe()
    );
    assert_eq!(piotr.received("BYE").len(), 1, "{}", piotr.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_all_rings_everyone_and_cancels_the_losers() {
    let node = Ccd::start(center("ring-all", 10, 0));
    login(&node, &["anna", "piotr"]).await;
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 1000 });
    let piotr = phone(&node, "202", Behaviour::NoAnswer);
    available(&node, "piotr").await;
    available(&node, "anna").await;
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 3000)).await;
    assert_ok(&run, &node, &[&anna, &piotr]);
    let (a, p) = (anna.log(), piotr.log());
    let (anna_rang, piotr_rang) = (first(&a, "INVITE"), first(&p, "INVITE"));
    assert!(
        (anna_rang - piotr_rang).abs() < 0.5,
        "anna {anna_rang}, piotr {piotr_rang}"
    );
    // Anna answered after a second; Piotr's phone stopped then, not at ring_seconds.
    let piotr_stopped = first(&p, "CANCEL");
    assert!(
        piotr_stopped - piotr_rang < 2.5,
        "piotr rang {piotr_rang}, cancelled {piotr_stopped}"
    );
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        anna.describe()
    );
    assert_eq!(anna.received("BYE").len(), 1, "{}", anna.describe());
    available(&node, "piotr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progressive_keeps_the_first_ringing_while_the_next_is_added() {
    let node = Ccd::start(center("progressive", 2, 0));
    login(&node, &["anna", "piotr"]).await;
    let anna = phone(&node, "201", Behaviour::NoAnswer);
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 1000 });
    available(&node, "piotr").await;
    available(&node, "anna").await;
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 6000)).await;
    assert_ok(&run, &node, &[&anna, &piotr]);
    let (a, p) = (anna.log(), piotr.log());
    let anna_rang = first(&a, "INVITE");
    let piotr_rang = first(&p, "INVITE");
    let anna_stopped = first(&a, "CANCEL");
    assert!(
        (piotr_rang - anna_rang - 2.0).abs() < 0.7,
        "piotr added at {piotr_rang}, anna rang {anna_rang}"
    );
    // Anna kept ringing with Piotr until he answered, a second later.
    assert!(
        anna_stopped > piotr_rang + 0.7,
        "anna cancelled {anna_stopped}, piotr rang {piotr_rang}"
    );
    assert_eq!(
        piotr.received("BYE").len(),
        1,
        "{}",
        describe(&run, &node, &[&anna, &piotr])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_agent_passes_the_call_to_the_next_at_once() {
    let node = Ccd::start(center("sequential", 10, 0));
    login(&node, &["anna", "piotr"]).await;
    let anna = phone(&node, "201", Behaviour::Busy);
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 200 });
    available(&node, "piotr").await;
    available(&node, "anna").await;
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 2000)).await;
    assert_ok(&run, &node, &[&anna, &piotr]);
    let anna_rang = first(&anna.log(), "INVITE");
    let piotr_rang = first(&piotr.log(), "INVITE");
    assert!(
        piotr_rang - anna_rang < 1.5,
        "piotr rang {piotr_rang}, anna declined at {anna_rang}"
    );
    // The decline was acknowledged and nothing else went to Anna's phone.
    assert_eq!(anna.received("ACK").len(), 1, "{}", anna.describe());
    assert!(anna.received("CANCEL").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cancelling_while_an_agent_rings_cancels_the_phone_and_frees_the_agent() {
    let node = Ccd::start(center("sequential", 20, 0));
    login(&node, &["anna"]).await;
    let anna = phone(&node, "201", Behaviour::NoAnswer);
    available(&node, "anna").await;
    // The caller hears music as early media (183) and gives up with CANCEL.
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller_give_up.xml", 2000)).await;
    assert_ok(&run, &node, &[&anna]);
    assert!(
        anna.wait_for("CANCEL", 1, Duration::from_secs(3)),
        "{}",
        anna.describe()
    );
    assert!(
        anna.wait_for("ACK", 1, Duration::from_secs(3)),
        "{}",
        anna.describe()
    );
    available(&node, "anna").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nobody_free_callers_wait_with_music_hear_their_position_and_may_give_up() {
    let node = Ccd::start(center("sequential", 5, 0));
    // Nobody is logged in: both callers wait (early media, never answered), then CANCEL.
    let first_caller = caller(&node, DIRECT_TO_QUEUE, "caller_give_up.xml", 4000);
    let second_port = free_media_port();
    let second = caller(&node, DIRECT_TO_QUEUE, "caller_give_up.xml", 3000).media_port(second_port);
    let one = tokio::spawn(run(first_caller));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let capture = Capture::start(&format!("udp and dst port {second_port}"));
    let two = run(second).await;
    let packets = capture.stop();
    let one = one.await.unwrap();
    assert_ok(&one, &node, &[]);
    assert_ok(&two, &node, &[]);
    let log = node.log_text();
    assert!(log.contains("position=2"), "{log}");
    assert!(log.contains("announcing the position in line"), "{log}");
    // Never silence: about 50 packets a second of announcement and music for 3 s.
    assert!(
        packets.len() > 120,
        "{} packets to the second caller",
        packets.len()
    );
    // Both left the queue when they cancelled.
    let mut queues = QueuesClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let mut waiting = u32::MAX;
    for _ in 0..30 {
        waiting = queues
            .list_queues(queues_pb::ListQueuesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .queues[0]
            .waiting_calls;
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting, 0, "{}", node.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_answer_before_queue_the_caller_is_answered_before_anyone_takes_the_call() {
    let config = center("sequential", 5, 0);
    let extra = config.extra.replace(
        "mobile_forward_seconds = 2",
        "mobile_forward_seconds = 2\nanswer_before_queue = true",
    );
    let node = Ccd::start(NodeConfig { extra, ..config });
    // Nobody is logged in, yet the caller is answered (200), waits 1.5 s and hangs up.
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 1500)).await;
    assert_ok(&run, &node, &[]);
    assert!(!run.messages.contains("SIP/2.0 183"), "{}", run.messages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrap_up_keeps_the_next_call_from_the_agent_until_it_ends() {
    let node = Ccd::start(center("sequential", 10, 3));
    login(&node, &["anna"]).await;
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    available(&node, "anna").await;
    let one = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 1000)).await;
    assert_ok(&one, &node, &[&anna]);
    // The second caller waits (wrap-up) and talks a little once connected.
    let two = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 5000)).await;
    assert_ok(&two, &node, &[&anna]);
    let log = anna.log();
    let first_bye = first(&log, "BYE");
    let second_invite = log
        .iter()
        .filter(|m| m.received && m.is_request("INVITE"))
        .nth(1)
        .unwrap_or_else(|| panic!("no second INVITE\n{}", describe(&two, &node, &[&anna])))
        .at;
    assert!(
        second_invite - first_bye >= 2.7,
        "offered again {:.2} s after the first call ended (wrap-up 3 s)",
        second_invite - first_bye
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_in_two_departments_is_never_offered_two_calls_at_once() {
    let config = NodeConfig::default().toml(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "ring-all"
members = ["anna"]
ring_seconds = 2

[[departments]]
id = "support"
name = "Support"
extension = "700"
strategy = "ring-all"
members = ["anna"]
ring_seconds = 2

[[numbers]]
number = "48221000001"
route = { department = "sales" }

[[numbers]]
number = "48221000002"
route = { department = "support" }
"#,
    );
    let node = Ccd::start(config);
    login(&node, &["anna"]).await;
    let anna = phone(&node, "201", Behaviour::NoAnswer);
    available(&node, "anna").await;
    let sales = tokio::spawn(run(caller(
        &node,
        "48221000001",
        "caller_give_up.xml",
        5000,
    )));
    let support = run(caller(&node, "48221000002", "caller_give_up.xml", 5000)).await;
    let sales = sales.await.unwrap();
    assert_ok(&sales, &node, &[&anna]);
    assert_ok(&support, &node, &[&anna]);
    // Each INVITE to Anna's phone is cancelled before the next one arrives.
    let mut ringing: Option<String> = None;
    let mut offers = 0;
    for m in anna.log().into_iter().filter(|m| m.received) {
        if m.is_request("INVITE") {
            assert!(ringing.is_none(), "two calls at once\n{}", anna.describe());
            ringing = Some(m.call_id.clone());
            offers += 1;
        } else if m.is_request("CANCEL") && ringing.as_deref() == Some(m.call_id.as_str()) {
            ringing = None;
        }
    }
    assert!(
        offers >= 2,
        "both calls were offered in turn\n{}",
        anna.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_call_rings_the_employee_then_their_mobile_through_the_trunk() {
    let mobile = Phone::unregistered("mobile", Behaviour::Answer { ring_ms: 300 });
    let config = NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"
mobile_forward_seconds = 2

[[trunks]]
id = "pstn"
target = "{}"

[[numbers]]
number = "48227654321"
route = {{ employee = "anna" }}
"#,
        mobile.addr()
    ));
    let mut config = config;
    config.employees[0].mobile = Some("+48600100200".into());
    let node = Ccd::start(config);
    let anna = phone(&node, "201", Behaviour::NoAnswer);
    let run = run(caller(&node, "48227654321", "caller.xml", 2000)).await;
    assert_ok(&run, &node, &[&anna, &mobile]);
    let anna_rang = first(&anna.log(), "INVITE");
    let anna_stopped = first(&anna.log(), "CANCEL");
    let forwarded = mobile
        .log()
        .into_iter()
        .find(|m| m.received && m.is_request("INVITE"))
        .unwrap_or_else(|| panic!("the mobile never rang\n{}", mobile.describe()));
    assert!(
        forwarded.start_line.contains("+48600100200@"),
        "{}",
        forwarded.start_line
    );
    assert!(
        (forwarded.at - anna_rang - 2.0).abs() < 0.7
            && (anna_stopped - anna_rang - 2.0).abs() < 0.7,
        "desk phone {anna_rang}..{anna_stopped}, mobile {}",
        forwarded.at
    );
    assert!(
        mobile.wait_for("BYE", 1, Duration::from_secs(3)),
        "{}",
        mobile.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cancelling_a_direct_call_cancels_the_ringing_phone() {
    let config = NodeConfig::default().toml(
        r#"
[[numbers]]
number = "48227654321"
route = { employee = "anna" }
"#,
    );
    let node = Ccd::start(config);
    let anna = phone(&node, "201", Behaviour::NoAnswer);
    let run = run(caller(&node, "48227654321", "caller_cancel.xml", 1000)).await;
    assert_ok(&run, &node, &[&anna]);
    assert!(
        anna.wait_for("CANCEL", 1, Duration::from_secs(3)),
        "{}",
        anna.describe()
    );
    assert!(
        anna.wait_for("ACK", 1, Duration::from_secs(3)),
        "{}",
        anna.describe()
    );
}

/// Places `talks.len()` calls one after the other (each talking `talks[i]` ms once
/// connected) to a department of the given strategy where anna and piotr both answer, and
/// says who took each. `first` registers its phone first (so it has been idle longest).
async fn who_takes_the_calls(strategy: &str, first: &str, talks: &[u64]) -> Vec<String> {
    let node = Ccd::start(center(strategy, 5, 0));
    login(&node, &["anna", "piotr"]).await;
    let answer = Behaviour::Answer { ring_ms: 200 };
    let (first_ext, second_ext) = if first == "anna" {
        ("201", "202")
    } else {
        ("202", "201")
    };
    let early = phone(&node, first_ext, answer);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = phone(&node, second_ext, answer);
    for agent in ["anna", "piotr"] {
        available(&node, agent).await;
    }
    let phones = [&early, &late];
    let mut taken = Vec::new();
    for talk in talks {
        let before: Vec<usize> = phones.iter().map(|p| p.received("INVITE").len()).collect();
        let run = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", *talk)).await;
        assert!(
            run.all_calls_succeeded(),
            "{}",
            describe(&run, &node, &phones)
        );
        let rang: Vec<&Phone> = phones
            .iter()
            .zip(&before)
            .filter(|(p, n)| p.received("INVITE").len() > **n)
            .map(|(p, _)| *p)
            .collect();
        assert_eq!(
            rang.len(),
            1,
            "one phone per call\n{}",
            describe(&run, &node, &phones)
        );
        let extension = &rang[0].extension;
        taken.push(node.config().employee(extension).id.clone());
        for agent in ["anna", "piotr"] {
            available(&node, agent).await;
        }
    }
    taken
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longest_idle_offers_the_agent_waiting_longest() {
    let taken = who_takes_the_calls("longest-idle", "piotr", &[500, 500, 500]).await;
    assert_eq!(taken, ["piotr", "anna", "piotr"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_remembers_who_was_offered_last() {
    let taken = who_takes_the_calls("round-robin", "piotr", &[500, 500, 500]).await;
    assert_eq!(taken, ["anna", "piotr", "anna"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewest_calls_offers_the_agent_who_took_fewer() {
    let taken = who_takes_the_calls("fewest-calls", "anna", &[500, 500, 500]).await;
    assert_eq!(taken, ["anna", "piotr", "anna"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_talk_time_offers_the_agent_who_talked_least() {
    // Anna talks 3 s, Piotr 0.5 s: Piotr stays the one with less talk time.
    let taken = who_takes_the_calls("least-talk-time", "anna", &[3000, 500, 500]).await;
    assert_eq!(taken, ["anna", "piotr", "piotr"]);
}

async fn calls_api(node: &Ccd) -> CallsClient<Channel> {
    CallsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap()
}

/// Waits until exactly one call is in progress in `state`, and returns it.
async fn wait_call(node: &Ccd, state: calls_pb::CallState) -> calls_pb::Call {
    let mut client = calls_api(node).await;
    for _ in 0..100 {
        let calls = client
            .list_calls(calls_pb::ListCallsRequest {})
            .await
            .unwrap()
            .into_inner()
            .calls;
        if let [call] = calls.as_slice()
            && call.state == state as i32
        {
            return call.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no single call in {state:?}\n{}", node.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calls_api_lists_a_connected_call_and_hangs_it_up() {
    let (node, anna) = anna_alone(0, Behaviour::Answer { ring_ms: 200 }).await;
    let caller = tokio::spawn(run(caller(
        &node,
        DIRECT_TO_QUEUE,
        "caller_until_bye.xml",
        0,
    )));
    let call = wait_call(&node, calls_pb::CallState::Talking).await;
    assert_eq!(call.dialed, DIRECT_TO_QUEUE);
    assert_eq!(call.caller, "600100200");
    assert_eq!(call.department_id, "sales");
    assert_eq!(call.agent_id, "anna");
    assert!(call.connected_unix_ms >= call.started_unix_ms && call.started_unix_ms > 0);

    let mut client = calls_api(&node).await;
    client
        .hangup_call(calls_pb::HangupCallRequest {
            call_id: call.call_id.clone(),
        })
        .await
        .unwrap();
    let run = caller.await.unwrap();
    // The caller was hung up on (it waits for the BYE), and so was the agent.
    assert_ok(&run, &node, &[&anna]);
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(3)),
        "{}",
        anna.describe()
    );
    // Torn down (media released) moments later, then gone from the list.
    let mut gone = None;
    for _ in 0..30 {
        let r = client
            .get_call(calls_pb::GetCallRequest {
                call_id: call.call_id.clone(),
            })
            .await;
        if let Err(e) = r {
            gone = Some(e.code());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gone, Some(tonic::Code::NotFound), "{}", node.log_text());
    let unknown = client
        .transfer_call(calls_pb::TransferCallRequest {
            call_id: "nope".into(),
            target: "202".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert!(
        unknown.message().contains("call_id"),
        "{}",
        unknown.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_transfer_connects_the_caller_to_another_employee() {
    let node = Ccd::start(center("sequential", 5, 0));
    login(&node, &["anna"]).await;
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 500 });
    available(&node, "anna").await;
    let caller = tokio::spawn(run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 5000)));
    let call = wait_call(&node, calls_pb::CallState::Talking).await;
    assert_eq!(call.agent_id, "anna");
    let mut client = calls_api(&node).await;
    let bad = client
        .transfer_call(calls_pb::TransferCallRequest {
            call_id: call.call_id.clone(),
            target: "nowhere".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("target"), "{}", bad.message());
    // An outside number is never announced to (and here reaches nothing: no trunk); the
    // call stays Anna's.
    let outside = client
        .transfer_call(calls_pb::TransferCallRequest {
            call_id: call.call_id.clone(),
            target: "+48600100200".into(),
            announced: true,
        })
        .await
        .unwrap_err();
    assert_eq!(outside.code(), tonic::Code::InvalidArgument);
    assert!(
        outside.message().contains("target"),
        "{}",
        outside.message()
    );
    client
        .transfer_call(calls_pb::TransferCallRequest {
            call_id: call.call_id.clone(),
            target: "202".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Anna is hung up on at once; Piotr's phone rings and is connected.
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(2)),
        "{}",
        anna.describe()
    );
    let run = caller.await.unwrap();
    assert_ok(&run, &node, &[&anna, &piotr]);
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());
    assert!(
        piotr.wait_for("BYE", 1, Duration::from_secs(3)),
        "{}",
        piotr.describe()
    );
    available(&node, "anna").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_tells_a_call_from_start_to_end_and_resumes_from_a_sequence() {
    let node = Ccd::start(center("sequential", 5, 0));
    let mut events = EventsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let mut stream = events
        .watch_events(events_pb::WatchEventsRequest {
            from_sequence: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    login(&node, &["anna"]).await;
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    available(&node, "anna").await;
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 1000)).await;
    assert_ok(&run, &node, &[&anna]);

    use events_pb::event::Event as E;
    let mut seen = Vec::new();
    let mut last = 0;
    while !seen.iter().any(|e| matches!(e, E::CallEnded(_))) {
        let e = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        assert!(
            e.sequence > last,
            "sequences increase: {} after {last}",
            e.sequence
        );
        last = e.sequence;
        seen.push(e.event.unwrap());
    }
    let kinds: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            E::CallStarted(_) => Some("started"),
            E::CallQueued(q) if q.department_id == "sales" => Some("queued"),
            E::CallOffered(o) if o.agent_id == "anna" => Some("offered"),
            E::CallAnswered(a) if a.agent_id == "anna" => Some("answered"),
            E::CallEnded(_) => Some("ended"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["started", "queued", "offered", "answered", "ended"]);
    assert!(seen.iter().any(|e| matches!(e, E::AgentStateChanged(a) if a.agent_id == "anna" && a.state == pb::AgentState::OnCall as i32)));
    assert!(
        seen.iter()
            .any(|e| matches!(e, E::QueueChanged(q) if q.department_id == "sales"))
    );

    // A second watcher resumes from the third event and sees the same ones.
    let mut again = events
        .watch_events(events_pb::WatchEventsRequest {
            from_sequence: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let third = again.message().await.unwrap().unwrap();
    assert_eq!(third.sequence, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_department_and_number_created_through_the_api_take_calls_at_once() {
    use cc_proto::config::v1 as cfg;
    use cc_proto::config::v1::configuration_client::ConfigurationClient;
    let node = Ccd::start(NodeConfig::default());
    let mut config = ConfigurationClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    config
        .create_employee(cfg::CreateEmployeeRequest {
            employee: Some(cfg::Employee {
                id: "maria".into(),
                name: "Maria Wisniewska".into(),
                extension: "203".into(),
                sip_password: "maria-secret".into(),
                role: cfg::Role::User.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let department = config
        .create_department(cfg::CreateDepartmentRequest {
            department: Some(cfg::Department {
                id: "billing".into(),
                name: "Billing".into(),
                extension: "800".into(),
                strategy: cfg::Strategy::RingAll.into(),
                members: vec!["maria".into()],
                ring_seconds: Some(10),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    // Another admin's stale edit is refused, naming the etags.
    let stale = config
        .update_department(cfg::UpdateDepartmentRequest {
            department: Some(cfg::Department {
                etag: "r1".into(),
                ..department.clone()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), tonic::Code::Aborted, "{}", stale.message());
    config
        .create_number(cfg::CreateNumberRequest {
            number: Some(cfg::Number {
                number: "48229999999".into(),
                route: Some(cfg::number::Route::Department("billing".into())),
                ..Default::default()
            }),
        })
        .await
        .unwrap();

    // Maria's phone registers with the password given through the API; she logs in.
    let maria = Phone::register(
        node.addr(),
        &node.config().domain,
        "203",
        "maria-secret",
        Behaviour::Answer { ring_ms: 200 },
    );
    login(&node, &["maria"]).await;
    available(&node, "maria").await;
    let run = run(caller(&node, "48229999999", "caller.xml", 1500)).await;
    assert_ok(&run, &node, &[&maria]);
    assert!(
        maria.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        maria.describe()
    );
    assert_eq!(maria.received("BYE").len(), 1, "{}", maria.describe());
}

/// The events of the stream up to the first CallEnded (within 10 s each).
async fn events_until_ended(
    stream: &mut tonic::Streaming<events_pb::Event>,
) -> Vec<events_pb::event::Event> {
    use events_pb::event::Event as E;
    let mut seen = Vec::new();
    while !seen.iter().any(|e| matches!(e, E::CallEnded(_))) {
        let e = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream goes on");
        seen.extend(e.event);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_hold_leaves_the_caller_with_the_on_hold_prompt_and_music_until_resumed() {
    let (node, anna) = anna_alone(
        0,
        Behaviour::AnswerThenHold {
            ring_ms: 200,
            hold_ms: 2000,
        },
    )
    .await;
    let mut events = watch_events(&node).await;
    let caller_port = free_media_port();
    // The caller's audio, and Anna's SIP to tell when she held and resumed.
    let capture = Capture::start(&format!(
        "udp and (dst port {caller_port} or src port {})",
        anna.sip_port
    ));
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 7000).media_port(caller_port)).await;
    let packets = capture.stop_fields(&PORTS_AND_METHOD);
    assert_ok(&run, &node, &[&anna]);
    // Both re-INVITEs were answered by the media node with the matching direction.
    let answers: Vec<String> = anna
        .log()
        .into_iter()
        .filter(|m| {
            m.received && m.start_line.starts_with("SIP/2.0 200") && m.text.contains("INVITE")
        })
        .map(|m| m.text)
        .collect();
    assert_eq!(answers.len(), 2, "{}", anna.describe());
    assert!(
        answers[0].contains("a=recvonly"),
        "hold answered with\n{}",
        answers[0]
    );
    assert!(
        answers[1].contains("a=sendrecv"),
        "resume answered with\n{}",
        answers[1]
    );

    // Between Anna's hold and her resume (2 s) the caller heard the on-hold prompt and
    // music, 50 packets a second - not silence, as Anna's phone sent nothing on hold.
    let invites = requests_from(&packets, anna.sip_port, "INVITE");
    assert!(invites.len() >= 2, "Anna's re-INVITEs: {invites:?}");
    let during = sent_to(
        &packets[invites[0]..invites[invites.len() - 1]],
        caller_port,
    );
    assert!(during >= 60, "{during} packets to the caller on hold");

    // Held by the callee, then resumed, between the answer and the end.
    use events_pb::event::Event as E;
    let seen = events_until_ended(&mut events).await;
    let at = |f: &dyn Fn(&E) -> bool| seen.iter().position(f);
    let answered = at(&|e| matches!(e, E::CallAnswered(_))).expect("answered");
    let on_hold = at(&|e| matches!(e, E::CallHeld(h) if h.by() == events_pb::HoldBy::Callee))
        .unwrap_or_else(|| panic!("no CallHeld by the callee in {seen:?}"));
    let back = at(&|e| matches!(e, E::CallResumed(_))).expect("resumed");
    let ended = at(&|e| matches!(e, E::CallEnded(_))).expect("ended");
    assert!(
        answered < on_hold && on_hold < back && back < ended,
        "{seen:?}"
    );
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        anna.describe()
    );
    assert_eq!(anna.received("BYE").len(), 1, "{}", anna.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_held_through_the_api_plays_music_to_the_caller_until_resumed() {
    let (node, anna) = anna_alone(0, Behaviour::Answer { ring_ms: 200 }).await;
    let mut events = watch_events(&node).await;
    let mut calls = CallsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let caller = tokio::spawn(run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 5000)));
    // Connected to Anna: hold it, twice (the second changes nothing), then resume.
    let call = loop {
        let list = calls
            .list_calls(calls_pb::ListCallsRequest {})
            .await
            .unwrap()
            .into_inner()
            .calls;
        if let Some(c) = list
            .into_iter()
            .find(|c| c.state() == calls_pb::CallState::Talking)
        {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(call.held_since_unix_ms, 0);
    for _ in 0..2 {
        calls
            .hold_call(calls_pb::HoldCallRequest {
                call_id: call.call_id.clone(),
            })
            .await
            .unwrap();
    }
    let held = calls
        .get_call(calls_pb::GetCallRequest {
            call_id: call.call_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        held.held_since_unix_ms >= call.connected_unix_ms,
        "{held:?}"
    );
    calls
        .resume_call(calls_pb::ResumeCallRequest {
            call_id: call.call_id.clone(),
        })
        .await
        .unwrap();
    let back = calls
        .get_call(calls_pb::GetCallRequest {
            call_id: call.call_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.held_since_unix_ms, 0, "{back:?}");
    // An unknown call, and none given, are refused naming the field.
    let unknown = calls
        .hold_call(calls_pb::HoldCallRequest {
            call_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert!(unknown.message().contains("call_id"), "{unknown:?}");
    let run = caller.await.unwrap();
    assert_ok(&run, &node, &[&anna]);

    use events_pb::event::Event as E;
    let seen = events_until_ended(&mut events).await;
    let held: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e, E::CallHeld(h) if h.by() == events_pb::HoldBy::Api))
        .collect();
    assert_eq!(held.len(), 1, "held once: {seen:?}");
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, E::CallResumed(_)))
            .count(),
        1,
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_nobody_takes_within_max_wait_is_told_so_and_leaves_the_queue() {
    let config = center("sequential", 5, 0);
    let extra = config.extra.replace(
        "mobile_forward_seconds = 2",
        "mobile_forward_seconds = 2\nmax_wait_seconds = 2",
    );
    let node = Ccd::start(NodeConfig { extra, ..config });
    let run = run(caller(&node, DIRECT_TO_QUEUE, "caller_wait.xml", 0)).await;
    assert_ok(&run, &node, &[]);
    assert!(
        node.log_text().contains("waited the longest allowed"),
        "{}",
        node.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_caller_is_offered_to_the_agent_they_spoke_to_last() {
    // Sequential: Anna is rung first, unless the caller spoke to Piotr recently.
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
ring_seconds = 5
last_agent_minutes = 60
last_agent_ring_seconds = 5

[[numbers]]
number = "{DIRECT_TO_QUEUE}"
route = {{ department = "sales" }}
"#
    )));
    let answer = Behaviour::Answer { ring_ms: 200 };
    let anna = phone(&node, "201", answer);
    let piotr = phone(&node, "202", answer);
    let phones = [&anna, &piotr];
    // The first call: only Piotr works, so he takes it.
    login(&node, &["piotr"]).await;
    available(&node, "piotr").await;
    let first = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 300)).await;
    assert_ok(&first, &node, &phones);
    assert_eq!(piotr.received("INVITE").len(), 1);
    // Anna starts work; the same caller calls again and gets Piotr, not Anna.
    login(&node, &["anna"]).await;
    available(&node, "anna").await;
    available(&node, "piotr").await;
    let second = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 300)).await;
    assert_ok(&second, &node, &phones);
    assert_eq!(
        (
            anna.received("INVITE").len(),
            piotr.received("INVITE").len()
        ),
        (0, 2),
        "the returning caller went to Piotr alone\n{}",
        describe(&second, &node, &phones)
    );
}

/// The sales line with office hours (weekdays 08:00-17:00 in Warsaw), closed otherwise,
/// on a node whose routing clock is fixed at `now` (RFC 3339).
fn office_hours_at(now: &str) -> NodeConfig {
    NodeConfig::default()
        .env("CCD_FAKE_NOW", now)
        .toml(&format!(
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

[[schedules]]
id = "office"
[schedules.hours]
mon = ["08:00-17:00"]
tue = ["08:00-17:00"]
wed = ["08:00-17:00"]
thu = ["08:00-17:00"]
fri = ["08:00-17:00"]

[[numbers]]
number = "{DIRECT_TO_QUEUE}"
route = {{ department = "sales" }}
schedule = "office"
after_hours = {{ hangup = "closed" }}
"#
        ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_takes_its_route_in_office_hours_and_its_after_hours_route_outside() {
    // Wednesday 25 November 2026, 10:00 in Warsaw (UTC+1): open, the agent answers.
    let node = Ccd::start(office_hours_at("2026-11-25T09:00:00Z"));
    login(&node, &["anna"]).await;
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    available(&node, "anna").await;
    let open = run(caller(&node, DIRECT_TO_QUEUE, "caller.xml", 300)).await;
    assert_ok(&open, &node, &[&anna]);
    assert_eq!(anna.received("INVITE").len(), 1);
    drop(node);

    // The same evening at 20:00: closed, the caller hears the closing prompt and nobody rings.
    let node = Ccd::start(office_hours_at("2026-11-25T19:00:00Z"));
    login(&node, &["anna"]).await;
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    available(&node, "anna").await;
    let closed = run(caller(&node, DIRECT_TO_QUEUE, "caller_closed.xml", 0)).await;
    assert_ok(&closed, &node, &[&anna]);
    assert!(
        anna.received("INVITE").is_empty(),
        "{}",
        describe(&closed, &node, &[&anna])
    );
    assert!(
        node.log_text().contains("said goodbye"),
        "{}",
        node.log_text()
    );
}
