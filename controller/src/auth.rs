//! Request identities from TLS client certificates and bootstrap tokens, and the authorisation rules.
//!
//! A certificate's common name is the user and its organisations are the groups, as in
//! Kubernetes. `authorize` is a pure function of the identity and the request
//! attributes; object-level node checks (`NodeCheck`) are left to the API server,
//! which has the objects.

use std::sync::Arc;

/// Members may do everything.
pub const ADMIN_GROUP: &str = "system:masters";
/// Members may get, list and watch everything except Secrets.
pub const VIEW_GROUP: &str = "edgeplane:view";
/// Agents; the user is `system:node:<node name>`.
pub const NODES_GROUP: &str = "system:nodes";
/// Controllers, which are peers and may do everything.
pub const CONTROLLERS_GROUP: &str = "edgeplane:controllers";
/// Holders of a bootstrap token; they may only use the join endpoints.
pub const BOOTSTRAP_GROUP: &str = "system:bootstrappers";
/// Holders of a bootstrap token with the control-plane usage: may join as a controller.
pub const CONTROL_PLANE_JOINERS_GROUP: &str = "edgeplane:control-plane-joiners";

/// The prefix of node user names.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The namespace of node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Errors of deriving an identity.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the client certificate cannot be read: {0}")]
    Certificate(#[from] edge_wire::pki::PkiError),
    #[error("the client certificate's common name is empty: issue it with a user name")]
    EmptyUser,
}

/// Who is making a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    /// The identity in a (verified) DER client certificate: CN = user, O = groups.
    pub fn from_certificate(der: &[u8]) -> Result<Identity, AuthError> {
        let subject = edge_wire::pki::cert_subject(der)?;
        if subject.common_name.trim().is_empty() {
            return Err(AuthError::EmptyUser);
        }
        Ok(Identity {
            user: subject.common_name,
            groups: subject.organizations,
        })
    }

    /// Whether the identity is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    pub fn is_admin(&self) -> bool {
        self.in_group(ADMIN_GROUP)
    }

    pub fn is_controller(&self) -> bool {
        self.in_group(CONTROLLERS_GROUP)
    }

    /// The node name of a `system:node:NAME` user in the nodes group.
    pub fn node_name(&self) -> Option<&str> {
        self.user
            .strip_prefix(NODE_USER_PREFIX)
            .filter(|name| !name.is_empty() && self.in_group(NODES_GROUP))
    }
}

/// The verified client-certificate identity of a connection, inserted into every
/// request's extensions by `tls::serve`; `None` for anonymous connections, and for
/// certificates that verified but carry no usable identity.
#[derive(Clone, Debug)]
pub struct ClientCert(pub Option<Arc<Identity>>);

/// What a request wants to do, as Kubernetes authorisers see it.
#[derive(Clone, Copy, Debug)]
pub struct RequestAttributes<'a> {
    /// get, list, watch, create, update, patch, delete or deletecollection.
    pub verb: &'a str,
    /// The API group; `""` for the core group.
    pub group: &'a str,
    /// The plural resource name.
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// The answer of `authorize`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied; the reason is appended to Kubernetes' "User X cannot ..." message.
    Deny(String),
    /// Allowed if the object-level check passes.
    NodeScoped(NodeCheck),
}

/// The object-level check the API server must make for a node identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeCheck {
    /// The object's name must be the node's name: from the path, from the body on
    /// create, or forced with `fieldSelector=metadata.name=<node>` on list and watch.
    OwnNode,
    /// The pod's `spec.nodeName` must be the node; list and watch get
    /// `fieldSelector=spec.nodeName=<node>` forced.
    PodOnNode,
    /// ConfigMaps, Secrets and PersistentVolumeClaims: a pod on this node must
    /// reference the object by name.
    ReferencedByPodOnNode,
    /// No object-level restriction.
    Allow,
}

const READ_VERBS: &[&str] = &["get", "list", "watch"];

/// Subresources that run code or open tunnels; never granted by read-only roles.
const INTERACTIVE_SUBRESOURCES: &[&str] = &["exec", "attach", "portforward", "proxy"];

/// Decides whether `identity` may do `attrs`. Roles add up: the most permissive
/// answer of the identity's groups wins.
pub fn authorize(identity: &Identity, attrs: &RequestAttributes) -> Decision {
    if identity.is_admin() || identity.is_controller() {
        return Decision::Allow;
    }
    let mut answers = Vec::new();
    if let Some(node) = identity.node_name() {
        answers.push(node_rule(node, attrs));
    }
    if identity.in_group(VIEW_GROUP) {
        answers.push(view_rule(attrs));
    }
    if answers.contains(&Decision::Allow) {
        return Decision::Allow;
    }
    if let Some(scoped) = answers
        .iter()
        .find(|d| matches!(d, Decision::NodeScoped(_)))
    {
        return scoped.clone();
    }
    let reasons: Vec<String> = answers
        .into_iter()
        .filter_map(|d| match d {
            Decision::Deny(reason) => Some(reason),
            _ => None,
        })
        .collect();
    if !reasons.is_empty() {
        return Decision::Deny(reasons.join("; "));
    }
    if identity.in_group(BOOTSTRAP_GROUP) {
        return Decision::Deny(
            "bootstrap tokens only allow joining a node or controller, not API access".into(),
        );
    }
    Decision::Deny(format!(
        "no role is granted to this user: use a certificate in group {ADMIN_GROUP} or {VIEW_GROUP}"
    ))
}

fn view_rule(attrs: &RequestAttributes) -> Decision {
    if !READ_VERBS.contains(&attrs.verb) {
        return Decision::Deny(format!(
            "members of {VIEW_GROUP} may only get, list and watch"
        ));
    }
    if attrs.group.is_empty() && attrs.resource == "secrets" {
        return Decision::Deny(format!("members of {VIEW_GROUP} may not read secrets"));
    }
    if let Some(sub) = attrs
        .subresource
        .filter(|s| INTERACTIVE_SUBRESOURCES.contains(s))
    {
        return Decision::Deny(format!("members of {VIEW_GROUP} may not use {sub}"));
    }
    Decision::Allow
}

fn node_rule(node: &str, attrs: &RequestAttributes) -> Decision {
    let verb = attrs.verb;
    let read = READ_VERBS.contains(&verb);
    let denied = || {
        Decision::Deny(format!(
            "node {node:?} may not {verb} {}",
            resource_label(attrs)
        ))
    };
    // A named object must be the node's own; an unnamed create or collection read is
    // left to the API server to narrow to it.
    let own = |collection_verbs: &[&str]| match attrs.name {
        Some(name) if name == node => Decision::Allow,
        Some(_) => Decision::Deny(format!(
            "node {node:?} may only access its own {}",
            attrs.resource
        )),
        None if collection_verbs.contains(&verb) => Decision::NodeScoped(NodeCheck::OwnNode),
        None => denied(),
    };
    match (attrs.group, attrs.resource, attrs.subresource) {
        ("", "nodes", None) if read || matches!(verb, "create" | "update" | "patch") => {
            own(&["list", "watch", "create"])
        }
        ("", "nodes", Some("status")) if matches!(verb, "get" | "update" | "patch") => own(&[]),
        ("coordination.k8s.io", "leases", None)
            if attrs.namespace == Some(NODE_LEASE_NAMESPACE)
                && matches!(verb, "create" | "get" | "update" | "patch") =>
        {
            own(&["create"])
        }
        ("", "pods", None) if read => Decision::NodeScoped(NodeCheck::PodOnNode),
        ("", "pods", Some("status")) if matches!(verb, "get" | "update" | "patch") => {
            Decision::NodeScoped(NodeCheck::PodOnNode)
        }
        ("" | "events.k8s.io", "events", None) if verb == "create" => Decision::Allow,
        ("", "configmaps" | "secrets" | "persistentvolumeclaims", None) if read => {
            Decision::NodeScoped(NodeCheck::ReferencedByPodOnNode)
        }
        ("", "services" | "endpoints" | "namespaces", None)
        | ("discovery.k8s.io", "endpointslices", None)
            if read =>
        {
            Decision::Allow
        }
        _ => denied(),
    }
}

fn resource_label(attrs: &RequestAttributes) -> String {
    match attrs.subresource {
        Some(sub) => format!("{}/{sub}", attrs.resource),
        None => attrs.resource.to_owned(),
    }
}

#[cfg(test)]
#[path = "auth_test.rs"]
mod tests;
