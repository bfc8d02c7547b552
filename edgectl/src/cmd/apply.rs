//! `apply -f`: client-side apply with the `last-applied-configuration` annotation.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use super::{AlreadyReported, Session};
use crate::cli::DryRun;
use crate::client::{PatchType, RequestError};
use crate::manifests::{SourcedObject, object_namespace, read_objects};
use crate::output;

/// The annotation kubectl keeps the last applied configuration in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Files, directories (their .yaml, .yml and .json files) or - for standard input.
    #[arg(short = 'f', long = "filename", required = true)]
    pub filenames: Vec<PathBuf>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Only print what would be done: `client` sends nothing, `server` asks the server to dry-run.
    #[arg(long, value_enum, default_value_t = DryRun::None, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
}

/// What apply does with one object, decided from the desired and the live object.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyAction {
    Create(Value),
    Patch(Value),
    Unchanged,
}

/// The desired object with the annotation holding its own (annotation-free) JSON, byte for
/// byte what kubectl records: `metadata.annotations` present (`{}` when nothing else is in
/// it), Go's `encoding/json` output and a trailing newline. kubectl's next `apply` then finds
/// nothing to change in an object edgectl applied, and the other way round.
pub fn with_last_applied(desired: &Value) -> Value {
    let mut modified = desired.clone();
    if let Some(object) = modified.as_object_mut() {
        let metadata = object.entry("metadata").or_insert_with(|| json!({}));
        if let Value::Object(metadata) = metadata {
            let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
            if !annotations.is_object() {
                *annotations = json!({});
            }
            if let Value::Object(annotations) = annotations {
                annotations.remove(LAST_APPLIED);
            }
        }
    }
    let mut recorded = String::new();
    write_go_json(&modified, &mut recorded);
    recorded.push('\n');
    if let Some(Value::Object(annotations)) = modified.pointer_mut("/metadata/annotations") {
        annotations.insert(LAST_APPLIED.to_string(), Value::String(recorded));
    }
    modified
}

/// JSON as Go's `json.Encoder` writes a `map[string]interface{}`: keys sorted, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped, integral floats without a fraction.
fn write_go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e21 => {
                out.push_str(&format!("{f:.0}"));
            }
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(key, out);
                out.push(':');
                write_go_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Create when nothing is live; otherwise a three-way merge patch, or nothing when it is empty.
pub fn decide(desired: &Value, live: Option<&Value>) -> ApplyAction {
    let modified = with_last_applied(desired);
    let Some(live) = live else {
        return ApplyAction::Create(modified);
    };
    let last_applied: Option<Value> = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok());
    let patch = edge_api::patch::three_way_merge_patch(last_applied.as_ref(), &modified, live);
    match &patch {
        Value::Object(map) if map.is_empty() => ApplyAction::Unchanged,
        Value::Null => ApplyAction::Unchanged,
        _ => ApplyAction::Patch(patch),
    }
}

pub async fn run(session: &mut Session, args: ApplyArgs) -> Result<()> {
    let mut objects = read_objects(&args.filenames, args.recursive)?;
    // Namespaces first, so a directory applies in one go whatever its files are called
    // (the sort is stable: everything else keeps the order of the files).
    objects.sort_by_key(|o| o.object.get("kind").and_then(Value::as_str) != Some("Namespace"));
    let mut failed = false;
    for sourced in objects {
        match apply_one(session, &sourced, args.dry_run).await {
            Ok(line) => output::println(&line)?,
            Err(err) => {
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

async fn apply_one(
    session: &mut Session,
    sourced: &SourcedObject,
    dry_run: DryRun,
) -> Result<String> {
    let resource = session.resolver.for_object(&sourced.object).await?;
    let mut desired = sourced.object.clone();
    let name = desired
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        anyhow::bail!(
            "error when retrieving current configuration from \"{}\": resource name may not be empty",
            sourced.source
        );
    }
    let namespace = if resource.namespaced {
        let ns = object_namespace(&desired, session.namespace(), session.namespace_explicit())?;
        desired["metadata"]["namespace"] = Value::String(ns.clone());
        Some(ns)
    } else {
        None
    };
    let object_path = resource.path(namespace.as_deref(), Some(&name));
    let live = match session.client.get(&object_path).await {
        Ok(live) => Some(live),
        Err(err) if err.is_not_found() => None,
        Err(err) => {
            return Err(in_context(
                err,
                "retrieving current configuration of",
                &sourced.source,
            ));
        }
    };
    let reference = resource.object_ref(&name);
    let server_dry_run = dry_run == DryRun::Server;
    let verb = match decide(&desired, live.as_ref()) {
        ApplyAction::Create(body) => {
            if dry_run != DryRun::Client {
                let path = resource.path(namespace.as_deref(), None);
                session
                    .client
                    .create(&path, &body, server_dry_run)
                    .await
                    .map_err(|e| in_context(e, "creating", &sourced.source))?;
            }
            "created"
        }
        ApplyAction::Patch(patch) => {
            if dry_run != DryRun::Client {
                session
                    .client
                    .patch(&object_path, PatchType::Merge, &patch, server_dry_run)
                    .await
                    .map_err(|e| in_context(e, "patching", &sourced.source))?;
            }
            "configured"
        }
        ApplyAction::Unchanged => "unchanged",
    };
    Ok(format!("{reference} {verb}{}", dry_run.suffix()))
}

/// kubectl's `Error from server (Invalid): error when creating "web.yaml": ...`.
pub(crate) fn in_context(err: RequestError, doing: &str, source: &str) -> anyhow::Error {
    match err {
        RequestError::Api(mut api) => {
            let message = format!("error when {doing} \"{source}\": {}", api.message());
            api.status["message"] = Value::String(message);
            RequestError::Api(api).into()
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
               "spec": {"replicas": 2}})
    }

    /// What the server would hold after creating `body`, with the fields it adds.
    fn stored(body: &Value) -> Value {
        let mut live = body.clone();
        live["metadata"]["uid"] = json!("1234");
        live["metadata"]["resourceVersion"] = json!("7");
        live["status"] = json!({"replicas": 2});
        live
    }

    #[test]
    fn creates_when_missing_with_the_annotation() {
        let ApplyAction::Create(body) = decide(&desired(), None) else {
            panic!("expected create")
        };
        let recorded = body["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .expect("annotation");
        let recorded: Value = serde_json::from_str(recorded).expect("json");
        let mut expected = desired();
        expected["metadata"]["annotations"] = json!({});
        assert_eq!(recorded, expected);
    }

    #[test]
    fn unchanged_then_configured() {
        let ApplyAction::Create(body) = decide(&desired(), None) else {
            panic!("expected create")
        };
        let live = stored(&body);
        assert_eq!(decide(&desired(), Some(&live)), ApplyAction::Unchanged);

        let mut changed = desired();
        changed["spec"]["replicas"] = json!(3);
        let ApplyAction::Patch(patch) = decide(&changed, Some(&live)) else {
            panic!("expected a patch")
        };
        assert_eq!(patch["spec"]["replicas"], json!(3));
        assert!(patch["metadata"]["annotations"][LAST_APPLIED].is_string());

        let mut dropped = desired();
        dropped["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("labels");
        let ApplyAction::Patch(patch) = decide(&dropped, Some(&live)) else {
            panic!("expected a patch")
        };
        assert_eq!(
            patch["metadata"]["labels"],
            Value::Null,
            "a field dropped from the manifest is removed: {patch}"
        );
    }

    #[test]
    fn recorded_bytes_match_kubectl() {
        // What kubectl 1.37 stored for examples/configmap.yaml.
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": "demo", "labels": {"app": "web-config"}},
            "data": {"LOG_LEVEL": "info", "GREETING": "hello <&> \u{2028}\"\\\n\u{1}"}});
        let body = with_last_applied(&desired);
        assert_eq!(
            body["metadata"]["annotations"][LAST_APPLIED],
            json!(concat!(
                r#"{"apiVersion":"v1","data":{"GREETING":"hello \u003c\u0026\u003e \u2028\"\\\n\u0001","#,
                r#""LOG_LEVEL":"info"},"kind":"ConfigMap","metadata":{"annotations":{},"#,
                r#""labels":{"app":"web-config"},"name":"web-config","namespace":"demo"}}"#,
                "\n"
            ))
        );
        let mut floats = String::new();
        write_go_json(&json!([1.0, 1.5, 3, -2.0]), &mut floats);
        assert_eq!(floats, "[1,1.5,3,-2]");
    }

    #[test]
    fn annotation_is_not_nested_in_itself() {
        let mut once = with_last_applied(&desired());
        once["spec"]["replicas"] = json!(5);
        let twice = with_last_applied(&once);
        let recorded = twice["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .expect("annotation");
        assert!(!recorded.contains(LAST_APPLIED), "{recorded}");
    }
}
