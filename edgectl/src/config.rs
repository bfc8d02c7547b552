//! Where the connection comes from: the kubeconfig file, the selected context, and the global flag overrides.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use edge_wire::kubeconfig::Kubeconfig;

use crate::cli::GlobalArgs;
use crate::client::Client;

/// The settings of one run: the cluster to talk to, as who, and the default namespace.
#[derive(Debug, Clone)]
pub struct Connection {
    pub cluster_name: String,
    pub server: String,
    pub ca_pem: Option<String>,
    pub client_cert_pem: Option<String>,
    pub client_key_pem: Option<String>,
    pub token: Option<String>,
    pub namespace: String,
    pub insecure: bool,
    pub request_timeout: Option<Duration>,
}

/// The kubeconfig path: `--kubeconfig`, else the first entry of `$KUBECONFIG`, else `~/.kube/config`.
pub fn kubeconfig_path(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_path_buf();
    }
    if let Some(env) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&env).find(|p| !p.as_os_str().is_empty())
    {
        return first;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".kube").join("config")
}

/// Loads the kubeconfig and resolves the context, applying `--context`, `--server`,
/// `--namespace`, `--insecure-skip-tls-verify` and `--request-timeout`.
pub fn connection(global: &GlobalArgs) -> Result<Connection> {
    let path = kubeconfig_path(global.kubeconfig.as_deref());
    let kubeconfig = Kubeconfig::load(&path)
        .with_context(|| format!("cannot load kubeconfig {}", path.display()))?;
    let resolved = kubeconfig
        .resolve(global.context.as_deref())
        .with_context(|| format!("invalid kubeconfig {}", path.display()))?;
    let namespace = match (&global.namespace, &resolved.namespace) {
        (Some(ns), _) => ns.clone(),
        (None, Some(ns)) if !ns.is_empty() => ns.clone(),
        _ => "default".to_string(),
    };
    Ok(Connection {
        cluster_name: resolved.cluster.clone(),
        server: global
            .server
            .clone()
            .unwrap_or_else(|| resolved.server.clone()),
        ca_pem: resolved.ca_pem.clone(),
        client_cert_pem: resolved.client_cert_pem.clone(),
        client_key_pem: resolved.client_key_pem.clone(),
        token: resolved.token.clone(),
        namespace,
        insecure: global.insecure_skip_tls_verify || resolved.insecure_skip_tls_verify,
        request_timeout: parse_request_timeout(&global.request_timeout)?,
    })
}

/// kubectl's `--request-timeout`: `0` means none, a bare number is seconds, else `1s`, `2m`, `1h`.
pub fn parse_request_timeout(text: &str) -> Result<Option<Duration>> {
    let text = text.trim();
    if text.is_empty() || text == "0" {
        return Ok(None);
    }
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text).with_context(|| {
            format!("invalid --request-timeout {text:?}: use a number of seconds or a duration such as 30s or 2m")
        })?,
    };
    Ok((!duration.is_zero()).then_some(duration))
}

impl Connection {
    /// Builds the HTTP client: mTLS with the kubeconfig identity, HTTP/2 when the server offers it.
    pub fn client(&self) -> Result<Client> {
        let identity = match (&self.client_cert_pem, &self.client_key_pem) {
            (Some(cert), Some(key)) => Some((cert.as_str(), key.as_str())),
            _ => None,
        };
        let tls = crate::tls::client_config(self.ca_pem.as_deref(), identity, self.insecure)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client::new(
            http,
            &self.server,
            self.token.clone(),
            self.request_timeout,
        ))
    }
}

/// `HOST:PORT` of a server URL, with the scheme's default port when none is given.
pub fn host_port(server: &str) -> Result<String> {
    let url =
        reqwest::Url::parse(server).with_context(|| format!("invalid server URL {server:?}"))?;
    let host = url
        .host_str()
        .with_context(|| format!("server URL {server:?} has no host"))?;
    let port = url
        .port_or_known_default()
        .with_context(|| format!("server URL {server:?} has no port"))?;
    // `host_str` keeps IPv6 literals bracketed, which is what `HOST:PORT` needs.
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_of_server_urls() {
        let cases = [
            ("https://10.0.0.1:6443", "10.0.0.1:6443"),
            ("https://edge.example:6443/", "edge.example:6443"),
            ("https://edge.example", "edge.example:443"),
            ("https://[fd00::1]:6443", "[fd00::1]:6443"),
        ];
        for (url, want) in cases {
            assert_eq!(host_port(url).expect(url), want, "{url}");
        }
        assert!(host_port("not a url").is_err());
    }

    #[test]
    fn request_timeouts() {
        assert_eq!(parse_request_timeout("0").expect("0"), None);
        assert_eq!(
            parse_request_timeout("5").expect("5"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_request_timeout("2m").expect("2m"),
            Some(Duration::from_secs(120))
        );
        assert!(parse_request_timeout("soon").is_err());
    }
}
