//! The Edgeplane resource model: Kubernetes-compatible objects, their validation and defaulting, selectors, manifests, patches and tables. No I/O.

pub mod admission;
pub mod cron;
pub mod manifest;
pub mod meta;
pub mod patch;
pub mod printers;
pub mod quantity;
pub mod resource;
pub mod selector;
pub mod status;
pub mod validation;
