//! `ccd`: parse arguments, load the configuration, start services, wait for a signal,
//! drain. Everything else lives in the service crates.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod api;
mod events;

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Every service in one process. Without --config, a small demo organisation.
    All {
        #[arg(long, env = "CCD_CONFIG")]
        config: Option<PathBuf>,
        /// Override [sip] listen (e.g. 127.0.0.1:5080).
        #[arg(long)]
        sip_listen: Option<std::net::SocketAddr>,
        /// Override [grpc] listen (the gRPC API).
        #[arg(long)]
        api_listen: Option<std::net::SocketAddr>,
        /// Override [grpc] metrics_listen (the Prometheus scrape endpoint).
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
        /// etcd endpoints (comma-separated URLs) that keep the shared configuration. Without
        /// it, the node coordinates with itself in memory.
        #[arg(long, env = "CCD_ETCD", value_delimiter = ',')]
        etcd: Vec<String>,
    },
    /// Only the SIP edge.
    SipEdge {
        #[arg(long, env = "CCD_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        sip_listen: Option<std::net::SocketAddr>,
        #[arg(long)]
        api_listen: Option<std::net::SocketAddr>,
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
    },
    /// Only the media engine (RTP endpoints, prompts, recording) and its control API.
    Media {
        #[arg(long, env = "CCD_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        api_listen: Option<std::net::SocketAddr>,
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
    },
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
    let services = match &cli.command {
        Command::All { .. } => Services {
            sip_edge: true,
            media: true,
            presence: true,
            config: true,
        },
        Command::SipEdge { .. } => Services {
            sip_edge: true,
            media: false,
            presence: false,
            config: false,
        },
        Command::Media { .. } => Services {
            sip_edge: false,
            media: true,
            presence: false,
            config: false,
        },
        Command::CheckConfig { .. } => Services {
            sip_edge: false,
            media: false,
            presence: false,
            config: false,
        },
    };
    let (mut config, demo) = match &cli.command {
        Command::All {
            config: Some(path), ..
        }
        | Command::SipEdge { config: path, .. }
        | Command::Media { config: path, .. } => (load(path)?, false),
        Command::All { config: None, .. } => (Config::from_toml(DEMO_TOML)?, true),
        Command::CheckConfig { config } => {
            let c = load(config)?;
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
    if let Command::All {
        sip_listen: Some(a),
        ..
    }
    | Command::SipEdge {
        sip_listen: Some(a),
        ..
    } = cli.command
    {
        config.sip.listen = a;
    }
    if let Command::All {
        api_listen,
        metrics_listen,
        ..
    }
    | Command::SipEdge {
        api_listen,
        metrics_listen,
        ..
    }
    | Command::Media {
        api_listen,
        metrics_listen,
        ..
    } = cli.command
    {
        if let Some(a) = metrics_listen {
            config.api.metrics_listen = a;
        }
        if let Some(a) = api_listen {
            config.api.listen = a;
        }
    }
    let etcd = match cli.command {
        Command::All { etcd, .. } => etcd,
        _ => Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(Arc::new(config), services, demo, etcd))
}

/// Which services this process runs.
#[derive(Debug, Clone, Copy)]
struct Services {
    sip_edge: bool,
    media: bool,
    presence: bool,
    /// The configuration API (where the organisation is edited at run time).
    config: bool,
}

impl Services {
    /// The services this process registers in the cluster (routing and the queue run
    /// where presence runs).
    fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.sip_edge {
            names.push("sip-edge");
        }
        if self.media {
            names.push("media");
        }
        if self.presence {
            names.extend(["presence", "queue", "routing"]);
        }
        names
    }
}

/// A node's lease lives this long after its last keep-alive: a dead node's registrations
/// and ownerships are gone after at most this.
const NODE_LEASE_TTL: Duration = Duration::from_secs(10);

/// The node's name in the cluster: the host name (the pod name on Kubernetes) and the API
/// port, so several nodes on one machine differ.
fn node_name(api_addr: std::net::SocketAddr) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ccd".into());
    format!("{host}-{}", api_addr.port())
}

/// The coordinator: etcd when endpoints are given, otherwise one in this process.
async fn coordinator(etcd: &[String]) -> anyhow::Result<Arc<dyn cc_cluster::Coordinator>> {
    if etcd.is_empty() {
        return Ok(Arc::new(cc_cluster::MemoryCoordinator::default()));
    }
    let coordinator = cc_cluster::EtcdCoordinator::connect(etcd, Duration::from_secs(5))
        .await
        .with_context(|| format!("cannot reach etcd at {}", etcd.join(",")))?;
    tracing::info!(endpoints = %etcd.join(","), "coordinating through etcd");
    Ok(Arc::new(coordinator))
}

async fn serve(
    config: Arc<Config>,
    services: Services,
    demo: bool,
    etcd: Vec<String>,
) -> anyhow::Result<()> {
    let (trigger, shutdown) = Shutdown::new();
    // Signal handlers first: a SIGTERM that arrives while services start still drains them.
    let signal = termination_signal()?;
    // The node's configuration store: the Configuration API edits it, and every service
    // that derives state from the organisation follows `store.subscribe()`.
    let coordinator = coordinator(&etcd).await?;
    let store = cc_config::ConfigStore::open(
        coordinator.clone(),
        Config::clone(&config),
        shutdown.clone(),
    )
    .await
    .context("configuration store")?;
    let metrics_addr = config.api.metrics_listen;
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(metrics_addr)
        .install()
        .with_context(|| format!("cannot serve Prometheus metrics on {metrics_addr}"))?;
    tracing::info!(%metrics_addr, "Prometheus metrics listening");
    let media = if services.media {
        let media_config = config.media.clone();
        let engine =
            tokio::task::spawn_blocking(move || cc_media::MediaEngine::start(media_config, None))
                .await??;
        let published = engine.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => published.publish_metrics(),
                    _ = stop.wait() => break,
                }
            }
        });
        Some(engine)
    } else {
        None
    };
    // The API port is bound first: sip-edge (its calls and its registrar's phones) and the
    // queue reach routing, queue, presence and media through it, over gRPC even where this
    // very process serves them (DESIGN.md section 1). The channel connects on first use.
    let api_listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen for gRPC on {}", config.api.listen))?;
    let api_addr = api_listener.local_addr()?;
    let node_api = tonic::transport::Endpoint::from_shared(format!("http://{api_addr}"))
        .expect("a socket address is a valid URI")
        .connect_timeout(Duration::from_secs(2))
        // A peer that dies without closing the connection (a killed node, a cut link) ends
        // the long-lived watch streams within seconds instead of leaving them hanging.
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .connect_lazy();
    let edge = if services.sip_edge {
        let calls = (services.media && services.presence)
            .then(|| cc_sip_edge::calls::CallServices::at(node_api.clone()));
        let organization = store.subscribe();
        Some(cc_sip_edge::SipEdge::start(organization, calls, shutdown.clone()).await?)
    } else {
        None
    };
    let presence = if services.presence {
        Some(cc_presence::PresenceService::start(store.subscribe(), shutdown.clone()).await?)
    } else {
        None
    };
    // The queue follows presence (through this node's API), so it runs only where presence
    // does.
    let queue = if services.presence {
        Some(cc_queue::QueueService::start(store.subscribe(), node_api, shutdown.clone()).await?)
    } else {
        None
    };
    let events = events::EventHub::default();
    events.follow(
        edge.as_ref().map(|e| e.handle()).as_ref(),
        presence.as_ref().map(cc_presence::PresenceService::handle),
        queue.as_ref().map(cc_queue::QueueService::handle),
        shutdown.clone(),
    );
    let (_, api_task) = api::start(
        api_listener,
        api::Apis {
            edge: edge.as_ref(),
            media: media.clone(),
            presence: presence.as_ref(),
            queue: queue.as_ref().map(cc_queue::QueueService::handle),
            routing: services.presence.then(|| store.subscribe()),
            config: services.config.then(|| store.clone()),
            events: events.clone(),
        },
        shutdown,
    )
    .await?;
    if demo && let Some(edge) = &edge {
        print_demo_help(&config, edge.local_addr);
    }
    // The node announces its services under its lease: they vanish when it dies, and at
    // once when it stops gracefully.
    let lease = cc_cluster::NodeLease::start(coordinator.clone(), NODE_LEASE_TTL)
        .await
        .context("cannot take a node lease from the coordinator")?;
    let node = node_name(api_addr);
    let registrations: Vec<_> = services
        .names()
        .into_iter()
        .map(|service| {
            let info = cc_cluster::NodeInfo {
                service: service.into(),
                node: node.clone(),
                address: api_addr.to_string(),
                load: 0,
            };
            cc_cluster::Registration::start(coordinator.clone(), &lease, info)
        })
        .collect();
    tracing::info!(%node, "ccd ready");
    signal.await;
    tracing::info!("shutting down");
    for registration in registrations {
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
