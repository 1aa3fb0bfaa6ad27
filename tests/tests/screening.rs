//! Who calls, end to end through a real `ccd all` with SIPp callers and phones (R-30, R-32,
//! R-33): the director's screening policy turns a never-connect caller away with a neutral
//! prompt (her phone never rings) and puts a VIP through during do-not-disturb; a spam
//! caller to the sales line hears the polite prompt instead of reaching an agent; a call on
//! the director's line overtakes an ordinary caller who waited longer; an agent's announced
//! transfer presents the caller to the colleague, who accepts before being connected, or
//! to a department's agents in turn until one accepts.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_proto::agents::v1 as agents_pb;
use cc_proto::queues::v1 as queues_pb;
use cc_proto::queues::v1::queues_client::QueuesClient;
use cc_tests::ccd::{Ccd, Employee, NodeConfig};
use cc_tests::org::{
    agents, describe, first_call_story, log_in_available, phone, run, watch_events,
};
use cc_tests::phones::{Behaviour, Logged};
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;

/// Anna's direct line (she is the director), the sales line (Piotr), and the director's
/// line into the sales queue.
const ANNA: &str = "48221110000";
const SALES: &str = "48220000001";
const DIRECTORS_LINE: &str = "48220000009";

const VIP: &str = "+48600000001";
const SPAM: &str = "+48800555000";
const ORDINARY: &str = "+48900000002";

/// Anna never to be disturbed (a do-not-disturb schedule open around the clock) except by
/// VIPs, spam never put through; spam on the sales line hears "refused".
fn organisation() -> NodeConfig {
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
members = ["piotr"]
ring_seconds = 10

[[schedules]]
id = "always"
[schedules.hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]

[[caller_lists]]
id = "vip"
entries = ["{VIP}"]

[[caller_lists]]
id = "spam"
entries = ["+48800*"]

[[numbers]]
number = "{ANNA}"
route = {{ employee = "anna" }}

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}
[[numbers.rules]]
callers = "spam"
goto = {{ hangup = "refused" }}

[[numbers]]
number = "{DIRECTORS_LINE}"
route = {{ department = "sales" }}
priority = 9

[[screening]]
employee = "anna"
dnd = "always"
vip = ["vip"]
never = ["spam"]
"#
    ))
}

/// A caller from `from` dialling `number` with the given scenario.
fn caller(node: &Ccd, number: &str, from: &str, scenario: &str, talk_ms: u64) -> Sipp {
    Sipp::new(scenario, node.addr(), Transport::Udp)
        .service(number)
        .caller(from)
        .with_pcaps()
        .arg("-d")
        .arg(&talk_ms.to_string())
        .timeout(Duration::from_secs(40))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_connect_caller_hears_the_neutral_prompt_and_a_vip_reaches_the_director_in_dnd() {
    let node = Ccd::start(organisation());
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });

    // Spam: the neutral prompt as early media, then 480; Anna's phone never rings.
    let turned_away = run(caller(&node, ANNA, SPAM, "caller_closed.xml", 0)).await;
    assert!(
        turned_away.all_calls_succeeded(),
        "{}",
        describe(&turned_away, &node, &[&anna])
    );
    assert!(anna.received("INVITE").is_empty(), "{}", anna.describe());
    let log = node.log_text();
    assert!(log.contains("turned away by screening"), "{log}");
    assert!(log.contains("rejected by screening"), "{log}");

    // An ordinary caller is turned away too: Anna does not want to be disturbed.
    let ordinary = run(caller(&node, ANNA, ORDINARY, "caller_closed.xml", 0)).await;
    assert!(
        ordinary.all_calls_succeeded(),
        "{}",
        describe(&ordinary, &node, &[&anna])
    );
    assert!(anna.received("INVITE").is_empty(), "{}", anna.describe());

    // A VIP is put through although she is in do-not-disturb.
    let vip = run(caller(&node, ANNA, VIP, "caller.xml", 300)).await;
    assert!(
        vip.all_calls_succeeded(),
        "{}",
        describe(&vip, &node, &[&anna])
    );
    let invites = anna.received("INVITE");
    assert_eq!(invites.len(), 1, "{}", anna.describe());
    assert!(
        invites[0].text.contains(VIP.trim_start_matches('+')),
        "{}",
        invites[0].text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spam_caller_to_the_sales_line_hears_the_polite_prompt_and_no_agent_rings() {
    let node = Ccd::start(organisation());
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 200 });
    log_in_available(&node, &["piotr"]).await;
    let spam = run(caller(&node, SALES, SPAM, "caller_closed.xml", 0)).await;
    assert!(
        spam.all_calls_succeeded(),
        "{}",
        describe(&spam, &node, &[&piotr])
    );
    assert!(piotr.received("INVITE").is_empty(), "{}", piotr.describe());
    // Anyone else on the same line reaches Piotr.
    let customer = run(caller(&node, SALES, ORDINARY, "caller.xml", 300)).await;
    assert!(
        customer.all_calls_succeeded(),
        "{}",
        describe(&customer, &node, &[&piotr])
    );
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());
}

/// Waits (at most 10 s) until `n` calls wait in the sales queue.
async fn waiting(node: &Ccd, n: u32) {
    let mut queues = QueuesClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    for _ in 0..100 {
        let now = queues
            .list_queues(queues_pb::ListQueuesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .queues
            .iter()
            .map(|q| q.waiting_calls)
            .sum::<u32>();
        if now == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{n} calls never waited\n{}", node.log_text());
}

/// The caller number an agent's INVITE presents (the From user).
fn presented(invite: &Logged) -> String {
    let from = invite
        .text
        .lines()
        .find(|l| l.starts_with("From:"))
        .unwrap_or_default();
    from.split("sip:")
        .nth(1)
        .and_then(|rest| rest.split('@').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_the_directors_line_overtakes_a_caller_who_waited_longer() {
    let node = Ccd::start(organisation());
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 200 });
    // Nobody works yet: an ordinary caller waits first, then one on the director's line.
    let first = tokio::spawn(run(caller(&node, SALES, ORDINARY, "caller.xml", 500)));
    waiting(&node, 1).await;
    let second = tokio::spawn(run(caller(
        &node,
        DIRECTORS_LINE,
        "+48900000003",
        "caller.xml",
        500,
    )));
    waiting(&node, 2).await;
    log_in_available(&node, &["piotr"]).await;
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert!(
        first.all_calls_succeeded() && second.all_calls_succeeded(),
        "{}\n{}",
        describe(&first, &node, &[&piotr]),
        second.describe()
    );
    let order: Vec<String> = piotr.received("INVITE").iter().map(presented).collect();
    assert_eq!(
        order,
        ["+48900000003", "+48900000002"],
        "the director's line first\n{}",
        piotr.describe()
    );
}

/// Anna announces her callers (R-31): they say who they are, she accepts or declines.
fn announcing() -> NodeConfig {
    NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"
mobile_forward_seconds = 0

[[numbers]]
number = "{ANNA}"
route = {{ employee = "anna" }}

[[screening]]
employee = "anna"
announce = true
"#
    ))
}

/// A caller to Anna who says who they are and presses # after `-d` (`scenario`:
/// `caller_announced.xml` hangs up on hold, `caller_message.xml` waits for the BYE).
fn announcing_caller(node: &Ccd, scenario: &str) -> Sipp {
    Sipp::new(scenario, node.addr(), Transport::Udp)
        .service(ANNA)
        .caller(ORDINARY)
        .with_pcaps()
        .file(
            "dtmf.pcap",
            std::path::Path::new("/usr/share/sip-tester/dtmf_2833_pound.pcap"),
        )
        .arg("-d")
        .arg("7500")
        .key("hold_ms", "15000")
        .timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_call_the_director_accepts_is_connected() {
    let node = Ccd::start(announcing());
    // Anna answers, hears who calls and presses 1 three seconds in.
    let anna = phone(
        &node,
        "201",
        Behaviour::AnswerThenKey {
            ring_ms: 200,
            key: '1',
            key_ms: 3000,
        },
    );
    let call = run(announcing_caller(&node, "caller_announced.xml")).await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &[&anna])
    );
    let log = node.log_text();
    assert!(log.contains("presenting the caller to the callee"), "{log}");
    assert!(
        !log.contains("cannot play the announcement"),
        "the callee heard the recording: {log}"
    );
    assert!(
        log.contains("the callee accepted the announced call"),
        "{log}"
    );
    assert!(log.contains("answered"), "{log}");
    // Connected: the caller's hang-up reached Anna as a BYE.
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        anna.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_call_the_director_declines_is_never_connected_and_ends_politely() {
    let node = Ccd::start(announcing());
    let anna = phone(
        &node,
        "201",
        Behaviour::AnswerThenKey {
            ring_ms: 200,
            key: '2',
            key_ms: 3000,
        },
    );
    // The caller, on hold, is never told "connecting": they hear the neutral prompt and
    // the call ends (ccd's BYE).
    let call = run(announcing_caller(&node, "caller_message.xml")).await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &[&anna])
    );
    let log = node.log_text();
    assert!(
        log.contains("the callee declined the announced call"),
        "{log}"
    );
    assert!(!log.contains("the callee accepted"), "{log}");
    assert!(log.contains("rejected by screening"), "{log}");
    // Anna's leg was hung up by ccd.
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        anna.describe()
    );
    assert_eq!(anna.received("BYE").len(), 1, "{}", anna.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_director_accepts_an_announced_call_through_the_api() {
    use cc_proto::calls::v1 as calls_pb;
    use cc_proto::calls::v1::calls_client::CallsClient;
    let node = Ccd::start(announcing());
    // Anna answers and presses nothing: the API decides.
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    let caller = tokio::spawn(run(announcing_caller(&node, "caller_announced.xml")));
    let mut calls = CallsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let mut call_id = String::new();
    for _ in 0..50 {
        let list = calls
            .list_calls(calls_pb::ListCallsRequest {})
            .await
            .unwrap()
            .into_inner();
        if let Some(c) = list.calls.first() {
            call_id = c.call_id.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!call_id.is_empty(), "{}", node.log_text());
    // Not presented yet: the caller is still saying who they are.
    let early = calls
        .answer_announcement(calls_pb::AnswerAnnouncementRequest {
            call_id: call_id.clone(),
            accept: true,
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), tonic::Code::FailedPrecondition, "{early:?}");
    // Once Anna hears the announcement, she accepts through the API.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !node
        .log_text()
        .contains("presenting the caller to the callee")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never presented\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    calls
        .answer_announcement(calls_pb::AnswerAnnouncementRequest {
            call_id,
            accept: true,
        })
        .await
        .unwrap();
    let call = caller.await.unwrap();
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &[&anna])
    );
    assert!(
        node.log_text()
            .contains("the callee accepted the announced call"),
        "{}",
        node.log_text()
    );
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(5)),
        "connected: the caller's hang-up reached Anna\n{}",
        anna.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_hanging_up_during_the_announcement_hangs_up_the_callee_too() {
    let node = Ccd::start(announcing());
    // Anna answers and listens; the caller gives up 3 s into the announcement.
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    let caller = Sipp::new("caller_announced.xml", node.addr(), Transport::Udp)
        .service(ANNA)
        .caller(ORDINARY)
        .with_pcaps()
        .file(
            "dtmf.pcap",
            std::path::Path::new("/usr/share/sip-tester/dtmf_2833_pound.pcap"),
        )
        .arg("-d")
        .arg("7500")
        .key("hold_ms", "3000")
        .timeout(Duration::from_secs(60));
    let call = run(caller).await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &[&anna])
    );
    assert!(
        node.log_text()
            .contains("presenting the caller to the callee"),
        "{}",
        node.log_text()
    );
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(5)),
        "the callee's leg is hung up with the call\n{}",
        anna.describe()
    );
    assert!(
        !node.log_text().contains("the callee declined"),
        "{}",
        node.log_text()
    );
}

/// Sales (Anna) takes the calls of the sales line; Piotr is in no department.
fn sales_and_piotr() -> NodeConfig {
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
"#
    ))
}

/// A caller to the sales line who, once transferred with an announcement, says who they
/// are 10 s after the answer, presses # at 17.5 s and hangs up `hold_ms` later.
fn transferred_caller(node: &Ccd, hold_ms: u64) -> Sipp {
    Sipp::new("caller_announced.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .caller(ORDINARY)
        .with_pcaps()
        .file(
            "dtmf.pcap",
            std::path::Path::new("/usr/share/sip-tester/dtmf_2833_pound.pcap"),
        )
        .arg("-d")
        .arg("7500")
        .key("hold_ms", &hold_ms.to_string())
        .timeout(Duration::from_secs(60))
}

/// Anna's call with the caller, once she talks, transferred with an announcement to
/// `target`.
async fn transfer_announced_when_talking(node: &Ccd, target: &str) {
    use cc_proto::calls::v1 as calls_pb;
    use cc_proto::calls::v1::calls_client::CallsClient;
    let mut calls = CallsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let call = cc_tests::org::talking_call(node).await;
    assert_eq!(call.agent_id, "anna");
    calls
        .transfer_call(calls_pb::TransferCallRequest {
            call_id: call.call_id.clone(),
            target: target.into(),
            announced: true,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_announced_transfer_connects_the_caller_once_the_colleague_accepts() {
    let node = Ccd::start(sales_and_piotr());
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    // Piotr answers, hears who calls and presses 1 three seconds in.
    let piotr = phone(
        &node,
        "202",
        Behaviour::AnswerThenKey {
            ring_ms: 200,
            key: '1',
            key_ms: 3000,
        },
    );
    log_in_available(&node, &["anna"]).await;
    let caller = tokio::spawn(run(transferred_caller(&node, 15_000)));
    transfer_announced_when_talking(&node, "202").await;
    let run = caller.await.unwrap();
    assert!(
        run.all_calls_succeeded(),
        "{}",
        describe(&run, &node, &[&anna, &piotr])
    );
    let log = node.log_text();
    assert!(log.contains("asking the caller who they are"), "{log}");
    assert!(log.contains("presenting the caller to the callee"), "{log}");
    assert!(
        log.contains("the callee accepted the announced call"),
        "{log}"
    );
    // Anna was hung up on at the transfer; Piotr, rung once, talked to the caller until
    // the caller hung up.
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        anna.describe()
    );
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());
    assert!(
        piotr.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        piotr.describe()
    );
}

/// Sales (Anna) takes the sales line; support (700) rings Piotr, then Marek.
fn sales_and_support() -> NodeConfig {
    let mut config = sales_and_piotr();
    config.employees.push(Employee::new(
        "marek",
        "Marek Lis",
        "203",
        "marek-secret",
        "user",
    ));
    config.extra.push_str(
        r#"
[[departments]]
id = "support"
name = "Support"
extension = "700"
strategy = "sequential"
members = ["piotr", "marek"]
ring_seconds = 10
wrap_up_seconds = 0
"#,
    );
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_transfer_to_a_department_goes_to_the_next_agent_when_one_declines() {
    let node = Ccd::start(sales_and_support());
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    // Support's first agent hears who calls and declines (2); the next one accepts (1).
    let piotr = phone(
        &node,
        "202",
        Behaviour::AnswerThenKey {
            ring_ms: 200,
            key: '2',
            key_ms: 3000,
        },
    );
    let marek = phone(
        &node,
        "203",
        Behaviour::AnswerThenKey {
            ring_ms: 200,
            key: '1',
            key_ms: 3000,
        },
    );
    log_in_available(&node, &["anna", "piotr", "marek"]).await;
    let mut events = watch_events(&node).await;
    let caller = tokio::spawn(run(transferred_caller(&node, 20_000)));
    transfer_announced_when_talking(&node, "700").await;
    let story = first_call_story(&mut events).await;
    let run = caller.await.unwrap();
    assert!(
        run.all_calls_succeeded(),
        "{}",
        describe(&run, &node, &[&anna, &piotr, &marek])
    );
    assert_eq!(
        story,
        [
            "started",
            "queued sales",
            "answered anna",
            "transferred 700",
            "queued support",
            "answered marek",
            "ended"
        ],
        "{}",
        node.log_text()
    );
    let log = node.log_text();
    assert!(log.contains("asking the caller who they are"), "{log}");
    assert!(
        log.contains("the callee declined the announced call"),
        "{log}"
    );
    assert!(
        log.contains("the callee accepted the announced call"),
        "{log}"
    );
    // Piotr heard who called, declined and was hung up on; Marek, rung once, talked to
    // the caller until the caller hung up.
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());
    assert!(
        piotr.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        piotr.describe()
    );
    assert_eq!(marek.received("INVITE").len(), 1, "{}", marek.describe());
    assert!(
        marek.wait_for("BYE", 1, Duration::from_secs(5)),
        "{}",
        marek.describe()
    );
    // Declining took no call: Piotr is offered calls again.
    let mut agents = agents(node.api_addr()).await;
    let piotr_now = agents
        .get_agent(agents_pb::GetAgentRequest {
            agent_id: "piotr".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(piotr_now.state(), agents_pb::AgentState::Available);
}
