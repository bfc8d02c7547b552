//! The cluster PKI on disk: CA, serving certificates and the admin kubeconfig under DATA_DIR.
//!
//! Layout: `DATA_DIR/pki/{ca.crt,ca.key,controller.crt,controller.key}` and
//! `DATA_DIR/admin.conf`. Directories are 0700, files 0600, every write atomic.
//! **The CA key never leaves this directory except through `install_ca` on a
//! controller that joins the control plane.**

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge_wire::kubeconfig::Kubeconfig;
use edge_wire::pki::{CertRequest, CertificateAuthority, IssuedCert};
use edge_wire::secret_file;

use crate::auth::{ADMIN_GROUP, CONTROLLERS_GROUP};

/// The name of the cluster in kubeconfig files.
pub const CLUSTER_NAME: &str = "edgeplane";
/// The common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "edgeplane-ca";
/// The first address of the service CIDR: the `kubernetes` Service.
pub const KUBERNETES_SERVICE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 43, 0, 1));
/// How long controller and admin certificates are valid.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A controller certificate is renewed at start when it expires sooner than this.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// DNS names every controller certificate carries, as the API server's does.
pub const STANDARD_DNS_NAMES: [&str; 5] = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// Errors of the on-disk PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: edge_wire::pki::PkiError,
    },
    #[error(transparent)]
    Certificate(#[from] edge_wire::pki::PkiError),
    #[error(transparent)]
    Tls(#[from] edge_wire::tls::TlsError),
    #[error(transparent)]
    Kubeconfig(#[from] edge_wire::kubeconfig::KubeconfigError),
    #[error(
        "{present} exists but {missing} does not: restore it, or remove both to create a new cluster CA"
    )]
    HalfCa { present: PathBuf, missing: PathBuf },
    #[error(
        "{path} holds another cluster's CA ({existing}, offered {offered}): this data directory belongs to another cluster; use a fresh one to join"
    )]
    OtherCa {
        path: PathBuf,
        existing: String,
        offered: String,
    },
    #[error("the controller name is empty: pass --name")]
    NoControllerName,
    #[error("cannot build the peer HTTPS client: {0}")]
    Client(#[source] reqwest::Error),
}

/// What the controller certificate must say.
#[derive(Clone, Debug, Default)]
pub struct PkiOptions {
    /// The controller's name; its certificate's user is `system:controller:<name>`.
    pub controller_name: String,
    /// Extra DNS names for the serving certificate.
    pub hostnames: Vec<String>,
    /// Extra IP addresses for the serving certificate.
    pub ips: Vec<IpAddr>,
    /// The API URL written into `admin.conf`.
    pub admin_server_url: String,
}

/// The loaded cluster PKI of this controller.
pub struct ClusterPki {
    /// `DATA_DIR/pki`.
    pub dir: PathBuf,
    pub ca: CertificateAuthority,
    pub controller_cert_pem: String,
    pub controller_key_pem: String,
}

impl fmt::Debug for ClusterPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPki")
            .field("dir", &self.dir)
            .field("ca_pin", &self.ca_pin())
            .finish_non_exhaustive()
    }
}

struct Paths {
    dir: PathBuf,
    ca_cert: PathBuf,
    ca_key: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    admin: PathBuf,
}

impl Paths {
    fn new(data_dir: &Path) -> Paths {
        let dir = data_dir.join("pki");
        Paths {
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            cert: dir.join("controller.crt"),
            key: dir.join("controller.key"),
            admin: data_dir.join("admin.conf"),
            dir,
        }
    }
}

impl ClusterPki {
    /// Loads the PKI, creating the CA on first start, (re)issuing the controller
    /// certificate when it is missing, not from this CA, expiring within 30 days or
    /// not covering the requested names, and writing `admin.conf` if missing.
    pub fn load_or_create(data_dir: &Path, opts: &PkiOptions) -> Result<ClusterPki, PkiError> {
        if opts.controller_name.trim().is_empty() {
            return Err(PkiError::NoControllerName);
        }
        let paths = Paths::new(data_dir);
        create_dir(data_dir)?;
        create_dir(&paths.dir)?;
        let ca = load_or_create_ca(&paths)?;

        let req = controller_request(opts);
        let existing = match (read_optional(&paths.cert)?, read_optional(&paths.key)?) {
            (Some(cert), Some(key)) if controller_cert_is_current(&ca, &cert, &key, &req) => {
                Some((cert, key))
            }
            _ => None,
        };
        let (controller_cert_pem, controller_key_pem) = match existing {
            Some(pair) => pair,
            None => {
                let issued = ca.issue(&req)?;
                tracing::info!(path = %paths.cert.display(), "issued the controller certificate");
                write(&paths.key, &issued.key_pem)?;
                write(&paths.cert, &issued.cert_pem)?;
                (issued.cert_pem, issued.key_pem)
            }
        };
        let pki = ClusterPki {
            dir: paths.dir.clone(),
            ca,
            controller_cert_pem,
            controller_key_pem,
        };
        if !paths.admin.exists() {
            pki.write_admin_conf(&paths.admin, &opts.admin_server_url)?;
        }
        Ok(pki)
    }

    /// Installs the cluster CA on a controller that joins the control plane, before
    /// `load_or_create`. Installing the same CA again is a no-op; a different CA
    /// already in place is refused.
    pub fn install_ca(
        data_dir: &Path,
        ca_cert_pem: &str,
        ca_key_pem: &str,
    ) -> Result<(), PkiError> {
        let offered = CertificateAuthority::from_pem(ca_cert_pem, ca_key_pem)?;
        let paths = Paths::new(data_dir);
        create_dir(data_dir)?;
        create_dir(&paths.dir)?;
        if let Some(existing_cert) = read_optional(&paths.ca_cert)? {
            let existing_pin =
                edge_wire::pki::ca_pin(&existing_cert).map_err(|source| PkiError::File {
                    path: paths.ca_cert.clone(),
                    source,
                })?;
            let same_cert = edge_wire::pki::first_cert(&existing_cert, "CA certificate")
                .is_ok_and(|der| der == *offered.cert_der());
            if !same_cert {
                return Err(PkiError::OtherCa {
                    path: paths.ca_cert,
                    existing: existing_pin,
                    offered: offered.pin().to_owned(),
                });
            }
        }
        if let Some(existing_key) = read_optional(&paths.ca_key)? {
            if CertificateAuthority::from_pem(offered.cert_pem(), &existing_key).is_err() {
                return Err(PkiError::OtherCa {
                    path: paths.ca_key,
                    existing: "a different private key".into(),
                    offered: offered.pin().to_owned(),
                });
            }
        } else {
            write(&paths.ca_key, offered.key_pem())?;
        }
        if !paths.ca_cert.exists() {
            write(&paths.ca_cert, offered.cert_pem())?;
        }
        Ok(())
    }

    /// The HTTPS server configuration: controller certificate + CA as the chain,
    /// client certificates optional and verified against the CA.
    pub fn server_tls_config(&self) -> Result<rustls::ServerConfig, PkiError> {
        let chain = format!("{}{}", self.controller_cert_pem, self.ca.cert_pem());
        Ok(edge_wire::tls::server_config(
            &chain,
            &self.controller_key_pem,
            self.ca.cert_pem(),
        )?)
    }

    /// An HTTPS client for Raft RPC between controllers: trusts only the cluster CA
    /// and presents this controller's certificate.
    pub fn peer_client(&self) -> Result<reqwest::Client, PkiError> {
        let tls = edge_wire::tls::client_config(
            self.ca.cert_pem(),
            Some((&self.controller_cert_pem, &self.controller_key_pem)),
        )?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(PkiError::Client)
    }

    /// A client certificate for `user` in `groups`, signed by the cluster CA.
    pub fn issue_user(
        &self,
        user: &str,
        groups: &[String],
        validity: Duration,
    ) -> Result<IssuedCert, PkiError> {
        Ok(self.ca.issue(&CertRequest {
            common_name: user.to_owned(),
            organizations: groups.to_vec(),
            client_auth: true,
            validity,
            ..CertRequest::default()
        })?)
    }

    /// `sha256:<hex>` of the CA's public key, for `--ca-cert-hash`.
    pub fn ca_pin(&self) -> String {
        self.ca.pin().to_owned()
    }

    fn write_admin_conf(&self, path: &Path, server_url: &str) -> Result<(), PkiError> {
        let admin =
            self.issue_user("kubernetes-admin", &[ADMIN_GROUP.to_owned()], LEAF_VALIDITY)?;
        let config = Kubeconfig::for_user(
            CLUSTER_NAME,
            server_url,
            self.ca.cert_pem(),
            "admin",
            &admin.cert_pem,
            &admin.key_pem,
        );
        config.save(path)?;
        tracing::info!(path = %path.display(), "wrote the admin kubeconfig");
        Ok(())
    }
}

fn load_or_create_ca(paths: &Paths) -> Result<CertificateAuthority, PkiError> {
    match (
        read_optional(&paths.ca_cert)?,
        read_optional(&paths.ca_key)?,
    ) {
        (Some(cert), Some(key)) => {
            CertificateAuthority::from_pem(&cert, &key).map_err(|source| PkiError::File {
                path: paths.ca_cert.clone(),
                source,
            })
        }
        (None, None) => {
            let ca = CertificateAuthority::generate(CA_COMMON_NAME)?;
            write(&paths.ca_key, ca.key_pem())?;
            write(&paths.ca_cert, ca.cert_pem())?;
            tracing::info!(pin = %ca.pin(), "created the cluster CA");
            Ok(ca)
        }
        (Some(_), None) => Err(PkiError::HalfCa {
            present: paths.ca_cert.clone(),
            missing: paths.ca_key.clone(),
        }),
        (None, Some(_)) => Err(PkiError::HalfCa {
            present: paths.ca_key.clone(),
            missing: paths.ca_cert.clone(),
        }),
    }
}

/// The controller certificate request: server and client auth, every name the API
/// may be reached by.
fn controller_request(opts: &PkiOptions) -> CertRequest {
    let mut dns_names: Vec<String> = Vec::new();
    for name in opts
        .hostnames
        .iter()
        .map(String::as_str)
        .chain(STANDARD_DNS_NAMES)
    {
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() && !dns_names.contains(&name) {
            dns_names.push(name);
        }
    }
    let mut ip_addresses: Vec<IpAddr> = Vec::new();
    let standard = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        KUBERNETES_SERVICE_IP,
    ];
    for ip in opts.ips.iter().copied().chain(standard) {
        if !ip_addresses.contains(&ip) {
            ip_addresses.push(ip);
        }
    }
    CertRequest {
        common_name: format!("system:controller:{}", opts.controller_name.trim()),
        organizations: vec![CONTROLLERS_GROUP.to_owned()],
        dns_names,
        ip_addresses,
        server_auth: true,
        client_auth: true,
        validity: LEAF_VALIDITY,
    }
}

/// Whether an existing controller certificate can be kept: issued by `ca` with
/// this key, valid for at least `RENEW_BEFORE`, for the same identity, covering
/// every requested name.
fn controller_cert_is_current(
    ca: &CertificateAuthority,
    cert_pem: &str,
    key_pem: &str,
    req: &CertRequest,
) -> bool {
    let check = || -> Result<bool, edge_wire::pki::PkiError> {
        ca.check_issued(cert_pem, key_pem)?;
        let subject = edge_wire::pki::cert_subject(&edge_wire::pki::first_cert(
            cert_pem,
            "controller certificate",
        )?)?;
        let renew_at = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(
                RENEW_BEFORE.as_secs() as i64
            ))
            .map_err(|e| edge_wire::pki::PkiError::BadRequest(e.to_string()))?;
        let (dns, ips) = edge_wire::pki::cert_sans(cert_pem)?;
        Ok(subject.not_after > renew_at
            && subject.common_name == req.common_name
            && subject.organizations == req.organizations
            && req.dns_names.iter().all(|d| dns.contains(d))
            && req.ip_addresses.iter().all(|ip| ips.contains(ip)))
    };
    match check() {
        Ok(current) => current,
        Err(e) => {
            tracing::warn!(error = %e, "the controller certificate is unusable; issuing a new one");
            false
        }
    }
}

fn create_dir(dir: &Path) -> Result<(), PkiError> {
    secret_file::create_private_dir(dir).map_err(|source| PkiError::Io {
        action: "create directory",
        path: dir.to_owned(),
        source,
    })
}

fn write(path: &Path, contents: &str) -> Result<(), PkiError> {
    secret_file::write(path, contents.as_bytes()).map_err(|source| PkiError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}

fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
#[path = "pki_test.rs"]
mod tests;
