//! The manifest endpoints (`GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`), tag
//! listing and the catalog, both paginated with `n` and `last`.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Registry;
use super::blobs::{DIGEST_HEADER, insert};
use super::error::RegistryError;
use super::manifest::{MAX_MANIFEST_BYTES, ManifestRefs};
use super::reference::{Digest, Reference, RepoName, is_tag};

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the exact bytes that were pushed.
pub async fn get(
    registry: &Registry,
    repo: &RepoName,
    reference: &Reference,
    head: bool,
) -> Result<Response, RegistryError> {
    let stored = registry
        .storage
        .manifest(repo, reference)
        .await?
        .ok_or_else(|| unknown(repo, reference))?;
    let path = registry.storage.blob_path(&stored.digest);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| RegistryError::storage(format!("reading manifest {}", stored.digest), e))?;
    let len = bytes.len();
    let mut response = if head {
        Body::empty().into_response()
    } else {
        Body::from(bytes).into_response()
    };
    let headers = response.headers_mut();
    insert(headers, header::CONTENT_TYPE, &stored.media_type);
    insert(headers, header::CONTENT_LENGTH, &len.to_string());
    insert(headers, DIGEST_HEADER, &stored.digest.to_string());
    insert(headers, header::ETAG, &format!("\"{}\"", stored.digest));
    Ok(response)
}

/// `PUT /v2/<name>/manifests/<reference>`: stores the manifest once everything it references is
/// in the repository.
pub async fn put(
    registry: &Registry,
    repo: &RepoName,
    reference: &Reference,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, RegistryError> {
    let bytes = axum::body::to_bytes(body, MAX_MANIFEST_BYTES)
        .await
        .map_err(|e| {
            RegistryError::ManifestInvalid(format!(
                "the manifest could not be read (at most {MAX_MANIFEST_BYTES} bytes): {e}"
            ))
        })?;
    let digest = Digest::of(&bytes);
    if let Reference::Digest(expected) = reference {
        expected.verify(&digest)?;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let refs = ManifestRefs::parse(&bytes, content_type)?;
    for blob in &refs.blobs {
        match registry.storage.repo_blob_size(repo, &blob.digest).await? {
            None => {
                return Err(RegistryError::ManifestBlobUnknown(format!(
                    "blob {} is not in {repo}: push it first",
                    blob.digest
                )));
            }
            Some(size) if size != blob.size => {
                return Err(RegistryError::ManifestInvalid(format!(
                    "blob {} has {size} bytes, not the {} the manifest says",
                    blob.digest, blob.size
                )));
            }
            Some(_) => {}
        }
    }
    for child in &refs.manifests {
        let known = registry
            .storage
            .manifest(repo, &Reference::Digest(child.digest.clone()))
            .await?;
        if known.is_none() {
            return Err(RegistryError::ManifestBlobUnknown(format!(
                "manifest {} is not in {repo}: push it before the index",
                child.digest
            )));
        }
    }
    let tag = match reference {
        Reference::Tag(tag) => Some(tag.as_str()),
        Reference::Digest(_) => None,
    };
    registry
        .storage
        .put_manifest(repo, &digest, &refs.media_type, bytes.to_vec(), tag)
        .await?;
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    insert(
        headers,
        header::LOCATION,
        &format!("/v2/{repo}/manifests/{digest}"),
    );
    insert(headers, DIGEST_HEADER, &digest.to_string());
    insert(headers, header::CONTENT_LENGTH, "0");
    // The spec's signal that this registry indexes referrers itself, so the client need not
    // maintain the fallback `sha256-<hex>` tag.
    if let Some(subject) = &refs.subject {
        insert(headers, "oci-subject", &subject.to_string());
    }
    Ok(response)
}

/// `DELETE /v2/<name>/manifests/<reference>`: by digest, the manifest and its tags; by tag, the
/// tag alone (spec v1.1).
pub async fn delete(
    registry: &Registry,
    repo: &RepoName,
    reference: &Reference,
) -> Result<Response, RegistryError> {
    let deleted = match reference {
        Reference::Digest(digest) => registry.storage.delete_manifest(repo, digest).await?,
        Reference::Tag(tag) => registry.storage.delete_tag(repo, tag).await?,
    };
    if deleted {
        Ok(StatusCode::ACCEPTED.into_response())
    } else {
        Err(unknown(repo, reference))
    }
}

/// `GET /v2/<name>/tags/list`.
pub async fn tags(
    registry: &Registry,
    repo: &RepoName,
    query: &HashMap<String, String>,
) -> Result<Response, RegistryError> {
    let tags = registry
        .storage
        .tags(repo)
        .await?
        .ok_or_else(|| RegistryError::NameUnknown(repo.to_string()))?;
    if let Some(last) = query.get("last")
        && !is_tag(last)
    {
        return Err(RegistryError::ManifestInvalid(format!(
            "last={last:?} is not a tag"
        )));
    }
    let page = paginate(tags, query)?;
    let body = serde_json::json!({"name": repo.as_str(), "tags": page.items});
    Ok(page.respond(&format!("/v2/{repo}/tags/list"), body))
}

/// `GET /v2/_catalog`.
pub async fn catalog(
    registry: &Registry,
    query: &HashMap<String, String>,
) -> Result<Response, RegistryError> {
    let repositories = registry.storage.repositories().await?;
    let page = paginate(repositories, query)?;
    let body = serde_json::json!({"repositories": page.items});
    Ok(page.respond("/v2/_catalog", body))
}

fn unknown(repo: &RepoName, reference: &Reference) -> RegistryError {
    let shown = match reference {
        Reference::Tag(tag) => tag.clone(),
        Reference::Digest(digest) => digest.to_string(),
    };
    RegistryError::ManifestUnknown(format!("{repo}:{shown}"))
}

/// One page of a sorted listing.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    items: Vec<String>,
    /// `n` when more items follow, for the `Link` header.
    next_n: Option<usize>,
}

impl Page {
    fn respond(&self, path: &str, body: serde_json::Value) -> Response {
        let mut response = axum::Json(body).into_response();
        if let (Some(n), Some(last)) = (self.next_n, self.items.last()) {
            insert(
                response.headers_mut(),
                header::LINK,
                &format!("<{path}?n={n}&last={last}>; rel=\"next\""),
            );
        }
        response
    }
}

/// The items after `last`, at most `n` of them (all when `n` is absent).
fn paginate(sorted: Vec<String>, query: &HashMap<String, String>) -> Result<Page, RegistryError> {
    let n = match query.get("n") {
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            RegistryError::PaginationInvalid(format!("n={n:?} is not a non-negative integer"))
        })?),
        None => None,
    };
    let after: Vec<String> = match query.get("last") {
        Some(last) => sorted
            .into_iter()
            .filter(|item| item.as_str() > last.as_str())
            .collect(),
        None => sorted,
    };
    match n {
        Some(n) if after.len() > n => Ok(Page {
            items: after.into_iter().take(n).collect(),
            next_n: Some(n),
        }),
        _ => Ok(Page {
            items: after,
            next_n: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn items(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Query parameters, the names wanted, the `Link` position wanted.
    type PageCase = (
        Vec<(&'static str, &'static str)>,
        Vec<&'static str>,
        Option<usize>,
    );

    #[test]
    fn pagination() {
        let all = items(&["a", "b", "c", "d"]);
        let cases: Vec<PageCase> = vec![
            (vec![], vec!["a", "b", "c", "d"], None),
            (vec![("n", "2")], vec!["a", "b"], Some(2)),
            (vec![("n", "2"), ("last", "b")], vec!["c", "d"], None),
            (vec![("n", "4")], vec!["a", "b", "c", "d"], None),
            (vec![("n", "0")], vec![], Some(0)),
            (vec![("last", "bb")], vec!["c", "d"], None),
            (vec![("last", "d")], vec![], None),
        ];
        for (q, want, next) in cases {
            let page = paginate(all.clone(), &query(&q)).expect("valid query");
            assert_eq!(page.items, items(&want), "{q:?}");
            assert_eq!(page.next_n, next, "{q:?}");
        }
        assert!(paginate(all, &query(&[("n", "-1")])).is_err());
    }

    #[test]
    fn next_page_link() {
        let page = Page {
            items: items(&["a", "b"]),
            next_n: Some(2),
        };
        let response = page.respond("/v2/x/tags/list", serde_json::json!({}));
        assert_eq!(
            response.headers().get(header::LINK).map(|v| v.as_bytes()),
            Some(&b"</v2/x/tags/list?n=2&last=b>; rel=\"next\""[..])
        );
    }
}
