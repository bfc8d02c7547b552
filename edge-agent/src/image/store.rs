//! The content store on disk (`DATA_DIR/images/`): verified blobs by digest, and image
//! references mapped to the manifests they resolved to, so that a cached image starts a pod
//! without touching the network.
//!
//! ```text
//! images/blobs/sha256/<hex>   manifests, configs and layers; a file here was verified
//! images/refs/<sha256(ref)>   "<resolved digest>\n<platform manifest digest>\n<ref>\n"
//! images/tmp/<hex>.partial    a download in progress, kept to be resumed
//! images/tmp/*.new            an atomic write in progress (removed when the store opens)
//! ```
//!
//! **A blob is renamed into `blobs/` only after its digest was checked, and a reference is
//! written only after every blob of its image is in `blobs/`.** Pulls hold the store's gc lock
//! shared while they run, so garbage collection never removes a blob a pull has stored but
//! not yet referenced.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;
use tokio::sync::{OwnedMutexGuard, OwnedRwLockReadGuard, RwLock};

use super::digest::Digest;
use super::error::StoreError;
use super::manifest::{ImageManifest, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, Manifest};
use super::pulled::{Layer, PulledImage};
use super::reference::ImageRef;

/// An image in the store, as `edgectl get images` and the node status list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredImage {
    /// The digest the references resolved to.
    pub digest: String,
    /// Every reference resolving to it (`registry/repo:tag` and `registry/repo@sha256:...`),
    /// sorted.
    pub references: Vec<String>,
    /// The bytes of its manifests, config and layers.
    pub size: u64,
}

/// The agent's image content store. Cloning shares it.
#[derive(Clone, Debug)]
pub struct ContentStore {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) root: PathBuf,
    /// Shared by pulls, exclusive for gc.
    pub(super) gc_lock: Arc<RwLock<()>>,
    /// One download per digest at a time; entries die with their last holder.
    blob_locks: Mutex<HashMap<Digest, Weak<tokio::sync::Mutex<()>>>>,
    temp_counter: AtomicU64,
}

/// What a reference file says.
#[derive(Clone, Debug)]
pub(super) struct RefRecord {
    pub(super) resolved: Digest,
    pub(super) platform_manifest: Digest,
    pub(super) reference: String,
}

impl ContentStore {
    /// Opens (creating) the store in `dir`, removing the leftovers of interrupted atomic writes.
    /// Partial downloads are kept: the next pull of the blob resumes them.
    pub fn open(dir: impl Into<PathBuf>) -> Result<ContentStore, StoreError> {
        let root = dir.into();
        for sub in ["blobs/sha256", "refs", "tmp"] {
            let path = root.join(sub);
            fs::create_dir_all(&path).map_err(StoreError::io(&path))?;
        }
        let tmp = root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(StoreError::io(&tmp))?.flatten() {
            if entry.path().extension().is_some_and(|e| e == "new") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(ContentStore {
            inner: Arc::new(Inner {
                root,
                gc_lock: Arc::new(RwLock::new(())),
                blob_locks: Mutex::new(HashMap::new()),
                temp_counter: AtomicU64::new(0),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.root
    }

    /// The stored image `image` names, if it is complete in the store. Reads a few small files
    /// and checks the layers' sizes; never touches the network.
    pub fn load(&self, image: &ImageRef) -> Result<Option<PulledImage>, StoreError> {
        let Some(record) = self.read_ref(&image.store_key())? else {
            return Ok(None);
        };
        self.load_record(image.clone(), &record)
    }

    /// The images in the store.
    pub fn list(&self) -> Result<Vec<StoredImage>, StoreError> {
        let mut by_digest: BTreeMap<Digest, (Vec<String>, Digest)> = BTreeMap::new();
        for (_, record) in self.ref_records()? {
            let entry = by_digest
                .entry(record.resolved.clone())
                .or_insert_with(|| (Vec::new(), record.platform_manifest.clone()));
            entry.0.push(record.reference);
        }
        let mut images: Vec<StoredImage> = by_digest
            .into_iter()
            .map(|(digest, (mut references, platform))| {
                references.sort();
                let size = self
                    .closure(&digest, &platform)
                    .iter()
                    .map(|(_, s)| s)
                    .sum();
                StoredImage {
                    digest: digest.to_string(),
                    references,
                    size,
                }
            })
            .collect();
        images.sort_by(|a, b| a.references.cmp(&b.references));
        Ok(images)
    }

    pub(super) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.inner.root.join("blobs/sha256").join(digest.hex())
    }

    pub(super) fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.inner
            .root
            .join("tmp")
            .join(format!("{}.partial", digest.hex()))
    }

    /// Whether the blob is stored with the size its descriptor declares.
    pub(super) fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// A stored blob read whole, when it is there and no larger than `limit`.
    pub(super) fn read_blob(
        &self,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.blob_path(digest);
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(path)(e)),
        };
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(StoreError::io(&path))?;
        Ok((bytes.len() as u64 <= limit).then_some(bytes))
    }

    /// Stores `bytes`, whose digest the caller has checked, as blob `digest`.
    pub(super) fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_atomic(&self.blob_path(digest), bytes)
    }

    /// Moves a verified, synced partial download into `blobs/`.
    pub(super) fn commit_partial(&self, digest: &Digest) -> Result<PathBuf, StoreError> {
        let (from, to) = (self.partial_path(digest), self.blob_path(digest));
        fs::rename(&from, &to).map_err(StoreError::io(&to))?;
        sync_dir(to.parent())?;
        Ok(to)
    }

    /// Files `reference` as resolving to `resolved` (and, on this node, `platform_manifest`).
    pub(super) fn set_ref(
        &self,
        reference: &str,
        resolved: &Digest,
        platform_manifest: &Digest,
    ) -> Result<(), StoreError> {
        let text = format!("{resolved}\n{platform_manifest}\n{reference}\n");
        self.write_atomic(&self.ref_path(reference), text.as_bytes())
    }

    /// Waits for the download of `digest` by anyone else, then holds it for the caller.
    pub(super) async fn lock_blob(&self, digest: &Digest) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .inner
                .blob_locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.retain(|_, weak| weak.strong_count() > 0);
            match locks.get(digest).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(digest.clone(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// Held by a pull for its whole run: gc waits for it.
    pub(super) async fn pin(&self) -> OwnedRwLockReadGuard<()> {
        self.inner.gc_lock.clone().read_owned().await
    }

    pub(super) fn read_ref(&self, reference: &str) -> Result<Option<RefRecord>, StoreError> {
        let path = self.ref_path(reference);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(path)(e)),
        };
        Ok(parse_ref(&text).filter(|r| r.reference == reference))
    }

    /// Every reference file and what it says; unreadable ones are skipped (a pull rewrites them).
    pub(super) fn ref_records(&self) -> Result<Vec<(PathBuf, RefRecord)>, StoreError> {
        let dir = self.inner.root.join("refs");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(StoreError::io(&dir))? {
            let path = entry.map_err(StoreError::io(&dir))?.path();
            if let Some(record) = fs::read_to_string(&path)
                .ok()
                .as_deref()
                .and_then(parse_ref)
            {
                out.push((path, record));
            }
        }
        Ok(out)
    }

    /// The blobs an image needs, with their sizes: its manifests (sizes from the files), then
    /// its config and layers (sizes from the manifest). Missing pieces are left out.
    pub(super) fn closure(&self, resolved: &Digest, platform: &Digest) -> Vec<(Digest, u64)> {
        let mut out = Vec::new();
        for manifest in [resolved, platform] {
            if let Ok(meta) = fs::metadata(self.blob_path(manifest))
                && !out.iter().any(|(d, _)| d == manifest)
            {
                out.push((manifest.clone(), meta.len()));
            }
        }
        if let Some(image) = self.image_manifest(platform) {
            out.extend(image.blobs().map(|b| (b.digest.clone(), b.size)));
        }
        out
    }

    fn image_manifest(&self, digest: &Digest) -> Option<ImageManifest> {
        let bytes = self.read_blob(digest, MAX_MANIFEST_BYTES).ok()??;
        match Manifest::parse(&bytes, None) {
            Ok(Manifest::Image(image)) => Some(image),
            _ => None,
        }
    }

    fn load_record(
        &self,
        reference: ImageRef,
        record: &RefRecord,
    ) -> Result<Option<PulledImage>, StoreError> {
        let Some(manifest) = self.image_manifest(&record.platform_manifest) else {
            return Ok(None);
        };
        let config_digest = &manifest.config.digest;
        let Some(config_bytes) = self.read_blob(config_digest, MAX_CONFIG_BYTES)? else {
            return Ok(None);
        };
        let Ok(config) = serde_json::from_slice::<Value>(&config_bytes) else {
            tracing::warn!(%reference, config = %config_digest, "stored image config is not JSON; pulling again");
            return Ok(None);
        };
        if !manifest
            .layers
            .iter()
            .all(|l| self.has_blob(&l.digest, l.size))
        {
            return Ok(None);
        }
        let layers = manifest
            .layers
            .iter()
            .map(|l| Layer {
                digest: l.digest.to_string(),
                media_type: l.media_type.clone(),
                size: l.size,
                path: self.blob_path(&l.digest),
            })
            .collect();
        Ok(Some(PulledImage {
            reference,
            manifest_digest: record.resolved.to_string(),
            platform_manifest_digest: record.platform_manifest.to_string(),
            config_digest: config_digest.to_string(),
            config,
            layers,
            kind: manifest.kind(),
        }))
    }

    fn ref_path(&self, reference: &str) -> PathBuf {
        self.inner
            .root
            .join("refs")
            .join(Digest::of(reference.as_bytes()).hex())
    }

    /// Writes `bytes` to a temporary file, syncs it and renames it over `path`.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let n = self.inner.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .inner
            .root
            .join("tmp")
            .join(format!("{}-{n}.new", std::process::id()));
        let result = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temp, path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(StoreError::io(path)(e));
        }
        sync_dir(path.parent())
    }
}

fn parse_ref(text: &str) -> Option<RefRecord> {
    let mut lines = text.lines();
    let resolved = Digest::parse(lines.next()?).ok()?;
    let platform_manifest = Digest::parse(lines.next()?).ok()?;
    let reference = lines.next()?.to_owned();
    Some(RefRecord {
        resolved,
        platform_manifest,
        reference,
    })
}

/// Makes a rename in `dir` durable: a power cut must not lose a stored image's reference.
fn sync_dir(dir: Option<&Path>) -> Result<(), StoreError> {
    if let Some(dir) = dir {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(StoreError::io(dir))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_test.rs"]
mod tests;
