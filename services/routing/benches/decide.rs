//! Routing decisions per second: the target is at least 200,000 per core.
//!
//! Run: `cargo bench -p cc-routing --bench decide`.

use std::hint::black_box;

use cc_common::Config;
use cc_common::config::DEMO_TOML;
use cc_routing::core::{Call, Facts, RoutingTable};
use criterion::{Criterion, criterion_group, criterion_main};

fn benches(c: &mut Criterion) {
    // The demo organisation, its sales number greeting by time of day (the costlier path:
    // a time-zone conversion per decision).
    let text = DEMO_TOML.replace(
        "greeting = \"welcome\"",
        "greetings = [{ from = \"06:00\", greeting = \"good-morning\" }, \
         { from = \"12:00\", greeting = \"good-afternoon\" }, \
         { from = \"18:00\", greeting = \"good-evening\" }]",
    );
    let config = Config::from_toml(&text).expect("demo configuration");
    let table = RoutingTable::new(&config);
    let external = Call {
        dialed: "48221234567",
        caller_extension: None,
    };
    let internal = Call {
        dialed: "600",
        caller_extension: Some("202"),
    };
    let now = 1_768_435_200;
    c.bench_function("decide_external_greeting_by_time_of_day", |b| {
        b.iter(|| table.decide(black_box(&external), black_box(&Facts::default()), now))
    });
    c.bench_function("decide_internal_queue", |b| {
        b.iter(|| table.decide(black_box(&internal), black_box(&Facts::default()), now))
    });
}

criterion_group!(group, benches);
criterion_main!(group);
