//! Caller lists and screening policies through `cc.config.v1.Configuration`: created,
//! read, listed, updated and deleted with etags; numbers given caller rules and priorities,
//! employees priorities; mistakes refused naming the request's field; a list kept while a
//! rule or a policy uses it; and a change too large to store refused with its size and the
//! limit, changing nothing.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cc_common::Config;
use cc_common::config::DEMO_TOML;
use cc_config::ConfigStore;
use cc_config::api::ConfigApi;
use cc_config::store::MAX_STORED_BYTES;
use cc_proto::config::v1 as pb;
use cc_proto::config::v1::configuration_server::Configuration;
use pb::destination::Target;
use tonic::{Code, Request, Response, Status};

async fn api() -> (ConfigApi, Arc<ConfigStore>) {
    let store = ConfigStore::in_memory(Config::from_toml(DEMO_TOML).unwrap())
        .await
        .unwrap();
    (ConfigApi::new(store.clone()), store)
}

fn list(id: &str, entries: &[&str]) -> pb::CallerList {
    pb::CallerList {
        id: id.into(),
        name: String::new(),
        entries: entries.iter().map(|e| (*e).to_owned()).collect(),
        etag: String::new(),
    }
}

fn to(target: Target) -> Option<pb::Destination> {
    Some(pb::Destination {
        target: Some(target),
    })
}

async fn create_list(api: &ConfigApi, l: pb::CallerList) -> Result<pb::CallerList, Status> {
    api.create_caller_list(Request::new(pb::CreateCallerListRequest {
        caller_list: Some(l),
    }))
    .await
    .map(Response::into_inner)
}

async fn create_policy(
    api: &ConfigApi,
    p: pb::ScreeningPolicy,
) -> Result<pb::ScreeningPolicy, Status> {
    api.create_screening_policy(Request::new(pb::CreateScreeningPolicyRequest {
        screening_policy: Some(p),
    }))
    .await
    .map(Response::into_inner)
}

async fn delete_list(api: &ConfigApi, id: &str, etag: &str) -> Result<(), Status> {
    api.delete_caller_list(Request::new(pb::DeleteCallerListRequest {
        id: id.into(),
        etag: etag.into(),
    }))
    .await
    .map(drop)
}

async fn sales_number(api: &ConfigApi) -> pb::Number {
    api.get_number(Request::new(pb::GetNumberRequest {
        number: "48221234567".into(),
    }))
    .await
    .unwrap()
    .into_inner()
}

async fn update_number(api: &ConfigApi, n: pb::Number) -> Result<pb::Number, Status> {
    api.update_number(Request::new(pb::UpdateNumberRequest { number: Some(n) }))
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn a_caller_list_is_created_read_listed_updated_and_deleted_with_etags() {
    let (api, _) = api().await;
    let spam = create_list(
        &api,
        pb::CallerList {
            name: "Known spam".into(),
            ..list("spam", &["+48700100200", "+4870*", "anonymous"])
        },
    )
    .await
    .unwrap();
    assert_eq!(spam.etag, "r2");
    let got = api
        .get_caller_list(Request::new(pb::GetCallerListRequest { id: "spam".into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, spam);
    let listed = api
        .list_caller_lists(Request::new(pb::ListCallerListsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (listed.caller_lists, listed.revision),
        (vec![spam.clone()], 2)
    );

    let update = |l: pb::CallerList| {
        let api = api.clone();
        async move {
            api.update_caller_list(Request::new(pb::UpdateCallerListRequest {
                caller_list: Some(l),
            }))
            .await
            .map(Response::into_inner)
        }
    };
    let more = update(pb::CallerList {
        entries: vec!["+4870*".into(), "+4880*".into()],
        ..spam.clone()
    })
    .await
    .unwrap();
    assert_eq!(more.etag, "r3");
    let stale = update(pb::CallerList {
        name: String::new(),
        ..spam.clone()
    })
    .await
    .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let no_etag = update(list("spam", &[])).await.unwrap_err();
    assert_eq!(no_etag.message(), "caller_list.etag: etag is required");

    assert_eq!(
        delete_list(&api, "spam", &spam.etag)
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );
    delete_list(&api, "spam", &more.etag).await.unwrap();
    let gone = api
        .get_caller_list(Request::new(pb::GetCallerListRequest { id: "spam".into() }))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(gone.message(), "caller list \"spam\" does not exist");
}

#[tokio::test]
async fn mistakes_are_refused_naming_the_field_of_the_request() {
    let (api, store) = api().await;
    let cases = [
        (
            create_list(&api, list("spam", &["+48700100200", "+48 700"])).await,
            "caller_list.entries[1]: \"+48 700\" is not a caller",
        ),
        (
            api.create_caller_list(Request::new(pb::CreateCallerListRequest {
                caller_list: None,
            }))
            .await
            .map(Response::into_inner),
            "caller_list: required",
        ),
    ];
    for (result, message) in cases {
        let err = result.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(message), "{err:?}");
    }
    let cases = [
        (
            pb::ScreeningPolicy {
                employee: "nobody".into(),
                ..Default::default()
            },
            "screening_policy.employee: \"nobody\" is not an employee id",
        ),
        (
            pb::ScreeningPolicy {
                employee: "anna".into(),
                vip: vec!["nope".into()],
                ..Default::default()
            },
            "screening_policy.vip[0]: \"nope\" is not a caller list id",
        ),
        (
            pb::ScreeningPolicy {
                employee: "anna".into(),
                declined: Some(pb::Destination { target: None }),
                ..Default::default()
            },
            "screening_policy.declined: a department, an employee, a scenario, a hangup \
             prompt, a message recipient or a callback is required",
        ),
        (
            pb::ScreeningPolicy {
                employee: "anna".into(),
                declined: to(Target::Employee("anna".into())),
                ..Default::default()
            },
            "screening_policy.declined: a turned-away call cannot go to the protected employee",
        ),
    ];
    for (policy, message) in cases {
        let err = create_policy(&api, policy).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(message), "{err:?}");
    }
    let number = sales_number(&api).await;
    let err = update_number(
        &api,
        pb::Number {
            rules: vec![pb::CallerRule {
                callers: "nope".into(),
                goto: None,
                priority: Some(3),
            }],
            ..number.clone()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message(),
        "number.rules[0].callers: \"nope\" is not a caller list id"
    );
    let err = update_number(
        &api,
        pb::Number {
            priority: 10,
            ..number
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message(),
        "number.priority: 10 is not a priority level (0-9)"
    );
    assert_eq!(store.revision(), 1, "nothing was accepted");
}

#[tokio::test]
async fn numbers_take_rules_and_priorities_and_a_policy_protects_an_employee() {
    let (api, store) = api().await;
    let spam = create_list(&api, list("spam", &["+48700*"])).await.unwrap();
    let clients = create_list(&api, list("key-clients", &["+4860*"]))
        .await
        .unwrap();
    let number = sales_number(&api).await;
    let rules = vec![
        pb::CallerRule {
            callers: "spam".into(),
            goto: to(Target::Hangup("send-an-email".into())),
            priority: None,
        },
        pb::CallerRule {
            callers: "key-clients".into(),
            goto: None,
            priority: Some(8),
        },
    ];
    let number = update_number(
        &api,
        pb::Number {
            priority: 2,
            rules: rules.clone(),
            ..number
        },
    )
    .await
    .unwrap();
    assert_eq!((number.priority, &number.rules), (2, &rules));
    assert_eq!(sales_number(&api).await, number);

    let anna = api
        .get_employee(Request::new(pb::GetEmployeeRequest { id: "anna".into() }))
        .await
        .unwrap()
        .into_inner();
    let anna = api
        .update_employee(Request::new(pb::UpdateEmployeeRequest {
            employee: Some(pb::Employee {
                priority: 9,
                ..anna
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(anna.priority, 9);
    assert_eq!(store.snapshot().employee("anna").unwrap().priority, 9);

    let policy = create_policy(
        &api,
        pb::ScreeningPolicy {
            employee: "anna".into(),
            vip: vec!["key-clients".into()],
            never: vec!["spam".into()],
            anonymous: pb::AnonymousPolicy::Decline.into(),
            declined: to(Target::Employee("piotr".into())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let listed = api
        .list_screening_policies(Request::new(pb::ListScreeningPoliciesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.screening_policies, std::slice::from_ref(&policy));
    let err = create_policy(
        &api,
        pb::ScreeningPolicy {
            employee: "anna".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    // The lists are kept while the rule and the policy use them.
    let err = delete_list(&api, "key-clients", &clients.etag)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        err.message(),
        "caller list \"key-clients\" cannot be deleted: a rule of number \"48221234567\" is \
         for its callers; change that first"
    );
    update_number(
        &api,
        pb::Number {
            rules: vec![],
            callback_abandoned: None,
            callback_missed: false,
            ..number
        },
    )
    .await
    .unwrap();
    let err = delete_list(&api, "spam", &spam.etag).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .contains("the screening policy of \"anna\" lists it in never"),
        "{err:?}"
    );

    // Without the never list, the policy is updated; deleted, it frees the lists.
    let policy = api
        .update_screening_policy(Request::new(pb::UpdateScreeningPolicyRequest {
            screening_policy: Some(pb::ScreeningPolicy {
                never: vec![],
                ..policy
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(policy.never.is_empty());
    delete_list(&api, "spam", &spam.etag).await.unwrap();
    let got = api
        .get_screening_policy(Request::new(pb::GetScreeningPolicyRequest {
            employee: "anna".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, policy);
    api.delete_screening_policy(Request::new(pb::DeleteScreeningPolicyRequest {
        employee: "anna".into(),
        etag: policy.etag,
    }))
    .await
    .unwrap();
    delete_list(&api, "key-clients", &clients.etag)
        .await
        .unwrap();
    assert!(store.snapshot().screening.is_empty());
}

#[tokio::test]
async fn a_list_too_large_to_store_is_refused_with_its_size_and_the_limit() {
    let (api, store) = api().await;
    let entries: Vec<String> = (0..120_000).map(|i| format!("+4822{i:07}")).collect();
    let err = create_list(
        &api,
        pb::CallerList {
            entries,
            ..list("everyone", &[])
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let message = err.message();
    assert!(
        message.starts_with("the configuration would take ")
            && message.contains(&format!("more than the limit of {MAX_STORED_BYTES} bytes")),
        "{message}"
    );
    assert_eq!(store.revision(), 1, "nothing changed");
    assert!(store.snapshot().caller_lists.is_empty());
}
