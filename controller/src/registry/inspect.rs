//! What the scheduler needs to know of an image in this registry: whether it is a Wasm
//! component (runs on any architecture) or an OCI image, and which CPU architectures an OCI
//! image offers (an image index lists its platforms; a single image's config names one).

use serde_json::Value;

use super::Registry;
use super::manifest::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use super::reference::{Reference, RepoName};

/// The config media type of Wasm OCI artifacts.
const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// Largest manifest or config this reads.
const MAX_READ: u64 = 4 * 1024 * 1024;

/// An image as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageKind {
    Wasm,
    /// An OCI image and its architectures (`amd64`, `arm64`, ...); empty when unknown.
    Oci {
        archs: Vec<String>,
    },
}

impl Registry {
    /// Looks `image` (`[host[:port]/]repo[:tag|@digest]`) up in this registry; `None` when it
    /// is not here (another registry's image, or not pushed yet) or cannot be read.
    pub async fn inspect(&self, image: &str) -> Option<ImageKind> {
        let (repo, reference) = split_reference(image)?;
        let repo = RepoName::parse(&repo).ok()?;
        let reference = Reference::parse(&reference).ok()?;
        let stored = self.storage.manifest(&repo, &reference).await.ok()??;
        let manifest = self
            .read_json(&self.storage.blob_path(&stored.digest))
            .await?;
        if stored.media_type == OCI_INDEX || stored.media_type == DOCKER_MANIFEST_LIST {
            return Some(kind_of_index(&manifest));
        }
        if is_wasm_manifest(&manifest) {
            return Some(ImageKind::Wasm);
        }
        let config_digest = manifest.pointer("/config/digest").and_then(Value::as_str)?;
        let digest = super::reference::Digest::parse(config_digest).ok()?;
        let archs = match self.read_json(&self.storage.blob_path(&digest)).await {
            Some(config) => config
                .get("architecture")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .map(|a| vec![a.to_owned()])
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Some(ImageKind::Oci { archs })
    }

    async fn read_json(&self, path: &std::path::Path) -> Option<Value> {
        let size = tokio::fs::metadata(path).await.ok()?.len();
        if size > MAX_READ {
            return None;
        }
        let bytes = tokio::fs::read(path).await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// The repository and tag (or digest) an image reference names, without its registry host.
/// An untagged reference means `latest`.
pub fn split_reference(image: &str) -> Option<(String, String)> {
    let image = image.trim();
    let path = match image.split_once('/') {
        // The first part is a registry host when it has a dot or a port, or is localhost.
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            rest
        }
        _ => image,
    };
    if path.is_empty() {
        return None;
    }
    if let Some((repo, digest)) = path.split_once('@') {
        return Some((repo.to_owned(), digest.to_owned()));
    }
    let last_slash = path.rfind('/').map_or(0, |i| i + 1);
    match path[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            Some((path[..at].to_owned(), path[at + 1..].to_owned()))
        }
        None => Some((path.to_owned(), "latest".to_owned())),
    }
}

fn is_wasm_manifest(manifest: &Value) -> bool {
    if manifest
        .pointer("/config/mediaType")
        .and_then(Value::as_str)
        == Some(WASM_CONFIG)
    {
        return true;
    }
    let layers: Vec<&str> = manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.get("mediaType").and_then(Value::as_str))
        .collect();
    !layers.is_empty() && layers.iter().all(|m| m.contains("wasm"))
}

/// An index is Wasm when its platforms are Wasm ones; otherwise it offers the Linux
/// architectures it lists (attestation entries, `unknown/unknown`, are not platforms).
fn kind_of_index(index: &Value) -> ImageKind {
    let platforms: Vec<(&str, &str)> = index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let p = m.get("platform")?;
            Some((
                p.get("os").and_then(Value::as_str).unwrap_or(""),
                p.get("architecture").and_then(Value::as_str).unwrap_or(""),
            ))
        })
        .filter(|(_, arch)| !arch.is_empty() && *arch != "unknown")
        .collect();
    if !platforms.is_empty()
        && platforms
            .iter()
            .all(|(os, arch)| *arch == "wasm" || os.starts_with("wasi"))
    {
        return ImageKind::Wasm;
    }
    let mut archs: Vec<String> = platforms
        .iter()
        .filter(|(os, _)| os.is_empty() || *os == "linux")
        .map(|(_, arch)| (*arch).to_owned())
        .collect();
    archs.sort();
    archs.dedup();
    ImageKind::Oci { archs }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_split_into_repo_and_tag() {
        let cases = [
            (
                "127.0.0.1:6443/examples/hello:v1",
                Some(("examples/hello", "v1")),
            ),
            ("registry.local/web", Some(("web", "latest"))),
            ("localhost/a/b:c", Some(("a/b", "c"))),
            ("team/web:2", Some(("team/web", "2"))),
            ("nginx", Some(("nginx", "latest"))),
            ("host:5000/web@sha256:abc", Some(("web", "sha256:abc"))),
            ("host:5000/", None),
        ];
        for (image, want) in cases {
            let got = split_reference(image);
            let want = want.map(|(r, t)| (r.to_owned(), t.to_owned()));
            assert_eq!(got, want, "{image}");
        }
    }

    #[test]
    fn indexes_name_their_architectures() {
        let index = |platforms: &[(&str, &str)]| {
            json!({"manifests": platforms.iter().map(|(os, arch)|
                json!({"platform": {"os": os, "architecture": arch}})).collect::<Vec<_>>()})
        };
        let cases = [
            (
                index(&[
                    ("linux", "amd64"),
                    ("linux", "arm64"),
                    ("unknown", "unknown"),
                ]),
                ImageKind::Oci {
                    archs: vec!["amd64".into(), "arm64".into()],
                },
            ),
            (index(&[("wasip2", "wasm")]), ImageKind::Wasm),
            (
                index(&[("linux", "amd64")]),
                ImageKind::Oci {
                    archs: vec!["amd64".into()],
                },
            ),
            (index(&[]), ImageKind::Oci { archs: vec![] }),
        ];
        for (value, want) in cases {
            assert_eq!(kind_of_index(&value), want, "{value}");
        }
    }

    #[test]
    fn wasm_manifests_are_recognised() {
        assert!(is_wasm_manifest(
            &json!({"config": {"mediaType": WASM_CONFIG}})
        ));
        assert!(is_wasm_manifest(
            &json!({"config": {"mediaType": "x"}, "layers": [{"mediaType": "application/wasm"}]})
        ));
        assert!(!is_wasm_manifest(
            &json!({"config": {"mediaType": "application/vnd.oci.image.config.v1+json"},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}]})
        ));
    }
}
