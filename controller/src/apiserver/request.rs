//! Parsing of Kubernetes REST paths into the resource, namespace, name and subresource they address.

use edge_api::resource::{self, ResourceInfo};

/// What a Kubernetes REST path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub info: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The deprecated `/api/v1/watch/...` form, which means `?watch=true`.
    pub legacy_watch: bool,
}

/// The outcome of routing a path under `/api` or `/apis`.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Resource(Target),
    /// A well-formed group/version path naming a resource this server does not serve.
    UnknownResource {
        group: String,
        version: String,
        resource: String,
    },
    /// Discovery of one group version (`/api/v1`, `/apis/apps/v1`).
    GroupVersion {
        group: String,
        version: String,
    },
    /// Discovery of one group (`/apis/apps`).
    Group {
        group: String,
    },
    NotFound,
}

/// Routes a path (without query) that starts with `/api/` or `/apis/`.
pub fn route(path: &str) -> Route {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group] => {
            return Route::Group {
                group: group.to_string(),
            };
        }
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Route::NotFound,
    };
    if rest.is_empty() {
        return Route::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        };
    }
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] if !rest.is_empty() => (true, rest),
        _ => (false, rest),
    };
    if rest.iter().any(|s| s.is_empty()) {
        return Route::NotFound;
    }
    let unknown = |resource: &str| Route::UnknownResource {
        group: group.to_string(),
        version: version.to_string(),
        resource: resource.to_string(),
    };
    let target = |info, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(Target {
            info,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
            legacy_watch,
        })
    };
    match rest {
        ["namespaces", ns, plural, tail @ ..] if is_namespaced(group, version, plural) => {
            let info = match resource::lookup(group, version, plural) {
                Some(info) => info,
                None => return unknown(plural),
            };
            match tail {
                [] => target(info, Some(ns), None, None),
                [name] => target(info, Some(ns), Some(name), None),
                [name, sub] => target(info, Some(ns), Some(name), Some(sub)),
                _ => Route::NotFound,
            }
        }
        [plural, tail @ ..] => {
            let Some(info) = resource::lookup(group, version, plural) else {
                return unknown(plural);
            };
            match tail {
                [] => target(info, None, None, None),
                // A namespaced resource addressed without a namespace is only a list across namespaces.
                [_, ..] if info.namespaced => Route::NotFound,
                [name] => target(info, None, Some(name), None),
                [name, sub] => target(info, None, Some(name), Some(sub)),
                _ => Route::NotFound,
            }
        }
        [] => Route::NotFound,
    }
}

fn is_namespaced(group: &str, version: &str, plural: &str) -> bool {
    resource::lookup(group, version, plural).is_some_and(|info| info.namespaced)
        || resource::lookup(group, version, plural).is_none()
            && plural != "status"
            && plural != "finalize"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> (String, Option<String>, Option<String>, Option<String>, bool) {
        match route(path) {
            Route::Resource(t) => (
                t.info.plural.to_string(),
                t.namespace,
                t.name,
                t.subresource,
                t.legacy_watch,
            ),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn routes_kubernetes_paths() {
        let s = |v: &str| Some(v.to_string());
        let cases = [
            ("/api/v1/pods", ("pods", None, None, None, false)),
            (
                "/api/v1/namespaces/default/pods",
                ("pods", s("default"), None, None, false),
            ),
            (
                "/api/v1/namespaces/default/pods/web",
                ("pods", s("default"), s("web"), None, false),
            ),
            (
                "/api/v1/namespaces/default/pods/web/status",
                ("pods", s("default"), s("web"), s("status"), false),
            ),
            (
                "/api/v1/namespaces",
                ("namespaces", None, None, None, false),
            ),
            (
                "/api/v1/namespaces/kube-system",
                ("namespaces", None, s("kube-system"), None, false),
            ),
            (
                "/api/v1/namespaces/kube-system/status",
                ("namespaces", None, s("kube-system"), s("status"), false),
            ),
            (
                "/api/v1/namespaces/kube-system/finalize",
                ("namespaces", None, s("kube-system"), s("finalize"), false),
            ),
            ("/api/v1/nodes/n1", ("nodes", None, s("n1"), None, false)),
            (
                "/apis/apps/v1/namespaces/a/deployments/web/scale",
                ("deployments", s("a"), s("web"), s("scale"), false),
            ),
            (
                "/api/v1/watch/namespaces/a/pods",
                ("pods", s("a"), None, None, true),
            ),
        ];
        for (path, (plural, ns, name, sub, watch)) in cases {
            assert_eq!(
                resource(path),
                (plural.to_string(), ns, name, sub, watch),
                "{path}"
            );
        }
    }

    #[test]
    fn reports_unknown_and_discovery_paths() {
        assert_eq!(
            route("/api/v1"),
            Route::GroupVersion {
                group: String::new(),
                version: "v1".into()
            }
        );
        assert_eq!(
            route("/apis/apps"),
            Route::Group {
                group: "apps".into()
            }
        );
        assert!(matches!(
            route("/api/v1/widgets"),
            Route::UnknownResource { .. }
        ));
        assert!(matches!(
            route("/api/v1/namespaces/a/widgets"),
            Route::UnknownResource { .. }
        ));
        assert_eq!(route("/api/v1/pods/x"), Route::NotFound);
        assert_eq!(
            route("/api/v1/namespaces/a/pods/x/status/y"),
            Route::NotFound
        );
        assert_eq!(route("/nope"), Route::NotFound);
    }
}
