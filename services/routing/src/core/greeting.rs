//! Which greeting a number plays at a given moment: time-of-day bands in the number's time
//! zone, or one greeting all day.

use chrono_tz::Tz;

use cc_common::config::GreetingBand;

use super::schedule::LocalTime;

/// A number's greetings, bands sorted by start minute.
#[derive(Debug, Clone, Default)]
pub struct Greetings {
    all_day: Option<String>,
    bands: Vec<(u16, String)>,
}

impl Greetings {
    /// A number's greetings: `all_day` unless `bands` are given.
    pub fn new(all_day: Option<String>, bands: &[GreetingBand]) -> Greetings {
        let mut bands: Vec<(u16, String)> = bands
            .iter()
            .map(|b| (b.from_minute(), b.greeting.clone()))
            .collect();
        bands.sort_by_key(|(m, _)| *m);
        Greetings { all_day, bands }
    }

    /// The greeting at Unix time `now` in `tz`: the band that started last today, or before
    /// the first band of the day the last band (it began yesterday evening); the all-day
    /// greeting when there are no bands.
    pub fn at(&self, now: i64, tz: Tz) -> Option<&str> {
        self.at_local(|| LocalTime::at(now, tz))
    }

    /// The greeting when the clock shows `local()` (only asked for when there are bands).
    pub fn at_local(&self, local: impl FnOnce() -> LocalTime) -> Option<&str> {
        if self.bands.is_empty() {
            return self.all_day.as_deref();
        }
        let minute = local().minute();
        let current = self
            .bands
            .iter()
            .rev()
            .find(|(from, _)| *from <= minute)
            .or_else(|| self.bands.last());
        current.map(|(_, g)| g.as_str())
    }
}
