//! `edge-bench agent`: the edge agent against its targets — Wasm pod start latency, HTTP
//! requests/s of a Wasm service next to `wasmtime serve`, idle RSS and idle disk writes — with
//! a real `edge-controller` and a real `edge-agent` on 127.0.0.1.
//!
//! The phases run in one order on one agent, because each needs the state the one before left:
//! the idle RSS is taken before any pod ever ran, the per-pod RSS and the idle disk writes with
//! the idle pods running, the start latency with the component already compiled and cached,
//! and the HTTP load last.

mod footprint;
mod pods;
mod serve;
mod start;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::procs::{EdgeAgent, EdgeCluster, http_client, start_agent, start_edge};
use pods::PodApi;

/// The node name the benchmark's agent joins as.
const NODE: &str = "bench-node";
/// The repository and tag the hello component is pushed as.
const REPO_TAG: &str = "bench/hello:v1";
/// How long a join, a set of pods starting or a deletion may take before the phase fails.
const WAIT_LIMIT: Duration = Duration::from_secs(180);

/// What `edge-bench agent` runs.
pub struct AgentArgs {
    /// The `hello-http` component (built for wasm32-wasip2).
    pub wasm: PathBuf,
    /// The `wasmtime` CLI for the `wasmtime serve` rows; `None` skips them.
    pub wasmtime: Option<PathBuf>,
    /// Pods per start-latency row.
    pub pods: usize,
    /// Creates per second of each start-latency row; 0 creates one pod at a time, each after
    /// the previous one was seen Running.
    pub start_rates: Vec<u64>,
    /// Idle service pods for the RSS-per-pod measurement.
    pub idle_pods: usize,
    /// Seconds to let things settle before an RSS reading.
    pub settle: u64,
    /// Seconds of the idle disk-write window.
    pub window: u64,
    /// Keep-alive connections of each HTTP load row.
    pub connections: Vec<usize>,
    /// Measured seconds per HTTP load row.
    pub load_seconds: u64,
    /// Unrecorded seconds before each HTTP load row.
    pub warmup: u64,
}

/// The controller, the joined agent, and an API client for the pods of the `bench` namespace.
pub(crate) struct AgentBench {
    cluster: EdgeCluster,
    agent: EdgeAgent,
    pods: PodApi,
    /// `127.0.0.1:PORT/bench/hello:v1` in the controller's registry.
    image: String,
}

pub async fn agent_bench(bin: &Path, work: &Path, args: &AgentArgs) -> Result<()> {
    if !args.wasm.is_file() {
        bail!(
            "{} is missing; build it with `CARGO_TARGET_DIR=target/wasm-examples cargo build --release --target wasm32-wasip2 --manifest-path examples/wasm/Cargo.toml`",
            args.wasm.display()
        );
    }
    if let Some(cli) = &args.wasmtime
        && !cli.is_file()
    {
        bail!(
            "{} is missing; `cargo install wasmtime-cli --version 48.0.8 --locked --root target/bench-tools` installs it (scripts/bench.sh does), or pass --no-wasmtime",
            cli.display()
        );
    }
    let mut bench = AgentBench::start(bin, work).await?;

    // Nothing has run on the agent yet: its idle footprint.
    let mut footprint = footprint::Footprint::default();
    footprint.idle_no_pods(&mut bench, args.settle).await?;

    bench.push(bin, &args.wasm)?;
    // The first pod compiles the component (and caches it); every later one starts from it.
    let warm = pods::service_pod("warm", &bench.image, None);
    bench.pods.create(&warm).await?;
    let compile_started = Instant::now();
    bench
        .pods
        .wait_phase("app=warm", 1, "Running", WAIT_LIMIT, &mut bench.agent.proc)
        .await?;
    footprint.first_pod_ms = Some(compile_started.elapsed().as_secs_f64() * 1000.0);

    footprint
        .idle_pods(&mut bench, args.idle_pods, args.settle)
        .await?;
    footprint.idle_disk(&mut bench, args.window).await?;
    bench.pods.delete_all("role=idle", WAIT_LIMIT).await?;

    let mut start_rows = Vec::new();
    for &rate in &args.start_rates {
        crate::settle_disk().await;
        start_rows.push(start::pod_start(&mut bench, args.pods, rate).await?);
    }
    footprint.after_churn(&mut bench, args.settle).await?;

    let serve_rows = serve::http_load(&mut bench, args).await?;

    start::print_table(&start_rows);
    println!();
    serve::print_table(&serve_rows);
    println!();
    footprint.print_table(args);
    Ok(())
}

impl AgentBench {
    /// Starts a controller, joins an agent to it and waits until the node is Ready.
    async fn start(bin: &Path, work: &Path) -> Result<AgentBench> {
        let cluster = start_edge(bin, work, 1, "agent").await?;
        let client = http_client(Some(&cluster.creds), false)?;
        crate::create_namespace(&client, &cluster.urls[0]).await?;
        let mut agent = start_agent(bin, work, &cluster, NODE, &[])?;
        let node_url = format!("{}/api/v1/nodes/{NODE}", cluster.urls[0]);
        let joined = Instant::now();
        loop {
            agent.proc.check_alive()?;
            if let Ok(resp) = client.get(&node_url).send().await
                && let Ok(node) = resp.json::<serde_json::Value>().await
                && node_ready(&node)
            {
                break;
            }
            if joined.elapsed() > WAIT_LIMIT {
                bail!("node {NODE} not Ready after {WAIT_LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "[bench] agent: node {NODE} Ready {:.1}s after the agent started",
            joined.elapsed().as_secs_f64()
        );
        let port = cluster.urls[0]
            .rsplit(':')
            .next()
            .context("controller URL has no port")?
            .to_owned();
        let pods = PodApi::new(&cluster.creds, &cluster.urls[0], NODE)?;
        Ok(AgentBench {
            cluster,
            agent,
            pods,
            image: format!("127.0.0.1:{port}/{REPO_TAG}"),
        })
    }

    /// `edgectl push` of the component to the controller's built-in registry.
    fn push(&self, bin: &Path, wasm: &Path) -> Result<()> {
        let out = std::process::Command::new(bin.join("edgectl"))
            .arg("--kubeconfig")
            .arg(self.cluster.data_dirs[0].join("admin.conf"))
            .arg("push")
            .arg(wasm)
            .arg(&self.image)
            .output()
            .context("running edgectl push")?;
        if !out.status.success() {
            bail!(
                "edgectl push failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        eprintln!("[bench] agent: pushed {} as {}", wasm.display(), self.image);
        Ok(())
    }

    fn agent_pid(&self) -> u32 {
        self.agent.proc.pid()
    }
}

fn node_ready(node: &serde_json::Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}
