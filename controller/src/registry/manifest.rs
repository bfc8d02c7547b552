//! What an uploaded manifest refers to: its media type, the blobs (config, layers) of an image
//! manifest and the manifests of an index, so a push can be refused while any is missing.
//!
//! The manifest's bytes are stored exactly as sent; this module only reads them.

use serde_json::Value;

use super::error::RegistryError;
use super::reference::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest accepted; the spec asks registries to take at least 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A descriptor the manifest points at, which must exist in the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referenced {
    pub digest: Digest,
    pub size: u64,
}

/// The parts of a manifest the registry checks and serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRefs {
    /// The media type served as `Content-Type`.
    pub media_type: String,
    /// Config and layers of an image manifest (layers with `urls`, Docker's foreign layers,
    /// live elsewhere and are not required).
    pub blobs: Vec<Referenced>,
    /// Entries of an index or manifest list.
    pub manifests: Vec<Referenced>,
    /// The `subject` of a referrer (an artifact attached to another manifest), which the spec
    /// lets a client push before its subject.
    pub subject: Option<Digest>,
}

impl ManifestRefs {
    /// Reads a manifest uploaded with `content_type` (the request's `Content-Type`, if any).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<ManifestRefs, RegistryError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::ManifestInvalid(format!("not JSON: {e}")))?;
        if !value.is_object() {
            return Err(RegistryError::ManifestInvalid("not a JSON object".into()));
        }
        if value.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err(RegistryError::ManifestInvalid(
                "schemaVersion must be 2 (Docker schema 1 manifests are not supported)".into(),
            ));
        }
        let declared = value.get("mediaType").and_then(Value::as_str);
        // `Content-Type` may carry parameters; generic types say nothing about the manifest.
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim())
            .filter(|c| {
                !c.is_empty() && *c != "application/json" && *c != "application/octet-stream"
            });
        let media_type = match (header, declared) {
            (Some(header), Some(declared)) if header != declared => {
                return Err(RegistryError::ManifestInvalid(format!(
                    "Content-Type {header} differs from the manifest's mediaType {declared}"
                )));
            }
            (Some(media_type), _) | (None, Some(media_type)) => media_type.to_string(),
            // An OCI manifest may omit mediaType; its shape says which it is.
            (None, None) if value.get("manifests").is_some() => OCI_INDEX.to_string(),
            (None, None) => OCI_MANIFEST.to_string(),
        };
        let mut refs = ManifestRefs {
            media_type,
            blobs: Vec::new(),
            manifests: Vec::new(),
            subject: None,
        };
        match refs.media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let config = value.get("config").ok_or_else(|| {
                    RegistryError::ManifestInvalid("an image manifest needs a config".into())
                })?;
                refs.blobs.push(descriptor(config, "config")?);
                for (i, layer) in list(&value, "layers")?.iter().enumerate() {
                    if layer.get("urls").is_some() {
                        continue;
                    }
                    refs.blobs.push(descriptor(layer, &format!("layers[{i}]"))?);
                }
            }
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                for (i, entry) in list(&value, "manifests")?.iter().enumerate() {
                    refs.manifests
                        .push(descriptor(entry, &format!("manifests[{i}]"))?);
                }
            }
            other => {
                return Err(RegistryError::ManifestInvalid(format!(
                    "media type {other:?} is not supported: push an OCI image manifest or index, or a Docker v2 schema 2 manifest or manifest list"
                )));
            }
        }
        if let Some(subject) = value.get("subject") {
            refs.subject = Some(descriptor(subject, "subject")?.digest);
        }
        Ok(refs)
    }
}

fn list<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>, RegistryError> {
    match value.get(field) {
        Some(Value::Array(items)) => Ok(items),
        None => Err(RegistryError::ManifestInvalid(format!(
            "{field} is missing"
        ))),
        Some(_) => Err(RegistryError::ManifestInvalid(format!(
            "{field} must be a list"
        ))),
    }
}

fn descriptor(value: &Value, field: &str) -> Result<Referenced, RegistryError> {
    let digest = value
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| RegistryError::ManifestInvalid(format!("{field}.digest is missing")))?;
    let digest = Digest::parse(digest)
        .map_err(|e| RegistryError::ManifestInvalid(format!("{field}.digest: {e}")))?;
    let size = value.get("size").and_then(Value::as_u64).ok_or_else(|| {
        RegistryError::ManifestInvalid(format!("{field}.size must be a non-negative integer"))
    })?;
    Ok(Referenced { digest, size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest(n: u8) -> String {
        format!("sha256:{}", hex::encode([n; 32]))
    }

    fn bytes(value: Value) -> Vec<u8> {
        serde_json::to_vec(&value).expect("serialises")
    }

    #[test]
    fn image_manifests() {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": digest(1), "size": 10},
            "layers": [
                {"mediaType": "application/wasm", "digest": digest(2), "size": 20},
                {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": digest(3), "size": 30, "urls": ["https://example.invalid/l"]}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest(4), "size": 40}
        });
        let refs = ManifestRefs::parse(&bytes(manifest), Some(OCI_MANIFEST)).expect("valid");
        assert_eq!(refs.media_type, OCI_MANIFEST);
        let blobs: Vec<(String, u64)> = refs
            .blobs
            .iter()
            .map(|r| (r.digest.to_string(), r.size))
            .collect();
        assert_eq!(blobs, vec![(digest(1), 10), (digest(2), 20)]);
        assert!(refs.manifests.is_empty());
        assert_eq!(refs.subject.map(|d| d.to_string()), Some(digest(4)));

        // Docker v2 schema 2, typed only by its header.
        let docker = json!({
            "schemaVersion": 2,
            "config": {"digest": digest(1), "size": 1},
            "layers": []
        });
        let refs = ManifestRefs::parse(&bytes(docker), Some(DOCKER_MANIFEST)).expect("valid");
        assert_eq!(refs.media_type, DOCKER_MANIFEST);
        assert_eq!(refs.blobs.len(), 1);
    }

    #[test]
    fn indexes() {
        let index = json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": digest(5), "size": 50, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": digest(6), "size": 60, "platform": {"os": "linux", "architecture": "arm64"}}
            ]
        });
        let refs =
            ManifestRefs::parse(&bytes(index.clone()), Some("application/json")).expect("valid");
        assert_eq!(refs.media_type, OCI_INDEX);
        assert_eq!(refs.manifests.len(), 2);
        assert!(refs.blobs.is_empty());
        let refs = ManifestRefs::parse(&bytes(index), Some(DOCKER_MANIFEST_LIST)).expect("valid");
        assert_eq!(refs.media_type, DOCKER_MANIFEST_LIST);
    }

    #[test]
    fn invalid_manifests() {
        let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
            (b"not json".to_vec(), None, "not JSON"),
            (bytes(json!([1])), None, "object"),
            (bytes(json!({"schemaVersion": 1})), None, "schemaVersion"),
            (
                bytes(json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []})),
                None,
                "config",
            ),
            (
                bytes(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})),
                Some(OCI_MANIFEST),
                "differs",
            ),
            (
                bytes(
                    json!({"schemaVersion": 2, "config": {"digest": "sha256:zz", "size": 1}, "layers": []}),
                ),
                None,
                "config.digest",
            ),
            (
                bytes(
                    json!({"schemaVersion": 2, "config": {"digest": digest(1), "size": -1}, "layers": []}),
                ),
                None,
                "config.size",
            ),
            (
                bytes(json!({"schemaVersion": 2, "mediaType": "text/plain"})),
                None,
                "not supported",
            ),
        ];
        for (body, content_type, needle) in cases {
            match ManifestRefs::parse(&body, content_type) {
                Err(err) => {
                    assert_eq!(err.code(), "MANIFEST_INVALID", "{err}");
                    assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
                }
                Ok(refs) => panic!("expected {needle:?} to be refused, got {refs:?}"),
            }
        }
    }
}
