//! The core's machinery: keeping each active callback in exactly one index, catching up
//! with `now`, dispatching what is due, ending attempts and finishing callbacks.

use std::cmp::Reverse;

use super::hours::Openness;
use super::record::{Change, HistoryEntry, Outcome, Record, State};
use super::{CallbackCore, CallbackId, Dispatch, Entry, Output, ReadyKey, Slot, Target, Timestamp};

impl CallbackCore {
    /// Handles everything due at or before `now`, then dispatches what can be.
    pub(super) fn advance(&mut self, now: Timestamp) {
        while let Some((at, id)) = self.doubts.first().cloned()
            && at <= now
        {
            self.doubts.remove(&(at, id.clone()));
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.slot = Slot::Unindexed;
            }
            self.attempt_ended(now, &id, Outcome::InDoubt);
        }
        while let Some((at, id)) = self.ends.first().cloned()
            && at <= now
        {
            // Out of the current span: due again at the next span, or expired.
            self.unindex(&id);
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.record.next_attempt_at = at;
            }
            self.schedule(now, &id);
        }
        while let Some((at, id)) = self.waiting.first().cloned()
            && at <= now
        {
            self.waiting.remove(&(at, id.clone()));
            let until = match self.entries.get(&id).map(|e| &e.slot) {
                Some(Slot::Waiting { until, .. }) => *until,
                _ => continue,
            };
            self.make_ready(&id, until);
        }
        while let Some((at, target)) = self.reopen.first().cloned()
            && at <= now
        {
            self.reopen.remove(&(at, target.clone()));
            if let Some(line) = self.lines.get_mut(&target) {
                line.reopen_at = None;
            }
            self.dirty.insert(target);
        }
        self.dispatch(now);
    }

    /// Indexes a pending callback by its next attempt time, or expires it when its window
    /// has no room left. The entry must be unindexed.
    pub(super) fn schedule(&mut self, now: Timestamp, id: &CallbackId) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        let record = &mut entry.record;
        match record.window.at_or_after(record.next_attempt_at) {
            None => {
                let change = Change::Expired {
                    attempts: record.attempts,
                    last: record.last_outcome().cloned(),
                };
                self.finish(now, id, State::Expired { at: now }, change);
            }
            Some((due, until)) => {
                record.next_attempt_at = due;
                self.ends.insert((until, id.clone()));
                if due <= now {
                    self.make_ready(id, until);
                } else {
                    self.waiting.insert((due, id.clone()));
                    entry.slot = Slot::Waiting { due, until };
                }
            }
        }
    }

    /// Puts a due callback in its target's line.
    fn make_ready(&mut self, id: &CallbackId, until: Timestamp) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        let record = &entry.record;
        let (class, at) = match record.enqueued_at {
            Some(enqueued) => (0, enqueued),
            None => (1, record.next_attempt_at),
        };
        let key = ReadyKey {
            urgency: Reverse(record.priority),
            class,
            at,
            id: id.clone(),
        };
        // Clone the target only for a new line or a newly dirty one (restores of 100,000).
        if !self.lines.contains_key(&record.target) {
            self.lines.insert(record.target.clone(), Default::default());
        }
        if let Some(line) = self.lines.get_mut(&record.target) {
            line.ready.insert(key.clone());
        }
        if !self.dirty.contains(&record.target) {
            self.dirty.insert(record.target.clone());
        }
        entry.slot = Slot::Ready { key, until };
    }

    /// Takes a callback out of whichever index holds it.
    pub(super) fn unindex(&mut self, id: &CallbackId) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        match std::mem::replace(&mut entry.slot, Slot::Unindexed) {
            Slot::Unindexed => {}
            Slot::Waiting { due, until } => {
                self.waiting.remove(&(due, id.clone()));
                self.ends.remove(&(until, id.clone()));
            }
            Slot::Ready { key, until } => {
                if let Some(line) = self.lines.get_mut(&entry.record.target) {
                    line.ready.remove(&key);
                }
                self.ends.remove(&(until, id.clone()));
            }
            Slot::Dispatching { deadline } => {
                self.doubts.remove(&(deadline, id.clone()));
            }
        }
    }

    /// Dispatches the due callbacks of every target that may be able to take some.
    pub(super) fn dispatch(&mut self, now: Timestamp) {
        for target in std::mem::take(&mut self.dirty) {
            let Some(line) = self.lines.get(&target) else {
                continue;
            };
            if line.ready.is_empty() || line.capacity == 0 {
                continue;
            }
            let open = match self.hours.openness(&target, now) {
                Openness::Open => true,
                Openness::Closed { next_open } => {
                    // A next opening not after now would spin the owner's timer: ignore it
                    // and wait for the next input.
                    self.set_reopen(&target, next_open.filter(|t| *t > now));
                    false
                }
            };
            if !open {
                continue;
            }
            self.set_reopen(&target, None);
            let Some(line) = self.lines.get_mut(&target) else {
                continue;
            };
            let mut due = Vec::new();
            while line.capacity > 0
                && let Some(key) = line.ready.pop_first()
            {
                line.capacity -= 1;
                due.push(key.id);
            }
            for id in due {
                self.start_attempt(now, &id);
            }
        }
    }

    fn set_reopen(&mut self, target: &Target, at: Option<Timestamp>) {
        let Some(line) = self.lines.get_mut(target) else {
            return;
        };
        if line.reopen_at == at {
            return;
        }
        if let Some(old) = line.reopen_at.take() {
            self.reopen.remove(&(old, target.clone()));
        }
        if let Some(at) = at {
            line.reopen_at = Some(at);
            self.reopen.insert((at, target.clone()));
        }
    }

    /// Dispatches the next attempt of a due callback (already out of its line).
    fn start_attempt(&mut self, now: Timestamp, id: &CallbackId) {
        self.unindex(id);
        let deadline = now.saturating_add(self.config.in_doubt_after);
        let max_history = self.config.max_history;
        let token = self.token;
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        let record = &mut entry.record;
        record.attempts += 1;
        let attempt = record.attempts;
        record.state = State::Dispatching {
            attempt,
            token,
            since: now,
        };
        push_history(
            record,
            max_history,
            now,
            Change::Dispatched { attempt, token },
        );
        entry.slot = Slot::Dispatching { deadline };
        self.doubts.insert((deadline, id.clone()));
        self.outputs.push_back(Output::Dispatch(Dispatch {
            id: id.clone(),
            attempt,
            token,
            record: Box::new(record.clone()),
        }));
    }

    /// The current attempt of a dispatched callback ended (it must be unindexed): done,
    /// retried, given up or expired.
    pub(super) fn attempt_ended(&mut self, now: Timestamp, id: &CallbackId, outcome: Outcome) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        let record = &mut entry.record;
        let attempt = record.attempts;
        if outcome == Outcome::Reached {
            self.finish(
                now,
                id,
                State::Reached { at: now },
                Change::Reached { attempt },
            );
            return;
        }
        if attempt >= record.max_attempts {
            let change = Change::GaveUp { attempt, outcome };
            self.finish(now, id, State::GaveUp { at: now }, change);
            return;
        }
        let not_before = now.saturating_add(self.config.retry_delay(attempt));
        let Some((next_at, _)) = record.window.at_or_after(not_before) else {
            let change = Change::Expired {
                attempts: attempt,
                last: Some(outcome),
            };
            self.finish(now, id, State::Expired { at: now }, change);
            return;
        };
        record.state = State::Pending;
        record.next_attempt_at = not_before;
        let change = Change::Retried {
            attempt,
            outcome,
            next_at,
        };
        push_history(record, self.config.max_history, now, change);
        self.schedule(now, id);
        self.emit_changed(id);
    }

    /// Ends a callback in a final state: written once more, then forgotten by the core.
    pub(super) fn finish(&mut self, now: Timestamp, id: &CallbackId, state: State, change: Change) {
        self.unindex(id);
        let Some(mut entry) = self.entries.remove(id) else {
            return;
        };
        let key = entry.record.merge_key();
        if self.by_key.get(&key) == Some(id) {
            self.by_key.remove(&key);
        }
        entry.record.state = state;
        push_history(&mut entry.record, self.config.max_history, now, change);
        self.outputs
            .push_back(Output::Changed(Box::new(entry.record)));
    }

    /// Outputs the callback's record as it is now.
    pub(super) fn emit_changed(&mut self, id: &CallbackId) {
        if let Some(entry) = self.entries.get(id) {
            self.outputs
                .push_back(Output::Changed(Box::new(entry.record.clone())));
        }
    }

    /// Forgets an active callback without output (the store says it is gone or final).
    pub(super) fn forget(&mut self, id: &CallbackId) -> Option<Entry> {
        self.unindex(id);
        let entry = self.entries.remove(id)?;
        let key = entry.record.merge_key();
        if self.by_key.get(&key) == Some(id) {
            self.by_key.remove(&key);
        }
        Some(entry)
    }
}

/// Appends to a record's history, dropping the oldest entries after the first beyond `max`.
pub(super) fn push_history(record: &mut Record, max: usize, at: Timestamp, change: Change) {
    record.history.push(HistoryEntry { at, change });
    let max = max.max(2);
    if record.history.len() > max {
        let excess = record.history.len() - max;
        record.history.drain(1..=excess);
    }
}
