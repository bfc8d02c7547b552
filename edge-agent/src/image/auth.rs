//! Registry authentication: choosing a pull secret's credentials by registry host, and reading
//! `WWW-Authenticate` challenges (Basic, and the Docker token flow's Bearer).

use std::fmt;

use super::reference::DOCKER_HUB;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A `WWW-Authenticate` challenge this client can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// The first credentials in `creds` (pull secrets, `(host, user, password)` in the pod's order)
/// for `registry`. Hosts compare without scheme and path, case-insensitively, with Docker Hub's
/// aliases (`index.docker.io`, `registry-1.docker.io`) as `docker.io`.
pub(crate) fn credentials_for(
    registry: &str,
    creds: &[(String, String, String)],
) -> Option<Credentials> {
    let wanted = canonical_host(registry);
    creds
        .iter()
        .find(|(host, _, _)| canonical_host(host) == wanted)
        .map(|(_, user, password)| Credentials {
            user: user.clone(),
            password: password.clone(),
        })
}

/// `https://Index.Docker.io/v1/` → `docker.io`; `ghcr.io/` → `ghcr.io`.
pub(crate) fn canonical_host(host: &str) -> String {
    let host = host.trim();
    let host = host.split_once("://").map_or(host, |(_, rest)| rest);
    let host = host
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
        _ => host,
    }
}

/// The challenge of a `WWW-Authenticate` header, when it is Basic or Bearer. A header with
/// several challenges is read up to the first one this client understands.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (scheme, after) = rest.split_once(' ').unwrap_or((rest, ""));
        let (params, next) = parse_params(after);
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let get = |key: &str| {
                params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.clone())
            };
            return get("realm").map(|realm| Challenge::Bearer {
                realm,
                service: get("service"),
                scope: get("scope"),
            });
        }
        rest = next.trim_start_matches([',', ' ']);
    }
    None
}

/// Reads `key=value` and `key="quoted, value"` pairs separated by commas, stopping at the start
/// of the next challenge (a token not followed by `=`). Returns the pairs and the rest.
fn parse_params(text: &str) -> (Vec<(String, String)>, &str) {
    let mut params = Vec::new();
    let mut rest = text.trim_start();
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        let Some(eq) = rest.find('=') else {
            return (params, rest);
        };
        let key = &rest[..eq];
        if key.is_empty() || key.contains([' ', ',']) {
            return (params, rest);
        }
        let after = &rest[eq + 1..];
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.push((key.trim().to_owned(), value));
        rest = remaining;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let bearer = |realm: &str, service: Option<&str>, scope: Option<&str>| {
            Some(Challenge::Bearer {
                realm: realm.into(),
                service: service.map(Into::into),
                scope: scope.map(Into::into),
            })
        };
        let cases = [
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
                bearer(
                    "https://auth.docker.io/token",
                    Some("registry.docker.io"),
                    Some("repository:library/nginx:pull"),
                ),
            ),
            (
                r#"bearer service="s", realm="https://r/t?a=1,b=2""#,
                bearer("https://r/t?a=1,b=2", Some("s"), None),
            ),
            (r#"Bearer realm="a\"b""#, bearer("a\"b", None, None)),
            (
                "Bearer realm=https://unquoted/token,service=x",
                bearer("https://unquoted/token", Some("x"), None),
            ),
            (r#"Basic realm="Registry Realm""#, Some(Challenge::Basic)),
            ("Basic", Some(Challenge::Basic)),
            (r#"Negotiate abc, Basic realm="x""#, Some(Challenge::Basic)),
            (r#"Bearer service="no realm""#, None),
            ("Digest nonce=1", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(parse_challenge(header), want, "{header}");
        }
    }

    #[test]
    fn credentials_are_chosen_by_host_with_docker_hub_aliases() {
        let creds = vec![
            (
                "https://index.docker.io/v1/".to_owned(),
                "hub".to_owned(),
                "p1".to_owned(),
            ),
            ("ghcr.io".to_owned(), "gh".to_owned(), "p2".to_owned()),
            (
                "10.0.0.1:6443".to_owned(),
                "ctl".to_owned(),
                "p3".to_owned(),
            ),
            ("GHCR.io".to_owned(), "second".to_owned(), "p4".to_owned()),
        ];
        let user = |registry: &str| credentials_for(registry, &creds).map(|c| c.user);
        assert_eq!(user("docker.io").as_deref(), Some("hub"));
        assert_eq!(user("registry-1.docker.io").as_deref(), Some("hub"));
        assert_eq!(user("ghcr.io").as_deref(), Some("gh"));
        assert_eq!(user("10.0.0.1:6443").as_deref(), Some("ctl"));
        assert_eq!(user("10.0.0.1"), None);
        assert_eq!(user("quay.io"), None);
        let shown = format!("{:?}", credentials_for("ghcr.io", &creds));
        assert!(!shown.contains("p2"), "{shown}");
    }
}
