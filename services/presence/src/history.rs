//! The recent events kept in memory so that a watcher can resume from a sequence after a
//! disconnect without re-reading every agent. Bounded: older events fall off, and a resume
//! from before the oldest one is refused instead of silently skipping events.

use std::collections::VecDeque;

use crate::core::PresenceEvent;
use crate::error::ServiceError;

/// A ring of the last `capacity` events, in sequence order.
#[derive(Debug)]
pub(crate) struct History {
    events: VecDeque<PresenceEvent>,
    capacity: usize,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            events: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
        }
    }

    pub(crate) fn push(&mut self, event: PresenceEvent) {
        if self.events.len() >= self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The events with sequence `from` and later, given that `last` is the latest sequence
    /// emitted. `from == 0` means "only new events": nothing to replay.
    pub(crate) fn replay(&self, from: u64, last: u64) -> Result<Vec<PresenceEvent>, ServiceError> {
        if from == 0 {
            return Ok(Vec::new());
        }
        let next = last.saturating_add(1);
        if from > next {
            return Err(ServiceError::SequenceAhead {
                requested: from,
                next,
            });
        }
        let oldest = self.events.front().map_or(next, PresenceEvent::seq);
        if from < oldest {
            return Err(ServiceError::SequenceTooOld {
                requested: from,
                oldest,
            });
        }
        Ok(self
            .events
            .iter()
            .filter(|e| e.seq() >= from)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::core::AgentState;

    fn added(seq: u64) -> PresenceEvent {
        PresenceEvent::AgentAdded {
            seq,
            agent: format!("a{seq}").as_str().into(),
            state: AgentState::Offline,
            at: Instant::now(),
        }
    }

    fn seqs(events: &[PresenceEvent]) -> Vec<u64> {
        events.iter().map(PresenceEvent::seq).collect()
    }

    #[test]
    fn keeps_the_last_events_and_replays_from_a_sequence() {
        let mut h = History::new(3);
        for seq in 1..=5 {
            h.push(added(seq));
        }
        assert_eq!(h.replay(3, 5).map(|e| seqs(&e)), Ok(vec![3, 4, 5]));
        assert_eq!(h.replay(5, 5).map(|e| seqs(&e)), Ok(vec![5]));
        assert_eq!(h.replay(6, 5).map(|e| seqs(&e)), Ok(vec![]));
        assert_eq!(h.replay(0, 5).map(|e| seqs(&e)), Ok(vec![]));
    }

    #[test]
    fn refuses_a_sequence_that_fell_off_or_was_never_emitted() {
        let mut h = History::new(3);
        for seq in 1..=5 {
            h.push(added(seq));
        }
        assert_eq!(
            h.replay(2, 5),
            Err(ServiceError::SequenceTooOld {
                requested: 2,
                oldest: 3
            })
        );
        assert_eq!(
            h.replay(7, 5),
            Err(ServiceError::SequenceAhead {
                requested: 7,
                next: 6
            })
        );
    }

    #[test]
    fn an_empty_history_accepts_the_next_sequence() {
        let h = History::new(3);
        assert_eq!(h.replay(1, 0).map(|e| seqs(&e)), Ok(vec![]));
    }
}
