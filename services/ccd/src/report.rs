//! `ccd report`: the per-scenario report from a reporting node's API, as a
//! table for a terminal or as CSV for a spreadsheet.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use cc_proto::reporting::v1 as pb;
use cc_proto::reporting::v1::reporting_client::ReportingClient;

/// What `ccd report` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The gRPC API of a node that runs reporting.
    #[arg(long, env = "CCD_API", default_value = "127.0.0.1:7070")]
    api: String,
    /// Calls that started at or after this: RFC 3339 (2026-11-28T08:00:00+01:00), a date
    /// (2026-11-28, midnight UTC) or Unix milliseconds. Default: the beginning.
    #[arg(long, value_parser = parse_instant)]
    from: Option<i64>,
    /// Calls that started before this (same forms). Default: now on.
    #[arg(long, value_parser = parse_instant)]
    to: Option<i64>,
    /// Calls of the last period before now, e.g. 24h, 7d, 90m (instead of --from).
    #[arg(long, value_parser = parse_period, conflicts_with = "from")]
    last: Option<Duration>,
    /// The second dimension: number, call-type, end-reason, operation, department.
    #[arg(long)]
    by: Option<String>,
    /// Rows kept, e.g. "no_conversation > 0 and avg_total < 10s".
    #[arg(long)]
    filter: Option<String>,
    /// CSV (with a header line) instead of a table.
    #[arg(long)]
    csv: bool,
}

/// Prints the report the arguments ask for.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let dimension = match args.by.as_deref() {
        None => pb::Dimension::Unspecified,
        Some(by) => dimension(by)?,
    };
    let from = match (args.from, args.last) {
        (Some(from), _) => from,
        (None, Some(last)) => now_ms() - i64::try_from(last.as_millis()).unwrap_or(i64::MAX),
        (None, None) => 0,
    };
    let request = pb::ScenarioReportRequest {
        range: Some(pb::TimeRange {
            from_unix_ms: from,
            to_unix_ms: args.to.unwrap_or(0),
        }),
        dimension: dimension as i32,
        filter: args.filter.unwrap_or_default(),
    };
    let url = format!("http://{}", args.api);
    let mut client = ReportingClient::connect(url.clone())
        .await
        .with_context(|| format!("cannot reach the API at {}", args.api))?;
    let report = client
        .get_scenario_report(request)
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", url, s.message()))?
        .into_inner();
    let with_value = dimension != pb::Dimension::Unspecified;
    let text = if args.csv {
        csv(&report, with_value)
    } else {
        table(&report, with_value)
    };
    print!("{text}");
    Ok(())
}

fn dimension(by: &str) -> anyhow::Result<pb::Dimension> {
    Ok(match by.replace('_', "-").as_str() {
        "number" => pb::Dimension::Number,
        "call-type" => pb::Dimension::CallType,
        "end-reason" => pb::Dimension::EndReason,
        "operation" => pb::Dimension::Operation,
        "department" => pb::Dimension::Department,
        other => anyhow::bail!(
            "--by {other:?}: one of number, call-type, end-reason, operation, department"
        ),
    })
}

const COLUMNS: [&str; 8] = [
    "total",
    "by option",
    "with transfer",
    "no conversation",
    "completed",
    "re-pass",
    "avg total",
    "avg talk",
];

/// One row's cells after the scenario (and value): counts, then the two averages.
fn cells(m: &pb::Measures, seconds: impl Fn(Option<i64>) -> String) -> Vec<String> {
    vec![
        m.total.to_string(),
        m.by_option.to_string(),
        m.with_transfer.to_string(),
        m.no_conversation.to_string(),
        m.completed.to_string(),
        m.re_pass.to_string(),
        seconds(m.avg_total_ms),
        seconds(m.avg_talk_ms),
    ]
}

fn scenario(row: &pb::ScenarioRow) -> String {
    if row.scenario_id.is_empty() {
        "(no scenario)".into()
    } else {
        row.scenario_id.clone()
    }
}

/// The report as an aligned table: text left, numbers right, averages as m:ss.
pub fn table(report: &pb::ScenarioReport, with_value: bool) -> String {
    let mut header = vec!["scenario".to_owned()];
    if with_value {
        header.push("value".into());
    }
    header.extend(COLUMNS.iter().map(|c| (*c).to_owned()));
    let texts = if with_value { 2 } else { 1 };
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|row| {
            let mut r = vec![scenario(row)];
            if with_value {
                r.push(if row.value.is_empty() {
                    "-".into()
                } else {
                    row.value.clone()
                });
            }
            let m = row.measures.unwrap_or_default();
            r.extend(cells(&m, |ms| ms.map_or_else(|| "-".into(), clock)));
            r
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i < texts {
                    format!("{cell:<w$}", w = widths[i])
                } else {
                    format!("{cell:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    if rows.is_empty() {
        out.push_str("(no calls in the range)\n");
    }
    out
}

/// The report as CSV: averages in seconds with one decimal, empty when none.
pub fn csv(report: &pb::ScenarioReport, with_value: bool) -> String {
    let mut out = String::from("scenario");
    if with_value {
        out.push_str(",value");
    }
    for c in [
        "total",
        "by_option",
        "with_transfer",
        "no_conversation",
        "completed",
        "re_pass",
        "avg_total_s",
        "avg_talk_s",
    ] {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for row in &report.rows {
        out.push_str(&csv_field(&row.scenario_id));
        if with_value {
            out.push(',');
            out.push_str(&csv_field(&row.value));
        }
        let m = row.measures.unwrap_or_default();
        for cell in cells(&m, |ms| {
            ms.map_or_else(String::new, |ms| format!("{:.1}", ms as f64 / 1000.0))
        }) {
            out.push(',');
            out.push_str(&cell);
        }
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Milliseconds as h:mm:ss or m:ss.
fn clock(ms: i64) -> String {
    let s = (ms.max(0) + 500) / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// RFC 3339, a date (midnight UTC) or Unix milliseconds.
fn parse_instant(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp_millis());
    }
    Err(format!(
        "{s:?} is no time: RFC 3339 (2026-11-28T08:00:00+01:00), a date (2026-11-28) or Unix milliseconds"
    ))
}

/// A number and a unit: m (minutes), h, d.
fn parse_period(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is no period: a number and m, h or d (e.g. 24h)");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> pb::ScenarioReport {
        pb::ScenarioReport {
            rows: vec![
                pb::ScenarioRow {
                    scenario_id: "sales".into(),
                    value: "support, 2nd line".into(),
                    measures: Some(pb::Measures {
                        total: 12,
                        by_option: 1,
                        with_transfer: 3,
                        no_conversation: 2,
                        completed: 9,
                        re_pass: 0,
                        ended: 12,
                        avg_total_ms: Some(95_400),
                        avg_talk_ms: Some(61_000),
                    }),
                },
                pb::ScenarioRow {
                    scenario_id: String::new(),
                    value: String::new(),
                    measures: Some(pb::Measures {
                        total: 1,
                        ..Default::default()
                    }),
                },
            ],
        }
    }

    #[test]
    fn the_table_aligns_numbers_right_and_shows_averages_as_a_clock() {
        let t = table(&report(), false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(
            lines[0].starts_with("scenario       total  by option"),
            "{t}"
        );
        assert!(lines[1].starts_with("sales             12"), "{t}");
        assert!(lines[1].ends_with("1:35      1:01"), "{t}");
        assert!(lines[2].starts_with("(no scenario)      1"), "{t}");
        assert!(lines[2].ends_with("-         -"), "{t}");
        assert_eq!(
            table(&pb::ScenarioReport::default(), false).lines().last(),
            Some("(no calls in the range)")
        );
    }

    #[test]
    fn the_csv_quotes_what_needs_it_and_gives_seconds() {
        let c = csv(&report(), true);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(
            lines[0],
            "scenario,value,total,by_option,with_transfer,no_conversation,completed,re_pass,avg_total_s,avg_talk_s"
        );
        assert_eq!(
            lines[1],
            "sales,\"support, 2nd line\",12,1,3,2,9,0,95.4,61.0"
        );
        assert_eq!(lines[2], ",,1,0,0,0,0,0,,");
    }

    #[test]
    fn times_and_periods_parse_or_say_what_they_accept() {
        assert_eq!(parse_instant("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_instant("2026-11-28T09:00:00+01:00"),
            parse_instant("2026-11-28T08:00:00Z")
        );
        assert_eq!(
            parse_instant("2026-11-28").unwrap() + 8 * 3_600_000,
            parse_instant("2026-11-28T08:00:00Z").unwrap()
        );
        assert!(parse_instant("yesterday").unwrap_err().contains("RFC 3339"));
        assert_eq!(parse_period("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_period("90m"), Ok(Duration::from_secs(5_400)));
        assert!(parse_period("3 weeks").is_err());
        assert!(dimension("end_reason").is_ok());
        assert!(
            dimension("colour")
                .unwrap_err()
                .to_string()
                .contains("one of")
        );
    }
}
