//! The example Wasm components of `examples/wasm`, built for `wasm32-wasip2` once per test
//! process, and published to a test controller's built-in registry with `edgectl push`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::binaries::{target_dir, workspace_root};
use crate::controller::Controller;

/// The result of the one build per test process; an error holds cargo's output.
static BUILD: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The built component of the example crate `name` (`hello-http`, `testdata-command`, ...).
///
/// The examples are their own workspace (they build for `wasm32-wasip2` only); cargo's lock on
/// the target directory makes concurrent test binaries wait for one build instead of racing.
pub fn wasm_example(name: &str) -> PathBuf {
    let dir = match BUILD.get_or_init(build_examples) {
        Ok(dir) => dir,
        Err(message) => panic!("{message}"),
    };
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

fn build_examples() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = target_dir().join("wasm-examples");
    eprintln!("edge-e2e: building examples/wasm for wasm32-wasip2 ...");
    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--manifest-path")
        .arg(workspace_root().join("examples/wasm/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|err| format!("cannot run {}: {err}", Path::new(&cargo).display()))?;
    if output.status.success() {
        Ok(target.join("wasm32-wasip2/release"))
    } else {
        Err(format!(
            "building examples/wasm for wasm32-wasip2 failed ({}); `rustup target add wasm32-wasip2` \
             (scripts/deps.sh) installs the target:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Pushes the example `name` to `controller`'s registry as `REPO:TAG` and returns the image
/// reference to put in a pod (`127.0.0.1:PORT/REPO:TAG`).
pub fn push_example(controller: &Controller, name: &str, repo_tag: &str) -> String {
    let reference = format!("127.0.0.1:{}/{repo_tag}", controller.port());
    let file = wasm_example(name);
    controller
        .edgectl(&["push", &file.display().to_string(), &reference])
        .success();
    reference
}
