//! Image pulls against an in-process OCI registry on 127.0.0.1: tags and digests, index
//! platform selection, digest checks, Basic and token authentication, the node identity for
//! the controller's registry, pull policies with the registry gone, resumed downloads, shared
//! concurrent downloads and garbage collection.

#[path = "image_pull/downloads.rs"]
mod downloads;
#[path = "image_pull/registry.rs"]
mod registry;

use std::path::Path;
use std::time::{Duration, Instant};

use edge_agent::image::{
    ContentStore, ControllerRegistry, ImageKind, ImageRef, Platform, PullError, PulledImage,
    Puller, PullerConfig,
};
use edge_wire::link::PullPolicy;
use registry::{Auth, PASSWORD, Pki, TestRegistry, USER};
use serde_json::json;

const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A puller on `dir` whose controller registry is `controller` (or an address nothing listens
/// on), trusting the test CA.
fn puller(
    dir: &Path,
    pki: &Pki,
    controller: Option<&TestRegistry>,
    platforms: Vec<Platform>,
) -> Puller {
    let store = ContentStore::open(dir.join("images")).expect("open store");
    let config = PullerConfig {
        controller: Some(ControllerRegistry {
            host_port: controller.map_or("127.0.0.1:1".to_owned(), |r| r.addr.to_string()),
            ca_pem: pki.ca.cert_pem().to_owned(),
            cert_pem: pki.node.cert_pem.clone(),
            key_pem: pki.node.key_pem.clone(),
        }),
        platforms: if platforms.is_empty() {
            PullerConfig::default().platforms
        } else {
            platforms
        },
        ..PullerConfig::default()
    };
    Puller::new(store, config).expect("puller")
}

fn image(text: &str) -> ImageRef {
    ImageRef::parse(text).expect("valid reference")
}

/// Publishes a Wasm component image `repo:tag` whose component is `component`.
fn publish_wasm(registry: &TestRegistry, repo: &str, tag: &str, component: &[u8]) -> String {
    registry.publish(
        repo,
        tag,
        (WASM_CONFIG, &json!({})),
        &[("application/wasm", component)],
    )
}

fn no_creds() -> Vec<(String, String, String)> {
    Vec::new()
}

fn creds(registry: &TestRegistry, password: &str) -> Vec<(String, String, String)> {
    vec![(
        registry.addr.to_string(),
        USER.to_owned(),
        password.to_owned(),
    )]
}

fn component_bytes(pulled: &PulledImage) -> Vec<u8> {
    let (_, path) = pulled.wasm_component().expect("a wasm component");
    std::fs::read(path).expect("component file")
}

/// Where the store in `dir` keeps the partial download of blob `digest`.
fn partial_path(dir: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    dir.join("images/tmp").join(format!("{hex}.partial"))
}

fn partial_downloads(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("images/tmp"))
        .expect("tmp dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "partial"))
        .count()
}

#[tokio::test]
async fn pull_by_tag_then_by_digest() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Anonymous, &pki).await;
    let digest = publish_wasm(&registry, "apps/hello", "v1", b"\0asm component v1");
    let dir = tempfile::tempdir().expect("tempdir");
    let puller = puller(dir.path(), &pki, None, vec![]);

    let by_tag = image(&registry.reference("apps/hello:v1"));
    let pulled = puller
        .pull(&by_tag, PullPolicy::Always, &no_creds())
        .await
        .expect("pull by tag");
    assert_eq!(pulled.kind, ImageKind::Wasm);
    assert_eq!(pulled.manifest_digest, digest);
    assert_eq!(pulled.platform_manifest_digest, digest);
    assert_eq!(pulled.config, json!({}));
    assert_eq!(component_bytes(&pulled), b"\0asm component v1");
    assert_eq!(registry.count("/manifests/v1"), 1);
    assert_eq!(
        registry.count("/blobs/"),
        2,
        "config and layer: {:?}",
        registry.log()
    );

    // The tag pull filed the digest too: a pull by digest is a cache hit.
    let by_digest = image(&registry.reference(&format!("apps/hello@{digest}")));
    let requests = registry.log().len();
    let cached = puller
        .pull(&by_digest, PullPolicy::IfNotPresent, &no_creds())
        .await
        .expect("cached");
    assert_eq!(cached.manifest_digest, digest);
    assert_eq!(
        registry.log().len(),
        requests,
        "a cached pull makes no request"
    );

    // A fresh store pulls by digest from the registry, asking for the manifest by its digest.
    let fresh_dir = tempfile::tempdir().expect("tempdir");
    let fresh = puller_for_store(fresh_dir.path(), &pki);
    let pulled = fresh
        .pull(&by_digest, PullPolicy::Always, &no_creds())
        .await
        .expect("pull by digest");
    assert_eq!(component_bytes(&pulled), b"\0asm component v1");
    assert_eq!(registry.count(&format!("/manifests/{digest}")), 1);

    let listed = puller.store().list().expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].digest, digest);
    assert_eq!(
        listed[0].references,
        vec![
            registry.reference("apps/hello:v1"),
            format!("{}@{digest}", registry.reference("apps/hello")),
        ]
    );
}

fn puller_for_store(dir: &Path, pki: &Pki) -> Puller {
    puller(dir, pki, None, vec![])
}

#[tokio::test]
async fn an_index_is_followed_to_the_node_platform() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Anonymous, &pki).await;
    let native = Platform::native();
    let platforms = [
        json!({"os": "linux", "architecture": "amd64"}),
        json!({"os": "linux", "architecture": "arm64", "variant": "v8"}),
        json!({"os": "linux", "architecture": "arm", "variant": "v7"}),
        json!({"os": "linux", "architecture": "riscv64"}),
    ];
    let mut entries = Vec::new();
    let mut native_layer = None;
    for (i, platform) in platforms.iter().enumerate() {
        let layer = format!("layer of {platform}").into_bytes();
        let digest = registry.publish(
            "apps/web",
            &format!("p{i}"),
            (OCI_CONFIG, &json!({"i": i})),
            &[(TAR_GZIP, &layer)],
        );
        let arch = platform["architecture"].as_str().unwrap_or_default();
        if arch == native.architecture {
            native_layer = Some(layer);
        }
        entries.push((platform.clone(), digest));
    }
    let entries: Vec<_> = entries
        .iter()
        .map(|(p, d)| (p.clone(), d.as_str()))
        .collect();
    let index = registry.publish_index("apps/web", "multi", &entries);
    let dir = tempfile::tempdir().expect("tempdir");
    let reference = image(&registry.reference("apps/web:multi"));

    let pulled = puller(dir.path(), &pki, None, vec![])
        .pull(&reference, PullPolicy::IfNotPresent, &no_creds())
        .await
        .expect("pull the index");
    assert_eq!(pulled.kind, ImageKind::Oci);
    assert_eq!(pulled.manifest_digest, index);
    assert_ne!(pulled.platform_manifest_digest, index);
    assert_eq!(pulled.layers.len(), 1);
    let layer = std::fs::read(&pulled.layers[0].path).expect("layer");
    assert_eq!(Some(layer), native_layer, "the native platform's layer");
    assert_eq!(
        registry.count("/blobs/"),
        2,
        "only the chosen platform's blobs: {:?}",
        registry.log()
    );

    // A node no entry fits gets Docker's message.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let mips = vec![Platform::new("linux", "mips64le", None)];
    let err = puller(other_dir.path(), &pki, None, mips)
        .pull(&reference, PullPolicy::IfNotPresent, &no_creds())
        .await
        .expect_err("no platform");
    assert_eq!(
        err.to_string(),
        format!(
            "failed to pull image \"{}\": no matching manifest for linux/mips64le in the manifest list entries",
            reference.as_written()
        )
    );
    assert_eq!(err.reason(), "ErrImagePull");

    // A Wasm entry serves a node whose native platform is missing.
    let wasm = publish_wasm(&registry, "apps/web", "wasm-only", b"\0asm from index");
    let wasm_index = registry.publish_index(
        "apps/web",
        "wasm",
        &[
            (
                json!({"os": "linux", "architecture": "s390x"}),
                entries[0].1,
            ),
            (
                json!({"os": "wasip2", "architecture": "wasm"}),
                wasm.as_str(),
            ),
        ],
    );
    let wasm_dir = tempfile::tempdir().expect("tempdir");
    let riscv_then_wasm = vec![Platform::new("linux", "riscv64", None), Platform::wasm()];
    let pulled = puller(wasm_dir.path(), &pki, None, riscv_then_wasm)
        .pull(
            &image(&registry.reference("apps/web:wasm")),
            PullPolicy::Always,
            &no_creds(),
        )
        .await
        .expect("pull the wasm entry");
    assert_eq!(
        (
            pulled.manifest_digest.as_str(),
            pulled.platform_manifest_digest.as_str()
        ),
        (wasm_index.as_str(), wasm.as_str())
    );
    assert_eq!(component_bytes(&pulled), b"\0asm from index");
}

#[tokio::test]
async fn a_digest_mismatch_fails_and_stores_nothing() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Anonymous, &pki).await;
    let component = b"\0asm genuine component".to_vec();
    publish_wasm(&registry, "apps/bad", "v1", &component);
    registry.corrupt(&registry::digest(&component));
    let dir = tempfile::tempdir().expect("tempdir");
    let puller = puller(dir.path(), &pki, None, vec![]);
    let reference = image(&registry.reference("apps/bad:v1"));

    let err = puller
        .pull(&reference, PullPolicy::Always, &no_creds())
        .await
        .expect_err("corrupt layer");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "failed to pull image \"{}\": digest mismatch",
            reference.as_written()
        )),
        "{message}"
    );
    assert!(!err.is_retryable());
    assert!(puller.store().list().expect("list").is_empty());
    assert!(puller.store().load(&reference).expect("load").is_none());
    // Only the bad download goes: the config's, cancelled when the layer failed the pull, may
    // stay as a partial download for the next pull to resume.
    assert!(
        !partial_path(dir.path(), &registry::digest(&component)).exists(),
        "the bad download is not kept"
    );
    let blob_file = dir
        .path()
        .join("images/blobs/sha256")
        .join(&registry::digest(&component)[7..]);
    assert!(!blob_file.exists());

    // A manifest asked for by digest must have that digest, whatever the registry serves.
    let other = publish_wasm(&registry, "apps/bad", "v2", b"\0asm other");
    let wanted = registry::digest(b"what was asked for");
    let other_bytes = registry.manifest_bytes("apps/bad", &other);
    registry.put_manifest("apps/bad", &wanted, registry::OCI_MANIFEST, &other_bytes);
    let pinned = image(&registry.reference(&format!("apps/bad@{wanted}")));
    let err = puller
        .pull(&pinned, PullPolicy::Always, &no_creds())
        .await
        .expect_err("wrong manifest");
    assert!(
        err.to_string()
            .contains(&format!("digest mismatch for manifest {}", pinned)),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("expected {wanted}, got {other}")),
        "{err}"
    );
    assert!(puller.store().list().expect("list").is_empty());
}

#[tokio::test]
async fn the_token_flow_authenticates_and_refuses_bad_credentials() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Token, &pki).await;
    publish_wasm(&registry, "private/app", "v1", b"\0asm private");
    let reference = image(&registry.reference("private/app:v1"));

    let dir = tempfile::tempdir().expect("tempdir");
    let anonymous = puller(dir.path(), &pki, None, vec![])
        .pull(&reference, PullPolicy::Always, &no_creds())
        .await
        .expect_err("anonymous");
    assert!(
        anonymous.to_string().contains(": unauthorized: "),
        "{anonymous}"
    );

    let wrong = puller(dir.path(), &pki, None, vec![])
        .pull(&reference, PullPolicy::Always, &creds(&registry, "wrong"))
        .await
        .expect_err("wrong password");
    assert_eq!(wrong.reason(), "ErrImagePull");
    assert!(
        wrong.to_string().starts_with(&format!(
            "failed to pull image \"{}\": unauthorized: ",
            reference.as_written()
        )),
        "{wrong}"
    );

    let before = registry.count("/token");
    let pulled = puller(dir.path(), &pki, None, vec![])
        .pull(&reference, PullPolicy::Always, &creds(&registry, PASSWORD))
        .await
        .expect("pull with the token");
    assert_eq!(component_bytes(&pulled), b"\0asm private");
    assert_eq!(
        registry.count("/token"),
        before + 1,
        "one token serves the whole pull: {:?}",
        registry.log()
    );
    assert_eq!(
        registry.count("auth=Bearer"),
        3,
        "manifest, config and layer carry the token"
    );
}

#[tokio::test]
async fn basic_auth_with_wrong_credentials_is_unauthorized() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Basic, &pki).await;
    publish_wasm(&registry, "private/app", "v1", b"\0asm basic");
    let reference = image(&registry.reference("private/app:v1"));
    let dir = tempfile::tempdir().expect("tempdir");
    let puller = puller(dir.path(), &pki, None, vec![]);

    let err = puller
        .pull(&reference, PullPolicy::Always, &creds(&registry, "nope"))
        .await
        .expect_err("wrong");
    assert_eq!(
        err.to_string(),
        format!(
            "failed to pull image \"{}\": unauthorized: authentication required (the credentials for {} were refused)",
            reference.as_written(),
            registry.addr
        )
    );
    // Credentials for another registry are not sent.
    let elsewhere = vec![("ghcr.io".to_owned(), USER.to_owned(), PASSWORD.to_owned())];
    let err = puller
        .pull(&reference, PullPolicy::Always, &elsewhere)
        .await
        .expect_err("no creds");
    assert!(
        err.to_string().contains("no imagePullSecrets credentials"),
        "{err}"
    );

    let pulled = puller
        .pull(&reference, PullPolicy::Always, &creds(&registry, PASSWORD))
        .await
        .expect("right creds");
    assert_eq!(component_bytes(&pulled), b"\0asm basic");
}

#[tokio::test]
async fn the_node_identity_goes_to_the_controller_registry_only() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::ClientCert, &pki).await;
    publish_wasm(&registry, "apps/hello", "v1", b"\0asm from the controller");
    let reference = image(&registry.reference("apps/hello:v1"));

    let dir = tempfile::tempdir().expect("tempdir");
    let pulled = puller(dir.path(), &pki, Some(&registry), vec![])
        .pull(&reference, PullPolicy::Always, &no_creds())
        .await
        .expect("pull with the node certificate");
    assert_eq!(component_bytes(&pulled), b"\0asm from the controller");

    // The same registry, when it is not the controller, gets no client certificate.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let err = puller(other_dir.path(), &pki, None, vec![])
        .pull(&reference, PullPolicy::Always, &no_creds())
        .await
        .expect_err("no identity");
    assert!(err.to_string().contains("unauthorized"), "{err}");
}

#[tokio::test]
async fn if_not_present_and_never_use_the_store_without_the_network() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Anonymous, &pki).await;
    publish_wasm(&registry, "apps/cached", "v1", b"\0asm cached");
    let reference = image(&registry.reference("apps/cached:v1"));
    let dir = tempfile::tempdir().expect("tempdir");
    let puller = puller(dir.path(), &pki, None, vec![]);

    let err = puller
        .pull(&reference, PullPolicy::Never, &no_creds())
        .await
        .expect_err("never, not cached");
    assert!(matches!(err, PullError::NeverPull { .. }));
    assert_eq!(err.reason(), "ErrImageNeverPull");
    assert_eq!(
        err.to_string(),
        format!(
            "Container image \"{}\" is not present with pull policy of Never",
            reference.as_written()
        )
    );
    assert_eq!(registry.log().len(), 0, "Never makes no request");

    puller
        .pull(&reference, PullPolicy::IfNotPresent, &no_creds())
        .await
        .expect("first pull");
    registry.stop();

    let mut latencies = Vec::new();
    for policy in [PullPolicy::IfNotPresent, PullPolicy::Never]
        .into_iter()
        .cycle()
        .take(200)
    {
        let started = Instant::now();
        let pulled = puller
            .pull(&reference, policy, &no_creds())
            .await
            .expect("cached pull");
        latencies.push(started.elapsed());
        assert_eq!(component_bytes(&pulled), b"\0asm cached");
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    println!("cached pull p99: {p99:?}");
    assert!(p99 <= Duration::from_millis(50), "cached pull p99 {p99:?}");

    // Always must ask the registry, which is gone: a retryable failure.
    let err = puller
        .pull(&reference, PullPolicy::Always, &no_creds())
        .await
        .expect_err("registry stopped");
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("cannot reach the registry"),
        "{err}"
    );
}

#[tokio::test]
async fn a_plain_http_registry_is_used_only_when_configured() {
    let registry = TestRegistry::start_plain_http().await;
    publish_wasm(&registry, "apps/lan", "v1", b"\0asm over http");
    let reference = image(&registry.reference("apps/lan:v1"));
    let dir = tempfile::tempdir().expect("tempdir");

    let store = ContentStore::open(dir.path().join("images")).expect("store");
    let https_only = Puller::new(store.clone(), PullerConfig::default()).expect("puller");
    let err = https_only
        .pull(&reference, PullPolicy::Always, &no_creds())
        .await
        .expect_err("HTTPS to a plain HTTP registry");
    assert!(
        err.to_string().contains("cannot reach the registry"),
        "{err}"
    );

    let config = PullerConfig {
        plain_http_registries: vec![registry.addr.to_string()],
        ..PullerConfig::default()
    };
    let pulled = Puller::new(store, config)
        .expect("puller")
        .pull(&reference, PullPolicy::Always, &no_creds())
        .await
        .expect("plain HTTP pull");
    assert_eq!(component_bytes(&pulled), b"\0asm over http");
}
