//! The media engine: the socket loops, the port pool, the prompt store and the id -> loop
//! table, behind an async API that the gRPC service (and in-process callers) use.

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cc_common::config::MediaConfig;
use cc_media_core::collector::CollectorConfig;
use cc_media_core::dtmf::Digit;
use cc_sip::sdp::SessionDescription;
use tokio::sync::{broadcast, oneshot};

use crate::endpoint::{Endpoint, EndpointInit, Net};
use crate::ports::PortPool;
use crate::prompts::PromptStore;
use crate::recorder;
use crate::recordings::{self, Unfinished};
use crate::shard::{self, Command, Setup, ShardHandle};
use crate::webrtc::WebRtcLeg;
use crate::{EndpointId, MediaError, MediaEvent, Negotiated};

/// Events buffered per subscriber before a slow one starts losing the oldest.
const EVENT_BUFFER: usize = 65_536;
/// How long StopRecording waits for the writer thread to complete the file (it is one
/// header write and a sync away); past it the reply goes anyway and the file is finished
/// later.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The result of creating an endpoint.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: EndpointId,
    /// Our answer to the given offer, or our offer.
    pub local_sdp: SessionDescription,
    pub negotiated: Option<Negotiated>,
}

/// The result of applying a remote SDP.
#[derive(Debug, Clone)]
pub struct RemoteApplied {
    /// Our answer when the remote SDP was an offer.
    pub local_sdp: Option<SessionDescription>,
    pub negotiated: Option<Negotiated>,
}

#[derive(Debug, Clone)]
pub struct PlayRequest {
    /// Prompt ids, and `recording:<file>` entries naming a finished recording of
    /// `[media] recordings_dir` (its recorded leg is played, at most 60 s of it).
    pub prompts: Vec<String>,
    pub looped: bool,
    pub barge_in: bool,
}

#[derive(Debug, Clone)]
pub struct CollectRequest {
    pub max_digits: usize,
    pub terminator: Option<char>,
    pub first_digit_timeout: Duration,
    pub inter_digit_timeout: Duration,
    /// The first-digit timeout counts from the end of the endpoint's prompt (playing now or
    /// started next), not from now.
    pub after_prompt: bool,
}

/// The node's load, for choosing the least loaded media node.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub endpoints: u32,
    pub max_endpoints: u32,
    pub bridges: u32,
    pub packets_per_second: f64,
}

/// Cheap to clone: every clone drives the same engine.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: MediaConfig,
    shards: Mutex<Vec<ShardHandle>>,
    shard_count: usize,
    routes: Mutex<HashMap<EndpointId, Route>>,
    /// Where browsers send WebRTC (public address of the shared socket of loop 0).
    webrtc_addr: SocketAddr,
    ports: Mutex<PortPool>,
    prompts: Arc<PromptStore>,
    /// Recordings being written (marked by their recorders): not yet playable.
    unfinished: Unfinished,
    events: broadcast::Sender<MediaEvent>,
    next_id: AtomicU64,
    next_shard: AtomicUsize,
    /// (window start, packets counted then, rate of the last full window).
    load_sample: Mutex<(Instant, u64, f64)>,
}

/// Where an endpoint lives.
#[derive(Debug, Clone, Copy)]
struct Route {
    shard: usize,
    /// WebRTC legs stay in the loop that owns the shared WebRTC socket.
    webrtc: bool,
}

/// The result of creating a WebRTC endpoint.
#[derive(Debug, Clone)]
pub struct CreatedWebRtc {
    pub id: EndpointId,
    /// Our SDP answer to the browser's offer, or our offer (ICE-lite, DTLS-SRTP,
    /// PCMU/PCMA only).
    pub local_sdp: String,
    /// Known once both sides spoke: at once for an answer, after the browser's answer to
    /// our offer.
    pub negotiated: Option<Negotiated>,
}

/// One entry of a Play request, checked: a prompt in memory, or a recording to load.
enum Source {
    Prompt(Arc<[i16]>),
    Recording {
        index: usize,
        given: String,
        path: PathBuf,
    },
}

/// The audio of checked Play entries; a recording named twice is read once. Blocking when
/// there are recordings.
fn load_sources(dir: &Path, sources: Vec<Source>) -> Result<Vec<Arc<[i16]>>, MediaError> {
    let mut loaded: HashMap<PathBuf, Arc<[i16]>> = HashMap::new();
    sources
        .into_iter()
        .map(|s| match s {
            Source::Prompt(samples) => Ok(samples),
            Source::Recording { index, given, path } => {
                if let Some(samples) = loaded.get(&path) {
                    return Ok(samples.clone());
                }
                let samples: Arc<[i16]> = recordings::load_entry(dir, index, &given, &path)?.into();
                loaded.insert(path, samples.clone());
                Ok(samples)
            }
        })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MediaEngine {
    /// Starts the socket loops and the recording writer. Prompts come from
    /// `config.prompts_dir` unless `prompts` is given.
    pub fn start(
        config: MediaConfig,
        prompts: Option<PromptStore>,
    ) -> Result<MediaEngine, MediaError> {
        let prompts = match prompts {
            Some(p) => p,
            None => PromptStore::load_dir(&config.prompts_dir)?,
        };
        std::fs::create_dir_all(&config.recordings_dir).map_err(|e| {
            MediaError::Recording(format!(
                "cannot create recordings_dir {}: {e}",
                config.recordings_dir.display()
            ))
        })?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let unfinished = Unfinished::default();
        let recorder = recorder::spawn_writer(events.clone(), unfinished.clone())?;
        let count = match config.loops {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let webrtc = UdpSocket::bind(SocketAddr::new(config.bind_ip(), config.webrtc_port))
            .map_err(|e| {
                MediaError::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot bind the WebRTC port {}: {e}", config.webrtc_port),
                ))
            })?;
        let webrtc_addr = SocketAddr::new(config.public_ip, webrtc.local_addr()?.port());
        let mut webrtc = Some(webrtc);
        let shards = (0..count)
            .map(|i| shard::spawn(i, events.clone(), recorder.clone(), webrtc.take()))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::info!(
            loops = count,
            prompts = prompts.len(),
            ports = %format!("{}-{}", config.rtp_ports.first, config.rtp_ports.last),
            public_ip = %config.public_ip,
            %webrtc_addr,
            "media engine started"
        );
        Ok(MediaEngine {
            inner: Arc::new(Inner {
                ports: Mutex::new(PortPool::new(config.rtp_ports)),
                config,
                shard_count: shards.len(),
                shards: Mutex::new(shards),
                routes: Mutex::new(HashMap::new()),
                webrtc_addr,
                prompts: Arc::new(prompts),
                unfinished,
                events,
                next_id: AtomicU64::new(1),
                next_shard: AtomicUsize::new(0),
                load_sample: Mutex::new((Instant::now(), 0, 0.0)),
            }),
        })
    }

    /// Every event of every endpoint from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MediaEvent> {
        self.inner.events.subscribe()
    }

    pub fn prompts(&self) -> &PromptStore {
        &self.inner.prompts
    }

    fn route(&self, id: EndpointId) -> Result<Route, MediaError> {
        lock(&self.inner.routes)
            .get(&id)
            .copied()
            .ok_or(MediaError::NotFound(id))
    }

    fn shard_of(&self, id: EndpointId) -> Result<usize, MediaError> {
        self.route(id).map(|r| r.shard)
    }

    /// The address browsers send WebRTC to.
    pub fn webrtc_addr(&self) -> SocketAddr {
        self.inner.webrtc_addr
    }

    async fn request<T>(
        &self,
        shard: usize,
        make: impl FnOnce(shard::Reply<T>) -> Command,
    ) -> Result<T, MediaError> {
        let (tx, rx) = oneshot::channel();
        {
            let shards = lock(&self.inner.shards);
            let handle = shards.get(shard).ok_or(MediaError::ShuttingDown)?;
            handle.send(make(tx))?;
        }
        rx.await.map_err(|_| MediaError::ShuttingDown)?
    }

    async fn on<T>(
        &self,
        id: EndpointId,
        make: impl FnOnce(shard::Reply<T>) -> Command,
    ) -> Result<T, MediaError> {
        let shard = self.shard_of(id)?;
        self.request(shard, make).await
    }

    /// Creates an endpoint: answering `remote_offer`, or making our offer. `near` places it
    /// in the same loop as the endpoint it will be bridged to.
    pub async fn create_endpoint(
        &self,
        remote_offer: Option<SessionDescription>,
        near: Option<EndpointId>,
        label: String,
    ) -> Result<Created, MediaError> {
        let max = self.inner.config.max_endpoints;
        if lock(&self.inner.routes).len() >= max {
            return Err(MediaError::Capacity(max));
        }
        let shard = match near {
            Some(n) => self.shard_of(n)?,
            None => self.least_loaded_shard(),
        };
        let bind_ip = self.inner.config.bind_ip();
        let (socket, port) = lock(&self.inner.ports).bind(bind_ip)?;
        let id = EndpointId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let endpoint = Endpoint::new(
            EndpointInit {
                id,
                label,
                net: Net::Rtp { socket, port },
                public_ip: self.inner.config.public_ip,
                rtp_timeout: (self.inner.config.rtp_timeout_secs > 0)
                    .then(|| Duration::from_secs(self.inner.config.rtp_timeout_secs)),
            },
            Instant::now(),
        );
        let setup = match remote_offer {
            Some(offer) => Setup::Answer(Box::new(offer)),
            None => Setup::Offer,
        };
        lock(&self.inner.routes).insert(
            id,
            Route {
                shard,
                webrtc: false,
            },
        );
        let result = self
            .request(shard, |reply| Command::Attach {
                endpoint: Box::new(endpoint),
                setup,
                reply,
            })
            .await;
        match result {
            Ok((Some(local_sdp), negotiated)) => Ok(Created {
                id,
                local_sdp,
                negotiated,
            }),
            Ok((None, _)) => Err(MediaError::State("no local SDP was produced".into())),
            Err(e) => {
                // The endpoint (and its socket) was dropped by the loop; free the port.
                lock(&self.inner.routes).remove(&id);
                lock(&self.inner.ports).release(port);
                Err(e)
            }
        }
    }

    /// Creates a WebRTC endpoint answering a browser's offer, or (`offer` = None) making
    /// ours. It lives in the loop that owns the shared WebRTC socket; an RTP leg bridged
    /// to it is moved there.
    pub async fn create_webrtc_endpoint(
        &self,
        offer: Option<&str>,
        label: String,
    ) -> Result<CreatedWebRtc, MediaError> {
        let max = self.inner.config.max_endpoints;
        if lock(&self.inner.routes).len() >= max {
            return Err(MediaError::Capacity(max));
        }
        let now = Instant::now();
        let (leg, local_sdp) = match offer {
            Some(offer) => WebRtcLeg::answer(offer, self.inner.webrtc_addr, now)?,
            None => WebRtcLeg::offer(self.inner.webrtc_addr, now)?,
        };
        let codec = leg.codec();
        let id = EndpointId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let mut endpoint = Endpoint::new(
            EndpointInit {
                id,
                label,
                net: Net::WebRtc {
                    leg: Box::new(leg),
                    out: Default::default(),
                    seq: rand::random(),
                },
                public_ip: self.inner.config.public_ip,
                rtp_timeout: (self.inner.config.rtp_timeout_secs > 0)
                    .then(|| Duration::from_secs(self.inner.config.rtp_timeout_secs)),
            },
            now,
        );
        if let Some(codec) = codec {
            endpoint.set_webrtc_negotiated(codec, now);
        }
        let shard = 0;
        lock(&self.inner.routes).insert(
            id,
            Route {
                shard,
                webrtc: true,
            },
        );
        let result = self
            .request(shard, |reply| Command::Attach {
                endpoint: Box::new(endpoint),
                setup: Setup::Prepared,
                reply,
            })
            .await;
        match result {
            Ok((_, negotiated)) => Ok(CreatedWebRtc {
                id,
                local_sdp,
                negotiated,
            }),
            Err(e) => {
                lock(&self.inner.routes).remove(&id);
                Err(e)
            }
        }
    }

    fn least_loaded_shard(&self) -> usize {
        let shards = lock(&self.inner.shards);
        let start = self.inner.next_shard.fetch_add(1, Ordering::Relaxed);
        (0..shards.len())
            .map(|i| (start + i) % shards.len())
            .min_by_key(|&i| shards[i].stats.endpoints.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    pub async fn set_remote_description(
        &self,
        id: EndpointId,
        sdp: SessionDescription,
    ) -> Result<RemoteApplied, MediaError> {
        let (local_sdp, negotiated) = self
            .on(id, |reply| Command::SetRemote {
                id,
                sdp: Box::new(sdp),
                reply,
            })
            .await?;
        Ok(RemoteApplied {
            local_sdp,
            negotiated,
        })
    }

    /// Applies a browser's answer to the offer of WebRTC endpoint `id`.
    pub async fn set_webrtc_answer(
        &self,
        id: EndpointId,
        answer: String,
    ) -> Result<Option<Negotiated>, MediaError> {
        self.on(id, |reply| Command::WebRtcAnswer { id, answer, reply })
            .await
    }

    /// Starts a playback; returns its id (which its PlayDone event carries) and how long
    /// the prompts last (zero when looped). Every entry is checked before any recording is
    /// read from disk.
    pub async fn play(&self, id: EndpointId, req: PlayRequest) -> Result<(u64, u64), MediaError> {
        if req.prompts.is_empty() {
            return Err(MediaError::InvalidArgument(
                "prompts: give at least one".into(),
            ));
        }
        let dir = &self.inner.config.recordings_dir;
        let sources =
            req.prompts
                .iter()
                .enumerate()
                .map(|(i, p)| match p.strip_prefix(recordings::PREFIX) {
                    Some(given) => recordings::check_entry(dir, &self.inner.unfinished, i, given)
                        .map(|path| Source::Recording {
                            index: i,
                            given: given.to_owned(),
                            path,
                        }),
                    None => self
                        .inner
                        .prompts
                        .get(p)
                        .map(Source::Prompt)
                        .ok_or_else(|| MediaError::UnknownPrompt(p.clone())),
                })
                .collect::<Result<Vec<_>, _>>()?;
        let prompts = if sources
            .iter()
            .any(|s| matches!(s, Source::Recording { .. }))
        {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || load_sources(&dir, sources))
                .await
                .map_err(|e| MediaError::Recording(format!("loading recordings: {e}")))??
        } else {
            load_sources(dir, sources)?
        };
        let playback = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let samples: usize = prompts.iter().map(|p| p.len()).sum();
        // 8 kHz prompts: 8 samples a millisecond.
        let duration_ms = if req.looped { 0 } else { (samples / 8) as u64 };
        self.on(id, |reply| Command::Play {
            id,
            playback,
            prompts,
            looped: req.looped,
            barge_in: req.barge_in,
            reply,
        })
        .await?;
        Ok((playback, duration_ms))
    }

    pub async fn stop_play(&self, id: EndpointId) -> Result<(), MediaError> {
        self.on(id, |reply| Command::StopPlay { id, reply }).await
    }

    /// Starts collecting digits; returns the collection id its CollectDone event carries.
    pub async fn collect_digits(
        &self,
        id: EndpointId,
        req: CollectRequest,
    ) -> Result<u64, MediaError> {
        let terminator = match req.terminator {
            None => None,
            Some(c) => Some(Digit::from_char(c).ok_or_else(|| {
                MediaError::InvalidArgument(format!("terminator: {c:?} is not one of 0-9 * # A-D"))
            })?),
        };
        if !(1..=cc_media_core::collector::MAX_DIGITS).contains(&req.max_digits) {
            return Err(MediaError::InvalidArgument(format!(
                "max_digits: {} is not between 1 and {}",
                req.max_digits,
                cc_media_core::collector::MAX_DIGITS
            )));
        }
        let config = CollectorConfig {
            max_digits: req.max_digits,
            terminator,
            first_digit_timeout: req.first_digit_timeout,
            inter_digit_timeout: req.inter_digit_timeout,
        };
        let collection = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let after_prompt = req.after_prompt;
        self.on(id, |reply| Command::Collect {
            id,
            collection,
            config,
            after_prompt,
            reply,
        })
        .await?;
        Ok(collection)
    }

    /// Bridges two endpoints (moving `b` into `a`'s loop first if needed). Returns whether
    /// the relay is passthrough (same codec on both legs).
    pub async fn bridge(&self, a: EndpointId, b: EndpointId) -> Result<bool, MediaError> {
        let (ra, rb) = (self.route(a)?, self.route(b)?);
        let shard = if ra.shard == rb.shard {
            ra.shard
        } else {
            // Move the RTP leg: a WebRTC leg cannot leave the loop with the WebRTC socket.
            let (mover, from, to) = if rb.webrtc { (a, ra, rb) } else { (b, rb, ra) };
            if from.webrtc {
                return Err(MediaError::State(
                    "two WebRTC legs in different loops cannot be bridged".into(),
                ));
            }
            self.unbridge(mover).await?;
            let endpoint = self
                .request(from.shard, |reply| Command::Detach { id: mover, reply })
                .await?;
            lock(&self.inner.routes).insert(
                mover,
                Route {
                    shard: to.shard,
                    webrtc: false,
                },
            );
            let moved = self
                .request(to.shard, |reply| Command::Attach {
                    endpoint,
                    setup: Setup::Prepared,
                    reply,
                })
                .await;
            if let Err(e) = moved {
                lock(&self.inner.routes).remove(&mover);
                return Err(e);
            }
            to.shard
        };
        self.request(shard, |reply| Command::Bridge { a, b, reply })
            .await
    }

    pub async fn unbridge(&self, id: EndpointId) -> Result<(), MediaError> {
        self.on(id, |reply| Command::Unbridge { id, reply }).await
    }

    /// Records `id` (left) and its bridged peer (right) into `recordings_dir/file_name`.
    /// The file cannot be played back until [`stop_recording`](Self::stop_recording).
    pub async fn start_recording(
        &self,
        id: EndpointId,
        file_name: Option<String>,
        metadata: BTreeMap<String, String>,
    ) -> Result<PathBuf, MediaError> {
        let recording = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let name = match file_name {
            Some(n) => recordings::file_name(&n).ok_or_else(|| {
                MediaError::InvalidArgument(format!(
                    "file_name: {n:?} must be letters, digits, '-', '_' or '.' (no directories)"
                ))
            })?,
            None => format!("{id}-{recording}.wav"),
        };
        let path = self.inner.config.recordings_dir.join(name);
        self.on(id, |reply| Command::StartRecording {
            id,
            recording,
            path,
            metadata,
            reply,
        })
        .await
    }

    /// Stops the recording of `id`; returns once the file is complete (final header and
    /// metadata written), so it can be played back at once, or after [`CLOSE_WAIT`].
    pub async fn stop_recording(&self, id: EndpointId) -> Result<(PathBuf, f64), MediaError> {
        let (closed, written) = oneshot::channel();
        let stopped = self
            .on(id, |reply| Command::StopRecording { id, closed, reply })
            .await?;
        // An error means the writer is gone: nothing more will happen to the file.
        if tokio::time::timeout(CLOSE_WAIT, written).await.is_err() {
            tracing::warn!(
                path = %stopped.0.display(),
                "the recording writer is slow: StopRecording answers before the file is complete"
            );
        }
        Ok(stopped)
    }

    /// Destroys an endpoint: its socket closes, its port returns to the pool, a bridge to
    /// it ends and a recording on it is finished.
    pub async fn destroy(&self, id: EndpointId) -> Result<(), MediaError> {
        let port = self.on(id, |reply| Command::Destroy { id, reply }).await?;
        lock(&self.inner.routes).remove(&id);
        if let Some(port) = port {
            lock(&self.inner.ports).release(port);
        }
        Ok(())
    }

    pub fn load(&self) -> Load {
        let shards = lock(&self.inner.shards);
        let mut load = Load {
            endpoints: 0,
            max_endpoints: u32::try_from(self.inner.config.max_endpoints).unwrap_or(u32::MAX),
            bridges: 0,
            packets_per_second: 0.0,
        };
        let mut packets = 0u64;
        for s in shards.iter() {
            load.endpoints += s.stats.endpoints.load(Ordering::Relaxed);
            load.bridges += s.stats.bridges.load(Ordering::Relaxed);
            packets += s.stats.packets_in.load(Ordering::Relaxed);
        }
        // The rate over the last window of at least a second, whoever asks how often.
        let mut sample = lock(&self.inner.load_sample);
        let now = Instant::now();
        let secs = now.duration_since(sample.0).as_secs_f64();
        if secs >= 1.0 {
            sample.2 = packets.saturating_sub(sample.1) as f64 / secs;
            sample.0 = now;
            sample.1 = packets;
        }
        load.packets_per_second = sample.2;
        load
    }

    /// Publishes the load as Prometheus gauges (`media_endpoints`, `media_bridges`,
    /// `media_packets_per_second`, `media_free_ports`); call it periodically.
    pub fn publish_metrics(&self) {
        let load = self.load();
        metrics::gauge!("media_endpoints").set(f64::from(load.endpoints));
        metrics::gauge!("media_bridges").set(f64::from(load.bridges));
        metrics::gauge!("media_packets_per_second").set(load.packets_per_second);
        metrics::gauge!("media_free_ports").set(lock(&self.inner.ports).available() as f64);
    }

    pub fn loops(&self) -> usize {
        self.inner.shard_count
    }

    /// Stops the socket loops: every endpoint is destroyed and recordings are finished.
    pub fn shutdown(&self) {
        let mut shards = lock(&self.inner.shards);
        for s in shards.iter_mut() {
            s.shutdown();
        }
        shards.clear();
        lock(&self.inner.routes).clear();
    }
}
