//! `rollout history` and `rollout undo`: a deployment's revisions are its ReplicaSets, a daemon
//! set's and a stateful set's are its ControllerRevisions.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value, json};

use edge_api::meta::revision_template;

use super::Session;
use super::rollout::{HistoryArgs, UndoArgs, WorkloadKind, targets, workload_kind};
use crate::client::{ListParams, PatchType};
use crate::output;
use crate::resources::ResourceType;
use crate::workloads::{
    CHANGE_CAUSE_ANNOTATION, REVISION_ANNOTATION, deployment_replica_sets, owned_by, revision,
    templates_equal, without_hash,
};

/// One revision of a workload: its pod template and why it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub template: Value,
    pub change_cause: String,
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The revisions of a deployment from the ReplicaSets it controls, as kubectl's
/// `DeploymentHistoryViewer` collects them: a ReplicaSet whose revision is not a number is
/// skipped, and the change cause goes into the template's annotations.
pub fn deployment_history(replica_sets: &[&Value]) -> BTreeMap<i64, Revision> {
    let mut history = BTreeMap::new();
    for rs in replica_sets {
        let Some(number) = revision(rs) else { continue };
        let change_cause = edge_api::meta::annotation(rs, CHANGE_CAUSE_ANNOTATION)
            .unwrap_or_default()
            .to_string();
        let mut template = rs
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if !change_cause.is_empty() {
            set_template_annotation(&mut template, CHANGE_CAUSE_ANNOTATION, &change_cause);
        }
        history.insert(
            number,
            Revision {
                template,
                change_cause,
            },
        );
    }
    history
}

fn set_template_annotation(template: &mut Value, key: &str, value: &str) {
    if !template.is_object() {
        *template = json!({});
    }
    let metadata = &mut template["metadata"];
    if !metadata.is_object() {
        *metadata = json!({});
    }
    let annotations = &mut metadata["annotations"];
    if !annotations.is_object() {
        *annotations = json!({});
    }
    annotations[key] = json!(value);
}

/// The revisions of a daemon set or stateful set from its ControllerRevisions.
pub fn controller_revision_history(revisions: &[&Value]) -> BTreeMap<i64, Revision> {
    revisions
        .iter()
        .map(|cr| {
            let change_cause = edge_api::meta::annotation(cr, CHANGE_CAUSE_ANNOTATION)
                .unwrap_or_default()
                .to_string();
            let number = cr.get("revision").and_then(Value::as_i64).unwrap_or(0);
            (
                number,
                Revision {
                    template: revision_template(cr),
                    change_cause,
                },
            )
        })
        .collect()
}

/// What `rollout history` prints under the object's name: the `REVISION  CHANGE-CAUSE` table,
/// or with `revision` the pod template of that revision.
pub fn history_text(history: &BTreeMap<i64, Revision>, revision: i64) -> Result<String> {
    if history.is_empty() {
        return Ok("No rollout history found.".to_string());
    }
    if revision > 0 {
        let entry = history
            .get(&revision)
            .ok_or_else(|| anyhow!("unable to find the specified revision"))?;
        let mut w = crate::describe::Writer::new();
        crate::describe::workloads::template(&mut w, Some(&entry.template));
        return Ok(w.finish());
    }
    let mut table = crate::tabwriter::TabWriter::new(0, 2);
    table.row(vec!["REVISION".to_string(), "CHANGE-CAUSE".to_string()]);
    for (number, entry) in history {
        let cause = match entry.change_cause.as_str() {
            "" => "<none>",
            cause => cause,
        };
        table.row(vec![number.to_string(), cause.to_string()]);
    }
    Ok(table.render())
}

/// The output of `rollout history` for one object, as kubectl's name printer frames it.
pub fn history_output(object_ref: &str, revision: i64, body: &str) -> String {
    let with = if revision > 0 {
        format!("with revision #{revision}")
    } else {
        String::new()
    };
    format!("{object_ref} {with}\n{body}\n")
}

/// What `rollout undo` does to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollback {
    /// The template already is that of this revision.
    Skip(i64),
    /// Send this patch to restore this revision.
    Restore {
        revision: i64,
        patch_type: PatchType,
        patch: Value,
    },
}

/// The deployment annotations a rollback keeps rather than copying from the ReplicaSet.
const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    crate::cmd::apply::LAST_APPLIED,
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

fn revision_not_found(revision: i64) -> anyhow::Error {
    anyhow!("unable to find specified revision {revision} in history")
}

/// kubectl's `DeploymentRollbacker`: the ReplicaSet of `to_revision` (0 = the one before the
/// newest), and a JSON patch, guarded by the deployment's resourceVersion, that puts its
/// template (without the hash label) and annotations into the deployment.
pub fn deployment_rollback(
    deployment: &Value,
    replica_sets: &[&Value],
    to_revision: i64,
) -> Result<Rollback> {
    if to_revision < 0 {
        return Err(revision_not_found(to_revision));
    }
    let name = text(deployment, "/metadata/name");
    let mut latest: Option<(i64, &Value)> = None;
    let mut previous: Option<(i64, &Value)> = None;
    let mut chosen = None;
    for rs in replica_sets {
        let Some(number) = revision(rs) else { continue };
        if to_revision > 0 {
            if number == to_revision {
                chosen = Some((number, *rs));
                break;
            }
        } else if latest.is_none_or(|(n, _)| n < number) {
            previous = latest;
            latest = Some((number, rs));
        } else if previous.is_none_or(|(n, _)| n < number) {
            previous = Some((number, rs));
        }
    }
    let (number, rs) = match (to_revision, chosen.or(previous)) {
        (_, Some(found)) => found,
        (0, None) => bail!("no rollout history found for deployment {name:?}"),
        (_, None) => return Err(revision_not_found(to_revision)),
    };
    if deployment.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        bail!(
            "you cannot rollback a paused deployment; resume it first with 'edgectl rollout resume' and try again"
        );
    }
    let template = rs.pointer("/spec/template");
    if templates_equal(template, deployment.pointer("/spec/template")) {
        return Ok(Rollback::Skip(number));
    }
    let mut annotations = Map::new();
    let current = edge_api::meta::annotations(deployment);
    for key in ANNOTATIONS_TO_SKIP {
        if let Some(value) = current.and_then(|a| a.get(key)) {
            annotations.insert(key.to_string(), value.clone());
        }
    }
    for (key, value) in edge_api::meta::annotations(rs).into_iter().flatten() {
        if !ANNOTATIONS_TO_SKIP.contains(&key.as_str()) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    let mut ops = Vec::new();
    if let Some(version) = edge_api::meta::resource_version(deployment) {
        ops.push(json!({"op": "test", "path": "/metadata/resourceVersion", "value": version}));
    }
    // `add` replaces an existing member and, unlike `replace`, also works where there is none.
    ops.push(json!({"op": "add", "path": "/spec/template", "value": without_hash(template)}));
    ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": annotations}));
    Ok(Rollback::Restore {
        revision: number,
        patch_type: PatchType::Json,
        patch: Value::Array(ops),
    })
}

/// kubectl's `DaemonSetRollbacker` and `StatefulSetRollbacker`: the ControllerRevision of
/// `to_revision` (0 = the second newest), whose data is the patch that restores it.
pub fn controller_revision_rollback(
    object: &Value,
    revisions: &[&Value],
    to_revision: i64,
) -> Result<Rollback> {
    if to_revision < 0 {
        return Err(revision_not_found(to_revision));
    }
    if to_revision == 0 && revisions.len() <= 1 {
        bail!("no last revision to roll back to");
    }
    let number = |cr: &Value| cr.get("revision").and_then(Value::as_i64).unwrap_or(0);
    let found = if to_revision == 0 {
        let mut sorted = revisions.to_vec();
        sorted.sort_by_key(|cr| number(cr));
        sorted.get(sorted.len().saturating_sub(2)).copied()
    } else {
        revisions
            .iter()
            .copied()
            .find(|cr| number(cr) == to_revision)
    };
    let cr = found.ok_or_else(|| revision_not_found(to_revision))?;
    let template = revision_template(cr);
    if templates_equal(Some(&template), object.pointer("/spec/template")) {
        return Ok(Rollback::Skip(number(cr)));
    }
    let patch = cr
        .get("data")
        .cloned()
        .ok_or_else(|| anyhow!("unable to parse history {}", text(cr, "/metadata/name")))?;
    Ok(Rollback::Restore {
        revision: number(cr),
        patch_type: PatchType::Strategic,
        patch,
    })
}

/// The line `rollout undo` prints for a decision.
pub fn rollback_message(object_ref: &str, rollback: &Rollback) -> String {
    match rollback {
        Rollback::Skip(revision) => format!(
            "{object_ref} skipped rollback (current template already matches revision {revision})"
        ),
        Rollback::Restore { .. } => format!("{object_ref} rolled back"),
    }
}

/// kubectl's warning before rolling back an object that `apply` manages.
pub fn last_applied_warning(plural: &str, name: &str) -> String {
    format!(
        "Warning: resource {plural}/{name} was previously managed with 'edgectl apply'. Rolling back will not update the {} annotation, which may cause unexpected behavior on future 'edgectl apply' operations. Consider using 'edgectl apply' with your previous configuration file instead.",
        crate::cmd::apply::LAST_APPLIED
    )
}

/// The object and the objects holding its revisions (ReplicaSets or ControllerRevisions).
async fn object_and_revisions(
    session: &Session,
    resource: &ResourceType,
    kind: WorkloadKind,
    name: &str,
) -> Result<(Value, Vec<Value>)> {
    let namespace = session.namespace();
    let object = session
        .client
        .get(&resource.path(Some(namespace), Some(name)))
        .await?;
    let collection = match kind {
        WorkloadKind::Deployment => "replicasets",
        WorkloadKind::DaemonSet | WorkloadKind::StatefulSet => "controllerrevisions",
    };
    let path = format!("/apis/apps/v1/namespaces/{namespace}/{collection}");
    let list = session
        .client
        .list(&path, &ListParams::default(), "application/json")
        .await?;
    let items = match list.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    Ok((object, items))
}

pub async fn history(session: &mut Session, args: HistoryArgs) -> Result<()> {
    for (resource, name) in targets(session, &args.resources).await? {
        let kind = workload_kind(session, &resource, &name, |kind| {
            format!("no history viewer has been implemented for {kind:?}")
        })
        .await?;
        let (object, items) = object_and_revisions(session, &resource, kind, &name).await?;
        let owned = owned_by(&object, &items);
        let revisions = match kind {
            WorkloadKind::Deployment => deployment_history(&owned),
            _ => controller_revision_history(&owned),
        };
        let body = history_text(&revisions, args.revision)?;
        output::print(&history_output(
            &resource.object_ref(&name),
            args.revision,
            &body,
        ))?;
    }
    Ok(())
}

pub async fn undo(session: &mut Session, args: UndoArgs) -> Result<()> {
    for (resource, name) in targets(session, &args.resources).await? {
        let kind = workload_kind(session, &resource, &name, |kind| {
            format!("no rollbacker has been implemented for {kind:?}")
        })
        .await?;
        let (object, items) = object_and_revisions(session, &resource, kind, &name).await?;
        if edge_api::meta::annotation(&object, crate::cmd::apply::LAST_APPLIED).is_some() {
            eprintln!("{}", last_applied_warning(&resource.plural, &name));
        }
        let rollback = match kind {
            WorkloadKind::Deployment => {
                let sets = deployment_replica_sets(&object, &items);
                let mut all = sets.all_old;
                all.extend(sets.new);
                deployment_rollback(&object, &all, args.to_revision)?
            }
            _ => {
                controller_revision_rollback(&object, &owned_by(&object, &items), args.to_revision)?
            }
        };
        if let Rollback::Restore {
            revision,
            patch_type,
            patch,
        } = &rollback
        {
            let path = resource.path(Some(session.namespace()), Some(&name));
            session
                .client
                .patch(&path, *patch_type, patch, false)
                .await
                .map_err(|e| anyhow!("failed restoring revision {revision}: {e}"))?;
        }
        output::println(&rollback_message(&resource.object_ref(&name), &rollback))?;
    }
    Ok(())
}
