//! Real etcd for tests (Debian's etcd-server, installed by scripts/setup.sh): members on
//! loopback, free ports, a temporary directory for their data and logs, fast election
//! settings. A member can be killed (SIGKILL, a real crash) and started again on the same
//! ports and data.
//!
//! [`EtcdCluster`] is N members started together as one cluster; [`EtcdServer`] is a
//! cluster of one, for the tests that need a single etcd. [`Faulty`] is the in-memory
//! coordinator with the faults a network and etcd's elections bring, on demand.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{
    Coordinator, Error, EtcdCoordinator, Expect, KeyValue, LeaseId, Listing, MemoryCoordinator,
    Revision, Swap, WatchStream, Write,
};

/// How long a member may take to serve requests after it is started.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// One etcd member running as a child process; killed when dropped.
#[derive(Debug)]
pub struct EtcdServer {
    cluster: EtcdCluster,
}

impl EtcdServer {
    /// Starts a member and waits until it serves requests (about half a second).
    pub async fn start() -> io::Result<Self> {
        Ok(Self {
            cluster: EtcdCluster::start(1).await?,
        })
    }

    /// The client URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        self.cluster.endpoint(0)
    }

    /// Where etcd writes its log.
    pub fn log_path(&self) -> PathBuf {
        self.cluster.log_path(0)
    }

    /// A coordinator connected to this member.
    pub async fn connect(&self) -> EtcdCoordinator {
        self.cluster.connect().await
    }

    /// SIGKILL: the member stops at once, as in a crash.
    pub fn kill(&mut self) {
        self.cluster.kill(0);
    }

    /// Starts the member again on the same ports with the same data.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.cluster.restart(0).await
    }
}

/// One member of an [`EtcdCluster`]: its ports, and its process while it runs.
#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl Member {
    fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// N etcd members started together as one cluster, each a child process; all are killed
/// when dropped. Members are numbered from 0 (etcd names them `s1`, `s2` ...).
#[derive(Debug)]
pub struct EtcdCluster {
    /// Each member's data (`s1/` ...) and log (`s1.log` ...).
    dir: tempfile::TempDir,
    /// `s1=http://127.0.0.1:P1,s2=...`
    initial_cluster: String,
    /// Unique to this cluster, so that its members never talk to another test's.
    token: String,
    members: Vec<Member>,
}

/// `n` distinct free ports: every one is held until all are chosen.
fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

impl EtcdCluster {
    /// Starts `n` members as a new cluster and waits until it has a leader and every
    /// member serves requests (about a second).
    pub async fn start(n: usize) -> io::Result<Self> {
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a cluster has at least one member",
            ));
        }
        let dir = tempfile::tempdir()?;
        let ports = free_ports(2 * n)?;
        let members: Vec<Member> = ports
            .chunks(2)
            .enumerate()
            .map(|(i, ports)| Member {
                name: format!("s{}", i + 1),
                client_port: ports[0],
                peer_port: ports[1],
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!(
            "cc-test-{}",
            dir.path()
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        let mut cluster = Self {
            dir,
            initial_cluster,
            token,
            members,
        };
        for i in 0..n {
            cluster.spawn(i, "new")?;
        }
        cluster.wait_ready(&(0..n).collect::<Vec<_>>()).await?;
        Ok(cluster)
    }

    /// How many members the cluster has (running or not).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Never true: a cluster has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Member `i`'s client URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self, i: usize) -> String {
        self.members[i].client_url()
    }

    /// Every member's client URL, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// Where member `i` writes its log.
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.log", self.members[i].name))
    }

    /// A coordinator connected to every member.
    pub async fn connect(&self) -> EtcdCoordinator {
        EtcdCoordinator::connect(&self.endpoints(), Duration::from_secs(2))
            .await
            .expect("the test etcd accepts a client")
    }

    /// A coordinator connected to member `i` only.
    pub async fn connect_to(&self, i: usize) -> EtcdCoordinator {
        EtcdCoordinator::connect(&[self.endpoint(i)], Duration::from_secs(2))
            .await
            .expect("the test etcd member accepts a client")
    }

    /// The index of the member that leads now, as the running members say (their
    /// maintenance status). An error while there is no leader (an election is under way).
    pub async fn leader(&self) -> io::Result<usize> {
        let mut reported = Vec::new();
        for (i, member) in self.members.iter().enumerate() {
            if member.child.is_none() {
                continue;
            }
            match status(&member.client_url()).await {
                Ok((id, leader)) if leader != 0 && id == leader => return Ok(i),
                Ok((_, leader)) => reported.push(format!("{}: leader {leader:x}", member.name)),
                Err(e) => reported.push(format!("{}: {e}", member.name)),
            }
        }
        Err(io::Error::other(format!(
            "no running member leads ({})",
            reported.join("; ")
        )))
    }

    /// SIGKILL member `i`: it stops at once, as in a crash.
    pub fn kill(&mut self, i: usize) {
        self.members[i].kill();
    }

    /// Starts member `i` again on the same ports with its data, and waits until it serves
    /// requests (it rejoined and caught up with the leader).
    pub async fn restart(&mut self, i: usize) -> io::Result<()> {
        self.kill(i);
        self.spawn(i, "existing")?;
        self.wait_ready(&[i]).await
    }

    fn spawn(&mut self, i: usize, state: &str) -> io::Result<()> {
        let log_path = self.log_path(i);
        let member = &self.members[i];
        let (client, peer) = (member.client_url(), member.peer_url());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let child = Command::new("etcd")
            .args(["--name", &member.name, "--data-dir"])
            .arg(self.dir.path().join(&member.name))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.token])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start etcd (scripts/setup.sh installs etcd-server): {e}"),
                )
            })?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// Waits until each of `members` answers a (linearizable) read by itself: it is up,
    /// and the cluster has a leader it follows.
    async fn wait_ready(&mut self, members: &[usize]) -> io::Result<()> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        let mut waiting = members.to_vec();
        loop {
            let mut still = Vec::new();
            for &i in &waiting {
                let client = self.endpoint(i);
                let ready = match EtcdCoordinator::connect(
                    std::slice::from_ref(&client),
                    Duration::from_millis(500),
                )
                .await
                {
                    Ok(c) => c.get("/cc/ready").await.is_ok(),
                    Err(_) => false,
                };
                if !ready {
                    still.push(i);
                }
            }
            waiting = still;
            if waiting.is_empty() {
                return Ok(());
            }
            for &i in &waiting {
                if let Some(child) = &mut self.members[i].child
                    && let Some(status) = child.try_wait()?
                {
                    return Err(io::Error::other(format!(
                        "etcd exited with {status}; see {}",
                        self.log_path(i).display()
                    )));
                }
            }
            if tokio::time::Instant::now() > deadline {
                let logs: Vec<_> = waiting
                    .iter()
                    .map(|&i| self.log_path(i).display().to_string())
                    .collect();
                return Err(io::Error::other(format!(
                    "etcd did not become ready within {READY_WITHIN:?}; see {}",
                    logs.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One member's own id and the leader it follows (0: none), from its maintenance status.
async fn status(endpoint: &str) -> Result<(u64, u64), etcd_client::Error> {
    let timeout = Duration::from_millis(500);
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_timeout(timeout);
    let mut client = etcd_client::Client::connect([endpoint], Some(options)).await?;
    let status = client.status().await?;
    let id = status
        .header()
        .map_or(0, etcd_client::ResponseHeader::member_id);
    Ok((id, status.leader()))
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
    }
}

/// The in-memory coordinator with faults on demand:
/// - while [`Self::set_down`] is on, every request fails as etcd out of reach does;
/// - while [`Self::cut_keep_alives`] is on, the first keep-alive fails at once (a
///   connection refused) and every later one hangs (a partition answers nothing);
/// - after [`Self::lose_next_swap_answer`], the next compare-and-swap is applied but
///   answered with an error (the answer was lost on the way back);
/// - with [`Self::stretched_leases`], leases live ten times the TTL asked for, as when a
///   new etcd leader extends every lease it takes over: a lease its node gave up for lost
///   can then be confirmed again;
/// - with [`Self::slow_deletes`], deletes take a while, as over a network.
#[derive(Debug, Default)]
pub struct Faulty {
    inner: MemoryCoordinator,
    down: AtomicBool,
    cut: AtomicBool,
    refused_once: AtomicBool,
    lose_swap_answer: AtomicBool,
    stretched: bool,
    delete_delay: Duration,
}

impl Faulty {
    /// Faults over `store` (a clone shares it: the test reads and writes it directly).
    pub fn over(store: MemoryCoordinator) -> Self {
        Self {
            inner: store,
            ..Self::default()
        }
    }

    /// Every request fails (`true`) or goes through again (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The next compare-and-swap lands but its answer is an error.
    pub fn lose_next_swap_answer(&self) {
        self.lose_swap_answer.store(true, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), Error> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("down for the test".into()));
        }
        Ok(())
    }

    /// Leases outlive their TTL tenfold.
    #[must_use]
    pub fn stretched_leases(mut self) -> Self {
        self.stretched = true;
        self
    }

    /// Every delete (also a conditional one) takes `delay`.
    #[must_use]
    pub fn slow_deletes(mut self, delay: Duration) -> Self {
        self.delete_delay = delay;
        self
    }

    /// Keep-alives fail (`true`) or go through again (`false`).
    pub fn cut_keep_alives(&self, cut: bool) {
        if !cut {
            self.refused_once.store(false, Ordering::SeqCst);
        }
        self.cut.store(cut, Ordering::SeqCst);
    }

    async fn delete_delay(&self) {
        if !self.delete_delay.is_zero() {
            tokio::time::sleep(self.delete_delay).await;
        }
    }
}

#[async_trait::async_trait]
impl Coordinator for Faulty {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        self.check()?;
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Listing, Error> {
        self.check()?;
        self.inner.list(prefix).await
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<Revision, Error> {
        self.check()?;
        self.inner.put(key, value, lease).await
    }

    async fn delete(&self, key: &str) -> Result<bool, Error> {
        self.check()?;
        self.delete_delay().await;
        self.inner.delete(key).await
    }

    async fn swap(&self, key: &str, expect: Expect, write: Write) -> Result<Swap, Error> {
        self.check()?;
        if write == Write::Delete {
            self.delete_delay().await;
        }
        let swapped = self.inner.swap(key, expect, write).await;
        if self.lose_swap_answer.swap(false, Ordering::SeqCst) {
            return Err(Error::Unavailable("answer lost".into()));
        }
        swapped
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, Error> {
        self.check()?;
        let ttl = if self.stretched { ttl * 10 } else { ttl };
        self.inner.grant(ttl).await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), Error> {
        self.check()?;
        if self.cut.load(Ordering::SeqCst) {
            if !self.refused_once.swap(true, Ordering::SeqCst) {
                return Err(Error::Unavailable("connection refused".into()));
            }
            std::future::pending::<()>().await;
        }
        self.inner.keep_alive(lease).await
    }

    async fn revoke(&self, lease: LeaseId) -> Result<(), Error> {
        self.check()?;
        self.inner.revoke(lease).await
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, Error> {
        self.check()?;
        self.inner.watch(prefix, from).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        self.check()?;
        self.inner.compact(revision).await
    }
}
