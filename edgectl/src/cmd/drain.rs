//! `cordon`, `uncordon` and `drain`: mark nodes (un)schedulable and move their pods away, as kubectl does.
//!
//! The decisions are the pure functions of `drain_plan`; this module does the requests and prints
//! kubectl's lines.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::drain_plan::{
    DaemonSetLookup, DrainPlan, Failure, PodFilters, PodKey, daemonsets_to_check,
    eviction_api_version, final_report, go_duration, pod_ref, split_gone, str_at,
};
use super::{AlreadyReported, Session};
use crate::cli::DryRun;
use crate::client::{ListParams, PatchType, RequestError};
use crate::output;

/// How often a drain looks whether the pods it removed are gone.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long to wait before asking again when an eviction is refused with 429 (a disruption budget).
const EVICTION_RETRY: Duration = Duration::from_secs(5);
/// At most this many evictions in flight at once.
const EVICTION_CONCURRENCY: usize = 32;

#[derive(Debug, Args)]
pub struct CordonArgs {
    /// The node(s) to mark.
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Only print what would change: `client` sends nothing, `server` asks the server to dry-run.
    #[arg(long, value_enum, default_value_t = DryRun::None, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The node(s) to drain.
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Continue even if there are pods that do not declare a controller.
    #[arg(long)]
    pub force: bool,
    /// Ignore DaemonSet-managed pods.
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).
    #[arg(long, alias = "delete-local-data")]
    pub delete_emptydir_data: bool,
    /// Seconds given to each pod to terminate gracefully; negative means the pod's own.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// How long to wait before giving up, e.g. 30s or 5m; zero means infinite.
    #[arg(long, default_value = "0s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Delete pods even if the server supports eviction; this bypasses disruption budgets.
    #[arg(long)]
    pub disable_eviction: bool,
    /// Only print what would change: `client` sends nothing, `server` asks the server to dry-run.
    #[arg(long, value_enum, default_value_t = DryRun::None, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
}

/// `--timeout`: a duration such as `90s` or `5m`, or a bare number of seconds.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|_| format!("time: invalid duration {text:?}"))
}

// ---------------------------------------------------------------------------------------------
// The runner

/// An error's own message, without kubectl's `Error from server` framing (Go's `err.Error()`).
fn plain(err: &RequestError) -> String {
    match err {
        RequestError::Api(api) => api.message().to_string(),
        RequestError::Transport(_) => err.to_string(),
    }
}

async fn fetch_nodes(session: &Session, names: &[String]) -> Result<Vec<Value>> {
    let mut nodes = Vec::new();
    for name in names {
        nodes.push(session.client.get(&format!("/api/v1/nodes/{name}")).await?);
    }
    Ok(nodes)
}

/// Sets `spec.unschedulable` on each node that differs; returns whether every node succeeded.
async fn cordon_nodes(
    session: &Session,
    nodes: &[Value],
    desired: bool,
    dry_run: DryRun,
) -> Result<bool> {
    let (verb, already) = if desired {
        ("cordon", "already cordoned")
    } else {
        ("uncordon", "already uncordoned")
    };
    let mut all_ok = true;
    for node in nodes {
        let name = str_at(node, "/metadata/name");
        let current = node
            .pointer("/spec/unschedulable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if current == desired {
            output::println(&format!("node/{name} {already}{}", dry_run.suffix()))?;
            continue;
        }
        if dry_run != DryRun::Client {
            // Unschedulable false is the field's absence, as kubectl's patch leaves it.
            let patch =
                json!({"spec": {"unschedulable": if desired { json!(true) } else { Value::Null }}});
            let path = format!("/api/v1/nodes/{name}");
            let patched = session
                .client
                .patch(&path, PatchType::Merge, &patch, dry_run == DryRun::Server)
                .await;
            if let Err(err) = patched {
                eprintln!("error: unable to {verb} node {name:?}: {}", plain(&err));
                all_ok = false;
                continue;
            }
        }
        output::println(&format!("node/{name} {verb}ed{}", dry_run.suffix()))?;
    }
    Ok(all_ok)
}

/// `cordon` (`desired`) and `uncordon`.
pub async fn cordon(session: &mut Session, args: CordonArgs, desired: bool) -> Result<()> {
    let nodes = fetch_nodes(session, &args.nodes).await?;
    if cordon_nodes(session, &nodes, desired, args.dry_run).await? {
        Ok(())
    } else {
        Err(AlreadyReported.into())
    }
}

/// `drain`: cordon, then remove each node's pods and wait for them to be gone.
pub async fn drain(session: &mut Session, args: DrainArgs) -> Result<()> {
    let nodes = fetch_nodes(session, &args.nodes).await?;
    let cordoned = cordon_nodes(session, &nodes, true, args.dry_run).await?;
    let mut eviction: Option<Option<String>> = None;
    let mut failures = Vec::new();
    let mut pending = Vec::new();
    for node in &nodes {
        let name = str_at(node, "/metadata/name");
        match drain_node(session, &args, name, &mut eviction).await {
            Ok(()) => output::println(&format!("node/{name} drained{}", args.dry_run.suffix()))?,
            Err(failure) => {
                eprintln!(
                    "error: unable to drain node {name:?} due to error: {failure}, continuing command..."
                );
                failures.push(failure);
                pending.push(name.to_string());
            }
        }
    }
    if !pending.is_empty() {
        eprintln!("There are pending nodes to be drained:");
        for name in &pending {
            eprintln!(" {name}");
        }
    }
    for line in final_report(&failures) {
        eprintln!("{line}");
    }
    if failures.is_empty() && cordoned {
        Ok(())
    } else {
        Err(AlreadyReported.into())
    }
}

async fn list_node_pods(session: &Session, node: &str) -> Result<Vec<Value>, RequestError> {
    let params = ListParams {
        field_selector: Some(format!("spec.nodeName={node}")),
        ..ListParams::default()
    };
    let list = session
        .client
        .list("/api/v1/pods", &params, "application/json")
        .await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Lists the node's pods and decides, asking the server about the DaemonSets they name.
async fn plan_node(
    session: &Session,
    node: &str,
    filters: PodFilters,
) -> Result<DrainPlan, Failure> {
    let pods = list_node_pods(session, node)
        .await
        .map_err(|err| Failure::aggregate(vec![plain(&err)]))?;
    let mut daemonsets = BTreeMap::new();
    for (namespace, name) in daemonsets_to_check(&pods) {
        let path = format!("/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}");
        let lookup = match session.client.get(&path).await {
            Ok(_) => DaemonSetLookup::Exists,
            Err(err) if err.is_not_found() => DaemonSetLookup::NotFound(plain(&err)),
            Err(err) => DaemonSetLookup::Failed(plain(&err)),
        };
        daemonsets.insert((namespace, name), lookup);
    }
    let lookup = |namespace: &str, name: &str| {
        daemonsets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_else(|| DaemonSetLookup::Failed(String::new()))
    };
    Ok(DrainPlan::new(pods, filters, &lookup))
}

async fn drain_node(
    session: &Session,
    args: &DrainArgs,
    node: &str,
    eviction: &mut Option<Option<String>>,
) -> Result<(), Failure> {
    let filters = PodFilters {
        force: args.force,
        ignore_daemonsets: args.ignore_daemonsets,
        delete_emptydir_data: args.delete_emptydir_data,
    };
    let plan = plan_node(session, node, filters).await?;
    let errors = plan.errors();
    if !errors.is_empty() {
        return Err(Failure::aggregate(errors));
    }
    if let Some(warnings) = plan.warnings() {
        eprintln!("Warning: {warnings}");
    }
    let pods: Vec<Value> = plan.pods().into_iter().cloned().collect();
    if args.dry_run == DryRun::Client {
        for pod in &pods {
            print_line(&format!("evicting pod {} (dry run)", pod_ref(pod)));
        }
        return Ok(());
    }
    let Err(failure) = delete_or_evict(session, args, node, &pods, eviction).await else {
        return Ok(());
    };
    match plan_node(session, node, filters).await {
        Ok(pending) => {
            let pending = pending.pods();
            if !pending.is_empty() {
                eprintln!(
                    "There are pending pods in node {node:?} when an error occurred: {failure}"
                );
                for pod in pending {
                    eprintln!("pod/{}", str_at(pod, "/metadata/name"));
                }
            }
        }
        Err(list_failure) => eprintln!(
            "Following errors occurred while getting the list of pods to delete:\n{list_failure}"
        ),
    }
    Err(failure)
}

/// Prints a progress line; a closed stdout must not stop a drain half way.
fn print_line(line: &str) {
    let _ = output::println(line);
}

async fn delete_or_evict(
    session: &Session,
    args: &DrainArgs,
    node: &str,
    pods: &[Value],
    eviction: &mut Option<Option<String>>,
) -> Result<(), Failure> {
    if pods.is_empty() {
        return Ok(());
    }
    let deadline = (!args.timeout.is_zero()).then(|| Instant::now() + args.timeout);
    if args.disable_eviction {
        return delete_pods(session, args, node, pods, deadline).await;
    }
    if eviction.is_none() {
        let resources = session
            .client
            .get("/api/v1")
            .await
            .map_err(|err| Failure::single(plain(&err)))?;
        *eviction = Some(eviction_api_version(&resources));
    }
    match eviction.clone().flatten() {
        Some(api_version) => evict_pods(session, args, node, pods, &api_version, deadline).await,
        None => delete_pods(session, args, node, pods, deadline).await,
    }
}

fn delete_options(args: &DrainArgs) -> Value {
    let mut options = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
    if args.grace_period >= 0 {
        options["gracePeriodSeconds"] = json!(args.grace_period);
    }
    if args.dry_run == DryRun::Server {
        options["dryRun"] = json!(["All"]);
    }
    options
}

fn pod_path(key: &PodKey) -> String {
    format!("/api/v1/namespaces/{}/pods/{}", key.namespace, key.name)
}

async fn delete_pods(
    session: &Session,
    args: &DrainArgs,
    node: &str,
    pods: &[Value],
    deadline: Option<Instant>,
) -> Result<(), Failure> {
    let options = delete_options(args);
    let keys: Vec<PodKey> = pods.iter().map(PodKey::of).collect();
    for key in &keys {
        match session.client.delete(&pod_path(key), &options).await {
            Ok(_) => {}
            Err(err) if err.is_not_found() => {}
            Err(err) => return Err(Failure::single(plain(&err))),
        }
    }
    if args.dry_run == DryRun::Server {
        for key in &keys {
            print_line(&format!("pod/{} deleted (server dry run)", key.name));
        }
        return Ok(());
    }
    match wait_for_gone(session, node, keys, deadline, "deleted").await {
        Ok(()) => Ok(()),
        Err(WaitError::Request(message)) => Err(Failure::single(message)),
        Err(WaitError::Timeout(_)) => Err(Failure::single(
            "timed out waiting for the condition".to_string(),
        )),
    }
}

async fn evict_pods(
    session: &Session,
    args: &DrainArgs,
    node: &str,
    pods: &[Value],
    api_version: &str,
    deadline: Option<Instant>,
) -> Result<(), Failure> {
    let outcomes: Vec<Result<Option<PodKey>, String>> = futures::stream::iter(pods)
        .map(|pod| evict_pod(session, args, pod, api_version, deadline))
        .buffer_unordered(EVICTION_CONCURRENCY)
        .collect()
        .await;
    let mut errors = Vec::new();
    let mut awaited = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(Some(key)) => awaited.push(key),
            Ok(None) => {}
            Err(message) => errors.push(message),
        }
    }
    match wait_for_gone(session, node, awaited, deadline, "evicted").await {
        Ok(()) => {}
        Err(WaitError::Request(message)) => errors.push(message),
        Err(WaitError::Timeout(pending)) => {
            errors.extend(pending.iter().map(|key| {
                format!(
                    "error when waiting for pod {:?} in namespace {:?} to terminate: global timeout reached: {}",
                    key.name,
                    key.namespace,
                    go_duration(args.timeout)
                )
            }))
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::aggregate(errors))
    }
}

/// Posts one Eviction, retrying while a disruption budget refuses it. `Some(key)` when the pod
/// is to be awaited, `None` when it is already gone or this was a server dry run.
async fn evict_pod(
    session: &Session,
    args: &DrainArgs,
    pod: &Value,
    api_version: &str,
    deadline: Option<Instant>,
) -> Result<Option<PodKey>, String> {
    let key = PodKey::of(pod);
    let eviction = json!({
        "apiVersion": api_version,
        "kind": "Eviction",
        "metadata": {"name": key.name, "namespace": key.namespace},
        "deleteOptions": delete_options(args),
    });
    let path = format!("{}/eviction", pod_path(&key));
    let which = format!("pods/{:?} -n {:?}", key.name, key.namespace);
    loop {
        let suffix = if args.dry_run == DryRun::Server {
            " (server dry run)"
        } else {
            ""
        };
        print_line(&format!(
            "evicting pod {}/{}{suffix}",
            key.namespace, key.name
        ));
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(format!(
                "error when evicting {which}: global timeout reached: {}",
                go_duration(args.timeout)
            ));
        }
        match session.client.create(&path, &eviction, false).await {
            Ok(_) => break,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(RequestError::Api(api)) if api.code() == 429 => {
                eprintln!(
                    "error when evicting {which} (will retry after 5s): {}",
                    api.message()
                );
                tokio::time::sleep(EVICTION_RETRY).await;
            }
            Err(err) => return Err(format!("error when evicting {which}: {}", plain(&err))),
        }
    }
    Ok((args.dry_run != DryRun::Server).then_some(key))
}

enum WaitError {
    Request(String),
    /// The pods still there when the deadline passed.
    Timeout(Vec<PodKey>),
}

/// Polls the node's pods until every awaited one is gone, printing `pod/NAME VERB` for each.
async fn wait_for_gone(
    session: &Session,
    node: &str,
    mut awaited: Vec<PodKey>,
    deadline: Option<Instant>,
    verb: &str,
) -> Result<(), WaitError> {
    while !awaited.is_empty() {
        let current = list_node_pods(session, node)
            .await
            .map_err(|err| WaitError::Request(plain(&err)))?;
        let (gone, pending) = split_gone(awaited, &current);
        for key in gone {
            print_line(&format!("pod/{} {verb}", key.name));
        }
        if pending.is_empty() {
            break;
        }
        let pause = match deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(WaitError::Timeout(pending));
                }
                POLL_INTERVAL.min(deadline - now)
            }
            None => POLL_INTERVAL,
        };
        awaited = pending;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

#[cfg(test)]
#[path = "drain_test.rs"]
mod tests;
