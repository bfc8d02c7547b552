//! API request metrics in the Prometheus text format: counts by verb, resource and code, latency
//! histograms, and open watches. A few maps behind one mutex; no metrics crate is needed for
//! counters this simple, and it keeps the text identical to what the store module writes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    latency: BTreeMap<(&'static str, &'static str), Histogram>,
    watchers: BTreeMap<&'static str, i64>,
}

/// The API server's own metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn observe_request(
        &self,
        verb: &'static str,
        resource: &'static str,
        code: u16,
        elapsed: Duration,
    ) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner.requests.entry((verb, resource, code)).or_default() += 1;
        // A watch lasts as long as the client keeps it; its duration says nothing about latency.
        if verb == "watch" {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        let histogram = inner.latency.entry((verb, resource)).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
    }

    pub fn watch_started(&self, resource: &'static str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.watchers.entry(resource).or_default() += 1;
        }
    }

    pub fn watch_ended(&self, resource: &'static str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.watchers.entry(resource).or_default() -= 1;
        }
    }

    /// Appends the metrics in the Prometheus text exposition format.
    pub fn write_prometheus(&self, out: &mut String) {
        let Ok(inner) = self.inner.lock() else { return };
        out.push_str("# HELP apiserver_request_total Counter of API requests by verb, resource and HTTP code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, resource, code), count) in &inner.requests {
            let _ = writeln!(
                out,
                "apiserver_request_total{{verb=\"{verb}\",resource=\"{resource}\",code=\"{code}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP apiserver_request_duration_seconds API request latency by verb and resource.\n",
        );
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource), h) in &inner.latency {
            let labels = format!("verb=\"{verb}\",resource=\"{resource}\"");
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP apiserver_registered_watchers Open watch streams by resource.\n");
        out.push_str("# TYPE apiserver_registered_watchers gauge\n");
        for (resource, count) in &inner.watchers {
            let _ = writeln!(
                out,
                "apiserver_registered_watchers{{resource=\"{resource}\"}} {count}"
            );
        }
        if let Some(rss) = resident_memory_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
            out.push_str("# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
    }
}

/// Resident set size from `/proc/self/statm` (pages × page size).
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_counts_and_histograms() {
        let metrics = Metrics::default();
        metrics.observe_request("create", "pods", 201, Duration::from_millis(3));
        metrics.observe_request("create", "pods", 201, Duration::from_millis(30));
        metrics.watch_started("pods");
        let mut out = String::new();
        metrics.write_prometheus(&mut out);
        assert!(
            out.contains(
                "apiserver_request_total{verb=\"create\",resource=\"pods\",code=\"201\"} 2"
            ),
            "{out}"
        );
        assert!(out.contains("apiserver_request_duration_seconds_bucket{verb=\"create\",resource=\"pods\",le=\"0.005\"} 1"), "{out}");
        assert!(
            out.contains(
                "apiserver_request_duration_seconds_count{verb=\"create\",resource=\"pods\"} 2"
            ),
            "{out}"
        );
        assert!(
            out.contains("apiserver_registered_watchers{resource=\"pods\"} 1"),
            "{out}"
        );
    }
}
