//! `get`: server-side tables for humans, and json/yaml/name/jsonpath/custom-columns for scripts.

use anyhow::{Result, bail};
use clap::Args;
use edge_api::printers::{RenderOptions, render_table};
use serde_json::{Value, json};

use super::{AlreadyReported, Session};
use crate::client::{ListParams, TABLE_ACCEPT};
use crate::output::{self, OutputFormat};
use crate::resources::ResourceType;

#[derive(Debug, Args)]
pub struct GetArgs {
    /// TYPE[,TYPE...] [NAME...], or TYPE/NAME...
    #[arg(required = true, value_name = "TYPE[.VERSION][.GROUP] [NAME]")]
    pub resources: Vec<String>,
    /// Output format: wide, json, yaml, name, jsonpath=TEMPLATE, custom-columns=SPEC.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Label selector, e.g. -l app=web,tier!=db.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector, e.g. --field-selector status.phase=Running.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Watch for changes without listing first.
    #[arg(long)]
    pub watch_only: bool,
    /// Show all labels as the last column.
    #[arg(long)]
    pub show_labels: bool,
    /// Do not print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Treat "resource not found" as a successful retrieval.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Fetch large lists in chunks of this size.
    #[arg(long, default_value_t = 500)]
    pub chunk_size: u32,
    /// Events only: the events about this object, TYPE/NAME.
    #[arg(long = "for", value_name = "TYPE/NAME")]
    pub for_object: Option<String>,
    /// Events only: the events of these types, comma-separated (Normal, Warning).
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
}

/// One type named on the command line and the object names asked for (none = list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    pub type_name: String,
    pub names: Vec<String>,
}

/// Parses `TYPE[,TYPE] [NAME...]` or `TYPE/NAME...` as kubectl does.
pub fn parse_resource_args(args: &[String]) -> Result<Vec<ResourceRequest>> {
    let Some(first) = args.first() else {
        bail!("you must specify the type of resource to get")
    };
    if args.iter().any(|a| a.contains('/')) {
        let mut requests: Vec<ResourceRequest> = Vec::new();
        for arg in args {
            let Some((type_name, name)) = arg.split_once('/') else {
                bail!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'edgectl get resource/<resource_name>' instead of 'edgectl get resource resource/<resource_name>'"
                );
            };
            if type_name.is_empty() || name.is_empty() {
                bail!("arguments in resource/name form must have a single resource and name");
            }
            match requests.last_mut() {
                Some(last) if last.type_name == type_name => last.names.push(name.to_string()),
                _ => requests.push(ResourceRequest {
                    type_name: type_name.to_string(),
                    names: vec![name.to_string()],
                }),
            }
        }
        return Ok(requests);
    }
    let names: Vec<String> = args[1..].to_vec();
    let types: Vec<&str> = first.split(',').filter(|t| !t.is_empty()).collect();
    if types.is_empty() {
        bail!("you must specify the type of resource to get");
    }
    Ok(types
        .into_iter()
        .map(|t| ResourceRequest {
            type_name: t.to_string(),
            names: names.clone(),
        })
        .collect())
}

/// What `get all` lists, in kubectl's order.
const ALL: [&str; 8] = [
    "pods",
    "services",
    "daemonsets",
    "deployments",
    "replicasets",
    "statefulsets",
    "jobs",
    "cronjobs",
];

/// Resolves the requests, expanding categories such as `all`.
pub async fn resolve_requests(
    session: &mut Session,
    requests: &[ResourceRequest],
) -> Result<Vec<(ResourceType, Vec<String>)>> {
    let mut resolved = Vec::new();
    for request in requests {
        if request.type_name == "all" {
            for name in ALL {
                resolved.push((session.resolver.resolve(name).await?, request.names.clone()));
            }
            continue;
        }
        let category = session.resolver.category(&request.type_name);
        if !category.is_empty() && edge_api::resource::resolve(&request.type_name).is_none() {
            resolved.extend(category.into_iter().map(|t| (t, request.names.clone())));
        } else {
            resolved.push((
                session.resolver.resolve(&request.type_name).await?,
                request.names.clone(),
            ));
        }
    }
    Ok(resolved)
}

/// Checks selectors locally so a typo fails before any request.
pub fn validate_selectors(label: Option<&str>, field: Option<&str>) -> Result<()> {
    if let Some(selector) = label {
        edge_api::selector::LabelSelector::parse(selector).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if let Some(selector) = field {
        edge_api::selector::FieldSelector::parse(selector)
            .map_err(|e| anyhow::anyhow!("invalid field selector: {e}"))?;
    }
    Ok(())
}

pub async fn run(session: &mut Session, mut args: GetArgs) -> Result<()> {
    let format = OutputFormat::parse(args.output.as_deref())?;
    validate_selectors(args.selector.as_deref(), args.field_selector.as_deref())?;
    let requests = parse_resource_args(&args.resources)?;
    let targets = resolve_requests(session, &requests).await?;
    if args.for_object.is_some() || !args.types.is_empty() {
        if !matches!(targets.as_slice(), [(resource, _)] if super::events::is_events(resource)) {
            bail!("--for and --types can only be used with events");
        }
        args.field_selector = event_filters(session, &args).await?;
    }
    if args.watch || args.watch_only {
        return super::watch::run(session, &args, &format, &targets).await;
    }
    let params = ListParams {
        label_selector: args.selector.clone(),
        field_selector: args.field_selector.clone(),
        limit: Some(args.chunk_size).filter(|n| *n > 0),
        ..ListParams::default()
    };
    let mut failed = false;
    if format.wants_table() {
        let with_kind = targets.len() > 1 || requests.iter().any(|r| r.type_name == "all");
        let mut printed = false;
        for (resource, names) in &targets {
            let Some(table) = fetch_table(
                session,
                resource,
                names,
                &params,
                args.ignore_not_found,
                &mut failed,
            )
            .await?
            else {
                continue;
            };
            let options = render_options(
                &format,
                session.all_namespaces(),
                &args,
                with_kind,
                resource,
            );
            let text = render_table(&table, &options);
            output::print(&format!("{}{text}", if printed { "\n" } else { "" }))?;
            printed = true;
        }
        let listed = targets.iter().any(|(_, names)| names.is_empty());
        if !printed && listed && !failed {
            let namespaced = targets.iter().any(|(r, _)| r.namespaced);
            eprintln!(
                "{}",
                no_resources_message(session.list_namespace().filter(|_| namespaced))
            );
        }
    } else {
        let single = targets.len() == 1 && targets[0].1.len() == 1;
        let mut objects = Vec::new();
        for (resource, names) in &targets {
            objects.extend(
                fetch_objects(
                    session,
                    resource,
                    names,
                    &params,
                    args.ignore_not_found,
                    &mut failed,
                )
                .await?,
            );
        }
        if !(single && objects.is_empty()) {
            output::print_objects(&format, objects, single)?;
        }
    }
    if failed {
        Err(AlreadyReported.into())
    } else {
        Ok(())
    }
}

/// `--field-selector` with `--for` and `--types` added as the clauses they mean.
async fn event_filters(session: &mut Session, args: &GetArgs) -> Result<Option<String>> {
    use super::events;
    events::validate_types(&args.types)?;
    let for_object = match &args.for_object {
        Some(spec) => Some(events::for_selector(session, spec).await?),
        None => None,
    };
    Ok(events::join_selectors([
        args.field_selector.as_deref(),
        for_object.as_deref(),
        events::types_selector(&args.types).as_deref(),
    ]))
}

/// kubectl's message for an empty result.
pub fn no_resources_message(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_string(),
    }
}

/// The table of one type: a listing, or the named objects' rows joined. `None` when there are no rows.
async fn fetch_table(
    session: &Session,
    resource: &ResourceType,
    names: &[String],
    params: &ListParams,
    ignore_not_found: bool,
    failed: &mut bool,
) -> Result<Option<Value>> {
    let mut table: Option<Value> = None;
    if names.is_empty() && super::events::is_events(resource) {
        table = Some(super::events::sorted_table(session, resource, params).await?);
    } else if names.is_empty() {
        let path = resource.path(session.list_namespace(), None);
        table = Some(as_table(
            session.client.list(&path, params, TABLE_ACCEPT).await?,
        ));
    }
    for name in names {
        let path = resource.path(Some(session.namespace()), Some(name));
        match session.client.get_as(&path, TABLE_ACCEPT).await {
            Ok(one) => {
                let one = as_table(one);
                match &mut table {
                    None => table = Some(one),
                    Some(all) => {
                        if let (Some(Value::Array(rows)), Some(Value::Array(more))) =
                            (all.get_mut("rows"), one.get("rows"))
                        {
                            rows.extend(more.iter().cloned());
                        }
                    }
                }
            }
            Err(err) if err.is_not_found() && ignore_not_found => {}
            Err(err) => {
                *failed = true;
                super::report_and_continue(&err.into());
            }
        }
    }
    Ok(table.filter(|t| {
        t.get("rows")
            .and_then(Value::as_array)
            .is_some_and(|rows| !rows.is_empty())
    }))
}

/// The named objects, or the listed items with `apiVersion` and `kind` filled in as kubectl does.
async fn fetch_objects(
    session: &Session,
    resource: &ResourceType,
    names: &[String],
    params: &ListParams,
    ignore_not_found: bool,
    failed: &mut bool,
) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    if names.is_empty() {
        let path = resource.path(session.list_namespace(), None);
        let list = session
            .client
            .list(&path, params, "application/json")
            .await?;
        for mut item in list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            if let Value::Object(map) = &mut item {
                map.entry("apiVersion")
                    .or_insert_with(|| json!(resource.api_version()));
                map.entry("kind").or_insert_with(|| json!(resource.kind));
            }
            objects.push(item);
        }
    }
    for name in names {
        match session
            .client
            .get(&resource.path(Some(session.namespace()), Some(name)))
            .await
        {
            Ok(object) => objects.push(object),
            Err(err) if err.is_not_found() && ignore_not_found => {}
            Err(err) => {
                *failed = true;
                super::report_and_continue(&err.into());
            }
        }
    }
    Ok(objects)
}

/// A server that ignored the `Table` request sent plain objects; build a NAME/AGE table from them.
pub fn as_table(response: Value) -> Value {
    if response.get("kind").and_then(Value::as_str) == Some("Table") {
        return response;
    }
    let objects: Vec<Value> = match response.get("items").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None => vec![response],
    };
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| {
            let name = o.pointer("/metadata/name").cloned().unwrap_or(json!(""));
            let age = edge_api::meta::age(&o, now);
            let metadata = o.get("metadata").cloned().unwrap_or(json!({}));
            json!({"cells": [name, age], "object": {"kind": o.get("kind"), "apiVersion": o.get("apiVersion"), "metadata": metadata}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
           "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "priority": 0},
                                 {"name": "Age", "type": "string", "priority": 0}],
           "rows": rows})
}

/// The table options of a `get` of one resource type.
pub fn render_options(
    format: &OutputFormat,
    all_namespaces: bool,
    args: &GetArgs,
    with_kind: bool,
    resource: &ResourceType,
) -> RenderOptions {
    RenderOptions {
        wide: matches!(format, OutputFormat::Wide),
        with_namespace: all_namespaces,
        no_headers: args.no_headers,
        with_kind,
        kind: resource.display_kind(),
        show_labels: args.show_labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn request(type_name: &str, names: &[&str]) -> ResourceRequest {
        ResourceRequest {
            type_name: type_name.to_string(),
            names: strings(names),
        }
    }

    #[test]
    fn resource_arguments() {
        assert_eq!(
            parse_resource_args(&strings(&["pods"])).expect("ok"),
            [request("pods", &[])]
        );
        assert_eq!(
            parse_resource_args(&strings(&["po", "a", "b"])).expect("ok"),
            [request("po", &["a", "b"])]
        );
        assert_eq!(
            parse_resource_args(&strings(&["pods,svc"])).expect("ok"),
            [request("pods", &[]), request("svc", &[])]
        );
        assert_eq!(
            parse_resource_args(&strings(&["deploy/web", "deploy/api", "svc/web"])).expect("ok"),
            [request("deploy", &["web", "api"]), request("svc", &["web"])]
        );
        assert!(parse_resource_args(&strings(&["pods", "deploy/web"])).is_err());
        assert!(parse_resource_args(&strings(&["deploy/"])).is_err());
        assert!(parse_resource_args(&[]).is_err());
    }

    #[test]
    fn cli_flags() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "edgectl",
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].metadata.name}",
            "-l",
            "app=web",
            "-w",
            "--show-labels",
        ])
        .expect("parses");
        let crate::cli::Command::Get(args) = cli.command else {
            panic!("expected get")
        };
        assert_eq!(args.resources, ["pods"]);
        assert_eq!(
            args.output.as_deref(),
            Some("jsonpath={.items[*].metadata.name}")
        );
        assert_eq!(args.selector.as_deref(), Some("app=web"));
        assert!(args.watch && args.show_labels);
    }

    #[test]
    fn fallback_tables() {
        let table = as_table(
            json!({"kind": "PodList", "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]}),
        );
        assert_eq!(table["rows"][0]["cells"], json!(["a", "<unknown>"]));
        assert_eq!(table["rows"][1]["object"]["metadata"]["name"], "b");
    }

    #[test]
    fn empty_messages() {
        assert_eq!(
            no_resources_message(Some("default")),
            "No resources found in default namespace."
        );
        assert_eq!(no_resources_message(None), "No resources found");
    }
}
