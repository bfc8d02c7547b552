//! edge-agent: joins an Edgeplane cluster over QUIC and runs the pods bound to this node.
//!
//! The first start needs `--token` and `--ca-cert-hash` (`edgectl token create
//! --print-join-command` prints the whole line); later starts need only `--server` and
//! `--data-dir`, whose `pki/` holds the node certificate.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use edge_agent::agent::{Agent, AgentSettings};
use edge_agent::identity::{self, Credentials, JoinArgs};

/// The Edgeplane edge agent.
#[derive(Parser, Debug)]
#[command(name = "edge-agent", version)]
struct Args {
    /// The controller's HOST:PORT (its API port; the agent link is QUIC on the same UDP port).
    #[arg(long, env = "EDGEPLANE_SERVER")]
    server: String,
    /// Bootstrap token (first start only).
    #[arg(long, env = "EDGEPLANE_TOKEN", requires = "ca_cert_hash")]
    token: Option<String>,
    /// sha256:HEX of the controller's CA public key (first start only).
    #[arg(long, requires = "token")]
    ca_cert_hash: Option<String>,
    /// This node's name (default: the host name, lowercased).
    #[arg(long)]
    name: Option<String>,
    /// Where the node certificate, local state, images and pod data live.
    #[arg(
        long,
        default_value = "/var/lib/edgeplane/agent",
        env = "EDGEPLANE_AGENT_DATA_DIR"
    )]
    data_dir: PathBuf,
    /// The address reported as the node's InternalIP and where hostPorts listen (default: the
    /// address of the first non-loopback interface).
    #[arg(long)]
    node_ip: Option<IpAddr>,
    /// Extra node labels, KEY=VALUE (repeatable).
    #[arg(long = "node-label", value_parser = parse_label)]
    node_labels: Vec<(String, String)>,
    /// Node taints registered with the node, KEY[=VALUE]:EFFECT (repeatable).
    #[arg(long = "node-taint")]
    node_taints: Vec<String>,
    /// The most pods this node runs.
    #[arg(long, default_value_t = 110)]
    max_pods: u64,
    /// Where `/metrics` (Prometheus text) is served.
    #[arg(long, default_value = "127.0.0.1:10250")]
    metrics_addr: SocketAddr,
    /// How long one request to a Wasm HTTP service may run before its instance is interrupted
    /// and the client gets 504 (the service keeps serving).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    wasm_request_timeout: std::time::Duration,
    /// Log filter (tracing env-filter syntax).
    #[arg(long, default_value = "info", env = "EDGEPLANE_LOG")]
    log_level: String,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    if key.is_empty() {
        return Err(format!("{text:?} has an empty key"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log_level))
        .with_writer(std::io::stderr)
        .init();
    // Two worker threads are plenty for a gateway-class device and keep the idle footprint small.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(err) => Err(anyhow::anyhow!("cannot start the async runtime: {err}")),
    };
    if let Err(err) = result {
        eprintln!("edge-agent: {err:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<()> {
    edge_wire::secret_file::create_private_dir(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let hostname = hostname();
    let credentials = match Credentials::load(&args.data_dir)? {
        Some(stored) => {
            if let Some(name) = &args.name
                && *name != stored.node_name
            {
                bail!(
                    "{} already holds the identity of node {:?}, not {name:?}: drop --name, or use another --data-dir",
                    args.data_dir.display(),
                    stored.node_name
                );
            }
            if args.token.is_some() {
                tracing::info!(node = %stored.node_name, "already joined; ignoring --token");
            }
            stored
        }
        None => {
            let (Some(token), Some(ca_cert_hash)) = (&args.token, &args.ca_cert_hash) else {
                return Err(identity::IdentityError::NotJoined(args.data_dir.clone()).into());
            };
            let node_name = args.name.clone().unwrap_or_else(|| hostname.clone());
            let joined = identity::join(
                &JoinArgs {
                    server: &args.server,
                    token,
                    ca_cert_hash,
                    node_name: &node_name,
                },
                &args.data_dir,
            )
            .await?;
            tracing::info!(node = %joined.node_name, "joined the cluster");
            joined
        }
    };
    // Like the kubelet with --hostname-override: the hostname label is the node's name.
    let hostname = credentials.node_name.clone();
    let settings = AgentSettings {
        server: args.server,
        data_dir: args.data_dir,
        node_ip: args.node_ip,
        labels: args.node_labels,
        taints: args.node_taints,
        max_pods: args.max_pods,
        metrics_addr: args.metrics_addr,
        hostname,
        wasm_request_timeout: args.wasm_request_timeout,
    };
    let agent = Agent::start(settings, Arc::new(credentials)).await?;
    edge_wire::host::shutdown_signal().await;
    tracing::info!("shutting down");
    agent.shutdown().await;
    Ok(())
}

/// The host name, lowercased as node names must be.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "edge-node".to_owned())
}
