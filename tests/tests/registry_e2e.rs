//! The controller's built-in OCI registry end to end: `edgectl push`, raw distribution-API
//! requests with curl, and skopeo copying an image index in and out, all with the cluster's
//! client certificates on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use edge_e2e::{Controller, KubeconfigCredentials, free_port, run, temp_dir};
use serde_json::{Value, json};

// A subdirectory, so that cargo does not take the helper for a test target of its own.
#[path = "registry_e2e/client.rs"]
mod client;

use client::{As, Http, sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A Wasm component: the component preamble and one custom section of `payload` bytes. Large
/// enough to be over the API's body limit for JSON objects.
fn wasm_component(payload: usize) -> Vec<u8> {
    let name = b"edgeplane-e2e";
    let mut section = leb128(name.len());
    section.extend_from_slice(name);
    section.extend((0..payload).map(|i| (i % 251) as u8));
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.push(0);
    bytes.extend(leb128(section.len()));
    bytes.extend(section);
    bytes
}

/// `ca.crt`, `client.cert` and `client.key` in a directory, as skopeo's `--cert-dir` wants.
fn skopeo_cert_dir(creds: &KubeconfigCredentials, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    for (from, to) in [
        (&creds.ca, "ca.crt"),
        (&creds.cert, "client.cert"),
        (&creds.key, "client.key"),
    ] {
        std::fs::copy(from, dir.join(to)).unwrap_or_else(|e| panic!("copy {to}: {e}"));
    }
    dir.to_path_buf()
}

fn skopeo(args: &[&str]) -> edge_e2e::Run {
    let mut command = Command::new("skopeo");
    command.arg("--insecure-policy").args(args);
    run(command, None, Duration::from_secs(120))
}

fn view_user(controller: &Controller, dir: &Path) -> (PathBuf, KubeconfigCredentials) {
    let kubeconfig = dir.join("view.conf");
    controller
        .edgectl(&[
            "kubeconfig",
            "user",
            "--name",
            "viewer",
            "--role",
            "view",
            "-o",
            &kubeconfig.display().to_string(),
        ])
        .success();
    let creds = KubeconfigCredentials::extract(&kubeconfig, &dir.join("view-pem"));
    (kubeconfig, creds)
}

#[test]
fn edgectl_push_then_pull_by_tag_and_digest_across_a_restart() {
    let tmp = temp_dir("e2e-registry-push");
    let mut controller = Controller::start(&tmp.path().join("controller"), free_port());
    let registry = format!("127.0.0.1:{}", controller.port());
    let admin = controller.admin_credentials().clone();
    let http = Http::new(&controller, &tmp.path().join("http"));

    // 8 MiB: over the API's JSON body limit, so this proves blob uploads stream past it.
    let wasm = wasm_component(8 * 1024 * 1024);
    let wasm_path = tmp.path().join("hello.wasm");
    std::fs::write(&wasm_path, &wasm).unwrap_or_else(|e| panic!("write: {e}"));
    let reference = format!("{registry}/apps/hello:v1");
    let pushed = controller
        .edgectl(&["push", &wasm_path.display().to_string(), &reference])
        .success();
    let digest = pushed.stdout.trim().to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "push must print the digest\n{}",
        pushed.report()
    );
    // Pushing the same file again is a no-op with the same digest; pinning it works.
    let again = controller
        .edgectl(&["push", &wasm_path.display().to_string(), &reference])
        .success();
    assert_eq!(again.stdout.trim(), digest, "pushes are reproducible");
    controller
        .edgectl(&[
            "push",
            &wasm_path.display().to_string(),
            &format!("{registry}/apps/hello@{digest}"),
        ])
        .success();

    let check_pull = |http: &Http| {
        let by_tag = http
            .get(As::User(&admin), "/v2/apps/hello/manifests/v1")
            .expect(200);
        assert_eq!(
            by_tag.header("docker-content-digest").as_deref(),
            Some(digest.as_str())
        );
        assert_eq!(by_tag.header("content-type").as_deref(), Some(OCI_MANIFEST));
        assert_eq!(
            sha256(&by_tag.body),
            digest,
            "the stored bytes are the pushed manifest"
        );
        let by_digest = http
            .get(
                As::User(&admin),
                &format!("/v2/apps/hello/manifests/{digest}"),
            )
            .expect(200);
        assert_eq!(by_digest.body, by_tag.body);
        let manifest = by_tag.json();
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.wasm.config.v0+json"
        );
        assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
        let layer = manifest["layers"][0]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let config = manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let blob = http
            .get(As::User(&admin), &format!("/v2/apps/hello/blobs/{layer}"))
            .expect(200);
        assert!(
            blob.body == wasm,
            "the pulled layer differs from the pushed file"
        );
        let config = http
            .get(As::User(&admin), &format!("/v2/apps/hello/blobs/{config}"))
            .expect(200)
            .json();
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["os"], "wasip2");
        assert_eq!(config["layerDigests"], json!([layer]));
        let part = http
            .request(
                As::User(&admin),
                "GET",
                &format!("/v2/apps/hello/blobs/{layer}"),
                &["Range: bytes=0-7"],
                None,
            )
            .expect(206);
        assert_eq!(part.body, b"\0asm\x0d\x00\x01\x00");
        let head = http
            .request(
                As::User(&admin),
                "HEAD",
                &format!("/v2/apps/hello/blobs/{layer}"),
                &[],
                None,
            )
            .expect(200);
        assert_eq!(head.header("content-length"), Some(wasm.len().to_string()));
        let tags = http
            .get(As::User(&admin), "/v2/apps/hello/tags/list")
            .expect(200);
        assert_eq!(tags.json(), json!({"name": "apps/hello", "tags": ["v1"]}));
    };
    check_pull(&http);

    controller.stop();
    controller.restart();
    check_pull(&http);
    let catalog = http.get(As::User(&admin), "/v2/_catalog").expect(200);
    assert_eq!(catalog.json(), json!({"repositories": ["apps/hello"]}));
}

#[test]
fn skopeo_copies_an_image_index_in_and_out() {
    let tmp = temp_dir("e2e-registry-skopeo");
    let controller = Controller::start(&tmp.path().join("controller"), free_port());
    let registry = format!("127.0.0.1:{}", controller.port());
    let certs = skopeo_cert_dir(controller.admin_credentials(), &tmp.path().join("certs"));
    let certs = certs.display().to_string();

    // An OCI image layout: one tar layer, two configs, two manifests, an index of both.
    let layout = tmp.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let put_blob = |bytes: &[u8]| -> (String, usize) {
        let digest = sha256(bytes);
        let hex = digest.trim_start_matches("sha256:");
        std::fs::write(blobs.join(hex), bytes).unwrap_or_else(|e| panic!("write: {e}"));
        (digest, bytes.len())
    };
    let content = tmp.path().join("content");
    std::fs::create_dir_all(&content).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(content.join("hello.txt"), "hello from the edge\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let tar = tmp.path().join("layer.tar");
    let mut command = Command::new("tar");
    command
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&content)
        .arg("hello.txt");
    run(command, None, Duration::from_secs(30)).success();
    let layer_bytes = std::fs::read(&tar).unwrap_or_else(|e| panic!("read: {e}"));
    let (layer, layer_size) = put_blob(&layer_bytes);
    let mut index_entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [layer]}
        }))
        .unwrap_or_default();
        let (config, config_size) = put_blob(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}]
        }))
        .unwrap_or_default();
        let (digest, size) = put_blob(&manifest);
        index_entries.push(json!({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": size,
            "platform": {"architecture": arch, "os": "linux"}
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": index_entries
    }))
    .unwrap_or_default();
    let (index_digest, index_size) = put_blob(&index);
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let layout_index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_INDEX, "digest": index_digest, "size": index_size,
            "annotations": {"org.opencontainers.image.ref.name": "v1"}
        }]
    });
    std::fs::write(layout.join("index.json"), layout_index.to_string())
        .unwrap_or_else(|e| panic!("write: {e}"));

    let remote = format!("docker://{registry}/e2e/multi:v1");
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-cert-dir",
        &certs,
        &format!("oci:{}:v1", layout.display()),
        &remote,
    ])
    .success();
    let raw = skopeo(&["inspect", "--raw", "--cert-dir", &certs, &remote]).success();
    assert_eq!(
        raw.stdout.trim().as_bytes(),
        index.as_slice(),
        "the registry must serve the index byte for byte\n{}",
        raw.report()
    );
    let amd64 = skopeo(&[
        "inspect",
        "--override-arch",
        "amd64",
        "--override-os",
        "linux",
        "--cert-dir",
        &certs,
        &remote,
    ])
    .success()
    .json();
    assert_eq!(amd64["Architecture"], "amd64");
    assert_eq!(amd64["Layers"], json!([layer]));
    // Copying to another repository of the same registry makes skopeo mount the blobs across.
    skopeo(&[
        "copy",
        "--all",
        "--src-cert-dir",
        &certs,
        "--dest-cert-dir",
        &certs,
        &remote,
        &format!("docker://{registry}/e2e/copy:latest"),
    ])
    .success();

    let out = tmp.path().join("out");
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-cert-dir",
        &certs,
        &format!("docker://{registry}/e2e/copy:latest"),
        &format!("oci:{}:pulled", out.display()),
    ])
    .success();
    let pulled_index: Value = serde_json::from_slice(
        &std::fs::read(out.join("index.json")).unwrap_or_else(|e| panic!("read: {e}")),
    )
    .unwrap_or_else(|e| panic!("index.json: {e}"));
    assert_eq!(pulled_index["manifests"][0]["digest"], json!(index_digest));
    for entry in &index_entries {
        let hex = entry["digest"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("sha256:");
        assert!(
            out.join("blobs/sha256").join(hex).is_file(),
            "missing {hex}"
        );
    }
    let layer_hex = layer.trim_start_matches("sha256:");
    assert_eq!(
        std::fs::read(out.join("blobs/sha256").join(layer_hex)).unwrap_or_default(),
        layer_bytes
    );

    let http = Http::new(&controller, &tmp.path().join("http"));
    let admin = controller.admin_credentials();
    let tags = http
        .get(As::User(admin), "/v2/e2e/copy/tags/list")
        .expect(200);
    assert_eq!(tags.json()["tags"], json!(["latest"]));
    let catalog = http.get(As::User(admin), "/v2/_catalog?n=1").expect(200);
    assert_eq!(catalog.json(), json!({"repositories": ["e2e/copy"]}));
    assert!(
        catalog
            .header("link")
            .is_some_and(|l| l.contains("last=e2e/copy")),
        "{}",
        catalog.headers
    );
}

#[test]
fn errors_and_roles() {
    let tmp = temp_dir("e2e-registry-errors");
    let controller = Controller::start(&tmp.path().join("controller"), free_port());
    let registry = format!("127.0.0.1:{}", controller.port());
    let admin = controller.admin_credentials().clone();
    let http = Http::new(&controller, &tmp.path().join("http"));

    // Anonymous callers get the distribution 401 with a challenge.
    let anonymous = http
        .get(As::Anonymous, "/v2/")
        .expect_error(401, "UNAUTHORIZED");
    assert!(
        anonymous.header("www-authenticate").is_some(),
        "{}",
        anonymous.headers
    );
    http.get(As::Anonymous, "/v2/apps/x/tags/list")
        .expect_error(401, "UNAUTHORIZED");
    let ping = http.get(As::User(&admin), "/v2/").expect(200);
    assert_eq!(
        ping.header("docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );

    // A monolithic upload whose digest does not match its content.
    let wrong = sha256(b"something else");
    http.request(
        As::User(&admin),
        "POST",
        &format!("/v2/apps/x/blobs/uploads/?digest={wrong}"),
        &[],
        Some(b"the content"),
    )
    .expect_error(400, "DIGEST_INVALID");
    // The same through a session.
    let started = http
        .request(
            As::User(&admin),
            "POST",
            "/v2/apps/x/blobs/uploads/",
            &[],
            None,
        )
        .expect(202);
    let location = started.header("location").unwrap_or_default();
    http.request(
        As::User(&admin),
        "PATCH",
        &location,
        &[],
        Some(b"the content"),
    )
    .expect(202);
    http.request(
        As::User(&admin),
        "PUT",
        &format!("{location}?digest={wrong}"),
        &[],
        None,
    )
    .expect_error(400, "DIGEST_INVALID");

    http.get(As::User(&admin), &format!("/v2/apps/x/blobs/{wrong}"))
        .expect_error(404, "BLOB_UNKNOWN");
    http.get(As::User(&admin), "/v2/apps/x/manifests/nope")
        .expect_error(404, "MANIFEST_UNKNOWN");

    // A manifest whose config was never pushed.
    let layer = b"a layer".to_vec();
    let layer_digest = sha256(&layer);
    http.request(
        As::User(&admin),
        "POST",
        &format!("/v2/apps/x/blobs/uploads/?digest={layer_digest}"),
        &[],
        Some(&layer),
    )
    .expect(201);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": wrong, "size": 14},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}]
    }))
    .unwrap_or_default();
    let content_type = format!("Content-Type: {OCI_MANIFEST}");
    http.request(
        As::User(&admin),
        "PUT",
        "/v2/apps/x/manifests/v1",
        &[&content_type],
        Some(&manifest),
    )
    .expect_error(400, "MANIFEST_BLOB_UNKNOWN");

    // An admin pushes; a view user pulls but cannot push or delete.
    let wasm_path = tmp.path().join("app.wasm");
    std::fs::write(&wasm_path, wasm_component(1024)).unwrap_or_else(|e| panic!("write: {e}"));
    let wasm_arg = wasm_path.display().to_string();
    let digest = controller
        .edgectl(&["push", &wasm_arg, &format!("{registry}/apps/app:v1")])
        .success()
        .stdout
        .trim()
        .to_string();
    let (view_conf, view) = view_user(&controller, tmp.path());
    let pulled = http
        .get(As::User(&view), "/v2/apps/app/manifests/v1")
        .expect(200);
    assert_eq!(pulled.header("docker-content-digest"), Some(digest.clone()));
    http.get(As::User(&view), "/v2/apps/app/tags/list")
        .expect(200);
    http.request(
        As::User(&view),
        "POST",
        "/v2/apps/app/blobs/uploads/",
        &[],
        None,
    )
    .expect_error(403, "DENIED");
    http.request(
        As::User(&view),
        "DELETE",
        &format!("/v2/apps/app/manifests/{digest}"),
        &[],
        None,
    )
    .expect_error(403, "DENIED");
    controller
        .edgectl_as(
            &view_conf,
            &["push", &wasm_arg, &format!("{registry}/apps/app:v2")],
        )
        .failure()
        .stderr_has("DENIED");

    // Not a Wasm file: one line on stderr, exit 1, nothing sent.
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "not wasm").unwrap_or_else(|e| panic!("write: {e}"));
    controller
        .edgectl(&[
            "push",
            &text.display().to_string(),
            &format!("{registry}/apps/app:v3"),
        ])
        .failure()
        .stderr_has("not a WebAssembly binary");
    http.get(As::User(&admin), "/v2/apps/app/manifests/v3")
        .expect_error(404, "MANIFEST_UNKNOWN");

    // The admin deletes by digest; the tag goes with it.
    http.request(
        As::User(&admin),
        "DELETE",
        &format!("/v2/apps/app/manifests/{digest}"),
        &[],
        None,
    )
    .expect(202);
    http.get(As::User(&admin), "/v2/apps/app/manifests/v1")
        .expect_error(404, "MANIFEST_UNKNOWN");
}
