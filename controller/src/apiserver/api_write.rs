//! Creating, replacing and patching objects: admission, server-owned fields, optimistic concurrency.

use edge_api::admission::{self, Invalid};
use edge_api::resource::ResourceInfo;
use edge_api::status::Status;
use serde_json::{Map, Value, json};

use super::api::{Api, Current, now_rfc3339};
use super::error::ApiError;
use crate::store::{Applied, Command};

/// Options shared by every write.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteOptions {
    /// `dryRun=All`: run admission and return the result without storing it.
    pub dry_run: bool,
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The object itself; for resources with a status subresource, status changes are ignored.
    Main,
    /// Only `status`.
    Status,
}

/// The patch formats the API accepts, by content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Strategic,
    Json,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Letters Kubernetes uses for `generateName` suffixes (no vowels, no look-alikes).
const NAME_SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Api {
    /// Creates an object in `namespace` (namespaced resources) after defaulting and validation.
    pub async fn create(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        mut object: Value,
        opts: WriteOptions,
    ) -> Result<Value, ApiError> {
        check_kind(info, &object)?;
        let namespace = resolve_namespace(info, namespace, &mut object)?;
        if let Some(ns) = namespace.as_deref() {
            self.ensure_namespace_accepts_content(ns)?;
        }
        assign_name(&mut object)?;
        prepare_create(info, &mut object);
        admission::default_object(info, &mut object);
        let name = object_name(&object);
        admission::validate_create(info, &object).map_err(|inv| invalid(info, &name, &inv))?;
        let bytes = encode_checked(&object)?;
        if opts.dry_run {
            return Ok(object);
        }
        let key = info.key(namespace.as_deref(), &name);
        match self
            .store
            .propose(Command::Create { key, object: bytes })
            .await?
        {
            Ok(Applied::Created { object, .. }) => Ok(serde_json::from_slice(&object)?),
            Ok(other) => Err(ApiError::internal(format!(
                "unexpected store outcome {other:?}"
            ))),
            Err(rejected) => Err(ApiError::rejected(info, &name, rejected)),
        }
    }

    /// Replaces an object (PUT). A non-empty `metadata.resourceVersion` must match the stored one.
    pub async fn update(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        mut object: Value,
        part: Part,
        opts: WriteOptions,
    ) -> Result<Value, ApiError> {
        check_kind(info, &object)?;
        resolve_namespace(info, namespace, &mut object)?;
        let body_name = object_name(&object);
        if body_name.is_empty() {
            set_path(
                &mut object,
                &["metadata", "name"],
                Value::String(name.to_string()),
            );
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let current = self.current(info, namespace, name).await?;
        let wanted_rv = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !wanted_rv.is_empty() && wanted_rv != current.revision.to_string() {
            return Err(ApiError::stale(info, name));
        }
        self.replace(info, namespace, name, &current, object, part, opts)
            .await
    }

    /// Patches an object, retrying on write conflicts unless the patch itself names a resourceVersion.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        part: Part,
        opts: WriteOptions,
    ) -> Result<Value, ApiError> {
        let patch = decode_patch(kind, body)?;
        let precondition = patch
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let current = match self.current(info, namespace, name).await {
                Ok(current) => current,
                Err(err) if err.code() == 404 && kind == PatchKind::Apply && part == Part::Main => {
                    let mut object = patch.clone();
                    set_path(
                        &mut object,
                        &["metadata", "name"],
                        Value::String(name.to_string()),
                    );
                    return self.create(info, namespace, object, opts).await;
                }
                Err(err) => return Err(err),
            };
            if let Some(rv) = &precondition
                && *rv != current.revision.to_string()
            {
                return Err(ApiError::stale(info, name));
            }
            let patched = apply_patch(info, kind, &current.object, &patch)?;
            match self
                .replace(info, namespace, name, &current, patched, part, opts)
                .await
            {
                Err(err) if err.is_conflict() && precondition.is_none() && attempts < 8 => continue,
                other => return other,
            }
        }
    }

    /// Writes `new` over `current` with the update rules; a no-op change is not proposed at all.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn replace(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        current: &Current,
        new: Value,
        part: Part,
        opts: WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut merged = merge_for_update(info, &current.object, new, part);
        admission::default_object(info, &mut merged);
        admission::validate_update(info, &current.object, &merged)
            .map_err(|inv| invalid(info, name, &inv))?;
        let bytes = encode_checked(&merged)?;
        if without_revision(&merged) == without_revision(&current.object) {
            return Ok(current.object.clone());
        }
        if opts.dry_run {
            return Ok(merged);
        }
        let key = info.key(namespace, name);
        let command = if finalization_complete(info, &current.object, &merged) {
            Command::Delete {
                key,
                expected_revision: Some(current.revision),
            }
        } else {
            Command::Update {
                key,
                object: bytes,
                expected_revision: Some(current.revision),
            }
        };
        match self.store.propose(command).await? {
            Ok(Applied::Updated { object, .. }) | Ok(Applied::Deleted { object, .. }) => {
                Ok(serde_json::from_slice(&object)?)
            }
            Ok(other) => Err(ApiError::internal(format!(
                "unexpected store outcome {other:?}"
            ))),
            Err(rejected) => Err(ApiError::rejected(info, name, rejected)),
        }
    }

    /// New content may only go into a namespace that exists and is not being deleted.
    fn ensure_namespace_accepts_content(&self, namespace: &str) -> Result<(), ApiError> {
        let info = edge_api::resource::lookup("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces are not registered"))?;
        let ns = self.current_local(info, None, namespace)?;
        if ns.object.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::new(Status::failure(
                403,
                "Forbidden",
                format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            )));
        }
        Ok(())
    }
}

pub(super) fn invalid(info: &ResourceInfo, name: &str, inv: &Invalid) -> ApiError {
    ApiError::new(Status::invalid(info.group, info.kind, name, inv))
}

/// The body's `kind` and `apiVersion` must name the resource of the URL.
pub(super) fn check_kind(info: &ResourceInfo, object: &Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    };
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            return Err(ApiError::bad_request(
                "Object 'apiVersion' is missing in the request body",
            ));
        }
        Some(v) if v != info.api_version() => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                info.api_version()
            )));
        }
        Some(_) => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => Err(ApiError::bad_request(
            "Object 'Kind' is missing in the request body",
        )),
        Some(k) if k != info.kind => Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            info.kind
        ))),
        Some(_) => Ok(()),
    }
}

/// Fills or checks `metadata.namespace` against the URL; cluster-scoped objects carry none.
pub(super) fn resolve_namespace(
    info: &ResourceInfo,
    url_namespace: Option<&str>,
    object: &mut Value,
) -> Result<Option<String>, ApiError> {
    let body_ns = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !info.namespaced {
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
        return Ok(None);
    }
    let Some(url_ns) = url_namespace else {
        return Err(ApiError::bad_request(format!(
            "{} must be created in a namespace",
            info.plural
        )));
    };
    if !body_ns.is_empty() && body_ns != url_ns {
        return Err(ApiError::bad_request(format!(
            "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({url_ns})"
        )));
    }
    set_path(
        object,
        &["metadata", "namespace"],
        Value::String(url_ns.to_string()),
    );
    Ok(Some(url_ns.to_string()))
}

fn assign_name(object: &mut Value) -> Result<(), ApiError> {
    if !object_name(object).is_empty() {
        return Ok(());
    }
    let prefix = object
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if prefix.is_empty() {
        return Err(ApiError::new(Status::failure(
            422,
            "Invalid",
            "metadata.name: Required value: name or generateName is required",
        )));
    }
    let suffix: String = (0..5)
        .map(|_| NAME_SUFFIX_ALPHABET[rand::random::<usize>() % NAME_SUFFIX_ALPHABET.len()] as char)
        .collect();
    set_path(
        object,
        &["metadata", "name"],
        Value::String(format!("{prefix}{suffix}")),
    );
    Ok(())
}

/// Server-owned fields of a new object.
fn prepare_create(info: &ResourceInfo, object: &mut Value) {
    let now = now_rfc3339();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(field);
        }
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert("creationTimestamp".into(), Value::String(now));
        if object_has_spec_like(info) {
            meta.insert("generation".into(), json!(1));
        }
    }
    if info.has_status
        && info.plural != "namespaces"
        && let Some(map) = object.as_object_mut()
    {
        map.insert("status".into(), json!({}));
    }
}

fn object_has_spec_like(info: &ResourceInfo) -> bool {
    !matches!(
        info.plural,
        "configmaps"
            | "secrets"
            | "events"
            | "endpoints"
            | "endpointslices"
            | "leases"
            | "serviceaccounts"
    )
}

/// Applies the update rules: server-owned metadata is kept, status only changes through its
/// subresource, and `generation` counts changes to everything but metadata and status.
pub(super) fn merge_for_update(info: &ResourceInfo, old: &Value, new: Value, part: Part) -> Value {
    let mut merged = match part {
        Part::Status => {
            let mut merged = old.clone();
            if let (Some(map), Some(status)) = (merged.as_object_mut(), new.get("status")) {
                map.insert("status".into(), status.clone());
            }
            return merged;
        }
        Part::Main => new,
    };
    if let Some(map) = merged.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(info.api_version()));
        map.insert("kind".into(), Value::String(info.kind.to_string()));
        if info.has_status {
            match old.get("status") {
                Some(status) => map.insert("status".into(), status.clone()),
                None => map.remove("status"),
            };
        }
    }
    let old_meta = old
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let meta = ensure_object(&mut merged, "metadata");
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
    ] {
        match old_meta.get(field) {
            Some(value) => meta.insert(field.into(), value.clone()),
            None => meta.remove(field),
        };
    }
    meta.remove("managedFields");
    if old_meta.contains_key("generation") && spec_of(old) != spec_of(&merged) {
        let next = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        ensure_object(&mut merged, "metadata").insert("generation".into(), json!(next));
    }
    merged
}

/// Everything except metadata and status: what `generation` tracks.
fn spec_of(object: &Value) -> Map<String, Value> {
    let mut map = object.as_object().cloned().unwrap_or_default();
    for field in ["metadata", "status", "apiVersion", "kind"] {
        map.remove(field);
    }
    map
}

/// Whether an update removed the last finalizer of an object that is being deleted, so it goes away.
fn finalization_complete(info: &ResourceInfo, old: &Value, new: &Value) -> bool {
    if new.pointer("/metadata/deletionTimestamp").is_none() {
        return false;
    }
    let count = |v: &Value, ptr: &str| v.pointer(ptr).and_then(Value::as_array).map_or(0, Vec::len);
    let meta_done = count(new, "/metadata/finalizers") == 0;
    if info.plural == "namespaces" {
        let spec_done = count(new, "/spec/finalizers") == 0;
        let was_pending = count(old, "/metadata/finalizers") + count(old, "/spec/finalizers") > 0;
        return meta_done && spec_done && was_pending;
    }
    meta_done && count(old, "/metadata/finalizers") > 0
}

pub(super) fn decode_patch(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    let parsed: Result<Value, String> = match kind {
        PatchKind::Apply => serde_yaml_ng::from_slice(body).map_err(|e| e.to_string()),
        _ => serde_json::from_slice(body).map_err(|e| e.to_string()),
    };
    let patch =
        parsed.map_err(|e| ApiError::bad_request(format!("the patch is not valid: {e}")))?;
    let shape_ok = match kind {
        PatchKind::Json => patch.is_array(),
        _ => patch.is_object(),
    };
    if !shape_ok {
        return Err(ApiError::bad_request(match kind {
            PatchKind::Json => "a JSON patch must be an array of operations",
            _ => "the patch must be a JSON object",
        }));
    }
    Ok(patch)
}

pub(super) fn apply_patch(
    info: &ResourceInfo,
    kind: PatchKind,
    current: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    let unprocessable = |e: String| {
        ApiError::new(Status::failure(
            422,
            "Invalid",
            format!("the patch could not be applied: {e}"),
        ))
    };
    match kind {
        PatchKind::Merge | PatchKind::Apply => {
            let mut target = current.clone();
            edge_api::patch::merge_patch(&mut target, patch);
            Ok(target)
        }
        PatchKind::Json => {
            let mut target = current.clone();
            edge_api::patch::json_patch(&mut target, patch)
                .map_err(|e| unprocessable(e.to_string()))?;
            Ok(target)
        }
        PatchKind::Strategic => edge_api::patch::strategic_merge_patch(info.kind, current, patch)
            .map_err(|e| unprocessable(e.to_string())),
    }
}

/// Serialises an object, refusing ones over the store's object size limit.
pub(super) fn encode_checked(object: &Value) -> Result<Vec<u8>, ApiError> {
    let bytes = serde_json::to_vec(object)?;
    if bytes.len() > admission::MAX_OBJECT_BYTES {
        return Err(ApiError::new(Status::too_large(format!(
            "the object is {} bytes, over the limit of {} bytes",
            bytes.len(),
            admission::MAX_OBJECT_BYTES
        ))));
    }
    Ok(bytes)
}

fn without_revision(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    copy
}

pub(super) fn object_name(object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

pub(super) fn ensure_object<'a>(object: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(map) = object else {
        unreachable!("the value was just made an object")
    };
    let child = map
        .entry(field.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    let Value::Object(child) = child else {
        unreachable!("the field was just made an object")
    };
    child
}

pub(super) fn set_path(object: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cursor = object;
    for part in parents {
        let Value::Object(map) = cursor else { return };
        let child = map
            .entry((*part).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        cursor = child;
    }
    if let Value::Object(map) = cursor {
        map.insert((*last).to_string(), value);
    }
}
