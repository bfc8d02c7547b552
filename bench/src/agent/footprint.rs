//! The agent's footprint: RSS with no pods, RSS per idle Wasm service pod, and what it writes
//! to disk in a minute of idleness with pods running.

use std::time::Duration;

use anyhow::Result;

use super::{AgentArgs, AgentBench, WAIT_LIMIT, pods};
use crate::{dir_size, proc_io, proc_status_kb};

/// Readings taken along the run, printed as one table at the end.
#[derive(Default)]
pub(crate) struct Footprint {
    /// VmRSS (KB) after joining and settling, before any pod ever ran.
    idle_kb: Option<u64>,
    /// VmHWM (KB) at that moment: the peak of start-up and join.
    idle_hwm_kb: Option<u64>,
    /// Create → Running of the first pod, which pulls and compiles the component (ms).
    pub(crate) first_pod_ms: Option<f64>,
    /// VmRSS with only the warm-up pod, and with `idle_pods` more.
    one_pod_kb: Option<u64>,
    many_pods_kb: Option<u64>,
    idle_pods: usize,
    /// The idle-disk window with `idle_pods + 1` pods running.
    disk: Option<DiskWindow>,
    /// VmRSS with one pod after the start-latency rows created and deleted their pods.
    after_churn_kb: Option<u64>,
}

struct DiskWindow {
    write_bytes: u64,
    wchar: u64,
    log_bytes: u64,
    /// Allocated bytes of the data directory before and after.
    dir_before: u64,
    dir_after: u64,
    dir_apparent: u64,
}

impl Footprint {
    pub(crate) async fn idle_no_pods(&mut self, bench: &mut AgentBench, settle: u64) -> Result<()> {
        eprintln!("[bench] agent: no pods yet; settling {settle}s for the idle RSS");
        tokio::time::sleep(Duration::from_secs(settle)).await;
        bench.agent.proc.check_alive()?;
        self.idle_kb = Some(proc_status_kb(bench.agent_pid(), "VmRSS")?);
        self.idle_hwm_kb = Some(proc_status_kb(bench.agent_pid(), "VmHWM")?);
        Ok(())
    }

    /// RSS with the warm-up pod alone, then with `count` more idle service pods.
    pub(crate) async fn idle_pods(
        &mut self,
        bench: &mut AgentBench,
        count: usize,
        settle: u64,
    ) -> Result<()> {
        tokio::time::sleep(Duration::from_secs(settle)).await;
        self.one_pod_kb = Some(proc_status_kb(bench.agent_pid(), "VmRSS")?);
        for i in 0..count {
            let pod = pods::service_pod(&format!("idle-{i}"), &bench.image, None);
            bench.pods.create(&pod).await?;
        }
        bench
            .pods
            .wait_phase(
                "role=idle",
                count,
                "Running",
                WAIT_LIMIT,
                &mut bench.agent.proc,
            )
            .await?;
        eprintln!("[bench] agent: {count} idle pods Running; settling {settle}s");
        tokio::time::sleep(Duration::from_secs(settle)).await;
        self.many_pods_kb = Some(proc_status_kb(bench.agent_pid(), "VmRSS")?);
        self.idle_pods = count;
        Ok(())
    }

    /// Disk writes of the agent over `window` seconds with the idle pods running.
    pub(crate) async fn idle_disk(&mut self, bench: &mut AgentBench, window: u64) -> Result<()> {
        let pid = bench.agent_pid();
        let dir = bench.agent.data_dir.clone();
        let log = bench.agent.proc.log.clone();
        let log_size = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let wb0 = proc_io(pid, "write_bytes")?;
        let wc0 = proc_io(pid, "wchar")?;
        let log0 = log_size();
        let (_, du0) = dir_size(&dir);
        eprintln!("[bench] agent: measuring idle disk writes for {window}s");
        tokio::time::sleep(Duration::from_secs(window)).await;
        bench.agent.proc.check_alive()?;
        let (apparent, du1) = dir_size(&dir);
        self.disk = Some(DiskWindow {
            write_bytes: proc_io(pid, "write_bytes")?.saturating_sub(wb0),
            wchar: proc_io(pid, "wchar")?.saturating_sub(wc0),
            log_bytes: log_size().saturating_sub(log0),
            dir_before: du0,
            dir_after: du1,
            dir_apparent: apparent,
        });
        Ok(())
    }

    pub(crate) async fn after_churn(&mut self, bench: &mut AgentBench, settle: u64) -> Result<()> {
        tokio::time::sleep(Duration::from_secs(settle)).await;
        self.after_churn_kb = Some(proc_status_kb(bench.agent_pid(), "VmRSS")?);
        Ok(())
    }

    pub(crate) fn print_table(&self, args: &AgentArgs) {
        let mb = |kb: Option<u64>| {
            kb.map(|k| format!("{:.1} MB", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into())
        };
        let settle = args.settle;
        println!("| edge agent footprint | value |");
        println!("|---|---:|");
        println!(
            "| VmRSS, joined, no pods ever ({settle} s after Ready) | {} |",
            mb(self.idle_kb)
        );
        println!(
            "| VmHWM at that point (peak of start-up and join) | {} |",
            mb(self.idle_hwm_kb)
        );
        if let Some(ms) = self.first_pod_ms {
            println!("| first pod create → Running (pull + compile + cache) | {ms:.0} ms |");
        }
        println!(
            "| VmRSS with 1 idle hello pod (the warm-up pod) | {} |",
            mb(self.one_pod_kb)
        );
        println!(
            "| VmRSS with {} idle hello pods | {} |",
            self.idle_pods + 1,
            mb(self.many_pods_kb)
        );
        if let (Some(one), Some(many)) = (self.one_pod_kb, self.many_pods_kb)
            && self.idle_pods > 0
        {
            println!(
                "| RSS per idle Wasm service pod ((VmRSS with {} − with 1) / {}) | {:.0} KB |",
                self.idle_pods + 1,
                self.idle_pods,
                (many as f64 - one as f64) / self.idle_pods as f64
            );
        }
        println!(
            "| VmRSS with 1 pod after the start rows created and deleted their pods | {} |",
            mb(self.after_churn_kb)
        );
        if let Some(d) = &self.disk {
            let per_min = |bytes: u64| bytes as f64 * 60.0 / args.window as f64;
            let pods = self.idle_pods + 1;
            println!(
                "| /proc/PID/io write_bytes, {pods} idle pods, {} s window | {:.0} bytes/min |",
                args.window,
                per_min(d.write_bytes)
            );
            println!(
                "| /proc/PID/io wchar (all write syscalls, incl. sockets and the log) | {:.0} bytes/min |",
                per_min(d.wchar)
            );
            println!(
                "| agent log (stdout+stderr file, default log level) growth | {:.0} bytes/min |",
                per_min(d.log_bytes)
            );
            println!(
                "| data dir allocated size delta | {:+.0} bytes/min (now {:.0} KB allocated, {:.0} KB apparent) |",
                (d.dir_after as f64 - d.dir_before as f64) * 60.0 / args.window as f64,
                d.dir_after as f64 / 1024.0,
                d.dir_apparent as f64 / 1024.0
            );
        }
    }
}
