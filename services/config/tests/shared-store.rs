//! The configuration kept in the coordinator and shared by nodes: the first node seeds
//! it, later nodes take it, a change through any node reaches every node (caller lists and
//! screening policies included), two admins editing at once never lose a change, and the
//! largest configuration the store allows fits etcd. Against the in-memory coordinator and
//! a real etcd.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::testing::EtcdServer;
use cc_cluster::{Coordinator, MemoryCoordinator};
use cc_common::config::{
    AnonymousPolicy, CallerList, DEMO_TOML, Destination, Employee, Role, Screening,
};
use cc_common::{Config, Shutdown, ShutdownTrigger};
use cc_config::store::MAX_STORED_BYTES;
use cc_config::{ConfigState, ConfigStore, StoreError};

fn employee(id: &str, extension: &str) -> Employee {
    Employee {
        id: id.into(),
        name: format!("Employee {id}"),
        extension: extension.into(),
        sip_password: "secret".into(),
        role: Role::User,
        mobile: None,
        priority: 0,
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

async fn caller_lists_and_policies_reach_every_node(coordinator: Arc<dyn Coordinator>) {
    let (a, b, _stop) = two_nodes(coordinator).await;
    a.create(CallerList {
        id: "spam".into(),
        name: None,
        entries: vec!["+48700*".into()],
    })
    .await
    .unwrap();
    until(&b, |c| c.caller_list("spam").is_some()).await;
    b.create(Screening {
        employee: "anna".into(),
        dnd: None,
        vip: Vec::new(),
        never: vec!["spam".into()],
        limited: Vec::new(),
        anonymous: AnonymousPolicy::Decline,
        announce: false,
        declined: Destination::Hangup("in-a-meeting".into()),
    })
    .await
    .unwrap();
    until(&a, |c| c.screening_of("anna").is_some()).await;
    // The list is in use on every node: neither may delete it.
    let etag = a.get::<CallerList>("spam").unwrap().etag;
    let refused = a.delete::<CallerList>("spam", etag).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Referenced { .. }),
        "{refused}"
    );
}

/// The demo organisation with a caller list of `n` numbers (15 bytes stored each).
fn with_list(n: usize) -> Config {
    let mut config = demo();
    config.caller_lists.push(CallerList {
        id: "everyone".into(),
        name: None,
        entries: (0..n).map(|i| format!("+4822{i:07}")).collect(),
    });
    config
}

fn stored_size(config: Config) -> usize {
    ConfigState::new(config).unwrap().to_stored().len()
}

#[tokio::test]
async fn etcd_takes_the_largest_configuration_the_store_allows() {
    // As many numbers as fit the limit: etcd (default --max-request-bytes) stores it.
    let one = stored_size(with_list(1));
    let n = 1 + (MAX_STORED_BYTES - one) / 15;
    let largest = stored_size(with_list(n));
    assert!(largest <= MAX_STORED_BYTES && largest + 15 > MAX_STORED_BYTES);
    let etcd = EtcdServer::start().await.unwrap();
    let (_trigger, shutdown) = Shutdown::new();
    let store = ConfigStore::open(Arc::new(etcd.connect().await), with_list(n), shutdown)
        .await
        .unwrap();
    let everyone = store.get::<CallerList>("everyone").unwrap();
    assert_eq!(everyone.resource.entries.len(), n);

    // One number more is refused by the store, before etcd, and changes nothing.
    let grown = CallerList {
        entries: with_list(n + 1).caller_lists.remove(0).entries,
        ..everyone.resource.clone()
    };
    let refused = store.update(grown, everyone.etag).await.unwrap_err();
    assert_eq!(
        refused,
        StoreError::TooLarge {
            size: largest + 15,
            limit: MAX_STORED_BYTES
        }
    );
    assert_eq!(store.revision(), 1);
    // The stored value is still the one seeded: a new node takes it as it is.
    let (_trigger, shutdown) = Shutdown::new();
    let other = ConfigStore::open(Arc::new(etcd.connect().await), demo(), shutdown)
        .await
        .unwrap();
    assert_eq!(other.snapshot().caller_lists, store.snapshot().caller_lists);
}

#[tokio::test]
async fn a_file_too_large_to_store_cannot_seed_but_a_stored_configuration_serves() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let (_trigger, shutdown) = Shutdown::new();
    let refused = ConfigStore::open(coordinator.clone(), with_list(110_000), shutdown.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::TooLarge { size, limit } if size > limit),
        "{refused}"
    );
    ConfigStore::open(coordinator.clone(), demo(), shutdown.clone())
        .await
        .unwrap();
    // A later node's own organisation is not stored, so its size does not matter.
    let later = ConfigStore::open(coordinator, with_list(110_000), shutdown)
        .await
        .unwrap();
    assert!(later.snapshot().caller_lists.is_empty());
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
async fn memory_caller_lists_and_policies_reach_every_node() {
    caller_lists_and_policies_reach_every_node(Arc::new(MemoryCoordinator::default())).await;
}

#[tokio::test]
async fn etcd_caller_lists_and_policies_reach_every_node() {
    let etcd = EtcdServer::start().await.unwrap();
    caller_lists_and_policies_reach_every_node(Arc::new(etcd.connect().await)).await;
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
