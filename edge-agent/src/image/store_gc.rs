//! Garbage collection of the content store once it is over its high watermark.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use super::digest::Digest;
use super::error::StoreError;
use super::store::{ContentStore, RefRecord};

/// What a garbage collection did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// References removed, because their images were unused and the store still too large.
    pub removed_references: Vec<String>,
    pub removed_blobs: usize,
    /// Bytes of blobs and abandoned partial downloads removed.
    pub freed_bytes: u64,
    /// Bytes the store holds afterwards.
    pub store_bytes: u64,
}

impl ContentStore {
    /// When the store holds more than `high_watermark_bytes`, frees space without touching what
    /// `keep` needs. `keep` holds digests: an image's resolved or platform manifest digest keeps
    /// the whole image (its references, manifests, config and layers); any other digest keeps
    /// that blob.
    ///
    /// First, abandoned partial downloads and blobs no reference needs go. Then, while the
    /// store is still over the watermark, unused images go one by one, least recently pulled
    /// first, each with the blobs no remaining image shares. Waits for running pulls to finish,
    /// and pulls wait for it.
    pub async fn gc(
        &self,
        keep: &HashSet<String>,
        high_watermark_bytes: u64,
    ) -> Result<GcReport, StoreError> {
        let guard = self.inner.gc_lock.clone().write_owned().await;
        let store = self.clone();
        let keep: HashSet<Digest> = keep.iter().filter_map(|d| Digest::parse(d).ok()).collect();
        let dir = self.dir().to_owned();
        tokio::task::spawn_blocking(move || {
            let _exclusive = guard;
            store.gc_locked(&keep, high_watermark_bytes)
        })
        .await
        .map_err(|e| StoreError::Io {
            path: dir,
            source: std::io::Error::other(e.to_string()),
        })?
    }

    fn gc_locked(
        &self,
        keep: &HashSet<Digest>,
        high_watermark: u64,
    ) -> Result<GcReport, StoreError> {
        let mut blobs = self.stored_blobs()?;
        let partials = self.partial_downloads()?;
        let mut total: u64 =
            blobs.values().sum::<u64>() + partials.iter().map(|(_, s)| s).sum::<u64>();
        let mut report = GcReport::default();
        if total <= high_watermark {
            report.store_bytes = total;
            return Ok(report);
        }
        // The gc lock excludes pulls, so every partial download left is abandoned.
        for (path, size) in partials {
            if fs::remove_file(&path).is_ok() {
                total -= size;
                report.freed_bytes += size;
            }
        }
        let mut records = self.ref_records()?;
        let mut candidates = unused_images(&records, keep);
        loop {
            let mut live: HashSet<Digest> = keep.clone();
            for (_, record) in &records {
                live.extend(
                    self.closure(&record.resolved, &record.platform_manifest)
                        .into_iter()
                        .map(|(d, _)| d),
                );
            }
            let dead: Vec<Digest> = blobs
                .keys()
                .filter(|d| !live.contains(*d))
                .cloned()
                .collect();
            for digest in dead {
                let path = self.blob_path(&digest);
                fs::remove_file(&path).map_err(StoreError::io(&path))?;
                let size = blobs.remove(&digest).unwrap_or_default();
                total -= size;
                report.freed_bytes += size;
                report.removed_blobs += 1;
            }
            if total <= high_watermark || candidates.is_empty() {
                break;
            }
            let (_, resolved) = candidates.remove(0);
            for (path, record) in records.iter().filter(|(_, r)| r.resolved == resolved) {
                fs::remove_file(path).map_err(StoreError::io(path))?;
                report.removed_references.push(record.reference.clone());
            }
            records.retain(|(_, r)| r.resolved != resolved);
        }
        report.removed_references.sort();
        report.store_bytes = total;
        tracing::info!(
            freed_bytes = report.freed_bytes,
            removed_blobs = report.removed_blobs,
            removed_images = ?report.removed_references,
            store_bytes = total,
            "image garbage collection"
        );
        Ok(report)
    }

    /// Every blob file and its size. Files whose names are not digests are not the store's and
    /// are left alone.
    fn stored_blobs(&self) -> Result<HashMap<Digest, u64>, StoreError> {
        let dir = self.dir().join("blobs/sha256");
        let mut out = HashMap::new();
        for entry in fs::read_dir(&dir).map_err(StoreError::io(&dir))? {
            let entry = entry.map_err(StoreError::io(&dir))?;
            let name = entry.file_name();
            let Some(digest) = name
                .to_str()
                .and_then(|n| Digest::parse(&format!("sha256:{n}")).ok())
            else {
                continue;
            };
            if let Ok(meta) = entry.metadata()
                && meta.is_file()
            {
                out.insert(digest, meta.len());
            }
        }
        Ok(out)
    }

    fn partial_downloads(&self) -> Result<Vec<(PathBuf, u64)>, StoreError> {
        let dir = self.dir().join("tmp");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(StoreError::io(&dir))?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "partial")
                && let Ok(meta) = entry.metadata()
            {
                out.push((path, meta.len()));
            }
        }
        Ok(out)
    }
}

/// The images `keep` does not hold, least recently pulled first (by their newest reference
/// file).
fn unused_images(
    records: &[(PathBuf, RefRecord)],
    keep: &HashSet<Digest>,
) -> Vec<(SystemTime, Digest)> {
    let mut newest: HashMap<&Digest, SystemTime> = HashMap::new();
    for (path, record) in records {
        if keep.contains(&record.resolved) || keep.contains(&record.platform_manifest) {
            continue;
        }
        let modified = fs::metadata(path)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let entry = newest.entry(&record.resolved).or_insert(modified);
        *entry = (*entry).max(modified);
    }
    // An image with one reference kept is kept whole.
    let kept: HashSet<&Digest> = records
        .iter()
        .filter(|(_, r)| keep.contains(&r.resolved) || keep.contains(&r.platform_manifest))
        .map(|(_, r)| &r.resolved)
        .collect();
    let mut out: Vec<(SystemTime, Digest)> = newest
        .into_iter()
        .filter(|(d, _)| !kept.contains(d))
        .map(|(d, t)| (t, d.clone()))
        .collect();
    out.sort();
    out
}
