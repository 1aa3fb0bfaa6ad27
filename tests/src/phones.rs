//! Agents' desk phones played by SIPp: each registers with digest authentication
//! (`agent_register.xml`) and handles the calls it gets with an out-of-call scenario
//! (`agent_answer.xml`, `agent_no_answer.xml`, `agent_busy.xml`, `agent_hangup.xml`,
//! `agent_hold.xml`, `agent_refer.xml`, `agent_refer_hang_up.xml`, `agent_answer_key.xml`),
//! echoing RTP back (`-rtp_echo`). The phone runs in the background until dropped (killed by
//! its PID); its SIP message log tells what it was sent and when.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::net::{free_media_port, free_port, loopback};
use crate::sip::Transport;
use crate::tools::require;
use crate::{TempDir, sipp_scenario};

/// How a phone treats the calls it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Rings for `ring_ms`, answers, waits for the BYE.
    Answer { ring_ms: u64 },
    /// Rings for `ring_ms`, answers, talks `talk_ms`, hangs up.
    AnswerThenHangUp { ring_ms: u64, talk_ms: u64 },
    /// Rings until cancelled.
    NoAnswer,
    /// Declines with 486 Busy Here.
    Busy,
    /// A customer's phone: its first two calls ring until cancelled; the third rings for
    /// `ring_ms`, is answered, talks `talk_ms` and hangs up.
    AnswerThirdCall { ring_ms: u64, talk_ms: u64 },
    /// Rings for `ring_ms`, answers, presses `key` (RFC 4733) `key_ms` after the answer,
    /// waits for the BYE.
    AnswerThenKey {
        ring_ms: u64,
        key: char,
        key_ms: u64,
    },
    /// Rings for `ring_ms`, answers, puts the call on hold (re-INVITE a=sendonly) after
    /// `hold_ms`, takes it back (a=sendrecv) `hold_ms` later, waits for the BYE.
    AnswerThenHold { ring_ms: u64, hold_ms: u64 },
    /// Rings for `ring_ms`, answers, talks `talk_ms`, then transfers the call blind with a
    /// REFER to `target` (an extension or number at the organisation's domain); answers
    /// the two NOTIFYs (100 Trying, then the outcome) and waits for the BYE.
    AnswerThenRefer {
        ring_ms: u64,
        talk_ms: u64,
        target: &'static str,
    },
    /// As [`Behaviour::AnswerThenRefer`], but hangs up itself after the outcome's NOTIFY,
    /// also when ccd has just hung up (its BYE, answered first, then crosses the phone's).
    AnswerThenReferAndHangUp {
        ring_ms: u64,
        talk_ms: u64,
        target: &'static str,
    },
}

/// One message in a SIPp message log.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// Seconds since midnight, as SIPp stamps it.
    pub at: f64,
    pub received: bool,
    /// The start line: `INVITE sip:...` or `SIP/2.0 200 OK`.
    pub start_line: String,
    /// The Call-ID header's value.
    pub call_id: String,
    /// The whole message.
    pub text: String,
}

impl Logged {
    /// A request of this method (`"INVITE"`, `"CANCEL"`...).
    pub fn is_request(&self, method: &str) -> bool {
        self.start_line.starts_with(&format!("{method} "))
    }
}

/// Parses a SIPp `-trace_msg` log.
pub fn parse_message_log(text: &str) -> Vec<Logged> {
    let mut out = Vec::new();
    for block in text
        .split("----------------------------------------------- ")
        .skip(1)
    {
        let mut lines = block.lines();
        let stamp = lines.next().unwrap_or_default();
        let at = stamp
            .split_whitespace()
            .nth(1)
            .and_then(|t| {
                let mut parts = t.split(':');
                let h: f64 = parts.next()?.parse().ok()?;
                let m: f64 = parts.next()?.parse().ok()?;
                let s: f64 = parts.next()?.parse().ok()?;
                Some(h * 3600.0 + m * 60.0 + s)
            })
            .unwrap_or_default();
        let direction = lines.next().unwrap_or_default();
        let received = direction.contains("received");
        let text = block.lines().skip(2).collect::<Vec<_>>().join("\n");
        let mut body = lines.skip_while(|l| l.trim().is_empty());
        let start_line = body.next().unwrap_or_default().trim().to_owned();
        let call_id = body
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                (name.eq_ignore_ascii_case("Call-ID") || name == "i")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default();
        if !start_line.is_empty() {
            out.push(Logged {
                at,
                received,
                start_line,
                call_id,
                text,
            });
        }
    }
    out
}

/// A registered agent phone. Killed (by its PID) when dropped.
#[derive(Debug)]
pub struct Phone {
    child: Child,
    pub extension: String,
    pub sip_port: u16,
    pub media_port: u16,
    messages: PathBuf,
    errors: PathBuf,
    dir: TempDir,
}

impl Phone {
    /// Starts the phone of `extension` against `node` and waits until it is registered.
    pub fn register(
        node: SocketAddr,
        domain: &str,
        extension: &str,
        password: &str,
        behaviour: Behaviour,
    ) -> Phone {
        let phone = Phone::spawn(
            node,
            Some((domain, extension, password)),
            extension,
            behaviour,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let log = phone.log();
            if log
                .iter()
                .any(|m| m.received && m.start_line.starts_with("SIP/2.0 200"))
            {
                return phone;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "phone {extension} did not register within 10 s\n{}",
            phone.describe()
        );
    }

    /// A phone that registers nowhere (e.g. the far end of a trunk): SIPp as a plain UAS,
    /// ready once it holds its port.
    pub fn unregistered(name: &str, behaviour: Behaviour) -> Phone {
        let phone = Phone::spawn(loopback(5060), None, name, behaviour);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::UdpSocket::bind(loopback(phone.sip_port)).is_err() {
                return phone;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "SIPp for {name} did not start within 10 s\n{}",
            phone.describe()
        );
    }

    /// Where this phone takes SIP.
    pub fn addr(&self) -> SocketAddr {
        loopback(self.sip_port)
    }

    fn spawn(
        node: SocketAddr,
        account: Option<(&str, &str, &str)>,
        name: &str,
        behaviour: Behaviour,
    ) -> Phone {
        let sipp = require("sipp", "sip-tester");
        let dir = TempDir::new("phone");
        let messages = dir.path().join("messages.log");
        let errors = dir.path().join("errors.log");
        let sip_port = free_port();
        let media_port = free_media_port();
        let (scenario, keys): (&str, Vec<(&str, String)>) = match behaviour {
            Behaviour::Answer { ring_ms } => {
                ("agent_answer.xml", vec![("ring_ms", ring_ms.to_string())])
            }
            Behaviour::AnswerThenHangUp { ring_ms, talk_ms } => (
                "agent_hangup.xml",
                vec![
                    ("ring_ms", ring_ms.to_string()),
                    ("talk_ms", talk_ms.to_string()),
                ],
            ),
            Behaviour::AnswerThenHold { ring_ms, hold_ms } => (
                "agent_hold.xml",
                vec![
                    ("ring_ms", ring_ms.to_string()),
                    ("talk_ms", hold_ms.to_string()),
                ],
            ),
            Behaviour::AnswerThenRefer {
                ring_ms,
                talk_ms,
                target,
            } => (
                "agent_refer.xml",
                vec![
                    ("ring_ms", ring_ms.to_string()),
                    ("talk_ms", talk_ms.to_string()),
                    ("refer_to", target.to_owned()),
                ],
            ),
            Behaviour::AnswerThenReferAndHangUp {
                ring_ms,
                talk_ms,
                target,
            } => (
                "agent_refer_hang_up.xml",
                vec![
                    ("ring_ms", ring_ms.to_string()),
                    ("talk_ms", talk_ms.to_string()),
                    ("refer_to", target.to_owned()),
                ],
            ),
            Behaviour::AnswerThenKey {
                ring_ms,
                key,
                key_ms,
            } => {
                let pcap = format!("/usr/share/sip-tester/dtmf_2833_{key}.pcap");
                std::os::unix::fs::symlink(&pcap, dir.path().join("dtmf.pcap"))
                    .unwrap_or_else(|e| panic!("cannot link {pcap} for phone {name}: {e}"));
                (
                    "agent_answer_key.xml",
                    vec![
                        ("ring_ms", ring_ms.to_string()),
                        ("key_ms", key_ms.to_string()),
                    ],
                )
            }
            Behaviour::NoAnswer => ("agent_no_answer.xml", vec![]),
            Behaviour::Busy => ("agent_busy.xml", vec![]),
            Behaviour::AnswerThirdCall { ring_ms, talk_ms } => (
                "customer_answer_third.xml",
                vec![
                    ("ring_ms", ring_ms.to_string()),
                    ("talk_ms", talk_ms.to_string()),
                ],
            ),
        };
        let mut cmd = Command::new(sipp);
        cmd.current_dir(dir.path());
        match account {
            Some((domain, extension, password)) => {
                cmd.arg(node.to_string())
                    .arg("-sf")
                    .arg(sipp_scenario("agent_register.xml"))
                    .arg("-oocsf")
                    .arg(sipp_scenario(scenario))
                    .args(["-key", "domain", domain])
                    .args(["-s", extension, "-au", extension, "-ap", password]);
            }
            None => {
                cmd.arg("-sf").arg(sipp_scenario(scenario));
            }
        }
        cmd.args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
            .args(["-t", "u1", "-nostdin", "-rtp_echo"])
            .args(if account.is_some() {
                &["-m", "1"][..]
            } else {
                &[][..]
            })
            // Registered for up to ten minutes; the test ends it sooner.
            .args(["-d", "600000"])
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(&messages)
            .arg("-trace_err")
            .arg("-error_file")
            .arg(&errors)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &keys {
            cmd.args(["-key", k, v]);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start SIPp for phone {name}: {e}"));
        Phone {
            child,
            extension: name.into(),
            sip_port,
            media_port,
            messages,
            errors,
            dir,
        }
    }

    /// Every SIP message the phone sent or received so far.
    pub fn log(&self) -> Vec<Logged> {
        parse_message_log(&std::fs::read_to_string(&self.messages).unwrap_or_default())
    }

    /// The requests of `method` the phone received.
    pub fn received(&self, method: &str) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|m| m.received && m.is_request(method))
            .collect()
    }

    /// Waits until the phone has received `n` requests of `method`.
    pub fn wait_for(&self, method: &str, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.received(method).len() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The message log and SIPp's errors, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "--- phone {} ({}) errors ---\n{}\n--- messages ---\n{}",
            self.extension,
            self.dir.path().display(),
            std::fs::read_to_string(&self.errors)
                .unwrap_or_default()
                .trim(),
            std::fs::read_to_string(&self.messages)
                .unwrap_or_default()
                .trim()
        )
    }

    pub fn transport(&self) -> Transport {
        Transport::Udp
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sipp_message_log_is_read_into_timed_start_lines() {
        let log = "----------------------------------------------- 2026-11-27 13:16:12.500000\n\
                   UDP message sent (339 bytes):\n\nREGISTER sip:cc.local SIP/2.0\r\nCall-ID: r1\r\n\r\n\n\
                   ----------------------------------------------- 2026-11-27 13:16:20.097071\n\
                   UDP message received [1011] bytes :\n\nINVITE sip:201@127.0.0.1 SIP/2.0\r\ni: c2\r\n\r\n";
        let m = parse_message_log(log);
        assert_eq!(m.len(), 2);
        assert!(!m[0].received && m[0].is_request("REGISTER") && m[0].call_id == "r1");
        assert!(m[1].received && m[1].is_request("INVITE") && m[1].call_id == "c2");
        assert!((m[1].at - m[0].at - 7.597071).abs() < 1e-6);
    }
}
