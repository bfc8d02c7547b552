//! The registry router driven in-process: every endpoint and the error codes, with identities
//! inserted as the API server's authentication would. `router_rules_test.rs` shares the fixture.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::auth::ADMIN_GROUP;
use reference::{Digest, RepoName};

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: axum::http::HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Reply {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub(super) fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub(super) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
}

pub(super) fn who(user: &str, group: &str) -> Option<Arc<Identity>> {
    Some(Arc::new(Identity {
        user: user.into(),
        groups: vec![group.into()],
    }))
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = Registry::open(dir.path()).expect("opens");
        Fixture {
            app: router(registry),
            _dir: dir,
        }
    }

    pub(super) async fn send(
        &self,
        identity: Option<Arc<Identity>>,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Body::from(body)).expect("request");
        if let Some(identity) = identity {
            request.extensions_mut().insert(identity);
        }
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(super) async fn admin(&self, method: Method, uri: &str, body: Vec<u8>) -> Reply {
        self.send(who("admin", ADMIN_GROUP), method, uri, &[], body)
            .await
    }

    /// Pushes a blob monolithically and returns its digest.
    pub(super) async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::of(bytes);
        let reply = self
            .admin(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                bytes.to_vec(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
        digest
    }

    pub(super) async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        manifest: &Value,
    ) -> Reply {
        self.send(
            who("admin", ADMIN_GROUP),
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[(
                "content-type",
                manifest["mediaType"].as_str().unwrap_or_default(),
            )],
            serde_json::to_vec(manifest).expect("json"),
        )
        .await
    }
}

pub(super) fn image_manifest(
    config: &Digest,
    config_size: usize,
    layer: &Digest,
    layer_size: usize,
) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config.to_string(), "size": config_size},
        "layers": [{"mediaType": "application/wasm", "digest": layer.to_string(), "size": layer_size}]
    })
}

#[tokio::test]
async fn anonymous_callers_get_a_distribution_401() {
    let fixture = Fixture::new();
    for uri in ["/v2/", "/v2", "/v2/a/tags/list"] {
        let reply = fixture.send(None, Method::GET, uri, &[], vec![]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(reply.code(), "UNAUTHORIZED");
        assert!(reply.header("www-authenticate").starts_with("Basic realm="));
        assert_eq!(
            reply.header("docker-distribution-api-version"),
            "registry/2.0"
        );
    }
    let reply = fixture.admin(Method::GET, "/v2/", vec![]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        "registry/2.0"
    );
}

#[tokio::test]
async fn push_and_pull_an_artifact() {
    let fixture = Fixture::new();
    let layer_bytes = b"\0asm\x0d\x00\x01\x00component".to_vec();
    let config_bytes = br#"{"architecture":"wasm","os":"wasip2"}"#.to_vec();
    let layer = fixture.push_blob("edge/hello", &layer_bytes).await;
    let config = fixture.push_blob("edge/hello", &config_bytes).await;

    let blob = fixture
        .admin(
            Method::GET,
            &format!("/v2/edge/hello/blobs/{layer}"),
            vec![],
        )
        .await;
    assert_eq!(blob.status, StatusCode::OK);
    assert_eq!(blob.body, layer_bytes);
    assert_eq!(blob.header("docker-content-digest"), layer.to_string());
    let head = fixture
        .admin(
            Method::HEAD,
            &format!("/v2/edge/hello/blobs/{layer}"),
            vec![],
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), layer_bytes.len().to_string());
    assert!(head.body.is_empty());
    let part = fixture
        .send(
            who("admin", ADMIN_GROUP),
            Method::GET,
            &format!("/v2/edge/hello/blobs/{layer}"),
            &[("range", "bytes=4-7")],
            vec![],
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, b"\x0d\x00\x01\x00");
    assert_eq!(
        part.header("content-range"),
        format!("bytes 4-7/{}", layer_bytes.len())
    );

    let manifest = image_manifest(&config, config_bytes.len(), &layer, layer_bytes.len());
    let manifest_bytes = serde_json::to_vec(&manifest).expect("json");
    let manifest_digest = Digest::of(&manifest_bytes);
    let put = fixture.put_manifest("edge/hello", "v1", &manifest).await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.json());
    assert_eq!(
        put.header("docker-content-digest"),
        manifest_digest.to_string()
    );
    assert_eq!(
        put.header("location"),
        format!("/v2/edge/hello/manifests/{manifest_digest}")
    );
    for reference in ["v1".to_string(), manifest_digest.to_string()] {
        let got = fixture
            .admin(
                Method::GET,
                &format!("/v2/edge/hello/manifests/{reference}"),
                vec![],
            )
            .await;
        assert_eq!(got.status, StatusCode::OK, "{reference}");
        assert_eq!(got.body, manifest_bytes, "exact bytes by {reference}");
        assert_eq!(got.header("content-type"), manifest::OCI_MANIFEST);
        assert_eq!(
            got.header("docker-content-digest"),
            manifest_digest.to_string()
        );
    }
    // The digest's `:` may arrive escaped.
    let escaped = manifest_digest.to_string().replace(':', "%3A");
    let got = fixture
        .admin(
            Method::HEAD,
            &format!("/v2/edge/hello/manifests/{escaped}"),
            vec![],
        )
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.header("content-length"),
        manifest_bytes.len().to_string()
    );

    let tags = fixture
        .admin(Method::GET, "/v2/edge/hello/tags/list", vec![])
        .await;
    assert_eq!(tags.json(), json!({"name": "edge/hello", "tags": ["v1"]}));
    let catalog = fixture.admin(Method::GET, "/v2/_catalog", vec![]).await;
    assert_eq!(catalog.json(), json!({"repositories": ["edge/hello"]}));
    let unknown = fixture
        .admin(Method::GET, "/v2/nope/tags/list", vec![])
        .await;
    assert_eq!(unknown.code(), "NAME_UNKNOWN");

    // Deleting by tag keeps the manifest; by digest removes it.
    let deleted = fixture
        .admin(Method::DELETE, "/v2/edge/hello/manifests/v1", vec![])
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    let gone = fixture
        .admin(Method::GET, "/v2/edge/hello/manifests/v1", vec![])
        .await;
    assert_eq!(
        (gone.status, gone.code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
    let deleted = fixture
        .admin(
            Method::DELETE,
            &format!("/v2/edge/hello/manifests/{manifest_digest}"),
            vec![],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    let deleted = fixture
        .admin(
            Method::DELETE,
            &format!("/v2/edge/hello/blobs/{layer}"),
            vec![],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    let gone = fixture
        .admin(
            Method::GET,
            &format!("/v2/edge/hello/blobs/{layer}"),
            vec![],
        )
        .await;
    assert_eq!(gone.code(), "BLOB_UNKNOWN");
}

async fn patch(fixture: &Fixture, location: &str, range: &str, bytes: &[u8]) -> Reply {
    fixture
        .send(
            who("admin", ADMIN_GROUP),
            Method::PATCH,
            location,
            &[("content-range", range)],
            bytes.to_vec(),
        )
        .await
}

#[tokio::test]
async fn chunked_uploads_and_mounts() {
    let fixture = Fixture::new();
    let started = fixture
        .admin(Method::POST, "/v2/a/b/blobs/uploads/", vec![])
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    assert_eq!(started.header("range"), "0-0");
    let location = started.header("location").to_string();
    assert!(location.starts_with("/v2/a/b/blobs/uploads/"), "{location}");
    let first = patch(&fixture, &location, "0-4", b"hello").await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.header("range"), "0-4");
    let out_of_order = patch(&fixture, &location, "3-5", b"abc").await;
    assert_eq!(out_of_order.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let second = patch(&fixture, &location, "5-10", b" world").await;
    assert_eq!(second.header("range"), "0-10");
    let status = fixture.admin(Method::GET, &location, vec![]).await;
    assert_eq!(status.status, StatusCode::NO_CONTENT);
    assert_eq!(status.header("range"), "0-10");

    let wrong = Digest::of(b"something else");
    let mismatch = fixture
        .admin(
            Method::PUT,
            &format!("{location}?digest={wrong}"),
            b"!".to_vec(),
        )
        .await;
    assert_eq!(
        (mismatch.status, mismatch.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    let after = fixture.admin(Method::GET, &location, vec![]).await;
    assert_eq!(
        after.code(),
        "BLOB_UPLOAD_UNKNOWN",
        "a failed upload is gone"
    );

    // Again, finishing with a last chunk in the PUT.
    let started = fixture
        .admin(Method::POST, "/v2/a/b/blobs/uploads/", vec![])
        .await;
    let location = started.header("location").to_string();
    fixture
        .admin(Method::PATCH, &location, b"hello".to_vec())
        .await;
    let digest = Digest::of(b"hello world");
    let done = fixture
        .admin(
            Method::PUT,
            &format!("{location}?digest={digest}"),
            b" world".to_vec(),
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{:?}", done.json());
    assert_eq!(done.header("location"), format!("/v2/a/b/blobs/{digest}"));

    // Mounting into another repository links the blob without an upload.
    let mounted = fixture
        .admin(
            Method::POST,
            &format!("/v2/c/blobs/uploads/?mount={digest}&from=a/b"),
            vec![],
        )
        .await;
    assert_eq!(mounted.status, StatusCode::CREATED);
    let got = fixture
        .admin(Method::GET, &format!("/v2/c/blobs/{digest}"), vec![])
        .await;
    assert_eq!(got.body, b"hello world");
    // A mount of something the source does not have starts a normal session instead.
    let missing = Digest::of(b"missing");
    let fallback = fixture
        .admin(
            Method::POST,
            &format!("/v2/c/blobs/uploads/?mount={missing}&from=a/b"),
            vec![],
        )
        .await;
    assert_eq!(fallback.status, StatusCode::ACCEPTED);
    let cancelled = fixture
        .admin(Method::DELETE, fallback.header("location"), vec![])
        .await;
    assert_eq!(cancelled.status, StatusCode::NO_CONTENT);

    let bad = fixture
        .admin(
            Method::POST,
            &format!("/v2/c/blobs/uploads/?digest={wrong}"),
            b"not it".to_vec(),
        )
        .await;
    assert_eq!(bad.code(), "DIGEST_INVALID");
    let unknown = fixture
        .admin(Method::GET, &format!("/v2/c/blobs/{wrong}"), vec![])
        .await;
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN")
    );
}

#[tokio::test]
async fn bad_requests() {
    let fixture = Fixture::new();
    let cases = [
        (
            Method::GET,
            "/v2/Upper/tags/list",
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/a/../b/tags/list",
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/a/blobs/sha256:1234",
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::GET,
            "/v2/a/whatever",
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
        ),
        (
            Method::POST,
            "/v2/a/manifests/v1",
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
        ),
        (
            Method::GET,
            "/v2/a/tags/list?n=x",
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
        ),
        (
            Method::PATCH,
            "/v2/a/blobs/uploads/00000000-0000-4000-8000-000000000000",
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        ),
    ];
    for (method, uri, status, code) in cases {
        let reply = fixture.admin(method.clone(), uri, vec![]).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code.to_string()),
            "{method} {uri}"
        );
    }
}

#[test]
fn access_per_method() {
    let repo = RepoName::parse("a").expect("name");
    let digest = Digest::of(b"");
    let manifest = Route::Manifest(repo.clone(), reference::Reference::Tag("t".into()));
    let upload = Route::Upload(repo.clone(), uuid::Uuid::new_v4());
    let cases = [
        (Route::Base, Method::GET, Some(Access::Pull)),
        (Route::Catalog, Method::GET, Some(Access::Pull)),
        (Route::Catalog, Method::DELETE, None),
        (manifest.clone(), Method::HEAD, Some(Access::Pull)),
        (manifest.clone(), Method::PUT, Some(Access::Push)),
        (manifest.clone(), Method::DELETE, Some(Access::Delete)),
        (manifest, Method::POST, None),
        (Route::Blob(repo.clone(), digest.clone()), Method::PUT, None),
        (
            Route::Blob(repo.clone(), digest),
            Method::DELETE,
            Some(Access::Delete),
        ),
        (
            Route::UploadStart(repo.clone()),
            Method::POST,
            Some(Access::Push),
        ),
        (Route::UploadStart(repo), Method::GET, None),
        (upload.clone(), Method::GET, Some(Access::Push)),
        (upload.clone(), Method::PATCH, Some(Access::Push)),
        (upload, Method::POST, None),
    ];
    for (route, method, want) in cases {
        assert_eq!(
            required_access(&route, &method).ok(),
            want,
            "{method} {route:?}"
        );
    }
}

#[test]
fn percent_decoding() {
    assert_eq!(
        percent_decode("a/manifests/sha256%3Aab"),
        "a/manifests/sha256:ab"
    );
    assert_eq!(percent_decode("plain"), "plain");
    assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
}
