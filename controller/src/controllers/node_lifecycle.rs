//! Node lifecycle: a node whose agent stopped renewing its lease for longer than the grace
//! period gets `Ready=Unknown` (and its other conditions too) and the
//! `node.kubernetes.io/unreachable` taints; a node that is Ready again loses those taints.
//!
//! The plan is a pure function of the nodes, their leases and the time; the runner writes it
//! through the API. It runs on every controller pass and on the periodic resync, since a lease
//! expiring is not an event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use edge_api::resource::ResourceInfo;
use serde_json::{Value, json};

use super::{Snapshot, str_at};
use crate::apiserver::Api;
use crate::apiserver::api_write::{Part, WriteOptions};
use crate::apiserver::error::ApiError;
use crate::auth::NODE_LEASE_NAMESPACE;

/// The taint key of a node whose agent went silent.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// What to do to one node.
#[derive(Debug, PartialEq)]
pub enum NodeAction {
    /// Mark every condition Unknown and add the unreachable taints.
    MarkUnreachable { node: String },
    /// Remove the unreachable taints from a node that is Ready again.
    ClearUnreachable { node: String },
}

/// Pure core: the actions for `objects` at `now`.
pub fn plan(
    objects: &[(&'static ResourceInfo, Arc<Value>)],
    now: jiff::Timestamp,
    grace: Duration,
) -> Vec<NodeAction> {
    let mut renewals: HashMap<&str, jiff::Timestamp> = HashMap::new();
    for (info, object) in objects {
        if info.plural == "leases"
            && info.group == "coordination.k8s.io"
            && str_at(object, "/metadata/namespace") == NODE_LEASE_NAMESPACE
            && let Ok(at) = str_at(object, "/spec/renewTime").parse::<jiff::Timestamp>()
        {
            renewals.insert(str_at(object, "/metadata/name"), at);
        }
    }
    let mut actions = Vec::new();
    for (info, node) in objects {
        if info.plural != "nodes" || !info.group.is_empty() {
            continue;
        }
        let name = str_at(node, "/metadata/name");
        let ready = ready_status(node);
        let tainted = has_unreachable_taint(node);
        // Without a lease, the Ready condition's heartbeat tells when the agent was last heard.
        let last_heard = renewals.get(name).copied().or_else(|| {
            condition(node, "Ready")
                .map(|c| str_at(c, "/lastHeartbeatTime"))
                .and_then(|t| t.parse().ok())
        });
        let silent = match last_heard {
            Some(at) => {
                now.duration_since(at) > jiff::SignedDuration::try_from(grace).unwrap_or_default()
            }
            // A node nobody ever heard from (created by hand) is left alone.
            None => false,
        };
        if silent && (ready != "Unknown" || !tainted) {
            actions.push(NodeAction::MarkUnreachable {
                node: name.to_owned(),
            });
        } else if !silent && ready == "True" && tainted {
            actions.push(NodeAction::ClearUnreachable {
                node: name.to_owned(),
            });
        }
    }
    actions
}

fn condition<'a>(node: &'a Value, kind: &str) -> Option<&'a Value> {
    node.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn ready_status(node: &Value) -> &str {
    condition(node, "Ready")
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
}

fn has_unreachable_taint(node: &Value) -> bool {
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .is_some_and(|taints| {
            taints
                .iter()
                .any(|t| t.get("key").and_then(Value::as_str) == Some(TAINT_UNREACHABLE))
        })
}

/// The node with every condition Unknown (as the node lifecycle controller of Kubernetes sets
/// them); transition times change only for conditions that were not Unknown already.
pub fn mark_conditions_unknown(node: &Value, now: &str) -> Value {
    let mut node = node.clone();
    if let Some(conditions) = node
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conditions.iter_mut() {
            if c.get("status").and_then(Value::as_str) != Some("Unknown") {
                c["status"] = json!("Unknown");
                c["lastTransitionTime"] = json!(now);
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!("Edge agent stopped posting node status.");
            }
        }
    }
    node
}

/// The node's taints with the unreachable ones added (`add`) or removed.
pub fn with_unreachable_taints(node: &Value, add: bool, now: &str) -> Value {
    let mut node = node.clone();
    let mut taints: Vec<Value> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.get("key").and_then(Value::as_str) != Some(TAINT_UNREACHABLE))
        .collect();
    if add {
        taints.push(json!({"key": TAINT_UNREACHABLE, "effect": "NoSchedule"}));
        taints.push(json!({"key": TAINT_UNREACHABLE, "effect": "NoExecute", "timeAdded": now}));
    }
    if node.get("spec").is_none() {
        node["spec"] = json!({});
    }
    if taints.is_empty() {
        if let Some(spec) = node["spec"].as_object_mut() {
            spec.remove("taints");
        }
    } else {
        node["spec"]["taints"] = Value::Array(taints);
    }
    node
}

/// Runs the plan for `snapshot`.
pub async fn reconcile(api: &Api, snapshot: &Snapshot, grace: Duration) -> Result<(), ApiError> {
    let now = jiff::Timestamp::now();
    let actions = plan(&snapshot.objects, now, grace);
    if actions.is_empty() {
        return Ok(());
    }
    let nodes = edge_api::resource::lookup("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("nodes are not registered"))?;
    let stamp = crate::apiserver::api::now_rfc3339();
    for action in actions {
        let (name, unreachable) = match &action {
            NodeAction::MarkUnreachable { node } => (node.as_str(), true),
            NodeAction::ClearUnreachable { node } => (node.as_str(), false),
        };
        if unreachable {
            tracing::info!(
                node = name,
                "node stopped reporting: marking it unreachable"
            );
            let current = api.current(nodes, None, name).await?;
            let mut object = mark_conditions_unknown(&current.object, &stamp);
            object["metadata"]["resourceVersion"] = json!(current.revision.to_string());
            api.update(
                nodes,
                None,
                name,
                object,
                Part::Status,
                WriteOptions::default(),
            )
            .await?;
        }
        let current = api.current(nodes, None, name).await?;
        let mut object = with_unreachable_taints(&current.object, unreachable, &stamp);
        if object != current.object {
            object["metadata"]["resourceVersion"] = json!(current.revision.to_string());
            api.update(
                nodes,
                None,
                name,
                object,
                Part::Main,
                WriteOptions::default(),
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ready: &str, heartbeat: &str, taints: Value) -> Value {
        json!({
            "metadata": {"name": name},
            "spec": {"taints": taints},
            "status": {"conditions": [
                {"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat,
                 "lastTransitionTime": heartbeat}
            ]}
        })
    }

    fn lease(name: &str, renewed: &str) -> Value {
        json!({
            "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE},
            "spec": {"renewTime": renewed}
        })
    }

    fn objects(values: Vec<(&str, &str, Value)>) -> Vec<(&'static ResourceInfo, Arc<Value>)> {
        values
            .into_iter()
            .map(|(group, plural, v)| {
                (
                    edge_api::resource::lookup(group, "v1", plural).expect("registered resource"),
                    Arc::new(v),
                )
            })
            .collect()
    }

    /// A case: name, objects as (group, plural, object), the wanted actions.
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str, Value)>,
        Vec<NodeAction>,
    );

    #[test]
    fn plans_follow_lease_age() {
        let now: jiff::Timestamp = "2026-12-02T10:00:00Z".parse().expect("timestamp");
        let grace = Duration::from_secs(40);
        let unreachable = json!([{"key": TAINT_UNREACHABLE, "effect": "NoExecute"}]);
        let cases: Vec<Case> = vec![
            (
                "fresh lease",
                vec![
                    (
                        "",
                        "nodes",
                        node("a", "True", "2026-12-02T09:00:00Z", json!([])),
                    ),
                    (
                        "coordination.k8s.io",
                        "leases",
                        lease("a", "2026-12-02T09:59:50Z"),
                    ),
                ],
                vec![],
            ),
            (
                "stale lease",
                vec![
                    (
                        "",
                        "nodes",
                        node("a", "True", "2026-12-02T09:59:50Z", json!([])),
                    ),
                    (
                        "coordination.k8s.io",
                        "leases",
                        lease("a", "2026-12-02T09:59:00Z"),
                    ),
                ],
                vec![NodeAction::MarkUnreachable { node: "a".into() }],
            ),
            (
                "already marked",
                vec![
                    (
                        "",
                        "nodes",
                        node("a", "Unknown", "2026-12-02T09:00:00Z", unreachable.clone()),
                    ),
                    (
                        "coordination.k8s.io",
                        "leases",
                        lease("a", "2026-12-02T09:00:00Z"),
                    ),
                ],
                vec![],
            ),
            (
                "back again",
                vec![
                    (
                        "",
                        "nodes",
                        node("a", "True", "2026-12-02T09:59:59Z", unreachable),
                    ),
                    (
                        "coordination.k8s.io",
                        "leases",
                        lease("a", "2026-12-02T09:59:59Z"),
                    ),
                ],
                vec![NodeAction::ClearUnreachable { node: "a".into() }],
            ),
            (
                "no lease, stale heartbeat",
                vec![(
                    "",
                    "nodes",
                    node("b", "True", "2026-12-02T09:00:00Z", json!([])),
                )],
                vec![NodeAction::MarkUnreachable { node: "b".into() }],
            ),
            (
                "never heard of",
                vec![("", "nodes", json!({"metadata": {"name": "c"}}))],
                vec![],
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(plan(&objects(input), now, grace), want, "{name}");
        }
    }

    #[test]
    fn conditions_and_taints_change_as_kubernetes_does() {
        let n = node(
            "a",
            "True",
            "t0",
            json!([{"key": "dedicated", "effect": "NoSchedule"}]),
        );
        let marked = mark_conditions_unknown(&n, "t1");
        assert_eq!(
            marked.pointer("/status/conditions/0/status"),
            Some(&json!("Unknown"))
        );
        assert_eq!(
            marked.pointer("/status/conditions/0/lastTransitionTime"),
            Some(&json!("t1"))
        );
        let tainted = with_unreachable_taints(&n, true, "t1");
        assert_eq!(
            tainted
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(3)
        );
        let cleared = with_unreachable_taints(&tainted, false, "t2");
        assert_eq!(
            cleared.pointer("/spec/taints"),
            Some(&json!([{"key": "dedicated", "effect": "NoSchedule"}]))
        );
    }
}
