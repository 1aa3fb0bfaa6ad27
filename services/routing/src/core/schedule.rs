//! Working hours as a lookup table: whether a schedule is open at an instant, and
//! when that next changes. Pure: instants come in as Unix seconds. Built once per
//! configuration, so a decision costs one time-zone offset lookup, a binary search in the
//! dated days and a scan of one day's few ranges, and allocates nothing.
//!
//! The rule. Hours are wall-clock times in the schedule's time zone: the schedule is open
//! while the local clock shows a time inside one of the ranges of the local date. The date
//! picks its ranges: a dated exception's own hours, else none on a holiday (dated or
//! yearly), else its weekday's. Across daylight-saving changes, that means:
//! - clocks go forward (a local time does not exist): the skipped times never show, so a
//!   range that starts in the gap opens at the jump (`02:30-05:00` opens when 02:00 becomes
//!   03:00), one that ends in it closes at the jump, and one inside it stays closed that day;
//! - clocks go back (a local time exists twice): the repeated times show twice and are open
//!   (or closed) both times, so `00:00-02:30` is open until the first 02:30, closed until the
//!   clock goes back to 02:00, and open again until the second 02:30.
//!
//! Nothing is computed from a local time that does not exist, so no instant can fail.

use cc_common::config::{self, DateSpec, Organization, TimeRange};
use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAY_CE: i64 = 719_163;

/// How far [`Schedule::next_change`] looks ahead.
const HORIZON: i64 = 400 * DAY;

/// An instant as the local clock shows it: the local date (days since 1970-01-01) and the
/// second of that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub day: i64,
    pub second: u32,
}

impl LocalTime {
    /// Unix time `unix` in `tz`.
    pub fn at(unix: i64, tz: Tz) -> LocalTime {
        let local = unix.saturating_add(offset_at(tz, unix));
        LocalTime {
            day: local.div_euclid(DAY),
            // In 0..86_400.
            second: u32::try_from(local.rem_euclid(DAY)).unwrap_or(0),
        }
    }

    /// Minutes after local midnight.
    pub fn minute(self) -> u16 {
        u16::try_from(self.second / 60).unwrap_or(0)
    }

    /// 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday).
    fn weekday(self) -> usize {
        usize::try_from((self.day + 3).rem_euclid(7)).unwrap_or(0)
    }

    /// (month, day of month) of the local date.
    fn month_day(self) -> Option<(u32, u32)> {
        let ce = i32::try_from(self.day.checked_add(UNIX_EPOCH_DAY_CE)?).ok()?;
        let date = NaiveDate::from_num_days_from_ce_opt(ce)?;
        Some((date.month(), date.day()))
    }
}

/// `tz`'s offset from UTC at `unix`, in seconds (0 for instants chrono cannot represent).
fn offset_at(tz: Tz, unix: i64) -> i64 {
    DateTime::from_timestamp(unix, 0).map_or(0, |utc| {
        i64::from(
            tz.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    })
}

/// One day's open spans, `[start, end)` seconds after local midnight: sorted, apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Hours(Box<[(u32, u32)]>);

impl Hours {
    /// From validated `HH:MM-HH:MM` ranges (any that do not parse are skipped); adjacent
    /// ranges join.
    fn new(ranges: &[String]) -> Hours {
        let mut spans: Vec<(u32, u32)> = ranges
            .iter()
            .filter_map(|r| TimeRange::parse(r).ok())
            .map(|r| (u32::from(r.start) * 60, u32::from(r.end) * 60))
            .collect();
        spans.sort_unstable();
        let mut joined: Vec<(u32, u32)> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match joined.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => joined.push((start, end)),
            }
        }
        Hours(joined.into_boxed_slice())
    }
}

/// Whether `second` of the day lies in one of `spans`.
fn within(spans: &[(u32, u32)], second: u32) -> bool {
    spans
        .iter()
        .any(|&(start, end)| start <= second && second < end)
}

/// A schedule's table: weekday hours, dated days (exceptions and holidays) and yearly
/// holidays, in its time zone. See the module comment for the rule.
#[derive(Debug, Clone)]
pub struct Schedule {
    tz: Tz,
    /// Monday first.
    week: [Hours; 7],
    /// Sorted by local date (days since 1970-01-01); an exception's hours, or none for a
    /// dated holiday. An exception on a holiday's date replaces it.
    dated: Box<[(i64, Hours)]>,
    /// Yearly holidays: bit `day - 1` of `yearly[month - 1]`.
    yearly: [u32; 12],
}

impl Schedule {
    /// The table of a validated schedule of `organization` (whose zone is the default).
    pub fn new(schedule: &config::Schedule, organization: &Organization) -> Schedule {
        let hours = &schedule.hours;
        let week = [
            &hours.mon, &hours.tue, &hours.wed, &hours.thu, &hours.fri, &hours.sat, &hours.sun,
        ]
        .map(|ranges| Hours::new(ranges));
        let mut dated: Vec<(i64, Hours)> = Vec::new();
        let mut yearly = [0u32; 12];
        for holiday in schedule.holidays.iter().filter_map(|h| DateSpec::parse(h)) {
            match holiday {
                DateSpec::Yearly { month, day } => {
                    if let Some(bits) = yearly.get_mut(usize::from(month).wrapping_sub(1)) {
                        *bits |= 1 << (day.saturating_sub(1) % 32);
                    }
                }
                once => dated.extend(day_number(once).map(|d| (d, Hours::default()))),
            }
        }
        for e in &schedule.exceptions {
            if let Some(day) = DateSpec::parse(&e.date).and_then(day_number) {
                dated.retain(|(d, _)| *d != day);
                dated.push((day, Hours::new(&e.hours)));
            }
        }
        dated.sort_unstable_by_key(|(day, _)| *day);
        dated.dedup_by_key(|(day, _)| *day);
        Schedule {
            tz: schedule.tz(organization),
            week,
            dated: dated.into_boxed_slice(),
            yearly,
        }
    }

    /// The time zone its hours are in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Whether it is open at Unix time `unix`.
    pub fn open_at(&self, unix: i64) -> bool {
        self.open_local(LocalTime::at(unix, self.tz))
    }

    /// Whether it is open when its zone's clock shows `local`.
    pub fn open_local(&self, local: LocalTime) -> bool {
        within(self.spans_on(local), local.second)
    }

    /// The open spans of `local`'s date: its exception's, none on a holiday, or its
    /// weekday's.
    fn spans_on(&self, local: LocalTime) -> &[(u32, u32)] {
        if let Ok(i) = self.dated.binary_search_by_key(&local.day, |(day, _)| *day)
            && let Some((_, hours)) = self.dated.get(i)
        {
            return &hours.0;
        }
        if self.is_yearly_holiday(local) {
            return &[];
        }
        self.week.get(local.weekday()).map_or(&[], |hours| &hours.0)
    }

    fn is_yearly_holiday(&self, local: LocalTime) -> bool {
        if self.yearly.iter().all(|bits| *bits == 0) {
            return false;
        }
        let Some((month, day)) = local.month_day() else {
            return false;
        };
        let bits = self.yearly.get((month as usize).wrapping_sub(1)).copied();
        bits.is_some_and(|bits| bits & (1 << (day.saturating_sub(1) % 32)) != 0)
    }

    /// The first instant after `unix` at which [`open_at`](Self::open_at) changes, within
    /// about 400 days; `None` if it does not change in that time (a schedule open around the
    /// clock, or closed).
    ///
    /// Between two offset changes of the zone the local clock runs with UTC, so the state
    /// can change only where the clock shows a range boundary or midnight, and at the offset
    /// changes themselves; each such candidate is checked in order. It assumes a zone's
    /// offset changes at most once within 24 hours.
    pub fn next_change(&self, unix: i64) -> Option<i64> {
        DateTime::from_timestamp(unix, 0)?;
        let open = self.open_at(unix);
        let end = unix + HORIZON;
        let mut t = unix;
        while t < end {
            let offset = offset_at(self.tz, t);
            let transition = next_transition(self.tz, t, offset);
            let segment_end = transition.unwrap_or(t + DAY);
            if let Some(change) = self.change_in_segment(t, segment_end, offset, open) {
                return Some(change);
            }
            if transition.is_some() && self.open_at(segment_end) != open {
                return Some(segment_end);
            }
            t = segment_end;
        }
        None
    }

    /// The first boundary in `(from, to)`, while the zone's offset is `offset`, at which the
    /// state is no longer `open`.
    fn change_in_segment(&self, from: i64, to: i64, offset: i64, open: bool) -> Option<i64> {
        let mut day = (from + offset).div_euclid(DAY);
        loop {
            let midnight = day * DAY - offset;
            if midnight >= to {
                return None;
            }
            let spans = self.spans_on(LocalTime { day, second: 0 });
            let boundaries = std::iter::once(0).chain(spans.iter().flat_map(|&(s, e)| [s, e]));
            for boundary in boundaries {
                let candidate = midnight + i64::from(boundary);
                if candidate > from && candidate < to && self.open_at(candidate) != open {
                    return Some(candidate);
                }
            }
            day += 1;
        }
    }
}

/// The first second after `from` (within a day) at which `tz`'s offset is no longer
/// `offset`.
fn next_transition(tz: Tz, from: i64, offset: i64) -> Option<i64> {
    let (mut same, mut changed) = (from, from + DAY);
    if offset_at(tz, changed) == offset {
        return None;
    }
    while changed - same > 1 {
        let mid = same + (changed - same) / 2;
        if offset_at(tz, mid) == offset {
            same = mid;
        } else {
            changed = mid;
        }
    }
    Some(changed)
}

/// Days since 1970-01-01 of a dated `YYYY-MM-DD` (`None` for a yearly one).
fn day_number(date: DateSpec) -> Option<i64> {
    let DateSpec::Once { year, month, day } = date else {
        return None;
    };
    let date = NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day))?;
    Some(i64::from(date.num_days_from_ce()) - UNIX_EPOCH_DAY_CE)
}

#[cfg(test)]
mod tests;
