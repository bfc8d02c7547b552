//! The Kubernetes-compatible HTTP API: routing, verbs, watch streams, discovery and metrics.
//!
//! Every request is authenticated (client certificate, or a bootstrap token for joining), then
//! routed: `/api` and `/apis` to [`http::handle`], `/internal/raft` to the store's peer RPCs
//! (controllers only), `/apis/metrics.k8s.io/v1beta1` to [`metrics_api`] (what `kubectl top`
//! reads), `/internal/v1` to join, backup and credential endpoints, `/v2` to the built-in OCI
//! registry (`crate::registry`, which answers anonymous callers itself in the
//! distribution error format and streams its bodies past the body limit below).

pub mod api;
pub mod api_delete;
pub mod api_write;
pub mod binding;
pub mod discovery;
pub mod error;
pub mod http;
pub mod internal;
pub mod metrics;
pub mod metrics_api;
pub mod node_scope;
pub mod openapi;
pub mod pod_stream;
pub mod protobuf;
pub mod render;
pub mod request;
pub mod scale;
pub mod watch;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use edge_api::status::Status;
use edge_wire::token::BootstrapToken;

pub use api::Api;
use error::ApiError;

use crate::auth::{ClientCert, Identity};
use crate::pki::ClusterPki;

/// Everything a request handler needs.
pub struct ApiServer {
    pub api: Api,
    pub metrics: Arc<metrics::Metrics>,
    pub pki: Arc<ClusterPki>,
    pub registry: Arc<crate::registry::Registry>,
    /// The agent gateway, for streams to agents (logs, port-forward).
    pub gateway: Arc<crate::gateway::AgentGateway>,
}

/// Paths anyone may read without credentials, as Kubernetes allows for health and version.
/// `/v2` is here only so that the registry can refuse anonymous callers in its own format.
fn is_public(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz", "/version", "/v2"]
        .iter()
        .any(|p| {
            path == *p
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// The whole HTTP application.
pub fn router(server: Arc<ApiServer>) -> Router {
    let raft = server
        .api
        .store()
        .router()
        .layer(middleware::from_fn(require_controller));
    Router::new()
        .route("/healthz", get(health))
        .route("/livez", get(health))
        .route("/readyz", get(ready))
        .route("/version", get(|| async { discovery::version() }))
        .route("/api", get(discovery::api_root))
        .route("/apis", get(discovery::apis_root))
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/portforward",
            any(pod_stream::port_forward),
        )
        .route("/api/{*rest}", any(http::handle))
        .route(
            "/apis/metrics.k8s.io/v1beta1/{*rest}",
            any(metrics_api::handle),
        )
        .route("/apis/{*rest}", any(http::handle))
        .route("/metrics", get(metrics_text))
        .route("/openapi/v3", get(openapi::root))
        .route("/openapi/v3/{*rest}", get(openapi::group_version))
        .route("/internal/v1/backup", get(internal::backup))
        .route("/internal/v1/credentials", post(internal::credentials))
        .route(
            "/internal/v1/join/controller",
            post(internal::join_controller),
        )
        .route(
            "/internal/v1/join/controller/member",
            post(internal::add_member),
        )
        .with_state(server.clone())
        .merge(raft)
        .merge(crate::registry::router(server.registry.clone()))
        .fallback(|| async {
            ApiError::new(Status::failure(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ))
        })
        .layer(middleware::from_fn_with_state(server, authenticate))
        // Bodies up to this size reach the handlers, which answer larger-than-allowed objects
        // with a Kubernetes Status (413) themselves.
        .layer(axum::extract::DefaultBodyLimit::max(
            http::MAX_BODY_BYTES * 2,
        ))
}

/// Resolves the caller's identity from its client certificate or a bootstrap token; anonymous
/// callers reach only the public paths.
async fn authenticate(
    State(server): State<Arc<ApiServer>>,
    mut req: Request,
    next: Next,
) -> Response {
    let from_cert = req
        .extensions()
        .get::<ClientCert>()
        .and_then(|c| c.0.clone());
    let identity = match from_cert {
        Some(identity) => Some(identity),
        None => match bearer_token(&req) {
            Some(token) => match token_identity(&server.api, &token) {
                Ok(identity) => Some(Arc::new(identity)),
                Err(message) => return http::unauthorized(&message),
            },
            None => None,
        },
    };
    match identity {
        Some(identity) => {
            req.extensions_mut().insert(identity);
        }
        None if is_public(req.uri().path()) => {}
        None => {
            return http::unauthorized(
                "Unauthorized: a client certificate signed by the cluster CA is required",
            );
        }
    }
    next.run(req).await
}

fn bearer_token(req: &Request) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// The identity of a bootstrap token, or a one-line reason (starting `Unauthorized: `) why it is
/// not accepted.
pub(crate) fn token_identity(api: &Api, token: &str) -> Result<Identity, String> {
    let token = BootstrapToken::parse(token).map_err(|e| format!("Unauthorized: {e}"))?;
    let secrets =
        edge_api::resource::lookup("", "v1", "secrets").ok_or("secrets are not registered")?;
    let secret = match api.current_local(
        secrets,
        Some(edge_wire::token::TOKEN_NAMESPACE),
        &token.secret_name(),
    ) {
        Ok(current) => Some(current.object),
        Err(err) if err.code() == 404 => None,
        Err(err) => return Err(format!("token lookup failed: {}", err.0.message)),
    };
    crate::tokens::authenticate(secret.as_ref(), &token, jiff::Timestamp::now())
        .map_err(|e| format!("Unauthorized: {e}"))
}

async fn require_controller(req: Request, next: Next) -> Response {
    match req.extensions().get::<Arc<Identity>>() {
        Some(identity) if identity.is_controller() => next.run(req).await,
        _ => ApiError::new(Status::failure(
            403,
            "Forbidden",
            "only controllers may use the Raft endpoints",
        ))
        .into_response(),
    }
}

async fn health() -> &'static str {
    "ok"
}

async fn ready(State(server): State<Arc<ApiServer>>) -> Response {
    if server.api.store().leader().is_some() {
        "ok".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "[-]store: no leader elected\nreadyz check failed",
        )
            .into_response()
    }
}

async fn metrics_text(
    State(server): State<Arc<ApiServer>>,
    axum::Extension(identity): axum::Extension<Arc<Identity>>,
) -> Response {
    if !(identity.is_admin()
        || identity.is_controller()
        || identity.in_group(crate::auth::VIEW_GROUP))
    {
        return ApiError::new(Status::forbidden(
            &identity.user,
            "get",
            "",
            "metrics",
            None,
            None,
        ))
        .into_response();
    }
    let mut out = String::new();
    server.metrics.write_prometheus(&mut out);
    server.api.store().write_prometheus(&mut out);
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}
