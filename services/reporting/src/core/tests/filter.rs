use std::time::Duration;

use super::*;

fn m(total: u64, no_conversation: u64, ended: u64, total_ms: i64) -> Measures {
    Measures {
        total,
        no_conversation,
        ended,
        total_ms,
        ..Measures::default()
    }
}

#[test]
fn parses_conditions_with_and_or_not_and_parentheses() {
    let f: Filter = "no_conversation > 0 and avg_total < 10s"
        .parse()
        .expect("parse");
    assert_eq!(
        f,
        Filter::count(CountMeasure::NoConversation, Cmp::Gt, 0).and(Filter::duration(
            DurationMeasure::AvgTotal,
            Cmp::Lt,
            Duration::from_secs(10)
        ))
    );
    let f: Filter = "total >= 10 or not (re_pass = 0 and avg_talk <= 1.5min)"
        .parse()
        .expect("parse");
    assert_eq!(
        f,
        Filter::count(CountMeasure::Total, Cmp::Ge, 10).or(Filter::count(
            CountMeasure::RePass,
            Cmp::Eq,
            0
        )
        .and(Filter::duration(
            DurationMeasure::AvgTalk,
            Cmp::Le,
            Duration::from_secs(90)
        ))
        .negate())
    );
}

#[test]
fn and_binds_tighter_than_or() {
    let f: Filter = "total = 1 or total = 2 and completed > 0"
        .parse()
        .expect("parse");
    let Filter::Or(_, right) = f else {
        panic!("or at the top: {f:?}");
    };
    assert!(matches!(*right, Filter::And(..)));
}

#[test]
fn every_comparison_and_unit() {
    for (text, value_ms) in [
        ("250ms", 250),
        ("3s", 3_000),
        ("0.5s", 500),
        ("2min", 120_000),
    ] {
        let f: Filter = format!("avg_total = {text}").parse().expect("parse");
        assert_eq!(
            f,
            Filter::Duration {
                measure: DurationMeasure::AvgTotal,
                cmp: Cmp::Eq,
                value_ms
            }
        );
    }
    let row = m(5, 0, 0, 0);
    for (op, expected) in [
        ("<", false),
        ("<=", true),
        ("=", true),
        ("==", true),
        ("!=", false),
        (">=", true),
        (">", false),
    ] {
        let f: Filter = format!("total {op} 5").parse().expect("parse");
        assert_eq!(f.matches(&row), expected, "total {op} 5");
    }
}

#[test]
fn errors_name_what_is_wrong() {
    let err = |text: &str| text.parse::<Filter>().expect_err(text).to_string();
    assert_eq!(err(""), "the filter is empty");
    assert!(err("talk > 3").contains("unknown measure \"talk\""));
    assert!(err("avg_total > 3").contains("not a duration"));
    assert!(err("total > 1.5").contains("not a whole number"));
    assert!(err("total 3").contains("expected a comparison"));
    assert!(err("total > 1 and").contains("expected a measure"));
    assert!(err("(total > 1").contains("expected \")\""));
    assert!(err("total > 1 total > 2").contains("\"and\", \"or\" or the end"));
    assert!(err("total > 1 & completed > 0").contains("unexpected character '&'"));
}

#[test]
fn an_average_over_no_ended_call_compares_false() {
    let in_progress = m(3, 0, 0, 0);
    let lt: Filter = "avg_total < 10s".parse().expect("parse");
    let ge: Filter = "avg_total >= 10s".parse().expect("parse");
    assert!(!lt.matches(&in_progress));
    assert!(!ge.matches(&in_progress));
    assert!(lt.clone().negate().matches(&in_progress));
    assert!(lt.matches(&m(1, 1, 1, 9_999)));
    assert!(!lt.matches(&m(1, 1, 1, 10_000)));
}

#[test]
fn display_parses_back_to_the_same_filter() {
    for text in [
        "no_conversation > 0 and avg_total < 10000ms",
        "not (total = 1 or by_option != 2) and with_transfer <= 3",
        "(completed > 1 or re_pass > 0) and not not avg_talk >= 5ms",
    ] {
        let f: Filter = text.parse().expect("parse");
        let again: Filter = f.to_string().parse().expect("reparse");
        assert_eq!(again, f, "{text} -> {f}");
    }
}
