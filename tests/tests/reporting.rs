//! Reports end to end through a real `ccd all` (R-60..R-63): SIPp callers and a phone make
//! calls, the reporting follows the node's events into its database (SQLite, or a
//! PostgreSQL the test starts), and the Reporting API (and `ccd report`) tells what
//! happened.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_proto::reporting::v1 as pb;
use cc_proto::reporting::v1::reporting_client::ReportingClient;
use cc_tests::ccd::{Ccd, NodeConfig, ccd_binary, metric_value};
use cc_tests::org::{describe, log_in_available, phone, run, talking_call};
use cc_tests::phones::Behaviour;
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;
use tonic::transport::Channel;

const SALES: &str = "48220000001";
const FRONT_DESK: &str = "48220000002";

/// Sales (Anna alone) takes the sales line.
fn sales() -> NodeConfig {
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
ring_seconds = 10
wrap_up_seconds = 0

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}

[[scenarios]]
id = "front-desk"
start = "greet"
[[scenarios.operations]]
id = "greet"
play = "welcome"
next = "to-sales"
[[scenarios.operations]]
id = "to-sales"
queue = {{ department = "sales", priority = 0 }}

[[numbers]]
number = "{FRONT_DESK}"
scenario = "front-desk"

[[scenarios]]
id = "second-line"
start = "ring-piotr"
[[scenarios.operations]]
id = "ring-piotr"
dial = {{ employee = "piotr" }}
"#
    ))
}

async fn reporting(node: &Ccd) -> ReportingClient<Channel> {
    ReportingClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap()
}

/// The calls listed once `wanted` of them have ended (at most 10 s).
async fn ended_calls(node: &Ccd, wanted: usize) -> Vec<pb::CallSummary> {
    let mut client = reporting(node).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let calls = client
            .list_calls(pb::ListCallsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .calls;
        if calls.iter().filter(|c| !c.end_reason.is_empty()).count() >= wanted {
            return calls;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{wanted} ended calls not reported within 10 s: {calls:#?}\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_and_an_abandoned_one_are_reported_with_their_timelines_and_kpis() {
    let node = Ccd::start(sales());
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 300 });
    log_in_available(&node, &["anna"]).await;
    // Anna takes the first caller, who talks 2 s and hangs up.
    let talked = run(Sipp::new("caller.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .caller("+48500100200")
        .with_pcaps()
        .arg("-d")
        .arg("2000")
        .timeout(Duration::from_secs(40)))
    .await;
    assert!(
        talked.all_calls_succeeded(),
        "{}",
        describe(&talked, &node, &[&anna])
    );
    let calls = ended_calls(&node, 1).await;
    let answered = calls[0].clone();

    // Anna logs out; the next caller waits 3 s in the queue and gives up.
    let mut agents = cc_tests::org::agents(node.api_addr()).await;
    agents
        .logout(cc_proto::agents::v1::LogoutRequest {
            agent_id: "anna".into(),
        })
        .await
        .unwrap();
    let gave_up = run(Sipp::new("caller_give_up.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .caller("+48500300400")
        .with_pcaps()
        .arg("-d")
        .arg("3000")
        .timeout(Duration::from_secs(40)))
    .await;
    assert!(
        gave_up.all_calls_succeeded(),
        "{}",
        describe(&gave_up, &node, &[])
    );
    let calls = ended_calls(&node, 2).await;
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let abandoned = calls[0].clone();
    assert_eq!(calls[1], answered, "latest first");

    assert_eq!(answered.number, SALES);
    assert_eq!(answered.caller, "+48500100200");
    assert_eq!(answered.call_type, "inbound");
    assert_eq!(answered.department_id, "sales");
    assert_eq!(answered.agent_id, "anna");
    assert_eq!(answered.end_reason, "caller_hung_up");
    assert!(
        (1500..5000).contains(&answered.talk_ms),
        "talked about 2 s: {answered:#?}"
    );
    assert!(answered.wait_ms.is_some(), "{answered:#?}");
    assert_eq!(abandoned.caller, "+48500300400");
    assert_eq!(abandoned.agent_id, "");
    assert_eq!(abandoned.talk_ms, 0);
    assert_eq!(abandoned.end_reason, "abandoned_in_queue");

    // The answered call's timeline, in the call's own order.
    let mut client = reporting(&node).await;
    let detail = client
        .get_call(pb::GetCallRequest {
            call_id: answered.call_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let story: Vec<String> = detail
        .events
        .iter()
        .map(|e| format!("{} {}", e.kind, e.detail).trim().to_owned())
        .collect();
    assert_eq!(
        story,
        [
            format!("started inbound call to {SALES} from +48500100200"),
            "queued sales".to_owned(),
            "offered anna".to_owned(),
            "answered anna".to_owned(),
            "ended caller_hung_up".to_owned(),
        ]
    );
    let seqs: Vec<u64> = detail.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "numbered by the call");
    let unknown = client
        .get_call(pb::GetCallRequest {
            call_id: "no-such-call".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // Filters of the call list.
    let only_anna = client
        .list_calls(pb::ListCallsRequest {
            agent_id: "anna".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .calls;
    assert_eq!(only_anna, std::slice::from_ref(&answered));

    // The scenario report: both calls in the no-scenario row, one completed, one without
    // a conversation; by end reason both ended with the caller hanging up.
    let report = client
        .get_scenario_report(pb::ScenarioReportRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.rows.len(), 1, "{report:#?}");
    let m = report.rows[0].measures.unwrap();
    assert_eq!(
        (m.total, m.completed, m.no_conversation, m.ended),
        (2, 1, 1, 2)
    );
    let filtered = client
        .get_scenario_report(pb::ScenarioReportRequest {
            filter: "no_conversation > 1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(filtered.rows.is_empty(), "{filtered:#?}");
    let refused = client
        .get_scenario_report(pb::ScenarioReportRequest {
            filter: "colour = red".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().starts_with("filter: "), "{refused}");

    // The department's KPIs: two offered, one answered in the 20 s, one abandoned.
    let kpis = client
        .get_kpis(pb::KpisRequest {
            department_id: "sales".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            kpis.offered,
            kpis.answered,
            kpis.answered_in_threshold,
            kpis.abandoned
        ),
        (2, 1, 1, 1),
        "{kpis:#?}"
    );
    assert_eq!(kpis.service_level, Some(1.0));
    let unknown = client
        .get_kpis(pb::KpisRequest {
            department_id: "marketing".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // `ccd report` prints the same report for an operator, and as CSV.
    let report = |extra: &[&str]| {
        let out = std::process::Command::new(ccd_binary())
            .arg("report")
            .arg("--api")
            .arg(node.api_addr().to_string())
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let table = report(&["--last", "1h"]);
    assert!(table.starts_with("scenario"), "{table}");
    assert!(
        table.lines().nth(1).unwrap().starts_with("(no scenario)  "),
        "{table}"
    );
    let csv = report(&["--csv", "--by", "end-reason"]);
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(8).collect())
        .collect();
    assert_eq!(
        rows,
        // In the order of the reasons (ListCalls' end_reason lists it).
        [
            ["", "caller_hung_up", "1", "0", "0", "0", "1", "0"],
            ["", "abandoned_in_queue", "1", "0", "0", "1", "0", "0"],
        ],
        "{csv}"
    );

    // Today's KPIs of the department as Prometheus gauges (computed every 15 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let offered = r#"cc_kpi_offered_calls{department="sales"}"#;
    loop {
        let text = node.scrape_metrics();
        if metric_value(&text, offered) == Some(2.0) {
            let abandoned = r#"cc_kpi_abandoned_calls{department="sales"}"#;
            assert_eq!(metric_value(&text, abandoned), Some(1.0), "{text}");
            let level = r#"cc_kpi_service_level_ratio{department="sales"}"#;
            assert_eq!(metric_value(&text, level), Some(1.0), "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no live KPIs within 20 s: {text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_a_scenario_is_reported_under_it_and_its_operations() {
    let node = Ccd::start(sales());
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 300 });
    log_in_available(&node, &["anna"]).await;
    let talked = run(Sipp::new("caller.xml", node.addr(), Transport::Udp)
        .service(FRONT_DESK)
        .with_pcaps()
        .arg("-d")
        .arg("1000")
        .timeout(Duration::from_secs(40)))
    .await;
    assert!(
        talked.all_calls_succeeded(),
        "{}",
        describe(&talked, &node, &[&anna])
    );
    let calls = ended_calls(&node, 1).await;
    assert_eq!(calls[0].scenario_ids, ["front-desk"]);
    assert_eq!(calls[0].operation_ids, ["greet", "to-sales"]);
    let mut client = reporting(&node).await;
    let by_operation = client
        .get_scenario_report(pb::ScenarioReportRequest {
            dimension: pb::Dimension::Operation as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<(String, String, u64, u64)> = by_operation
        .rows
        .iter()
        .map(|r| {
            let m = r.measures.unwrap();
            (r.scenario_id.clone(), r.value.clone(), m.total, m.completed)
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("front-desk".to_owned(), "greet".to_owned(), 1, 1),
            ("front-desk".to_owned(), "to-sales".to_owned(), 1, 1),
        ]
    );
    // The timeline: each operation entered and left, the last as the call ends.
    let timeline: Vec<String> = client
        .get_call(pb::GetCallRequest {
            call_id: calls[0].call_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .filter(|e| e.kind.starts_with("operation_") || e.kind == "ended")
        .map(|e| format!("{} {}", e.kind, e.detail))
        .collect();
    assert_eq!(
        timeline,
        [
            "operation_entered greet",
            "operation_left greet",
            "operation_entered to-sales",
            "operation_left to-sales",
            "ended caller_hung_up",
        ]
    );
}

/// The calls a node reports, once `wanted` have ended (at most 20 s).
async fn all_ended(node: &Ccd, wanted: usize) -> Vec<pb::CallSummary> {
    let mut client = reporting(node).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let calls = client
            .list_calls(pb::ListCallsRequest::default())
            .await
            .map(|r| r.into_inner().calls)
            .unwrap_or_default();
        if calls.len() == wanted && calls.iter().all(|c| !c.end_reason.is_empty()) {
            return calls;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {wanted} calls reported ended within 20 s at {}",
            calls.iter().filter(|c| !c.end_reason.is_empty()).count(),
            node.api_addr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporting_node_killed_mid_load_and_restarted_reports_what_an_uninterrupted_one_does() {
    const CALLS: usize = 16;
    let etcd = cc_cluster::testing::EtcdCluster::start(1).await.unwrap();
    let mut config = sales();
    config.etcd = etcd.endpoints();
    // Every service, its own reporting among them: the uninterrupted run.
    let node = Ccd::start(config.clone());
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 100 });
    log_in_available(&node, &["anna"]).await;
    // A reporting node of its own, with its database in a directory that outlives it.
    let data = cc_tests::TempDir::new("reporting-db");
    let reporter_config = config.service("reporting").data_dir(data.path());
    let reporter = Ccd::start(reporter_config.clone());

    // Callers every 250 ms: half talk to Anna (or wait for her), half give up waiting.
    let mut callers = Vec::new();
    for i in 0..CALLS {
        let scenario = if i % 2 == 0 {
            "caller.xml"
        } else {
            "caller_give_up.xml"
        };
        let sipp = Sipp::new(scenario, node.addr(), Transport::Udp)
            .service(SALES)
            .caller(&format!("+4850010{i:04}"))
            .with_pcaps()
            .arg("-d")
            .arg("500")
            .timeout(Duration::from_secs(60));
        callers.push(tokio::spawn(run(sipp)));
        tokio::time::sleep(Duration::from_millis(250)).await;
        if i == CALLS / 2 {
            // Killed (SIGKILL) in the middle of the load, started again a moment later.
            drop(reporter);
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reporter = Ccd::start(reporter_config);
    for i in (CALLS / 2 + 1)..CALLS {
        let sipp = Sipp::new("caller.xml", node.addr(), Transport::Udp)
            .service(SALES)
            .caller(&format!("+4850010{i:04}"))
            .with_pcaps()
            .arg("-d")
            .arg("500")
            .timeout(Duration::from_secs(60));
        callers.push(tokio::spawn(run(sipp)));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for caller in callers {
        let done = caller.await.unwrap();
        assert!(
            done.all_calls_succeeded(),
            "{}",
            describe(&done, &node, &[&anna])
        );
    }

    let uninterrupted = all_ended(&node, CALLS).await;
    let restarted = all_ended(&reporter, CALLS).await;
    assert_eq!(restarted, uninterrupted);
    let report = |n: &Ccd| {
        let api = n.api_addr();
        async move {
            ReportingClient::connect(format!("http://{api}"))
                .await
                .unwrap()
                .get_scenario_report(pb::ScenarioReportRequest {
                    dimension: pb::Dimension::EndReason as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let (a, b) = (report(&node).await, report(&reporter).await);
    assert_eq!(b, a);
    let total: u64 = a.rows.iter().map(|r| r.measures.unwrap().total).sum();
    assert_eq!(total, CALLS as u64, "{a:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_an_agent_runs_for_a_call_counts_by_option() {
    use cc_proto::calls::v1 as calls_pb;
    use cc_proto::calls::v1::calls_client::CallsClient;
    let node = Ccd::start(sales());
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 200 });
    log_in_available(&node, &["anna"]).await;
    // The caller reaches Anna, who sees they want the second line.
    let caller = tokio::spawn(run(Sipp::new("caller.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .with_pcaps()
        .arg("-d")
        .arg("6000")
        .timeout(Duration::from_secs(40))));
    let mut calls = CallsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap();
    let call_id = talking_call(&node).await.call_id;
    let unknown = calls
        .run_scenario(calls_pb::RunScenarioRequest {
            call_id: call_id.clone(),
            scenario_id: "third-line".into(),
            agent_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    assert!(unknown.message().starts_with("scenario_id: "), "{unknown}");
    calls
        .run_scenario(calls_pb::RunScenarioRequest {
            call_id,
            scenario_id: "second-line".into(),
            agent_id: String::new(),
        })
        .await
        .unwrap();
    let done = caller.await.unwrap();
    assert!(
        done.all_calls_succeeded(),
        "{}",
        describe(&done, &node, &[&anna, &piotr])
    );
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());

    let ended = ended_calls(&node, 1).await;
    assert_eq!(ended[0].scenario_ids, ["second-line"]);
    assert_eq!(ended[0].agent_id, "piotr");
    let mut client = reporting(&node).await;
    let detail = client
        .get_call(pb::GetCallRequest {
            call_id: ended[0].call_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        detail
            .events
            .iter()
            .any(|e| e.kind == "scenario_entered" && e.detail == "second-line (by anna)"),
        "{:#?}",
        detail.events
    );
    let report = client
        .get_scenario_report(pb::ScenarioReportRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.rows.len(), 1, "{report:#?}");
    assert_eq!(report.rows[0].scenario_id, "second-line");
    let m = report.rows[0].measures.unwrap();
    assert_eq!((m.total, m.by_option, m.completed), (1, 1, 1), "{m:#?}");
}

const SUPPORT: &str = "48220000003";
const BILLING: &str = "48220000004";
const ANNA_LINE: &str = "48220000005";
const SPAM: &str = "+48800555000";

/// The known mix's organisation: Anna takes sales (through the front desk), Marek
/// support, Piotr billing (but he is never logged in, so billing's callers wait); Anna's
/// own line turns spam away by screening; "second-line" rings Piotr.
fn mix() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.employees.push(cc_tests::ccd::Employee::new(
        "marek",
        "Marek Zieliński",
        "203",
        "marek-secret",
        "user",
    ));
    config.toml(&format!(
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
ring_seconds = 10
wrap_up_seconds = 0

[[departments]]
id = "support"
name = "Support"
extension = "700"
strategy = "sequential"
members = ["marek"]
ring_seconds = 10
wrap_up_seconds = 0

[[departments]]
id = "billing"
name = "Billing"
extension = "800"
strategy = "sequential"
members = ["piotr"]
ring_seconds = 10
wrap_up_seconds = 0

[[caller_lists]]
id = "spam"
entries = ["+48800*"]

[[screening]]
employee = "anna"
never = ["spam"]

[[scenarios]]
id = "front-desk"
start = "greet"
[[scenarios.operations]]
id = "greet"
play = "welcome"
next = "to-sales"
[[scenarios.operations]]
id = "to-sales"
queue = {{ department = "sales", priority = 0 }}

[[scenarios]]
id = "support-line"
start = "to-support"
[[scenarios.operations]]
id = "to-support"
queue = {{ department = "support", priority = 0 }}

[[scenarios]]
id = "billing-line"
start = "to-billing"
[[scenarios.operations]]
id = "to-billing"
queue = {{ department = "billing", priority = 0 }}

[[scenarios]]
id = "second-line"
start = "ring-piotr"
[[scenarios.operations]]
id = "ring-piotr"
dial = {{ employee = "piotr" }}

[[numbers]]
number = "{SALES}"
scenario = "front-desk"

[[numbers]]
number = "{SUPPORT}"
scenario = "support-line"

[[numbers]]
number = "{BILLING}"
scenario = "billing-line"

[[numbers]]
number = "{ANNA_LINE}"
route = {{ employee = "anna" }}
"#
    ))
}

/// A caller from `from` dialling `number` with a SIPp scenario, `-d` ms.
fn mix_caller(node: &Ccd, number: &str, from: &str, scenario: &str, d_ms: u64) -> Sipp {
    Sipp::new(scenario, node.addr(), Transport::Udp)
        .service(number)
        .caller(from)
        .with_pcaps()
        .arg("-d")
        .arg(&d_ms.to_string())
        .timeout(Duration::from_secs(40))
}

/// A report's rows as (scenario, value, total, by option, with transfer, no
/// conversation, completed, re-pass).
type MixRow = (String, String, u64, u64, u64, u64, u64, u64);

async fn mix_report(node: &Ccd, dimension: pb::Dimension) -> Vec<MixRow> {
    reporting(node)
        .await
        .get_scenario_report(pb::ScenarioReportRequest {
            dimension: dimension as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .rows
        .into_iter()
        .map(|r| {
            let m = r.measures.unwrap();
            (
                r.scenario_id,
                r.value,
                m.total,
                m.by_option,
                m.with_transfer,
                m.no_conversation,
                m.completed,
                m.re_pass,
            )
        })
        .collect()
}

fn row(scenario: &str, value: &str, counts: [u64; 6]) -> MixRow {
    let [
        total,
        by_option,
        transfer,
        no_conversation,
        completed,
        re_pass,
    ] = counts;
    (
        scenario.to_owned(),
        value.to_owned(),
        total,
        by_option,
        transfer,
        no_conversation,
        completed,
        re_pass,
    )
}

/// Places the known mix through `config` and checks the report rows it gives: an answered
/// call, one transferred by its agent's REFER, one abandoned in a queue, one rejected by
/// screening and one an agent moved to another scenario (by option).
async fn a_known_mix_gives_exactly_the_expected_rows(config: NodeConfig) {
    use cc_proto::calls::v1 as calls_pb;
    use cc_proto::calls::v1::calls_client::CallsClient;
    let node = Ccd::start(config);
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    let piotr = phone(&node, "202", Behaviour::Answer { ring_ms: 300 });
    let marek = phone(
        &node,
        "203",
        Behaviour::AnswerThenRefer {
            ring_ms: 200,
            talk_ms: 1000,
            target: "202",
        },
    );
    log_in_available(&node, &["anna", "marek"]).await;
    let phones = [&anna, &piotr, &marek];
    let check = |done: &cc_tests::tools::SippRun, what: &str| {
        assert!(
            done.all_calls_succeeded(),
            "{what}: {}",
            describe(done, &node, &phones)
        );
    };

    // 1. Answered by Anna through the front desk.
    let done = run(mix_caller(&node, SALES, "+48500000001", "caller.xml", 1000)).await;
    check(&done, "answered");
    // 2. Answered by Marek, who hands the caller to Piotr by REFER.
    let done = run(mix_caller(
        &node,
        SUPPORT,
        "+48500000002",
        "caller.xml",
        4000,
    ))
    .await;
    check(&done, "transferred");
    assert_eq!(piotr.received("INVITE").len(), 1, "{}", piotr.describe());
    // 3. Waits for billing, where nobody is logged in, and gives up.
    let done = run(mix_caller(
        &node,
        BILLING,
        "+48500000003",
        "caller_give_up.xml",
        1500,
    ))
    .await;
    check(&done, "abandoned");
    // 4. Spam for Anna: turned away by her screening policy, her phone never rings.
    let invites = anna.received("INVITE").len();
    let done = run(mix_caller(&node, ANNA_LINE, SPAM, "caller_closed.xml", 0)).await;
    check(&done, "screened");
    assert_eq!(
        anna.received("INVITE").len(),
        invites,
        "{}",
        anna.describe()
    );
    // 5. Answered by Anna, who moves the caller to the second line (Piotr) by the API.
    let caller = tokio::spawn(run(mix_caller(
        &node,
        SALES,
        "+48500000005",
        "caller.xml",
        6000,
    )));
    let call_id = talking_call(&node).await.call_id;
    CallsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap()
        .run_scenario(calls_pb::RunScenarioRequest {
            call_id,
            scenario_id: "second-line".into(),
            agent_id: String::new(),
        })
        .await
        .unwrap();
    check(&caller.await.unwrap(), "by option");
    assert_eq!(piotr.received("INVITE").len(), 2, "{}", piotr.describe());

    let calls = ended_calls(&node, 5).await;
    let mut reasons: Vec<String> = calls.iter().map(|c| c.end_reason.clone()).collect();
    reasons.sort();
    let by_scenario = mix_report(&node, pb::Dimension::Unspecified).await;
    let by_reason = mix_report(&node, pb::Dimension::EndReason).await;
    let context = format!("{calls:#?}\n{by_scenario:#?}\n{by_reason:#?}");
    assert_eq!(
        reasons,
        [
            "abandoned_in_queue",
            "caller_hung_up",
            "caller_hung_up",
            "caller_hung_up",
            "rejected_by_screening"
        ],
        "{context}"
    );
    // total, by option, with transfer, no conversation, completed, re-pass
    assert_eq!(
        by_scenario,
        [
            row("", "", [1, 0, 0, 1, 0, 0]),
            row("billing-line", "", [1, 0, 0, 1, 0, 0]),
            row("front-desk", "", [2, 0, 0, 0, 2, 0]),
            row("second-line", "", [1, 1, 0, 0, 1, 0]),
            row("support-line", "", [1, 0, 1, 0, 1, 0]),
        ],
        "{context}"
    );
    assert_eq!(
        by_reason,
        [
            row("", "rejected_by_screening", [1, 0, 0, 1, 0, 0]),
            row("billing-line", "abandoned_in_queue", [1, 0, 0, 1, 0, 0]),
            row("front-desk", "caller_hung_up", [2, 0, 0, 0, 2, 0]),
            row("second-line", "caller_hung_up", [1, 1, 0, 0, 1, 0]),
            row("support-line", "caller_hung_up", [1, 0, 1, 0, 1, 0]),
        ],
        "{context}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_mix_gives_exactly_the_expected_rows_on_sqlite() {
    a_known_mix_gives_exactly_the_expected_rows(mix()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_mix_gives_exactly_the_expected_rows_on_postgres() {
    // Started on a blocking thread: the synchronous client runs a runtime of its own.
    let (_server, url) = tokio::task::spawn_blocking(|| {
        let server = cc_reporting::testing::PostgresServer::start()
            .expect("start PostgreSQL (scripts/setup.sh installs it)");
        let url = server.fresh_database().expect("a database");
        (server, url)
    })
    .await
    .unwrap();
    a_known_mix_gives_exactly_the_expected_rows(mix().env("CCD_REPORTING_DB", &url)).await;
}

/// A WAV's channels, sample rate, length of audio and the share of loud samples (above
/// -30 dBFS) on each of two channels, from its header and data chunk.
fn wav_format(bytes: &[u8]) -> (u16, u32, Duration, [f64; 2]) {
    assert!(bytes.len() >= 44, "{} bytes", bytes.len());
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (channels, rate, bits) = (u16_at(22), u32_at(24), u16_at(34));
    // The chunks after "WAVE": find "data".
    let mut at = 12;
    let data = loop {
        assert!(at + 8 <= bytes.len(), "no data chunk");
        let size = u32_at(at + 4) as usize;
        if &bytes[at..at + 4] == b"data" {
            break size;
        }
        at += 8 + size;
    };
    assert_eq!(bits, 16);
    let samples = &bytes[at + 8..(at + 8 + data).min(bytes.len())];
    let mut loud = [0usize; 2];
    let frames = samples.len() / 4;
    for frame in samples.chunks_exact(4) {
        for (channel, count) in loud.iter_mut().enumerate() {
            let s = i16::from_le_bytes([frame[2 * channel], frame[2 * channel + 1]]);
            if s.unsigned_abs() > 1_036 {
                *count += 1;
            }
        }
    }
    let share = |n: usize| n as f64 / frames.max(1) as f64;
    let per_second = u64::from(rate) * u64::from(channels) * u64::from(bits / 8);
    (
        channels,
        rate,
        Duration::from_millis(data as u64 * 1000 / per_second),
        [share(loud[0]), share(loud[1])],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_department_s_conversation_is_listed_with_the_call_and_downloads_as_a_wav() {
    let mut config = sales();
    config.extra = config.extra.replace(
        "wrap_up_seconds = 0\n",
        "wrap_up_seconds = 0\nrecord_calls = true\n",
    );
    let node = Ccd::start(config);
    let anna = phone(&node, "201", Behaviour::Answer { ring_ms: 200 });
    log_in_available(&node, &["anna"]).await;
    let talked = run(Sipp::new("caller.xml", node.addr(), Transport::Udp)
        .service(SALES)
        .with_pcaps()
        .arg("-d")
        .arg("2000")
        .timeout(Duration::from_secs(40)))
    .await;
    assert!(
        talked.all_calls_succeeded(),
        "{}",
        describe(&talked, &node, &[&anna])
    );
    let calls = ended_calls(&node, 1).await;
    let call = &calls[0];
    let name = format!("call-{}.wav", call.call_id);
    assert_eq!(call.recordings, [name.as_str()], "{call:#?}");

    let mut client = reporting(&node).await;
    let mut download = async |recording: &str| {
        let mut chunks = client
            .download_recording(pb::DownloadRecordingRequest {
                call_id: call.call_id.clone(),
                recording: recording.to_owned(),
            })
            .await?
            .into_inner();
        let mut wav = Vec::new();
        while let Some(chunk) = chunks.message().await? {
            wav.extend_from_slice(&chunk.data);
        }
        Ok::<_, tonic::Status>(wav)
    };
    let wav = download("").await.unwrap();
    assert_eq!(download(&name).await.unwrap(), wav);
    let (channels, rate, length, loud) = wav_format(&wav);
    assert_eq!((channels, rate), (2, 8000));
    // Both sides' audio (SIPp plays speech at both ends), not silence.
    assert!(loud[0] > 0.05 && loud[1] > 0.05, "loud samples: {loud:?}");
    // The conversation: from the answer to the caller's hang-up, about 2 s.
    assert!(
        length >= Duration::from_millis(1500) && length <= Duration::from_millis(3500),
        "{length:?} of audio"
    );
    // Another name is NOT_FOUND, naming it.
    let missing = download("other.wav").await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing}");
    assert!(missing.message().contains("other.wav"), "{missing}");
    let log = node.log_text();
    assert!(log.contains("recording the conversation"), "{log}");
}
