//! The built-in OCI registry: the distribution API v1.1 under `/v2/` on the API port, so an
//! air-gapped fleet can publish (`edgectl push`) and pull Wasm components and images from its
//! controller alone.
//!
//! **Storage** is `DATA_DIR/registry/` (`storage` has the layout): content-addressed blobs,
//! uploads streamed to disk and hashed as they arrive (`upload`), per-repository links and
//! tags written atomically. Manifests are kept byte for byte; a manifest is accepted only when
//! every blob and child manifest it references is in the repository (`MANIFEST_BLOB_UNKNOWN`).
//!
//! **Access** comes from the API server's authentication: the caller's client certificate
//! identity. `/v2` is a public path for the `authenticate` middleware only so that anonymous
//! callers get the distribution error format (401 `UNAUTHORIZED` with `WWW-Authenticate`) from
//! this router rather than a Kubernetes `Status`. Administrators push, pull and delete; the
//! `view` group and nodes pull (`access`).
//!
//! **Bodies** are streamed: this router lifts the API's body limit, blob uploads never sit in
//! memory, and manifests are capped at `manifest::MAX_MANIFEST_BYTES`.
//!
//! **Limitation:** every controller serves its own registry from its own data directory; the
//! registry is not replicated through Raft. With several controllers, push to and pull from the
//! same one (or push to each). Deleted blobs are unlinked, never garbage-collected.

pub mod access;
pub mod blobs;
pub mod error;
pub mod inspect;
pub mod manifest;
pub mod manifests;
pub mod range;
pub mod reference;
pub mod referrers;
pub mod route;
pub mod storage;
pub mod upload;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::auth::Identity;
use access::Access;
use error::RegistryError;
use route::Route;
use storage::Storage;
use upload::Uploads;

/// The registry of this controller: its files and its upload sessions.
pub struct Registry {
    storage: Storage,
    uploads: Uploads,
}

impl Registry {
    /// Opens (creating) `DATA_DIR/registry`, removing abandoned uploads.
    pub fn open(data_dir: &Path) -> Result<Arc<Registry>, RegistryError> {
        let storage = Storage::open(&data_dir.join("registry"))?;
        let uploads = Uploads::open(storage.uploads_dir());
        Ok(Arc::new(Registry { storage, uploads }))
    }
}

/// The `/v2` routes, to merge into the API router inside its authentication layer.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", any(serve))
        .route("/v2/", any(serve))
        .route("/v2/{*rest}", any(serve))
        .with_state(registry)
        // Blob bodies are streamed to disk, so the API's limit for JSON objects does not apply.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(require_identity))
}

/// Answers callers without an identity in the registry's own format, and marks every answer
/// with the API version header Docker clients look for.
async fn require_identity(req: Request, next: Next) -> Response {
    let mut response = if req.extensions().get::<Arc<Identity>>().is_some() {
        next.run(req).await
    } else {
        RegistryError::Unauthorized(
            "a client certificate signed by the cluster CA is required (see `edgectl kubeconfig user`)"
                .into(),
        )
        .into_response()
    };
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

async fn serve(
    State(registry): State<Arc<Registry>>,
    identity: Option<axum::Extension<Arc<Identity>>>,
    req: Request,
) -> Response {
    let Some(axum::Extension(identity)) = identity else {
        return RegistryError::Unauthorized("no client identity".into()).into_response();
    };
    match dispatch(&registry, &identity, req).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn dispatch(
    registry: &Registry,
    identity: &Identity,
    req: Request,
) -> Result<Response, RegistryError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let rest = path
        .strip_prefix("/v2")
        .map(|rest| rest.strip_prefix('/').unwrap_or(rest))
        .unwrap_or_default();
    let route = Route::parse(&percent_decode(rest))?;
    let method = parts.method.clone();
    access::authorize(identity, required_access(&route, &method)?)?;
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|Query(query)| query)
        .unwrap_or_default();
    let headers = &parts.headers;
    let head = method == Method::HEAD;
    match route {
        Route::Base => Ok(axum::Json(serde_json::json!({})).into_response()),
        Route::Catalog => manifests::catalog(registry, &query).await,
        Route::Tags(repo) => manifests::tags(registry, &repo, &query).await,
        Route::Manifest(repo, reference) => match method {
            Method::PUT => manifests::put(registry, &repo, &reference, headers, body).await,
            Method::DELETE => manifests::delete(registry, &repo, &reference).await,
            _ => manifests::get(registry, &repo, &reference, head).await,
        },
        Route::Blob(repo, digest) => match method {
            Method::DELETE => blobs::delete(registry, &repo, &digest).await,
            _ => blobs::get(registry, &repo, &digest, headers, head).await,
        },
        Route::UploadStart(repo) => blobs::start(registry, &repo, &query, body).await,
        Route::Upload(repo, id) => match method {
            Method::PATCH => blobs::patch(registry, &repo, id, headers, body).await,
            Method::PUT => blobs::finish(registry, &repo, id, &query, headers, body).await,
            Method::DELETE => blobs::cancel(registry, id).await,
            _ => blobs::status(registry, &repo, id).await,
        },
        Route::Referrers(repo, digest) => referrers::list(registry, &repo, &digest, &query).await,
    }
}

/// What `method` on `route` needs, or `UNSUPPORTED` for a method the endpoint does not serve.
pub fn required_access(route: &Route, method: &Method) -> Result<Access, RegistryError> {
    let read = *method == Method::GET || *method == Method::HEAD;
    let allowed = match route {
        Route::Base | Route::Catalog | Route::Tags(_) | Route::Referrers(..) if read => {
            Some(Access::Pull)
        }
        Route::Manifest(..) | Route::Blob(..) if read => Some(Access::Pull),
        Route::Manifest(..) if *method == Method::PUT => Some(Access::Push),
        Route::Manifest(..) | Route::Blob(..) if *method == Method::DELETE => Some(Access::Delete),
        Route::UploadStart(_) if *method == Method::POST => Some(Access::Push),
        Route::Upload(..)
            if *method == Method::GET
                || *method == Method::PATCH
                || *method == Method::PUT
                || *method == Method::DELETE =>
        {
            Some(Access::Push)
        }
        _ => None,
    };
    allowed.ok_or_else(|| RegistryError::Unsupported(format!("{method} on this endpoint")))
}

/// Decodes `%XX` escapes: some clients escape the `:` of digests. Invalid escapes stay as they
/// are, and the result is validated as a name, reference or digest afterwards.
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "router_test.rs"]
mod tests;

#[cfg(test)]
#[path = "router_rules_test.rs"]
mod rules_tests;
