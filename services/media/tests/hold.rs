//! Hold by re-offer: an inactive stream sends nothing and raises no RTP timeout; taking the
//! call off hold resumes the relay in the same outgoing stream.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use cc_media::{MediaEngine, MediaEvent, PromptStore};
use cc_sip::sdp::{Direction, SessionDescription};
use common::{Leg, TempDir, config, wait_for};

/// The peer's re-offer of PCMU with `direction` (a new session version).
fn reoffer(leg: &Leg, direction: &str, version: u32) -> SessionDescription {
    let port = leg.peer.addr().port();
    let sdp = format!(
        "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n"
    );
    SessionDescription::parse_bytes(sdp.as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_hold_is_silent_without_timing_out_and_resumes_in_the_same_stream() {
    let dir = TempDir::new();
    let mut cfg = config(1, &dir);
    cfg.rtp_timeout_secs = 1;
    let engine = MediaEngine::start(cfg, Some(PromptStore::default())).unwrap();
    let mut events = engine.subscribe();
    let caller = Leg::create(&engine, 0).await;
    let agent = Leg::create(&engine, 0).await;
    engine.bridge(caller.id, agent.id).await.unwrap();
    agent.send_audio(&[0x11; 160]);
    let (before, _) = caller.peer.recv();

    // The caller's phone puts the call on hold: nothing flows either way.
    let held = engine
        .set_remote_description(caller.id, reoffer(&caller, "inactive", 2))
        .await
        .unwrap();
    let answer = held.local_sdp.expect("a re-offer is answered");
    assert!(answer.to_string().contains("a=inactive"), "{answer}");
    assert_eq!(held.negotiated.unwrap().direction, Direction::Inactive);
    agent.send_audio(&[0x22; 160]);
    caller
        .peer
        .socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        caller.peer.socket.recv_from(&mut buf).is_err(),
        "nothing is sent to a party that put the call on hold"
    );
    // The held side sends nothing for longer than the RTP timeout: that is not a dead call.
    let timed_out = tokio::time::timeout(
        Duration::from_millis(1800),
        wait_for(&mut events, "RtpTimeout", |e| match e {
            MediaEvent::RtpTimeout { endpoint, .. } if *endpoint == caller.id => Some(()),
            _ => None,
        }),
    )
    .await;
    assert!(timed_out.is_err(), "no RTP timeout while on hold");

    // Off hold: the relay resumes in the same outgoing stream (one SSRC, next number).
    engine
        .set_remote_description(caller.id, reoffer(&caller, "sendrecv", 3))
        .await
        .unwrap();
    caller
        .peer
        .socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    agent.send_audio(&[0x33; 160]);
    let (after, payload) = caller.peer.recv();
    assert_eq!(payload, [0x33; 160]);
    assert_eq!(after.ssrc, before.ssrc);
    assert_eq!(after.sequence, before.sequence.wrapping_add(1));
    assert!(after.marker, "a new talkspurt after the hold");
    engine.shutdown();
}
