//! cc-sip-edge: where every call enters. UDP and TCP transports feed one SIP core that runs
//! the transaction layer, the registrar for employees' phones and digest authentication,
//! under bounded queues and a throttle for password guessers. With the other services at
//! hand ([`CallServices`]), it takes calls and tells presence which phones are registered.

pub mod api;
pub mod calls;
pub mod core;
mod devices;
pub mod metrics;
pub mod registrar;
mod shards;
pub mod throttle;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cc_common::{Config, Shutdown};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::info;

use crate::calls::{CallContext, CallServices, CallTimings, Local};
use crate::core::{CoreError, EdgeCore, FromCall};
use crate::metrics::Counters;
use crate::registrar::{Binding, RegistrarEvent};
use crate::transport::{Inbound, TransportConfig};

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Questions other tasks may ask the core (it owns the state; nobody else touches it).
#[derive(Debug)]
enum Query {
    Registrations(oneshot::Sender<Vec<(String, Vec<Binding>)>>),
    /// Refuse new calls from now on; answers the calls in progress.
    Drain(oneshot::Sender<usize>),
}

/// A running sip-edge node.
#[derive(Debug)]
pub struct SipEdge {
    pub local_addr: SocketAddr,
    pub counters: Arc<Counters>,
    handle: EdgeHandle,
    core_task: JoinHandle<()>,
}

/// A cheap, cloneable way to ask the running core questions (for the gRPC API).
#[derive(Debug, Clone)]
pub struct EdgeHandle {
    events: broadcast::Sender<RegistrarEvent>,
    queries: mpsc::Sender<Query>,
    calls: Option<Arc<CallContext>>,
}

/// The SIP core has stopped.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the SIP core has stopped")]
pub struct Stopped;

impl EdgeHandle {
    /// The node's calls, when it takes calls.
    pub fn calls(&self) -> Option<Arc<CallContext>> {
        self.calls.clone()
    }

    /// What happens to calls from now on (nothing when the node takes no calls).
    pub fn call_events(&self) -> Option<broadcast::Receiver<calls::NumberedEvent>> {
        self.calls.as_ref().map(|c| c.events.subscribe())
    }

    /// The current registrations, per extension.
    pub async fn registrations(&self) -> Result<Vec<(String, Vec<Binding>)>, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.queries
            .send(Query::Registrations(tx))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Starts a graceful drain: new INVITEs are answered 503 (with Retry-After, so callers
    /// and trunks try another node) while calls in progress go on. Returns how many there
    /// are.
    pub async fn drain(&self) -> Result<usize, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.queries
            .send(Query::Drain(tx))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// The calls in progress, not counting ended ones that linger for late responses.
    pub fn active_calls(&self) -> usize {
        self.calls.as_ref().map_or(0, |c| {
            c.registry
                .list()
                .iter()
                .filter(|i| i.state != calls::CallState::Ending)
                .count()
        })
    }
}

impl SipEdge {
    /// Binds the SIP address and starts the transport and core tasks. With `services`, calls
    /// are taken (routed, queued, connected through those services' gRPC APIs) and the
    /// registered phones are reported to presence (`PresenceControl`); without, an INVITE to
    /// a reachable number is answered 503. `organization` follows configuration
    /// changes; the `[sip]` settings of its first value are the node's for its lifetime.
    pub async fn start(
        organization: watch::Receiver<Arc<Config>>,
        services: Option<CallServices>,
        shutdown: Shutdown,
    ) -> Result<SipEdge, EdgeError> {
        let config = organization.borrow().clone();
        let addr = config.sip.listen;
        let bound = transport::bind(addr)
            .await
            .map_err(|source| EdgeError::Bind { addr, source })?;
        let local_addr = bound.local_addr;
        let secret = match &config.sip.nonce_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        let counters = Arc::new(Counters::default());
        let core = EdgeCore::new(config.clone(), secret, rand::random(), counters.clone())?;
        let (to_core, from_transport) = mpsc::channel(config.sip.queue_depth);
        let sender = transport::start(
            bound,
            TransportConfig {
                max_message_bytes: config.sip.max_message_bytes,
                max_tcp_connections: config.sip.max_tcp_connections,
            },
            to_core,
            counters.clone(),
            shutdown.clone(),
        );
        let (events, _) = broadcast::channel(1024);
        let (queries, query_rx) = mpsc::channel(64);
        let (to_core, commands) = mpsc::unbounded_channel();
        let calls = services.map(|services| {
            let ctx = Arc::new(CallContext {
                local: Local {
                    addr: advertised(local_addr, &config),
                    domain: config.sip.domain.clone(),
                },
                config: organization.clone(),
                services,
                timings: CallTimings::default(),
                node: format!("{:08x}", rand::random::<u32>()),
                core: to_core,
                registry: Default::default(),
                events: broadcast::channel(4096).0,
            });
            calls::spawn_dispatchers(ctx.clone(), shutdown.clone());
            ctx
        });
        let handle = EdgeHandle {
            events: events.clone(),
            queries,
            calls: calls.clone(),
        };
        if let Some(ctx) = &calls {
            // Subscribed before the core runs: no registration can come before it.
            devices::spawn(
                handle.clone(),
                events.subscribe(),
                devices::PhonePresence {
                    routes: ctx.services.presence_routes(),
                    config: organization.clone(),
                },
                ctx.services.presence_owners(),
                ctx.services.node().to_owned(),
                ctx.timings.rpc_timeout,
                shutdown.clone(),
            );
        }
        let core_task = tokio::spawn(core_loop(
            core,
            Channels {
                inbound: from_transport,
                queries: query_rx,
                commands,
            },
            calls,
            organization,
            sender,
            events,
            shutdown,
        ));
        info!(%local_addr, domain = %config.sip.domain, "sip-edge listening on UDP and TCP");
        Ok(SipEdge {
            local_addr,
            counters,
            handle,
            core_task,
        })
    }

    /// Device registered / device gone events.
    pub fn subscribe(&self) -> broadcast::Receiver<RegistrarEvent> {
        self.handle.events.subscribe()
    }

    pub fn handle(&self) -> EdgeHandle {
        self.handle.clone()
    }

    /// Waits until the node has stopped (after shutdown was triggered).
    pub async fn stopped(self) {
        let _ = self.core_task.await;
    }
}

/// Runs a sip-edge node until `shutdown`.
pub async fn run(
    organization: watch::Receiver<Arc<Config>>,
    services: Option<CallServices>,
    shutdown: Shutdown,
) -> Result<(), EdgeError> {
    SipEdge::start(organization, services, shutdown)
        .await?
        .stopped()
        .await;
    Ok(())
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// At most this many queued messages are handled before outputs are flushed.
const BATCH: usize = 256;

/// Where the core's inputs come from.
struct Channels {
    inbound: mpsc::Receiver<Inbound>,
    queries: mpsc::Receiver<Query>,
    commands: mpsc::UnboundedReceiver<FromCall>,
}

/// The address peers reach this node at: the bound one, or the media public IP with the
/// bound port when bound to a wildcard address.
fn advertised(bound: SocketAddr, config: &Config) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(config.media.public_ip, bound.port())
    } else {
        bound
    }
}

async fn core_loop(
    mut core: EdgeCore,
    channels: Channels,
    calls: Option<Arc<CallContext>>,
    mut organization: watch::Receiver<Arc<Config>>,
    sender: transport::Sender,
    events: broadcast::Sender<RegistrarEvent>,
    mut shutdown: Shutdown,
) {
    let Channels {
        mut inbound,
        mut queries,
        mut commands,
    } = channels;
    let mut publish = tokio::time::interval(std::time::Duration::from_secs(1));
    publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = core.poll_timeout();
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = publish.tick() => publish_metrics(&core, &sender),
            msg = inbound.recv() => {
                let Some(msg) = msg else { break };
                let now = Instant::now();
                let unix = unix_secs();
                core.handle_inbound(msg, now, unix);
                for _ in 1..BATCH {
                    match inbound.try_recv() {
                        Ok(msg) => core.handle_inbound(msg, now, unix),
                        Err(_) => break,
                    }
                }
            }
            q = queries.recv() => match q {
                Some(Query::Registrations(reply)) => {
                    let _ = reply.send(core.registrar().all(Instant::now()));
                }
                Some(Query::Drain(reply)) => {
                    core.drain();
                    info!(calls = core.active_calls(), "draining: new calls are refused, calls in progress go on");
                    let _ = reply.send(core.active_calls());
                }

                None => {}
            },
            Some(command) = commands.recv() => {
                let now = Instant::now();
                let mut next = Some(command);
                let mut n = 0;
                while let Some(command) = next.take() {
                    match command {
                        FromCall::Contacts { extension, reply } => {
                            let _ = reply.send(core.contacts(&extension, now));
                        }
                        command => core.handle_command(command, now),
                    }
                    n += 1;
                    if n < BATCH {
                        next = commands.try_recv().ok();
                    }
                }
            }
            Ok(()) = organization.changed() => {
                let latest = organization.borrow_and_update().clone();
                core.set_config(latest);
            }
            _ = sleep_until(deadline), if deadline.is_some() => core.handle_timeout(Instant::now()),
        }
        while let Some(out) = core.poll_outgoing() {
            sender.send(out.peer, out.bytes);
        }
        while let Some(e) = core.poll_event() {
            let _ = events.send(e);
        }
        while let Some((call, event)) = core.poll_call_event() {
            match &calls {
                Some(ctx) => calls::deliver(ctx, call, event).await,
                None => refuse(&mut core, call, event),
            }
        }
        while let Some(out) = core.poll_outgoing() {
            sender.send(out.peer, out.bytes);
        }
    }
}

/// Copies the counters and gauges into the `metrics` recorder (Prometheus in `ccd`) once a
/// second, so the per-message path only touches plain atomics.
fn publish_metrics(core: &EdgeCore, sender: &transport::Sender) {
    for (name, value) in core.counters().snapshot() {
        ::metrics::counter!(name).absolute(value);
    }
    ::metrics::gauge!("sip_registered_devices").set(core.registrar().binding_count() as f64);
    ::metrics::gauge!("sip_transactions").set(core.transaction_count() as f64);
    ::metrics::gauge!("sip_tcp_connections").set(sender.tcp_connections() as f64);
}

/// Without the other services no call can be taken: the caller hears 503 at once.
fn refuse(core: &mut EdgeCore, call: core::CallNo, event: core::ToCall) {
    if let core::ToCall::New { tx, request, .. } = event {
        let mut response = cc_sip::Response::to_request(&request, 503, Some("unavailable"));
        response.reason = "Service Unavailable (no call handling on this node)".into();
        core.handle_command(core::FromCall::Respond { tx, response }, Instant::now());
    }
    core.handle_command(core::FromCall::Ended { call }, Instant::now());
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d.into()).await;
    }
}
