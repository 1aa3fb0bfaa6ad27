//! A bridge relays RTP both ways between two real UDP peers on loopback, renumbered into
//! each leg's own continuous stream, transcoded when the legs use different laws, and only
//! from the source each leg latched on to.

#![allow(clippy::unwrap_used)]

mod common;

use cc_media_core::g711::{ALAW_TO_ULAW, ULAW_TO_ALAW};
use cc_media_core::rtp::RtpHeader;
use common::{Leg, Peer, engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_relays_audio_both_ways_with_continuous_numbering() {
    let (engine, _dir) = engine(2);
    let (a, b) = (Leg::create(&engine, 0).await, Leg::create(&engine, 0).await);
    assert!(
        engine.bridge(a.id, b.id).await.unwrap(),
        "same codec: passthrough"
    );

    let mut last: Option<RtpHeader> = None;
    for i in 0..50u16 {
        let payload = [i as u8; 160];
        a.peer.send(
            a.to,
            RtpHeader {
                marker: i == 0,
                payload_type: 0,
                sequence: 1000 + i,
                timestamp: 160 * u32::from(i),
                ssrc: 0xABCD,
            },
            &payload,
        );
        let (h, got) = b.recv();
        assert_eq!(got, payload, "payload of packet {i} arrives untouched");
        if let Some(prev) = last {
            assert_eq!(h.ssrc, prev.ssrc);
            assert_eq!(h.sequence, prev.sequence.wrapping_add(1));
            assert_eq!(h.timestamp, prev.timestamp.wrapping_add(160));
        }
        last = Some(h);
    }
    // And back.
    b.send_audio(&[0x55; 160]);
    let (_, got) = a.recv();
    assert_eq!(got, [0x55; 160]);
    engine.destroy(a.id).await.unwrap();
    engine.destroy(b.id).await.unwrap();
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pcmu_leg_bridged_to_a_pcma_leg_is_transcoded_both_ways() {
    let (engine, _dir) = engine(1);
    let (mu, a) = (Leg::create(&engine, 0).await, Leg::create(&engine, 8).await);
    assert!(
        !engine.bridge(mu.id, a.id).await.unwrap(),
        "different laws: not passthrough"
    );
    // Every one of the 256 codes, both ways.
    let codes: Vec<u8> = (0..=255u8).chain(0..64).collect();
    for frame in codes.chunks(160) {
        mu.send_audio(frame);
        let (h, got) = a.recv();
        assert_eq!(h.payload_type, 8, "the PCMA leg gets its payload type");
        let want: Vec<u8> = frame
            .iter()
            .map(|&c| ULAW_TO_ALAW[usize::from(c)])
            .collect();
        assert_eq!(got, want, "mu-law turned into A-law");

        a.send_audio(frame);
        let (h, got) = mu.recv();
        assert_eq!(h.payload_type, 0, "the PCMU leg gets its payload type");
        let want: Vec<u8> = frame
            .iter()
            .map(|&c| ALAW_TO_ULAW[usize::from(c)])
            .collect();
        assert_eq!(got, want, "A-law turned into mu-law");
    }
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_of_different_loops_are_moved_together_and_bridged() {
    let (engine, _dir) = engine(2);
    assert_eq!(engine.loops(), 2);
    // Created without `near`: the second goes to the other (emptier) loop.
    let (a, b) = (Leg::create(&engine, 0).await, Leg::create(&engine, 0).await);
    assert!(engine.bridge(a.id, b.id).await.unwrap());
    let load = engine.load();
    assert_eq!(
        (load.endpoints, load.bridges),
        (2, 1),
        "moving an endpoint neither loses nor doubles it"
    );
    for i in 0..5u8 {
        a.send_audio(&[i; 160]);
        assert_eq!(b.recv().1, [i; 160]);
        b.send_audio(&[i + 100; 160]);
        assert_eq!(a.recv().1, [i + 100; 160]);
    }
    // The moved endpoint is still controllable where it now lives.
    engine.unbridge(b.id).await.unwrap();
    assert_eq!(engine.load().bridges, 0);
    engine.destroy(b.id).await.unwrap();
    engine.destroy(a.id).await.unwrap();
    assert_eq!(engine.load().endpoints, 0);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_from_another_port_after_latching_are_dropped() {
    let (engine, _dir) = engine(1);
    let (a, b) = (Leg::create(&engine, 0).await, Leg::create(&engine, 0).await);
    engine.bridge(a.id, b.id).await.unwrap();
    a.send_audio(&[1; 160]);
    assert_eq!(
        b.recv().1,
        [1; 160],
        "the first source latches and is relayed"
    );

    // Same address, another port: an intruder (or a stale stream) after latching.
    let stray = Peer::new();
    assert_eq!(stray.addr().ip(), a.peer.addr().ip());
    stray.send_audio(a.to, 0, &[0xEE; 160]);
    // The latched source's next packet is the next thing the other leg sees: the stray
    // one, sent before it to the same socket, was dropped, not relayed.
    a.send_audio(&[2; 160]);
    assert_eq!(b.recv().1, [2; 160], "the stray packet was not relayed");
    engine.shutdown();
}
