//! `rollout status|history|undo|restart|pause|resume`: kubectl's rollout verbs for
//! deployments, daemon sets and stateful sets.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{ArgAction, Args, Subcommand};
use futures::StreamExt;
use serde_json::{Value, json};

use super::get::{parse_resource_args, resolve_requests};
use super::{AlreadyReported, Session, report_and_continue};
use crate::client::{ListParams, PatchType, RequestError};
use crate::output;
use crate::resources::ResourceType;

/// The pod template annotation `rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Show the status of the rollout.
    Status(StatusArgs),
    /// View previous rollout revisions and configurations.
    History(HistoryArgs),
    /// Undo a previous rollout.
    Undo(UndoArgs),
    /// Restart a resource: its pods are replaced by a new rollout.
    Restart(TargetArgs),
    /// Mark the provided resource as paused.
    Pause(TargetArgs),
    /// Resume a paused resource.
    Resume(TargetArgs),
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// TYPE NAME or TYPE/NAME (a TYPE alone means every object of that type).
    #[arg(required = true)]
    pub resources: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// TYPE NAME or TYPE/NAME.
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// Watch the status of the rollout until it's done (`--watch=false` prints it once).
    #[arg(short = 'w', long, action = ArgAction::Set, default_value_t = true,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub watch: bool,
    /// Pin to a specific revision; fails if the rollout is at another one (0 = any).
    #[arg(long, default_value_t = 0)]
    pub revision: i64,
    /// How long to wait before giving up, e.g. 30s, 5m (0 = forever).
    #[arg(long, default_value = "0s")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// TYPE NAME or TYPE/NAME.
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// Show the pod template of this revision.
    #[arg(long, default_value_t = 0)]
    pub revision: i64,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// TYPE NAME or TYPE/NAME.
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// The revision to roll back to (0 = the previous one).
    #[arg(long, default_value_t = 0)]
    pub to_revision: i64,
}

/// The kinds with a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    DaemonSet,
    StatefulSet,
}

impl WorkloadKind {
    pub fn of(resource: &ResourceType) -> Option<WorkloadKind> {
        match (resource.group.as_str(), resource.kind.as_str()) {
            ("apps", "Deployment") => Some(WorkloadKind::Deployment),
            ("apps", "DaemonSet") => Some(WorkloadKind::DaemonSet),
            ("apps", "StatefulSet") => Some(WorkloadKind::StatefulSet),
            _ => None,
        }
    }
}

/// Go's `GroupKind.String()`: `Pod`, `ReplicaSet.apps`, as kubectl names a kind in errors.
pub fn group_kind(resource: &ResourceType) -> String {
    if resource.group.is_empty() {
        resource.kind.clone()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    }
}

/// What a status viewer says about one version of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStatus {
    pub message: String,
    pub done: bool,
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn waiting(message: String) -> Result<RolloutStatus> {
    Ok(RolloutStatus {
        message,
        done: false,
    })
}

fn finished(message: String) -> Result<RolloutStatus> {
    Ok(RolloutStatus {
        message,
        done: true,
    })
}

/// kubectl's status viewers (`polymorphichelpers/rollout_status.go`): the line to print,
/// whether the rollout is complete, or why waiting is pointless.
pub fn rollout_status(kind: WorkloadKind, object: &Value, revision: i64) -> Result<RolloutStatus> {
    match kind {
        WorkloadKind::Deployment => deployment_status(object, revision),
        WorkloadKind::DaemonSet => daemon_set_status(object),
        WorkloadKind::StatefulSet => stateful_set_status(object),
    }
}

fn deployment_status(d: &Value, revision: i64) -> Result<RolloutStatus> {
    let name = text(d, "/metadata/name");
    if revision > 0 {
        let current = crate::workloads::revision(d)
            .ok_or_else(|| anyhow!("cannot get the revision of deployment {name:?}"))?;
        if revision != current {
            bail!(
                "desired revision ({revision}) is different from the running revision ({current})"
            );
        }
    }
    if int(d, "/metadata/generation") > int(d, "/status/observedGeneration") {
        return waiting("Waiting for deployment spec update to be observed...".to_string());
    }
    let timed_out = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            text(c, "/type") == "Progressing" && text(c, "/reason") == "ProgressDeadlineExceeded"
        });
    if timed_out {
        bail!("deployment {name:?} exceeded its progress deadline");
    }
    let updated = int(d, "/status/updatedReplicas");
    let replicas = int(d, "/status/replicas");
    let available = int(d, "/status/availableReplicas");
    if let Some(desired) = d.pointer("/spec/replicas").and_then(Value::as_i64)
        && updated < desired
    {
        return waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {updated} out of {desired} new replicas have been updated..."
        ));
    }
    if replicas > updated {
        return waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    finished(format!("deployment {name:?} successfully rolled out"))
}

/// The strategy type, `RollingUpdate` when the server did not default it.
fn strategy_type(object: &Value) -> &str {
    match text(object, "/spec/updateStrategy/type") {
        "" => "RollingUpdate",
        other => other,
    }
}

fn daemon_set_status(ds: &Value) -> Result<RolloutStatus> {
    let name = text(ds, "/metadata/name");
    if strategy_type(ds) != "RollingUpdate" {
        bail!("rollout status is only available for RollingUpdate strategy type");
    }
    if int(ds, "/metadata/generation") > int(ds, "/status/observedGeneration") {
        return waiting("Waiting for daemon set spec update to be observed...".to_string());
    }
    let desired = int(ds, "/status/desiredNumberScheduled");
    let updated = int(ds, "/status/updatedNumberScheduled");
    let available = int(ds, "/status/numberAvailable");
    if updated < desired {
        return waiting(format!(
            "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
        ));
    }
    if available < desired {
        return waiting(format!(
            "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
        ));
    }
    finished(format!("daemon set {name:?} successfully rolled out"))
}

fn stateful_set_status(sts: &Value) -> Result<RolloutStatus> {
    if strategy_type(sts) != "RollingUpdate" {
        bail!("rollout status is only available for RollingUpdate strategy type");
    }
    let observed = int(sts, "/status/observedGeneration");
    if observed == 0 || int(sts, "/metadata/generation") > observed {
        return waiting("Waiting for statefulset spec update to be observed...".to_string());
    }
    let desired = sts.pointer("/spec/replicas").and_then(Value::as_i64);
    let ready = int(sts, "/status/readyReplicas");
    if let Some(desired) = desired
        && ready < desired
    {
        return waiting(format!(
            "Waiting for {} pods to be ready...",
            desired - ready
        ));
    }
    let updated = int(sts, "/status/updatedReplicas");
    if let Some(rolling) = sts.pointer("/spec/updateStrategy/rollingUpdate")
        && !rolling.is_null()
    {
        if let (Some(desired), Some(partition)) =
            (desired, rolling.get("partition").and_then(Value::as_i64))
            && updated < desired - partition
        {
            return waiting(format!(
                "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                desired - partition
            ));
        }
        return finished(format!(
            "partitioned roll out complete: {updated} new pods have been updated..."
        ));
    }
    let update_revision = text(sts, "/status/updateRevision");
    if update_revision != text(sts, "/status/currentRevision") {
        return waiting(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        ));
    }
    finished(format!(
        "statefulset rolling update complete {} pods at revision {}...",
        int(sts, "/status/currentReplicas"),
        text(sts, "/status/currentRevision")
    ))
}

/// `rollout restart`'s change: a strategic merge patch of the template annotation, `None` when
/// the annotation already has this value (a second restart within the same second).
pub fn restart_patch(
    kind: Option<WorkloadKind>,
    object: &Value,
    now: &str,
) -> Result<Option<Value>> {
    match kind {
        None => bail!("restarting is not supported"),
        Some(WorkloadKind::Deployment) if paused(object) => {
            bail!("can't restart paused deployment (run rollout resume first)")
        }
        Some(_) => {}
    }
    let pointer = format!(
        "/spec/template/metadata/annotations/{}",
        RESTARTED_AT_ANNOTATION
            .replace('~', "~0")
            .replace('/', "~1")
    );
    if text(object, &pointer) == now {
        return Ok(None);
    }
    Ok(Some(
        json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}}}),
    ))
}

fn paused(object: &Value) -> bool {
    object.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
}

/// `rollout pause` (`pause`) and `rollout resume`: the merge patch, or kubectl's reason why not.
pub fn pause_patch(kind: Option<WorkloadKind>, object: &Value, pause: bool) -> Result<Value> {
    match (kind, pause, paused(object)) {
        (Some(WorkloadKind::Deployment), true, true) => bail!("is already paused"),
        (Some(WorkloadKind::Deployment), false, false) => bail!("is not paused"),
        (Some(WorkloadKind::Deployment), pause, _) => Ok(json!({"spec": {"paused": pause}})),
        (_, true, _) => bail!("pausing is not supported"),
        (_, false, _) => bail!("resuming is not supported"),
    }
}

/// Now as Go's `time.RFC3339` in local time: `2025-01-02T15:04:05+01:00`, `Z` for UTC.
pub fn rfc3339_now() -> String {
    let now = jiff::Zoned::now();
    let text = now.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    match text.strip_suffix("+00:00") {
        Some(utc) => format!("{utc}Z"),
        None => text,
    }
}

/// kubectl's `--timeout`: `0` (or `0s`) is none; a bare number is seconds.
pub fn parse_timeout(text: &str) -> Result<Option<Duration>> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text)
            .with_context(|| format!("invalid argument {text:?} for \"--timeout\" flag"))?,
    };
    Ok((!duration.is_zero()).then_some(duration))
}

pub async fn run(session: &mut Session, command: RolloutCommand) -> Result<()> {
    match command {
        RolloutCommand::Status(args) => status(session, args).await,
        RolloutCommand::History(args) => super::rollout_history::history(session, args).await,
        RolloutCommand::Undo(args) => super::rollout_history::undo(session, args).await,
        RolloutCommand::Restart(args) => restart(session, args).await,
        RolloutCommand::Pause(args) => pause(session, args, true).await,
        RolloutCommand::Resume(args) => pause(session, args, false).await,
    }
}

/// The objects the arguments name: `TYPE NAME...`, `TYPE/NAME...`, or every object of a type.
pub async fn targets(
    session: &mut Session,
    resources: &[String],
) -> Result<Vec<(ResourceType, String)>> {
    let requests = parse_resource_args(resources)?;
    let mut targets = Vec::new();
    for (resource, names) in resolve_requests(session, &requests).await? {
        if names.is_empty() {
            let path = resource.path(Some(session.namespace()), None);
            let list = session
                .client
                .list(&path, &ListParams::default(), "application/json")
                .await?;
            for item in list
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                targets.push((resource.clone(), text(item, "/metadata/name").to_string()));
            }
        } else {
            targets.extend(names.into_iter().map(|name| (resource.clone(), name)));
        }
    }
    Ok(targets)
}

/// The object's kind among the workloads. For any other kind the object is fetched first, as
/// kubectl does, so that a missing object reports NotFound rather than the unsupported kind.
pub async fn workload_kind(
    session: &Session,
    resource: &ResourceType,
    name: &str,
    unsupported: impl FnOnce(&str) -> String,
) -> Result<WorkloadKind> {
    if let Some(kind) = WorkloadKind::of(resource) {
        return Ok(kind);
    }
    let path = resource.path(Some(session.namespace()), Some(name));
    session.client.get(&path).await?;
    Err(anyhow!(unsupported(&group_kind(resource))))
}

/// Prints each error on its own line as it happens and fails at the end, as kubectl's
/// aggregated errors do.
fn finish(failed: bool) -> Result<()> {
    if failed {
        Err(AlreadyReported.into())
    } else {
        Ok(())
    }
}

async fn status(session: &mut Session, args: StatusArgs) -> Result<()> {
    let timeout = parse_timeout(&args.timeout)?;
    let targets = targets(session, &args.resources).await?;
    let [(resource, name)] = targets.as_slice() else {
        bail!(
            "rollout status is only supported on individual resources and resource collections, but {} resources were found",
            targets.len()
        );
    };
    let kind = workload_kind(session, resource, name, |kind| {
        format!("no status viewer has been implemented for {kind}")
    })
    .await?;
    let wait = watch_status(session, resource, name, kind, &args);
    match timeout {
        None => wait.await,
        Some(limit) => tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| anyhow!("timed out waiting for the condition"))?,
    }
}

/// Prints the status of each new version of the object until the rollout is done (or once
/// without `--watch`). Consecutive identical lines are printed once.
async fn watch_status(
    session: &Session,
    resource: &ResourceType,
    name: &str,
    kind: WorkloadKind,
    args: &StatusArgs,
) -> Result<()> {
    let namespace = session.namespace();
    let object_path = resource.path(Some(namespace), Some(name));
    let list_path = resource.path(Some(namespace), None);
    let mut last_line = String::new();
    let mut show = |object: &Value| -> Result<bool> {
        let status = rollout_status(kind, object, args.revision)?;
        if status.message != last_line {
            output::println(&status.message)?;
            last_line = status.message;
        }
        Ok(status.done || !args.watch)
    };
    let mut object = session.client.get(&object_path).await?;
    if show(&object)? {
        return Ok(());
    }
    let mut version = text(&object, "/metadata/resourceVersion").to_string();
    loop {
        let params = ListParams {
            field_selector: Some(format!("metadata.name={name}")),
            resource_version: Some(version.clone()),
            ..ListParams::default()
        };
        let mut stream = match session
            .client
            .watch(&list_path, &params, "application/json")
            .await
        {
            Ok(stream) => Box::pin(stream),
            Err(RequestError::Transport(_)) => {
                // The server may be restarting; the rollout goes on, so keep waiting.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let mut relist = false;
        while let Some(event) = stream.next().await {
            let Ok(event) = event else { break };
            match event.kind.as_str() {
                "ADDED" | "MODIFIED" => {
                    object = event.object;
                    if show(&object)? {
                        return Ok(());
                    }
                    version = text(&object, "/metadata/resourceVersion").to_string();
                }
                "DELETED" => bail!("object has been deleted"),
                "BOOKMARK" => {
                    let rv = text(&event.object, "/metadata/resourceVersion");
                    if !rv.is_empty() {
                        version = rv.to_string();
                    }
                }
                _ => {
                    let code = event.object.get("code").and_then(Value::as_u64);
                    if code != Some(410) && text(&event.object, "/reason") != "Expired" {
                        bail!("{}", text(&event.object, "/message"));
                    }
                    relist = true;
                    break;
                }
            }
        }
        if relist {
            object = session.client.get(&object_path).await?;
            if show(&object)? {
                return Ok(());
            }
            version = text(&object, "/metadata/resourceVersion").to_string();
        }
    }
}

async fn restart(session: &mut Session, args: TargetArgs) -> Result<()> {
    let mut failed = false;
    for (resource, name) in targets(session, &args.resources).await? {
        let path = resource.path(Some(session.namespace()), Some(&name));
        let outcome = async {
            let object = session.client.get(&path).await?;
            let patch = restart_patch(WorkloadKind::of(&resource), &object, &rfc3339_now())
                .map_err(|e| anyhow!("{} {name:?} {e}", resource.qualified_plural()))?;
            let Some(patch) = patch else {
                bail!(
                    "failed to create patch for {name}: if restart has already been triggered within the past second, please wait before attempting to trigger another"
                );
            };
            session
                .client
                .patch(&path, PatchType::Strategic, &patch, false)
                .await?;
            output::println(&format!("{} restarted", resource.object_ref(&name)))
        }
        .await;
        if let Err(err) = outcome {
            report_and_continue(&err);
            failed = true;
        }
    }
    finish(failed)
}

async fn pause(session: &mut Session, args: TargetArgs, pause: bool) -> Result<()> {
    let mut failed = false;
    let verb = if pause { "paused" } else { "resumed" };
    for (resource, name) in targets(session, &args.resources).await? {
        let path = resource.path(Some(session.namespace()), Some(&name));
        let outcome = async {
            let object = session.client.get(&path).await?;
            let patch = pause_patch(WorkloadKind::of(&resource), &object, pause)
                .map_err(|e| anyhow!("{} {name:?} {e}", resource.qualified_plural()))?;
            session
                .client
                .patch(&path, PatchType::Merge, &patch, false)
                .await?;
            output::println(&format!("{} {verb}", resource.object_ref(&name)))
        }
        .await;
        if let Err(err) = outcome {
            report_and_continue(&err);
            failed = true;
        }
    }
    finish(failed)
}

#[cfg(test)]
#[path = "rollout_test.rs"]
mod tests;
