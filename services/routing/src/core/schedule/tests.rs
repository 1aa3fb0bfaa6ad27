//! Working hours: every rule on fixed dates (weekday ranges, closed days, holidays once and
//! yearly, exceptions beating both, `24:00`, a zone other than the organisation's), the
//! daylight-saving rule on Warsaw's changes, and properties: the table agrees with a
//! reference computed by chrono for any schedule, zone and instant; `next_change` is exactly
//! the next change; ranges over a skipped or repeated hour last as the rule says.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use cc_common::Config;
use cc_common::config::{self, ScheduleException, WeekHours};
use chrono::{Days, NaiveDate, NaiveDateTime, Timelike, Weekday};
use proptest::prelude::*;

use super::*;

/// The schedule `body` (TOML after `id`) of an organisation in Europe/Warsaw.
fn schedule(body: &str) -> Schedule {
    let text = format!(
        "[sip]\nlisten = '127.0.0.1:5060'\ndomain = 'cc.local'\n\
         [organization]\nname = 'Acme'\ntimezone = 'Europe/Warsaw'\n\
         [[schedules]]\nid = 's'\n{body}\n"
    );
    let c = Config::from_toml(&text).expect("test schedule");
    Schedule::new(&c.schedules[0], &c.organization)
}

/// Unix time of the local `YYYY-MM-DD HH:MM[:SS]` in the schedule's zone (the first, if
/// it is shown twice).
fn at(s: &Schedule, local: &str) -> i64 {
    let format = if local.len() > 16 {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    let naive = NaiveDateTime::parse_from_str(local, format).unwrap();
    s.tz()
        .from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .timestamp()
}

/// Unix time of `YYYY-MM-DD HH:MM` UTC.
fn utc(text: &str) -> i64 {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .timestamp()
}

fn open(s: &Schedule, local: &str) -> bool {
    s.open_at(at(s, local))
}

const OFFICE: &str = "hours = { mon = ['08:00-12:00', '13:00-17:00'], \
                      tue = ['13:00-17:00', '08:00-12:00'], wed = ['08:00-17:00'] }";

#[test]
fn weekday_ranges_open_from_their_start_until_their_end() {
    let s = schedule(OFFICE);
    // 2026-01-12 is a Monday.
    for (time, expected) in [
        ("2026-01-12 07:59:59", false),
        ("2026-01-12 08:00", true),
        ("2026-01-12 11:59:59", true),
        ("2026-01-12 12:00", false),
        ("2026-01-12 12:59", false),
        ("2026-01-12 13:00", true),
        ("2026-01-12 16:59:59", true),
        ("2026-01-12 17:00", false),
        ("2026-01-12 23:59", false),
        ("2026-01-13 12:30", false),
        ("2026-01-13 13:30", true),
        ("2026-01-14 12:30", true),
    ] {
        assert_eq!(open(&s, time), expected, "{time}");
    }
}

#[test]
fn a_day_without_hours_is_closed_all_day() {
    let s = schedule(OFFICE);
    // Thursday to Sunday have no ranges; neither does a schedule without hours.
    for day in 15..=18 {
        for hour in [0, 9, 13, 23] {
            assert!(
                !open(&s, &format!("2026-01-{day} {hour:02}:00")),
                "{day} {hour}"
            );
        }
    }
    assert!(!open(&schedule(""), "2026-01-12 09:00"));
}

#[test]
fn holidays_close_the_whole_day_once_or_every_year() {
    let s = schedule(&format!(
        "{OFFICE}\nholidays = ['2026-01-13', '01-14', '02-29']\n"
    ));
    assert!(open(&s, "2026-01-12 09:00"), "the day before");
    assert!(!open(&s, "2026-01-13 09:00"), "dated holiday");
    assert!(!open(&s, "2026-01-13 14:00"));
    assert!(
        open(&s, "2027-01-12 09:00"),
        "2027-01-12 is a Tuesday, no holiday"
    );
    assert!(!open(&s, "2026-01-14 09:00"), "yearly holiday");
    assert!(
        !open(&s, "2031-01-14 09:00"),
        "yearly: also a Tuesday in 2031"
    );
    assert!(
        open(&s, "2031-01-13 09:00"),
        "a dated holiday is not yearly"
    );
    // 29 February 2028 is a Tuesday, in a leap year only.
    assert!(!open(&s, "2028-02-29 09:00"));
    assert!(open(&s, "2028-02-28 09:00"), "Monday");
}

#[test]
fn an_exception_beats_holidays_and_the_weekday() {
    let s = schedule(&format!(
        "{OFFICE}\nholidays = ['2026-01-13', '01-14']\n\
         exceptions = [\n\
           {{ date = '2026-01-13', hours = ['10:00-11:00'] }},\n\
           {{ date = '2026-01-14', hours = ['18:00-20:00'] }},\n\
           {{ date = '2026-01-12' }},\n\
           {{ date = '2026-01-17', hours = ['09:00-10:00'] }},\n\
         ]"
    ));
    assert!(
        open(&s, "2026-01-13 10:30"),
        "exception over a dated holiday"
    );
    assert!(!open(&s, "2026-01-13 09:30"), "only the exception's hours");
    assert!(
        open(&s, "2026-01-14 19:00"),
        "exception over a yearly holiday"
    );
    assert!(!open(&s, "2026-01-14 09:00"));
    assert!(
        !open(&s, "2026-01-12 09:00"),
        "an exception without hours closes"
    );
    assert!(
        open(&s, "2026-01-17 09:30"),
        "a Saturday opened by an exception"
    );
    assert!(
        !open(&s, "2027-01-14 19:00"),
        "the exception is once; the holiday yearly"
    );
}

#[test]
fn a_range_to_24_00_joins_the_next_day_from_00_00() {
    let s = schedule("hours = { fri = ['20:00-24:00'], sat = ['00:00-02:00', '02:00-03:00'] }");
    assert!(open(&s, "2026-01-16 23:59:59"));
    assert!(open(&s, "2026-01-17 00:00"));
    assert!(open(&s, "2026-01-17 02:30"), "adjacent ranges join");
    assert!(!open(&s, "2026-01-17 03:00"));
    assert_eq!(
        s.next_change(at(&s, "2026-01-16 21:00")),
        Some(at(&s, "2026-01-17 03:00")),
        "open without a break over midnight"
    );
}

#[test]
fn a_schedule_in_another_zone_follows_its_own_clock() {
    // The organisation is in Warsaw; this schedule is New York's 09:00-17:00.
    let s = schedule("timezone = 'America/New_York'\nhours = { mon = ['09:00-17:00'] }");
    assert_eq!(s.tz(), chrono_tz::America::New_York);
    // Monday 2026-01-12: New York is UTC-5.
    assert!(
        !s.open_at(utc("2026-01-12 08:30")),
        "09:30 in Warsaw, 03:30 in New York"
    );
    assert!(s.open_at(utc("2026-01-12 14:00")));
    assert!(s.open_at(utc("2026-01-12 21:59")));
    assert!(!s.open_at(utc("2026-01-12 22:00")));
    assert_eq!(schedule("").tz(), chrono_tz::Europe::Warsaw, "default");
}

#[test]
fn clocks_going_forward_skip_the_hour_and_nothing_in_it_opens() {
    // Sunday 2026-03-29 in Warsaw: at 01:00 UTC the clock goes from 02:00 to 03:00.
    let jump = utc("2026-03-29 01:00");
    let ends_in_gap = schedule("hours = { sun = ['01:00-02:30'] }");
    assert!(ends_in_gap.open_at(jump - 1), "01:59:59 local");
    assert!(
        !ends_in_gap.open_at(jump),
        "03:00 local: closed at the jump"
    );
    assert_eq!(ends_in_gap.next_change(jump - 1800), Some(jump));

    let starts_in_gap = schedule("hours = { sun = ['02:30-05:00'] }");
    assert!(!starts_in_gap.open_at(jump - 1));
    assert!(starts_in_gap.open_at(jump), "opens at the jump");
    assert_eq!(starts_in_gap.next_change(jump - 3600), Some(jump));
    assert_eq!(
        starts_in_gap.next_change(jump),
        Some(utc("2026-03-29 03:00"))
    );

    let inside_gap = schedule("hours = { sun = ['02:15-02:45'] }");
    let midnight = utc("2026-03-28 23:00");
    assert!((midnight..midnight + 23 * 3600).all(|t| !inside_gap.open_at(t)));
    assert_eq!(
        inside_gap
            .next_change(midnight)
            .map(|t| t > utc("2026-04-01 00:00")),
        Some(true),
        "next opens a week later"
    );

    let over_gap = schedule("hours = { sun = ['01:00-04:00'] }");
    assert!(over_gap.open_at(jump - 1) && over_gap.open_at(jump));
    assert_eq!(
        over_gap.next_change(utc("2026-03-29 00:30")),
        Some(utc("2026-03-29 02:00")),
        "open two real hours, 01:00 CET to 04:00 CEST"
    );
}

#[test]
fn clocks_going_back_repeat_the_hour_and_its_state() {
    // Sunday 2026-10-25 in Warsaw: at 01:00 UTC the clock goes from 03:00 back to 02:00.
    let s = schedule("hours = { sun = ['00:00-02:30'] }");
    let first_0230 = utc("2026-10-25 00:30");
    let back = utc("2026-10-25 01:00");
    let second_0230 = utc("2026-10-25 01:30");
    assert!(s.open_at(first_0230 - 1));
    assert_eq!(s.next_change(first_0230 - 60), Some(first_0230));
    assert!(!s.open_at(first_0230), "02:30 CEST");
    assert_eq!(s.next_change(first_0230), Some(back));
    assert!(s.open_at(back), "02:00 CET: open again");
    assert_eq!(s.next_change(back), Some(second_0230));
    assert!(!s.open_at(second_0230));

    let over_repeat = schedule("hours = { sun = ['01:00-04:00'] }");
    assert_eq!(
        over_repeat.next_change(utc("2026-10-24 23:30")),
        Some(utc("2026-10-25 03:00")),
        "open four real hours, 01:00 CEST to 04:00 CET"
    );
}

#[test]
fn next_change_walks_over_closed_days_and_gives_up_on_constant_schedules() {
    let s = schedule(&format!("{OFFICE}\nholidays = ['2026-01-19']"));
    assert_eq!(
        s.next_change(at(&s, "2026-01-12 09:00")),
        Some(at(&s, "2026-01-12 12:00"))
    );
    assert_eq!(
        s.next_change(at(&s, "2026-01-12 12:00")),
        Some(at(&s, "2026-01-12 13:00")),
        "from exactly a boundary: the next one"
    );
    // Wednesday 17:00: closed over the weekend and the Monday holiday until Tuesday 08:00.
    assert_eq!(
        s.next_change(at(&s, "2026-01-14 17:00")),
        Some(at(&s, "2026-01-20 08:00"))
    );
    let always = "['00:00-24:00']";
    let around_the_clock = schedule(&format!(
        "hours = {{ mon = {always}, tue = {always}, wed = {always}, thu = {always}, \
         fri = {always}, sat = {always}, sun = {always} }}"
    ));
    assert!(around_the_clock.open_at(utc("2026-03-29 01:00")));
    assert_eq!(around_the_clock.next_change(utc("2026-03-28 12:00")), None);
    assert_eq!(schedule("").next_change(0), None, "never open");
    assert_eq!(s.next_change(i64::MAX), None);
    // Instants chrono cannot represent are taken as UTC, without failing.
    assert!(!s.open_at(i64::MIN));
    assert!(!s.open_at(i64::MAX));
}

// ----- properties -----

/// Zones with summer time north and south, half- and quarter-hour offsets, changes at
/// midnight, and none.
const ZONES: [Tz; 8] = [
    chrono_tz::Europe::Warsaw,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Sydney,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kathmandu,
    chrono_tz::America::Santiago,
    chrono_tz::America::St_Johns,
    chrono_tz::UTC,
];

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn range() -> impl Strategy<Value = String> {
    (0u16..1440, 1u16..=1440)
        .prop_filter("start before end", |(s, e)| s < e)
        .prop_map(|(s, e)| format!("{}-{}", hhmm(s), hhmm(e)))
}

fn day_ranges() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(range(), 0..4)
}

fn date(base: NaiveDate, offset: u64) -> NaiveDate {
    base.checked_add_days(Days::new(offset)).unwrap()
}

/// A schedule in one of [`ZONES`] with dates around `base`, and an instant near them.
fn scenario() -> impl Strategy<Value = (config::Schedule, i64)> {
    let week = prop::collection::vec(day_ranges(), 7);
    let holidays = prop::collection::vec((0u64..20, any::<bool>()), 0..4);
    let exceptions = prop::collection::vec((0u64..20, day_ranges()), 0..3);
    // From 2020 to 2035, so that many windows hold a daylight-saving change.
    let base_day = 18_262u64..23_741;
    (
        0..ZONES.len(),
        week,
        holidays,
        exceptions,
        base_day,
        0i64..22 * DAY,
    )
        .prop_map(|(zone, week, holidays, exceptions, base_day, offset)| {
            let base = date(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(), base_day);
            let holidays = holidays
                .into_iter()
                .map(|(d, yearly)| {
                    let format = if yearly { "%m-%d" } else { "%Y-%m-%d" };
                    date(base, d).format(format).to_string()
                })
                .collect();
            let exceptions: BTreeMap<String, Vec<String>> = exceptions
                .into_iter()
                .map(|(d, hours)| (date(base, d).format("%Y-%m-%d").to_string(), hours))
                .collect();
            let [mon, tue, wed, thu, fri, sat, sun]: [Vec<String>; 7] = week.try_into().unwrap();
            let schedule = config::Schedule {
                id: "s".into(),
                timezone: Some(ZONES[zone].name().into()),
                hours: WeekHours {
                    mon,
                    tue,
                    wed,
                    thu,
                    fri,
                    sat,
                    sun,
                },
                holidays,
                exceptions: exceptions
                    .into_iter()
                    .map(|(date, hours)| ScheduleException { date, hours })
                    .collect(),
            };
            let unix = (base_day as i64 - 1) * DAY + offset;
            (schedule, unix)
        })
}

/// Whether `schedule` is open at `unix`, straight from chrono and the configuration text.
fn reference(schedule: &config::Schedule, tz: Tz, unix: i64) -> bool {
    let local = DateTime::from_timestamp(unix, 0)
        .unwrap()
        .with_timezone(&tz);
    let second = local.num_seconds_from_midnight();
    let within = |ranges: &[String]| {
        ranges.iter().any(|r| {
            let r = TimeRange::parse(r).unwrap();
            u32::from(r.start) * 60 <= second && second < u32::from(r.end) * 60
        })
    };
    let date = local.date_naive();
    let iso = date.format("%Y-%m-%d").to_string();
    if let Some(e) = schedule.exceptions.iter().find(|e| e.date == iso) {
        return within(&e.hours);
    }
    let yearly = date.format("%m-%d").to_string();
    if schedule.holidays.iter().any(|h| *h == iso || *h == yearly) {
        return false;
    }
    let h = &schedule.hours;
    within(match date.weekday() {
        Weekday::Mon => &h.mon,
        Weekday::Tue => &h.tue,
        Weekday::Wed => &h.wed,
        Weekday::Thu => &h.thu,
        Weekday::Fri => &h.fri,
        Weekday::Sat => &h.sat,
        Weekday::Sun => &h.sun,
    })
}

fn table(schedule: &config::Schedule) -> Schedule {
    Schedule::new(schedule, &Organization::default())
}

/// The last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let last = NaiveDate::from_ymd_opt(year, month + 1, 1)
        .unwrap()
        .pred_opt()
        .unwrap();
    last.checked_sub_days(Days::new(u64::from(last.weekday().num_days_from_sunday())))
        .unwrap()
}

/// Minutes a Warsaw schedule open on Sundays only by `range` is open on that Sunday.
fn open_minutes_on(sunday: NaiveDate, range: &str) -> i64 {
    let s = schedule(&format!("hours = {{ sun = ['{range}'] }}"));
    let midnight = at(&s, &format!("{sunday} 00:00"));
    let next_midnight = at(&s, &format!("{} 00:00", date(sunday, 1)));
    (midnight..next_midnight)
        .step_by(60)
        .filter(|t| s.open_at(*t))
        .count() as i64
}

proptest! {
    #[test]
    fn the_table_agrees_with_chrono_for_any_schedule_zone_and_instant(
        (schedule, unix) in scenario(),
        probes in prop::collection::vec(0i64..2 * DAY, 16),
    ) {
        let table = table(&schedule);
        let tz = table.tz();
        for t in std::iter::once(unix).chain(probes.into_iter().map(|p| unix + p)) {
            prop_assert_eq!(table.open_at(t), reference(&schedule, tz, t), "at {}", t);
        }
    }

    #[test]
    fn next_change_is_the_first_instant_the_state_changes((schedule, unix) in scenario()) {
        let table = table(&schedule);
        let open = table.open_at(unix);
        let change = table.next_change(unix);
        if let Some(change) = change {
            prop_assert!(change > unix);
            prop_assert_ne!(table.open_at(change), open);
            prop_assert_eq!(table.open_at(change - 1), open);
        }
        // Every boundary is on a whole minute of a whole-minute offset: a minute's steps
        // see every change.
        let until = change.unwrap_or(i64::MAX).min(unix + 3 * DAY);
        for t in (unix..until).step_by(60) {
            prop_assert_eq!(table.open_at(t), open, "changed at {} before {:?}", t, change);
        }
    }

    #[test]
    fn a_range_over_the_skipped_hour_is_open_an_hour_less(
        year in 2000i32..2037,
        start in 0u16..=120,
        end in 180u16..=1440,
    ) {
        let sunday = last_sunday(year, 3);
        let range = format!("{}-{}", hhmm(start), hhmm(end));
        prop_assert_eq!(open_minutes_on(sunday, &range), i64::from(end - start) - 60);
    }

    #[test]
    fn a_range_inside_the_skipped_hour_never_opens_and_one_from_it_opens_at_the_jump(
        year in 2000i32..2037,
        start in 121u16..180,
        length in 1u16..60,
        end in 181u16..=1440,
    ) {
        let sunday = last_sunday(year, 3);
        let inside = format!("{}-{}", hhmm(start), hhmm((start + length).min(180)));
        prop_assert_eq!(open_minutes_on(sunday, &inside), 0);
        let from_gap = format!("{}-{}", hhmm(start), hhmm(end));
        prop_assert_eq!(open_minutes_on(sunday, &from_gap), i64::from(end - 180));
        let s = schedule(&format!("hours = {{ sun = ['{from_gap}'] }}"));
        let jump = at(&s, &format!("{sunday} 03:00"));
        prop_assert!(!s.open_at(jump - 1) && s.open_at(jump));
        prop_assert_eq!(s.next_change(jump - 3600), Some(jump));
    }

    #[test]
    fn a_range_over_the_repeated_hour_is_open_an_hour_more_and_one_ending_in_it_twice(
        year in 2000i32..2037,
        start in 0u16..120,
        end_in in 121u16..180,
        end_after in 180u16..=1440,
    ) {
        let sunday = last_sunday(year, 10);
        let over = format!("{}-{}", hhmm(start), hhmm(end_after));
        prop_assert_eq!(open_minutes_on(sunday, &over), i64::from(end_after - start) + 60);
        let ending_in = format!("{}-{}", hhmm(start), hhmm(end_in));
        prop_assert_eq!(
            open_minutes_on(sunday, &ending_in),
            i64::from(end_in - start) + i64::from(end_in - 120)
        );
    }

    #[test]
    fn no_instant_near_a_change_fails(
        zone in 0..ZONES.len(),
        year in 1970i32..2100,
        october in any::<bool>(),
        around in -3 * DAY..3 * DAY,
        week in prop::collection::vec(day_ranges(), 7),
    ) {
        let [mon, tue, wed, thu, fri, sat, sun]: [Vec<String>; 7] = week.try_into().unwrap();
        let schedule = config::Schedule {
            id: "s".into(),
            timezone: Some(ZONES[zone].name().into()),
            hours: WeekHours { mon, tue, wed, thu, fri, sat, sun },
            holidays: Vec::new(),
            exceptions: Vec::new(),
        };
        let table = table(&schedule);
        let sunday = last_sunday(year, if october { 10 } else { 3 });
        let t = sunday.and_hms_opt(1, 0, 0).unwrap().and_utc().timestamp() + around;
        prop_assert_eq!(table.open_at(t), reference(&schedule, table.tz(), t));
        if let Some(change) = table.next_change(t) {
            prop_assert!(change > t);
            prop_assert_ne!(table.open_at(change), table.open_at(t));
        }
    }
}
