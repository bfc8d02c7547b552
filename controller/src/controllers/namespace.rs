//! Namespace lifecycle: the four built-in namespaces always exist, and a deleted namespace takes
//! everything in it along before it goes itself.

use std::sync::Arc;

use edge_api::resource::{self, ResourceInfo};
use serde_json::{Value, json};

use super::{Snapshot, str_at};
use crate::apiserver::Api;
use crate::apiserver::api_delete::PROTECTED_NAMESPACES;
use crate::apiserver::api_write::WriteOptions;
use crate::apiserver::error::ApiError;

fn namespaces() -> Result<&'static ResourceInfo, ApiError> {
    resource::lookup("", "v1", "namespaces")
        .ok_or_else(|| ApiError::internal("namespaces are not registered"))
}

/// Creates any missing built-in namespace.
pub async fn ensure_defaults(api: &Api) -> Result<(), ApiError> {
    let info = namespaces()?;
    for name in PROTECTED_NAMESPACES {
        if api.current_local(info, None, name).is_ok() {
            continue;
        }
        let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        match api
            .create(info, None, object, WriteOptions::default())
            .await
        {
            Ok(_) => tracing::info!("created namespace {name}"),
            Err(err) if err.code() == 409 => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// What to do for one terminating namespace.
#[derive(Debug, PartialEq, Eq)]
pub enum NamespaceAction {
    /// Delete these objects (resource plural, name) first.
    DeleteContents(Vec<(&'static str, String)>),
    /// Nothing is left: drop the `kubernetes` finalizer so the namespace goes.
    Finalize,
}

/// Pure core: the next step for namespace `name` given every object in the cluster.
pub fn plan(name: &str, objects: &[(&'static ResourceInfo, Arc<Value>)]) -> NamespaceAction {
    let contents: Vec<(&'static str, String)> = objects
        .iter()
        .filter(|(info, object)| info.namespaced && str_at(object, "/metadata/namespace") == name)
        .map(|(info, object)| (info.plural, str_at(object, "/metadata/name").to_string()))
        .collect();
    if contents.is_empty() {
        NamespaceAction::Finalize
    } else {
        NamespaceAction::DeleteContents(contents)
    }
}

/// Moves every terminating namespace one step towards gone.
pub async fn reconcile(api: &Api, snapshot: &Snapshot) -> Result<(), ApiError> {
    let terminating: Vec<String> = snapshot
        .objects
        .iter()
        .filter(|(info, ns)| {
            info.plural == "namespaces" && ns.pointer("/metadata/deletionTimestamp").is_some()
        })
        .map(|(_, ns)| str_at(ns, "/metadata/name").to_string())
        .collect();
    for name in terminating {
        match plan(&name, &snapshot.objects) {
            NamespaceAction::DeleteContents(objects) => {
                for (plural, object) in objects {
                    let Some(info) = resource::all()
                        .iter()
                        .find(|i| i.plural == plural && i.namespaced)
                    else {
                        continue;
                    };
                    // The namespace is going: its contents go at once, whatever holds them.
                    match api.delete_now(info, Some(&name), &object).await {
                        Ok(_) => {}
                        Err(err) if err.code() == 404 => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            NamespaceAction::Finalize => {
                api.finalize_namespace(&name, json!({"spec": {"finalizers": []}}))
                    .await?;
                // A namespace without metadata finalizers is removed by the finalize call.
                tracing::info!("namespace {name} deleted");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_contents_first_then_finalize() {
        let pods = resource::lookup("", "v1", "pods").expect("pods");
        let nodes = resource::lookup("", "v1", "nodes").expect("nodes");
        let objects = vec![
            (
                pods,
                Arc::new(json!({"metadata": {"name": "a", "namespace": "demo"}})),
            ),
            (
                pods,
                Arc::new(json!({"metadata": {"name": "b", "namespace": "other"}})),
            ),
            (nodes, Arc::new(json!({"metadata": {"name": "n1"}}))),
        ];
        assert_eq!(
            plan("demo", &objects),
            NamespaceAction::DeleteContents(vec![("pods", "a".to_string())])
        );
        assert_eq!(plan("empty", &objects), NamespaceAction::Finalize);
    }
}
