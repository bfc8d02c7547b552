//! A distribution-API client made of curl calls, for the registry end-to-end tests: raw status,
//! headers and body bytes, with the cluster CA and a client certificate or none.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use edge_e2e::{Controller, KubeconfigCredentials, run};
use serde_json::Value;

pub const ACCEPT: &str =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// The answer to one curl request: status, raw headers and body bytes.
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
    pub report: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers
            .lines()
            .filter(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_string())
            .next_back()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("the body is not JSON: {err}\n{}", self.report))
    }

    pub fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status,
            status,
            "expected HTTP {status}\nheaders:\n{}\nbody: {}\n{}",
            self.headers,
            String::from_utf8_lossy(&self.body),
            self.report
        );
        self
    }

    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        let reply = self.expect(status);
        assert_eq!(
            reply.error_code(),
            code,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply
    }
}

/// Who a request comes from: PEM paths of a client certificate, or nobody.
#[derive(Clone, Copy)]
pub enum As<'a> {
    Anonymous,
    User(&'a KubeconfigCredentials),
}

/// A registry client made of curl calls, checking the server against the cluster CA.
pub struct Http {
    base: String,
    ca: PathBuf,
    scratch: PathBuf,
}

impl Http {
    pub fn new(controller: &Controller, scratch: &Path) -> Http {
        std::fs::create_dir_all(scratch).unwrap_or_else(|e| panic!("mkdir: {e}"));
        Http {
            base: controller.url(""),
            ca: controller.admin_credentials().ca.clone(),
            scratch: scratch.to_path_buf(),
        }
    }

    pub fn request(
        &self,
        who: As,
        method: &str,
        path: &str,
        headers: &[&str],
        upload: Option<&[u8]>,
    ) -> Reply {
        let id = uuid_like();
        let head_file = self.scratch.join(format!("{id}.headers"));
        let body_file = self.scratch.join(format!("{id}.body"));
        let mut command = Command::new("curl");
        command
            .args(["-sS", "--max-time", "60", "--cacert"])
            .arg(&self.ca);
        if method == "HEAD" {
            command.arg("--head");
        } else {
            command.args(["-X", method]);
        }
        if let As::User(creds) = who {
            command
                .arg("--cert")
                .arg(&creds.cert)
                .arg("--key")
                .arg(&creds.key);
        }
        for header in headers {
            command.args(["-H", header]);
        }
        if let Some(bytes) = upload {
            let data = self.scratch.join(format!("{id}.upload"));
            std::fs::write(&data, bytes).unwrap_or_else(|e| panic!("write: {e}"));
            command
                .arg("--data-binary")
                .arg(format!("@{}", data.display()));
            if !headers
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with("content-type:"))
            {
                command.args(["-H", "Content-Type: application/octet-stream"]);
            }
        }
        command
            .arg("-D")
            .arg(&head_file)
            .arg("-o")
            .arg(&body_file)
            .args(["-w", "%{http_code}"])
            .arg(format!("{}{path}", self.base));
        let ran = run(command, None, Duration::from_secs(90));
        let headers = std::fs::read_to_string(&head_file).unwrap_or_default();
        let body = std::fs::read(&body_file).unwrap_or_default();
        Reply {
            status: ran.stdout.trim().parse().unwrap_or(0),
            headers,
            body,
            report: ran.report(),
        }
    }

    pub fn get(&self, who: As, path: &str) -> Reply {
        self.request(who, "GET", path, &[ACCEPT], None)
    }
}

/// A name unique within this test process, for scratch files.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("req-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `sha256:<hex>` of `bytes`, with coreutils' `sha256sum`.
pub fn sha256(bytes: &[u8]) -> String {
    let ran = run(
        Command::new("sha256sum"),
        Some(bytes),
        Duration::from_secs(30),
    )
    .success();
    let hex = ran.stdout.split_whitespace().next().unwrap_or_default();
    assert_eq!(hex.len(), 64, "{}", ran.report());
    format!("sha256:{hex}")
}
