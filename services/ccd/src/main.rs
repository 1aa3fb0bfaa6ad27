//! `ccd`: parse arguments, load the configuration, start services, wait for a signal,
//! drain. Everything else lives in the service crates.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod api;
mod data;
mod events;
mod report;

use anyhow::Context;
use cc_common::config::DEMO_TOML;
use cc_common::{Config, Shutdown};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ccd", version, about = "Distributed contact-center cluster")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every node command takes.
#[derive(Debug, Clone, clap::Args)]
struct NodeArgs {
    /// The TOML configuration (`ccd all` without it runs a small demo organisation).
    #[arg(long, env = "CCD_CONFIG")]
    config: Option<PathBuf>,
    /// Override [sip] listen (e.g. 127.0.0.1:5080), where sip-edge runs.
    #[arg(long)]
    sip_listen: Option<std::net::SocketAddr>,
    /// Override [grpc] listen (the gRPC API).
    #[arg(long)]
    api_listen: Option<std::net::SocketAddr>,
    /// Override [grpc] metrics_listen (the Prometheus scrape endpoint).
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Override [media] public_ip, the address written into SDP (in a pod: its own IP or
    /// the node's public one, which one shared file cannot say).
    #[arg(long, env = "CCD_PUBLIC_IP")]
    public_ip: Option<std::net::IpAddr>,
    /// Override [media] rtp_ports (e.g. 20000-20999).
    #[arg(long, env = "CCD_RTP_PORTS")]
    rtp_ports: Option<cc_common::config::PortRange>,
    /// etcd endpoints (comma-separated URLs) that coordinate the cluster. Without it, the
    /// node coordinates with itself in memory (only useful for `ccd all`).
    #[arg(long, env = "CCD_ETCD", value_delimiter = ',')]
    etcd: Vec<String>,
    /// Keep every key of this cluster under this prefix (e.g. /acme), so that several
    /// clusters share one etcd.
    #[arg(long, env = "CCD_ETCD_PREFIX")]
    etcd_prefix: Option<String>,
    /// The `host:port` other nodes reach this node's gRPC API at (in a pod: its IP and the
    /// API port). Defaults to the API's bound address, which must then not be a wildcard.
    #[arg(long, env = "CCD_ADVERTISE")]
    advertise: Option<String>,
    /// On SIGTERM a sip-edge node refuses new calls and waits this long at most for its
    /// calls in progress to end before it stops (a second SIGTERM stops it at once).
    #[arg(long, env = "CCD_DRAIN_SECS", default_value_t = 60)]
    drain_secs: u64,
    /// Where a node without --etcd keeps what must survive a restart (messages and
    /// callbacks, journaled to `journal.jsonl`); created if missing, one node per
    /// directory. With --etcd, etcd keeps them and this is not used.
    #[arg(long, env = "CCD_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Where a reporting node keeps call records: an SQLite file (created if missing), or
    /// a PostgreSQL database (`postgres://user:password@host:port/database`, migrated on
    /// start). Defaults to `reporting.sqlite3` in --data-dir.
    #[arg(long, env = "CCD_REPORTING_DB")]
    reporting_db: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every service in one process. Without --config, a small demo organisation.
    All(NodeArgs),
    /// Only the SIP edge (calls and registrations); finds the other services through etcd.
    SipEdge(NodeArgs),
    /// Only the media engine (RTP endpoints, prompts, recording) and its control API.
    Media(NodeArgs),
    /// Only routing (stateless: any number of nodes share the work).
    Routing(NodeArgs),
    /// Only presence (agent state); one node owns it, the others stand by.
    Presence(NodeArgs),
    /// Only the department queues; each department is owned by one queue node at a time.
    Queue(NodeArgs),
    /// Only the callback scheduler and its API; one node leads, the others stand by.
    Callback(NodeArgs),
    /// Only reporting: follows every node's events into its database and serves the
    /// Reporting API (R-60..R-63).
    Reporting(NodeArgs),
    /// Print the per-scenario report of a time range from a reporting node (a table, or
    /// CSV with --csv).
    Report(report::ReportArgs),
    /// Validate a configuration file and exit.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).with_context(|| format!("configuration {}", path.display()))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cc_common::telemetry::init_tracing("info");
    let (services, args) = match cli.command {
        Command::All(args) => (Services::ALL, args),
        Command::SipEdge(args) => (Services::only(Service::SipEdge), args),
        Command::Media(args) => (Services::only(Service::Media), args),
        Command::Routing(args) => (Services::only(Service::Routing), args),
        Command::Presence(args) => (Services::only(Service::Presence), args),
        Command::Queue(args) => (Services::only(Service::Queue), args),
        Command::Callback(args) => (Services::only(Service::Callback), args),
        Command::Reporting(args) => (Services::only(Service::Reporting), args),
        Command::Report(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(report::run(args));
        }
        Command::CheckConfig { config } => {
            let c = load(&config)?;
            println!(
                "{}: OK ({} employees, {} departments, {} numbers, {} trunks)",
                config.display(),
                c.employees.len(),
                c.departments.len(),
                c.numbers.len(),
                c.trunks.len()
            );
            return Ok(());
        }
    };
    let (mut config, demo) = match &args.config {
        Some(path) => (load(path)?, false),
        None if services == Services::ALL => (Config::from_toml(DEMO_TOML)?, true),
        None => anyhow::bail!(
            "--config FILE (or CCD_CONFIG) is required for a node that runs only {}",
            services.names().join(", ")
        ),
    };
    if services != Services::ALL && args.etcd.is_empty() {
        tracing::warn!(
            "no --etcd: this node coordinates only with itself and will not find the other services"
        );
    }
    if let Some(a) = args.sip_listen {
        config.sip.listen = a;
    }
    if let Some(a) = args.metrics_listen {
        config.api.metrics_listen = a;
    }
    if let Some(a) = args.api_listen {
        config.api.listen = a;
    }
    if let Some(ip) = args.public_ip {
        config.media.public_ip = ip;
    }
    if let Some(ports) = args.rtp_ports {
        config.media.rtp_ports = ports;
    }
    // The same rules as for the file: an override must not make a configuration the file
    // could not have held.
    config
        .check()
        .context("the configuration with the command line's overrides")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(
        Arc::new(config),
        services,
        demo,
        NodeOptions {
            etcd: args.etcd,
            etcd_prefix: args.etcd_prefix,
            advertise: args.advertise,
            drain: Duration::from_secs(args.drain_secs),
            reporting_db: reporting_db(args.reporting_db.as_deref(), &args.data_dir)?,
            data_dir: args.data_dir,
        },
    ))
}

/// One of the services a node can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    SipEdge,
    Media,
    Routing,
    Presence,
    Queue,
    Callback,
    Reporting,
}

impl Service {
    /// Its name in the cluster (`/cc/nodes/<name>/...`).
    fn name(self) -> &'static str {
        match self {
            Service::SipEdge => "sip-edge",
            Service::Media => "media",
            Service::Routing => "routing",
            Service::Presence => "presence",
            Service::Queue => "queue",
            Service::Callback => "callback",
            Service::Reporting => "reporting",
        }
    }
}

/// Which services this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Services {
    sip_edge: bool,
    media: bool,
    routing: bool,
    presence: bool,
    queue: bool,
    callback: bool,
    reporting: bool,
}

impl Services {
    const ALL: Services = Services {
        sip_edge: true,
        media: true,
        routing: true,
        presence: true,
        queue: true,
        callback: true,
        reporting: true,
    };

    fn only(service: Service) -> Services {
        Services {
            sip_edge: service == Service::SipEdge,
            media: service == Service::Media,
            routing: service == Service::Routing,
            presence: service == Service::Presence,
            queue: service == Service::Queue,
            callback: service == Service::Callback,
            reporting: service == Service::Reporting,
        }
    }

    fn runs(self, service: Service) -> bool {
        match service {
            Service::SipEdge => self.sip_edge,
            Service::Media => self.media,
            Service::Routing => self.routing,
            Service::Presence => self.presence,
            Service::Queue => self.queue,
            Service::Callback => self.callback,
            Service::Reporting => self.reporting,
        }
    }

    /// The services this process runs, as registered in the cluster.
    fn names(self) -> Vec<&'static str> {
        [
            Service::SipEdge,
            Service::Media,
            Service::Routing,
            Service::Presence,
            Service::Queue,
            Service::Callback,
            Service::Reporting,
        ]
        .into_iter()
        .filter(|s| self.runs(*s))
        .map(Service::name)
        .collect()
    }
}

/// Starts this node's callback scheduler: it campaigns for the leadership, and while it
/// leads places due attempts through the cluster's sip-edge nodes, as many per department
/// as presence shows agents at work, within the configured working hours.
fn start_scheduler(
    config: &Config,
    store: &Arc<cc_config::ConfigStore>,
    coordinator: Arc<dyn cc_cluster::Coordinator>,
    lease: &cc_cluster::NodeLease,
    node: cc_cluster::NodeInfo,
    shutdown: Shutdown,
) -> anyhow::Result<cc_callback::Scheduler> {
    let retries = &config.callbacks;
    let mut settings = cc_callback::Settings::default();
    settings.core.max_attempts = retries.max_attempts;
    settings.core.first_retry = Duration::from_secs(u64::from(retries.first_retry_seconds));
    settings.core.retry_factor = retries.retry_factor;
    settings.core.max_retry = Duration::from_secs(u64::from(retries.max_retry_seconds));
    let timings = cc_callback::links::DialTimings::within(
        settings.core.in_doubt_after,
        Duration::from_secs(u64::from(retries.ring_seconds)),
    );
    let links = cc_callback::Links {
        dialer: Arc::new(cc_callback::links::SipEdgeDialer::new(
            coordinator.clone(),
            timings,
        )),
        capacity: cc_callback::links::follow_capacity(
            coordinator.clone(),
            store.subscribe(),
            shutdown.clone(),
        ),
        hours: cc_callback::links::follow_hours(store.subscribe(), shutdown.clone()),
    };
    let cluster = cc_callback::Cluster {
        coordinator,
        lease: lease.subscribe(),
        node,
    };
    cc_callback::Scheduler::start(cluster, links, settings, shutdown).context("callback scheduler")
}

/// A node's lease lives this long after its last keep-alive: a dead node's registrations
/// and ownerships are gone after at most this, which bounds how long a department's queue
/// or presence is without an owner (the target is callers offered again within 5 s). The
/// node itself gives its ownerships up after a third less without a keep-alive, so an owner
/// cut off from etcd has stopped before anyone else can take over.
const NODE_LEASE_TTL: Duration = Duration::from_secs(4);

/// How long a queue node that has just taken a department over waits before its first
/// offer, while the sip-edge nodes put the calls that waited at the previous owner back in
/// line (a round trip each: within 50 ms on one machine, see loadtest/reports/cluster.md):
/// the first caller is served first, not the first to come back.
const QUEUE_TAKEOVER_HOLD: Duration = Duration::from_millis(300);

/// The node's name in the cluster: the host name (the pod name on Kubernetes), the API
/// port (so several nodes on one machine differ) and this process's incarnation. A node
/// restarted in place is a new member: queue and presence see the old one leave and let go
/// of the calls it carried, which died with it.
fn node_name(api_addr: std::net::SocketAddr) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ccd".into());
    let incarnation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() % 0x1_0000_0000)
        .unwrap_or_default();
    format!("{host}-{}-{incarnation:08x}", api_addr.port())
}

/// The coordinator: etcd when endpoints are given, otherwise one in this process whose
/// messages and callbacks are journaled in `data` (locked, and so returned, for the life of
/// the process). With `prefix`, every key of the cluster lives under it.
async fn coordinator(
    etcd: &[String],
    prefix: Option<&str>,
    data: &std::path::Path,
) -> anyhow::Result<(Arc<dyn cc_cluster::Coordinator>, Option<data::DataDir>)> {
    if etcd.is_empty() {
        let dir = data::DataDir::open(data)?;
        let memory = Arc::new(cc_cluster::MemoryCoordinator::default());
        return Ok((dir.journaled(memory).await?, Some(dir)));
    }
    let coordinator = cc_cluster::EtcdCoordinator::connect(etcd, Duration::from_secs(5))
        .await
        .with_context(|| format!("cannot reach etcd at {}", etcd.join(",")))?;
    tracing::info!(endpoints = %etcd.join(","), prefix = prefix.unwrap_or(""), "coordinating through etcd");
    let coordinator: Arc<dyn cc_cluster::Coordinator> = Arc::new(coordinator);
    let coordinator = match prefix {
        Some(prefix) => {
            Arc::new(cc_cluster::Namespaced::new(coordinator, prefix).context("--etcd-prefix")?)
        }
        None => coordinator,
    };
    Ok((coordinator, None))
}

async fn serve(
    config: Arc<Config>,
    services: Services,
    demo: bool,
    options: NodeOptions,
) -> anyhow::Result<()> {
    let NodeOptions {
        etcd,
        etcd_prefix,
        advertise,
        drain,
        data_dir,
        reporting_db,
    } = options;
    let (trigger, shutdown) = Shutdown::new();
    // Signal handlers first: a SIGTERM that arrives while services start still drains them.
    let signal = termination_signal()?;
    let clustered = !etcd.is_empty();
    // The node's configuration store: the Configuration API edits it, and every service
    // that derives state from the organisation follows `store.subscribe()`.
    let (coordinator, _data) = coordinator(&etcd, etcd_prefix.as_deref(), &data_dir).await?;
    let store = cc_config::ConfigStore::open(
        coordinator.clone(),
        Config::clone(&config),
        shutdown.clone(),
    )
    .await
    .context("configuration store")?;
    // Messages are the cluster's, like the configuration they are checked against.
    let messages = cc_callback::messages::MessageStore::new(
        coordinator.clone(),
        store.subscribe(),
        cc_callback::Clock::system(),
    );
    let metrics_addr = config.api.metrics_listen;
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(metrics_addr)
        .install()
        .with_context(|| format!("cannot serve Prometheus metrics on {metrics_addr}"))?;
    tracing::info!(%metrics_addr, "Prometheus metrics listening");
    // The API port is bound first: it is the node's address in the cluster, where the
    // other services reach this one (and where this one's own services reach each other,
    // over gRPC even within one process: DESIGN.md section 1).
    let api_listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen for gRPC on {}", config.api.listen))?;
    let api_addr = api_listener.local_addr()?;
    let node = node_name(api_addr);
    let address = match advertise {
        Some(a) => a,
        None if api_addr.ip().is_unspecified() && clustered => anyhow::bail!(
            "the gRPC API listens on {api_addr}, which other nodes cannot dial: give the \
             address they reach this node at with --advertise HOST:PORT (or CCD_ADVERTISE)"
        ),
        None if api_addr.ip().is_unspecified() => format!("127.0.0.1:{}", api_addr.port()),
        None => api_addr.to_string(),
    };
    let info = |service: &str| cc_cluster::NodeInfo {
        service: service.into(),
        node: node.clone(),
        address: address.clone(),
        load: 0,
    };
    // The node's lease: its registrations and ownerships hang off it, vanish when it dies,
    // and at once when it stops gracefully.
    let lease = cc_cluster::NodeLease::start(coordinator.clone(), NODE_LEASE_TTL)
        .await
        .context("cannot take a node lease from the coordinator")?;
    let media = if services.media {
        let media_config = config.media.clone();
        let engine =
            tokio::task::spawn_blocking(move || cc_media::MediaEngine::start(media_config, None))
                .await??;
        Some(engine)
    } else {
        None
    };
    let edge = if services.sip_edge {
        // Calls need the other services: found through the coordinator (in `ccd all`, this
        // node's own). A lone sip-edge with no etcd takes registrations only.
        let calls = (clustered || services == Services::ALL)
            .then(|| cc_sip_edge::calls::CallServices::discover(coordinator.clone(), node.clone()));
        let organization = store.subscribe();
        Some(cc_sip_edge::SipEdge::start(organization, calls, shutdown.clone()).await?)
    } else {
        None
    };
    let presence = if services.presence {
        // The agents are cut into shards spread over the presence nodes; logins and pauses
        // are kept in the coordinator, so that the node taking a shard over knows who was
        // working.
        let cluster = cc_presence::Cluster {
            coordinator: coordinator.clone(),
            lease: lease.subscribe(),
            node: info(Service::Presence.name()),
        };
        Some(
            cc_presence::PresenceService::start_sharded(
                store.subscribe(),
                cluster,
                shutdown.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    let queue = if services.queue {
        // Each presence shard wherever its owner is now.
        let owners =
            cc_cluster::Owners::follow(coordinator.clone(), cc_cluster::keys::PRESENCE_OWNERS);
        let presence = cc_cluster::ShardRoutes::follow(&owners, cc_cluster::keys::PRESENCE_SHARDS);
        let ownership = cc_queue::Ownership {
            coordinator: coordinator.clone(),
            lease: lease.subscribe(),
            node: info(Service::Queue.name()),
            // Alone (no etcd) nobody else can have owned a department before.
            takeover_hold: if clustered {
                QUEUE_TAKEOVER_HOLD
            } else {
                Duration::ZERO
            },
        };
        Some(
            cc_queue::QueueService::start(
                store.subscribe(),
                presence,
                Some(ownership),
                shutdown.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    // The callback scheduler: every callback node campaigns, one leads.
    let scheduler = if services.callback {
        Some(start_scheduler(
            &config,
            &store,
            coordinator.clone(),
            &lease,
            info(Service::Callback.name()),
            shutdown.clone(),
        )?)
    } else {
        None
    };
    let reporting = if services.reporting {
        Some(
            start_reporting(
                &reporting_db,
                coordinator.clone(),
                store.subscribe(),
                shutdown.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    let local_events = events::EventHub::default();
    local_events.follow(
        edge.as_ref().map(|e| e.handle()).as_ref(),
        presence.as_ref().map(cc_presence::PresenceService::handle),
        queue.as_ref().map(cc_queue::QueueService::handle),
        shutdown.clone(),
    );
    // Callback requests (a caller's, a lost call's, a message's) go to the scheduler nodes
    // (forwarded to the leader).
    let scheduling = cc_callback::messages::ingest::Scheduling {
        nodes: cc_cluster::Members::follow(coordinator.clone(), Service::Callback.name()),
        window: Duration::from_secs(u64::from(config.callbacks.window_hours) * 3600),
    };
    let cluster_events = events::EventHub::default();
    events::gather(
        &cluster_events,
        &local_events,
        coordinator.clone(),
        address.clone(),
        shutdown.clone(),
    );
    let (health, api_task) = api::start(
        api_listener,
        api::Apis {
            edge: edge.as_ref(),
            media: media.clone(),
            presence: presence.as_ref(),
            queue: queue.as_ref().map(cc_queue::QueueService::handle),
            routing: services.routing.then(|| store.subscribe()),
            // Every node serves the Configuration API: the store is the cluster's.
            config: Some(store.clone()),
            cluster: Some((coordinator.clone(), node.clone())),
            events: (cluster_events, local_events),
            // Every node serves the Messages API; recordings from this node's directory.
            messages: Some(
                cc_callback::messages::api::MessagesApi::new(
                    messages.clone(),
                    config.media.recordings_dir.clone(),
                )
                .with_callbacks(scheduling.clone(), shutdown.clone()),
            ),
            callbacks: scheduler.as_ref().map(cc_callback::Scheduler::handle),
            reporting,
        },
        shutdown.clone(),
    )
    .await?;
    if services.sip_edge {
        // This node's sip-edge raises voice messages as events; they are read back from the
        // node's own event stream (resumable by sequence) into the message store.
        let events = tonic::transport::Channel::from_shared(format!("http://{address}"))
            .with_context(|| format!("the advertised address {address:?}"))?
            .connect_lazy();
        cc_callback::messages::ingest::follow(messages, events, Some(scheduling), shutdown.clone());
    }
    if demo && let Some(edge) = &edge {
        print_demo_help(&config, edge.local_addr);
    }
    let registrations: Vec<(&str, cc_cluster::Registration)> = services
        .names()
        .into_iter()
        .map(|service| {
            let registration =
                cc_cluster::Registration::start(coordinator.clone(), &lease, info(service));
            (service, registration)
        })
        .collect();
    if let Some(engine) = media.clone() {
        // The media load (endpoints in use) is what sip-edge picks a node for a call by.
        let registration = registrations
            .iter()
            .find(|(s, _)| *s == Service::Media.name())
            .map(|(_, r)| r.load_reporter());
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        engine.publish_metrics();
                        if let Some(report) = &registration {
                            report(u64::from(engine.load().endpoints));
                        }
                    }
                    _ = stop.wait() => break,
                }
            }
        });
    }
    tracing::info!(%node, services = %services.names().join(","), "ccd ready");
    signal.await;
    if let Some(edge) = &edge {
        // A sip-edge node drains: no new calls, NOT_SERVING (so a load balancer sends new
        // traffic elsewhere), and its calls in progress run to their end or to the deadline.
        // It stays registered meanwhile: queue and presence let go of the calls of a
        // sip-edge node that left the cluster, and other edges still ring its phones.
        let handle = edge.handle();
        let calls = handle.drain().await.unwrap_or(0);
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        tracing::info!(calls, deadline = ?drain, "draining: waiting for the calls in progress to end");
        let again = termination_signal()?;
        tokio::pin!(again);
        let deadline = tokio::time::Instant::now() + drain;
        loop {
            let active = handle.active_calls();
            if active == 0 {
                tracing::info!("drained: no call in progress");
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                () = &mut again => {
                    tracing::warn!(calls = active, "stopping now (second signal)");
                    break;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(calls = active, "drain deadline reached; ending the calls still in progress");
                    break;
                }
            }
        }
    }
    tracing::info!("shutting down");
    // The node leaves the cluster first: clients stop picking it, and revoking its lease
    // deletes its ownerships at once, so other nodes take its queues and presence now
    // rather than when the lease would have expired.
    for (_, registration) in registrations {
        if let Err(e) = registration.deregister().await {
            tracing::warn!(error = %e, "cannot deregister the node");
        }
    }
    if let Err(e) = lease.revoke().await {
        tracing::warn!(error = %e, "cannot revoke the node lease; it expires by itself");
    }
    trigger.trigger();
    let drained = async {
        if let Some(edge) = edge {
            edge.stopped().await;
        }
        let _ = api_task.await;
        if let Some(queue) = queue {
            queue.stopped().await;
        }
        if let Some(presence) = presence {
            presence.stopped().await;
        }
        if let Some(media) = media {
            let _ = tokio::task::spawn_blocking(move || media.shutdown()).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), drained)
        .await
        .is_err()
    {
        tracing::warn!("services did not stop within 5 s");
    }
    Ok(())
}

/// How a node takes part in the cluster.
struct NodeOptions {
    /// etcd endpoints; none: coordinate in memory.
    etcd: Vec<String>,
    /// Where in etcd the cluster's keys live.
    etcd_prefix: Option<String>,
    /// The address other nodes reach the API at.
    advertise: Option<String>,
    /// The longest a sip-edge node waits for its calls on SIGTERM.
    drain: Duration,
    /// Where a node without etcd journals messages and callbacks.
    data_dir: PathBuf,
    /// A reporting node's database.
    reporting_db: cc_reporting::store::Database,
}

/// The reporting database: `--reporting-db`, else `reporting.sqlite3` in the data
/// directory.
fn reporting_db(
    given: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<cc_reporting::store::Database> {
    use cc_reporting::store::Database;
    match given {
        Some(given) => Database::parse(given).map_err(|e| anyhow::anyhow!("--reporting-db {e}")),
        None => Ok(Database::in_data_dir(data_dir)),
    }
}

/// Opens the reporting database (two connections: one writes, one answers reports),
/// follows every sip-edge and presence node's events into it, and returns its API.
async fn start_reporting(
    db: &cc_reporting::store::Database,
    coordinator: Arc<dyn cc_cluster::Coordinator>,
    organization: cc_common::config::ConfigWatch,
    shutdown: Shutdown,
) -> anyhow::Result<cc_reporting::node::api::ReportingApi> {
    use cc_reporting::node::{Stores, follow, start_writer};
    let opened = db.clone();
    let (writer_store, reader_store) = tokio::task::spawn_blocking(move || {
        Ok::<_, cc_reporting::store::StoreError>((opened.open()?, opened.open()?))
    })
    .await
    .context("the reporting database's opening thread")?
    .with_context(|| format!("the reporting database ({db})"))?;
    let stores = Stores::split(writer_store, reader_store);
    tracing::info!(%db, "reporting into {db}");
    let (writer, _task) = start_writer(stores.clone());
    let mut stop = shutdown.clone();
    cc_reporting::node::live::start(stores.clone(), organization.clone(), async move {
        stop.wait().await;
    });
    let followers = stores.clone();
    cc_cluster::follow_nodes(
        coordinator,
        &[Service::SipEdge.name(), Service::Presence.name()],
        None,
        "reporting",
        async move {
            let mut shutdown = shutdown;
            shutdown.wait().await;
        },
        move |address, channel| {
            tokio::spawn(follow::follow_node(
                address.to_owned(),
                channel,
                followers.clone(),
                writer.clone(),
            ))
        },
    );
    Ok(cc_reporting::node::api::ReportingApi::new(
        stores,
        organization,
    ))
}

fn print_demo_help(config: &Config, addr: std::net::SocketAddr) {
    println!(
        "ccd demo organisation is running (domain {}).",
        config.sip.domain
    );
    println!("Register a softphone (UDP or TCP) to {addr} with one of:");
    for e in &config.employees {
        println!(
            "  {:<20} user {}  password {}",
            e.name, e.extension, e.sip_password
        );
    }
    println!(
        "e.g. baresip account line: <sip:201@{}>;auth_pass=anna-secret;outbound=\"sip:{addr}\"",
        config.sip.domain
    );
    println!("Press Ctrl-C to stop.");
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not
/// when the future is first polled.
fn termination_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
