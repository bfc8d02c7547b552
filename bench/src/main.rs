//! edge-bench: control-plane benchmarks (store throughput vs etcd, API latency, idle footprint)
//! and edge-agent benchmarks (Wasm pod start, HTTP serving vs `wasmtime serve`, footprint).
//!
//! Every subcommand starts its own processes on 127.0.0.1 in a fresh directory under
//! `--work-dir`, kills them by PID when done (also on Ctrl-C), and prints a markdown table on
//! stdout; progress goes to stderr. Each phase is time-limited.

mod agent;
mod load;
mod procs;
mod scheduler;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::{Parser, Subcommand};
use edge_controller::store::{Bootstrap, Command, Store, StoreConfig};

use load::{Stats, closed_loop, open_loop};
use procs::{Creds, EdgeCluster, http_client, start_edge, start_etcd};

#[derive(Parser)]
#[command(about = "Edgeplane control-plane benchmarks")]
struct Args {
    /// Directory holding edge-controller, edgectl and edge-agent.
    #[arg(long, default_value = "target/release", global = true)]
    bin_dir: PathBuf,
    /// Parent of the per-run scratch directory (must be a real disk, not tmpfs, for fsync to mean anything).
    #[arg(long, default_value = "/var/tmp", global = true)]
    work_dir: PathBuf,
    /// Keep the scratch directory (logs, data) after the run.
    #[arg(long, global = true)]
    keep: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Durable writes/s and latency, closed loop, Edgeplane API vs etcd vs in-process Store::propose.
    Store {
        /// Client counts to run.
        #[arg(long, value_delimiter = ',', default_value = "1,256")]
        clients: Vec<usize>,
        /// Targets: edge1, edge3, etcd1, etcd3, inproc.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "edge1,edge3,etcd1,etcd3,inproc"
        )]
        targets: Vec<String>,
        /// Measured seconds per phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Unrecorded seconds before each phase (connections, leader warm-up).
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        #[arg(long, default_value = "etcd")]
        etcd: PathBuf,
    },
    /// Create-pod latency at a fixed rate (open loop), single controller.
    Api {
        #[arg(long, default_value_t = 500)]
        rate: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 3)]
        warmup: u64,
        /// What to run: h1 (HTTP/1.1 connection pool), h2 (one multiplexed connection, as
        /// kubectl), etcd (the same objects as etcd puts at the same rate, for reference).
        #[arg(long, value_delimiter = ',', default_value = "h1,h2")]
        protocols: Vec<String>,
        #[arg(long, default_value = "etcd")]
        etcd: PathBuf,
    },
    /// RSS and disk writes of an idle single controller.
    Idle {
        #[arg(long, default_value_t = 30)]
        settle: u64,
        #[arg(long, default_value_t = 60)]
        window: u64,
    },
    /// scheduler_perf-style: N nodes, P pending pods, in process (real store, API layer and
    /// scheduler; no agents): pods bound per second, then create-to-bound latency at a rate.
    Scheduler {
        #[arg(long, default_value_t = 5000)]
        nodes: usize,
        #[arg(long, default_value_t = 50_000)]
        pods: usize,
        /// Pods per second of the latency phase; 0 leaves it out.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        rate_seconds: u64,
        /// Binds in flight at once.
        #[arg(long, default_value_t = 2048)]
        in_flight: usize,
        /// Leave out the `Scheduled` Event per pod.
        #[arg(long)]
        no_events: bool,
        /// Replicas of the Deployment phase (controllers and scheduler running); 0 leaves it out.
        #[arg(long, default_value_t = 1000)]
        deployment_replicas: usize,
        #[arg(long, default_value_t = 100)]
        deployment_nodes: usize,
    },
    /// Edge agent: Wasm pod start latency, HTTP requests/s next to `wasmtime serve`, idle RSS
    /// (no pods and per idle pod) and idle disk writes; one controller and one agent.
    Agent {
        /// The hello-http component.
        #[arg(
            long,
            default_value = "target/wasm-examples/wasm32-wasip2/release/hello-http.wasm"
        )]
        wasm: PathBuf,
        /// The wasmtime CLI for the `wasmtime serve` rows.
        #[arg(long, default_value = "target/bench-tools/bin/wasmtime")]
        wasmtime: PathBuf,
        /// Leave out the `wasmtime serve` rows.
        #[arg(long)]
        no_wasmtime: bool,
        /// Pods per start-latency row.
        #[arg(long, default_value_t = 200)]
        pods: usize,
        /// Creates per second of each start-latency row; 0 creates one pod at a time, each
        /// after the previous one was seen Running.
        #[arg(long, value_delimiter = ',', default_value = "0,20")]
        start_rates: Vec<u64>,
        /// Idle service pods for the RSS-per-pod reading.
        #[arg(long, default_value_t = 10)]
        idle_pods: usize,
        /// Seconds to settle before each RSS reading.
        #[arg(long, default_value_t = 15)]
        settle: u64,
        /// Seconds of the idle disk-write window.
        #[arg(long, default_value_t = 60)]
        window: u64,
        /// Keep-alive connections of the HTTP load rows.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        connections: Vec<usize>,
        /// Measured seconds per HTTP load row.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Unrecorded seconds before each HTTP load row.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.work_dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("edge-bench-")
        .tempdir_in(&args.work_dir)?;
    let work = scratch.path().to_path_buf();
    eprintln!("[bench] scratch directory {}", work.display());
    let bin = args.bin_dir.clone();
    let run = async {
        match &args.cmd {
            Cmd::Store {
                clients,
                targets,
                seconds,
                warmup,
                etcd,
            } => {
                let limit = Duration::from_secs(900);
                tokio::time::timeout(
                    limit,
                    store_bench(&bin, &work, etcd, clients, targets, *seconds, *warmup),
                )
                .await
                .context("store benchmark hit its 15 min limit")?
            }
            Cmd::Api {
                rate,
                seconds,
                warmup,
                protocols,
                etcd,
            } => tokio::time::timeout(
                Duration::from_secs(300),
                api_bench(&bin, &work, etcd, *rate, *seconds, *warmup, protocols),
            )
            .await
            .context("api benchmark hit its 5 min limit")?,
            Cmd::Idle { settle, window } => tokio::time::timeout(
                Duration::from_secs(settle + window + 120),
                idle_bench(&bin, &work, *settle, *window),
            )
            .await
            .context("idle benchmark hit its time limit")?,
            Cmd::Scheduler {
                nodes,
                pods,
                rate,
                rate_seconds,
                in_flight,
                no_events,
                deployment_replicas,
                deployment_nodes,
            } => {
                let args = scheduler::SchedulerArgs {
                    nodes: *nodes,
                    pods: *pods,
                    rate: *rate,
                    rate_seconds: *rate_seconds,
                    in_flight: *in_flight,
                    events: !no_events,
                    deployment_replicas: *deployment_replicas,
                    deployment_nodes: *deployment_nodes,
                };
                tokio::time::timeout(
                    Duration::from_secs(1800),
                    scheduler::scheduler_bench(&work, &args),
                )
                .await
                .context("scheduler benchmark hit its 30 min limit")?
            }
            Cmd::Agent {
                wasm,
                wasmtime,
                no_wasmtime,
                pods,
                start_rates,
                idle_pods,
                settle,
                window,
                connections,
                seconds,
                warmup,
            } => {
                let args = agent::AgentArgs {
                    wasm: wasm.clone(),
                    wasmtime: (!no_wasmtime).then(|| wasmtime.clone()),
                    pods: *pods,
                    start_rates: start_rates.clone(),
                    idle_pods: *idle_pods,
                    settle: *settle,
                    window: *window,
                    connections: connections.clone(),
                    load_seconds: *seconds,
                    warmup: *warmup,
                };
                tokio::time::timeout(
                    Duration::from_secs(1200),
                    agent::agent_bench(&bin, &work, &args),
                )
                .await
                .context("agent benchmark hit its 20 min limit")?
            }
        }
    };
    let result = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if args.keep || result.is_err() {
        let kept = scratch.keep();
        eprintln!("[bench] kept {}", kept.display());
    }
    result
}

/// A ConfigMap of exactly 200 bytes of JSON.
fn configmap(name: &str) -> String {
    let head = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"bench"}},"data":{{"payload":""#
    );
    let pad = 200usize.saturating_sub(head.len() + 3);
    format!("{head}{}\"}}}}", "x".repeat(pad))
}

/// POSTs a JSON body and checks the answer's status.
async fn post_json(client: &reqwest::Client, url: String, body: String, want: u16) -> Result<()> {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    expect_status(resp, &[want]).await
}

/// "1 node" / "3 nodes".
fn nodes_label(n: usize) -> String {
    format!("{n} node{}", if n > 1 { "s" } else { "" })
}

/// One table row of a closed-loop run against a cluster, with the first node's peak RSS.
fn cluster_row(system: &str, clients: usize, stats: Stats, pid: u32) -> Row {
    let peak = proc_status_kb(pid, "VmHWM").ok().map(|k| k as f64 / 1024.0);
    Row {
        system: system.to_owned(),
        clients,
        stats,
        peak_rss_mb: peak,
    }
}

async fn expect_status(resp: reqwest::Response, want: &[u16]) -> Result<()> {
    let status = resp.status();
    let body = resp.bytes().await?;
    if !want.contains(&status.as_u16()) {
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        bail!("HTTP {status}: {text}");
    }
    Ok(())
}

async fn create_namespace(client: &reqwest::Client, url: &str) -> Result<()> {
    let resp = client
        .post(format!("{url}/api/v1/namespaces"))
        .header("content-type", "application/json")
        .body(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}"#)
        .send()
        .await?;
    expect_status(resp, &[201, 409]).await
}

fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            let v = rest
                .trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim();
            return Ok(v.parse()?);
        }
    }
    bail!("{field} not in /proc/{pid}/status")
}

fn proc_io(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            return Ok(rest.trim_start_matches(':').trim().parse()?);
        }
    }
    bail!("{field} not in /proc/{pid}/io")
}

/// (apparent bytes, allocated bytes) of every file under `dir`.
fn dir_size(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                apparent += m.len();
                allocated += m.blocks() * 512;
            }
        }
    }
    (apparent, allocated)
}

/// URLs with the current leader first.
async fn edge_leader_first(client: &reqwest::Client, urls: &[String]) -> Vec<String> {
    let mut out = urls.to_vec();
    for (i, url) in urls.iter().enumerate() {
        if let Ok(resp) = client.get(format!("{url}/metrics")).send().await
            && let Ok(text) = resp.text().await
            && text.contains("edgeplane_store_is_leader 1\n")
        {
            out.swap(0, i);
            break;
        }
    }
    out
}

async fn etcd_leader_first(client: &reqwest::Client, urls: &[String]) -> Vec<String> {
    let mut out = urls.to_vec();
    for (i, url) in urls.iter().enumerate() {
        let Ok(resp) = client
            .post(format!("{url}/v3/maintenance/status"))
            .body("{}")
            .send()
            .await
        else {
            continue;
        };
        let Ok(v) = resp.json::<serde_json::Value>().await else {
            continue;
        };
        if v["leader"].is_string() && v["leader"] == v["header"]["member_id"] {
            out.swap(0, i);
            break;
        }
    }
    out
}

struct Row {
    system: String,
    clients: usize,
    stats: Stats,
    peak_rss_mb: Option<f64>,
}

fn print_store_table(rows: &[Row]) {
    println!(
        "| target | clients | writes/s | p50 ms | p99 ms | errors | peak RSS of node 0 (MB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |",
            r.system,
            r.clients,
            r.stats.rate(),
            r.stats.pct_ms(0.5),
            r.stats.pct_ms(0.99),
            r.stats.errors,
            r.peak_rss_mb
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(|| "-".into())
        );
    }
}

#[allow(clippy::too_many_arguments)]
async fn store_bench(
    bin: &Path,
    work: &Path,
    etcd: &Path,
    clients: &[usize],
    targets: &[String],
    seconds: u64,
    warmup: u64,
) -> Result<()> {
    let dur = Duration::from_secs(seconds);
    let warm = Duration::from_secs(warmup);
    let mut rows = Vec::new();
    for target in targets {
        settle_disk().await;
        eprintln!("[bench] store: target {target}");
        let result = match target.as_str() {
            "edge1" | "edge3" => {
                let n = if target == "edge1" { 1 } else { 3 };
                store_edge(bin, work, n, target, clients, dur, warm).await
            }
            "etcd1" | "etcd3" => {
                let n = if target == "etcd1" { 1 } else { 3 };
                store_etcd(etcd, work, n, target, clients, dur, warm).await
            }
            "inproc" => store_inproc(work, clients, dur, warm).await,
            other => Err(anyhow::anyhow!("unknown target {other}")),
        };
        match result {
            Ok(mut r) => rows.append(&mut r),
            Err(e) => {
                eprintln!("[bench] store: target {target} FAILED: {e:#}");
                println!("<!-- {target} failed: {e:#} -->");
            }
        }
    }
    print_store_table(&rows);
    Ok(())
}

async fn store_edge(
    bin: &Path,
    work: &Path,
    n: usize,
    tag: &str,
    clients: &[usize],
    dur: Duration,
    warm: Duration,
) -> Result<Vec<Row>> {
    let cluster: EdgeCluster = start_edge(bin, work, n, tag).await?;
    let client = http_client(Some(&cluster.creds), false)?;
    let urls = Arc::new(edge_leader_first(&client, &cluster.urls).await);
    create_namespace(&client, &urls[0]).await?;
    let mut rows = Vec::new();
    for &c in clients {
        let client = client.clone();
        let urls = urls.clone();
        let phase = format!("{tag}-c{c}");
        let stats = closed_loop(c, warm, dur, move |client_id, seq| {
            let url = format!(
                "{}/api/v1/namespaces/bench/configmaps",
                urls[client_id % urls.len()]
            );
            let body = configmap(&format!("{phase}-{client_id}-{seq}"));
            let client = client.clone();
            async move { post_json(&client, url, body, 201).await }
        })
        .await;
        eprintln!("[bench] {tag} clients {c}: {}", stats.summary());
        rows.push(cluster_row(
            &format!(
                "Edgeplane API, {nodes} (HTTPS/mTLS, ConfigMap POST)",
                nodes = nodes_label(n)
            ),
            c,
            stats,
            cluster.nodes[0].pid(),
        ));
    }
    drop(cluster);
    Ok(rows)
}

async fn store_etcd(
    etcd: &Path,
    work: &Path,
    n: usize,
    tag: &str,
    clients: &[usize],
    dur: Duration,
    warm: Duration,
) -> Result<Vec<Row>> {
    let cluster = start_etcd(etcd, work, n, tag).await?;
    let client = http_client(None, false)?;
    let urls = Arc::new(etcd_leader_first(&client, &cluster.urls).await);
    let mut rows = Vec::new();
    for &c in clients {
        let client = client.clone();
        let urls = urls.clone();
        let phase = format!("{tag}-c{c}");
        let stats = closed_loop(c, warm, dur, move |client_id, seq| {
            let url = format!("{}/v3/kv/put", urls[client_id % urls.len()]);
            let b64 = base64::engine::general_purpose::STANDARD;
            let name = format!("{phase}-{client_id}-{seq}");
            let body = serde_json::json!({
                "key": b64.encode(format!("/registry/configmaps/bench/{name}")),
                "value": b64.encode(configmap(&name)),
            })
            .to_string();
            let client = client.clone();
            async move { post_json(&client, url, body, 200).await }
        })
        .await;
        eprintln!("[bench] {tag} clients {c}: {}", stats.summary());
        rows.push(cluster_row(
            &format!(
                "etcd 3.4, {nodes} (HTTP/JSON gateway, plain HTTP)",
                nodes = nodes_label(n)
            ),
            c,
            stats,
            cluster.nodes[0].pid(),
        ));
    }
    drop(cluster);
    Ok(rows)
}

async fn store_inproc(
    work: &Path,
    clients: &[usize],
    dur: Duration,
    warm: Duration,
) -> Result<Vec<Row>> {
    let dir = work.join("inproc-store");
    let cfg = StoreConfig::new(
        dir,
        1,
        "https://127.0.0.1:1".to_owned(),
        http_client(None, false)?,
        Bootstrap::SingleNode,
    );
    let store = Store::open(cfg)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let start = std::time::Instant::now();
    while !store.is_leader() {
        if start.elapsed() > Duration::from_secs(20) {
            bail!("in-process store never became leader");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rows = Vec::new();
    for &c in clients {
        let store2 = store.clone();
        let phase = format!("inproc-c{c}");
        let stats = closed_loop(c, warm, dur, move |client_id, seq| {
            let name = format!("{phase}-{client_id}-{seq}");
            let cmd = Command::Create {
                key: format!("/registry/core/configmaps/bench/{name}"),
                object: configmap(&name).into_bytes(),
            };
            let store = store2.clone();
            async move {
                match store.propose(cmd).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(rejected)) => bail!("rejected: {rejected:?}"),
                    Err(e) => bail!("store error: {e:?}"),
                }
            }
        })
        .await;
        eprintln!("[bench] inproc clients {c}: {}", stats.summary());
        rows.push(Row {
            system: "Edgeplane Store::propose in-process, 1 node (no HTTP, no admission)"
                .to_owned(),
            clients: c,
            stats,
            peak_rss_mb: None,
        });
    }
    store.shutdown().await;
    Ok(rows)
}

async fn api_bench(
    bin: &Path,
    work: &Path,
    etcd: &Path,
    rate: u64,
    seconds: u64,
    warmup: u64,
    protocols: &[String],
) -> Result<()> {
    let mut rows = Vec::new();
    for proto in protocols {
        settle_disk().await;
        let http2 = match proto.as_str() {
            "h1" => false,
            "h2" => true,
            "etcd" => {
                let stats = etcd_rate_bench(etcd, work, rate, seconds, warmup).await?;
                rows.push((proto.clone(), stats.0, stats.1));
                continue;
            }
            other => bail!("unknown protocol {other}"),
        };
        // A fresh controller per protocol, so neither run inherits the other's objects.
        let cluster = start_edge(bin, work, 1, &format!("api-{proto}")).await?;
        let creds: Creds = cluster.creds.clone();
        let client = http_client(Some(&creds), http2)?;
        let url = cluster.urls[0].clone();
        create_namespace(&client, &url).await?;
        let target = format!("{url}/api/v1/namespaces/bench/pods");
        let stats = open_loop(
            rate,
            Duration::from_secs(warmup),
            Duration::from_secs(seconds),
            move |seq| {
                let client = client.clone();
                let target = target.clone();
                let body = pod_json(seq);
                async move {
                    let resp = client
                        .post(target)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    expect_status(resp, &[201]).await
                }
            },
        )
        .await;
        let rss = report_rate_phase(proto, &stats, cluster.nodes[0].pid());
        rows.push((proto.clone(), stats, rss));
        drop(cluster);
    }
    println!(
        "| create pod, 1 node | rate | achieved/s | p50 ms | p90 ms | p99 ms | max ms | errors | unfinished | peak RSS (MB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (proto, s, rss) in rows {
        println!(
            "| {} | {rate}/s | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            match proto.as_str() {
                "h1" => "HTTP/1.1 pool",
                "h2" => "HTTP/2, one connection",
                _ => "reference: etcd 3.4 put of the same JSON (HTTP/JSON gateway, HTTP/1.1 pool)",
            },
            s.rate(),
            s.pct_ms(0.5),
            s.pct_ms(0.9),
            s.pct_ms(0.99),
            s.pct_ms(1.0),
            s.errors,
            s.late,
            rss.map(|m| format!("{m:.0}")).unwrap_or_else(|| "-".into())
        );
    }
    Ok(())
}

/// Flushes what earlier phases left in the page cache and gives the disk a moment, so that
/// their writeback does not land in the next phase's fsyncs.
async fn settle_disk() {
    let _ = tokio::process::Command::new("sync").status().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// The same open-loop load as the API rows, as etcd puts of the same pod JSON on one etcd node:
/// what the same disk and cores give a store that fsyncs every commit.
async fn etcd_rate_bench(
    etcd: &Path,
    work: &Path,
    rate: u64,
    seconds: u64,
    warmup: u64,
) -> Result<(Stats, Option<f64>)> {
    let cluster = start_etcd(etcd, work, 1, "api-etcd").await?;
    let client = http_client(None, false)?;
    let url = format!("{}/v3/kv/put", cluster.urls[0]);
    let stats = open_loop(
        rate,
        Duration::from_secs(warmup),
        Duration::from_secs(seconds),
        move |seq| {
            let b64 = base64::engine::general_purpose::STANDARD;
            let pod = pod_json(seq);
            let body = serde_json::json!({
                "key": b64.encode(format!("/registry/pods/bench/p-{seq}")),
                "value": b64.encode(pod),
            })
            .to_string();
            let client = client.clone();
            let url = url.clone();
            async move { post_json(&client, url, body, 200).await }
        },
    )
    .await;
    let rss = report_rate_phase("etcd", &stats, cluster.nodes[0].pid());
    drop(cluster);
    Ok((stats, rss))
}

/// The pod every `api` phase creates (or, for etcd, puts), numbered by `seq`.
fn pod_json(seq: u64) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p-{seq}","namespace":"bench","labels":{{"app":"bench"}}}},"spec":{{"containers":[{{"name":"app","image":"registry.example/app:1.0"}}]}}}}"#
    )
}

/// Prints an open-loop phase's summary and per-second series (stderr) and returns the server's
/// peak RSS in MB.
fn report_rate_phase(name: &str, stats: &Stats, pid: u32) -> Option<f64> {
    eprintln!(
        "[bench] api {name}: {} (late {})",
        stats.summary(),
        stats.late
    );
    for line in stats.per_second() {
        eprintln!("[bench] api {name} {line}");
    }
    proc_status_kb(pid, "VmHWM").ok().map(|k| k as f64 / 1024.0)
}

async fn idle_bench(bin: &Path, work: &Path, settle: u64, window: u64) -> Result<()> {
    let mut cluster = start_edge(bin, work, 1, "idle").await?;
    let pid = cluster.nodes[0].pid();
    let dir = cluster.data_dirs[0].clone();
    let log = cluster.nodes[0].log.clone();
    eprintln!("[bench] idle: controller pid {pid} ready; settling {settle}s");
    tokio::time::sleep(Duration::from_secs(settle)).await;
    cluster.nodes[0].check_alive()?;
    let rss0 = proc_status_kb(pid, "VmRSS")?;
    let wb0 = proc_io(pid, "write_bytes")?;
    let wc0 = proc_io(pid, "wchar")?;
    let (_, du0) = dir_size(&dir);
    let log0 = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    eprintln!("[bench] idle: measuring {window}s");
    tokio::time::sleep(Duration::from_secs(window)).await;
    cluster.nodes[0].check_alive()?;
    let rss1 = proc_status_kb(pid, "VmRSS")?;
    let hwm = proc_status_kb(pid, "VmHWM")?;
    let wb1 = proc_io(pid, "write_bytes")?;
    let wc1 = proc_io(pid, "wchar")?;
    let (app1, du1) = dir_size(&dir);
    let log1 = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let client = http_client(Some(&cluster.creds), false)?;
    let metric_rss = async {
        let text = client
            .get(format!("{}/metrics", cluster.urls[0]))
            .send()
            .await?
            .text()
            .await?;
        let line = text
            .lines()
            .find(|l| l.starts_with("process_resident_memory_bytes "))
            .context("no process_resident_memory_bytes")?;
        let v: f64 = line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?;
        anyhow::Ok(v / 1024.0 / 1024.0)
    }
    .await;
    let per_min = |d: u64| d as f64 * 60.0 / window as f64 / 1024.0;
    println!("| idle single controller | value |");
    println!("|---|---:|");
    println!(
        "| VmRSS after {settle} s idle | {:.1} MB |",
        rss0 as f64 / 1024.0
    );
    println!(
        "| VmRSS after {} s idle | {:.1} MB |",
        settle + window,
        rss1 as f64 / 1024.0
    );
    println!(
        "| VmHWM (peak RSS incl. startup) | {:.1} MB |",
        hwm as f64 / 1024.0
    );
    match metric_rss {
        Ok(m) => println!("| /metrics process_resident_memory_bytes | {m:.1} MB |"),
        Err(e) => println!("| /metrics process_resident_memory_bytes | unavailable: {e:#} |"),
    }
    println!(
        "| /proc/PID/io write_bytes | {:.1} KB/min |",
        per_min(wb1.saturating_sub(wb0))
    );
    println!(
        "| /proc/PID/io wchar (all write syscalls) | {:.1} KB/min |",
        per_min(wc1.saturating_sub(wc0))
    );
    println!(
        "| controller log (stdout+stderr file) growth | {:.1} KB/min |",
        per_min(log1.saturating_sub(log0))
    );
    println!(
        "| data dir allocated size delta | {:+.1} KB/min (now {:.0} KB allocated, {:.0} KB apparent) |",
        (du1 as f64 - du0 as f64) * 60.0 / window as f64 / 1024.0,
        du1 as f64 / 1024.0,
        app1 as f64 / 1024.0
    );
    drop(cluster);
    Ok(())
}
