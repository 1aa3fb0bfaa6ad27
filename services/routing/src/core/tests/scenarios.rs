//! Scenarios walked step by step, as the call actor does: each decision's cursor comes
//! back with how its step ended. Every path of a menu (each key, the timeout, invalid keys
//! up to the tries), a dial's `no_answer`, a transfer, stale and forged cursors, and
//! scenarios in and out of hours.

use super::*;

/// The README's scenario (with `*` for the transfer) on a greeted number, and on a
/// scheduled one: `main` in hours, `night` (a menu: 1 for Anna, else goodbye) out of them.
const SCENARIOS: &str = r#"
[[scenarios]]
id = "main"
start = "greet"
[[scenarios.operations]]
id = "greet"
play = "welcome"
next = "menu"
[[scenarios.operations]]
id = "menu"
menu = { prompt = "main-menu", timeout_seconds = 5, tries = 3, invalid_prompt = "invalid-choice" }
keys = { "1" = "sales", "2" = "operator", "*" = "out" }
default = "sales"
[[scenarios.operations]]
id = "sales"
queue = { department = "sales", priority = 0 }
[[scenarios.operations]]
id = "operator"
dial = { employee = "anna" }
no_answer = "bye"
[[scenarios.operations]]
id = "out"
transfer = { number = "+48600100200" }
[[scenarios.operations]]
id = "bye"
hangup = { prompt = "goodbye" }

[[scenarios]]
id = "night"
start = "menu"
[[scenarios.operations]]
id = "menu"
menu = { prompt = "closed", timeout_seconds = 2, tries = 1 }
keys = { "1" = "anna" }
default = "bye"
[[scenarios.operations]]
id = "anna"
dial = { employee = "piotr" }
[[scenarios.operations]]
id = "bye"
hangup = {}

[[schedules]]
id = "office"
hours = { thu = ["08:00-17:00"] }

[[numbers]]
number = "48229990000"
scenario = "main"
greeting = "hello"

[[numbers]]
number = "48229990001"
scenario = "main"
schedule = "office"
after_hours = { scenario = "night" }
"#;

const MENU_NUMBER: &str = "48229990000";
const SCHEDULED_NUMBER: &str = "48229990001";

/// Thursday 2026-01-15 10:00 in Warsaw: in hours.
fn open() -> i64 {
    winter_utc(9, 0)
}

/// The call's side of a scenario: it keeps the cursor and reports each step's end.
struct Walk<'t> {
    table: &'t RoutingTable,
    dialed: &'static str,
    now: i64,
    cursor: Option<Cursor>,
}

impl<'t> Walk<'t> {
    /// A greeted call to `dialed` at `now`.
    fn new(table: &'t RoutingTable, dialed: &'static str, now: i64) -> Self {
        Walk {
            table,
            dialed,
            now,
            cursor: None,
        }
    }

    /// Asks routing with `outcome` and the cursor it gave last; keeps the new cursor.
    fn next(&mut self, outcome: Option<Outcome<'_>>) -> (Option<&'t str>, Step<'t>) {
        let facts = Facts {
            cursor: self.cursor,
            outcome,
            ..GREETED
        };
        let d = self.table.decide(&external(self.dialed), &facts, self.now);
        self.cursor = d.cursor;
        (d.operation, d.step)
    }

    fn start(&mut self) -> (Option<&'t str>, Step<'t>) {
        self.next(None)
    }

    fn press(&mut self, keys: &str) -> (Option<&'t str>, Step<'t>) {
        self.next(Some(Outcome::Digits(keys)))
    }
}

fn menu(invalid_prompt: Option<&str>) -> Step<'_> {
    Step::Menu {
        prompt: "main-menu",
        invalid_prompt,
        timeout_ms: 5000,
        max_digits: 1,
    }
}

/// Sales' queue, for a call from outside at level 0.
const SALES: Step<'static> = Step::Queue {
    department: "sales",
    priority: 1,
};

/// A walk on the menu number that has reached the menu.
fn at_menu(t: &RoutingTable) -> Walk<'_> {
    let mut w = Walk::new(t, MENU_NUMBER, open());
    w.start();
    assert_eq!(w.next(Some(Outcome::Played)), (Some("menu"), menu(None)));
    w
}

#[test]
fn the_greeting_plays_first_then_the_scenario_from_its_start() {
    let t = table(SCENARIOS);
    let call = external(MENU_NUMBER);
    let greeting = t.decide(&call, &Facts::default(), open());
    assert_eq!(greeting, Decision::plain(Step::Play { prompt: "hello" }));
    let mut w = Walk::new(&t, MENU_NUMBER, open());
    assert_eq!(w.start(), (Some("greet"), Step::Play { prompt: "welcome" }));
    assert!(w.cursor.is_some());
    assert_eq!(w.next(Some(Outcome::Played)), (Some("menu"), menu(None)));
}

#[test]
fn each_key_leads_to_its_operation() {
    let t = table(SCENARIOS);
    assert_eq!(at_menu(&t).press("1"), (Some("sales"), SALES));
    assert_eq!(
        at_menu(&t).press("2"),
        (
            Some("operator"),
            Step::Dial {
                employee: "anna",
                forward: Some(Forward {
                    after: Duration::from_secs(8),
                    number: "+48600100200",
                    trunk: "pstn",
                }),
                announce: false,
            }
        ),
        "desk phones, then the mobile, as for a direct number"
    );
    assert_eq!(
        at_menu(&t).press("*"),
        (
            Some("out"),
            Step::Transfer {
                number: "+48600100200",
                trunk: "pstn"
            }
        ),
        "through the first trunk"
    );
}

#[test]
fn no_key_within_the_timeout_takes_the_default() {
    let t = table(SCENARIOS);
    assert_eq!(
        at_menu(&t).next(Some(Outcome::MenuTimeout)),
        (Some("sales"), SALES)
    );
    assert_eq!(
        at_menu(&t).press(""),
        (Some("sales"), SALES),
        "no digits is a timeout"
    );
}

#[test]
fn an_invalid_key_replays_the_menu_after_the_invalid_prompt_until_the_tries_run_out() {
    let t = table(SCENARIOS);
    let mut w = at_menu(&t);
    let first = w.cursor;
    assert_eq!(w.press("9"), (Some("menu"), menu(Some("invalid-choice"))));
    assert_ne!(w.cursor, first, "the cursor counts invalid keys");
    assert_eq!(w.press("#"), (Some("menu"), menu(Some("invalid-choice"))));
    // The third invalid key of three tries: the default.
    assert_eq!(w.press("0"), (Some("sales"), SALES));

    // A valid key after invalid ones still counts.
    let mut w = at_menu(&t);
    w.press("7");
    assert_eq!(w.press("1"), (Some("sales"), SALES));
    // So does the timeout.
    let mut w = at_menu(&t);
    w.press("7");
    assert_eq!(w.next(Some(Outcome::MenuTimeout)), (Some("sales"), SALES));
}

#[test]
fn a_dial_nobody_answers_follows_no_answer_or_ends_politely() {
    let t = table(SCENARIOS);
    let mut w = at_menu(&t);
    w.press("2");
    for outcome in [
        DialOutcome::NoAnswer,
        DialOutcome::Busy,
        DialOutcome::Unreachable,
    ] {
        let mut again = Walk { ..w };
        assert_eq!(
            again.next(Some(Outcome::Dial(outcome))),
            (
                Some("bye"),
                Step::Hangup {
                    prompt: Some("goodbye")
                }
            ),
            "{outcome:?}"
        );
    }
    // The transfer has no `no_answer`: "unavailable", reported under the transfer's id.
    let mut w = at_menu(&t);
    w.press("*");
    assert_eq!(
        w.next(Some(Outcome::Dial(DialOutcome::Busy))),
        (
            Some("out"),
            Step::Hangup {
                prompt: Some("unavailable")
            }
        )
    );
}

#[test]
fn a_forged_or_mismatched_cursor_starts_the_scenario_again() {
    let t = table(SCENARIOS);
    let w = at_menu(&t);
    let at_menu_cursor = w.cursor.unwrap();
    let restart = (Some("greet"), Step::Play { prompt: "welcome" });
    let cases = [
        // Another scenario's fingerprint.
        (
            Cursor {
                scenario: at_menu_cursor.scenario ^ 1,
                ..at_menu_cursor
            },
            Outcome::Digits("1"),
        ),
        // No such operation.
        (
            Cursor {
                operation: 99,
                ..at_menu_cursor
            },
            Outcome::Digits("1"),
        ),
        // More invalid keys than the menu's tries.
        (
            Cursor {
                invalid: 3,
                ..at_menu_cursor
            },
            Outcome::Digits("1"),
        ),
        // An outcome that does not fit the operation.
        (at_menu_cursor, Outcome::Played),
        (at_menu_cursor, Outcome::Dial(DialOutcome::Busy)),
    ];
    for (cursor, outcome) in cases {
        let mut w = Walk {
            cursor: Some(cursor),
            ..Walk::new(&t, MENU_NUMBER, open())
        };
        assert_eq!(w.next(Some(outcome)), restart, "{cursor} {outcome:?}");
    }
    // A cursor without an outcome is not followed either.
    let mut w = Walk {
        cursor: Some(at_menu_cursor),
        ..Walk::new(&t, MENU_NUMBER, open())
    };
    assert_eq!(w.start(), restart);
}

#[test]
fn a_stale_cursor_after_the_scenario_changed_starts_it_again_but_other_changes_keep_it() {
    let before = table(SCENARIOS);
    let cursor = at_menu(&before).cursor;

    let changed = table(&SCENARIOS.replacen("tries = 3", "tries = 2", 1));
    let mut w = Walk {
        cursor,
        ..Walk::new(&changed, MENU_NUMBER, open())
    };
    assert_eq!(
        w.press("1"),
        (Some("greet"), Step::Play { prompt: "welcome" })
    );

    let elsewhere = table(&format!(
        "{SCENARIOS}[[trunks]]\nid = \"gsm\"\ntarget = \"127.0.0.1:5098\"\n"
    ));
    let mut w = Walk {
        cursor,
        ..Walk::new(&elsewhere, MENU_NUMBER, open())
    };
    assert_eq!(
        w.press("1"),
        (Some("sales"), SALES),
        "same scenario, same cursor"
    );
}

#[test]
fn cursors_print_short_and_parse_back() {
    let t = table(SCENARIOS);
    let mut w = at_menu(&t);
    w.press("5");
    let cursor = w.cursor.unwrap();
    let text = cursor.to_string();
    assert!(text.len() <= 16, "{text}");
    assert!(
        text.ends_with(".1.1"),
        "{text}: the menu is operation 1, one invalid key"
    );
    assert_eq!(Cursor::parse(&text), Some(cursor));
}

#[test]
fn a_scheduled_number_walks_its_scenario_in_hours_and_its_after_hours_scenario_outside() {
    let t = table(SCENARIOS);
    let mut day = Walk::new(&t, SCHEDULED_NUMBER, open());
    assert_eq!(day.start().0, Some("greet"));

    // 18:00 in Warsaw: the night menu, whose one try sends an invalid key to the default.
    let evening = winter_utc(17, 0);
    let mut night = Walk::new(&t, SCHEDULED_NUMBER, evening);
    let closed = Step::Menu {
        prompt: "closed",
        invalid_prompt: None,
        timeout_ms: 2000,
        max_digits: 1,
    };
    assert_eq!(night.start(), (Some("menu"), closed));
    let piotr = Step::Dial {
        employee: "piotr",
        forward: None,
        announce: false,
    };
    assert_eq!(Walk { ..night }.press("1"), (Some("anna"), piotr));
    assert_eq!(
        night.press("3"),
        (Some("bye"), Step::Hangup { prompt: None })
    );
    // Piotr's dial has no `no_answer`: a polite end.
    let mut night = Walk::new(&t, SCHEDULED_NUMBER, evening);
    night.start();
    night.press("1");
    assert_eq!(
        night.next(Some(Outcome::Dial(DialOutcome::NoAnswer))),
        (
            Some("anna"),
            Step::Hangup {
                prompt: Some("unavailable")
            }
        )
    );
}

#[test]
fn a_call_finishes_the_scenario_it_started_when_the_hours_change() {
    let t = table(SCENARIOS);
    let mut w = Walk::new(&t, SCHEDULED_NUMBER, winter_utc(15, 59));
    w.start();
    assert_eq!(w.next(Some(Outcome::Played)).0, Some("menu"));
    // 17:00: closed now, but the caller answers the day menu it is in.
    w.now = winter_utc(16, 0);
    assert_eq!(w.press("1"), (Some("sales"), SALES));
    // A new call at 17:00 gets the night scenario.
    let mut fresh = Walk::new(&t, SCHEDULED_NUMBER, winter_utc(16, 0));
    assert_eq!(fresh.start().0, Some("menu"));
    assert!(matches!(
        fresh.start().1,
        Step::Menu {
            prompt: "closed",
            ..
        }
    ));
}

#[test]
fn a_stale_cursor_after_a_dial_starts_the_scenario_again_but_a_dial_outside_it_ends_politely() {
    // The call actor keeps reporting how its last dial ended. With a cursor it cannot
    // follow, the scenario starts again; without one the dial was no scenario's (an
    // agent's transfer of the call), as for a route: a polite end.
    let t = table(SCENARIOS);
    let stale = Facts {
        dial: Some(DialOutcome::NoAnswer),
        cursor: Cursor::parse("00000000.3.0"),
        outcome: Some(Outcome::Dial(DialOutcome::NoAnswer)),
        ..GREETED
    };
    let d = t.decide(&external(MENU_NUMBER), &stale, open());
    assert_eq!(d.operation, Some("greet"));
    assert_eq!(
        d.scenario,
        Some("main"),
        "the scenario's id travels with its steps"
    );
    let transferred = Facts {
        cursor: None,
        ..stale
    };
    assert_eq!(
        t.decide(&external(MENU_NUMBER), &transferred, open()),
        Decision::plain(Step::Hangup {
            prompt: Some("unavailable")
        })
    );
}

#[test]
fn internal_calls_and_route_numbers_are_untouched_by_scenarios() {
    let t = table(SCENARIOS);
    let from_piotr = Call {
        dialed: "600",
        caller: Caller::Employee("202"),
    };
    assert_eq!(
        t.decide(&from_piotr, &Facts::default(), open()),
        Decision::plain(Step::Queue {
            department: "sales",
            priority: 0
        }),
        "an internal call ranks below calls from outside"
    );
    assert_eq!(
        t.decide(&external("48221234567"), &GREETED, open()),
        Decision::plain(SALES)
    );
}

#[test]
fn an_agent_puts_a_call_into_a_scenario_by_hand_from_its_start() {
    let queue_first = format!(
        "{SCENARIOS}
[[scenarios]]
id = \"queue-first\"
start = \"q\"
[[scenarios.operations]]
id = \"q\"
queue = {{ department = \"sales\", priority = 0 }}
"
    );
    let t = table(&queue_first);
    // Out of hours the number walks `night`; an agent puts the caller into `main` instead.
    let d = t.start_scenario("main", &external(SCHEDULED_NUMBER), winter_utc(22, 0));
    assert_eq!(d.scenario, Some("main"));
    assert_eq!(d.operation, Some("greet"));
    assert_eq!(d.step, Step::Play { prompt: "welcome" });
    assert!(d.cursor.is_some(), "the walk goes on from there as usual");
    // A queue step ranks as the call it is: from outside above an employee's.
    let queued = t.start_scenario("queue-first", &external(MENU_NUMBER), open());
    assert_eq!(queued.step, SALES);
    let from_piotr = Call {
        dialed: "600",
        caller: Caller::Employee("202"),
    };
    assert_eq!(
        t.start_scenario("queue-first", &from_piotr, open()).step,
        Step::Queue {
            department: "sales",
            priority: 0
        }
    );
    assert_eq!(
        t.start_scenario("lost", &external(MENU_NUMBER), open())
            .step,
        Step::NotFound
    );
}
