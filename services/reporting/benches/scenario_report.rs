//! The scenario report over N calls in SQLite (N from CC_REPORTING_BENCH_CALLS, default
//! 100,000; one call starts every 250 ms, so 100,000 calls span about 7 hours): over all
//! time (whole hours: the rollup alone) without a second dimension, by number, by
//! operation, with a filter; over a range that starts and ends mid-hour (the rollup plus
//! two partial hours of raw passes); and the KPIs of one department. The database is
//! filled once, untimed.

use std::time::Instant;

use cc_reporting::core::{Dimension, Filter, KpiQuery, ReportEvent, ScenarioQuery, TimeRange};
use cc_reporting::store::{IngestBatch, ReportStore, SqliteStore};
use cc_reporting::synth::{Traffic, TrafficConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn calls() -> u64 {
    match std::env::var("CC_REPORTING_BENCH_CALLS") {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("CC_REPORTING_BENCH_CALLS={n:?} is not a number")),
        Err(_) => 100_000,
    }
}

fn fill(store: &mut SqliteStore, n: u64) {
    let started = Instant::now();
    let mut traffic = Traffic::new(2, TrafficConfig::default());
    let mut batch: Vec<ReportEvent> = Vec::with_capacity(1_100);
    let mut events = 0usize;
    for _ in 0..n {
        batch.extend(traffic.call().into_iter().map(ReportEvent::Call));
        if batch.len() >= 1_000 {
            events += batch.len();
            store
                .ingest(IngestBatch {
                    events: &batch,
                    checkpoint: None,
                })
                .expect("ingest");
            batch.clear();
        }
    }
    events += batch.len();
    store
        .ingest(IngestBatch {
            events: &batch,
            checkpoint: None,
        })
        .expect("ingest");
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "filled {n} calls ({events} events) in {secs:.1} s: {:.0} events/s",
        events as f64 / secs
    );
}

fn report(c: &mut Criterion) {
    let n = calls();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open_in_dir(dir.path()).expect("open");
    fill(&mut store, n);
    let bytes: u64 = std::fs::read_dir(dir.path())
        .expect("data dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    eprintln!("database: {:.0} MiB", bytes as f64 / 1_048_576.0);
    let all = ScenarioQuery::new(TimeRange::all());
    let config = TrafficConfig::default();
    let span_ms = n as i64 * config.spacing_ms;
    let mid_hours = TimeRange::new(
        config.start_ms + 1_800_000,
        config.start_ms + span_ms - 1_800_000,
    )
    .expect("range");
    let filter: Filter = "no_conversation > 0 and avg_total < 200s"
        .parse()
        .expect("filter");
    let queries = [
        ("plain", all.clone()),
        ("by_number", all.clone().by(Dimension::Number)),
        ("by_operation", all.clone().by(Dimension::Operation)),
        ("filtered", all.clone().filter(filter)),
        ("plain_mid_hour_edges", ScenarioQuery::new(mid_hours)),
    ];
    let mut group = c.benchmark_group(format!("scenario_report_{n}_calls"));
    group.sample_size(10);
    for (name, query) in &queries {
        let rows = store.scenario_report(query).expect("report").rows.len();
        eprintln!("{name}: {rows} rows");
        group.bench_function(*name, |b| {
            b.iter(|| store.scenario_report(query).expect("report"))
        });
    }
    let kpis = KpiQuery::new(TimeRange::all(), Some("dept-1".into()));
    group.bench_function("kpis_one_department", |b| {
        b.iter(|| store.kpis(&kpis).expect("kpis"))
    });
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
