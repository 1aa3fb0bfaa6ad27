//! External SIP tools (SIPp, sipsak, sipvicious) run under a hard timeout with their output
//! captured. A missing tool fails the test with the package to install: CI installs them
//! (scripts/setup.sh), so a silent skip would hide a broken setup.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::net::{free_media_port, free_port};
use crate::sip::Transport;
use crate::{TempDir, sipp_scenario};

/// The path of `program` on PATH; panics naming the Debian package when it is missing.
pub fn require(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` is not installed (PATH={}): this end-to-end test needs it. \
                 Install it with `apt-get install -y {package}` (scripts/setup.sh does).",
                path.to_string_lossy()
            )
        })
}

/// One finished (or killed) run of a tool.
#[derive(Debug)]
pub struct ToolRun {
    pub command: String,
    /// `None` when the run was killed at the timeout.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl ToolRun {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Standard output and error together.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// A report for assertion messages: the command, how it ended, and its output.
    pub fn describe(&self) -> String {
        let end = match (self.timed_out, self.status) {
            (true, _) => "killed at the timeout".to_owned(),
            (false, Some(s)) => format!("exit {s}"),
            (false, None) => "no exit status".to_owned(),
        };
        format!(
            "$ {}\n({end} after {:.1?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.elapsed,
            tail(&self.stdout, 60),
            tail(&self.stderr, 60)
        )
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn reader(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `cmd` (stdin closed, output captured) and kills it by its PID after `timeout`.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> ToolRun {
    let command = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    let out = reader(child.stdout.take().expect("piped stdout"));
    let err = reader(child.stderr.take().expect("piped stderr"));
    let deadline = started + timeout;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (Some(status), false),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for `{command}`: {e}"),
        }
    };
    ToolRun {
        command,
        status,
        timed_out,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// SIPp's own bound on a run (`-timeout`); the harness kills it a little later.
pub const SIPP_TIMEOUT: Duration = Duration::from_secs(10);

/// The number SIPp callers call from unless told otherwise ([`Sipp::caller`]).
pub const DEFAULT_CALLER: &str = "600100200";

/// One SIPp client run of a scenario from `loadtest/sipp`.
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: PathBuf,
    target: SocketAddr,
    transport: Transport,
    args: Vec<String>,
    /// Files made visible in SIPp's working directory (name, source), for scenarios that
    /// play `pcap/...` or stream a raw audio file.
    files: Vec<(String, PathBuf)>,
    timeout: Duration,
    media_port: Option<u16>,
    /// `-key caller`: the caller scenarios call from this number.
    caller: String,
}

/// A SIPp run with its message trace and error log.
#[derive(Debug)]
pub struct SippRun {
    pub run: ToolRun,
    /// Every SIP message sent and received (`-trace_msg`).
    pub messages: String,
    /// Unexpected messages and scenario errors (`-trace_err`).
    pub errors: String,
}

impl SippRun {
    /// Exit code 0: every call of the run succeeded.
    pub fn all_calls_succeeded(&self) -> bool {
        self.run.code() == Some(0)
    }

    pub fn describe(&self) -> String {
        format!(
            "{}\n--- SIPp errors ---\n{}\n--- SIP messages ---\n{}",
            self.run.describe(),
            self.errors.trim(),
            self.messages.trim()
        )
    }
}

impl Sipp {
    pub fn new(scenario: &str, target: SocketAddr, transport: Transport) -> Sipp {
        Sipp {
            scenario: sipp_scenario(scenario),
            target,
            transport,
            args: Vec::new(),
            files: Vec::new(),
            timeout: SIPP_TIMEOUT,
            media_port: None,
            caller: DEFAULT_CALLER.into(),
        }
    }

    /// The caller's number, `[caller]` in the caller scenarios' From (default
    /// [`DEFAULT_CALLER`]).
    pub fn caller(mut self, number: &str) -> Self {
        self.caller = number.into();
        self
    }

    /// Makes `source` available as `name` in SIPp's working directory (a symlink).
    pub fn file(mut self, name: &str, source: &Path) -> Self {
        self.files.push((name.into(), source.into()));
        self
    }

    /// The pcaps shipped with SIPp (`g711a.pcap`, `dtmf_2833_*.pcap`) under `pcap/`, as the
    /// built-in `uac_pcap` scenario expects them.
    pub fn with_pcaps(self) -> Self {
        self.file("pcap", Path::new("/usr/share/sip-tester"))
    }

    /// How long the call may take (default [`SIPP_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The local RTP port (`-mp`), to tell this call's audio apart in a capture.
    pub fn media_port(mut self, port: u16) -> Self {
        self.media_port = Some(port);
        self
    }

    /// The request URI user (`-s`).
    pub fn service(self, user: &str) -> Self {
        self.arg("-s").arg(user)
    }

    /// Digest credentials (`-au`, `-ap`).
    pub fn auth(self, user: &str, password: &str) -> Self {
        self.arg("-au").arg(user).arg("-ap").arg(password)
    }

    /// A scenario keyword (`-key NAME VALUE`, used as `[NAME]`).
    pub fn key(self, name: &str, value: &str) -> Self {
        self.arg("-key").arg(name).arg(value)
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    /// Runs one call (`-m 1`) on free local ports, bounded by SIPp's `-timeout` and a hard kill.
    pub fn run(&self) -> SippRun {
        let sipp = require("sipp", "sip-tester");
        let dir = TempDir::new("sipp");
        let errors = dir.path().join("errors.log");
        let messages = dir.path().join("messages.log");
        for (name, source) in &self.files {
            std::os::unix::fs::symlink(source, dir.path().join(name))
                .unwrap_or_else(|e| panic!("cannot link {} for SIPp: {e}", source.display()));
        }
        let mut cmd = Command::new(sipp);
        cmd.current_dir(dir.path())
            .arg(self.target.to_string())
            .arg("-sf")
            .arg(&self.scenario)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args([
                "-p",
                &free_port().to_string(),
                "-mp",
                &self.media_port.unwrap_or_else(free_media_port).to_string(),
            ])
            .args([
                "-t",
                if self.transport == Transport::Tcp {
                    "t1"
                } else {
                    "u1"
                },
            ])
            .args(["-m", "1", "-nostdin"])
            .args([
                "-timeout",
                &format!("{}s", self.timeout.as_secs().max(1)),
                "-timeout_error",
            ])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(&errors)
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(&messages)
            .args(["-key", "caller", &self.caller])
            .args(&self.args);
        let run = run_bounded(cmd, self.timeout + Duration::from_secs(10));
        SippRun {
            run,
            messages: read_or_empty(&messages),
            errors: read_or_empty(&errors),
        }
    }
}

fn read_or_empty(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `sipsak` sending one OPTIONS ping (`-s sip:ping@node`) from a free local port.
pub fn sipsak_options(target: SocketAddr, transport: Transport) -> ToolRun {
    let sipsak = require("sipsak", "sipsak");
    let mut cmd = Command::new(sipsak);
    cmd.arg("-s").arg(format!("sip:ping@{target}")).args([
        "-l",
        &free_port().to_string(),
        "-H",
        "127.0.0.1",
        "-vv",
    ]);
    if transport == Transport::Tcp {
        cmd.args(["-E", "tcp"]);
    }
    run_bounded(cmd, Duration::from_secs(15))
}

/// A sipvicious tool (`svmap`, `svwar`, `svcrack`) with `args`, killed after `timeout`.
pub fn sipvicious(tool: &str, args: &[String], timeout: Duration) -> ToolRun {
    let program = require(tool, "sipvicious");
    let mut cmd = Command::new(program);
    cmd.args(args);
    // Sessions (-s) would be saved under ~/.sipvicious: keep HOME away from the real one.
    let home = TempDir::new("sipvicious-home");
    cmd.env("HOME", home.path());
    run_bounded(cmd, timeout)
}

/// A packet capture on the loopback interface with tshark, for counting what really went
/// over the wire. Stopped (by its PID) when dropped.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    file: PathBuf,
    _dir: TempDir,
}

impl Capture {
    /// Starts capturing packets matching a BPF `filter` and waits until tshark captures.
    pub fn start(filter: &str) -> Capture {
        let tshark = require("tshark", "tshark");
        let dir = TempDir::new("capture");
        let file = dir.path().join("capture.pcapng");
        let mut child = Command::new(tshark)
            .args(["-i", "lo", "-q", "-f", filter, "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tshark: {e}"));
        // tshark says "Capturing on 'Loopback: lo'" once the capture runs.
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut buf = [0u8; 256];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                if seen.contains("Capturing on") {
                    let _ = tx.send(Ok(()));
                    // Keep draining so tshark never blocks on a full pipe.
                    while matches!(stderr.read(&mut buf), Ok(n) if n > 0) {}
                    return;
                }
            }
            let _ = tx.send(Err(seen));
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("tshark did not start capturing: {log}"),
            Err(_) => panic!("tshark did not start capturing within 10 s"),
        }
        Capture {
            child,
            file,
            _dir: dir,
        }
    }

    /// Stops the capture and returns (source port, destination port) of each UDP packet.
    pub fn stop(self) -> Vec<(u16, u16)> {
        self.stop_fields(&["udp.srcport", "udp.dstport"])
            .into_iter()
            .filter_map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
            .collect()
    }

    /// Stops the capture and returns the tshark `fields` of each packet, in capture order
    /// (an empty string for a field a packet lacks).
    pub fn stop_fields(mut self, fields: &[&str]) -> Vec<Vec<String>> {
        // SIGINT lets tshark flush the file; it is our own child, ended by its PID.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut read = Command::new("tshark");
        read.arg("-r").arg(&self.file).args(["-T", "fields"]);
        for field in fields {
            read.args(["-e", field]);
        }
        let out = read
            .output()
            .unwrap_or_else(|e| panic!("cannot read the capture: {e}"));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let mut values: Vec<String> = l.split('\t').map(|v| v.trim().to_owned()).collect();
                values.resize(fields.len(), String::new());
                values
            })
            .collect()
    }
}

/// The fields [`requests_from`] and [`sent_to`] read, in this order: pass them to
/// [`Capture::stop_fields`].
pub const PORTS_AND_METHOD: [&str; 3] = ["udp.srcport", "udp.dstport", "sip.Method"];

/// The indexes, in capture order, of the `method` requests sent from `sip_port` among
/// `packets` (captured with [`PORTS_AND_METHOD`]).
pub fn requests_from(packets: &[Vec<String>], sip_port: u16, method: &str) -> Vec<usize> {
    let port = sip_port.to_string();
    (0..packets.len())
        .filter(|i| packets[*i][0] == port && packets[*i][2] == method)
        .collect()
}

/// How many of `packets` (captured with [`PORTS_AND_METHOD`]) went to `port`.
pub fn sent_to(packets: &[Vec<String>], port: u16) -> usize {
    let port = port.to_string();
    packets.iter().filter(|p| p[1] == port).count()
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Dropped without `stop` (a test failed first): SIGTERM lets tshark stop its
        // dumpcap child, which a SIGKILL would leave capturing (and holding whatever the
        // test process let it inherit); SIGKILL only if it does not go.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The RMS level in dB of a WAV file by `sox stats`: of one channel (1-based) when given,
/// else the overall level.
pub fn sox_rms_db(wav: &Path, channel: Option<u8>) -> f64 {
    let mut cmd = Command::new(require("sox", "sox"));
    cmd.arg(wav).arg("-n");
    if let Some(c) = channel {
        cmd.args(["remix", &c.to_string()]);
    }
    cmd.arg("stats");
    let out = run_bounded(cmd, Duration::from_secs(10)).output();
    out.lines()
        .find_map(|l| l.strip_prefix("RMS lev dB"))
        // The first column is the overall level (a stereo file has per-channel ones too).
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no RMS level in sox output:\n{out}"))
}
