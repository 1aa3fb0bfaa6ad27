//! Digits from real RTP: RFC 4733 events (one report per press whatever the redundancy),
//! in-band tones (detected only while someone listens: a collection or a barge-in
//! prompt), digit collection with its terminator and timeout, and barge-in.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use cc_media::{
    CollectEnd, CollectRequest, DigitSource, EndpointId, MediaEvent, PlayRequest, PromptStore,
};
use cc_media_core::FRAME_SAMPLES;
use common::{
    Leg, assert_no_event, engine, engine_with_prompts, inband_press, next_event, ramp, wait_for,
};

fn collect(max_digits: usize, first_digit_timeout: Duration) -> CollectRequest {
    CollectRequest {
        max_digits,
        terminator: Some('#'),
        first_digit_timeout,
        inter_digit_timeout: Duration::from_secs(5),
        after_prompt: false,
    }
}

fn digit(endpoint: EndpointId, digit: char, source: DigitSource) -> impl Fn(&MediaEvent) -> bool {
    move |e| {
        matches!(e, MediaEvent::Digit { endpoint: ep, digit: d, source: s, .. }
            if *ep == endpoint && *d == digit && *s == source)
    }
}

/// Ten seconds of a ramp: a prompt that is still playing when the test acts.
fn long_prompt() -> PromptStore {
    let mut store = PromptStore::default();
    store.insert("hold", ramp(FRAME_SAMPLES * 500));
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rfc4733_press_is_one_digit_event() {
    let (engine, _dir) = engine(1);
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let sent = leg.send_digit('5');
    assert!(sent >= 5, "updates and three end packets: {sent}");
    leg.send_digit('7');
    // Had the redundant packets of the first press made a second report, it would come
    // before the second press's.
    let first = next_event(&mut events).await;
    assert!(
        digit(leg.id, '5', DigitSource::Rfc4733)(&first),
        "{first:?}"
    );
    if let MediaEvent::Digit { duration_ms, .. } = first {
        assert_eq!(duration_ms, 100, "the duration the sender reported");
    }
    let second = next_event(&mut events).await;
    assert!(
        digit(leg.id, '7', DigitSource::Rfc4733)(&second),
        "{second:?}"
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_ends_at_the_terminator_without_it() {
    let (engine, _dir) = engine(1);
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let collection = engine
        .collect_digits(leg.id, collect(4, Duration::from_secs(5)))
        .await
        .unwrap();
    for d in ['1', '2', '#'] {
        leg.send_digit(d);
    }
    for d in ['1', '2', '#'] {
        let e = next_event(&mut events).await;
        assert!(digit(leg.id, d, DigitSource::Rfc4733)(&e), "{e:?}");
    }
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::CollectDone {
            endpoint: leg.id,
            collection,
            digits: "12".into(),
            end: CollectEnd::Terminator
        }
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_without_digits_times_out_empty() {
    let (engine, _dir) = engine(1);
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let started = std::time::Instant::now();
    let collection = engine
        .collect_digits(leg.id, collect(4, Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::CollectDone {
            endpoint: leg.id,
            collection,
            digits: String::new(),
            end: CollectEnd::Timeout
        }
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before the first-digit timeout: {:?}",
        started.elapsed()
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inband_tones_are_digits_while_collecting() {
    let (engine, _dir) = engine(1);
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let collection = engine
        .collect_digits(leg.id, collect(4, Duration::from_secs(5)))
        .await
        .unwrap();
    leg.send_codes(&inband_press('5'));
    leg.send_codes(&inband_press('#'));
    for d in ['5', '#'] {
        let e = next_event(&mut events).await;
        assert!(digit(leg.id, d, DigitSource::InBand)(&e), "{e:?}");
    }
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::CollectDone {
            endpoint: leg.id,
            collection,
            digits: "5".into(),
            end: CollectEnd::Terminator
        }
    );
    engine.shutdown();
}

/// The tone of a press sent from `a`'s peer, relayed to `b`'s peer. Once `b` has it all,
/// `a` has handled every packet, and any digit it heard is already published (a loop
/// publishes its events before it reads the socket again).
fn press_through_bridge(a: &Leg, b: &Leg, key: char) {
    let codes = inband_press(key);
    a.send_codes(&codes);
    for _ in 0..codes.len().div_ceil(FRAME_SAMPLES) {
        b.recv();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inband_detection_runs_only_while_collecting_or_barging_in() {
    let (engine, _dir) = engine_with_prompts(1, long_prompt());
    let mut events = engine.subscribe();
    let (a, b) = (Leg::create(&engine, 0).await, Leg::create(&engine, 0).await);
    engine.bridge(a.id, b.id).await.unwrap();

    press_through_bridge(&a, &b, '5');
    assert_no_event(&mut events, "nobody listens for digits");

    // The same audio is a digit while collecting (so the silence above is not the tone's
    // fault).
    let collection = engine
        .collect_digits(a.id, collect(1, Duration::from_secs(5)))
        .await
        .unwrap();
    press_through_bridge(&a, &b, '5');
    let e = next_event(&mut events).await;
    assert!(digit(a.id, '5', DigitSource::InBand)(&e), "{e:?}");
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::CollectDone {
            endpoint: a.id,
            collection,
            digits: "5".into(),
            end: CollectEnd::MaxDigits
        }
    );
    press_through_bridge(&a, &b, '5');
    assert_no_event(&mut events, "the collection is over");

    // A barge-in prompt listens while it plays, not after.
    engine.unbridge(a.id).await.unwrap();
    let (playback, _) = engine
        .play(
            a.id,
            PlayRequest {
                prompts: vec!["hold".into()],
                looped: true,
                barge_in: true,
            },
        )
        .await
        .unwrap();
    engine.stop_play(a.id).await.unwrap();
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::PlayDone {
            endpoint: a.id,
            playback,
            stopped: true
        }
    );
    engine.bridge(a.id, b.id).await.unwrap();
    press_through_bridge(&a, &b, '5');
    assert_no_event(&mut events, "the barge-in prompt is over");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rfc4733_digit_barges_in_on_a_prompt() {
    let (engine, _dir) = engine_with_prompts(1, long_prompt());
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let (playback, _) = engine
        .play(
            leg.id,
            PlayRequest {
                prompts: vec!["hold".into()],
                looped: true,
                barge_in: true,
            },
        )
        .await
        .unwrap();
    leg.recv();
    leg.send_digit('9');
    let e = next_event(&mut events).await;
    assert!(digit(leg.id, '9', DigitSource::Rfc4733)(&e), "{e:?}");
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
async fn an_inband_tone_barges_in_on_a_prompt() {
    let (engine, _dir) = engine_with_prompts(1, long_prompt());
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let (playback, _) = engine
        .play(
            leg.id,
            PlayRequest {
                prompts: vec!["hold".into()],
                looped: false,
                barge_in: true,
            },
        )
        .await
        .unwrap();
    leg.recv();
    leg.send_codes(&inband_press('*'));
    let e = next_event(&mut events).await;
    assert!(digit(leg.id, '*', DigitSource::InBand)(&e), "{e:?}");
    let stopped = wait_for(&mut events, "PlayDone", |e| match e {
        MediaEvent::PlayDone {
            playback: p,
            stopped,
            ..
        } if *p == playback => Some(*stopped),
        _ => None,
    })
    .await;
    assert!(stopped, "the prompt was cut short, not completed");
    engine.shutdown();
}

/// Half a second of a ramp: a menu prompt.
fn short_prompt() -> PromptStore {
    let mut store = PromptStore::default();
    store.insert("menu", ramp(FRAME_SAMPLES * 25));
    store
}

fn menu_collect(first_digit_timeout: Duration) -> CollectRequest {
    CollectRequest {
        after_prompt: true,
        ..collect(1, first_digit_timeout)
    }
}

fn menu_prompt() -> PlayRequest {
    PlayRequest {
        prompts: vec!["menu".into()],
        looped: false,
        barge_in: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_menu_waits_for_its_first_digit_from_the_end_of_the_prompt() {
    let (engine, _dir) = engine_with_prompts(1, short_prompt());
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let started = std::time::Instant::now();
    // As a call actor offers a menu: the collection first (no key is lost), then the prompt.
    let collection = engine
        .collect_digits(leg.id, menu_collect(Duration::from_millis(300)))
        .await
        .unwrap();
    let (playback, duration_ms) = engine.play(leg.id, menu_prompt()).await.unwrap();
    assert_eq!(duration_ms, 500);
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::PlayDone {
            endpoint: leg.id,
            playback,
            stopped: false
        }
    );
    let prompt_ended = started.elapsed();
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::CollectDone {
            endpoint: leg.id,
            collection,
            digits: String::new(),
            end: CollectEnd::Timeout
        }
    );
    let waited = started.elapsed() - prompt_ended;
    assert!(
        waited >= Duration::from_millis(280),
        "the timeout counts from the prompt's end ({prompt_ended:?}), not from the start: {waited:?}"
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_during_a_menu_prompt_stops_it_and_is_the_choice() {
    let (engine, _dir) = engine_with_prompts(1, long_prompt());
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    let collection = engine
        .collect_digits(leg.id, menu_collect(Duration::from_millis(100)))
        .await
        .unwrap();
    let (playback, _) = engine
        .play(
            leg.id,
            PlayRequest {
                prompts: vec!["hold".into()],
                ..menu_prompt()
            },
        )
        .await
        .unwrap();
    // Well past the timeout, but the prompt still plays: nothing ends yet.
    for _ in 0..15 {
        leg.recv();
    }
    assert_no_event(&mut events, "the prompt still plays");
    leg.send_digit('2');
    let e = next_event(&mut events).await;
    assert!(digit(leg.id, '2', DigitSource::Rfc4733)(&e), "{e:?}");
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::PlayDone {
            endpoint: leg.id,
            playback,
            stopped: true
        }
    );
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::CollectDone {
            endpoint: leg.id,
            collection,
            digits: "2".into(),
            end: CollectEnd::MaxDigits
        }
    );
    engine.shutdown();
}
