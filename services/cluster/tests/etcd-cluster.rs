//! A three-member etcd cluster whose leader is SIGKILLed (DESIGN.md section 4): what a node
//! holds through the coordinator outlives the election of a new leader. A node lease is not
//! lost (etcd keeps leases across leader changes), a follower misses no write, an ownership
//! stays with its holder, compare-and-swap keeps working; the killed member, started again,
//! rejoins. While the leader dies, a few probes send requests without pause and the time
//! they were failing is printed (`--no-capture` shows it).
//!
//! A member that is dead while the leader lives must not fail requests at all: the
//! coordinator sends a request that could not reach it to another member.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::testing::EtcdCluster;
use cc_cluster::{
    Coordinator, Error, Event, Expect, Follower, NodeLease, Ownership, Revision, Swap, Update,
    Write,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// The node lease TTL ccd runs with.
const TTL: Duration = Duration::from_secs(4);
/// How long something that must not happen (a lease or an ownership lost) is watched for
/// after the crash: twice the TTL, so a lease not kept alive through the election would
/// have expired by then.
const HOLD: Duration = Duration::from_secs(8);
/// Upper bound for anything that should happen "soon".
const SOON: Duration = Duration::from_secs(15);
const MEMBERS: usize = 3;

async fn cluster() -> (EtcdCluster, Arc<dyn Coordinator>) {
    let cluster = EtcdCluster::start(MEMBERS).await.expect("etcd starts");
    let coordinator: Arc<dyn Coordinator> = Arc::new(cluster.connect().await);
    (cluster, coordinator)
}

/// One timed request of a probe.
struct Sample {
    write: bool,
    started: Instant,
    ended: Instant,
    error: Option<Error>,
}

/// Tasks that each put and get their own key without pause, through their own connection
/// to every member, until a few rounds after a new leader is known.
struct Probes {
    elected: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Vec<Sample>>>,
}

/// Rounds each probe makes once the new leader is known.
const ROUNDS_AFTER: usize = 10;

impl Probes {
    fn start(coordinator: &Arc<dyn Coordinator>) -> Self {
        let (elected, rx) = watch::channel(false);
        let tasks = (0..3)
            .map(|probe| {
                let c = coordinator.clone();
                let elected = rx.clone();
                tokio::spawn(async move {
                    let key = format!("/probe/{probe}");
                    let mut samples = Vec::new();
                    let mut after = 0;
                    while after < ROUNDS_AFTER {
                        if *elected.borrow() {
                            after += 1;
                        }
                        let started = Instant::now();
                        let error = c.put(&key, b"p".to_vec(), None).await.err();
                        let ended = Instant::now();
                        samples.push(Sample {
                            write: true,
                            started,
                            ended,
                            error,
                        });
                        let error = c.get(&key).await.err();
                        samples.push(Sample {
                            write: false,
                            started: ended,
                            ended: Instant::now(),
                            error,
                        });
                    }
                    samples
                })
            })
            .collect();
        Self { elected, tasks }
    }
}

/// The leader's SIGKILL, with probes timing requests through it.
struct Crash {
    test: &'static str,
    killed: usize,
    at: Instant,
    probes: Probes,
}

impl Crash {
    /// Kills the member that leads now.
    async fn of_leader(test: &'static str, cluster: &mut EtcdCluster) -> Self {
        let probed: Arc<dyn Coordinator> = Arc::new(cluster.connect().await);
        let probes = Probes::start(&probed);
        let killed = cluster.leader().await.unwrap();
        let at = Instant::now();
        cluster.kill(killed);
        Self {
            test,
            killed,
            at,
            probes,
        }
    }

    /// Waits for a new leader, then for the probes to see requests work again; prints how
    /// long the election took and how long requests were failing. Returns the new leader.
    async fn settle(self, cluster: &EtcdCluster) -> usize {
        // Only the members can say when they elected someone: ask them.
        let leader = timeout(SOON, async {
            loop {
                if let Ok(leader) = cluster.leader().await {
                    return leader;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the surviving members elect a leader");
        let elected = self.at.elapsed();
        assert_ne!(leader, self.killed);
        self.probes.elected.send_replace(true);
        let mut samples = Vec::new();
        for task in self.probes.tasks {
            let probe = timeout(SOON, task)
                .await
                .expect("the probes finish")
                .unwrap();
            let last = &probe[probe.len() - 2..];
            assert!(
                last.iter().all(|s| s.error.is_none()),
                "requests work again after the election: {:?}",
                last.iter().map(|s| &s.error).collect::<Vec<_>>()
            );
            samples.extend(probe.into_iter().filter(|s| s.ended > self.at));
        }
        eprintln!(
            "[{}] leader s{} SIGKILLed; s{} elected after {elected:?}",
            self.test,
            self.killed + 1,
            leader + 1
        );
        for (kind, write) in [("writes", true), ("reads", false)] {
            let sent: Vec<_> = samples.iter().filter(|s| s.write == write).collect();
            let failed: Vec<_> = sent.iter().filter(|s| s.error.is_some()).collect();
            let slowest = sent
                .iter()
                .map(|s| s.ended - s.started)
                .max()
                .unwrap_or_default();
            let failing = match failed.iter().map(|s| s.ended - self.at).max() {
                Some(until) => {
                    let mut errors: Vec<_> = failed
                        .iter()
                        .filter_map(|s| s.error.as_ref().map(ToString::to_string))
                        .collect();
                    errors.sort();
                    errors.dedup();
                    format!(
                        "{} failed, the last ending {until:?} after the kill ({})",
                        failed.len(),
                        errors.join("; ")
                    )
                }
                None => "none failed".to_owned(),
            };
            eprintln!(
                "[{}]   {kind}: {} sent, {failing}; slowest {slowest:?}",
                self.test,
                sent.len()
            );
        }
        leader
    }
}

/// Starts `killed` again and checks it rejoined: a write through it is visible through
/// another member, and the other way round.
async fn rejoins(cluster: &mut EtcdCluster, killed: usize) {
    let started = Instant::now();
    cluster.restart(killed).await.expect("the member restarts");
    eprintln!(
        "member s{} serves again {:?} after its restart",
        killed + 1,
        started.elapsed()
    );
    let back = cluster.connect_to(killed).await;
    let other = cluster.connect_to((killed + 1) % MEMBERS).await;
    let through_back = back
        .put("/rejoin/through-restarted", b"1".to_vec(), None)
        .await
        .unwrap();
    let seen = other
        .get("/rejoin/through-restarted")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.mod_revision, through_back);
    let through_other = other
        .put("/rejoin/through-other", b"2".to_vec(), None)
        .await
        .unwrap();
    let seen = back.get("/rejoin/through-other").await.unwrap().unwrap();
    assert_eq!(seen.mod_revision, through_other);
    cluster.leader().await.expect("the cluster has a leader");
}

#[tokio::test]
async fn a_node_lease_and_its_keys_survive_a_leader_crash() {
    let (mut cluster, c) = cluster().await;
    let lease = NodeLease::start(c.clone(), TTL).await.unwrap();
    let held = lease.current().unwrap();
    c.put("/a/node", b"up".to_vec(), Some(held.lease))
        .await
        .unwrap();
    let mut changes = lease.subscribe();
    changes.borrow_and_update();

    let crash = Crash::of_leader("lease", &mut cluster).await;
    let killed = crash.killed;
    let (_, changed) = tokio::join!(crash.settle(&cluster), timeout(HOLD, changes.changed()));
    assert!(
        changed.is_err(),
        "the node lease was reported lost or replaced: {:?}",
        *changes.borrow()
    );
    assert_eq!(lease.current(), Some(held), "same lease, generation 1");
    // Two TTLs after the crash: etcd would have expired it, had keep-alives not got through.
    let key = c
        .get("/a/node")
        .await
        .unwrap()
        .expect("the lease's key survives");
    assert_eq!(key.lease, Some(held.lease));
    c.keep_alive(held.lease).await.unwrap();

    rejoins(&mut cluster, killed).await;
    assert_eq!(lease.current(), Some(held));
}

/// Creates `key` once: a create whose answer was lost is found by its value.
async fn create(c: &dyn Coordinator, key: &str, failures: &mut usize) -> Revision {
    let value = key.as_bytes().to_vec();
    loop {
        let write = Write::Put {
            value: value.clone(),
            lease: None,
        };
        match c.swap(key, Expect::Absent, write).await {
            Ok(Swap::Done(revision)) => return revision,
            Ok(Swap::Conflict(Some(kv))) if kv.value == value => return kv.mod_revision,
            Ok(other) => panic!("{key} was created by someone else: {other:?}"),
            Err(e) => {
                assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
                *failures += 1;
                // The coordinator already waited for its deadline or retried; a short
                // pause keeps a refusing cluster from being hammered.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_follower_sees_every_write_after_a_leader_crash_in_order() {
    const WRITES: usize = 60;
    let (mut cluster, c) = cluster().await;
    // Followers each through their own connection to every member (a watch goes to the
    // member the balancer picks: some are likely to be watching through the leader, and
    // resume through another member), and the last one through the leader alone (it resumes
    // when the leader is back, as a member again).
    let mut followers = Vec::new();
    for n in 0..5 {
        let own: Arc<dyn Coordinator> = if n < 4 {
            Arc::new(cluster.connect().await)
        } else {
            Arc::new(cluster.connect_to(cluster.leader().await.unwrap()).await)
        };
        let mut follower = Follower::new(own, "/b/");
        assert_eq!(timeout(SOON, follower.next()).await.unwrap(), Update::Reset);
        followers.push(follower);
    }
    // Each follower's watch is running before the crash: it sees this write.
    let before = c.put("/b/before", b"x".to_vec(), None).await.unwrap();
    for follower in &mut followers {
        let update = timeout(SOON, follower.next()).await.unwrap();
        assert!(
            matches!(&update, Update::Changed(events) if events[0].revision() == before),
            "{update:?}"
        );
    }
    let mut pinned = followers.pop().unwrap();

    let crash = Crash::of_leader("follower", &mut cluster).await;
    let killed = crash.killed;
    let writer = async {
        let mut failures = 0;
        let mut written = Vec::new();
        for i in 0..WRITES {
            let key = format!("/b/{i:03}");
            let revision = create(&*c, &key, &mut failures).await;
            written.push((key, revision));
        }
        (written, failures)
    };
    let (_, written) = tokio::join!(crash.settle(&cluster), timeout(SOON, writer));
    let (written, failures) = written.expect("the writes are made");
    eprintln!("[follower] {WRITES} creates after the kill, {failures} attempts failed");

    for (n, follower) in followers.iter_mut().enumerate() {
        sees_exactly(n, follower, &written).await;
    }
    rejoins(&mut cluster, killed).await;
    sees_exactly(4, &mut pinned, &written).await;
}

/// The follower's next changes are exactly `written`: every write, each once, in the order
/// it was made, at the revision it was made at.
async fn sees_exactly(n: usize, follower: &mut Follower, written: &[(String, Revision)]) {
    let mut seen: Vec<(String, Revision)> = Vec::new();
    while seen.len() < written.len() {
        match timeout(SOON, follower.next()).await {
            Ok(Update::Changed(events)) => {
                seen.extend(events.iter().map(|e| {
                    assert!(matches!(e, Event::Put(_)), "{e:?}");
                    (e.key().to_owned(), e.revision())
                }));
            }
            Ok(Update::Reset) => panic!("follower {n} listed again"),
            Err(_) => panic!(
                "follower {n} saw only {} of {} writes",
                seen.len(),
                written.len()
            ),
        }
    }
    assert_eq!(seen, written, "follower {n}");
    assert_eq!(follower.revision(), written[written.len() - 1].1);
    assert_eq!(follower.kvs().len(), written.len() + 1);
}

#[tokio::test]
async fn an_ownership_stays_with_its_holder_through_a_leader_crash() {
    let (mut cluster, c) = cluster().await;
    let other: Arc<dyn Coordinator> = Arc::new(cluster.connect().await);
    let lease = NodeLease::start(c.clone(), TTL).await.unwrap();
    let contender_lease = NodeLease::start(other.clone(), TTL).await.unwrap();
    let ownership = Ownership::new(c.clone(), "/c/owner", b"holder".to_vec());
    let owned = timeout(SOON, ownership.acquire(&mut lease.subscribe()))
        .await
        .unwrap();

    // The holder watches for the loss, the contender waits for the key: both before the
    // crash.
    let lost = {
        let (ownership, owned, mut lease) = (ownership.clone(), owned.clone(), lease.subscribe());
        tokio::spawn(async move { ownership.lost(&owned, &mut lease).await })
    };
    let contender = {
        let ownership = Ownership::new(other, "/c/owner", b"contender".to_vec());
        let mut lease = contender_lease.subscribe();
        tokio::spawn(async move { ownership.acquire(&mut lease).await })
    };
    let holder = ownership.holder().await.unwrap().unwrap();
    assert_eq!(holder.create_revision, owned.token);

    let crash = Crash::of_leader("ownership", &mut cluster).await;
    let killed = crash.killed;
    let held = async {
        tokio::select! {
            result = lost => panic!("the holder was told its ownership is lost: {result:?}"),
            result = contender => panic!("the contender acquired the key: {result:?}"),
            () = tokio::time::sleep(HOLD) => {}
        }
    };
    tokio::join!(crash.settle(&cluster), held);
    let holder = ownership.holder().await.unwrap().unwrap();
    assert_eq!(
        (
            holder.create_revision,
            holder.lease,
            holder.value.as_slice()
        ),
        (owned.token, Some(owned.lease), &b"holder"[..])
    );

    rejoins(&mut cluster, killed).await;
}

#[tokio::test]
async fn compare_and_swap_keeps_working_through_a_leader_crash() {
    const INCREMENTS: u32 = 40;
    let (mut cluster, c) = cluster().await;
    let Swap::Done(first) = c
        .swap(
            "/d/counter",
            Expect::Absent,
            Write::Put {
                value: b"0".to_vec(),
                lease: None,
            },
        )
        .await
        .unwrap()
    else {
        panic!("the counter is created");
    };

    let crash = Crash::of_leader("swap", &mut cluster).await;
    let killed = crash.killed;
    // Increments by compare-and-swap on the revision read; an increment whose answer was
    // lost is found by its value.
    let counter = async {
        let mut failures = 0;
        for n in 1..=INCREMENTS {
            let value = n.to_string().into_bytes();
            loop {
                let current = match c.get("/d/counter").await {
                    Ok(current) => current.unwrap(),
                    Err(_) => {
                        failures += 1;
                        continue;
                    }
                };
                if current.value == value {
                    break;
                }
                assert_eq!(current.value, (n - 1).to_string().into_bytes());
                let write = Write::Put {
                    value: value.clone(),
                    lease: None,
                };
                match c
                    .swap(
                        "/d/counter",
                        Expect::ModRevision(current.mod_revision),
                        write,
                    )
                    .await
                {
                    Ok(Swap::Done(_)) => break,
                    Ok(Swap::Conflict(Some(kv))) if kv.value == value => break,
                    Ok(other) => panic!("increment {n} conflicts with {other:?}"),
                    Err(e) => {
                        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
                        failures += 1;
                    }
                }
            }
        }
        failures
    };
    let (_, failures) = tokio::join!(crash.settle(&cluster), timeout(SOON, counter));
    let failures = failures.expect("the increments finish");
    eprintln!("[swap] {INCREMENTS} increments after the kill, {failures} attempts failed");

    let counter = c.get("/d/counter").await.unwrap().unwrap();
    assert_eq!(counter.value, INCREMENTS.to_string().into_bytes());
    // The new leader still refuses a swap on a stale revision.
    let stale = Write::Put {
        value: b"stale".to_vec(),
        lease: None,
    };
    assert_eq!(
        c.swap("/d/counter", Expect::ModRevision(first), stale)
            .await
            .unwrap(),
        Swap::Conflict(Some(counter))
    );

    rejoins(&mut cluster, killed).await;
}

#[tokio::test]
async fn a_dead_member_fails_no_request() {
    const ROUNDS: usize = 100;
    let (mut cluster, c) = cluster().await;
    let leader = cluster.leader().await.unwrap();
    let dead = (leader + 1) % MEMBERS;
    cluster.kill(dead);
    // Every kind of request, many times: each time the balancer picks the dead member,
    // the request must go to another one instead.
    let lease = c.grant(TTL).await.unwrap();
    let mut watch = c.watch("/e/", 1).await.unwrap();
    for i in 0..ROUNDS {
        let key = format!("/e/{i}");
        let revision = c.put(&key, b"1".to_vec(), Some(lease)).await.unwrap();
        assert_eq!(c.get(&key).await.unwrap().unwrap().mod_revision, revision);
        let write = Write::Put {
            value: b"2".to_vec(),
            lease: None,
        };
        assert!(matches!(
            c.swap(&key, Expect::ModRevision(revision), write)
                .await
                .unwrap(),
            Swap::Done(_)
        ));
        assert!(c.delete(&key).await.unwrap());
        c.keep_alive(lease).await.unwrap();
        assert!(c.list("/e/").await.unwrap().kvs.is_empty());
        drop(c.watch("/e/", revision).await.unwrap());
    }
    c.revoke(lease).await.unwrap();
    // The watch made before saw all of it (put, swap, delete each round).
    let mut events = 0;
    while events < 3 * ROUNDS {
        events += timeout(SOON, watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .len();
    }
    assert_eq!(events, 3 * ROUNDS);
    rejoins(&mut cluster, dead).await;
}
