//! One running `ccd` node: the real binary, a temporary configuration, a free loopback port,
//! its log captured line by line. Dropping the node kills the process by its PID.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::TempDir;
use crate::net::{free_port, loopback};

/// How long a node may take to log that it listens.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The log line (tracing fmt, to stderr) that says the SIP front door is ready.
const READY_MESSAGE: &str = "sip-edge listening on UDP and TCP";
/// Logged by ccd once every service, the gRPC API included, is up.
const PROCESS_READY: &str = "ccd ready";

/// An `[[employees]]` entry.
#[derive(Debug, Clone)]
pub struct Employee {
    pub id: String,
    pub name: String,
    pub extension: String,
    pub password: String,
    pub role: String,
    /// The mobile number calls are forwarded to when the desk phone is not answered.
    pub mobile: Option<String>,
}

impl Employee {
    pub fn new(id: &str, name: &str, extension: &str, password: &str, role: &str) -> Employee {
        Employee {
            id: id.into(),
            name: name.into(),
            extension: extension.into(),
            password: password.into(),
            role: role.into(),
            mobile: None,
        }
    }
}

/// What goes into the node's TOML configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub domain: String,
    pub employees: Vec<Employee>,
    /// Further `[sip]` settings, written verbatim as `key = value` (value in TOML syntax).
    pub sip_settings: Vec<(String, String)>,
    /// `[media]` settings, likewise; [`Ccd::start`] adds prompts, recordings and an RTP
    /// port range of its own where these leave them out.
    pub media_settings: Vec<(String, String)>,
    /// Further TOML (organisation, departments, numbers, trunks), appended verbatim.
    pub extra: String,
    /// etcd endpoints for `--etcd` (none: the node coordinates with itself).
    pub etcd: Vec<String>,
    /// The `ccd` subcommand: `all` (default), or one service (`sip-edge`, `queue` ...).
    pub command: String,
    /// Further environment variables of the process (e.g. `CCD_FAKE_NOW`).
    pub env: Vec<(String, String)>,
    /// `--data-dir`: where a node without etcd keeps messages and callbacks. None: a
    /// directory of the node's own, gone with it (set one to restart a node on its data).
    pub data_dir: Option<PathBuf>,
}

impl Default for NodeConfig {
    /// The organisation of the tests: domain cc.local, Anna (201, admin) and Piotr (202).
    fn default() -> Self {
        NodeConfig {
            domain: "cc.local".into(),
            employees: vec![
                Employee::new("anna", "Anna Kowalska", "201", "anna-secret", "admin"),
                Employee::new("piotr", "Piotr Nowak", "202", "piotr-secret", "user"),
            ],
            sip_settings: Vec::new(),
            media_settings: Vec::new(),
            extra: String::new(),
            etcd: Vec::new(),
            command: "all".into(),
            env: Vec::new(),
            data_dir: None,
        }
    }
}

impl NodeConfig {
    /// Adds a `[sip]` setting, e.g. `.sip("auth_failures_before_block", "3")`.
    pub fn sip(mut self, key: &str, toml_value: &str) -> Self {
        self.sip_settings.push((key.into(), toml_value.into()));
        self
    }

    /// Adds a `[media]` setting, e.g. `.media("rtp_timeout_secs", "1")`.
    pub fn media(mut self, key: &str, toml_value: &str) -> Self {
        self.media_settings.push((key.into(), toml_value.into()));
        self
    }

    /// Coordinates through the etcd member at `endpoint` (`ccd all --etcd`).
    pub fn etcd(mut self, endpoint: &str) -> Self {
        self.etcd.push(endpoint.into());
        self
    }

    /// Keeps the node's data (messages, callbacks) in `dir`, which outlives the node.
    pub fn data_dir(mut self, dir: &std::path::Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// Sets an environment variable of the node's process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs only `service` (`ccd <service>`) instead of `ccd all`.
    pub fn service(mut self, service: &str) -> Self {
        self.command = service.into();
        self
    }

    fn runs_sip_edge(&self) -> bool {
        self.command == "all" || self.command == "sip-edge"
    }

    /// Appends TOML tables, e.g. `[[departments]]` and `[[numbers]]` entries.
    pub fn toml(mut self, text: &str) -> Self {
        self.extra.push('\n');
        self.extra.push_str(text);
        self.extra.push('\n');
        self
    }

    fn has_media(&self, key: &str) -> bool {
        self.media_settings.iter().any(|(k, _)| k == key)
    }

    pub fn employee(&self, extension: &str) -> &Employee {
        self.employees
            .iter()
            .find(|e| e.extension == extension)
            .unwrap_or_else(|| {
                panic!("no employee with extension {extension} in the test configuration")
            })
    }

    /// The TOML text; `listen` is a placeholder that `--sip-listen` overrides.
    pub fn to_toml(&self) -> String {
        let mut t = format!(
            "[sip]\nlisten = \"127.0.0.1:5060\"\ndomain = {:?}\n",
            self.domain
        );
        for (k, v) in &self.sip_settings {
            t.push_str(&format!("{k} = {v}\n"));
        }
        if !self.media_settings.is_empty() {
            t.push_str("\n[media]\n");
            for (k, v) in &self.media_settings {
                t.push_str(&format!("{k} = {v}\n"));
            }
        }
        for e in &self.employees {
            t.push_str(&format!(
                "\n[[employees]]\nid = {:?}\nname = {:?}\nextension = {:?}\nsip_password = {:?}\nrole = {:?}\n",
                e.id, e.name, e.extension, e.password, e.role
            ));
            if let Some(m) = &e.mobile {
                t.push_str(&format!("mobile = {m:?}\n"));
            }
        }
        t.push_str(&self.extra);
        t
    }
}

/// Varies per call so that nodes started one after the other get different port ranges.
fn config_path_salt() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(37, Ordering::Relaxed)
}

/// The default prompts shipped in the repository.
pub fn prompts_dir() -> PathBuf {
    crate::manifest_dir().join("../prompts")
}

/// Where the ccd binary is: `$CCD_BIN`, else the debug build in `$CARGO_TARGET_DIR`, else in
/// the scripts' default target directory (`~/.cache/ccd-target`).
pub fn ccd_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("CCD_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "CCD_BIN={} does not exist: build it with `cargo build -p ccd`",
            bin.display()
        );
        return bin;
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug/ccd"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cache/ccd-target/debug/ccd"));
    }
    candidates.push(PathBuf::from("/root/.cache/ccd-target/debug/ccd"));
    candidates.push(crate::manifest_dir().join("../target/debug/ccd"));
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => p.clone(),
        None => panic!(
            "the ccd binary was not found (looked at {candidates:?}): build it first with \
             `CARGO_TARGET_DIR=$HOME/.cache/ccd-target cargo build -p ccd`, or set CCD_BIN"
        ),
    }
}

/// Lines of a child's output, shared with the thread that reads them.
#[derive(Debug, Default)]
struct LogBuffer {
    state: Mutex<LogState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct LogState {
    lines: Vec<String>,
    closed: bool,
}

impl LogBuffer {
    fn push(&self, line: String) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.lines.push(line);
        self.changed.notify_all();
    }

    fn close(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.closed = true;
        self.changed.notify_all();
    }

    fn snapshot(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lines
            .clone()
    }

    /// Waits until a line satisfies `pred` (true), or the stream closes or `deadline` passes (false).
    fn wait_for(&self, deadline: Instant, pred: impl Fn(&str) -> bool) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = 0;
        loop {
            if s.lines[seen..].iter().any(|l| pred(l)) {
                return true;
            }
            seen = s.lines.len();
            let now = Instant::now();
            if s.closed || now >= deadline {
                return false;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Removes ANSI colour sequences (in case the subscriber colours despite NO_COLOR).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A running node. Dropping it kills the process (by its PID) if it still runs.
#[derive(Debug)]
pub struct Ccd {
    child: Child,
    addr: SocketAddr,
    api_addr: SocketAddr,
    metrics_addr: SocketAddr,
    log: Arc<LogBuffer>,
    config: NodeConfig,
    _dir: TempDir,
}

impl Ccd {
    /// Starts `ccd all` (or the one service `config.command` names) with `config` on free
    /// loopback ports and waits until it is ready.
    pub fn start(config: NodeConfig) -> Ccd {
        let bin = ccd_binary();
        let mut failures = Vec::new();
        // A free port can be taken by someone else before ccd binds it: try another one.
        for _ in 0..3 {
            let dir = TempDir::new("ccd-e2e");
            let mut config = config.clone();
            if !config.has_media("prompts_dir") {
                config = config.media("prompts_dir", &format!("{:?}", prompts_dir()));
            }
            if !config.has_media("recordings_dir") {
                let recordings = dir.path().join("recordings");
                config = config.media("recordings_dir", &format!("{recordings:?}"));
            }
            if !config.has_media("rtp_ports") {
                // A range of its own per node, so parallel nodes rarely meet; a port that
                // is taken anyway is skipped by the engine. Below the kernel's ephemeral
                // range (32768 up): the free ports the tests hand to SIPp and friends come
                // from there, and a node must not take one between the check and the bind.
                let spread = std::process::id() as usize + config_path_salt();
                let base = 10000 + 200 * (spread % 110) as u16;
                config = config.media("rtp_ports", &format!("\"{base}-{}\"", base + 199));
            }
            let config_path = dir.write("ccd.toml", &config.to_toml());
            let addr = loopback(free_port());
            let mut cmd = Command::new(&bin);
            cmd.args([config.command.as_str(), "--config"])
                .arg(&config_path)
                .arg("--sip-listen")
                .arg(addr.to_string());
            // The gRPC API has a fixed default port: two nodes (or a developer's) would clash.
            let api_addr = loopback(free_port());
            cmd.arg("--api-listen").arg(api_addr.to_string());
            let metrics_addr = loopback(free_port());
            cmd.arg("--metrics-listen").arg(metrics_addr.to_string());
            if !config.etcd.is_empty() {
                cmd.arg("--etcd").arg(config.etcd.join(","));
            }
            // Never the default `./data`: nodes running in parallel would share it.
            let data = config
                .data_dir
                .clone()
                .unwrap_or_else(|| dir.path().join("data"));
            cmd.arg("--data-dir").arg(data);
            cmd.envs(config.env.iter().map(|(k, v)| (k, v)));
            let mut child = cmd
                .env("NO_COLOR", "1")
                .env(
                    "RUST_LOG",
                    "debug,h2=info,hyper=info,hyper_util=info,tower=info,tonic=info",
                )
                .env_remove("CCD_CONFIG")
                .env_remove("CCD_ETCD")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let log = Arc::new(LogBuffer::default());
            let stderr = child.stderr.take().expect("piped stderr");
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    match line {
                        Ok(l) => sink.push(strip_ansi(&l)),
                        Err(_) => break,
                    }
                }
                sink.close();
            });
            let node = Ccd {
                child,
                addr,
                api_addr,
                metrics_addr,
                log,
                config: config.clone(),
                _dir: dir,
            };
            let wanted = format!("local_addr={addr}");
            let deadline = Instant::now() + READY_TIMEOUT;
            // The SIP address first (it names the port), then the whole process is ready.
            let ready = (!config.runs_sip_edge()
                || node.log.wait_for(deadline, |l| {
                    l.contains(READY_MESSAGE) && l.contains(&wanted)
                }))
                && node.log.wait_for(deadline, |l| l.contains(PROCESS_READY));
            if ready {
                return node;
            }
            let text = node.log_text();
            if text.contains("cannot listen")
                || text.contains("cannot serve")
                || text.contains("Address already in use")
            {
                failures.push(text);
                continue; // `node` is dropped: the process is killed.
            }
            panic!(
                "ccd did not log {READY_MESSAGE:?} with {wanted} within {READY_TIMEOUT:?}\n\
                 command: {cmd:?}\n--- ccd log ---\n{text}"
            );
        }
        panic!(
            "ccd could not bind a free port three times:\n{}",
            failures.join("\n---\n")
        );
    }

    /// Starts a node with the default test organisation.
    pub fn start_default() -> Ccd {
        Ccd::start(NodeConfig::default())
    }

    /// The SIP address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Prometheus scrape endpoint.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The Prometheus endpoint's text, scraped as Prometheus would: a plain HTTP GET.
    pub fn scrape_metrics(&self) -> String {
        use std::io::{Read, Write};
        let mut s =
            std::net::TcpStream::connect_timeout(&self.metrics_addr, Duration::from_secs(5))
                .unwrap_or_else(|e| {
                    panic!("cannot reach the metrics at {}: {e}", self.metrics_addr)
                });
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: ccd\r\nConnection: close\r\n\r\n"
        );
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body
    }

    /// The gRPC API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The node's RTP port range (first, last).
    pub fn rtp_ports(&self) -> (u16, u16) {
        let (_, v) = self
            .config
            .media_settings
            .iter()
            .find(|(k, _)| k == "rtp_ports")
            .expect("the node has an RTP port range");
        let (a, b) = v.trim_matches('"').split_once('-').expect("first-last");
        (a.parse().expect("port"), b.parse().expect("port"))
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The log so far, one line per entry.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.snapshot()
    }

    pub fn log_text(&self) -> String {
        self.log_lines().join("\n")
    }

    /// How many log lines so far contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits (bounded) for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.log
            .wait_for(Instant::now() + timeout, |l| l.contains(needle))
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (to this PID only) and waits up to `timeout` for the exit;
    /// `None` when the node is still running then.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        self.send_sigterm();
        self.wait_exit(timeout)
    }

    /// Sends SIGTERM (a graceful stop) without waiting.
    pub fn send_sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(sent.success(), "kill -TERM {} failed", self.child.id());
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Ccd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- ccd log ({}) ---\n{}", self.addr, self.log_text());
        }
    }
}

/// The value of `metric` (its name with labels, as printed, e.g.
/// `cc_kpi_offered_calls{department="sales"}`) in a scrape, if it is there.
pub fn metric_value(text: &str, metric: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(metric)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_renders_the_contract_fields() {
        let t = NodeConfig::default()
            .sip("auth_failures_before_block", "3")
            .to_toml();
        assert!(t.contains("[sip]\nlisten = \"127.0.0.1:5060\"\ndomain = \"cc.local\"\nauth_failures_before_block = 3\n"), "{t}");
        assert!(t.contains("[[employees]]\nid = \"anna\"\nname = \"Anna Kowalska\"\nextension = \"201\"\nsip_password = \"anna-secret\"\nrole = \"admin\"\n"), "{t}");
    }

    #[test]
    fn ansi_sequences_are_removed() {
        assert_eq!(
            strip_ansi("\u{1b}[3mlocal_addr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:5"),
            "local_addr=127.0.0.1:5"
        );
    }
}
