//! "Agent freed -> offer produced" with 10,000 calls waiting and 5,000 agents all busy: an
//! agent's call ends and the core must offer it the head call. Each timed iteration is
//! `handle_call_ended` plus draining the outputs up to the offer; answering that offer and
//! enqueueing a replacement call (to keep the queue at 10,000) are untimed. Besides
//! criterion's estimate, the bench prints p50/p99 of the individual iterations.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use cc_queue::core::{
    CallId, CoreConfig, DepartmentConfig, Enqueue, Output, Priority, QueueCore, Strategy,
};
use criterion::{Criterion, criterion_group, criterion_main};

const AGENTS: usize = 5_000;
const WAITING: usize = 10_000;

struct Scenario {
    core: QueueCore,
    now: Instant,
    talking: VecDeque<CallId>,
    next_call: usize,
}

impl Scenario {
    fn new(strategy: Strategy) -> Self {
        let department = (0..AGENTS).fold(DepartmentConfig::new("d", strategy), |d, i| {
            d.member(format!("agent{i}"))
        });
        let mut s = Self {
            core: QueueCore::new(CoreConfig::default(), vec![department]).unwrap(),
            now: Instant::now(),
            talking: VecDeque::new(),
            next_call: 0,
        };
        for _ in 0..AGENTS + WAITING {
            s.enqueue();
        }
        // Agents log in one by one; each takes the head call at once.
        for i in 0..AGENTS {
            s.core
                .handle_agent_available(s.now, &format!("agent{i}").into());
            s.answer_offers();
        }
        assert_eq!(s.talking.len(), AGENTS);
        assert_eq!(s.core.waiting(&"d".into()).unwrap(), WAITING);
        s
    }

    fn enqueue(&mut self) {
        let call = CallId::new(format!("c{}", self.next_call));
        self.next_call += 1;
        let request = Enqueue {
            call,
            department: "d".into(),
            priority: Priority((self.next_call % 3) as u8),
            enqueued_at: None,
            edge: None,
            caller: None,
        };
        self.core.handle_enqueue(self.now, request).unwrap();
    }

    fn answer_offers(&mut self) {
        while let Some(output) = self.core.poll_output() {
            if let Output::Offer { call, plan } = output {
                self.core
                    .handle_answer(self.now, &call, &plan.targets[0].agent)
                    .unwrap();
                self.talking.push_back(call);
            }
        }
    }

    /// The timed part: a call ends, its agent is free, the core offers the next call.
    fn free_one(&mut self) -> Option<Output> {
        let call = self.talking.pop_front()?;
        self.core.handle_call_ended(self.now, &call).unwrap();
        let offer = self.core.poll_output();
        assert!(matches!(offer, Some(Output::Offer { .. })));
        offer
    }

    /// The untimed rest: answer the offer, keep 10,000 waiting.
    fn restore(&mut self, offer: Option<Output>) {
        if let Some(Output::Offer { call, plan }) = offer {
            self.core
                .handle_answer(self.now, &call, &plan.targets[0].agent)
                .unwrap();
            self.talking.push_back(call);
        }
        self.answer_offers();
        self.enqueue();
        while self.core.poll_output().is_some() {}
        self.now += Duration::from_millis(10);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

fn offer(c: &mut Criterion) {
    let mut group = c.benchmark_group("agent_freed_to_offer");
    for (name, strategy) in [
        ("ring_all", Strategy::RingAll),
        ("longest_idle", Strategy::LongestIdle),
        ("round_robin", Strategy::RoundRobin),
        ("random", Strategy::Random),
    ] {
        let mut scenario = Scenario::new(strategy);
        let mut samples = Vec::new();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let offer = scenario.free_one();
                    let spent = start.elapsed();
                    total += spent;
                    samples.push(spent);
                    scenario.restore(offer);
                }
                total
            });
        });
        samples.sort();
        println!(
            "{name}: {} iterations, p50 {:?}, p99 {:?}, max {:?}",
            samples.len(),
            percentile(&samples, 0.50),
            percentile(&samples, 0.99),
            samples.last().copied().unwrap_or_default()
        );
    }
    group.finish();
}

criterion_group!(benches, offer);
criterion_main!(benches);
