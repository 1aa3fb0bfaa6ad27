//! Schedules in the configuration: ranges and dates parse as documented, and every bad
//! field is refused naming its path.
#![allow(clippy::unwrap_used)]

use super::super::{Config, Route};
use super::*;

/// Anna, a Sales department and one number; `schedules` and the number's fields in
/// `number` are appended.
fn config(schedules: &str, number: &str) -> Result<Config, ConfigError> {
    Config::from_toml(&format!(
        "[sip]\nlisten = '127.0.0.1:5060'\ndomain = 'cc.local'\n\
         [organization]\nname = 'Acme'\ntimezone = 'Europe/Warsaw'\n\
         [[employees]]\nid='anna'\nname='A'\nextension='201'\nsip_password='secret'\nrole='user'\n\
         [[departments]]\nid='sales'\nname='S'\nextension='600'\nstrategy='sequential'\nmembers=['anna']\n\
         {schedules}\n[[numbers]]\nnumber='48221234567'\nroute={{ department = 'sales' }}\n{number}\n"
    ))
}

const OFFICE: &str = "[[schedules]]\nid = 'office'\n\
    hours = { mon = ['08:00-12:00', '13:00-17:00'], fri = ['08:00-24:00'], sat = ['00:00-02:00'] }\n\
    holidays = ['2026-11-11', '12-25']\n\
    exceptions = [{ date = '2026-12-24', hours = ['08:00-12:00'] }, { date = '2026-12-31' }]\n\
    [[schedules]]\nid = 'ny'\ntimezone = 'America/New_York'\nhours = { tue = ['09:00-17:00'] }\n";

#[test]
fn schedules_parse_and_numbers_name_them() {
    let c = config(
        OFFICE,
        "schedule = 'office'\nafter_hours = { hangup = 'closed' }",
    )
    .unwrap();
    let office = c.schedule("office").unwrap();
    assert_eq!(office.hours.mon, ["08:00-12:00", "13:00-17:00"]);
    assert!(office.hours.tue.is_empty(), "an absent day is closed");
    assert_eq!(office.exceptions[1].hours, Vec::<String>::new());
    assert_eq!(office.tz(&c.organization), chrono_tz::Europe::Warsaw);
    assert_eq!(
        c.schedule("ny").unwrap().tz(&c.organization),
        chrono_tz::America::New_York
    );
    assert_eq!(c.numbers[0].schedule.as_deref(), Some("office"));
    assert_eq!(
        c.numbers[0].after_hours,
        Some(super::super::AfterHours::Hangup("closed".into()))
    );
    assert_eq!(c.numbers[0].route, Some(Route::Department("sales".into())));
    for after_hours in ["{ department = 'sales' }", "{ employee = 'anna' }"] {
        config(
            OFFICE,
            &format!("schedule = 'ny'\nafter_hours = {after_hours}"),
        )
        .unwrap();
    }
    let open = config("", "").unwrap();
    assert_eq!(open.numbers[0].schedule, None, "no schedule: 24/7");
}

#[test]
fn bad_schedules_are_refused_naming_the_field() {
    let hours = |h: &str| format!("[[schedules]]\nid = 'office'\nhours = {{ {h} }}\n");
    let cases = [
        (hours("mon = ['8-12']"), "schedules[0].hours.mon[0]: \"8-12\" is not a range"),
        (
            hours("tue = ['08:00-12:00', '12:00-13:00', '12:30-14:00']"),
            "schedules[0].hours.tue[2]: \"12:30-14:00\" overlaps \"12:00-13:00\" (schedules[0].hours.tue[1])",
        ),
        (
            hours("sun = ['17:00-08:00']"),
            "schedules[0].hours.sun[0]: \"17:00-08:00\" does not end after it starts",
        ),
        (hours("mon = ['24:00-24:00']"), "schedules[0].hours.mon[0]"),
        (hours("monday = ['08:00-12:00']"), "monday"),
        (
            "[[schedules]]\nid = 'o'\nholidays = ['2026-02-30']\n".into(),
            "schedules[0].holidays[0]: \"2026-02-30\" is not a date",
        ),
        (
            "[[schedules]]\nid = 'o'\nholidays = ['12-25', '12-25']\n".into(),
            "schedules[0].holidays[1]: \"12-25\" is listed twice",
        ),
        (
            "[[schedules]]\nid = 'o'\nexceptions = [{ date = '12-24' }]\n".into(),
            "schedules[0].exceptions[0].date: \"12-24\" is not a date YYYY-MM-DD",
        ),
        (
            "[[schedules]]\nid = 'o'\nexceptions = [{ date = '2026-12-24' }, { date = '2026-12-24' }]\n".into(),
            "schedules[0].exceptions[1].date: \"2026-12-24\" is listed twice",
        ),
        (
            "[[schedules]]\nid = 'o'\nexceptions = [{ date = '2026-12-24', hours = ['08:00-25:00'] }]\n".into(),
            "schedules[0].exceptions[0].hours[0]",
        ),
        (
            "[[schedules]]\nid = 'o'\ntimezone = 'Mars/Olympus'\n".into(),
            "schedules[0].timezone: \"Mars/Olympus\" is not an IANA time zone",
        ),
        (
            "[[schedules]]\nid = 'o'\n[[schedules]]\nid = 'o'\n".into(),
            "schedules[1].id: \"o\" is used twice",
        ),
        ("[[schedules]]\nid = 'o k'\n".into(), "schedules[0].id"),
    ];
    for (schedules, expected) in cases {
        let err = config(&schedules, "").unwrap_err().to_string();
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
}

#[test]
fn a_number_needs_a_known_schedule_and_an_after_hours_route_with_it() {
    let cases = [
        (
            "schedule = 'shop'\nafter_hours = { hangup = 'closed' }",
            "numbers[0].schedule: \"shop\" is not a schedule id",
        ),
        (
            "schedule = 'office'",
            "numbers[0].after_hours: a number with a schedule needs after_hours",
        ),
        (
            "after_hours = { hangup = 'closed' }",
            "numbers[0].after_hours: applies only to a number with a schedule",
        ),
        (
            "schedule = 'office'\nafter_hours = { department = 'hr' }",
            "numbers[0].after_hours: department \"hr\" is not configured",
        ),
        (
            "schedule = 'office'\nafter_hours = { employee = 'bob' }",
            "numbers[0].after_hours: employee \"bob\" is not configured",
        ),
        (
            "schedule = 'office'\nafter_hours = { hangup = 'we are closed' }",
            "numbers[0].after_hours: \"we are closed\" is not a prompt id",
        ),
        (
            "schedule = 'office'\nafter_hours = { voicemail = 'x' }",
            "voicemail",
        ),
    ];
    for (number, expected) in cases {
        let err = config(OFFICE, number).unwrap_err().to_string();
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
}

#[test]
fn ranges_parse_with_24_00_as_the_end_of_the_day() {
    assert_eq!(
        TimeRange::parse("08:00-12:30"),
        Ok(TimeRange {
            start: 480,
            end: 750
        })
    );
    assert_eq!(
        TimeRange::parse("00:00-24:00"),
        Ok(TimeRange {
            start: 0,
            end: 1440
        })
    );
    for bad in [
        "8:00-12:00",
        "08:00",
        "08:00-12:60",
        "24:00-24:00",
        "08:00-24:01",
        "08:00-25:00",
        "08:00 - 12:00",
        "+8:00-12:00",
        "",
    ] {
        let err = TimeRange::parse(bad).unwrap_err();
        assert!(err.contains("is not a range HH:MM-HH:MM"), "{bad:?}: {err}");
    }
    for reversed in ["12:00-08:00", "08:00-08:00"] {
        let err = TimeRange::parse(reversed).unwrap_err();
        assert!(err.contains("does not end after it starts"), "{err}");
    }
}

#[test]
fn dates_are_once_or_yearly_and_real() {
    assert_eq!(
        DateSpec::parse("2026-12-24"),
        Some(DateSpec::Once {
            year: 2026,
            month: 12,
            day: 24
        })
    );
    assert_eq!(
        DateSpec::parse("02-29"),
        Some(DateSpec::Yearly { month: 2, day: 29 })
    );
    assert!(DateSpec::parse("2024-02-29").is_some());
    for bad in [
        "2026-02-29",
        "2026-13-01",
        "2026-04-31",
        "12-00",
        "1-01",
        "2026/12/24",
        "26-12-24",
        "1899-12-31",
        "2026-12-24-1",
        "",
    ] {
        assert_eq!(DateSpec::parse(bad), None, "{bad:?}");
    }
}

/// The example of the README's configuration reference.
const README_EXAMPLE: &str = r#"
[[schedules]]
id = "office"
# timezone = "America/New_York"  # IANA zone of the hours (default: the organisation's)
holidays = ["2026-11-11", "12-25"]  # closed all day: YYYY-MM-DD once, MM-DD every year
exceptions = [                 # one-off dates with their own hours; they beat holidays and
  { date = "2026-12-24", hours = ["08:00-12:00"] },  # the weekday
  { date = "2026-12-31" },     # no hours: closed that day
]
[schedules.hours]              # per weekday (mon..sun), "HH:MM-HH:MM", the end excluded and
mon = ["08:00-12:00", "13:00-17:00"]  # up to 24:00; a day not listed is closed; ranges of
tue = ["08:00-17:00"]          # a day must not overlap; adjacent ones join, also over
wed = ["08:00-17:00"]          # midnight (fri until 24:00, sat from 00:00)
thu = ["08:00-17:00"]
fri = ["08:00-24:00"]
sat = ["00:00-02:00"]
"#;

#[test]
fn the_readme_example_is_valid() {
    let c = config(
        README_EXAMPLE,
        "schedule = 'office'\nafter_hours = { department = 'sales' }",
    )
    .unwrap();
    let office = c.schedule("office").unwrap();
    assert_eq!(office.hours.fri, ["08:00-24:00"]);
    assert_eq!(office.holidays, ["2026-11-11", "12-25"]);
    assert_eq!(office.exceptions.len(), 2);
}
