//! `RegistryError`: every failure of a registry request, answered in the distribution spec's
//! JSON error format (`{"errors":[{"code","message","detail"}]}`) with its HTTP status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The realm clients are told to authenticate against; the registry accepts only the cluster's
/// client certificates, which no challenge can ask for, so the realm names what is needed.
const AUTH_CHALLENGE: &str =
    r#"Basic realm="edgeplane registry: a client certificate signed by the cluster CA""#;

/// A registry failure; `code()` is the distribution error code clients match on.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(String),
    #[error("blob upload unknown to registry: {0}")]
    BlobUploadUnknown(String),
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// A chunk that does not start where the upload ends (416).
    #[error("requested range not satisfiable: {0}")]
    RangeInvalid(String),
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    #[error("manifest references a manifest or blob unknown to the repository: {0}")]
    ManifestBlobUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest unknown to registry: {0}")]
    ManifestUnknown(String),
    #[error("invalid repository name {0:?}: use lowercase components separated by slashes")]
    NameInvalid(String),
    #[error("repository name not known to registry: {0}")]
    NameUnknown(String),
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    /// A bad `n` in a listing, as the reference implementation names it.
    #[error("invalid number of results requested: {0}")]
    PaginationInvalid(String),
    #[error("authentication required: {0}")]
    Unauthorized(String),
    #[error("requested access to the resource is denied: {0}")]
    Denied(String),
    /// A method the endpoint does not serve (405).
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    /// A path that is no endpoint of the API (404).
    #[error("no such registry endpoint: {0}")]
    NoEndpoint(String),
    #[error("{context}: {source}")]
    Storage {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    /// A storage failure, with what was being done.
    pub fn storage(context: impl Into<String>, source: std::io::Error) -> RegistryError {
        RegistryError::Storage {
            context: context.into(),
            source,
        }
    }

    /// The distribution error code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::BlobUnknown(_) => "BLOB_UNKNOWN",
            RegistryError::BlobUploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            RegistryError::BlobUploadInvalid(_) | RegistryError::RangeInvalid(_) => {
                "BLOB_UPLOAD_INVALID"
            }
            RegistryError::DigestInvalid(_) => "DIGEST_INVALID",
            RegistryError::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            RegistryError::ManifestInvalid(_) => "MANIFEST_INVALID",
            RegistryError::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            RegistryError::NameInvalid(_) => "NAME_INVALID",
            RegistryError::NameUnknown(_) => "NAME_UNKNOWN",
            RegistryError::SizeInvalid(_) => "SIZE_INVALID",
            RegistryError::PaginationInvalid(_) => "PAGINATION_NUMBER_INVALID",
            RegistryError::Unauthorized(_) => "UNAUTHORIZED",
            RegistryError::Denied(_) => "DENIED",
            RegistryError::Unsupported(_) | RegistryError::NoEndpoint(_) => "UNSUPPORTED",
            RegistryError::Storage { .. } => "UNKNOWN",
        }
    }

    /// The HTTP status, as the reference implementation (distribution/distribution) answers.
    pub fn status(&self) -> u16 {
        match self {
            RegistryError::BlobUnknown(_)
            | RegistryError::BlobUploadUnknown(_)
            | RegistryError::ManifestUnknown(_)
            | RegistryError::NameUnknown(_)
            | RegistryError::NoEndpoint(_) => 404,
            RegistryError::BlobUploadInvalid(_)
            | RegistryError::DigestInvalid(_)
            | RegistryError::ManifestBlobUnknown(_)
            | RegistryError::ManifestInvalid(_)
            | RegistryError::NameInvalid(_)
            | RegistryError::SizeInvalid(_)
            | RegistryError::PaginationInvalid(_) => 400,
            RegistryError::RangeInvalid(_) => 416,
            RegistryError::Unauthorized(_) => 401,
            RegistryError::Denied(_) => 403,
            RegistryError::Unsupported(_) => 405,
            RegistryError::Storage { .. } => 500,
        }
    }

    /// The error body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "errors": [{
                "code": self.code(),
                "message": self.to_string(),
                "detail": serde_json::Value::Null,
            }]
        })
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(source: std::io::Error) -> Self {
        RegistryError::storage("registry storage failure", source)
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        if let RegistryError::Storage { .. } = &self {
            tracing::error!(error = %self, "registry request failed");
        }
        let code = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (code, axum::Json(self.body())).into_response();
        if code == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(AUTH_CHALLENGE),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_statuses_and_body() {
        let cases = [
            (RegistryError::BlobUnknown("x".into()), "BLOB_UNKNOWN", 404),
            (
                RegistryError::DigestInvalid("x".into()),
                "DIGEST_INVALID",
                400,
            ),
            (
                RegistryError::ManifestBlobUnknown("x".into()),
                "MANIFEST_BLOB_UNKNOWN",
                400,
            ),
            (
                RegistryError::RangeInvalid("x".into()),
                "BLOB_UPLOAD_INVALID",
                416,
            ),
            (RegistryError::Unauthorized("x".into()), "UNAUTHORIZED", 401),
            (RegistryError::Denied("x".into()), "DENIED", 403),
            (
                RegistryError::storage("writing", std::io::Error::other("disk full")),
                "UNKNOWN",
                500,
            ),
        ];
        for (err, code, status) in cases {
            assert_eq!(err.code(), code, "{err}");
            assert_eq!(err.status(), status, "{err}");
            assert_eq!(err.body()["errors"][0]["code"], code);
        }
    }

    #[test]
    fn unauthorized_carries_a_challenge() {
        let response = RegistryError::Unauthorized("no certificate".into()).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let response = RegistryError::Denied("view".into()).into_response();
        assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
