//! Messages (R-40) through a real `ccd all`: a message taken through
//! `cc.messages.v1.Messages` survives a restart on the same --data-dir (the in-memory
//! coordinator journals it there), a second node cannot take a data dir in use, and a voice
//! message a SIPp caller leaves is in the API with its recording, downloadable.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cc_proto::messages::v1 as pb;
use cc_proto::messages::v1::messages_client::MessagesClient;
use cc_tests::TempDir;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::org::run;
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;
use tonic::transport::Channel;

/// How long a node may take to stop on SIGTERM.
const STOP: Duration = Duration::from_secs(10);
/// Bounds the waits for the voice message.
const WITHIN: Duration = Duration::from_secs(20);

async fn messages(node: &Ccd) -> MessagesClient<Channel> {
    MessagesClient::connect(format!("http://{}", node.api_addr()))
        .await
        .unwrap()
}

fn jan() -> pb::CreateMessageRequest {
    pb::CreateMessageRequest {
        message_id: "jan-1".into(),
        recipient_id: "anna".into(),
        caller_name: "Jan Nowak".into(),
        caller_position: "CFO".into(),
        company: "Nowak Sp. z o.o.".into(),
        substance: "About the March invoice.".into(),
        callback_number: "+48 22 123 45 67".into(),
        preferred_callback_time: Some(pb::PreferredCallbackTime {
            time: Some(pb::preferred_callback_time::Time::Text("after 3 pm".into())),
        }),
        deputy_id: "piotr".into(),
    }
}

/// The message as it should read the same after a restart (etags are revisions of the
/// coordinator, which starts afresh).
fn without_etag(m: &pb::Message) -> pb::Message {
    pb::Message {
        etag: String::new(),
        ..m.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_taken_through_the_api_survives_a_restart_of_ccd_all() {
    let data = TempDir::new("ccd-messages-data");
    let config = NodeConfig::default().data_dir(data.path());

    let mut first = Ccd::start(config.clone());
    let mut client = messages(&first).await;
    let taken = client.create_message(jan()).await.unwrap().into_inner();
    let read = client
        .update_message(pb::UpdateMessageRequest {
            message_id: taken.message_id.clone(),
            etag: taken.etag.clone(),
            state: pb::MessageState::Read.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let doomed = client
        .create_message(pb::CreateMessageRequest {
            message_id: "doomed".into(),
            ..jan()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .delete_message(pb::DeleteMessageRequest {
            message_id: doomed.message_id.clone(),
            etag: doomed.etag.clone(),
        })
        .await
        .unwrap();
    drop(client);
    assert!(
        first.terminate(STOP).is_some(),
        "ccd did not stop\n{}",
        first.log_text()
    );
    let journal = std::fs::read_to_string(data.path().join("journal.jsonl")).unwrap();
    assert!(journal.contains("/cc/messages/jan-1"), "{journal}");

    let second = Ccd::start(config);
    let mut client = messages(&second).await;
    let after = client
        .list_messages(pb::ListMessagesRequest {
            recipient_id: "anna".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        after.messages.iter().map(without_etag).collect::<Vec<_>>(),
        [without_etag(&read)],
        "the read message is back, the deleted one is not\n{}",
        second.log_text()
    );
    // It can be moved on with the etag the new node gives.
    let done = client
        .update_message(pb::UpdateMessageRequest {
            message_id: read.message_id.clone(),
            etag: after.messages[0].etag.clone(),
            state: pb::MessageState::Done.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.state(), pb::MessageState::Done);
}

#[test]
fn a_second_node_refuses_a_data_dir_in_use() {
    let data = TempDir::new("ccd-messages-locked");
    let _first = Ccd::start(NodeConfig::default().data_dir(data.path()));
    let dir = TempDir::new("ccd-messages-second");
    let config = dir.write("ccd.toml", &NodeConfig::default().to_toml());
    let mut second = Command::new(cc_tests::ccd::ccd_binary())
        .args(["all", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data.path())
        .args(["--sip-listen", "127.0.0.1:0"])
        .args(["--api-listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + STOP;
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second ccd ran on a data dir in use");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("is in use by another ccd"),
        "the refusal says why: {stderr}"
    );
}

/// A number whose scenario takes a message for Anna.
const FOR_ANNA: &str = "48221110001";
const CUSTOMER: &str = "+48600700800";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_message_left_by_a_caller_is_listed_and_its_recording_downloads() {
    let node = Ccd::start(NodeConfig::default().toml(&format!(
        r#"
[[scenarios]]
id = "message-for-anna"
start = "take"
[[scenarios.operations]]
id = "take"
message = "anna"

[[numbers]]
number = "{FOR_ANNA}"
scenario = "message-for-anna"
"#
    )));
    let mut client = messages(&node).await;
    let mut watch = client
        .watch_messages(pb::WatchMessagesRequest {
            recipient_id: "anna".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Speaks after the tone and presses # 8 s in.
    let caller = Sipp::new("caller_message.xml", node.addr(), Transport::Udp)
        .service(FOR_ANNA)
        .caller(CUSTOMER)
        .with_pcaps()
        .file(
            "dtmf.pcap",
            Path::new("/usr/share/sip-tester/dtmf_2833_pound.pcap"),
        )
        .arg("-d")
        .arg("8000")
        .timeout(Duration::from_secs(60));
    let done = run(caller).await;
    assert!(
        done.all_calls_succeeded(),
        "{}\n--- ccd log ---\n{}",
        done.describe(),
        node.log_text()
    );

    // The recipient learns of it from the watch.
    let event = tokio::time::timeout(WITHIN, watch.message())
        .await
        .unwrap_or_else(|_| panic!("no new message for anna\n{}", node.log_text()))
        .unwrap()
        .unwrap();
    let Some(pb::message_event::Change::Created(m)) = event.change else {
        panic!("expected a new message: {event:?}");
    };
    assert_eq!(m.source(), pb::Source::Voice);
    assert_eq!(m.recipient_kind(), pb::RecipientKind::Employee);
    assert_eq!(m.caller_number, CUSTOMER);
    assert_eq!(m.callback_number, CUSTOMER);
    assert_eq!(m.state(), pb::MessageState::New);
    let recording = m.recording.clone().unwrap();
    assert!(recording.seconds > 1.0, "{} s", recording.seconds);
    let listed = client
        .list_messages(pb::ListMessagesRequest {
            recipient_id: "anna".into(),
            states: vec![pb::MessageState::New.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.messages.len(), 1);
    assert_eq!(listed.messages[0].message_id, m.message_id);

    let mut chunks = client
        .get_message_recording(pb::GetMessageRecordingRequest {
            message_id: m.message_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut wav = Vec::new();
    while let Some(chunk) = tokio::time::timeout(WITHIN, chunks.message())
        .await
        .unwrap()
        .unwrap()
    {
        assert!(chunk.data.len() <= 32 * 1024);
        wav.extend_from_slice(&chunk.data);
    }
    let on_disk = std::fs::read(&recording.path).unwrap();
    assert_eq!(wav, on_disk, "the download is the file");
    assert_eq!(&wav[..4], b"RIFF");
}
