//! A raw SIP client for what no tool sends: malformed and oversize messages, exact header
//! checks, digest answers to either offered challenge. UDP or TCP, blocking, every receive
//! bounded by a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::net::LOOPBACK;
use crate::unique;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub const BOTH: [Transport; 2] = [Transport::Udp, Transport::Tcp];

    /// As in a Via header.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.via_name())
    }
}

/// A request to send. The Via (with a fresh branch unless one is set), Max-Forwards and
/// Content-Length are added when it is encoded.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub from: String,
    pub from_tag: String,
    pub to: String,
    /// The To tag, inside a dialog or in the ACK of a non-2xx response.
    pub to_tag: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    pub branch: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A request with a fresh Call-ID, tag and branch, CSeq 1, To = the request URI.
    pub fn new(method: &str, uri: &str) -> Request {
        Request {
            method: method.into(),
            uri: uri.into(),
            from: "sip:e2e@cc.local".into(),
            from_tag: unique(),
            to: uri.into(),
            to_tag: None,
            call_id: format!("{}@e2e.test", unique()),
            cseq: 1,
            branch: format!("z9hG4bK-{}", unique()),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn from(mut self, uri: &str) -> Self {
        self.from = uri.into();
        self
    }

    pub fn to(mut self, uri: &str) -> Self {
        self.to = uri.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    /// The next request of the same call (same Call-ID and From tag): CSeq + 1, a new branch,
    /// no extra headers.
    pub fn next_in_call(&self) -> Request {
        Request {
            cseq: self.cseq + 1,
            branch: format!("z9hG4bK-{}", unique()),
            headers: Vec::new(),
            body: Vec::new(),
            ..self.clone()
        }
    }

    /// The ACK of a non-2xx final response to this INVITE (RFC 3261 17.1.1.3): the same
    /// branch, Call-ID and CSeq number, the To tag of the response.
    pub fn ack_for(&self, response: &Response) -> Request {
        Request {
            method: "ACK".into(),
            to_tag: response.to_tag().map(str::to_owned),
            headers: Vec::new(),
            body: Vec::new(),
            ..self.clone()
        }
    }

    pub fn encode(&self, transport: Transport, local: SocketAddr) -> Vec<u8> {
        let to_tag = self
            .to_tag
            .as_deref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        let mut head = format!(
            "{} {} SIP/2.0\r\nVia: SIP/2.0/{} {local};branch={};rport\r\nMax-Forwards: 70\r\n\
             From: <{}>;tag={}\r\nTo: <{}>{to_tag}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
            self.method,
            self.uri,
            transport.via_name(),
            self.branch,
            self.from,
            self.from_tag,
            self.to,
            self.call_id,
            self.cseq,
            self.method
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// In order, names as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The whole message, for assertion messages.
    pub raw: String,
}

/// Compact header forms (RFC 3261 7.3.3) of the headers the tests look at.
fn full_name(name: &str) -> &str {
    match name.to_ascii_lowercase().as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "k" => "supported",
        _ => name,
    }
}

impl Response {
    /// Parses a whole response (status line, headers, body); `None` for anything else.
    pub fn parse(bytes: &[u8]) -> Option<Response> {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let (head, body) = match text.find("\r\n\r\n") {
            Some(i) => (&text[..i], bytes.get(i + 4..).unwrap_or_default().to_vec()),
            None => (text.as_str(), Vec::new()),
        };
        let mut lines = head.split("\r\n");
        let mut status_line = lines.next()?.splitn(3, ' ');
        let version = status_line.next()?.to_owned();
        if !version.starts_with("SIP/") {
            return None;
        }
        let status = status_line.next()?.parse().ok()?;
        let reason = status_line.next().unwrap_or_default().to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Some(Response {
            version,
            status,
            reason,
            headers,
            body,
            raw: text,
        })
    }

    /// Every value of header `name` (case-insensitive, compact forms included), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let want = full_name(name).to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| full_name(n).eq_ignore_ascii_case(&want))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The tag parameter of the To header.
    pub fn to_tag(&self) -> Option<&str> {
        let to = self.header("To")?;
        let after = &to[to.rfind('>').unwrap_or(0)..];
        let start = after.find(";tag=")? + 5;
        Some(after[start..].split(';').next().unwrap_or_default().trim())
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let (n, m) = self.header("CSeq")?.split_once(char::is_whitespace)?;
        Some((n.trim().parse().ok()?, m.trim()))
    }

    /// Whether this answers `req` (same Call-ID and CSeq).
    pub fn answers(&self, req: &Request) -> bool {
        self.call_id() == Some(req.call_id.as_str())
            && self.cseq() == Some((req.cseq, req.method.as_str()))
    }

    /// The status line, for messages.
    pub fn status_line(&self) -> String {
        format!("{} {} {}", self.version, self.status, self.reason)
    }
}

#[derive(Debug)]
enum Socket {
    Udp(UdpSocket),
    /// The stream and the bytes read but not yet parsed.
    Tcp(TcpStream, Vec<u8>),
}

/// One client socket talking to one server.
#[derive(Debug)]
pub struct SipClient {
    transport: Transport,
    socket: Socket,
    server: SocketAddr,
    local: SocketAddr,
    /// Everything sent and received, for assertion messages.
    pub transcript: Vec<String>,
}

impl SipClient {
    /// A UDP socket on a free loopback port, or a TCP connection to `server`.
    pub fn connect(transport: Transport, server: SocketAddr) -> SipClient {
        let socket = match transport {
            Transport::Udp => {
                Socket::Udp(UdpSocket::bind((LOOPBACK, 0)).expect("bind UDP 127.0.0.1:0"))
            }
            Transport::Tcp => {
                let s = TcpStream::connect_timeout(&server, Duration::from_secs(5))
                    .unwrap_or_else(|e| panic!("TCP connect to {server}: {e}"));
                s.set_nodelay(true).expect("TCP_NODELAY");
                Socket::Tcp(s, Vec::new())
            }
        };
        let local = match &socket {
            Socket::Udp(s) => s.local_addr(),
            Socket::Tcp(s, _) => s.local_addr(),
        }
        .expect("local address");
        SipClient {
            transport,
            socket,
            server,
            local,
            transcript: Vec::new(),
        }
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// A `sip:` URI of the server, with `user` when given.
    pub fn server_uri(&self, user: Option<&str>) -> String {
        match user {
            Some(u) => format!("sip:{u}@{}", self.server),
            None => format!("sip:{}", self.server),
        }
    }

    /// Sends bytes as they are (one datagram over UDP).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.transcript.push(format!(
            ">>> sent {} bytes over {}:\n{}",
            bytes.len(),
            self.transport,
            preview(bytes)
        ));
        match &mut self.socket {
            Socket::Udp(s) => {
                s.send_to(bytes, self.server)
                    .unwrap_or_else(|e| panic!("UDP send to {}: {e}", self.server));
            }
            Socket::Tcp(s, _) => s
                .write_all(bytes)
                .unwrap_or_else(|e| panic!("TCP send to {}: {e}", self.server)),
        }
    }

    pub fn send(&mut self, req: &Request) {
        let bytes = req.encode(self.transport, self.local);
        self.send_raw(&bytes);
    }

    /// The next response within `timeout`; `None` when nothing (parseable) came.
    pub fn recv(&mut self, timeout: Duration) -> Option<Response> {
        let deadline = Instant::now() + timeout;
        loop {
            let bytes = self.recv_message(deadline)?;
            self.transcript.push(format!(
                "<<< received {} bytes:\n{}",
                bytes.len(),
                preview(&bytes)
            ));
            if let Some(r) = Response::parse(&bytes) {
                return Some(r);
            }
        }
    }

    /// The final response (skipping provisional ones) to `req` within `timeout`.
    pub fn final_response(&mut self, req: &Request, timeout: Duration) -> Option<Response> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self.recv(left)?;
            if r.answers(req) && r.status >= 200 {
                return Some(r);
            }
        }
    }

    /// Sends `req` and returns its final response, or panics with the transcript after 5 s.
    pub fn exchange(&mut self, req: &Request) -> Response {
        self.send(req);
        match self.final_response(req, Duration::from_secs(5)) {
            Some(r) => r,
            None => panic!(
                "no final response to {} within 5 s\n{}",
                req.method,
                self.transcript_text()
            ),
        }
    }

    pub fn transcript_text(&self) -> String {
        self.transcript.join("\n")
    }

    fn recv_message(&mut self, deadline: Instant) -> Option<Vec<u8>> {
        match &mut self.socket {
            Socket::Udp(s) => {
                let mut buf = vec![0u8; 65536];
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    s.set_read_timeout(Some(left))
                        .expect("set UDP read timeout");
                    match s.recv_from(&mut buf) {
                        Ok((n, from)) if from == self.server => return Some(buf[..n].to_vec()),
                        Ok(_) => continue, // not from the node under test
                        Err(e) if is_timeout(&e) => return None,
                        Err(e) => panic!("UDP receive: {e}"),
                    }
                }
            }
            Socket::Tcp(s, pending) => loop {
                if let Some(n) = complete_message_len(pending) {
                    return Some(pending.drain(..n).collect());
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                s.set_read_timeout(Some(left))
                    .expect("set TCP read timeout");
                let mut buf = [0u8; 16384];
                match s.read(&mut buf) {
                    Ok(0) => return None, // closed by the node
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e) if is_timeout(&e) => return None,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                    Err(e) => panic!("TCP receive: {e}"),
                }
            },
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// The length of the first whole message in a TCP stream buffer (head + Content-Length body).
fn complete_message_len(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]);
    let body_len = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| {
            n.trim().eq_ignore_ascii_case("content-length") || n.trim().eq_ignore_ascii_case("l")
        })
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= end + body_len).then_some(end + body_len)
}

/// The start of a message for transcripts (a 20 KB body is not worth printing).
fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 1500;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{text}[... {} more bytes]", bytes.len() - MAX)
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_folded_and_compact_headers() {
        let raw = b"SIP/2.0 401 Unauthorized\r\nv: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bK-1\r\nCall-ID: a@b\r\n\
CSeq: 7 REGISTER\r\nWWW-Authenticate: Digest realm=\"x\",\r\n  nonce=\"1\"\r\nWWW-Authenticate: Digest realm=\"y\"\r\nl: 0\r\n\r\n";
        let r = Response::parse(raw).unwrap();
        assert_eq!((r.status, r.reason.as_str()), (401, "Unauthorized"));
        assert_eq!(
            r.all("www-authenticate"),
            vec!["Digest realm=\"x\", nonce=\"1\"", "Digest realm=\"y\""]
        );
        assert_eq!(
            r.header("Via"),
            Some("SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bK-1")
        );
        assert_eq!(r.cseq(), Some((7, "REGISTER")));
    }

    #[test]
    fn tcp_framing_waits_for_the_body() {
        let m = b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nab";
        assert_eq!(complete_message_len(m), None);
        let m = b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabcSIP/2.0";
        assert_eq!(complete_message_len(m), Some(m.len() - 7));
    }
}
