//! A tiny OCI registry for the image pull tests: HTTPS on 127.0.0.1 (certificates from a test
//! cluster CA), manifests and blobs from memory, `Range` on blobs, optional Basic, token or
//! client-certificate authentication, a log of every request, and faults on demand.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use bytes::Bytes;
use edge_wire::pki::{CertRequest, CertificateAuthority, IssuedCert};
use futures::StreamExt as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_RANGE, CONTENT_TYPE, RANGE, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub const USER: &str = "puller";
pub const PASSWORD: &str = "s3cret";
const TOKEN: &str = "token-for-puller";

pub type Body = BoxBody<Bytes, std::io::Error>;

/// How the registry wants callers to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    Basic,
    /// `401` with a Bearer challenge; `/token` hands out a token for `USER:PASSWORD`.
    Token,
    /// A client certificate from the cluster CA, as the controller's registry wants.
    ClientCert,
}

/// The test cluster's CA, the registry's serving certificate and a node certificate.
pub struct Pki {
    pub ca: CertificateAuthority,
    pub server: IssuedCert,
    pub node: IssuedCert,
}

impl Pki {
    pub fn new() -> Pki {
        let ca = CertificateAuthority::generate("edgeplane-test-ca").expect("CA");
        let server = ca
            .issue(&CertRequest {
                common_name: "registry".into(),
                ip_addresses: vec!["127.0.0.1".parse().expect("ip")],
                server_auth: true,
                ..CertRequest::default()
            })
            .expect("server certificate");
        let node = ca
            .issue(&CertRequest {
                common_name: "system:node:pi-1".into(),
                organizations: vec!["system:nodes".into()],
                client_auth: true,
                ..CertRequest::default()
            })
            .expect("node certificate");
        Pki { ca, server, node }
    }
}

#[derive(Default)]
struct Content {
    /// `repo:reference` (tag or digest) → (media type, bytes).
    manifests: HashMap<String, (String, Bytes)>,
    blobs: HashMap<String, Bytes>,
}

struct State {
    auth: Auth,
    addr: SocketAddr,
    content: Mutex<Content>,
    log: Mutex<Vec<String>>,
    /// Blobs whose next downloads stop halfway, and how many more of them do.
    cuts: Mutex<HashMap<String, usize>>,
    /// Blobs served with a byte changed.
    corrupt: Mutex<HashSet<String>>,
}

/// A running registry; dropping it (or `stop`) closes the listener and every connection.
pub struct TestRegistry {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl TestRegistry {
    /// A registry serving HTTPS with a certificate from the test CA.
    pub async fn start(auth: Auth, pki: &Pki) -> TestRegistry {
        let chain = format!("{}{}", pki.server.cert_pem, pki.ca.cert_pem());
        let tls = edge_wire::tls::server_config(&chain, &pki.server.key_pem, pki.ca.cert_pem())
            .expect("server TLS");
        TestRegistry::serve(auth, Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls)))).await
    }

    /// An anonymous registry serving plain HTTP.
    pub async fn start_plain_http() -> TestRegistry {
        TestRegistry::serve(Auth::Anonymous, None).await
    }

    async fn serve(auth: Auth, acceptor: Option<tokio_rustls::TlsAcceptor>) -> TestRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(State {
            auth,
            addr,
            content: Mutex::default(),
            log: Mutex::default(),
            cuts: Mutex::default(),
            corrupt: Mutex::default(),
        });
        let served = state.clone();
        let task = tokio::spawn(async move {
            // Connections live in the set, so that stopping the registry ends them too.
            let mut connections = JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, state) = (acceptor.clone(), served.clone());
                connections.spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let has_client_cert = tls.get_ref().1.peer_certificates().is_some();
                            serve_connection(tls, state, has_client_cert).await;
                        }
                        None => serve_connection(tcp, state, false).await,
                    }
                });
            }
        });
        TestRegistry { addr, state, task }
    }

    /// `127.0.0.1:PORT/<repo>:<tag>` and the like.
    pub fn reference(&self, rest: &str) -> String {
        format!("{}/{rest}", self.addr)
    }

    pub fn stop(self) {
        self.task.abort();
    }

    pub fn put_blob(&self, bytes: &[u8]) -> String {
        let digest = digest(bytes);
        let mut content = self.state.content.lock().expect("content");
        content
            .blobs
            .insert(digest.clone(), Bytes::copy_from_slice(bytes));
        digest
    }

    /// Serves `bytes` as manifest `repo:reference` (a tag or a digest).
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let mut content = self.state.content.lock().expect("content");
        content.manifests.insert(
            format!("{repo}:{reference}"),
            (media_type.to_owned(), Bytes::copy_from_slice(bytes)),
        );
    }

    /// Publishes an image manifest with `config` and `layers` (media type, content) under its
    /// digest and `tag`; returns the manifest digest.
    pub fn publish(
        &self,
        repo: &str,
        tag: &str,
        config: (&str, &Value),
        layers: &[(&str, &[u8])],
    ) -> String {
        let config_bytes = config.1.to_string().into_bytes();
        let config_digest = self.put_blob(&config_bytes);
        let layers: Vec<Value> = layers
            .iter()
            .map(|(media_type, bytes)| {
                let digest = self.put_blob(bytes);
                json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config.0, "digest": config_digest, "size": config_bytes.len()},
            "layers": layers,
        });
        self.publish_document(repo, tag, OCI_MANIFEST, &manifest)
    }

    /// Publishes an image index of `entries` (platform, manifest digest) under `tag`.
    pub fn publish_index(&self, repo: &str, tag: &str, entries: &[(Value, &str)]) -> String {
        let content = self.state.content.lock().expect("content");
        let manifests: Vec<Value> = entries
            .iter()
            .map(|(platform, digest)| {
                let size = content
                    .manifests
                    .get(&format!("{repo}:{digest}"))
                    .map_or(0, |(_, b)| b.len());
                json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "platform": platform})
            })
            .collect();
        drop(content);
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        self.publish_document(repo, tag, OCI_INDEX, &index)
    }

    fn publish_document(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        document: &Value,
    ) -> String {
        let bytes = document.to_string().into_bytes();
        let digest = digest(&bytes);
        self.put_manifest(repo, &digest, media_type, &bytes);
        self.put_manifest(repo, tag, media_type, &bytes);
        digest
    }

    /// The bytes served as manifest `repo:reference`.
    pub fn manifest_bytes(&self, repo: &str, reference: &str) -> Vec<u8> {
        let content = self.state.content.lock().expect("content");
        content
            .manifests
            .get(&format!("{repo}:{reference}"))
            .map(|(_, bytes)| bytes.to_vec())
            .unwrap_or_default()
    }

    /// The next download of `digest` sends half of what was asked for, then fails.
    pub fn cut_next_download(&self, digest: &str) {
        self.cut_downloads(digest, 1);
    }

    /// The next `times` downloads of `digest` each send half of what was asked for, then fail.
    pub fn cut_downloads(&self, digest: &str, times: usize) {
        let mut cuts = self.state.cuts.lock().expect("cuts");
        cuts.insert(digest.to_owned(), times);
    }

    /// Downloads of `digest` run to the end again.
    pub fn stop_cutting(&self, digest: &str) {
        self.state.cuts.lock().expect("cuts").remove(digest);
    }

    pub fn corrupt(&self, digest: &str) {
        self.state
            .corrupt
            .lock()
            .expect("corrupt")
            .insert(digest.to_owned());
    }

    /// Every request so far: `METHOD PATH [range=..] [auth=..] -> STATUS`.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().expect("log").clone()
    }

    /// How many requests so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log().iter().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What a request knows of the connection it came on.
#[derive(Clone)]
struct Connection {
    has_client_cert: bool,
    /// The bytes the connection has flushed towards the client so far.
    flushed: watch::Receiver<u64>,
}

async fn serve_connection<IO>(io: IO, state: Arc<State>, has_client_cert: bool)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (flushed_tx, flushed) = watch::channel(0);
    let io = FlushMeter {
        inner: io,
        written: 0,
        flushed: flushed_tx,
    };
    let connection = Connection {
        has_client_cert,
        flushed,
    };
    let service = hyper::service::service_fn(move |request| {
        let (state, connection) = (state.clone(), connection.clone());
        async move { Ok::<_, Infallible>(handle(&state, &connection, request)) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// A connection's byte stream, telling how much of what the server wrote has been flushed to
/// the socket (and so will reach the client whatever the server does next).
struct FlushMeter<IO> {
    inner: IO,
    written: u64,
    flushed: watch::Sender<u64>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for FlushMeter<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FlushMeter<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.written += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.flushed.send_replace(self.written);
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn handle(state: &State, connection: &Connection, request: Request<Incoming>) -> Response<Body> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let (range, authorization) = (header(RANGE), header(AUTHORIZATION));
    let path = request.uri().path().to_owned();
    let response = route(
        state,
        connection,
        &path,
        request.uri().query(),
        range.as_deref(),
        authorization.as_deref(),
    );
    let auth_kind = authorization
        .as_deref()
        .and_then(|a| a.split(' ').next())
        .unwrap_or("none");
    let mut line = format!("{} {path} auth={auth_kind}", request.method());
    if let Some(range) = range {
        line.push_str(&format!(" range={range}"));
    }
    line.push_str(&format!(" -> {}", response.status().as_u16()));
    state.log.lock().expect("log").push(line);
    response
}

fn route(
    state: &State,
    connection: &Connection,
    path: &str,
    query: Option<&str>,
    range: Option<&str>,
    authorization: Option<&str>,
) -> Response<Body> {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if path == "/token" {
        let scope_ok = query.is_some_and(|q| q.contains("scope=repository%3A"));
        return if authorization == Some(basic.as_str()) && scope_ok {
            json_response(StatusCode::OK, &json!({"token": TOKEN, "expires_in": 300}))
        } else {
            error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "bad credentials")
        };
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    };
    let (repo, kind, reference) = match (rest.rfind("/manifests/"), rest.rfind("/blobs/")) {
        (Some(i), _) => (&rest[..i], "manifests", &rest[i + "/manifests/".len()..]),
        (None, Some(i)) => (&rest[..i], "blobs", &rest[i + "/blobs/".len()..]),
        _ => ("", "", ""),
    };
    let challenge = match state.auth {
        Auth::Anonymous => None,
        Auth::Basic => (authorization != Some(basic.as_str())).then(|| r#"Basic realm="test""#.to_owned()),
        Auth::Token => (authorization != Some(format!("Bearer {TOKEN}").as_str())).then(|| {
            format!(
                r#"Bearer realm="https://{}/token",service="test-registry",scope="repository:{repo}:pull""#,
                state.addr
            )
        }),
        Auth::ClientCert => (!connection.has_client_cert).then(|| r#"Basic realm="edgeplane""#.to_owned()),
    };
    if let Some(challenge) = challenge {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, challenge.parse().expect("header"));
        return response;
    }
    let content = state.content.lock().expect("content");
    match kind {
        "manifests" => match content.manifests.get(&format!("{repo}:{reference}")) {
            Some((media_type, bytes)) => {
                let mut response = Response::new(full(bytes.clone()));
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, media_type.parse().expect("header"));
                headers.insert(
                    "docker-content-digest",
                    digest(bytes).parse().expect("header"),
                );
                response
            }
            None => error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                "manifest unknown",
            ),
        },
        "blobs" => match content.blobs.get(reference) {
            Some(bytes) => blob_response(state, connection, reference, bytes.clone(), range),
            None => error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown"),
        },
        _ => json_response(StatusCode::OK, &json!({})),
    }
}

fn blob_response(
    state: &State,
    connection: &Connection,
    digest: &str,
    bytes: Bytes,
    range: Option<&str>,
) -> Response<Body> {
    let mut bytes = bytes;
    if state.corrupt.lock().expect("corrupt").contains(digest) {
        let mut changed = bytes.to_vec();
        changed[0] ^= 0xff;
        bytes = Bytes::from(changed);
    }
    let total = bytes.len();
    let start = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok());
    let (status, body) = match start {
        Some(start) if start >= total => {
            return error(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE", "range");
        }
        Some(start) => (StatusCode::PARTIAL_CONTENT, bytes.slice(start..)),
        None => (StatusCode::OK, bytes),
    };
    let cut = {
        let mut cuts = state.cuts.lock().expect("cuts");
        match cuts.get_mut(digest) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    };
    let mut response = if cut {
        // Half of the body, then a failure, which over HTTP/2 resets the stream. A reset drops
        // the frames the server has not written yet, headers included, so the failure waits
        // until the half has been flushed: the client receives it, then sees the stream break,
        // as behind a link that fails mid-transfer.
        let half = body.slice(..body.len() / 2);
        let mut flushed = connection.flushed.clone();
        let sent = *flushed.borrow() + half.len() as u64;
        let failure = async move {
            let _ = flushed.wait_for(|&n| n >= sent).await;
            Err(io::Error::other("connection cut by the test"))
        };
        let frames =
            futures::stream::iter([Ok(Frame::data(half))]).chain(futures::stream::once(failure));
        Response::new(BodyExt::boxed(StreamBody::new(frames)))
    } else {
        Response::new(full(body))
    };
    *response.status_mut() = status;
    if let Some(start) = start {
        let range = format!("bytes {start}-{}/{total}", total - 1);
        response
            .headers_mut()
            .insert(CONTENT_RANGE, range.parse().expect("header"));
    }
    response
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, "application/json".parse().expect("header"));
    response
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"errors": [{"code": code, "message": message}]}),
    )
}
