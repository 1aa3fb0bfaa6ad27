//! A real PostgreSQL for tests (Debian's postgresql package, installed by
//! scripts/setup.sh): a cluster of its own in a temporary directory, on a free loopback
//! port, with no durability unless asked (tests want speed, not crash safety). Stopped
//! when dropped.
//!
//! PostgreSQL refuses to run as root; as root (CI) the cluster runs as the `postgres`
//! user the package creates, through `setpriv` (which execs, so the child is the server
//! itself).

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections after it is started.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The role the tests connect as (a superuser of the temporary cluster).
const USER: &str = "cc";

/// One PostgreSQL server running as a child process.
#[derive(Debug)]
pub struct PostgresServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    databases: AtomicU32,
}

/// Where Debian keeps the server's programs: the newest `/usr/lib/postgresql/N/bin`, or
/// the `PATH` (other systems).
fn bin_dir() -> io::Result<Option<PathBuf>> {
    let root = Path::new("/usr/lib/postgresql");
    if !root.is_dir() {
        return Ok(None);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("postgres").is_file())
        .collect();
    versions.sort();
    Ok(versions.pop().map(|(_, bin)| bin))
}

fn is_root() -> io::Result<bool> {
    let out = Command::new("id").arg("-u").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl PostgresServer {
    /// Creates a cluster and starts its server without durability (no fsync, no
    /// synchronous commit: a test wants speed); returns once it accepts connections (a
    /// few seconds: most of it is `initdb`).
    pub fn start() -> io::Result<Self> {
        Self::start_with(&[
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ])
    }

    /// Like [`PostgresServer::start`] with the server's default durability (fsync and
    /// synchronous commit on), for benchmarks that should compare with a production setup.
    pub fn start_durable() -> io::Result<Self> {
        Self::start_with(&[])
    }

    fn start_with(settings: &[&str]) -> io::Result<Self> {
        let bin = bin_dir()?;
        let program = |name: &str| {
            bin.as_ref()
                .map_or_else(|| PathBuf::from(name), |b| b.join(name))
        };
        let as_root = is_root()?;
        let command = |name: &str| {
            if as_root {
                let mut c = Command::new("setpriv");
                c.args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--",
                ])
                .arg(program(name));
                c
            } else {
                Command::new(program(name))
            }
        };
        let dir = tempfile::Builder::new().prefix("cc-postgres-").tempdir()?;
        if as_root {
            let out = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path())
                .output()?;
            if !out.status.success() {
                return Err(io::Error::other(format!(
                    "cannot give {} to the postgres user (is Debian's postgresql package \
                     installed? scripts/setup.sh installs it): {}",
                    dir.path().display(),
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
        }
        let data = dir.path().join("data");
        let out = command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "-A",
                "trust",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .output()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot run initdb (install postgresql: scripts/setup.sh): {e}"),
                )
            })?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.path().join("postgres.log"))?;
        let mut postgres = command("postgres");
        postgres
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"]);
        for setting in settings {
            postgres.args(["-c", setting]);
        }
        let child = postgres
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = Self {
            dir,
            port,
            child,
            databases: AtomicU32::new(0),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            match postgres::Client::connect(&self.url("postgres"), postgres::NoTls) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    if let Some(status) = self.child.try_wait()? {
                        return Err(io::Error::other(format!(
                            "postgres exited ({status}) before accepting connections: {}",
                            self.log()
                        )));
                    }
                    if Instant::now() > deadline {
                        return Err(io::Error::other(format!(
                            "postgres accepts no connection within {READY_WITHIN:?}: {e}; {}",
                            self.log()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn fresh_database(&self) -> io::Result<String> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("reports_{n}");
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(io::Error::other)?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .map_err(io::Error::other)?;
        Ok(self.url(&name))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGQUIT: an immediate shutdown that also ends the server's backends; SIGKILL
        // after a grace period.
        let _ = Command::new("kill")
            .arg("-QUIT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
