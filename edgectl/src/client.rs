//! The HTTP layer: a small mTLS client for Kubernetes REST paths that returns parsed JSON or a typed `ApiError`.

use std::fmt;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

/// The `Accept` header that asks the server for `meta.k8s.io/v1` `Table` objects, falling back to plain JSON.
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// A Kubernetes `Status` returned by the server for a failed request.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: Value,
}

impl ApiError {
    /// Builds a `Status` for a response whose body was not one, as kubectl does for bare HTTP errors.
    pub fn from_http(code: u16, body: &str) -> ApiError {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Gone",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "Unknown",
        };
        let message = match (code, body.trim()) {
            (404, _) => "the server could not find the requested resource".to_string(),
            (_, "") => format!("the server responded with HTTP {code}"),
            (_, text) => text.lines().next().unwrap_or_default().to_string(),
        };
        ApiError {
            status: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code}),
        }
    }

    pub fn code(&self) -> u16 {
        self.status
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(0)
    }

    pub fn reason(&self) -> &str {
        self.status
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.status
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == 404 || self.reason() == "NotFound"
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            "" => write!(f, "Error from server: {}", self.message()),
            reason => write!(f, "Error from server ({reason}): {}", self.message()),
        }
    }
}

impl std::error::Error for ApiError {}

/// Why a request failed: the server said no, or we never got a usable answer.
#[derive(Debug)]
pub enum RequestError {
    Api(ApiError),
    Transport(String),
}

impl RequestError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, RequestError::Api(e) if e.is_not_found())
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Api(e) => e.fmt(f),
            RequestError::Transport(message) => {
                write!(f, "Unable to connect to the server: {message}")
            }
        }
    }
}

impl std::error::Error for RequestError {}

impl From<reqwest::Error> for RequestError {
    fn from(err: reqwest::Error) -> Self {
        RequestError::Transport(error_chain(&err))
    }
}

/// One line with every cause, because reqwest hides the useful part (TLS, DNS, refused) in the sources.
fn error_chain(err: &dyn std::error::Error) -> String {
    // reqwest's own "error sending request for url (...)" and hyper's "client error (Connect)"
    // say nothing the causes do not; kubectl shows only the cause.
    let mut text = String::new();
    let mut source = Some(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        let noise = cause_text.starts_with("error sending request")
            || cause_text.starts_with("client error");
        if noise {
            source = cause.source();
            continue;
        }
        if text.is_empty() {
            text = cause_text;
        } else if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    if text.is_empty() {
        err.to_string()
    } else {
        text
    }
}

pub type Result<T> = std::result::Result<T, RequestError>;

/// How a PATCH body is to be interpreted by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
}

impl PatchType {
    fn content_type(self) -> &'static str {
        match self {
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Json => "application/json-patch+json",
        }
    }
}

/// Query parameters of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<u32>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
}

impl ListParams {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(s) = &self.label_selector {
            query.push(("labelSelector", s.clone()));
        }
        if let Some(s) = &self.field_selector {
            query.push(("fieldSelector", s.clone()));
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(token) = &self.continue_token {
            query.push(("continue", token.clone()));
        }
        if let Some(rv) = &self.resource_version {
            query.push(("resourceVersion", rv.clone()));
        }
        query
    }
}

/// One event of a watch stream: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR` (whose object is a `Status`).
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub kind: String,
    pub object: Value,
}

/// The connection to one API server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    timeout: Option<Duration>,
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        server: &str,
        token: Option<String>,
        timeout: Option<Duration>,
    ) -> Client {
        Client {
            http,
            base: server.trim_end_matches('/').to_string(),
            token,
            timeout,
        }
    }

    /// The server URL this client talks to.
    pub fn server(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        builder
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<Value> {
        let response = builder.send().await?;
        let code = response.status().as_u16();
        let body = response.bytes().await?;
        parse_response(code, &body)
    }

    /// GETs an object (or any JSON document) at `path`.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(
            self.request(reqwest::Method::GET, path)
                .header("Accept", "application/json"),
        )
        .await
    }

    /// GETs `path` with a custom `Accept`, e.g. `TABLE_ACCEPT`.
    pub async fn get_as(&self, path: &str, accept: &str) -> Result<Value> {
        self.send(
            self.request(reqwest::Method::GET, path)
                .header("Accept", accept),
        )
        .await
    }

    /// GETs one page of a collection.
    pub async fn list_page(&self, path: &str, params: &ListParams, accept: &str) -> Result<Value> {
        self.send(
            self.request(reqwest::Method::GET, path)
                .query(&params.query())
                .header("Accept", accept),
        )
        .await
    }

    /// Lists a whole collection, following `continue` tokens and joining the pages' `items` (or `rows` for tables).
    pub async fn list(&self, path: &str, params: &ListParams, accept: &str) -> Result<Value> {
        let mut params = params.clone();
        let mut first = self.list_page(path, &params, accept).await?;
        loop {
            let next = first
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if next.is_empty() {
                break;
            }
            params.continue_token = Some(next);
            let mut page = self.list_page(path, &params, accept).await?;
            for key in ["items", "rows"] {
                if let (Some(Value::Array(all)), Some(Value::Array(more))) =
                    (first.get_mut(key), page.get_mut(key))
                {
                    all.append(more);
                }
            }
            if let (Some(meta), Some(page_meta)) = (first.get_mut("metadata"), page.get("metadata"))
            {
                *meta = page_meta.clone();
            }
        }
        Ok(first)
    }

    /// POSTs `body` to a collection path.
    pub async fn create(&self, path: &str, body: &Value, dry_run: bool) -> Result<Value> {
        let mut builder = self.request(reqwest::Method::POST, path).json(body);
        if dry_run {
            builder = builder.query(&[("dryRun", "All")]);
        }
        self.send(builder).await
    }

    /// PUTs a whole object; the server checks `metadata.resourceVersion`.
    pub async fn replace(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.request(reqwest::Method::PUT, path).json(body))
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        patch_type: PatchType,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value> {
        let mut builder = self
            .request(reqwest::Method::PATCH, path)
            .header("Content-Type", patch_type.content_type())
            .body(body.to_string());
        if dry_run {
            builder = builder.query(&[("dryRun", "All")]);
        }
        self.send(builder).await
    }

    /// DELETEs with a `DeleteOptions` body.
    pub async fn delete(&self, path: &str, options: &Value) -> Result<Value> {
        self.send(self.request(reqwest::Method::DELETE, path).json(options))
            .await
    }

    /// Starts a raw GET whose body the caller streams (backups).
    pub async fn get_stream(&self, path: &str) -> Result<reqwest::Response> {
        let response = self
            .request(reqwest::Method::GET, path)
            .header("Accept", "application/octet-stream")
            .send()
            .await?;
        let code = response.status().as_u16();
        if code >= 400 {
            let body = response.bytes().await?;
            return Err(parse_response(code, &body)
                .err()
                .unwrap_or_else(|| RequestError::Api(ApiError::from_http(code, ""))));
        }
        Ok(response)
    }

    /// Opens a watch on a collection; the stream ends when the server closes it.
    pub async fn watch(
        &self,
        path: &str,
        params: &ListParams,
        accept: &str,
    ) -> Result<impl Stream<Item = Result<WatchEvent>> + use<>> {
        let mut query = params.query();
        query.push(("watch", "1".to_string()));
        query.push(("allowWatchBookmarks", "true".to_string()));
        // A watch is long-lived, so the per-request timeout does not apply to it.
        let mut builder = self
            .http
            .get(format!("{}{}", self.base, path))
            .query(&query)
            .header("Accept", accept);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        let response = builder.send().await?;
        let code = response.status().as_u16();
        if code >= 400 {
            let body = response.bytes().await?;
            return Err(parse_response(code, &body)
                .err()
                .unwrap_or_else(|| RequestError::Api(ApiError::from_http(code, ""))));
        }
        let bytes = response.bytes_stream();
        Ok(watch_lines(bytes))
    }
}

/// Splits a chunked body into newline-delimited watch events.
fn watch_lines<S>(bytes: S) -> impl Stream<Item = Result<WatchEvent>>
where
    S: Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    futures::stream::unfold(
        (bytes, BytesMut::new(), false),
        |(mut bytes, mut buffer, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(newline) = buffer.iter().position(|b| *b == b'\n') {
                    let line = buffer.split_to(newline);
                    buffer.advance(1);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some((parse_watch_event(&line), (bytes, buffer, false)));
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                    Some(Err(err)) => return Some((Err(err.into()), (bytes, buffer, true))),
                    None if buffer.iter().all(u8::is_ascii_whitespace) => return None,
                    None => {
                        let rest = buffer.split();
                        return Some((parse_watch_event(&rest), (bytes, buffer, true)));
                    }
                }
            }
        },
    )
}

fn parse_watch_event(line: &[u8]) -> Result<WatchEvent> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| RequestError::Transport(format!("malformed watch event: {e}")))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let object = value.get("object").cloned().unwrap_or(Value::Null);
    Ok(WatchEvent { kind, object })
}

/// Turns a status code and body into JSON or an `ApiError`.
pub fn parse_response(code: u16, body: &[u8]) -> Result<Value> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if code < 400 {
        return match parsed {
            Some(value) => Ok(value),
            None if body.is_empty() => Ok(Value::Null),
            None => Err(RequestError::Transport(format!(
                "the server returned a body that is not JSON (HTTP {code})"
            ))),
        };
    }
    match parsed {
        Some(status) if status.get("kind").and_then(Value::as_str) == Some("Status") => {
            let mut status = status;
            if status.get("code").is_none() {
                status["code"] = json!(code);
            }
            Err(RequestError::Api(ApiError { status }))
        }
        _ => Err(RequestError::Api(ApiError::from_http(
            code,
            &String::from_utf8_lossy(body),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_use_kubectl_wording() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"deployments.apps \"web\" not found","reason":"NotFound","code":404}"#;
        let err = parse_response(404, body).expect_err("404 is an error");
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            r#"Error from server (NotFound): deployments.apps "web" not found"#
        );
    }

    #[test]
    fn bare_http_errors_become_statuses() {
        let err = parse_response(404, b"404 page not found").expect_err("404 is an error");
        assert_eq!(
            err.to_string(),
            "Error from server (NotFound): the server could not find the requested resource"
        );
        let err = parse_response(500, b"").expect_err("500 is an error");
        assert_eq!(
            err.to_string(),
            "Error from server (InternalError): the server responded with HTTP 500"
        );
    }

    #[tokio::test]
    async fn watch_lines_split_on_newlines_across_chunks() {
        let chunks: Vec<reqwest::Result<bytes::Bytes>> = vec![
            Ok(bytes::Bytes::from_static(
                b"{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n{\"type\":\"MOD",
            )),
            Ok(bytes::Bytes::from_static(
                b"IFIED\",\"object\":{\"a\":2}}\n\n",
            )),
            Ok(bytes::Bytes::from_static(
                b"{\"type\":\"DELETED\",\"object\":{}}",
            )),
        ];
        let events: Vec<_> = watch_lines(futures::stream::iter(chunks)).collect().await;
        let kinds: Vec<_> = events
            .iter()
            .map(|e| e.as_ref().map(|e| e.kind.clone()).unwrap_or_default())
            .collect();
        assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    }
}
