//! `[[schedules]]`: working hours per weekday, holidays and one-off exceptions, in a time
//! zone. A number names a schedule and takes its `route` in hours and its
//! `after_hours` route out of them. The times stay text as written (so an error can quote
//! them); this module checks them and parses them into [`TimeRange`] and [`DateSpec`] for
//! the routing core, which turns each schedule into a lookup table.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Organization, invalid};

/// `[[schedules]]`: when the numbers that name it are open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Stable id numbers refer to (letters, digits, '-', '_', '.').
    pub id: String,
    /// IANA time zone the hours are in; the organisation's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Ranges per weekday; a day without ranges is closed.
    #[serde(default)]
    pub hours: WeekHours,
    /// Days closed all day: `YYYY-MM-DD` once, `MM-DD` every year.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
    /// Dates with hours of their own; they beat holidays and the weekday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<ScheduleException>,
}

impl Schedule {
    /// The time zone of its hours: its own, else the organisation's (both validated at
    /// load, so this cannot fail afterwards).
    pub fn tz(&self, organization: &Organization) -> chrono_tz::Tz {
        match &self.timezone {
            Some(tz) => tz.parse().unwrap_or_else(|_| organization.tz()),
            None => organization.tz(),
        }
    }
}

/// `hours`: `"HH:MM-HH:MM"` ranges per weekday in local time, the end exclusive and at most
/// `24:00`. Ranges of a day must not overlap; adjacent ones (and a day ending at `24:00`
/// followed by one starting at `00:00`) join up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekHours {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mon: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tue: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thu: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fri: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sat: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sun: Vec<String>,
}

impl WeekHours {
    /// The days Monday first, each with its key (`mon`) and ranges.
    pub fn days(&self) -> [(&'static str, &[String]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// One date with its own hours (`{ date = "2026-12-24", hours = ["08:00-12:00"] }`);
/// without `hours` the date is closed all day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleException {
    /// `YYYY-MM-DD`.
    pub date: String,
    #[serde(default)]
    pub hours: Vec<String>,
}

/// A range of the local day, `[start, end)` in minutes after midnight; `end` may be 1440
/// (`24:00`), and `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: u16,
    pub end: u16,
}

/// Minutes in a day: the end of a range that lasts until midnight (`24:00`).
pub const MINUTES_PER_DAY: u16 = 1440;

impl TimeRange {
    /// Parses `HH:MM-HH:MM` (24-hour; the end may be `24:00`); `Err` says what is wrong.
    pub fn parse(text: &str) -> Result<TimeRange, String> {
        let shape = || format!("{text:?} is not a range HH:MM-HH:MM (the end may be 24:00)");
        let (start, end) = text.split_once('-').ok_or_else(shape)?;
        let start = minute_of(start).filter(|m| *m < MINUTES_PER_DAY);
        let (Some(start), Some(end)) = (start, minute_of(end)) else {
            return Err(shape());
        };
        if start >= end {
            return Err(format!("{text:?} does not end after it starts"));
        }
        Ok(TimeRange { start, end })
    }

    fn overlaps(self, other: TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// `HH:MM` up to `24:00` -> minutes after midnight.
fn minute_of(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h * 60 + m;
    (m < 60 && minute <= MINUTES_PER_DAY).then_some(minute)
}

/// A holiday's or exception's date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateSpec {
    /// `YYYY-MM-DD`: that day only.
    Once { year: i32, month: u8, day: u8 },
    /// `MM-DD`: that day every year (`02-29` only in leap years).
    Yearly { month: u8, day: u8 },
}

impl DateSpec {
    /// Parses `YYYY-MM-DD` or `MM-DD`; `None` unless it is a real calendar day.
    pub fn parse(text: &str) -> Option<DateSpec> {
        let parts: Vec<&str> = text.split('-').collect();
        let number = |s: &str, len: usize| {
            (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        let (year, month, day) = match parts.as_slice() {
            [y, m, d] => (Some(number(y, 4)?), number(m, 2)?, number(d, 2)?),
            [m, d] => (None, number(m, 2)?, number(d, 2)?),
            _ => return None,
        };
        // A yearly date is checked against a leap year, so `02-29` is allowed.
        let days = days_in_month(year.unwrap_or(2000), month)?;
        if day == 0 || day > days || year.is_some_and(|y| y < 1900) {
            return None;
        }
        let (month, day) = (u8::try_from(month).ok()?, u8::try_from(day).ok()?);
        Some(match year {
            Some(year) => DateSpec::Once {
                year: i32::from(year),
                month,
                day,
            },
            None => DateSpec::Yearly { month, day },
        })
    }
}

fn days_in_month(year: u16, month: u16) -> Option<u16> {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    })
}

/// Checks the schedules (ids, time zones, ranges, dates) and returns their ids.
pub(super) fn validate(schedules: &[Schedule]) -> Result<HashSet<&str>, ConfigError> {
    let mut ids = HashSet::new();
    for (i, s) in schedules.iter().enumerate() {
        let field = |f: &str| format!("schedules[{i}].{f}");
        if !super::org::is_id(&s.id) {
            return Err(invalid(
                field("id"),
                format!("{:?} must be 1-64 letters, digits, '-', '_' or '.'", s.id),
            ));
        }
        if !ids.insert(s.id.as_str()) {
            return Err(invalid(field("id"), format!("{:?} is used twice", s.id)));
        }
        if let Some(tz) = &s.timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(invalid(
                field("timezone"),
                format!("{tz:?} is not an IANA time zone (e.g. \"Europe/Warsaw\")"),
            ));
        }
        for (day, ranges) in s.hours.days() {
            check_ranges(ranges, &field(&format!("hours.{day}")))?;
        }
        check_holidays(&s.holidays, &field("holidays"))?;
        let mut dates = HashSet::new();
        for (k, e) in s.exceptions.iter().enumerate() {
            let field = |f: &str| format!("schedules[{i}].exceptions[{k}].{f}");
            match DateSpec::parse(&e.date) {
                Some(date @ DateSpec::Once { .. }) => {
                    if !dates.insert(date) {
                        return Err(invalid(
                            field("date"),
                            format!("{:?} is listed twice", e.date),
                        ));
                    }
                }
                _ => {
                    return Err(invalid(
                        field("date"),
                        format!("{:?} is not a date YYYY-MM-DD", e.date),
                    ));
                }
            }
            check_ranges(&e.hours, &field("hours"))?;
        }
    }
    Ok(ids)
}

/// One day's ranges: each well formed, none overlapping another (in any order).
fn check_ranges(ranges: &[String], field: &str) -> Result<(), ConfigError> {
    let mut seen: Vec<TimeRange> = Vec::with_capacity(ranges.len());
    for (k, text) in ranges.iter().enumerate() {
        let range =
            TimeRange::parse(text).map_err(|reason| invalid(format!("{field}[{k}]"), reason))?;
        if let Some(j) = seen.iter().position(|r| r.overlaps(range)) {
            return Err(invalid(
                format!("{field}[{k}]"),
                format!("{text:?} overlaps {:?} ({field}[{j}])", ranges[j]),
            ));
        }
        seen.push(range);
    }
    Ok(())
}

fn check_holidays(holidays: &[String], field: &str) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (k, text) in holidays.iter().enumerate() {
        let Some(date) = DateSpec::parse(text) else {
            return Err(invalid(
                format!("{field}[{k}]"),
                format!("{text:?} is not a date YYYY-MM-DD (once) or MM-DD (every year)"),
            ));
        };
        if !seen.insert(date) {
            return Err(invalid(
                format!("{field}[{k}]"),
                format!("{text:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
