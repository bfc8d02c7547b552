//! The few distribution-API calls `edgectl push` makes (blob existence, upload, manifest), with
//! Docker's authentication: a `Basic` challenge answered with credentials, or a `Bearer`
//! challenge answered by fetching a token from the realm it names.
//!
//! Written on reqwest rather than the `oci-client` crate: oci-client 0.18 builds its own reqwest
//! 0.13 client from a config that has no client-certificate identity and accepts no prebuilt
//! client, and the cluster's registry authenticates callers by client certificate only.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use reqwest::header::{self, HeaderValue};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde_json::Value;

/// A user name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A `WWW-Authenticate` challenge: the scheme and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses `Scheme key="value",key=value`; only the first challenge of a header is read.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, mut rest) = match header.split_once(' ') {
            Some((scheme, rest)) => (scheme, rest.trim()),
            None => (header, ""),
        };
        if scheme.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        while !rest.is_empty() {
            let Some((key, after)) = rest.split_once('=') else {
                break;
            };
            let key = key
                .trim()
                .trim_start_matches(',')
                .trim()
                .to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
                match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => (quoted, ""),
                }
            } else {
                match after.find(',') {
                    Some(end) => (&after[..end], &after[end..]),
                    None => (after, ""),
                }
            };
            params.push((key, value.to_string()));
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A client for one repository of one registry.
pub struct RegistryClient {
    http: reqwest::Client,
    /// `https://HOST[:PORT]/`.
    base: Url,
    repo: String,
    credentials: Option<Credentials>,
    authorization: Option<HeaderValue>,
}

impl RegistryClient {
    pub fn new(
        http: reqwest::Client,
        scheme: &str,
        host: &str,
        repo: &str,
        credentials: Option<Credentials>,
    ) -> Result<RegistryClient> {
        let base = Url::parse(&format!("{scheme}://{host}/"))
            .with_context(|| format!("invalid registry address {host:?}"))?;
        Ok(RegistryClient {
            http,
            base,
            repo: repo.to_string(),
            credentials,
            authorization: None,
        })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .with_context(|| format!("invalid registry path {path:?}"))
    }

    /// Checks the registry speaks the distribution API, and answers its challenge, if any, for
    /// pulling and pushing this repository.
    pub async fn authenticate(&mut self) -> Result<()> {
        let url = self.url("/v2/")?;
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach the registry at {url}"))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => {
                let challenge = challenge_of(&response);
                let body = response.text().await.unwrap_or_default();
                self.answer(challenge.as_ref(), &body).await
            }
            status => Err(refusal(
                "the registry version check",
                status,
                &response.text().await.unwrap_or_default(),
            )),
        }
    }

    async fn answer(&mut self, challenge: Option<&Challenge>, body: &str) -> Result<()> {
        let Some(challenge) = challenge else {
            return Err(refusal("the registry", StatusCode::UNAUTHORIZED, body));
        };
        let basic = |c: &Credentials| {
            let pair = format!("{}:{}", c.username, c.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        let value = match challenge.scheme.as_str() {
            "basic" => match &self.credentials {
                Some(credentials) => basic(credentials),
                None => bail!(
                    "the registry needs credentials ({}): pass --username and --password, or log in with `docker login`",
                    first_error(body).unwrap_or_else(|| "401 Unauthorized".into())
                ),
            },
            "bearer" => {
                let realm = challenge
                    .param("realm")
                    .ok_or_else(|| anyhow!("the registry's Bearer challenge names no realm"))?;
                let mut url = Url::parse(realm).with_context(|| {
                    format!("the registry's token realm {realm:?} is not a URL")
                })?;
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = challenge.param("service") {
                        query.append_pair("service", service);
                    }
                    query.append_pair("scope", &format!("repository:{}:pull,push", self.repo));
                }
                let mut request = self.http.get(url.clone());
                if let Some(credentials) = &self.credentials {
                    request = request.header(header::AUTHORIZATION, basic(credentials));
                }
                let response = request
                    .send()
                    .await
                    .with_context(|| format!("cannot get a registry token from {url}"))?;
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if !status.is_success() {
                    return Err(refusal("the token request", status, &text));
                }
                let token: Value = serde_json::from_str(&text)
                    .context("the registry's token answer is not JSON")?;
                let token = token
                    .get("token")
                    .or_else(|| token.get("access_token"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("the registry's token answer has no token"))?;
                format!("Bearer {token}")
            }
            other => bail!(
                "the registry asks for {other} authentication, which edgectl does not support ({})",
                first_error(body).unwrap_or_default()
            ),
        };
        self.authorization = Some(
            HeaderValue::from_str(&value)
                .context("the registry credentials are not valid header text")?,
        );
        Ok(())
    }

    /// Sends a request, answering one 401 challenge and retrying; `build` makes the request
    /// afresh each time (a streamed body cannot be sent twice).
    async fn send(
        &mut self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> Result<RequestBuilder>,
    ) -> Result<reqwest::Response> {
        for attempt in 0..2 {
            let mut request = build(&self.http)?;
            if let Some(authorization) = &self.authorization {
                request = request.header(header::AUTHORIZATION, authorization.clone());
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("{what} failed"))?;
            if response.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                let challenge = challenge_of(&response);
                let body = response.text().await.unwrap_or_default();
                self.answer(challenge.as_ref(), &body).await?;
                continue;
            }
            return Ok(response);
        }
        bail!("{what} was refused after authenticating: check the credentials")
    }

    /// Whether the repository has the blob.
    pub async fn blob_exists(&mut self, digest: &str) -> Result<bool> {
        let url = self.url(&format!("/v2/{}/blobs/{digest}", self.repo))?;
        let response = self
            .send("checking for a blob", |http| Ok(http.head(url.clone())))
            .await?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(refusal("checking for a blob", status, "")),
        }
    }

    /// Uploads a blob in two steps (`POST`, then `PUT ?digest=` with the whole body), which every
    /// registry supports; `body` opens the content.
    pub async fn upload_blob(
        &mut self,
        digest: &str,
        size: u64,
        body: impl Fn() -> Result<reqwest::Body>,
    ) -> Result<()> {
        let start = self.url(&format!("/v2/{}/blobs/uploads/", self.repo))?;
        let response = self
            .send("starting a blob upload", |http| {
                Ok(http.post(start.clone()).header(header::CONTENT_LENGTH, "0"))
            })
            .await?;
        let status = response.status();
        if status != StatusCode::ACCEPTED {
            return Err(refusal(
                "starting a blob upload",
                status,
                &response.text().await.unwrap_or_default(),
            ));
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("the registry started an upload but gave no Location"))?;
        // The location may be relative, and may carry query parameters of its own.
        let mut finish = start
            .join(location)
            .with_context(|| format!("the upload location {location:?} is not a URL"))?;
        finish.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .send("uploading a blob", |http| {
                Ok(http
                    .put(finish.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size)
                    .body(body()?))
            })
            .await?;
        let status = response.status();
        if status != StatusCode::CREATED {
            return Err(refusal(
                &format!("uploading blob {digest}"),
                status,
                &response.text().await.unwrap_or_default(),
            ));
        }
        Ok(())
    }

    /// Puts the manifest under `reference` (a tag or its digest); returns the digest the
    /// registry reports, if it does.
    pub async fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<String>> {
        let url = self.url(&format!("/v2/{}/manifests/{reference}", self.repo))?;
        let response = self
            .send("pushing the manifest", |http| {
                Ok(http
                    .put(url.clone())
                    .header(header::CONTENT_TYPE, media_type)
                    .body(bytes.to_vec()))
            })
            .await?;
        let status = response.status();
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if status != StatusCode::CREATED {
            return Err(refusal(
                "pushing the manifest",
                status,
                &response.text().await.unwrap_or_default(),
            ));
        }
        Ok(digest)
    }
}

fn challenge_of(response: &reqwest::Response) -> Option<Challenge> {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(Challenge::parse)
}

/// The first error of a distribution error body, as `CODE: message`.
pub fn first_error(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let error = value.get("errors")?.get(0)?;
    let code = error.get("code").and_then(Value::as_str).unwrap_or("ERROR");
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    Some(format!("{code}: {message}"))
}

fn refusal(what: &str, status: StatusCode, body: &str) -> anyhow::Error {
    match first_error(body) {
        Some(error) => anyhow!("{what} was refused ({status}): {error}"),
        None => anyhow!("{what} was refused ({status})"),
    }
}

/// The credentials `~/.docker/config.json` (parsed as `config`) holds for `registry`: the
/// `auths` entry whose key, without scheme and path, is the registry (Docker Hub's is
/// `https://index.docker.io/v1/`). Credential helpers are not consulted.
pub fn docker_credentials(config: &Value, registry: &str) -> Option<Credentials> {
    let wanted = match registry {
        "docker.io" | "registry-1.docker.io" => "index.docker.io",
        other => other,
    };
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find_map(|(key, entry)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let host = host.split('/').next().unwrap_or_default();
        (host == wanted).then_some(entry)
    })?;
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (username, password) = decoded.split_once(':')?;
        return Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    Some(Credentials {
        username: entry.get("username")?.as_str()?.to_string(),
        password: entry.get("password")?.as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn challenges() {
        let bearer = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        )
        .expect("parses");
        assert_eq!(bearer.scheme, "bearer");
        assert_eq!(bearer.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(bearer.param("service"), Some("registry.docker.io"));
        assert_eq!(bearer.param("scope"), Some("repository:a/b:pull,push"));
        let basic = Challenge::parse(r#"Basic realm="edgeplane registry""#).expect("parses");
        assert_eq!(basic.scheme, "basic");
        assert_eq!(basic.param("realm"), Some("edgeplane registry"));
        let unquoted =
            Challenge::parse("Bearer realm=https://t.example/token, service=reg").expect("parses");
        assert_eq!(unquoted.param("realm"), Some("https://t.example/token"));
        assert_eq!(unquoted.param("service"), Some("reg"));
        assert_eq!(
            Challenge::parse("Basic").map(|c| c.scheme),
            Some("basic".into())
        );
        assert!(Challenge::parse("").is_none());
    }

    #[test]
    fn docker_config_credentials() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let config = json!({
            "auths": {
                "https://index.docker.io/v1/": {"auth": encoded},
                "registry.example:5000": {"username": "bob", "password": "pw"},
                "https://ghcr.io": {"auth": "!!not base64"}
            }
        });
        let hub = docker_credentials(&config, "docker.io").expect("hub");
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("alice", "s3cret")
        );
        let private = docker_credentials(&config, "registry.example:5000").expect("private");
        assert_eq!(private.username, "bob");
        assert!(docker_credentials(&config, "ghcr.io").is_none());
        assert!(docker_credentials(&config, "quay.io").is_none());
        assert!(docker_credentials(&json!({}), "quay.io").is_none());
        assert!(
            !format!("{hub:?}").contains("s3cret"),
            "Debug hides the password"
        );
    }

    #[test]
    fn registry_errors() {
        let body = r#"{"errors":[{"code":"DENIED","message":"may only pull"}]}"#;
        assert_eq!(first_error(body).as_deref(), Some("DENIED: may only pull"));
        assert_eq!(first_error("<html>"), None);
        assert_eq!(
            refusal("pushing", StatusCode::FORBIDDEN, body).to_string(),
            "pushing was refused (403 Forbidden): DENIED: may only pull"
        );
    }
}
