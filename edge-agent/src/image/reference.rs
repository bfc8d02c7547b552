//! Image references as Docker and containerd read them: `[registry[:port]/]repo[:tag][@sha256:...]`.
//!
//! `nginx` is `docker.io/library/nginx:latest`; a first path component is a registry when it
//! has a `.` or a `:`, is `localhost`, or has upper-case letters (as in the distribution
//! `reference` package); a digest pins the content and wins over a tag given with it.

use std::fmt;

use super::digest::Digest;

/// Docker Hub, as references name it.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API is served from.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The longest `registry/repository` the distribution `reference` package accepts.
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference.
#[derive(Clone, Debug)]
pub struct ImageRef {
    written: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// An image name that cannot be parsed; the kubelet reports it as `InvalidImageName`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("couldn't parse image name {image:?}: invalid reference format: {reason}")]
pub struct ReferenceError {
    pub image: String,
    pub reason: String,
}

impl ImageRef {
    /// Parses and normalises `text`.
    pub fn parse(text: &str) -> Result<ImageRef, ReferenceError> {
        let fail = |reason: String| ReferenceError {
            image: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(fail("the reference is empty".into()));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest).map_err(fail)?)),
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(fail)?;
        }
        let (registry, repository) = split_registry(name);
        check_registry(registry).map_err(fail)?;
        check_repository(&repository).map_err(fail)?;
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(fail(format!(
                "the name is longer than {MAX_NAME_LEN} characters"
            )));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(ImageRef {
            written: text.to_owned(),
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
    }

    /// The reference as the pod spec wrote it; what error messages quote.
    pub fn as_written(&self) -> &str {
        &self.written
    }

    /// `host[:port]`, with Docker Hub as `docker.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path within the registry, e.g. `library/nginx`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// `sha256:<hex>` when the reference pins the content.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_ref().map(Digest::as_str)
    }

    pub(crate) fn pinned_digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The host the registry API is served from (Docker Hub's is `registry-1.docker.io`).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// What the manifest is fetched by: the digest, else the tag.
    pub fn manifest_reference(&self) -> &str {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.as_str(),
            (None, Some(tag)) => tag,
            (None, None) => "latest",
        }
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name the content store files the image under: by digest when pinned (a digest names
    /// the same content whatever tag came with it), else by tag.
    pub(crate) fn store_key(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("{}@{digest}", self.name()),
            (None, tag) => format!("{}:{}", self.name(), tag.as_deref().unwrap_or("latest")),
        }
    }
}

/// Two references are equal when they name the same thing, however they were written.
impl PartialEq for ImageRef {
    fn eq(&self, other: &Self) -> bool {
        self.registry == other.registry
            && self.repository == other.repository
            && self.tag == other.tag
            && self.digest == other.digest
    }
}

impl Eq for ImageRef {}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn parse_digest(text: &str) -> Result<Digest, String> {
    match text.split_once(':') {
        Some(("sha256", _)) => Digest::parse(text).map_err(|e| e.to_string()),
        Some((algorithm, _)) => Err(format!(
            "unsupported digest algorithm {algorithm:?}: only sha256 is supported"
        )),
        None => Err(format!("invalid digest {text:?}: expected sha256:<hex>")),
    }
}

/// Splits `name` into the registry and the repository, adding Docker Hub's defaults.
fn split_registry(name: &str) -> (&str, String) {
    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB
    } else {
        registry
    };
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    (registry, path)
}

fn check_tag(tag: &str) -> Result<(), String> {
    let valid = tag.len() <= MAX_TAG_LEN
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "the tag {tag:?} must be 1 to {MAX_TAG_LEN} letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        ))
    }
}

/// `host[:port]` where the host is DNS labels or a bracketed IPv6 address.
fn check_registry(registry: &str) -> Result<(), String> {
    let bad = || format!("{registry:?} is not a registry host[:port]");
    let (host, port) = if let Some(v6) = registry.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        match after {
            "" => ("", None),
            _ => ("", Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    let host_ok = registry.starts_with('[') || host.split('.').all(label_ok);
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Path components are `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn check_repository(repository: &str) -> Result<(), String> {
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("the repository {repository:?} must be lowercase"));
    }
    let component_ok = |component: &str| {
        let b = component.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if b.first().is_none_or(|c| !alnum(c)) || b.last().is_none_or(|c| !alnum(c)) {
            return false;
        }
        // Between alphanumeric runs: one '.', one or two '_', or any number of '-'.
        let mut i = 0;
        while i < b.len() {
            if alnum(&b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(&b[i]) {
                i += 1;
            }
            let separator = &component[start..i];
            let ok = separator == "."
                || separator == "_"
                || separator == "__"
                || separator.bytes().all(|c| c == b'-');
            if !ok {
                return false;
            }
        }
        true
    };
    if repository.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!(
            "the repository {repository:?} must be lowercase letters and digits separated by '.', '_', '__' or '-', in '/'-separated components"
        ))
    }
}

#[cfg(test)]
#[path = "reference_test.rs"]
mod tests;
