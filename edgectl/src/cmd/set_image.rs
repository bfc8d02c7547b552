//! `set image TYPE/NAME CONTAINER=IMAGE...`: updates container images in a pod or a pod
//! template with a strategic merge patch keyed on container names.

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::get::{parse_resource_args, resolve_requests};
use super::{AlreadyReported, Session, report_and_continue};
use crate::client::{ListParams, PatchType};
use crate::output;
use crate::resources::ResourceType;

#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Update the image of a pod template.
    Image(SetImageArgs),
}

#[derive(Debug, Args)]
pub struct SetImageArgs {
    /// TYPE NAME or TYPE/NAME, then CONTAINER=IMAGE pairs (`*=IMAGE` sets every container).
    #[arg(required = true, value_name = "TYPE/NAME CONTAINER=IMAGE")]
    pub args: Vec<String>,
    /// Select all resources of the type in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Label selector, e.g. -l app=web.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

/// `CONTAINER=IMAGE` pairs in command-line order.
pub type ImagePairs = Vec<(String, String)>;

/// kubectl's `GetResourcesAndPairs` and `ParsePairs`: the resource arguments, then the
/// `CONTAINER=IMAGE` pairs (a later pair for the same container wins).
pub fn split_args(args: &[String]) -> Result<(Vec<String>, ImagePairs)> {
    let mut resources = Vec::new();
    let mut pairs: ImagePairs = Vec::new();
    for arg in args {
        let is_pair =
            (arg.contains('=') && !arg.starts_with('=')) || (arg.ends_with('-') && arg != "-");
        match (is_pair, pairs.is_empty()) {
            (false, true) => resources.push(arg.clone()),
            (false, false) => bail!("all resources must be specified before image changes: {arg}"),
            (true, _) => {
                let Some((container, image)) = arg.split_once('=') else {
                    bail!("invalid image: {arg}");
                };
                pairs.retain(|(c, _)| c != container);
                pairs.push((container.to_string(), image.to_string()));
            }
        }
    }
    Ok((resources, pairs))
}

/// kubectl's `SetImageOptions.Validate`.
pub fn validate(
    resources: &[String],
    images: &[(String, String)],
    all: bool,
    selector: Option<&str>,
) -> Result<()> {
    if all && selector.is_some() {
        bail!("cannot set --all and --selector at the same time");
    }
    if resources.is_empty() {
        bail!("one or more resources must be specified as <resource> <name> or <resource>/<name>");
    }
    if images.is_empty() {
        bail!("at least one image update is required");
    }
    if images.len() > 1 && images.iter().any(|(c, _)| c == "*") {
        bail!(
            "all containers are already specified by *, but saw more than one container_name=container_image pairs"
        );
    }
    Ok(())
}

/// Where the pod spec of an object of this type lives, as kubectl's `UpdatePodSpecForObject`.
pub fn pod_spec_path(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Pod") => Some(&["spec"]),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet")
        | ("batch", "Job") => Some(&["spec", "template", "spec"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// The result of applying image changes to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageUpdate {
    /// The strategic merge patch, `None` when no image changes.
    pub patch: Option<Value>,
    /// The containers named in the pairs that neither list has.
    pub missing: Vec<String>,
}

/// kubectl's `setImage` over the init containers and the containers: each container whose
/// name matches (or every one, for `*`) gets the image; the patch lists the changed ones.
pub fn image_update(
    object: &Value,
    spec_path: &[&str],
    images: &[(String, String)],
) -> ImageUpdate {
    let mut spec = object;
    for key in spec_path {
        spec = spec.get(*key).unwrap_or(&Value::Null);
    }
    let mut missing = Vec::new();
    let mut changes = serde_json::Map::new();
    for list in ["initContainers", "containers"] {
        let containers = spec.get(list).and_then(Value::as_array);
        let mut changed: Vec<Value> = Vec::new();
        for container in containers.into_iter().flatten() {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("");
            let current = container.get("image").and_then(Value::as_str).unwrap_or("");
            // As kubectl, the last matching pair decides; `*` and a name are never both given.
            let wanted = images
                .iter()
                .rev()
                .find(|(c, _)| c == name || c == "*")
                .map(|(_, image)| image.as_str());
            if let Some(image) = wanted
                && image != current
            {
                changed.push(json!({"name": name, "image": image}));
            }
        }
        if !changed.is_empty() {
            changes.insert(list.to_string(), Value::Array(changed));
        }
    }
    for (container, _) in images {
        let found = ["initContainers", "containers"].iter().any(|list| {
            spec.get(*list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| {
                    container == "*" || c.get("name").and_then(Value::as_str) == Some(container)
                })
        });
        if !found {
            missing.push(container.clone());
        }
    }
    let patch = (!changes.is_empty()).then(|| {
        spec_path
            .iter()
            .rev()
            .fold(Value::Object(changes), |inner, key| json!({ *key: inner }))
    });
    ImageUpdate { patch, missing }
}

pub async fn run(session: &mut Session, command: SetCommand) -> Result<()> {
    match command {
        SetCommand::Image(args) => set_image(session, args).await,
    }
}

/// Fetches every object first, so that a missing one fails the command before any change.
async fn objects(
    session: &mut Session,
    resources: &[String],
    all: bool,
    selector: Option<&str>,
) -> Result<Vec<(ResourceType, Value)>> {
    let requests = parse_resource_args(resources)?;
    let mut objects = Vec::new();
    for (resource, names) in resolve_requests(session, &requests).await? {
        let namespace = session.namespace().to_string();
        if names.is_empty() {
            if !all && selector.is_none() {
                bail!("resource(s) were provided, but no name was specified");
            }
            let params = ListParams {
                label_selector: selector.map(str::to_string),
                ..ListParams::default()
            };
            let list = session
                .client
                .list(
                    &resource.path(Some(&namespace), None),
                    &params,
                    "application/json",
                )
                .await?;
            if let Some(Value::Array(items)) = list.get("items") {
                objects.extend(items.iter().map(|item| (resource.clone(), item.clone())));
            }
        } else {
            for name in names {
                let path = resource.path(Some(&namespace), Some(&name));
                objects.push((resource.clone(), session.client.get(&path).await?));
            }
        }
    }
    Ok(objects)
}

async fn set_image(session: &mut Session, args: SetImageArgs) -> Result<()> {
    let (resources, images) = split_args(&args.args)?;
    // As kubectl, the objects are fetched before the flags are checked.
    if resources.is_empty() {
        bail!("You must provide one or more resources by argument or filename.");
    }
    let targets = objects(session, &resources, args.all, args.selector.as_deref()).await?;
    validate(&resources, &images, args.all, args.selector.as_deref())?;
    let mut errors = Vec::new();
    for (resource, object) in targets {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(spec_path) = pod_spec_path(&resource.group, &resource.kind) else {
            errors.push(anyhow!(
                "{}/{name} the object is not a pod or does not have a pod template: *{}.{}",
                resource.plural,
                resource.version,
                resource.kind
            ));
            continue;
        };
        let update = image_update(&object, spec_path, &images);
        errors.extend(
            update
                .missing
                .iter()
                .map(|c| anyhow!("unable to find container named {c:?}")),
        );
        let Some(patch) = update.patch else { continue };
        let path = resource.path(Some(session.namespace()), Some(&name));
        match session
            .client
            .patch(&path, PatchType::Strategic, &patch, false)
            .await
        {
            Ok(_) => output::println(&format!("{} image updated", resource.object_ref(&name)))?,
            Err(err) => errors.push(anyhow!(
                "failed to patch image update to pod template: {err}"
            )),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    for err in &errors {
        report_and_continue(err);
    }
    Err(AlreadyReported.into())
}

#[cfg(test)]
#[path = "set_image_test.rs"]
mod tests;
