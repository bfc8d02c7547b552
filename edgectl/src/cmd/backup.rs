//! `backup save FILE`: streams the controller's snapshot to disk, atomically.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::Session;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Save a snapshot of the cluster state to FILE.
    Save { file: PathBuf },
}

pub async fn run(session: &mut Session, command: BackupCommand) -> Result<()> {
    let BackupCommand::Save { file } = command;
    let response = session.client.get_stream("/internal/v1/backup").await?;
    let revision = response
        .headers()
        .get("X-Edgeplane-Revision")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let partial = partial_path(&file);
    let written = async {
        let mut out = tokio::fs::File::create(&partial)
            .await
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let mut bytes: u64 = 0;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.context("the backup download was interrupted")?;
            out.write_all(&chunk)
                .await
                .with_context(|| format!("cannot write {}", partial.display()))?;
            bytes += chunk.len() as u64;
        }
        out.sync_all()
            .await
            .with_context(|| format!("cannot sync {}", partial.display()))?;
        anyhow::Ok(bytes)
    }
    .await;
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(err) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(err);
        }
    };
    tokio::fs::rename(&partial, &file)
        .await
        .with_context(|| format!("cannot rename {} to {}", partial.display(), file.display()))?;
    sync_parent(&file).await;
    output::println(&saved_message(&file, bytes, revision.as_deref()))
}

/// `FILE.tmp`, next to the destination so the rename stays on one file system.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Makes the rename durable; failure only weakens durability, so it is not an error.
async fn sync_parent(file: &Path) {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(dir) = tokio::fs::File::open(parent).await {
        let _ = dir.sync_all().await;
    }
}

pub fn saved_message(file: &Path, bytes: u64, revision: Option<&str>) -> String {
    match revision {
        Some(revision) => format!(
            "Backup saved to {} ({bytes} bytes, revision {revision})",
            file.display()
        ),
        None => format!("Backup saved to {} ({bytes} bytes)", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_paths() {
        assert_eq!(
            partial_path(Path::new("/b/snap.db")),
            PathBuf::from("/b/snap.db.tmp")
        );
        assert_eq!(
            saved_message(Path::new("snap.db"), 42, Some("17")),
            "Backup saved to snap.db (42 bytes, revision 17)"
        );
        assert_eq!(
            saved_message(Path::new("snap.db"), 42, None),
            "Backup saved to snap.db (42 bytes)"
        );
    }
}
