//! Authenticated GETs against a registry's distribution API: anonymous first, then Basic or
//! the Docker token flow as the registry's `401` challenge asks, with what worked remembered
//! per repository so that the next request does not start with a `401`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use serde_json::Value;

use super::auth::{Challenge, Credentials, parse_challenge};
use super::error::PullFailure;
use super::transport::Transport;

/// The largest error or token response read.
const MAX_SMALL_BODY: u64 = 1 << 20;
/// Tokens without `expires_in` live this long (the token specification's default), and no
/// shorter lifetime is assumed.
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A token is renewed this long before it expires, so a request never carries a stale one.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// One repository of one registry, and the pod's credentials for that registry.
#[derive(Clone, Debug)]
pub(crate) struct Repository {
    /// The registry API's `host[:port]`.
    pub host: String,
    /// The repository path, e.g. `library/nginx`.
    pub name: String,
    pub creds: Option<Credentials>,
}

#[derive(Clone, Debug)]
enum Auth {
    Basic(Credentials),
    Bearer(String),
}

#[derive(Debug)]
struct CachedAuth {
    auth: Auth,
    /// Whom it was for: a different pull secret must not reuse another's token.
    creds: Option<Credentials>,
    until: Option<Instant>,
}

/// Distribution API requests with authentication.
pub(crate) struct RegistryClient {
    transport: Transport,
    /// What authenticated requests to `(host, repository)` last time.
    auth: Mutex<HashMap<(String, String), CachedAuth>>,
}

impl RegistryClient {
    pub(crate) fn new(transport: Transport) -> RegistryClient {
        RegistryClient {
            transport,
            auth: Mutex::new(HashMap::new()),
        }
    }

    /// `GET /v2/<repository>/<path>`. Answers with a 2xx, 206 or 416 response; every other
    /// status becomes a failure naming `what` (`not found`, `unauthorized`, ...).
    pub(crate) async fn get(
        &self,
        repo: &Repository,
        path: &str,
        headers: HeaderMap,
        what: &str,
    ) -> Result<reqwest::Response, PullFailure> {
        let url = format!(
            "{}/v2/{}/{path}",
            self.transport.base_url(&repo.host),
            repo.name
        );
        let client = self.transport.client_for(&repo.host);
        let mut auth = self.cached(repo);
        let mut answered_challenge = false;
        loop {
            let mut request = client.get(&url).headers(headers.clone());
            request = match &auth {
                Some(Auth::Basic(c)) => request.basic_auth(&c.user, Some(&c.password)),
                Some(Auth::Bearer(token)) => request.bearer_auth(token),
                None => request,
            };
            let response = request
                .send()
                .await
                .map_err(|e| PullFailure::transport(&e))?;
            if response.status() == StatusCode::UNAUTHORIZED && !answered_challenge {
                answered_challenge = true;
                if let Some((next, until)) = self.answer(repo, &response).await? {
                    self.remember(repo, next.clone(), until);
                    auth = Some(next);
                    continue;
                }
            }
            if matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) {
                self.forget(repo);
            }
            return check_status(response, repo, what).await;
        }
    }

    /// How to answer a `401`'s challenge, if this client can.
    async fn answer(
        &self,
        repo: &Repository,
        response: &reqwest::Response,
    ) -> Result<Option<(Auth, Option<Instant>)>, PullFailure> {
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .and_then(parse_challenge);
        Ok(match challenge {
            Some(Challenge::Basic) => repo.creds.clone().map(|c| (Auth::Basic(c), None)),
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let (token, lifetime) = self
                    .fetch_token(repo, &realm, service.as_deref(), scope.as_deref())
                    .await?;
                let until = Instant::now() + lifetime.max(MIN_TOKEN_LIFETIME) - TOKEN_MARGIN;
                Some((Auth::Bearer(token), Some(until)))
            }
            None => None,
        })
    }

    /// The token flow: `GET realm?service=..&scope=repository:<name>:pull`, with the
    /// credentials as Basic auth when there are any.
    async fn fetch_token(
        &self,
        repo: &Repository,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<(String, Duration), PullFailure> {
        let bad_realm = || PullFailure::Unauthorized {
            detail: format!("the registry's token service {realm:?} is not an http(s) URL"),
        };
        let url = reqwest::Url::parse(realm).map_err(|_| bad_realm())?;
        let host = url.host_str().ok_or_else(bad_realm)?;
        let port = url.port_or_known_default().ok_or_else(bad_realm)?;
        match url.scheme() {
            "https" => {}
            "http" if repo.creds.is_none() || self.transport.is_plain_http(&repo.host) => {}
            "http" => {
                return Err(PullFailure::InsecureRealm {
                    realm: realm.to_owned(),
                });
            }
            _ => return Err(bad_realm()),
        }
        let pull_scope = format!("repository:{}:pull", repo.name);
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        query.push(("scope", &pull_scope));
        if let Some(scope) = scope.filter(|s| *s != pull_scope) {
            query.push(("scope", scope));
        }
        // `host_str` keeps an IPv6 address's brackets.
        let host_port = format!("{host}:{port}");
        let mut request = self.transport.client_for(&host_port).get(url).query(&query);
        if let Some(c) = &repo.creds {
            request = request.basic_auth(&c.user, Some(&c.password));
        }
        let response = request
            .send()
            .await
            .map_err(|e| PullFailure::transport(&e))?;
        let status = response.status();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(PullFailure::Unauthorized {
                detail: match &repo.creds {
                    Some(_) => format!(
                        "the token service refused the credentials for {}",
                        repo.host
                    ),
                    None => format!(
                        "the token service refused anonymous access to {}; add an imagePullSecret for it",
                        repo.host
                    ),
                },
            });
        }
        if !status.is_success() {
            return Err(PullFailure::Registry {
                status: status.as_u16(),
                detail: format!("token service {realm}"),
            });
        }
        let body = read_capped(response, MAX_SMALL_BODY, "token response").await?;
        let value: Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = ["token", "access_token"]
            .iter()
            .find_map(|k| {
                value
                    .get(k)
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
            })
            .ok_or_else(|| PullFailure::Unauthorized {
                detail: format!("the token service {realm} answered without a token"),
            })?;
        let lifetime = value.get("expires_in").and_then(Value::as_u64).unwrap_or(0);
        Ok((token.to_owned(), Duration::from_secs(lifetime)))
    }

    fn cached(&self, repo: &Repository) -> Option<Auth> {
        let cache = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        let entry = cache.get(&(repo.host.clone(), repo.name.clone()))?;
        let fresh = entry.until.is_none_or(|until| Instant::now() < until);
        (fresh && entry.creds == repo.creds).then(|| entry.auth.clone())
    }

    fn remember(&self, repo: &Repository, auth: Auth, until: Option<Instant>) {
        let mut cache = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        let entry = CachedAuth {
            auth,
            creds: repo.creds.clone(),
            until,
        };
        cache.insert((repo.host.clone(), repo.name.clone()), entry);
    }

    fn forget(&self, repo: &Repository) {
        let mut cache = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        cache.remove(&(repo.host.clone(), repo.name.clone()));
    }
}

/// Passes 2xx, 206 and 416 answers; turns the others into failures.
async fn check_status(
    response: reqwest::Response,
    repo: &Repository,
    what: &str,
) -> Result<reqwest::Response, PullFailure> {
    let status = response.status();
    if status.is_success() || status == StatusCode::RANGE_NOT_SATISFIABLE {
        return Ok(response);
    }
    let message = error_message(response).await;
    Err(match status {
        StatusCode::NOT_FOUND => PullFailure::NotFound {
            what: what.to_owned(),
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            let message = message.unwrap_or_else(|| "authentication required".to_owned());
            PullFailure::Unauthorized {
                detail: match &repo.creds {
                    Some(_) => {
                        format!("{message} (the credentials for {} were refused)", repo.host)
                    }
                    None => format!(
                        "{message} (no imagePullSecrets credentials for {}: add one if the image is private)",
                        repo.host
                    ),
                },
            }
        }
        _ => PullFailure::Registry {
            status: status.as_u16(),
            detail: message.unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned()),
        },
    })
}

/// The distribution error body's first `message` (`{"errors":[{"code":..,"message":..}]}`).
async fn error_message(response: reqwest::Response) -> Option<String> {
    let body = read_capped(response, MAX_SMALL_BODY, "error response")
        .await
        .ok()?;
    let value: Value = serde_json::from_slice(&body).ok()?;
    let first = value.get("errors")?.as_array()?.first()?;
    let message = first
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    let code = first.get("code").and_then(Value::as_str);
    message.or(code).map(|m| m.chars().take(300).collect())
}

/// The whole body of a response, refused when it is larger than `limit`.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, PullFailure> {
    let too_large = || PullFailure::TooLarge {
        what: what.to_owned(),
        limit,
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| PullFailure::transport(&e))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
