//! Wasm pod start latency: from the create request to the watch event that shows the pod
//! Running, for pods of an already compiled and cached component.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::time::Instant;

use tokio::sync::mpsc;

use super::pods::{self, PodEvent};
use super::{AgentBench, WAIT_LIMIT};
use crate::load::Stats;

/// One start-latency row.
pub(crate) struct StartRow {
    /// Creates per second; 0 is one at a time.
    rate: u64,
    /// Create → Running.
    stats: Stats,
    /// Create → the pod's first watch event (the create, through the store and the watch).
    added: Stats,
    /// Create → the first status with container statuses (the agent's first report).
    reported: Stats,
    /// How long the deletion of the row's pods took until the last one was gone.
    delete: Duration,
    /// The agent's VmRSS (KB) with every pod of the row Running, before the deletion.
    rss_kb: Option<u64>,
}

/// When each pod was created and first seen, added, reported and Running.
#[derive(Default)]
struct Timeline {
    created: HashMap<String, Instant>,
    added: HashMap<String, Instant>,
    reported: HashMap<String, Instant>,
    running: HashMap<String, Instant>,
}

impl Timeline {
    fn record(&mut self, event: PodEvent) {
        self.added
            .entry(event.name.clone())
            .or_insert(event.arrived);
        if event.reported {
            self.reported
                .entry(event.name.clone())
                .or_insert(event.arrived);
        }
        if event.phase == "Running" {
            self.running.entry(event.name).or_insert(event.arrived);
        }
    }

    /// Latencies from the create to the moments in `to`.
    fn stats(&self, to: &HashMap<String, Instant>, seconds: f64) -> Stats {
        let mut lat: Vec<u64> = to
            .iter()
            .filter_map(|(name, at)| {
                let from = self.created.get(name)?;
                Some(at.saturating_duration_since(*from).as_micros() as u64)
            })
            .collect();
        lat.sort_unstable();
        Stats {
            ok: lat.len() as u64,
            seconds,
            lat_us: lat,
            ..Stats::default()
        }
    }

    /// The slowest pods' timelines, for stderr.
    fn slowest(&self, n: usize) -> Vec<String> {
        let ms = |name: &str, map: &HashMap<String, Instant>| match (
            self.created.get(name),
            map.get(name),
        ) {
            (Some(from), Some(at)) => {
                format!(
                    "{:.1}",
                    at.saturating_duration_since(*from).as_secs_f64() * 1000.0
                )
            }
            _ => "-".into(),
        };
        let mut names: Vec<&String> = self.running.keys().collect();
        names.sort_by_key(|name| {
            std::cmp::Reverse(
                self.created
                    .get(*name)
                    .map(|from| self.running[*name].saturating_duration_since(*from)),
            )
        });
        names
            .into_iter()
            .take(n)
            .map(|name| {
                format!(
                    "{name}: added {} ms, first agent report {} ms, Running {} ms",
                    ms(name, &self.added),
                    ms(name, &self.reported),
                    ms(name, &self.running)
                )
            })
            .collect()
    }
}

/// Creates `count` pods at `rate` per second (0: each after the previous is Running), measures
/// create → Running as seen by a watch opened before the first create, then deletes them.
pub(crate) async fn pod_start(bench: &mut AgentBench, count: usize, rate: u64) -> Result<StartRow> {
    let label = if rate == 0 {
        "one at a time".to_owned()
    } else {
        format!("{rate}/s")
    };
    eprintln!("[bench] agent: starting {count} pods, {label}");
    let (_, rv) = bench.pods.list("role=start").await?;
    let mut events = bench.pods.watch(&rv).await?;
    let tag = if rate == 0 {
        "serial".to_owned()
    } else {
        format!("r{rate}")
    };
    let names: Vec<String> = (0..count).map(|i| format!("start-{tag}-{i}")).collect();
    let mut timeline = Timeline::default();
    let mut errors = 0;
    let mut first_error = None;
    let began = Instant::now();
    let deadline = began + WAIT_LIMIT;
    // Rate 0 has no interval: one pod at a time.
    match 1_000_000_000u64.checked_div(rate).map(Duration::from_nanos) {
        None => {
            for name in &names {
                let pod = pods::service_pod(name, &bench.image, None);
                timeline.created.insert(name.clone(), Instant::now());
                if let Err(e) = bench.pods.create(&pod).await {
                    errors += 1;
                    first_error.get_or_insert(format!("{e:#}"));
                    continue;
                }
                while !timeline.running.contains_key(name) {
                    timeline.record(next_event(&mut events, deadline, bench).await?);
                }
            }
        }
        Some(interval) => {
            let mut tasks = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let intended = began + interval * i as u32;
                tokio::time::sleep_until(intended).await;
                // Latency runs from the scheduled moment, so a slow create is not hidden.
                timeline.created.insert(name.clone(), intended);
                let pod = pods::service_pod(name, &bench.image, None);
                let api = bench.pods.clone();
                tasks.push(tokio::spawn(async move { api.create(&pod).await }));
                while let Ok(event) = events.try_recv() {
                    timeline.record(event);
                }
            }
            for task in tasks {
                if let Err(e) = task.await.context("create task")? {
                    errors += 1;
                    first_error.get_or_insert(format!("{e:#}"));
                }
            }
            while timeline.running.len() + errors < count {
                timeline.record(next_event(&mut events, deadline, bench).await?);
            }
        }
    }
    let seconds = began.elapsed().as_secs_f64();
    let mut stats = timeline.stats(&timeline.running, seconds);
    stats.errors = errors as u64;
    stats.first_error = first_error;
    eprintln!("[bench] agent: start {label}: {}", stats.summary());
    for line in timeline.slowest(5) {
        eprintln!("[bench] agent: start {label}: slowest {line}");
    }
    let rss_kb = crate::proc_status_kb(bench.agent_pid(), "VmRSS").ok();
    let delete = bench.pods.delete_all("role=start", WAIT_LIMIT).await?;
    eprintln!(
        "[bench] agent: {count} pods deleted and gone in {:.1}s",
        delete.as_secs_f64()
    );
    Ok(StartRow {
        rate,
        added: timeline.stats(&timeline.added, seconds),
        reported: timeline.stats(&timeline.reported, seconds),
        stats,
        delete,
        rss_kb,
    })
}

async fn next_event(
    events: &mut mpsc::UnboundedReceiver<PodEvent>,
    deadline: Instant,
    bench: &mut AgentBench,
) -> Result<PodEvent> {
    loop {
        bench.agent.proc.check_alive()?;
        match tokio::time::timeout_at(
            deadline.min(Instant::now() + Duration::from_secs(1)),
            events.recv(),
        )
        .await
        {
            Ok(Some(event)) => return Ok(event),
            Ok(None) => bail!("the pod watch ended"),
            Err(_) if Instant::now() >= deadline => {
                bail!("pods not Running within {WAIT_LIMIT:?}")
            }
            Err(_) => {}
        }
    }
}

pub(crate) fn print_table(rows: &[StartRow]) {
    println!(
        "| Wasm pod start, create → Running seen by a watch (cached component) | pods | creates | p50 ms | p90 ms | p99 ms | max ms | errors | p50 / p99 ms to the first agent report | p50 ms to the watch's ADDED | agent VmRSS with all Running | all deleted and gone in |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let s = &r.stats;
        println!(
            "| 1 agent, 1 controller | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.1} / {:.1} | {:.1} | {} | {:.1} s |",
            s.ok,
            if r.rate == 0 {
                "one at a time".to_owned()
            } else {
                format!("{}/s", r.rate)
            },
            s.pct_ms(0.5),
            s.pct_ms(0.9),
            s.pct_ms(0.99),
            s.pct_ms(1.0),
            s.errors,
            r.reported.pct_ms(0.5),
            r.reported.pct_ms(0.99),
            r.added.pct_ms(0.5),
            r.rss_kb
                .map(|k| format!("{:.1} MB", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into()),
            r.delete.as_secs_f64()
        );
    }
}
