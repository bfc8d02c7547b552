//! Blob downloads: streamed to a partial file while hashed (a layer never sits in memory),
//! resumed with `Range` where the last attempt stopped, checked against the manifest's digest
//! and size, then renamed into the store. One download per digest at a time.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, HeaderMap, HeaderValue, RANGE};
use sha2::{Digest as _, Sha256};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::digest::Digest;
use super::error::{PullFailure, StoreError, error_chain};
use super::manifest::Descriptor;
use super::registry_client::{RegistryClient, Repository};
use super::store::ContentStore;

/// Received bytes are written in pieces of about this size (each write is a trip to tokio's
/// blocking pool).
const WRITE_BUFFER: usize = 256 << 10;
/// Requests per blob and pull. Edge links drop connections and registries reset streams, so a
/// download the network interrupts is resumed from its partial file within the pull; when the
/// last attempt fails too, the pull fails as retryable and the next pull resumes again.
const DOWNLOAD_ATTEMPTS: u32 = 3;
/// The pause before the first resume, doubled before each further one.
const RESUME_DELAY: Duration = Duration::from_millis(250);

/// Makes sure blob `blob` of `repo` is in the store, downloading what is missing. Returns the
/// bytes received from the network (0 when the blob was already there).
pub(crate) async fn ensure_blob(
    client: &RegistryClient,
    repo: &Repository,
    store: &ContentStore,
    blob: &Descriptor,
    image_name: &str,
) -> Result<u64, PullFailure> {
    let _one_download = store.lock_blob(&blob.digest).await;
    if store.has_blob(&blob.digest, blob.size) {
        return Ok(0);
    }
    let mut part = Partial::open(store.partial_path(&blob.digest), blob).await?;
    let what = format!("{image_name}@{}", blob.digest);
    let mut delay = RESUME_DELAY;
    for attempt in 1.. {
        match fetch_missing(client, repo, &mut part, blob, &what).await {
            Ok(()) => break,
            // Only the network's failures are retried within the pull: what arrived is in the
            // partial file, and the next request asks for the rest.
            Err(failure @ (PullFailure::Transport { .. } | PullFailure::Interrupted { .. }))
                if attempt < DOWNLOAD_ATTEMPTS =>
            {
                tracing::warn!(
                    digest = %blob.digest,
                    stored = part.len,
                    size = blob.size,
                    attempt,
                    error = %failure,
                    "blob download interrupted; resuming it"
                );
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(failure) => return Err(failure),
        }
    }
    let received = part.received;
    part.finish(store, blob).await?;
    Ok(received)
}

/// One attempt: asks the registry for what `part` lacks and appends it. A response that ends
/// before the blob is complete is an interruption, like a broken connection.
async fn fetch_missing(
    client: &RegistryClient,
    repo: &Repository,
    part: &mut Partial,
    blob: &Descriptor,
    what: &str,
) -> Result<(), PullFailure> {
    // Two rounds: the second asks for the whole blob when the registry refused the range.
    for _ in 0..2 {
        if part.len == blob.size {
            break;
        }
        let mut headers = HeaderMap::new();
        if part.len > 0 {
            let range = HeaderValue::try_from(format!("bytes={}-", part.len))
                .map_err(|e| PullFailure::InvalidManifest(e.to_string()))?;
            headers.insert(RANGE, range);
        }
        let path = format!("blobs/{}", blob.digest);
        let response = client.get(repo, &path, headers, what).await?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT if content_range_start(&response) == Some(part.len) => {}
            StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE => {
                part.reset().await?;
                continue;
            }
            // A registry may ignore `Range` and send the whole blob.
            _ => part.reset().await?,
        }
        let expected_len = blob.size - part.len;
        if response
            .content_length()
            .is_some_and(|len| len > expected_len)
        {
            part.remove().await;
            return Err(PullFailure::SizeMismatch {
                digest: blob.digest.to_string(),
                declared: blob.size,
                received: format!(
                    "{} bytes",
                    part.len + response.content_length().unwrap_or(0)
                ),
            });
        }
        part.receive(response, blob).await?;
        break;
    }
    if part.len < blob.size {
        return Err(PullFailure::Interrupted {
            digest: blob.digest.to_string(),
            received: part.len,
            size: blob.size,
            detail: "the registry ended the response early".to_owned(),
        });
    }
    Ok(())
}

/// A download in progress: the partial file and the hash of what it holds.
struct Partial {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    len: u64,
    /// Bytes taken from the network by this pull, over all its attempts.
    received: u64,
}

impl Partial {
    /// Opens the partial file, hashing what an earlier attempt left in it. A leftover that
    /// cannot be the start of `blob` (too long, or complete with the wrong digest) is dropped.
    async fn open(path: PathBuf, blob: &Descriptor) -> Result<Partial, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .await
            .map_err(StoreError::io(&path))?;
        let mut part = Partial {
            path,
            file,
            hasher: Sha256::new(),
            len: 0,
            received: 0,
        };
        let existing = part
            .file
            .metadata()
            .await
            .map_err(StoreError::io(&part.path))?
            .len();
        if existing > blob.size {
            part.reset().await?;
            return Ok(part);
        }
        // Reading to the end leaves the file position where the next bytes are appended.
        let mut buffer = vec![0; 64 << 10];
        loop {
            let n = part
                .file
                .read(&mut buffer)
                .await
                .map_err(StoreError::io(&part.path))?;
            if n == 0 {
                break;
            }
            part.hasher.update(&buffer[..n]);
            part.len += n as u64;
        }
        if part.len == blob.size && Digest::finish(part.hasher.clone()) != blob.digest {
            part.reset().await?;
        }
        Ok(part)
    }

    /// Starts over: an empty file and a fresh hash.
    async fn reset(&mut self) -> Result<(), StoreError> {
        self.file
            .set_len(0)
            .await
            .map_err(StoreError::io(&self.path))?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(StoreError::io(&self.path))?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }

    async fn remove(&mut self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }

    /// Appends the response body. On a network failure, what arrived stays in the file for the
    /// next attempt to resume from. Returns once the file holds everything received.
    async fn receive(
        &mut self,
        mut response: reqwest::Response,
        blob: &Descriptor,
    ) -> Result<(), PullFailure> {
        let mut buffer: Vec<u8> = Vec::with_capacity(WRITE_BUFFER);
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    self.write(&buffer).await?;
                    self.settle().await?;
                    return Err(PullFailure::Interrupted {
                        digest: blob.digest.to_string(),
                        received: self.len,
                        size: blob.size,
                        detail: error_chain(&e),
                    });
                }
            };
            if self.len + buffer.len() as u64 + chunk.len() as u64 > blob.size {
                self.remove().await;
                return Err(PullFailure::SizeMismatch {
                    digest: blob.digest.to_string(),
                    declared: blob.size,
                    received: "more".to_owned(),
                });
            }
            self.hasher.update(&chunk);
            self.received += chunk.len() as u64;
            buffer.extend_from_slice(&chunk);
            if buffer.len() >= WRITE_BUFFER {
                self.write(&buffer).await?;
                buffer.clear();
            }
        }
        self.write(&buffer).await?;
        self.settle().await?;
        Ok(())
    }

    /// Waits for the writes in flight. Tokio completes a file write in the background after
    /// `write_all` returns; without this, a download given up on (and its blob lock released)
    /// could still be writing when the next pull opens the file to resume it, which would then
    /// read too little and append over the late write.
    async fn settle(&mut self) -> Result<(), StoreError> {
        self.file.flush().await.map_err(StoreError::io(&self.path))
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.file
            .write_all(bytes)
            .await
            .map_err(StoreError::io(&self.path))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Checks the digest of the complete download, syncs, and moves the blob into the store.
    async fn finish(mut self, store: &ContentStore, blob: &Descriptor) -> Result<(), PullFailure> {
        self.settle().await?;
        let actual = Digest::finish(self.hasher.clone());
        if actual != blob.digest {
            self.remove().await;
            return Err(PullFailure::DigestMismatch {
                what: format!("blob {}", blob.digest),
                expected: blob.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        self.file
            .sync_all()
            .await
            .map_err(StoreError::io(&self.path))?;
        drop(self.file);
        store.commit_partial(&blob.digest)?;
        Ok(())
    }
}

/// The first byte a `206`'s `Content-Range: bytes <first>-<last>/<size>` covers.
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}
