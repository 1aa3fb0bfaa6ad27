//! Promised callbacks are placed (R-42), end to end through a real `ccd all`: a callback
//! scheduled through the Callbacks API is dialled by the scheduler through a sip-edge
//! node once an agent of the department is at work. The customer is a SIPp UAS behind the
//! organisation's trunk; the agent is a registered SIPp phone.
//!
//! - agent first: the agent's phone rings, the agent hears whom they call back, then the
//!   customer's phone rings showing the department's number, and the two are connected;
//! - customer first: the customer is rung and greeted first, then queued first in line;
//! - a busy customer is tried again after the back-off, and given up on after the last
//!   attempt.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cc_proto::callbacks::v1 as pb;
use cc_proto::callbacks::v1::callbacks_client::CallbacksClient;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::{log_in_available, phone};
use cc_tests::phones::{Behaviour, Logged, Phone};
use tonic::transport::Channel;

const SALES: &str = "48221230000";
const CUSTOMER: &str = "+48600700800";

/// Sales (Anna alone) reached at [`SALES`], calling back as `mode`; the trunk leads to
/// `customer`; a failed attempt is tried again after 1 s.
fn organisation(mode: &str, customer: &Phone, max_attempts: u32) -> NodeConfig {
    NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[callbacks]
max_attempts = {max_attempts}
first_retry_seconds = 1
ring_seconds = 10

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
        customer.addr()
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

/// Schedules a callback to [`CUSTOMER`] for sales, due now; its id.
async fn schedule_for_sales(node: &Ccd) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut client = callbacks(node).await;
    let mut last = None;
    // The scheduler takes requests once it has been elected (a moment after start).
    for _ in 0..100 {
        let request = pb::ScheduleCallbackRequest {
            number: CUSTOMER.into(),
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
    let id = schedule_for_sales(&node).await;
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
    log_in_available(&node, &["anna"]).await;
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
    log_in_available(&node, &["anna"]).await;
    let id = schedule_for_sales(&node).await;
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
    log_in_available(&node, &["anna"]).await;
    let id = schedule_for_sales(&node).await;
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
