//! Pods of the `bench` namespace through the controller's API: create, list, wait for a phase,
//! delete by label, and a watch that reports when each pod is first seen Running.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::procs::{Creds, Proc, http_client};

/// The API client for pods bound to one node; cheap to clone.
#[derive(Clone)]
pub(crate) struct PodApi {
    client: reqwest::Client,
    /// Without the request timeout, for watches.
    streaming: reqwest::Client,
    /// `https://127.0.0.1:PORT/api/v1/namespaces/bench/pods`.
    pods_url: String,
    node: String,
}

/// A Wasm service pod of the hello component bound to the benchmark's node: one container with
/// a containerPort (and a hostPort when given), labelled `app=NAME` and `role=ROLE`.
pub(crate) fn service_pod(name: &str, image: &str, host_port: Option<u16>) -> Value {
    let role = name.split('-').next().unwrap_or(name);
    let mut port = json!({"containerPort": 8080});
    if let Some(host_port) = host_port {
        port["hostPort"] = json!(host_port);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": name, "role": role}},
        "spec": {
            "runtimeClassName": "wasm",
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "hello", "image": image, "ports": [port]}]
        }
    })
}

impl PodApi {
    pub(crate) fn new(creds: &Creds, url: &str, node: &str) -> Result<PodApi> {
        let tls = edge_wire::tls::client_config(
            &creds.ca_pem,
            Some((creds.cert_pem.as_str(), creds.key_pem.as_str())),
        )?;
        let streaming = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .http1_only()
            .tcp_nodelay(true)
            .build()?;
        Ok(PodApi {
            client: http_client(Some(creds), false)?,
            streaming,
            pods_url: format!("{url}/api/v1/namespaces/bench/pods"),
            node: node.to_owned(),
        })
    }

    /// Creates `pod` on this node (answered 201).
    pub(crate) async fn create(&self, pod: &Value) -> Result<()> {
        let mut pod = pod.clone();
        pod["spec"]["nodeName"] = json!(self.node);
        let resp = self
            .client
            .post(&self.pods_url)
            .header("content-type", "application/json")
            .body(pod.to_string())
            .send()
            .await?;
        crate::expect_status(resp, &[201]).await
    }

    /// The pods matching `selector` and the list's resourceVersion.
    pub(crate) async fn list(&self, selector: &str) -> Result<(Vec<Value>, String)> {
        let list: Value = self
            .client
            .get(&self.pods_url)
            .query(&[("labelSelector", selector)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .context("pod list without resourceVersion")?
            .to_owned();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        Ok((items, rv))
    }

    /// Waits until `count` pods match `selector`, all in `phase`, while `agent` stays alive.
    pub(crate) async fn wait_phase(
        &self,
        selector: &str,
        count: usize,
        phase: &str,
        limit: Duration,
        agent: &mut Proc,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            agent.check_alive()?;
            let (items, _) = self.list(selector).await?;
            let done = items
                .iter()
                .filter(|p| p["status"]["phase"] == phase)
                .count();
            if items.len() == count && done == count {
                return Ok(());
            }
            if started.elapsed() > limit {
                let sample = items
                    .iter()
                    .find(|p| p["status"]["phase"] != phase)
                    .map(|p| p["status"].to_string())
                    .unwrap_or_default();
                bail!(
                    "{done} of {count} pods ({selector}) {phase} after {limit:?}; one that is not: {sample}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes every pod matching `selector` (deletecollection) and waits until they are gone,
    /// which is when the agent reported their containers stopped. Returns how long that took.
    pub(crate) async fn delete_all(&self, selector: &str, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        let resp = self
            .client
            .delete(&self.pods_url)
            .query(&[("labelSelector", selector)])
            .send()
            .await?;
        crate::expect_status(resp, &[200]).await?;
        loop {
            let (items, _) = self.list(selector).await?;
            if items.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                bail!(
                    "{} pods ({selector}) still there {limit:?} after their deletion",
                    items.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Opens a watch of the namespace's pods after `resource_version`; the receiver gets every
    /// event with the moment it arrived. Returns once the watch's response headers have
    /// arrived, so no later change is missed.
    pub(crate) async fn watch(
        &self,
        resource_version: &str,
    ) -> Result<mpsc::UnboundedReceiver<PodEvent>> {
        let request = self
            .streaming
            .get(&self.pods_url)
            .query(&[("watch", "1"), ("resourceVersion", resource_version)]);
        let (events, receiver) = mpsc::unbounded_channel();
        let (opened, is_open) = oneshot::channel();
        tokio::spawn(async move {
            let mut resp = match request.send().await {
                Ok(resp) if resp.status().is_success() => resp,
                Ok(resp) => {
                    let _ = opened.send(Err(anyhow::anyhow!("watch answered {}", resp.status())));
                    return;
                }
                Err(e) => {
                    let _ = opened.send(Err(e.into()));
                    return;
                }
            };
            let _ = opened.send(Ok(()));
            let mut buffer = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                let arrived = Instant::now();
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                        continue;
                    };
                    let object = &event["object"];
                    let Some(name) = object["metadata"]["name"].as_str() else {
                        continue;
                    };
                    let event = PodEvent {
                        name: name.to_owned(),
                        phase: object["status"]["phase"].as_str().unwrap_or("").to_owned(),
                        reported: object["status"]["containerStatuses"].is_array(),
                        arrived,
                    };
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), is_open)
            .await
            .context("the pod watch did not open within 10 s")?
            .context("the pod watch task ended")??;
        Ok(receiver)
    }
}

/// One watch event of a pod.
pub(crate) struct PodEvent {
    pub(crate) name: String,
    /// `status.phase` ("" when there is none yet).
    pub(crate) phase: String,
    /// Whether the status has container statuses, which only the agent reports.
    pub(crate) reported: bool,
    pub(crate) arrived: Instant,
}
