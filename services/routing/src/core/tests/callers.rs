//! Who calls: caller rules (R-33), priorities (R-32) and screening (R-30), on the Acme
//! table with Anna as the protected director.

use super::*;

/// Caller lists, a director's line with rules, Anna's policy: do not disturb at lunch
/// (12:00-13:00 Warsaw on weekdays), key clients always, spam never, suppliers only in
/// the morning, anonymous callers turned away to Piotr; a scenario that dials Anna; the
/// director Boss (209, priority 9).
const CALLERS: &str = r#"
[[employees]]
id = "boss"
name = "Boss"
extension = "209"
sip_password = "secret"
role = "user"
priority = 9
[[schedules]]
id = "lunch"
hours = { mon = ["12:00-13:00"], tue = ["12:00-13:00"], wed = ["12:00-13:00"], thu = ["12:00-13:00"], fri = ["12:00-13:00"] }
[[schedules]]
id = "mornings"
hours = { thu = ["08:00-11:00"] }
[[caller_lists]]
id = "key-clients"
entries = ["+48600000001", "+4861*"]
[[caller_lists]]
id = "spam"
entries = ["+48800*"]
[[caller_lists]]
id = "suppliers"
entries = ["+48700000001"]
[[caller_lists]]
id = "withheld"
entries = ["anonymous"]
[[numbers]]
number = "48229990000"
route = { department = "sales" }
[[numbers.rules]]
callers = "spam"
goto = { hangup = "offers-by-email" }
[[numbers.rules]]
callers = "key-clients"
priority = 5
[[numbers]]
number = "48229990001"
route = { department = "sales" }
priority = 9
[[numbers]]
number = "48229990002"
scenario = "to-anna"
[[numbers.rules]]
callers = "withheld"
goto = { scenario = "polite" }
[[scenarios]]
id = "to-anna"
start = "ring"
[[scenarios.operations]]
id = "ring"
dial = { employee = "anna" }
no_answer = "bye"
[[scenarios.operations]]
id = "bye"
hangup = { prompt = "goodbye" }
[[scenarios.operations]]
id = "vip-queue"
queue = { department = "sales", priority = 3 }
[[scenarios]]
id = "polite"
start = "say"
[[scenarios.operations]]
id = "say"
play = "we-do-not-take-anonymous-calls"
next = "end"
[[scenarios.operations]]
id = "end"
hangup = {}
[[numbers]]
number = "48229990003"
route = { department = "sales" }
schedule = "mornings"
after_hours = { message = "sales" }
[[scenarios]]
id = "take"
start = "take"
[[scenarios.operations]]
id = "take"
message = "anna"
[[numbers]]
number = "48229990004"
scenario = "take"
[[numbers]]
number = "48229990005"
route = { department = "sales" }
schedule = "mornings"
after_hours = { callback = "sales" }
[[screening]]
employee = "anna"
dnd = "lunch"
vip = ["key-clients"]
never = ["spam"]
limited = [{ callers = "suppliers", schedule = "mornings" }]
anonymous = "decline"
announce = true
declined = { employee = "piotr" }
"#;

fn from<'a>(dialed: &'a str, number: &'a str) -> Call<'a> {
    Call {
        dialed,
        caller: Caller::Outside(Some(number)),
    }
}

/// Thursday 2026-01-15: 09:00 Warsaw (mornings, no lunch), 12:30 (lunch), 15:00.
fn morning() -> i64 {
    winter_utc(8, 0)
}
fn lunch() -> i64 {
    winter_utc(11, 30)
}
fn afternoon() -> i64 {
    winter_utc(14, 0)
}

const ANNA: &str = "48227654321";

fn rings_anna(d: &Decision<'_>) -> bool {
    matches!(
        d.step,
        Step::Dial {
            employee: "anna",
            ..
        }
    ) && d.screened.is_none()
}

/// Turned away by Anna's policy: Piotr rings instead (without his own screening).
fn sent_to_piotr(d: &Decision<'_>) -> bool {
    matches!(
        d.step,
        Step::Dial {
            employee: "piotr",
            ..
        }
    ) && d.screened == Some("anna")
}

#[test]
fn a_spam_caller_hears_the_polite_prompt_in_and_out_of_hours_and_nobody_rings() {
    let t = table(CALLERS);
    for now in [morning(), afternoon(), winter_utc(23, 0)] {
        assert_eq!(
            step(&t, &from("48229990000", "+48800123456"), &GREETED, now),
            Step::Hangup {
                prompt: Some("offers-by-email")
            }
        );
    }
    assert_eq!(
        step(
            &t,
            &from("48229990000", "+48900123456"),
            &GREETED,
            morning()
        ),
        Step::Queue {
            department: "sales",
            priority: 1
        },
        "anyone else is queued as usual"
    );
}

#[test]
fn priority_is_the_highest_level_that_applies_and_outside_callers_rank_above_internal() {
    let t = table(CALLERS);
    let queued = |call: &Call<'_>| match step(&t, call, &GREETED, morning()) {
        Step::Queue { priority, .. } => priority,
        other => panic!("expected a queue step, got {other:?}"),
    };
    assert_eq!(queued(&from("48229990000", "+48900000000")), 1, "level 0");
    assert_eq!(queued(&from("48229990000", "+48610000000")), 11, "rule: 5");
    assert_eq!(
        queued(&from("48229990001", "+48900000000")),
        19,
        "number: 9"
    );
    let internal = |extension| Call {
        dialed: "600",
        caller: Caller::Employee(extension),
    };
    assert_eq!(queued(&internal("202")), 0, "an employee below outside");
    assert_eq!(queued(&internal("209")), 19, "the director above all");
}

#[test]
fn screening_turns_away_never_connect_callers_and_lets_vips_through_do_not_disturb() {
    let t = table(CALLERS);
    let at = |number, now| t.decide(&from(ANNA, number), &GREETED, now);
    // Spam is never put through, not even outside lunch.
    assert!(sent_to_piotr(&at("+48800000000", afternoon())));
    // A key client is put through during lunch.
    assert!(rings_anna(&at("+48610000000", lunch())));
    // Anyone else: put through, except during lunch.
    assert!(rings_anna(&at("+48900000000", afternoon())));
    assert!(sent_to_piotr(&at("+48900000000", lunch())));
    // A supplier only in the morning.
    assert!(rings_anna(&at("+48700000001", morning())));
    assert!(sent_to_piotr(&at("+48700000001", afternoon())));
    // A withheld number is turned away.
    let anonymous = Call {
        dialed: ANNA,
        caller: Caller::Outside(None),
    };
    assert!(sent_to_piotr(&t.decide(&anonymous, &GREETED, afternoon())));
}

#[test]
fn an_internal_call_to_the_protected_employee_is_screened_too() {
    let t = table(CALLERS);
    let piotr_calls_anna = Call {
        dialed: "201",
        caller: Caller::Employee("202"),
    };
    assert!(rings_anna(&t.decide(
        &piotr_calls_anna,
        &Facts::default(),
        afternoon()
    )));
    let d = t.decide(&piotr_calls_anna, &Facts::default(), lunch());
    assert_eq!(d.screened, Some("anna"));
    assert!(!matches!(
        d.step,
        Step::Dial {
            employee: "anna",
            ..
        }
    ));
}

#[test]
fn a_scenario_dial_is_screened_and_names_its_operation() {
    let t = table(CALLERS);
    let d = t.decide(&from("48229990002", "+48900000000"), &GREETED, lunch());
    assert!(sent_to_piotr(&d), "{d:?}");
    assert_eq!(d.operation, Some("ring"));
    assert_eq!(d.cursor, None, "the call left the scenario");
    let d = t.decide(&from("48229990002", "+48900000000"), &GREETED, afternoon());
    assert!(rings_anna(&d));
    assert_eq!(d.operation, Some("ring"));
}

#[test]
fn a_rule_can_send_callers_into_another_scenario_and_its_cursor_is_followed() {
    let t = table(CALLERS);
    let anonymous = Call {
        dialed: "48229990002",
        caller: Caller::Outside(None),
    };
    let first = t.decide(&anonymous, &GREETED, afternoon());
    assert_eq!(
        first.step,
        Step::Play {
            prompt: "we-do-not-take-anonymous-calls"
        }
    );
    let played = Facts {
        cursor: first.cursor,
        outcome: Some(Outcome::Played),
        ..GREETED
    };
    let next = t.decide(&anonymous, &played, afternoon());
    assert_eq!(next.step, Step::Hangup { prompt: None });
    assert_eq!(next.operation, Some("end"));
}

#[test]
fn a_declined_call_that_piotr_does_not_answer_ends_politely() {
    let t = table(CALLERS);
    let call = from(ANNA, "+48800000000");
    let after = Facts {
        dial: Some(DialOutcome::NoAnswer),
        ..GREETED
    };
    assert_eq!(step(&t, &call, &after, afternoon()), unavailable());
}

#[test]
fn a_message_is_taken_out_of_hours_and_by_a_scenario_operation() {
    let t = table(CALLERS);
    let caller = "+48900000000";
    assert_eq!(
        step(&t, &from("48229990003", caller), &GREETED, afternoon()),
        Step::Message { to: "sales" }
    );
    assert_eq!(
        step(&t, &from("48229990003", caller), &GREETED, morning()),
        Step::Queue {
            department: "sales",
            priority: 1
        }
    );
    let d = t.decide(&from("48229990004", caller), &GREETED, lunch());
    assert_eq!(d.step, Step::Message { to: "anna" });
    assert_eq!(d.operation, Some("take"));
}

#[test]
fn a_call_the_policy_puts_through_is_announced_and_a_declined_one_goes_to_declined() {
    let t = table(CALLERS);
    let call = from(ANNA, "+48900000000");
    let d = t.decide(&call, &GREETED, afternoon());
    assert!(
        matches!(
            d.step,
            Step::Dial {
                employee: "anna",
                announce: true,
                ..
            }
        ),
        "{d:?}"
    );
    // Anna declined: Piotr, marked as screened by her.
    let declined = Facts {
        dial: Some(DialOutcome::Declined),
        outcome: Some(Outcome::Dial(DialOutcome::Declined)),
        ..GREETED
    };
    assert!(sent_to_piotr(&t.decide(&call, &declined, afternoon())));
    // The same from a scenario's dial, and for an internal call.
    let first = t.decide(&from("48229990002", "+48900000000"), &GREETED, afternoon());
    let in_scenario = Facts {
        cursor: first.cursor,
        ..declined
    };
    let d = t.decide(
        &from("48229990002", "+48900000000"),
        &in_scenario,
        afternoon(),
    );
    assert!(sent_to_piotr(&d), "{d:?}");
    let piotr_calls_anna = Call {
        dialed: "201",
        caller: Caller::Employee("202"),
    };
    let d = t.decide(&piotr_calls_anna, &declined, afternoon());
    assert!(sent_to_piotr(&d), "{d:?}");
    // Piotr has no policy: he is rung without an announcement.
    let anna_calls_piotr = Call {
        dialed: "202",
        caller: Caller::Employee("201"),
    };
    let d = t.decide(&anna_calls_piotr, &Facts::default(), afternoon());
    assert!(
        matches!(
            d.step,
            Step::Dial {
                employee: "piotr",
                announce: false,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn a_callback_is_offered_out_of_hours() {
    let t = table(CALLERS);
    assert_eq!(
        step(
            &t,
            &from("48229990005", "+48900000000"),
            &GREETED,
            afternoon()
        ),
        Step::Callback { from: "sales" }
    );
}
