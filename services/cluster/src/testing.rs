//! A real etcd member for tests (Debian's etcd-server, installed by scripts/setup.sh): on
//! loopback, free ports, a temporary data directory, fast election settings. It can be
//! killed (SIGKILL, a real crash) and started again on the same ports and data.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{Coordinator, EtcdCoordinator};

/// One etcd member running as a child process; killed when dropped.
#[derive(Debug)]
pub struct EtcdServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl EtcdServer {
    /// Starts a member and waits until it serves requests (about half a second).
    pub async fn start() -> std::io::Result<Self> {
        let mut server = Self {
            child: None,
            dir: tempfile::tempdir()?,
            client_port: free_port()?,
            peer_port: free_port()?,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// The client URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Where etcd writes its log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// A coordinator connected to this member.
    pub async fn connect(&self) -> EtcdCoordinator {
        EtcdCoordinator::connect(&[self.endpoint()], Duration::from_secs(2))
            .await
            .expect("the test etcd accepts a client")
    }

    /// SIGKILL: the member stops at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the member again on the same ports with the same data.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn().await
    }

    async fn spawn(&mut self) -> std::io::Result<()> {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new("etcd")
            .args(["--name", "s1", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("s1={peer}")])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot start etcd (scripts/setup.sh installs etcd-server): {e}"),
                )
            })?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ready = match EtcdCoordinator::connect(
                std::slice::from_ref(&client),
                Duration::from_millis(500),
            )
            .await
            {
                Ok(c) => c.get("/cc/ready").await.is_ok(),
                Err(_) => false,
            };
            if ready {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                return Err(std::io::Error::other(format!(
                    "etcd exited with {status}; see {}",
                    self.log_path().display()
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "etcd did not become ready within 15 s; see {}",
                    self.log_path().display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}
