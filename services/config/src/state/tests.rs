//! The store's core on the demo organisation: revisions and etags, compare-and-swap
//! conflicts, validation naming the field, referential integrity, atomic refusals.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cc_common::config::{
    AfterHours, DEMO_TOML, Department, Employee, GreetingBand, Number, Role, Route, Schedule,
    Strategy, Trunk, WeekHours,
};

use super::*;
use crate::ConfigStore;

fn demo() -> ConfigState {
    ConfigState::new(Config::from_toml(DEMO_TOML).unwrap()).unwrap()
}

fn employee(id: &str, extension: &str) -> Employee {
    Employee {
        id: id.into(),
        name: id.to_uppercase(),
        extension: extension.into(),
        sip_password: format!("{id}-secret"),
        role: Role::User,
        mobile: None,
        priority: 0,
    }
}

fn department(id: &str, extension: &str, members: &[&str]) -> Department {
    Department {
        id: id.into(),
        name: id.to_uppercase(),
        extension: extension.into(),
        strategy: Strategy::RingAll,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        ring_seconds: 15,
        wrap_up_seconds: 0,
        last_agent_minutes: 0,
        last_agent_ring_seconds: 10,
        announce_seconds: 40,
        waiting_choices: false,
        schedule: None,
        callback_mode: Default::default(),
        callback_abandoned: false,
        record_calls: false,
    }
}

fn number(digits: &str, route: Route) -> Number {
    Number {
        number: digits.into(),
        route: Some(route),
        scenario: None,
        greeting: None,
        greetings: Vec::new(),
        schedule: None,
        after_hours: None,
        priority: 0,
        rules: Vec::new(),
        callback_abandoned: None,
        callback_missed: false,
    }
}

/// Open Monday 08:00-17:00 in the organisation's zone.
fn office(id: &str) -> Schedule {
    Schedule {
        id: id.into(),
        timezone: None,
        hours: WeekHours {
            mon: vec!["08:00-17:00".into()],
            ..WeekHours::default()
        },
        holidays: vec!["12-25".into()],
        exceptions: Vec::new(),
    }
}

fn invalid_field(e: StoreError) -> String {
    match e {
        StoreError::Invalid { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn the_loaded_configuration_is_revision_one_and_every_etag_is_r1() {
    let s = demo();
    assert_eq!(s.revision(), 1);
    let employees = s.list::<Employee>();
    assert_eq!(employees.len(), 3);
    assert!(employees.iter().all(|e| e.etag == Etag(1)));
    assert!(s.list::<Department>().iter().all(|d| d.etag == Etag(1)));
    assert_eq!(s.get::<Number>("48221234567").unwrap().etag, Etag(1));
}

#[test]
fn an_invalid_configuration_is_refused_at_start_naming_the_field() {
    let mut config = Config::from_toml(DEMO_TOML).unwrap();
    config.departments[1].members.push("nobody".into());
    let err = ConfigState::new(config).unwrap_err();
    assert_eq!(
        invalid_field(err.clone()),
        r#"departments["support"].members"#
    );
    assert!(
        err.to_string().contains("\"nobody\" is not an employee id"),
        "{err}"
    );
}

#[test]
fn each_accepted_change_is_the_next_revision_and_the_etag_of_what_changed() {
    let mut s = demo();
    let created = s.create(employee("ewa", "204")).unwrap();
    assert_eq!((created.etag, s.revision()), (Etag(2), 2));
    let anna = s.get::<Employee>("anna").unwrap();
    assert_eq!(anna.etag, Etag(1), "others keep their etag");
    let mut renamed = anna.resource.clone();
    renamed.name = "Anna K.".into();
    let updated = s.update(renamed, anna.etag).unwrap();
    assert_eq!(updated.etag, Etag(3));
    assert_eq!(s.get::<Employee>("anna").unwrap().etag, Etag(3));
    assert_eq!(s.config().employee("anna").unwrap().name, "Anna K.");
    s.delete::<Employee>("ewa", Etag(2)).unwrap();
    assert_eq!(s.revision(), 4);
    assert!(matches!(
        s.get::<Employee>("ewa"),
        Err(StoreError::NotFound {
            kind: Kind::Employee,
            ..
        })
    ));
    // Created again, it is a new resource with a new etag.
    assert_eq!(s.create(employee("ewa", "204")).unwrap().etag, Etag(5));
}

#[test]
fn two_admins_editing_the_same_resource_do_not_lose_an_update() {
    let mut s = demo();
    let first = s.get::<Department>("sales").unwrap();
    let second = s.get::<Department>("sales").unwrap();

    let mut a = first.resource.clone();
    a.ring_seconds = 20;
    s.update(a, first.etag).unwrap();

    let mut b = second.resource.clone();
    b.wrap_up_seconds = 30;
    let err = s.update(b, second.etag).unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            kind: Kind::Department,
            key: "sales".into(),
            given: Etag(1),
            current: Etag(2),
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("department \"sales\"") && text.contains("r1") && text.contains("r2"),
        "{text}"
    );
    let sales = s.get::<Department>("sales").unwrap().resource;
    assert_eq!((sales.ring_seconds, sales.wrap_up_seconds), (20, 5));
    // A delete with the stale etag is refused the same way.
    assert!(matches!(
        s.delete::<Department>("sales", Etag(1)),
        Err(StoreError::Conflict { .. })
    ));
}

#[test]
fn edits_of_different_resources_do_not_conflict() {
    let mut s = demo();
    let anna = s.get::<Employee>("anna").unwrap();
    let piotr = s.get::<Employee>("piotr").unwrap();
    s.update(anna.resource, anna.etag).unwrap();
    s.update(piotr.resource, piotr.etag).unwrap();
    assert_eq!(s.revision(), 3);
}

#[test]
fn create_of_an_existing_key_and_changes_to_missing_ones_are_refused() {
    let mut s = demo();
    assert_eq!(
        s.create(employee("anna", "299")).unwrap_err(),
        StoreError::AlreadyExists {
            kind: Kind::Employee,
            key: "anna".into()
        }
    );
    // A number is the same with or without its leading +.
    assert!(matches!(
        s.create(number("+48221234567", Route::Employee("anna".into()))),
        Err(StoreError::AlreadyExists {
            kind: Kind::Number,
            ..
        })
    ));
    assert!(matches!(
        s.update(employee("nobody", "299"), Etag(1)),
        Err(StoreError::NotFound {
            kind: Kind::Employee,
            ..
        })
    ));
    assert!(matches!(
        s.delete::<Trunk>("pstn", Etag(1)),
        Err(StoreError::NotFound {
            kind: Kind::Trunk,
            ..
        })
    ));
    assert_eq!(s.revision(), 1);
}

#[test]
fn validation_names_the_field_of_the_written_resource_or_of_the_other_entry_by_id() {
    let mut s = demo();
    let cases: Vec<(StoreError, &str)> = vec![
        (
            s.create(employee("ewa", "201")).unwrap_err(),
            "employee.extension",
        ),
        (
            s.create(Employee {
                sip_password: "abc".into(),
                ..employee("ewa", "204")
            })
            .unwrap_err(),
            "employee.sip_password",
        ),
        (
            s.create(department("hr", "800", &["nobody"])).unwrap_err(),
            "department.members",
        ),
        (
            s.create(Department {
                ring_seconds: 0,
                ..department("hr", "800", &["anna"])
            })
            .unwrap_err(),
            "department.ring_seconds",
        ),
        (
            s.create(number("123", Route::Department("hr".into())))
                .unwrap_err(),
            "number.route",
        ),
        (
            s.create(Number {
                greetings: vec![GreetingBand {
                    from: "25:00".into(),
                    greeting: "morning".into(),
                }],
                ..number("123", Route::Employee("anna".into()))
            })
            .unwrap_err(),
            "number.greetings[0].from",
        ),
        (
            s.create(Trunk {
                id: "bad id".into(),
                target: "127.0.0.1:5099".parse().unwrap(),
            })
            .unwrap_err(),
            "trunk.id",
        ),
        // The new employee takes the extension of the sales department: the check finds the
        // clash at the department, named by its id.
        (
            s.create(employee("ewa", "600")).unwrap_err(),
            r#"departments["sales"].extension"#,
        ),
    ];
    for (err, field) in cases {
        assert_eq!(invalid_field(err.clone()), field, "{err}");
        assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
    }
    let sales = s.get::<Department>("sales").unwrap();
    let mut bad = sales.resource.clone();
    bad.members = vec!["anna".into(), "anna".into()];
    let err = s.update(bad, sales.etag).unwrap_err();
    assert_eq!(invalid_field(err), "department.members");
    assert_eq!(s.revision(), 1, "nothing refused changed anything");
}

#[test]
fn a_refused_change_leaves_the_snapshot_untouched() {
    let mut s = demo();
    let before = s.config().clone();
    assert!(s.create(employee("ewa", "201")).is_err());
    assert!(Arc::ptr_eq(&before, s.config()));
    assert_eq!(s.list::<Employee>().len(), 3);
}

#[test]
fn what_is_still_referenced_cannot_be_deleted() {
    let mut s = demo();
    let err = s.delete::<Employee>("anna", Etag(1)).unwrap_err();
    assert_eq!(
        err,
        StoreError::Referenced {
            kind: Kind::Employee,
            key: "anna".into(),
            by: "department \"sales\" lists it in members".into(),
        }
    );
    assert!(
        err.to_string()
            .contains("employee \"anna\" cannot be deleted")
    );
    assert!(matches!(
        s.delete::<Department>("sales", Etag(1)),
        Err(StoreError::Referenced { by, .. }) if by == "number \"48221234567\" routes to it"
    ));

    // Take anna out of sales: the direct number still routes to her.
    let sales = s.get::<Department>("sales").unwrap();
    let mut without = sales.resource.clone();
    without.members = vec!["piotr".into()];
    s.update(without, sales.etag).unwrap();
    assert!(matches!(
        s.delete::<Employee>("anna", Etag(1)),
        Err(StoreError::Referenced { by, .. }) if by == "number \"48227654321\" routes to it"
    ));
    // Remove the number (found with its +) and she can go.
    let direct = s.get::<Number>("+48227654321").unwrap();
    s.delete::<Number>("+48227654321", direct.etag).unwrap();
    s.delete::<Employee>("anna", Etag(1)).unwrap();
    assert!(s.config().employee("anna").is_none());

    // Support is referenced by nothing.
    s.delete::<Department>("support", Etag(1)).unwrap();
    assert!(s.config().department("support").is_none());
}

#[test]
fn schedules_are_resources_that_numbers_follow_and_that_survive_storing() {
    let mut s = demo();
    assert_eq!(s.create(office("office")).unwrap().etag, Etag(2));
    let sales = s.get::<Number>("48221234567").unwrap();
    let scheduled = Number {
        schedule: Some("office".into()),
        after_hours: Some(AfterHours::Department("support".into())),
        ..sales.resource.clone()
    };
    assert_eq!(s.update(scheduled, sales.etag).unwrap().etag, Etag(3));

    // What the number refers to cannot go.
    assert!(matches!(
        s.delete::<Schedule>("office", Etag(2)),
        Err(StoreError::Referenced { kind: Kind::Schedule, by, .. })
            if by == "number \"48221234567\" follows it"
    ));
    assert!(matches!(
        s.delete::<Department>("support", Etag(1)),
        Err(StoreError::Referenced { by, .. })
            if by == "number \"48221234567\" routes to it after hours"
    ));

    // Bad fields are named on the written resource, other entries by key.
    let mut bad = office("shop");
    bad.hours.mon = vec!["08:00-12:00".into(), "11:00-13:00".into()];
    assert_eq!(
        invalid_field(s.create(bad).unwrap_err()),
        "schedule.hours.mon[1]"
    );
    let unknown = Number {
        schedule: Some("shop".into()),
        after_hours: Some(AfterHours::Hangup("closed".into())),
        ..number("123", Route::Department("sales".into()))
    };
    assert_eq!(
        invalid_field(s.create(unknown).unwrap_err()),
        "number.schedule"
    );
    let mut no_hours = s.get::<Number>("48221234567").unwrap();
    no_hours.resource.after_hours = None;
    assert_eq!(
        invalid_field(s.update(no_hours.resource, no_hours.etag).unwrap_err()),
        "number.after_hours"
    );

    // Stored and read back by another node: the same schedules, numbers and etags.
    let node = Config::from_toml(DEMO_TOML).unwrap();
    let again = ConfigState::from_stored(&s.to_stored(), &node).unwrap();
    assert_eq!(again.config().schedules, s.config().schedules);
    assert_eq!(again.get::<Schedule>("office").unwrap().etag, Etag(2));
    let number = again.get::<Number>("48221234567").unwrap();
    assert_eq!(number.etag, Etag(3));
    assert_eq!(number.resource.schedule.as_deref(), Some("office"));
}

#[test]
fn a_configuration_without_schedules_is_stored_as_before_them() {
    // Nodes that predate schedules refuse unknown fields in a number: leave them out.
    let stored = String::from_utf8(demo().to_stored()).unwrap();
    assert!(!stored.contains("schedule"), "{stored}");
    assert!(!stored.contains("after_hours"), "{stored}");
    let node = Config::from_toml(DEMO_TOML).unwrap();
    let again = ConfigState::from_stored(stored.as_bytes(), &node).unwrap();
    assert!(again.config().schedules.is_empty());
    assert!(
        !stored.contains("scenario"),
        "likewise for scenarios: {stored}"
    );
}

#[test]
fn scenarios_are_resources_that_numbers_walk_and_that_survive_storing() {
    let mut s = demo();
    let menu = Config::from_toml(&format!(
        "{DEMO_TOML}[[scenarios]]\nid = 'main'\nstart = 'menu'\n\
         [[scenarios.operations]]\nid = 'menu'\nmenu = {{ prompt = 'enter-extension' }}\n\
         keys = {{ '1' = 'sales' }}\ndefault = 'sales'\n\
         [[scenarios.operations]]\nid = 'sales'\nqueue = {{ department = 'sales' }}\n"
    ))
    .unwrap()
    .scenarios
    .remove(0);
    assert_eq!(s.create(menu.clone()).unwrap().etag, Etag(2));
    let sales = s.get::<Number>("48221234567").unwrap();
    let walking = Number {
        route: None,
        scenario: Some("main".into()),
        ..sales.resource.clone()
    };
    assert_eq!(s.update(walking, sales.etag).unwrap().etag, Etag(3));
    assert!(matches!(
        s.delete::<Scenario>("main", Etag(2)),
        Err(StoreError::Referenced { kind: Kind::Scenario, by, .. })
            if by == "number \"48221234567\" walks it"
    ));

    let node = Config::from_toml(DEMO_TOML).unwrap();
    let again = ConfigState::from_stored(&s.to_stored(), &node).unwrap();
    assert_eq!(again.config().scenarios, [menu]);
    assert_eq!(again.get::<Scenario>("main").unwrap().etag, Etag(2));
    let number = again.get::<Number>("48221234567").unwrap();
    assert_eq!(number.resource.scenario.as_deref(), Some("main"));
    assert_eq!(number.resource.route, None);
}

#[test]
fn the_sip_password_is_kept_when_an_update_leaves_it_empty() {
    let mut s = demo();
    let anna = s.get::<Employee>("anna").unwrap();
    let mut edit = anna.resource.clone();
    edit.sip_password = String::new();
    edit.mobile = None;
    let updated = s.update(edit, anna.etag).unwrap();
    assert_eq!(updated.resource.sip_password, "anna-secret");
    assert_eq!(
        s.config().employee("anna").unwrap().sip_password,
        "anna-secret"
    );
    assert_eq!(s.config().employee("anna").unwrap().mobile, None);

    let mut edit = updated.resource.clone();
    edit.sip_password = "new-secret".into();
    s.update(edit, updated.etag).unwrap();
    assert_eq!(
        s.config().employee("anna").unwrap().sip_password,
        "new-secret"
    );
}

#[tokio::test]
async fn the_store_publishes_every_accepted_snapshot_and_nothing_else() {
    let store = ConfigStore::in_memory(Config::from_toml(DEMO_TOML).unwrap())
        .await
        .unwrap();
    let mut rx = store.subscribe();
    assert_eq!(rx.borrow_and_update().employees.len(), 3);

    assert!(store.create(employee("ewa", "201")).await.is_err());
    assert!(
        !rx.has_changed().unwrap(),
        "a refused change publishes nothing"
    );

    store.create(employee("ewa", "204")).await.unwrap();
    assert!(rx.has_changed().unwrap());
    assert!(rx.borrow_and_update().employee("ewa").is_some());
    assert_eq!(store.revision(), 2);
    let (list, revision) = store.list::<Employee>();
    assert_eq!((list.len(), revision), (4, 2));
    assert!(Arc::ptr_eq(&store.snapshot(), &rx.borrow()));
}
