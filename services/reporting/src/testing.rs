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
/// How many ports are tried before giving up.
const PORT_ATTEMPTS: usize = 5;

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
        // A port found free may be taken by another test's server before ours binds it:
        // then ours exits, or (worse) the other one answers. Each attempt checks that the
        // server answering is ours, and takes another port when it is not.
        let mut taken = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join("postgres.log"))?;
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
            let mut child = postgres
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            match wait_ready(port, &mut child, &data, dir.path()) {
                Ok(()) => {
                    return Ok(Self {
                        dir,
                        port,
                        child,
                        databases: AtomicU32::new(0),
                    });
                }
                Err(Unready::PortTaken(why)) => {
                    stop(&mut child);
                    taken.push(format!("{port}: {why}"));
                }
                Err(Unready::Failed(e)) => {
                    stop(&mut child);
                    return Err(e);
                }
            }
        }
        Err(io::Error::other(format!(
            "no free port for postgres after {PORT_ATTEMPTS} attempts: {}",
            taken.join("; ")
        )))
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
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
        stop(&mut self.child);
    }
}

/// Why a started server is not the one to use.
enum Unready {
    /// Another process has the port: try another.
    PortTaken(String),
    Failed(io::Error),
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default()
}

/// Waits until the server on `port` accepts connections and checks it is the one just
/// started (its data directory is `data`).
fn wait_ready(port: u16, child: &mut Child, data: &Path, dir: &Path) -> Result<(), Unready> {
    let deadline = Instant::now() + READY_WITHIN;
    let url = format!("postgres://{USER}@127.0.0.1:{port}/postgres");
    loop {
        match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(mut client) => {
                let answering: String = client
                    .query_one("SHOW data_directory", &[])
                    .and_then(|row| row.try_get(0))
                    .map_err(|e| Unready::Failed(io::Error::other(e)))?;
                if Path::new(&answering) == data {
                    return Ok(());
                }
                return Err(Unready::PortTaken(format!(
                    "another server ({answering}) answers"
                )));
            }
            Err(e) => {
                if let Some(status) = child.try_wait().map_err(Unready::Failed)? {
                    let log = read_log(dir);
                    if log.contains("already in use") {
                        return Err(Unready::PortTaken("in use".to_owned()));
                    }
                    return Err(Unready::Failed(io::Error::other(format!(
                        "postgres exited ({status}) before accepting connections: {log}"
                    ))));
                }
                if Instant::now() > deadline {
                    return Err(Unready::Failed(io::Error::other(format!(
                        "postgres accepts no connection within {READY_WITHIN:?}: {e}; {}",
                        read_log(dir)
                    ))));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Stops a server (if it still runs) and waits for it: SIGQUIT, an immediate shutdown
/// that also ends its backends, then SIGKILL after a grace period. Only a child not yet
/// reaped is signalled: its pid is still its own.
fn stop(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let _ = Command::new("kill")
        .arg("-QUIT")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
