//! Events/s into SQLite: batches of 1,000 synthetic events (64 calls in progress
//! interleaved, ~10 events a call) into a file database in WAL mode that grows as the bench
//! runs. Each batch is one transaction: insert the events, fold again every call that got
//! one, rewrite its record and report rows.

use cc_reporting::store::{IngestBatch, ReportStore, SqliteStore};
use cc_reporting::synth::{Traffic, TrafficConfig};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 1_000;

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open_in_dir(dir.path()).expect("open");
    let mut traffic = Traffic::new(1, TrafficConfig::default());
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("batch_1000", |b| {
        b.iter_batched(
            || traffic.batch(BATCH),
            |events| {
                store
                    .ingest(IngestBatch {
                        events: &events,
                        checkpoint: None,
                    })
                    .expect("ingest")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    eprintln!("ingest: {} calls generated", traffic.calls());
}

criterion_group!(benches, ingest);
criterion_main!(benches);
