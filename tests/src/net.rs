//! Free loopback ports. A port is chosen by binding port 0, so the kernel picks one nobody
//! holds; it is then released for the process under test, which may lose a race with
//! another process: [`crate::ccd::Ccd::start`] retries with a new port when the bind fails.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// A loopback port free for both UDP and TCP at the time of the call (SIP listens on both).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((LOOPBACK, 0)).expect("bind UDP 127.0.0.1:0");
        let port = udp.local_addr().expect("UDP local address").port();
        if TcpListener::bind((LOOPBACK, port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both UDP and TCP after 50 tries");
}

/// A loopback UDP port `p` with `p + 2` free as well: SIPp binds its audio RTP socket on
/// `-mp p` and the video one on `p + 2`.
pub fn free_media_port() -> u16 {
    for _ in 0..50 {
        let audio = UdpSocket::bind((LOOPBACK, 0)).expect("bind UDP 127.0.0.1:0");
        let port = audio.local_addr().expect("UDP local address").port();
        if port < u16::MAX - 2 && UdpSocket::bind((LOOPBACK, port + 2)).is_ok() {
            return port;
        }
    }
    panic!("no pair of free loopback UDP ports (p, p + 2) after 50 tries");
}

/// `n` distinct free UDP ports (local ports for tools that would otherwise bind 5060).
pub fn free_udp_ports(n: usize) -> Vec<u16> {
    // Hold every socket until all are chosen, so the kernel cannot hand out one twice.
    let sockets: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind((LOOPBACK, 0)).expect("bind UDP 127.0.0.1:0"))
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().expect("UDP local address").port())
        .collect()
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((LOOPBACK, port))
}
