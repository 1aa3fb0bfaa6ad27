//! SessionDescription::parse_bytes on arbitrary bytes, then offer/answer on what parses.
//!
//! Properties:
//! - never panics;
//! - round trip: `parse(print(parse(x))) == parse(x)`, and printing is a fixed point;
//! - `answer` never panics, for a few local configurations; an answer has as many m-lines
//!   as the offer, round-trips through the printer, and the offerer reading it
//!   (`read_answer`) agrees on codec, payload type and (mirrored) direction;
//! - `read_answer(our offer, x)` never panics when `x` is taken as the answer.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cc_sip::sdp::{
    Codec, Direction, LocalMedia, MediaKind, SessionDescription, answer, offer, read_answer,
};
use libfuzzer_sys::fuzz_target;

fn reparse(sd: &SessionDescription, what: &str) -> SessionDescription {
    let printed = sd.to_bytes();
    let again = match SessionDescription::parse_bytes(&printed) {
        Ok(s) => s,
        Err(e) => panic!(
            "printed {what} does not parse again: {e}\nprinted: {:?}",
            String::from_utf8_lossy(&printed)
        ),
    };
    assert_eq!(
        &again,
        sd,
        "{what} changed in the round trip\nprinted: {:?}",
        String::from_utf8_lossy(&printed)
    );
    assert_eq!(
        again.to_string(),
        sd.to_string(),
        "{what}: printing is not a fixed point"
    );
    again
}

fn locals() -> [LocalMedia; 3] {
    let default = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000, 1);
    let mut g722_hold = LocalMedia::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 40002, u64::MAX);
    g722_hold.codecs = vec![Codec::G722, Codec::Pcma];
    g722_hold.telephone_event = false;
    g722_hold.ptime = None;
    g722_hold.direction = Direction::SendOnly;
    let mut no_codec = default.clone();
    no_codec.codecs.clear();
    no_codec.direction = Direction::Inactive;
    [default, g722_hold, no_codec]
}

fuzz_target!(|data: &[u8]| {
    let Ok(sd) = SessionDescription::parse_bytes(data) else {
        return;
    };
    reparse(&sd, "SDP");

    let first_audio = sd
        .media
        .iter()
        .position(|m| m.kind == MediaKind::Audio && m.port != 0);
    for local in locals() {
        // `x` as a remote offer.
        if let Ok(ans) = answer(&sd, &local) {
            assert_eq!(ans.sdp.media.len(), sd.media.len(), "answer m-line count");
            assert_eq!(
                ans.sdp.times, sd.times,
                "answer t= differs from the offer's"
            );
            reparse(&ans.sdp, "answer");
            assert!(local.codecs.contains(&ans.audio.codec));
            if Some(ans.audio.media_index) == first_audio {
                // The offerer's side of the same negotiation.
                let theirs = read_answer(&sd, &ans.sdp)
                    .unwrap_or_else(|e| panic!("the offerer cannot read our answer: {e}"));
                assert_eq!(theirs.codec, ans.audio.codec);
                assert_eq!(theirs.payload_type, ans.audio.payload_type);
                assert_eq!(theirs.direction, ans.audio.direction.reversed());
            }
        }
        // `x` as the answer to our offer.
        if let Ok(ours) = offer(&local) {
            let _ = read_answer(&ours, &sd);
        }
    }
});
