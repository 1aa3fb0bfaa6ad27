use super::*;

/// Acme in Warsaw: Sales (600, queue), Anna (201, mobile), Piotr (202, no mobile), a trunk,
/// a sales number with morning/afternoon/evening greetings, Anna's direct number.
fn table(extra: &str) -> RoutingTable {
    let text = format!(
        r#"
[sip]
listen = "127.0.0.1:5060"
domain = "cc.local"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"
mobile_forward_seconds = 8
[[employees]]
id = "anna"
name = "Anna"
extension = "201"
sip_password = "secret"
role = "user"
mobile = "+48600100200"
[[employees]]
id = "piotr"
name = "Piotr"
extension = "202"
sip_password = "secret"
role = "user"
[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna", "piotr"]
[[trunks]]
id = "pstn"
target = "127.0.0.1:5099"
[[numbers]]
number = "+48221234567"
route = {{ department = "sales" }}
greetings = [
  {{ from = "06:00", greeting = "good-morning" }},
  {{ from = "12:00", greeting = "good-afternoon" }},
  {{ from = "18:00", greeting = "good-evening" }},
]
[[numbers]]
number = "48227654321"
route = {{ employee = "anna" }}
greeting = "welcome"
{extra}"#
    );
    RoutingTable::new(&Config::from_toml(&text).expect("test configuration"))
}

/// 2026-01-15 (winter, Warsaw = UTC+1) at the given UTC hour and minute.
fn winter_utc(hour: i64, minute: i64) -> i64 {
    1_768_435_200 + hour * 3600 + minute * 60
}

fn external(dialed: &str) -> Call<'_> {
    Call {
        dialed,
        caller: Caller::Outside(None),
    }
}

const GREETED: Facts = Facts {
    greeted: true,
    dial: None,
    cursor: None,
    outcome: None,
};

/// The step alone, for tests of numbers without scenarios.
fn step<'t>(t: &'t RoutingTable, call: &Call<'_>, facts: &Facts<'_>, now: i64) -> Step<'t> {
    let decision = t.decide(call, facts, now);
    assert_eq!(
        (decision.operation, decision.cursor),
        (None, None),
        "outside scenarios"
    );
    decision.step
}

#[test]
fn an_external_call_is_greeted_by_the_band_of_the_local_time_then_queued() {
    let t = table("");
    let call = external("48221234567");
    let greeting = |utc_h, utc_m| match step(&t, &call, &Facts::default(), winter_utc(utc_h, utc_m))
    {
        Step::Play { prompt } => prompt,
        other => panic!("expected a greeting, got {other:?}"),
    };
    // Local = UTC+1 in January.
    assert_eq!(
        greeting(4, 59),
        "good-evening",
        "05:59 local: still last evening's band"
    );
    assert_eq!(greeting(5, 0), "good-morning");
    assert_eq!(greeting(10, 59), "good-morning");
    assert_eq!(greeting(11, 0), "good-afternoon");
    assert_eq!(greeting(17, 0), "good-evening");
    assert_eq!(
        greeting(23, 30),
        "good-evening",
        "after midnight local: still evening"
    );
    assert_eq!(
        step(&t, &call, &GREETED, winter_utc(9, 0)),
        Step::Queue {
            department: "sales",
            priority: 1
        }
    );
}

#[test]
fn the_bands_follow_summer_time() {
    let t = table("");
    // 04:30 UTC is 06:30 in Warsaw in July (UTC+2): morning; in January (UTC+1) it is
    // 05:30: still the evening band.
    let july_0430 = 1_784_089_800;
    assert_eq!(
        step(&t, &external("48221234567"), &Facts::default(), july_0430),
        Step::Play {
            prompt: "good-morning"
        }
    );
    assert_eq!(
        step(
            &t,
            &external("48221234567"),
            &Facts::default(),
            winter_utc(4, 30)
        ),
        Step::Play {
            prompt: "good-evening"
        }
    );
}

#[test]
fn a_plus_prefix_is_ignored_and_unknown_numbers_are_not_found() {
    let t = table("");
    assert!(matches!(
        step(&t, &external("+48221234567"), &Facts::default(), 0),
        Step::Play { .. }
    ));
    assert_eq!(
        step(&t, &external("999"), &Facts::default(), 0),
        Step::NotFound
    );
    assert_eq!(
        step(&t, &external("201"), &Facts::default(), 0),
        Step::NotFound,
        "outside callers cannot dial internal extensions"
    );
}

#[test]
fn a_direct_number_rings_the_employee_with_mobile_forwarding() {
    let t = table("");
    let call = external("48227654321");
    assert_eq!(
        step(&t, &call, &Facts::default(), 0),
        Step::Play { prompt: "welcome" }
    );
    assert_eq!(
        step(&t, &call, &GREETED, 0),
        Step::Dial {
            employee: "anna",
            forward: Some(Forward {
                after: Duration::from_secs(8),
                number: "+48600100200",
                trunk: "pstn",
            }),
            announce: false,
        }
    );
    let unanswered = Facts {
        dial: Some(DialOutcome::NoAnswer),
        ..GREETED
    };
    assert_eq!(
        step(&t, &call, &unanswered, 0),
        Step::Hangup {
            prompt: Some("unavailable")
        }
    );
}

#[test]
fn internal_calls_skip_the_greeting_and_reach_extensions() {
    let t = table("");
    let from_piotr = |dialed| Call {
        dialed,
        caller: Caller::Employee("202"),
    };
    assert_eq!(
        step(&t, &from_piotr("600"), &Facts::default(), 0),
        Step::Queue {
            department: "sales",
            priority: 0
        }
    );
    assert!(matches!(
        step(&t, &from_piotr("201"), &Facts::default(), 0),
        Step::Dial {
            employee: "anna",
            ..
        }
    ));
    assert_eq!(
        step(&t, &from_piotr("299"), &Facts::default(), 0),
        Step::NotFound
    );
}

#[test]
fn no_mobile_or_no_trunk_means_no_forwarding() {
    let t = table("");
    let from_anna = Call {
        dialed: "202",
        caller: Caller::Employee("201"),
    };
    assert_eq!(
        step(&t, &from_anna, &Facts::default(), 0),
        Step::Dial {
            employee: "piotr",
            forward: None,
            announce: false,
        }
    );
    let mut without_trunk = table("");
    without_trunk.trunk = None;
    assert!(matches!(
        step(&without_trunk, &external("48227654321"), &GREETED, 0),
        Step::Dial { forward: None, .. }
    ));
}

/// Two scheduled numbers: a sales line open Thursday 08:00-17:00 in Warsaw that hangs up
/// with a prompt out of hours, and a line open 09:00-17:00 in New York that goes to Anna
/// out of hours, greeting by New York's time of day.
const SCHEDULED: &str = r#"
[[schedules]]
id = "office"
hours = { thu = ["08:00-12:00", "13:00-17:00"] }
holidays = ["2026-01-22"]
[[schedules]]
id = "new-york"
timezone = "America/New_York"
hours = { thu = ["09:00-17:00"] }
[[numbers]]
number = "48225550000"
route = { department = "sales" }
greeting = "welcome"
schedule = "office"
after_hours = { hangup = "closed" }
[[numbers]]
number = "12125550000"
route = { department = "sales" }
schedule = "new-york"
after_hours = { employee = "anna" }
greetings = [
  { from = "06:00", greeting = "good-morning" },
  { from = "12:00", greeting = "good-afternoon" },
]
"#;

#[test]
fn a_scheduled_number_takes_its_route_in_hours_and_after_hours_outside_them() {
    let t = table(SCHEDULED);
    let call = external("48225550000");
    let sales = Step::Queue {
        department: "sales",
        priority: 1,
    };
    let closed = Step::Hangup {
        prompt: Some("closed"),
    };
    // Thursday 2026-01-15, Warsaw = UTC+1.
    assert_eq!(step(&t, &call, &GREETED, winter_utc(7, 0)), sales, "08:00");
    assert_eq!(
        step(&t, &call, &GREETED, winter_utc(11, 30)),
        closed,
        "12:30 lunch"
    );
    assert_eq!(
        step(&t, &call, &GREETED, winter_utc(15, 59)),
        sales,
        "16:59"
    );
    assert_eq!(
        step(&t, &call, &GREETED, winter_utc(16, 0)),
        closed,
        "17:00"
    );
    assert_eq!(
        step(&t, &call, &GREETED, winter_utc(6, 59)),
        closed,
        "07:59"
    );
    let next_thursday = winter_utc(9, 0) + 7 * 86_400;
    assert_eq!(step(&t, &call, &GREETED, next_thursday), closed, "holiday");
    assert_eq!(
        step(&t, &call, &Facts::default(), winter_utc(20, 0)),
        Step::Play { prompt: "welcome" },
        "the greeting plays out of hours too"
    );
}

#[test]
fn a_number_follows_its_schedules_zone_for_hours_and_greetings() {
    let t = table(SCHEDULED);
    let call = external("+12125550000");
    // 15:00 UTC on Thursday 2026-01-15 is 10:00 in New York (16:00 in Warsaw).
    assert_eq!(
        step(&t, &call, &Facts::default(), winter_utc(15, 0)),
        Step::Play {
            prompt: "good-morning"
        }
    );
    assert!(matches!(
        step(&t, &call, &GREETED, winter_utc(15, 0)),
        Step::Queue { .. }
    ));
    // 13:00 UTC is 08:00 in New York: closed, so Anna's phones ring (with forwarding).
    assert!(matches!(
        step(&t, &call, &GREETED, winter_utc(13, 0)),
        Step::Dial {
            employee: "anna",
            forward: Some(_),
            announce: false,
        }
    ));
}

#[test]
fn schedules_do_not_touch_internal_calls_or_numbers_without_one() {
    let t = table(SCHEDULED);
    let from_piotr = Call {
        dialed: "600",
        caller: Caller::Employee("202"),
    };
    let sunday_night = winter_utc(23, 0) + 3 * 86_400;
    assert!(matches!(
        step(&t, &from_piotr, &Facts::default(), sunday_night),
        Step::Queue { .. }
    ));
    assert!(matches!(
        step(&t, &external("48221234567"), &GREETED, sunday_night),
        Step::Queue { .. }
    ));
}

mod callers;
mod scenarios;
