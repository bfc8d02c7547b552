//! The Wasm runtime with real components: commands and their exit codes, configuration,
//! volumes, network policy, logs, keyvalue persistence of a job, and the artefact cache.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Pod, digest, guest, load, runtime};
use edge_agent::wasm::{
    ArtefactSource, ComponentShape, ExitReason, Preopen, WasmError, WasmRuntime, WasmRuntimeConfig,
};

const WAIT: Duration = Duration::from_secs(60);

async fn run_to_end(
    pod: &Pod,
    component: &str,
    spec: edge_agent::wasm::WasmContainerSpec,
    restart: u32,
) -> anyhow::Result<ExitReason> {
    let loaded = load(component).await?;
    let log = pod.log(&spec.name, restart)?;
    let container = runtime().start(&loaded, spec, log).await?;
    Ok(tokio::time::timeout(WAIT, container.wait()).await?)
}

#[tokio::test]
async fn shapes_are_detected_from_exports() -> anyhow::Result<()> {
    assert_eq!(load("sensor-job").await?.shape(), ComponentShape::Command);
    assert_eq!(load("hello-http").await?.shape(), ComponentShape::HttpProxy);
    Ok(())
}

#[tokio::test]
async fn command_exit_codes_and_keyvalue_survive_runs() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let mut spec = pod.spec("sensor");
    spec.env = vec![("READINGS".into(), "3".into())];
    spec.config = BTreeMap::from([("SENSOR_ID".to_owned(), "greenhouse-1".to_owned())]);
    assert_eq!(
        run_to_end(&pod, "sensor-job", spec.clone(), 0).await?,
        ExitReason::Exited(0)
    );
    let logs = pod.log_messages("sensor")?;
    assert!(
        logs.iter()
            .any(|l| l == "greenhouse-1: took 3 readings, 3 buffered"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("greenhouse-1 seq=1 temperature=")),
        "{logs:?}"
    );

    // The second run of the pod's job finds the first run's readings in the store, and its
    // exit code (other than 0 and 1) reaches the container status.
    spec.env.push(("EXIT_CODE".into(), "3".into()));
    let reason = run_to_end(&pod, "sensor-job", spec, 1).await?;
    assert_eq!(reason, ExitReason::Exited(3));
    assert_eq!((reason.exit_code(), reason.reason()), (3, "Error"));
    let logs = pod.log_messages("sensor")?;
    assert!(
        logs.iter()
            .any(|l| l == "greenhouse-1: took 3 readings, 6 buffered"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l == "sensor-job: exiting with 3 as asked"),
        "{logs:?}"
    );
    Ok(())
}

#[tokio::test]
async fn command_sees_args_env_config_and_volumes_and_logs_in_cri_format() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let data = pod.dir.path().join("volume");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("input.txt"), "from the host\n")?;
    let mut spec = pod.spec("echo");
    spec.args = vec!["echo".into(), "two words".into()];
    spec.env = vec![("MODE".into(), "test".into())];
    spec.config = BTreeMap::from([("color".to_owned(), "blue".to_owned())]);
    spec.preopens = vec![Preopen {
        host_path: data.clone(),
        guest_path: "/data".into(),
        read_only: false,
    }];
    assert_eq!(
        run_to_end(&pod, "testdata-command", spec, 0).await?,
        ExitReason::Exited(0)
    );
    assert_eq!(
        std::fs::read_to_string(data.join("output.txt"))?,
        "written by the guest\n"
    );

    let logs = pod.log_messages("echo")?;
    let expected = [
        "args: echo echo two words",
        "env: MODE=test",
        "config: color=blue",
        "volume: from the host",
        "volume write: ok",
        "to stderr",
        "no newline at the end",
    ];
    assert_eq!(logs, expected);

    // The file itself is in the CRI format: time, stream, full/partial tag, message.
    let raw = std::fs::read_to_string(pod.log_dir("echo").join("0.log"))?;
    for line in raw.lines() {
        let fields: Vec<&str> = line.splitn(4, ' ').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert!(fields[0].parse::<jiff::Timestamp>().is_ok(), "{line}");
        assert!(["stdout", "stderr"].contains(&fields[1]), "{line}");
        assert_eq!(fields[2], "F", "{line}");
    }
    assert!(raw.contains(" stderr F to stderr\n"), "{raw}");

    // A read-only volume cannot be written.
    let mut spec = pod.spec("echo-ro");
    spec.args = vec!["echo".into()];
    spec.preopens = vec![Preopen {
        host_path: data,
        guest_path: "/data".into(),
        read_only: true,
    }];
    assert_eq!(
        run_to_end(&pod, "testdata-command", spec, 0).await?,
        ExitReason::Exited(0)
    );
    let logs = pod.log_messages("echo-ro")?;
    assert!(
        logs.iter().any(|l| l == "volume: from the host"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("volume write: ") && l != "volume write: ok"),
        "{logs:?}"
    );
    Ok(())
}

#[tokio::test]
async fn network_is_denied_unless_granted() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target = listener.local_addr()?.to_string();

    let mut spec = pod.spec("net");
    spec.args = vec!["connect".into(), target.clone()];
    assert_eq!(
        run_to_end(&pod, "testdata-command", spec.clone(), 0).await?,
        ExitReason::Exited(0)
    );
    let logs = pod.log_messages("net")?;
    assert!(
        logs.iter()
            .any(|l| l.starts_with("connect: ") && l != "connect: ok"),
        "{logs:?}"
    );

    spec.allow_network = true;
    assert_eq!(
        run_to_end(&pod, "testdata-command", spec, 1).await?,
        ExitReason::Exited(0)
    );
    let logs = pod.log_messages("net")?;
    assert_eq!(logs, ["connect: ok"]);
    Ok(())
}

#[tokio::test]
async fn exit_with_code_and_traps_are_reported() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let mut spec = pod.spec("exit");
    spec.args = vec!["exit".into(), "42".into()];
    assert_eq!(
        run_to_end(&pod, "testdata-command", spec, 0).await?,
        ExitReason::Exited(42)
    );

    let mut spec = pod.spec("unknown");
    spec.args = vec!["no-such-mode".into()];
    assert_eq!(
        run_to_end(&pod, "testdata-command", spec, 0).await?,
        ExitReason::Exited(64)
    );
    Ok(())
}

#[tokio::test]
async fn compiled_artefacts_are_cached_on_disk() -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let wasm = guest("hello-http");
    let digest = digest(&wasm);
    {
        let runtime = WasmRuntime::new(WasmRuntimeConfig::new(cache.path()))?;
        let first = runtime.load(&digest, &wasm).await?;
        assert_eq!(first.source(), ArtefactSource::Compiled);
        assert_eq!(
            runtime.load(&digest, &wasm).await?.source(),
            ArtefactSource::Memory
        );
    }
    // An agent restart: a new engine with the same settings reads the artefact back.
    let runtime = WasmRuntime::new(WasmRuntimeConfig::new(cache.path()))?;
    let loaded = runtime.load(&digest, &wasm).await?;
    assert_eq!(loaded.source(), ArtefactSource::DiskCache);
    assert_eq!(loaded.shape(), ComponentShape::HttpProxy);

    let err = runtime.load("sha256:00", &wasm).await;
    assert!(
        matches!(err, Err(WasmError::BadDigest(_))),
        "{:?}",
        err.err()
    );
    let other = format!("sha256:{}", "0".repeat(64));
    let err = runtime.load(&other, &wasm).await;
    assert!(
        matches!(err, Err(WasmError::DigestMismatch { .. })),
        "{:?}",
        err.err()
    );
    let junk = b"not wasm".to_vec();
    let err = runtime.load(&common::digest(&junk), &junk).await;
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.starts_with("invalid wasm component: "), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_proxy_needs_an_address_and_a_free_port() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let loaded = load("hello-http").await?;
    let mut spec = pod.spec("web");
    spec.listen = None;
    let err = runtime().start(&loaded, spec, pod.log("web", 0)?).await;
    assert!(
        matches!(err, Err(WasmError::NoListenAddress)),
        "{:?}",
        err.err()
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut spec = pod.spec("web");
    spec.listen = Some(taken.local_addr()?);
    let err = runtime().start(&loaded, spec, pod.log("web", 0)?).await;
    assert!(
        matches!(err, Err(WasmError::Listen { .. })),
        "{:?}",
        err.err()
    );
    Ok(())
}

#[tokio::test]
async fn only_components_importing_keyvalue_get_a_database() -> anyhow::Result<()> {
    let pod = Pod::new()?;
    let spec = pod.spec("hello");
    let kv_file = spec.kv_dir.join("keyvalue.redb");
    let loaded = load("hello-http").await?;
    let mut spec = spec;
    spec.listen = Some("127.0.0.1:0".parse()?);
    let container = runtime().start(&loaded, spec, pod.log("hello", 0)?).await?;
    assert!(!kv_file.exists(), "hello-http does not use keyvalue");
    drop(container);

    let mut spec = pod.spec("sensor");
    spec.env = vec![("READINGS".into(), "1".into())];
    let kv_file = spec.kv_dir.join("keyvalue.redb");
    assert_eq!(
        run_to_end(&pod, "sensor-job", spec, 0).await?,
        ExitReason::Exited(0)
    );
    assert!(kv_file.exists(), "sensor-job keeps its readings");
    Ok(())
}
