//! Starting one container instance: fetch its image, load the component, resolve its mounts
//! and ports, and start it in the Wasm runtime.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use edge_wire::link::{ContainerRunSpec, PodRunSpec, PullPolicy, RuntimeKind};
use futures::future::BoxFuture;

use super::WorkerContext;
use super::ports::HostPortProxy;
use super::volumes;
use crate::logs::{ContainerLog, LogOptions};
use crate::wasm::{RunningContainer, WasmContainerSpec};

/// What an image source hands back.
pub struct FetchedImage {
    /// The manifest digest, reported as the container's `imageID`.
    pub image_id: String,
    /// The Wasm component (digest and file), or `None` for an OCI image.
    pub wasm: Option<(String, PathBuf)>,
}

/// Where images come from (the agent's puller and content store).
pub trait ImageSource: Send + Sync {
    /// Gets `image` per `policy`; an error is the message the kubelet would show with
    /// `ErrImagePull` (or `ErrImageNeverPull`, then the `bool` is true).
    fn fetch<'a>(
        &'a self,
        image: &'a str,
        policy: PullPolicy,
        credentials: &'a [(String, String, String)],
    ) -> BoxFuture<'a, Result<FetchedImage, (bool, String)>>;
}

/// Why a start failed: the waiting reason and message of the container status.
pub struct StartFailure {
    pub reason: &'static str,
    pub message: String,
}

fn failure(reason: &'static str, message: impl Into<String>) -> StartFailure {
    StartFailure {
        reason,
        message: message.into(),
    }
}

/// Starts container `name` of `pod`, its `restarts`-th restart.
pub(super) async fn start(
    ctx: &WorkerContext,
    pod: &PodRunSpec,
    name: &str,
    init: bool,
    restarts: u32,
) -> Result<(RunningContainer, Vec<HostPortProxy>), StartFailure> {
    let list = if init {
        &pod.init_containers
    } else {
        &pod.containers
    };
    let spec = list.iter().find(|c| c.name == name).ok_or_else(|| {
        failure(
            "CreateContainerError",
            format!("no container {name} in the pod"),
        )
    })?;
    if let Some(message) = &spec.config_error {
        return Err(failure("CreateContainerConfigError", message.clone()));
    }
    if spec.runtime == RuntimeKind::Oci {
        return Err(failure(
            "CreateContainerError",
            "this agent runs only Wasm containers (runtimeClassName: wasm); OCI containers are not supported on it",
        ));
    }
    let image = ctx
        .images
        .fetch(&spec.image, spec.pull_policy, &pod.pull_credentials)
        .await
        .map_err(|(never, message)| {
            failure(
                if never {
                    "ErrImageNeverPull"
                } else {
                    "ErrImagePull"
                },
                message,
            )
        })?;
    let Some((digest, path)) = image.wasm else {
        return Err(failure(
            "CreateContainerError",
            format!(
                "image {:?} is not a Wasm component and this agent runs only Wasm containers",
                spec.image
            ),
        ));
    };
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        failure(
            "CreateContainerError",
            format!("cannot read the component: {e}"),
        )
    })?;
    let component = ctx
        .runtime
        .load(&digest, &bytes)
        .await
        .map_err(|e| failure("CreateContainerError", e.to_string()))?;
    let pod_dir = ctx.pods_dir.join(&pod.uid);
    let log = ContainerLog::open(
        &pod_dir.join("logs").join(name),
        restarts,
        LogOptions::default(),
    )
    .map_err(|e| failure("CreateContainerError", format!("cannot open the log: {e}")))?;
    let wasm_spec = wasm_spec(ctx, pod, spec, &pod_dir)?;
    let container = ctx
        .runtime
        .start(&component, wasm_spec, log)
        .await
        .map_err(|e| failure("RunContainerError", e.to_string()))?;
    let mut proxies = Vec::new();
    if let Some(target) = container.local_addr() {
        for port in spec.ports.iter().filter(|p| p.protocol != "UDP") {
            let Some(host_port) = port.host_port else {
                continue;
            };
            let listen = SocketAddr::new(ctx.node_ip, host_port);
            match HostPortProxy::start(listen, target).await {
                Ok(proxy) => proxies.push(proxy),
                Err(err) => {
                    container.stop(std::time::Duration::ZERO).await;
                    return Err(failure(
                        "RunContainerError",
                        format!("cannot serve host port {host_port}: {err}"),
                    ));
                }
            }
        }
    }
    Ok((container, proxies))
}

fn wasm_spec(
    ctx: &WorkerContext,
    pod: &PodRunSpec,
    spec: &ContainerRunSpec,
    pod_dir: &std::path::Path,
) -> Result<WasmContainerSpec, StartFailure> {
    let preopens =
        volumes::preopens(ctx, pod, spec).map_err(|e| failure("CreateContainerConfigError", e))?;
    // As container runtimes do, `HOSTNAME` is the pod's hostname unless the container sets it.
    let mut env = spec.env.clone();
    if !pod.host_network && !pod.hostname.is_empty() && !env.iter().any(|(k, _)| k == "HOSTNAME") {
        env.insert(0, ("HOSTNAME".to_owned(), pod.hostname.clone()));
    }
    Ok(WasmContainerSpec {
        name: spec.name.clone(),
        args: spec.command.iter().chain(&spec.args).cloned().collect(),
        env,
        config: spec.env.iter().cloned().collect::<BTreeMap<_, _>>(),
        kv_dir: pod_dir.join("kv"),
        preopens,
        memory_limit_bytes: spec.limits.memory_limit_bytes,
        cpu_limit_millis: spec.limits.cpu_limit_millis,
        // A Wasm service listens on loopback at a port the agent picks; port-forward, probes
        // and host ports reach it there (commands ignore it). Pod IPs come with pod networking.
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        allow_network: spec.allow_network,
    })
}
