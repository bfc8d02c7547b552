//! The blob endpoints: download (with `Range`), delete, and uploads — monolithic (`POST ?digest=`),
//! chunked sessions (`POST`, `PATCH`, `PUT ?digest=`, status, cancel) and cross-repository mounts.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use super::Registry;
use super::error::RegistryError;
use super::range::{RangeRequest, parse_content_range, parse_range, upload_range};
use super::reference::{Digest, RepoName};

pub const DIGEST_HEADER: &str = "docker-content-digest";
const UPLOAD_UUID_HEADER: &str = "docker-upload-uuid";

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`.
pub async fn get(
    registry: &Registry,
    repo: &RepoName,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, RegistryError> {
    let size = registry
        .storage
        .repo_blob_size(repo, digest)
        .await?
        .ok_or_else(|| RegistryError::BlobUnknown(format!("{digest} in {repo}")))?;
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        size,
    );
    let digest_value = digest.to_string();
    let common = [
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        (header::ETAG, format!("\"{digest_value}\"")),
    ];
    let (status, start, len) = match range {
        RangeRequest::Whole => (StatusCode::OK, 0, size),
        RangeRequest::Part(part) => (StatusCode::PARTIAL_CONTENT, part.start, part.byte_count()),
        RangeRequest::Unsatisfiable => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response());
        }
    };
    let mut response = if head {
        Body::empty().into_response()
    } else {
        let mut file = tokio::fs::File::open(registry.storage.blob_path(digest))
            .await
            .map_err(|e| RegistryError::storage(format!("opening blob {digest}"), e))?;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| RegistryError::storage(format!("reading blob {digest}"), e))?;
        }
        Body::from_stream(ReaderStream::with_capacity(file.take(len), 64 * 1024)).into_response()
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in common {
        insert(headers, name, &value);
    }
    insert(headers, header::CONTENT_LENGTH, &len.to_string());
    insert(headers, DIGEST_HEADER, &digest_value);
    if let RangeRequest::Part(part) = range {
        insert(headers, header::CONTENT_RANGE, &part.content_range(size));
    }
    Ok(response)
}

/// `DELETE /v2/<name>/blobs/<digest>`: removes the blob from the repository.
pub async fn delete(
    registry: &Registry,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Response, RegistryError> {
    if registry.storage.unlink_blob(repo, digest).await? {
        Ok(StatusCode::ACCEPTED.into_response())
    } else {
        Err(RegistryError::BlobUnknown(format!("{digest} in {repo}")))
    }
}

/// `POST /v2/<name>/blobs/uploads/`: a mount, a monolithic upload, or a new session.
pub async fn start(
    registry: &Registry,
    repo: &RepoName,
    query: &HashMap<String, String>,
    body: Body,
) -> Result<Response, RegistryError> {
    if let Some(mount) = query.get("mount") {
        let digest = Digest::parse(mount)?;
        // Blobs are content-addressed, so a mount is a link. Without `from` the spec lets the
        // registry mount any blob it has; everyone who may push here may read all of them.
        let available = match query.get("from") {
            Some(from) => {
                let from = RepoName::parse(from)?;
                registry.storage.repo_blob_size(&from, &digest).await?
            }
            None => registry.storage.blob_size(&digest).await?,
        };
        if available.is_some() {
            registry.storage.link_blob(repo, &digest).await?;
            return Ok(created_blob(repo, &digest));
        }
        // Not mountable: the spec says to answer as to a plain POST, starting a session.
    }
    let id = registry.uploads.create().await?;
    if let Some(digest) = query.get("digest") {
        let result = async {
            let digest = Digest::parse(digest)?;
            registry.uploads.append(id, None, body).await?;
            commit(registry, repo, id, &digest).await?;
            Ok::<_, RegistryError>(created_blob(repo, &digest))
        }
        .await;
        if result.is_err() {
            registry.uploads.cancel(id).await?;
        }
        return result;
    }
    Ok(session_response(StatusCode::ACCEPTED, repo, id, 0))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk (with `Content-Range`) or a stream.
pub async fn patch(
    registry: &Registry,
    repo: &RepoName,
    id: Uuid,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, RegistryError> {
    let range = content_range(headers)?;
    let size = registry.uploads.append(id, range, body).await?;
    Ok(session_response(StatusCode::ACCEPTED, repo, id, size))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk, if any, then completion.
pub async fn finish(
    registry: &Registry,
    repo: &RepoName,
    id: Uuid,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, RegistryError> {
    let digest = query.get("digest").ok_or_else(|| {
        RegistryError::DigestInvalid("the digest parameter is required to finish an upload".into())
    })?;
    let digest = Digest::parse(digest)?;
    let range = content_range(headers)?;
    registry.uploads.append(id, range, body).await?;
    commit(registry, repo, id, &digest).await?;
    Ok(created_blob(repo, &digest))
}

/// `GET /v2/<name>/blobs/uploads/<id>`: how much has arrived.
pub async fn status(
    registry: &Registry,
    repo: &RepoName,
    id: Uuid,
) -> Result<Response, RegistryError> {
    let size = registry.uploads.size(id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, repo, id, size))
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: abandons the upload.
pub async fn cancel(registry: &Registry, id: Uuid) -> Result<Response, RegistryError> {
    if registry.uploads.cancel(id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(RegistryError::BlobUploadUnknown(id.to_string()))
    }
}

/// Verifies the upload and moves it into the blob store, linked to `repo`.
async fn commit(
    registry: &Registry,
    repo: &RepoName,
    id: Uuid,
    digest: &Digest,
) -> Result<(), RegistryError> {
    let file = registry.uploads.finish(id, digest).await?;
    registry.storage.commit_blob(&file, digest).await?;
    registry.storage.link_blob(repo, digest).await
}

fn content_range(headers: &HeaderMap) -> Result<Option<super::range::ByteRange>, RegistryError> {
    headers
        .get(header::CONTENT_RANGE)
        .map(|v| {
            v.to_str()
                .map_err(|_| RegistryError::RangeInvalid("Content-Range is not text".into()))
                .and_then(parse_content_range)
        })
        .transpose()
}

fn created_blob(repo: &RepoName, digest: &Digest) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    insert(
        headers,
        header::LOCATION,
        &format!("/v2/{repo}/blobs/{digest}"),
    );
    insert(headers, DIGEST_HEADER, &digest.to_string());
    insert(headers, header::CONTENT_LENGTH, "0");
    response
}

fn session_response(status: StatusCode, repo: &RepoName, id: Uuid, size: u64) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    insert(
        headers,
        header::LOCATION,
        &format!("/v2/{repo}/blobs/uploads/{id}"),
    );
    insert(headers, header::RANGE, &upload_range(size));
    insert(headers, UPLOAD_UUID_HEADER, &id.to_string());
    if status != StatusCode::NO_CONTENT {
        insert(headers, header::CONTENT_LENGTH, "0");
    }
    response
}

/// Sets a header whose value this module built from validated names, digests and numbers; such a
/// value is always a valid header value, and one that somehow is not is left out rather than
/// failing the request.
pub fn insert<K: header::IntoHeaderName>(headers: &mut HeaderMap, name: K, value: &str) {
    if let Ok(value) = value.parse() {
        headers.insert(name, value);
    }
}
