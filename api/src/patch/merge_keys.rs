//! How strategic merge patch treats each list of the core types (`patchStrategy`/`patchMergeKey`).

/// What a strategic merge patch does with a list field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the original (lists without a patch strategy).
    Replace,
    /// Lists of objects merged element by element on this key.
    MergeByKey(&'static str),
    /// Lists of primitives merged as a set (`metadata.finalizers`).
    MergeSet,
}

/// The strategy for the list at `path` (field names from the object root, list indices
/// omitted) in an object of `kind`.
pub fn list_strategy(kind: &str, path: &[&str]) -> ListStrategy {
    let Some((&field, parents)) = path.split_last() else {
        return ListStrategy::Replace;
    };
    let parent = parents.last().copied().unwrap_or_default();
    let in_container = matches!(
        parent,
        "containers" | "initContainers" | "ephemeralContainers"
    );
    match field {
        "containers" | "initContainers" | "ephemeralContainers" => ListStrategy::MergeByKey("name"),
        "ports" if in_container => ListStrategy::MergeByKey("containerPort"),
        "ports" if kind == "Service" && path == ["spec", "ports"] => {
            ListStrategy::MergeByKey("port")
        }
        "env" if in_container => ListStrategy::MergeByKey("name"),
        "volumeMounts" if in_container => ListStrategy::MergeByKey("mountPath"),
        "volumeDevices" if in_container => ListStrategy::MergeByKey("devicePath"),
        "resizePolicy" if in_container => ListStrategy::Replace,
        "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"
            if parent == "spec" =>
        {
            ListStrategy::MergeByKey("name")
        }
        "hostAliases" if parent == "spec" => ListStrategy::MergeByKey("ip"),
        "topologySpreadConstraints" if parent == "spec" => ListStrategy::MergeByKey("topologyKey"),
        "ownerReferences" if parent == "metadata" => ListStrategy::MergeByKey("uid"),
        "finalizers" if parent == "metadata" => ListStrategy::MergeSet,
        "conditions" if parent == "status" => ListStrategy::MergeByKey("type"),
        "podIPs" | "hostIPs" if parent == "status" => ListStrategy::MergeByKey("ip"),
        "addresses" if kind == "Node" && parent == "status" => ListStrategy::MergeByKey("type"),
        "podCIDRs" if kind == "Node" && parent == "spec" => ListStrategy::MergeSet,
        _ => ListStrategy::Replace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies() {
        let cases: &[(&str, &[&str], ListStrategy)] = &[
            (
                "Deployment",
                &["spec", "template", "spec", "containers"],
                ListStrategy::MergeByKey("name"),
            ),
            (
                "Pod",
                &["spec", "containers", "ports"],
                ListStrategy::MergeByKey("containerPort"),
            ),
            (
                "Pod",
                &["spec", "initContainers", "env"],
                ListStrategy::MergeByKey("name"),
            ),
            (
                "Pod",
                &["spec", "containers", "volumeMounts"],
                ListStrategy::MergeByKey("mountPath"),
            ),
            (
                "Pod",
                &["spec", "volumes"],
                ListStrategy::MergeByKey("name"),
            ),
            ("Pod", &["spec", "tolerations"], ListStrategy::Replace),
            (
                "Pod",
                &["spec", "imagePullSecrets"],
                ListStrategy::MergeByKey("name"),
            ),
            (
                "Pod",
                &["spec", "hostAliases"],
                ListStrategy::MergeByKey("ip"),
            ),
            (
                "Service",
                &["spec", "ports"],
                ListStrategy::MergeByKey("port"),
            ),
            ("Endpoints", &["subsets", "ports"], ListStrategy::Replace),
            (
                "Pod",
                &["metadata", "ownerReferences"],
                ListStrategy::MergeByKey("uid"),
            ),
            ("Pod", &["metadata", "finalizers"], ListStrategy::MergeSet),
            ("Namespace", &["spec", "finalizers"], ListStrategy::Replace),
            (
                "Deployment",
                &["status", "conditions"],
                ListStrategy::MergeByKey("type"),
            ),
            (
                "Pod",
                &["spec", "containers", "args"],
                ListStrategy::Replace,
            ),
        ];
        for (kind, path, want) in cases {
            assert_eq!(list_strategy(kind, path), *want, "{kind} {path:?}");
        }
    }
}
