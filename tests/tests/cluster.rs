//! `ccd all --etcd`: nodes that share one configuration through a real etcd. A change made
//! through one node's API reaches the others (a phone registers on the other node at once),
//! a stale edit on another node is refused, and changes outlive a node's restart.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_cluster::Coordinator;
use cc_cluster::testing::EtcdServer;
use cc_proto::config::v1 as cfg;
use cc_proto::config::v1::configuration_client::ConfigurationClient;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;
use tonic::transport::Channel;

async fn config_api(node: &Ccd) -> ConfigurationClient<Channel> {
    ConfigurationClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap()
}

async fn employee_ids(api: &mut ConfigurationClient<Channel>) -> Vec<String> {
    api.list_employees(cfg::ListEmployeesRequest {})
        .await
        .unwrap()
        .into_inner()
        .employees
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// Polls the node's API until `id` is there (bounded: a watch round trip is milliseconds).
async fn until_employee(api: &mut ConfigurationClient<Channel>, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !employee_ids(api).await.iter().any(|e| e == id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never reached the node"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn maria() -> cfg::Employee {
    cfg::Employee {
        id: "maria".into(),
        name: "Maria Wisniewska".into(),
        extension: "203".into(),
        sip_password: "maria-secret".into(),
        role: cfg::Role::User.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_one_etcd_share_configuration_changes_and_keep_them_across_restarts() {
    let etcd = EtcdServer::start().await.unwrap();
    let first = Ccd::start(NodeConfig::default().etcd(&etcd.endpoint()));
    // The second node's file names only Anna: it takes the stored organisation instead.
    let mut only_anna = NodeConfig::default().etcd(&etcd.endpoint());
    only_anna.employees.truncate(1);
    let second = Ccd::start(only_anna);
    let (mut a, mut b) = (config_api(&first).await, config_api(&second).await);
    assert_eq!(employee_ids(&mut b).await, ["anna", "piotr"]);
    // Both nodes registered their services under their leases.
    let coordinator = etcd.connect().await;
    let registered = |listing: cc_cluster::Listing| -> Vec<String> {
        listing.kvs.into_iter().map(|kv| kv.key).collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let nodes = loop {
        let nodes = registered(coordinator.list("/cc/nodes/sip-edge/").await.unwrap());
        if nodes.len() == 2 || tokio::time::Instant::now() > deadline {
            break nodes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let first_port = first.api_addr().port().to_string();
    assert!(
        nodes.iter().any(|k| k.contains(&format!("-{first_port}-"))),
        "{nodes:?}"
    );

    a.create_employee(cfg::CreateEmployeeRequest {
        employee: Some(maria()),
    })
    .await
    .unwrap();
    until_employee(&mut b, "maria").await;

    // Maria's phone registers with the second node: its registrar follows the change.
    let run = tokio::task::spawn_blocking({
        let addr = second.addr();
        move || {
            Sipp::new("register_digest.xml", addr, Transport::Udp)
                .key("domain", "cc.local")
                .service("203")
                .auth("203", "maria-secret")
                .run()
        }
    })
    .await
    .unwrap();
    assert!(run.all_calls_succeeded(), "{}", run.describe());

    // Two admins read Maria on different nodes; the second write is refused.
    let read = b
        .get_employee(cfg::GetEmployeeRequest { id: "maria".into() })
        .await
        .unwrap()
        .into_inner();
    a.update_employee(cfg::UpdateEmployeeRequest {
        employee: Some(cfg::Employee {
            name: "Maria W.".into(),
            ..read.clone()
        }),
    })
    .await
    .unwrap();
    let stale = b
        .update_employee(cfg::UpdateEmployeeRequest {
            employee: Some(cfg::Employee {
                name: "Maria Wiśniewska".into(),
                ..read
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), tonic::Code::Aborted, "{stale:?}");

    // Both nodes go, the first gracefully: it deregisters before it exits.
    drop((a, b));
    let mut first = first;
    assert!(first.terminate(Duration::from_secs(10)).is_some());
    let left = registered(coordinator.list("/cc/nodes/").await.unwrap());
    assert!(
        !left.iter().any(|k| k.contains(&format!("-{first_port}-"))),
        "{left:?}"
    );
    assert!(
        left.iter().any(|k| k.starts_with("/cc/nodes/queue/")),
        "{left:?}"
    );
    drop(second);
    // A new node finds Maria in etcd although no file names her.
    let third = Ccd::start(NodeConfig::default().etcd(&etcd.endpoint()));
    let mut c = config_api(&third).await;
    let maria = c
        .get_employee(cfg::GetEmployeeRequest { id: "maria".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(maria.name, "Maria W.");
}

#[test]
fn a_node_refuses_to_start_when_etcd_cannot_be_reached() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = NodeConfig::default();
    let dir = cc_tests::TempDir::new("ccd-etcd-down");
    let path = dir.write("ccd.toml", &config.to_toml());
    let output = std::process::Command::new(cc_tests::ccd::ccd_binary())
        .args(["all", "--config"])
        .arg(&path)
        .args(["--etcd", &format!("http://127.0.0.1:{port}")])
        .args([
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(["--sip-listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach etcd"), "{stderr}");
}
