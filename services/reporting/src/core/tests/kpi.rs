use std::collections::BTreeSet;
use std::time::Duration;

use super::*;

fn calls() -> Vec<CallRecord> {
    records(vec![
        call("answered-in-10s")
            .inbound(0)
            .queued(0, "support")
            .answered(10, "anna")
            .ended(70, EndReason::AgentHungUp),
        call("answered-in-30s-with-hold")
            .inbound(100)
            .queued(100, "support")
            .answered(130, "anna")
            .held(140)
            .resumed(150)
            .ended(190, EndReason::CallerHungUp),
        call("short-abandon")
            .inbound(200)
            .queued(200, "support")
            .ended(203, EndReason::CallerHungUp),
        call("abandon")
            .inbound(300)
            .queued(300, "support")
            .ended(340, EndReason::AbandonedInQueue),
        call("callback-instead")
            .inbound(400)
            .queued(400, "support")
            .callback(420, Some("support"))
            .ended(421, EndReason::CallbackRequested),
        call("callback-kept")
            .started(500, "+4930100", CallType::Callback)
            .queued(500, "support")
            .answered(505, "anna")
            .ended(600, EndReason::AgentHungUp),
        call("timed-out")
            .inbound(700)
            .queued(700, "support")
            .ended(800, EndReason::Timeout),
        call("billing")
            .inbound(0)
            .queued(0, "billing")
            .answered(5, "ben")
            .ended(20, EndReason::CallerHungUp),
        call("employee-callback")
            .inbound(50)
            .callback(60, None)
            .ended(61, EndReason::CallbackRequested),
        call("next-period")
            .inbound(1000)
            .queued(1000, "support")
            .ended(1001, EndReason::CallerHungUp),
    ])
}

fn agent(agent: &str, seq: u64, seconds: i64, state: AgentState) -> AgentEvent {
    AgentEvent {
        agent: agent.into(),
        seq,
        at: ms(seconds),
        state,
    }
}

fn agents() -> Vec<AgentEvent> {
    vec![
        agent("anna", 1, -100, AgentState::Available),
        agent("anna", 2, 10, AgentState::OnCall),
        agent("anna", 3, 70, AgentState::WrapUp),
        agent("anna", 4, 80, AgentState::Available),
        agent("anna", 5, 900, AgentState::Paused),
        agent("anna", 6, 1100, AgentState::Offline),
        // Ben's events arrive out of order and once twice.
        agent("ben", 1, 0, AgentState::Available),
        agent("ben", 3, 500, AgentState::OnCall),
        agent("ben", 2, 400, AgentState::Ringing),
        agent("ben", 1, 0, AgentState::Available),
    ]
}

fn period(department: Option<&str>) -> KpiQuery {
    KpiQuery::new(
        TimeRange::new(ms(0), ms(1000)).expect("range"),
        department.map(DepartmentId::from),
    )
}

#[test]
fn a_department_s_kpis() {
    let mut query = period(Some("support"));
    query.agents = AgentScope::Only(BTreeSet::from(["anna".into()]));
    let k = kpis(&calls(), &agents(), &query);
    assert_eq!(
        (k.offered, k.answered, k.answered_in_threshold, k.wait_ms),
        (7, 3, 2, 45_000)
    );
    assert_eq!((k.abandoned, k.short_abandoned), (2, 1));
    assert_eq!((k.handled, k.handle_ms), (3, 60_000 + 60_000 + 95_000));
    assert_eq!((k.callbacks_requested, k.callbacks_kept), (1, 1));
    assert_eq!((k.busy_ms, k.staffed_ms), (70_000, 900_000));

    assert_eq!(k.service_level(), Some(2.0 / 6.0));
    assert_eq!(k.meets_target(), Some(false));
    assert_eq!(k.asa(), Some(Duration::from_secs(15)));
    assert_eq!(k.abandonment_rate(), Some(1.0 / 6.0));
    assert_eq!(k.aht(), Some(Duration::from_secs_f64(215.0 / 3.0)));
    assert_eq!(k.occupancy(), Some(70.0 / 900.0));
    assert_eq!(k.callbacks_kept_rate(), Some(1.0));
}

#[test]
fn every_department_together() {
    let k = kpis(&calls(), &agents(), &period(None));
    assert_eq!((k.offered, k.answered, k.answered_in_threshold), (8, 4, 3));
    assert_eq!(
        k.callbacks_requested, 2,
        "the employee's callback counts too"
    );
    // Ben: available 400 s, ringing 100 s, on a call until the range's end.
    assert_eq!((k.busy_ms, k.staffed_ms), (670_000, 1_900_000));
}

#[test]
fn the_thresholds_are_configurable() {
    let mut query = period(Some("support"));
    query.service_level_threshold = Duration::from_secs(30);
    query.short_abandon = Duration::from_secs(2);
    let k = kpis(&calls(), &agents(), &query);
    assert_eq!(k.answered_in_threshold, 3, "the 30 s wait is within 30 s");
    assert_eq!(k.short_abandoned, 0);
    assert_eq!(k.service_level(), Some(3.0 / 7.0));
}

#[test]
fn an_empty_period_has_no_rates() {
    let query = KpiQuery::new(TimeRange::new(ms(5000), ms(6000)).expect("range"), None);
    let k = kpis(&calls(), &[], &query);
    assert_eq!(k.offered, 0);
    assert_eq!(k.service_level(), None);
    assert_eq!(k.asa(), None);
    assert_eq!(k.abandonment_rate(), None);
    assert_eq!(k.aht(), None);
    assert_eq!(k.occupancy(), None);
}

#[test]
fn occupancy_is_clipped_to_the_range() {
    let range = TimeRange::new(ms(50), ms(75)).expect("range");
    let anna = AgentScope::Only(["anna".into()].into());
    let (busy, staffed) = agent_time(&agents(), &range, range.to(), &anna);
    // On a call 50..70, wrap-up 70..75.
    assert_eq!((busy, staffed), (25_000, 25_000));
}

#[test]
fn current_states_last_until_now() {
    let mut query = period(None);
    query.agents = AgentScope::Only(["ben".into()].into());
    query.now = Some(ms(600));
    let k = kpis(&[], &agents(), &query);
    // Ben: available 0..400, ringing 400..500, on a call from 500 until now (600).
    assert_eq!((k.busy_ms, k.staffed_ms), (200_000, 600_000));
    query.now = Some(ms(5_000));
    assert_eq!(
        kpis(&[], &agents(), &query).busy_ms,
        600_000,
        "capped by the range"
    );
}
