//! Properties of the pure core over random traffic: the fold does not care about order or
//! duplicates, adjacent ranges partition the calls, rows add up, filters print and parse
//! back.

mod common;

use cc_reporting::core::{
    CallRecord, Cmp, CountMeasure, Dimension, DurationMeasure, Filter, Measures, ScenarioQuery,
    TimeRange, scenario_report,
};
use proptest::prelude::*;

fn sum(query: &ScenarioQuery, records: &[CallRecord]) -> Measures {
    let mut m = Measures::default();
    for row in scenario_report(records, query).rows {
        m.merge(&row.measures);
    }
    m
}

fn filter() -> impl Strategy<Value = Filter> {
    let cmp = prop::sample::select(vec![Cmp::Lt, Cmp::Le, Cmp::Eq, Cmp::Ne, Cmp::Ge, Cmp::Gt]);
    let leaf = prop_oneof![
        (
            prop::sample::select(CountMeasure::ALL.to_vec()),
            cmp.clone(),
            0u64..1000
        )
            .prop_map(|(m, c, v)| Filter::count(m, c, v)),
        (
            prop::sample::select(DurationMeasure::ALL.to_vec()),
            cmp,
            0u64..10_000_000
        )
            .prop_map(|(measure, cmp, value_ms)| Filter::Duration {
                measure,
                cmp,
                value_ms
            }),
    ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            inner.prop_map(Filter::negate),
        ]
    })
}

proptest! {
    #[test]
    fn folding_is_indifferent_to_order_and_duplicates(traffic in common::traffic()) {
        let events = traffic.call_events();
        let mut ordered = events.clone();
        ordered.sort_by(|a, b| (&a.call, a.seq).cmp(&(&b.call, b.seq)));
        ordered.dedup_by(|a, b| a.call == b.call && a.seq == b.seq);
        prop_assert_eq!(CallRecord::fold_all(&events), CallRecord::fold_all(&ordered));
    }

    #[test]
    fn adjacent_ranges_count_every_call_once(traffic in common::traffic(), cut_s in 0i64..15_000) {
        let records: Vec<CallRecord> =
            CallRecord::fold_all(&traffic.call_events()).into_values().collect();
        let cut = common::T0 + cut_s * 1000;
        let range = |a, b| ScenarioQuery::new(TimeRange::new(a, b).expect("range"));
        let mut parts = sum(&range(i64::MIN, cut), &records);
        parts.merge(&sum(&range(cut, i64::MAX), &records));
        prop_assert_eq!(parts, sum(&ScenarioQuery::new(TimeRange::all()), &records));
    }

    #[test]
    fn rows_by_a_single_valued_dimension_add_up_to_the_scenario_row(
        traffic in common::traffic(),
        dimension in prop::sample::select(vec![
            Dimension::Number, Dimension::CallType, Dimension::EndReason, Dimension::Department,
        ]),
    ) {
        let records: Vec<CallRecord> =
            CallRecord::fold_all(&traffic.call_events()).into_values().collect();
        let plain = scenario_report(&records, &ScenarioQuery::new(TimeRange::all()));
        let split = scenario_report(&records, &ScenarioQuery::new(TimeRange::all()).by(dimension));
        for row in &plain.rows {
            let mut m = Measures::default();
            for r in split.rows.iter().filter(|r| r.key.scenario == row.key.scenario) {
                m.merge(&r.measures);
            }
            prop_assert_eq!(m, row.measures);
        }
        let passes: usize = records.iter().filter(|r| r.start.is_some()).map(|r| r.passes.len()).sum();
        prop_assert_eq!(plain.rows.iter().map(|r| r.measures.total).sum::<u64>(), passes as u64);
    }

    #[test]
    fn measures_stay_within_the_total(traffic in common::traffic()) {
        let records: Vec<CallRecord> =
            CallRecord::fold_all(&traffic.call_events()).into_values().collect();
        for row in scenario_report(&records, &ScenarioQuery::new(TimeRange::all())).rows {
            let m = row.measures;
            prop_assert!(m.no_conversation + m.completed <= m.ended);
            prop_assert!(m.ended <= m.total && m.by_option <= m.total && m.re_pass <= m.total);
            prop_assert!(m.with_transfer <= m.total);
            prop_assert!(m.talk_ms <= m.total_ms, "talk time within the call: {:?}", m);
        }
    }

    #[test]
    fn a_filter_prints_and_parses_back(f in filter()) {
        let text = f.to_string();
        prop_assert_eq!(text.parse::<Filter>(), Ok(f), "{}", text);
    }
}
