//! `GET /v2/<name>/referrers/<digest>`: the manifests of a repository whose `subject` is the
//! digest (signatures, SBOMs, attestations), as an OCI image index, filterable by `artifactType`.
//!
//! There is no index of subjects: each call reads the repository's manifests, which is cheap at
//! the size of an edge fleet's registry.

use std::collections::HashMap;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Registry;
use super::blobs::insert;
use super::error::RegistryError;
use super::manifest::{OCI_INDEX, OCI_MANIFEST};
use super::reference::{Digest, Reference, RepoName};

pub async fn list(
    registry: &Registry,
    repo: &RepoName,
    subject: &Digest,
    query: &HashMap<String, String>,
) -> Result<Response, RegistryError> {
    let wanted_type = query.get("artifactType");
    let subject_text = subject.to_string();
    let mut descriptors = Vec::new();
    for digest in registry.storage.revisions(repo).await? {
        let Some(stored) = registry
            .storage
            .manifest(repo, &Reference::Digest(digest.clone()))
            .await?
        else {
            continue;
        };
        let bytes = match tokio::fs::read(registry.storage.blob_path(&digest)).await {
            Ok(bytes) => bytes,
            Err(e) => return Err(RegistryError::storage(format!("reading {digest}"), e)),
        };
        let Ok(manifest) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if let Some(descriptor) = referrer(&manifest, &stored.media_type, &subject_text) {
            let matches = wanted_type.is_none_or(|t| descriptor["artifactType"] == t.as_str());
            if matches {
                let mut descriptor = descriptor;
                descriptor["digest"] = json!(digest.to_string());
                descriptor["size"] = json!(bytes.len());
                descriptors.push(descriptor);
            }
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": descriptors,
    });
    let mut response = axum::Json(index).into_response();
    insert(response.headers_mut(), header::CONTENT_TYPE, OCI_INDEX);
    if wanted_type.is_some() {
        insert(
            response.headers_mut(),
            "oci-filters-applied",
            "artifactType",
        );
    }
    Ok(response)
}

/// The index entry of `manifest` when it refers to `subject` (digest and size are filled in by
/// the caller): its artifact type is `artifactType`, else the config's media type.
fn referrer(manifest: &Value, media_type: &str, subject: &str) -> Option<Value> {
    if manifest.pointer("/subject/digest")?.as_str()? != subject {
        return None;
    }
    let artifact_type = manifest
        .get("artifactType")
        .or_else(|| {
            (media_type == OCI_MANIFEST)
                .then(|| manifest.pointer("/config/mediaType"))
                .flatten()
        })
        .cloned()
        .unwrap_or(Value::Null);
    let mut descriptor = json!({"mediaType": media_type, "artifactType": artifact_type});
    if let Some(annotations) = manifest.get("annotations") {
        descriptor["annotations"] = annotations.clone();
    }
    Some(descriptor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrer_descriptors() {
        let subject = format!("sha256:{}", "a".repeat(64));
        let signature = json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.dev.cosign.artifact.sig.v1+json"},
            "subject": {"digest": subject},
            "annotations": {"k": "v"}
        });
        let entry = referrer(&signature, OCI_MANIFEST, &subject).expect("refers");
        assert_eq!(
            entry["artifactType"],
            "application/vnd.dev.cosign.artifact.sig.v1+json"
        );
        assert_eq!(entry["annotations"]["k"], "v");
        let sbom = json!({"artifactType": "application/spdx+json", "subject": {"digest": subject}});
        assert_eq!(
            referrer(&sbom, OCI_MANIFEST, &subject).expect("refers")["artifactType"],
            "application/spdx+json"
        );
        let other = json!({"subject": {"digest": format!("sha256:{}", "b".repeat(64))}});
        assert!(referrer(&other, OCI_MANIFEST, &subject).is_none());
        assert!(referrer(&json!({}), OCI_MANIFEST, &subject).is_none());
    }
}
