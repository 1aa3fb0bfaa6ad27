//! Harness for the end-to-end tests: it starts the real `ccd` binary on a free loopback port
//! ([`ccd`]), runs real SIP peers (SIPp, sipsak, sipvicious) under hard timeouts ([`tools`]),
//! drives PJSIP phones for what SIPp cannot play ([`pjsua`]), and speaks raw SIP over UDP
//! and TCP for what no tool sends ([`sip`], [`digest`]).
//!
//! Every socket is on 127.0.0.1, every port is picked free ([`net`]), every wait has a
//! deadline, and every process the harness starts is killed by its PID when dropped.

pub mod callbacks;
pub mod ccd;
pub mod digest;
pub mod net;
pub mod org;
pub mod phones;
pub mod pjsua;
pub mod register;
pub mod sip;
pub mod tools;
pub mod uas;

use std::path::PathBuf;

/// This crate's directory: as cargo or nextest says when the test runs, else where it was
/// compiled. (The build directory is shared between checkouts, so a binary compiled in one
/// may run in another, whose files are the ones wanted.)
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// A SIPp scenario shipped with the load tests (`loadtest/sipp/NAME`).
pub fn sipp_scenario(name: &str) -> PathBuf {
    let path = manifest_dir().join("../loadtest/sipp").join(name);
    assert!(
        path.is_file(),
        "SIPp scenario {} is missing",
        path.display()
    );
    path
}

/// A scratch directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A value unique within this process (and, with the PID and clock, across processes):
/// for tags, branches, Call-IDs and file names.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}{n:x}", std::process::id(), nanos)
}
