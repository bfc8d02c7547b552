//! The node's credentials in the data directory, and joining a cluster to get them.
//!
//! The first start verifies the controller's CA by its pinned hash, presents the bootstrap
//! token and a CSR on a QUIC connection, and stores the CA, the issued node certificate
//! (`system:node:NAME`) and its key. Later starts need only `--server` and `--data-dir`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge_wire::link::{self, JoinReply, JoinRequest, PROTOCOL_VERSION};
use edge_wire::{pki, secret_file, tls};
use rustls_pki_types::CertificateDer;

/// How long a join may take end to end.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Errors of loading credentials and joining. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "this agent has not joined a cluster yet ({0} has no node certificate): pass --token and --ca-cert-hash (`edgectl token create --print-join-command` prints them)"
    )]
    NotJoined(PathBuf),
    #[error("cannot read the node credentials in {dir}: {source}")]
    Read {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot store the node credentials in {dir}: {source}")]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the stored node certificate is unusable: {0}: delete {1} and join again")]
    BadCertificate(String, PathBuf),
    #[error("invalid --ca-cert-hash: {0}")]
    BadPin(String),
    #[error(
        "the controller at {server} does not present a CA with hash {pin}: check --ca-cert-hash (`edgectl token create --print-join-command` prints it)"
    )]
    PinMismatch { server: String, pin: String },
    #[error("cannot reach the controller at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("the controller refused to join this node: {0}")]
    Refused(String),
    #[error("join failed: {0}")]
    Protocol(String),
}

/// The node's stored credentials.
#[derive(Clone)]
pub struct Credentials {
    pub node_name: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

struct Paths {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Paths {
    fn new(data_dir: &Path) -> Paths {
        let dir = data_dir.join("pki");
        Paths {
            ca: dir.join("ca.crt"),
            cert: dir.join("node.crt"),
            key: dir.join("node.key"),
            dir,
        }
    }
}

impl Credentials {
    /// The credentials stored in `data_dir`, if the agent has joined.
    pub fn load(data_dir: &Path) -> Result<Option<Credentials>, IdentityError> {
        let paths = Paths::new(data_dir);
        if !paths.cert.exists() {
            return Ok(None);
        }
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| IdentityError::Read {
                dir: paths.dir.clone(),
                source,
            })
        };
        let (ca_pem, cert_pem, key_pem) = (read(&paths.ca)?, read(&paths.cert)?, read(&paths.key)?);
        let bad = |e: String| IdentityError::BadCertificate(e, paths.dir.clone());
        let der = pki::first_cert(&cert_pem, "node certificate").map_err(|e| bad(e.to_string()))?;
        let subject = pki::cert_subject(&der).map_err(|e| bad(e.to_string()))?;
        let node_name = subject
            .common_name
            .strip_prefix("system:node:")
            .ok_or_else(|| bad(format!("{:?} is not a node identity", subject.common_name)))?
            .to_owned();
        Ok(Some(Credentials {
            node_name,
            ca_pem,
            cert_pem,
            key_pem,
        }))
    }

    fn save(&self, data_dir: &Path) -> Result<(), IdentityError> {
        let paths = Paths::new(data_dir);
        let write_err = |source| IdentityError::Write {
            dir: paths.dir.clone(),
            source,
        };
        secret_file::create_private_dir(&paths.dir).map_err(write_err)?;
        secret_file::write(&paths.ca, self.ca_pem.as_bytes()).map_err(write_err)?;
        secret_file::write(&paths.key, self.key_pem.as_bytes()).map_err(write_err)?;
        // The certificate last: its presence means the agent has joined.
        secret_file::write(&paths.cert, self.cert_pem.as_bytes()).map_err(write_err)?;
        Ok(())
    }

    /// The QUIC client configuration presenting the node certificate.
    pub fn client_config(&self) -> Result<quinn::ClientConfig, IdentityError> {
        let tls = tls::client_config(&self.ca_pem, Some((&self.cert_pem, &self.key_pem)))
            .map_err(|e| IdentityError::BadCertificate(e.to_string(), PathBuf::from("pki")))?;
        link::client_config(tls).map_err(|e| IdentityError::Protocol(e.to_string()))
    }
}

/// Where to join and with what.
pub struct JoinArgs<'a> {
    pub server: &'a str,
    pub token: &'a str,
    pub ca_cert_hash: &'a str,
    pub node_name: &'a str,
}

/// Joins the cluster and stores the credentials in `data_dir`.
pub async fn join(args: &JoinArgs<'_>, data_dir: &Path) -> Result<Credentials, IdentityError> {
    tokio::time::timeout(JOIN_TIMEOUT, join_inner(args, data_dir))
        .await
        .map_err(|_| IdentityError::Unreachable {
            server: args.server.to_owned(),
            reason: "no answer within 20s".to_owned(),
        })?
}

async fn join_inner(args: &JoinArgs<'_>, data_dir: &Path) -> Result<Credentials, IdentityError> {
    pki::parse_pin(args.ca_cert_hash).map_err(|e| IdentityError::BadPin(e.to_string()))?;
    let tls = tls::pinned_client_config(args.ca_cert_hash, None)
        .map_err(|e| IdentityError::BadPin(e.to_string()))?;
    let config = link::client_config(tls).map_err(|e| IdentityError::Protocol(e.to_string()))?;
    let (addr, host) = resolve(args.server).await?;
    let endpoint = client_endpoint(addr)?;
    let unreachable = |reason: String| IdentityError::Unreachable {
        server: args.server.to_owned(),
        reason,
    };
    let connecting = endpoint
        .connect_with(config, addr, &host)
        .map_err(|e| unreachable(e.to_string()))?;
    let conn = connecting.await.map_err(|e| {
        let text = e.to_string();
        if text.contains("pinned public key") {
            IdentityError::PinMismatch {
                server: args.server.to_owned(),
                pin: args.ca_cert_hash.to_owned(),
            }
        } else {
            unreachable(text)
        }
    })?;
    let ca_pem = peer_ca(&conn, args.ca_cert_hash)?;
    let (csr_pem, key_pem) = pki::generate_csr(&format!("system:node:{}", args.node_name))
        .map_err(|e| IdentityError::Protocol(e.to_string()))?;
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let request = JoinRequest {
        protocol: PROTOCOL_VERSION,
        token: args.token.to_owned(),
        node_name: args.node_name.to_owned(),
        csr_pem,
    };
    link::write_frame(&mut send, &request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = send.finish();
    let reply: JoinReply = link::read_frame(&mut recv)
        .await
        .map_err(|e| IdentityError::Protocol(e.to_string()))?;
    conn.close(0u32.into(), b"joined");
    endpoint.wait_idle().await;
    let cert_pem = match reply {
        JoinReply::Accepted { cert_pem } => cert_pem,
        JoinReply::Rejected { message } => return Err(IdentityError::Refused(message)),
    };
    let credentials = Credentials {
        node_name: args.node_name.to_owned(),
        ca_pem,
        cert_pem,
        key_pem,
    };
    credentials.save(data_dir)?;
    Ok(credentials)
}

/// The pinned CA, as the controller presented it.
fn peer_ca(conn: &quinn::Connection, pin: &str) -> Result<String, IdentityError> {
    let chain = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or_else(|| IdentityError::Protocol("the controller sent no certificate".to_owned()))?;
    tls::ca_from_chain(&chain, pin).map_err(|e| IdentityError::Protocol(e.to_string()))
}

/// Resolves `HOST:PORT` to an address and the TLS server name (the host).
pub async fn resolve(server: &str) -> Result<(SocketAddr, String), IdentityError> {
    let unreachable = |reason: String| IdentityError::Unreachable {
        server: server.to_owned(),
        reason,
    };
    let server = server
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let (host, _port) = server
        .rsplit_once(':')
        .ok_or_else(|| unreachable("expected HOST:PORT".to_owned()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addr = tokio::net::lookup_host(server)
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("the name has no address".to_owned()))?;
    Ok((addr, host))
}

/// A client endpoint on an ephemeral port of the matching address family.
pub fn client_endpoint(server: SocketAddr) -> Result<quinn::Endpoint, IdentityError> {
    let bind: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    quinn::Endpoint::client(bind).map_err(|e| IdentityError::Unreachable {
        server: server.to_string(),
        reason: format!("cannot open a UDP socket: {e}"),
    })
}
