//! Edgeplane's own endpoints beside the Kubernetes API: store backups, user credentials, and
//! the two steps of joining a controller to the cluster.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use edge_api::status::Status;
use serde::{Deserialize, Serialize};

use super::ApiServer;
use super::error::ApiError;
use crate::auth::{ADMIN_GROUP, CONTROL_PLANE_JOINERS_GROUP, Identity, VIEW_GROUP};

/// Longest validity of a user certificate issued through the API.
const MAX_CREDENTIAL_VALIDITY: Duration = Duration::from_secs(5 * 365 * 24 * 3600);

fn require_admin(identity: &Identity, what: &str) -> Result<(), ApiError> {
    if identity.is_admin() {
        Ok(())
    } else {
        Err(ApiError::new(Status::failure(
            403,
            "Forbidden",
            format!("User {:?} cannot {what}: admin only", identity.user),
        )))
    }
}

/// `GET /internal/v1/backup`: a consistent snapshot of the store.
pub async fn backup(
    State(server): State<Arc<ApiServer>>,
    Extension(identity): Extension<Arc<Identity>>,
) -> Response {
    if let Err(err) = require_admin(&identity, "save backups") {
        return err.into_response();
    }
    match server.api.store().backup().await {
        Ok(bytes) => {
            let revision = server.api.store().current_revision().to_string();
            (
                [
                    ("content-type", "application/octet-stream"),
                    ("x-edgeplane-revision", revision.as_str()),
                ],
                bytes,
            )
                .into_response()
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRequest {
    user: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    validity_seconds: Option<u64>,
}

#[derive(Serialize)]
pub struct CredentialResponse {
    certificate: String,
    key: String,
}

/// `POST /internal/v1/credentials`: a client certificate for a user (admin only).
pub async fn credentials(
    State(server): State<Arc<ApiServer>>,
    Extension(identity): Extension<Arc<Identity>>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        require_admin(&identity, "issue credentials")?;
        let req: CredentialRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid credential request: {e}")))?;
        if req.user.trim().is_empty() || req.user.starts_with("system:") {
            return Err(ApiError::bad_request(
                "user must be a non-empty name outside the reserved system: prefix",
            ));
        }
        let groups: Vec<String> = req
            .groups
            .into_iter()
            .map(|g| {
                if g == "edgeplane:admin" || g == "admin" {
                    ADMIN_GROUP.to_string()
                } else if g == "view" {
                    VIEW_GROUP.to_string()
                } else {
                    g
                }
            })
            .collect();
        let validity = Duration::from_secs(req.validity_seconds.unwrap_or(365 * 24 * 3600))
            .min(MAX_CREDENTIAL_VALIDITY);
        let issued = server
            .pki
            .issue_user(&req.user, &groups, validity)
            .map_err(|e| ApiError::internal(format!("issuing the certificate failed: {e}")))?;
        Ok(Json(CredentialResponse {
            certificate: issued.cert_pem,
            key: issued.key_pem,
        }))
    }
    .await;
    match result {
        Ok(json) => json.into_response(),
        Err(err) => err.into_response(),
    }
}

/// What a joining controller receives: the cluster CA it will issue its own certificate from.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    pub ca_cert: String,
    pub ca_key: String,
}

/// `POST /internal/v1/join/controller`: step one of a join, authorised by a control-plane token.
pub async fn join_controller(
    State(server): State<Arc<ApiServer>>,
    Extension(identity): Extension<Arc<Identity>>,
) -> Response {
    if !identity.in_group(CONTROL_PLANE_JOINERS_GROUP) && !identity.is_admin() {
        return ApiError::new(Status::failure(
            403,
            "Forbidden",
            "joining a controller needs a control-plane token: create one with `edgectl token create --control-plane`",
        ))
        .into_response();
    }
    Json(JoinResponse {
        ca_cert: server.pki.ca.cert_pem().to_string(),
        ca_key: server.pki.ca.key_pem().to_string(),
    })
    .into_response()
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRequest {
    pub node_id: u64,
    pub advertise_url: String,
}

/// `POST /internal/v1/join/controller/member`: step two, by the new controller with its own
/// certificate once it serves: it becomes a Raft learner, catches up, and is promoted to voter.
pub async fn add_member(
    State(server): State<Arc<ApiServer>>,
    Extension(identity): Extension<Arc<Identity>>,
    Json(req): Json<MemberRequest>,
) -> Response {
    if !identity.is_controller() {
        return ApiError::new(Status::failure(
            403,
            "Forbidden",
            "only controllers may join the Raft cluster",
        ))
        .into_response();
    }
    match server
        .api
        .store()
        .add_voter(req.node_id, req.advertise_url)
        .await
    {
        Ok(()) => {
            Json(serde_json::json!({"members": server.api.store().members().len()})).into_response()
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}
