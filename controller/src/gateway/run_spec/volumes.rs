//! A pod's volumes with their sources resolved: ConfigMap, Secret, downward API and projected
//! volumes become the files to write, claims become the local volume's claim uid.

use std::collections::{HashMap, HashSet};

use edge_api::{meta, quantity::parse_quantity};
use edge_wire::link::{VolumeFile, VolumeSource, VolumeSpec};
use serde_json::Value;

use super::env::{divisor, find_container, not_found};
use super::{
    ConfigError, PodContext, RefKind, ResolvedVolumes, array, bool_at, data_value, decode_base64,
    downward, str_at,
};

/// The mode of API data volume files without one of their own (`0644`).
const DEFAULT_FILE_MODE: u32 = 0o644;

/// Resolves every volume of the pod; a volume that cannot be resolved is left out of `volumes`
/// and its error recorded for the containers that mount it.
pub(super) fn resolve_volumes(ctx: &PodContext) -> ResolvedVolumes {
    let mut out = ResolvedVolumes {
        volumes: Vec::new(),
        errors: HashMap::new(),
        read_only: HashSet::new(),
    };
    for v in array(ctx.spec(), "volumes") {
        let Some(name) = str_at(v, "name") else {
            continue;
        };
        match volume_source(ctx, v) {
            Ok((source, read_only)) => {
                if read_only {
                    out.read_only.insert(name.to_owned());
                }
                out.volumes.push(VolumeSpec {
                    name: name.to_owned(),
                    source,
                });
            }
            Err(e) => {
                out.errors.insert(name.to_owned(), e);
            }
        }
    }
    out
}

/// The claim a generic ephemeral volume uses: `<pod name>-<volume name>`.
pub(super) fn ephemeral_claim_name(pod: &str, volume: &str) -> String {
    format!("{pod}-{volume}")
}

/// A volume's source, and whether every mount of it is read-only.
fn volume_source(ctx: &PodContext, v: &Value) -> Result<(VolumeSource, bool), ConfigError> {
    if let Some(e) = v.get("emptyDir") {
        let medium = str_at(e, "medium").unwrap_or_default();
        if medium.starts_with("HugePages") {
            return Err(ConfigError::UnsupportedVolume {
                kind: format!("emptyDir medium {medium}"),
            });
        }
        let size_limit_bytes = str_at(e, "sizeLimit")
            .and_then(|q| parse_quantity(q).ok())
            .and_then(|q| u64::try_from(q.value()).ok());
        let source = VolumeSource::EmptyDir {
            memory: medium == "Memory",
            size_limit_bytes,
        };
        return Ok((source, false));
    }
    if let Some(h) = v.get("hostPath") {
        let source = VolumeSource::HostPath {
            path: str_at(h, "path").unwrap_or_default().to_owned(),
            kind: str_at(h, "type").unwrap_or_default().to_owned(),
        };
        return Ok((source, false));
    }
    if let Some(claim) = v.get("persistentVolumeClaim") {
        let name = str_at(claim, "claimName").unwrap_or_default();
        return Ok((local_claim(ctx, name)?, bool_at(claim, "readOnly")));
    }
    if v.get("ephemeral").is_some() {
        let pod = meta::name(ctx.pod).unwrap_or_default();
        let name = ephemeral_claim_name(pod, str_at(v, "name").unwrap_or_default());
        return Ok((local_claim(ctx, &name)?, false));
    }
    let mut files = Vec::new();
    let source = if let Some(s) = v.get("configMap") {
        let name = str_at(s, "name").unwrap_or_default();
        object_files(ctx, RefKind::ConfigMap, name, s, &mut files)?;
        s
    } else if let Some(s) = v.get("secret") {
        let name = str_at(s, "secretName").unwrap_or_default();
        object_files(ctx, RefKind::Secret, name, s, &mut files)?;
        s
    } else if let Some(s) = v.get("downwardAPI") {
        downward_files(ctx, s, &mut files)?;
        s
    } else if let Some(s) = v.get("projected") {
        projected_files(ctx, s, &mut files)?;
        s
    } else {
        let kind = v
            .as_object()
            .and_then(|m| m.keys().find(|k| *k != "name").cloned())
            .unwrap_or_default();
        return Err(ConfigError::UnsupportedVolume { kind });
    };
    let default_mode = mode(source, "defaultMode").unwrap_or(DEFAULT_FILE_MODE);
    Ok((
        VolumeSource::Files {
            files,
            default_mode,
        },
        true,
    ))
}

/// A claim of this pod's namespace, by name. Whether it is bound is not checked: local claims
/// are provisioned by the agent itself.
fn local_claim(ctx: &PodContext, name: &str) -> Result<VolumeSource, ConfigError> {
    let claim = ctx
        .lookup(RefKind::PersistentVolumeClaim, name)
        .ok_or_else(|| not_found(RefKind::PersistentVolumeClaim, name))?;
    let uid = meta::uid(&claim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| not_found(RefKind::PersistentVolumeClaim, name))?;
    Ok(VolumeSource::LocalClaim {
        claim_uid: uid.to_owned(),
    })
}

/// The files of a ConfigMap or Secret source (a volume or a projected source): every key sorted,
/// or the listed `items`. A missing object or key is an error unless `optional`.
fn object_files(
    ctx: &PodContext,
    kind: RefKind,
    name: &str,
    source: &Value,
    files: &mut Vec<VolumeFile>,
) -> Result<(), ConfigError> {
    let optional = bool_at(source, "optional");
    let Some(obj) = ctx.lookup(kind, name) else {
        return if optional {
            Ok(())
        } else {
            Err(not_found(kind, name))
        };
    };
    let value = |key: &str| -> Result<Option<Vec<u8>>, ConfigError> {
        if let Some(v) = data_value(&obj, kind, ctx.namespace, name, key)? {
            return Ok(Some(v));
        }
        match (kind, obj.get("binaryData").and_then(|b| b.get(key))) {
            (RefKind::ConfigMap, Some(b)) => {
                let text = b.as_str().unwrap_or_default();
                decode_base64(text, "ConfigMap", ctx.namespace, name, key).map(Some)
            }
            _ => Ok(None),
        }
    };
    let items = array(source, "items");
    if items.is_empty() {
        let mut keys: Vec<&String> = ["data", "binaryData"]
            .into_iter()
            .filter_map(|field| obj.get(field).and_then(Value::as_object))
            .flat_map(|m| m.keys())
            .collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            if let Some(content) = value(key)? {
                files.push(VolumeFile {
                    path: key.clone(),
                    content,
                    mode: None,
                });
            }
        }
        return Ok(());
    }
    for item in items {
        let key = str_at(item, "key").unwrap_or_default();
        let Some(content) = value(key)? else {
            if optional {
                continue;
            }
            let key = key.to_owned();
            return Err(match kind {
                RefKind::Secret => ConfigError::VolumeSecretKey { key },
                _ => ConfigError::VolumeConfigMapKey { key },
            });
        };
        files.push(VolumeFile {
            path: str_at(item, "path").unwrap_or(key).to_owned(),
            content,
            mode: mode(item, "mode"),
        });
    }
    Ok(())
}

/// The files of a downward API volume or projected source: one per item, from a pod field or a
/// container resource.
fn downward_files(
    ctx: &PodContext,
    source: &Value,
    files: &mut Vec<VolumeFile>,
) -> Result<(), ConfigError> {
    for item in array(source, "items") {
        let content = if let Some(f) = item.get("fieldRef") {
            downward::field_value(ctx.pod, str_at(f, "fieldPath").unwrap_or_default())?
        } else if let Some(r) = item.get("resourceFieldRef") {
            let container = find_container(ctx, str_at(r, "containerName").unwrap_or_default())?;
            let resource = str_at(r, "resource").unwrap_or_default();
            downward::resource_value(ctx, container, resource, divisor(r).as_deref())?
        } else {
            continue;
        };
        files.push(VolumeFile {
            path: str_at(item, "path").unwrap_or_default().to_owned(),
            content: content.into_bytes(),
            mode: mode(item, "mode"),
        });
    }
    Ok(())
}

/// The files of a projected volume, source by source. Service account tokens and cluster trust
/// bundles are not issued to edge pods, so those sources add no files.
fn projected_files(
    ctx: &PodContext,
    projected: &Value,
    files: &mut Vec<VolumeFile>,
) -> Result<(), ConfigError> {
    for source in array(projected, "sources") {
        if let Some(s) = source.get("configMap") {
            let name = str_at(s, "name").unwrap_or_default();
            object_files(ctx, RefKind::ConfigMap, name, s, files)?;
        } else if let Some(s) = source.get("secret") {
            let name = str_at(s, "name").unwrap_or_default();
            object_files(ctx, RefKind::Secret, name, s, files)?;
        } else if let Some(s) = source.get("downwardAPI") {
            downward_files(ctx, s, files)?;
        }
    }
    Ok(())
}

fn mode(v: &Value, key: &str) -> Option<u32> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
}

#[cfg(test)]
#[path = "volumes_test.rs"]
mod tests;
