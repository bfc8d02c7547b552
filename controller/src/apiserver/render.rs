//! Content negotiation for responses: plain JSON objects and lists, server-side `Table`s (what
//! `kubectl get` prints) and `PartialObjectMetadata`, chosen from the `Accept` header.

use edge_api::resource::ResourceInfo;
use edge_api::status::Status;
use serde_json::{Value, json};

use super::error::ApiError;

/// How much of each object a Table row carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    Json,
    Table(IncludeObject),
    PartialMetadata,
}

impl Rendering {
    /// Picks the first acceptable media type of an `Accept` header, as Kubernetes does.
    pub fn negotiate(accept: Option<&str>, include_object: Option<&str>) -> Result<Self, ApiError> {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Ok(Rendering::Json);
        };
        let include = match include_object {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        };
        for media in accept.split(',') {
            let mut parts = media.split(';').map(str::trim);
            let essence = parts.next().unwrap_or("");
            let mut as_kind = None;
            for param in parts {
                if let Some(value) = param.strip_prefix("as=") {
                    as_kind = Some(value);
                }
            }
            if !matches!(
                essence,
                "application/json" | "application/*" | "*/*" | "application/yaml"
            ) {
                continue;
            }
            match as_kind {
                None => return Ok(Rendering::Json),
                Some("Table") => return Ok(Rendering::Table(include)),
                Some("PartialObjectMetadata" | "PartialObjectMetadataList") => {
                    return Ok(Rendering::PartialMetadata);
                }
                Some(_) => continue,
            }
        }
        Err(ApiError::new(Status::failure(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io (asked for {accept})"
            ),
        )))
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Rendering::Json => "application/json",
            Rendering::Table(_) => "application/json;as=Table;v=v1;g=meta.k8s.io",
            Rendering::PartialMetadata => {
                "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
            }
        }
    }

    /// One object as a response body or watch event object.
    pub fn render_one(&self, info: &ResourceInfo, object: &Value, with_headers: bool) -> Value {
        match self {
            Rendering::Json => object.clone(),
            Rendering::PartialMetadata => partial(object),
            Rendering::Table(include) => {
                let mut table = table(info, std::slice::from_ref(object), *include);
                if !with_headers {
                    table["columnDefinitions"] = Value::Null;
                }
                table
            }
        }
    }

    /// A list response.
    pub fn render_list(
        &self,
        info: &ResourceInfo,
        items: Vec<Value>,
        revision: u64,
        continue_token: Option<String>,
    ) -> Value {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if let Some(token) = continue_token {
            metadata["continue"] = Value::String(token);
        }
        match self {
            Rendering::Json => json!({
                "kind": info.list_kind(),
                "apiVersion": info.api_version(),
                "metadata": metadata,
                "items": items,
            }),
            Rendering::PartialMetadata => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
                "items": items.iter().map(partial).collect::<Vec<_>>(),
            }),
            Rendering::Table(include) => {
                let mut table = table(info, &items, *include);
                table["metadata"] = metadata;
                table
            }
        }
    }
}

fn table(info: &ResourceInfo, items: &[Value], include: IncludeObject) -> Value {
    let mut table = edge_api::printers::table(info, items, jiff::Timestamp::now());
    if let Some(rows) = table.get_mut("rows").and_then(Value::as_array_mut) {
        for (row, object) in rows.iter_mut().zip(items) {
            match include {
                IncludeObject::Metadata => {}
                IncludeObject::None => row["object"] = Value::Null,
                IncludeObject::Object => row["object"] = object.clone(),
            }
        }
    }
    table
}

fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_kubectl_sends() {
        let cases = [
            (None, Rendering::Json),
            (Some("application/json"), Rendering::Json),
            (Some("*/*"), Rendering::Json),
            (
                Some(
                    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
                ),
                Rendering::Table(IncludeObject::Metadata),
            ),
            (
                Some("application/vnd.kubernetes.protobuf,application/json"),
                Rendering::Json,
            ),
            (
                Some("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"),
                Rendering::PartialMetadata,
            ),
        ];
        for (accept, want) in cases {
            assert_eq!(
                Rendering::negotiate(accept, None).ok(),
                Some(want),
                "{accept:?}"
            );
        }
        assert_eq!(
            Rendering::negotiate(Some("text/html"), None)
                .err()
                .map(|e| e.code()),
            Some(406)
        );
    }
}
