//! The queue core as an M/M/c system: Poisson arrivals, exponential handle times, agents who
//! answer at once and have no wrap-up. Driven on a virtual clock with a seeded generator, it
//! must reproduce Erlang C's probability of waiting, average speed of answer and service
//! level.

#![allow(clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use cc_queue::core::{
    CallId, CoreConfig, DepartmentConfig, Enqueue, Output, Priority, QueueCore, Strategy,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CALLS_PER_HOUR: f64 = 1000.0;
const AHT_SECS: f64 = 120.0;
const AGENTS: u32 = 40;
const SL_SECS: f64 = 20.0;
const WARM_UP_CALLS: usize = 2_000;
const MEASURED_CALLS: usize = 150_000;

/// Erlang C for `c` agents and `a` Erlangs of traffic: (P(wait), ASA s, service level).
fn erlang_c(c: u32, a: f64, aht: f64, sl_secs: f64) -> (f64, f64, f64) {
    // Erlang B by the stable recurrence, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let c_f = f64::from(c);
    let p_wait = c_f * b / (c_f - a * (1.0 - b));
    let asa = p_wait * aht / (c_f - a);
    let sl = 1.0 - p_wait * (-(c_f - a) * sl_secs / aht).exp();
    (p_wait, asa, sl)
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival(usize),
    End(usize),
}

/// Exponentially distributed seconds with the given mean.
fn exp_secs(rng: &mut SmallRng, mean: f64) -> Duration {
    let u: f64 = 1.0 - rng.random::<f64>();
    Duration::from_secs_f64(-u.ln() * mean)
}

#[test]
fn queue_matches_erlang_c() {
    let a = CALLS_PER_HOUR / 3600.0 * AHT_SECS;
    let (p_wait, asa, sl) = erlang_c(AGENTS, a, AHT_SECS, SL_SECS);
    println!(
        "Erlang C  c={AGENTS} A={a:.2} E: P(wait) {:.2}%  ASA {asa:.2} s  SL {:.2}%",
        p_wait * 100.0,
        sl * 100.0
    );
    assert!((p_wait - 0.1907).abs() < 0.0005, "formula: {p_wait}");
    assert!((asa - 3.43).abs() < 0.01, "formula: {asa}");
    assert!((sl - 0.9372).abs() < 0.0005, "formula: {sl}");

    let department = (0..AGENTS).fold(
        DepartmentConfig::new("sales", Strategy::RingAll).ring_seconds(30),
        |d, i| d.member(format!("agent{i}")),
    );
    let mut core = QueueCore::new(CoreConfig::default(), vec![department]).unwrap();
    let t0 = Instant::now();
    for i in 0..AGENTS {
        core.handle_agent_available(t0, &format!("agent{i}").into());
    }

    let mut rng = SmallRng::seed_from_u64(0x00c0_ffee);
    let total = WARM_UP_CALLS + MEASURED_CALLS;
    let mut events = BinaryHeap::new();
    events.push(Reverse((t0, Event::Arrival(0))));
    let mut arrived_at = vec![t0; total];
    let mut waits: Vec<f64> = Vec::with_capacity(total);
    let mut ids: HashMap<CallId, usize> = HashMap::new();
    let mean_gap = 3600.0 / CALLS_PER_HOUR;

    while let Some(Reverse((now, event))) = events.pop() {
        // The core's own deadlines (ring-outs) come first if earlier; with agents who
        // answer at once there are none due, but polling keeps its timer heap clean.
        if let Some(deadline) = core.poll_timeout()
            && deadline <= now
        {
            core.handle_timeout(deadline);
        }
        match event {
            Event::Arrival(i) => {
                arrived_at[i] = now;
                let call = CallId::new(format!("c{i}"));
                ids.insert(call.clone(), i);
                core.handle_enqueue(
                    now,
                    Enqueue {
                        call,
                        department: "sales".into(),
                        priority: Priority(0),
                        enqueued_at: None,
                        edge: None,
                        caller: None,
                    },
                )
                .unwrap();
                if i + 1 < total {
                    events.push(Reverse((
                        now + exp_secs(&mut rng, mean_gap),
                        Event::Arrival(i + 1),
                    )));
                }
            }
            Event::End(i) => {
                core.handle_call_ended(now, &CallId::new(format!("c{i}")))
                    .unwrap();
            }
        }
        // Every offer is answered at once by its first target.
        while let Some(output) = core.poll_output() {
            if let Output::Offer { call, plan } = output {
                let i = ids.remove(&call).unwrap();
                core.handle_answer(now, &call, &plan.targets[0].agent)
                    .unwrap();
                waits.push((now - arrived_at[i]).as_secs_f64());
                events.push(Reverse((now + exp_secs(&mut rng, AHT_SECS), Event::End(i))));
            }
        }
    }

    // Calls are answered in arrival order (one priority, FIFO), so `waits` is in arrival
    // order too and the warm-up is its head.
    assert_eq!(waits.len(), total);
    let measured = &waits[WARM_UP_CALLS..];
    let n = measured.len() as f64;
    let sim_p_wait = measured.iter().filter(|w| **w > 0.0).count() as f64 / n;
    let sim_asa = measured.iter().sum::<f64>() / n;
    let sim_sl = measured.iter().filter(|w| **w <= SL_SECS).count() as f64 / n;
    println!(
        "simulated {MEASURED_CALLS} calls: P(wait) {:.2}%  ASA {sim_asa:.2} s  SL {:.2}%",
        sim_p_wait * 100.0,
        sim_sl * 100.0
    );
    assert!(
        (sim_p_wait - p_wait).abs() < 0.01,
        "P(wait) {sim_p_wait} vs {p_wait}"
    );
    assert!((sim_sl - sl).abs() < 0.01, "SL {sim_sl} vs {sl}");
    assert!((sim_asa - asa).abs() < 0.1 * asa, "ASA {sim_asa} vs {asa}");
}
