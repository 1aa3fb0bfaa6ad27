//! Caller lists, caller rules, priorities and screening policies in the configuration: the
//! documented example parses, and every mistake is refused naming its path.
#![allow(clippy::unwrap_used)]

use super::super::Config;
use super::*;

/// Anna (the director), Piotr, Sales, a schedule, a scenario, and `extra`.
fn config(extra: &str) -> Result<Config, ConfigError> {
    Config::from_toml(&format!(
        "[sip]\nlisten = '127.0.0.1:5060'\ndomain = 'cc.local'\n\
         [[employees]]\nid='anna'\nname='A'\nextension='201'\nsip_password='secret'\nrole='user'\n\
         [[employees]]\nid='piotr'\nname='P'\nextension='202'\nsip_password='secret'\nrole='user'\n\
         [[departments]]\nid='sales'\nname='S'\nextension='600'\nstrategy='sequential'\nmembers=['piotr']\n\
         [[schedules]]\nid='lunch'\nhours={{ mon = ['12:00-13:00'] }}\n\
         [[scenarios]]\nid='message'\nstart='bye'\n[[scenarios.operations]]\nid='bye'\nhangup={{ prompt='leave-a-message' }}\n\
         {extra}\n"
    ))
}

/// The example of the README.
const EXAMPLE: &str = r#"
[[caller_lists]]
id = "key-clients"
name = "Key clients"
entries = ["+48221234567", "+4861*"]

[[caller_lists]]
id = "spam"
entries = ["+48800*", "anonymous"]

[[numbers]]
number = "+48221000000"
route = { employee = "anna" }
priority = 9
[[numbers.rules]]
callers = "spam"
goto = { hangup = "offers-by-email" }
[[numbers.rules]]
callers = "key-clients"
priority = 5

[[screening]]
employee = "anna"
dnd = "lunch"
vip = ["key-clients"]
never = ["spam"]
limited = [{ callers = "key-clients", schedule = "lunch" }]
anonymous = "decline"
declined = { employee = "piotr" }
"#;

#[test]
fn the_example_parses() {
    let c = config(EXAMPLE).unwrap();
    let spam = c.caller_list("spam").unwrap();
    let patterns: Vec<CallerPattern> = spam
        .entries
        .iter()
        .map(|e| CallerPattern::parse(e).unwrap())
        .collect();
    assert_eq!(
        patterns,
        [
            CallerPattern::Prefix("48800".into()),
            CallerPattern::Anonymous
        ]
    );
    let n = &c.numbers[0];
    assert_eq!(n.priority, 9);
    assert_eq!(
        n.rules[0].goto,
        Some(Destination::Hangup("offers-by-email".into()))
    );
    assert_eq!(n.rules[1].priority, Some(5));
    let policy = c.screening_of("anna").unwrap();
    assert_eq!(policy.anonymous, AnonymousPolicy::Decline);
    assert_eq!(policy.declined, Destination::Employee("piotr".into()));
    assert_eq!(policy.limited[0].schedule, "lunch");
    assert!(c.screening_of("piotr").is_none());
}

#[test]
fn messages_are_taken_for_employees_and_departments() {
    let c = config(
        "[[scenarios]]\nid='m'\nstart='m'\n[[scenarios.operations]]\nid='m'\nmessage='sales'\n\
         [[screening]]\nemployee='anna'\ndeclined={ message='anna' }\n",
    )
    .unwrap();
    assert_eq!(
        c.scenario("m").unwrap().operations[0].action(),
        Some(super::super::Action::Message("sales"))
    );
    assert_eq!(c.screening[0].declined, Destination::Message("anna".into()));
}

#[test]
fn a_policy_without_declined_ends_with_the_neutral_prompt() {
    let c = config("[[screening]]\nemployee='anna'\ndnd='lunch'\n").unwrap();
    assert_eq!(
        c.screening[0].declined,
        Destination::Hangup(DECLINED_PROMPT.into())
    );
    assert_eq!(c.screening[0].anonymous, AnonymousPolicy::Connect);
}

#[test]
fn caller_patterns_parse_numbers_prefixes_and_anonymous() {
    assert!(
        CallerPattern::parse("+48 22")
            .unwrap_err()
            .contains("+48 22")
    );
    assert_eq!(
        CallerPattern::parse("ANONYMOUS"),
        Ok(CallerPattern::Anonymous)
    );
    assert_eq!(
        CallerPattern::parse("0048221234567"),
        Ok(CallerPattern::Number("0048221234567".into()))
    );
    assert_eq!(
        CallerPattern::parse("+48*"),
        Ok(CallerPattern::Prefix("48".into()))
    );
    for bad in [
        "",
        "+",
        "*",
        "+*",
        "48*1",
        "1*2*",
        &"9".repeat(MAX_CALLER_DIGITS + 1),
    ] {
        assert!(CallerPattern::parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn mistakes_are_refused_naming_the_field() {
    let list = "[[caller_lists]]\nid='vip'\nentries=['+48600']\n";
    let cases = [
        (
            "[[caller_lists]]\nid='vip'\nentries=['+48 600']\n".to_owned(),
            "caller_lists[0].entries[0]",
        ),
        (format!("{list}{list}"), "caller_lists[1].id"),
        (
            "[[caller_lists]]\nid='v i p'\nentries=[]\n".into(),
            "caller_lists[0].id",
        ),
        (
            format!("{list}[[numbers]]\nnumber='1'\nroute={{ employee='anna' }}\npriority=10\n"),
            "numbers[0].priority",
        ),
        (
            format!(
                "{list}[[numbers]]\nnumber='1'\nroute={{ employee='anna' }}\nrules=[{{ callers='nobody', priority=1 }}]\n"
            ),
            "numbers[0].rules[0].callers",
        ),
        (
            format!(
                "{list}[[numbers]]\nnumber='1'\nroute={{ employee='anna' }}\nrules=[{{ callers='vip' }}]\n"
            ),
            "numbers[0].rules[0]",
        ),
        (
            format!(
                "{list}[[numbers]]\nnumber='1'\nroute={{ employee='anna' }}\nrules=[{{ callers='vip', goto={{ department='hr' }} }}]\n"
            ),
            "numbers[0].rules[0].goto",
        ),
        (
            format!(
                "{list}[[numbers]]\nnumber='1'\nroute={{ employee='anna' }}\nrules=[{{ callers='vip', priority=12 }}]\n"
            ),
            "numbers[0].rules[0].priority",
        ),
        (
            "[[screening]]\nemployee='nobody'\n".into(),
            "screening[0].employee",
        ),
        (
            "[[screening]]\nemployee='anna'\n[[screening]]\nemployee='anna'\n".into(),
            "screening[1].employee",
        ),
        (
            "[[screening]]\nemployee='anna'\ndnd='never'\n".into(),
            "screening[0].dnd",
        ),
        (
            format!("{list}[[screening]]\nemployee='anna'\nvip=['vip', 'gold']\n"),
            "screening[0].vip[1]",
        ),
        (
            "[[screening]]\nemployee='anna'\nnever=['spam']\n".into(),
            "screening[0].never[0]",
        ),
        (
            format!(
                "{list}[[screening]]\nemployee='anna'\nlimited=[{{ callers='vip', schedule='night' }}]\n"
            ),
            "screening[0].limited[0].schedule",
        ),
        (
            "[[screening]]\nemployee='anna'\ndeclined={ employee='anna' }\n".into(),
            "screening[0].declined",
        ),
        (
            "[[screening]]\nemployee='anna'\ndeclined={ scenario='nothing' }\n".into(),
            "screening[0].declined",
        ),
        (
            "[[scenarios]]\nid='back'\nstart='d'\n[[scenarios.operations]]\nid='d'\ndial={ employee='anna' }\n\
             [[screening]]\nemployee='anna'\ndeclined={ scenario='back' }\n"
                .into(),
            "screening[0].declined",
        ),
        (
            "[[screening]]\nemployee='anna'\ndeclined={ message='nobody' }\n".into(),
            "screening[0].declined",
        ),
        (
            "[[scenarios]]\nid='m'\nstart='m'\n[[scenarios.operations]]\nid='m'\nmessage='nobody'\n"
                .into(),
            "scenarios[1].operations[0].message",
        ),
        (
            "[[screening]]\nemployee='anna'\nanonymous='ignore'\n".into(),
            "ignore",
        ),
        (
            "[[employees]]\nid='boss'\nname='B'\nextension='209'\nsip_password='secret'\nrole='user'\npriority=11\n".into(),
            "employees[2].priority",
        ),
        (
            "[[scenarios]]\nid='q'\nstart='q'\n[[scenarios.operations]]\nid='q'\nqueue={ department='sales', priority=10 }\n".into(),
            "scenarios[1].operations[0].queue.priority",
        ),
    ];
    for (extra, field) in cases {
        let err = config(&extra).unwrap_err().to_string();
        assert!(err.contains(field), "{field} not named in {err}");
    }
}
