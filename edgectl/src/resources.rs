//! Resource types as edgectl sees them: resolving command-line names and manifest kinds to REST paths.

use anyhow::{Result, anyhow};
use edge_api::resource::ResourceInfo;
use serde_json::Value;

use crate::client::Client;
use crate::discovery;

/// A resource type with everything needed to build its paths and print its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub has_scale: bool,
}

impl From<&ResourceInfo> for ResourceType {
    fn from(info: &ResourceInfo) -> Self {
        ResourceType {
            group: info.group.to_string(),
            version: info.version.to_string(),
            kind: info.kind.to_string(),
            plural: info.plural.to_string(),
            singular: info.singular.to_string(),
            namespaced: info.namespaced,
            short_names: info.short_names.iter().map(|s| s.to_string()).collect(),
            categories: info.categories.iter().map(|s| s.to_string()).collect(),
            has_scale: info.has_scale,
        }
    }
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployment.apps`, `pod`: how kubectl names the type in `TYPE/NAME` output.
    pub fn display_kind(&self) -> String {
        qualified(&self.kind.to_ascii_lowercase(), &self.group)
    }

    /// `deployments.apps`, `pods`: how the server names the resource in messages.
    pub fn qualified_plural(&self) -> String {
        qualified(&self.plural, &self.group)
    }

    /// `deployment.apps/web`.
    pub fn object_ref(&self, name: &str) -> String {
        format!("{}/{}", self.display_kind(), name)
    }

    /// The REST path of the collection (`name == None`) or of one object. The namespace is
    /// ignored for cluster-scoped types; `None` on a namespaced type means all namespaces.
    pub fn path(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        let mut path = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if let (true, Some(ns)) = (self.namespaced, namespace) {
            path.push_str("/namespaces/");
            path.push_str(ns);
        }
        path.push('/');
        path.push_str(&self.plural);
        if let Some(name) = name {
            path.push('/');
            path.push_str(name);
        }
        path
    }

    /// Whether a command-line name (already lowercased) refers to this type.
    fn matches(&self, lower: &str) -> bool {
        let direct = |n: &str| {
            self.plural == n
                || self.singular == n
                || self.kind.eq_ignore_ascii_case(n)
                || self.short_names.iter().any(|s| s == n)
        };
        if direct(lower) {
            return true;
        }
        match lower.split_once('.') {
            Some((base, qualifier)) => {
                direct(base)
                    && (self.group == qualifier
                        || format!("{}.{}", self.version, self.group) == qualifier)
            }
            None => false,
        }
    }
}

fn qualified(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

/// `deployment.apps/web` for an object, from its own `apiVersion` and `kind`.
pub fn object_ref_of(object: &Value) -> String {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    format!("{}/{}", qualified(&kind.to_ascii_lowercase(), group), name)
}

/// Resolves names to types: the built-in table first, then the server's discovery documents
/// (fetched at most once per run) for anything the table does not know.
pub struct Resolver {
    client: Client,
    discovered: Option<Vec<ResourceType>>,
}

impl Resolver {
    pub fn new(client: Client) -> Resolver {
        Resolver {
            client,
            discovered: None,
        }
    }

    async fn discovered(&mut self) -> Result<&[ResourceType]> {
        if self.discovered.is_none() {
            self.discovered = Some(discovery::resource_types(&self.client).await?);
        }
        Ok(self.discovered.as_deref().unwrap_or_default())
    }

    /// The type a command-line name refers to (`po`, `deployments.apps`, `Deployment`).
    pub async fn resolve(&mut self, name: &str) -> Result<ResourceType> {
        if let Some(info) = edge_api::resource::resolve(name) {
            return Ok(ResourceType::from(info));
        }
        let lower = name.to_ascii_lowercase();
        self.discovered()
            .await?
            .iter()
            .find(|t| t.matches(&lower))
            .cloned()
            .ok_or_else(|| anyhow!("the server doesn't have a resource type \"{name}\""))
    }

    /// The type of a manifest object, from its `apiVersion` and `kind`.
    pub async fn for_object(&mut self, object: &Value) -> Result<ResourceType> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        if api_version.is_empty() || kind.is_empty() {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            anyhow::bail!("object \"{name}\" is missing apiVersion or kind");
        }
        if let Some(info) = edge_api::resource::by_kind(api_version, kind) {
            return Ok(ResourceType::from(info));
        }
        self.discovered()
            .await?
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
            .ok_or_else(|| anyhow!("resource mapping not found: no matches for kind \"{kind}\" in version \"{api_version}\""))
    }

    /// The types in a category such as `all`.
    pub fn category(&self, category: &str) -> Vec<ResourceType> {
        edge_api::resource::all()
            .iter()
            .filter(|info| info.categories.contains(&category))
            .map(ResourceType::from)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> ResourceType {
        ResourceType::from(edge_api::resource::resolve("deploy").expect("deployments are served"))
    }

    #[test]
    fn names_and_paths() {
        let deploy = deployment();
        assert_eq!(deploy.object_ref("web"), "deployment.apps/web");
        assert_eq!(deploy.qualified_plural(), "deployments.apps");
        assert_eq!(
            deploy.path(Some("default"), Some("web")),
            "/apis/apps/v1/namespaces/default/deployments/web"
        );
        assert_eq!(deploy.path(None, None), "/apis/apps/v1/deployments");
        let ns =
            ResourceType::from(edge_api::resource::resolve("ns").expect("namespaces are served"));
        assert_eq!(
            ns.path(Some("default"), Some("kube-system")),
            "/api/v1/namespaces/kube-system"
        );
        assert_eq!(ns.object_ref("x"), "namespace/x");
    }

    #[test]
    fn matches_qualified_names() {
        let deploy = deployment();
        for name in [
            "deploy",
            "deployments",
            "deployment",
            "deployments.apps",
            "deployment.v1.apps",
        ] {
            assert!(deploy.matches(name), "{name}");
        }
        assert!(!deploy.matches("deployments.batch"));
    }

    #[test]
    fn object_refs_from_objects() {
        let object = serde_json::json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"}});
        assert_eq!(object_ref_of(&object), "cronjob.batch/nightly");
        let object =
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(object_ref_of(&object), "configmap/c");
    }
}
