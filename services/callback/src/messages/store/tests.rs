//! The store on the in-memory coordinator, on tokio's paused clock (so creation times, and
//! with them the newest-first order, are the test's).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_cluster::MemoryCoordinator;
use cc_common::Config;
use cc_common::config::{DEMO_TOML, fixed};

use super::*;
use crate::messages::record::{Caller, Origin, Recipient};
use crate::messages::watch::{ChangeKind, watch};

const T0: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

fn store() -> MessageStore {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let config = fixed(Config::from_toml(DEMO_TOML).unwrap());
    MessageStore::new(coordinator, config, Clock::starting_at(T0))
}

fn new(recipient: &str, name: &str) -> NewMessage {
    NewMessage {
        recipient_id: recipient.into(),
        caller: Caller {
            name: name.into(),
            ..Caller::default()
        },
        substance: "please call back".into(),
        callback_number: "+48221234567".into(),
        ..NewMessage::default()
    }
}

fn id(s: &str) -> MessageId {
    MessageId::parse("message_id", s).unwrap()
}

async fn tick() {
    tokio::time::advance(Duration::from_secs(1)).await;
}

fn query() -> Query {
    Query {
        recipient_id: None,
        states: BTreeSet::new(),
        size: 100,
        after: None,
    }
}

fn ids(page: &Page) -> Vec<&str> {
    page.messages
        .iter()
        .map(|s| s.message.id.as_str())
        .collect()
}

fn voice(call: &str) -> VoiceLeft {
    VoiceLeft {
        call_id: call.into(),
        recipient_id: "anna".into(),
        caller_number: "+48600100200".into(),
        recording_path: format!("recordings/message-{call}.wav"),
        seconds: 4.0,
        edge_node: "edge-a".into(),
        at: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_created_message_is_read_back_with_its_etag() {
    let store = store();
    let created = store.create(id("m1"), new("anna", "Jan")).await.unwrap();
    assert!(created.created);
    assert_eq!(created.message.created, T0);
    let read = store.get(&id("m1")).await.unwrap();
    assert_eq!(read.message, created.message);
    assert_eq!(read.etag, created.etag);
    assert_eq!(Etag::parse(&read.etag.to_string()), Some(read.etag));
}

#[tokio::test(start_paused = true)]
async fn an_id_is_taken_once() {
    let store = store();
    store.create(id("m1"), new("anna", "Jan")).await.unwrap();
    let e = store
        .create(id("m1"), new("sales", "Ewa"))
        .await
        .unwrap_err();
    assert_eq!(e, MessageError::AlreadyExists(id("m1")));
    assert_eq!(
        store.get(&id("m1")).await.unwrap().message.caller.name,
        "Jan"
    );
    let e = store.get(&id("m2")).await.unwrap_err();
    assert_eq!(e, MessageError::NotFound(id("m2")));
}

#[tokio::test(start_paused = true)]
async fn a_refused_message_writes_nothing() {
    let store = store();
    let e = store
        .create(id("m1"), new("nobody", "Jan"))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        MessageError::Invalid {
            field: "recipient_id",
            ..
        }
    ));
    assert!(store.list(&query()).await.unwrap().messages.is_empty());
}

#[tokio::test(start_paused = true)]
async fn lists_are_newest_first_filtered_and_paged() {
    let store = store();
    for (n, recipient) in ["anna", "sales", "anna", "anna"].iter().enumerate() {
        store
            .create(id(&format!("m{n}")), new(recipient, "x"))
            .await
            .unwrap();
        tick().await;
    }
    let m2 = store.get(&id("m2")).await.unwrap();
    store
        .update(
            &id("m2"),
            m2.etag,
            Edit {
                state: Some(MessageState::Read),
                ..Edit::default()
            },
        )
        .await
        .unwrap();

    assert_eq!(
        ids(&store.list(&query()).await.unwrap()),
        ["m3", "m2", "m1", "m0"]
    );
    let anna = Query {
        recipient_id: Some("anna".into()),
        ..query()
    };
    assert_eq!(ids(&store.list(&anna).await.unwrap()), ["m3", "m2", "m0"]);
    let new_for_anna = Query {
        states: [MessageState::New].into(),
        ..anna.clone()
    };
    assert_eq!(ids(&store.list(&new_for_anna).await.unwrap()), ["m3", "m0"]);

    let mut pages = Vec::new();
    let mut page_query = Query { size: 2, ..query() };
    loop {
        let page = store.list(&page_query).await.unwrap();
        pages.push(ids(&page).join(","));
        match page.next {
            Some(next) => page_query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, ["m3,m2", "m1,m0"]);
}

#[tokio::test(start_paused = true)]
async fn an_update_with_a_stale_etag_is_refused_and_changes_nothing() {
    let store = store();
    let first = store.create(id("m1"), new("anna", "Jan")).await.unwrap();
    tick().await;
    let read = Edit {
        state: Some(MessageState::Read),
        ..Edit::default()
    };
    let second = store
        .update(&id("m1"), first.etag, read.clone())
        .await
        .unwrap();
    assert_eq!(second.message.state, MessageState::Read);
    assert!(second.etag > first.etag);
    assert_eq!(
        second.message.updated,
        T0.saturating_add(Duration::from_secs(1))
    );

    let e = store
        .update(
            &id("m1"),
            first.etag,
            Edit {
                substance: Some("lost edit".into()),
                ..Edit::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        MessageError::Conflict {
            id: id("m1"),
            given: first.etag,
            current: second.etag
        }
    );
    assert_eq!(store.get(&id("m1")).await.unwrap(), second_as_read(&second));
    let e = store.update(&id("m9"), first.etag, read).await.unwrap_err();
    assert_eq!(e, MessageError::NotFound(id("m9")));
}

/// What a get returns for a stored message (`created` is false after an update).
fn second_as_read(s: &Stored) -> Stored {
    Stored {
        created: false,
        ..s.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn a_delete_needs_the_current_etag() {
    let store = store();
    let first = store.create(id("m1"), new("anna", "Jan")).await.unwrap();
    let edit = Edit {
        company: Some("Acme".into()),
        ..Edit::default()
    };
    let second = store.update(&id("m1"), first.etag, edit).await.unwrap();
    let e = store.delete(&id("m1"), first.etag).await.unwrap_err();
    assert!(matches!(e, MessageError::Conflict { .. }), "{e}");
    store.delete(&id("m1"), second.etag).await.unwrap();
    assert_eq!(
        store.get(&id("m1")).await.unwrap_err(),
        MessageError::NotFound(id("m1"))
    );
    assert_eq!(
        store.delete(&id("m1"), second.etag).await.unwrap_err(),
        MessageError::NotFound(id("m1"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_repeated_message_left_event_keeps_one_message() {
    let store = store();
    let Ingested::Created(first) = store.ingest(voice("edge-a-1")).await.unwrap() else {
        panic!("the first event creates the message");
    };
    assert_eq!(first.message.id.as_str(), "call-edge-a-1");
    assert!(matches!(first.message.origin, Origin::Voice(_)));
    // Read in between: the repeated event changes nothing, not even the state.
    let read = store
        .update(
            &first.message.id,
            first.etag,
            Edit {
                state: Some(MessageState::Read),
                ..Edit::default()
            },
        )
        .await
        .unwrap();
    tick().await;
    let Ingested::Existing(again) = store.ingest(voice("edge-a-1")).await.unwrap() else {
        panic!("a repeated event must not create a second message");
    };
    assert_eq!(again.etag, read.etag);
    assert_eq!(again.message.state, MessageState::Read);
    store.ingest(voice("edge-a-2")).await.unwrap();
    let all = store.list(&query()).await.unwrap();
    assert_eq!(ids(&all), ["call-edge-a-2", "call-edge-a-1"]);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_value_is_skipped_by_lists_and_named_by_gets() {
    let store = store();
    store.create(id("m1"), new("anna", "Jan")).await.unwrap();
    store
        .coordinator()
        .put("/cc/messages/m0", b"{not json".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(ids(&store.list(&query()).await.unwrap()), ["m1"]);
    let e = store.get(&id("m0")).await.unwrap_err();
    assert!(matches!(e, MessageError::Unreadable { .. }), "{e}");
}

#[tokio::test(start_paused = true)]
async fn changes_are_watched_in_order_and_a_watch_resumes_from_a_revision() {
    let store = store();
    let mut changes = watch(store.coordinator(), 0).await.unwrap();
    let first = store.create(id("m1"), new("anna", "Jan")).await.unwrap();
    let second = store
        .update(
            &id("m1"),
            first.etag,
            Edit {
                state: Some(MessageState::Done),
                ..Edit::default()
            },
        )
        .await
        .unwrap();
    store.delete(&id("m1"), second.etag).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(changes.recv().await.unwrap().unwrap());
    }
    assert!(
        matches!(&seen[0].kind, ChangeKind::Created(m) if m.recipient == Recipient::Employee("anna".into()))
    );
    assert!(matches!(&seen[1].kind, ChangeKind::Updated(m) if m.state == MessageState::Done));
    assert_eq!(seen[2].kind, ChangeKind::Deleted(id("m1")));
    assert_eq!(seen[0].revision, first.etag.0);
    assert_eq!(seen[1].revision, second.etag.0);

    // From the update's revision on: the update and the deletion again.
    let mut resumed = watch(store.coordinator(), second.etag.0).await.unwrap();
    let again = resumed.recv().await.unwrap().unwrap();
    assert_eq!(again.revision, second.etag.0);
    let gone = resumed.recv().await.unwrap().unwrap();
    assert_eq!(gone.kind, ChangeKind::Deleted(id("m1")));
}
