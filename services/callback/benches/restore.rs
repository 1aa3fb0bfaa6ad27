//! 100,000 pending callbacks (issue 7's benchmark size), spread over 50 departments, half of
//! them virtual hold, all due:
//! - `restore/core`: a new leader's core built from the records (`handle_restore`);
//! - `restore/store_and_core`: the same from the coordinator's values (in-memory backend:
//!   list, JSON decode, restore), as after a leader change in `ccd all`;
//! - `dispatch/one`: capacity for one agent reported -> the `Dispatch` polled, with 100,000
//!   pending (the untimed rest answers it and asks for a new callback so the count stays).
//!
//! Besides criterion's estimates it prints p50/p99 of the dispatch iterations, the stored
//! JSON size and the resident memory of a core with 100,000 callbacks (RSS delta from
//! /proc/self/statm, so an estimate including allocator slack).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_callback::CallbackStore;
use cc_callback::core::{
    AlwaysOpen, CallbackCore, CoreConfig, LeaderToken, Output, PhoneNumber, Priority, Record,
    Request, Source, Target, Timestamp, Window,
};
use cc_cluster::{Coordinator, MemoryCoordinator};
use criterion::{Criterion, criterion_group, criterion_main};

const PENDING: usize = 100_000;
const DEPARTMENTS: usize = 50;
const T0: i64 = 1_700_000_000_000;

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(T0 + ms)
}

fn department(i: usize) -> Target {
    Target::department(format!("dept{}", i % DEPARTMENTS))
}

fn request(i: usize, now: Timestamp) -> Request {
    Request {
        id: format!("cb-{i:08}-5f1c9e2a-7d41-4b8e-9a33-0c2f6d8e1b47").into(),
        number: PhoneNumber::parse(&format!("+49301{i:08}")).unwrap(),
        name: "Ivan Ivanovich".into(),
        reason: "about the forum meeting".into(),
        target: department(i),
        source: if i.is_multiple_of(2) {
            Source::VirtualHold
        } else {
            Source::Api
        },
        window: Window::new(
            now,
            now.saturating_add(Duration::from_secs(86_400)),
            "Europe/Moscow",
        )
        .unwrap(),
        enqueued_at: i.is_multiple_of(2).then(|| at_ms(-(i as i64) * 10)),
        priority: Priority(0),
        max_attempts: None,
    }
}

fn config() -> CoreConfig {
    CoreConfig {
        max_pending: PENDING + 1,
        ..CoreConfig::default()
    }
}

/// The records a leader has stored for `PENDING` pending callbacks.
fn records() -> Vec<Record> {
    let now = at_ms(0);
    let mut core = CallbackCore::new(config(), LeaderToken(1), AlwaysOpen);
    let mut records = Vec::with_capacity(PENDING);
    for i in 0..PENDING {
        core.handle_request(now, request(i, now)).unwrap();
        while let Some(o) = core.poll_output() {
            if let Output::Changed(r) = o {
                records.push(*r);
            }
        }
    }
    records
}

fn restored(records: Vec<Record>) -> CallbackCore {
    let mut core = CallbackCore::new(config(), LeaderToken(2), AlwaysOpen);
    let restored = core.handle_restore(at_ms(1_000), records).unwrap();
    assert_eq!(restored.active, PENDING);
    core
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn restore(c: &mut Criterion) {
    let records = records();
    let json: usize = records
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap().len())
        .sum();
    println!(
        "stored JSON: {:.0} bytes per record ({:.1} MB for {PENDING})",
        json as f64 / PENDING as f64,
        json as f64 / 1e6
    );

    let before = resident_bytes();
    let core = restored(records.clone());
    if let (Some(before), Some(after)) = (before, resident_bytes()) {
        println!(
            "core with {PENDING} callbacks: ~{:.0} bytes per record resident (RSS +{:.1} MB)",
            after.saturating_sub(before) as f64 / PENDING as f64,
            after.saturating_sub(before) as f64 / 1e6
        );
    }
    drop(core);

    let mut group = c.benchmark_group("restore");
    group.sample_size(10);
    group.bench_function("core", |b| {
        b.iter_batched(
            || records.clone(),
            restored,
            criterion::BatchSize::PerIteration,
        );
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    runtime.block_on(async {
        let mut store = CallbackStore::new(coordinator.clone(), LeaderToken(1));
        for r in &records {
            store.write(r).await.unwrap();
        }
    });
    group.bench_function("store_and_core", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut store = CallbackStore::new(coordinator.clone(), LeaderToken(2));
                let loaded = store.load_all().await.unwrap();
                restored(loaded.records)
            })
        });
    });
    group.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

fn dispatch(c: &mut Criterion) {
    let mut core = restored(records());
    let mut now = at_ms(1_000);
    let mut next = PENDING;
    let mut turn = 0usize;
    let mut samples = Vec::new();
    let mut group = c.benchmark_group("dispatch");
    group.bench_function("one", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let target = department(turn);
                turn += 1;
                let start = Instant::now();
                core.handle_capacity(now, &target, 1).unwrap();
                let output = core.poll_output();
                let spent = start.elapsed();
                total += spent;
                samples.push(spent);
                // Untimed: the customer is reached; a new callback keeps the count.
                let Some(Output::Dispatch(d)) = output else {
                    panic!("expected a dispatch, got {output:?}");
                };
                core.handle_result(
                    now,
                    &d.id,
                    d.attempt,
                    d.token,
                    cc_callback::core::Outcome::Reached,
                )
                .unwrap();
                core.handle_request(now, request(next, now)).unwrap();
                next += 1;
                while core.poll_output().is_some() {}
                now = now.saturating_add(Duration::from_millis(1));
            }
            total
        });
    });
    group.finish();
    samples.sort();
    println!(
        "dispatch with {PENDING} pending: {} iterations, p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );
}

criterion_group!(benches, restore, dispatch);
criterion_main!(benches);
