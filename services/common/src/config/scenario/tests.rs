//! Scenarios in the configuration: the documented example parses into the typed view,
//! `route` keeps working, and every mistake is refused naming its path.
#![allow(clippy::unwrap_used)]

use super::super::{AfterHours, Config, Route};
use super::*;

/// Anna, Piotr, a Sales department, a trunk, and `extra` (scenarios and numbers).
fn config(extra: &str) -> Result<Config, ConfigError> {
    Config::from_toml(&format!(
        "[sip]\nlisten = '127.0.0.1:5060'\ndomain = 'cc.local'\n\
         [[employees]]\nid='anna'\nname='A'\nextension='201'\nsip_password='secret'\nrole='user'\n\
         [[employees]]\nid='piotr'\nname='P'\nextension='202'\nsip_password='secret'\nrole='user'\n\
         [[departments]]\nid='sales'\nname='S'\nextension='600'\nstrategy='sequential'\nmembers=['anna']\n\
         [[trunks]]\nid='pstn'\ntarget='127.0.0.1:5099'\n\
         [[schedules]]\nid='office'\nhours={{ mon = ['08:00-17:00'] }}\n\
         {extra}\n"
    ))
}

/// The example of the README.
const MAIN: &str = r#"
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
keys = { "1" = "sales", "2" = "operator" }
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
[[scenarios.operations]]
id = "note"
message = "anna"
[[scenarios.operations]]
id = "call-me"
callback = "sales"
"#;

const NUMBER: &str = "[[numbers]]\nnumber='48221234567'\nscenario='main'\n";

#[test]
fn the_example_parses_into_typed_operations() {
    let c = config(&format!("{MAIN}{NUMBER}")).unwrap();
    let main = c.scenario("main").unwrap();
    assert_eq!(main.start, "greet");
    let action = |id: &str| main.operation(id).unwrap().action().unwrap();
    assert_eq!(action("greet"), Action::Play("welcome"));
    let Action::Menu(menu) = action("menu") else {
        panic!("a menu")
    };
    assert_eq!((menu.timeout_seconds, menu.tries), (5, 3));
    assert_eq!(menu.invalid_prompt.as_deref(), Some("invalid-choice"));
    assert_eq!(main.operation("menu").unwrap().keys["2"], "operator");
    assert!(matches!(action("sales"), Action::Queue(q) if q.department == "sales"));
    assert!(matches!(action("operator"), Action::Dial(d) if d.employee == "anna"));
    assert!(matches!(action("out"), Action::Transfer(t) if t.trunk.is_none()));
    assert!(matches!(action("bye"), Action::Hangup(h) if h.prompt.as_deref() == Some("goodbye")));
    assert_eq!(c.numbers[0].scenario.as_deref(), Some("main"));
    assert_eq!(c.numbers[0].route, None);
}

#[test]
fn menu_timeout_and_tries_default_to_5_seconds_and_3() {
    let c = config(
        "[[scenarios]]\nid='m'\nstart='menu'\n\
         [[scenarios.operations]]\nid='menu'\nmenu={ prompt='main-menu' }\nkeys={ '1'='q' }\ndefault='q'\n\
         [[scenarios.operations]]\nid='q'\nqueue={ department='sales' }\n",
    )
    .unwrap();
    let Some(Action::Menu(m)) = c.scenarios[0].operations[0].action() else {
        panic!("a menu")
    };
    assert_eq!(
        (m.timeout_seconds, m.tries),
        (DEFAULT_MENU_TIMEOUT_SECONDS, DEFAULT_MENU_TRIES)
    );
}

#[test]
fn a_route_still_works_and_after_hours_may_name_a_scenario() {
    let c = config(&format!(
        "{MAIN}[[numbers]]\nnumber='1'\nroute={{ department = 'sales' }}\nschedule='office'\n\
         after_hours={{ scenario = 'main' }}\n"
    ))
    .unwrap();
    assert_eq!(c.numbers[0].route, Some(Route::Department("sales".into())));
    assert_eq!(
        c.numbers[0].after_hours,
        Some(AfterHours::Scenario("main".into()))
    );
}

#[test]
fn the_stored_form_round_trips() {
    let c = config(&format!("{MAIN}{NUMBER}")).unwrap();
    let json = serde_json::to_string(&c.scenarios).unwrap();
    let back: Vec<Scenario> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c.scenarios);
}

#[test]
fn every_mistake_is_refused_naming_its_path() {
    let op = |from: &str, to: &str| format!("{}{NUMBER}", MAIN.replacen(from, to, 1));
    let cases = [
        // Numbers: exactly one of route and scenario, naming what exists.
        (
            format!("{MAIN}[[numbers]]\nnumber='1'\n"),
            "numbers[0].route",
        ),
        (
            format!(
                "{MAIN}[[numbers]]\nnumber='1'\nscenario='main'\nroute={{ department = 'sales' }}\n"
            ),
            "numbers[0].scenario",
        ),
        (
            format!("{MAIN}[[numbers]]\nnumber='1'\nscenario='night'\n"),
            "numbers[0].scenario",
        ),
        (
            format!(
                "{MAIN}[[numbers]]\nnumber='1'\nscenario='main'\nschedule='office'\n\
                 after_hours={{ scenario = 'night' }}\n"
            ),
            "numbers[0].after_hours",
        ),
        // The scenario itself.
        (op("id = \"main\"", "id = \"ma in\""), "scenarios[0].id"),
        (
            op("start = \"greet\"", "start = \"hello\""),
            "scenarios[0].start",
        ),
        (
            format!(
                "{MAIN}{}{NUMBER}",
                MAIN.replace("start = \"greet\"", "start = \"menu\"")
            ),
            "scenarios[1].id",
        ),
        (
            op("id = \"menu\"", "id = \"greet\""),
            "scenarios[0].operations[1].id",
        ),
        // Edges name operations of the same scenario.
        (
            op("next = \"menu\"", "next = \"nowhere\""),
            "scenarios[0].operations[0].next",
        ),
        (op("next = \"menu\"", ""), "scenarios[0].operations[0].next"),
        (
            op("\"2\" = \"operator\"", "\"2\" = \"nobody\""),
            "scenarios[0].operations[1].keys.\"2\"",
        ),
        (
            op(
                "\"2\" = \"operator\"",
                "\"7\" = \"operator\", \"12\" = \"bye\"",
            ),
            "scenarios[0].operations[1].keys.\"12\"",
        ),
        (
            op("\"2\" = \"operator\"", "\"A\" = \"operator\""),
            "scenarios[0].operations[1].keys.\"A\"",
        ),
        (
            op("default = \"sales\"", "default = \"x\""),
            "scenarios[0].operations[1].default",
        ),
        (
            op("default = \"sales\"", ""),
            "scenarios[0].operations[1].default",
        ),
        (
            op("no_answer = \"bye\"", "no_answer = \"x\""),
            "scenarios[0].operations[3].no_answer",
        ),
        // Menu values.
        (
            op("timeout_seconds = 5", "timeout_seconds = 0"),
            "scenarios[0].operations[1].menu.timeout_seconds",
        ),
        (
            op("timeout_seconds = 5", "timeout_seconds = 61"),
            "scenarios[0].operations[1].menu.timeout_seconds",
        ),
        (
            op("tries = 3", "tries = 10"),
            "scenarios[0].operations[1].menu.tries",
        ),
        (
            op("tries = 3", "tries = 0"),
            "scenarios[0].operations[1].menu.tries",
        ),
        (
            op("prompt = \"main-menu\"", "prompt = \"main menu\""),
            "scenarios[0].operations[1].menu.prompt",
        ),
        (
            op("keys = { \"1\" = \"sales\", \"2\" = \"operator\" }", ""),
            "scenarios[0].operations[1].keys",
        ),
        // References outside the scenario.
        (
            op("department = \"sales\"", "department = \"hr\""),
            "scenarios[0].operations[2].queue.department",
        ),
        (
            op("employee = \"anna\"", "employee = \"zofia\""),
            "scenarios[0].operations[3].dial.employee",
        ),
        (
            op("number = \"+48600100200\"", "number = \"call me\""),
            "scenarios[0].operations[4].transfer.number",
        ),
        (
            op(
                "number = \"+48600100200\"",
                "number = \"1\", trunk = \"gsm\"",
            ),
            "scenarios[0].operations[4].transfer.trunk",
        ),
        (
            op("prompt = \"goodbye\"", "prompt = \"good bye\""),
            "scenarios[0].operations[5].hangup.prompt",
        ),
        // One kind per operation, and only the edges it takes.
        (
            op("play = \"welcome\"", "play = \"welcome\"\nhangup = {}"),
            "scenarios[0].operations[0]",
        ),
        (op("play = \"welcome\"", ""), "scenarios[0].operations[0]"),
        (
            op("no_answer = \"bye\"", "next = \"bye\""),
            "scenarios[0].operations[3].next",
        ),
        (
            op("no_answer = \"bye\"", "default = \"bye\""),
            "scenarios[0].operations[3].default",
        ),
        (
            op(
                "queue = { department = \"sales\", priority = 0 }",
                "queue = { department = \"sales\" }\nno_answer = \"bye\"",
            ),
            "scenarios[0].operations[2].no_answer",
        ),
        (
            op(
                "play = \"welcome\"",
                "play = \"welcome\"\nkeys = { \"1\" = \"bye\" }",
            ),
            "scenarios[0].operations[0].keys",
        ),
    ];
    for (text, field) in cases {
        let err = config(&text).unwrap_err().to_string();
        assert!(err.starts_with(field), "{field} not named in {err}");
    }
}

#[test]
fn a_transfer_without_any_trunk_is_refused() {
    let err = Config::from_toml(
        "[sip]\nlisten = '127.0.0.1:5060'\ndomain = 'cc.local'\n\
         [[scenarios]]\nid='out'\nstart='t'\n\
         [[scenarios.operations]]\nid='t'\ntransfer={ number='+48600100200' }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("scenarios[0].operations[0].transfer"),
        "{err}"
    );
}

#[test]
fn a_loop_of_prompts_is_refused_but_a_loop_through_a_menu_is_fine() {
    let plays = "[[scenarios]]\nid='loop'\nstart='a'\n\
         [[scenarios.operations]]\nid='a'\nplay='welcome'\nnext='b'\n\
         [[scenarios.operations]]\nid='b'\nplay='welcome'\nnext='c'\n\
         [[scenarios.operations]]\nid='c'\nplay='welcome'\nnext='a'\n";
    let err = config(plays).unwrap_err().to_string();
    assert!(err.starts_with("scenarios[0].operations[0].next"), "{err}");
    assert!(err.contains("a -> b -> c -> a"), "{err}");

    let own = "[[scenarios]]\nid='self'\nstart='a'\n\
         [[scenarios.operations]]\nid='a'\nplay='welcome'\nnext='a'\n";
    let err = config(own).unwrap_err().to_string();
    assert!(err.starts_with("scenarios[0].operations[0].next"), "{err}");

    // The menu waits for the caller each time round: not an endless prompt.
    let through_menu = "[[scenarios]]\nid='ok'\nstart='a'\n\
         [[scenarios.operations]]\nid='a'\nplay='welcome'\nnext='m'\n\
         [[scenarios.operations]]\nid='m'\nmenu={ prompt='main-menu' }\nkeys={ '9'='a' }\ndefault='a'\n";
    config(through_menu).unwrap();
}

#[test]
fn unknown_fields_in_operations_are_named() {
    let err = config(&MAIN.replacen("next = \"menu\"", "nxt = \"menu\"", 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nxt"), "{err}");
}

#[test]
fn the_readme_example_is_valid() {
    const README: &str = include_str!("../../../../../README.md");
    let block = README
        .split("```toml")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.trim_start().starts_with("[[scenarios]]"))
        .expect("the README shows a scenario");
    let c = config(&format!("{block}{NUMBER}")).unwrap();
    assert_eq!(
        c.scenarios[0],
        config(&format!("{MAIN}{NUMBER}")).unwrap().scenarios[0]
    );
}
