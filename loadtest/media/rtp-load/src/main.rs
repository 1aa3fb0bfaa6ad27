//! rtp-load: bridged G.711 calls through an RTP relay, for loadtest/media-relay.sh.
//!
//! Each call has two legs; each leg is one UDP socket of ours on 127.0.0.1, connected to the
//! relay's port for that leg. Every leg sends one 20 ms PCMU packet (12-byte RTP header +
//! 160 bytes) per tick, so a call is 100 packets/s through the relay (50 each way). The
//! payload carries the tick number and the sending leg, so the receiving leg can tell which
//! packets belong to the measurement window (relays rewrite seq/ts/ssrc, not the payload)
//! and that a packet came out on the right leg.
//!
//! Legs are paced from `--threads` threads (default 2), each owning whole calls, sends
//! spread over 10 phases of 2 ms within each tick (calls do not all start at the same
//! instant in real life). A late thread sends the overdue phases at once (the offered rate
//! stays the same) and reports how late it was.
//!
//! `--sockets shared` (default): each thread has ONE socket that every leg it owns names in
//! its SDP; it sends a phase's packets with one sendmmsg (a destination per message) and
//! receives with recvmmsg, telling legs apart by the relay port a packet comes from. The
//! relay's work is the same as with a socket per leg (it still receives on and sends from
//! one socket per leg), while ours is far cheaper: this generator shares 2 cores with it.
//! `--sockets per-leg`: a socket per leg, connected to the relay's port, one epoll set per
//! thread, a send() per packet (closer to real phones; costs the generator about twice as
//! much CPU).
//!
//! Targets (how a leg learns where to send):
//!   ccd        --grpc ADDR: CreateEndpoint (our SDP offer) twice, the second with
//!              near_endpoint_id = the first, then Bridge; the answers name the ports.
//!   floor      --base PORT: the C relay (floor_relay.c) holds leg A of pair i on BASE+2i
//!              and leg B on BASE+2i+1 and latches our addresses from the first packets.
//!   rtpengine  --ng ADDR: ng protocol "offer" (leg A's SDP) and "answer" (leg B's SDP).
//!
//! With --pid, the target process's CPU time (utime+stime of /proc/PID/stat) and VmRSS are
//! read at the start and end of the measurement window, and our own CPU time likewise.
//! Prints one JSON object on stdout; progress goes to stderr.

use std::io::{self, ErrorKind};
use std::net::SocketAddrV4;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

mod pb {
    tonic::include_proto!("cc.media.internal.v1");
}

const TICK: Duration = Duration::from_millis(20);
/// Sub-slots of a tick over which the legs' sends are spread.
const PHASES: u64 = 10;
const PAYLOAD: usize = 160;
const HEADER: usize = 12;
/// After the last send, how long to keep receiving late packets.
const DRAIN: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
enum Target {
    Ccd { grpc: String },
    Floor { base: u16 },
    Rtpengine { ng: SocketAddr },
}

#[derive(Debug, Clone)]
struct Args {
    target: Target,
    calls: usize,
    warmup: Duration,
    secs: Duration,
    threads: usize,
    pid: Option<u32>,
    concurrency: usize,
    shared: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: rtp-load (ccd --grpc HOST:PORT | floor --base PORT | rtpengine --ng HOST:PORT)\n\
         \x20      --calls N [--warmup SECS] [--secs SECS] [--threads N] [--pid PID] [--concurrency N]\n\
         \x20      [--sockets shared|per-leg]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let kind = it.next().unwrap_or_else(|| usage());
    let (mut grpc, mut base, mut ng) = (None, None, None);
    let mut args = Args {
        target: Target::Floor { base: 0 },
        calls: 0,
        warmup: Duration::from_secs(2),
        secs: Duration::from_secs(8),
        threads: 2,
        pid: None,
        concurrency: 32,
        shared: true,
    };
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let bad = |_| -> ! {
            eprintln!("bad value {value:?} for {flag}");
            usage()
        };
        match flag.as_str() {
            "--grpc" => grpc = Some(value.clone()),
            "--base" => base = Some(value.parse::<u16>().unwrap_or_else(|e| bad(e.to_string()))),
            "--ng" => {
                ng = Some(
                    value
                        .parse::<SocketAddr>()
                        .unwrap_or_else(|e| bad(e.to_string())),
                )
            }
            "--calls" => {
                args.calls = value
                    .parse()
                    .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string()))
            }
            "--warmup" => {
                args.warmup = Duration::from_secs_f64(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::num::ParseFloatError| bad(e.to_string())),
                )
            }
            "--secs" => {
                args.secs = Duration::from_secs_f64(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::num::ParseFloatError| bad(e.to_string())),
                )
            }
            "--threads" => {
                args.threads = value
                    .parse()
                    .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string()))
            }
            "--pid" => {
                args.pid = Some(
                    value
                        .parse()
                        .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string())),
                )
            }
            "--sockets" => {
                args.shared = match value.as_str() {
                    "shared" => true,
                    "per-leg" => false,
                    _ => usage(),
                }
            }
            "--concurrency" => {
                args.concurrency = value
                    .parse()
                    .unwrap_or_else(|e: std::num::ParseIntError| bad(e.to_string()))
            }
            _ => usage(),
        }
    }
    args.target = match kind.as_str() {
        "ccd" => Target::Ccd {
            grpc: grpc.unwrap_or_else(|| usage()),
        },
        "floor" => Target::Floor {
            base: base.unwrap_or_else(|| usage()),
        },
        "rtpengine" => Target::Rtpengine {
            ng: ng.unwrap_or_else(|| usage()),
        },
        _ => usage(),
    };
    if args.calls == 0 || args.threads == 0 {
        usage();
    }
    args.threads = args.threads.min(args.calls);
    args
}

fn offer_sdp(session: usize, port: u16) -> String {
    format!(
        "v=0\r\no=rtp-load {session} 1 IN IP4 127.0.0.1\r\ns=rtp-load\r\nc=IN IP4 127.0.0.1\r\n\
         t=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// The RTP address an SDP names (session or media-level c= line, first m=audio port).
fn sdp_addr(sdp: &str) -> Result<SocketAddr, String> {
    let mut ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("c=IN IP4 ") {
            // A media-level c= (after m=) wins over the session one; both are the same here.
            if let Ok(a) = rest.split('/').next().unwrap_or("").trim().parse() {
                ip = Some(a);
            }
        } else if let Some(rest) = line.strip_prefix("m=audio ")
            && port.is_none()
        {
            port = rest.split_whitespace().next().and_then(|p| p.parse().ok());
        }
    }
    match (ip, port) {
        (Some(ip), Some(port)) => Ok(SocketAddr::new(ip, port)),
        _ => Err(format!("no c=/m=audio address in SDP:\n{sdp}")),
    }
}

// ---------------------------------------------------------------- setup: ccd over gRPC

async fn setup_ccd(
    grpc: &str,
    locals: &[[SocketAddr; 2]],
    concurrency: usize,
) -> Result<Vec<[SocketAddr; 2]>, String> {
    use pb::media_control_client::MediaControlClient;
    let url = if grpc.starts_with("http") {
        grpc.to_owned()
    } else {
        format!("http://{grpc}")
    };
    let client = MediaControlClient::connect(url)
        .await
        .map_err(|e| format!("connect {grpc}: {e}"))?;
    let mut remotes = vec![[SocketAddr::from(([0, 0, 0, 0], 0)); 2]; locals.len()];
    let mut next = 0;
    while next < locals.len() {
        let mut set = tokio::task::JoinSet::new();
        let end = (next + concurrency).min(locals.len());
        for (i, &[la, lb]) in locals.iter().enumerate().take(end).skip(next) {
            let mut c = client.clone();
            set.spawn(async move {
                let a = c
                    .create_endpoint(pb::CreateEndpointRequest {
                        remote_offer: offer_sdp(2 * i, la.port()),
                        near_endpoint_id: String::new(),
                        label: format!("rtp-load-{i}-a"),
                        webrtc: false,
                    })
                    .await
                    .map_err(|e| format!("CreateEndpoint a of call {i}: {e}"))?
                    .into_inner();
                let b = c
                    .create_endpoint(pb::CreateEndpointRequest {
                        remote_offer: offer_sdp(2 * i + 1, lb.port()),
                        near_endpoint_id: a.endpoint_id.clone(),
                        label: format!("rtp-load-{i}-b"),
                        webrtc: false,
                    })
                    .await
                    .map_err(|e| format!("CreateEndpoint b of call {i}: {e}"))?
                    .into_inner();
                c.bridge(pb::BridgeRequest {
                    endpoint_id: a.endpoint_id.clone(),
                    other_endpoint_id: b.endpoint_id.clone(),
                })
                .await
                .map_err(|e| format!("Bridge of call {i}: {e}"))?;
                Ok::<_, String>((i, [sdp_addr(&a.local_sdp)?, sdp_addr(&b.local_sdp)?]))
            });
        }
        while let Some(r) = set.join_next().await {
            let (i, addrs) = r.map_err(|e| e.to_string())??;
            remotes[i] = addrs;
        }
        next += concurrency;
    }
    Ok(remotes)
}

// ---------------------------------------------------------------- setup: rtpengine (ng)

fn bencode_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(format!("{}:", s.len()).as_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// One ng request (a flat dictionary of strings, keys sorted) and its "sdp" reply.
fn ng_request(
    sock: &UdpSocket,
    cookie: &str,
    pairs: &mut [(&str, String)],
) -> Result<String, String> {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut msg = Vec::with_capacity(1024);
    msg.extend_from_slice(cookie.as_bytes());
    msg.extend_from_slice(b" d");
    for (k, v) in pairs.iter() {
        bencode_str(&mut msg, k);
        bencode_str(&mut msg, v);
    }
    msg.push(b'e');
    let mut buf = vec![0u8; 65536];
    for _attempt in 0..5 {
        sock.send(&msg).map_err(|e| format!("ng send: {e}"))?;
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let Some(body) = reply.strip_prefix(cookie).and_then(|r| r.strip_prefix(' '))
                    else {
                        continue; // a late reply to an earlier attempt
                    };
                    if !body.contains("6:result2:ok") {
                        return Err(format!("ng error: {body}"));
                    }
                    let at = body
                        .find("3:sdp")
                        .ok_or_else(|| format!("ng reply without sdp: {body}"))?
                        + 5;
                    let colon = body[at..].find(':').ok_or("bad bencode")? + at;
                    let len: usize = body[at..colon].parse().map_err(|_| "bad bencode length")?;
                    return Ok(body[colon + 1..colon + 1 + len].to_owned());
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => return Err(format!("ng recv: {e}")),
            }
        }
    }
    Err("ng: no reply after 5 attempts".into())
}

fn setup_rtpengine(
    ng: SocketAddr,
    locals: &[[SocketAddr; 2]],
) -> Result<Vec<[SocketAddr; 2]>, String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.connect(ng).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let run = std::process::id();
    let mut remotes = Vec::with_capacity(locals.len());
    for (i, [la, lb]) in locals.iter().enumerate() {
        let call_id = format!("rtp-load-{run}-{i}");
        // The SDP rtpengine returns for the offer goes to the callee (leg B): it names the
        // port B sends to. The answer's result goes to the caller (leg A).
        let to_b = ng_request(
            &sock,
            &format!("o{i}"),
            &mut [
                ("command", "offer".into()),
                ("call-id", call_id.clone()),
                ("from-tag", format!("a{i}")),
                ("sdp", offer_sdp(2 * i, la.port())),
            ],
        )?;
        let to_a = ng_request(
            &sock,
            &format!("a{i}"),
            &mut [
                ("command", "answer".into()),
                ("call-id", call_id),
                ("from-tag", format!("a{i}")),
                ("to-tag", format!("b{i}")),
                ("sdp", offer_sdp(2 * i + 1, lb.port())),
            ],
        )?;
        remotes.push([sdp_addr(&to_a)?, sdp_addr(&to_b)?]);
    }
    Ok(remotes)
}

// ---------------------------------------------------------------- traffic

const PACKET: usize = HEADER + PAYLOAD;
/// Messages per recvmmsg call (shared socket).
const RECV_BATCH: usize = 64;

struct Leg {
    /// Global leg index: 2 * call + (0 for A, 1 for B).
    id: u32,
    ssrc: u32,
    seq: u16,
    ts: u32,
    /// The relay's port for this leg, as sendmmsg wants it.
    remote: libc::sockaddr_in,
}

fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// How a thread's legs reach the relay.
enum Sockets {
    /// A socket per leg (index = leg's position in the thread), connected to its remote.
    PerLeg(Vec<UdpSocket>),
    /// One socket for all legs; `by_port[relay port]` is the leg a packet from there is for.
    Shared {
        socket: UdpSocket,
        by_port: Vec<u32>,
    },
}

/// sendmmsg of `n` prepared packets, one destination each. Returns (sent, failed).
fn send_batch(
    fd: RawFd,
    bufs: &mut [[u8; PACKET]],
    dests: &[*const libc::sockaddr_in],
    n: usize,
) -> (u64, u64) {
    let mut iovs: Vec<libc::iovec> = bufs[..n]
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: PACKET,
        })
        .collect();
    // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) value.
    let mut hdrs: Vec<libc::mmsghdr> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (k, h) in hdrs.iter_mut().enumerate() {
        h.msg_hdr.msg_name = dests[k].cast_mut().cast();
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_hdr.msg_iov = &mut iovs[k];
        h.msg_hdr.msg_iovlen = 1;
    }
    let (mut done, mut failed) = (0usize, 0u64);
    while done < n {
        let chunk = (n - done).min(1024) as libc::c_uint;
        // SAFETY: hdrs[done..] are valid headers pointing into live iovs, bufs and dests.
        let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr().add(done), chunk, 0) };
        if r < 0 {
            if io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                continue;
            }
            // The first message of the chunk failed: count it and go on with the rest.
            failed += 1;
            done += 1;
        } else {
            done += r as usize;
        }
    }
    ((n as u64) - failed, failed)
}

struct RecvBatch {
    bufs: Vec<[u8; 256]>,
    names: Vec<libc::sockaddr_in>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl RecvBatch {
    fn new() -> Box<RecvBatch> {
        // SAFETY: sockaddr_in and mmsghdr are plain data; all-zero is a valid value.
        let mut b = Box::new(RecvBatch {
            bufs: vec![[0u8; 256]; RECV_BATCH],
            names: (0..RECV_BATCH)
                .map(|_| unsafe { std::mem::zeroed() })
                .collect(),
            iovs: Vec::with_capacity(RECV_BATCH),
            hdrs: (0..RECV_BATCH)
                .map(|_| unsafe { std::mem::zeroed() })
                .collect(),
        });
        let RecvBatch {
            bufs,
            names,
            iovs,
            hdrs,
        } = &mut *b;
        for buf in bufs.iter_mut() {
            iovs.push(libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            });
        }
        for (k, h) in hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_name = (&mut names[k] as *mut libc::sockaddr_in).cast();
            h.msg_hdr.msg_iov = &mut iovs[k];
            h.msg_hdr.msg_iovlen = 1;
        }
        b
    }

    /// One recvmmsg; returns how many datagrams arrived (0 when none is waiting).
    fn recv(&mut self, fd: RawFd) -> usize {
        for h in self.hdrs.iter_mut() {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_len = 0;
        }
        // SAFETY: the headers point into this struct's buffers, which outlive the call.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                RECV_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 { 0 } else { r as usize }
    }

    fn datagram(&self, k: usize) -> (u16, &[u8]) {
        let port = u16::from_be(self.names[k].sin_port);
        let len = (self.hdrs[k].msg_len as usize).min(self.bufs[k].len());
        (port, &self.bufs[k][..len])
    }
}

#[derive(Debug, Default, Clone)]
struct Counts {
    sent_window: u64,
    received_window: u64,
    sent_total: u64,
    received_total: u64,
    send_errors: u64,
    misrouted: u64,
    /// Legs that received nothing in the window.
    silent_legs: u64,
    late_max: Duration,
    late_sum: Duration,
    slots: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.sent_window += o.sent_window;
        self.received_window += o.received_window;
        self.sent_total += o.sent_total;
        self.received_total += o.received_total;
        self.send_errors += o.send_errors;
        self.misrouted += o.misrouted;
        self.silent_legs += o.silent_legs;
        self.late_max = self.late_max.max(o.late_max);
        self.late_sum += o.late_sum;
        self.slots += o.slots;
    }
}

/// What one received datagram counts for.
fn account(
    counts: &mut Counts,
    received: &mut [u32],
    legs: &[Leg],
    i: usize,
    data: &[u8],
    window: (u64, u64),
) {
    if data.len() < HEADER + 8 {
        return;
    }
    counts.received_total += 1;
    let word = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let tick = u64::from(word(HEADER));
    let from = word(HEADER + 4);
    if from != legs[i].id ^ 1 {
        counts.misrouted += 1;
        return;
    }
    if tick >= window.0 && tick < window.1 {
        counts.received_window += 1;
        received[i] += 1;
    }
}

/// Ticks [window.0, window.1) are measured; ticks before are warm-up.
fn traffic(
    mut legs: Vec<Leg>,
    sockets: Sockets,
    start: Instant,
    window: (u64, u64),
) -> io::Result<Counts> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(io::Error::from)?;
    match &sockets {
        Sockets::PerLeg(socks) => {
            for (i, s) in socks.iter().enumerate() {
                epoll
                    .add(s.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
                    .map_err(io::Error::from)?;
            }
        }
        Sockets::Shared { socket, .. } => {
            epoll
                .add(socket.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 0))
                .map_err(io::Error::from)?;
        }
    }
    let phases: Vec<Vec<usize>> = (0..PHASES as usize)
        .map(|p| (p..legs.len()).step_by(PHASES as usize).collect())
        .collect();
    let biggest = phases.iter().map(Vec::len).max().unwrap_or(0);
    let mut bufs = vec![[0xffu8; PACKET]; biggest];
    let mut dests: Vec<*const libc::sockaddr_in> = Vec::with_capacity(biggest);
    let mut rb = RecvBatch::new();
    let mut received = vec![0u32; legs.len()];
    let mut counts = Counts::default();
    let slot_len = TICK / PHASES as u32;
    let slot_time = |s: u64| start + slot_len * s as u32;
    let total_slots = window.1 * PHASES;
    let mut next_slot = 0u64;
    let mut buf = [0u8; 2048];
    let mut events = vec![EpollEvent::empty(); 1024];
    let mut drain_until: Option<Instant> = None;
    loop {
        while next_slot < total_slots {
            let now = Instant::now();
            let due = slot_time(next_slot);
            if due > now {
                break;
            }
            let late = now - due;
            counts.late_max = counts.late_max.max(late);
            counts.late_sum += late;
            counts.slots += 1;
            let tick = next_slot / PHASES;
            let phase = &phases[(next_slot % PHASES) as usize];
            dests.clear();
            for (k, &i) in phase.iter().enumerate() {
                let leg = &mut legs[i];
                let p = &mut bufs[k];
                p[0] = 0x80; // V=2
                p[1] = 0; // PT 0 (PCMU)
                p[2..4].copy_from_slice(&leg.seq.to_be_bytes());
                p[4..8].copy_from_slice(&leg.ts.to_be_bytes());
                p[8..12].copy_from_slice(&leg.ssrc.to_be_bytes());
                p[HEADER..HEADER + 4].copy_from_slice(&(tick as u32).to_be_bytes());
                p[HEADER + 4..HEADER + 8].copy_from_slice(&leg.id.to_be_bytes());
                leg.seq = leg.seq.wrapping_add(1);
                leg.ts = leg.ts.wrapping_add(PAYLOAD as u32);
                dests.push(&leg.remote);
            }
            let (sent, failed) = match &sockets {
                Sockets::PerLeg(socks) => {
                    let mut ok = 0;
                    for (k, &i) in phase.iter().enumerate() {
                        if socks[i].send(&bufs[k]).is_ok() {
                            ok += 1;
                        }
                    }
                    (ok, phase.len() as u64 - ok)
                }
                Sockets::Shared { socket, .. } => {
                    send_batch(socket.as_raw_fd(), &mut bufs, &dests, phase.len())
                }
            };
            counts.sent_total += sent;
            counts.send_errors += failed;
            if tick >= window.0 {
                counts.sent_window += sent;
            }
            next_slot += 1;
        }
        let now = Instant::now();
        let wait_until = if next_slot < total_slots {
            slot_time(next_slot)
        } else {
            *drain_until.get_or_insert(now + DRAIN)
        };
        if next_slot >= total_slots && now >= wait_until {
            break;
        }
        // Round up to whole milliseconds: waking early would only spin.
        let ms = wait_until
            .saturating_duration_since(now)
            .as_micros()
            .div_ceil(1000);
        let n = match epoll.wait(&mut events, u16::try_from(ms).unwrap_or(u16::MAX)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        match &sockets {
            Sockets::PerLeg(socks) => {
                for ev in &events[..n] {
                    let i = ev.data() as usize;
                    // Level-triggered: one read per ready socket per wake-up.
                    // (An error is e.g. ECONNREFUSED from an ICMP on a connected socket.)
                    if let Ok(len) = socks[i].recv(&mut buf) {
                        account(&mut counts, &mut received, &legs, i, &buf[..len], window);
                    }
                }
            }
            Sockets::Shared { socket, by_port } => {
                if n > 0 {
                    // Drain the socket, but give the sender a turn after a bounded batch.
                    for _ in 0..16 {
                        let got = rb.recv(socket.as_raw_fd());
                        for k in 0..got {
                            let (port, data) = rb.datagram(k);
                            let i = by_port[usize::from(port)];
                            if i == u32::MAX {
                                counts.misrouted += 1;
                            } else {
                                account(
                                    &mut counts,
                                    &mut received,
                                    &legs,
                                    i as usize,
                                    data,
                                    window,
                                );
                            }
                        }
                        if got < RECV_BATCH {
                            break;
                        }
                    }
                }
            }
        }
    }
    counts.silent_legs = received.iter().filter(|&&r| r == 0).count() as u64;
    Ok(counts)
}

// ---------------------------------------------------------------- /proc

/// utime + stime in clock ticks.
fn cpu_ticks(pid: &str) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After "(comm)": field 3 (state) is f[0]; utime is field 14, stime 15.
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(t(11) + t(12))
}

fn status_kb(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Pages of memory all UDP sockets hold in the kernel (/proc/net/sockstat "UDP: ... mem N").
fn udp_mem_pages() -> u64 {
    std::fs::read_to_string("/proc/net/sockstat")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("UDP:"))?.to_owned();
            let f: Vec<&str> = l.split_whitespace().collect();
            f.iter()
                .position(|&w| w == "mem")
                .and_then(|i| f.get(i + 1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The machine's CPU time in clock ticks from /proc/stat: (busy, softirq, steal), busy
/// being user + nice + system + irq + softirq over all CPUs.
fn machine_ticks() -> (u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let g = |i: usize| f.get(i).copied().unwrap_or(0);
    (g(0) + g(1) + g(2) + g(5) + g(6), g(6), g(7))
}

/// Raises SO_RCVBUF beyond rmem_max when allowed (root), else as far as rmem_max lets.
fn grow_receive_buffer(s: &UdpSocket, bytes: libc::c_int) {
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt with a c_int value of the right size on a live socket.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

/// Udp RcvbufErrors and softnet backlog drops (all CPUs): where loopback loses packets.
fn drop_counters() -> (u64, u64) {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let rcvbuf = match (udp.next(), udp.next()) {
        (Some(names), Some(values)) => names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "RcvbufErrors")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    let softnet = std::fs::read_to_string("/proc/net/softnet_stat")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| u64::from_str_radix(v, 16).ok())
        })
        .sum();
    (rcvbuf, softnet)
}

/// CPU ticks of every process on the machine, by pid (for "what else ran meanwhile").
fn all_process_ticks() -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.bytes().all(|b| b.is_ascii_digit())
                && let Ok(t) = cpu_ticks(&name)
            {
                out.insert(name, t);
            }
        }
    }
    out
}

/// CPU seconds other processes (not `skip`) used between two snapshots; a process that
/// appeared meanwhile counts whole, one that ended meanwhile is missed.
fn other_cpu(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
    skip: &[String],
    clk: f64,
) -> f64 {
    after
        .iter()
        .filter(|(pid, _)| !skip.contains(pid))
        .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum::<u64>() as f64
        / clk
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

fn main() {
    let args = parse_args();
    if let Err(e) = run(&args) {
        eprintln!("rtp-load: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let clk = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let bind = || UdpSocket::bind(loopback).map_err(|e| format!("bind: {e}"));
    // Shared: one socket per thread; call i belongs to thread i % threads.
    let mut shared = Vec::new();
    let mut per_leg = Vec::new();
    if args.shared {
        for _ in 0..args.threads {
            let s = bind()?;
            grow_receive_buffer(&s, 64 << 20);
            shared.push(s);
        }
    } else {
        for _ in 0..args.calls {
            per_leg.push([bind()?, bind()?]);
        }
    }
    let locals: Vec<[SocketAddr; 2]> = (0..args.calls)
        .map(|i| {
            Ok(if args.shared {
                let a = shared[i % args.threads].local_addr()?;
                [a, a]
            } else {
                [per_leg[i][0].local_addr()?, per_leg[i][1].local_addr()?]
            })
        })
        .collect::<io::Result<_>>()
        .map_err(|e| e.to_string())?;
    let setup_start = Instant::now();
    let remotes = match &args.target {
        Target::Ccd { grpc } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(setup_ccd(grpc, &locals, args.concurrency))?
        }
        Target::Floor { base } => (0..args.calls)
            .map(|i| {
                let a = u32::from(*base) + 2 * i as u32;
                let port = |p: u32| u16::try_from(p).map_err(|_| format!("port {p} beyond 65535"));
                Ok([
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port(a)?),
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port(a + 1)?),
                ])
            })
            .collect::<Result<_, String>>()?,
        Target::Rtpengine { ng } => setup_rtpengine(*ng, &locals)?,
    };
    let setup_secs = setup_start.elapsed().as_secs_f64();
    eprintln!("rtp-load: {} calls set up in {setup_secs:.2} s", args.calls);

    // Legs of whole calls per thread.
    let mut legs: Vec<Vec<Leg>> = (0..args.threads).map(|_| Vec::new()).collect();
    let mut thread_sockets: Vec<Sockets> = if args.shared {
        shared
            .into_iter()
            .map(|socket| Sockets::Shared {
                socket,
                by_port: vec![u32::MAX; 65536],
            })
            .collect()
    } else {
        (0..args.threads)
            .map(|_| Sockets::PerLeg(Vec::new()))
            .collect()
    };
    let mut per_leg = per_leg.into_iter();
    for (i, remote) in remotes.into_iter().enumerate() {
        let t = i % args.threads;
        let pair = per_leg.next();
        let mut pair = pair
            .map(|[a, b]| [Some(a), Some(b)])
            .unwrap_or([None, None]);
        for (j, to) in remote.into_iter().enumerate() {
            let SocketAddr::V4(to4) = to else {
                return Err(format!("{to}: only IPv4 relays are supported"));
            };
            let id = (2 * i + j) as u32;
            let index = legs[t].len();
            match &mut thread_sockets[t] {
                Sockets::PerLeg(socks) => {
                    let socket = pair[j].take().ok_or("missing socket")?;
                    socket
                        .connect(to)
                        .map_err(|e| format!("connect {to}: {e}"))?;
                    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
                    socks.push(socket);
                }
                Sockets::Shared { socket, by_port } => {
                    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
                    if by_port[usize::from(to.port())] != u32::MAX {
                        return Err(format!("relay port {} is used by two legs", to.port()));
                    }
                    by_port[usize::from(to.port())] = index as u32;
                }
            }
            legs[t].push(Leg {
                id,
                ssrc: 0x5254_0000 ^ id,
                seq: (id as u16).wrapping_mul(7919),
                ts: id.wrapping_mul(104_729),
                remote: sockaddr_in(to4),
            });
        }
    }

    let drops0 = drop_counters();
    let warmup_ticks = (args.warmup.as_secs_f64() / TICK.as_secs_f64()).round() as u64;
    let measure_ticks = ((args.secs.as_secs_f64() / TICK.as_secs_f64()).round() as u64).max(1);
    let window = (warmup_ticks, warmup_ticks + measure_ticks);
    let start = Instant::now() + Duration::from_millis(20);
    let handles: Vec<_> = legs
        .into_iter()
        .zip(thread_sockets)
        .enumerate()
        .map(|(t, (legs, sockets))| {
            std::thread::Builder::new()
                .name(format!("rtp-load-{t}"))
                .spawn(move || traffic(legs, sockets, start, window))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;

    let pid = args.pid.map(|p| p.to_string());
    sleep_until(start + TICK * window.0 as u32);
    let t0 = Instant::now();
    let target0 = pid
        .as_deref()
        .map(cpu_ticks)
        .transpose()
        .map_err(|e| format!("target stat: {e}"))?;
    let own0 = cpu_ticks("self").map_err(|e| e.to_string())?;
    let machine0 = machine_ticks();
    let procs0 = all_process_ticks();
    sleep_until(start + TICK * window.1 as u32);
    let t1 = Instant::now();
    let target1 = pid
        .as_deref()
        .map(cpu_ticks)
        .transpose()
        .map_err(|e| format!("target stat: {e}"))?;
    let own1 = cpu_ticks("self").map_err(|e| e.to_string())?;
    let machine1 = machine_ticks();
    let procs1 = all_process_ticks();
    let rss_kb = pid.as_deref().map_or(0, |p| status_kb(p, "VmRSS:"));
    let hwm_kb = pid.as_deref().map_or(0, |p| status_kb(p, "VmHWM:"));
    let threads = pid.as_deref().map_or(0, |p| status_kb(p, "Threads:"));
    let udp_mem_kb = udp_mem_pages() * 4;

    let mut counts = Counts::default();
    for h in handles {
        let c = h
            .join()
            .map_err(|_| "a traffic thread panicked".to_string())?
            .map_err(|e| format!("traffic: {e}"))?;
        counts.add(&c);
    }
    let drops1 = drop_counters();
    let wall = (t1 - t0).as_secs_f64();
    let target_cpu = match (target0, target1) {
        (Some(a), Some(b)) => (b - a) as f64 / clk,
        _ => f64::NAN,
    };
    let own_cpu = (own1 - own0) as f64 / clk;
    let busy = machine1.0.saturating_sub(machine0.0) as f64 / clk;
    let softirq = machine1.1.saturating_sub(machine0.1) as f64 / clk;
    let steal = machine1.2.saturating_sub(machine0.2) as f64 / clk;
    let mut skip = vec![std::process::id().to_string()];
    skip.extend(pid.clone());
    // Other processes and kernel threads (builds of others, ksoftirqd...) in the window.
    let other = other_cpu(&procs0, &procs1, &skip, clk);
    let lost = counts.sent_window.saturating_sub(counts.received_window);
    let kind = match args.target {
        Target::Ccd { .. } => "ccd",
        Target::Floor { .. } => "floor",
        Target::Rtpengine { .. } => "rtpengine",
    };
    let us_per_packet = if counts.received_window > 0 {
        target_cpu * 1e6 / counts.received_window as f64
    } else {
        f64::NAN
    };
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.4}")
        } else {
            "null".into()
        }
    };
    println!(
        "{{\"target\":\"{kind}\",\"calls\":{},\"window_s\":{wall:.3},\"setup_s\":{setup_secs:.3},\
         \"sent\":{},\"received\":{},\"lost\":{lost},\"loss_pct\":{},\
         \"sent_total\":{},\"received_total\":{},\"send_errors\":{},\"misrouted\":{},\"silent_legs\":{},\
         \"relayed_pps\":{:.0},\"target_cpu_s\":{},\"target_cpu_pct\":{},\"us_per_packet\":{},\
         \"gen_cpu_s\":{own_cpu:.3},\"gen_cpu_pct\":{:.1},\"rss_kb\":{rss_kb},\"hwm_kb\":{hwm_kb},\
         \"threads\":{threads},\"machine_busy_pct\":{:.1},\"softirq_pct\":{:.1},\"steal_pct\":{:.1},\"other_procs_cpu_pct\":{:.1},\"udp_rcvbuf_errors\":{},\"softnet_drops\":{},\"udp_mem_kb\":{udp_mem_kb},\"late_max_ms\":{:.2},\"late_mean_ms\":{:.3}}}",
        args.calls,
        counts.sent_window,
        counts.received_window,
        num(100.0 * lost as f64 / counts.sent_window.max(1) as f64),
        counts.sent_total,
        counts.received_total,
        counts.send_errors,
        counts.misrouted,
        counts.silent_legs,
        counts.received_window as f64 / wall,
        num(target_cpu),
        num(100.0 * target_cpu / wall),
        num(us_per_packet),
        100.0 * own_cpu / wall,
        100.0 * busy / wall,
        100.0 * softirq / wall,
        100.0 * steal / wall,
        100.0 * other / wall,
        drops1.0.saturating_sub(drops0.0),
        drops1.1.saturating_sub(drops0.1),
        counts.late_max.as_secs_f64() * 1e3,
        counts.late_sum.as_secs_f64() * 1e3 / counts.slots.max(1) as f64,
    );
    Ok(())
}
