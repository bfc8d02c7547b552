//! The per-container restart back-off, as the kubelet's `flowcontrol.Backoff` keeps it.
//!
//! The kubelet decides at each sync whether a container that exited may start again:
//! it is *in back-off* while less than the current delay has passed since the container
//! finished; once the delay has passed it calls `Next`, which doubles the delay (10 s, 20 s,
//! 40 s, ... capped at 5 min) and restarts the container. The first restart of a container
//! is therefore immediate, and the delays 10 s, 20 s, 40 s ... apply from the second crash on.
//! An entry expires (the next delay starts again at 10 s) when the container ran for more
//! than twice the cap, 10 min, between its restart and its exit. There is no jitter: the
//! kubelet creates this back-off with a jitter factor of 0.
//!
//! Pure: every time is passed in as Unix milliseconds.

/// The first delay.
pub const INITIAL_BACKOFF_MS: i64 = 10_000;
/// The largest delay.
pub const MAX_BACKOFF_MS: i64 = 300_000;
/// A container that ran this long after its last restart starts over at the first delay.
pub const BACKOFF_RESET_MS: i64 = 2 * MAX_BACKOFF_MS;

/// The restart back-off of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CrashLoopBackoff {
    entry: Option<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// The current delay.
    delay_ms: i64,
    /// When [`CrashLoopBackoff::next`] last ran (the container's last restart).
    last_update_ms: i64,
}

impl CrashLoopBackoff {
    /// A back-off without history: the next restart is immediate.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current delay, if the container has restarted before.
    pub fn delay_ms(&self) -> Option<i64> {
        self.entry.map(|e| e.delay_ms)
    }

    /// When the container that finished at `finished_ms` may restart, or `None` if it may
    /// restart at once (kubelet `IsInBackOffSince`: no entry, an expired entry, or the delay
    /// has passed by `now_ms`).
    pub fn restart_at(&self, finished_ms: i64, now_ms: i64) -> Option<i64> {
        let entry = self.entry.filter(|e| !expired(e, finished_ms))?;
        let at = finished_ms.saturating_add(entry.delay_ms);
        (now_ms < at).then_some(at)
    }

    /// Records a restart at `now_ms` of a container that finished at `finished_ms` (kubelet
    /// `Next`): the delay starts at [`INITIAL_BACKOFF_MS`] for a new or expired entry and
    /// doubles otherwise, up to [`MAX_BACKOFF_MS`].
    pub fn next(&mut self, finished_ms: i64, now_ms: i64) {
        let delay_ms = match self.entry.filter(|e| !expired(e, finished_ms)) {
            None => INITIAL_BACKOFF_MS,
            Some(e) => e.delay_ms.saturating_mul(2).min(MAX_BACKOFF_MS),
        };
        self.entry = Some(Entry {
            delay_ms,
            last_update_ms: now_ms,
        });
    }

    /// Forgets the history (the container's spec changed: the kubelet keys its back-off by
    /// the container's spec hash, so a new spec starts a new back-off).
    pub fn reset(&mut self) {
        self.entry = None;
    }
}

fn expired(entry: &Entry, event_ms: i64) -> bool {
    event_ms.saturating_sub(entry.last_update_ms) > BACKOFF_RESET_MS
}

/// A delay as Go's `time.Duration.String` prints whole seconds (`10s`, `1m20s`, `5m0s`), the
/// form the kubelet's `back-off 20s restarting failed container=...` message uses.
pub fn go_duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A container that crashes `ran_ms` after each restart: the wait before each restart.
    fn waits(ran_ms: i64, crashes: usize) -> Vec<i64> {
        let mut backoff = CrashLoopBackoff::new();
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..crashes {
            now += ran_ms;
            let finished = now;
            let at = backoff.restart_at(finished, now).unwrap_or(now);
            waits.push(at - finished);
            now = at;
            assert_eq!(
                backoff.restart_at(finished, now),
                None,
                "restartable at {now}"
            );
            backoff.next(finished, now);
        }
        waits
    }

    #[test]
    fn delays_double_to_the_cap_after_an_immediate_first_restart() {
        assert_eq!(
            waits(1_000, 9),
            [
                0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000
            ]
        );
    }

    #[test]
    fn a_long_run_resets_the_delay() {
        // Ran exactly 10 min after each restart: not expired (the kubelet uses `>`).
        assert_eq!(waits(BACKOFF_RESET_MS, 3), [0, 10_000, 20_000]);
        // Ran longer: every crash is treated as the first.
        assert_eq!(waits(BACKOFF_RESET_MS + 1, 3), [0, 0, 0]);
    }

    #[test]
    fn a_reset_forgets_the_history() {
        let mut backoff = CrashLoopBackoff::new();
        backoff.next(0, 0);
        assert_eq!(backoff.restart_at(5, 5), Some(10_005));
        backoff.reset();
        assert_eq!(backoff.restart_at(5, 5), None);
        assert_eq!(backoff.delay_ms(), None);
    }

    #[test]
    fn durations_print_as_go_does() {
        for (ms, text) in [
            (10_000, "10s"),
            (80_000, "1m20s"),
            (300_000, "5m0s"),
            (3_661_000, "1h1m1s"),
            (-5, "0s"),
        ] {
            assert_eq!(go_duration(ms), text, "{ms}");
        }
    }
}
