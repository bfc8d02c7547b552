//! A pod's volumes on the node: emptyDir and ConfigMap/Secret/downward-API files under the
//! pod's directory, hostPath as given, local persistent volumes under `DATA_DIR/volumes`; and
//! the preopened directories a Wasm container sees.
//!
//! File volumes are rewritten when their content changes (a ConfigMap update reaches running
//! pods); nothing is written when it did not.

use std::path::{Component, Path, PathBuf};

use edge_wire::link::{ContainerRunSpec, PodRunSpec, VolumeFile, VolumeSource};

use super::WorkerContext;
use crate::wasm::Preopen;

/// The host directory of volume `name` of `pod`.
fn volume_dir(ctx: &WorkerContext, pod: &PodRunSpec, name: &str) -> Option<PathBuf> {
    let volume = pod.volumes.iter().find(|v| v.name == name)?;
    Some(match &volume.source {
        VolumeSource::EmptyDir { .. } | VolumeSource::Files { .. } => ctx
            .pods_dir
            .join(&pod.uid)
            .join("volumes")
            .join(&volume.name),
        VolumeSource::HostPath { path, .. } => PathBuf::from(path),
        VolumeSource::LocalClaim { claim_uid } => ctx.volumes_dir.join(claim_uid),
    })
}

/// Creates the pod's volume directories and writes its file volumes.
pub(super) fn prepare(ctx: &WorkerContext, pod: &PodRunSpec) -> Result<(), String> {
    for volume in &pod.volumes {
        let Some(dir) = volume_dir(ctx, pod, &volume.name) else {
            continue;
        };
        match &volume.source {
            VolumeSource::EmptyDir { .. } | VolumeSource::LocalClaim { .. } => {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("volume {}: {}: {e}", volume.name, dir.display()))?;
            }
            VolumeSource::HostPath { kind, .. } => {
                if kind == "DirectoryOrCreate" {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| format!("volume {}: {}: {e}", volume.name, dir.display()))?;
                }
            }
            VolumeSource::Files {
                files,
                default_mode,
            } => write_files(&dir, files, *default_mode)
                .map_err(|e| format!("volume {}: {e}", volume.name))?,
        }
    }
    Ok(())
}

/// A relative path that stays inside its volume.
fn safe_relative(path: &str) -> Option<&Path> {
    let p = Path::new(path);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(p)
}

fn write_files(dir: &Path, files: &[VolumeFile], default_mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for file in files {
        let Some(relative) = safe_relative(&file.path) else {
            return Err(format!("file path {:?} leaves the volume", file.path));
        };
        let path = dir.join(relative);
        if std::fs::read(&path).is_ok_and(|current| current == file.content) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let tmp = path.with_extension("edgeplane-tmp");
        std::fs::write(&tmp, &file.content).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mode = file.mode.unwrap_or(default_mode) & 0o777;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The directories container `spec` of `pod` sees, from its volume mounts.
pub(super) fn preopens(
    ctx: &WorkerContext,
    pod: &PodRunSpec,
    spec: &ContainerRunSpec,
) -> Result<Vec<Preopen>, String> {
    spec.mounts
        .iter()
        .map(|mount| {
            let mut host = volume_dir(ctx, pod, &mount.volume).ok_or_else(|| {
                format!(
                    "container {} mounts volume {:?}, which the pod does not have",
                    spec.name, mount.volume
                )
            })?;
            if let Some(sub) = mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
                let relative = safe_relative(sub)
                    .ok_or_else(|| format!("subPath {sub:?} leaves the volume"))?;
                host = host.join(relative);
                std::fs::create_dir_all(&host).map_err(|e| format!("{}: {e}", host.display()))?;
            }
            Ok(Preopen {
                host_path: host,
                guest_path: mount.mount_path.clone(),
                read_only: mount.read_only
                    || pod.volumes.iter().any(|v| {
                        v.name == mount.volume && matches!(v.source, VolumeSource::Files { .. })
                    }),
            })
        })
        .collect()
}

/// Removes everything the agent kept for a pod that is gone (logs, emptyDirs, key-value store).
pub(super) fn remove_pod_dir(ctx: &WorkerContext, uid: &str) {
    if safe_relative(uid).is_none() || uid.is_empty() {
        return;
    }
    let dir = ctx.pods_dir.join(uid);
    if let Err(err) = std::fs::remove_dir_all(&dir)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), "cannot remove the pod's directory: {err}");
    }
}

/// Removes the directories under `dir` whose names `keep` refuses: those of pods that are
/// neither desired nor have a worker (deleted while the agent was stopped, or left by a crash),
/// or of claims that are gone; returns how many went.
pub(crate) fn remove_dirs_except(dir: &Path, keep: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(uid) = name.to_str() else { continue };
        if keep(uid) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => removed += 1,
            Err(err) => {
                tracing::warn!(dir = %entry.path().display(), "cannot remove a left-over directory: {err}")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_over_pod_dirs_go_and_kept_ones_stay() {
        let dir = tempfile::tempdir().expect("test step");
        for uid in ["keep", "gone"] {
            std::fs::create_dir_all(dir.path().join(uid).join("logs")).expect("test step");
        }
        std::fs::write(dir.path().join("not-a-pod"), b"").expect("test step");
        assert_eq!(remove_dirs_except(dir.path(), |uid| uid == "keep"), 1);
        assert!(dir.path().join("keep/logs").is_dir());
        assert!(!dir.path().join("gone").exists());
        assert!(dir.path().join("not-a-pod").exists());
        assert_eq!(
            remove_dirs_except(&dir.path().join("missing"), |_| false),
            0
        );
    }

    #[test]
    fn paths_cannot_leave_a_volume() {
        assert!(safe_relative("a/b.txt").is_some());
        for bad in ["../x", "/etc/passwd", "a/../../x", "./a"] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn files_are_written_with_modes_and_only_when_changed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("test step");
        let files = vec![VolumeFile {
            path: "conf/app.txt".into(),
            content: b"one".to_vec(),
            mode: Some(0o600),
        }];
        write_files(dir.path(), &files, 0o644).expect("test step");
        let path = dir.path().join("conf/app.txt");
        assert_eq!(std::fs::read(&path).expect("test step"), b"one");
        assert_eq!(
            std::fs::metadata(&path)
                .expect("test step")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let evil = vec![VolumeFile {
            path: "../escape".into(),
            content: vec![],
            mode: None,
        }];
        assert!(write_files(dir.path(), &evil, 0o644).is_err());
        assert!(
            !dir.path()
                .parent()
                .expect("test step")
                .join("escape")
                .exists()
        );
    }
}
