//! The distribution API's paths: `/v2/<name>/...` with a repository name that may itself contain
//! slashes, parsed from the end the way the spec's endpoint table reads.

use uuid::Uuid;

use super::error::RegistryError;
use super::reference::{Digest, Reference, RepoName};

/// What a `/v2/...` path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags(RepoName),
    /// `/v2/<name>/manifests/<reference>`.
    Manifest(RepoName, Reference),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(RepoName, Digest),
    /// `/v2/<name>/blobs/uploads/`: starts an upload.
    UploadStart(RepoName),
    /// `/v2/<name>/blobs/uploads/<id>`: an upload session.
    Upload(RepoName, Uuid),
    /// `/v2/<name>/referrers/<digest>`.
    Referrers(RepoName, Digest),
}

impl Route {
    /// Parses the part of the path after `/v2/` (`""` for the base).
    pub fn parse(rest: &str) -> Result<Route, RegistryError> {
        if rest.is_empty() {
            return Ok(Route::Base);
        }
        if rest == "_catalog" {
            return Ok(Route::Catalog);
        }
        let not_found = || RegistryError::NoEndpoint(format!("/v2/{rest}"));
        let segments: Vec<&str> = rest.split('/').collect();
        let n = segments.len();
        // Endpoints end in fixed words; whatever precedes them is the repository name.
        let name = |words: usize| -> Result<RepoName, RegistryError> {
            match n.checked_sub(words) {
                Some(len) if len > 0 => RepoName::parse(&segments[..len].join("/")),
                _ => Err(not_found()),
            }
        };
        let tail = |i: usize| segments.get(n.wrapping_sub(i)).copied();
        match (tail(3), tail(2), tail(1)) {
            (_, Some("tags"), Some("list")) => Ok(Route::Tags(name(2)?)),
            (_, Some("blobs"), Some("uploads")) => Ok(Route::UploadStart(name(2)?)),
            (Some("blobs"), Some("uploads"), Some("")) => Ok(Route::UploadStart(name(3)?)),
            (Some("blobs"), Some("uploads"), Some(id)) => {
                let repo = name(3)?;
                let id = Uuid::try_parse(id)
                    .map_err(|_| RegistryError::BlobUploadUnknown(format!("{id:?}")))?;
                Ok(Route::Upload(repo, id))
            }
            (_, Some("manifests"), Some(reference)) => {
                Ok(Route::Manifest(name(2)?, Reference::parse(reference)?))
            }
            (_, Some("blobs"), Some(digest)) => Ok(Route::Blob(name(2)?, Digest::parse(digest)?)),
            (_, Some("referrers"), Some(digest)) => {
                Ok(Route::Referrers(name(2)?, Digest::parse(digest)?))
            }
            _ => Err(not_found()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn repo(name: &str) -> RepoName {
        RepoName::parse(name).expect("valid test name")
    }

    #[test]
    fn endpoints() {
        let digest = Digest::parse(&format!("sha256:{HEX}")).expect("digest");
        let id = Uuid::new_v4();
        let cases: Vec<(String, Route)> = vec![
            (String::new(), Route::Base),
            ("_catalog".into(), Route::Catalog),
            ("a/b/c/tags/list".into(), Route::Tags(repo("a/b/c"))),
            (
                "hello/manifests/v1".into(),
                Route::Manifest(repo("hello"), Reference::Tag("v1".into())),
            ),
            (
                format!("a/b/manifests/sha256:{HEX}"),
                Route::Manifest(repo("a/b"), Reference::Digest(digest.clone())),
            ),
            (
                format!("a/b/blobs/sha256:{HEX}"),
                Route::Blob(repo("a/b"), digest.clone()),
            ),
            ("a/blobs/uploads/".into(), Route::UploadStart(repo("a"))),
            ("a/blobs/uploads".into(), Route::UploadStart(repo("a"))),
            (
                format!("x/y/blobs/uploads/{id}"),
                Route::Upload(repo("x/y"), id),
            ),
            // Components may be the endpoint words themselves.
            (
                "blobs/manifests/tags/list".into(),
                Route::Tags(repo("blobs/manifests")),
            ),
            (
                format!("a/referrers/sha256:{HEX}"),
                Route::Referrers(repo("a"), digest),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(Route::parse(&path).expect(&path), want, "{path:?}");
        }
    }

    #[test]
    fn bad_paths() {
        let cases = [
            ("tags/list", "UNSUPPORTED"),
            ("manifests/v1", "UNSUPPORTED"),
            ("a/nothing", "UNSUPPORTED"),
            ("../etc/manifests/v1", "NAME_INVALID"),
            ("A/manifests/v1", "NAME_INVALID"),
            ("a//b/manifests/v1", "NAME_INVALID"),
            ("a/manifests/..", "MANIFEST_INVALID"),
            ("a/blobs/sha256:zz", "DIGEST_INVALID"),
            ("a/blobs/uploads/../../x", "UNSUPPORTED"),
            ("../blobs/uploads/", "NAME_INVALID"),
            ("a/blobs/uploads/not-a-uuid", "BLOB_UPLOAD_UNKNOWN"),
        ];
        for (path, code) in cases {
            match Route::parse(path) {
                Err(err) => assert_eq!(err.code(), code, "{path:?}: {err}"),
                Ok(route) => panic!("{path:?} must not parse, got {route:?}"),
            }
        }
    }
}
