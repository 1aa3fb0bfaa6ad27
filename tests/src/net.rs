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

/// A TCP relay on a free loopback port to `target`, which can be cut: every connection
/// through it is closed and new ones are refused, as when a network partition separates a
/// node from a server (its etcd, say) while everything else still reaches it.
#[derive(Debug)]
pub struct TcpRelay {
    addr: SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpRelay {
    /// Starts relaying to `target` (inside a tokio runtime).
    pub async fn start(target: SocketAddr) -> TcpRelay {
        let listener = tokio::net::TcpListener::bind((LOOPBACK, 0))
            .await
            .expect("bind TCP 127.0.0.1:0");
        let addr = listener.local_addr().expect("TCP local address");
        let (cut, watched) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *watched.borrow() {
                    continue; // dropped: refused
                }
                let mut cut = watched.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        TcpRelay { addr, cut, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every relayed connection and refuses new ones from now on.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
