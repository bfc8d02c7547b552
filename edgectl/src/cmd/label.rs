//! `label` and `annotate`: merge patches on `metadata.labels` or `metadata.annotations`.

use anyhow::{Result, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use super::get::{parse_resource_args, resolve_requests, validate_selectors};
use super::{AlreadyReported, Session};
use crate::client::{ListParams, PatchType};
use crate::output;

#[derive(Debug, Args)]
pub struct MetadataArgs {
    /// TYPE NAME... KEY=VALUE... KEY-... (or TYPE/NAME).
    #[arg(required = true)]
    pub args: Vec<String>,
    /// Allow replacing existing values.
    #[arg(long)]
    pub overwrite: bool,
    /// Act on every object of the type in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Act on the objects matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

/// Which metadata map the verb edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Labels,
    Annotations,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Labels => "labels",
            Field::Annotations => "annotations",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Field::Labels => "labeled",
            Field::Annotations => "annotated",
        }
    }
}

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Set(String, String),
    Remove(String),
}

/// Splits the arguments into resource arguments and changes (`k=v`, `k-`).
pub fn parse_changes(args: &[String]) -> Result<(Vec<String>, Vec<Change>)> {
    let mut resources = Vec::new();
    let mut changes = Vec::new();
    for arg in args {
        if let Some((key, value)) = arg.split_once('=') {
            if key.is_empty() {
                bail!("invalid label spec: {arg}");
            }
            changes.push(Change::Set(key.to_string(), value.to_string()));
        } else if let Some(key) = arg.strip_suffix('-').filter(|k| !k.is_empty()) {
            // Object and type names never end in `-`, so this is a removal (`tier-`, `example.com/owner-`).
            changes.push(Change::Remove(key.to_string()));
        } else if changes.is_empty() {
            resources.push(arg.clone());
        } else {
            bail!("all resources must be specified before label changes: {arg}");
        }
    }
    if changes.is_empty() {
        bail!("at least one label update is required");
    }
    Ok((resources, changes))
}

/// The merge patch for the changes, `None` when nothing would change. Without `overwrite`, a
/// different existing value is kubectl's error.
pub fn build_patch(
    existing: Option<&Map<String, Value>>,
    changes: &[Change],
    overwrite: bool,
    field: Field,
) -> Result<Option<Value>> {
    let mut patch = Map::new();
    for change in changes {
        let current = existing
            .and_then(|m| m.get(change_key(change)))
            .and_then(Value::as_str);
        match change {
            Change::Set(key, value) => {
                if current == Some(value.as_str()) {
                    continue;
                }
                if let (Some(current), false) = (current, overwrite) {
                    bail!("'{key}' already has a value ({current}), and --overwrite is false");
                }
                patch.insert(key.clone(), json!(value));
            }
            Change::Remove(key) => {
                if current.is_none() {
                    eprintln!(
                        "{} \"{key}\" not found.",
                        if field == Field::Labels {
                            "label"
                        } else {
                            "annotation"
                        }
                    );
                    continue;
                }
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    Ok((!patch.is_empty()).then(|| json!({"metadata": {field.key(): patch}})))
}

fn change_key(change: &Change) -> &str {
    match change {
        Change::Set(key, _) | Change::Remove(key) => key,
    }
}

pub async fn run(session: &mut Session, args: MetadataArgs, field: Field) -> Result<()> {
    validate_selectors(args.selector.as_deref(), None)?;
    let (resources, changes) = parse_changes(&args.args)?;
    if resources.is_empty() {
        bail!("one or more resources must be specified as <resource> <name> or <resource>/<name>");
    }
    let requests = parse_resource_args(&resources)?;
    let mut failed = false;
    for (resource, names) in resolve_requests(session, &requests).await? {
        let namespace = resource.namespaced.then(|| session.namespace().to_string());
        let objects: Vec<Value> = if names.is_empty() {
            if !args.all && args.selector.is_none() {
                bail!("resource(s) were provided, but no name was specified");
            }
            let params = ListParams {
                label_selector: args.selector.clone(),
                ..ListParams::default()
            };
            let list = session
                .client
                .list(
                    &resource.path(namespace.as_deref(), None),
                    &params,
                    "application/json",
                )
                .await?;
            list.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        } else {
            let mut objects = Vec::new();
            for name in &names {
                match session
                    .client
                    .get(&resource.path(namespace.as_deref(), Some(name)))
                    .await
                {
                    Ok(object) => objects.push(object),
                    Err(err) => {
                        failed = true;
                        super::report_and_continue(&err.into());
                    }
                }
            }
            objects
        };
        for object in objects {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let existing = object
                .get("metadata")
                .and_then(|m| m.get(field.key()))
                .and_then(Value::as_object);
            let outcome = match build_patch(existing, &changes, args.overwrite, field) {
                Ok(Some(patch)) => session
                    .client
                    .patch(
                        &resource.path(namespace.as_deref(), Some(&name)),
                        PatchType::Merge,
                        &patch,
                        false,
                    )
                    .await
                    .map(|_| field.done().to_string())
                    .map_err(anyhow::Error::from),
                Ok(None) => Ok(format!("not {}", field.done())),
                Err(err) => Err(err),
            };
            match outcome {
                Ok(verb) => output::println(&format!("{} {verb}", resource.object_ref(&name)))?,
                Err(err) => {
                    failed = true;
                    super::report_and_continue(&err);
                }
            }
        }
    }
    if failed {
        Err(AlreadyReported.into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn changes_follow_resources() {
        let (resources, changes) =
            parse_changes(&strings(&["deploy", "web", "app=web", "tier-"])).expect("ok");
        assert_eq!(resources, ["deploy", "web"]);
        assert_eq!(
            changes,
            [
                Change::Set("app".into(), "web".into()),
                Change::Remove("tier".into())
            ]
        );
        let (resources, changes) =
            parse_changes(&strings(&["pod/p", "example.com/owner=me"])).expect("ok");
        assert_eq!(resources, ["pod/p"]);
        assert_eq!(
            changes,
            [Change::Set("example.com/owner".into(), "me".into())]
        );
        assert!(parse_changes(&strings(&["pods", "p"])).is_err());
        assert!(parse_changes(&strings(&["pods", "a=b", "p"])).is_err());
    }

    #[test]
    fn overwrite_rules() {
        let existing = json!({"app": "web"});
        let existing = existing.as_object();
        let set = |v: &str| vec![Change::Set("app".into(), v.into())];
        let err = build_patch(existing, &set("api"), false, Field::Labels).expect_err("refuses");
        assert_eq!(
            err.to_string(),
            "'app' already has a value (web), and --overwrite is false"
        );
        let patch = build_patch(existing, &set("api"), true, Field::Labels)
            .expect("ok")
            .expect("a patch");
        assert_eq!(patch, json!({"metadata": {"labels": {"app": "api"}}}));
        assert_eq!(
            build_patch(existing, &set("web"), false, Field::Labels).expect("ok"),
            None
        );
        let patch = build_patch(
            existing,
            &[Change::Remove("app".into())],
            false,
            Field::Annotations,
        )
        .expect("ok");
        assert_eq!(
            patch,
            Some(json!({"metadata": {"annotations": {"app": null}}}))
        );
    }
}
