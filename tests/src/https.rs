//! HTTPS requests to a controller with `curl`, with the admin certificate, another kubeconfig's
//! certificate, a foreign certificate, a bearer token, or no credentials at all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::command::{Run, run};

/// PEM files extracted from a kubeconfig's first cluster and user, for `curl`.
#[derive(Debug, Clone)]
pub struct KubeconfigCredentials {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl KubeconfigCredentials {
    /// Writes `ca.crt`, `client.crt` and `client.key` from `kubeconfig` into `out_dir`.
    pub fn extract(kubeconfig: &Path, out_dir: &Path) -> Self {
        let text = std::fs::read_to_string(kubeconfig)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", kubeconfig.display()));
        let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not YAML: {err}", kubeconfig.display()));
        let field = |pointer: &[&str]| -> Vec<u8> {
            let mut node = &config;
            for key in pointer {
                node = match key.parse::<usize>() {
                    Ok(index) => &node[index],
                    Err(_) => &node[*key],
                };
            }
            let Some(encoded) = node.as_str() else {
                panic!(
                    "{} has no {} (base64 data expected)",
                    kubeconfig.display(),
                    pointer.join(".")
                );
            };
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_else(|err| panic!("{} is not base64: {err}", pointer.join(".")))
        };
        if let Err(err) = std::fs::create_dir_all(out_dir) {
            panic!("cannot create {}: {err}", out_dir.display());
        }
        let write = |name: &str, bytes: Vec<u8>| -> PathBuf {
            let path = out_dir.join(name);
            if let Err(err) = std::fs::write(&path, bytes) {
                panic!("cannot write {}: {err}", path.display());
            }
            path
        };
        Self {
            ca: write(
                "ca.crt",
                field(&["clusters", "0", "cluster", "certificate-authority-data"]),
            ),
            cert: write(
                "client.crt",
                field(&["users", "0", "user", "client-certificate-data"]),
            ),
            key: write(
                "client.key",
                field(&["users", "0", "user", "client-key-data"]),
            ),
        }
    }
}

/// Who the client claims to be.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// No client certificate and no token.
    Anonymous,
    /// A client certificate and key (PEM files).
    Certificate { cert: PathBuf, key: PathBuf },
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
}

/// The answer to one request; `status` is 0 when no HTTP response arrived (e.g. TLS failure).
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
    pub run: Run,
}

impl HttpReply {
    /// The body parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        match serde_json::from_str(&self.body) {
            Ok(value) => value,
            Err(err) => panic!(
                "the response body is not JSON: {err}\nstatus {}\n{}",
                self.status,
                self.run.report()
            ),
        }
    }

    /// Panics unless the status is `expected`.
    #[track_caller]
    pub fn expect_status(self, expected: u16) -> Self {
        assert_eq!(
            self.status,
            expected,
            "expected HTTP {expected}, got {}\nbody: {}\n{}",
            self.status,
            self.body,
            self.run.report()
        );
        self
    }
}

/// The marker that separates the body from the status code in curl's output.
const STATUS_MARKER: &str = "\n@@edge-e2e-status:";

/// One HTTPS request with curl. The server certificate is checked against `ca` when given and
/// not checked at all (`-k`) otherwise.
pub fn curl(
    url: &str,
    method: &str,
    auth: &ClientAuth,
    ca: Option<&Path>,
    body: Option<&str>,
) -> HttpReply {
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "20", "-X", method]);
    match ca {
        Some(ca) => {
            command.arg("--cacert").arg(ca);
        }
        None => {
            command.arg("-k");
        }
    }
    match auth {
        ClientAuth::Anonymous => {}
        ClientAuth::Certificate { cert, key } => {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        ClientAuth::Bearer(token) => {
            command
                .arg("-H")
                .arg(format!("Authorization: Bearer {token}"));
        }
    }
    if body.is_some() {
        command.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ]);
    }
    command
        .arg("-w")
        .arg(format!("{STATUS_MARKER}%{{http_code}}"))
        .arg(url);
    let run = run(command, body.map(str::as_bytes), Duration::from_secs(30));
    let (body, status) = match run.stdout.rsplit_once(STATUS_MARKER) {
        Some((body, code)) => (body.to_string(), code.trim().parse().unwrap_or(0)),
        None => (run.stdout.clone(), 0),
    };
    HttpReply { status, body, run }
}

/// A CA unknown to the controller and a client certificate it signed claiming to be an
/// administrator (CN=admin, O=system:masters); returns `(cert, key)` PEM paths.
pub fn foreign_client_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    if let Err(err) = std::fs::create_dir_all(dir) {
        panic!("cannot create {}: {err}", dir.display());
    }
    let openssl = |args: &[&str]| {
        let mut command = Command::new("openssl");
        command.current_dir(dir).args(args);
        run(command, None, Duration::from_secs(30)).success();
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=edgeplane-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
        "-subj",
        "/O=system:masters/CN=admin",
    ]);
    openssl(&csr);
    let extensions = dir.join("client.ext");
    if let Err(err) = std::fs::write(
        &extensions,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    ) {
        panic!("cannot write {}: {err}", extensions.display());
    }
    openssl(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "client.crt",
        "-days",
        "1",
        "-extfile",
        "client.ext",
    ]);
    (dir.join("client.crt"), dir.join("client.key"))
}
