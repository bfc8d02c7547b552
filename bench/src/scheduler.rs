//! scheduler_perf-style benchmark, in process with the real store, API layer and scheduler (no
//! agents, no HTTP): N Ready nodes, then P pending pods; the scheduler starts and the bench
//! watches the store until every pod is bound. Reports pods bound per second and the latency of
//! each pod from the scheduler's start... which for a backlog is queueing, so a second phase
//! creates pods at a fixed rate while the scheduler runs and reports create-to-bound latency.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use edge_controller::apiserver::Api;
use edge_controller::apiserver::api_write::{Part, WriteOptions};
use edge_controller::controllers::events::Recorder;
use edge_controller::scheduler::{self, SchedulerOptions};
use edge_controller::store::{Bootstrap, EventKind, Store, StoreConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::procs::http_client;

/// What to run.
pub struct SchedulerArgs {
    pub nodes: usize,
    pub pods: usize,
    /// Pods per second of the latency phase (0 leaves it out).
    pub rate: u64,
    pub rate_seconds: u64,
    pub in_flight: usize,
    /// Record a `Scheduled` Event per pod, as kube-scheduler does.
    pub events: bool,
    /// Replicas of the Deployment phase (0 leaves it out), across `deployment_nodes` nodes.
    pub deployment_replicas: usize,
    pub deployment_nodes: usize,
}

/// A Deployment of `replicas` on `nodes` fresh nodes, with the controllers and the scheduler
/// running: the time from the create to every pod bound.
pub async fn deployment_bench(work: &Path, args: &SchedulerArgs) -> Result<()> {
    let store = open_store(&work.join("deployment-store")).await?;
    let api = Api::new(store.clone());
    create_nodes(&api, args.deployment_nodes).await?;
    let shutdown = CancellationToken::new();
    let scheduler = tokio::spawn(scheduler::run(
        api.clone(),
        Recorder::new(api.clone()),
        None,
        SchedulerOptions {
            max_in_flight: args.in_flight,
            scheduled_events: args.events,
        },
        shutdown.clone(),
    ));
    let controllers = tokio::spawn(edge_controller::controllers::run(
        api.clone(),
        edge_controller::controllers::ControllerOptions::default(),
        shutdown.clone(),
    ));
    // Let both see the cluster (their first list) before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let revision = store.list("/registry/core/pods/", None, Some(1))?.revision;
    let mut watch = store.watch("/registry/core/pods/", revision)?;
    let deployments = edge_controller::controllers::workload::resource("apps", "v1", "deployments");
    let mut template = pod_object("x");
    template["metadata"] = json!({"labels": {"app": "bench"}});
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bench", "namespace": "bench"},
        "spec": {"replicas": args.deployment_replicas,
            "selector": {"matchLabels": {"app": "bench"}}, "template": template},
    });
    let start = Instant::now();
    api.create(
        deployments,
        Some("bench"),
        deployment,
        WriteOptions::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.0.message))?;
    let mut bound = 0;
    let deadline = start + Duration::from_secs(300);
    while bound < args.deployment_replicas {
        let Ok(Ok(event)) = tokio::time::timeout_at(deadline.into(), watch.next()).await else {
            bail!(
                "only {bound} of {} deployment pods bound in 5 min",
                args.deployment_replicas
            );
        };
        if event.kind == EventKind::Modified
            && is_bound(&event.object)
            && !event.prev_object.as_deref().is_some_and(is_bound)
        {
            bound += 1;
        }
    }
    println!(
        "deployment: {} replicas on {} nodes: apply to all bound in {:.2}s",
        args.deployment_replicas,
        args.deployment_nodes,
        start.elapsed().as_secs_f64()
    );
    shutdown.cancel();
    let _ = scheduler.await;
    let _ = controllers.await;
    store.shutdown().await;
    Ok(())
}

pub async fn scheduler_bench(work: &Path, args: &SchedulerArgs) -> Result<()> {
    if args.deployment_replicas > 0 {
        deployment_bench(work, args).await?;
    }
    if args.pods == 0 {
        return Ok(());
    }
    let store = open_store(&work.join("scheduler-store")).await?;
    let api = Api::new(store.clone());
    let started = Instant::now();
    create_nodes(&api, args.nodes).await?;
    eprintln!(
        "[bench] {} nodes created in {:.1}s",
        args.nodes,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    create_pods(&api, "backlog", args.pods).await?;
    eprintln!(
        "[bench] {} pending pods created in {:.1}s",
        args.pods,
        started.elapsed().as_secs_f64()
    );

    let revision = store.list("/registry/core/pods/", None, Some(1))?.revision;
    let mut watch = store.watch("/registry/core/pods/", revision)?;
    let shutdown = CancellationToken::new();
    let options = SchedulerOptions {
        max_in_flight: args.in_flight,
        scheduled_events: args.events,
    };
    let start = Instant::now();
    let running = tokio::spawn(scheduler::run(
        api.clone(),
        Recorder::new(api.clone()),
        None,
        options,
        shutdown.clone(),
    ));
    let mut bound = 0usize;
    let mut bound_at = Vec::with_capacity(args.pods);
    let deadline = start + Duration::from_secs(600);
    while bound < args.pods {
        let event = tokio::time::timeout_at(deadline.into(), watch.next()).await;
        let Ok(Ok(event)) = event else {
            bail!("only {bound} of {} pods bound in 10 min", args.pods);
        };
        if event.kind == EventKind::Modified
            && is_bound(&event.object)
            && !event.prev_object.as_deref().is_some_and(is_bound)
        {
            bound += 1;
            bound_at.push(start.elapsed());
        }
    }
    let elapsed = start.elapsed();
    let rate = args.pods as f64 / elapsed.as_secs_f64();
    println!(
        "backlog: {} nodes, {} pending pods: all bound in {:.2}s = {:.0} pods/s (in flight {}, Scheduled events {})",
        args.nodes,
        args.pods,
        elapsed.as_secs_f64(),
        rate,
        args.in_flight,
        if args.events { "on" } else { "off" }
    );
    // Per-second throughput, as scheduler_perf's SchedulingThroughput reports it.
    let mut per_second: HashMap<u64, u64> = HashMap::new();
    for at in &bound_at {
        *per_second.entry(at.as_secs()).or_default() += 1;
    }
    let mut rates: Vec<u64> = per_second.values().copied().collect();
    rates.sort_unstable();
    if !rates.is_empty() {
        println!(
            "backlog: throughput per second: min {} / median {} / max {} pods/s",
            rates[0],
            rates[rates.len() / 2],
            rates[rates.len() - 1]
        );
    }

    if args.events {
        // Let the background Event writes finish, then count them: events dropped under load
        // would make the run look faster than the work it did.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let events = store
            .list("/registry/core/events/bench/", None, None)?
            .items
            .len();
        println!(
            "backlog: Scheduled events recorded: {events} of {}",
            args.pods
        );
    }
    if args.rate > 0 {
        latency_phase(&api, &mut watch, args).await?;
    }
    shutdown.cancel();
    let _ = running.await;
    store.shutdown().await;
    Ok(())
}

/// Creates pods at `args.rate` per second for `args.rate_seconds` while the scheduler runs, and
/// measures each pod from its create returning to its bind showing in the watch.
async fn latency_phase(
    api: &Api,
    watch: &mut edge_controller::store::Watcher,
    args: &SchedulerArgs,
) -> Result<()> {
    let total = (args.rate * args.rate_seconds) as usize;
    let (created_tx, mut created_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let creator = {
        let api = api.clone();
        let rate = args.rate;
        tokio::spawn(async move {
            let info = edge_controller::controllers::workload::resource("", "v1", "pods");
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..total {
                tick.tick().await;
                let api = api.clone();
                let tx = created_tx.clone();
                tasks.spawn(async move {
                    let name = format!("rate-{i}");
                    let pod = pod_object(&name);
                    let sent = Instant::now();
                    if api
                        .create(info, Some("bench"), pod, WriteOptions::default())
                        .await
                        .is_ok()
                    {
                        let _ = tx.send((name, sent));
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        })
    };
    let mut created: HashMap<String, Instant> = HashMap::new();
    let mut bound_early: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::with_capacity(total);
    let deadline = Instant::now() + Duration::from_secs(args.rate_seconds + 120);
    while latencies.len() < total {
        tokio::select! {
            Some((name, at)) = created_rx.recv() => {
                match bound_early.remove(&name) {
                    Some(bound) => latencies.push(bound.saturating_duration_since(at)),
                    None => { created.insert(name, at); }
                }
            }
            event = tokio::time::timeout_at(deadline.into(), watch.next()) => {
                let Ok(Ok(event)) = event else {
                    bail!("only {} of {total} rate pods bound in time", latencies.len());
                };
                if event.kind == EventKind::Modified
                    && is_bound(&event.object)
                    && !event.prev_object.as_deref().is_some_and(is_bound)
                {
                    let name = event.object["metadata"]["name"].as_str().unwrap_or("").to_owned();
                    if !name.starts_with("rate-") {
                        continue;
                    }
                    let now = Instant::now();
                    match created.remove(&name) {
                        Some(at) => latencies.push(now.saturating_duration_since(at)),
                        None => { bound_early.insert(name, now); }
                    }
                }
            }
        }
    }
    let _ = creator.await;
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "rate: {total} pods created at {}/s: create-to-bound p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        args.rate,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3
    );
    Ok(())
}

fn is_bound(pod: &Value) -> bool {
    pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
}

async fn open_store(dir: &Path) -> Result<Store> {
    let cfg = StoreConfig::new(
        dir.to_path_buf(),
        1,
        "https://127.0.0.1:1".to_owned(),
        http_client(None, false)?,
        Bootstrap::SingleNode,
    );
    let store = Store::open(cfg)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let start = Instant::now();
    while !store.is_leader() {
        if start.elapsed() > Duration::from_secs(20) {
            bail!("in-process store never became leader");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let api = Api::new(store.clone());
    edge_controller::controllers::namespace::ensure_defaults(&api)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.0.message))?;
    let namespaces = edge_controller::controllers::workload::resource("", "v1", "namespaces");
    api.create(
        namespaces,
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
        WriteOptions::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.0.message))?;
    Ok(store)
}

/// Ready nodes like scheduler_perf's: 4 CPUs, 32 GiB, 110 pods.
async fn create_nodes(api: &Api, n: usize) -> Result<()> {
    let info = edge_controller::controllers::workload::resource("", "v1", "nodes");
    run_concurrently(n, 256, |i| {
        let api = api.clone();
        async move {
            let name = format!("node-{i}");
            let node = json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name, "kubernetes.io/arch": "amd64",
                    "edgeplane.io/runtime-wasm": "true", "edgeplane.io/runtime-oci": "true"}},
            });
            let created = api
                .create(info, None, node, WriteOptions::default())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.0.message))?;
            let mut node = created;
            node["status"] = json!({
                "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                    "lastHeartbeatTime": edge_controller::apiserver::api::now_rfc3339()}],
            });
            api.update(
                info,
                None,
                &name,
                node,
                Part::Status,
                WriteOptions::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.0.message))?;
            Ok(())
        }
    })
    .await
}

async fn create_pods(api: &Api, prefix: &str, n: usize) -> Result<()> {
    let info = edge_controller::controllers::workload::resource("", "v1", "pods");
    run_concurrently(n, 512, |i| {
        let api = api.clone();
        let name = format!("{prefix}-{i}");
        async move {
            api.create(
                info,
                Some("bench"),
                pod_object(&name),
                WriteOptions::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.0.message))?;
            Ok(())
        }
    })
    .await
}

/// scheduler_perf's default pod: one container requesting 100m CPU and 500Mi.
fn pod_object(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {
            "runtimeClassName": "wasm",
            "containers": [{"name": "pause", "image": "registry.local/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}],
        }
    })
}

async fn run_concurrently<F, Fut>(n: usize, width: usize, make: F) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        if tasks.len() >= width
            && let Some(done) = tasks.join_next().await
        {
            done??;
        }
        tasks.spawn(make(i));
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
