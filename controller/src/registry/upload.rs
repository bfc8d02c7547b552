//! `Uploads`: blob upload sessions, streamed to `uploads/<uuid>` and hashed as they arrive.
//!
//! A session's file grows with each chunk; its running SHA-256 stays in memory, so finishing
//! costs no second read. After a restart (or if the state was dropped) the file is rehashed
//! once. Chunks of one session are serialised by a per-session lock, and a chunk that fails
//! half-way is cut off again, so a session is always "the bytes acknowledged so far". Files
//! untouched for `ABANDONED_AFTER` are removed on start and, lazily, when uploads begin.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use super::error::RegistryError;
use super::range::ByteRange;
use super::reference::Digest;

/// An upload nobody has written to for this long is abandoned.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The least time between two sweeps for abandoned uploads.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Writes to disk go through a buffer this large: hyper delivers bodies in small frames, and
/// every write to a `tokio::fs::File` is a trip to the blocking pool.
const WRITE_BUFFER: usize = 1024 * 1024;

/// One upload in progress.
struct Session {
    /// Bytes acknowledged so far (the file's length).
    size: u64,
    /// The hash of those bytes; `None` when it must be rebuilt from the file.
    hasher: Option<Sha256>,
}

/// The upload sessions of the registry.
pub struct Uploads {
    dir: PathBuf,
    sessions: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<Session>>>>,
    last_sweep: Mutex<Instant>,
}

impl Uploads {
    /// Manages the uploads in `dir`, removing abandoned ones left from earlier runs.
    pub fn open(dir: PathBuf) -> Uploads {
        let uploads = Uploads {
            dir,
            sessions: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(Instant::now()),
        };
        uploads.sweep(ABANDONED_AFTER, SystemTime::now());
        uploads
    }

    pub fn path(&self, id: Uuid) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Starts an empty upload.
    pub async fn create(&self) -> Result<Uuid, RegistryError> {
        self.sweep_if_due();
        let id = Uuid::new_v4();
        tokio::fs::File::create_new(self.path(id))
            .await
            .map_err(|e| RegistryError::storage("starting an upload", e))?;
        self.table().insert(
            id,
            Arc::new(tokio::sync::Mutex::new(Session {
                size: 0,
                hasher: Some(Sha256::new()),
            })),
        );
        Ok(id)
    }

    /// Appends a request body to the upload; `range` is the chunk's `Content-Range`, which must
    /// start where the upload ends. Returns the upload's new size.
    pub async fn append(
        &self,
        id: Uuid,
        range: Option<ByteRange>,
        body: Body,
    ) -> Result<u64, RegistryError> {
        let session = self.session(id).await?;
        let mut session = session.lock().await;
        if let Some(range) = range
            && range.start != session.size
        {
            return Err(RegistryError::RangeInvalid(format!(
                "the chunk starts at byte {} but the upload has {} bytes",
                range.start, session.size
            )));
        }
        let path = self.path(id);
        let before = session.size;
        let hasher_before = session.hasher.clone();
        match write_body(&path, body, session.hasher.as_mut()).await {
            Ok(written) => {
                if let Some(range) = range
                    && range.byte_count() != written
                {
                    rollback(&path, before).await;
                    session.hasher = hasher_before;
                    return Err(RegistryError::SizeInvalid(format!(
                        "Content-Range announced {} bytes but {written} arrived",
                        range.byte_count()
                    )));
                }
                session.size = before + written;
                Ok(session.size)
            }
            Err(err) => {
                rollback(&path, before).await;
                session.hasher = hasher_before;
                Err(err)
            }
        }
    }

    /// The number of bytes the upload holds.
    pub async fn size(&self, id: Uuid) -> Result<u64, RegistryError> {
        let session = self.session(id).await?;
        let size = session.lock().await.size;
        Ok(size)
    }

    /// Ends the upload: checks its content against `expected`, fsyncs it and returns the file's
    /// path for the blob store to take. A mismatch discards the upload.
    pub async fn finish(&self, id: Uuid, expected: &Digest) -> Result<PathBuf, RegistryError> {
        let session = self.session(id).await?;
        let mut session = session.lock().await;
        let path = self.path(id);
        let actual = match session.hasher.take() {
            Some(hasher) => Digest::from_hasher(hasher),
            None => hash_file(&path).await?,
        };
        if let Err(err) = expected.verify(&actual) {
            drop(session);
            self.cancel(id).await?;
            return Err(err);
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(|e| RegistryError::storage("opening the upload", e))?;
        file.sync_all()
            .await
            .map_err(|e| RegistryError::storage("syncing the upload", e))?;
        self.table().remove(&id);
        Ok(path)
    }

    /// Discards the upload; `false` if it did not exist.
    pub async fn cancel(&self, id: Uuid) -> Result<bool, RegistryError> {
        self.table().remove(&id);
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(RegistryError::storage("removing the upload", e)),
        }
    }

    /// The session of `id`, rebuilt from its file when the controller restarted since it began.
    async fn session(&self, id: Uuid) -> Result<Arc<tokio::sync::Mutex<Session>>, RegistryError> {
        if let Some(session) = self.table().get(&id) {
            return Ok(session.clone());
        }
        let size = match tokio::fs::metadata(self.path(id)).await {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RegistryError::BlobUploadUnknown(id.to_string()));
            }
            Err(e) => return Err(RegistryError::storage("reading the upload", e)),
        };
        let rebuilt = Arc::new(tokio::sync::Mutex::new(Session { size, hasher: None }));
        Ok(self.table().entry(id).or_insert(rebuilt).clone())
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<tokio::sync::Mutex<Session>>>> {
        // A panic while holding the lock cannot leave the map half-changed (each use is one
        // call), so a poisoned lock is still usable.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sweep_if_due(&self) {
        let due = {
            let mut last = self
                .last_sweep
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.elapsed() >= SWEEP_EVERY {
                *last = Instant::now();
                true
            } else {
                false
            }
        };
        if due {
            self.sweep(ABANDONED_AFTER, SystemTime::now());
        }
    }

    /// Removes uploads last written before `now - max_age` that no request is using; returns
    /// how many. Failures are logged: a leftover file only costs disk space until the next sweep.
    pub fn sweep(&self, max_age: Duration, now: SystemTime) -> usize {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, "cannot list registry uploads");
                return 0;
            }
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let modified = entry.metadata().and_then(|m| m.modified());
            let old = modified.is_ok_and(|m| now.duration_since(m).is_ok_and(|age| age > max_age));
            if !old {
                continue;
            }
            let id = entry
                .file_name()
                .to_str()
                .and_then(|n| Uuid::try_parse(n).ok());
            // A session some request holds right now is not abandoned, whatever its age.
            if let Some(id) = id {
                let mut table = self.table();
                if table.get(&id).is_some_and(|s| s.try_lock().is_err()) {
                    continue;
                }
                table.remove(&id);
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(error) => {
                    tracing::warn!(%error, path = %entry.path().display(), "cannot remove an abandoned upload")
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed abandoned registry uploads");
        }
        removed
    }
}

/// Streams `body` to the end of the file at `path`, feeding `hasher`; returns the bytes written.
async fn write_body(
    path: &Path,
    body: Body,
    mut hasher: Option<&mut Sha256>,
) -> Result<u64, RegistryError> {
    let file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await
        .map_err(|e| RegistryError::storage("opening the upload", e))?;
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut stream = body.into_data_stream();
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            RegistryError::BlobUploadInvalid(format!("the upload body was cut off: {e}"))
        })?;
        if let Some(hasher) = hasher.as_deref_mut() {
            hasher.update(&chunk);
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| RegistryError::storage("writing the upload", e))?;
        written += chunk.len() as u64;
    }
    out.flush()
        .await
        .map_err(|e| RegistryError::storage("writing the upload", e))?;
    Ok(written)
}

/// Cuts a failed chunk off again.
async fn rollback(path: &Path, size: u64) {
    let result = async {
        let file = tokio::fs::OpenOptions::new().write(true).open(path).await?;
        file.set_len(size).await
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, path = %path.display(), "cannot cut a failed chunk off an upload");
    }
}

/// The digest of a file, read in pieces.
async fn hash_file(path: &Path) -> Result<Digest, RegistryError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| RegistryError::storage("reading the upload", e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; WRITE_BUFFER];
    loop {
        let n = file
            .read(&mut buffer)
            .await
            .map_err(|e| RegistryError::storage("reading the upload", e))?;
        if n == 0 {
            return Ok(Digest::from_hasher(hasher));
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &'static [u8]) -> Body {
        Body::from(bytes)
    }

    #[tokio::test]
    async fn chunked_upload_hashes_incrementally() {
        let dir = tempfile::tempdir().expect("temp dir");
        let uploads = Uploads::open(dir.path().to_path_buf());
        let id = uploads.create().await.expect("created");
        let first = uploads
            .append(id, Some(ByteRange { start: 0, end: 5 }), body(b"hello "))
            .await
            .expect("first chunk");
        assert_eq!(first, 6);
        // A chunk that does not continue the upload is refused and changes nothing.
        let err = uploads
            .append(id, Some(ByteRange { start: 3, end: 4 }), body(b"xx"))
            .await
            .expect_err("out of order");
        assert_eq!(err.status(), 416);
        // A chunk shorter than announced is cut off again.
        let err = uploads
            .append(id, Some(ByteRange { start: 6, end: 100 }), body(b"xx"))
            .await
            .expect_err("short");
        assert_eq!(err.code(), "SIZE_INVALID");
        assert_eq!(uploads.size(id).await.expect("size"), 6);
        uploads
            .append(id, None, body(b"world"))
            .await
            .expect("streamed chunk");
        let wrong = Digest::of(b"hello");
        let right = Digest::of(b"hello world");
        let path = uploads.finish(id, &right).await.expect("finished");
        assert_eq!(std::fs::read(path).expect("file"), b"hello world");

        let id = uploads.create().await.expect("created");
        uploads.append(id, None, body(b"x")).await.expect("chunk");
        let err = uploads.finish(id, &wrong).await.expect_err("mismatch");
        assert_eq!(err.code(), "DIGEST_INVALID");
        assert!(!uploads.path(id).exists(), "a failed upload is discarded");
        assert_eq!(
            uploads.size(id).await.expect_err("gone").code(),
            "BLOB_UPLOAD_UNKNOWN"
        );
    }

    #[tokio::test]
    async fn sessions_survive_a_restart_and_abandoned_ones_are_swept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = {
            let uploads = Uploads::open(dir.path().to_path_buf());
            let id = uploads.create().await.expect("created");
            uploads
                .append(id, None, body(b"part"))
                .await
                .expect("chunk");
            id
        };
        let uploads = Uploads::open(dir.path().to_path_buf());
        assert_eq!(uploads.size(id).await.expect("size"), 4);
        uploads
            .append(id, Some(ByteRange { start: 4, end: 7 }), body(b"ial!"))
            .await
            .expect("continues");
        uploads
            .finish(id, &Digest::of(b"partial!"))
            .await
            .expect("rehashed from the file");

        let stale = uploads.create().await.expect("created");
        assert_eq!(uploads.sweep(ABANDONED_AFTER, SystemTime::now()), 0);
        let later = SystemTime::now() + ABANDONED_AFTER + Duration::from_secs(1);
        assert_eq!(
            uploads.sweep(ABANDONED_AFTER, later),
            2,
            "both files are old then"
        );
        assert!(!uploads.path(stale).exists());
    }
}
