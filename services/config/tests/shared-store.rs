//! The configuration kept in the coordinator and shared by nodes: the first node seeds
//! it, later nodes take it, a change through any node reaches every node, and two admins
//! editing at once never lose a change. Against the in-memory coordinator and a real etcd.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::testing::EtcdServer;
use cc_cluster::{Coordinator, MemoryCoordinator};
use cc_common::config::{DEMO_TOML, Employee, Role};
use cc_common::{Config, Shutdown, ShutdownTrigger};
use cc_config::{ConfigStore, StoreError};

fn employee(id: &str, extension: &str) -> Employee {
    Employee {
        id: id.into(),
        name: format!("Employee {id}"),
        extension: extension.into(),
        sip_password: "secret".into(),
        role: Role::User,
        mobile: None,
    }
}

fn demo() -> Config {
    Config::from_toml(DEMO_TOML).unwrap()
}

/// Two nodes on one coordinator; the second's file has a different organisation.
async fn two_nodes(
    coordinator: Arc<dyn Coordinator>,
) -> (Arc<ConfigStore>, Arc<ConfigStore>, ShutdownTrigger) {
    let (trigger, shutdown) = Shutdown::new();
    let a = ConfigStore::open(coordinator.clone(), demo(), shutdown.clone())
        .await
        .unwrap();
    let mut other_file = demo();
    other_file.employees.truncate(1);
    other_file.departments.clear();
    other_file.numbers.clear();
    let b = ConfigStore::open(coordinator, other_file, shutdown)
        .await
        .unwrap();
    (a, b, trigger)
}

/// Waits until the node's snapshot satisfies `ready`.
async fn until(store: &ConfigStore, ready: impl Fn(&Config) -> bool) {
    let mut rx = store.subscribe();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|c| ready(c)))
        .await
        .expect("the change reaches the node within 10 s")
        .unwrap();
}

async fn nodes_share_one_configuration(coordinator: Arc<dyn Coordinator>) {
    let (a, b, _stop) = two_nodes(coordinator).await;
    // The second node took what the first seeded, not its own file.
    assert_eq!(b.snapshot().employees.len(), a.snapshot().employees.len());
    assert_eq!(b.revision(), 1);

    a.create(employee("ewa", "204")).await.unwrap();
    until(&b, |c| c.employee("ewa").is_some()).await;
    b.create(employee("olek", "205")).await.unwrap();
    until(&a, |c| c.employee("olek").is_some()).await;
    assert_eq!(a.revision(), 3);
    assert_eq!(b.revision(), 3);
}

async fn two_admins_never_lose_a_change(coordinator: Arc<dyn Coordinator>) {
    let (a, b, _stop) = two_nodes(coordinator).await;
    // Both read anna at the same etag.
    let anna = a.get::<Employee>("anna").unwrap();
    assert_eq!(b.get::<Employee>("anna").unwrap().etag, anna.etag);

    // Different resources at the same moment: both land, whichever node was behind.
    let (first, second) = tokio::join!(
        a.create(employee("ewa", "204")),
        b.create(employee("olek", "205"))
    );
    first.unwrap();
    second.unwrap();
    until(&a, |c| {
        c.employee("ewa").is_some() && c.employee("olek").is_some()
    })
    .await;
    until(&b, |c| {
        c.employee("ewa").is_some() && c.employee("olek").is_some()
    })
    .await;

    // The same resource: the second update carries a stale etag and is refused.
    let mut renamed = anna.resource.clone();
    renamed.name = "Anna A".into();
    a.update(renamed, anna.etag).await.unwrap();
    let mut again = anna.resource.clone();
    again.name = "Anna B".into();
    let refused = b.update(again, anna.etag).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict { .. }), "{refused}");
    until(&b, |c| c.employee("anna").unwrap().name == "Anna A").await;
}

#[tokio::test]
async fn memory_nodes_share_one_configuration() {
    nodes_share_one_configuration(Arc::new(MemoryCoordinator::default())).await;
}

#[tokio::test]
async fn memory_two_admins_never_lose_a_change() {
    two_admins_never_lose_a_change(Arc::new(MemoryCoordinator::default())).await;
}

#[tokio::test]
async fn etcd_nodes_share_one_configuration() {
    let etcd = EtcdServer::start().await.unwrap();
    nodes_share_one_configuration(Arc::new(etcd.connect().await)).await;
}

#[tokio::test]
async fn etcd_two_admins_never_lose_a_change() {
    let etcd = EtcdServer::start().await.unwrap();
    two_admins_never_lose_a_change(Arc::new(etcd.connect().await)).await;
}

#[tokio::test]
async fn a_stored_configuration_that_fails_the_checks_is_refused_at_start() {
    let coordinator = Arc::new(MemoryCoordinator::default());
    coordinator
        .put(
            cc_config::store::KEY,
            b"{\"not\": \"a configuration\"}".to_vec(),
            None,
        )
        .await
        .unwrap();
    let (_trigger, shutdown) = Shutdown::new();
    let refused = ConfigStore::open(coordinator, demo(), shutdown)
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Corrupt(_)), "{refused}");
}

#[tokio::test]
async fn writes_fail_cleanly_while_etcd_is_down_and_work_again_after() {
    let mut etcd = EtcdServer::start().await.unwrap();
    let (_trigger, shutdown) = Shutdown::new();
    let store = ConfigStore::open(Arc::new(etcd.connect().await), demo(), shutdown)
        .await
        .unwrap();
    etcd.kill();
    let refused = store.create(employee("ewa", "204")).await.unwrap_err();
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused}");
    assert!(
        store.snapshot().employee("ewa").is_none(),
        "nothing written"
    );
    etcd.restart().await.unwrap();
    store.create(employee("ewa", "204")).await.unwrap();
    assert!(store.snapshot().employee("ewa").is_some());
}
