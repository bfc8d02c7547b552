//! OCI and Docker v2 manifests and image indexes: media types, parsing of untrusted bytes, and
//! whether an image is a Wasm component or an OCI container image.

use serde_json::Value;

use super::digest::Digest;
use super::error::PullFailure;
use super::platform::Platform;
use super::pulled::ImageKind;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";

/// The config media type of Wasm OCI artifacts (CNCF TAG Runtime's "wasm-oci-artifact").
pub(crate) const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// Layer media types holding a Wasm component: the artifact layout's and the older wasm-to-oci's.
pub(crate) const WASM_LAYERS: [&str; 2] = [
    "application/wasm",
    "application/vnd.wasm.content.layer.v1+wasm",
];

/// The `Accept` header of manifest requests: every manifest and index type this puller reads.
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest or index accepted, as the distribution spec suggests registries cap them.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// The largest image config read into memory.
pub(crate) const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// A content descriptor read from a manifest: digest and size already validated.
#[derive(Clone, Debug)]
pub(crate) struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub platform: Option<Platform>,
}

/// A parsed manifest document.
#[derive(Debug)]
pub(crate) enum Manifest {
    /// An OCI image index or Docker manifest list: one entry per platform.
    Index(Vec<Descriptor>),
    Image(ImageManifest),
}

/// One platform's image: its config and its layers, in order.
#[derive(Debug)]
pub(crate) struct ImageManifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

impl Manifest {
    /// Parses a manifest whose response said `content_type`; the document's own `mediaType`
    /// wins, as in containerd.
    pub(crate) fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, PullFailure> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| PullFailure::InvalidManifest(format!("not JSON: {e}")))?;
        if !value.is_object() {
            return Err(invalid("the document is not a JSON object"));
        }
        if value.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
            return Err(PullFailure::UnsupportedMediaType(DOCKER_SCHEMA1.into()));
        }
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim())
            .filter(|c| {
                !matches!(
                    *c,
                    "" | "application/json" | "application/octet-stream" | "text/plain"
                )
            });
        let media_type = value.get("mediaType").and_then(Value::as_str).or(header);
        match media_type {
            Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => parse_index(&value),
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => parse_image(&value),
            Some(other) => Err(PullFailure::UnsupportedMediaType(
                other.chars().take(100).collect(),
            )),
            None if value.get("manifests").is_some() => parse_index(&value),
            None if value.get("config").is_some() => parse_image(&value),
            None => Err(invalid("no mediaType, and neither manifests nor config")),
        }
    }
}

impl ImageManifest {
    /// Wasm when the config is the Wasm artifact config, or every layer is a Wasm layer.
    pub(crate) fn kind(&self) -> ImageKind {
        let wasm_layers =
            !self.layers.is_empty() && self.layers.iter().all(|l| is_wasm_layer(&l.media_type));
        if self.config.media_type == WASM_CONFIG || wasm_layers {
            ImageKind::Wasm
        } else {
            ImageKind::Oci
        }
    }

    /// Every blob the image needs, config first.
    pub(crate) fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

pub(crate) fn is_wasm_layer(media_type: &str) -> bool {
    WASM_LAYERS.contains(&media_type)
}

/// Whether an index entry is an image manifest this puller can follow.
pub(crate) fn is_image_manifest(media_type: &str) -> bool {
    matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST)
}

fn parse_index(value: &Value) -> Result<Manifest, PullFailure> {
    let entries = value
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("the index has no manifests array"))?;
    entries
        .iter()
        .map(descriptor)
        .collect::<Result<Vec<_>, _>>()
        .map(Manifest::Index)
}

fn parse_image(value: &Value) -> Result<Manifest, PullFailure> {
    let config = value
        .get("config")
        .ok_or_else(|| invalid("the manifest has no config"))
        .and_then(descriptor)?;
    let layers = match value.get("layers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(layers)) => layers.iter().map(descriptor).collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("layers is not an array")),
    };
    Ok(Manifest::Image(ImageManifest { config, layers }))
}

fn descriptor(value: &Value) -> Result<Descriptor, PullFailure> {
    let field = |name: &str| value.get(name).and_then(Value::as_str);
    let media_type = field("mediaType").ok_or_else(|| invalid("a descriptor has no mediaType"))?;
    let digest = Digest::parse(field("digest").unwrap_or_default())?;
    let size = value
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(&format!("descriptor {digest} has no valid size")))?;
    let platform = value.get("platform").map(|p| {
        let text = |name: &str| p.get(name).and_then(Value::as_str).unwrap_or_default();
        let variant = Some(text("variant")).filter(|v| !v.is_empty());
        Platform::new(text("os"), text("architecture"), variant)
    });
    Ok(Descriptor {
        media_type: media_type.chars().take(255).collect(),
        digest,
        size,
        platform,
    })
}

fn invalid(detail: &str) -> PullFailure {
    PullFailure::InvalidManifest(detail.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    #[test]
    fn images_are_classified_by_config_and_layers() {
        let cases = [
            (WASM_CONFIG, vec!["application/wasm"], ImageKind::Wasm),
            (
                "application/vnd.oci.empty.v1+json",
                vec!["application/wasm"],
                ImageKind::Wasm,
            ),
            (
                "x",
                vec!["application/vnd.wasm.content.layer.v1+wasm"],
                ImageKind::Wasm,
            ),
            (WASM_CONFIG, vec![], ImageKind::Wasm),
            (
                "application/vnd.oci.image.config.v1+json",
                vec!["application/vnd.oci.image.layer.v1.tar+gzip"],
                ImageKind::Oci,
            ),
            (
                "application/vnd.oci.image.config.v1+json",
                vec!["application/wasm", "application/vnd.oci.image.layer.v1.tar"],
                ImageKind::Oci,
            ),
            (
                "application/vnd.oci.image.config.v1+json",
                vec![],
                ImageKind::Oci,
            ),
        ];
        for (config, layers, kind) in cases {
            let doc = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": config, "digest": d(1), "size": 2},
                "layers": layers.iter().enumerate().map(|(i, m)| json!({"mediaType": m, "digest": d(i as u8 + 2), "size": 3})).collect::<Vec<_>>(),
            });
            match Manifest::parse(doc.to_string().as_bytes(), None) {
                Ok(Manifest::Image(image)) => assert_eq!(image.kind(), kind, "{config} {layers:?}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn media_type_comes_from_the_document_then_the_header_then_the_shape() {
        let index = json!({"manifests": [{"mediaType": OCI_MANIFEST, "digest": d(1), "size": 5, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]});
        let entries = match Manifest::parse(index.to_string().as_bytes(), Some("application/json"))
        {
            Ok(Manifest::Index(entries)) => entries,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            entries[0].platform,
            Some(Platform::new("linux", "arm", Some("v7")))
        );
        let image = json!({"config": {"mediaType": "c", "digest": d(1), "size": 1}});
        let parsed = Manifest::parse(
            image.to_string().as_bytes(),
            Some(&format!("{DOCKER_MANIFEST}; charset=utf-8")),
        );
        assert!(
            matches!(parsed, Ok(Manifest::Image(ref i)) if i.layers.is_empty()),
            "{parsed:?}"
        );
    }

    #[test]
    fn hostile_or_unsupported_documents_are_refused() {
        let cases = [
            (json!([1, 2]).to_string(), "not a JSON object"),
            ("{".to_owned(), "not JSON"),
            (json!({"schemaVersion": 1, "fsLayers": []}).to_string(), "manifest.v1"),
            (json!({"mediaType": "application/vnd.foo"}).to_string(), "unsupported manifest media type"),
            (json!({"mediaType": OCI_MANIFEST, "config": {"mediaType": "c", "digest": "sha256:../../etc/passwd", "size": 1}}).to_string(), "invalid digest"),
            (json!({"mediaType": OCI_MANIFEST, "config": {"mediaType": "c", "digest": d(1), "size": -1}}).to_string(), "no valid size"),
            (json!({"mediaType": OCI_MANIFEST, "config": {"mediaType": "c", "digest": d(1), "size": 1}, "layers": {}}).to_string(), "not an array"),
            (json!({"mediaType": OCI_INDEX}).to_string(), "no manifests array"),
            (json!({}).to_string(), "neither manifests nor config"),
        ];
        for (doc, why) in cases {
            match Manifest::parse(doc.as_bytes(), None) {
                Ok(parsed) => panic!("{doc} must be refused, parsed as {parsed:?}"),
                Err(e) => assert!(e.to_string().contains(why), "{doc}: {e}"),
            }
        }
    }
}
