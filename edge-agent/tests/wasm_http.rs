//! The Wasm runtime serving `wasi:http/proxy` components on loopback: requests over
//! keep-alive connections, configuration, keyvalue persistence across restarts, graceful and
//! forced stops.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{HttpConnection, Pod, get, load, runtime};
use edge_agent::wasm::ExitReason;

const STOP_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test]
async fn hello_http_serves_requests_over_keep_alive() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let mut spec = pod.spec("hello");
    spec.config = BTreeMap::from([("GREETING".to_owned(), "Grüezi".to_owned())]);
    let container = runtime()
        .start(&load("hello-http").await?, spec, pod.log("hello", 0)?)
        .await?;
    let addr = container.local_addr().expect("a proxy has an address");
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let mut connection = HttpConnection::open(addr).await?;
    for _ in 0..3 {
        assert_eq!(
            connection.get("/").await?,
            (200, "Grüezi from Edgeplane!\n".into())
        );
    }
    assert_eq!(connection.get("/healthz").await?, (200, "ok\n".into()));
    assert_eq!(connection.get("/nope").await?.0, 404);
    let usage = container.usage();
    assert_eq!(usage.requests, 5);
    assert!(usage.peak_memory_bytes > 0, "{usage:?}");
    assert!(usage.cpu_time > Duration::ZERO, "{usage:?}");

    let reason = tokio::time::timeout(STOP_WITHIN, container.stop(Duration::from_secs(5))).await?;
    assert_eq!(reason, ExitReason::Stopped { forced: false });
    assert_eq!(container.usage().memory_bytes, 0, "every instance is gone");
    assert!(
        get(addr, "/").await.is_err(),
        "the port is closed after the stop"
    );
    Ok(())
}

#[tokio::test]
async fn kv_counter_keeps_counting_across_restarts() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let component = load("kv-counter").await?;
    for (restart, expected) in [(0, ["1\n", "2\n"]), (1, ["3\n", "4\n"])] {
        let container = runtime()
            .start(
                &component,
                pod.spec("counter"),
                pod.log("counter", restart)?,
            )
            .await?;
        let addr = container.local_addr().expect("a proxy has an address");
        for count in expected {
            assert_eq!(get(addr, "/").await?, (200, count.to_owned()));
        }
        let reason =
            tokio::time::timeout(STOP_WITHIN, container.stop(Duration::from_secs(5))).await?;
        assert_eq!(reason, ExitReason::Stopped { forced: false });
    }
    assert!(pod.kv_dir().join(edge_agent::wasm::KEYVALUE_FILE).exists());
    Ok(())
}

#[tokio::test]
async fn graceful_stop_lets_in_flight_requests_finish() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let container = runtime()
        .start(
            &load("testdata-http").await?,
            pod.spec("slow"),
            pod.log("slow", 0)?,
        )
        .await?;
    let addr = container.local_addr().expect("a proxy has an address");
    let in_flight = tokio::spawn(get(addr, "/slow?ms=500"));
    // Let the request reach the guest before stopping.
    while container.usage().requests == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reason = tokio::time::timeout(STOP_WITHIN, container.stop(Duration::from_secs(10))).await?;
    assert_eq!(reason, ExitReason::Stopped { forced: false });
    assert_eq!(in_flight.await??, (200, "done\n".into()));
    Ok(())
}

#[tokio::test]
async fn a_spinning_request_is_killed_after_the_grace_period() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let container = runtime()
        .start(
            &load("testdata-http").await?,
            pod.spec("spin"),
            pod.log("spin", 0)?,
        )
        .await?;
    let addr = container.local_addr().expect("a proxy has an address");
    let in_flight = tokio::spawn(get(addr, "/spin"));
    while container.usage().instances < 1 || container.usage().requests == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reason =
        tokio::time::timeout(STOP_WITHIN, container.stop(Duration::from_millis(200))).await?;
    assert_eq!(reason, ExitReason::Stopped { forced: true });
    assert_eq!(reason.exit_code(), 137);
    assert!(
        in_flight.await?.is_err(),
        "the connection of a killed request is closed"
    );
    assert_eq!(container.usage().instances, 0);
    assert!(container.usage().cpu_time >= Duration::from_millis(50));
    Ok(())
}

#[tokio::test]
async fn dropping_a_container_kills_it() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let container = runtime()
        .start(
            &load("hello-http").await?,
            pod.spec("drop"),
            pod.log("drop", 0)?,
        )
        .await?;
    let addr = container.local_addr().expect("a proxy has an address");
    assert_eq!(get(addr, "/healthz").await?.0, 200);
    drop(container);
    let closed = async {
        while get(addr, "/healthz").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(STOP_WITHIN, closed).await?;
    Ok(())
}
