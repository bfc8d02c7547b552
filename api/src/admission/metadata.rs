//! Validation of `metadata`: names, namespaces, labels, annotations, owner references.

use serde_json::Value;

use super::FieldError;
use super::util::{child, get_arr, get_obj, get_str, index};
use crate::resource::ResourceInfo;
use crate::validation;

/// Total size of all annotation keys and values, as Kubernetes limits it.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// How an object's name must look.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NameRule {
    Subdomain,
    Label,
    Dns1035,
}

impl NameRule {
    pub(crate) fn for_resource(info: &ResourceInfo) -> Self {
        match (info.group, info.kind) {
            ("", "Namespace") => Self::Label,
            ("", "Service") => Self::Dns1035,
            _ => Self::Subdomain,
        }
    }

    fn check(self, name: &str) -> Vec<String> {
        match self {
            Self::Subdomain => validation::dns1123_subdomain(name),
            Self::Label => validation::dns1123_label(name),
            Self::Dns1035 => validation::dns1035_label(name),
        }
    }
}

/// Validates `metadata` of a new or updated object.
pub(crate) fn validate_metadata(info: &ResourceInfo, obj: &Value, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let meta = obj.get("metadata").unwrap_or(&empty);
    let rule = NameRule::for_resource(info);
    let name = get_str(meta, "name").unwrap_or_default();
    let generate_name = get_str(meta, "generateName").unwrap_or_default();
    if name.is_empty() {
        if generate_name.is_empty() {
            errs.push(FieldError::required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        for msg in rule.check(name) {
            errs.push(FieldError::invalid("metadata.name", name, msg));
        }
    }
    if !generate_name.is_empty() {
        // A prefix is valid when it is a valid name once a trailing dash is dropped.
        let masked = generate_name.strip_suffix('-').unwrap_or(generate_name);
        for msg in rule.check(masked) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                msg,
            ));
        }
    }
    let namespace = get_str(meta, "namespace").unwrap_or_default();
    if info.namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in validation::dns1123_label(namespace) {
                errs.push(FieldError::invalid("metadata.namespace", namespace, msg));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(labels) = get_obj(meta, "labels") {
        validate_labels(labels, "metadata.labels", errs);
    }
    if let Some(annotations) = get_obj(meta, "annotations") {
        let mut total = 0;
        for (k, v) in annotations {
            for msg in validation::qualified_name(&k.to_ascii_lowercase()) {
                errs.push(FieldError::invalid("metadata.annotations", k.as_str(), msg));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > MAX_ANNOTATIONS_BYTES {
            errs.push(FieldError::too_long(
                "metadata.annotations",
                MAX_ANNOTATIONS_BYTES,
            ));
        }
    }
    for (i, f) in get_arr(meta, "finalizers").iter().enumerate() {
        let f = f.as_str().unwrap_or_default();
        for msg in validation::qualified_name(f) {
            errs.push(FieldError::invalid(index("metadata.finalizers", i), f, msg));
        }
    }
    let mut controllers = 0;
    for (i, owner) in get_arr(meta, "ownerReferences").iter().enumerate() {
        let path = index("metadata.ownerReferences", i);
        for field in ["apiVersion", "kind", "name", "uid"] {
            if get_str(owner, field).is_none_or(str::is_empty) {
                errs.push(FieldError::required(child(&path, field), ""));
            }
        }
        if owner.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers += 1;
        }
    }
    if controllers > 1 {
        errs.push(FieldError::invalid(
            "metadata.ownerReferences",
            format!("{controllers} controllers"),
            "Only one reference can have Controller set to true",
        ));
    }
}

/// Validates a map of labels (keys qualified names, values label values).
pub(crate) fn validate_labels(
    labels: &serde_json::Map<String, Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    for (k, v) in labels {
        for msg in validation::qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        let v = v.as_str().unwrap_or_default();
        for msg in validation::label_value(v) {
            errs.push(FieldError::invalid(path, v, msg));
        }
    }
}
