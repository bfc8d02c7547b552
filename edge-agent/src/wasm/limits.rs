//! Per-container memory and CPU limits, enforced inside the engine, and the usage they measure.
//!
//! Memory: every store of a container (one for a command, one per request for a proxy) has a
//! [`StoreLimiter`] that books linear-memory growth against the container's [`MemoryAccount`];
//! growth past `resources.limits.memory` traps the guest with [`MemoryLimitExceeded`] and marks
//! the account, which ends the container as `OOMKilled`.
//!
//! CPU: guest code is compiled with epoch checks and the runtime ticks the epoch every
//! [`EPOCH_TICK`](super::runtime::EPOCH_TICK). At each tick a running guest yields to the
//! executor (so a busy loop never holds a thread that other pods need), its time is charged to
//! the container's [`CpuAccount`], and a container over its quota sleeps until its next period.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, StoreContextMut, UpdateDeadline};

/// Tables hold one pointer per element; this bounds a guest's tables (Rust components use a
/// handful of elements) without a memory limit of their own.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The CFS period: a CPU limit of `m` millicores allows `m/1000` of each period.
pub(crate) const CPU_PERIOD: Duration = Duration::from_millis(100);

/// The linear memory of all live instances of one container.
#[derive(Debug, Default)]
pub(crate) struct MemoryAccount {
    limit: Option<u64>,
    used: AtomicU64,
    peak: AtomicU64,
    exceeded: AtomicBool,
}

impl MemoryAccount {
    pub(crate) fn new(limit: Option<u64>) -> Self {
        MemoryAccount {
            limit,
            ..MemoryAccount::default()
        }
    }

    fn try_reserve(&self, bytes: u64) -> Result<(), MemoryLimitExceeded> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let wanted = used.saturating_add(bytes);
            if let Some(limit) = self.limit
                && wanted > limit
            {
                self.exceeded.store(true, Ordering::Release);
                return Err(MemoryLimitExceeded {
                    limit,
                    used,
                    wanted: bytes,
                });
            }
            match self
                .used
                .compare_exchange_weak(used, wanted, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.peak.fetch_max(wanted, Ordering::Relaxed);
                    return Ok(());
                }
                Err(now) => used = now,
            }
        }
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether a guest of this container has asked for more than the limit.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }
}

/// What a guest traps with when its container's memory limit is reached.
#[derive(Debug, thiserror::Error)]
#[error(
    "memory limit of {limit} bytes exceeded: the container holds {used} bytes and asked for {wanted} more"
)]
pub(crate) struct MemoryLimitExceeded {
    limit: u64,
    used: u64,
    wanted: u64,
}

/// One store's share of its container's [`MemoryAccount`]; gives it back when the store drops.
pub(crate) struct StoreLimiter {
    account: Arc<MemoryAccount>,
    held: u64,
    last_growth: u64,
}

impl StoreLimiter {
    pub(crate) fn new(account: Arc<MemoryAccount>) -> Self {
        StoreLimiter {
            account,
            held: 0,
            last_growth: 0,
        }
    }
}

impl ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        // Trapping (rather than failing `memory.grow`) ends the guest where it asked, like the
        // kernel's OOM killer, instead of leaving it to handle the failure or abort later.
        self.account
            .try_reserve(growth)
            .map_err(wasmtime::Error::new)?;
        self.held += growth;
        self.last_growth = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The engine refused the growth after we booked it (past the pool's maximum).
        self.account.release(self.last_growth);
        self.held -= self.last_growth;
        self.last_growth = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl Drop for StoreLimiter {
    fn drop(&mut self) {
        self.account.release(self.held);
    }
}

/// The CPU time of one container, and its quota.
#[derive(Debug)]
pub(crate) struct CpuAccount {
    total_nanos: AtomicU64,
    quota: Option<Duration>,
    period: Mutex<Period>,
}

#[derive(Debug)]
struct Period {
    start: Instant,
    used: Duration,
}

impl CpuAccount {
    pub(crate) fn new(limit_millis: Option<u64>) -> Self {
        let quota = limit_millis.map(|millis| {
            let nanos = CPU_PERIOD.as_nanos() as u64 * millis / 1000;
            Duration::from_nanos(nanos.max(1_000_000))
        });
        CpuAccount {
            total_nanos: AtomicU64::new(0),
            quota,
            period: Mutex::new(Period {
                start: Instant::now(),
                used: Duration::ZERO,
            }),
        }
    }

    pub(crate) fn total(&self) -> Duration {
        Duration::from_nanos(self.total_nanos.load(Ordering::Relaxed))
    }

    fn charge(&self, spent: Duration, now: Instant) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.total_nanos.fetch_add(nanos, Ordering::Relaxed);
        if let Some(quota) = self.quota {
            let mut period = self.period.lock().unwrap_or_else(PoisonError::into_inner);
            period.roll(now, quota);
            period.used += spent;
        }
    }

    /// When a container over its quota may run again.
    fn throttled_until(&self, now: Instant) -> Option<Instant> {
        let quota = self.quota?;
        let mut period = self.period.lock().unwrap_or_else(PoisonError::into_inner);
        period.roll(now, quota);
        (period.used >= quota).then_some(period.start + CPU_PERIOD)
    }
}

impl Period {
    /// Starts the periods that have passed, each paying back one quota of what was overspent
    /// (a guest runs up to a tick past its quota before the engine stops it).
    fn roll(&mut self, now: Instant, quota: Duration) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < CPU_PERIOD {
            return;
        }
        let periods = u32::try_from(elapsed.as_nanos() / CPU_PERIOD.as_nanos()).unwrap_or(u32::MAX);
        self.start += CPU_PERIOD * periods;
        self.used = self.used.saturating_sub(quota.saturating_mul(periods));
    }
}

/// The start of the guest's current run on a thread, shared by [`Metered`] (which sees the
/// executor poll it) and the epoch callback (which sees it still running at a tick).
#[derive(Debug, Default)]
pub(crate) struct SliceClock {
    started: Mutex<Option<Instant>>,
}

impl SliceClock {
    fn begin(&self, now: Instant) {
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
    }

    /// Charges the time since the slice began; a new slice begins at `now` if `running`.
    fn charge(&self, account: &CpuAccount, now: Instant, running: bool) {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(start) = started.take() {
            account.charge(now.saturating_duration_since(start), now);
        }
        if running {
            *started = Some(now);
        }
    }
}

/// A guest call whose time on the executor's threads is charged to its container.
pub(crate) struct Metered<F> {
    inner: Pin<Box<F>>,
    clock: Arc<SliceClock>,
    account: Arc<CpuAccount>,
}

impl<F> Metered<F> {
    pub(crate) fn new(inner: F, clock: Arc<SliceClock>, account: Arc<CpuAccount>) -> Self {
        Metered {
            inner: Box::pin(inner),
            clock,
            account,
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.clock.begin(Instant::now());
        let result = self.inner.as_mut().poll(cx);
        self.clock.charge(&self.account, Instant::now(), false);
        result
    }
}

/// The epoch-deadline callback of a store: yield at every tick, and sleep while over quota.
pub(crate) fn on_epoch_tick<T>(
    clock: Arc<SliceClock>,
    account: Arc<CpuAccount>,
) -> impl FnMut(StoreContextMut<'_, T>) -> wasmtime::Result<UpdateDeadline> + Send + Sync + 'static
{
    move |_store| {
        let now = Instant::now();
        clock.charge(&account, now, true);
        Ok(match account.throttled_until(now) {
            Some(until) => UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                    until,
                ))),
            ),
            None => UpdateDeadline::Yield(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_account_enforces_the_limit_across_stores() {
        let account = Arc::new(MemoryAccount::new(Some(3 * 65536)));
        let mut a = StoreLimiter::new(account.clone());
        let mut b = StoreLimiter::new(account.clone());
        assert!(a.memory_growing(0, 2 * 65536, None).is_ok());
        assert!(b.memory_growing(0, 65536, None).is_ok());
        assert_eq!(account.used(), 3 * 65536);
        let err = b.memory_growing(65536, 2 * 65536, None);
        assert!(err.is_err_and(|e| e.is::<MemoryLimitExceeded>()));
        assert!(account.exceeded());
        drop(a);
        assert_eq!(account.used(), 65536);
        assert_eq!(account.peak(), 3 * 65536);
        b.memory_grow_failed(wasmtime::Error::msg("pool full")).ok();
        assert_eq!(account.used(), 0);
    }

    #[test]
    fn cpu_quota_throttles_within_a_period_and_pays_back_overspending() {
        let account = CpuAccount::new(Some(100)); // 10 ms per 100 ms period
        let start = Instant::now();
        account.charge(Duration::from_millis(5), start);
        assert_eq!(account.throttled_until(start), None);
        account.charge(Duration::from_millis(25), start);
        let until = account.throttled_until(start);
        assert!(until.is_some_and(|t| t > start));
        // 30 ms spent against 10 ms a period: still throttled one period later, free after three.
        assert!(account.throttled_until(start + CPU_PERIOD).is_some());
        assert_eq!(account.throttled_until(start + CPU_PERIOD * 3), None);
        assert_eq!(account.total(), Duration::from_millis(30));
        assert_eq!(CpuAccount::new(None).throttled_until(start), None);
    }
}
