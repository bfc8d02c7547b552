//! Load generators: closed-loop (N clients back to back) and open-loop (fixed rate), with latency stats.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Result of one measured phase.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    /// Latencies of successful operations, microseconds, sorted.
    pub lat_us: Vec<u64>,
    /// Operations still outstanding at the end (open loop only).
    pub late: u64,
    /// Open loop only: (second of the measured phase it was started in, latency µs), in
    /// completion order, to see when slow requests happen.
    pub timeline: Vec<(u32, u64)>,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
    pub fn pct_ms(&self, p: f64) -> f64 {
        if self.lat_us.is_empty() {
            return f64::NAN;
        }
        let idx = ((self.lat_us.len() as f64 * p).ceil() as usize).clamp(1, self.lat_us.len()) - 1;
        self.lat_us[idx] as f64 / 1000.0
    }
    /// One line per second of the measured phase: requests, p50, p99 and max latency.
    pub fn per_second(&self) -> Vec<String> {
        let seconds = self
            .timeline
            .iter()
            .map(|(s, _)| *s)
            .max()
            .map_or(0, |s| s + 1);
        let mut buckets = vec![Vec::new(); seconds as usize];
        for (s, us) in &self.timeline {
            buckets[*s as usize].push(*us);
        }
        buckets
            .into_iter()
            .enumerate()
            .map(|(s, mut lat)| {
                lat.sort_unstable();
                let pct = |p: f64| {
                    let idx =
                        ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len().max(1)) - 1;
                    lat.get(idx).map_or(f64::NAN, |us| *us as f64 / 1000.0)
                };
                format!(
                    "second {s:>3}: {:>4} requests, p50 {:>6.2} ms, p99 {:>7.2} ms, max {:>7.2} ms",
                    lat.len(),
                    pct(0.5),
                    pct(0.99),
                    pct(1.0)
                )
            })
            .collect()
    }
    pub fn summary(&self) -> String {
        format!(
            "ok {} errors {} in {:.1}s: {:.0}/s p50 {:.2} ms p99 {:.2} ms max {:.2} ms{}",
            self.ok,
            self.errors,
            self.seconds,
            self.rate(),
            self.pct_ms(0.50),
            self.pct_ms(0.99),
            self.pct_ms(1.0),
            self.first_error
                .as_ref()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        )
    }
}

#[derive(Default)]
struct Shared {
    lat: Mutex<Vec<u64>>,
    timeline: Mutex<Vec<(u32, u64)>>,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    async fn error(&self, e: anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().await;
        if first.is_none() {
            *first = Some(format!("{e:#}"));
        }
    }
}

/// `clients` tasks each run `op(client, seq)` back to back. Operations that complete during the
/// `warmup` are not recorded; clients stop starting operations after `warmup + duration`.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let op = op.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            let mut seq = 0u64;
            while Instant::now() < end {
                let t0 = Instant::now();
                let r = op(c, seq).await;
                seq += 1;
                let t1 = Instant::now();
                if t1 < measure_from || t1 > end {
                    continue;
                }
                match r {
                    Ok(()) => local.push((t1 - t0).as_micros() as u64),
                    Err(e) => {
                        shared.error(e).await;
                        // Do not spin on a broken target.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            shared.lat.lock().await.extend(local);
        }));
    }
    let deadline = end + Duration::from_secs(15);
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout_at(deadline, t).await.is_err() {
            abort.abort();
        }
    }
    finish(shared, duration, 0).await
}

/// Starts `op(seq)` at `rate` per second for `warmup + duration`, each at its intended time,
/// without waiting for earlier ones (open loop). Latency runs from the intended start time, so a
/// stalled server or a late scheduler shows up in the numbers (no coordinated omission).
pub async fn open_loop<F, Fut>(rate: u64, warmup: Duration, duration: Duration, op: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let shared = Arc::new(Shared::default());
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now() + Duration::from_millis(10);
    let warm_n = (warmup.as_secs_f64() * rate as f64) as u64;
    let total = warm_n + (duration.as_secs_f64() * rate as f64) as u64;
    let mut tasks = Vec::with_capacity(total as usize);
    for seq in 0..total {
        let intended = start + interval * seq as u32;
        tokio::time::sleep_until(intended).await;
        let op = op.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let r = op(seq).await;
            if seq < warm_n {
                return;
            }
            match r {
                Ok(()) => {
                    let us = intended.elapsed().as_micros() as u64;
                    shared.lat.lock().await.push(us);
                    let second = ((seq - warm_n) / rate) as u32;
                    shared.timeline.lock().await.push((second, us));
                }
                Err(e) => shared.error(e).await,
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut late = 0;
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout_at(deadline, t).await.is_err() {
            abort.abort();
            late += 1;
        }
    }
    finish(shared, duration, late).await
}

async fn finish(shared: Arc<Shared>, duration: Duration, late: u64) -> Stats {
    let mut lat = std::mem::take(&mut *shared.lat.lock().await);
    lat.sort_unstable();
    Stats {
        ok: lat.len() as u64,
        errors: shared.errors.load(Ordering::Relaxed),
        first_error: shared.first_error.lock().await.clone(),
        seconds: duration.as_secs_f64(),
        lat_us: lat,
        late,
        timeline: std::mem::take(&mut *shared.timeline.lock().await),
    }
}
