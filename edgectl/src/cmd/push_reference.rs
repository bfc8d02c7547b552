//! Image references for `edgectl push`: `HOST[:PORT]/NAME[:TAG][@sha256:HEX]`.

use std::fmt;

use anyhow::{Result, bail};

/// Where an artifact goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// `HOST[:PORT]` as written.
    pub registry: String,
    /// The repository, e.g. `apps/hello`.
    pub name: String,
    /// The tag; `latest` when neither a tag nor a digest is given.
    pub tag: Option<String>,
    /// `sha256:<hex>` when the reference pins the content.
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<ImageRef> {
        let hint = "use HOST:PORT/NAME:TAG, e.g. 10.0.0.1:6443/apps/hello:v1";
        let Some((registry, rest)) = text.split_once('/') else {
            bail!("invalid reference {text:?}: it names no registry; {hint}");
        };
        // Docker's rule: the first component is a registry when it looks like a host.
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            bail!("invalid reference {text:?}: {registry:?} is not a registry host; {hint}");
        }
        let (rest, digest) = match rest.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest.strip_prefix("sha256:").unwrap_or_default();
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                {
                    bail!(
                        "invalid reference {text:?}: the digest must be sha256: and 64 lowercase hex digits"
                    );
                }
                (rest, Some(digest.to_string()))
            }
            None => (rest, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        let name_ok = !name.is_empty()
            && name.split('/').all(|component| {
                !component.is_empty()
                    && component.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
                    && component.as_bytes()[0].is_ascii_alphanumeric()
            });
        if !name_ok {
            bail!(
                "invalid reference {text:?}: the repository {name:?} must be lowercase letters, digits, '.', '_' and '-', separated by '/'"
            );
        }
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid {
                bail!(
                    "invalid reference {text:?}: the tag {tag:?} must be up to 128 letters, digits, '.', '_' and '-'"
                );
            }
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (tag, _) => tag,
        };
        Ok(ImageRef {
            registry: registry.to_string(),
            name: name.to_string(),
            tag,
            digest,
        })
    }

    /// The host requests go to: Docker Hub's API lives on `registry-1.docker.io`.
    pub fn api_host(&self) -> &str {
        match self.registry.as_str() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        }
    }

    /// What the manifest is pushed as: the tag, else the digest.
    pub fn manifest_reference(&self) -> &str {
        self.tag
            .as_deref()
            .or(self.digest.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (written, (registry, repository, tag, digest))
    type Case<'a> = (&'a str, (&'a str, &'a str, Option<&'a str>, Option<String>));

    #[test]
    fn references() {
        let hex = "a".repeat(64);
        let pinned = format!("10.0.0.1:6443/apps/hello@sha256:{hex}");
        let both = format!("localhost/x:v2@sha256:{hex}");
        let cases: Vec<Case> = vec![
            (
                "10.0.0.1:6443/apps/hello:v1",
                ("10.0.0.1:6443", "apps/hello", Some("v1"), None),
            ),
            (
                "127.0.0.1:6443/hello",
                ("127.0.0.1:6443", "hello", Some("latest"), None),
            ),
            (
                &pinned,
                (
                    "10.0.0.1:6443",
                    "apps/hello",
                    None,
                    Some(format!("sha256:{hex}")),
                ),
            ),
            (
                &both,
                ("localhost", "x", Some("v2"), Some(format!("sha256:{hex}"))),
            ),
            (
                "ghcr.io/org/app:1.0.0",
                ("ghcr.io", "org/app", Some("1.0.0"), None),
            ),
            (
                "[fd00::1]:5000/a/b:c",
                ("[fd00::1]:5000", "a/b", Some("c"), None),
            ),
        ];
        for (text, (registry, name, tag, digest)) in cases {
            let parsed = ImageRef::parse(text).expect(text);
            assert_eq!(parsed.registry, registry, "{text}");
            assert_eq!(parsed.name, name, "{text}");
            assert_eq!(parsed.tag.as_deref(), tag, "{text}");
            assert_eq!(parsed.digest, digest, "{text}");
            assert_eq!(
                parsed.to_string().replace(":latest", ""),
                text.replace(":latest", "")
            );
        }
        assert_eq!(
            ImageRef::parse("docker.io/library/x:1")
                .expect("hub")
                .api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn invalid_references() {
        for bad in [
            "hello",
            "hello:v1",
            "apps/hello:v1",
            "10.0.0.1:6443/",
            "10.0.0.1:6443/Apps/hello",
            "10.0.0.1:6443/a//b",
            "10.0.0.1:6443/a:",
            "10.0.0.1:6443/a:.bad",
            "10.0.0.1:6443/a@sha256:1234",
            "10.0.0.1:6443/a@md5:1234",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
