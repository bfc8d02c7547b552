//! `delete`: by type and names, by file, by selector or `--all`, then wait until the objects are gone.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{ArgAction, Args, ValueEnum};
use futures::StreamExt;
use serde_json::{Value, json};

use super::get::{parse_resource_args, resolve_requests, validate_selectors};
use super::{AlreadyReported, Session};
use crate::client::{ListParams, RequestError};
use crate::manifests::{object_namespace, read_objects};
use crate::output;
use crate::resources::ResourceType;

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// TYPE [NAME...], or TYPE/NAME...
    pub resources: Vec<String>,
    /// Delete the objects in these files or directories (- for standard input).
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<PathBuf>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Delete the objects matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete the objects matching this field selector.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Delete all objects of the type in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Treat "resource not found" as a successful delete.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Seconds given to the object to terminate gracefully; -1 uses the object's default.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// Delete immediately (grace period 1).
    #[arg(long)]
    pub now: bool,
    /// How dependents are deleted.
    #[arg(long, value_enum, default_value_t = Cascade::Background)]
    pub cascade: Cascade,
    /// Wait until the objects are gone before returning.
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
    /// How long to wait for the objects to be gone (0 = no limit).
    #[arg(long, default_value = "0s")]
    pub timeout: String,
}

/// `--cascade`: the propagation policy of the delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Cascade {
    Background,
    Foreground,
    Orphan,
}

impl Cascade {
    fn policy(self) -> &'static str {
        match self {
            Cascade::Background => "Background",
            Cascade::Foreground => "Foreground",
            Cascade::Orphan => "Orphan",
        }
    }
}

/// The `DeleteOptions` body sent with every delete.
pub fn delete_options(cascade: Cascade, grace_period: Option<i64>) -> Value {
    let mut options =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": cascade.policy()});
    if let Some(seconds) = grace_period {
        options["gracePeriodSeconds"] = json!(seconds);
    }
    options
}

/// kubectl's `deployment.apps "web" deleted`.
pub fn deleted_message(resource: &ResourceType, name: &str) -> String {
    format!("{} \"{name}\" deleted", resource.display_kind())
}

/// One object to delete.
struct Target {
    resource: ResourceType,
    namespace: Option<String>,
    name: String,
}

pub async fn run(session: &mut Session, args: DeleteArgs) -> Result<()> {
    validate_selectors(args.selector.as_deref(), args.field_selector.as_deref())?;
    let timeout =
        crate::config::parse_request_timeout(&args.timeout).context("invalid --timeout")?;
    let mut failed = false;
    let targets = collect_targets(session, &args, &mut failed).await?;
    let grace_period = if args.now {
        Some(1)
    } else {
        (args.grace_period >= 0).then_some(args.grace_period)
    };
    let options = delete_options(args.cascade, grace_period);
    let mut deleted = Vec::new();
    for target in targets {
        let path = target
            .resource
            .path(target.namespace.as_deref(), Some(&target.name));
        match session.client.delete(&path, &options).await {
            Ok(_) => {
                output::println(&deleted_message(&target.resource, &target.name))?;
                deleted.push(target);
            }
            Err(err) if err.is_not_found() && args.ignore_not_found => {}
            Err(err) => {
                failed = true;
                super::report_and_continue(&err.into());
            }
        }
    }
    if args.wait {
        for target in &deleted {
            let path = target.resource.path(target.namespace.as_deref(), None);
            let waited = match timeout {
                Some(limit) => {
                    tokio::time::timeout(limit, wait_until_gone(session, &path, &target.name))
                        .await
                        .unwrap_or_else(|_| {
                            Err(anyhow::anyhow!(
                                "timed out waiting for the condition on {}/{}",
                                target.resource.plural,
                                target.name
                            ))
                        })
                }
                None => wait_until_gone(session, &path, &target.name).await,
            };
            if let Err(err) = waited {
                failed = true;
                super::report_and_continue(&err);
            }
        }
    }
    if failed {
        Err(AlreadyReported.into())
    } else {
        Ok(())
    }
}

async fn collect_targets(
    session: &mut Session,
    args: &DeleteArgs,
    failed: &mut bool,
) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    if !args.filenames.is_empty() {
        if !args.resources.is_empty() {
            bail!("cannot specify both resources and -f");
        }
        for sourced in read_objects(&args.filenames, args.recursive)? {
            let found = async {
                let resource = session.resolver.for_object(&sourced.object).await?;
                let name = sourced
                    .object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let namespace = if resource.namespaced {
                    Some(object_namespace(
                        &sourced.object,
                        session.namespace(),
                        session.namespace_explicit(),
                    )?)
                } else {
                    None
                };
                anyhow::Ok(Target {
                    resource,
                    namespace,
                    name,
                })
            }
            .await;
            match found {
                Ok(target) => targets.push(target),
                Err(err) => {
                    *failed = true;
                    super::report_and_continue(&err);
                }
            }
        }
        return Ok(targets);
    }
    if args.resources.is_empty() {
        bail!("You must provide one or more resources by argument or filename.");
    }
    let requests = parse_resource_args(&args.resources)?;
    for (resource, names) in resolve_requests(session, &requests).await? {
        let namespace = resource.namespaced.then(|| session.namespace().to_string());
        if !names.is_empty() {
            if args.all || args.selector.is_some() {
                bail!("name cannot be provided when a selector or --all is specified");
            }
            targets.extend(names.into_iter().map(|name| Target {
                resource: resource.clone(),
                namespace: namespace.clone(),
                name,
            }));
            continue;
        }
        if !args.all && args.selector.is_none() && args.field_selector.is_none() {
            bail!("resource(s) were provided, but no name was specified");
        }
        let params = ListParams {
            label_selector: args.selector.clone(),
            field_selector: args.field_selector.clone(),
            ..ListParams::default()
        };
        let list_namespace = if resource.namespaced {
            session.list_namespace()
        } else {
            None
        };
        let list = session
            .client
            .list(
                &resource.path(list_namespace, None),
                &params,
                "application/json",
            )
            .await?;
        let items = list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() && !args.ignore_not_found {
            eprintln!("{}", super::get::no_resources_message(list_namespace));
        }
        for item in items {
            let name = item
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let namespace = item
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string);
            targets.push(Target {
                resource: resource.clone(),
                namespace,
                name,
            });
        }
    }
    Ok(targets)
}

/// Returns once the object is gone: a GET says NotFound, or a watch on its name sees `DELETED`.
pub async fn wait_until_gone(session: &Session, collection: &str, name: &str) -> Result<()> {
    let object_path = format!("{collection}/{name}");
    loop {
        let resource_version = match session.client.get(&object_path).await {
            Err(err) if err.is_not_found() => return Ok(()),
            Err(err) => return Err(err.into()),
            Ok(object) => object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let params = ListParams {
            field_selector: Some(format!("metadata.name={name}")),
            resource_version,
            ..ListParams::default()
        };
        let mut events = match session
            .client
            .watch(collection, &params, "application/json")
            .await
        {
            Ok(events) => Box::pin(events),
            Err(RequestError::Api(api)) if api.code() == 410 => continue,
            Err(err) => return Err(err.into()),
        };
        while let Some(event) = events.next().await {
            let event = event?;
            match event.kind.as_str() {
                "DELETED" => return Ok(()),
                // An expired resourceVersion or a failed watch: start over from a fresh GET.
                "ERROR" => break,
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> DeleteArgs {
        let mut argv = vec!["edgectl", "delete"];
        argv.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(argv)
            .expect("parses")
            .command
        {
            crate::cli::Command::Delete(args) => args,
            other => panic!("expected delete, got {other:?}"),
        }
    }

    #[test]
    fn flags() {
        let args = parse(&["deploy", "web"]);
        assert!(args.wait);
        assert_eq!(args.cascade, Cascade::Background);
        assert_eq!(args.grace_period, -1);
        let args = parse(&[
            "pods",
            "--all",
            "--wait=false",
            "--cascade=foreground",
            "--grace-period=0",
        ]);
        assert!(!args.wait && args.all);
        assert_eq!(args.cascade, Cascade::Foreground);
        assert_eq!(args.grace_period, 0);
    }

    #[test]
    fn options_and_messages() {
        assert_eq!(
            delete_options(Cascade::Background, None)["propagationPolicy"],
            "Background"
        );
        assert_eq!(
            delete_options(Cascade::Orphan, Some(0))["gracePeriodSeconds"],
            0
        );
        let deploy = ResourceType::from(edge_api::resource::resolve("deploy").expect("served"));
        assert_eq!(
            deleted_message(&deploy, "web"),
            "deployment.apps \"web\" deleted"
        );
    }
}
