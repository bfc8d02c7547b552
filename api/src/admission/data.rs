//! Validation of config maps, secrets, namespaces, volumes and the smaller core kinds.

use base64::Engine;
use serde_json::Value;

use super::FieldError;
use super::util::{child, get_arr, get_obj, get_str, index};
use crate::validation;

/// The largest total size of a config map's or secret's data.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

/// The secret type of bootstrap tokens.
pub const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";

fn validate_keys(obj: &Value, field: &str, errs: &mut Vec<FieldError>) -> usize {
    let mut total = 0;
    for (k, v) in get_obj(obj, field).into_iter().flatten() {
        for msg in validation::config_key(k) {
            errs.push(FieldError::invalid(
                format!("{field}[{k}]"),
                k.as_str(),
                msg,
            ));
        }
        total += v.as_str().map_or(0, str::len);
    }
    total
}

pub(crate) fn validate_config_map(obj: &Value, errs: &mut Vec<FieldError>) {
    let total = validate_keys(obj, "data", errs) + validate_keys(obj, "binaryData", errs);
    if let (Some(data), Some(binary)) = (get_obj(obj, "data"), get_obj(obj, "binaryData")) {
        for k in data.keys().filter(|k| binary.contains_key(*k)) {
            errs.push(FieldError::invalid(
                format!("data[{k}]"),
                k.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
    }
    if total > MAX_DATA_BYTES {
        errs.push(FieldError::too_long("", MAX_DATA_BYTES));
    }
}

fn decoded_len(v: &Value) -> usize {
    v.as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .map_or(0, |d| d.len())
}

pub(crate) fn validate_secret(obj: &Value, errs: &mut Vec<FieldError>) {
    validate_keys(obj, "data", errs);
    validate_keys(obj, "stringData", errs);
    let data = get_obj(obj, "data");
    let total: usize = data
        .into_iter()
        .flatten()
        .map(|(_, v)| decoded_len(v))
        .sum();
    if total > MAX_DATA_BYTES {
        errs.push(FieldError::too_long("data", MAX_DATA_BYTES));
    }
    let has = |key: &str| {
        data.is_some_and(|d| d.contains_key(key))
            || get_obj(obj, "stringData").is_some_and(|d| d.contains_key(key))
    };
    match get_str(obj, "type").unwrap_or("Opaque") {
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(FieldError::required(format!("data[{key}]"), ""));
                }
            }
        }
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.push(FieldError::required("data[.dockerconfigjson]", ""));
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required(
                "data[username]",
                "at least one of username or password is required",
            ));
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => {
            errs.push(FieldError::required("data[ssh-privatekey]", ""));
        }
        "kubernetes.io/service-account-token"
            if obj
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .is_none() =>
        {
            errs.push(FieldError::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
                "",
            ));
        }
        BOOTSTRAP_TOKEN_TYPE => {
            for field in ["data", "stringData"] {
                if get_obj(obj, field).is_some_and(|d| d.contains_key("token-secret")) {
                    errs.push(FieldError::forbidden(
                        format!("{field}[token-secret]"),
                        "bootstrap token secrets store only token-secret-sha256; the plain token secret must not be stored",
                    ));
                }
            }
            if !has("token-id") {
                errs.push(FieldError::required("data[token-id]", ""));
            }
        }
        "" => errs.push(FieldError::required("type", "")),
        _ => {}
    }
}

pub(crate) fn validate_namespace(obj: &Value, errs: &mut Vec<FieldError>) {
    for (i, f) in get_arr(obj.get("spec").unwrap_or(&Value::Null), "finalizers")
        .iter()
        .enumerate()
    {
        let f = f.as_str().unwrap_or_default();
        for msg in validation::qualified_name(f) {
            errs.push(FieldError::invalid(index("spec.finalizers", i), f, msg));
        }
    }
}

const ACCESS_MODES: &[&str] = &[
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

fn validate_access_modes(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let modes = get_arr(spec, "accessModes");
    if modes.is_empty() {
        errs.push(FieldError::required(child(path, "accessModes"), ""));
    }
    for (i, m) in modes.iter().enumerate() {
        let m = m.as_str().unwrap_or_default();
        if !ACCESS_MODES.contains(&m) {
            errs.push(FieldError::not_supported(
                index(&child(path, "accessModes"), i),
                m,
                ACCESS_MODES,
            ));
        }
    }
}

fn validate_storage(q: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    match q.and_then(Value::as_str) {
        None => errs.push(FieldError::required(path, "")),
        Some(s) => match crate::quantity::parse_quantity(s) {
            Ok(q) if q.is_negative() || q.is_zero() => {
                errs.push(FieldError::invalid(path, s, "must be greater than zero"))
            }
            Ok(_) => {}
            Err(e) => errs.push(FieldError::invalid(path, s, e.to_string())),
        },
    }
}

pub(crate) fn validate_pvc(obj: &Value, errs: &mut Vec<FieldError>) {
    validate_pvc_spec(obj.get("spec"), "spec", errs);
}

/// Validates a claim's spec at `path` (`spec`, or a StatefulSet's claim template's).
pub(crate) fn validate_pvc_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        errs.push(FieldError::required(path, ""));
        return;
    };
    validate_access_modes(spec, path, errs);
    validate_storage(
        spec.pointer("/resources/requests/storage"),
        &format!("{path}.resources[storage]"),
        errs,
    );
}

pub(crate) fn validate_pv(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(spec) = obj.get("spec").filter(|s| s.is_object()) else {
        errs.push(FieldError::required("spec", ""));
        return;
    };
    validate_access_modes(spec, "spec", errs);
    validate_storage(
        spec.pointer("/capacity/storage"),
        "spec.capacity[storage]",
        errs,
    );
}

pub(crate) fn validate_lease(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(n) = obj
        .pointer("/spec/leaseDurationSeconds")
        .and_then(Value::as_i64)
        && n <= 0
    {
        errs.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            n,
            "must be greater than 0",
        ));
    }
}

pub(crate) fn validate_core_event(obj: &Value, errs: &mut Vec<FieldError>) {
    let involved = obj.get("involvedObject").filter(|o| o.is_object());
    if involved.is_none() {
        errs.push(FieldError::required("involvedObject", ""));
    }
    if let Some(t) = get_str(obj, "type")
        && !t.is_empty()
        && !["Normal", "Warning"].contains(&t)
    {
        errs.push(FieldError::not_supported("type", t, &["Normal", "Warning"]));
    }
}
