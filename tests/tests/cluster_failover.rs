//! Every service in its own `ccd` process, coordinated by a real etcd, and the failures a
//! cluster must survive:
//! - the owner of a department's queue is killed (SIGKILL): another queue node takes it over
//!   once the dead node's lease expires, and the sip-edge node puts its waiting callers back
//!   in line with their original enqueue time, so every caller is answered, in order;
//! - a queue owner is cut off from etcd: it drops the department before another node can
//!   take it, and no call is offered twice;
//! - the presence owner is killed: the standby takes over with the agents' sessions, phones
//!   and calls in progress, so a busy agent is not offered another call and nobody is stuck;
//! - the etcd leader is killed under load: no call fails, no lease is lost;
//! - a sip-edge node stopped with SIGTERM drains: new calls are refused with 503 (and its
//!   health says NOT_SERVING) so they go to another edge, while its calls run to their end.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cc_cluster::Coordinator;
use cc_cluster::testing::EtcdServer;
use cc_proto::agents::v1 as pb;
use cc_proto::agents::v1::agents_client::AgentsClient;
use cc_proto::events::v1 as events_pb;
use cc_proto::events::v1::event::Event as E;
use cc_proto::events::v1::events_client::EventsClient;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::phones::{Behaviour, Phone};
use cc_tests::sip::{Request, Transport};
use cc_tests::tools::{Sipp, SippRun};
use tonic::Streaming;

const NUMBER: &str = "48220000001";

/// Sales, answered by Anna alone (one call at a time, so the order of answers is the order
/// of the line).
fn center(etcd: &str) -> NodeConfig {
    center_with(etcd, &["anna"])
}

fn center_with(etcd: &str, members: &[&str]) -> NodeConfig {
    let members = members
        .iter()
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    NodeConfig::default().etcd(etcd).toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = [{members}]
ring_seconds = 10
wrap_up_seconds = 0

[[numbers]]
number = "{NUMBER}"
route = {{ department = "sales" }}
"#
    ))
}

/// The node (by API address) that owns `department`'s queue now, if any.
async fn queue_owner(etcd: &dyn Coordinator, department: &str) -> Option<String> {
    let kv = etcd
        .get(&cc_cluster::keys::queue_owner(department))
        .await
        .unwrap()?;
    let node: cc_cluster::NodeInfo = serde_json::from_slice(&kv.value).unwrap();
    Some(node.address)
}

/// Waits (bounded) until `department` is owned by the node at `address`.
async fn until_owner(etcd: &dyn Coordinator, department: &str, address: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let owner = queue_owner(etcd, department).await;
        if owner.as_deref() == Some(address) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{department} is owned by {owner:?}, not {address}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next call event of the edge's stream (bounded).
async fn next_call_event(events: &mut Streaming<events_pb::Event>) -> E {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.message())
            .await
            .expect("a call event within 30 s")
            .unwrap()
            .expect("the event stream stays open")
            .event
            .unwrap();
        if matches!(
            event,
            E::CallStarted(_) | E::CallQueued(_) | E::CallAnswered(_) | E::CallEnded(_)
        ) {
            return event;
        }
    }
}

/// A presence, a routing and a media node: what every test's calls need besides the
/// queue and sip-edge nodes it arranges itself.
fn backbone(config: &NodeConfig) -> (Ccd, Ccd, Ccd) {
    (
        Ccd::start(config.clone().service("presence")),
        Ccd::start(config.clone().service("routing")),
        Ccd::start(config.clone().service("media")),
    )
}

/// The cluster's event stream as the node at `node` serves it, from now on.
async fn cluster_events_of(node: &Ccd) -> Streaming<events_pb::Event> {
    EventsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap()
        .watch_events(events_pb::WatchEventsRequest {
            from_sequence: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// An employee's phone registered with the sip-edge node `edge`, answering after 100 ms.
fn answering_phone(edge: &Ccd, extension: &str, password: &str) -> Phone {
    Phone::register(
        edge.addr(),
        "cc.local",
        extension,
        password,
        Behaviour::Answer { ring_ms: 100 },
    )
}

fn caller(edge: &Ccd, talk_ms: u64) -> Sipp {
    Sipp::new("caller.xml", edge.addr(), Transport::Udp)
        .service(NUMBER)
        .with_pcaps()
        .arg("-d")
        .arg(&talk_ms.to_string())
        .timeout(Duration::from_secs(60))
}

async fn run(sipp: Sipp) -> SippRun {
    tokio::task::spawn_blocking(move || sipp.run())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_queue_owner_loses_no_waiting_caller_and_keeps_their_order() {
    let etcd = EtcdServer::start().await.unwrap();
    let endpoint = etcd.endpoint();
    let coordinator = etcd.connect().await;
    let config = center(&endpoint);
    let (presence, _routing, _media) = backbone(&config);
    let first_queue = Ccd::start(config.clone().service("queue"));
    until_owner(
        &coordinator,
        "sales",
        &first_queue.api_addr().to_string(),
        Duration::from_secs(10),
    )
    .await;
    let second_queue = Ccd::start(config.clone().service("queue"));
    let edge = Ccd::start(config.clone().service("sip-edge"));

    let mut events = cluster_events_of(&edge).await;
    let anna = answering_phone(&edge, "201", "anna-secret");
    login_available(&presence, "anna").await;

    // The first caller talks to Anna long enough for the others to queue behind and for
    // the owner to die and be replaced meanwhile.
    let mut runs = vec![tokio::spawn(run(caller(&edge, 12_000)))];
    let mut started = Vec::new();
    while started.is_empty() {
        if let E::CallAnswered(a) = next_call_event(&mut events).await {
            started.push(a.call_id);
        }
    }
    for _ in 0..3 {
        runs.push(tokio::spawn(run(caller(&edge, 500))));
        loop {
            if let E::CallQueued(q) = next_call_event(&mut events).await {
                started.push(q.call_id);
                break;
            }
        }
    }

    // Any queue node answers for the cluster: the one that does not own sales asks the owner.
    let mut queues = cc_proto::queues::v1::queues_client::QueuesClient::connect(format!(
        "http://{}",
        second_queue.api_addr()
    ))
    .await
    .unwrap();
    let waiting = queues
        .list_waiting_calls(cc_proto::queues::v1::ListWaitingCallsRequest {
            department_id: "sales".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .calls;
    assert_eq!(
        waiting
            .iter()
            .map(|c| c.call_id.clone())
            .collect::<Vec<_>>(),
        started[1..]
    );
    let listed = queues
        .list_queues(cc_proto::queues::v1::ListQueuesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .queues;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].department_id.as_str(), listed[0].waiting_calls),
        ("sales", 3)
    );

    let killed = Instant::now();
    drop(first_queue); // SIGKILL
    until_owner(
        &coordinator,
        "sales",
        &second_queue.api_addr().to_string(),
        Duration::from_secs(15),
    )
    .await;
    eprintln!("sales taken over {:?} after the kill", killed.elapsed());

    let mut answered = vec![started[0].clone()];
    while answered.len() < started.len() {
        if let E::CallAnswered(a) = next_call_event(&mut events).await {
            answered.push(a.call_id);
        }
    }
    for r in runs {
        let r = r.await.unwrap();
        assert!(
            r.all_calls_succeeded(),
            "{}\n--- edge ---\n{}\n--- new owner ---\n{}\n{}",
            r.describe(),
            edge.log_text(),
            second_queue.log_text(),
            anna.describe()
        );
    }
    assert_eq!(
        answered, started,
        "callers are answered in the order they called"
    );
    assert!(
        edge.log_text()
            .contains("queued at the department's owner, in its original place"),
        "{}",
        edge.log_text()
    );
}

/// Logs the agent in through presence and waits until they can take calls.
async fn login_available(presence: &Ccd, agent: &str) {
    let mut agents = AgentsClient::connect(format!("http://{}", presence.api_addr()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Refused (UNAVAILABLE) only while the agent's shard changes hands: log in again.
    loop {
        let request = pb::LoginRequest {
            agent_id: agent.into(),
        };
        match agents.login(request).await {
            Ok(_) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "{agent} cannot log in: {e}\n{}",
                presence.log_text()
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until_state(presence, agent, pb::AgentState::Available).await;
}

async fn health(node: &Ccd) -> i32 {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.api_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    client
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_edge_refuses_new_calls_and_lets_its_calls_finish_while_another_edge_takes_them()
{
    let etcd = EtcdServer::start().await.unwrap();
    let config = center_with(&etcd.endpoint(), &["anna", "piotr"]);
    let (presence, _routing, _media) = backbone(&config);
    let _queue = Ccd::start(config.clone().service("queue"));
    let mut draining = Ccd::start(config.clone().service("sip-edge"));
    let other = Ccd::start(config.clone().service("sip-edge"));
    let anna = answering_phone(&draining, "201", "anna-secret");
    login_available(&presence, "anna").await;
    let mut events = cluster_events_of(&draining).await;
    // Anna takes a call on the edge that will drain.
    let in_progress = tokio::spawn(run(caller(&draining, 6_000)));
    while !matches!(next_call_event(&mut events).await, E::CallAnswered(_)) {}

    draining.send_sigterm();
    assert!(
        draining.wait_for_log("draining: new calls are refused", Duration::from_secs(5)),
        "{}",
        draining.log_text()
    );
    assert_eq!(
        health(&draining).await,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    // A new call to the draining edge is refused, and told to come back later.
    let mut client = cc_tests::sip::SipClient::connect(Transport::Udp, draining.addr());
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = Request::new("INVITE", &client.server_uri(Some(NUMBER)))
        .header("Contact", &format!("<sip:e2e@{}>", client.local_addr()))
        .header("Content-Type", "application/sdp")
        .body(sdp.as_bytes());
    let refused = client.exchange(&invite);
    assert_eq!(refused.status, 503, "{}", client.transcript_text());
    assert!(
        refused.header("Retry-After").is_some(),
        "{}",
        client.transcript_text()
    );

    // The other edge takes new calls: Piotr, registered there, answers.
    let piotr = answering_phone(&other, "202", "piotr-secret");
    login_available(&presence, "piotr").await;
    let elsewhere = run(caller(&other, 500)).await;
    assert!(
        elsewhere.all_calls_succeeded(),
        "{}\n{}\n{}",
        elsewhere.describe(),
        other.log_text(),
        piotr.describe()
    );

    // The call in progress ran to its end, then the edge stopped by itself.
    let in_progress = in_progress.await.unwrap();
    assert!(
        in_progress.all_calls_succeeded(),
        "{}\n{}\n{}",
        in_progress.describe(),
        draining.log_text(),
        anna.describe()
    );
    let status = tokio::task::spawn_blocking(move || {
        let status = draining.wait_exit(Duration::from_secs(15));
        (status, draining)
    })
    .await
    .unwrap();
    let (status, draining) = status;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        draining.log_text()
    );
    assert!(draining.log_text().contains("drained: no call in progress"));
}

/// The agent's state as the presence node at `presence` sees it.
/// The address of the presence node that owns `shard`, if any.
async fn presence_owner(coordinator: &impl cc_cluster::Coordinator, shard: u32) -> Option<String> {
    let kv = coordinator
        .get(&cc_cluster::keys::presence_owner(shard))
        .await
        .unwrap()?;
    let node: cc_cluster::NodeInfo = serde_json::from_slice(&kv.value).unwrap();
    Some(node.address)
}

async fn agent_state(presence: &Ccd, agent: &str) -> i32 {
    let mut agents = AgentsClient::connect(format!("http://{}", presence.api_addr()))
        .await
        .unwrap();
    // Unanswered while the agent's shard changes hands: not in any state yet.
    agents
        .get_agent(pb::GetAgentRequest {
            agent_id: agent.into(),
        })
        .await
        .map_or(-1, |a| a.into_inner().state)
}

/// Waits (bounded) until the presence node at `presence` has the agent in `wanted`.
async fn until_state(presence: &Ccd, agent: &str, wanted: pb::AgentState) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = agent_state(presence, agent).await;
        if state == wanted as i32 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{agent} is {:?}, not {wanted:?}\n{}",
            pb::AgentState::try_from(state),
            presence.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_presence_owner_keeps_agents_logged_in_and_never_offers_a_busy_agent_again() {
    let etcd = EtcdServer::start().await.unwrap();
    let coordinator = etcd.connect().await;
    let config = center_with(&etcd.endpoint(), &["anna", "piotr"]);
    let first = Ccd::start(config.clone().service("presence"));
    let second = Ccd::start(config.clone().service("presence"));
    let routing = Ccd::start(config.clone().service("routing"));
    let _media = Ccd::start(config.clone().service("media"));
    let _queue = Ccd::start(config.clone().service("queue"));
    let edge = Ccd::start(config.clone().service("sip-edge"));
    // The shards spread over both presence nodes.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut holders = std::collections::BTreeSet::new();
        for shard in 0..cc_cluster::keys::PRESENCE_SHARDS {
            holders.insert(presence_owner(&coordinator, shard).await);
        }
        let both = [first.api_addr(), second.api_addr()].map(|a| Some(a.to_string()));
        if holders == both.into_iter().collect() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the presence shards never spread over both nodes: {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Whichever node serves Anna is the one that dies; both answer for every agent.
    let anna_shard = cc_cluster::keys::presence_shard("anna");
    let (doomed, second) =
        if presence_owner(&coordinator, anna_shard).await == Some(first.api_addr().to_string()) {
            (first, second)
        } else {
            (second, first)
        };
    let anna = answering_phone(&edge, "201", "anna-secret");
    let piotr = answering_phone(&edge, "202", "piotr-secret");
    login_available(&doomed, "anna").await;
    login_available(&second, "piotr").await;
    let mut events = cluster_events_of(&edge).await;
    // Any node serves the whole cluster's events: the routing node, which has none of its
    // own, tells the calls of the edge and the agents of whichever presence node owns them.
    let mut cluster_events = cluster_events_of(&routing).await;
    // Anna (first in the sequential order) takes a long call.
    let long = tokio::spawn(run(caller(&edge, 10_000)));
    loop {
        if let E::CallAnswered(a) = next_call_event(&mut events).await {
            assert_eq!(a.agent_id, "anna");
            break;
        }
    }

    drop(doomed); // SIGKILL
    let deadline = Instant::now() + Duration::from_secs(15);
    while presence_owner(&coordinator, anna_shard).await != Some(second.api_addr().to_string()) {
        assert!(
            Instant::now() < deadline,
            "the other presence node never took Anna's shard over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The new owner knows Anna is on her call and Piotr is logged in and free.
    until_state(&second, "anna", pb::AgentState::OnCall).await;
    until_state(&second, "piotr", pb::AgentState::Available).await;

    // The next caller goes to Piotr, never to busy Anna.
    let next = run(caller(&edge, 500)).await;
    assert!(
        next.all_calls_succeeded(),
        "{}\n{}\n{}",
        next.describe(),
        edge.log_text(),
        piotr.describe()
    );
    loop {
        if let E::CallAnswered(a) = next_call_event(&mut events).await {
            assert_eq!(a.agent_id, "piotr", "{}", edge.log_text());
            break;
        }
    }
    let long = long.await.unwrap();
    assert!(
        long.all_calls_succeeded(),
        "{}\n{}\n{}",
        long.describe(),
        edge.log_text(),
        anna.describe()
    );
    // Nothing stays stuck: Anna is free again once her call ended.
    until_state(&second, "anna", pb::AgentState::Available).await;

    let mut answered = Vec::new();
    let mut anna_free_again = false;
    while answered.len() < 2 || !anna_free_again {
        let event = tokio::time::timeout(Duration::from_secs(10), cluster_events.message())
            .await
            .expect("the cluster's events reach the routing node")
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        match event {
            E::CallAnswered(a) => answered.push(a.agent_id),
            E::AgentStateChanged(a)
                if a.agent_id == "anna"
                    && a.state == pb::AgentState::Available as i32
                    && answered.len() == 2 =>
            {
                anna_free_again = true;
            }
            _ => {}
        }
    }
    assert_eq!(answered, ["anna", "piotr"]);
}

/// The RFC 3339 time at the start of the first log line of `node` containing `needle`.
fn logged_at(node: &Ccd, needle: &str) -> String {
    node.log_lines()
        .into_iter()
        .find(|l| l.contains(needle))
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| panic!("no {needle:?} in\n{}", node.log_text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_owner_cut_off_from_etcd_stops_offering_before_another_takes_over() {
    let etcd = EtcdServer::start().await.unwrap();
    let coordinator = etcd.connect().await;
    let config = center(&etcd.endpoint());
    let (presence, _routing, _media) = backbone(&config);
    // The first queue node reaches etcd through a relay the test can cut; everything else
    // (the edge, presence) still reaches it.
    let etcd_addr: std::net::SocketAddr = etcd
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let relay = cc_tests::net::TcpRelay::start(etcd_addr).await;
    let mut through_relay = config.clone().service("queue");
    through_relay.etcd = vec![format!("http://{}", relay.addr())];
    let cut_off = Ccd::start(through_relay);
    until_owner(
        &coordinator,
        "sales",
        &cut_off.api_addr().to_string(),
        Duration::from_secs(10),
    )
    .await;
    let other = Ccd::start(config.clone().service("queue"));
    let edge = Ccd::start(config.clone().service("sip-edge"));
    let mut events = cluster_events_of(&edge).await;
    let anna = answering_phone(&edge, "201", "anna-secret");
    // A caller waits at the first owner while nobody is logged in.
    let waiting = tokio::spawn(run(caller(&edge, 500)));
    let call = loop {
        if let E::CallQueued(q) = next_call_event(&mut events).await {
            break q.call_id;
        }
    };

    relay.cut();
    until_owner(
        &coordinator,
        "sales",
        &other.api_addr().to_string(),
        Duration::from_secs(15),
    )
    .await;
    // The cut-off owner gave the department up on its own, before the other node took it.
    // (The owner key can change before the new owner's log line is read.)
    assert!(other.wait_for_log("queue ownership taken", Duration::from_secs(5)));
    assert!(cut_off.wait_for_log("queue ownership lost", Duration::from_secs(5)));
    let dropped = logged_at(&cut_off, "queue ownership lost");
    let taken = logged_at(&other, "queue ownership taken");
    assert!(
        dropped < taken,
        "dropped at {dropped}, taken at {taken}\n{}",
        cut_off.log_text()
    );

    login_available(&presence, "anna").await;
    let run = waiting.await.unwrap();
    assert!(
        run.all_calls_succeeded(),
        "{}\n{}\n{}",
        run.describe(),
        edge.log_text(),
        anna.describe()
    );
    // Offered once, by the new owner: never twice.
    let mut offers = 0;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.message())
            .await
            .expect("the call's events within 30 s")
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        match event {
            E::CallOffered(o) if o.call_id == call => offers += 1,
            E::CallEnded(e) if e.call_id == call => break,
            _ => {}
        }
    }
    assert_eq!(offers, 1, "{}", edge.log_text());
    assert_eq!(anna.received("INVITE").len(), 1, "{}", anna.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_etcd_leader_under_load_fails_no_call() {
    let mut etcd = cc_cluster::testing::EtcdCluster::start(3).await.unwrap();
    let mut config = center_with(&etcd.endpoints()[0], &["anna", "piotr"]);
    config.etcd = etcd.endpoints();
    let (presence, _routing, _media) = backbone(&config);
    let _queues = [
        Ccd::start(config.clone().service("queue")),
        Ccd::start(config.clone().service("queue")),
    ];
    let edge = Ccd::start(config.clone().service("sip-edge"));
    let phones: Vec<Phone> = [("201", "anna-secret"), ("202", "piotr-secret")]
        .into_iter()
        .map(|(extension, password)| answering_phone(&edge, extension, password))
        .collect();
    login_available(&presence, "anna").await;
    login_available(&presence, "piotr").await;

    // A few calls a second; the leader dies after the second.
    let mut calls = Vec::new();
    for i in 0..8 {
        calls.push(tokio::spawn(run(caller(&edge, 500))));
        if i == 1 {
            let leader = etcd.leader().await.unwrap();
            etcd.kill(leader);
            eprintln!("killed etcd member {leader}, the leader");
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    for call in calls {
        let run = call.await.unwrap();
        assert!(
            run.all_calls_succeeded(),
            "{}\n--- edge ---\n{}\n{}",
            run.describe(),
            edge.log_text(),
            phones
                .iter()
                .map(Phone::describe)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // Leases and watches recovered: a whole lease TTL (4 s) after the crash every node is
    // registered, and the queue and presence have owners. (A node may have fenced itself
    // while the election ran long on a loaded machine - no keep-alive for 2.7 s - and
    // then confirmed its lease again; calls went on either way.)
    tokio::time::sleep(Duration::from_secs(5)).await;
    let coordinator = etcd.connect().await;
    let nodes = coordinator.list("/cc/nodes/").await.unwrap().kvs.len();
    assert_eq!(nodes, 6, "presence, routing, media, 2 queues, sip-edge");
    assert!(queue_owner(&coordinator, "sales").await.is_some());
    for shard in 0..cc_cluster::keys::PRESENCE_SHARDS {
        assert!(
            presence_owner(&coordinator, shard).await.is_some(),
            "presence shard {shard} has no owner\n{}",
            presence.log_text()
        );
    }
    for node in [&presence, &edge] {
        let log = node.log_text();
        assert!(
            !log.contains("node lease lost")
                || log.contains("node lease confirmed again")
                || log.matches("node lease granted").count() > 1,
            "a lost lease was never recovered:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_sip_edge_frees_its_agents_and_takes_its_callers_out_of_the_queue() {
    let etcd = EtcdServer::start().await.unwrap();
    let config = center_with(&etcd.endpoint(), &["anna", "piotr"]);
    let (presence, _routing, _media) = backbone(&config);
    let queue = Ccd::start(config.clone().service("queue"));
    let dying = Ccd::start(config.clone().service("sip-edge"));
    let _anna = answering_phone(&dying, "201", "anna-secret");
    login_available(&presence, "anna").await;
    let mut events = cluster_events_of(&dying).await;
    // Anna talks on a call of the edge that will die; a second caller waits behind.
    // (Their SIPp give up 20 s in: the dead edge never answers them again.)
    let _talking = tokio::spawn(run(caller(&dying, 15_000).timeout(Duration::from_secs(20))));
    while !matches!(next_call_event(&mut events).await, E::CallAnswered(_)) {}
    let _waiting = tokio::spawn(run(caller(&dying, 500).timeout(Duration::from_secs(20))));
    while !matches!(next_call_event(&mut events).await, E::CallQueued(_)) {}
    until_state(&presence, "anna", pb::AgentState::OnCall).await;

    drop(dying); // SIGKILL: nobody will ever end its calls
    // Once the dead edge's lease expired (and a grace for an edge merely re-registering),
    // Anna is out of the call and, her only phone having been registered there, offline
    // (not available with a phone nobody can ring); its caller has left the queue.
    until_state(&presence, "anna", pb::AgentState::Offline).await;
    let mut queues = cc_proto::queues::v1::queues_client::QueuesClient::connect(format!(
        "http://{}",
        queue.api_addr()
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting = queues
            .list_waiting_calls(cc_proto::queues::v1::ListWaitingCallsRequest {
                department_id: "sales".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .calls;
        if waiting.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead edge's caller still waits: {waiting:?}\n{}",
            queue.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registered_with_one_edge_takes_a_call_that_came_to_another() {
    let etcd = EtcdServer::start().await.unwrap();
    let config = center(&etcd.endpoint());
    let (presence, _routing, _media) = backbone(&config);
    let _queue = Ccd::start(config.clone().service("queue"));
    let home = Ccd::start(config.clone().service("sip-edge"));
    let entry = Ccd::start(config.clone().service("sip-edge"));
    let anna = answering_phone(&home, "201", "anna-secret");
    login_available(&presence, "anna").await;
    // The call comes to the other edge: it rings Anna through the edge her phone
    // registered with, and the caller talks to her.
    let run = run(caller(&entry, 1_000)).await;
    assert!(
        run.all_calls_succeeded(),
        "{}\n--- entry ---\n{}\n--- home ---\n{}\n{}",
        run.describe(),
        entry.log_text(),
        home.log_text(),
        anna.describe()
    );
    assert_eq!(anna.received("INVITE").len(), 1, "{}", anna.describe());
    until_state(&presence, "anna", pb::AgentState::Available).await;
}
