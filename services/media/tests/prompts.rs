//! Prompts reach the peer as exactly their G.711 encoding in one continuous RTP stream, a
//! looped prompt plays until stopped, and a leg's stream stays continuous when it switches
//! between prompts and a bridge.

#![allow(clippy::unwrap_used)]

mod common;

use cc_media::{MediaError, MediaEvent, PlayRequest, PromptStore};
use cc_media_core::FRAME_SAMPLES;
use cc_media_core::rtp::RtpHeader;
use common::{Leg, engine_with_prompts, next_event, ramp, ulaw_frames, wait_for};

/// 3.5 frames: the last one is padded.
const RAMP_SAMPLES: usize = FRAME_SAMPLES * 7 / 2;

fn store() -> PromptStore {
    let mut store = PromptStore::default();
    store.insert("ramp", ramp(RAMP_SAMPLES));
    store.insert("level", vec![4000; FRAME_SAMPLES * 2]);
    store
}

fn play(prompt: &str, looped: bool) -> PlayRequest {
    PlayRequest {
        prompts: vec![prompt.into()],
        looped,
        barge_in: false,
    }
}

/// Asserts `next` continues `prev` in one stream: same SSRC, next sequence number, later
/// timestamp (exactly one frame later when `frame_step`).
fn assert_follows(prev: &RtpHeader, next: &RtpHeader, frame_step: bool) {
    assert_eq!(next.ssrc, prev.ssrc, "one SSRC: {prev:?} -> {next:?}");
    assert_eq!(
        next.sequence,
        prev.sequence.wrapping_add(1),
        "consecutive sequence numbers: {prev:?} -> {next:?}"
    );
    let step = next.timestamp.wrapping_sub(prev.timestamp);
    if frame_step {
        assert_eq!(step, FRAME_SAMPLES as u32, "{prev:?} -> {next:?}");
    } else {
        assert!(
            (FRAME_SAMPLES as u32..8000 * 5).contains(&step),
            "the timestamp moves on by at least a frame: {prev:?} -> {next:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_played_prompt_arrives_as_its_exact_encoding_then_play_done() {
    let (engine, _dir) = engine_with_prompts(1, store());
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let (playback, duration_ms) = engine.play(leg.id, play("ramp", false)).await.unwrap();
    assert!(duration_ms > 0);

    let want = ulaw_frames(&ramp(RAMP_SAMPLES));
    assert_eq!(want.len(), RAMP_SAMPLES.div_ceil(FRAME_SAMPLES));
    let mut headers: Vec<RtpHeader> = Vec::new();
    for (i, frame) in want.iter().enumerate() {
        let (h, got) = leg.recv();
        assert_eq!(
            &got, frame,
            "frame {i} is the mu-law of the prompt's samples"
        );
        assert_eq!(h.payload_type, 0);
        assert_eq!(h.marker, i == 0, "the marker starts the talkspurt only");
        if let Some(prev) = headers.last() {
            assert_follows(prev, &h, true);
        }
        headers.push(h);
    }
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::PlayDone {
            endpoint: leg.id,
            playback,
            stopped: false
        }
    );

    // The next packet is the next prompt's first frame: nothing was sent past the end.
    let (playback, _) = engine.play(leg.id, play("level", false)).await.unwrap();
    let (h, got) = leg.recv();
    assert_eq!(got, ulaw_frames(&[4000; FRAME_SAMPLES])[0]);
    assert_follows(headers.last().unwrap(), &h, false);
    let (_, got) = leg.recv();
    assert_eq!(got, ulaw_frames(&[4000; FRAME_SAMPLES])[0]);
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::PlayDone {
            endpoint: leg.id,
            playback,
            stopped: false
        }
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looped_prompt_repeats_until_stopped() {
    let (engine, _dir) = engine_with_prompts(1, store());
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let (playback, duration_ms) = engine.play(leg.id, play("ramp", true)).await.unwrap();
    assert_eq!(duration_ms, 0, "a looped playback has no end");

    let frames = ulaw_frames(&ramp(RAMP_SAMPLES));
    let mut prev: Option<RtpHeader> = None;
    // Two and a half times the prompt: past its end, it starts over.
    for i in 0..frames.len() * 5 / 2 {
        let (h, got) = leg.recv();
        assert_eq!(got, frames[i % frames.len()], "packet {i}");
        if let Some(p) = prev {
            assert_follows(&p, &h, true);
        }
        prev = Some(h);
    }
    common::assert_no_event(&mut events, "a looped prompt never completes");
    engine.stop_play(leg.id).await.unwrap();
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::PlayDone {
            endpoint: leg.id,
            playback,
            stopped: true
        }
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playing_an_unknown_prompt_is_refused() {
    let (engine, _dir) = engine_with_prompts(1, store());
    let leg = Leg::create(&engine, 0).await;
    let err = engine.play(leg.id, play("nope", false)).await.unwrap_err();
    assert!(
        matches!(&err, MediaError::UnknownPrompt(p) if p == "nope"),
        "{err:?}"
    );
    let err = engine
        .play(
            leg.id,
            PlayRequest {
                prompts: vec!["ramp".into(), "nope".into()],
                looped: false,
                barge_in: false,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::UnknownPrompt(_)), "{err:?}");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_keeps_one_continuous_stream_across_prompt_bridge_and_prompt() {
    let (engine, _dir) = engine_with_prompts(1, store());
    let mut events = engine.subscribe();
    let (a, b) = (Leg::create(&engine, 0).await, Leg::create(&engine, 0).await);
    let prompt = ulaw_frames(&ramp(RAMP_SAMPLES));
    engine.play(a.id, play("ramp", true)).await.unwrap();
    let mut received: Vec<(RtpHeader, Vec<u8>)> = Vec::new();
    for _ in 0..3 {
        received.push(a.recv());
    }

    // Switch to the bridge: the prompt stops, B's audio follows in A's stream.
    assert!(engine.bridge(a.id, b.id).await.unwrap());
    wait_for(&mut events, "the prompt stopped by the bridge", |e| {
        matches!(e, MediaEvent::PlayDone { stopped: true, .. }).then_some(())
    })
    .await;
    let relayed = [0x42u8; 160];
    for _ in 0..5 {
        b.send_audio(&relayed);
    }
    // Frames sent before the bridge took over may still be in flight; then the relay.
    loop {
        let packet = a.recv();
        let is_relay = packet.1 == relayed;
        received.push(packet);
        if is_relay {
            break;
        }
    }
    for _ in 0..4 {
        let packet = a.recv();
        assert_eq!(packet.1, relayed);
        received.push(packet);
    }

    // And back to a prompt.
    engine.unbridge(a.id).await.unwrap();
    engine.play(a.id, play("level", false)).await.unwrap();
    let level = ulaw_frames(&[4000; FRAME_SAMPLES])[0].clone();
    for _ in 0..2 {
        let packet = a.recv();
        assert_eq!(packet.1, level);
        received.push(packet);
    }

    let kinds: Vec<char> = received
        .iter()
        .map(|(_, p)| match p {
            p if *p == relayed => 'r',
            p if *p == level => 'l',
            p if prompt.contains(p) => 'p',
            _ => '?',
        })
        .collect();
    let kinds: String = kinds.into_iter().collect();
    assert!(
        kinds.starts_with("ppp") && kinds.ends_with("prrrrrll") && !kinds.contains('?'),
        "prompt, then relay, then prompt: {kinds}"
    );
    for pair in received.windows(2) {
        assert_follows(&pair[0].0, &pair[1].0, false);
    }
    engine.shutdown();
}
