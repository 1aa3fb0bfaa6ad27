//! The reporting at scale (issue 8's benchmark): fills a database with N synthetic calls
//! (`cc_reporting::synth`, one call starting every 250 ms, ~7.7 events a call) in batches
//! of 1,000 events, as the reporting node's writer does, timing the ingest; then times the
//! scenario report and the KPIs over it, each query run 5 times (median and slowest).
//! Prints a Markdown report.
//!
//! Usage: cargo run --release -p cc-reporting --example load -- CALLS DB
//! where DB is a new SQLite file, or `postgres` for a PostgreSQL server of its own (a
//! temporary cluster with the server's default durability: fsync and synchronous commit
//! on). `loadtest/reporting.sh` runs it and writes loadtest/reports/reporting-load.md.

use std::time::{Duration, Instant};

use cc_reporting::core::{Dimension, Filter, KpiQuery, ReportEvent, ScenarioQuery, TimeRange};
use cc_reporting::store::{IngestBatch, PostgresStore, ReportStore, SqliteStore};
use cc_reporting::synth::{Traffic, TrafficConfig};
use cc_reporting::testing::PostgresServer;

const BATCH: usize = 1_000;
const RUNS: usize = 5;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: load CALLS (DB_FILE | postgres)";
    let calls: u64 = args
        .next()
        .and_then(|n| n.replace('_', "").parse().ok())
        .unwrap_or_else(|| panic!("{usage}"));
    let db = args.next().unwrap_or_else(|| panic!("{usage}"));
    let mut server = None;
    let (mut store, size): (Box<dyn ReportStore>, Box<dyn Fn() -> u64>) = if db == "postgres" {
        let started = PostgresServer::start_durable().expect("start PostgreSQL");
        let url = started.fresh_database().expect("a database");
        server = Some(started);
        let store = PostgresStore::connect(&url).expect("connect");
        let size = move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("client");
            let bytes: i64 = client
                .query_one("SELECT pg_database_size(current_database())", &[])
                .expect("size")
                .get(0);
            bytes as u64
        };
        (Box::new(store), Box::new(size))
    } else {
        let path = std::path::PathBuf::from(db);
        if path.exists() {
            panic!("{} exists: give a new file", path.display());
        }
        let store = SqliteStore::open(&path).expect("open the database");
        let size = move || {
            ["", "-wal", "-shm"]
                .iter()
                .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
                .map(|m| m.len())
                .sum()
        };
        (Box::new(store), Box::new(size))
    };

    println!("## Ingest\n");
    println!("| calls so far | events so far | events/s in this slice | elapsed |");
    println!("|---|---|---|---|");
    let config = TrafficConfig::default();
    let mut traffic = Traffic::new(7, config.clone());
    let mut batch: Vec<ReportEvent> = Vec::with_capacity(BATCH + 16);
    let slice = (calls / 10).max(1);
    let started = Instant::now();
    let mut slice_started = Instant::now();
    let (mut events, mut slice_events) = (0u64, 0u64);
    let mut batches: Vec<Duration> = Vec::new();
    for i in 1..=calls {
        batch.extend(traffic.call().into_iter().map(ReportEvent::Call));
        if batch.len() >= BATCH || i == calls {
            let t = Instant::now();
            store
                .ingest(IngestBatch {
                    events: &batch,
                    checkpoint: None,
                })
                .expect("ingest");
            batches.push(t.elapsed());
            events += batch.len() as u64;
            slice_events += batch.len() as u64;
            batch.clear();
        }
        if i % slice == 0 || i == calls {
            let secs = slice_started.elapsed().as_secs_f64();
            println!(
                "| {i} | {events} | {:.0} | {:.0} s |",
                slice_events as f64 / secs,
                started.elapsed().as_secs_f64()
            );
            slice_started = Instant::now();
            slice_events = 0;
        }
    }
    let total = started.elapsed().as_secs_f64();
    batches.sort();
    let pct = |p: f64| batches[((batches.len() - 1) as f64 * p) as usize];
    let bytes = size();
    println!(
        "\n{calls} calls, {events} events in {total:.0} s: **{:.0} events/s** overall \
         (generation included); batch of {BATCH} events: median {:.1} ms, p99 {:.1} ms, \
         slowest {:.1} ms; database {:.0} MiB.\n",
        events as f64 / total,
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(pct(1.0)),
        bytes as f64 / 1_048_576.0
    );

    let span_ms = calls as i64 * config.spacing_ms;
    let range = |from: i64, to: i64| TimeRange::new(from, to).expect("range");
    let start = config.start_ms;
    let end = start + span_ms;
    let day = range(end - 86_400_000 - 1_800_000, end - 1_800_000);
    let all = ScenarioQuery::new(TimeRange::all());
    let filter: Filter = "no_conversation > 0 and avg_total < 200s"
        .parse()
        .expect("filter");
    let queries: Vec<(&str, ScenarioQuery)> = vec![
        ("all time, no second dimension", all.clone()),
        ("all time, by number", all.clone().by(Dimension::Number)),
        (
            "all time, by operation",
            all.clone().by(Dimension::Operation),
        ),
        (
            "all time, by department",
            all.clone().by(Dimension::Department),
        ),
        (
            "all time, by end reason",
            all.clone().by(Dimension::EndReason),
        ),
        (
            "all time, filtered (no_conversation > 0 and avg_total < 200s)",
            all.clone().filter(filter),
        ),
        (
            "mid-hour edges (start + 30 min to end - 30 min)",
            ScenarioQuery::new(range(start + 1_800_000, end - 1_800_000)),
        ),
        (
            "the last day, mid-hour edges, by number",
            ScenarioQuery::new(day).by(Dimension::Number),
        ),
    ];
    println!("## Queries ({RUNS} runs each)\n");
    println!("| query | rows | median | slowest |");
    println!("|---|---|---|---|");
    for (name, query) in &queries {
        let mut rows = 0;
        let times = timed(|| rows = store.scenario_report(query).expect("report").rows.len());
        println!(
            "| {name} | {rows} | {} | {} |",
            show(times.0),
            show(times.1)
        );
    }
    let kpi_queries = [
        (
            "KPIs of one department, the last day",
            KpiQuery::new(day, Some("dept-1".into())),
        ),
        (
            "KPIs of one department, all time",
            KpiQuery::new(TimeRange::all(), Some("dept-1".into())),
        ),
    ];
    for (name, query) in &kpi_queries {
        let times = timed(|| {
            store.kpis(query).expect("kpis");
        });
        println!("| {name} | 1 | {} | {} |", show(times.0), show(times.1));
    }
    drop(store);
    drop(server);
}

/// Median and slowest of [`RUNS`] runs.
fn timed(mut f: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[RUNS / 2], times[RUNS - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn show(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", ms(d))
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}
