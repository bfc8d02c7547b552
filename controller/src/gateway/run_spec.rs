//! Pod object → [`PodRunSpec`]: resolves a pod the way the kubelet does before it starts
//! containers, so the agent receives everything it needs and never reads API objects.
//!
//! Resolution never fails as a whole: what cannot be resolved (a missing ConfigMap, say) becomes
//! the `config_error` of the containers it concerns, with the kubelet's message, and the agent
//! reports those containers waiting with `CreateContainerConfigError`.
//!
//! Annotation `edgeplane.io/allow-network: "true"` on a pod lets its Wasm containers (runtime
//! `Wasm` or `Auto`) open outbound sockets and make outgoing HTTP requests; without it a Wasm
//! container has no network. OCI containers are unaffected.

mod downward;
mod env;
mod error;
mod pull_secrets;
mod volumes;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use edge_api::admission::default_pull_policy;
use edge_api::meta;
use edge_api::quantity::parse_quantity;
use edge_wire::link::{
    ContainerLimits, ContainerRunSpec, PodRunSpec, PortSpec, Probe, ProbeAction, PullPolicy,
    RestartPolicy, RuntimeKind, SecuritySpec, VolumeMount, VolumeSpec,
};
use serde_json::Value;

pub use error::ConfigError;

/// The pod annotation that gives Wasm containers outbound network access.
pub const ALLOW_NETWORK_ANNOTATION: &str = "edgeplane.io/allow-network";

/// The kinds of object a pod can refer to by name in its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    ConfigMap,
    Secret,
    PersistentVolumeClaim,
}

/// Read access to the objects a pod refers to; the gateway's informer cache implements it.
pub trait ObjectLookup {
    /// The object of `kind` named `name` in `namespace`, if it exists.
    fn get(&self, kind: RefKind, namespace: &str, name: &str) -> Option<Arc<Value>>;

    /// The Node object named `name`. Only used for the downward API's `limits.*` of a container
    /// without that limit, which the kubelet reports as the node's allocatable amount; without
    /// the node such a value resolves to `0`.
    fn node(&self, _name: &str) -> Option<Arc<Value>> {
        None
    }
}

/// What one resolution needs about the pod being resolved.
struct PodContext<'a> {
    pod: &'a Value,
    namespace: &'a str,
    refs: &'a dyn ObjectLookup,
}

impl PodContext<'_> {
    fn spec(&self) -> &Value {
        &self.pod["spec"]
    }

    fn lookup(&self, kind: RefKind, name: &str) -> Option<Arc<Value>> {
        self.refs.get(kind, self.namespace, name)
    }
}

/// Resolves `pod` into the spec its node's agent runs.
pub fn pod_run_spec(pod: &Value, refs: &dyn ObjectLookup) -> PodRunSpec {
    let namespace = meta::namespace(pod).unwrap_or("default");
    let ctx = PodContext {
        pod,
        namespace,
        refs,
    };
    let spec = ctx.spec();
    let name = meta::name(pod).unwrap_or_default();
    let deleting = pod["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null());

    let resolved = volumes::resolve_volumes(&ctx);
    let runtime = runtime_kind(str_at(spec, "runtimeClassName"));
    let allow_network = meta::annotation(pod, ALLOW_NETWORK_ANNOTATION) == Some("true");
    let containers_of = |list: &str| -> Vec<ContainerRunSpec> {
        array(spec, list)
            .iter()
            .map(|c| container_spec(&ctx, c, &resolved, runtime, allow_network))
            .collect()
    };

    PodRunSpec {
        uid: meta::uid(pod).unwrap_or_default().to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        // Not the resourceVersion: that changes with every status write, and each change would
        // resend (and make the agent store) a spec that did not change.
        revision: meta::generation(pod)
            .and_then(|g| u64::try_from(g).ok())
            .unwrap_or(0),
        hostname: pod_hostname(spec, name),
        subdomain: str_at(spec, "subdomain")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        restart_policy: match str_at(spec, "restartPolicy") {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        },
        termination_grace_secs: termination_grace_secs(pod, deleting),
        active_deadline_secs: spec.get("activeDeadlineSeconds").and_then(Value::as_u64),
        init_containers: containers_of("initContainers"),
        containers: containers_of("containers"),
        volumes: resolved.volumes,
        host_network: bool_at(spec, "hostNetwork"),
        pull_credentials: pull_secrets::pull_credentials(&ctx),
        deleting,
    }
}

/// Every ConfigMap, Secret and PersistentVolumeClaim `pod` refers to, each once, in order of
/// first mention, so that the caller knows which pods to resolve again when one changes.
pub fn references(pod: &Value) -> Vec<(RefKind, String)> {
    let spec = &pod["spec"];
    let mut out: Vec<(RefKind, String)> = Vec::new();
    let mut add = |kind: RefKind, name: Option<&str>| {
        if let Some(name) = name.filter(|n| !n.is_empty())
            && !out.iter().any(|(k, n)| *k == kind && n == name)
        {
            out.push((kind, name.to_owned()));
        }
    };
    for list in ["initContainers", "containers"] {
        for c in array(spec, list) {
            for e in array(c, "env") {
                let from = &e["valueFrom"];
                add(RefKind::ConfigMap, str_at(&from["configMapKeyRef"], "name"));
                add(RefKind::Secret, str_at(&from["secretKeyRef"], "name"));
            }
            for e in array(c, "envFrom") {
                add(RefKind::ConfigMap, str_at(&e["configMapRef"], "name"));
                add(RefKind::Secret, str_at(&e["secretRef"], "name"));
            }
        }
    }
    let pod_name = meta::name(pod).unwrap_or_default();
    for v in array(spec, "volumes") {
        add(RefKind::ConfigMap, str_at(&v["configMap"], "name"));
        add(RefKind::Secret, str_at(&v["secret"], "secretName"));
        add(
            RefKind::PersistentVolumeClaim,
            str_at(&v["persistentVolumeClaim"], "claimName"),
        );
        if v.get("ephemeral").is_some() {
            let claim = volumes::ephemeral_claim_name(pod_name, str_at(v, "name").unwrap_or(""));
            add(RefKind::PersistentVolumeClaim, Some(&claim));
        }
        for s in array(&v["projected"], "sources") {
            add(RefKind::ConfigMap, str_at(&s["configMap"], "name"));
            add(RefKind::Secret, str_at(&s["secret"], "name"));
        }
    }
    for s in array(spec, "imagePullSecrets") {
        add(RefKind::Secret, str_at(s, "name"));
    }
    out
}

fn runtime_kind(class: Option<&str>) -> RuntimeKind {
    match class {
        Some("wasm") => RuntimeKind::Wasm,
        Some("oci") => RuntimeKind::Oci,
        _ => RuntimeKind::Auto,
    }
}

/// `spec.hostname`, else the pod name cut to 63 characters without a trailing `-` or `.`, as the
/// kubelet does. Host-network pods keep the node's hostname; the agent ignores this there.
fn pod_hostname(spec: &Value, pod_name: &str) -> String {
    if let Some(h) = str_at(spec, "hostname").filter(|h| !h.is_empty()) {
        return h.to_owned();
    }
    let cut: String = pod_name.chars().take(63).collect();
    cut.trim_end_matches(['-', '.']).to_owned()
}

/// `terminationGracePeriodSeconds` (default 30), but a deleting pod's
/// `metadata.deletionGracePeriodSeconds` wins: `kubectl delete --grace-period` sets only that.
fn termination_grace_secs(pod: &Value, deleting: bool) -> u64 {
    let from_deletion = pod["metadata"]
        .get("deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .filter(|_| deleting);
    let secs = from_deletion.or_else(|| {
        pod["spec"]
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
    });
    secs.map_or(30, |s| s.max(0).unsigned_abs())
}

fn container_spec(
    ctx: &PodContext,
    c: &Value,
    volumes: &ResolvedVolumes,
    runtime: RuntimeKind,
    allow_network: bool,
) -> ContainerRunSpec {
    let image = str_at(c, "image").unwrap_or_default();
    let ports = container_ports(c);
    // The kubelet mounts volumes before it builds the container's config, so a volume error is
    // the one a container reports when it has both.
    let mut config_error = array(c, "volumeMounts").iter().find_map(|m| {
        let volume = str_at(m, "name").unwrap_or_default();
        volumes.errors.get(volume).map(|e| ConfigError::Mount {
            volume: volume.to_owned(),
            cause: Box::new(e.clone()),
        })
    });
    let env = match env::container_env(ctx, c) {
        Ok(env) => env,
        Err(e) => {
            config_error = config_error.or(Some(e));
            Vec::new()
        }
    };
    let env_map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let expand_all = |key: &str| -> Vec<String> {
        strings(c, key)
            .iter()
            .map(|s| env::expand(s, |name| env_map.get(name).map(|v| (*v).to_owned())))
            .collect()
    };
    let command = expand_all("command");
    let args = expand_all("args");
    let mounts = match volume_mounts(c, volumes, &env_map) {
        Ok(m) => m,
        Err(e) => {
            config_error = config_error.or(Some(e));
            Vec::new()
        }
    };
    let probe_at = |key: &str| c.get(key).and_then(|p| probe(p, &ports));

    ContainerRunSpec {
        name: str_at(c, "name").unwrap_or_default().to_owned(),
        image: image.to_owned(),
        runtime,
        pull_policy: pull_policy(str_at(c, "imagePullPolicy"), image),
        command,
        args,
        working_dir: str_at(c, "workingDir")
            .filter(|w| !w.is_empty())
            .map(str::to_owned),
        env,
        limits: container_limits(&c["resources"]),
        liveness: probe_at("livenessProbe"),
        readiness: probe_at("readinessProbe"),
        startup: probe_at("startupProbe"),
        ports,
        mounts,
        security: security(&ctx.spec()["securityContext"], &c["securityContext"]),
        allow_network: allow_network && runtime != RuntimeKind::Oci,
        config_error: config_error.map(|e| e.to_string()),
    }
}

fn pull_policy(policy: Option<&str>, image: &str) -> PullPolicy {
    match policy.unwrap_or_else(|| default_pull_policy(image)) {
        "Always" => PullPolicy::Always,
        "Never" => PullPolicy::Never,
        _ => PullPolicy::IfNotPresent,
    }
}

fn container_ports(c: &Value) -> Vec<PortSpec> {
    array(c, "ports")
        .iter()
        .filter_map(|p| {
            Some(PortSpec {
                name: str_at(p, "name")
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
                container_port: port_number(p.get("containerPort")?)?,
                host_port: p.get("hostPort").and_then(port_number),
                protocol: str_at(p, "protocol").unwrap_or("TCP").to_owned(),
            })
        })
        .collect()
}

fn port_number(v: &Value) -> Option<u16> {
    v.as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// CPU in millicores and memory in bytes; a request defaults to its limit, as the API server
/// defaults it.
fn container_limits(resources: &Value) -> ContainerLimits {
    let amount = |section: &str, name: &str, cpu: bool| -> Option<u64> {
        let q = parse_quantity(str_at(&resources[section], name)?).ok()?;
        let v = if cpu { q.milli_value() } else { q.value() };
        u64::try_from(v).ok()
    };
    let cpu_limit = amount("limits", "cpu", true);
    let memory_limit = amount("limits", "memory", false);
    ContainerLimits {
        cpu_request_millis: amount("requests", "cpu", true).or(cpu_limit),
        cpu_limit_millis: cpu_limit,
        memory_request_bytes: amount("requests", "memory", false).or(memory_limit),
        memory_limit_bytes: memory_limit,
    }
}

fn volume_mounts(
    c: &Value,
    volumes: &ResolvedVolumes,
    env: &HashMap<&str, &str>,
) -> Result<Vec<VolumeMount>, ConfigError> {
    array(c, "volumeMounts")
        .iter()
        .map(|m| {
            let volume = str_at(m, "name").unwrap_or_default().to_owned();
            let defined = volumes.errors.contains_key(&volume)
                || volumes.volumes.iter().any(|v| v.name == volume);
            if !defined {
                return Err(ConfigError::NoSuchVolume { name: volume });
            }
            let sub_path = match str_at(m, "subPathExpr").filter(|s| !s.is_empty()) {
                Some(expr) => Some(env::expand_sub_path(expr, env)?),
                None => str_at(m, "subPath")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            };
            Ok(VolumeMount {
                read_only: bool_at(m, "readOnly") || volumes.read_only.contains(&volume),
                volume,
                mount_path: str_at(m, "mountPath").unwrap_or_default().to_owned(),
                sub_path,
            })
        })
        .collect()
}

/// A probe with Kubernetes' defaults. A named port that matches none of the container's ports
/// becomes port 0, which never answers: the kubelet starts the container and fails the probe.
fn probe(p: &Value, ports: &[PortSpec]) -> Option<Probe> {
    let action = if let Some(h) = p.get("httpGet") {
        ProbeAction::HttpGet {
            path: str_at(h, "path").unwrap_or("/").to_owned(),
            port: probe_port(&h["port"], ports),
            scheme: str_at(h, "scheme").unwrap_or("HTTP").to_owned(),
            headers: array(h, "httpHeaders")
                .iter()
                .filter_map(|x| {
                    Some((
                        str_at(x, "name")?.to_owned(),
                        str_at(x, "value")?.to_owned(),
                    ))
                })
                .collect(),
        }
    } else if let Some(t) = p.get("tcpSocket") {
        ProbeAction::TcpSocket {
            port: probe_port(&t["port"], ports),
        }
    } else if let Some(e) = p.get("exec") {
        ProbeAction::Exec {
            command: strings(e, "command"),
        }
    } else if let Some(g) = p.get("grpc") {
        // The link has no gRPC probe yet; a TCP connect to the same port is the closest check.
        ProbeAction::TcpSocket {
            port: probe_port(&g["port"], ports),
        }
    } else {
        return None;
    };
    let secs = |key: &str, default: u32| {
        p.get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default)
    };
    Some(Probe {
        action,
        initial_delay_secs: secs("initialDelaySeconds", 0),
        period_secs: secs("periodSeconds", 10),
        timeout_secs: secs("timeoutSeconds", 1),
        success_threshold: secs("successThreshold", 1),
        failure_threshold: secs("failureThreshold", 3),
    })
}

/// A probe port: a number, a container port's name, or a number written as a string (the
/// kubelet's last resort).
fn probe_port(port: &Value, ports: &[PortSpec]) -> u16 {
    if let Some(n) = port_number(port) {
        return n;
    }
    let Some(name) = port.as_str() else {
        return 0;
    };
    ports
        .iter()
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.container_port)
        .or_else(|| name.parse().ok())
        .unwrap_or(0)
}

/// Pod-level and container-level `securityContext`, the container's fields winning.
fn security(pod_level: &Value, container: &Value) -> SecuritySpec {
    let id = |key: &str| {
        container
            .get(key)
            .or_else(|| pod_level.get(key))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let caps = &container["capabilities"];
    SecuritySpec {
        run_as_user: id("runAsUser"),
        run_as_group: id("runAsGroup"),
        run_as_non_root: container
            .get("runAsNonRoot")
            .or_else(|| pod_level.get("runAsNonRoot"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        read_only_root_filesystem: bool_at(container, "readOnlyRootFilesystem"),
        privileged: bool_at(container, "privileged"),
        capabilities_add: strings(caps, "add"),
        capabilities_drop: strings(caps, "drop"),
    }
}

/// A pod's volumes, resolved.
struct ResolvedVolumes {
    volumes: Vec<VolumeSpec>,
    /// The error of each volume that could not be resolved, by volume name.
    errors: HashMap<String, ConfigError>,
    /// Volumes every mount of which is read-only: API data volumes (ConfigMap, Secret, downward
    /// API, projected), which the kubelet mounts read-only, and claims with `readOnly`.
    read_only: HashSet<String>,
}

/// The value of `key` in a ConfigMap's `data` (text) or a Secret's `data` (base64), as bytes;
/// `None` when the key is absent. A ConfigMap's `binaryData` is not included: environment
/// variables never read it.
fn data_value(
    obj: &Value,
    kind: RefKind,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, ConfigError> {
    let Some(value) = obj.get("data").and_then(|d| d.get(key)) else {
        return Ok(None);
    };
    let text = value.as_str().unwrap_or_default();
    match kind {
        RefKind::Secret => decode_base64(text, "Secret", namespace, name, key).map(Some),
        _ => Ok(Some(text.as_bytes().to_vec())),
    }
}

fn decode_base64(
    text: &str,
    kind: &'static str,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Vec<u8>, ConfigError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ConfigError::Base64 {
            kind,
            key: key.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

fn bool_at(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    array(v, key)
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
#[path = "run_spec_test.rs"]
mod tests;

#[cfg(test)]
#[path = "run_spec/container_test.rs"]
mod container_tests;
