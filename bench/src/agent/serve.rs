//! HTTP requests/s of the hello service on the agent (a fresh instance per request), next to
//! `wasmtime serve` of the same component in the same run, with one keep-alive load generator.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{AgentArgs, AgentBench, WAIT_LIMIT, pods};
use crate::load::{Stats, closed_loop};
use crate::procs::{Proc, free_port, http_client};

/// One server the load runs against.
struct Target {
    label: String,
    url: String,
    /// The process that serves it, for its CPU time.
    pid: u32,
    /// Whether its req/s is compared to `wasmtime serve`'s (false for wasmtime itself).
    compare: bool,
}

/// One HTTP load row.
pub(crate) struct ServeRow {
    label: String,
    connections: usize,
    stats: Stats,
    /// CPU seconds the server used per wall-clock second of the row (warm-up included).
    server_cores: Option<f64>,
    /// Requests/s against `wasmtime serve` at the same connection count.
    ratio: Option<f64>,
}

/// Starts a service pod with a hostPort, and `wasmtime serve` of the same component when
/// available, and loads each at every connection count.
pub(crate) async fn http_load(bench: &mut AgentBench, args: &AgentArgs) -> Result<Vec<ServeRow>> {
    let pid = bench.agent_pid();
    let before = listening_ports(pid)?;
    let host_port = free_port()?;
    bench
        .pods
        .create(&pods::service_pod("load", &bench.image, Some(host_port)))
        .await?;
    bench
        .pods
        .wait_phase("app=load", 1, "Running", WAIT_LIMIT, &mut bench.agent.proc)
        .await?;
    let mut targets = vec![Target {
        label: "edge-agent, through the hostPort (agent's TCP relay → container port)".into(),
        url: format!("http://127.0.0.1:{host_port}/"),
        pid,
        compare: true,
    }];
    // The container itself listens on a loopback port the agent picks; it is the new listener
    // that is not the hostPort.
    let after = listening_ports(pid)?;
    let fresh: Vec<u16> = after
        .difference(&before)
        .copied()
        .filter(|p| *p != host_port)
        .collect();
    if let [port] = fresh[..] {
        targets.push(Target {
            label: "edge-agent, the container's own port (no relay)".into(),
            url: format!("http://127.0.0.1:{port}/"),
            pid,
            compare: true,
        });
    } else {
        eprintln!(
            "[bench] agent: cannot tell the container's port among new listeners {fresh:?}; only the hostPort is measured"
        );
    }
    let mut wasmtime = None;
    if let Some(cli) = &args.wasmtime {
        let port = free_port()?;
        let proc = start_wasmtime(cli, &args.wasm, port, bench.agent.data_dir.parent())?;
        targets.push(Target {
            label: format!("wasmtime serve {}", wasmtime_version(cli)),
            url: format!("http://127.0.0.1:{port}/"),
            pid: proc.pid(),
            compare: false,
        });
        wasmtime = Some(proc);
    }
    let client = http_client(None, false)?;
    let mut body = None;
    for target in &targets {
        let answer = wait_answer(&client, &target.url, wasmtime.as_mut()).await?;
        eprintln!("[bench] agent: {} answers {answer:?}", target.url);
        if body.get_or_insert(answer.clone()) != &answer {
            bail!(
                "{} answers {answer:?}, not {:?} like the first target",
                target.url,
                body.unwrap_or_default()
            );
        }
    }

    let mut rows = Vec::new();
    for &connections in &args.connections {
        let mut reference = None;
        let mut group = Vec::new();
        for target in &targets {
            crate::settle_disk().await;
            let row = load_one(target, connections, args).await?;
            if !target.compare {
                reference = Some(row.stats.rate());
            }
            group.push((target.compare, row));
        }
        for (compare, mut row) in group {
            if compare {
                row.ratio = reference.map(|r| row.stats.rate() / r);
            }
            rows.push(row);
        }
    }
    bench.agent.proc.check_alive()?;
    drop(wasmtime);
    bench.pods.delete_all("app=load", WAIT_LIMIT).await?;
    Ok(rows)
}

async fn load_one(target: &Target, connections: usize, args: &AgentArgs) -> Result<ServeRow> {
    // A fresh client per row: its pool opens `connections` keep-alive connections in the
    // warm-up and reuses them.
    let client = http_client(None, false)?;
    let url = Arc::new(target.url.clone());
    let cpu0 = cpu_seconds(target.pid)?;
    let started = std::time::Instant::now();
    let stats = closed_loop(
        connections,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.load_seconds),
        move |_, _| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let resp = client.get(url.as_str()).send().await?;
                crate::expect_status(resp, &[200]).await
            }
        },
    )
    .await;
    let wall = started.elapsed().as_secs_f64();
    let server_cores = cpu_seconds(target.pid)
        .ok()
        .map(|cpu1| (cpu1 - cpu0) / wall);
    eprintln!(
        "[bench] agent: {} c{connections}: {}",
        target.label,
        stats.summary()
    );
    Ok(ServeRow {
        label: target.label.clone(),
        connections,
        stats,
        server_cores,
        ratio: None,
    })
}

/// `wasmtime serve` of the component on 127.0.0.1:`port`, with WASI CLI and `wasi:config`
/// (which the component imports; no values, as on the agent without a ConfigMap).
fn start_wasmtime(cli: &Path, wasm: &Path, port: u16, logs: Option<&Path>) -> Result<Proc> {
    let args: Vec<String> = vec![
        "serve".into(),
        "--addr".into(),
        format!("127.0.0.1:{port}"),
        "-Scli".into(),
        "-Sconfig".into(),
        wasm.display().to_string(),
    ];
    let log = logs
        .context("the agent's data directory has no parent")?
        .join("wasmtime-serve.log");
    Proc::spawn("wasmtime serve", cli, &args, log)
}

fn wasmtime_version(cli: &Path) -> String {
    std::process::Command::new(cli)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "(unknown version)".into())
}

/// Waits for a 200 from `url` and returns its body.
async fn wait_answer(
    client: &reqwest::Client,
    url: &str,
    mut server: Option<&mut Proc>,
) -> Result<String> {
    let started = std::time::Instant::now();
    loop {
        if let Some(server) = server.as_deref_mut() {
            server.check_alive()?;
        }
        if let Ok(resp) = client.get(url).send().await
            && resp.status().is_success()
        {
            return Ok(resp.text().await?);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("{url} did not answer 200 within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// TCP ports `pid` listens on (from its socket inodes and `/proc/PID/net/tcp`).
fn listening_ports(pid: u32) -> Result<BTreeSet<u16>> {
    let mut inodes = BTreeSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        if let Ok(target) = std::fs::read_link(entry?.path())
            && let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))?;
    let mut ports = BTreeSet::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // local_address is field 1 (HEXIP:HEXPORT), st field 3 (0A = LISTEN), inode field 9.
        if fields.len() > 9
            && fields[3] == "0A"
            && inodes.contains(fields[9])
            && let Some((_, port)) = fields[1].split_once(':')
        {
            ports.insert(u16::from_str_radix(port, 16)?);
        }
    }
    Ok(ports)
}

/// User + system CPU seconds of every thread of `pid` so far.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(") ").context("bad /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("no utime")?.parse::<u64>()?
        + fields.get(12).context("no stime")?.parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks() as f64)
}

/// `getconf CLK_TCK` (100 on Linux unless configured otherwise).
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

pub(crate) fn print_table(rows: &[ServeRow]) {
    println!(
        "| hello-http, GET /, HTTP/1.1 keep-alive | connections | req/s | p50 ms | p99 ms | errors | server CPU (cores) | req/s vs wasmtime serve |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
            r.label,
            r.connections,
            r.stats.rate(),
            r.stats.pct_ms(0.5),
            r.stats.pct_ms(0.99),
            r.stats.errors,
            r.server_cores
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into()),
            r.ratio
                .map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "-".into()),
        );
    }
}
