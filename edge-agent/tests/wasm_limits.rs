//! Memory and CPU limits of Wasm containers, enforced by the engine, and stopping guests that
//! do not cooperate.

mod common;

use std::time::{Duration, Instant};

use common::{HttpConnection, Pod, get, load, runtime};
use edge_agent::wasm::ExitReason;

const MIB: u64 = 1024 * 1024;
const STOP_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_command_over_its_memory_limit_is_oom_killed() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let mut spec = pod.spec("hog");
    spec.args = vec!["oom".into()];
    spec.memory_limit_bytes = Some(16 * MIB);
    let container = runtime()
        .start(&load("testdata-command").await?, spec, pod.log("hog", 0)?)
        .await?;
    let reason = tokio::time::timeout(Duration::from_secs(60), container.wait()).await?;
    assert_eq!(reason, ExitReason::OomKilled);
    assert_eq!((reason.exit_code(), reason.reason()), (137, "OOMKilled"));
    let usage = container.usage();
    assert!(usage.peak_memory_bytes <= 16 * MIB, "{usage:?}");
    assert!(usage.peak_memory_bytes > 8 * MIB, "{usage:?}");
    assert_eq!(usage.memory_bytes, 0);
    let logs = pod.log_messages("hog")?;
    assert!(logs.iter().any(|l| l.starts_with("holding ")), "{logs:?}");
    assert_eq!(
        logs.last().map(String::as_str),
        Some("wasm: memory limit exceeded (OOMKilled)")
    );
    Ok(())
}

#[tokio::test]
async fn a_proxy_over_its_memory_limit_is_oom_killed() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let mut spec = pod.spec("hog");
    spec.memory_limit_bytes = Some(32 * MIB);
    let container = runtime()
        .start(&load("testdata-http").await?, spec, pod.log("hog", 0)?)
        .await?;
    let addr = container.local_addr().expect("a proxy has an address");
    let mut connection = HttpConnection::open(addr).await?;
    assert_eq!(
        connection.get("/alloc?mb=4").await?,
        (200, "allocated 4 MiB\n".into())
    );
    assert_eq!(connection.get("/alloc?mb=64").await?.0, 500);
    let reason = tokio::time::timeout(STOP_WITHIN, container.wait()).await?;
    assert_eq!(reason, ExitReason::OomKilled);
    assert!(
        get(addr, "/").await.is_err(),
        "an OOM-killed proxy stops serving"
    );
    Ok(())
}

#[tokio::test]
async fn stop_interrupts_a_spinning_command_promptly() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let mut spec = pod.spec("spin");
    spec.args = vec!["spin".into()];
    let container = runtime()
        .start(&load("testdata-command").await?, spec, pod.log("spin", 0)?)
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(container.try_exit(), None, "it spins");
    let reason = tokio::time::timeout(STOP_WITHIN, container.stop(Duration::from_secs(30))).await?;
    assert_eq!(reason, ExitReason::Stopped { forced: true });
    let usage = container.usage();
    assert!(usage.cpu_time >= Duration::from_millis(100), "{usage:?}");
    assert_eq!(usage.instances, 0);
    Ok(())
}

#[tokio::test]
async fn stop_interrupts_a_command_blocked_in_the_host() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let mut spec = pod.spec("sleep");
    spec.args = vec!["sleep".into()];
    let container = runtime()
        .start(&load("testdata-command").await?, spec, pod.log("sleep", 0)?)
        .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reason = tokio::time::timeout(STOP_WITHIN, container.stop(Duration::from_secs(30))).await?;
    assert_eq!(reason, ExitReason::Stopped { forced: true });
    Ok(())
}

/// One executor thread: a spinning guest must yield at every epoch tick for the proxy on the
/// same thread to be served at all, and its CPU limit holds it to its share.
#[tokio::test(flavor = "current_thread")]
async fn a_cpu_limited_spinner_neither_starves_others_nor_exceeds_its_share() -> anyhow::Result<()>
{
    let pod = Pod::new()?;
    let (command, proxy) = (load("testdata-command").await?, load("hello-http").await?);
    let started = Instant::now();
    let mut spinner = pod.spec("spin");
    spinner.args = vec!["spin".into()];
    spinner.cpu_limit_millis = Some(100);
    let spinning = runtime()
        .start(&command, spinner, pod.log("spin", 0)?)
        .await?;
    let mut unlimited = pod.spec("spin-free");
    unlimited.args = vec!["spin".into()];
    let free = runtime()
        .start(&command, unlimited, pod.log("spin-free", 0)?)
        .await?;
    let web = runtime()
        .start(&proxy, pod.spec("web"), pod.log("web", 0)?)
        .await?;
    let addr = web.local_addr().expect("a proxy has an address");

    for _ in 0..5 {
        let response =
            tokio::time::timeout(Duration::from_secs(10), get(addr, "/healthz")).await??;
        assert_eq!(response, (200, "ok\n".into()));
    }
    while started.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = started.elapsed();
    let limited = spinning.usage().cpu_time;
    let unlimited = free.usage().cpu_time;
    // 100m is 10 ms per 100 ms period; a guest overshoots by at most a tick (10 ms) per period.
    assert!(
        limited <= wall / 4,
        "limited spinner used {limited:?} of {wall:?}"
    );
    assert!(
        limited >= Duration::from_millis(20),
        "limited spinner ran {limited:?}"
    );
    assert!(
        unlimited > limited,
        "unlimited {unlimited:?} vs limited {limited:?}"
    );

    for container in [&spinning, &free, &web] {
        tokio::time::timeout(STOP_WITHIN, container.stop(Duration::from_secs(1))).await?;
    }
    Ok(())
}
