//! `cc.messages.v1.Messages` served on 127.0.0.1 (a free port) over the in-memory
//! coordinator and the demo organisation (employees anna, piotr, maria; departments sales,
//! support): messages are taken, listed, moved on and deleted with etags, watched, and a
//! voice message's recording is downloaded from the node's recordings directory. Bad
//! requests are refused with the status and a message that names the field.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cc_callback::Clock;
use cc_callback::messages::api::MessagesApi;
use cc_callback::messages::{Ingested, MessageStore, VoiceLeft};
use cc_cluster::{Coordinator, MemoryCoordinator};
use cc_common::Config;
use cc_common::config::{DEMO_TOML, fixed};
use cc_proto::events::v1 as events;
use cc_proto::messages::v1 as pb;
use cc_proto::messages::v1::messages_client::MessagesClient;
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;

/// Bounds each test (the real clock: gRPC goes through real sockets).
const WITHIN: Duration = Duration::from_secs(30);
/// How long a watcher waits for the next event.
const EVENT: Duration = Duration::from_secs(5);

/// A node's Messages API on 127.0.0.1:0, its store (to ingest voice messages as `ccd`
/// does) and a client.
async fn serve(recordings: &Path) -> (MessageStore, MessagesClient<Channel>) {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let config = fixed(Config::from_toml(DEMO_TOML).unwrap());
    let store = MessageStore::new(coordinator, config, Clock::system());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(MessagesApi::server(store.clone(), recordings));
    tokio::spawn(server.serve_with_incoming(TcpIncoming::from(listener)));
    let client = MessagesClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    (store, client)
}

fn take(recipient: &str, name: &str) -> pb::CreateMessageRequest {
    pb::CreateMessageRequest {
        recipient_id: recipient.into(),
        caller_name: name.into(),
        caller_position: "CFO".into(),
        company: "Nowak Sp. z o.o.".into(),
        substance: "About the March invoice.".into(),
        callback_number: "+48 22 123 45 67".into(),
        preferred_callback_time: Some(pb::PreferredCallbackTime {
            time: Some(pb::preferred_callback_time::Time::Text(
                "tomorrow morning".into(),
            )),
        }),
        deputy_id: "maria".into(),
        ..Default::default()
    }
}

fn update(m: &pb::Message) -> pb::UpdateMessageRequest {
    pb::UpdateMessageRequest {
        message_id: m.message_id.clone(),
        etag: m.etag.clone(),
        ..Default::default()
    }
}

async fn next_event(stream: &mut tonic::Streaming<pb::MessageEvent>) -> pb::MessageEvent {
    tokio::time::timeout(EVENT, stream.message())
        .await
        .expect("an event in time")
        .unwrap()
        .expect("the stream goes on")
}

/// Asserts `status` has `code` and its message contains `words`.
fn refused(status: &tonic::Status, code: Code, words: &str) {
    assert_eq!(status.code(), code, "{}", status.message());
    assert!(
        status.message().contains(words),
        "{:?} does not say {words:?}",
        status.message()
    );
}

#[tokio::test]
async fn messages_are_taken_listed_moved_on_with_etags_and_deleted() {
    tokio::time::timeout(WITHIN, async {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut client) = serve(dir.path()).await;

        let jan = client
            .create_message(take("anna", "Jan Nowak"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(jan.message_id.len(), 36, "a UUID was chosen");
        assert_eq!(jan.recipient_kind(), pb::RecipientKind::Employee);
        assert_eq!(jan.state(), pb::MessageState::New);
        assert_eq!(jan.source(), pb::Source::Api);
        assert_eq!(jan.callback_number, "+48221234567");
        assert_eq!(jan.deputy_id, "maria");
        assert!(jan.etag.starts_with('r'), "{}", jan.etag);
        assert!(jan.created_unix_ms > 0);
        let ewa = client
            .create_message(pb::CreateMessageRequest {
                message_id: "ewa-1".into(),
                ..take("sales", "Ewa Lis")
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ewa.recipient_kind(), pb::RecipientKind::Department);
        let taken = client
            .create_message(pb::CreateMessageRequest {
                message_id: "ewa-1".into(),
                ..take("sales", "Ewa Lis")
            })
            .await
            .unwrap_err();
        refused(&taken, Code::AlreadyExists, "message_id");

        // By recipient, and by state once one is read.
        let for_anna = client
            .list_messages(pb::ListMessagesRequest {
                recipient_id: "anna".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(for_anna.messages.len(), 1);
        assert_eq!(for_anna.messages[0].caller_name, "Jan Nowak");
        let read = client
            .update_message(pb::UpdateMessageRequest {
                state: pb::MessageState::Read.into(),
                substance: Some("About the March invoice; he called twice.".into()),
                ..update(&jan)
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read.state(), pb::MessageState::Read);
        assert_ne!(read.etag, jan.etag);
        assert_eq!(read.company, jan.company, "fields not given are kept");
        let new_ones = client
            .list_messages(pb::ListMessagesRequest {
                states: vec![pb::MessageState::New.into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let ids: Vec<&str> = new_ones
            .messages
            .iter()
            .map(|m| m.message_id.as_str())
            .collect();
        assert_eq!(ids, ["ewa-1"]);
        let all = client
            .list_messages(pb::ListMessagesRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(all.messages.len(), 2);
        assert!(all.next_page_token.is_empty());
        assert!(all.revision > 0);

        // The first etag is stale now: the edit is refused and changes nothing.
        let stale = client
            .update_message(pb::UpdateMessageRequest {
                state: pb::MessageState::Done.into(),
                ..update(&jan)
            })
            .await
            .unwrap_err();
        refused(&stale, Code::Aborted, "etag");
        assert!(
            stale.message().contains(&jan.etag) && stale.message().contains(&read.etag),
            "the refusal gives the etag sent and the current one: {}",
            stale.message()
        );
        let backwards = client
            .update_message(pb::UpdateMessageRequest {
                state: pb::MessageState::New.into(),
                ..update(&read)
            })
            .await
            .unwrap_err();
        refused(&backwards, Code::FailedPrecondition, "state");

        let gone = client
            .delete_message(pb::DeleteMessageRequest {
                message_id: jan.message_id.clone(),
                etag: jan.etag.clone(),
            })
            .await
            .unwrap_err();
        refused(&gone, Code::Aborted, "etag");
        client
            .delete_message(pb::DeleteMessageRequest {
                message_id: read.message_id.clone(),
                etag: read.etag.clone(),
            })
            .await
            .unwrap();
        let missing = client
            .get_message(pb::GetMessageRequest {
                message_id: jan.message_id.clone(),
            })
            .await
            .unwrap_err();
        refused(&missing, Code::NotFound, &jan.message_id);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_field() {
    tokio::time::timeout(WITHIN, async {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut client) = serve(dir.path()).await;
        let cases: Vec<(pb::CreateMessageRequest, &str)> = vec![
            (take("", "Jan"), "recipient_id: required"),
            (
                take("nobody", "Jan"),
                "recipient_id: \"nobody\" is neither an employee nor a department id",
            ),
            (
                pb::CreateMessageRequest {
                    callback_number: "12x".into(),
                    ..take("anna", "Jan")
                },
                "callback_number: invalid number \"12x\"",
            ),
            (
                pb::CreateMessageRequest {
                    substance: "x".repeat(4001),
                    ..take("anna", "Jan")
                },
                "substance: 4001 characters, at most 4000",
            ),
            (
                take("anna", &"n".repeat(201)),
                "caller_name: 201 characters",
            ),
            (
                pb::CreateMessageRequest {
                    deputy_id: "ghost".into(),
                    ..take("anna", "Jan")
                },
                "deputy_id: \"ghost\"",
            ),
            (
                pb::CreateMessageRequest {
                    message_id: "call-1".into(),
                    ..take("anna", "Jan")
                },
                "message_id: ",
            ),
            (
                pb::CreateMessageRequest {
                    preferred_callback_time: Some(pb::PreferredCallbackTime {
                        time: Some(pb::preferred_callback_time::Time::Window(
                            pb::CallbackWindow {
                                earliest_unix_ms: 2_000,
                                latest_unix_ms: 1_000,
                            },
                        )),
                    }),
                    ..take("anna", "Jan")
                },
                "preferred_callback_time: ",
            ),
        ];
        let unnamed = client
            .get_message(pb::GetMessageRequest::default())
            .await
            .unwrap_err();
        refused(&unnamed, Code::InvalidArgument, "message_id: required");
        for (request, words) in cases {
            let e = client.create_message(request).await.unwrap_err();
            refused(&e, Code::InvalidArgument, words);
        }
        let m = client
            .create_message(take("anna", "Jan"))
            .await
            .unwrap()
            .into_inner();
        let no_etag = client
            .update_message(pb::UpdateMessageRequest {
                etag: String::new(),
                ..update(&m)
            })
            .await
            .unwrap_err();
        refused(&no_etag, Code::InvalidArgument, "etag: etag is required");
        let bad_etag = client
            .delete_message(pb::DeleteMessageRequest {
                message_id: m.message_id.clone(),
                etag: "17".into(),
            })
            .await
            .unwrap_err();
        refused(&bad_etag, Code::InvalidArgument, "etag: \"17\"");
        let cleared = client
            .update_message(pb::UpdateMessageRequest {
                recipient_id: Some(String::new()),
                ..update(&m)
            })
            .await
            .unwrap_err();
        refused(&cleared, Code::InvalidArgument, "recipient_id");
        let too_big = client
            .list_messages(pb::ListMessagesRequest {
                page_size: 5000,
                ..Default::default()
            })
            .await
            .unwrap_err();
        refused(&too_big, Code::InvalidArgument, "page_size");
        let bad_token = client
            .list_messages(pb::ListMessagesRequest {
                page_token: "nonsense".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        refused(&bad_token, Code::InvalidArgument, "page_token");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_watcher_sees_new_changed_and_deleted_messages_and_resumes_from_a_revision() {
    tokio::time::timeout(WITHIN, async {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut client) = serve(dir.path()).await;
        let mut for_anna = client
            .watch_messages(pb::WatchMessagesRequest {
                recipient_id: "anna".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        client.create_message(take("sales", "Ewa")).await.unwrap();
        let jan = client
            .create_message(take("anna", "Jan"))
            .await
            .unwrap()
            .into_inner();
        let done = client
            .update_message(pb::UpdateMessageRequest {
                state: pb::MessageState::Done.into(),
                ..update(&jan)
            })
            .await
            .unwrap()
            .into_inner();
        client
            .delete_message(pb::DeleteMessageRequest {
                message_id: done.message_id.clone(),
                etag: done.etag.clone(),
            })
            .await
            .unwrap();

        // Sales' message is not anna's: the first event is anna's new one.
        let created = next_event(&mut for_anna).await;
        let Some(pb::message_event::Change::Created(m)) = &created.change else {
            panic!("expected a new message, got {created:?}");
        };
        assert_eq!(m.caller_name, "Jan");
        assert_eq!(m.etag, jan.etag);
        let updated = next_event(&mut for_anna).await;
        let Some(pb::message_event::Change::Updated(m)) = &updated.change else {
            panic!("expected a change, got {updated:?}");
        };
        assert_eq!(m.state(), pb::MessageState::Done);
        let deleted = next_event(&mut for_anna).await;
        assert_eq!(
            deleted.change,
            Some(pb::message_event::Change::DeletedMessageId(
                jan.message_id.clone()
            ))
        );
        assert!(created.revision < updated.revision && updated.revision < deleted.revision);

        // A watcher that lost its stream after the creation resumes from the next revision.
        let mut resumed = client
            .watch_messages(pb::WatchMessagesRequest {
                from_revision: created.revision + 1,
                recipient_id: "anna".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(next_event(&mut resumed).await.revision, updated.revision);
        assert_eq!(next_event(&mut resumed).await.revision, deleted.revision);
    })
    .await
    .unwrap();
}

/// A WAV of `data_bytes` of 8 kHz 16-bit mono silence-ish samples.
fn wav(data_bytes: u32) -> Vec<u8> {
    let mut w = Vec::with_capacity(44 + data_bytes as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_bytes.to_le_bytes());
    w.extend((0..data_bytes).map(|i| (i % 251) as u8));
    w
}

fn message_left(call: &str, path: &Path) -> events::MessageLeft {
    events::MessageLeft {
        call_id: call.into(),
        recipient_id: "support".into(),
        caller_number: "+48600100200".into(),
        recording_path: path.display().to_string(),
        seconds: 5.0,
        edge_node: "edge-a".into(),
    }
}

#[tokio::test]
async fn a_voice_message_is_kept_once_and_its_recording_downloads_in_chunks() {
    tokio::time::timeout(WITHIN, async {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut client) = serve(dir.path()).await;
        let path = dir.path().join("message-edge-a-1.wav");
        let bytes = wav(80_000);
        std::fs::write(&path, &bytes).unwrap();

        let event = message_left("edge-a-1", &path);
        let first = store
            .ingest(VoiceLeft::from_event(&event, 1_700_000_000_000))
            .await
            .unwrap();
        assert!(matches!(first, Ingested::Created(_)));
        let again = store
            .ingest(VoiceLeft::from_event(&event, 1_700_000_000_500))
            .await
            .unwrap();
        assert!(matches!(again, Ingested::Existing(_)), "{again:?}");
        let listed = client
            .list_messages(pb::ListMessagesRequest {
                recipient_id: "support".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.messages.len(), 1, "one message per call");
        let m = &listed.messages[0];
        assert_eq!(m.source(), pb::Source::Voice);
        assert_eq!(m.call_id, "edge-a-1");
        assert_eq!(m.caller_number, "+48600100200");
        assert_eq!(m.callback_number, "+48600100200");
        assert_eq!(m.edge_node, "edge-a");
        assert_eq!(
            m.created_unix_ms, 1_700_000_000_000,
            "the time the event says"
        );
        assert_eq!(m.recording.as_ref().unwrap().seconds, 5.0);

        let mut stream = client
            .get_message_recording(pb::GetMessageRecordingRequest {
                message_id: m.message_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut downloaded = Vec::new();
        let mut sizes = Vec::new();
        while let Some(chunk) = stream.message().await.unwrap() {
            assert_eq!(chunk.total_bytes, bytes.len() as u64);
            sizes.push(chunk.data.len());
            downloaded.extend_from_slice(&chunk.data);
        }
        assert_eq!(downloaded, bytes);
        assert_eq!(sizes, [32 * 1024, 32 * 1024, bytes.len() - 64 * 1024]);

        // A message taken through the API has no recording; a file gone is not found.
        let typed = client
            .create_message(take("anna", "Jan"))
            .await
            .unwrap()
            .into_inner();
        let none = client
            .get_message_recording(pb::GetMessageRecordingRequest {
                message_id: typed.message_id.clone(),
            })
            .await
            .unwrap_err();
        refused(&none, Code::NotFound, &typed.message_id);
        std::fs::remove_file(&path).unwrap();
        let missing = client
            .get_message_recording(pb::GetMessageRecordingRequest {
                message_id: m.message_id.clone(),
            })
            .await
            .unwrap_err();
        refused(&missing, Code::NotFound, &m.message_id);
        assert!(
            missing.message().contains("message-edge-a-1.wav"),
            "{}",
            missing.message()
        );
    })
    .await
    .unwrap();
}

/// A node's event stream as `WatchEvents` serves it: fixed events, from the sequence asked.
#[derive(Debug, Clone)]
struct FixedEvents(Vec<events::Event>);

#[tonic::async_trait]
impl events::events_server::Events for FixedEvents {
    type WatchEventsStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<events::Event, tonic::Status>> + Send>,
    >;

    async fn watch_events(
        &self,
        request: tonic::Request<events::WatchEventsRequest>,
    ) -> Result<tonic::Response<Self::WatchEventsStream>, tonic::Status> {
        assert!(request.get_ref().local_only, "only the node's own events");
        let from = request.get_ref().from_sequence;
        let replay: Vec<_> = self
            .0
            .iter()
            .filter(|e| e.sequence >= from)
            .cloned()
            .map(Ok)
            .collect();
        Ok(tonic::Response::new(Box::pin(tokio_stream::iter(replay))))
    }
}

#[tokio::test]
async fn message_left_events_of_the_node_become_one_message_per_call() {
    tokio::time::timeout(WITHIN, async {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut client) = serve(dir.path()).await;
        let event = |sequence, e| events::Event {
            sequence,
            unix_ms: 1_700_000_000_000 + sequence,
            event: Some(e),
            ..Default::default()
        };
        let left = |call: &str| {
            events::event::Event::MessageLeft(message_left(call, &dir.path().join("x.wav")))
        };
        let fixed = FixedEvents(vec![
            event(
                1,
                events::event::Event::CallStarted(events::CallStarted {
                    call_id: "edge-a-1".into(),
                    ..Default::default()
                }),
            ),
            event(2, left("edge-a-1")),
            // The same message reported twice (a replay): still one message.
            event(3, left("edge-a-1")),
            event(4, left("edge-a-2")),
        ]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(events::events_server::EventsServer::new(fixed))
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let (_stop, shutdown) = cc_common::Shutdown::new();
        let follower = cc_callback::messages::ingest::follow(store, channel, None, shutdown);

        let listed = loop {
            let listed = client
                .list_messages(pb::ListMessagesRequest::default())
                .await
                .unwrap()
                .into_inner();
            if listed.messages.len() >= 2 {
                break listed;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The follower has read every event by now (in order); a second look changes nothing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = client
            .list_messages(pb::ListMessagesRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.messages, listed.messages);
        let calls: Vec<&str> = listed.messages.iter().map(|m| m.call_id.as_str()).collect();
        assert_eq!(
            calls,
            ["edge-a-2", "edge-a-1"],
            "newest first, one per call"
        );
        follower.abort();
    })
    .await
    .unwrap();
}
