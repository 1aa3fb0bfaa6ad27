//! A socket loop: one OS thread owning a set of endpoints and their UDP sockets.
//!
//! It waits on a level-triggered epoll set (one read per ready socket per wake-up, so no
//! extra `recvfrom` just to learn the socket is drained), an eventfd for control commands,
//! and a 20 ms tick for prompt frames and timers. Both legs of a bridge live in the same
//! loop, so relaying a packet is: recv, rewrite the header in place, send.

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cc_media_core::collector::{CollectorConfig, DigitCollector};
use cc_media_core::player::{Playlist, PlaylistId, Prompt, PromptId};
use cc_sip::sdp::SessionDescription;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::sync::{broadcast, oneshot};

use cc_media_core::rtp::{RTP_HEADER_LEN, RtpBuilder, RtpHeader};

use crate::endpoint::{Endpoint, Received};
use crate::recorder::{Recorder, Writer};
use crate::{EndpointId, MediaError, MediaEvent, Negotiated};

const TICK: Duration = Duration::from_millis(20);

/// Endpoint ids are sequential numbers nobody outside chooses: a multiplicative hash
/// spreads them well and costs a fraction of SipHash, twice per relayed packet.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<EndpointId, V, std::hash::BuildHasherDefault<IdHasher>>;
const WAKE_TOKEN: u64 = u64::MAX;
const WEBRTC_TOKEN: u64 = u64::MAX - 1;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, MediaError>>;

/// How an endpoint arriving in a loop gets its SDP.
pub(crate) enum Setup {
    /// Answer the remote party's offer.
    Answer(Box<SessionDescription>),
    /// Make our offer.
    Offer,
    /// Negotiated before it arrives: moved from another loop, or a WebRTC leg whose
    /// answer the engine already made.
    Prepared,
}

pub(crate) enum Command {
    Attach {
        endpoint: Box<Endpoint>,
        setup: Setup,
        reply: Reply<(Option<SessionDescription>, Option<Negotiated>)>,
    },
    SetRemote {
        id: EndpointId,
        sdp: Box<SessionDescription>,
        reply: Reply<(Option<SessionDescription>, Option<Negotiated>)>,
    },
    WebRtcAnswer {
        id: EndpointId,
        answer: String,
        reply: Reply<Option<Negotiated>>,
    },
    Play {
        id: EndpointId,
        playback: u64,
        prompts: Vec<Arc<[i16]>>,
        looped: bool,
        barge_in: bool,
        reply: Reply<()>,
    },
    StopPlay {
        id: EndpointId,
        reply: Reply<()>,
    },
    Collect {
        id: EndpointId,
        collection: u64,
        config: CollectorConfig,
        after_prompt: bool,
        reply: Reply<()>,
    },
    Bridge {
        a: EndpointId,
        b: EndpointId,
        reply: Reply<bool>,
    },
    Unbridge {
        id: EndpointId,
        reply: Reply<()>,
    },
    StartRecording {
        id: EndpointId,
        recording: u64,
        path: PathBuf,
        metadata: BTreeMap<String, String>,
        reply: Reply<PathBuf>,
    },
    /// `closed` is signalled once the writer has completed the file.
    StopRecording {
        id: EndpointId,
        closed: oneshot::Sender<()>,
        reply: Reply<(PathBuf, f64)>,
    },
    /// Removes the endpoint; the reply hands back its port for reuse.
    Destroy {
        id: EndpointId,
        reply: Reply<Option<u16>>,
    },
    /// Takes the endpoint out of this loop to move it to another (bridging across loops).
    Detach {
        id: EndpointId,
        reply: Reply<Box<Endpoint>>,
    },
    Shutdown,
}

/// Counters a loop publishes for the node's load report.
#[derive(Debug, Default)]
pub(crate) struct ShardStats {
    pub endpoints: AtomicU32,
    pub bridges: AtomicU32,
    pub packets_in: AtomicU64,
}

/// The control side of a socket loop.
#[derive(Debug)]
pub(crate) struct ShardHandle {
    tx: mpsc::Sender<Command>,
    wake: Arc<EventFd>,
    pub stats: Arc<ShardStats>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ShardHandle {
    pub(crate) fn send(&self, cmd: Command) -> Result<(), MediaError> {
        self.tx.send(cmd).map_err(|_| MediaError::ShuttingDown)?;
        self.wake.write(1).map_err(|e| MediaError::Io(e.into()))?;
        Ok(())
    }

    pub(crate) fn shutdown(&mut self) {
        let _ = self.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Spawns a socket loop; `webrtc` is the shared WebRTC socket for the loop that carries
/// the node's WebRTC legs.
pub(crate) fn spawn(
    index: usize,
    events: broadcast::Sender<MediaEvent>,
    recorder: Writer,
    webrtc: Option<UdpSocket>,
) -> std::io::Result<ShardHandle> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(std::io::Error::from)?;
    let wake = Arc::new(
        EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(std::io::Error::from)?,
    );
    epoll
        .add(
            wake.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN),
        )
        .map_err(std::io::Error::from)?;
    if let Some(socket) = &webrtc {
        socket.set_nonblocking(true)?;
        epoll
            .add(
                socket.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, WEBRTC_TOKEN),
            )
            .map_err(std::io::Error::from)?;
    }
    let (tx, rx) = mpsc::channel();
    let stats = Arc::new(ShardStats::default());
    let mut shard = Shard {
        epoll,
        wake: wake.clone(),
        commands: rx,
        endpoints: IdMap::default(),
        events,
        pending: Vec::new(),
        recorder,
        stats: stats.clone(),
        scratch: Vec::with_capacity(1500),
        webrtc,
        webrtc_routes: HashMap::new(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("media-loop-{index}"))
        .spawn(move || shard.run())?;
    Ok(ShardHandle {
        tx,
        wake,
        stats,
        thread: Some(thread),
    })
}

struct Shard {
    epoll: Epoll,
    wake: Arc<EventFd>,
    commands: mpsc::Receiver<Command>,
    endpoints: IdMap<Endpoint>,
    events: broadcast::Sender<MediaEvent>,
    /// Events gathered while handling one input, published after it.
    pending: Vec<MediaEvent>,
    recorder: Writer,
    stats: Arc<ShardStats>,
    scratch: Vec<u8>,
    /// The socket all WebRTC legs of this loop share, if it carries them.
    webrtc: Option<UdpSocket>,
    /// Which WebRTC leg a remote address belongs to, learned from str0m's `accepts`.
    webrtc_routes: HashMap<SocketAddr, EndpointId>,
}

impl Shard {
    fn run(&mut self) {
        let mut ready = vec![EpollEvent::empty(); 256];
        let mut buf = [0u8; 2048];
        let mut next_tick = Instant::now() + TICK;
        let mut packets = 0u64;
        loop {
            // Rounded up to whole milliseconds: epoll cannot wait less, and rounding down
            // would spin with a zero timeout through the last millisecond of every tick.
            let wait = next_tick.saturating_duration_since(Instant::now());
            let timeout = EpollTimeout::try_from(wait.as_micros().div_ceil(1000))
                .unwrap_or(EpollTimeout::ZERO);
            let n = match self.epoll.wait(&mut ready, timeout) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "media loop cannot wait on its sockets");
                    return;
                }
            };
            let now = Instant::now();
            for ev in &ready[..n] {
                let token = ev.data();
                if token == WAKE_TOKEN {
                    let _ = self.wake.read();
                    if !self.drain_commands(now) {
                        return;
                    }
                } else if token == WEBRTC_TOKEN {
                    packets += u64::from(self.on_webrtc_readable(&mut buf, now));
                } else {
                    packets += u64::from(self.on_readable(EndpointId(token), &mut buf, now));
                }
            }
            if now >= next_tick {
                self.tick(now);
                next_tick += TICK;
                if next_tick < now {
                    // The loop was stalled for more than a tick: do not burst to catch up.
                    next_tick = now + TICK;
                }
                self.stats.packets_in.fetch_add(packets, Ordering::Relaxed);
                packets = 0;
            }
            self.publish();
        }
    }

    fn publish(&mut self) {
        for e in self.pending.drain(..) {
            // No subscriber is not an error: nobody is interested right now.
            let _ = self.events.send(e);
        }
    }

    /// Receives one datagram on `id` and relays it to the bridged peer. Returns whether a
    /// datagram was read.
    fn on_readable(&mut self, id: EndpointId, buf: &mut [u8], now: Instant) -> bool {
        let Some(ep) = self.endpoints.get_mut(&id) else {
            return false;
        };
        let Some((socket, _)) = ep.rtp_socket() else {
            return false;
        };
        let (len, from) = match socket.recv_from(buf) {
            Ok(r) => r,
            Err(_) => return false,
        };
        let (kind, header, header_len) = ep.on_datagram(&buf[..len], from, now, &mut self.pending);
        let (Some(header), Some(peer)) = (header, ep.bridge) else {
            return true;
        };
        if kind == Received::Drop {
            return true;
        }
        let Some(other) = self.endpoints.get_mut(&peer) else {
            return true;
        };
        if let Received::Audio(codec) = kind {
            other.record_peer_audio(codec, &header, &buf[header_len..len], now);
        }
        other.relay(&mut buf[..len], header_len, &header, kind, now);
        // Only a WebRTC peer leaves datagrams behind (str0m packetized them); an RTP peer
        // sent its own, so the common RTP-to-RTP relay costs no second lookup.
        if other.rtp_socket().is_none() {
            self.flush_webrtc_transmits(peer);
        }
        true
    }

    /// Receives one datagram on the shared WebRTC socket and hands it to its leg.
    fn on_webrtc_readable(&mut self, buf: &mut [u8], now: Instant) -> bool {
        let Some(socket) = &self.webrtc else {
            return false;
        };
        let (len, from) = match socket.recv_from(buf) {
            Ok(r) => r,
            Err(_) => return false,
        };
        let data = &buf[..len];
        let id = match self.webrtc_routes.get(&from) {
            Some(id) => *id,
            None => {
                let found = self.endpoints.iter_mut().find_map(|(id, ep)| {
                    ep.webrtc()
                        .is_some_and(|leg| leg.accepts(from, data, now))
                        .then_some(*id)
                });
                let Some(id) = found else {
                    tracing::trace!(%from, "WebRTC datagram for no leg");
                    return true;
                };
                self.webrtc_routes.insert(from, id);
                id
            }
        };
        if let Some(ep) = self.endpoints.get_mut(&id) {
            ep.on_webrtc_datagram(data, from, now, &mut self.pending);
        }
        self.flush_webrtc(id, now);
        true
    }

    /// Sends what WebRTC leg `id` produced and relays its audio to the bridged peer.
    fn flush_webrtc(&mut self, id: EndpointId, now: Instant) {
        let Some(ep) = self.endpoints.get_mut(&id) else {
            return;
        };
        let Some((out, first_seq)) = ep.take_webrtc_output() else {
            return;
        };
        let (codec, ssrc, peer) = (ep.codec(), ep.out.ssrc() ^ 0x5EED, ep.bridge);
        if let Some(socket) = &self.webrtc {
            for (to, data) in &out.transmits {
                if let Err(e) = socket.send_to(data, *to) {
                    tracing::trace!(%to, error = %e, "WebRTC send failed");
                }
            }
        }
        let (Some(codec), Some(peer)) = (codec, peer) else {
            return;
        };
        // The loop's scratch buffer, not a new one per flush.
        let mut packet = std::mem::take(&mut self.scratch);
        for (i, (timestamp, payload)) in out.audio.iter().enumerate() {
            // The browser's frames become RTP for the peer: our own numbering, its clock.
            let header = RtpHeader {
                marker: false,
                payload_type: codec.payload_type(),
                sequence: first_seq.wrapping_add(i as u16),
                timestamp: *timestamp,
                ssrc,
            };
            packet.clear();
            if RtpBuilder::new(header)
                .write_to_vec(payload, &mut packet)
                .is_err()
            {
                continue;
            }
            if let Some(other) = self.endpoints.get_mut(&peer) {
                other.record_peer_audio(codec, &header, payload, now);
                other.relay(
                    &mut packet,
                    RTP_HEADER_LEN,
                    &header,
                    Received::Audio(codec),
                    now,
                );
            }
        }
        self.scratch = packet;
        self.flush_webrtc_transmits(peer);
    }

    /// Sends the datagrams a WebRTC leg produced while something was relayed to it.
    fn flush_webrtc_transmits(&mut self, id: EndpointId) {
        let (Some(socket), Some(ep)) = (&self.webrtc, self.endpoints.get_mut(&id)) else {
            return;
        };
        if let Some(datagrams) = ep.take_webrtc_transmits() {
            for (to, data) in datagrams {
                let _ = socket.send_to(&data, to);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        for ep in self.endpoints.values_mut() {
            ep.tick(now, &mut self.scratch, &mut self.pending);
        }
        if self.webrtc.is_some() {
            let legs: Vec<EndpointId> = self
                .endpoints
                .iter_mut()
                .filter_map(|(id, ep)| ep.webrtc().is_some().then_some(*id))
                .collect();
            for id in legs {
                self.flush_webrtc(id, now);
            }
        }
    }

    /// Returns false on shutdown.
    fn drain_commands(&mut self, now: Instant) -> bool {
        while let Ok(cmd) = self.commands.try_recv() {
            if !self.handle(cmd, now) {
                return false;
            }
        }
        true
    }

    fn get(&mut self, id: EndpointId) -> Result<&mut Endpoint, MediaError> {
        self.endpoints.get_mut(&id).ok_or(MediaError::NotFound(id))
    }

    fn handle(&mut self, cmd: Command, now: Instant) -> bool {
        match cmd {
            Command::Attach {
                endpoint,
                setup,
                reply,
            } => {
                let _ = reply.send(self.attach(*endpoint, setup, now));
            }
            Command::WebRtcAnswer { id, answer, reply } => {
                let r = self.get(id).and_then(|ep| {
                    let leg = ep
                        .webrtc()
                        .ok_or_else(|| MediaError::State(format!("{id} is not a WebRTC leg")))?;
                    leg.accept_answer(&answer)?;
                    if let Some(codec) = leg.codec() {
                        ep.set_webrtc_negotiated(codec, now);
                    }
                    Ok(ep.negotiated.clone())
                });
                let _ = reply.send(r);
            }
            Command::SetRemote { id, sdp, reply } => {
                let r = self.get(id).and_then(|ep| {
                    let local = ep.apply_remote(&sdp, now)?;
                    Ok((local, ep.negotiated.clone()))
                });
                let _ = reply.send(r);
            }
            Command::Play {
                id,
                playback,
                prompts,
                looped,
                barge_in,
                reply,
            } => {
                let pending = &mut self.pending;
                let r = self
                    .endpoints
                    .get_mut(&id)
                    .ok_or(MediaError::NotFound(id))
                    .and_then(|ep| {
                        if ep.bridge.is_some() {
                            return Err(MediaError::State(format!(
                                "{id} is bridged; unbridge it before playing prompts"
                            )));
                        }
                        let prompts = prompts
                            .into_iter()
                            .enumerate()
                            .map(|(i, samples)| Prompt {
                                id: PromptId(i as u32),
                                samples,
                            })
                            .collect();
                        let mut list = Playlist::new(PlaylistId(playback), prompts);
                        if looped {
                            list = list.looped();
                        }
                        ep.play(playback, list, barge_in, pending);
                        Ok(())
                    });
                let _ = reply.send(r);
            }
            Command::StopPlay { id, reply } => {
                let pending = &mut self.pending;
                let r = self
                    .endpoints
                    .get_mut(&id)
                    .ok_or(MediaError::NotFound(id))
                    .map(|ep| ep.stop_play(pending));
                let _ = reply.send(r);
            }
            Command::Collect {
                id,
                collection,
                config,
                after_prompt,
                reply,
            } => {
                let pending = &mut self.pending;
                let r = self
                    .endpoints
                    .get_mut(&id)
                    .ok_or(MediaError::NotFound(id))
                    .and_then(|ep| {
                        let c = DigitCollector::new(config, now)
                            .map_err(|e| MediaError::InvalidArgument(e.to_string()))?;
                        ep.collect(collection, c, after_prompt, pending);
                        Ok(())
                    });
                let _ = reply.send(r);
            }
            Command::Bridge { a, b, reply } => {
                let _ = reply.send(self.bridge(a, b));
            }
            Command::Unbridge { id, reply } => {
                let _ = reply.send(self.unbridge(id));
            }
            Command::StartRecording {
                id,
                recording,
                path,
                metadata,
                reply,
            } => {
                let writer = self.recorder.clone();
                let r = self.get(id).and_then(|ep| {
                    if ep.recorder.is_some() {
                        return Err(MediaError::State(format!("{id} is already recording")));
                    }
                    ep.recorder =
                        Some(Recorder::new(recording, id, path.clone(), metadata, writer));
                    Ok(path)
                });
                let _ = reply.send(r);
            }
            Command::StopRecording { id, closed, reply } => {
                let r = self.get(id).and_then(|ep| {
                    ep.recorder
                        .take()
                        .map(|rec| rec.finish(Some(closed)))
                        .ok_or_else(|| MediaError::State(format!("{id} is not recording")))
                });
                let _ = reply.send(r);
            }
            Command::Destroy { id, reply } => {
                let r = self
                    .remove(id)
                    .map(|ep| ep.rtp_socket().map(|(_, port)| port));
                let _ = reply.send(r);
            }
            Command::Detach { id, reply } => {
                let r = self.take(id).map(Box::new);
                let _ = reply.send(r);
            }
            Command::Shutdown => {
                for id in self.endpoints.keys().copied().collect::<Vec<_>>() {
                    let _ = self.remove(id);
                }
                self.publish();
                return false;
            }
        }
        true
    }

    fn attach(
        &mut self,
        mut ep: Endpoint,
        setup: Setup,
        now: Instant,
    ) -> Result<(Option<SessionDescription>, Option<Negotiated>), MediaError> {
        let local = match setup {
            Setup::Answer(offer) => ep.apply_remote(&offer, now)?,
            Setup::Offer => Some(ep.make_offer()?),
            Setup::Prepared => None,
        };
        if let Some((socket, _)) = ep.rtp_socket() {
            self.epoll
                .add(
                    socket.as_fd(),
                    EpollEvent::new(EpollFlags::EPOLLIN, ep.id.0),
                )
                .map_err(|e| MediaError::Io(e.into()))?;
        } else if self.webrtc.is_none() {
            return Err(MediaError::State(
                "this socket loop carries no WebRTC legs".into(),
            ));
        }
        let negotiated = ep.negotiated.clone();
        self.endpoints.insert(ep.id, ep);
        self.stats.endpoints.fetch_add(1, Ordering::Relaxed);
        Ok((local, negotiated))
    }

    /// Destroys an endpoint's activity and takes it out of the loop.
    fn remove(&mut self, id: EndpointId) -> Result<Endpoint, MediaError> {
        let mut ep = self.take(id)?;
        ep.stop_play(&mut self.pending);
        if let Some(rec) = ep.recorder.take() {
            rec.finish(None);
        }
        Ok(ep)
    }

    /// Takes an endpoint out of this loop as it is (its recording and prompt go with it).
    fn take(&mut self, id: EndpointId) -> Result<Endpoint, MediaError> {
        if self
            .endpoints
            .get(&id)
            .is_some_and(|ep| ep.bridge.is_some())
        {
            self.unbridge(id)?;
        }
        let ep = self.endpoints.remove(&id).ok_or(MediaError::NotFound(id))?;
        if let Some((socket, _)) = ep.rtp_socket() {
            let _ = self.epoll.delete(socket.as_fd());
        } else {
            self.webrtc_routes.retain(|_, leg| *leg != id);
        }
        self.stats.endpoints.fetch_sub(1, Ordering::Relaxed);
        Ok(ep)
    }

    fn bridge(&mut self, a: EndpointId, b: EndpointId) -> Result<bool, MediaError> {
        if a == b {
            return Err(MediaError::InvalidArgument(
                "an endpoint cannot be bridged to itself".into(),
            ));
        }
        let [Some(ea), Some(eb)] = self.endpoints.get_disjoint_mut([&a, &b]) else {
            let missing = if self.endpoints.contains_key(&a) {
                b
            } else {
                a
            };
            return Err(MediaError::NotFound(missing));
        };
        for ep in [&*ea, &*eb] {
            if let Some(other) = ep.bridge
                && other != a
                && other != b
            {
                return Err(MediaError::State(format!(
                    "{} is already bridged to {other}",
                    ep.id
                )));
            }
        }
        let fresh = ea.bridge.is_none();
        for ep in [&mut *ea, &mut *eb] {
            if ep.is_playing() {
                ep.stop_play(&mut self.pending);
            }
            ep.out.mark_discontinuity();
        }
        ea.bridge = Some(b);
        eb.bridge = Some(a);
        if fresh {
            self.stats.bridges.fetch_add(1, Ordering::Relaxed);
        }
        Ok(ea.codec() == eb.codec())
    }

    fn unbridge(&mut self, id: EndpointId) -> Result<(), MediaError> {
        let ep = self.get(id)?;
        let Some(peer) = ep.bridge.take() else {
            return Ok(());
        };
        ep.out.mark_discontinuity();
        if let Some(other) = self.endpoints.get_mut(&peer) {
            other.bridge = None;
            other.out.mark_discontinuity();
        }
        self.stats.bridges.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }
}
