//! edge-controller: the Edgeplane control plane binary. Wires the PKI, the Raft store, the API
//! server and the controllers together; `--join` adds this controller to an existing cluster and
//! `--restore` starts a new cluster from a backup.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use edge_controller::apiserver::internal::{JoinResponse, MemberRequest};
use edge_controller::apiserver::{Api, ApiServer, metrics::Metrics, router};
use edge_controller::controllers::ControllerOptions;
use edge_controller::gateway::{AgentGateway, GatewayOptions};
use edge_controller::pki::{ClusterPki, PkiOptions};
use edge_controller::store::{Bootstrap, Store, StoreConfig};
use edge_wire::token::ControlPlaneToken;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's allocator: the API path allocates many small JSON values from many
/// threads, where glibc's per-thread arenas cost CPU and fragment memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Edgeplane controller: Kubernetes API, Raft-replicated store and controllers.
#[derive(Parser, Debug)]
#[command(name = "edge-controller", version)]
struct Args {
    /// Where the store, PKI and admin.conf live.
    #[arg(
        long,
        default_value = "/var/lib/edgeplane/controller",
        env = "EDGEPLANE_DATA_DIR"
    )]
    data_dir: PathBuf,
    /// HTTPS address of the API (TCP).
    #[arg(long, default_value = "0.0.0.0:6443")]
    listen: SocketAddr,
    /// URL other controllers and clients reach this one at (default: from --listen and the host's addresses).
    #[arg(long)]
    advertise_url: Option<String>,
    /// This controller's name (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Extra DNS names or IP addresses for the serving certificate.
    #[arg(long = "tls-san")]
    tls_san: Vec<String>,
    /// Join the cluster of the controller at this URL (first start only).
    #[arg(long, requires = "token")]
    join: Option<String>,
    /// Control-plane token from `edgectl token create --control-plane` (K10...).
    #[arg(long, env = "EDGEPLANE_TOKEN")]
    token: Option<String>,
    /// Start a new single-controller cluster from a backup made with `edgectl backup save`.
    #[arg(long, conflicts_with = "join")]
    restore: Option<PathBuf>,
    /// How long a node may go without a heartbeat before it is marked NotReady (Ready=Unknown)
    /// and tainted unreachable.
    #[arg(long, alias = "node-monitor-grace-period", default_value = "40s", value_parser = humantime::parse_duration)]
    node_grace_period: std::time::Duration,
    /// How long pods stay bound to an unreachable node before they are evicted (for pods that
    /// do not tolerate `node.kubernetes.io/unreachable` for a time of their own).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pod_eviction_timeout: std::time::Duration,
    /// How often agents send heartbeats (renewing their node lease).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    node_heartbeat: std::time::Duration,
    /// Log filter (tracing env-filter syntax).
    #[arg(long, default_value = "info", env = "EDGEPLANE_LOG")]
    log_level: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log_level))
        .with_writer(std::io::stderr)
        .init();
    if let Err(err) = run(args).await {
        eprintln!("edge-controller: {err:#}");
        std::process::exit(1);
    }
}

/// How this data directory takes part in a cluster, remembered across restarts.
const MEMBERSHIP_FILE: &str = "membership";

async fn run(args: Args) -> Result<()> {
    edge_wire::secret_file::create_private_dir(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let name = args.name.clone().unwrap_or_else(hostname);
    let node_id = node_id(&args.data_dir)?;
    let advertise_url = match &args.advertise_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("https://{}", socket_for_url(args.listen)),
    };
    let store_exists = args.data_dir.join("store.redb").exists();
    let membership_path = args.data_dir.join(MEMBERSHIP_FILE);
    let joined_before =
        std::fs::read_to_string(&membership_path).is_ok_and(|m| m.trim() == "joined");

    let join_target = match (&args.join, store_exists) {
        (Some(url), false) => {
            let token = ControlPlaneToken::parse(args.token.as_deref().unwrap_or_default())
                .map_err(|e| anyhow!("--token is not a control-plane token ({e}); create one with `edgectl token create --control-plane`"))?;
            let ca = fetch_cluster_ca(url, &token).await?;
            ClusterPki::install_ca(&args.data_dir, &ca.ca_cert, &ca.ca_key)?;
            std::fs::write(&membership_path, "joined\n").context("cannot record the membership")?;
            Some(url.trim_end_matches('/').to_string())
        }
        (Some(_), true) => {
            tracing::info!("this data directory is already part of a cluster; ignoring --join");
            None
        }
        (None, _) => None,
    };

    let (hostnames, ips) = sans(&args, &name, &advertise_url);
    let pki = ClusterPki::load_or_create(
        &args.data_dir,
        &PkiOptions {
            controller_name: name.clone(),
            hostnames,
            ips,
            admin_server_url: advertise_url.clone(),
        },
    )
    .context("cannot set up the cluster PKI")?;
    let peer_client = pki.peer_client().context("cannot build the peer client")?;
    let bootstrap = if join_target.is_some() || joined_before {
        Bootstrap::Join
    } else {
        Bootstrap::SingleNode
    };
    let cfg = StoreConfig::new(
        args.data_dir.clone(),
        node_id,
        advertise_url.clone(),
        peer_client.clone(),
        bootstrap,
    );
    let store = match &args.restore {
        Some(file) => {
            if store_exists {
                bail!(
                    "{} already holds a store: restore into a new, empty --data-dir",
                    args.data_dir.display()
                );
            }
            let backup = std::fs::read(file)
                .with_context(|| format!("cannot read the backup {}", file.display()))?;
            Store::restore(cfg, &backup)
                .await
                .context("cannot restore the backup")?
        }
        None => Store::open(cfg).await.context("cannot open the store")?,
    };

    if bootstrap == Bootstrap::SingleNode {
        ensure_default_namespaces(&store).await;
    }
    let tls = Arc::new(
        pki.server_tls_config()
            .context("cannot build the TLS configuration")?,
    );
    let api = Api::new(store.clone());
    let registry = edge_controller::registry::Registry::open(&args.data_dir)
        .context("cannot open the built-in registry")?;
    let pki = Arc::new(pki);
    let gateway = AgentGateway::new(
        api.clone(),
        pki.clone(),
        GatewayOptions {
            heartbeat: args.node_heartbeat,
            node_grace: args.node_grace_period,
        },
    );
    let agent_endpoint = AgentGateway::endpoint(args.listen, (*tls).clone())
        .with_context(|| format!("cannot listen for agents on udp {}", args.listen))?;
    let server = Arc::new(ApiServer {
        api: api.clone(),
        metrics: Arc::new(Metrics::default()),
        pki,
        registry: registry.clone(),
        gateway: gateway.clone(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(edge_controller::tls::serve(
        listener,
        tls,
        router(server),
        shutdown.clone(),
    ));
    tracing::info!(%advertise_url, node_id, "edge-controller serving on {}", args.listen);

    if let Some(url) = join_target {
        become_member(&peer_client, &url, node_id, &advertise_url).await?;
    }
    let agents = tokio::spawn(gateway.serve(agent_endpoint, shutdown.clone()));
    let scheduler = tokio::spawn(edge_controller::scheduler::run(
        api.clone(),
        edge_controller::controllers::events::Recorder::new(api.clone()),
        Some(registry),
        edge_controller::scheduler::SchedulerOptions::default(),
        shutdown.clone(),
    ));
    let controllers = tokio::spawn(edge_controller::controllers::run(
        api,
        ControllerOptions {
            node_grace: args.node_grace_period,
            pod_eviction_timeout: args.pod_eviction_timeout,
        },
        shutdown.clone(),
    ));
    tracing::info!(
        "admin kubeconfig: {}",
        args.data_dir.join("admin.conf").display()
    );

    edge_wire::host::shutdown_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    let _ = controllers.await;
    let _ = scheduler.await;
    let _ = agents.await;
    let _ = serving.await;
    store.shutdown().await;
    Ok(())
}

/// A new single-controller cluster serves its first request with the built-in namespaces in place.
async fn ensure_default_namespaces(store: &Store) {
    let api = Api::new(store.clone());
    for _ in 0..100 {
        if store.is_leader() {
            match edge_controller::controllers::namespace::ensure_defaults(&api).await {
                Ok(()) => return,
                Err(err) => tracing::warn!("creating the built-in namespaces: {}", err.0.message),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!(
        "no leader after 10 s; the built-in namespaces will be created once one is elected"
    );
}

/// Step one of a join: trust the cluster by the CA pin in the token, prove the token, get the CA.
async fn fetch_cluster_ca(url: &str, token: &ControlPlaneToken) -> Result<JoinResponse> {
    let tls = edge_wire::tls::pinned_client_config(&token.ca_pin, None)?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(15))
        .build()?;
    let response = client
        .post(format!(
            "{}/internal/v1/join/controller",
            url.trim_end_matches('/')
        ))
        .bearer_auth(token.token.to_string())
        .send()
        .await
        .with_context(|| {
            format!("cannot reach {url} (is the URL right, and does the CA match the token's pin?)")
        })?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("the controller at {url} refused the join ({status}): {message}");
    }
    serde_json::from_slice(&body).context("the join answer is not understood")
}

/// Step two: ask the cluster (any member forwards to the leader) to add this controller as a voter.
async fn become_member(
    client: &reqwest::Client,
    url: &str,
    node_id: u64,
    advertise_url: &str,
) -> Result<()> {
    let body = MemberRequest {
        node_id,
        advertise_url: advertise_url.to_string(),
    };
    let mut last_error = String::new();
    for attempt in 0..30 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        match client
            .post(format!("{url}/internal/v1/join/controller/member"))
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                tracing::info!("joined the control plane through {url}");
                return Ok(());
            }
            Ok(r) => last_error = format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => last_error = e.to_string(),
        }
    }
    bail!("could not join the control plane through {url}: {last_error}")
}

/// A stable random Raft node id for this data directory.
fn node_id(data_dir: &Path) -> Result<u64> {
    let path = data_dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text
            .trim()
            .parse()
            .with_context(|| format!("{} is corrupt", path.display()));
    }
    let id = rand::random::<u64>() >> 1 | 1;
    edge_wire::secret_file::write(&path, format!("{id}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}

fn socket_for_url(listen: SocketAddr) -> String {
    let ip = if listen.ip().is_unspecified() {
        edge_wire::host::first_ipv4().unwrap_or(IpAddr::from([127, 0, 0, 1]))
    } else {
        listen.ip()
    };
    SocketAddr::new(ip, listen.port()).to_string()
}

/// Names and addresses the serving certificate must cover.
fn sans(args: &Args, name: &str, advertise_url: &str) -> (Vec<String>, Vec<IpAddr>) {
    let mut hostnames = vec![name.to_string()];
    let mut ips: Vec<IpAddr> = Vec::new();
    if args.listen.ip().is_unspecified() {
        ips.extend(
            if_addrs::get_if_addrs()
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.ip()),
        );
    } else {
        ips.push(args.listen.ip());
    }
    let advertised_host = advertise_url
        .trim_start_matches("https://")
        .rsplit_once(':')
        .map(|(host, _)| host.trim_matches(['[', ']']).to_string());
    for san in args.tls_san.iter().cloned().chain(advertised_host) {
        match san.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => hostnames.push(san),
        }
    }
    ips.sort();
    ips.dedup();
    hostnames.sort();
    hostnames.dedup();
    (hostnames, ips)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "controller".to_string())
}
