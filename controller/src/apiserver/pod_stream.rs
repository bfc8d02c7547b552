//! Pod subresources served by the pod's agent over its QUIC link: `log` (what `kubectl logs`
//! asks for) and `portforward` (an HTTP/1.1 upgrade to a raw byte stream per connection, used
//! by `edgectl port-forward`). Both work for agents behind NAT, since the agent dialled out.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use edge_api::status::Status;
use edge_wire::link::{LogRequest, StreamRequest};
use http::{HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::ApiServer;
use super::error::ApiError;
use super::http::forbidden;
use crate::auth::{Decision, Identity, RequestAttributes, authorize};
use crate::gateway::StreamError;

/// The `Upgrade` protocol of a port-forward connection.
pub const PORT_FORWARD_PROTOCOL: &str = "edgeplane-portforward";

/// The pod's node, uid and container names, or why it cannot stream.
async fn pod_target(
    server: &ApiServer,
    namespace: &str,
    name: &str,
) -> Result<(String, String, Vec<String>), ApiError> {
    let pods = edge_api::resource::lookup("", "v1", "pods")
        .ok_or_else(|| ApiError::internal("pods are not registered"))?;
    let pod = server.api.get(pods, Some(namespace), name).await?;
    let node = str_at(&pod, "/spec/nodeName");
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            pod.pointer("/spec/initContainers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .map(|c| str_at(c, "/name").to_owned())
        .collect();
    Ok((
        node.to_owned(),
        str_at(&pod, "/metadata/uid").to_owned(),
        containers,
    ))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn stream_error(err: StreamError) -> ApiError {
    match err {
        StreamError::Refused(message) => ApiError::bad_request(message),
        other => ApiError::new(Status::failure(
            503,
            "ServiceUnavailable",
            other.to_string(),
        )),
    }
}

/// `GET .../pods/{name}/log`.
pub async fn log(
    server: &Arc<ApiServer>,
    namespace: &str,
    name: &str,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let (node, uid, containers) = pod_target(server, namespace, name).await?;
    let container = match params.get("container").filter(|c| !c.is_empty()) {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let flag = |key: &str| params.get(key).is_some_and(|v| v == "true" || v == "1");
    let number = |key: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(key)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| ApiError::bad_request(format!("invalid {key}: {v:?}")))
            })
            .transpose()
    };
    let since_ms = match number("sinceSeconds")? {
        Some(seconds) => Some(jiff::Timestamp::now().as_millisecond() - seconds * 1000),
        None => params
            .get("sinceTime")
            .map(|t| {
                t.parse::<jiff::Timestamp>()
                    .map(|t| t.as_millisecond())
                    .map_err(|_| ApiError::bad_request(format!("invalid sinceTime: {t:?}")))
            })
            .transpose()?,
    };
    let request = StreamRequest::Logs(LogRequest {
        pod_uid: uid,
        container,
        follow: flag("follow"),
        previous: flag("previous"),
        timestamps: flag("timestamps"),
        tail_lines: number("tailLines")?.map(|n| n as u64),
        since_ms,
        limit_bytes: number("limitBytes")?.map(|n| n as u64),
    });
    let (_send, recv) = server
        .gateway
        .open_stream(&node, &request)
        .await
        .map_err(stream_error)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(recv));
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        body,
    )
        .into_response())
}

/// `POST /api/v1/namespaces/{ns}/pods/{name}/portforward?ports=P` with
/// `Upgrade: edgeplane-portforward`: one TCP connection to port `P` of the pod.
pub async fn port_forward(
    State(server): State<Arc<ApiServer>>,
    Extension(identity): Extension<Arc<Identity>>,
    Path((namespace, name)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    mut req: Request,
) -> Response {
    let attrs = RequestAttributes {
        verb: "create",
        group: "",
        resource: "pods",
        subresource: Some("portforward"),
        namespace: Some(&namespace),
        name: Some(&name),
    };
    match authorize(&identity, &attrs) {
        Decision::Allow => {}
        Decision::Deny(reason) => return forbidden(&identity, &attrs, &reason).into_response(),
        Decision::NodeScoped(_) => {
            return forbidden(&identity, &attrs, "nodes may not port-forward").into_response();
        }
    }
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok());
    if upgrade != Some(PORT_FORWARD_PROTOCOL) {
        return ApiError::bad_request(format!(
            "port-forward needs an HTTP/1.1 upgrade to {PORT_FORWARD_PROTOCOL}"
        ))
        .into_response();
    }
    let Some(port) = params
        .get("ports")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0)
    else {
        return ApiError::bad_request("ports must be one port number between 1 and 65535")
            .into_response();
    };
    let (node, uid, _) = match pod_target(&server, &namespace, &name).await {
        Ok(target) => target,
        Err(err) => return err.into_response(),
    };
    let request = StreamRequest::PortForward { pod_uid: uid, port };
    let (send, recv) = match server.gateway.open_stream(&node, &request).await {
        Ok(streams) => streams,
        Err(err) => return stream_error(err).into_response(),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => return tracing::debug!("port-forward upgrade failed: {err}"),
        };
        let mut client = TokioIo::new(upgraded);
        let mut agent = tokio::io::join(recv, send);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut agent).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, PORT_FORWARD_PROTOCOL)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
