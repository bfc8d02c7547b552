//! Why a container's configuration could not be resolved, worded as the kubelet words it.

/// A container configuration the controller could not resolve. Its text becomes the
/// container's `config_error`, which users read in `kubectl describe pod`, so each message is the
/// kubelet's for the same problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configmap \"{name}\" not found")]
    ConfigMapNotFound { name: String },
    #[error("secret \"{name}\" not found")]
    SecretNotFound { name: String },
    #[error("persistentvolumeclaim \"{name}\" not found")]
    ClaimNotFound { name: String },
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("configmap references non-existent config key: {key}")]
    VolumeConfigMapKey { key: String },
    #[error("references non-existent secret key: {key}")]
    VolumeSecretKey { key: String },
    #[error("invalid base64 in key {key} of {kind} {namespace}/{name}")]
    Base64 {
        kind: &'static str,
        key: String,
        namespace: String,
        name: String,
    },
    #[error("unsupported fieldPath: {path}")]
    FieldPath { path: String },
    #[error("unsupported container resource : {resource}")]
    Resource { resource: String },
    #[error("invalid divisor {divisor:?} for {resource}")]
    Divisor { resource: String, divisor: String },
    #[error("container {name:?} named by resourceFieldRef does not exist")]
    NoSuchContainer { name: String },
    #[error("missing value for {names}")]
    SubPathMissing { names: String },
    #[error("expanded SubPath {path:?} must be a relative path without '..'")]
    SubPathInvalid { path: String },
    #[error("volume type {kind:?} is not supported by edgeplane agents")]
    UnsupportedVolume { kind: String },
    #[error("volume {name:?} is not defined in the pod")]
    NoSuchVolume { name: String },
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {cause}")]
    Mount {
        volume: String,
        cause: Box<ConfigError>,
    },
}
