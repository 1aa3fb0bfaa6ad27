//! PJSIP phones (pjsua2 from Python, installed by scripts/setup.sh from PyPI) for what
//! SIPp cannot play: several calls at once on one phone (call waiting, an attended
//! transfer). Each is a script in `tests/pjsua/` that prints its steps as JSON lines on
//! stdout and exits 0 when its story went as it should; it is killed by its PID when
//! dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::tools::{require, run_bounded};

/// A running pjsua2 script.
#[derive(Debug)]
pub struct Pjsua {
    child: Child,
    steps: mpsc::Receiver<String>,
    /// Every line the script printed so far (its steps, and PJSIP's own log lines).
    pub seen: Vec<String>,
}

impl Pjsua {
    /// Starts `tests/pjsua/<script>` with `args`; fails at once, naming the package, when
    /// pjsua2 is not installed.
    pub fn start(script: &str, args: &[String]) -> Pjsua {
        let python = require("python3", "python3");
        let check = run_bounded(
            {
                let mut c = Command::new(&python);
                c.args(["-c", "import pjsua2"]);
                c
            },
            Duration::from_secs(30),
        );
        assert!(
            check.success(),
            "pjsua2 is missing (scripts/setup.sh installs pjsua2-python from PyPI): {}",
            check.describe()
        );
        let path = crate::manifest_dir().join("pjsua").join(script);
        let mut child = Command::new(python)
            .arg(path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let (tx, steps) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Pjsua {
            child,
            steps,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `within`) for a line containing `what`; that line. Blocking: call it
    /// from a blocking task in async tests.
    pub fn until(&mut self, what: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.steps.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(_) => panic!("no {what:?} from the PJSIP phone; it said {:?}", self.seen),
            }
        }
    }

    /// Waits for the script to end (at most `within`); its exit code (`None`: still
    /// running, or killed by a signal).
    pub fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Pjsua {
    fn drop(&mut self) {
        // Our own child, ended by its PID (a no-op once it has exited).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
