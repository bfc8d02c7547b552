//! Kubeconfig files in the format kubectl reads and writes.
//!
//! Only the fields Edgeplane uses are modelled; unknown fields are ignored on
//! reading (and dropped on writing). File paths in a loaded kubeconfig are made
//! absolute against the kubeconfig's folder, as kubectl does.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize};

use crate::secret_file;

/// Errors of reading, writing and resolving kubeconfig files.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write kubeconfig {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin} is not a valid kubeconfig: {source}")]
    Invalid {
        origin: String,
        source: serde_yaml_ng::Error,
    },
    #[error("{origin} has kind {kind:?}: a kubeconfig has kind Config")]
    WrongKind { origin: String, kind: String },
    #[error("the kubeconfig has no current-context: pass --context <name> or set current-context")]
    NoContext,
    #[error("context {name:?} is not in the kubeconfig (it has: {known})")]
    UnknownContext { name: String, known: String },
    #[error("context {context:?} names cluster {cluster:?}, which is not in the kubeconfig")]
    UnknownCluster { context: String, cluster: String },
    #[error("context {context:?} names user {user:?}, which is not in the kubeconfig")]
    UnknownUser { context: String, user: String },
    #[error(
        "cluster {cluster:?} in the kubeconfig has no server URL: set clusters[].cluster.server"
    )]
    NoServer { cluster: String },
    #[error("{field} of {owner:?} in the kubeconfig is not valid base64 of UTF-8 PEM")]
    BadData { field: &'static str, owner: String },
    #[error("cannot read {field} file {path} named by {owner:?} in the kubeconfig: {source}")]
    ReadFile {
        field: &'static str,
        owner: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A kubeconfig file (`apiVersion: v1`, `kind: Config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(
        rename = "apiVersion",
        default = "api_version_v1",
        deserialize_with = "or_default"
    )]
    pub api_version: String,
    #[serde(default = "kind_config", deserialize_with = "or_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "or_default")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "or_default")]
    pub users: Vec<NamedUser>,
    #[serde(default, deserialize_with = "or_default")]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default, deserialize_with = "or_default")]
    pub current_context: String,
}

impl Default for Kubeconfig {
    fn default() -> Self {
        Kubeconfig {
            api_version: api_version_v1(),
            kind: kind_config(),
            clusters: Vec::new(),
            users: Vec::new(),
            contexts: Vec::new(),
            current_context: String::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    #[serde(default, deserialize_with = "or_default")]
    pub cluster: Cluster,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    #[serde(default, deserialize_with = "or_default")]
    pub server: String,
    /// Base64 of the CA certificate PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// Path of the CA certificate PEM file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_false"
    )]
    pub insecure_skip_tls_verify: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    #[serde(default, deserialize_with = "or_default")]
    pub user: AuthInfo,
}

/// Credentials of a kubeconfig user. `Debug` hides keys and tokens.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AuthInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("AuthInfo")
            .field("client_certificate_data", &self.client_certificate_data)
            .field("client_certificate", &self.client_certificate)
            .field("client_key_data", &hidden(&self.client_key_data))
            .field("client_key", &self.client_key)
            .field("token", &hidden(&self.token))
            .finish()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    #[serde(default, deserialize_with = "or_default")]
    pub context: Context,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default, deserialize_with = "or_default")]
    pub cluster: String,
    #[serde(default, deserialize_with = "or_default")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Everything a client needs to talk to the cluster of one context, with file
/// references already read. `Debug` hides the key and the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedContext {
    pub context: String,
    pub cluster: String,
    pub server: String,
    pub ca_pem: Option<String>,
    pub client_cert_pem: Option<String>,
    pub client_key_pem: Option<String>,
    pub token: Option<String>,
    pub namespace: Option<String>,
    pub insecure_skip_tls_verify: bool,
}

impl fmt::Debug for ResolvedContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("ResolvedContext")
            .field("context", &self.context)
            .field("cluster", &self.cluster)
            .field("server", &self.server)
            .field("ca_pem", &self.ca_pem.is_some())
            .field("client_cert_pem", &self.client_cert_pem.is_some())
            .field("client_key_pem", &hidden(&self.client_key_pem))
            .field("token", &hidden(&self.token))
            .field("namespace", &self.namespace)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .finish()
    }
}

impl Kubeconfig {
    /// Reads a kubeconfig file; relative file paths in it become relative to its folder.
    pub fn load(path: &Path) -> Result<Self, KubeconfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| KubeconfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse_from(&text, &format!("kubeconfig {}", path.display()))?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let absolute = |p: &mut Option<String>| {
            if let Some(file) = p
                .as_mut()
                .filter(|f| !f.is_empty() && Path::new(f).is_relative())
            {
                *file = base.join(&*file).to_string_lossy().into_owned();
            }
        };
        for cluster in &mut config.clusters {
            absolute(&mut cluster.cluster.certificate_authority);
        }
        for user in &mut config.users {
            absolute(&mut user.user.client_certificate);
            absolute(&mut user.user.client_key);
        }
        Ok(config)
    }

    /// Parses kubeconfig YAML; relative file paths stay relative to the working directory.
    pub fn parse(text: &str) -> Result<Self, KubeconfigError> {
        Self::parse_from(text, "the kubeconfig")
    }

    fn parse_from(text: &str, origin: &str) -> Result<Self, KubeconfigError> {
        let config: Kubeconfig =
            serde_yaml_ng::from_str(text).map_err(|source| KubeconfigError::Invalid {
                origin: origin.to_owned(),
                source,
            })?;
        if !config.kind.is_empty() && config.kind != "Config" {
            return Err(KubeconfigError::WrongKind {
                origin: origin.to_owned(),
                kind: config.kind,
            });
        }
        Ok(config)
    }

    /// The kubeconfig as YAML.
    pub fn to_yaml(&self) -> String {
        // Strings, booleans and lists of structs always serialise.
        serde_yaml_ng::to_string(self).expect("a kubeconfig always serialises to YAML")
    }

    /// Writes the kubeconfig with mode 0600, atomically; creates its folder (0700) if missing.
    pub fn save(&self, path: &Path) -> Result<(), KubeconfigError> {
        let err = |source| KubeconfigError::Write {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            secret_file::create_private_dir(dir).map_err(err)?;
        }
        secret_file::write(path, self.to_yaml().as_bytes()).map_err(err)
    }

    /// A kubeconfig with one cluster, one certificate user and the context
    /// `<user>@<cluster>`, which is current.
    pub fn for_user(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Self {
        let context = format!("{user_name}@{cluster_name}");
        Kubeconfig {
            clusters: vec![NamedCluster {
                name: cluster_name.to_owned(),
                cluster: Cluster {
                    server: server.to_owned(),
                    certificate_authority_data: Some(BASE64.encode(ca_pem)),
                    ..Cluster::default()
                },
            }],
            users: vec![NamedUser {
                name: user_name.to_owned(),
                user: AuthInfo {
                    client_certificate_data: Some(BASE64.encode(cert_pem)),
                    client_key_data: Some(BASE64.encode(key_pem)),
                    ..AuthInfo::default()
                },
            }],
            contexts: vec![NamedContext {
                name: context.clone(),
                context: Context {
                    cluster: cluster_name.to_owned(),
                    user: user_name.to_owned(),
                    namespace: None,
                },
            }],
            current_context: context,
            ..Kubeconfig::default()
        }
    }

    /// Resolves `context` (or the current context): finds its cluster and user and
    /// reads the certificate data, inline (`*-data`, which wins) or from files.
    pub fn resolve(&self, context: Option<&str>) -> Result<ResolvedContext, KubeconfigError> {
        let name = match context {
            Some(c) => c.to_owned(),
            None if !self.current_context.is_empty() => self.current_context.clone(),
            None => return Err(KubeconfigError::NoContext),
        };
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| KubeconfigError::UnknownContext {
                name: name.clone(),
                known: self
                    .contexts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .ok_or_else(|| KubeconfigError::UnknownCluster {
                context: name.clone(),
                cluster: ctx.context.cluster.clone(),
            })?;
        let default_user = NamedUser::default();
        let user = if ctx.context.user.is_empty() {
            &default_user
        } else {
            self.users
                .iter()
                .find(|u| u.name == ctx.context.user)
                .ok_or_else(|| KubeconfigError::UnknownUser {
                    context: name.clone(),
                    user: ctx.context.user.clone(),
                })?
        };
        if cluster.cluster.server.is_empty() {
            return Err(KubeconfigError::NoServer {
                cluster: cluster.name.clone(),
            });
        }
        let c = &cluster.cluster;
        let u = &user.user;
        Ok(ResolvedContext {
            ca_pem: data_or_file(
                "certificate-authority",
                &cluster.name,
                &c.certificate_authority_data,
                &c.certificate_authority,
            )?,
            client_cert_pem: data_or_file(
                "client-certificate",
                &user.name,
                &u.client_certificate_data,
                &u.client_certificate,
            )?,
            client_key_pem: data_or_file(
                "client-key",
                &user.name,
                &u.client_key_data,
                &u.client_key,
            )?,
            token: u.token.clone().filter(|t| !t.is_empty()),
            namespace: ctx.context.namespace.clone().filter(|n| !n.is_empty()),
            insecure_skip_tls_verify: c.insecure_skip_tls_verify,
            server: c.server.clone(),
            cluster: cluster.name.clone(),
            context: name,
        })
    }
}

fn data_or_file(
    field: &'static str,
    owner: &str,
    data: &Option<String>,
    file: &Option<String>,
) -> Result<Option<String>, KubeconfigError> {
    if let Some(data) = data.as_deref().filter(|d| !d.is_empty()) {
        let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
        let text = BASE64
            .decode(compact)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| KubeconfigError::BadData {
                field,
                owner: owner.to_owned(),
            })?;
        return Ok(Some(text));
    }
    match file.as_deref().filter(|f| !f.is_empty()) {
        Some(path) => {
            std::fs::read_to_string(path)
                .map(Some)
                .map_err(|source| KubeconfigError::ReadFile {
                    field,
                    owner: owner.to_owned(),
                    path: PathBuf::from(path),
                    source,
                })
        }
        None => Ok(None),
    }
}

fn api_version_v1() -> String {
    "v1".to_owned()
}

fn kind_config() -> String {
    "Config".to_owned()
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// kubectl writes `null` for empty lists and strings; read it as the default.
fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
#[path = "kubeconfig_test.rs"]
mod tests;
