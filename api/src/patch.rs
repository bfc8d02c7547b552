//! Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch, and
//! the three-way patch used by client-side apply.

mod merge_keys;
mod strategic;
mod three_way;

use serde_json::Value;

pub use merge_keys::{ListStrategy, list_strategy};
pub use strategic::strategic_merge_patch;
pub use three_way::{LAST_APPLIED_ANNOTATION, three_way_merge_patch};

/// A patch that is malformed or cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("invalid patch: {0}")]
    Invalid(String),
    #[error("unable to apply patch: {0}")]
    Apply(String),
    #[error("{path}: map in list is missing its merge key {key:?}")]
    MissingMergeKey { path: String, key: String },
    #[error("{path}: unknown patch directive {directive:?}; expected replace, delete or merge")]
    UnknownDirective { path: String, directive: String },
}

/// Applies a JSON merge patch (RFC 7386): objects merge, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Applies a JSON patch (RFC 6902). On error `target` is left unchanged.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError::Invalid(e.to_string()))?;
    json_patch::patch(target, &ops).map_err(|e| PatchError::Apply(e.to_string()))
}

#[cfg(test)]
#[path = "patch/patch_test.rs"]
mod tests;
