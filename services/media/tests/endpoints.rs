//! An endpoint's life: refused creations (capacity, no common codec), misuse answered with
//! typed errors, ports returned to the pool last, and a dead peer reported by RTP timeout.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use cc_media::{MediaEngine, MediaError, MediaEvent, PromptStore};
use cc_sip::sdp::SdpError;
use common::{Leg, Peer, TempDir, config, engine, media_addr, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroying_twice_reports_not_found() {
    let (engine, _dir) = engine(1);
    let leg = Leg::create(&engine, 0).await;
    engine.destroy(leg.id).await.unwrap();
    let err = engine.destroy(leg.id).await.unwrap_err();
    assert!(
        matches!(err, MediaError::NotFound(id) if id == leg.id),
        "{err:?}"
    );
    let err = engine.unbridge(leg.id).await.unwrap_err();
    assert!(matches!(err, MediaError::NotFound(_)), "{err:?}");
    assert_eq!(engine.load().endpoints, 0);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridging_an_endpoint_to_itself_is_refused() {
    let (engine, _dir) = engine(1);
    let leg = Leg::create(&engine, 0).await;
    let err = engine.bridge(leg.id, leg.id).await.unwrap_err();
    assert!(matches!(err, MediaError::InvalidArgument(_)), "{err:?}");
    assert_eq!(engine.load().bridges, 0);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_beyond_max_endpoints_is_refused_until_one_is_destroyed() {
    let dir = TempDir::new();
    let mut cfg = config(2, &dir);
    cfg.max_endpoints = 2;
    let engine = MediaEngine::start(cfg, Some(PromptStore::default())).unwrap();
    let a = Leg::create(&engine, 0).await;
    let _b = Leg::create(&engine, 0).await;
    let peer = Peer::new();
    let err = engine
        .create_endpoint(Some(peer.offer(0)), None, "third".into())
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::Capacity(2)), "{err:?}");
    engine.destroy(a.id).await.unwrap();
    engine
        .create_endpoint(Some(peer.offer(0)), None, "third".into())
        .await
        .unwrap();
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_without_a_common_codec_is_refused_and_leaks_nothing() {
    let dir = TempDir::new();
    let mut cfg = config(1, &dir);
    // Room for exactly one endpoint: a leaked port would leave none.
    cfg.rtp_ports.last = cfg.rtp_ports.first + 1;
    let engine = MediaEngine::start(cfg, Some(PromptStore::default())).unwrap();
    let peer = Peer::new();
    let g729 = peer.offer_media("RTP/AVP 18\r\na=rtpmap:18 G729/8000");
    let err = engine
        .create_endpoint(Some(g729), None, "g729".into())
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::Sdp(SdpError::NoCommonCodec)),
        "{err:?}"
    );
    assert_eq!(engine.load().endpoints, 0);
    let _leg = Leg::create(&engine, 0).await;
    let err = engine
        .create_endpoint(Some(peer.offer(0)), None, "second".into())
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::NoPorts), "one port: {err:?}");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freed_port_is_reused_only_after_the_others() {
    let (engine, _dir) = engine(1);
    let a = Leg::create(&engine, 0).await;
    let b = Leg::create(&engine, 0).await;
    engine.destroy(a.id).await.unwrap();
    let c = Leg::create(&engine, 0).await;
    assert_ne!(
        c.to.port(),
        a.to.port(),
        "late packets of a's call reach nobody"
    );
    assert_ne!(c.to.port(), b.to.port());
    assert!(
        [a.to.port(), b.to.port(), c.to.port()]
            .iter()
            .all(|p| p % 2 == 0)
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_sending_raises_rtp_timeout() {
    let dir = TempDir::new();
    let mut cfg = config(1, &dir);
    cfg.rtp_timeout_secs = 1;
    let engine = MediaEngine::start(cfg, Some(PromptStore::default())).unwrap();
    let mut events = engine.subscribe();
    let leg = Leg::create(&engine, 0).await;
    // An endpoint that is not bridged has no one to relay to; a second one shows when the
    // packets were handled.
    let other = Leg::create(&engine, 0).await;
    engine.bridge(leg.id, other.id).await.unwrap();
    for _ in 0..3 {
        leg.send_audio(&[0x7F; 160]);
        other.recv();
    }
    let last_packet = Instant::now();
    let silent = wait_for(&mut events, "RtpTimeout", |e| match e {
        MediaEvent::RtpTimeout {
            endpoint,
            silent_seconds,
        } if *endpoint == leg.id => Some(*silent_seconds),
        _ => None,
    })
    .await;
    let after = last_packet.elapsed();
    assert_eq!(silent, 1);
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "reported about a second after the last packet: {after:?}"
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_offer_is_answered_and_then_relays() {
    let (engine, _dir) = engine(1);
    let created = engine
        .create_endpoint(None, None, "outbound".into())
        .await
        .unwrap();
    assert!(
        created.negotiated.is_none(),
        "nothing is settled by an offer"
    );
    let peer = Peer::new();
    let applied = engine
        .set_remote_description(created.id, peer.offer(8))
        .await
        .unwrap();
    assert!(applied.local_sdp.is_none(), "an answer needs no answer");
    let negotiated = applied.negotiated.unwrap();
    assert_eq!(negotiated.payload_type, 8);
    assert_eq!(negotiated.remote, peer.addr());
    let other = Leg::create(&engine, 0).await;
    assert!(!engine.bridge(created.id, other.id).await.unwrap());
    other.send_audio(&[0xFF; 160]);
    let (h, got) = peer.recv();
    assert_eq!(h.payload_type, 8);
    assert_eq!(got, [cc_media_core::g711::ulaw_to_alaw(0xFF); 160]);
    let to = media_addr(&created.local_sdp);
    peer.send_audio(to, 8, &[0xD5; 160]);
    assert_eq!(
        other.recv().1,
        [cc_media_core::g711::alaw_to_ulaw(0xD5); 160]
    );
    engine.shutdown();
}
