//! Content store tests on a temporary directory: load, list and gc without a registry.

use std::collections::HashSet;

use serde_json::json;

use super::super::pulled::ImageKind;
use super::*;

/// Stores an image with a config and one layer of `layer_len` bytes (content from `seed`);
/// returns its manifest digest.
fn put_image(
    store: &ContentStore,
    reference: &str,
    seed: u8,
    layer_len: usize,
    wasm: bool,
) -> Digest {
    let config = json!({"seed": seed}).to_string().into_bytes();
    let layer = vec![seed; layer_len];
    let (config_digest, layer_digest) = (Digest::of(&config), Digest::of(&layer));
    let (config_type, layer_type) = if wasm {
        ("application/vnd.wasm.config.v0+json", "application/wasm")
    } else {
        (
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config_type, "digest": config_digest.as_str(), "size": config.len()},
        "layers": [{"mediaType": layer_type, "digest": layer_digest.as_str(), "size": layer.len()}],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = Digest::of(&manifest);
    for (digest, bytes) in [
        (&config_digest, &config),
        (&layer_digest, &layer),
        (&manifest_digest, &manifest),
    ] {
        store.put_blob(digest, bytes).expect("put blob");
    }
    store
        .set_ref(reference, &manifest_digest, &manifest_digest)
        .expect("set ref");
    manifest_digest
}

fn image(text: &str) -> ImageRef {
    ImageRef::parse(text).expect("valid reference")
}

#[test]
fn load_reads_a_complete_image_and_only_that() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ContentStore::open(dir.path().join("images")).expect("open");
    assert!(store.load(&image("app:1")).expect("load").is_none());
    let digest = put_image(&store, "docker.io/library/app:1", 1, 100, true);
    let pulled = store.load(&image("app:1")).expect("load").expect("stored");
    assert_eq!(pulled.manifest_digest, digest.as_str());
    assert_eq!(pulled.kind, ImageKind::Wasm);
    assert_eq!(pulled.config, json!({"seed": 1}));
    let (layer_digest, path) = pulled.wasm_component().expect("one wasm layer");
    assert_eq!(std::fs::read(&path).expect("layer file"), vec![1; 100]);
    assert_eq!(layer_digest, Digest::of(&[1; 100]).as_str());

    // A layer gone missing makes the image absent, so that it is pulled again.
    std::fs::remove_file(path).expect("remove layer");
    assert!(store.load(&image("app:1")).expect("load").is_none());
}

#[test]
fn list_groups_references_by_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ContentStore::open(dir.path()).expect("open");
    let a = put_image(&store, "docker.io/library/a:1", 1, 1000, false);
    store
        .set_ref(&format!("docker.io/library/a@{a}"), &a, &a)
        .expect("digest ref");
    let b = put_image(&store, "docker.io/library/b:1", 2, 10, false);
    let listed = store.list().expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].digest, a.as_str());
    assert_eq!(
        listed[0].references,
        vec![
            "docker.io/library/a:1".to_owned(),
            format!("docker.io/library/a@{a}")
        ]
    );
    assert!(listed[0].size > 1000, "{listed:?}");
    assert_eq!(listed[1].digest, b.as_str());
    assert_eq!(
        listed[1].references,
        vec!["docker.io/library/b:1".to_owned()]
    );
    assert_eq!(
        ImageKind::Oci,
        store
            .load(&image("b:1"))
            .expect("load")
            .expect("stored")
            .kind
    );
}

#[tokio::test]
async fn gc_frees_space_only_over_the_watermark_and_keeps_what_is_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ContentStore::open(dir.path()).expect("open");
    let old = put_image(&store, "docker.io/library/old:1", 1, 10_000, false);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let used = put_image(&store, "docker.io/library/used:1", 2, 10_000, false);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let recent = put_image(&store, "docker.io/library/recent:1", 3, 10_000, false);
    let orphan = vec![9u8; 5000];
    store
        .put_blob(&Digest::of(&orphan), &orphan)
        .expect("orphan");
    std::fs::write(store.partial_path(&Digest::of(b"x")), vec![0; 3000]).expect("partial");
    let keep: HashSet<String> = [used.to_string()].into();

    let report = store.gc(&keep, 1 << 20).await.expect("gc");
    assert_eq!(
        report.removed_blobs, 0,
        "under the watermark nothing goes: {report:?}"
    );
    assert!(store.has_blob(&Digest::of(&orphan), 5000));

    // Over the watermark, the orphan and the partial download are enough to get under 32 KB.
    let report = store.gc(&keep, 32_000).await.expect("gc");
    assert_eq!(report.removed_blobs, 1, "{report:?}");
    assert!(report.removed_references.is_empty(), "{report:?}");
    assert!(
        report.freed_bytes >= 8000 && report.store_bytes <= 32_000,
        "{report:?}"
    );
    assert!(!store.has_blob(&Digest::of(&orphan), 5000));
    assert!(!store.partial_path(&Digest::of(b"x")).exists());

    // Still over: the least recently pulled unused image goes, the kept one stays.
    let report = store.gc(&keep, 25_000).await.expect("gc");
    assert_eq!(
        report.removed_references,
        vec!["docker.io/library/old:1".to_owned()]
    );
    assert!(store.load(&image("old:1")).expect("load").is_none());
    assert!(!store.has_blob(&old, 1) && !store.has_blob(&Digest::of(&[1; 10_000]), 10_000));
    assert!(store.load(&image("recent:1")).expect("load").is_some());

    // Nothing but the kept image fits: everything else goes, the kept image never does.
    let report = store.gc(&keep, 0).await.expect("gc");
    assert_eq!(
        report.removed_references,
        vec!["docker.io/library/recent:1".to_owned()]
    );
    assert!(store.load(&image("used:1")).expect("load").is_some());
    assert!(!store.has_blob(&recent, 1));
    let listed = store.list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest, used.as_str());
}

#[test]
fn open_removes_interrupted_writes_and_keeps_partial_downloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ContentStore::open(dir.path()).expect("open");
    let partial = store.partial_path(&Digest::of(b"y"));
    std::fs::write(&partial, b"half").expect("partial");
    let interrupted = dir.path().join("tmp/123-0.new");
    std::fs::write(&interrupted, b"junk").expect("interrupted write");
    drop(store);
    let _store = ContentStore::open(dir.path()).expect("reopen");
    assert!(partial.exists());
    assert!(!interrupted.exists());
}

#[test]
fn a_damaged_reference_file_is_not_an_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ContentStore::open(dir.path()).expect("open");
    put_image(&store, "docker.io/library/app:1", 1, 10, false);
    let refs: Vec<_> = std::fs::read_dir(dir.path().join("refs"))
        .expect("refs")
        .flatten()
        .collect();
    std::fs::write(refs[0].path(), "sha256:../../etc/passwd\n").expect("damage");
    assert!(store.load(&image("app:1")).expect("load").is_none());
    assert!(store.list().expect("list").is_empty());
}
