//! Distribution strategies: which available members a plan offers to, in which order, and
//! how their ringing overlaps in time.

use std::time::{Duration, Instant};

/// How a department picks and rings agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Every available member rings at once; the first answer wins.
    RingAll,
    /// Members ring one after another in the configured order.
    Sequential,
    /// Like sequential, but earlier members keep ringing while later ones are added.
    Progressive,
    /// The member idle for the longest time first.
    LongestIdle,
    /// The configured order, starting after the member offered last.
    RoundRobin,
    /// The member who handled the fewest calls first.
    FewestCalls,
    /// The member with the least accumulated talk time first.
    LeastTalkTime,
    /// A uniformly random order from the core's seeded generator.
    Random,
}

/// How the targets of one plan overlap in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlap {
    /// All start at once.
    Parallel,
    /// One at a time.
    Serial,
    /// Each added after the previous one's ring time; all keep ringing to the end.
    Cumulative,
}

impl Strategy {
    pub(crate) fn overlap(self) -> Overlap {
        match self {
            Self::RingAll => Overlap::Parallel,
            Self::Progressive => Overlap::Cumulative,
            Self::Sequential
            | Self::LongestIdle
            | Self::RoundRobin
            | Self::FewestCalls
            | Self::LeastTalkTime
            | Self::Random => Overlap::Serial,
        }
    }

    /// The key an available member is indexed by, so that the department's available set is
    /// already in this strategy's order and picking is a walk from its start. The facts a key
    /// uses change only while the agent is unavailable, so the key stays valid while indexed.
    pub(crate) fn available_key(self, position: u32, facts: KeyFacts) -> AvailableKey {
        match self {
            Self::LongestIdle => AvailableKey::Idle(facts.idle_since, position),
            Self::FewestCalls => AvailableKey::Calls(facts.calls_handled, position),
            Self::LeastTalkTime => AvailableKey::Talk(facts.talk_time, position),
            Self::RingAll
            | Self::Sequential
            | Self::Progressive
            | Self::RoundRobin
            | Self::Random => AvailableKey::Position(position),
        }
    }
}

/// The agent facts an [`AvailableKey`] is built from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyFacts {
    pub idle_since: Option<Instant>,
    pub calls_handled: u64,
    pub talk_time: Duration,
}

/// Order of a department's available members; the member position breaks ties and makes
/// every key unique within the department. One department only ever holds one variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum AvailableKey {
    Position(u32),
    Idle(Option<Instant>, u32),
    Calls(u64, u32),
    Talk(Duration, u32),
}

/// Start and stop offsets (from the plan's creation) for targets with the given ring times,
/// in ring order.
pub(crate) fn schedule(overlap: Overlap, rings: &[Duration]) -> Vec<(Duration, Duration)> {
    match overlap {
        Overlap::Parallel => rings.iter().map(|r| (Duration::ZERO, *r)).collect(),
        Overlap::Serial => {
            let mut start = Duration::ZERO;
            rings
                .iter()
                .map(|r| {
                    let slot = (start, start.saturating_add(*r));
                    start = slot.1;
                    slot
                })
                .collect()
        }
        Overlap::Cumulative => {
            let mut starts = Vec::with_capacity(rings.len());
            let mut start = Duration::ZERO;
            let mut end = Duration::ZERO;
            for r in rings {
                starts.push(start);
                end = start.saturating_add(*r);
                start = end;
            }
            starts.into_iter().map(|s| (s, end)).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[(u64, u64)]) -> Vec<(Duration, Duration)> {
        v.iter()
            .map(|(a, b)| (Duration::from_secs(*a), Duration::from_secs(*b)))
            .collect()
    }

    #[test]
    fn schedules_follow_the_overlap() {
        let rings = [10, 20, 5].map(Duration::from_secs);
        assert_eq!(
            schedule(Overlap::Parallel, &rings),
            secs(&[(0, 10), (0, 20), (0, 5)])
        );
        assert_eq!(
            schedule(Overlap::Serial, &rings),
            secs(&[(0, 10), (10, 30), (30, 35)])
        );
        assert_eq!(
            schedule(Overlap::Cumulative, &rings),
            secs(&[(0, 35), (10, 35), (30, 35)])
        );
        assert!(schedule(Overlap::Serial, &[]).is_empty());
    }
}
