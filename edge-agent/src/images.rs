//! The pod workers' image source: the agent's [`Puller`] over its content store, with the
//! controller's built-in registry reached with the node certificate.

use std::path::Path;

use edge_wire::link::PullPolicy;
use futures::future::BoxFuture;

use crate::identity::Credentials;
use crate::image::{ContentStore, ControllerRegistry, ImageRef, Puller, PullerConfig};
use crate::worker::{FetchedImage, ImageSource};

impl ImageSource for Puller {
    fn fetch<'a>(
        &'a self,
        image: &'a str,
        policy: PullPolicy,
        credentials: &'a [(String, String, String)],
    ) -> BoxFuture<'a, Result<FetchedImage, (bool, String)>> {
        Box::pin(async move {
            let reference = ImageRef::parse(image)
                .map_err(|e| (false, format!("failed to pull image {image:?}: {e}")))?;
            let pulled = self
                .pull(&reference, policy, credentials)
                .await
                .map_err(|e| (e.reason() == "ErrImageNeverPull", e.to_string()))?;
            Ok(FetchedImage {
                image_id: format!("{}@{}", reference.name(), pulled.manifest_digest),
                wasm: pulled
                    .wasm_component()
                    .map(|(digest, path)| (digest.to_owned(), path)),
            })
        })
    }
}

/// The image source of an agent with data in `data_dir`, joined to the controller at `server`.
pub fn source(
    data_dir: &Path,
    server: &str,
    credentials: &Credentials,
) -> Result<std::sync::Arc<dyn ImageSource>, String> {
    let store = ContentStore::open(data_dir.join("images")).map_err(|e| e.to_string())?;
    let host_port = server
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let config = PullerConfig {
        controller: Some(ControllerRegistry {
            host_port,
            ca_pem: credentials.ca_pem.clone(),
            cert_pem: credentials.cert_pem.clone(),
            key_pem: credentials.key_pem.clone(),
        }),
        ..PullerConfig::default()
    };
    let puller = Puller::new(store, config).map_err(|e| e.to_string())?;
    Ok(std::sync::Arc::new(puller))
}
