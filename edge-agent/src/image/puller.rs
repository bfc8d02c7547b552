//! The puller: applies the pull policy, resolves a reference to a manifest, follows an image
//! index to this node's platform, fetches what the store lacks and files the reference.

use std::time::Instant;

use edge_wire::link::PullPolicy;
use futures::{StreamExt, stream};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

use super::auth::credentials_for;
use super::blob_download::ensure_blob;
use super::digest::Digest;
use super::error::{PullError, PullFailure, PullerSetupError};
use super::manifest::{
    self, Descriptor, ImageManifest, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, Manifest,
};
use super::platform::{self, Platform};
use super::pulled::PulledImage;
use super::reference::ImageRef;
use super::registry_client::{RegistryClient, Repository, read_capped};
use super::store::ContentStore;
use super::transport::{ControllerRegistry, Transport};

/// Docker's default number of layers downloaded at once per image.
const DEFAULT_CONCURRENT_DOWNLOADS: usize = 3;

/// How a [`Puller`] reaches registries.
#[derive(Clone, Debug)]
pub struct PullerConfig {
    /// The controller's registry: requests to it carry the node certificate, and its CA is
    /// trusted for every registry.
    pub controller: Option<ControllerRegistry>,
    /// Registries (`host[:port]`) spoken to over plain HTTP, like Docker's
    /// `insecure-registries`. Empty by default.
    pub plain_http_registries: Vec<String>,
    /// The platforms this node runs, preferred first, for choosing an image index entry. The
    /// first one names the node in "no matching manifest" errors.
    pub platforms: Vec<Platform>,
    pub max_concurrent_downloads: usize,
}

impl Default for PullerConfig {
    /// The native platform first, then Wasm components.
    fn default() -> Self {
        PullerConfig {
            controller: None,
            plain_http_registries: Vec::new(),
            platforms: vec![Platform::native(), Platform::wasm()],
            max_concurrent_downloads: DEFAULT_CONCURRENT_DOWNLOADS,
        }
    }
}

/// Pulls images into a [`ContentStore`]. One per agent; share it behind an `Arc`.
pub struct Puller {
    store: ContentStore,
    client: RegistryClient,
    platforms: Vec<Platform>,
    concurrency: usize,
}

/// A manifest fetched and checked, not yet in the store.
struct Fetched {
    digest: Digest,
    bytes: Vec<u8>,
    manifest: Manifest,
}

impl Puller {
    pub fn new(store: ContentStore, config: PullerConfig) -> Result<Puller, PullerSetupError> {
        let transport = Transport::new(config.controller.as_ref(), &config.plain_http_registries)?;
        let platforms = if config.platforms.is_empty() {
            PullerConfig::default().platforms
        } else {
            config.platforms
        };
        Ok(Puller {
            store,
            client: RegistryClient::new(transport),
            platforms,
            concurrency: config.max_concurrent_downloads.max(1),
        })
    }

    pub fn store(&self) -> &ContentStore {
        &self.store
    }

    /// Makes `image` available as `policy` says, with `creds` (the pod's pull secrets,
    /// `(registry host, user, password)`). `IfNotPresent` and `Never` use a stored image
    /// without touching the network; `Always` asks the registry what the reference names now
    /// and downloads only the blobs the store lacks.
    pub async fn pull(
        &self,
        image: &ImageRef,
        policy: PullPolicy,
        creds: &[(String, String, String)],
    ) -> Result<PulledImage, PullError> {
        let failed = |failure: PullFailure| PullError::Failed {
            image: image.as_written().to_owned(),
            failure,
        };
        if policy != PullPolicy::Always {
            match self.store.load(image) {
                Ok(Some(pulled)) => return Ok(pulled),
                Ok(None) => {}
                Err(e) if policy == PullPolicy::Never => return Err(failed(e.into())),
                Err(e) => {
                    tracing::warn!(%image, error = %e, "cannot read the stored image; pulling it")
                }
            }
            if policy == PullPolicy::Never {
                return Err(PullError::NeverPull {
                    image: image.as_written().to_owned(),
                });
            }
        }
        let started = Instant::now();
        let result = self.fetch(image, creds).await;
        match &result {
            Ok((pulled, downloaded)) => tracing::info!(
                %image,
                digest = %pulled.manifest_digest,
                downloaded_bytes = downloaded,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "pulled image"
            ),
            Err(e) => tracing::warn!(%image, error = %e, "image pull failed"),
        }
        result.map(|(pulled, _)| pulled).map_err(failed)
    }

    async fn fetch(
        &self,
        image: &ImageRef,
        creds: &[(String, String, String)],
    ) -> Result<(PulledImage, u64), PullFailure> {
        // Holds gc off until the reference is filed: the blobs stored meanwhile are unreferenced.
        let _pin = self.store.pin().await;
        let repo = Repository {
            host: image.api_host().to_owned(),
            name: image.repository().to_owned(),
            creds: credentials_for(image.registry(), creds),
        };
        let top = self
            .manifest(
                &repo,
                image.manifest_reference(),
                image.pinned_digest(),
                None,
                &image.to_string(),
            )
            .await?;
        let mut manifests = vec![(top.digest.clone(), top.bytes)];
        let (platform_digest, image_manifest) = match top.manifest {
            Manifest::Image(m) => (top.digest.clone(), m),
            Manifest::Index(entries) => {
                let entry = self.choose(&entries)?;
                let what = format!("{}@{}", image.name(), entry.digest);
                let child = self
                    .manifest(
                        &repo,
                        entry.digest.as_str(),
                        Some(&entry.digest),
                        Some(entry.size),
                        &what,
                    )
                    .await?;
                let Manifest::Image(m) = child.manifest else {
                    return Err(PullFailure::InvalidManifest(format!(
                        "index entry {} is itself an index",
                        entry.digest
                    )));
                };
                manifests.push((child.digest, child.bytes));
                (entry.digest.clone(), m)
            }
        };
        let downloaded = self
            .fetch_blobs(&repo, &image_manifest, &image.name())
            .await?;
        self.check_config(&image_manifest)?;
        // Manifests go in last, and the references after them: a reference only ever names a
        // complete image.
        for (digest, bytes) in &manifests {
            if !self.store.has_blob(digest, bytes.len() as u64) {
                self.store.put_blob(digest, bytes)?;
            }
        }
        self.store
            .set_ref(&image.store_key(), &top.digest, &platform_digest)?;
        if image.pinned_digest().is_none() {
            let by_digest = format!("{}@{}", image.name(), top.digest);
            self.store
                .set_ref(&by_digest, &top.digest, &platform_digest)?;
        }
        let pulled = self.store.load(image)?.ok_or_else(|| {
            PullFailure::InvalidManifest(
                "the pulled image could not be read back from the store".into(),
            )
        })?;
        Ok((pulled, downloaded))
    }

    /// The index entry for this node.
    fn choose<'a>(&self, entries: &'a [Descriptor]) -> Result<&'a Descriptor, PullFailure> {
        let candidates: Vec<&Descriptor> = entries
            .iter()
            .filter(|e| manifest::is_image_manifest(&e.media_type) && e.platform.is_some())
            .collect();
        platform::choose(
            &self.platforms,
            candidates.iter().filter_map(|e| e.platform.as_ref()),
        )
        .map(|i| candidates[i])
        .ok_or_else(|| PullFailure::NoMatchingPlatform {
            platform: self.platforms[0].to_string(),
        })
    }

    /// `GET /v2/<repo>/manifests/<reference>`, checked against the digest it must have (when
    /// pinned, or named by an index) or that the registry says it has, and against its size.
    async fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
        expected: Option<&Digest>,
        declared_size: Option<u64>,
        what: &str,
    ) -> Result<Fetched, PullFailure> {
        if let Some(digest) = expected
            && let Some(bytes) = self.store.read_blob(digest, MAX_MANIFEST_BYTES)?
            && Digest::of(&bytes) == *digest
        {
            let manifest = Manifest::parse(&bytes, None)?;
            return Ok(Fetched {
                digest: digest.clone(),
                bytes,
                manifest,
            });
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(manifest::ACCEPT));
        let response = self
            .client
            .get(repo, &format!("manifests/{reference}"), headers, what)
            .await?;
        if response.status() != StatusCode::OK {
            return Err(PullFailure::Registry {
                status: response.status().as_u16(),
                detail: format!("unexpected answer to the manifest request for {what}"),
            });
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE.as_str());
        let claimed = header("docker-content-digest");
        let bytes = read_capped(response, MAX_MANIFEST_BYTES, &format!("manifest {what}")).await?;
        let digest = Digest::of(&bytes);
        let mismatch = |expected: &str| PullFailure::DigestMismatch {
            what: format!("manifest {what}"),
            expected: expected.to_owned(),
            actual: digest.to_string(),
        };
        match (expected, claimed.as_deref()) {
            (Some(expected), _) if *expected != digest => return Err(mismatch(expected.as_str())),
            (None, Some(claimed))
                if claimed.starts_with("sha256:") && claimed != digest.as_str() =>
            {
                return Err(mismatch(claimed));
            }
            _ => {}
        }
        if let Some(size) = declared_size
            && size != bytes.len() as u64
        {
            return Err(PullFailure::SizeMismatch {
                digest: digest.to_string(),
                declared: size,
                received: format!("{} bytes", bytes.len()),
            });
        }
        let manifest = Manifest::parse(&bytes, content_type.as_deref())?;
        Ok(Fetched {
            digest,
            bytes,
            manifest,
        })
    }

    /// Downloads the config and the layers the store lacks, a few at a time. Returns the bytes
    /// received.
    async fn fetch_blobs(
        &self,
        repo: &Repository,
        image: &ImageManifest,
        image_name: &str,
    ) -> Result<u64, PullFailure> {
        if image.config.size > MAX_CONFIG_BYTES {
            return Err(PullFailure::TooLarge {
                what: format!("image config {}", image.config.digest),
                limit: MAX_CONFIG_BYTES,
            });
        }
        // The futures are made before they become a stream: a closure inside the stream would
        // make the pull future not `Send` (rust-lang/rust#102211).
        let downloads: Vec<_> = image
            .blobs()
            .map(|blob| ensure_blob(&self.client, repo, &self.store, blob, image_name))
            .collect();
        let mut downloads = stream::iter(downloads).buffer_unordered(self.concurrency);
        let mut received = 0;
        while let Some(result) = downloads.next().await {
            received += result?;
        }
        Ok(received)
    }

    /// The config must be JSON: runtimes read the entrypoint and environment from it.
    fn check_config(&self, image: &ImageManifest) -> Result<(), PullFailure> {
        let digest = &image.config.digest;
        let bytes = self
            .store
            .read_blob(digest, MAX_CONFIG_BYTES)?
            .unwrap_or_default();
        serde_json::from_slice::<Value>(&bytes)
            .map(drop)
            .map_err(|e| PullFailure::InvalidConfig {
                digest: digest.to_string(),
                detail: e.to_string(),
            })
    }
}
