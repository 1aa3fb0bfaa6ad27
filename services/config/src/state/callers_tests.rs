//! Caller lists, caller rules, priorities and screening policies in the store: they
//! survive storing, an older stored form still loads, what a rule or a policy names is kept
//! while in use, mistakes are named by field, and a change too large to store is refused
//! without changing anything.

#![allow(clippy::unwrap_used)]

use cc_common::config::{AnonymousPolicy, CallerRule, DEMO_TOML, LimitedCallers, Role, WeekHours};

use super::*;
use crate::ConfigStore;
use crate::store::MAX_STORED_BYTES;

fn demo() -> ConfigState {
    ConfigState::new(Config::from_toml(DEMO_TOML).unwrap()).unwrap()
}

fn list(id: &str, entries: &[&str]) -> CallerList {
    CallerList {
        id: id.into(),
        name: None,
        entries: entries.iter().map(|e| (*e).to_owned()).collect(),
    }
}

/// A policy protecting `employee` with nothing but the defaults.
fn policy(employee: &str) -> Screening {
    Screening {
        employee: employee.into(),
        dnd: None,
        vip: Vec::new(),
        never: Vec::new(),
        limited: Vec::new(),
        anonymous: AnonymousPolicy::Connect,
        announce: false,
        declined: Destination::Hangup("unavailable".into()),
    }
}

fn rule(callers: &str, goto: Option<Destination>, priority: Option<u8>) -> CallerRule {
    CallerRule {
        callers: callers.into(),
        goto,
        priority,
    }
}

fn schedule(id: &str) -> Schedule {
    Schedule {
        id: id.into(),
        timezone: None,
        hours: WeekHours {
            mon: vec!["09:00-11:00".into()],
            ..WeekHours::default()
        },
        holidays: Vec::new(),
        exceptions: Vec::new(),
    }
}

fn ewa() -> Employee {
    Employee {
        id: "ewa".into(),
        name: "Ewa".into(),
        extension: "204".into(),
        sip_password: "ewa-secret".into(),
        role: Role::User,
        mobile: None,
        priority: 0,
    }
}

/// The sales number with `rules`.
fn with_rules(s: &mut ConfigState, rules: Vec<CallerRule>) -> Result<Etag, StoreError> {
    let sales = s.get::<Number>("48221234567").unwrap();
    let number = Number {
        rules,
        ..sales.resource
    };
    s.update(number, sales.etag).map(|v| v.etag)
}

fn invalid(e: StoreError) -> (String, String) {
    match e {
        StoreError::Invalid { field, reason } => (field, reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn referenced_by(e: StoreError) -> String {
    match e {
        StoreError::Referenced { by, .. } => by,
        other => panic!("expected a reference, got {other:?}"),
    }
}

#[test]
fn caller_lists_rules_priorities_and_policies_survive_storing() {
    let mut s = demo();
    assert_eq!(
        s.create(list("key-clients", &["+4860*"])).unwrap().etag,
        Etag(2)
    );
    s.create(list("spam", &["+48700100200", "anonymous"]))
        .unwrap();
    s.create(schedule("meetings")).unwrap();
    s.create(ewa()).unwrap();
    let sales = s.get::<Number>("48221234567").unwrap();
    let number = Number {
        priority: 2,
        rules: vec![
            rule(
                "spam",
                Some(Destination::Hangup("send-an-email".into())),
                None,
            ),
            rule("key-clients", None, Some(7)),
        ],
        ..sales.resource
    };
    assert_eq!(s.update(number, sales.etag).unwrap().etag, Etag(6));
    let anna = s.get::<Employee>("anna").unwrap();
    let director = Employee {
        priority: 9,
        ..anna.resource
    };
    s.update(director, anna.etag).unwrap();
    let protect = Screening {
        dnd: Some("meetings".into()),
        vip: vec!["key-clients".into()],
        never: vec!["spam".into()],
        anonymous: AnonymousPolicy::Decline,
        declined: Destination::Employee("ewa".into()),
        ..policy("anna")
    };
    assert_eq!(s.create(protect.clone()).unwrap().etag, Etag(8));

    // Another node (or this one after a restart) reads back the same, etags included.
    let node = Config::from_toml(DEMO_TOML).unwrap();
    let again = ConfigState::from_stored(&s.to_stored(), &node).unwrap();
    assert_eq!(again.config().caller_lists, s.config().caller_lists);
    assert_eq!(
        again.get::<CallerList>("key-clients").unwrap().etag,
        Etag(2)
    );
    let policy = again.get::<Screening>("anna").unwrap();
    assert_eq!((policy.resource, policy.etag), (protect, Etag(8)));
    let number = again.get::<Number>("48221234567").unwrap().resource;
    assert_eq!(number.priority, 2);
    assert_eq!(number.rules, s.config().numbers[0].rules);
    assert_eq!(again.config().employee("anna").unwrap().priority, 9);
    assert_eq!(again.revision(), 8);
}

#[test]
fn a_configuration_stored_before_caller_lists_still_loads() {
    // What a node before caller lists stored has none of the new fields; nodes of that
    // age refuse unknown fields in a number or an employee, so they stay out at defaults.
    let stored = String::from_utf8(demo().to_stored()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&stored).unwrap();
    for field in ["caller_lists", "screening"] {
        assert!(value.get(field).is_none(), "{field} in {stored}");
    }
    assert!(!stored.contains("priority"), "{stored}");
    assert!(!stored.contains("rules"), "{stored}");
    let node = Config::from_toml(DEMO_TOML).unwrap();
    let again = ConfigState::from_stored(stored.as_bytes(), &node).unwrap();
    assert!(again.config().caller_lists.is_empty());
    assert!(again.config().screening.is_empty());
    assert_eq!(again.config().numbers[0].priority, 0);
}

#[test]
fn a_caller_list_a_rule_or_a_policy_uses_cannot_be_deleted() {
    let mut s = demo();
    s.create(list("spam", &["+48700*"])).unwrap();
    s.create(schedule("supplier-hours")).unwrap();
    with_rules(
        &mut s,
        vec![rule(
            "spam",
            Some(Destination::Hangup("goodbye".into())),
            None,
        )],
    )
    .unwrap();
    let err = s.delete::<CallerList>("spam", Etag(2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "caller list \"spam\" cannot be deleted: a rule of number \"48221234567\" is for \
         its callers; change that first"
    );
    with_rules(&mut s, Vec::new()).unwrap();

    // Named by a policy in each of its three lists, in turn.
    let cases = [
        (
            Screening {
                vip: vec!["spam".into()],
                ..policy("anna")
            },
            "vip",
        ),
        (
            Screening {
                never: vec!["spam".into()],
                ..policy("anna")
            },
            "never",
        ),
        (
            Screening {
                limited: vec![LimitedCallers {
                    callers: "spam".into(),
                    schedule: "supplier-hours".into(),
                }],
                ..policy("anna")
            },
            "limited",
        ),
    ];
    for (using, field) in cases {
        let etag = s.create(using).unwrap().etag;
        let by = referenced_by(s.delete::<CallerList>("spam", Etag(2)).unwrap_err());
        assert_eq!(
            by,
            format!("the screening policy of \"anna\" lists it in {field}")
        );
        s.delete::<Screening>("anna", etag).unwrap();
    }
    let revision = s.revision();
    s.delete::<CallerList>("spam", Etag(2)).unwrap();
    assert_eq!(s.revision(), revision + 1);
    assert!(s.config().caller_list("spam").is_none());
}

#[test]
fn a_rule_or_a_policy_naming_what_does_not_exist_is_refused_by_the_check_naming_the_field() {
    let mut s = demo();
    s.create(list("spam", &["+48700*"])).unwrap();
    let revision = s.revision();
    let (field, reason) =
        invalid(with_rules(&mut s, vec![rule("nope", None, Some(1))]).unwrap_err());
    assert_eq!(field, "number.rules[0].callers");
    assert_eq!(reason, "\"nope\" is not a caller list id");
    let cases = [
        (
            Screening {
                employee: "nobody".into(),
                ..policy("anna")
            },
            "screening_policy.employee",
            "\"nobody\" is not an employee id",
        ),
        (
            Screening {
                never: vec!["spam".into(), "nope".into()],
                ..policy("anna")
            },
            "screening_policy.never[1]",
            "\"nope\" is not a caller list id",
        ),
        (
            Screening {
                limited: vec![LimitedCallers {
                    callers: "spam".into(),
                    schedule: "nope".into(),
                }],
                ..policy("anna")
            },
            "screening_policy.limited[0].schedule",
            "\"nope\" is not a schedule id",
        ),
        (
            Screening {
                dnd: Some("nope".into()),
                ..policy("anna")
            },
            "screening_policy.dnd",
            "\"nope\" is not a schedule id",
        ),
        (
            Screening {
                declined: Destination::Employee("anna".into()),
                ..policy("anna")
            },
            "screening_policy.declined",
            "a turned-away call cannot go to the protected employee",
        ),
    ];
    for (bad, field, reason) in cases {
        assert_eq!(
            invalid(s.create(bad).unwrap_err()),
            (field.to_owned(), reason.to_owned())
        );
    }
    assert_eq!(s.revision(), revision, "nothing refused changed anything");

    // One policy per employee: the key is the employee.
    s.create(policy("anna")).unwrap();
    assert_eq!(
        s.create(policy("anna")).unwrap_err(),
        StoreError::AlreadyExists {
            kind: Kind::Screening,
            key: "anna".into()
        }
    );
}

#[test]
fn what_a_policy_or_a_rule_sends_calls_to_or_follows_cannot_be_deleted() {
    let mut s = demo();
    s.create(ewa()).unwrap();
    s.create(schedule("meetings")).unwrap();
    s.create(schedule("supplier-hours")).unwrap();
    s.create(list("suppliers", &["+4822555*"])).unwrap();
    s.create(Screening {
        dnd: Some("meetings".into()),
        limited: vec![LimitedCallers {
            callers: "suppliers".into(),
            schedule: "supplier-hours".into(),
        }],
        declined: Destination::Employee("ewa".into()),
        ..policy("maria")
    })
    .unwrap();
    with_rules(
        &mut s,
        vec![rule(
            "suppliers",
            Some(Destination::Department("support".into())),
            None,
        )],
    )
    .unwrap();
    let ewa_etag = s.get::<Employee>("ewa").unwrap().etag;
    let cases = [
        (
            s.delete::<Employee>("ewa", ewa_etag).unwrap_err(),
            "the screening policy of \"maria\" sends the calls it turns away to it",
        ),
        (
            s.delete::<Schedule>("meetings", Etag(3)).unwrap_err(),
            "the screening policy of \"maria\" follows it for do-not-disturb",
        ),
        (
            s.delete::<Schedule>("supplier-hours", Etag(4)).unwrap_err(),
            "the screening policy of \"maria\" puts callers on \"suppliers\" through by it",
        ),
        (
            s.delete::<Department>("support", Etag(1)).unwrap_err(),
            "number \"48221234567\" sends callers on \"suppliers\" to it",
        ),
    ];
    for (err, by) in cases {
        assert_eq!(referenced_by(err), by);
    }
    // Maria is a member of support: take her out, and her policy still protects her.
    let support = s.get::<Department>("support").unwrap();
    let without = Department {
        members: vec!["piotr".into()],
        ..support.resource
    };
    s.update(without, support.etag).unwrap();
    assert_eq!(
        referenced_by(s.delete::<Employee>("maria", Etag(1)).unwrap_err()),
        "a screening policy protects it"
    );
}

#[test]
fn bad_entries_and_priority_levels_are_named_on_the_written_resource() {
    let mut s = demo();
    let (field, reason) = invalid(
        s.create(list("spam", &["+48700100200", "12a", "anonymous"]))
            .unwrap_err(),
    );
    assert_eq!(field, "caller_list.entries[1]");
    assert!(reason.starts_with("\"12a\" is not a caller"), "{reason}");
    assert_eq!(
        invalid(s.create(list("no spaces", &[])).unwrap_err()).0,
        "caller_list.id"
    );
    let anna = s.get::<Employee>("anna").unwrap();
    let (field, reason) = invalid(
        s.update(
            Employee {
                priority: 10,
                ..anna.resource
            },
            anna.etag,
        )
        .unwrap_err(),
    );
    assert_eq!(
        (field.as_str(), reason.as_str()),
        ("employee.priority", "10 is not a priority level (0-9)")
    );
    let sales = s.get::<Number>("48221234567").unwrap();
    let (field, _) = invalid(
        s.update(
            Number {
                priority: 12,
                ..sales.resource
            },
            sales.etag,
        )
        .unwrap_err(),
    );
    assert_eq!(field, "number.priority");
    s.create(list("spam", &["+48700*"])).unwrap();
    let (field, reason) = invalid(with_rules(&mut s, vec![rule("spam", None, None)]).unwrap_err());
    assert_eq!(field, "number.rules[0]");
    assert!(reason.starts_with("say what the rule does"), "{reason}");
}

/// `n` distinct numbers of the same length (each takes 15 bytes stored).
fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+4822{i:07}")).collect()
}

#[tokio::test]
async fn a_change_too_large_to_store_is_refused_and_changes_nothing() {
    let store = ConfigStore::in_memory(Config::from_toml(DEMO_TOML).unwrap())
        .await
        .unwrap();
    let mut rx = store.subscribe();
    rx.borrow_and_update();
    // 110,000 numbers take 1.65 MB stored: over the limit.
    let huge = CallerList {
        id: "everyone".into(),
        name: None,
        entries: numbers(110_000),
    };
    let err = store.create(huge).await.unwrap_err();
    let StoreError::TooLarge { size, limit } = err else {
        panic!("expected TooLarge, got {err:?}");
    };
    assert_eq!(limit, MAX_STORED_BYTES);
    assert!(
        size > 110_000 * 15 && size < 110_000 * 15 + 10_000,
        "{size}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("{size} bytes")) && text.contains(&format!("{limit} bytes")),
        "{text}"
    );
    assert_eq!(store.revision(), 1);
    assert!(
        !rx.has_changed().unwrap(),
        "a refused change publishes nothing"
    );
    assert!(matches!(
        store.get::<CallerList>("everyone"),
        Err(StoreError::NotFound { .. })
    ));

    // A list that fits is taken; growing it beyond the limit is refused and keeps it.
    let fits = CallerList {
        id: "everyone".into(),
        name: None,
        entries: numbers(90_000),
    };
    let created = store.create(fits.clone()).await.unwrap();
    let grown = CallerList {
        entries: numbers(100_000),
        ..fits.clone()
    };
    assert!(matches!(
        store.update(grown, created.etag).await,
        Err(StoreError::TooLarge { .. })
    ));
    let kept = store.get::<CallerList>("everyone").unwrap();
    assert_eq!((kept.resource, kept.etag), (fits, created.etag));
}
