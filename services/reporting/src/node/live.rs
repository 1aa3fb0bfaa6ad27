//! Live KPIs as Prometheus gauges: every department's KPIs of today (since midnight
//! in the organisation's time zone), computed again every [`LIVE_EVERY`] from the store,
//! labelled by department. A rate with nothing to measure yet (no call answered, no agent
//! staffed) is left out rather than shown as 0.

use std::collections::BTreeSet;
use std::time::Duration;

use cc_common::config::ConfigWatch;
use chrono::{TimeZone, Utc};
use tokio::task::JoinHandle;

use super::Stores;
use crate::core::{AgentId, AgentScope, DepartmentId, KpiQuery, Kpis, TimeRange, UnixMs};

/// How often the live KPIs are computed.
pub const LIVE_EVERY: Duration = Duration::from_secs(15);

/// Midnight of the day `now` falls in, in `tz` (the first instant of that local date, so
/// a day that starts with a DST jump starts when the clocks say so).
pub fn start_of_day(now: UnixMs, tz: chrono_tz::Tz) -> UnixMs {
    let Some(utc) = Utc.timestamp_millis_opt(now).single() else {
        return now;
    };
    let date = utc.with_timezone(&tz).date_naive();
    // The first hour of the date that exists there: midnight, unless the clocks jump over
    // it.
    (0..3)
        .filter_map(|hour| date.and_hms_opt(hour, 0, 0))
        .find_map(|local| tz.from_local_datetime(&local).earliest())
        .map_or(now, |t| t.timestamp_millis())
}

/// Computes the live KPIs every [`LIVE_EVERY`] until `stop` resolves.
pub fn start(
    stores: Stores,
    organization: ConfigWatch,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(stop);
        let mut every = tokio::time::interval(LIVE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = every.tick() => {}
            }
            let config = organization.borrow().clone();
            let now = now_ms();
            let Ok(today) =
                TimeRange::new(start_of_day(now, config.organization.tz()), UnixMs::MAX)
            else {
                continue;
            };
            for department in &config.departments {
                let mut query =
                    KpiQuery::new(today, Some(DepartmentId::from(department.id.as_str())));
                let members: BTreeSet<AgentId> = department
                    .members
                    .iter()
                    .map(|m| AgentId::from(m.as_str()))
                    .collect();
                query.agents = AgentScope::Only(members);
                query.now = Some(now);
                match stores.read(move |s| s.kpis(&query)).await {
                    Ok(kpis) => publish(&department.id, &kpis),
                    Err(e) => {
                        tracing::warn!(department = %department.id, error = %e, "reporting: cannot compute the live KPIs");
                    }
                }
            }
        }
    })
}

fn publish(department: &str, k: &Kpis) {
    let label = department.to_owned();
    let set = |name: &'static str, value: f64| {
        metrics::gauge!(name, "department" => label.clone()).set(value);
    };
    set("cc_kpi_offered_calls", k.offered as f64);
    set("cc_kpi_answered_calls", k.answered as f64);
    set("cc_kpi_abandoned_calls", k.abandoned as f64);
    set("cc_kpi_callbacks_requested", k.callbacks_requested as f64);
    set("cc_kpi_callbacks_kept", k.callbacks_kept as f64);
    if let Some(v) = k.service_level() {
        set("cc_kpi_service_level_ratio", v);
    }
    if let Some(v) = k.asa() {
        set("cc_kpi_asa_seconds", v.as_secs_f64());
    }
    if let Some(v) = k.abandonment_rate() {
        set("cc_kpi_abandonment_ratio", v);
    }
    if let Some(v) = k.aht() {
        set("cc_kpi_aht_seconds", v.as_secs_f64());
    }
    if let Some(v) = k.occupancy() {
        set("cc_kpi_occupancy_ratio", v);
    }
}

fn now_ms() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> UnixMs {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn today_starts_at_local_midnight() {
        let warsaw: chrono_tz::Tz = "Europe/Warsaw".parse().unwrap();
        // 00:30 in Warsaw is still the day before in UTC.
        assert_eq!(
            start_of_day(at("2026-11-27T23:30:00Z"), warsaw),
            at("2026-11-28T00:00:00+01:00")
        );
        assert_eq!(
            start_of_day(at("2026-11-28T17:00:00Z"), warsaw),
            at("2026-11-28T00:00:00+01:00")
        );
        // The day the clocks go forward (02:00 -> 03:00) still starts at midnight, CET.
        assert_eq!(
            start_of_day(at("2026-03-29T12:00:00Z"), warsaw),
            at("2026-03-29T00:00:00+01:00")
        );
        // A zone whose clocks skip midnight itself (Santiago, 00:00 -> 01:00): the day
        // starts at 01:00.
        let santiago: chrono_tz::Tz = "America/Santiago".parse().unwrap();
        assert_eq!(
            start_of_day(at("2026-09-06T15:00:00Z"), santiago),
            at("2026-09-06T01:00:00-03:00")
        );
    }
}
