//! Announced transfer: what the caller said, recorded on the caller's endpoint, is
//! played to another endpoint with a `recording:<file>` entry of Play, as the recording's
//! left channel only, for exactly its length; entries that escape recordings_dir, name no
//! readable recording or a recording still under way are refused.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use cc_media::{MediaError, MediaEvent, PlayRequest, PromptStore};
use cc_media_core::FRAME_SAMPLES;
use cc_media_core::g711::linear_to_ulaw;
use common::{Leg, TempDir, engine_with_prompts, ulaw_frames, wait_for};

/// What the caller's endpoint hears while it is recorded (the right channel).
const HUM: i16 = -4000;
/// What the caller says (the left channel).
const SPEECH: i16 = 8000;
const BEEP: i16 = 2000;

fn store() -> PromptStore {
    let mut store = PromptStore::default();
    store.insert("hum", vec![HUM; FRAME_SAMPLES * 2]);
    store.insert("beep", vec![BEEP; FRAME_SAMPLES]);
    store
}

fn play(prompts: &[&str]) -> PlayRequest {
    PlayRequest {
        prompts: prompts.iter().map(|p| p.to_string()).collect(),
        looped: false,
        barge_in: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_recorded_words_play_to_another_leg_for_their_length() {
    let (engine, _dir) = engine_with_prompts(1, store());
    let mut events = engine.subscribe();
    let (caller, callee) = (Leg::create(&engine, 0).await, Leg::create(&engine, 0).await);

    // "Please say your name after the tone": the caller hears a prompt while it speaks.
    engine
        .play(
            caller.id,
            PlayRequest {
                looped: true,
                ..play(&["hum"])
            },
        )
        .await
        .unwrap();
    engine
        .start_recording(caller.id, Some("announce-1".into()), BTreeMap::new())
        .await
        .unwrap();
    let speech = linear_to_ulaw(SPEECH);
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..50 {
        pace.tick().await;
        caller.send_audio(&[speech; FRAME_SAMPLES]);
    }
    let (path, seconds) = engine.stop_recording(caller.id).await.unwrap();
    engine.stop_play(caller.id).await.unwrap();

    // Played at once, by the path StopRecording returned.
    let entry = format!("recording:{}", path.display());
    let (playback, duration_ms) = engine.play(callee.id, play(&[&entry])).await.unwrap();
    assert_eq!(
        duration_ms,
        (seconds * 1000.0).round() as u64,
        "the playback lasts as long as the recording"
    );
    assert!(
        (800..3000).contains(&duration_ms),
        "about the second spoken: {duration_ms} ms"
    );

    // One packet per 20 ms of the recording: the caller's words and the silence around
    // them, never what the caller heard.
    let (said, silence, heard) = (
        ulaw_frames(&[cc_media_core::g711::ulaw_to_linear(speech); FRAME_SAMPLES]).remove(0),
        ulaw_frames(&[0; FRAME_SAMPLES]).remove(0),
        ulaw_frames(&[HUM; FRAME_SAMPLES]).remove(0),
    );
    let mut spoken = 0;
    for i in 0..duration_ms / 20 {
        let (_, payload) = callee.recv();
        assert_ne!(payload, heard, "packet {i}: the right channel leaked");
        assert!(
            payload == said || payload == silence,
            "packet {i} is the caller's words or silence: {payload:?}"
        );
        spoken += usize::from(payload == said);
    }
    assert!(
        (40..=50).contains(&spoken),
        "the 50 frames said, bar a few lost to jitter: {spoken}"
    );
    let done = wait_for(&mut events, "the recording's PlayDone", |e| match e {
        MediaEvent::PlayDone {
            endpoint, playback, ..
        } if *endpoint == callee.id => Some((*playback, e.clone())),
        _ => None,
    })
    .await;
    assert_eq!(
        done,
        (
            playback,
            MediaEvent::PlayDone {
                endpoint: callee.id,
                playback,
                stopped: false
            }
        )
    );

    // By its bare name, mixed with prompts; nothing of the first playback was left over.
    let (_, mixed_ms) = engine
        .play(
            callee.id,
            play(&["beep", "recording:announce-1.wav", "beep"]),
        )
        .await
        .unwrap();
    assert_eq!(mixed_ms, duration_ms + 40);
    assert_eq!(
        callee.recv().1,
        ulaw_frames(&[BEEP; FRAME_SAMPLES]).remove(0)
    );
    engine.stop_play(callee.id).await.unwrap();
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_outside_recordings_dir_missing_or_unfinished_are_refused() {
    let (engine, dir) = engine_with_prompts(1, store());
    let (caller, callee) = (Leg::create(&engine, 0).await, Leg::create(&engine, 0).await);

    // A perfectly good recording outside recordings_dir must stay out of reach.
    let elsewhere = TempDir::new();
    let wav = cc_media_core::wav::encode_prompt(&[1000; FRAME_SAMPLES]).unwrap();
    std::fs::write(elsewhere.path.join("secret.wav"), &wav).unwrap();
    let sibling = elsewhere.path.file_name().unwrap().to_str().unwrap();
    let escapes = [
        "recording:".to_string(),
        "recording:..".to_string(),
        format!("recording:../{sibling}/secret.wav"),
        format!("recording:{}", elsewhere.path.join("secret.wav").display()),
        format!(
            "recording:{}",
            dir.path
                .join("..")
                .join(sibling)
                .join("secret.wav")
                .display()
        ),
        "recording:/etc/passwd".to_string(),
        "recording:sub/x.wav".to_string(),
        "recording:.hidden.wav".to_string(),
    ];
    for bad in &escapes {
        let err = engine
            .play(callee.id, play(&["beep", bad]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, MediaError::InvalidArgument(m)
                if m.starts_with(&format!("prompts[1]: {bad:?} is not a recording of recordings_dir"))),
            "{bad}: {err:?}"
        );
    }

    // Missing, or not a WAV recording: not found, naming the entry and why.
    std::fs::write(dir.path.join("junk.wav"), b"not audio at all").unwrap();
    let cases = [
        ("recording:nope.wav", "No such file"),
        ("recording:junk.wav", "not a WAV file"),
    ];
    for (entry, why) in cases {
        let err = engine.play(callee.id, play(&[entry])).await.unwrap_err();
        assert!(
            matches!(&err, MediaError::RecordingNotFound(m)
                if m.starts_with(&format!("prompts[0]: {entry:?}: ")) && m.contains(why)),
            "{entry}: {err:?}"
        );
    }

    // Still being recorded: refused until StopRecording, playable right after it.
    engine
        .start_recording(caller.id, Some("held".into()), BTreeMap::new())
        .await
        .unwrap();
    let err = engine
        .play(callee.id, play(&["recording:held"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MediaError::State(m)
            if m == "prompts[0]: \"recording:held\" is still being recorded; play it after StopRecording"),
        "{err:?}"
    );
    let (_, seconds) = engine.stop_recording(caller.id).await.unwrap();
    let (_, duration_ms) = engine
        .play(callee.id, play(&["recording:held"]))
        .await
        .unwrap();
    assert_eq!(duration_ms, (seconds * 1000.0).round() as u64);
    engine.stop_play(callee.id).await.unwrap();
    engine.shutdown();
}
