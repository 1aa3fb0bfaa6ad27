//! The media engine against SIPp: RTP from real callers is bridged, recorded and listened
//! to for DTMF. A small test UAS (`cc_tests::uas`) answers SIPp's INVITEs with SDP from
//! ccd's media engine, standing in for the call logic of sip-edge.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use cc_proto::media::internal::v1 as pb;
use cc_proto::media::internal::v1::media_event::Event;
use cc_tests::TempDir;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::sip::Transport;
use cc_tests::tools::{Capture, Sipp, require, run_bounded, sox_rms_db};
use cc_tests::uas::{Media, Uas, UasEvent, UasOptions, media_client};
use tokio::sync::mpsc;

/// Packets of `/usr/share/sip-tester/g711a.pcap` (7 s of PCMA in 30 ms packets).
const PCAP_AUDIO_PACKETS: usize = 236;
/// Packets of `dtmf_2833_1.pcap`: one digit, updates and three end packets.
const PCAP_DTMF_PACKETS: usize = 10;

/// Every media event of the node, forwarded into a channel the test can wait on.
async fn watch(media: &mut Media) -> mpsc::UnboundedReceiver<pb::MediaEvent> {
    let mut stream = media
        .watch_events(pb::WatchEventsRequest {})
        .await
        .unwrap()
        .into_inner();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(e)) = stream.message().await {
            if tx.send(e).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the first event `pick` accepts.
async fn wait_for<T>(
    events: &mut mpsc::UnboundedReceiver<pb::MediaEvent>,
    what: &str,
    timeout: Duration,
    mut pick: impl FnMut(&pb::MediaEvent) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(timeout, async {
        while let Some(e) = events.recv().await {
            if let Some(t) = pick(&e) {
                return Some(t);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(t)) => t,
        _ => panic!("no {what} event within {timeout:?}"),
    }
}

async fn answered(uas: &mut Uas) -> String {
    match uas.next("answered INVITE", Duration::from_secs(10)).await {
        UasEvent::Answered { endpoint_id, .. } => endpoint_id,
        other => panic!("expected an answered call, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sipp_callers_bridged_hear_each_others_audio_and_digits_and_are_recorded() {
    let node = Ccd::start(NodeConfig::default());
    let (first, last) = node.rtp_ports();
    let mut media = media_client(node.api_addr()).await;
    let mut events = watch(&mut media).await;
    // Everything ccd's endpoints send, counted on the wire.
    let capture = Capture::start(&format!("udp and src portrange {first}-{last}"));
    let mut uas = Uas::start(media.clone(), UasOptions { answer_together: 2 }).await;

    let callers: Vec<_> = (0..2)
        .map(|_| {
            let sipp = Sipp::new("uac_media_pcap.xml", uas.addr, Transport::Udp)
                .with_pcaps()
                .service("600")
                .timeout(Duration::from_secs(25));
            std::thread::spawn(move || sipp.run())
        })
        .collect();

    let a = answered(&mut uas).await;
    let b = answered(&mut uas).await;
    let bridged = media
        .bridge(pb::BridgeRequest {
            endpoint_id: a.clone(),
            other_endpoint_id: b.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(bridged.passthrough, "both callers speak PCMA");
    let mut metadata = HashMap::new();
    metadata.insert("call".to_owned(), "sipp-bridge".to_owned());
    media
        .start_recording(pb::StartRecordingRequest {
            endpoint_id: a.clone(),
            file_name: "bridged-call".into(),
            metadata,
        })
        .await
        .unwrap();
    // Both callers start their audio only once answered, i.e. once bridged.
    uas.answer_held_calls();

    // Each caller's RFC 4733 digit reaches the engine once.
    let mut digits = Vec::new();
    while digits.len() < 2 {
        let (ep, digit) = wait_for(
            &mut events,
            "digit",
            Duration::from_secs(20),
            |e| match &e.event {
                Some(Event::Digit(d)) => Some((e.endpoint_id.clone(), d.clone())),
                _ => None,
            },
        )
        .await;
        assert_eq!(digit.digit, "1");
        assert_eq!(digit.source, "rfc4733");
        digits.push(ep);
    }
    digits.sort();
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(digits, both, "one digit from each caller");

    for _ in 0..2 {
        match uas.next("BYE", Duration::from_secs(15)).await {
            UasEvent::Ended { .. } => {}
            other => panic!("expected a BYE, got {other:?}"),
        }
    }
    let stopped = media
        .stop_recording(pb::EndpointRef {
            endpoint_id: a.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stopped.seconds > 5.0, "recorded {} s", stopped.seconds);
    for ep in [&a, &b] {
        media
            .destroy_endpoint(pb::EndpointRef {
                endpoint_id: ep.clone(),
            })
            .await
            .unwrap();
    }
    for c in callers {
        let run = c.join().unwrap();
        assert!(run.all_calls_succeeded(), "{}", run.describe());
    }

    // Each caller received the other's whole pcap through the bridge, digit included.
    let packets = capture.stop();
    let mut per_destination: HashMap<u16, usize> = HashMap::new();
    for (_, dst) in &packets {
        *per_destination.entry(*dst).or_default() += 1;
    }
    let counts: Vec<usize> = per_destination.values().copied().collect();
    assert_eq!(counts.len(), 2, "packets went to {per_destination:?}");
    for n in counts {
        assert!(
            (PCAP_AUDIO_PACKETS..=PCAP_AUDIO_PACKETS + PCAP_DTMF_PACKETS).contains(&n),
            "a caller received {n} packets, expected the pcap's {PCAP_AUDIO_PACKETS} audio \
             and up to {PCAP_DTMF_PACKETS} DTMF packets: {per_destination:?}"
        );
    }

    // The recording holds both callers, one per channel.
    let path = wait_for(
        &mut events,
        "recording done",
        Duration::from_secs(10),
        |e| match &e.event {
            Some(Event::RecordingDone(r)) => Some(r.path.clone()),
            _ => None,
        },
    )
    .await;
    let path = std::path::PathBuf::from(path);
    for channel in [1, 2] {
        let rms = sox_rms_db(&path, Some(channel));
        assert!(rms > -40.0, "channel {channel} is silent: RMS {rms} dB");
    }
    let meta = std::fs::read_to_string(path.with_extension("json")).unwrap();
    assert!(meta.contains("sipp-bridge"), "{meta}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_band_dtmf_from_a_sipp_caller_is_collected() {
    let node = Ccd::start(NodeConfig::default());
    let mut media = media_client(node.api_addr()).await;
    let mut events = watch(&mut media).await;
    let mut uas = Uas::start(media.clone(), UasOptions { answer_together: 1 }).await;

    // Key 5 (770 Hz + 1336 Hz) for 200 ms in mu-law, made by sox as TESTING.md suggests.
    let dir = TempDir::new("inband");
    let tone = dir.path().join("tone.ul");
    let mut cmd = std::process::Command::new(require("sox", "sox"));
    cmd.args(["-n", "-r", "8000", "-c", "1", "-e", "mu-law", "-t", "ul"])
        .arg(&tone)
        .args([
            "synth", "0.2", "sine", "770", "sine", "1336", "channels", "1",
        ])
        .args(["pad", "0.3", "0.5"]);
    let made = run_bounded(cmd, Duration::from_secs(10));
    assert!(made.success(), "{}", made.describe());

    let sipp = Sipp::new("uac_inband_dtmf.xml", uas.addr, Transport::Udp)
        .file("tone.ul", &tone)
        .service("600");
    let caller = std::thread::spawn(move || sipp.run());
    let ep = answered(&mut uas).await;
    let collection = media
        .collect_digits(pb::CollectDigitsRequest {
            endpoint_id: ep.clone(),
            max_digits: 1,
            terminator: String::new(),
            first_digit_timeout_ms: 5000,
            inter_digit_timeout_ms: 2000,
            after_prompt: false,
        })
        .await
        .unwrap()
        .into_inner()
        .collection_id;
    let digit = wait_for(
        &mut events,
        "in-band digit",
        Duration::from_secs(8),
        |e| match &e.event {
            Some(Event::Digit(d)) if e.endpoint_id == ep => Some(d.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(
        (digit.digit.as_str(), digit.source.as_str()),
        ("5", "inband")
    );
    let done = wait_for(
        &mut events,
        "collect done",
        Duration::from_secs(5),
        |e| match &e.event {
            Some(Event::CollectDone(c)) if c.collection_id == collection => Some(c.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(done.digits, "5");
    assert_eq!(done.reason(), pb::collect_done::Reason::MaxDigits);
    let run = caller.join().unwrap();
    assert!(run.all_calls_succeeded(), "{}", run.describe());
}
