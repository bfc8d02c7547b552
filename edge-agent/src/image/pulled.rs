//! A pulled image: everything a runtime needs to start a container from the content store.

use std::path::PathBuf;

use serde_json::Value;

use super::manifest::is_wasm_layer;
use super::reference::ImageRef;

/// Which runtime an image is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// A Wasm component (the Wasm OCI artifact layout, or only Wasm layers).
    Wasm,
    /// An OCI container image (filesystem layers).
    Oci,
}

/// One layer in the content store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// `sha256:<hex>`, verified when it was stored.
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// The blob's file in the content store.
    pub path: PathBuf,
}

/// An image whose manifest, config and layers are all in the content store.
#[derive(Clone, Debug)]
pub struct PulledImage {
    pub reference: ImageRef,
    /// The digest the reference resolved to: the image index's when it named one, else the
    /// image manifest's. `repository@manifest_digest` names this content (the `imageID`'s
    /// `repoDigests` form).
    pub manifest_digest: String,
    /// The digest of the platform's image manifest (the same as `manifest_digest` without an
    /// index).
    pub platform_manifest_digest: String,
    /// The digest of the image config: the image's ID, as `crictl images` shows it.
    pub config_digest: String,
    /// The image config JSON (for an OCI image: entrypoint, env, working directory, user).
    pub config: Value,
    pub layers: Vec<Layer>,
    pub kind: ImageKind,
}

impl PulledImage {
    /// The component of a Wasm image: its digest and file, when the image has exactly one Wasm
    /// layer.
    pub fn wasm_component(&self) -> Option<(&str, PathBuf)> {
        if self.kind != ImageKind::Wasm {
            return None;
        }
        let mut wasm = self.layers.iter().filter(|l| is_wasm_layer(&l.media_type));
        match (wasm.next(), wasm.next()) {
            (Some(layer), None) => Some((layer.digest.as_str(), layer.path.clone())),
            _ => None,
        }
    }

    /// The bytes the image's layers take in the store.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}
