//! `push FILE.wasm REF`: publishes a Wasm component as an OCI artifact in the CNCF "Wasm OCI
//! artifact" layout (a `application/vnd.wasm.config.v0+json` config, one `application/wasm`
//! layer, an OCI image manifest) and prints the manifest digest.
//!
//! When REF's `HOST:PORT` is the kubeconfig's server, the controller's built-in registry is
//! used with the kubeconfig's CA and client certificate; any other registry is reached over
//! HTTPS with the public CA roots, with credentials from `--username`/`--password` or
//! `~/.docker/config.json`. The artifact is reproducible: its `created` time is the file's
//! modification time (or `SOURCE_DATE_EPOCH`), so pushing the same file twice yields the same
//! digest, and `REF@sha256:...` can pin it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::push_client::{Credentials, RegistryClient, docker_credentials};
use super::push_reference::ImageRef;
use crate::cli::GlobalArgs;
use crate::output;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The Wasm component (or core module) to publish.
    pub file: PathBuf,
    /// Where to: HOST:PORT/NAME[:TAG][@sha256:DIGEST]; the controller's own address uses its registry.
    pub reference: String,
    /// User name for a registry outside the cluster.
    #[arg(long, requires = "password")]
    pub username: Option<String>,
    /// Password or token for a registry outside the cluster.
    #[arg(long, requires = "username")]
    pub password: Option<String>,
    /// Extra CA certificates (PEM) to trust for a registry outside the cluster.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Talk plain HTTP to a registry outside the cluster (a local test registry, say).
    #[arg(long)]
    pub plain_http: bool,
}

/// The file's kind, from its preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WasmKind {
    Component,
    Module,
}

impl WasmKind {
    /// Reads the 8-byte preamble: `\0asm`, then version 1 for core modules, or the component
    /// model's version 0x0d with layer 1.
    pub fn detect(preamble: &[u8]) -> Option<WasmKind> {
        match preamble {
            [0, b'a', b's', b'm', 0x0d, 0x00, 0x01, 0x00, ..] => Some(WasmKind::Component),
            [0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00, ..] => Some(WasmKind::Module),
            _ => None,
        }
    }

    /// The config's `os`: components target WASI 0.2, core modules WASI 0.1.
    pub fn os(self) -> &'static str {
        match self {
            WasmKind::Component => "wasip2",
            WasmKind::Module => "wasip1",
        }
    }
}

/// The content of a Wasm file: digest and size, read once in pieces.
struct LayerFile {
    path: PathBuf,
    digest: String,
    size: u64,
    kind: WasmKind,
    created: String,
}

impl LayerFile {
    fn read(path: &Path) -> Result<LayerFile> {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1024 * 1024];
        let mut preamble = Vec::new();
        let mut size: u64 = 0;
        loop {
            let n = file
                .read(&mut buffer)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            if preamble.len() < 8 {
                let take = (8 - preamble.len()).min(n);
                preamble.extend_from_slice(&buffer[..take]);
            }
            hasher.update(&buffer[..n]);
            size += n as u64;
        }
        let Some(kind) = WasmKind::detect(&preamble) else {
            bail!(
                "{} is not a WebAssembly binary (no \\0asm preamble): build it with a wasm32-wasip2 target",
                path.display()
            );
        };
        let created = created_time(meta.modified().ok())?;
        Ok(LayerFile {
            path: path.to_path_buf(),
            digest: format!("sha256:{}", hex::encode(hasher.finalize())),
            size,
            kind,
            created,
        })
    }

    fn body(&self) -> Result<reqwest::Body> {
        let file = std::fs::File::open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        Ok(reqwest::Body::from(tokio::fs::File::from_std(file)))
    }
}

/// RFC 3339 of `SOURCE_DATE_EPOCH` (the reproducible-builds convention), else of `modified`,
/// else of now.
fn created_time(modified: Option<std::time::SystemTime>) -> Result<String> {
    let timestamp = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => {
            let seconds: i64 = epoch.trim().parse().with_context(|| {
                format!("SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds")
            })?;
            jiff::Timestamp::from_second(seconds).context("SOURCE_DATE_EPOCH is out of range")?
        }
        Err(_) => match modified.and_then(|m| jiff::Timestamp::try_from(m).ok()) {
            Some(modified) => modified,
            None => jiff::Timestamp::now(),
        },
    };
    // Whole seconds: sub-second file times would make the artifact differ between copies.
    let seconds = jiff::Timestamp::from_second(timestamp.as_second())
        .context("the modification time is out of range")?;
    Ok(seconds.to_string())
}

/// The config blob and the manifest of the artifact, as the bytes that get pushed.
pub struct Artifact {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl Artifact {
    pub fn build(
        layer_digest: &str,
        layer_size: u64,
        kind: WasmKind,
        created: &str,
        title: &str,
    ) -> Result<Artifact> {
        let config = serde_json::to_vec(&json!({
            "created": created,
            "architecture": "wasm",
            "os": kind.os(),
            "layerDigests": [layer_digest],
        }))?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": sha256(&config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": LAYER_MEDIA_TYPE,
                "digest": layer_digest,
                "size": layer_size,
                "annotations": {"org.opencontainers.image.title": title},
            }],
            "annotations": {"org.opencontainers.image.created": created},
        }))?;
        Ok(Artifact { config, manifest })
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub async fn run(global: &GlobalArgs, args: PushArgs) -> Result<()> {
    let reference = ImageRef::parse(&args.reference)?;
    let layer = LayerFile::read(&args.file)?;
    let title = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "component.wasm".into());
    let artifact = Artifact::build(
        &layer.digest,
        layer.size,
        layer.kind,
        &layer.created,
        &title,
    )?;
    let manifest_digest = sha256(&artifact.manifest);
    if let Some(pinned) = &reference.digest
        && *pinned != manifest_digest
    {
        bail!(
            "{} makes the artifact {manifest_digest}, not the {pinned} that REF pins",
            args.file.display()
        );
    }

    let mut client = connect(global, &args, &reference)?;
    client.authenticate().await?;
    let config_digest = sha256(&artifact.config);
    if !client.blob_exists(&config_digest).await? {
        let config = artifact.config.clone();
        client
            .upload_blob(&config_digest, config.len() as u64, || {
                Ok(reqwest::Body::from(config.clone()))
            })
            .await?;
    }
    if !client.blob_exists(&layer.digest).await? {
        client
            .upload_blob(&layer.digest, layer.size, || layer.body())
            .await?;
    }
    let reported = client
        .put_manifest(
            reference.manifest_reference(),
            MANIFEST_MEDIA_TYPE,
            &artifact.manifest,
        )
        .await?;
    if let Some(reported) = reported
        && reported != manifest_digest
    {
        bail!(
            "the registry stored the manifest as {reported}, not {manifest_digest}: it may have rewritten it"
        );
    }
    output::println(&manifest_digest)
}

/// The client for REF's registry: the cluster's identity when REF is the kubeconfig's server,
/// else public roots and registry credentials.
fn connect(global: &GlobalArgs, args: &PushArgs, reference: &ImageRef) -> Result<RegistryClient> {
    let host = reference.api_host();
    // A missing kubeconfig only matters when REF is the cluster; that case fails below with
    // the registry's 401, so the load error is kept for the message.
    let cluster = crate::config::connection(global);
    let is_cluster = cluster
        .as_ref()
        .is_ok_and(|c| crate::config::host_port(&c.server).is_ok_and(|hp| hp == with_port(host)));
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if let Ok(Some(timeout)) = crate::config::parse_request_timeout(&global.request_timeout) {
        builder = builder.timeout(timeout);
    }
    let (tls, scheme, credentials) = match &cluster {
        Ok(connection) if is_cluster => {
            let identity = match (&connection.client_cert_pem, &connection.client_key_pem) {
                (Some(cert), Some(key)) => Some((cert.as_str(), key.as_str())),
                _ => None,
            };
            let tls = crate::tls::client_config(
                connection.ca_pem.as_deref(),
                identity,
                connection.insecure,
            )?;
            (Some(tls), "https", None)
        }
        _ => {
            let credentials = match (&args.username, &args.password) {
                (Some(username), Some(password)) => Some(Credentials {
                    username: username.clone(),
                    password: password.clone(),
                }),
                _ => docker_config_credentials(&reference.registry)?,
            };
            let tls = if args.plain_http {
                None
            } else if global.insecure_skip_tls_verify {
                Some(crate::tls::client_config(None, None, true)?)
            } else {
                Some(public_tls(args.ca_file.as_deref())?)
            };
            let scheme = if args.plain_http { "http" } else { "https" };
            (tls, scheme, credentials)
        }
    };
    if let Some(tls) = tls {
        builder = builder.use_preconfigured_tls(tls);
    }
    let http = builder.build().context("cannot build the HTTP client")?;
    RegistryClient::new(http, scheme, host, &reference.name, credentials)
}

/// `HOST:PORT`, adding HTTPS's port when REF names none, to compare with the kubeconfig server.
fn with_port(host: &str) -> String {
    let has_port = match host.rfind(']') {
        Some(bracket) => host[bracket..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_string()
    } else {
        format!("{host}:443")
    }
}

/// TLS trusting the public web PKI, plus `ca_file`'s certificates.
fn public_tls(ca_file: Option<&Path>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read --ca-file {}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.with_context(|| format!("{} is not PEM", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("{} holds an unusable certificate", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot build the TLS configuration")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Credentials for `registry` in `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
fn docker_config_credentials(registry: &str) -> Result<Option<Credentials>> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".docker"),
            None => return Ok(None),
        },
    };
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(docker_credentials(&config, registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasm_kinds() {
        assert_eq!(
            WasmKind::detect(b"\0asm\x0d\x00\x01\x00rest"),
            Some(WasmKind::Component)
        );
        assert_eq!(
            WasmKind::detect(b"\0asm\x01\x00\x00\x00"),
            Some(WasmKind::Module)
        );
        assert_eq!(WasmKind::detect(b"\0asm"), None);
        assert_eq!(WasmKind::detect(b"#!/bin/sh\n"), None);
        assert_eq!(WasmKind::Component.os(), "wasip2");
    }

    #[test]
    fn artifact_layout() {
        let layer = format!("sha256:{}", "b".repeat(64));
        let artifact = Artifact::build(
            &layer,
            42,
            WasmKind::Component,
            "2024-05-01T00:00:00Z",
            "hello.wasm",
        )
        .expect("builds");
        let config: serde_json::Value = serde_json::from_slice(&artifact.config).expect("json");
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["os"], "wasip2");
        assert_eq!(config["layerDigests"], json!([layer]));
        assert_eq!(config["created"], "2024-05-01T00:00:00Z");
        let manifest: serde_json::Value = serde_json::from_slice(&artifact.manifest).expect("json");
        assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["config"]["digest"], sha256(&artifact.config));
        assert_eq!(manifest["config"]["size"], artifact.config.len());
        assert_eq!(manifest["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["digest"], json!(layer));
        assert_eq!(manifest["layers"][0]["size"], 42);
        // The same inputs give the same bytes, so pushes are reproducible.
        let again = Artifact::build(
            &layer,
            42,
            WasmKind::Component,
            "2024-05-01T00:00:00Z",
            "hello.wasm",
        )
        .expect("builds");
        assert_eq!(again.manifest, artifact.manifest);
    }

    #[test]
    fn registry_ports() {
        assert_eq!(with_port("ghcr.io"), "ghcr.io:443");
        assert_eq!(with_port("127.0.0.1:6443"), "127.0.0.1:6443");
        assert_eq!(with_port("[fd00::1]"), "[fd00::1]:443");
        assert_eq!(with_port("[fd00::1]:6443"), "[fd00::1]:6443");
    }

    #[test]
    fn created_times_are_whole_seconds() {
        let modified = std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        // SOURCE_DATE_EPOCH is not set in the test environment's usual runs; either way the
        // result is whole seconds in RFC 3339.
        let created = created_time(Some(modified)).expect("time");
        assert!(
            created.ends_with('Z') && !created.contains('.'),
            "{created}"
        );
    }
}
