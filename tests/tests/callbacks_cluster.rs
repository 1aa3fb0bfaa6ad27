//! The callback scheduler in a cluster (R-42, DESIGN.md section 4): every service in its own
//! `ccd` process, two callback nodes campaigning for the scheduler's leadership, a real
//! 3-member etcd. The leader is killed (SIGKILL) in the middle of dispatching; the other
//! node takes over from the records in etcd, learns from sip-edge how the attempts under
//! way ended, and every due callback is dialled exactly once (INVITEs counted at the
//! customer's phone behind the trunk) and reached.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cc_cluster::Coordinator;
use cc_cluster::testing::EtcdCluster;
use cc_proto::callbacks::v1 as pb;
use cc_tests::callbacks::{invites, schedule, until_state};
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::log_in_at_work;
use cc_tests::phones::{Behaviour, Phone};

const SALES: &str = "48221230000";
/// Where the scheduler's leader is elected (`cc_callback::service::ELECTION_KEY`).
const ELECTION_KEY: &str = "/cc/election/callback";

/// Sales (Anna and Piotr) calling back agent first through the trunk to `customer`.
fn center(etcd: &EtcdCluster, customer: &Phone) -> NodeConfig {
    let mut config = NodeConfig::default().toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[callbacks]
first_retry_seconds = 1
ring_seconds = 10

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna", "piotr"]
wrap_up_seconds = 0

[[trunks]]
id = "pstn"
target = "{}"

[[numbers]]
number = "{SALES}"
route = {{ department = "sales" }}
"#,
        customer.addr()
    ));
    config.etcd = etcd.endpoints();
    config
}

/// The API address of the node leading the callback scheduler, if any.
async fn scheduler_leader(etcd: &dyn Coordinator) -> Option<String> {
    let kv = etcd.get(ELECTION_KEY).await.unwrap()?;
    let node: cc_cluster::NodeInfo = serde_json::from_slice(&kv.value).unwrap();
    Some(node.address)
}

/// Waits (bounded) until one of `nodes` leads the scheduler; its index.
async fn until_leader(etcd: &dyn Coordinator, nodes: &[&Ccd], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        if let Some(address) = scheduler_leader(etcd).await
            && let Some(i) = nodes
                .iter()
                .position(|n| n.api_addr().to_string() == address)
        {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "no callback node leads after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many INVITEs reached the customer for each number dialled.
fn invites_per_number(customer: &Phone) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for invite in invites(customer) {
        let number = invite
            .start_line
            .split_whitespace()
            .nth(1)
            .and_then(|uri| uri.strip_prefix("sip:"))
            .and_then(|uri| uri.split('@').next())
            .unwrap_or_default()
            .to_owned();
        *counts.entry(number).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_scheduler_leader_mid_dispatch_dials_every_due_callback_exactly_once() {
    let etcd = EtcdCluster::start(3).await.unwrap();
    let customer = Phone::unregistered(
        "customer",
        Behaviour::AnswerThenHangUp {
            ring_ms: 200,
            talk_ms: 1500,
        },
    );
    let config = center(&etcd, &customer);
    let presence = Ccd::start(config.clone().service("presence"));
    let _routing = Ccd::start(config.clone().service("routing"));
    let _media = Ccd::start(config.clone().service("media"));
    let _queue = Ccd::start(config.clone().service("queue"));
    let edge = Ccd::start(config.clone().service("sip-edge"));
    let mut schedulers = [
        Some(Ccd::start(config.clone().service("callback"))),
        Some(Ccd::start(config.clone().service("callback"))),
    ];
    let coordinator = etcd.connect().await;
    let leader = {
        let nodes: Vec<&Ccd> = schedulers.iter().flatten().collect();
        until_leader(&coordinator, &nodes, Duration::from_secs(20)).await
    };
    let survivor = 1 - leader;
    let _phones: Vec<Phone> = [("201", "anna-secret"), ("202", "piotr-secret")]
        .into_iter()
        .map(|(extension, password)| {
            Phone::register(
                edge.addr(),
                "cc.local",
                extension,
                password,
                Behaviour::Answer { ring_ms: 100 },
            )
        })
        .collect();

    // Four callbacks due now, scheduled through the node that will survive (it forwards to
    // the leader); two agents at work, so the leader dials two at once.
    let numbers = [
        "+48600700801",
        "+48600700802",
        "+48600700803",
        "+48600700804",
    ];
    let mut ids = Vec::new();
    {
        let api = schedulers[survivor].as_ref().unwrap();
        for number in numbers {
            ids.push(schedule(api, "sales", number).await);
        }
    }
    log_in_at_work(&presence, &["anna", "piotr"]).await;

    // In the middle of dispatching: the customer has answered the leader's first attempt.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !customer
        .log()
        .iter()
        .any(|m| !m.received && m.start_line.starts_with("SIP/2.0 200"))
    {
        assert!(
            Instant::now() < deadline,
            "the customer never answered a callback\n{}\n{}",
            customer.describe(),
            schedulers[leader].as_ref().unwrap().log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(schedulers[leader].take());
    eprintln!("killed the scheduler leader");

    // The other node leads once the dead one's lease is gone, and dials what is left.
    let api = schedulers[survivor].as_ref().unwrap();
    until_leader(&coordinator, &[api], Duration::from_secs(20)).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while invites_per_number(&customer).len() < numbers.len() {
        assert!(
            Instant::now() < deadline,
            "not every callback was dialled: {:?}\n{}\n--- edge ---\n{}",
            invites_per_number(&customer),
            api.log_text(),
            edge.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every callback is reached, once: the attempts the dead leader had under way ran on
    // at sip-edge, and the new leader learnt how they ended from there.
    for id in &ids {
        let c = until_state(api, id, pb::CallbackState::Reached, Duration::from_secs(60)).await;
        assert_eq!(c.attempts, 1, "{c:#?}");
    }
    // Nothing is dialled twice, also a while after.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = invites_per_number(&customer);
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        vec![1; numbers.len()],
        "INVITEs per number: {counts:?}\n{}",
        customer.describe()
    );
}
