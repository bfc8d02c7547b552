//! Server discovery (`/api`, `/apis`): the resource types and group versions the server actually serves.

use anyhow::Result;
use serde_json::Value;

use crate::client::Client;
use crate::resources::ResourceType;

/// The served group versions, core first, each group's preferred version first, as `api-versions` lists them.
pub async fn group_versions(client: &Client) -> Result<Vec<String>> {
    let mut versions = Vec::new();
    let core = client.get("/api").await?;
    for v in core
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(v) = v.as_str() {
            versions.push(v.to_string());
        }
    }
    let groups = client.get("/apis").await?;
    for group in groups
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for v in group
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(gv) = v.get("groupVersion").and_then(Value::as_str) {
                versions.push(gv.to_string());
            }
        }
    }
    Ok(versions)
}

/// The resource types of every group's preferred version.
pub async fn resource_types(client: &Client) -> Result<Vec<ResourceType>> {
    let mut preferred = Vec::new();
    let core = client.get("/api").await?;
    for v in core
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(v) = v.as_str() {
            preferred.push((String::new(), v.to_string(), format!("/api/{v}")));
        }
    }
    let groups = client.get("/apis").await?;
    for group in groups
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = group.get("name").and_then(Value::as_str).unwrap_or("");
        let version = group
            .pointer("/preferredVersion/version")
            .or_else(|| group.pointer("/versions/0/version"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if !name.is_empty() && !version.is_empty() {
            preferred.push((
                name.to_string(),
                version.to_string(),
                format!("/apis/{name}/{version}"),
            ));
        }
    }
    let mut types = Vec::new();
    for (group, version, path) in preferred {
        let list = client.get(&path).await?;
        types.extend(parse_resource_list(&group, &version, &list));
    }
    Ok(types)
}

/// Parses an `APIResourceList`; subresources (`deployments/scale`) only mark their parent.
pub fn parse_resource_list(group: &str, version: &str, list: &Value) -> Vec<ResourceType> {
    let entries: Vec<&Value> = list
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    entries
        .iter()
        .filter_map(|entry| {
            let name = entry.get("name").and_then(Value::as_str)?;
            if name.contains('/') {
                return None;
            }
            let kind = entry
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let singular = match entry.get("singularName").and_then(Value::as_str) {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => kind.to_ascii_lowercase(),
            };
            let scale = format!("{name}/scale");
            Some(ResourceType {
                group: group.to_string(),
                version: version.to_string(),
                kind,
                plural: name.to_string(),
                singular,
                namespaced: entry
                    .get("namespaced")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                short_names: strings(entry.get("shortNames")),
                categories: strings(entry.get("categories")),
                has_scale: entries
                    .iter()
                    .any(|e| e.get("name").and_then(Value::as_str) == Some(scale.as_str())),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_skip_subresources() {
        let list = serde_json::json!({"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment", "shortNames": ["deploy"]},
            {"name": "deployments/scale", "namespaced": true, "kind": "Scale"},
            {"name": "deployments/status", "namespaced": true, "kind": "Deployment"},
        ]});
        let types = parse_resource_list("apps", "v1", &list);
        assert_eq!(types.len(), 1);
        assert_eq!(types[0].short_names, ["deploy"]);
        assert!(types[0].has_scale);
        assert!(types[0].namespaced);
    }
}
