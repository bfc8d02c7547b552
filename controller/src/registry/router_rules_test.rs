//! The registry's rules, driven in-process: a manifest is accepted only when everything it
//! references is in the repository, referrers are listed, and readers pull but never push.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::manifest;
use super::reference::Digest;
use super::tests::{Fixture, image_manifest, who};
use crate::auth::{NODES_GROUP, VIEW_GROUP};

#[tokio::test]
async fn manifests_must_reference_what_exists() {
    let fixture = Fixture::new();
    let layer = fixture.push_blob("img", b"layer").await;
    let missing = Digest::of(b"no such config");
    let manifest = image_manifest(&missing, 14, &layer, 5);
    let refused = fixture.put_manifest("img", "v1", &manifest).await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN")
    );
    // A blob of another repository is not this repository's.
    let config = fixture.push_blob("other", b"{}").await;
    let refused = fixture
        .put_manifest("img", "v1", &image_manifest(&config, 2, &layer, 5))
        .await;
    assert_eq!(refused.code(), "MANIFEST_BLOB_UNKNOWN");
    let config = fixture.push_blob("img", b"{}").await;
    let wrong_size = fixture
        .put_manifest("img", "v1", &image_manifest(&config, 3, &layer, 5))
        .await;
    assert_eq!(wrong_size.code(), "MANIFEST_INVALID");
    let child = image_manifest(&config, 2, &layer, 5);
    let child_bytes = serde_json::to_vec(&child).expect("json");
    let child_digest = Digest::of(&child_bytes);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": [{"mediaType": manifest::OCI_MANIFEST, "digest": child_digest.to_string(), "size": child_bytes.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}]
    });
    let refused = fixture.put_manifest("img", "multi", &index).await;
    assert_eq!(refused.code(), "MANIFEST_BLOB_UNKNOWN");
    let by_digest = fixture
        .put_manifest("img", &child_digest.to_string(), &child)
        .await;
    assert_eq!(by_digest.status, StatusCode::CREATED);
    let wrong_digest = fixture
        .put_manifest("img", &Digest::of(b"x").to_string(), &child)
        .await;
    assert_eq!(wrong_digest.code(), "DIGEST_INVALID");
    let accepted = fixture.put_manifest("img", "multi", &index).await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "{:?}",
        accepted.json()
    );

    // A referrer (an artifact whose subject is the image) is listed by the referrers API.
    let signature = json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer.to_string(), "size": 5}],
        "subject": {"mediaType": manifest::OCI_MANIFEST, "digest": child_digest.to_string(), "size": child_bytes.len()}
    });
    let put = fixture.put_manifest("img", "sig", &signature).await;
    assert_eq!(put.header("oci-subject"), child_digest.to_string());
    let referrers = fixture
        .admin(
            Method::GET,
            &format!("/v2/img/referrers/{child_digest}"),
            vec![],
        )
        .await;
    let listed = &referrers.json()["manifests"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        listed[0]["artifactType"],
        "application/vnd.example.signature"
    );
    let filtered = fixture
        .admin(
            Method::GET,
            &format!("/v2/img/referrers/{child_digest}?artifactType=application/other"),
            vec![],
        )
        .await;
    assert_eq!(filtered.json()["manifests"], json!([]));
    assert_eq!(filtered.header("oci-filters-applied"), "artifactType");
}

#[tokio::test]
async fn readers_pull_but_do_not_push() {
    let fixture = Fixture::new();
    let digest = fixture.push_blob("app", b"bytes").await;
    let readers = [who("v", VIEW_GROUP), who("system:node:pi-1", NODES_GROUP)];
    for reader in readers {
        let got = fixture
            .send(
                reader.clone(),
                Method::GET,
                &format!("/v2/app/blobs/{digest}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(got.status, StatusCode::OK);
        let pushed = fixture
            .send(
                reader.clone(),
                Method::POST,
                "/v2/app/blobs/uploads/",
                &[],
                vec![],
            )
            .await;
        assert_eq!(
            (pushed.status, pushed.code().as_str()),
            (StatusCode::FORBIDDEN, "DENIED")
        );
        let deleted = fixture
            .send(
                reader,
                Method::DELETE,
                &format!("/v2/app/blobs/{digest}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(deleted.code(), "DENIED");
    }
    let stranger = fixture
        .send(
            who("bob", "dev"),
            Method::GET,
            &format!("/v2/app/blobs/{digest}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(stranger.code(), "DENIED");
}
