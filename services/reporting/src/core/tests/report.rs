use std::time::Duration;

use super::*;

/// A small day: every R-60 measure has calls that count and calls that do not.
fn day() -> Vec<CallRecord> {
    records(vec![
        // sales: completed after a conversation.
        call("c1")
            .inbound(0)
            .scenario(0, "sales")
            .op(1, "menu")
            .queued(2, "support")
            .answered(10, "anna")
            .ended(70, EndReason::CallerHungUp),
        // sales: no conversation (abandoned in the queue).
        call("c2")
            .inbound(100)
            .scenario(100, "sales")
            .op(101, "menu")
            .queued(102, "support")
            .ended(106, EndReason::AbandonedInQueue),
        // sales, then support by option, with a transfer: counts under both.
        call("c3")
            .started(200, "+4930200", CallType::Inbound)
            .scenario(200, "sales")
            .op(201, "menu")
            .answered(210, "anna")
            .by_option(220, "support")
            .op(221, "queue")
            .transferred(230, "ben")
            .answered(235, "ben")
            .ended(260, EndReason::AgentHungUp),
        // support re-pass, callback type, ended by failure after talk.
        call("c4")
            .started(300, "+4930200", CallType::Callback)
            .scenario(300, "support")
            .scenario(305, "support")
            .answered(306, "ben")
            .ended(316, EndReason::Failure),
        // sales, still going on.
        call("c5")
            .inbound(400)
            .scenario(400, "sales")
            .answered(405, "anna"),
        // no scenario at all.
        call("c6").inbound(500).ended(503, EndReason::CallerHungUp),
    ])
}

fn all() -> ScenarioQuery {
    ScenarioQuery::new(TimeRange::all())
}

#[test]
fn every_r60_measure_per_scenario() {
    let report = scenario_report(&day(), &all());
    let sales = report.row(Some("sales"), None).copied();
    assert_eq!(
        sales,
        Some(Measures {
            total: 4,
            by_option: 0,
            with_transfer: 1,
            no_conversation: 1,
            completed: 2,
            re_pass: 0,
            ended: 3,
            total_ms: 70_000 + 6_000 + 60_000,
            // c1, then c3 (c2 had none).
            talk_ms: 60_000 + (20_000 + 25_000),
        })
    );
    let support = report.row(Some("support"), None).copied();
    assert_eq!(
        support,
        Some(Measures {
            total: 2,
            by_option: 1,
            with_transfer: 1,
            no_conversation: 0,
            completed: 1,
            re_pass: 1,
            ended: 2,
            total_ms: 60_000 + 16_000,
            talk_ms: 45_000 + 10_000,
        })
    );
    let none = report.row(None, None).copied();
    assert_eq!(none.map(|m| (m.total, m.no_conversation)), Some((1, 1)));
    assert_eq!(report.rows.len(), 3);
    assert_eq!(
        report.rows[0].key.scenario, None,
        "the no-scenario row sorts first"
    );
}

#[test]
fn averages_are_over_ended_calls() {
    let report = scenario_report(&day(), &all());
    let Some(sales) = report.row(Some("sales"), None) else {
        panic!("no sales row");
    };
    assert_eq!(sales.avg_total_ms(), Some(136_000.0 / 3.0));
    assert_eq!(sales.avg_talk_ms(), Some(105_000.0 / 3.0));
    assert_eq!(Measures::default().avg_total(), None);
    assert_eq!(
        Measures {
            ended: 2,
            total_ms: 3_000,
            ..Measures::default()
        }
        .avg_total(),
        Some(Duration::from_millis(1_500))
    );
}

#[test]
fn by_number() {
    let report = scenario_report(&day(), &all().by(Dimension::Number));
    let n100 = DimensionValue::Number("+4930100".into());
    let n200 = DimensionValue::Number("+4930200".into());
    assert_eq!(
        report.row(Some("sales"), Some(&n100)).map(|m| m.total),
        Some(3)
    );
    assert_eq!(
        report.row(Some("sales"), Some(&n200)).map(|m| m.total),
        Some(1)
    );
    assert_eq!(
        report.row(Some("support"), Some(&n200)).map(|m| m.total),
        Some(2)
    );
    assert_eq!(report.row(None, Some(&n100)).map(|m| m.total), Some(1));
}

#[test]
fn by_call_type() {
    let report = scenario_report(&day(), &all().by(Dimension::CallType));
    let inbound = DimensionValue::CallType(CallType::Inbound);
    let callback = DimensionValue::CallType(CallType::Callback);
    assert_eq!(
        report.row(Some("sales"), Some(&inbound)).map(|m| m.total),
        Some(4)
    );
    assert_eq!(
        report.row(Some("support"), Some(&inbound)).map(|m| m.total),
        Some(1)
    );
    assert_eq!(
        report
            .row(Some("support"), Some(&callback))
            .map(|m| m.re_pass),
        Some(1)
    );
}

#[test]
fn by_end_reason_with_calls_in_progress_under_no_value() {
    let report = scenario_report(&day(), &all().by(Dimension::EndReason));
    let reason = |r| Some(DimensionValue::EndReason(r));
    let sales = |r: Option<DimensionValue>| report.row(Some("sales"), r.as_ref()).map(|m| m.total);
    assert_eq!(sales(reason(EndReason::CallerHungUp)), Some(1));
    assert_eq!(sales(reason(EndReason::AbandonedInQueue)), Some(1));
    assert_eq!(sales(reason(EndReason::AgentHungUp)), Some(1));
    assert_eq!(sales(None), Some(1), "c5 goes on");
    assert_eq!(
        report
            .row(Some("support"), reason(EndReason::Failure).as_ref())
            .map(|m| (m.total, m.completed, m.no_conversation)),
        Some((1, 0, 0))
    );
}

#[test]
fn by_department() {
    let report = scenario_report(&day(), &all().by(Dimension::Department));
    let support = DimensionValue::Department("support".into());
    assert_eq!(
        report.row(Some("sales"), Some(&support)).map(|m| m.total),
        Some(2)
    );
    assert_eq!(report.row(Some("sales"), None).map(|m| m.total), Some(2));
    assert_eq!(report.row(Some("support"), None).map(|m| m.total), Some(2));
}

#[test]
fn by_operation_a_call_counts_under_every_operation_it_walked_in_that_scenario() {
    let report = scenario_report(&day(), &all().by(Dimension::Operation));
    let op = |o: &str| DimensionValue::Operation(o.into());
    assert_eq!(
        report
            .row(Some("sales"), Some(&op("menu")))
            .map(|m| m.total),
        Some(3)
    );
    assert_eq!(
        report.row(Some("sales"), None).map(|m| m.total),
        Some(1),
        "c5"
    );
    assert_eq!(report.row(Some("sales"), Some(&op("queue"))), None);
    assert_eq!(
        report
            .row(Some("support"), Some(&op("queue")))
            .map(|m| (m.total, m.by_option)),
        Some((1, 1))
    );
    assert_eq!(
        report.row(Some("support"), None).map(|m| m.total),
        Some(1),
        "c4"
    );
}

#[test]
fn a_call_belongs_to_the_range_its_start_falls_in() {
    let calls = records(vec![
        // Starts before the range, ends inside: not in it.
        call("before")
            .inbound(-10)
            .scenario(-10, "s")
            .answered(-5, "anna")
            .ended(20, EndReason::CallerHungUp),
        // Starts at the range's start: in it.
        call("at-from")
            .inbound(0)
            .scenario(0, "s")
            .ended(5, EndReason::CallerHungUp),
        // Starts inside, ends after the range: in it, with its whole duration.
        call("spans-to")
            .inbound(50)
            .scenario(50, "s")
            .answered(55, "anna")
            .ended(200, EndReason::AgentHungUp),
        // Starts at the range's end: in the next one.
        call("at-to")
            .inbound(100)
            .scenario(100, "s")
            .ended(101, EndReason::CallerHungUp),
    ]);
    let range = |a, b| ScenarioQuery::new(TimeRange::new(ms(a), ms(b)).expect("range"));
    let first = scenario_report(&calls, &range(0, 100));
    let Some(s) = first.row(Some("s"), None) else {
        panic!("no row in the range");
    };
    assert_eq!((s.total, s.ended), (2, 2));
    assert_eq!(s.total_ms, 5_000 + 150_000);
    assert_eq!(s.talk_ms, 145_000);
    // Adjacent ranges count every call exactly once.
    let mut sum = Measures::default();
    for q in [range(-100, 0), range(0, 100), range(100, 300)] {
        for row in scenario_report(&calls, &q).rows {
            sum.merge(&row.measures);
        }
    }
    assert_eq!(sum, scenario_report(&calls, &all()).rows[0].measures);
    assert!(scenario_report(&calls, &range(300, 400)).rows.is_empty());
}

#[test]
fn calls_whose_start_is_unknown_are_in_no_report() {
    let events = call("c")
        .inbound(0)
        .scenario(0, "s")
        .ended(10, EndReason::CallerHungUp)
        .events();
    let record = CallRecord::fold(&"c".into(), &events[1..]);
    assert!(scenario_report([&record], &all()).rows.is_empty());
}

#[test]
fn filters_keep_the_rows_whose_measures_match() {
    // "scenarios with calls without conversation and an average total under 10 s"
    let calls = records(vec![
        call("short")
            .inbound(0)
            .scenario(0, "quick")
            .ended(4, EndReason::CallerHungUp),
        call("long")
            .inbound(0)
            .scenario(0, "slow")
            .ended(40, EndReason::CallerHungUp),
        call("talk")
            .inbound(0)
            .scenario(0, "good")
            .answered(1, "anna")
            .ended(5, EndReason::CallerHungUp),
    ]);
    let filter: Filter = "no_conversation > 0 and avg_total < 10s"
        .parse()
        .expect("filter");
    let report = scenario_report(&calls, &all().filter(filter));
    let kept: Vec<_> = report
        .rows
        .iter()
        .map(|r| r.key.scenario.as_ref().map(ScenarioId::as_str))
        .collect();
    assert_eq!(kept, vec![Some("quick")]);
}

#[test]
fn an_inverted_range_is_refused() {
    assert_eq!(
        TimeRange::new(10, 5),
        Err(InvertedRange { from: 10, to: 5 })
    );
    assert!(TimeRange::new(5, 5).is_ok_and(|r| !r.contains(5)));
}
