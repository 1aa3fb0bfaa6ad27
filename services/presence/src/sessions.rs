//! Agents' sessions (logged in, paused and why) mirrored into the coordinator, so that a
//! presence node taking over the agents finds who was logged in and paused.
//!
//! Sessions change a few times per agent per day, unlike call states (never written here,
//! DESIGN.md section 4). The owner records each change the API made, in the actor's order,
//! and one writer task puts `SESSIONS_PREFIX<agent>` in that order; the API never waits for
//! the coordinator. Pending writes are coalesced by agent (only the latest session of an
//! agent is worth writing), which bounds the queue by the number of agents. A write the
//! coordinator cannot take now is retried with back-off, before anything newer of that agent.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cc_cluster::{Coordinator, Error};
use cc_common::Shutdown;
use cc_proto::agents::v1 as pb;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::convert;
use crate::core::{Agent, AgentId, PauseReason};

/// Where the agents' sessions are kept: `SESSIONS_PREFIX<agent id>`, the value JSON
/// `{"logged_in": bool, "pause": null | "PAUSE_REASON_..."}` (plus `"pause_text"` with
/// `PAUSE_REASON_OTHER`), the reason named as in `cc.agents.v1`.
pub const SESSIONS_PREFIX: &str = "/cc/presence/sessions/";

/// First retry delay after the coordinator refused a write; doubles up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);
/// How long a stopping writer keeps trying to put what is still pending.
const DRAIN: Duration = Duration::from_secs(2);
/// How long `restore` waits for this node's own pending writes before it reads.
const FLUSH: Duration = Duration::from_secs(10);

/// One agent's session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    pub(crate) logged_in: bool,
    /// The pause reason's `cc.agents.v1.PauseReason` name; `None` when not paused.
    pub(crate) pause: Option<String>,
    /// The tenant's text of `PAUSE_REASON_OTHER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pause_text: Option<String>,
}

impl Session {
    /// The session of an agent as presence holds it now (a pause asked for during a call
    /// counts: it takes effect after the call, also on the node that takes over).
    pub(crate) fn of(agent: &Agent) -> Self {
        let pause = agent
            .pause_reason()
            .map(|reason| convert::pause(Some(reason)));
        Self {
            logged_in: agent.logged_in(),
            pause: pause.as_ref().map(|(r, _)| r.as_str_name().to_owned()),
            pause_text: pause.and_then(|(_, text)| (!text.is_empty()).then_some(text)),
        }
    }

    /// What to apply to the agent, the pause checked as the API checks a pause request.
    pub(crate) fn restore(&self) -> Result<Restore, String> {
        if !self.logged_in {
            return Ok(Restore::LoggedOut);
        }
        self.pause_reason().map(Restore::LoggedIn)
    }

    fn pause_reason(&self) -> Result<Option<PauseReason>, String> {
        let Some(name) = &self.pause else {
            return Ok(None);
        };
        let reason = pb::PauseReason::from_str_name(name)
            .ok_or_else(|| format!("{name:?} is not a PauseReason"))?;
        let text = self.pause_text.clone().unwrap_or_default();
        convert::pause_reason(reason.into(), text)
            .map(Some)
            .map_err(|status| status.message().to_owned())
    }

    /// The session stored at `key`, if the key is one of [`SESSIONS_PREFIX`].
    pub(crate) fn parse(key: &str, value: &[u8]) -> Result<(AgentId, Self), String> {
        let id = key
            .strip_prefix(SESSIONS_PREFIX)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| format!("{key:?} is not a session key"))?;
        let session = serde_json::from_slice(value).map_err(|e| e.to_string())?;
        Ok((AgentId::new(id), session))
    }
}

/// A stored session, checked: what a node taking over applies to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Restore {
    /// Logged out.
    LoggedOut,
    /// Logged in, paused for this reason or not paused.
    LoggedIn(Option<PauseReason>),
}

/// The mirror of the sessions in one coordinator: record changes, read them all back.
#[derive(Debug, Clone)]
pub(crate) struct Sessions {
    coordinator: Arc<dyn Coordinator>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Something was recorded (for the writer).
    wake: Notify,
    /// A write finished (for `flush`).
    progress: Notify,
}

/// Writes not done yet. Every recorded change gets the next `seq`; a pending agent keeps its
/// place in line and takes the latest session and seq.
#[derive(Debug, Default)]
struct Queue {
    last_seq: u64,
    order: VecDeque<AgentId>,
    pending: HashMap<AgentId, (u64, Session)>,
    /// The seq of the write the writer is doing now.
    in_flight: Option<u64>,
    /// The seq of each agent's latest change (what `restore` must not overwrite).
    last_change: HashMap<AgentId, u64>,
}

impl Sessions {
    /// Mirrors into `coordinator`; the writer stops on `shutdown`, after trying for a short
    /// while to put what is still pending.
    pub(crate) fn start(coordinator: Arc<dyn Coordinator>, shutdown: Shutdown) -> Self {
        let sessions = Self {
            coordinator,
            shared: Arc::default(),
        };
        tokio::spawn(sessions.clone().write(shutdown));
        sessions
    }

    /// Queues the write of `agent`'s session; returns at once.
    pub(crate) fn record(&self, agent: &AgentId, session: Session) {
        self.lock().record(agent, session);
        self.shared.wake.notify_one();
    }

    /// The seq of the latest change recorded: changes after it are newer than a read that
    /// starts once [`Self::flush`] of it returned.
    pub(crate) fn mark(&self) -> u64 {
        self.lock().last_seq
    }

    /// Whether `agent`'s session changed after `mark` (the coordinator may not have it yet).
    pub(crate) fn changed_after(&self, agent: &AgentId, mark: u64) -> bool {
        self.lock()
            .last_change
            .get(agent)
            .is_some_and(|seq| *seq > mark)
    }

    /// Waits until every change up to `mark` is written (or replaced by a newer one).
    pub(crate) async fn flush(&self, mark: u64) -> Result<(), Error> {
        let written = async {
            loop {
                let progress = self.shared.progress.notified();
                tokio::pin!(progress);
                progress.as_mut().enable();
                if self.lock().written_through(mark) {
                    return;
                }
                progress.await;
            }
        };
        tokio::time::timeout(FLUSH, written).await.map_err(|_| {
            Error::Unavailable(format!(
                "this node's session writes are still pending after {FLUSH:?}"
            ))
        })
    }

    /// Every stored session.
    pub(crate) async fn list(&self) -> Result<cc_cluster::Listing, Error> {
        self.coordinator.list(SESSIONS_PREFIX).await
    }

    /// The writer task: one write at a time, oldest first.
    async fn write(self, mut shutdown: Shutdown) {
        let mut delay = FIRST_RETRY;
        loop {
            let Some((agent, seq, session)) = self.lock().take() else {
                tokio::select! {
                    () = self.shared.wake.notified() => continue,
                    () = shutdown.wait() => break,
                }
            };
            match self.put(&agent, &session).await {
                Err(Error::Unavailable(e)) => {
                    tracing::warn!(%agent, error = %e, retry_in = ?delay, "session not written; retrying");
                    self.lock().put_back(agent, seq, session);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.wait() => break,
                    }
                    delay = (delay * 2).min(LAST_RETRY);
                }
                result => {
                    if let Err(e) = result {
                        tracing::error!(%agent, error = %e, "session not written; dropped");
                    }
                    delay = FIRST_RETRY;
                    self.lock().in_flight = None;
                    self.shared.progress.notify_waiters();
                }
            }
        }
        if tokio::time::timeout(DRAIN, self.drain()).await.is_err() {
            tracing::warn!("presence stopped with session writes pending");
        }
    }

    /// One attempt at each pending write (the writer is stopping).
    async fn drain(&self) {
        loop {
            let Some((agent, _, session)) = self.lock().take() else {
                return;
            };
            if let Err(e) = self.put(&agent, &session).await {
                tracing::warn!(%agent, error = %e, "session not written before stopping");
            }
            self.lock().in_flight = None;
        }
    }

    async fn put(&self, agent: &AgentId, session: &Session) -> Result<(), Error> {
        let value = serde_json::to_vec(session).map_err(|e| Error::Invalid(e.to_string()))?;
        let key = format!("{SESSIONS_PREFIX}{agent}");
        self.coordinator.put(&key, value, None).await?;
        tracing::debug!(%agent, logged_in = session.logged_in, pause = ?session.pause, "session written");
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every change to the queue is complete before anything can panic, so a poisoned
        // lock holds a consistent queue.
        self.shared
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Queue {
    fn record(&mut self, agent: &AgentId, session: Session) {
        self.last_seq += 1;
        let seq = self.last_seq;
        self.last_change.insert(agent.clone(), seq);
        match self.pending.get_mut(agent) {
            Some(pending) => *pending = (seq, session),
            None => {
                self.order.push_back(agent.clone());
                self.pending.insert(agent.clone(), (seq, session));
            }
        }
    }

    /// The oldest pending write, now in flight.
    fn take(&mut self) -> Option<(AgentId, u64, Session)> {
        let agent = self.order.pop_front()?;
        let (seq, session) = self.pending.remove(&agent)?;
        self.in_flight = Some(seq);
        Some((agent, seq, session))
    }

    /// A write that failed goes first again, unless the agent changed since: then the newer
    /// session, already in line, replaces it.
    fn put_back(&mut self, agent: AgentId, seq: u64, session: Session) {
        self.in_flight = None;
        if !self.pending.contains_key(&agent) {
            self.order.push_front(agent.clone());
            self.pending.insert(agent, (seq, session));
        }
    }

    fn written_through(&self, mark: u64) -> bool {
        self.in_flight.is_none_or(|seq| seq > mark)
            && self.pending.values().all(|(seq, _)| *seq > mark)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn session(logged_in: bool, pause: Option<&str>, text: Option<&str>) -> Session {
        Session {
            logged_in,
            pause: pause.map(str::to_owned),
            pause_text: text.map(str::to_owned),
        }
    }

    #[test]
    fn a_session_is_json_naming_the_reason_as_the_api_does() {
        let lunch = session(true, Some("PAUSE_REASON_LUNCH"), None);
        assert_eq!(
            serde_json::to_string(&lunch).unwrap(),
            r#"{"logged_in":true,"pause":"PAUSE_REASON_LUNCH"}"#
        );
        assert_eq!(
            lunch.restore().unwrap(),
            Restore::LoggedIn(Some(PauseReason::Lunch))
        );
        let out = session(false, None, None);
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"logged_in":false,"pause":null}"#
        );
        assert_eq!(out.restore().unwrap(), Restore::LoggedOut);
        let other = session(true, Some("PAUSE_REASON_OTHER"), Some("coaching"));
        assert_eq!(
            other.restore().unwrap(),
            Restore::LoggedIn(Some(PauseReason::Other("coaching".into())))
        );
    }

    #[test]
    fn a_stored_pause_is_checked_like_a_request() {
        for bad in [
            session(true, Some("LUNCH"), None),
            session(true, Some("PAUSE_REASON_OTHER"), None),
            session(true, Some("PAUSE_REASON_BREAK"), Some("why")),
            session(true, Some("PAUSE_REASON_UNSPECIFIED"), None),
        ] {
            assert!(bad.restore().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_outside_the_prefix_are_refused() {
        let value = br#"{"logged_in":true,"pause":null}"#;
        let (agent, parsed) = Session::parse("/cc/presence/sessions/anna", value).unwrap();
        assert_eq!(
            (agent, parsed),
            (AgentId::new("anna"), session(true, None, None))
        );
        assert!(Session::parse("/cc/presence/sessions/", value).is_err());
        assert!(Session::parse("/cc/other/anna", value).is_err());
        assert!(Session::parse("/cc/presence/sessions/anna", b"{").is_err());
    }

    #[test]
    fn pending_writes_coalesce_by_agent_and_keep_their_place() {
        let mut queue = Queue::default();
        let anna = AgentId::new("anna");
        let piotr = AgentId::new("piotr");
        queue.record(&anna, session(true, None, None));
        queue.record(&piotr, session(true, None, None));
        queue.record(&anna, session(false, None, None));
        assert!(queue.written_through(1), "anna's first change is replaced");
        assert!(!queue.written_through(2), "piotr's is pending");
        let (first, seq, s) = queue.take().unwrap();
        assert_eq!(
            (first, seq, s),
            (anna.clone(), 3, session(false, None, None))
        );
        queue.put_back(anna.clone(), 3, session(false, None, None));
        let (first, _, _) = queue.take().unwrap();
        assert_eq!(first, anna, "a failed write goes first again");
        queue.in_flight = None;
        assert_eq!(queue.take().unwrap().0, piotr);
        assert!(!queue.written_through(2), "piotr's write is in flight");
        queue.in_flight = None;
        assert!(queue.written_through(3));
        assert!(queue.take().is_none());

        // A failed write whose agent changed meanwhile gives way to the newer one.
        queue.record(&anna, session(true, None, None));
        let (_, seq, failed) = queue.take().unwrap();
        queue.record(&anna, session(false, None, None));
        queue.put_back(anna.clone(), seq, failed);
        let (_, seq, newer) = queue.take().unwrap();
        assert_eq!((seq, newer), (5, session(false, None, None)));
        assert!(queue.take().is_none());
    }
}
