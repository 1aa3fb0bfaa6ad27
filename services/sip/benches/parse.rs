//! Parse and serialize cost of typical messages, plus allocations per message.
//!
//! Run: `cargo bench -p cc-sip --bench parse`. The allocation counts print first; the
//! criterion medians follow. loadtest/reports/sip-front-door.md records a run.

use std::alloc::System;
use std::hint::black_box;

use cc_sip::{Message, parse_message};
use criterion::{Criterion, criterion_group};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// An INVITE as a desk phone sends it: 12 headers and an SDP offer.
const INVITE: &[u8] = b"INVITE sip:200@cc.local SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-524287-1---a5b7e6c4d3;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:201@192.168.1.20:5060;transport=udp>\r\n\
To: <sip:200@cc.local>\r\n\
From: \"Anna Kowalska\" <sip:201@cc.local>;tag=8d2f3a1b\r\n\
Call-ID: 5f1c2e7a9b0d4c3e8f6a1b2c3d4e5f60\r\n\
CSeq: 1 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, OPTIONS, INFO, UPDATE\r\n\
Content-Type: application/sdp\r\n\
Supported: replaces, timer\r\n\
User-Agent: Yealink SIP-T46U 108.86.0.20\r\n\
Content-Length: 229\r\n\
\r\n\
v=0\r\n\
o=- 3893561234 3893561234 IN IP4 192.168.1.20\r\n\
s=call\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
m=audio 11780 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n";

const REGISTER: &[u8] = b"REGISTER sip:cc.local SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-1234;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:201@192.168.1.20:5060>;expires=3600\r\n\
To: <sip:201@cc.local>\r\n\
From: <sip:201@cc.local>;tag=abcd\r\n\
Call-ID: reg-5f1c2e7a9b0d\r\n\
CSeq: 2 REGISTER\r\n\
Authorization: Digest username=\"201\", realm=\"cc.local\", nonce=\"0000000065a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192\", uri=\"sip:cc.local\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n\
Content-Length: 0\r\n\r\n";

fn allocations(label: &str, f: impl Fn()) {
    f(); // warm up lazily initialised state
    let region = Region::new(GLOBAL);
    const N: usize = 1000;
    for _ in 0..N {
        f();
    }
    let stats = region.change();
    println!(
        "{label}: {:.1} allocations and {:.0} bytes allocated per message",
        stats.allocations as f64 / N as f64,
        stats.bytes_allocated as f64 / N as f64
    );
}

fn parse(bytes: &[u8]) -> Message {
    parse_message(bytes).expect("benchmark message parses")
}

fn benches(c: &mut Criterion) {
    for (name, bytes) in [("invite", INVITE), ("register", REGISTER)] {
        let msg = parse(bytes);
        // Parsing alone (the message is dropped outside the timed loop), then parsing
        // with the drop of the parsed message counted too.
        c.bench_function(&format!("parse_{name}"), |b| {
            b.iter_with_large_drop(|| parse(black_box(bytes)))
        });
        c.bench_function(&format!("parse_and_drop_{name}"), |b| {
            b.iter(|| parse(black_box(bytes)))
        });
        c.bench_function(&format!("serialize_{name}"), |b| {
            b.iter(|| black_box(&msg).to_bytes())
        });
    }
}

criterion_group!(group, benches);

fn main() {
    let invite = parse(INVITE);
    allocations("parse INVITE", || drop(black_box(parse(black_box(INVITE)))));
    allocations("serialize INVITE", || drop(black_box(invite.to_bytes())));
    allocations("parse REGISTER", || {
        drop(black_box(parse(black_box(REGISTER))))
    });
    group();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
