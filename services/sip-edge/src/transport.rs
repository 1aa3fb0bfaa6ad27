//! UDP and TCP on one address. Socket tasks parse what arrives and hand it to the SIP core
//! through one bounded queue; when the queue is full a request is answered 503 with
//! Retry-After right here, so memory never grows with load.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cc_common::Shutdown;
use cc_sip::{
    Frame, Header, Message, ParseError, Response, StreamFramer, Transport, error_response_from_raw,
    parse_message,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::metrics::Counters;

/// A TCP connection's id, stable for its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

/// Where a message came from, and so where its responses go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Udp(SocketAddr),
    Tcp { conn: ConnId, addr: SocketAddr },
}

impl Peer {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Peer::Udp(a) | Peer::Tcp { addr: a, .. } => *a,
        }
    }

    pub fn transport(&self) -> Transport {
        match self {
            Peer::Udp(_) => Transport::Udp,
            Peer::Tcp { .. } => Transport::Tcp,
        }
    }

    pub fn is_reliable(&self) -> bool {
        matches!(self, Peer::Tcp { .. })
    }
}

/// A parsed message on its way to the core.
#[derive(Debug)]
pub struct Inbound {
    pub message: Message,
    pub peer: Peer,
}

/// Outgoing side: the UDP socket and the writers of open TCP connections.
#[derive(Debug, Clone)]
pub struct Sender {
    /// A duplicate of the listening socket used for sending: non-blocking std sends do not
    /// depend on tokio having observed write readiness, and never wait.
    udp: Arc<std::net::UdpSocket>,
    conns: Arc<Mutex<HashMap<ConnId, mpsc::Sender<Vec<u8>>>>>,
    counters: Arc<Counters>,
}

impl Sender {
    /// Sends without waiting: a full socket buffer or a slow TCP reader drops the message
    /// (SIP retransmits over UDP; a TCP peer that does not read is disconnected).
    pub fn send(&self, peer: Peer, bytes: Vec<u8>) {
        match peer {
            Peer::Udp(addr) => {
                if let Err(e) = self.udp.send_to(&bytes, addr) {
                    self.counters.send_dropped.fetch_add(1, Ordering::Relaxed);
                    debug!(%addr, error = %e, "UDP send failed");
                }
            }
            Peer::Tcp { conn, addr } => {
                let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
                let Some(tx) = conns.get(&conn) else {
                    debug!(%addr, "TCP connection gone before the response");
                    return;
                };
                if tx.try_send(bytes).is_err() {
                    warn!(%addr, "TCP peer does not read its responses: closing the connection");
                    conns.remove(&conn);
                }
            }
        }
    }

    pub fn tcp_connections(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub max_message_bytes: usize,
    pub max_tcp_connections: usize,
}

/// Bound sockets, before their tasks are started.
#[derive(Debug)]
pub struct Bound {
    pub udp: Arc<UdpSocket>,
    udp_send: Arc<std::net::UdpSocket>,
    pub tcp: TcpListener,
    pub local_addr: SocketAddr,
}

/// Binds UDP and TCP on `addr`. With port 0, TCP takes the port UDP was given.
pub async fn bind(addr: SocketAddr) -> std::io::Result<Bound> {
    let std_udp = std::net::UdpSocket::bind(addr)?;
    std_udp.set_nonblocking(true)?;
    let udp_send = Arc::new(std_udp.try_clone()?);
    let udp = UdpSocket::from_std(std_udp)?;
    let local_addr = udp.local_addr()?;
    let tcp = TcpListener::bind(local_addr).await?;
    Ok(Bound {
        udp: Arc::new(udp),
        udp_send,
        tcp,
        local_addr,
    })
}

/// Starts the socket tasks; returns the sending side.
pub fn start(
    bound: Bound,
    config: TransportConfig,
    to_core: mpsc::Sender<Inbound>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) -> Sender {
    let sender = Sender {
        udp: bound.udp_send.clone(),
        conns: Arc::default(),
        counters: counters.clone(),
    };
    let ingress = Ingress {
        to_core,
        sender: sender.clone(),
        counters,
        max: config.max_message_bytes,
    };
    tokio::spawn(udp_loop(bound.udp, ingress.clone(), shutdown.clone()));
    tokio::spawn(tcp_accept_loop(
        bound.tcp,
        ingress,
        config.max_tcp_connections,
        shutdown,
    ));
    sender
}

/// Shared by the socket tasks: parse, answer what cannot go further, queue the rest.
#[derive(Debug, Clone)]
struct Ingress {
    to_core: mpsc::Sender<Inbound>,
    sender: Sender,
    counters: Arc<Counters>,
    max: usize,
}

impl Ingress {
    fn handle_bytes(&self, bytes: &[u8], peer: Peer) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        if bytes.len() > self.max {
            self.reject_raw(bytes, peer, 513, "message too large");
            return;
        }
        match parse_message(bytes) {
            Ok(message) => self.enqueue(Inbound { message, peer }),
            Err(ParseError::Empty) => {}
            Err(e) => {
                let status = match e {
                    ParseError::Version(_) => 505,
                    ParseError::UnsupportedScheme(_) => 416,
                    ParseError::TooLarge { .. } => 513,
                    _ => 400,
                };
                self.reject_raw(bytes, peer, status, &e.to_string());
            }
        }
    }

    fn reject_raw(&self, bytes: &[u8], peer: Peer, status: u16, why: &str) {
        self.counters.malformed.fetch_add(1, Ordering::Relaxed);
        match error_response_from_raw(bytes, status, why) {
            Some(resp) => {
                debug!(peer = %peer.addr(), status, why, "rejected a malformed request");
                self.sender.send(peer, resp);
            }
            None => {
                debug!(peer = %peer.addr(), why, len = bytes.len(), "dropped an unparseable message")
            }
        }
    }

    fn enqueue(&self, inbound: Inbound) {
        match self.to_core.try_send(inbound) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(inbound)) => {
                self.counters
                    .overload_rejected
                    .fetch_add(1, Ordering::Relaxed);
                if let Message::Request(req) = &inbound.message
                    && req.method != cc_sip::Method::Ack
                {
                    let mut resp = Response::to_request(req, 503, Some("ccd-overload"));
                    resp.headers.push(Header::Other {
                        name: "Retry-After".into(),
                        value: "5".into(),
                    });
                    self.sender.send(inbound.peer, resp.to_bytes());
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

async fn udp_loop(sock: Arc<UdpSocket>, ingress: Ingress, mut shutdown: Shutdown) {
    // One byte more than the limit tells an oversize datagram from one exactly at it.
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => ingress.handle_bytes(&buf[..n], Peer::Udp(from)),
                // ICMP port unreachable and friends surface here on some systems; keep serving.
                Err(e) => debug!(error = %e, "UDP receive error"),
            },
            _ = shutdown.wait() => break,
        }
    }
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

async fn tcp_accept_loop(
    listener: TcpListener,
    ingress: Ingress,
    max_conns: usize,
    mut shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, addr)) => {
                    if ingress.sender.tcp_connections() >= max_conns {
                        warn!(%addr, max_conns, "TCP connection limit reached: refusing");
                        drop(stream);
                        continue;
                    }
                    let conn = ConnId(NEXT_CONN.fetch_add(1, Ordering::Relaxed));
                    tokio::spawn(tcp_connection(stream, addr, conn, ingress.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // EMFILE and the like: back off briefly instead of spinning.
                    warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.wait() => break,
        }
    }
}

async fn tcp_connection(
    stream: TcpStream,
    addr: SocketAddr,
    conn: ConnId,
    ingress: Ingress,
    mut shutdown: Shutdown,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    ingress
        .sender
        .conns
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(conn, tx.clone());
    let peer = Peer::Tcp { conn, addr };
    debug!(%addr, "TCP connection open");

    let write_task = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });

    let mut framer = StreamFramer::new(ingress.max);
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = tokio::select! {
            r = reader.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = shutdown.wait() => break,
        };
        framer.handle_bytes(&buf[..n]);
        loop {
            match framer.poll_frame() {
                Ok(Some(Frame::Message(bytes))) => ingress.handle_bytes(&bytes, peer),
                Ok(Some(Frame::Ping)) => {
                    let _ = tx.try_send(b"\r\n".to_vec());
                }
                Ok(None) => break,
                Err(e) => {
                    // The stream is out of sync: answer if possible, then close.
                    let status = if matches!(e, ParseError::TooLarge { .. }) {
                        513
                    } else {
                        400
                    };
                    ingress.reject_raw(&buf[..n], peer, status, &e.to_string());
                    break 'read;
                }
            }
        }
    }
    ingress
        .sender
        .conns
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&conn);
    drop(tx);
    let _ = write_task.await;
    info!(%addr, "TCP connection closed");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const OPTIONS: &str = "OPTIONS sip:ping@cc.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{n}\r\n\
        From: <sip:a@cc.local>;tag=1\r\nTo: <sip:ping@cc.local>\r\nCall-ID: ov{n}\r\nCSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    /// An ingress whose responses go out of a real loopback socket to `client`.
    struct Fixture {
        client: UdpSocket,
        counters: Arc<Counters>,
        ingress: Ingress,
        core_rx: mpsc::Receiver<Inbound>,
        peer: Peer,
    }

    impl Fixture {
        async fn new(queue: usize, max: usize) -> Fixture {
            let server = Arc::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let counters = Arc::new(Counters::default());
            let sender = Sender {
                udp: server,
                conns: Arc::default(),
                counters: counters.clone(),
            };
            let (to_core, core_rx) = mpsc::channel(queue);
            let ingress = Ingress {
                to_core,
                sender,
                counters: counters.clone(),
                max,
            };
            let peer = Peer::Udp(client.local_addr().unwrap());
            Fixture {
                client,
                counters,
                ingress,
                core_rx,
                peer,
            }
        }
    }

    #[tokio::test]
    async fn a_full_core_queue_answers_503_with_retry_after_instead_of_queueing() {
        // Capacity 1 and nobody reading: the core is "busy".
        let Fixture {
            client,
            counters,
            ingress,
            mut core_rx,
            peer,
        } = Fixture::new(1, 4096).await;

        ingress.handle_bytes(OPTIONS.replace("{n}", "1").as_bytes(), peer);
        ingress.handle_bytes(OPTIONS.replace("{n}", "2").as_bytes(), peer);

        let mut buf = [0u8; 2048];
        let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
            .await
            .expect("a 503 arrives")
            .unwrap();
        let Message::Response(r) = parse_message(&buf[..n]).unwrap() else {
            panic!("not a response")
        };
        assert_eq!(r.status, 503);
        assert_eq!(r.headers.call_id(), Some("ov2"));
        assert_eq!(r.headers.other("Retry-After"), Some("5"));
        assert!(r.headers.to().unwrap().tag().is_some());
        assert_eq!(counters.overload_rejected.load(Ordering::Relaxed), 1);
        // The first request was queued untouched, and only it.
        assert_eq!(
            core_rx.try_recv().unwrap().message.headers().call_id(),
            Some("ov1")
        );
        assert!(core_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn oversize_and_malformed_datagrams_never_reach_the_core() {
        let Fixture {
            client,
            counters,
            ingress,
            mut core_rx,
            peer,
        } = Fixture::new(8, 1024).await;

        let big = OPTIONS.replace("{n}", "3").replace(
            "Content-Length: 0\r\n\r\n",
            &format!("X-Pad: {}\r\nContent-Length: 0\r\n\r\n", "a".repeat(2000)),
        );
        ingress.handle_bytes(big.as_bytes(), peer);
        ingress.handle_bytes(b"\x00\x01garbage", peer);
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let Message::Response(r) = parse_message(&buf[..n]).unwrap() else {
            panic!("not a response")
        };
        assert_eq!(r.status, 513);
        // A Request-URI of a scheme we do not serve: 416.
        let urn = OPTIONS
            .replace("{n}", "4")
            .replace("OPTIONS sip:ping@cc.local", "OPTIONS urn:service:sos");
        ingress.handle_bytes(urn.as_bytes(), peer);
        let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let Message::Response(r) = parse_message(&buf[..n]).unwrap() else {
            panic!("not a response")
        };
        assert_eq!(r.status, 416);
        assert!(core_rx.try_recv().is_err());
        assert_eq!(counters.malformed.load(Ordering::Relaxed), 3);
    }
}
