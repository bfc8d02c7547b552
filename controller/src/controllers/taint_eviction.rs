//! Taint-based eviction (Kubernetes' taint-eviction-controller): pods bound to a node with
//! `NoExecute` taints are deleted once they have tolerated them for as long as they may.
//!
//! A pod with a matching toleration stays for its `tolerationSeconds` (forever without one). A
//! pod without one is evicted at once, except from the `not-ready` and `unreachable` taints:
//! Kubernetes gives every pod tolerations of those for 300 s at admission
//! (DefaultTolerationSeconds); Edgeplane applies the same default here, set by
//! `--pod-eviction-timeout`, so that the value can be changed for a running cluster. DaemonSet
//! pods tolerate both without a limit, so they stay. The owners of evicted pods replace them
//! elsewhere.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::events::EventType;
use super::workload::{is_deleting, key_of, of_kind, pod_phase, resource};
use super::{Context, Snapshot, str_at};
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::error::ApiError;
use crate::scheduler::core::{Taint, TaintEffect, Toleration};

const COMPONENT: &str = "taint-eviction-controller";
const DEFAULTED_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// A pod to evict, and the taint it could not tolerate any longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eviction {
    pub namespace: String,
    pub name: String,
    pub taint: String,
}

/// Pure core: the pods to evict at `now`.
pub fn plan(
    snapshot: &Snapshot,
    now: jiff::Timestamp,
    default_toleration: Duration,
) -> Vec<Eviction> {
    // Node → its NoExecute taints with the time each was added.
    let mut tainted: HashMap<&str, Vec<(Taint, Option<jiff::Timestamp>)>> = HashMap::new();
    for node in of_kind(snapshot, "", "nodes") {
        let taints: Vec<(Taint, Option<jiff::Timestamp>)> = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|t| str_at(t, "/effect") == "NoExecute")
            .map(|t| {
                let taint = Taint {
                    key: str_at(t, "/key").to_owned(),
                    value: str_at(t, "/value").to_owned(),
                    effect: TaintEffect::NoExecute,
                };
                (taint, str_at(t, "/timeAdded").parse().ok())
            })
            .collect();
        if !taints.is_empty() {
            tainted.insert(str_at(node, "/metadata/name"), taints);
        }
    }
    if tainted.is_empty() {
        return Vec::new();
    }
    let mut evictions = Vec::new();
    for pod in of_kind(snapshot, "", "pods") {
        let Some(taints) = tainted.get(str_at(pod, "/spec/nodeName")) else {
            continue;
        };
        if is_deleting(pod) || matches!(pod_phase(pod), "Succeeded" | "Failed") {
            continue;
        }
        let tolerations = tolerations_of(pod);
        for (taint, added) in taints {
            let allowed = match tolerations.iter().find(|(t, _)| t.tolerates(taint)) {
                Some((_, Some(seconds))) => Some(Duration::from_secs((*seconds).max(0) as u64)),
                Some((_, None)) => continue,
                None if DEFAULTED_TAINTS.contains(&taint.key.as_str()) => Some(default_toleration),
                None => Some(Duration::ZERO),
            };
            let Some(allowed) = allowed else { continue };
            let since = added.unwrap_or(now);
            let waited = now.duration_since(since);
            if waited >= jiff::SignedDuration::try_from(allowed).unwrap_or_default() {
                let (namespace, name) = key_of(pod);
                evictions.push(Eviction {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    taint: taint.key.clone(),
                });
                break;
            }
        }
    }
    evictions
}

/// The pod's tolerations that can match NoExecute taints, with their `tolerationSeconds`.
fn tolerations_of(pod: &Value) -> Vec<(Toleration, Option<i64>)> {
    pod.pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| matches!(str_at(t, "/effect"), "" | "NoExecute"))
        .map(|t| {
            let toleration = Toleration {
                key: str_at(t, "/key").to_owned(),
                exists: str_at(t, "/operator") == "Exists",
                value: str_at(t, "/value").to_owned(),
                effect: None,
            };
            (
                toleration,
                t.get("tolerationSeconds").and_then(Value::as_i64),
            )
        })
        .collect()
}

/// Deletes the pods whose time on a NoExecute-tainted node ran out.
pub async fn reconcile(ctx: &Context, snapshot: &Snapshot) -> Result<(), ApiError> {
    let evictions = plan(
        snapshot,
        jiff::Timestamp::now(),
        ctx.options.pod_eviction_timeout,
    );
    let pods = resource("", "v1", "pods");
    for eviction in evictions {
        tracing::info!(pod = %eviction.name, namespace = %eviction.namespace, taint = %eviction.taint, "evicting pod from a NoExecute-tainted node");
        match ctx
            .api
            .delete(
                pods,
                Some(&eviction.namespace),
                &eviction.name,
                &DeleteOptions::default(),
            )
            .await
        {
            Ok(deleted) => {
                let pod = deleted.into_object();
                let message = format!(
                    "Marking for deletion Pod {}/{}",
                    eviction.namespace, eviction.name
                );
                ctx.events
                    .record(
                        COMPONENT,
                        &pod,
                        EventType::Normal,
                        "TaintManagerEviction",
                        &message,
                    )
                    .await;
            }
            Err(err) if err.code() == 404 => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    const ADDED: &str = "2026-06-01T12:00:00Z";

    fn snapshot(tolerations: Value, taint_key: &str) -> Snapshot {
        let node = json!({"metadata": {"name": "n1"}, "spec": {"taints": [
            {"key": taint_key, "effect": "NoExecute", "timeAdded": ADDED},
            {"key": taint_key, "effect": "NoSchedule"}]}});
        let pod = json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"nodeName": "n1", "tolerations": tolerations}, "status": {"phase": "Running"}});
        Snapshot {
            objects: vec![
                (resource("", "v1", "nodes"), Arc::new(node)),
                (resource("", "v1", "pods"), Arc::new(pod)),
            ],
        }
    }

    #[test]
    fn pods_leave_when_their_toleration_runs_out() {
        let unreachable = "node.kubernetes.io/unreachable";
        let at = |secs: i64| {
            ADDED.parse::<jiff::Timestamp>().expect("time") + jiff::SignedDuration::from_secs(secs)
        };
        let default = Duration::from_secs(300);
        let cases = [
            (
                "no toleration: the default 300 s",
                json!([]),
                unreachable,
                299,
                false,
            ),
            (
                "no toleration: the default 300 s",
                json!([]),
                unreachable,
                300,
                true,
            ),
            (
                "own seconds",
                json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]),
                unreachable,
                10,
                true,
            ),
            (
                "forever (DaemonSet pods)",
                json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute"}]),
                unreachable,
                100_000,
                false,
            ),
            (
                "another NoExecute taint: at once",
                json!([]),
                "dedicated",
                0,
                true,
            ),
            (
                "tolerating everything",
                json!([{"operator": "Exists"}]),
                "dedicated",
                100_000,
                false,
            ),
        ];
        for (what, tolerations, key, secs, evicted) in cases {
            let got = plan(&snapshot(tolerations, key), at(secs), default);
            assert_eq!(!got.is_empty(), evicted, "{what} at +{secs}s");
        }
    }
}
