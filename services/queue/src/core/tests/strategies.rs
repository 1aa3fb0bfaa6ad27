//! Each strategy offers in its own order and timing.

use super::*;

#[test]
fn ring_all_rings_every_available_member_at_once() {
    let mut h = Harness::new(vec![dept(Strategy::RingAll, &["a", "b", "c", "off"])]);
    h.available(&["a", "b", "c"]);
    h.enqueue("c1", "d", 0);
    let offers = h.offers();
    assert_eq!(offers.len(), 1);
    assert_eq!(
        targets(&offers[0].1),
        s(&[("a", 0, 10), ("b", 0, 10), ("c", 0, 10)])
    );
    h.now = h.at(4);
    h.answer("c1", "c");
    let cancelled: Vec<Output> = h.drain();
    assert!(cancelled.contains(&Output::CancelOffer {
        call: "c1".into(),
        agent: "a".into()
    }));
    assert!(cancelled.contains(&Output::CancelOffer {
        call: "c1".into(),
        agent: "b".into()
    }));
    assert!(h.facts("a").available && h.facts("b").available && !h.facts("c").available);
}

#[test]
fn sequential_rings_a_then_b_after_the_ring_time() {
    let mut h = Harness::new(vec![
        dept(Strategy::Sequential, &["a", "b"]).member_ringing("c", 5),
    ]);
    h.available(&["a", "b", "c"]);
    h.enqueue("c1", "d", 0);
    let offers = h.offers();
    assert_eq!(
        targets(&offers[0].1),
        s(&[("a", 0, 10), ("b", 10, 20), ("c", 20, 25)])
    );
    assert_eq!(h.core.poll_timeout(), Some(h.at(10)));
    h.advance_to(10);
    assert_eq!(h.facts("a").consecutive_no_answers, 1);
    assert!(h.facts("a").available, "a rang out and is free again");
    assert!(!h.facts("b").available, "b is ringing");
    h.advance_to(12);
    h.answer("c1", "b");
    assert_eq!(
        h.drain()
            .into_iter()
            .filter(|o| matches!(o, Output::CancelOffer { .. }))
            .collect::<Vec<_>>(),
        vec![
            Output::CancelOffer {
                call: "c1".into(),
                agent: "a".into()
            },
            Output::CancelOffer {
                call: "c1".into(),
                agent: "c".into()
            }
        ],
        "a rang out (cancelled at 10 s), c is cancelled by b's answer"
    );
}

#[test]
fn progressive_keeps_earlier_members_ringing() {
    let mut h = Harness::new(vec![dept(Strategy::Progressive, &["a", "b", "c"])]);
    h.available(&["a", "b", "c"]);
    h.enqueue("c1", "d", 0);
    let offers = h.offers();
    assert_eq!(
        targets(&offers[0].1),
        s(&[("a", 0, 30), ("b", 10, 30), ("c", 20, 30)])
    );
    h.advance_to(15);
    assert_eq!(
        h.facts("a").consecutive_no_answers,
        0,
        "a still rings with b"
    );
    h.answer("c1", "a");
    assert_eq!(h.facts("a").calls_handled, 1);
}

#[test]
fn round_robin_resumes_after_the_last_offered() {
    let mut h = Harness::new(vec![dept(Strategy::RoundRobin, &["a", "b", "c"])]);
    h.available(&["a", "b", "c"]);
    let mut firsts = Vec::new();
    for i in 0..5 {
        let call = format!("c{i}");
        h.enqueue(&call, "d", 0);
        let offers = h.offers();
        let plan = &offers[0].1;
        firsts.push(order(plan)[0].clone());
        assert_eq!(order(plan).len(), 3);
        let first = order(plan)[0].clone();
        h.handle(&call, &first, 1);
    }
    assert_eq!(firsts, ["a", "b", "c", "a", "b"]);

    // The memory follows whoever answered: c answering makes a next.
    h.enqueue("x", "d", 0);
    let plan = h.offers().remove(0).1;
    assert_eq!(order(&plan), ["c", "a", "b"]);
    h.handle("x", "b", 1);
    h.enqueue("y", "d", 0);
    assert_eq!(order(&h.offers().remove(0).1), ["c", "a", "b"]);
}

#[test]
fn longest_idle_picks_the_agent_idle_longest() {
    let mut h = Harness::new(vec![dept(Strategy::LongestIdle, &["a", "b", "c"])]);
    h.available(&["b"]);
    h.now = h.at(5);
    h.available(&["c"]);
    h.now = h.at(9);
    h.available(&["a"]);
    h.enqueue("c1", "d", 0);
    let plan = h.offers().remove(0).1;
    assert_eq!(order(&plan), ["b", "c", "a"]);
    assert_eq!(targets(&plan)[1], ("c".to_owned(), 10, 20));
    // b handles the call and becomes the most recently idle.
    h.handle("c1", "b", 30);
    h.enqueue("c2", "d", 0);
    assert_eq!(order(&h.offers().remove(0).1), ["c", "a", "b"]);
}

#[test]
fn fewest_calls_picks_the_agent_with_fewest_calls() {
    let mut h = Harness::new(vec![dept(Strategy::FewestCalls, &["a", "b", "c"])]);
    h.available(&["a"]);
    for call in ["x1", "x2"] {
        h.enqueue(call, "d", 0);
        assert_eq!(order(&h.offers().remove(0).1), ["a"]);
        h.handle(call, "a", 1);
    }
    h.available(&["b"]);
    h.enqueue("x3", "d", 0);
    assert_eq!(order(&h.offers().remove(0).1), ["b", "a"]);
    h.handle("x3", "b", 1);
    h.available(&["c"]);
    assert_eq!(h.facts("a").calls_handled, 2);
    h.enqueue("x4", "d", 0);
    assert_eq!(order(&h.offers().remove(0).1), ["c", "b", "a"]);
}

#[test]
fn least_talk_time_picks_the_agent_who_talked_least() {
    let mut h = Harness::new(vec![dept(Strategy::LeastTalkTime, &["a", "b", "c"])]);
    h.available(&["a", "b", "c"]);
    for (call, agent, talk) in [("x1", "a", 100), ("x2", "b", 10), ("x3", "c", 50)] {
        h.enqueue(call, "d", 0);
        h.offers();
        h.handle(call, agent, talk);
    }
    assert_eq!(h.facts("a").talk_time, Duration::from_secs(100));
    h.enqueue("x4", "d", 0);
    assert_eq!(order(&h.offers().remove(0).1), ["b", "c", "a"]);
}

#[test]
fn random_covers_every_member_and_is_reproducible() {
    let members = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let run = |seed: u64| {
        let mut h = Harness::with_config(
            CoreConfig {
                rng_seed: seed,
                ..CoreConfig::default()
            },
            vec![dept(Strategy::Random, &members).max_plan_targets(1)],
        );
        h.available(&members);
        let mut picks = Vec::new();
        for i in 0..800 {
            let call = format!("c{i}");
            h.enqueue(&call, "d", 0);
            let plan = h.offers().remove(0).1;
            let agent = order(&plan)[0].clone();
            h.handle(&call, &agent, 1);
            picks.push(agent);
        }
        picks
    };
    let picks = run(7);
    for m in members {
        let n = picks.iter().filter(|p| *p == m).count();
        assert!((60..=140).contains(&n), "{m} picked {n} times of 800");
    }
    assert_eq!(picks, run(7), "same seed, same draws");
    assert_ne!(picks, run(8));
}

#[test]
fn random_full_plan_is_a_permutation() {
    let members = ["a", "b", "c", "d"];
    let mut h = Harness::new(vec![dept(Strategy::Random, &members)]);
    h.available(&members);
    h.enqueue("c1", "d", 0);
    let mut got = order(&h.offers().remove(0).1);
    got.sort();
    assert_eq!(got, members);
}
