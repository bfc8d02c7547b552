//! The table of served resources and the store key scheme built on it.

/// The verbs every served resource supports.
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One resource the API server serves: its names, scope and subresources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub has_status: bool,
    pub has_scale: bool,
    pub verbs: &'static [&'static str],
}

impl ResourceInfo {
    /// The `apiVersion` of objects of this resource: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kind of a list of this resource, e.g. `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The group as it appears in store keys: `core` for the core group.
    pub fn store_group(&self) -> &str {
        if self.group.is_empty() {
            "core"
        } else {
            self.group
        }
    }

    /// `kind.group` as Kubernetes names a kind in error messages (`Deployment.apps`, `Pod`).
    pub fn qualified_kind(&self) -> String {
        qualify(self.kind, self.group)
    }

    /// `plural.group` as Kubernetes names a resource in error messages (`deployments.apps`, `pods`).
    pub fn qualified_plural(&self) -> String {
        qualify(self.plural, self.group)
    }

    /// The store key of one object. The namespace is ignored for cluster-scoped resources.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{}", self.prefix(namespace), name)
    }

    /// The key prefix (ending in `/`) of all objects of this resource, or of those in one
    /// namespace. The namespace is ignored for cluster-scoped resources.
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => {
                format!("/registry/{}/{}/{}/", self.store_group(), self.plural, ns)
            }
            _ => format!("/registry/{}/{}/", self.store_group(), self.plural),
        }
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

#[allow(clippy::too_many_arguments)]
const fn res(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    has_status: bool,
    has_scale: bool,
) -> ResourceInfo {
    ResourceInfo {
        group,
        version: "v1",
        kind,
        plural,
        singular,
        namespaced,
        short_names,
        categories: &[],
        has_status,
        has_scale,
        verbs: VERBS,
    }
}

const fn all_category(mut info: ResourceInfo) -> ResourceInfo {
    info.categories = &["all"];
    info
}

static RESOURCES: &[ResourceInfo] = &[
    res(
        "",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        &["ns"],
        true,
        false,
    ),
    all_category(res("", "Pod", "pods", "pod", true, &["po"], true, false)),
    all_category(res(
        "",
        "Service",
        "services",
        "service",
        true,
        &["svc"],
        true,
        false,
    )),
    res(
        "",
        "Endpoints",
        "endpoints",
        "endpoints",
        true,
        &["ep"],
        false,
        false,
    ),
    res(
        "",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        &["cm"],
        false,
        false,
    ),
    res("", "Secret", "secrets", "secret", true, &[], false, false),
    res("", "Node", "nodes", "node", false, &["no"], true, false),
    res("", "Event", "events", "event", true, &["ev"], false, false),
    res(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        true,
        &["pvc"],
        true,
        false,
    ),
    res(
        "",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        false,
        &["pv"],
        true,
        false,
    ),
    res(
        "",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        &["sa"],
        false,
        false,
    ),
    all_category(res(
        "apps",
        "Deployment",
        "deployments",
        "deployment",
        true,
        &["deploy"],
        true,
        true,
    )),
    all_category(res(
        "apps",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        true,
        &["rs"],
        true,
        true,
    )),
    all_category(res(
        "apps",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        true,
        &["ds"],
        true,
        false,
    )),
    all_category(res(
        "apps",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        &["sts"],
        true,
        true,
    )),
    res(
        "apps",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        true,
        &[],
        false,
        false,
    ),
    all_category(res("batch", "Job", "jobs", "job", true, &[], true, false)),
    all_category(res(
        "batch",
        "CronJob",
        "cronjobs",
        "cronjob",
        true,
        &["cj"],
        true,
        false,
    )),
    res(
        "coordination.k8s.io",
        "Lease",
        "leases",
        "lease",
        true,
        &[],
        false,
        false,
    ),
    res(
        "discovery.k8s.io",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        true,
        &[],
        false,
        false,
    ),
    res(
        "events.k8s.io",
        "Event",
        "events",
        "event",
        true,
        &["ev"],
        false,
        false,
    ),
];

/// Every served resource, core group first.
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resource served at `/apis/{group}/{version}/{plural}` (`group` is `""` for `/api/v1`).
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource of objects with this `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// The resource a command-line name refers to: a plural, singular, kind (any case) or short
/// name, optionally qualified by group (`deployments.apps`) or version and group
/// (`deployments.v1.apps`). Unqualified names prefer the core group, as kubectl does.
pub fn resolve(name: &str) -> Option<&'static ResourceInfo> {
    let lower = name.to_ascii_lowercase();
    if let Some(found) = RESOURCES.iter().find(|r| names_match(r, &lower)) {
        return Some(found);
    }
    let (base, qualifier) = lower.split_once('.')?;
    RESOURCES.iter().find(|r| {
        names_match(r, base)
            && (r.group == qualifier || format!("{}.{}", r.version, r.group) == qualifier)
    })
}

fn names_match(r: &ResourceInfo, lower: &str) -> bool {
    r.plural == lower
        || r.singular == lower
        || r.kind.eq_ignore_ascii_case(lower)
        || r.short_names.contains(&lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_cli_names() {
        let cases = [
            ("po", "", "pods"),
            ("Pods", "", "pods"),
            ("pod", "", "pods"),
            ("Pod", "", "pods"),
            ("svc", "", "services"),
            ("deploy", "apps", "deployments"),
            ("deployments.apps", "apps", "deployments"),
            ("deployment.v1.apps", "apps", "deployments"),
            ("rs", "apps", "replicasets"),
            ("ds", "apps", "daemonsets"),
            ("sts", "apps", "statefulsets"),
            ("cj", "batch", "cronjobs"),
            ("cm", "", "configmaps"),
            ("ns", "", "namespaces"),
            ("no", "", "nodes"),
            ("ev", "", "events"),
            ("events.events.k8s.io", "events.k8s.io", "events"),
            ("ep", "", "endpoints"),
            ("pvc", "", "persistentvolumeclaims"),
            (
                "leases.coordination.k8s.io",
                "coordination.k8s.io",
                "leases",
            ),
            ("EndpointSlice", "discovery.k8s.io", "endpointslices"),
        ];
        for (name, group, plural) in cases {
            let r = resolve(name).unwrap_or_else(|| panic!("{name} did not resolve"));
            assert_eq!((r.group, r.plural), (group, plural), "{name}");
        }
        assert!(resolve("widgets").is_none());
        assert!(resolve("pods.apps").is_none());
    }

    #[test]
    fn keys_and_prefixes() {
        let pods = lookup("", "v1", "pods").expect("pods");
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/core/pods/default/web"
        );
        assert_eq!(pods.prefix(Some("default")), "/registry/core/pods/default/");
        assert_eq!(pods.prefix(None), "/registry/core/pods/");
        assert_eq!(pods.api_version(), "v1");
        assert_eq!(pods.list_kind(), "PodList");
        let nodes = by_kind("v1", "Node").expect("nodes");
        assert_eq!(nodes.key(Some("ignored"), "n1"), "/registry/core/nodes/n1");
        let deploy = by_kind("apps/v1", "Deployment").expect("deployments");
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.store_group(), "apps");
        assert_eq!(
            deploy.key(Some("ns"), "d"),
            "/registry/apps/deployments/ns/d"
        );
        assert!(deploy.has_scale && deploy.has_status);
        assert_eq!(deploy.qualified_kind(), "Deployment.apps");
    }

    #[test]
    fn table_is_consistent() {
        for r in all() {
            assert_eq!(r.singular, r.kind.to_ascii_lowercase(), "{}", r.plural);
            assert!(lookup(r.group, r.version, r.plural).is_some());
            assert!(std::ptr::eq(
                by_kind(&r.api_version(), r.kind).expect("kind"),
                r
            ));
        }
        let scaled: Vec<_> = all()
            .iter()
            .filter(|r| r.has_scale)
            .map(|r| r.plural)
            .collect();
        assert_eq!(scaled, ["deployments", "replicasets", "statefulsets"]);
    }
}
