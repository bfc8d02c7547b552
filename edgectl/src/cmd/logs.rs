//! `logs`: streams a container's log from the pod's `log` subresource to stdout as it arrives.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::StreamExt;

use super::Session;
use crate::client::{RequestError, parse_response};
use crate::config::Connection;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The pod: NAME, pod/NAME or pods/NAME.
    #[arg(value_name = "POD | TYPE/NAME")]
    pub pod: String,
    /// The container, as an alternative to -c.
    #[arg(value_name = "CONTAINER")]
    pub inline_container: Option<String>,
    /// Print the logs of this container.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Specify if the logs should be streamed.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines of recent log file to display. Defaults to -1, showing all log lines.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// If true, print the logs for the previous instance of the container in a pod if it exists.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Include timestamps on each line in the log output.
    #[arg(long)]
    pub timestamps: bool,
    /// Only return logs newer than a relative duration like 5s, 2m, or 3h. Defaults to all logs.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only return logs after a specific date (RFC3339). Defaults to all logs.
    #[arg(long, value_name = "TIME")]
    pub since_time: Option<String>,
    /// Maximum bytes of logs to return. Defaults to no limit.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub limit_bytes: i64,
}

/// A validated `logs` invocation: whose log, and the query that asks for it.
#[derive(Debug, PartialEq, Eq)]
pub struct LogRequest {
    pub pod: String,
    pub query: Vec<(&'static str, String)>,
}

/// Checks the flags as kubectl does and turns them into the `log` subresource's query.
pub fn log_request(args: &LogsArgs) -> Result<LogRequest> {
    let pod = match pod_name(&args.pod)? {
        PodName::Pod(name) => name.to_string(),
        PodName::Other(object) => bail!(
            "cannot get logs of {object}: only pods are supported; name one of its pods (see edgectl get pods)"
        ),
    };
    let container = match (&args.container, &args.inline_container) {
        (Some(_), Some(_)) => bail!("only one of -c or an inline [CONTAINER] arg is allowed"),
        (Some(c), None) | (None, Some(c)) => Some(c.clone()),
        (None, None) => None,
    };
    if args.limit_bytes < 0 {
        bail!("--limit-bytes must be greater than 0");
    }
    if args.tail < -1 {
        bail!("--tail must be greater than or equal to -1");
    }
    if args.since.is_some() && args.since_time.is_some() {
        bail!("at most one of --since or --since-time may be specified");
    }
    let mut query = Vec::new();
    if let Some(container) = container {
        query.push(("container", container));
    }
    for (key, on) in [
        ("follow", args.follow),
        ("previous", args.previous),
        ("timestamps", args.timestamps),
    ] {
        if on {
            query.push((key, "true".to_string()));
        }
    }
    if args.tail >= 0 {
        query.push(("tailLines", args.tail.to_string()));
    }
    if let Some(since) = &args.since
        && let Some(seconds) = since_seconds(since)?
    {
        query.push(("sinceSeconds", seconds.to_string()));
    }
    if let Some(time) = &args.since_time {
        time.parse::<jiff::Timestamp>().map_err(|_| {
            anyhow::anyhow!(
                "invalid --since-time {time:?}: use an RFC3339 time such as 2024-01-02T15:04:05Z"
            )
        })?;
        query.push(("sinceTime", time.clone()));
    }
    if args.limit_bytes > 0 {
        query.push(("limitBytes", args.limit_bytes.to_string()));
    }
    Ok(LogRequest { pod, query })
}

/// `--since`: a duration such as `5s`, `2m` or `1h30m`, rounded up to whole seconds; `0` means all logs.
pub fn since_seconds(text: &str) -> Result<Option<u64>> {
    let text = text.trim();
    if text.starts_with('-') {
        bail!("--since must be greater than 0");
    }
    if text == "0" {
        return Ok(None);
    }
    let duration = humantime::parse_duration(text).map_err(|_| {
        anyhow::anyhow!(
            "invalid argument {text:?} for \"--since\" flag: use a duration such as 5s, 2m or 3h"
        )
    })?;
    if duration.is_zero() {
        return Ok(None);
    }
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    Ok(Some(seconds))
}

/// What a command-line object reference names.
#[derive(Debug, PartialEq, Eq)]
pub enum PodName<'a> {
    Pod(&'a str),
    /// Some other type, as written (`deployment/web`); only pods carry logs and ports here.
    Other(&'a str),
}

/// Reads `NAME`, or `TYPE/NAME` where the type is any name for pods (`pod`, `pods`, `po`).
pub fn pod_name(arg: &str) -> Result<PodName<'_>> {
    let Some((type_name, name)) = arg.split_once('/') else {
        if arg.is_empty() {
            bail!("a pod name is required");
        }
        return Ok(PodName::Pod(arg));
    };
    if type_name.is_empty() || name.is_empty() || name.contains('/') {
        bail!("arguments in resource/name form must have a single resource and name");
    }
    let is_pod = edge_api::resource::resolve(type_name)
        .is_some_and(|info| info.group.is_empty() && info.plural == "pods");
    Ok(if is_pod {
        PodName::Pod(name)
    } else {
        PodName::Other(arg)
    })
}

/// The REST path of a pod, or of one of its subresources when `subresource` is not empty.
pub fn pod_path(namespace: &str, name: &str, subresource: &str) -> String {
    let mut path = format!("/api/v1/namespaces/{namespace}/pods/{name}");
    if !subresource.is_empty() {
        path.push('/');
        path.push_str(subresource);
    }
    path
}

/// An HTTP/1.1 client for pod subresources whose answer is not a JSON document: log text and
/// port-forward upgrades. `Client` negotiates JSON (the server refuses other `Accept` types
/// before it reaches the subresource) and may speak HTTP/2, which cannot upgrade a connection.
#[derive(Clone)]
pub struct PodStreamClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl PodStreamClient {
    pub fn new(connection: &Connection) -> Result<PodStreamClient> {
        let identity = match (&connection.client_cert_pem, &connection.client_key_pem) {
            (Some(cert), Some(key)) => Some((cert.as_str(), key.as_str())),
            _ => None,
        };
        let mut tls =
            crate::tls::client_config(connection.ca_pem.as_deref(), identity, connection.insecure)?;
        // reqwest keeps the ALPN list of a preconfigured TLS setup, so offering h2 here would
        // let the server pick a protocol that has no upgrades.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .http1_only()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(PodStreamClient {
            http,
            base: connection.server.trim_end_matches('/').to_string(),
            token: connection.token.clone(),
        })
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        builder
    }
}

/// The `Status` of a failed response, as the error kubectl would print.
pub async fn response_error(response: reqwest::Response) -> RequestError {
    let code = response.status().as_u16();
    match response.bytes().await {
        Ok(body) => match parse_response(code, &body) {
            Err(err) => err,
            Ok(_) => RequestError::Transport(format!("unexpected HTTP {code} from the server")),
        },
        Err(err) => err.into(),
    }
}

pub async fn run(session: &mut Session, args: LogsArgs) -> Result<()> {
    let request = log_request(&args)?;
    let client = PodStreamClient::new(&session.connection)?;
    let path = pod_path(session.namespace(), &request.pod, "log");
    let mut builder = client
        .request(reqwest::Method::GET, &path)
        .query(&request.query)
        .header(reqwest::header::ACCEPT, "application/json, */*");
    // As in kubectl, --request-timeout bounds the whole stream, following or not.
    if let Some(timeout) = session.connection.request_timeout {
        builder = builder.timeout(timeout);
    }
    let response = builder.send().await.map_err(RequestError::from)?;
    if response.status().as_u16() >= 400 {
        return Err(response_error(response).await.into());
    }
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the log stream was interrupted")?;
        // Flushing every chunk keeps `-f` live when stdout is a pipe.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&chunk)?;
        stdout.flush()?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "logs_test.rs"]
mod tests;
