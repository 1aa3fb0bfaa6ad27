//! Promised callbacks are placed (R-42), end to end through a real `ccd all`: a callback
//! scheduled through the Callbacks API is dialled by the scheduler through a sip-edge
//! node once an agent of the department is at work. The customer is a SIPp UAS behind the
//! organisation's trunk; the agent is a registered SIPp phone.
//!
//! - a caller who chooses a callback while waiting keeps their place: the agent takes the
//!   caller who was ahead, then the callback, then the caller who came after;
//! - agent first: the agent's phone rings, the agent hears whom they call back, then the
//!   customer's phone rings showing the department's number, and the two are connected;
//! - customer first: the customer is rung and greeted first, then queued first in line;
//! - a customer who does not answer is tried again with a growing back-off and reached on
//!   the third attempt; a busy one is given up on after the last attempt.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cc_proto::callbacks::v1 as pb;
use cc_proto::callbacks::v1::callbacks_client::CallbacksClient;
use cc_proto::queues::v1 as queues_pb;
use cc_proto::queues::v1::queues_client::QueuesClient;
use cc_tests::TempDir;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::run;
use cc_tests::org::{agents, log_in_at_work, phone};
use cc_tests::phones::{Behaviour, Logged, Phone};
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;
use tonic::transport::Channel;

const SALES: &str = "48221230000";
const CUSTOMER: &str = "+48600700800";

/// Sales (Anna alone) reached at [`SALES`], calling back as `mode`; the trunk leads to
/// `customer`; a failed attempt is tried again after 1 s, then 2 s, ...; the customer's
/// phone rings 5 s.
fn organisation(mode: &str, customer: &Phone, max_attempts: u32) -> NodeConfig {
    organisation_via(mode, customer.addr(), max_attempts)
}

/// [`organisation`] with the trunk at `trunk`.
fn organisation_via(mode: &str, trunk: std::net::SocketAddr, max_attempts: u32) -> NodeConfig {
    NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[callbacks]
max_attempts = {max_attempts}
first_retry_seconds = 1
retry_factor = 2.0
ring_seconds = 5

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna"]
callback_mode = "{mode}"

[[trunks]]
id = "pstn"
target = "{}"

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}
"#,
        trunk
    ))
}

async fn callbacks(node: &Ccd) -> CallbacksClient<Channel> {
    let url = format!("http://{}", node.api_addr());
    for _ in 0..50 {
        if let Ok(c) = CallbacksClient::connect(url.clone()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot connect to the Callbacks API at {url}");
}

/// Schedules a callback to `number` for sales, due now; its id.
async fn schedule_for_sales(node: &Ccd, number: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut client = callbacks(node).await;
    let mut last = None;
    // The scheduler takes requests once it has been elected (a moment after start).
    for _ in 0..100 {
        let request = pb::ScheduleCallbackRequest {
            number: number.into(),
            name: "Jan Nowak".into(),
            reason: "invoice".into(),
            target: Some(pb::Target {
                target: Some(pb::target::Target::DepartmentId("sales".into())),
            }),
            source: pb::Source::Api.into(),
            latest_unix_ms: now + 3_600_000,
            time_zone: "Europe/Warsaw".into(),
            ..Default::default()
        };
        match client.schedule_callback(request).await {
            Ok(r) => return r.into_inner().callback.unwrap().callback_id,
            Err(e) if e.code() == tonic::Code::Unavailable => last = Some(e),
            Err(e) => panic!("the callback was refused: {e}\n{}", node.log_text()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no scheduler took the callback: {last:?}\n{}",
        node.log_text()
    );
}

/// Waits (at most `within`) until the callback is in `state`; the callback then.
async fn until_state(
    node: &Ccd,
    id: &str,
    state: pb::CallbackState,
    within: Duration,
) -> pb::Callback {
    let mut client = callbacks(node).await;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let c = client
            .get_callback(pb::GetCallbackRequest {
                callback_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        if c.state() == state {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the callback is {:?}, not {state:?}, after {within:?}: {c:#?}\n{}",
            c.state(),
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn invites(phone: &Phone) -> Vec<Logged> {
    phone
        .log()
        .into_iter()
        .filter(|m| m.received && m.is_request("INVITE"))
        .collect()
}

fn first_invite_at(phone: &Phone) -> f64 {
    invites(phone)
        .first()
        .unwrap_or_else(|| panic!("no INVITE\n{}", phone.describe()))
        .at
}

/// The header line `name:` of a logged message.
fn header<'a>(m: &'a Logged, name: &str) -> &'a str {
    m.text
        .lines()
        .find(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .unwrap_or_else(|| panic!("no {name} header in\n{}", m.text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_first_callback_rings_the_agent_then_the_customer_and_connects_them() {
    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThenHangUp {
            ring_ms: 300,
            talk_ms: 1500,
        },
    );
    let node = Ccd::start(organisation("agent_first", &customer, 3));
    let id = schedule_for_sales(&node, CUSTOMER).await;
    // Nobody of sales works yet: the callback waits.
    let pending = until_state(
        &node,
        &id,
        pb::CallbackState::Pending,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(pending.attempts, 0);
    assert!(invites(&customer).is_empty(), "{}", customer.describe());

    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 300 });
    log_in_at_work(&node, &["anna"]).await;
    let reached = until_state(
        &node,
        &id,
        pb::CallbackState::Reached,
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(reached.attempts, 1, "{reached:#?}");

    // Anna was rung first and heard the brief; the customer was rung after, through the
    // trunk, at their number, seeing the number that reaches sales (R-71).
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(20)),
        "the customer's hang-up ends the agent's call too\n{}",
        anna.describe()
    );
    let agent_rung = first_invite_at(&anna);
    let customer_rung = first_invite_at(&customer);
    assert!(
        agent_rung < customer_rung,
        "the agent is rung first ({agent_rung} vs {customer_rung})"
    );
    let invite = &invites(&customer)[0];
    assert!(
        invite.start_line.contains(CUSTOMER),
        "{}",
        invite.start_line
    );
    assert!(
        header(invite, "From").contains(SALES),
        "{}",
        header(invite, "From")
    );
    assert_eq!(invites(&customer).len(), 1, "{}", customer.describe());
    assert!(node.wait_for_log(
        "the agent hears whom they call back",
        Duration::from_secs(1)
    ));
    assert!(node.wait_for_log(
        "callback: the customer is connected to the agent",
        Duration::from_secs(1)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_first_callback_greets_the_customer_then_queues_them_first_in_line() {
    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThenHangUp {
            ring_ms: 300,
            talk_ms: 8000,
        },
    );
    let node = Ccd::start(organisation("customer_first", &customer, 3));
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 300 });
    log_in_at_work(&node, &["anna"]).await;
    let id = schedule_for_sales(&node, CUSTOMER).await;
    let reached = until_state(
        &node,
        &id,
        pb::CallbackState::Reached,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(reached.attempts, 1, "{reached:#?}");
    assert!(
        anna.wait_for("INVITE", 1, Duration::from_secs(20)),
        "the agent is rung once the customer is greeted\n{}",
        anna.describe()
    );
    assert!(
        first_invite_at(&customer) < first_invite_at(&anna),
        "the customer is rung first\n{}\n{}",
        customer.describe(),
        anna.describe()
    );
    assert!(node.wait_for_log(
        "callback: the customer answered; greeting them",
        Duration::from_secs(1)
    ));
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(20)),
        "{}",
        anna.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_customer_is_tried_again_after_the_back_off_then_given_up_on() {
    let customer = Phone::unregistered("customer", Behaviour::Busy);
    let node = Ccd::start(organisation("agent_first", &customer, 2));
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 300 });
    log_in_at_work(&node, &["anna"]).await;
    let id = schedule_for_sales(&node, CUSTOMER).await;
    let gave_up = until_state(
        &node,
        &id,
        pb::CallbackState::GaveUp,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(gave_up.attempts, 2, "{gave_up:#?}");
    let tried = invites(&customer);
    assert_eq!(
        tried.len(),
        2,
        "one INVITE per attempt\n{}",
        customer.describe()
    );
    let apart = tried[1].at - tried[0].at;
    assert!(
        apart >= 1.0,
        "the second attempt waits for the back-off ({apart} s)"
    );
    // Anna heard that the customer was not reached, and her call ended each time.
    assert!(
        anna.wait_for("BYE", 2, Duration::from_secs(20)),
        "{}",
        anna.describe()
    );
    assert_eq!(
        node.log_count("callback: customer busy"),
        2,
        "{}",
        node.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_callback_is_retried_with_a_growing_back_off_and_reached_on_the_third_attempt()
 {
    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThirdCall {
            ring_ms: 300,
            talk_ms: 8000,
        },
    );
    let node = Ccd::start(organisation("customer_first", &customer, 3));
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 300 });
    log_in_at_work(&node, &["anna"]).await;
    let id = schedule_for_sales(&node, CUSTOMER).await;
    let reached = until_state(
        &node,
        &id,
        pb::CallbackState::Reached,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(reached.attempts, 3, "{reached:#?}");
    let tried = invites(&customer);
    assert_eq!(
        tried.len(),
        3,
        "one INVITE per attempt\n{}",
        customer.describe()
    );
    // Each unanswered call rang 5 s and was cancelled; the waits after them grew (1 s, 2 s).
    let cancels: Vec<f64> = customer
        .log()
        .into_iter()
        .filter(|m| m.received && m.is_request("CANCEL"))
        .map(|m| m.at)
        .collect();
    assert_eq!(cancels.len(), 2, "{}", customer.describe());
    let first_wait = tried[1].at - cancels[0];
    let second_wait = tried[2].at - cancels[1];
    assert!(
        first_wait >= 1.0 && second_wait >= 2.0,
        "back-off after each unanswered attempt: {first_wait} s, then {second_wait} s"
    );
    assert!(
        anna.wait_for("BYE", 1, Duration::from_secs(20)),
        "the customer reached on the third attempt was put through to Anna\n{}",
        anna.describe()
    );
    assert_eq!(anna.received("INVITE").len(), 1, "{}", anna.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_callbacks_survive_a_killed_ccd_all_and_are_dialled_after_the_restart() {
    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThenHangUp {
            ring_ms: 300,
            talk_ms: 500,
        },
    );
    let data = TempDir::new("ccd-callbacks-data");
    let config = organisation("customer_first", &customer, 3).data_dir(data.path());
    let first = Ccd::start(config.clone());
    let numbers = ["+48600700801", "+48600700802", "+48600700803"];
    let mut ids = Vec::new();
    for number in numbers {
        ids.push(schedule_for_sales(&first, number).await);
    }
    // Nobody of sales works: all wait. The node is killed (SIGKILL), not stopped.
    for id in &ids {
        until_state(
            &first,
            id,
            pb::CallbackState::Pending,
            Duration::from_secs(5),
        )
        .await;
    }
    drop(first);

    let second = Ccd::start(config);
    let mut client = callbacks(&second).await;
    let mut listed = Vec::new();
    for _ in 0..100 {
        match client
            .list_callbacks(pb::ListCallbacksRequest {
                states: vec![pb::CallbackState::Pending.into()],
                department_ids: vec!["sales".into()],
                ..Default::default()
            })
            .await
        {
            Ok(r) => {
                listed = r.into_inner().callbacks;
                break;
            }
            Err(e) if e.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}\n{}", second.log_text()),
        }
    }
    let mut back: Vec<(String, String)> = listed
        .iter()
        .map(|c| (c.callback_id.clone(), c.number.clone()))
        .collect();
    back.sort();
    let mut expected: Vec<(String, String)> = ids
        .iter()
        .cloned()
        .zip(numbers.iter().map(|n| n.to_string()))
        .collect();
    expected.sort();
    assert_eq!(
        back.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        expected.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "every pending callback is back\n{}",
        second.log_text()
    );

    // And they are kept: once Anna works, each customer is called once.
    let _anna = phone(&second, "201", Behaviour::Answer { ring_ms: 300 });
    log_in_at_work(&second, &["anna"]).await;
    for id in &ids {
        until_state(
            &second,
            id,
            pb::CallbackState::Reached,
            Duration::from_secs(60),
        )
        .await;
    }
    let called: Vec<String> = invites(&customer)
        .iter()
        .map(|m| m.start_line.clone())
        .collect();
    for number in numbers {
        assert_eq!(
            called.iter().filter(|l| l.contains(number)).count(),
            1,
            "{number} called once: {called:#?}"
        );
    }
}

/// Calls waiting in sales' queue now.
async fn waiting(node: &Ccd) -> u32 {
    let mut queues = QueuesClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    queues
        .list_queues(queues_pb::ListQueuesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .queues
        .iter()
        .map(|q| q.waiting_calls)
        .sum()
}

async fn until_waiting(node: &Ccd, n: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while waiting(node).await != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} calls never waited\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A caller from `from` to sales who waits, talks 1 s once answered, and hangs up.
fn waiting_caller(node: &Ccd, from: &str) -> Sipp {
    Sipp::new("caller.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .caller(from)
        .with_pcaps()
        .arg("-d")
        .arg("1000")
        .timeout(Duration::from_secs(90))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_chooses_a_callback_while_waiting_is_called_back_in_their_place_in_line() {
    const AHEAD: &str = "+48600000001";
    const AFTER: &str = "+48600000003";
    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThenHangUp {
            ring_ms: 300,
            talk_ms: 1000,
        },
    );
    // The choices come every 5 s while nobody of sales works.
    let node = Ccd::start(organisation_waiting(&customer));
    let ahead = tokio::spawn(run(waiting_caller(&node, AHEAD)));
    until_waiting(&node, 1).await;
    // The customer presses 3, seven seconds in (after the first announcement's choices).
    let choice = Sipp::new("caller_waiting_key.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .caller(CUSTOMER)
        .file(
            "dtmf.pcap",
            std::path::Path::new("/usr/share/sip-tester/dtmf_2833_3.pcap"),
        )
        .arg("-d")
        .arg("7000")
        .timeout(Duration::from_secs(30));
    let choice = tokio::spawn(run(choice));
    until_waiting(&node, 2).await;
    let chose = choice.await.unwrap();
    assert!(
        chose.all_calls_succeeded(),
        "{}\n{}",
        chose.describe(),
        node.log_text()
    );
    until_waiting(&node, 1).await;
    let after = tokio::spawn(run(waiting_caller(&node, AFTER)));
    until_waiting(&node, 2).await;

    // Anna starts work: the caller ahead, the callback, the caller after, in that order.
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 300 });
    // (Not waiting for her to be available: calls are waiting for her.)
    agents(node.api_addr())
        .await
        .login(cc_proto::agents::v1::LoginRequest {
            agent_id: "anna".into(),
        })
        .await
        .unwrap();
    for (who, call) in [("ahead", ahead), ("after", after)] {
        let done = call.await.unwrap();
        assert!(
            done.all_calls_succeeded(),
            "the caller {who}: {}\n{}\n{}",
            done.describe(),
            anna.describe(),
            node.log_text()
        );
    }
    let calls = callbacks(&node)
        .await
        .list_callbacks(pb::ListCallbacksRequest {
            number: CUSTOMER.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .callbacks;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].state(), pb::CallbackState::Reached, "{calls:#?}");
    let offered: Vec<String> = invites(&anna)
        .iter()
        .map(|m| header(m, "From").to_owned())
        .collect();
    assert_eq!(offered.len(), 3, "{offered:#?}");
    for (i, number) in [AHEAD, CUSTOMER, AFTER].iter().enumerate() {
        assert!(
            offered[i].contains(number.trim_start_matches('+')),
            "offer {i} is {number}: {offered:#?}"
        );
    }
}

/// [`organisation`] with waiting callers offered the choices every 5 s.
fn organisation_waiting(customer: &Phone) -> NodeConfig {
    NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[callbacks]
first_retry_seconds = 1
ring_seconds = 5

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna"]
announce_seconds = 5
waiting_choices = true

[[trunks]]
id = "pstn"
target = "{}"

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}
"#,
        customer.addr()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_that_never_answers_fails_the_attempt_instead_of_counting_as_no_answer() {
    // Nothing listens behind the trunk.
    let trunk = cc_tests::net::loopback(cc_tests::net::free_port());
    let node = Ccd::start(organisation_via("customer_first", trunk, 1));
    let _anna = phone(&node, "201", Behaviour::Answer { ring_ms: 300 });
    log_in_at_work(&node, &["anna"]).await;
    let id = schedule_for_sales(&node, CUSTOMER).await;
    let gave_up = until_state(
        &node,
        &id,
        pb::CallbackState::GaveUp,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(gave_up.attempts, 1, "{gave_up:#?}");
    assert!(
        node.log_count("the trunk did not answer the INVITE") >= 1,
        "{}",
        node.log_text()
    );
    assert_eq!(node.log_count("outcome=NoAnswer"), 0, "{}", node.log_text());
}
