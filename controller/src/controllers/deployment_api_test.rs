//! Both controllers' runners against a real single-node store and `Api`: admission accepts
//! what they write, a rollout completes through real writes, Events are recorded, and a
//! settled cluster costs no writes.

use std::time::Duration;

use super::*;
use crate::apiserver::Api;
use crate::controllers::{ControllerOptions, ObjectCache, events, namespace, replicaset};
use crate::store::{Bootstrap, Store, StoreConfig};

/// reqwest is built without a default TLS provider; the store never dials out here.
fn loopback_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .expect("http client")
}

async fn context(dir: &std::path::Path) -> Context {
    let config = StoreConfig::new(
        dir.to_path_buf(),
        1,
        "http://127.0.0.1:1".into(),
        loopback_client(),
        Bootstrap::SingleNode,
    );
    let store = tokio::time::timeout(Duration::from_secs(20), Store::open(config))
        .await
        .expect("store opens in time")
        .expect("store opens");
    let api = Api::new(store);
    namespace::ensure_defaults(&api)
        .await
        .expect("default namespaces");
    Context {
        events: events::Recorder::new(api.clone()),
        api,
        options: ControllerOptions::default(),
    }
}

/// One controller pass over a fresh snapshot, as `controllers::pass` runs them.
async fn pass(ctx: &Context) {
    let snapshot = ObjectCache::sync(ctx.api.store())
        .expect("cache syncs")
        .snapshot();
    reconcile(ctx, &snapshot).await.expect("deployment pass");
    replicaset::reconcile(ctx, &snapshot)
        .await
        .expect("replica set pass");
}

/// The kubelet's part: every pod runs and is Ready.
async fn run_pods(ctx: &Context) {
    let pods = resource("", "v1", "pods");
    let snapshot = ObjectCache::sync(ctx.api.store())
        .expect("cache syncs")
        .snapshot();
    for pod in of_kind(&snapshot, "", "pods") {
        if crate::controllers::workload::is_pod_ready(pod) {
            continue;
        }
        let mut running = (**pod).clone();
        running["status"] = json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": crate::apiserver::api::now_rfc3339()}]});
        let (namespace, name) = key_of(pod);
        ctx.api
            .update(
                pods,
                Some(namespace),
                name,
                running,
                Part::Status,
                WriteOptions::default(),
            )
            .await
            .expect("pod status");
    }
}

async fn deployment(ctx: &Context) -> Value {
    ctx.api
        .get(
            resource("apps", "v1", "deployments"),
            Some("default"),
            "web",
        )
        .await
        .expect("deployment")
}

/// Passes (with pods turning Ready) until `done` holds for the deployment.
async fn until(ctx: &Context, what: &str, done: impl Fn(&Value) -> bool) {
    for _ in 0..60 {
        pass(ctx).await;
        run_pods(ctx).await;
        if done(&deployment(ctx).await) {
            return;
        }
    }
    panic!("{what}: not reached: {:#}", deployment(ctx).await);
}

fn rolled_out(d: &Value, replicas: i64) -> bool {
    let status = |field: &str| int_at(d, &format!("/status/{field}"), -1);
    status("observedGeneration") >= int_at(d, "/metadata/generation", 1)
        && status("updatedReplicas") == replicas
        && status("replicas") == replicas
        && status("availableReplicas") == replicas
}

#[tokio::test]
async fn a_rollout_through_the_api_completes_and_settles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path()).await;
    let deployments = resource("apps", "v1", "deployments");
    let web = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default",
                     "annotations": {"kubernetes.io/change-cause": "first"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "web:v1"}]}}},
    });
    ctx.api
        .create(deployments, Some("default"), web, WriteOptions::default())
        .await
        .expect("deployment created");
    until(&ctx, "first rollout", |d| rolled_out(d, 3)).await;

    let mut d = deployment(&ctx).await;
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:v2");
    d["metadata"]["annotations"]["kubernetes.io/change-cause"] = json!("second");
    ctx.api
        .update(
            deployments,
            Some("default"),
            "web",
            d,
            Part::Main,
            WriteOptions::default(),
        )
        .await
        .expect("template changed");
    until(&ctx, "second rollout", |d| {
        let complete = d
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| {
                str_at(c, "/type") == "Progressing"
                    && str_at(c, "/reason") == "NewReplicaSetAvailable"
            });
        rolled_out(d, 3) && complete
    })
    .await;
    let d = deployment(&ctx).await;
    assert_eq!(
        str_at(
            &d,
            "/metadata/annotations/deployment.kubernetes.io~1revision"
        ),
        "2"
    );

    // The replica sets: the new one has every pod and the change cause, the old one none.
    let snapshot = ObjectCache::sync(ctx.api.store())
        .expect("cache syncs")
        .snapshot();
    let sets: Vec<&Arc<Value>> = of_kind(&snapshot, "apps", "replicasets").collect();
    assert_eq!(sets.len(), 2);
    for set in &sets {
        let revision = str_at(
            set,
            "/metadata/annotations/deployment.kubernetes.io~1revision",
        );
        let (want, cause) = if revision == "2" {
            (3, "second")
        } else {
            (0, "first")
        };
        assert_eq!(
            int_at(set, "/spec/replicas", -1),
            want,
            "revision {revision}"
        );
        assert_eq!(
            str_at(set, "/metadata/annotations/kubernetes.io~1change-cause"),
            cause
        );
    }
    let reasons: Vec<&str> = of_kind(&snapshot, "", "events")
        .map(|e| str_at(e, "/reason"))
        .collect();
    for reason in ["ScalingReplicaSet", "SuccessfulCreate", "SuccessfulDelete"] {
        assert!(
            reasons.contains(&reason),
            "no {reason} event in {reasons:?}"
        );
    }

    // Settled: another pass writes nothing.
    pass(&ctx).await;
    let before = ctx.api.store().current_revision();
    pass(&ctx).await;
    assert_eq!(
        ctx.api.store().current_revision(),
        before,
        "a settled pass wrote"
    );
}
