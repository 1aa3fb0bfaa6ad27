//! Shared by the integration tests: an engine on its own port range and temporary
//! directory, loopback RTP peers that offer SDP and send/receive real UDP, DTMF and prompt
//! material, and bounded waits on the engine's events.
//!
//! Every wait here is bounded: sockets have a read timeout and event waits a deadline, so a
//! broken engine fails a test instead of hanging it.

#![allow(dead_code)]

use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cc_common::config::MediaConfig;
use cc_media::{EndpointId, MediaEngine, MediaEvent, PromptStore};
use cc_media_core::FRAME_SAMPLES;
use cc_media_core::dtmf::{Digit, DtmfSender};
use cc_media_core::rtp::{RtpBuilder, RtpHeader, RtpPacket};
use cc_sip::sdp::SessionDescription;
use tokio::sync::broadcast;

/// How long a peer waits for one RTP packet before the test fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a test waits for one expected event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(3);
/// RFC 4733 payload type the peers offer.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// Ports per test engine: ten endpoints.
const PORTS_PER_ENGINE: u16 = 20;
/// Engines fit in 10000..30000, below the kernel's ephemeral range (where the peers'
/// own sockets live).
const SLOTS: u64 = 1000;

static ENGINES: AtomicU64 = AtomicU64::new(0);

/// A port range no other test engine uses at the same time: nextest runs each test in its
/// own process (the pid differs), `cargo test` runs them as threads of one (the counter
/// differs). A port another process holds anyway is skipped by the engine's pool.
pub fn port_range() -> String {
    let n = ENGINES.fetch_add(1, Ordering::Relaxed);
    let slot = (u64::from(std::process::id()) * 16 + n) % SLOTS;
    let base = 10_000 + slot as u16 * PORTS_PER_ENGINE;
    format!("{base}-{}", base + PORTS_PER_ENGINE - 1)
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        use std::hash::{BuildHasher, RandomState};
        let path = std::env::temp_dir().join(format!(
            "cc-media-test-{}-{:x}",
            std::process::id(),
            RandomState::new().hash_one(0u8)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A test configuration: its own port range, recordings in `dir`, `loops` socket loops.
pub fn config(loops: usize, dir: &TempDir) -> MediaConfig {
    MediaConfig {
        rtp_ports: port_range().parse().unwrap(),
        loops,
        recordings_dir: dir.path.clone(),
        ..MediaConfig::default()
    }
}

/// An engine with `loops` socket loops and no prompts.
pub fn engine(loops: usize) -> (MediaEngine, TempDir) {
    let dir = TempDir::new();
    let engine = MediaEngine::start(config(loops, &dir), Some(PromptStore::default())).unwrap();
    (engine, dir)
}

/// An engine with `loops` socket loops and the given prompts.
pub fn engine_with_prompts(loops: usize, prompts: PromptStore) -> (MediaEngine, TempDir) {
    let dir = TempDir::new();
    let engine = MediaEngine::start(config(loops, &dir), Some(prompts)).unwrap();
    (engine, dir)
}

/// The address an SDP says to send RTP to.
pub fn media_addr(sdp: &SessionDescription) -> SocketAddr {
    let m = &sdp.media[0];
    let ip = sdp.connection_of(m).and_then(|c| c.ip()).unwrap();
    SocketAddr::new(ip, m.port)
}

/// A plain RTP peer: a loopback socket, the SDP offer describing it, and its own outgoing
/// stream numbering (one SSRC, consecutive sequence numbers, timestamps by samples sent).
pub struct Peer {
    pub socket: UdpSocket,
    pub ssrc: u32,
    seq: Cell<u16>,
    timestamp: Cell<u32>,
}

impl Peer {
    pub fn new() -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(RECV_TIMEOUT)).unwrap();
        let port = socket.local_addr().unwrap().port();
        Peer {
            socket,
            ssrc: 0x5EED_0000 | u32::from(port),
            seq: Cell::new(1000),
            timestamp: Cell::new(160_000),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// An offer of one G.711 codec (`0` PCMU, `8` PCMA) plus telephone-event 101.
    pub fn offer(&self, codec_pt: u8) -> SessionDescription {
        let name = if codec_pt == 8 { "PCMA" } else { "PCMU" };
        self.offer_media(&format!(
            "RTP/AVP {codec_pt} {TELEPHONE_EVENT_PT}\r\na=rtpmap:{codec_pt} {name}/8000\r\n\
             a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000\r\na=fmtp:{TELEPHONE_EVENT_PT} 0-15"
        ))
    }

    /// An offer whose m-line after the port is `media` (formats and attribute lines).
    pub fn offer_media(&self, media: &str) -> SessionDescription {
        let port = self.addr().port();
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} {media}\r\na=sendrecv\r\n"
        );
        SessionDescription::parse_bytes(sdp.as_bytes()).unwrap()
    }

    /// Sends one RTP packet exactly as given.
    pub fn send(&self, to: SocketAddr, header: RtpHeader, payload: &[u8]) {
        let mut buf = Vec::new();
        RtpBuilder::new(header)
            .write_to_vec(payload, &mut buf)
            .unwrap();
        self.socket.send_to(&buf, to).unwrap();
    }

    fn next_seq(&self) -> u16 {
        let s = self.seq.get();
        self.seq.set(s.wrapping_add(1));
        s
    }

    /// Sends one audio packet of this peer's stream; the timestamp advances by its length.
    pub fn send_audio(&self, to: SocketAddr, payload_type: u8, payload: &[u8]) {
        let header = RtpHeader {
            marker: false,
            payload_type,
            sequence: self.next_seq(),
            timestamp: self.timestamp.get(),
            ssrc: self.ssrc,
        };
        self.send(to, header, payload);
        let len = u32::try_from(payload.len()).unwrap();
        self.timestamp.set(self.timestamp.get().wrapping_add(len));
    }

    /// Sends the G.711 audio `codes` as consecutive 20 ms packets, back to back.
    pub fn send_codes(&self, to: SocketAddr, payload_type: u8, codes: &[u8]) {
        for frame in codes.chunks(FRAME_SAMPLES) {
            self.send_audio(to, payload_type, frame);
        }
    }

    /// Sends every RFC 4733 packet of one 100 ms press of `digit` (the updates and the
    /// three end packets `DtmfSender` makes), back to back, in this peer's stream.
    pub fn send_digit(&self, to: SocketAddr, digit: char) -> usize {
        let digit = Digit::from_char(digit).unwrap();
        let t0 = Instant::now();
        let mut sender =
            DtmfSender::new(digit, self.timestamp.get(), Duration::from_millis(100), t0);
        let mut sent = 0;
        // All packets are due by then: send them without waiting.
        let late = t0 + Duration::from_secs(60);
        while let Some(p) = sender.poll_packet(late) {
            let header = RtpHeader {
                marker: p.marker,
                payload_type: TELEPHONE_EVENT_PT,
                sequence: self.next_seq(),
                timestamp: p.timestamp,
                ssrc: self.ssrc,
            };
            self.send(to, header, &p.payload);
            sent += 1;
        }
        assert!(sender.is_done());
        // The next press starts after this one (and a pause).
        let advance = u32::from(sender.duration_samples()) + 800;
        self.timestamp
            .set(self.timestamp.get().wrapping_add(advance));
        sent
    }

    /// The next RTP packet, within [`RECV_TIMEOUT`].
    pub fn recv(&self) -> (RtpHeader, Vec<u8>) {
        let mut buf = [0u8; 2048];
        let (n, _) = self
            .socket
            .recv_from(&mut buf)
            .expect("an RTP packet within the receive timeout");
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        (p.header, p.payload.to_vec())
    }
}

/// One leg: an endpoint created on the engine from a peer's offer, and that peer.
pub struct Leg {
    pub id: EndpointId,
    pub peer: Peer,
    /// Where the engine wants this leg's RTP.
    pub to: SocketAddr,
    pub payload_type: u8,
}

impl Leg {
    /// Creates an endpoint answering a fresh peer's offer of `codec_pt`.
    pub async fn create(engine: &MediaEngine, codec_pt: u8) -> Leg {
        let peer = Peer::new();
        let created = engine
            .create_endpoint(Some(peer.offer(codec_pt)), None, "test".into())
            .await
            .unwrap();
        Leg {
            id: created.id,
            to: media_addr(&created.local_sdp),
            peer,
            payload_type: codec_pt,
        }
    }

    pub fn send_audio(&self, payload: &[u8]) {
        self.peer.send_audio(self.to, self.payload_type, payload);
    }

    pub fn send_codes(&self, codes: &[u8]) {
        self.peer.send_codes(self.to, self.payload_type, codes);
    }

    pub fn send_digit(&self, digit: char) -> usize {
        self.peer.send_digit(self.to, digit)
    }

    pub fn recv(&self) -> (RtpHeader, Vec<u8>) {
        self.peer.recv()
    }
}

/// The next event, within [`EVENT_TIMEOUT`].
pub async fn next_event(rx: &mut broadcast::Receiver<MediaEvent>) -> MediaEvent {
    tokio::time::timeout(EVENT_TIMEOUT, rx.recv())
        .await
        .expect("an event within the timeout")
        .expect("the event stream lost nothing")
}

/// The first event `pick` accepts, skipping others, within [`EVENT_TIMEOUT`] in all.
pub async fn wait_for<T>(
    rx: &mut broadcast::Receiver<MediaEvent>,
    what: &str,
    mut pick: impl FnMut(&MediaEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{what} within {EVENT_TIMEOUT:?}"))
            .expect("the event stream lost nothing");
        if let Some(t) = pick(&event) {
            return t;
        }
    }
}

/// Asserts that no event is waiting. Only meaningful after a barrier that guarantees the
/// engine already handled the input that could have raised one.
pub fn assert_no_event(rx: &mut broadcast::Receiver<MediaEvent>, why: &str) {
    match rx.try_recv() {
        Err(broadcast::error::TryRecvError::Empty) => {}
        other => panic!("{why}: expected no event, got {other:?}"),
    }
}

/// The mu-law payloads of `samples` in 20 ms frames, the last padded with silence (zero
/// samples), as the engine sends a prompt.
pub fn ulaw_frames(samples: &[i16]) -> Vec<Vec<u8>> {
    samples
        .chunks(FRAME_SAMPLES)
        .map(|chunk| {
            let mut frame = [0i16; FRAME_SAMPLES];
            frame[..chunk.len()].copy_from_slice(chunk);
            let mut out = vec![0u8; FRAME_SAMPLES];
            cc_media_core::g711::encode_ulaw(&frame, &mut out);
            out
        })
        .collect()
}

/// A ramp of `n` samples that differs in every frame (so frames can be told apart).
pub fn ramp(n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| i16::try_from((i * 37) % 20_000).unwrap() - 10_000)
        .collect()
}

/// `ms` of the DTMF tone of `key` (the row and the column sine, each at about -12 dBm0),
/// as 8 kHz linear samples.
pub fn dtmf_tone(key: char, ms: usize) -> Vec<i16> {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const KEYS: [&str; 4] = ["123A", "456B", "789C", "*0#D"];
    let (row, col) = KEYS
        .iter()
        .enumerate()
        .find_map(|(r, line)| line.find(key).map(|c| (r, c)))
        .unwrap();
    let n = ms * 8;
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let v = 6000.0 * (2.0 * std::f64::consts::PI * ROWS[row] * t).sin()
                + 6000.0 * (2.0 * std::f64::consts::PI * COLS[col] * t).sin();
            v.round() as i16
        })
        .collect()
}

/// mu-law codes of linear samples.
pub fn ulaw(samples: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; samples.len()];
    cc_media_core::g711::encode_ulaw(samples, &mut out);
    out
}

/// A key press as in-band audio in mu-law: 100 ms of tone then 100 ms of silence.
pub fn inband_press(key: char) -> Vec<u8> {
    let mut samples = dtmf_tone(key, 100);
    samples.extend(std::iter::repeat_n(0i16, 800));
    ulaw(&samples)
}
