//! The agent's image puller and content store: OCI distribution pulls of Wasm components and
//! container images into `DATA_DIR/images/`.
//!
//! # Why not the `oci-client` crate
//!
//! The controller's built-in registry authenticates nodes by their node certificate (mutual
//! TLS), and `oci-client` cannot present a client certificate. It also depends on reqwest 0.13
//! while the workspace uses reqwest 0.12: a second HTTP and TLS stack in a binary meant for
//! small devices. Pulling is a small part of the distribution API (two GETs, a token flow), so
//! this module speaks it itself over the workspace's reqwest with rustls configurations built
//! here (ring only, as everywhere in Edgeplane).
//!
//! # API
//!
//! ```text
//! ImageRef::parse("nginx:1.27") -> Result<ImageRef, ReferenceError>   // docker.io/library/nginx:1.27
//! ContentStore::open(DATA_DIR/images) -> Result<ContentStore, StoreError>
//! Puller::new(store, PullerConfig { controller: Some(ControllerRegistry { .. }), .. })
//! puller.pull(&image, PullPolicy, &[(host, user, password)]).await -> Result<PulledImage, PullError>
//! pulled.wasm_component() -> Option<(&str digest, PathBuf)>
//! store.load(&image)      -> Result<Option<PulledImage>, StoreError>   // no network
//! store.list()            -> Result<Vec<StoredImage>, StoreError>      // node status images
//! store.gc(&keep, high_watermark_bytes).await -> Result<GcReport, StoreError>
//! ```
//!
//! # Invariants
//!
//! - **A digest from outside is validated (`sha256:` + 64 lowercase hex) before it names a
//!   file**; manifests are capped at 4 MiB and configs at 4 MiB; a blob is refused as soon as
//!   it runs past its declared size.
//! - **A blob enters `blobs/` only after its digest matched, and a reference is written only
//!   after every blob of its image is stored**, so a reference always names a complete image.
//! - **`IfNotPresent` and `Never` with a stored image never touch the network** (a pod start
//!   with a cached image reads a few small files).
//! - Layers stream to disk; an interrupted download is resumed with `Range`, a few times
//!   within the pull and then by the next pull; concurrent pulls of one digest share one
//!   download; a stored blob is never fetched again.
//! - Requests to the controller's registry present the node identity and trust only the
//!   cluster CA; other registries get public roots plus the cluster CA and no identity.
//! - Pull errors read as the kubelet's (`failed to pull image "x": ...`), with
//!   [`PullError::reason`] giving `ErrImagePull` or `ErrImageNeverPull`.

mod auth;
mod blob_download;
mod digest;
mod error;
mod manifest;
mod platform;
mod pulled;
mod puller;
mod reference;
mod registry_client;
mod store;
mod store_gc;
mod transport;

pub use digest::{Digest, InvalidDigest};
pub use error::{PullError, PullFailure, PullerSetupError, StoreError};
pub use platform::Platform;
pub use pulled::{ImageKind, Layer, PulledImage};
pub use puller::{Puller, PullerConfig};
pub use reference::{DOCKER_HUB, ImageRef, ReferenceError};
pub use store::{ContentStore, StoredImage};
pub use store_gc::GcReport;
pub use transport::ControllerRegistry;
