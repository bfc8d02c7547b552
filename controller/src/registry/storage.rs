//! `Storage`: the registry's files under `DATA_DIR/registry`.
//!
//! ```text
//! blobs/sha256/<hex>                                      content, named by its digest
//! uploads/<uuid>                                          uploads in progress (see `upload`)
//! repositories/<name>/_layers/sha256/<hex>                the blob belongs to the repository
//! repositories/<name>/_manifests/revisions/sha256/<hex>   a manifest of it; holds its media type
//! repositories/<name>/_manifests/tags/<tag>               holds the tagged manifest's digest
//! ```
//! Blobs (manifests included) are written once, fsynced and renamed into place; link and tag
//! files are replaced atomically (write a temporary file, fsync, rename, fsync the directory), so
//! a crash leaves either the old or the new state, at worst with an unreferenced blob. Names,
//! tags and digests are validated (`reference`) before they become paths, and no name component
//! can begin with `_`, so repository paths never collide with the `_layers`/`_manifests` dirs.
//! Blobs are never deleted: deleting unlinks them from a repository (there is no garbage
//! collector yet).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::RegistryError;
use super::reference::{Digest, Reference, RepoName};

/// The registry's files.
#[derive(Debug)]
pub struct Storage {
    root: PathBuf,
}

/// A stored manifest: its digest and the media type it was pushed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
}

impl Storage {
    /// Opens (creating) the registry directory `root`.
    pub fn open(root: &Path) -> Result<Storage, RegistryError> {
        for dir in ["blobs/sha256", "uploads", "repositories"] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path)
                .map_err(|e| RegistryError::storage(format!("creating {}", path.display()), e))?;
        }
        Ok(Storage {
            root: root.to_path_buf(),
        })
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn repo_dir(&self, repo: &RepoName) -> PathBuf {
        self.root.join("repositories").join(repo.as_str())
    }

    fn layer_link(&self, repo: &RepoName, digest: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_layers/sha256")
            .join(digest.hex())
    }

    fn revision_link(&self, repo: &RepoName, digest: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_manifests/revisions/sha256")
            .join(digest.hex())
    }

    fn revisions_dir(&self, repo: &RepoName) -> PathBuf {
        self.repo_dir(repo).join("_manifests/revisions/sha256")
    }

    fn tags_dir(&self, repo: &RepoName) -> PathBuf {
        self.repo_dir(repo).join("_manifests/tags")
    }

    /// The size of the stored blob, whichever repository it belongs to.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::storage(format!("reading blob {digest}"), e)),
        }
    }

    /// The size of a blob of `repo`: a layer or config pushed or mounted there, or one of its
    /// manifests (which some clients fetch through the blob endpoint).
    pub async fn repo_blob_size(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let linked = exists(&self.layer_link(repo, digest)).await?
            || exists(&self.revision_link(repo, digest)).await?;
        if linked {
            self.blob_size(digest).await
        } else {
            Ok(None)
        }
    }

    /// Makes an existing blob part of `repo` (after an upload, or a cross-repository mount).
    pub async fn link_blob(&self, repo: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        write_atomic(
            self.layer_link(repo, digest),
            digest.to_string().into_bytes(),
        )
        .await
    }

    /// Removes a blob from `repo`; `false` if it was not there.
    pub async fn unlink_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        remove(&self.layer_link(repo, digest)).await
    }

    /// Moves a complete, fsynced file whose content is `digest` into the blob store.
    pub async fn commit_blob(&self, file: &Path, digest: &Digest) -> Result<(), RegistryError> {
        let target = self.blob_path(digest);
        // Content-addressed: an existing blob of this digest already has these bytes.
        if exists(&target).await? {
            let _ = tokio::fs::remove_file(file).await;
            return Ok(());
        }
        tokio::fs::rename(file, &target)
            .await
            .map_err(|e| RegistryError::storage(format!("storing blob {digest}"), e))?;
        sync_dir(target.parent()).await
    }

    /// Stores a manifest's exact bytes, records it in `repo` and points `tag` at it.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
        media_type: &str,
        bytes: Vec<u8>,
        tag: Option<&str>,
    ) -> Result<(), RegistryError> {
        if self.blob_size(digest).await?.is_none() {
            let temp = self
                .uploads_dir()
                .join(format!("manifest-{}", uuid::Uuid::new_v4()));
            let written = write_synced(temp.clone(), bytes).await;
            if let Err(err) = written {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(err);
            }
            self.commit_blob(&temp, digest).await?;
        }
        write_atomic(
            self.revision_link(repo, digest),
            media_type.as_bytes().to_vec(),
        )
        .await?;
        if let Some(tag) = tag {
            write_atomic(
                self.tags_dir(repo).join(tag),
                digest.to_string().into_bytes(),
            )
            .await?;
        }
        Ok(())
    }

    /// The manifest `reference` names in `repo`, if any.
    pub async fn manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<StoredManifest>, RegistryError> {
        let digest = match reference {
            Reference::Digest(digest) => digest.clone(),
            Reference::Tag(tag) => match read_small(&self.tags_dir(repo).join(tag)).await? {
                Some(text) => Digest::parse(text.trim()).map_err(|e| {
                    RegistryError::storage(
                        format!("tag {tag} of {repo} is corrupt"),
                        io::Error::other(e.to_string()),
                    )
                })?,
                None => return Ok(None),
            },
        };
        match read_small(&self.revision_link(repo, &digest)).await? {
            Some(media_type) => Ok(Some(StoredManifest {
                digest,
                media_type: media_type.trim().to_string(),
            })),
            None => Ok(None),
        }
    }

    /// Deletes a manifest from `repo` with every tag that points at it; `false` if unknown.
    pub async fn delete_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let wanted = digest.to_string();
        for tag in self.tags(repo).await?.unwrap_or_default() {
            let path = self.tags_dir(repo).join(&tag);
            if read_small(&path).await?.is_some_and(|d| d.trim() == wanted) {
                remove(&path).await?;
            }
        }
        remove(&self.revision_link(repo, digest)).await
    }

    /// Removes a tag (not the manifest); `false` if unknown.
    pub async fn delete_tag(&self, repo: &RepoName, tag: &str) -> Result<bool, RegistryError> {
        remove(&self.tags_dir(repo).join(tag)).await
    }

    /// The tags of `repo`, sorted; `None` when the repository does not exist.
    pub async fn tags(&self, repo: &RepoName) -> Result<Option<Vec<String>>, RegistryError> {
        if !exists(&self.repo_dir(repo)).await? {
            return Ok(None);
        }
        let mut tags = list_names(self.tags_dir(repo)).await?;
        tags.sort();
        Ok(Some(tags))
    }

    /// The digests of every manifest of `repo`.
    pub async fn revisions(&self, repo: &RepoName) -> Result<Vec<Digest>, RegistryError> {
        let names = list_names(self.revisions_dir(repo)).await?;
        Ok(names
            .iter()
            .filter_map(|hex| Digest::parse(&format!("sha256:{hex}")).ok())
            .collect())
    }

    /// Every repository holding at least one manifest, sorted.
    pub async fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        let root = self.root.join("repositories");
        let found = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            walk_repositories(&root, "", &mut found)?;
            Ok::<_, io::Error>(found)
        })
        .await
        .map_err(|e| RegistryError::storage("listing repositories", io::Error::other(e)))?
        .map_err(|e| RegistryError::storage("listing repositories", e))?;
        let mut found = found;
        found.sort();
        Ok(found)
    }
}

/// Collects the repositories under `dir` (named `prefix`): directories with manifest revisions.
fn walk_repositories(dir: &Path, prefix: &str, found: &mut Vec<String>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if name == "_manifests" {
            if !prefix.is_empty() && dir.join("_manifests/revisions").is_dir() {
                found.push(prefix.to_string());
            }
            continue;
        }
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let child = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        walk_repositories(&entry.path(), &child, found)?;
    }
    Ok(())
}

async fn exists(path: &Path) -> Result<bool, RegistryError> {
    tokio::fs::try_exists(path)
        .await
        .map_err(|e| RegistryError::storage(format!("checking {}", path.display()), e))
}

/// Removes a file; `false` if it did not exist.
async fn remove(path: &Path) -> Result<bool, RegistryError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {
            sync_dir(path.parent()).await?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(RegistryError::storage(
            format!("removing {}", path.display()),
            e,
        )),
    }
}

/// A link or tag file's text; `None` if missing. They hold a digest or a media type.
async fn read_small(path: &Path) -> Result<Option<String>, RegistryError> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::storage(
            format!("reading {}", path.display()),
            e,
        )),
    }
}

/// The names of the files in `dir` (none if it does not exist), without temporary files.
async fn list_names(dir: PathBuf) -> Result<Vec<String>, RegistryError> {
    let mut names = Vec::new();
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(names),
        Err(e) => {
            return Err(RegistryError::storage(
                format!("listing {}", dir.display()),
                e,
            ));
        }
    };
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| RegistryError::storage(format!("listing {}", dir.display()), e))?
    {
        if let Ok(name) = entry.file_name().into_string()
            && !name.starts_with('.')
        {
            names.push(name);
        }
    }
    Ok(names)
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
async fn write_synced(path: PathBuf, bytes: Vec<u8>) -> Result<(), RegistryError> {
    blocking(move || {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&bytes)?;
        file.sync_all()
    })
    .await
    .map_err(|e| RegistryError::storage("writing a registry file", e))
}

/// Replaces `path` atomically with `bytes`: a temporary file in the same directory (named with a
/// leading dot, which no tag or digest has), fsynced, renamed over it, and the directory fsynced.
pub async fn write_atomic(path: PathBuf, bytes: Vec<u8>) -> Result<(), RegistryError> {
    let shown = path.display().to_string();
    blocking(move || {
        let dir = path.parent().ok_or_else(|| io::Error::other("no parent"))?;
        std::fs::create_dir_all(dir)?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let temp = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4()));
        let result = (|| {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    })
    .await
    .map_err(|e| RegistryError::storage(format!("writing {shown}"), e))
}

/// Makes a rename or removal in `dir` durable.
pub async fn sync_dir(dir: Option<&Path>) -> Result<(), RegistryError> {
    let Some(dir) = dir.map(Path::to_path_buf) else {
        return Ok(());
    };
    let shown = dir.display().to_string();
    blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(|e| RegistryError::storage(format!("syncing {shown}"), e))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str) -> RepoName {
        RepoName::parse(name).expect("valid test name")
    }

    #[tokio::test]
    async fn manifests_tags_and_repositories() {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(dir.path()).expect("opens");
        let bytes = br#"{"schemaVersion":2}"#.to_vec();
        let digest = Digest::of(&bytes);
        let (a, b) = (repo("edge/a"), repo("edge/a/b"));
        storage
            .put_manifest(&a, &digest, "application/x", bytes.clone(), Some("v1"))
            .await
            .expect("stored");
        storage
            .put_manifest(&b, &digest, "application/x", bytes.clone(), Some("v2"))
            .await
            .expect("stored");
        let stored = storage
            .manifest(&a, &Reference::Tag("v1".into()))
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(stored.digest, digest);
        assert_eq!(stored.media_type, "application/x");
        assert_eq!(
            std::fs::read(storage.blob_path(&digest)).expect("blob"),
            bytes
        );
        assert_eq!(
            storage.repositories().await.expect("lists"),
            vec!["edge/a", "edge/a/b"]
        );
        assert_eq!(
            storage.tags(&a).await.expect("tags"),
            Some(vec!["v1".to_string()])
        );
        assert_eq!(storage.tags(&repo("nope")).await.expect("tags"), None);
        assert_eq!(
            storage.revisions(&a).await.expect("revs"),
            vec![digest.clone()]
        );

        // Deleting the manifest takes its tags along, in that repository only.
        assert!(storage.delete_manifest(&a, &digest).await.expect("deleted"));
        assert!(
            !storage
                .delete_manifest(&a, &digest)
                .await
                .expect("idempotent")
        );
        assert_eq!(storage.tags(&a).await.expect("tags"), Some(vec![]));
        assert!(
            storage
                .manifest(&b, &Reference::Tag("v2".into()))
                .await
                .expect("read")
                .is_some()
        );
        assert!(storage.delete_tag(&b, "v2").await.expect("deleted"));
        assert!(
            storage
                .manifest(&b, &Reference::Digest(digest.clone()))
                .await
                .expect("read")
                .is_some(),
            "deleting a tag keeps the manifest"
        );
    }

    #[tokio::test]
    async fn blob_links() {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(dir.path()).expect("opens");
        let file = dir.path().join("uploads/x");
        std::fs::write(&file, b"layer").expect("written");
        let digest = Digest::of(b"layer");
        storage
            .commit_blob(&file, &digest)
            .await
            .expect("committed");
        let (a, b) = (repo("a"), repo("b"));
        assert_eq!(storage.blob_size(&digest).await.expect("size"), Some(5));
        assert_eq!(
            storage.repo_blob_size(&a, &digest).await.expect("size"),
            None
        );
        storage.link_blob(&a, &digest).await.expect("linked");
        assert_eq!(
            storage.repo_blob_size(&a, &digest).await.expect("size"),
            Some(5)
        );
        assert_eq!(
            storage.repo_blob_size(&b, &digest).await.expect("size"),
            None
        );
        assert!(storage.unlink_blob(&a, &digest).await.expect("unlinked"));
        assert_eq!(
            storage.repo_blob_size(&a, &digest).await.expect("size"),
            None
        );
        // A repository with only blobs is not in the catalog.
        storage.link_blob(&b, &digest).await.expect("linked");
        assert!(storage.repositories().await.expect("lists").is_empty());
    }
}
