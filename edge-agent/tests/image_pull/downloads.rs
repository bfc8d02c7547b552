//! Downloads: resuming an interrupted one (within the pull, and by the next pull when every
//! attempt is cut), sharing one between concurrent pulls, and the garbage collection of what
//! was downloaded.

use std::collections::HashSet;
use std::sync::Arc;

use edge_wire::link::PullPolicy;
use serde_json::json;

use super::registry::{self, Auth, Pki, TestRegistry};
use super::{
    OCI_CONFIG, TAR_GZIP, image, no_creds, partial_downloads, partial_path, publish_wasm, puller,
};

#[tokio::test]
async fn an_interrupted_download_resumes_with_range() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Anonymous, &pki).await;
    let layer: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let layer_digest = registry::digest(&layer);
    registry.publish(
        "apps/big",
        "v1",
        (OCI_CONFIG, &json!({})),
        &[(TAR_GZIP, &layer)],
    );
    registry.cut_next_download(&layer_digest);
    let dir = tempfile::tempdir().expect("tempdir");
    let puller = puller(dir.path(), &pki, None, vec![]);
    let reference = image(&registry.reference("apps/big:v1"));

    let pulled = puller
        .pull(&reference, PullPolicy::IfNotPresent, &no_creds())
        .await
        .expect("the pull resumes the cut download");
    assert_eq!(std::fs::read(&pulled.layers[0].path).expect("layer"), layer);
    let gets = layer_gets(&registry, &layer_digest);
    assert_eq!(gets.len(), 2, "{:?}", registry.log());
    assert!(
        !gets[0].contains("range=") && gets[0].ends_with("-> 200"),
        "{gets:?}"
    );
    let resumed_at = range_start(&gets[1]).expect("the second request asks for a range");
    assert!(
        resumed_at > 0 && resumed_at < layer.len() as u64,
        "it resumes where the cut left off: {gets:?}"
    );
    assert!(gets[1].ends_with("-> 206"), "{gets:?}");
    assert_eq!(partial_downloads(dir.path()), 0);
}

#[tokio::test]
async fn a_download_cut_on_every_attempt_is_resumed_by_the_next_pull() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Anonymous, &pki).await;
    let layer: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let layer_digest = registry::digest(&layer);
    registry.publish(
        "apps/flaky",
        "v1",
        (OCI_CONFIG, &json!({})),
        &[(TAR_GZIP, &layer)],
    );
    registry.cut_downloads(&layer_digest, usize::MAX);
    let dir = tempfile::tempdir().expect("tempdir");
    let puller = puller(dir.path(), &pki, None, vec![]);
    let reference = image(&registry.reference("apps/flaky:v1"));

    let err = puller
        .pull(&reference, PullPolicy::IfNotPresent, &no_creds())
        .await
        .expect_err("every attempt is cut");
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("download of {layer_digest} stopped after")),
        "{err}"
    );
    // Within the pull, each attempt asked for the rest of what the one before left.
    let gets = layer_gets(&registry, &layer_digest);
    assert!(gets.len() >= 2, "the pull retried: {gets:?}");
    let starts: Vec<u64> = gets.iter().map(|g| range_start(g).unwrap_or(0)).collect();
    assert!(
        starts[0] == 0 && starts.windows(2).all(|w| w[0] < w[1]),
        "{gets:?}"
    );
    assert_eq!(partial_downloads(dir.path()), 1);
    let partial = partial_path(dir.path(), &layer_digest);
    let kept = std::fs::metadata(&partial).expect("partial").len();
    assert!(kept > 0 && kept < layer.len() as u64, "{kept} bytes kept");

    registry.stop_cutting(&layer_digest);
    let pulled = puller
        .pull(&reference, PullPolicy::IfNotPresent, &no_creds())
        .await
        .expect("resumed");
    assert_eq!(std::fs::read(&pulled.layers[0].path).expect("layer"), layer);
    let gets = layer_gets(&registry, &layer_digest);
    let last = gets.last().expect("a request");
    assert_eq!(
        range_start(last),
        Some(kept),
        "the next pull resumes from the partial download: {gets:?}"
    );
    assert!(last.ends_with("-> 206"), "{gets:?}");
    assert_eq!(partial_downloads(dir.path()), 0);
}

/// The registry's log lines of the requests for blob `digest`.
fn layer_gets(registry: &TestRegistry, digest: &str) -> Vec<String> {
    registry
        .log()
        .into_iter()
        .filter(|l| l.contains(&format!("/blobs/{digest}")))
        .collect()
}

/// `N` of a log line's `range=bytes=N-`.
fn range_start(line: &str) -> Option<u64> {
    let (_, rest) = line.split_once("range=bytes=")?;
    rest.split('-').next()?.parse().ok()
}

#[tokio::test]
async fn concurrent_pulls_share_each_download() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Anonymous, &pki).await;
    let layers: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 500_000]).collect();
    let layer_refs: Vec<(&str, &[u8])> = layers.iter().map(|l| (TAR_GZIP, l.as_slice())).collect();
    registry.publish(
        "apps/shared",
        "v1",
        (OCI_CONFIG, &json!({"shared": true})),
        &layer_refs,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let puller = Arc::new(puller(dir.path(), &pki, None, vec![]));
    let reference = image(&registry.reference("apps/shared:v1"));

    let mut pulls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (puller, reference) = (puller.clone(), reference.clone());
        pulls.spawn(async move { puller.pull(&reference, PullPolicy::IfNotPresent, &[]).await });
    }
    let mut digests = HashSet::new();
    while let Some(result) = pulls.join_next().await {
        let pulled = result.expect("task").expect("pull");
        assert_eq!(pulled.layers.len(), 3);
        digests.insert(pulled.manifest_digest);
    }
    assert_eq!(digests.len(), 1);
    let blob_gets: Vec<String> = registry
        .log()
        .into_iter()
        .filter(|l| l.contains("/blobs/"))
        .collect();
    assert_eq!(
        blob_gets.len(),
        4,
        "config and three layers, once each: {blob_gets:?}"
    );

    // Always asks for the manifest again, but a stored blob is never fetched again.
    puller
        .pull(&reference, PullPolicy::Always, &[])
        .await
        .expect("always");
    assert_eq!(registry.count("/blobs/"), 4);
}

#[tokio::test]
async fn gc_removes_unused_images_and_keeps_the_ones_in_use() {
    let pki = Pki::new();
    let registry = TestRegistry::start(Auth::Anonymous, &pki).await;
    let used = publish_wasm(&registry, "apps/used", "v1", &vec![1; 200_000]);
    let unused = publish_wasm(&registry, "apps/unused", "v1", &vec![2; 200_000]);
    let dir = tempfile::tempdir().expect("tempdir");
    let puller = puller(dir.path(), &pki, None, vec![]);
    let (used_ref, unused_ref) = (
        image(&registry.reference("apps/used:v1")),
        image(&registry.reference("apps/unused:v1")),
    );
    for reference in [&used_ref, &unused_ref] {
        puller
            .pull(reference, PullPolicy::IfNotPresent, &[])
            .await
            .expect("pull");
    }
    let keep: HashSet<String> = [used.clone()].into();

    let report = puller
        .store()
        .gc(&keep, 1 << 30)
        .await
        .expect("gc under the watermark");
    assert_eq!(
        (report.removed_blobs, report.removed_references.len()),
        (0, 0)
    );

    let report = puller
        .store()
        .gc(&keep, 300_000)
        .await
        .expect("gc over the watermark");
    assert_eq!(
        report.removed_references,
        vec![
            registry.reference("apps/unused:v1"),
            format!("{}@{unused}", registry.reference("apps/unused")),
        ]
    );
    assert!(
        report.freed_bytes >= 200_000 && report.store_bytes <= 300_000,
        "{report:?}"
    );
    registry.stop();
    let listed = puller.store().list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest, used);
    puller
        .pull(&used_ref, PullPolicy::Never, &[])
        .await
        .expect("the used image stays");
    let err = puller
        .pull(&unused_ref, PullPolicy::Never, &[])
        .await
        .expect_err("removed");
    assert_eq!(err.reason(), "ErrImageNeverPull");
}
