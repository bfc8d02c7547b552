//! `Api`: the one internal path to the object store. HTTP handlers and controllers both go through it,
//! so admission, optimistic concurrency and finalizer rules hold for every writer.

use base64::Engine as _;
use edge_api::resource::ResourceInfo;
use edge_api::selector::{FieldSelector, LabelSelector};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::store::{Store, Stored};

/// The internal API: reads, and writes that pass admission before becoming Raft proposals.
#[derive(Clone)]
pub struct Api {
    pub(super) store: Store,
}

/// Options of a list request.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    /// `resourceVersion=0` lets the server answer from local state without a linearizable read.
    pub any_version: bool,
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub revision: u64,
    pub continue_token: Option<String>,
}

/// A stored object with its revision.
#[derive(Debug, Clone)]
pub struct Current {
    pub revision: u64,
    pub object: Value,
}

impl Api {
    pub fn new(store: Store) -> Self {
        Api { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads one object with a linearizable read.
    pub async fn get(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        Ok(self.current(info, namespace, name).await?.object)
    }

    /// Reads one object with its revision (linearizable).
    pub async fn current(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Current, ApiError> {
        self.store.read_barrier().await?;
        self.current_local(info, namespace, name)
    }

    /// Reads one object from this controller's applied state, without a read barrier.
    pub fn current_local(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Current, ApiError> {
        let key = info.key(namespace, name);
        match self.store.get(&key)? {
            Some(stored) => Ok(Current {
                revision: stored.revision,
                object: parse_stored(&stored)?,
            }),
            None => Err(ApiError::not_found(info, name)),
        }
    }

    /// Lists objects of one resource, in one namespace or all, filtered by selectors, one page at a time.
    pub async fn list(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        if !opts.any_version {
            self.store.read_barrier().await?;
        }
        let prefix = info.prefix(namespace);
        let (mut start_after, first_revision) = match &opts.continue_token {
            Some(token) => {
                let token = ContinueToken::decode(token)?;
                if !token.key.starts_with(&prefix) {
                    return Err(ApiError::bad_request(
                        "the continue token does not belong to this list",
                    ));
                }
                (Some(token.key), Some(token.revision))
            }
            None => (None, None),
        };
        let wanted = opts.limit.filter(|l| *l > 0);
        let mut items = Vec::new();
        let mut revision = first_revision;
        let mut continue_token = None;
        // Read in chunks so a selective filter over a large collection never holds everything at once.
        let chunk = wanted.map_or(500, |w| w.clamp(50, 500));
        loop {
            let listed = self
                .store
                .list(&prefix, start_after.as_deref(), Some(chunk))?;
            let revision = *revision.get_or_insert(listed.revision);
            let count = listed.items.len();
            let mut full_at = None;
            for (index, stored) in listed.items.into_iter().enumerate() {
                start_after = Some(stored.key.clone());
                let object = parse_stored(&stored)?;
                if matches(&object, opts) {
                    items.push(object);
                    if wanted.is_some_and(|w| items.len() >= w) {
                        full_at = Some(index);
                        break;
                    }
                }
            }
            if let Some(index) = full_at {
                // Only hand out a token when something may follow.
                if index + 1 < count || listed.more {
                    let key = start_after.clone().unwrap_or_default();
                    continue_token = Some(ContinueToken { key, revision }.encode());
                }
                break;
            }
            if !listed.more || count == 0 {
                break;
            }
        }
        Ok(ListPage {
            items,
            revision: revision.unwrap_or_else(|| self.store.current_revision()),
            continue_token,
        })
    }
}

/// Whether an object passes a list's label and field selectors.
pub fn matches(object: &Value, opts: &ListOptions) -> bool {
    let labels_ok = opts
        .labels
        .as_ref()
        .is_none_or(|s| s.matches(object.pointer("/metadata/labels")));
    labels_ok && opts.fields.as_ref().is_none_or(|s| s.matches(object))
}

pub(super) fn parse_stored(stored: &Stored) -> Result<Value, ApiError> {
    serde_json::from_slice(&stored.bytes).map_err(|e| {
        ApiError::internal(format!(
            "stored object {} is not valid JSON: {e}",
            stored.key
        ))
    })
}

/// The opaque `continue` value of a paged list: the last key returned and the list's revision.
struct ContinueToken {
    key: String,
    revision: u64,
}

impl ContinueToken {
    fn encode(&self) -> String {
        let raw = json!({"k": self.key, "rv": self.revision}).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    fn decode(token: &str) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::bad_request(
                "the provided continue parameter is too old or malformed; list again without it",
            )
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| invalid())?;
        let value: Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
        let key = value
            .get("k")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?
            .to_string();
        let revision = value
            .get("rv")
            .and_then(Value::as_u64)
            .ok_or_else(invalid)?;
        Ok(ContinueToken { key, revision })
    }
}

/// The current time as Kubernetes writes timestamps (RFC 3339, whole seconds, UTC).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_token_round_trips_and_rejects_garbage() {
        let token = ContinueToken {
            key: "/registry/core/pods/a/b".into(),
            revision: 42,
        }
        .encode();
        let back = ContinueToken::decode(&token).expect("decodes");
        assert_eq!(
            (back.key.as_str(), back.revision),
            ("/registry/core/pods/a/b", 42)
        );
        assert_eq!(
            ContinueToken::decode("not-base64!").err().map(|e| e.code()),
            Some(400)
        );
    }

    #[test]
    fn timestamps_have_whole_seconds() {
        let ts = now_rfc3339();
        assert_eq!(ts.len(), 20, "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
