//! `ApiError`: every failure of an API operation, carried as the Kubernetes `Status` the client receives.

use axum::response::{IntoResponse, Response};
use edge_api::resource::ResourceInfo;
use edge_api::status::Status;

use crate::store::{Rejected, StoreError};

/// An API failure; its `Status` names the HTTP code and the message shown to the user.
#[derive(Debug)]
pub struct ApiError(pub Box<Status>);

impl ApiError {
    pub fn new(status: Status) -> Self {
        ApiError(Box::new(status))
    }

    pub fn code(&self) -> u16 {
        self.0.code()
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(Status::bad_request(message.into()))
    }

    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        ApiError::new(Status::not_found(info.group, info.plural, name))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(Status::internal(message.into()))
    }

    /// Maps a store precondition failure to the status Kubernetes returns for it.
    pub fn rejected(info: &ResourceInfo, name: &str, rejected: Rejected) -> Self {
        match rejected {
            Rejected::AlreadyExists { .. } => {
                ApiError::new(Status::already_exists(info.group, info.plural, name))
            }
            Rejected::NotFound { .. } => Self::not_found(info, name),
            Rejected::InvalidObject { message, .. } => ApiError::bad_request(message),
            Rejected::Conflict { .. } => Self::stale(info, name),
        }
    }

    /// 409: the object changed since the caller read it.
    pub fn stale(info: &ResourceInfo, name: &str) -> Self {
        ApiError::new(Status::conflict(
            info.group,
            info.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ))
    }

    pub fn is_conflict(&self) -> bool {
        self.code() == 409
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_retryable() {
            ApiError::new(Status::unavailable(format!(
                "the store is not available: {err}; retry shortly"
            )))
        } else {
            ApiError::new(Status::internal(format!("store failure: {err}")))
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        ApiError::internal(format!("encoding failure: {err}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = axum::http::StatusCode::from_u16(self.code())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.0.to_value())).into_response()
    }
}
