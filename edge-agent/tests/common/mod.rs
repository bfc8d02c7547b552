//! Helpers shared by the Wasm runtime's integration tests: the example guests (built once per
//! test process), a shared runtime, pod directories and a small HTTP/1.1 client.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use bytes::Bytes;
use edge_agent::logs::{ContainerLog, LogOptions};
use edge_agent::wasm::{LoadedComponent, WasmContainerSpec, WasmRuntime, WasmRuntimeConfig};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("edge-agent lives in the workspace")
        .to_path_buf()
}

/// Builds `examples/wasm` for `wasm32-wasip2` once per test process and returns the directory
/// of the built components. Fails loudly when the build fails (a missing target, say).
fn guests_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join("target/wasm-examples");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        // Cargo's own lock on the target directory makes concurrent test binaries wait for one
        // build rather than race.
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
            ])
            .arg("--manifest-path")
            .arg(root.join("examples/wasm/Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .status()
            .expect("cannot run cargo to build the example guests");
        assert!(
            status.success(),
            "building examples/wasm for wasm32-wasip2 failed ({status}); \
             `rustup target add wasm32-wasip2` (scripts/deps.sh) installs the target"
        );
        target_dir.join("wasm32-wasip2/release")
    })
}

/// The bytes of an example guest, e.g. `hello-http`.
pub fn guest(name: &str) -> Vec<u8> {
    let path = guests_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn digest(wasm: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(wasm)))
}

/// One runtime for all tests of a binary, so each guest compiles once; its artefact cache is
/// kept under `target/` across runs.
pub fn runtime() -> &'static WasmRuntime {
    static RUNTIME: OnceLock<WasmRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cache = workspace_root().join("target/wasm-test-cache");
        WasmRuntime::new(WasmRuntimeConfig::new(cache)).expect("the wasm runtime starts")
    })
}

pub async fn load(name: &str) -> anyhow::Result<LoadedComponent> {
    let wasm = guest(name);
    Ok(runtime().load(&digest(&wasm), &wasm).await?)
}

/// A pod's directories on the "node", removed when dropped.
pub struct Pod {
    pub dir: tempfile::TempDir,
}

impl Pod {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Pod {
            dir: tempfile::tempdir()?,
        })
    }

    pub fn kv_dir(&self) -> PathBuf {
        self.dir.path().join("kv")
    }

    pub fn log_dir(&self, container: &str) -> PathBuf {
        self.dir.path().join("logs").join(container)
    }

    pub fn log(&self, container: &str, restart: u32) -> anyhow::Result<ContainerLog> {
        Ok(ContainerLog::open(
            &self.log_dir(container),
            restart,
            LogOptions::default(),
        )?)
    }

    /// A spec for `container` with this pod's keyvalue directory, listening on a free
    /// loopback port.
    pub fn spec(&self, container: &str) -> WasmContainerSpec {
        WasmContainerSpec {
            name: container.to_owned(),
            kv_dir: self.kv_dir(),
            listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            ..WasmContainerSpec::default()
        }
    }

    /// The messages of the container's current log.
    pub fn log_messages(&self, container: &str) -> anyhow::Result<Vec<String>> {
        let lines = edge_agent::logs::read_logs(&self.log_dir(container), &Default::default())?;
        Ok(lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.message).into_owned())
            .collect())
    }
}

/// An HTTP/1.1 connection to a proxy on loopback, reused across requests (keep-alive).
pub struct HttpConnection {
    sender: SendRequest<Empty<Bytes>>,
}

impl HttpConnection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        if !addr.ip().is_loopback() {
            bail!("tests only talk to loopback, not {addr}");
        }
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(HttpConnection { sender })
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, String)> {
        self.sender.ready().await.context("connection closed")?;
        let request = http::Request::get(path)
            .header(http::header::HOST, "pod.test")
            .body(Empty::new())?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// One GET on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    HttpConnection::open(addr).await?.get(path).await
}
