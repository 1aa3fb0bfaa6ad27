//! A bridge relays RTP both ways between two real UDP peers on loopback, renumbered into
//! each leg's own continuous stream.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use cc_common::config::MediaConfig;
use cc_media::{MediaEngine, PromptStore};
use cc_media_core::rtp::{RtpBuilder, RtpHeader, RtpPacket};
use cc_sip::sdp::SessionDescription;

fn engine(loops: usize) -> (MediaEngine, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let base = 30000 + (std::process::id() % 500) as u16 * 20;
    let config = MediaConfig {
        rtp_ports: format!("{base}-{}", base + 19).parse().unwrap(),
        loops,
        recordings_dir: dir.path.clone(),
        ..MediaConfig::default()
    };
    (
        MediaEngine::start(config, Some(PromptStore::default())).unwrap(),
        dir,
    )
}

mod tempdir {
    #[derive(Debug)]
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "cc-media-test-{}-{}",
                std::process::id(),
                rand_suffix()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
    fn rand_suffix() -> u64 {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(0u8)
    }
}

/// A plain RTP peer: a loopback socket and the SDP offer describing it.
struct Peer {
    socket: UdpSocket,
}

impl Peer {
    fn new() -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        Peer { socket }
    }

    fn offer(&self, codec_pt: u8) -> SessionDescription {
        let port = self.socket.local_addr().unwrap().port();
        let name = if codec_pt == 8 { "PCMA" } else { "PCMU" };
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {codec_pt} 101\r\na=rtpmap:{codec_pt} {name}/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
        );
        SessionDescription::parse_bytes(sdp.as_bytes()).unwrap()
    }

    fn send(&self, to: SocketAddr, header: RtpHeader, payload: &[u8]) {
        let mut buf = Vec::new();
        RtpBuilder::new(header)
            .write_to_vec(payload, &mut buf)
            .unwrap();
        self.socket.send_to(&buf, to).unwrap();
    }

    fn recv(&self) -> (RtpHeader, Vec<u8>) {
        let mut buf = [0u8; 2048];
        let (n, _) = self
            .socket
            .recv_from(&mut buf)
            .expect("an RTP packet within 2 s");
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        (p.header, p.payload.to_vec())
    }
}

fn media_addr(sdp: &SessionDescription) -> SocketAddr {
    let m = &sdp.media[0];
    let ip = sdp.connection_of(m).and_then(|c| c.ip()).unwrap();
    SocketAddr::new(ip, m.port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_relays_audio_both_ways_with_continuous_numbering() {
    let (engine, _dir) = engine(2);
    let (p1, p2) = (Peer::new(), Peer::new());
    let a = engine
        .create_endpoint(Some(p1.offer(0)), None, "caller".into())
        .await
        .unwrap();
    let b = engine
        .create_endpoint(Some(p2.offer(0)), None, "agent".into())
        .await
        .unwrap();
    assert!(
        engine.bridge(a.id, b.id).await.unwrap(),
        "same codec: passthrough"
    );
    let (to_a, to_b) = (media_addr(&a.local_sdp), media_addr(&b.local_sdp));

    let mut last: Option<RtpHeader> = None;
    for i in 0..50u16 {
        let payload = [i as u8; 160];
        p1.send(
            to_a,
            RtpHeader {
                marker: i == 0,
                payload_type: 0,
                sequence: 1000 + i,
                timestamp: 160 * u32::from(i),
                ssrc: 0xABCD,
            },
            &payload,
        );
        let (h, got) = p2.recv();
        assert_eq!(got, payload, "payload of packet {i} arrives untouched");
        if let Some(prev) = last {
            assert_eq!(h.ssrc, prev.ssrc);
            assert_eq!(h.sequence, prev.sequence.wrapping_add(1));
            assert_eq!(h.timestamp, prev.timestamp.wrapping_add(160));
        }
        last = Some(h);
    }
    // And back.
    p2.send(
        to_b,
        RtpHeader {
            marker: true,
            payload_type: 0,
            sequence: 7,
            timestamp: 7,
            ssrc: 0x1234,
        },
        &[0x55; 160],
    );
    let (_, got) = p1.recv();
    assert_eq!(got, [0x55; 160]);
    engine.destroy(a.id).await.unwrap();
    engine.destroy(b.id).await.unwrap();
    engine.shutdown();
}
