//! The hours callbacks are dialled in (R-42), from the organisation's configuration: a
//! department calls back while its `schedule` is open (around the clock without one); an
//! employee does not while their screening policy's do-not-disturb (`dnd`) is open. Both
//! are routing's compiled schedules, so a callback follows exactly the hours a call does,
//! daylight-saving changes and holidays included.

use std::collections::HashMap;
use std::sync::Arc;

use cc_common::config::Config;
use cc_routing::core::Schedule;

use crate::core::{Hours, Openness, Target, Timestamp};

/// The configured hours of every department and employee.
#[derive(Debug, Clone, Default)]
pub struct ConfigHours {
    departments: HashMap<String, Arc<Schedule>>,
    do_not_disturb: HashMap<String, Arc<Schedule>>,
}

impl ConfigHours {
    /// The hours of a (validated) configuration; a schedule that is missing all the same
    /// leaves its department open.
    pub fn new(config: &Config) -> Self {
        let compiled: HashMap<&str, Arc<Schedule>> = config
            .schedules
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    Arc::new(Schedule::new(s, &config.organization)),
                )
            })
            .collect();
        let departments = config
            .departments
            .iter()
            .filter_map(|d| {
                let schedule = compiled.get(d.schedule.as_deref()?)?;
                Some((d.id.clone(), Arc::clone(schedule)))
            })
            .collect();
        let do_not_disturb = config
            .screening
            .iter()
            .filter_map(|p| {
                let schedule = compiled.get(p.dnd.as_deref()?)?;
                Some((p.employee.clone(), Arc::clone(schedule)))
            })
            .collect();
        ConfigHours {
            departments,
            do_not_disturb,
        }
    }
}

/// Closed at `unix`, opening when `schedule` next changes.
fn closed_until_change(schedule: &Schedule, unix: i64) -> Openness {
    Openness::Closed {
        next_open: schedule
            .next_change(unix)
            .map(|t| Timestamp::from_unix_ms(t.saturating_mul(1000))),
    }
}

impl Hours for ConfigHours {
    fn openness(&self, target: &Target, at: Timestamp) -> Openness {
        let unix = at.unix_ms().div_euclid(1000);
        match target {
            Target::Department(d) => match self.departments.get(d.as_str()) {
                Some(hours) if !hours.open_at(unix) => closed_until_change(hours, unix),
                _ => Openness::Open,
            },
            Target::Employee(e) => match self.do_not_disturb.get(e.as_str()) {
                Some(dnd) if dnd.open_at(unix) => closed_until_change(dnd, unix),
                _ => Openness::Open,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_toml(
            r#"
[sip]
listen = "127.0.0.1:5060"
domain = "cc.local"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"
[[employees]]
id = "anna"
name = "Anna"
extension = "201"
sip_password = "secret"
role = "user"
[[employees]]
id = "piotr"
name = "Piotr"
extension = "202"
sip_password = "secret"
role = "user"
[[schedules]]
id = "office"
hours = { thu = ["08:00-17:00"] }
[[schedules]]
id = "lunch"
hours = { thu = ["12:00-13:00"] }
[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna"]
schedule = "office"
[[departments]]
id = "support"
name = "Support"
extension = "700"
strategy = "sequential"
members = ["piotr"]
[[screening]]
employee = "anna"
dnd = "lunch"
"#,
        )
        .expect("test configuration")
    }

    /// Thursday 2026-01-15 at `hour`:`minute` in Warsaw (UTC+1).
    fn warsaw(hour: i64, minute: i64) -> Timestamp {
        Timestamp::from_unix_ms((1_768_435_200 + (hour - 1) * 3600 + minute * 60) * 1000)
    }

    #[test]
    fn a_department_calls_back_in_its_hours_and_says_when_it_opens() {
        let hours = ConfigHours::new(&config());
        let sales = Target::department("sales");
        assert_eq!(hours.openness(&sales, warsaw(9, 0)), Openness::Open);
        assert_eq!(
            hours.openness(&sales, warsaw(7, 30)),
            Openness::Closed {
                next_open: Some(warsaw(8, 0))
            }
        );
        // After 17:00 on Thursday the next opening is a week later.
        let Openness::Closed {
            next_open: Some(next),
        } = hours.openness(&sales, warsaw(18, 0))
        else {
            panic!("closed in the evening");
        };
        assert_eq!(next.unix_ms() - warsaw(8, 0).unix_ms(), 7 * 86_400_000);
        let support = Target::department("support");
        assert_eq!(
            hours.openness(&support, warsaw(3, 0)),
            Openness::Open,
            "no schedule: around the clock"
        );
    }

    #[test]
    fn an_employee_does_not_call_back_during_do_not_disturb() {
        let hours = ConfigHours::new(&config());
        let anna = Target::employee("anna");
        assert_eq!(hours.openness(&anna, warsaw(11, 59)), Openness::Open);
        assert_eq!(
            hours.openness(&anna, warsaw(12, 30)),
            Openness::Closed {
                next_open: Some(warsaw(13, 0))
            }
        );
        assert_eq!(
            hours.openness(&Target::employee("piotr"), warsaw(12, 30)),
            Openness::Open
        );
    }
}
