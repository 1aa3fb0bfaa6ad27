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

use std::time::Duration;

use cc_proto::callbacks::v1 as pb;
use cc_proto::queues::v1 as queues_pb;
use cc_proto::queues::v1::queues_client::QueuesClient;
use cc_tests::TempDir;
use cc_tests::callbacks::{
    callbacks, first_invite_at, get, header, invites, now_unix_ms, schedule, schedule_request,
    until_state,
};
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::run;
use cc_tests::org::{agents, log_in_at_work, log_in_available, phone};
use cc_tests::phones::{Behaviour, Phone};
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;

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
    organisation_with(mode, trunk, max_attempts, "", "")
}

/// [`organisation_via`] with `department` lines added to sales and `tables` after it.
fn organisation_with(
    mode: &str,
    trunk: std::net::SocketAddr,
    max_attempts: u32,
    department: &str,
    tables: &str,
) -> NodeConfig {
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
abandoned_after_seconds = 2

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna"]
callback_mode = "{mode}"
{department}

[[trunks]]
id = "pstn"
target = "{trunk}"

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}

{tables}
"#
    ))
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
    let id = schedule(&node, "sales", CUSTOMER).await;
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
    let id = schedule(&node, "sales", CUSTOMER).await;
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
    let id = schedule(&node, "sales", CUSTOMER).await;
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
    let id = schedule(&node, "sales", CUSTOMER).await;
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
        ids.push(schedule(&first, "sales", number).await);
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
    let id = schedule(&node, "sales", CUSTOMER).await;
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

/// Working hours that open at the start of a minute at least 5 s away (UTC), until
/// midnight; the schedule's TOML and the opening (Unix seconds).
fn opening_soon() -> (String, u64) {
    const DAY: u64 = 86_400;
    let mut now = now_unix_ms() / 1000;
    if now % DAY >= DAY - 75 {
        // Too close to midnight for an opening later today: wait for tomorrow.
        std::thread::sleep(Duration::from_secs(DAY - now % DAY + 1));
        now = now_unix_ms() / 1000;
    }
    let mut opening = (now / 60 + 1) * 60;
    if opening - now < 5 {
        opening += 60;
    }
    let minute = opening % DAY / 60;
    // 1970-01-01 was a Thursday.
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][((opening / DAY + 3) % 7) as usize];
    let schedule = format!(
        "[[schedules]]\nid = \"office\"\ntimezone = \"UTC\"\n[schedules.hours]\n{day} = [\"{:02}:{:02}-24:00\"]\n",
        minute / 60,
        minute % 60
    );
    (schedule, opening)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_due_out_of_hours_waits_for_the_department_to_open() {
    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThenHangUp {
            ring_ms: 200,
            talk_ms: 500,
        },
    );
    let (schedule_toml, opening) = opening_soon();
    let node = Ccd::start(organisation_with(
        "agent_first",
        customer.addr(),
        3,
        "schedule = \"office\"",
        &schedule_toml,
    ));
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 100 });
    log_in_available(&node, &["anna"]).await;
    let id = schedule(&node, "sales", CUSTOMER).await;

    // Anna is free, but sales is closed: the callback waits for the opening.
    let pending = get(&node, &id).await;
    assert_eq!(pending.state(), pb::CallbackState::Pending, "{pending:#?}");
    let before = Duration::from_millis((opening * 1000).saturating_sub(now_unix_ms() + 1000));
    tokio::time::sleep(before).await;
    assert_eq!(get(&node, &id).await.state(), pb::CallbackState::Pending);
    assert!(invites(&anna).is_empty(), "{}", anna.describe());
    assert!(invites(&customer).is_empty(), "{}", customer.describe());

    // Open: dialled at once.
    let reached = until_state(
        &node,
        &id,
        pb::CallbackState::Reached,
        Duration::from_secs(45),
    )
    .await;
    let dispatched = reached
        .history
        .iter()
        .find(|c| matches!(c.change, Some(pb::change::Change::Dispatched(_))))
        .unwrap_or_else(|| panic!("no dispatch in {reached:#?}"));
    assert!(
        dispatched.unix_ms >= opening * 1000,
        "dispatched at {} ms, before the opening at {opening} s",
        dispatched.unix_ms
    );
    assert!(
        dispatched.unix_ms < opening * 1000 + 2000,
        "dispatched at {} ms, long after the opening at {opening} s",
        dispatched.unix_ms
    );
    assert_eq!(invites(&customer).len(), 1, "{}", customer.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_whose_window_closes_before_any_agent_is_free_expires() {
    let customer = Phone::unregistered("customer", Behaviour::Answer { ring_ms: 100 });
    let node = Ccd::start(organisation("agent_first", &customer, 3));
    // Nobody of sales works; the caller can be called back for the next 2 s only.
    let now = now_unix_ms();
    let id = schedule_request(
        &node,
        pb::ScheduleCallbackRequest {
            number: CUSTOMER.into(),
            name: "Jan Nowak".into(),
            reason: "invoice".into(),
            target: Some(pb::Target {
                target: Some(pb::target::Target::DepartmentId("sales".into())),
            }),
            source: pb::Source::Api.into(),
            earliest_unix_ms: now,
            latest_unix_ms: now + 2000,
            time_zone: "Europe/Warsaw".into(),
            ..Default::default()
        },
    )
    .await;
    let expired = until_state(
        &node,
        &id,
        pb::CallbackState::Expired,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(expired.attempts, 0, "{expired:#?}");
    assert!(
        expired.state_unix_ms >= now + 2000,
        "expired before its window closed: {expired:#?}"
    );
    let last = expired.history.last().unwrap();
    assert!(
        matches!(
            last.change,
            Some(pb::change::Change::Expired(pb::change::Expired {
                attempts: 0,
                ..
            }))
        ),
        "the outcome is recorded: {expired:#?}"
    );
    assert!(invites(&customer).is_empty(), "{}", customer.describe());
}

/// The callbacks the scheduler holds for `number`.
async fn callbacks_for(node: &Ccd, number: &str) -> Vec<pb::Callback> {
    callbacks(node)
        .await
        .list_callbacks(pb::ListCallbacksRequest {
            number: number.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .callbacks
}

/// A caller from `from` dialling `number` who hangs up `after_ms` after hearing ccd
/// (early media: a queue).
fn giving_up(node: &Ccd, number: &str, from: &str, after_ms: u64) -> Sipp {
    giving_up_with("caller_give_up.xml", node, number, from, after_ms)
}

/// [`giving_up`] with `scenario` (`caller_cancel.xml`: after ringing, for a person).
fn giving_up_with(scenario: &str, node: &Ccd, number: &str, from: &str, after_ms: u64) -> Sipp {
    Sipp::new(scenario, node.addr(), Transport::Udp)
        .service(number)
        .caller(from)
        .with_pcaps()
        .arg("-d")
        .arg(&after_ms.to_string())
        .timeout(Duration::from_secs(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_waiting_is_called_back_when_the_department_says_so() {
    const HASTY: &str = "+48600000009";
    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThenHangUp {
            ring_ms: 200,
            talk_ms: 500,
        },
    );
    let node = Ccd::start(organisation_with(
        "agent_first",
        customer.addr(),
        3,
        "callback_abandoned = true",
        "",
    ));
    // Nobody of sales works: one caller gives up after 3 s in line, one at once (under
    // abandoned_after_seconds = 2: a misdial, not called back).
    let patient = run(giving_up(&node, SALES, CUSTOMER, 3000)).await;
    assert!(patient.all_calls_succeeded(), "{}", patient.describe());
    let hasty = run(giving_up(&node, SALES, HASTY, 100)).await;
    assert!(hasty.all_calls_succeeded(), "{}", hasty.describe());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let owed = loop {
        if let Some(c) = callbacks_for(&node, CUSTOMER).await.into_iter().next() {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no callback for the abandoned call\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(owed.source(), pb::Source::Abandoned, "{owed:#?}");
    assert_eq!(
        owed.target.as_ref().and_then(|t| t.target.clone()),
        Some(pb::target::Target::DepartmentId("sales".into()))
    );
    assert!(
        callbacks_for(&node, HASTY).await.is_empty(),
        "a caller who hung up at once is not called back\n{}",
        node.log_text()
    );

    // Anna starts work: the customer is called back.
    let _anna = phone(&node, "201", Behaviour::Answer { ring_ms: 100 });
    log_in_at_work(&node, &["anna"]).await;
    until_state(
        &node,
        &owed.callback_id,
        pb::CallbackState::Reached,
        Duration::from_secs(45),
    )
    .await;
    let invite = &invites(&customer)[0];
    assert!(
        invite.start_line.contains(CUSTOMER),
        "{}",
        invite.start_line
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_call_to_an_employee_is_called_back_by_that_employee() {
    const ANNA_DIRECT: &str = "48221239999";
    let customer = Phone::unregistered("customer", Behaviour::Answer { ring_ms: 100 });
    let node = Ccd::start(organisation_with(
        "agent_first",
        customer.addr(),
        3,
        "",
        &format!(
            "[[numbers]]\nnumber = \"{ANNA_DIRECT}\"\nroute = {{ employee = \"anna\" }}\ncallback_missed = true\n"
        ),
    ));
    // Anna's phone rings; the caller gives up before she answers.
    let anna = phone(&node, "201", Behaviour::NoAnswer);
    let run = run(giving_up_with(
        "caller_cancel.xml",
        &node,
        ANNA_DIRECT,
        CUSTOMER,
        1500,
    ))
    .await;
    assert!(run.all_calls_succeeded(), "{}", run.describe());
    assert!(!invites(&anna).is_empty(), "{}", anna.describe());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let owed = loop {
        if let Some(c) = callbacks_for(&node, CUSTOMER).await.into_iter().next() {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no callback for the missed call\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(owed.source(), pb::Source::Missed, "{owed:#?}");
    assert_eq!(
        owed.target.as_ref().and_then(|t| t.target.clone()),
        Some(pb::target::Target::EmployeeId("anna".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_taken_with_a_preferred_time_schedules_its_callback() {
    use cc_proto::messages::v1 as messages;
    use cc_proto::messages::v1::messages_client::MessagesClient;

    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThenHangUp {
            ring_ms: 200,
            talk_ms: 500,
        },
    );
    let node = Ccd::start(organisation("agent_first", &customer, 3));
    let _anna = phone(&node, "201", Behaviour::Answer { ring_ms: 100 });
    log_in_at_work(&node, &["anna"]).await;
    // A receptionist takes a message for sales: call back within the next hour.
    let now = now_unix_ms();
    let mut client = MessagesClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let taken = client
        .create_message(messages::CreateMessageRequest {
            message_id: "m-invoice".into(),
            recipient_id: "sales".into(),
            caller_name: "Jan Nowak".into(),
            substance: "About the invoice of March".into(),
            callback_number: CUSTOMER.into(),
            preferred_callback_time: Some(messages::PreferredCallbackTime {
                time: Some(messages::preferred_callback_time::Time::Window(
                    messages::CallbackWindow {
                        earliest_unix_ms: now,
                        latest_unix_ms: now + 3_600_000,
                    },
                )),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(taken.message_id, "m-invoice");

    let reached = until_state(
        &node,
        "message-m-invoice",
        pb::CallbackState::Reached,
        Duration::from_secs(45),
    )
    .await;
    assert_eq!(reached.source(), pb::Source::Message, "{reached:#?}");
    assert_eq!(reached.name, "Jan Nowak");
    assert_eq!(
        reached.reasons,
        vec!["About the invoice of March".to_owned()]
    );
    assert!(invites(&customer)[0].start_line.contains(CUSTOMER));
}
