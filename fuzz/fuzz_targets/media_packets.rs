//! The media engine's parsers on arbitrary datagrams: RTP, RTCP compounds, RFC 4733
//! telephone-events (and the receiver that de-duplicates them), WAV prompts.
//!
//! The first byte picks the parser; the rest is the input. Properties: nothing panics; an
//! RTP packet that parses rebuilds to a packet that parses to the same header and payload;
//! a telephone-event that parses prints back to the same four bytes, reserved bit cleared.
#![no_main]

use std::time::{Duration, Instant};

use cc_media_core::dtmf::{DtmfReceiver, TelephoneEvent};
use cc_media_core::rtp::{RtpBuilder, RtpPacket};
use cc_media_core::{rtcp, wav};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            if let Ok(p) = RtpPacket::parse(input) {
                let mut out = Vec::new();
                RtpBuilder::new(p.header)
                    .write_to_vec(p.payload, &mut out)
                    .expect("a parsed header rebuilds");
                let again = RtpPacket::parse(&out).expect("a rebuilt packet parses");
                assert_eq!(again.header, p.header);
                assert_eq!(again.payload, p.payload);
            }
            let _ = rtcp::classify_muxed(input);
        }
        1 => {
            for packet in rtcp::parse_compound(input) {
                if packet.is_err() {
                    break;
                }
            }
        }
        2 => {
            if let Ok(e) = TelephoneEvent::parse(input) {
                // The reserved bit (0x40 of the second byte) is ignored on receipt and
                // sent as 0 (RFC 4733 2.3); everything else prints back as it came.
                let expected = [input[0], input[1] & !0x40, input[2], input[3]];
                assert_eq!(e.to_bytes(), expected);
            }
            // A stream of events: 9-byte records of (timestamp, marker, payload).
            let mut rx = DtmfReceiver::default();
            let start = Instant::now();
            for (i, rec) in input.chunks(9).enumerate() {
                if rec.len() < 9 {
                    break;
                }
                let ts = u32::from_be_bytes([rec[0], rec[1], rec[2], rec[3]]);
                let now = start + Duration::from_millis(20 * i as u64);
                let _ = rx.handle_packet(ts, rec[4] & 1 == 1, &rec[5..9], now);
                rx.handle_timeout(now);
                while rx.poll_digit().is_some() {}
            }
        }
        _ => {
            let _ = wav::parse_prompt(input);
        }
    }
});
