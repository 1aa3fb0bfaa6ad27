//! A WebRTC peer (aiortc, standing in for a browser agent) bridged to a plain RTP peer
//! through ccd's media engine: ICE-lite and DTLS-SRTP come up on the shared WebRTC port,
//! PCMU flows both ways without transcoding.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cc_proto::media::internal::v1 as pb;
use cc_proto::media::internal::v1::media_event::Event;
use cc_tests::TempDir;
use cc_tests::ccd::{Ccd, NodeConfig};
use cc_tests::tools::{require, run_bounded, sox_rms_db};
use cc_tests::uas::media_client;

/// Makes a tone file with sox: `-t ul` for raw mu-law, `.wav` for a WAV.
fn tone(path: &std::path::Path, freq: u32, seconds: f32, raw_ulaw: bool) {
    let mut cmd = Command::new(require("sox", "sox"));
    cmd.args(["-n", "-r", "8000", "-c", "1"]);
    if raw_ulaw {
        cmd.args(["-e", "mu-law", "-t", "ul"]);
    } else {
        cmd.args(["-b", "16"]);
    }
    cmd.arg(path).args([
        "synth",
        &seconds.to_string(),
        "sine",
        &freq.to_string(),
        "gain",
        "-6",
    ]);
    let run = run_bounded(cmd, Duration::from_secs(10));
    assert!(run.success(), "{}", run.describe());
}

fn rtp(seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiortc_peer_and_a_plain_rtp_peer_hear_each_other_over_pcmu() {
    browser_and_phone_hear_each_other(Offerer::Browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccd_offers_webrtc_to_a_browser_agent_and_bridges_it_to_a_phone() {
    browser_and_phone_hear_each_other(Offerer::Ccd).await;
}

/// Who makes the WebRTC offer: a browser calling in, or ccd calling a browser agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offerer {
    Browser,
    Ccd,
}

async fn browser_and_phone_hear_each_other(offerer: Offerer) {
    let python = require("python3", "python3");
    let check = run_bounded(
        {
            let mut c = Command::new(&python);
            c.args(["-c", "import aiortc"]);
            c
        },
        Duration::from_secs(30),
    );
    assert!(
        check.success(),
        "aiortc is missing (scripts/setup.sh installs it from PyPI): {}",
        check.describe()
    );
    let node = Ccd::start(NodeConfig::default());
    let mut media = media_client(node.api_addr()).await;
    let mut events = media
        .watch_events(pb::WatchEventsRequest {})
        .await
        .unwrap()
        .into_inner();

    let dir = TempDir::new("webrtc");
    let browser_tone = dir.path().join("browser.wav");
    tone(&browser_tone, 440, 6.0, false);
    let phone_tone = dir.path().join("phone.ul");
    tone(&phone_tone, 1000, 4.0, true);
    let recorded = dir.path().join("heard-by-browser.wav");

    let script = cc_tests::manifest_dir().join("webrtc/aiortc_peer.py");
    let mut browser = Command::new(&python)
        .arg(&script)
        .arg(&browser_tone)
        .arg(&recorded)
        .arg("3")
        .arg(match offerer {
            Offerer::Browser => "offer",
            Offerer::Ccd => "answer",
        })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(browser.stdout.take().unwrap()).lines();
    let send_line = |browser: &mut std::process::Child, sdp: &str| {
        let line = format!("{{\"sdp\": {sdp:?}}}\n");
        browser
            .stdin
            .as_mut()
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
    };

    // The browser's leg, ICE-lite on ccd's WebRTC port.
    let webrtc = match offerer {
        Offerer::Browser => {
            let offer = serde_like::parse(&lines.next().expect("an offer line").unwrap());
            assert!(offer.sdp.contains("PCMU"), "{}", offer.sdp);
            let created = media
                .create_endpoint(pb::CreateEndpointRequest {
                    remote_offer: offer.sdp.clone(),
                    near_endpoint_id: String::new(),
                    label: "aiortc".into(),
                    webrtc: false,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(
                created.local_sdp.contains("a=ice-lite"),
                "{}",
                created.local_sdp
            );
            assert_eq!(created.negotiated.as_ref().unwrap().codec, "PCMU");
            send_line(&mut browser, &created.local_sdp);
            created
        }
        Offerer::Ccd => {
            let created = media
                .create_endpoint(pb::CreateEndpointRequest {
                    remote_offer: String::new(),
                    near_endpoint_id: String::new(),
                    label: "aiortc agent".into(),
                    webrtc: true,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(
                created.negotiated.is_none(),
                "nothing is agreed before the answer"
            );
            send_line(&mut browser, &created.local_sdp);
            let answer = serde_like::parse(&lines.next().expect("an answer line").unwrap());
            let applied = media
                .set_remote_description(pb::SetRemoteDescriptionRequest {
                    endpoint_id: created.endpoint_id.clone(),
                    sdp: answer.sdp,
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(applied.negotiated.as_ref().unwrap().codec, "PCMU");
            created
        }
    };

    // The phone's leg: plain RTP to a socket of the test.
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = phone.local_addr().unwrap().port();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    );
    let rtp_leg = media
        .create_endpoint(pb::CreateEndpointRequest {
            remote_offer: sdp,
            near_endpoint_id: String::new(),
            label: "phone".into(),
            webrtc: false,
        })
        .await
        .unwrap()
        .into_inner();
    let bridged = media
        .bridge(pb::BridgeRequest {
            endpoint_id: webrtc.endpoint_id.clone(),
            other_endpoint_id: rtp_leg.endpoint_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(bridged.passthrough, "PCMU on both legs: no transcoding");
    let ccd_rtp = rtp_leg
        .local_sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|m| m.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap();

    let connected = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(e)) = events.message().await {
            if e.endpoint_id == webrtc.endpoint_id
                && let Some(Event::Ice(state)) = e.event
            {
                return state.connected;
            }
        }
        false
    })
    .await;
    assert_eq!(connected, Ok(true), "ICE and DTLS with aiortc come up");

    // The phone speaks (1 kHz) while listening to the browser (440 Hz).
    let tone = std::fs::read(&phone_tone).unwrap();
    let phone_task = tokio::task::spawn_blocking(move || {
        let mut heard = 0usize;
        let mut loud = 0usize;
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        for (i, chunk) in tone.chunks(160).enumerate() {
            let packet = rtp(i as u16, 160 * i as u32, chunk);
            phone.send_to(&packet, ("127.0.0.1", ccd_rtp)).unwrap();
            // Pace at 20 ms and read what arrived meanwhile.
            let due = start + Duration::from_millis(20 * (i as u64 + 1));
            phone
                .set_read_timeout(Some(
                    due.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1)),
                ))
                .unwrap();
            while let Ok((n, _)) = phone.recv_from(&mut buf) {
                heard += 1;
                // Mu-law silence is 0xFF/0x7F; a 440 Hz tone is far from it.
                if buf[12..n]
                    .iter()
                    .any(|&b| b != 0xFF && b != 0x7F && b != 0xFE)
                {
                    loud += 1;
                }
                if Instant::now() >= due {
                    break;
                }
            }
        }
        (heard, loud)
    });
    let (heard, loud) = phone_task.await.unwrap();

    let done = tokio::task::spawn_blocking(move || {
        let mut rest = Vec::new();
        for l in lines.map_while(Result::ok) {
            rest.push(l);
        }
        let status = browser.wait().unwrap();
        (status, rest)
    });
    let (status, rest) = tokio::time::timeout(Duration::from_secs(20), done)
        .await
        .expect("aiortc finishes")
        .unwrap();
    assert!(status.success(), "aiortc failed: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("\"done\"")), "{rest:?}");

    assert!(
        heard > 100 && loud > 100,
        "the phone heard {heard} packets ({loud} with sound) of the browser's 4 s"
    );
    let level = sox_rms_db(&recorded, None);
    assert!(
        level > -40.0,
        "the browser heard the phone at {level} dB RMS"
    );
}

/// The one JSON shape the script prints, read without a JSON dependency.
mod serde_like {
    pub struct Offer {
        pub sdp: String,
    }

    pub fn parse(line: &str) -> Offer {
        let start = line.find("\"sdp\": \"").expect("an sdp field") + 8;
        let mut sdp = String::new();
        let mut chars = line[start..].chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => sdp.push('\n'),
                    Some('r') => sdp.push('\r'),
                    Some(o) => sdp.push(o),
                    None => break,
                },
                c => sdp.push(c),
            }
        }
        Offer { sdp }
    }
}
