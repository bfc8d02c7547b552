//! The handler for every `/api/...` and `/apis/...` request: routing to a verb, authorisation,
//! decoding the body, calling `Api`, and encoding the answer the client negotiated.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use edge_api::resource::ResourceInfo;
use edge_api::selector::{FieldSelector, LabelSelector};
use edge_api::status::Status;
use serde_json::Value;

use super::ApiServer;
use super::api::ListOptions;
use super::api_delete::DeleteOptions;
use super::api_write::{Part, PatchKind, WriteOptions};
use super::error::ApiError;
use super::node_scope;
use super::render::Rendering;
use super::request::{Route, Target, route};
use super::watch::{WatchRequest, watch};
use super::{discovery, protobuf, scale};
use crate::auth::{Decision, Identity, RequestAttributes, authorize};

/// Largest request body accepted (Kubernetes' limit is 3 MiB); objects are further capped by admission.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

type Params = HashMap<String, String>;

/// Entry point for `/api/*` and `/apis/*`.
pub async fn handle(
    State(server): State<Arc<ApiServer>>,
    Extension(identity): Extension<Arc<Identity>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let path = uri.path();
    let target = match route(path) {
        Route::Resource(target) => target,
        Route::GroupVersion { group, version } if method == Method::GET => {
            return discovery::group_version(&group, &version).into_response();
        }
        Route::Group { group } if method == Method::GET => {
            return discovery::group(&group).into_response();
        }
        Route::UnknownResource {
            group, resource, ..
        } => {
            return ApiError::new(Status::failure(
                404,
                "NotFound",
                format!(
                    "the server could not find the requested resource ({resource}{}{group})",
                    if group.is_empty() { "" } else { "." }
                ),
            ))
            .into_response();
        }
        _ => {
            return ApiError::new(Status::failure(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ))
            .into_response();
        }
    };
    let verb = verb_of(&method, &target, &params);
    let response = match serve(&server, &identity, verb, &target, &headers, &params, body).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    server.metrics.observe_request(
        verb,
        target.info.plural,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn verb_of(method: &Method, target: &Target, params: &Params) -> &'static str {
    let watching =
        target.legacy_watch || params.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method.as_str(), target.name.is_some()) {
        ("GET", _) if watching => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

async fn serve(
    server: &Arc<ApiServer>,
    identity: &Identity,
    verb: &'static str,
    target: &Target,
    headers: &HeaderMap,
    params: &Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let info = target.info;
    let ns = target.namespace.as_deref();
    let sub = target.subresource.as_deref();
    check_subresource(info, sub, verb)?;
    let attrs = RequestAttributes {
        verb,
        group: info.group,
        resource: info.plural,
        subresource: sub,
        namespace: ns,
        name: target.name.as_deref(),
    };
    let mut list = list_options(params)?;
    match authorize(identity, &attrs) {
        Decision::Allow => {}
        Decision::Deny(reason) => return Err(forbidden(identity, &attrs, &reason)),
        Decision::NodeScoped(check) => {
            node_scope::enforce(server, identity, &attrs, check, &mut list, &body).await?;
        }
    }
    let rendering = Rendering::negotiate(
        header(headers, "accept"),
        params.get("includeObject").map(String::as_str),
    )?;
    let write = WriteOptions {
        dry_run: params.get("dryRun").is_some_and(|d| d == "All"),
    };
    let name = target.name.as_deref().unwrap_or("");
    let part = if sub == Some("status") {
        Part::Status
    } else {
        Part::Main
    };
    let api = &server.api;
    match verb {
        "get" if sub == Some("log") => {
            super::pod_stream::log(server, ns.unwrap_or(""), name, params).await
        }
        "get" if sub == Some("scale") => {
            Ok(Json(scale::get(api, info, ns, name).await?).into_response())
        }
        "get" => {
            let object = api.get(info, ns, name).await?;
            Ok(rendered(
                rendering,
                rendering.render_one(info, &object, true),
                StatusCode::OK,
            ))
        }
        "list" => {
            let page = api.list(info, ns, &list).await?;
            Ok(rendered(
                rendering,
                rendering.render_list(info, page.items, page.revision, page.continue_token),
                StatusCode::OK,
            ))
        }
        "watch" => {
            let req = WatchRequest {
                list,
                resource_version: params.get("resourceVersion").cloned(),
                bookmarks: params
                    .get("allowWatchBookmarks")
                    .is_some_and(|b| b == "true" || b == "1"),
                send_initial_events: params.get("sendInitialEvents").map(|s| s == "true"),
                timeout: params
                    .get("timeoutSeconds")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs),
                rendering,
            };
            watch(server.clone(), info, target.namespace.clone(), req).await
        }
        "create" if sub == Some("binding") => {
            let object = decode_body(headers, &body)?;
            api.bind(info, ns.unwrap_or(""), name, &object, write.dry_run)
                .await?;
            let status = Status::success().with_details("", "pods", name, "");
            Ok((StatusCode::CREATED, Json(status.to_value())).into_response())
        }
        "create" => {
            if target.name.is_some() {
                return Err(ApiError::new(Status::method_not_allowed()));
            }
            let object = decode_body(headers, &body)?;
            let created = api.create(info, ns, object, write).await?;
            Ok(rendered(
                rendering,
                rendering.render_one(info, &created, true),
                StatusCode::CREATED,
            ))
        }
        "update" if sub == Some("scale") => {
            let object = decode_body(headers, &body)?;
            Ok(Json(scale::update(api, info, ns, name, object, write).await?).into_response())
        }
        "update" if sub == Some("finalize") => {
            let object = decode_body(headers, &body)?;
            let updated = api.finalize_namespace(name, object).await?;
            Ok(rendered(rendering, updated, StatusCode::OK))
        }
        "update" => {
            let object = decode_body(headers, &body)?;
            let updated = api.update(info, ns, name, object, part, write).await?;
            Ok(rendered(
                rendering,
                rendering.render_one(info, &updated, true),
                StatusCode::OK,
            ))
        }
        "patch" => {
            let content_type = header(headers, "content-type").unwrap_or("");
            let Some(kind) = PatchKind::from_content_type(content_type) else {
                return Err(ApiError::new(Status::failure(
                    415,
                    "UnsupportedMediaType",
                    format!(
                        "the body of the request was in an unknown format ({content_type}); accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
                    ),
                )));
            };
            if sub == Some("scale") {
                return Ok(
                    Json(scale::patch(api, info, ns, name, kind, &body, write).await?)
                        .into_response(),
                );
            }
            let patched = api.patch(info, ns, name, kind, &body, part, write).await?;
            Ok(rendered(
                rendering,
                rendering.render_one(info, &patched, true),
                StatusCode::OK,
            ))
        }
        "delete" => {
            let opts = delete_options(params, &body)?;
            let deleted = api.delete(info, ns, name, &opts).await?;
            Ok(rendered(
                rendering,
                rendering.render_one(info, &deleted.into_object(), true),
                StatusCode::OK,
            ))
        }
        "deletecollection" => {
            let opts = delete_options(params, &body)?;
            list.limit = None;
            let page = api.list(info, ns, &list).await?;
            let mut deleted = Vec::new();
            for object in page.items {
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let object_ns = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match api.delete(info, object_ns.as_deref(), &name, &opts).await {
                    Ok(d) => deleted.push(d.into_object()),
                    Err(err) if err.code() == 404 => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(rendered(
                rendering,
                rendering.render_list(info, deleted, server.api.store().current_revision(), None),
                StatusCode::OK,
            ))
        }
        _ => Err(ApiError::new(Status::method_not_allowed())),
    }
}

fn check_subresource(info: &ResourceInfo, sub: Option<&str>, verb: &str) -> Result<(), ApiError> {
    let ok = match sub {
        None => true,
        Some("status") => info.has_status && matches!(verb, "get" | "update" | "patch"),
        Some("scale") => info.has_scale && matches!(verb, "get" | "update" | "patch"),
        Some("finalize") => info.plural == "namespaces" && verb == "update",
        Some("log") => info.plural == "pods" && info.group.is_empty() && verb == "get",
        Some("binding") => info.plural == "pods" && info.group.is_empty() && verb == "create",
        Some(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(Status::failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )))
    }
}

/// 403 in Kubernetes' wording, followed by why.
pub(super) fn forbidden(identity: &Identity, attrs: &RequestAttributes, reason: &str) -> ApiError {
    let mut status = Status::forbidden(
        &identity.user,
        attrs.verb,
        attrs.group,
        attrs.resource,
        attrs.namespace,
        attrs.name,
    );
    if !reason.is_empty() {
        status.message = format!("{}: {reason}", status.message);
    }
    ApiError::new(status)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn rendered(rendering: Rendering, body: Value, code: StatusCode) -> Response {
    let bytes = body.to_string();
    (code, [("content-type", rendering.content_type())], bytes).into_response()
}

/// The `labelSelector` and `fieldSelector` of a list request (empty ones are none).
pub(super) fn selectors(
    params: &Params,
) -> Result<(Option<LabelSelector>, Option<FieldSelector>), ApiError> {
    let labels = match params.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            LabelSelector::parse(s)
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
        ),
        None => None,
    };
    let fields = match params.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            FieldSelector::parse(s)
                .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?,
        ),
        None => None,
    };
    Ok((labels, fields))
}

fn list_options(params: &Params) -> Result<ListOptions, ApiError> {
    let (labels, fields) = selectors(params)?;
    let limit = match params.get("limit").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {s:?}")))?,
        ),
        None => None,
    };
    Ok(ListOptions {
        labels,
        fields,
        limit,
        continue_token: params.get("continue").filter(|s| !s.is_empty()).cloned(),
        any_version: params.get("resourceVersion").is_some_and(|v| v == "0"),
    })
}

/// Decodes a request body as JSON, as YAML, or from Kubernetes protobuf (what kubectl's typed
/// verbs such as `create namespace` send), always into the object's JSON form.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(Status::too_large(format!(
            "the request body is over the limit of {MAX_BODY_BYTES} bytes"
        ))));
    }
    let content_type = header(headers, "content-type").unwrap_or("application/json");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let value: Value = match essence {
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml_ng::from_slice(body)
            .map_err(|e| {
                ApiError::bad_request(format!("the request body is not valid YAML: {e}"))
            })?,
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        })?,
        protobuf::MEDIA_TYPE => protobuf::decode(body).map_err(|e| {
            let code = e.http_code();
            let message = e.to_string();
            ApiError::new(match code {
                400 => Status::bad_request(message),
                415 => Status::failure(415, "UnsupportedMediaType", message),
                _ => Status::internal(message),
            })
        })?,
        other => {
            return Err(ApiError::new(Status::failure(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format ({other}); accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
                ),
            )));
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    }
    Ok(value)
}

fn delete_options(params: &Params, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts: DeleteOptions = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    if let Some(policy) = params.get("propagationPolicy") {
        opts.propagation_policy = Some(policy.clone());
    }
    if let Some(grace) = params.get("gracePeriodSeconds") {
        opts.grace_period_seconds =
            Some(grace.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid gracePeriodSeconds {grace:?}"))
            })?);
    }
    if let Some(dry) = params.get("dryRun") {
        opts.dry_run = Some(vec![dry.clone()]);
    }
    if let Some(orphan) = params.get("orphanDependents") {
        opts.orphan_dependents = Some(orphan == "true");
    }
    Ok(opts)
}

/// The body of an anonymous request to a protected path.
pub fn unauthorized(message: &str) -> Response {
    ApiError::new(Status::unauthorized(message)).into_response()
}
