//! A bridged call records into a stereo 8 kHz 16-bit WAV (the recorded leg left, its peer
//! right) with a JSON metadata file beside it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use cc_media::{MediaError, MediaEvent};
use cc_media_core::g711::linear_to_ulaw;
use common::{Leg, engine, wait_for};

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn rms(samples: impl Iterator<Item = i16>) -> f64 {
    let (sum, n) = samples.fold((0f64, 0usize), |(s, n), x| {
        (s + f64::from(x) * f64::from(x), n + 1)
    });
    (sum / n.max(1) as f64).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_call_is_recorded_as_stereo_wav_with_metadata() {
    let (engine, dir) = engine(1);
    let mut events = engine.subscribe();
    let (a, b) = (Leg::create(&engine, 0).await, Leg::create(&engine, 0).await);
    engine.bridge(a.id, b.id).await.unwrap();
    let metadata: BTreeMap<String, String> = [
        ("call".to_string(), "call-1".to_string()),
        ("agent".to_string(), "alice".to_string()),
    ]
    .into();
    let path = engine
        .start_recording(a.id, Some("call-1".into()), metadata)
        .await
        .unwrap();
    assert_eq!(path, dir.path.join("call-1.wav"));

    // About a second of audio from both sides, paced like real RTP so the recorder's
    // 20 ms clock takes every frame.
    let (left, right) = (linear_to_ulaw(8000), linear_to_ulaw(-8000));
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..50 {
        pace.tick().await;
        a.send_audio(&[left; 160]);
        b.send_audio(&[right; 160]);
        // Each side's audio is relayed to the other: it went through the engine.
        assert_eq!(b.recv().1, [left; 160]);
        assert_eq!(a.recv().1, [right; 160]);
    }
    let (stopped_path, seconds) = engine.stop_recording(a.id).await.unwrap();
    assert_eq!(stopped_path, path);
    let done = wait_for(&mut events, "RecordingDone", |e| match e {
        MediaEvent::RecordingDone {
            endpoint,
            path,
            seconds,
        } => Some((*endpoint, path.clone(), *seconds)),
        _ => None,
    })
    .await;
    assert_eq!(done, (a.id, path.clone(), seconds));
    assert!(
        (0.8..3.0).contains(&seconds),
        "about the second of audio sent: {seconds}"
    );

    let wav = std::fs::read(&path).unwrap();
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(u32_at(&wav, 4) as usize, wav.len() - 8, "RIFF size");
    assert_eq!(&wav[8..12], b"WAVE");
    assert_eq!(&wav[12..16], b"fmt ");
    assert_eq!(u32_at(&wav, 16), 16, "fmt chunk size");
    assert_eq!(u16_at(&wav, 20), 1, "PCM");
    assert_eq!(u16_at(&wav, 22), 2, "stereo");
    assert_eq!(u32_at(&wav, 24), 8000, "8 kHz");
    assert_eq!(u32_at(&wav, 28), 8000 * 4, "byte rate");
    assert_eq!(u16_at(&wav, 32), 4, "block align");
    assert_eq!(u16_at(&wav, 34), 16, "16-bit");
    assert_eq!(&wav[36..40], b"data");
    let data = &wav[44..];
    assert_eq!(u32_at(&wav, 40) as usize, data.len(), "data size");
    assert_eq!(
        data.len() / (160 * 4),
        (seconds / 0.02).round() as usize,
        "the file holds the reported duration, in 20 ms frames"
    );
    let sample = |i: usize| i16::from_le_bytes([data[i], data[i + 1]]);
    let frames = data.len() / 4;
    let left_rms = rms((0..frames).map(|f| sample(f * 4)));
    let right_rms = rms((0..frames).map(|f| sample(f * 4 + 2)));
    assert!(
        left_rms > 4000.0,
        "the recorded leg is on the left: {left_rms}"
    );
    assert!(right_rms > 4000.0, "its peer is on the right: {right_rms}");
    assert!(
        (0..frames).any(|f| sample(f * 4) > 7000) && (0..frames).any(|f| sample(f * 4 + 2) < -7000),
        "each side carries its own signal"
    );

    let json: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(dir.path.join("call-1.json")).unwrap()).unwrap();
    assert_eq!(json.get("call").map(String::as_str), Some("call-1"));
    assert_eq!(json.get("agent").map(String::as_str), Some("alice"));
    assert_eq!(
        json.get("endpoint").map(String::as_str),
        Some(a.id.to_string().as_str())
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_file_name_with_a_path_is_refused() {
    let (engine, _dir) = engine(1);
    let leg = Leg::create(&engine, 0).await;
    for bad in ["../x", "a/b", ".hidden", ""] {
        let err = engine
            .start_recording(leg.id, Some(bad.into()), BTreeMap::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, MediaError::InvalidArgument(_)),
            "{bad:?}: {err:?}"
        );
    }
    // A plain name is fine, and the endpoint was not left half-recording.
    engine
        .start_recording(leg.id, Some("ok".into()), BTreeMap::new())
        .await
        .unwrap();
    engine.stop_recording(leg.id).await.unwrap();
    engine.shutdown();
}
