//! Inputs of [`CallbackCore`]: requests, results, cancel and reschedule, capacity, hours and
//! time. Each validates first, so a refused input changes nothing (beyond catching up with
//! `now`), then dispatches whatever has become possible.

use super::error::CallbackError;
use super::record::{
    Change, MAX_NAME, MAX_REASON, MAX_REASONS, Outcome, Record, Request, Reschedule, Source, State,
};
use super::schedule::push_history;
use super::{Accepted, CallbackCore, CallbackId, Entry, LeaderToken, Slot, Target, Timestamp};

/// Most attempts a request or reschedule may allow.
const MAX_ATTEMPTS: u32 = 50;
/// Longest callback id, in bytes.
const MAX_ID: usize = 128;

impl CallbackCore {
    /// Time passed: callbacks become due, windows close, attempts fall in doubt, targets
    /// open.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.fenced.is_none() {
            self.advance(now);
        }
    }

    /// A callback is asked for. It merges into the active callback of the same number and
    /// target if there is one (see the module comment), else it becomes a new callback
    /// with the request's id; refused when the request is invalid, its window is over, or
    /// the scheduler is [full](CallbackError::Full).
    pub fn handle_request(
        &mut self,
        now: Timestamp,
        request: Request,
    ) -> Result<Accepted, CallbackError> {
        self.check_fence()?;
        self.check_request(now, &request)?;
        self.advance(now);
        if self.entries.contains_key(&request.id) {
            return Err(CallbackError::DuplicateId(request.id));
        }
        let key = (request.number.clone(), request.target.clone());
        if let Some(into) = self.by_key.get(&key).cloned() {
            self.merge(now, &into, request);
            self.dispatch(now);
            return Ok(Accepted::Merged(into));
        }
        if self.entries.len() >= self.config.max_pending {
            return Err(CallbackError::Full {
                max: self.config.max_pending,
            });
        }
        let id = request.id.clone();
        let mut record = Record {
            id: request.id,
            number: request.number,
            name: request.name,
            reasons: Vec::new(),
            target: request.target,
            source: request.source,
            next_attempt_at: request.window.earliest().max(now),
            window: request.window,
            // A virtual-hold request that does not say when the caller joined joins now.
            enqueued_at: request
                .enqueued_at
                .or(request.source.keeps_place().then_some(now)),
            created_at: now,
            priority: request.priority,
            attempts: 0,
            max_attempts: request.max_attempts.unwrap_or(self.config.max_attempts),
            state: State::Pending,
            history: Vec::new(),
        };
        if !request.reason.is_empty() {
            record.reasons.push(request.reason);
        }
        let change = Change::Created {
            source: request.source,
        };
        push_history(&mut record, self.config.max_history, now, change);
        self.by_key.insert(key, id.clone());
        self.entries.insert(
            id.clone(),
            Entry {
                record,
                slot: Slot::Unindexed,
            },
        );
        self.schedule(now, &id);
        self.emit_changed(&id);
        self.dispatch(now);
        Ok(Accepted::Created(id))
    }

    fn check_request(&self, now: Timestamp, request: &Request) -> Result<(), CallbackError> {
        let id = request.id.as_str();
        if id.is_empty() || id.len() > MAX_ID || id.contains('/') {
            return Err(CallbackError::InvalidField {
                field: "id",
                why: format!("1 to {MAX_ID} bytes without '/'"),
            });
        }
        let target_id = match &request.target {
            Target::Department(d) => d.as_str(),
            Target::Employee(e) => e.as_str(),
        };
        if target_id.is_empty() {
            return Err(CallbackError::InvalidField {
                field: "target",
                why: "empty id".into(),
            });
        }
        if request.name.chars().count() > MAX_NAME {
            return Err(CallbackError::InvalidField {
                field: "name",
                why: format!("longer than {MAX_NAME} characters"),
            });
        }
        if request.reason.chars().count() > MAX_REASON {
            return Err(CallbackError::InvalidField {
                field: "reason",
                why: format!("longer than {MAX_REASON} characters"),
            });
        }
        if let Some(n) = request.max_attempts {
            check_attempts("max_attempts", n)?;
        }
        self.check_window(now, &request.window)
    }

    fn check_window(&self, now: Timestamp, window: &super::Window) -> Result<(), CallbackError> {
        if window.latest() <= now {
            return Err(CallbackError::WindowOver);
        }
        let open_for = window.latest().saturating_since(window.earliest().max(now));
        if open_for > self.config.max_window {
            return Err(CallbackError::InvalidWindow(format!(
                "open for {} s, more than the allowed {} s",
                open_for.as_secs(),
                self.config.max_window.as_secs()
            )));
        }
        Ok(())
    }

    /// Merges a (checked) request into an active callback.
    fn merge(&mut self, now: Timestamp, into: &CallbackId, request: Request) {
        let pending = self
            .entries
            .get(into)
            .is_some_and(|e| e.record.state == State::Pending);
        if pending {
            // Its due time, order and window span may all change.
            self.unindex(into);
        }
        let default_attempts = self.config.max_attempts;
        let max_history = self.config.max_history;
        let Some(entry) = self.entries.get_mut(into) else {
            return;
        };
        let record = &mut entry.record;
        record.window.union(&request.window);
        record.enqueued_at = match (record.enqueued_at, request.enqueued_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        record.priority = record.priority.max(request.priority);
        record.max_attempts = record
            .max_attempts
            .max(request.max_attempts.unwrap_or(default_attempts));
        if record.name.is_empty() {
            record.name.clone_from(&request.name);
        }
        if !request.reason.is_empty()
            && record.reasons.len() < MAX_REASONS
            && !record.reasons.contains(&request.reason)
        {
            record.reasons.push(request.reason.clone());
        }
        if pending {
            // The caller asked again: they can be called from the new window's start on,
            // even if a back-off would have waited longer.
            let asked_from = request.window.earliest().max(now);
            record.next_attempt_at = record.next_attempt_at.min(asked_from);
        }
        let change = Change::Merged {
            request: request.id,
            source: request.source,
            reason: request.reason,
        };
        push_history(record, max_history, now, change);
        if pending {
            self.schedule(now, into);
        }
        self.emit_changed(into);
    }

    /// How the dial of `attempt`, dispatched under `token`, ended. Refused
    /// ([`CallbackError::StaleAttempt`]) unless the callback is dispatching exactly that
    /// attempt under that token: a second result, a result for an attempt already counted
    /// as in doubt, or a result under another token changes nothing.
    pub fn handle_result(
        &mut self,
        now: Timestamp,
        id: &CallbackId,
        attempt: u32,
        token: LeaderToken,
        outcome: Outcome,
    ) -> Result<(), CallbackError> {
        self.check_fence()?;
        self.advance(now);
        let entry = self
            .entries
            .get(id)
            .ok_or_else(|| CallbackError::UnknownCallback(id.clone()))?;
        match entry.record.state {
            State::Dispatching {
                attempt: a,
                token: t,
                ..
            } if a == attempt && t == token => {}
            _ => {
                return Err(CallbackError::StaleAttempt {
                    id: id.clone(),
                    attempt,
                    token,
                });
            }
        }
        self.unindex(id);
        // `Outcome::InDoubt` as an input counts as a failed attempt like any other.
        self.attempt_ended(now, id, outcome);
        self.dispatch(now);
        Ok(())
    }

    /// Cancels an active callback. Returns the attempt being dialled, if one is (the
    /// dialler should stop it; its result will be refused).
    pub fn handle_cancel(
        &mut self,
        now: Timestamp,
        id: &CallbackId,
    ) -> Result<Option<u32>, CallbackError> {
        self.check_fence()?;
        self.advance(now);
        let entry = self
            .entries
            .get(id)
            .ok_or_else(|| CallbackError::UnknownCallback(id.clone()))?;
        let during_attempt = match entry.record.state {
            State::Dispatching { attempt, .. } => Some(attempt),
            _ => None,
        };
        let change = Change::Cancelled { during_attempt };
        self.finish(now, id, State::Cancelled { at: now }, change);
        self.dispatch(now);
        Ok(during_attempt)
    }

    /// Gives a pending callback a new window (replacing the old one), and optionally more
    /// attempts or another priority. Refused while an attempt is being dialled.
    pub fn handle_reschedule(
        &mut self,
        now: Timestamp,
        id: &CallbackId,
        reschedule: Reschedule,
    ) -> Result<(), CallbackError> {
        self.check_fence()?;
        self.check_window(now, &reschedule.window)?;
        if let Some(n) = reschedule.extra_attempts {
            check_attempts("extra_attempts", n)?;
        }
        self.advance(now);
        let state = self
            .entries
            .get(id)
            .map(|e| e.record.state.kind())
            .ok_or_else(|| CallbackError::UnknownCallback(id.clone()))?;
        if state != super::StateKind::Pending {
            return Err(CallbackError::NotPending {
                id: id.clone(),
                state,
            });
        }
        self.unindex(id);
        let max_history = self.config.max_history;
        let Some(entry) = self.entries.get_mut(id) else {
            return Err(CallbackError::UnknownCallback(id.clone()));
        };
        let record = &mut entry.record;
        let change = Change::Rescheduled {
            earliest: reschedule.window.earliest(),
            latest: reschedule.window.latest(),
        };
        record.next_attempt_at = reschedule.window.earliest().max(now);
        record.window = reschedule.window;
        if let Some(extra) = reschedule.extra_attempts {
            record.max_attempts = record.attempts.saturating_add(extra);
        }
        if let Some(priority) = reschedule.priority {
            record.priority = priority;
        }
        push_history(record, max_history, now, change);
        self.schedule(now, id);
        self.emit_changed(id);
        self.dispatch(now);
        Ok(())
    }

    /// `free` agents of `target` can take a callback now. Replaces the previous report;
    /// each dispatch to the target uses one until the next report.
    pub fn handle_capacity(
        &mut self,
        now: Timestamp,
        target: &Target,
        free: u32,
    ) -> Result<(), CallbackError> {
        self.check_fence()?;
        let line = self.lines.entry(target.clone()).or_default();
        line.capacity = free;
        self.dirty.insert(target.clone());
        self.advance(now);
        Ok(())
    }

    /// The working hours changed (a new configuration): every target is asked again.
    pub fn handle_hours_changed(&mut self, now: Timestamp) -> Result<(), CallbackError> {
        self.check_fence()?;
        let targets: Vec<Target> = self.lines.keys().cloned().collect();
        for target in targets {
            if let Some(line) = self.lines.get_mut(&target)
                && let Some(at) = line.reopen_at.take()
            {
                self.reopen.remove(&(at, target.clone()));
            }
            self.dirty.insert(target);
        }
        self.advance(now);
        Ok(())
    }
}

fn check_attempts(field: &'static str, n: u32) -> Result<(), CallbackError> {
    if n == 0 || n > MAX_ATTEMPTS {
        return Err(CallbackError::InvalidField {
            field,
            why: format!("1 to {MAX_ATTEMPTS}"),
        });
    }
    Ok(())
}

impl Source {
    /// Whether requests from this source keep the caller's place in line.
    pub fn keeps_place(self) -> bool {
        self == Source::VirtualHold
    }
}
