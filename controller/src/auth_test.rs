//! Table-driven tests of identities and authorisation.

use super::*;

fn id(user: &str, groups: &[&str]) -> Identity {
    Identity {
        user: user.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

/// The expected answer: A = allow, D = deny, or the node check.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    A,
    D,
    Own,
    Pod,
    Ref,
}
use Want::*;

fn kind(d: &Decision) -> Want {
    match d {
        Decision::Allow | Decision::NodeScoped(NodeCheck::Allow) => A,
        Decision::Deny(_) => D,
        Decision::NodeScoped(NodeCheck::OwnNode) => Own,
        Decision::NodeScoped(NodeCheck::PodOnNode) => Pod,
        Decision::NodeScoped(NodeCheck::ReferencedByPodOnNode) => Ref,
    }
}

type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Want,
);

fn check(who: &Identity, cases: &[Case]) {
    for (verb, group, resource, sub, ns, name, want) in cases {
        let attrs = RequestAttributes {
            verb,
            group,
            resource,
            subresource: *sub,
            namespace: *ns,
            name: *name,
        };
        let got = authorize(who, &attrs);
        assert_eq!(
            &kind(&got),
            want,
            "{} {verb} {group}/{resource} {sub:?} {ns:?} {name:?}: {got:?}",
            who.user
        );
    }
}

const NS: Option<&str> = Some("default");

#[test]
fn admins_and_controllers_may_do_everything() {
    let cases: &[Case] = &[
        ("delete", "", "secrets", None, NS, Some("s"), A),
        ("create", "", "pods", Some("exec"), NS, Some("p"), A),
        ("deletecollection", "apps", "deployments", None, NS, None, A),
        ("update", "", "nodes", Some("status"), None, Some("n1"), A),
    ];
    check(&id("kubernetes-admin", &[ADMIN_GROUP]), cases);
    check(&id("system:controller:c2", &[CONTROLLERS_GROUP]), cases);
}

#[test]
fn viewers_read_everything_but_secrets() {
    check(
        &id("alice", &[VIEW_GROUP]),
        &[
            ("get", "", "pods", None, NS, Some("p"), A),
            ("list", "apps", "deployments", None, None, None, A),
            ("watch", "", "nodes", None, None, None, A),
            ("get", "", "pods", Some("log"), NS, Some("p"), A),
            ("get", "", "secrets", None, NS, Some("s"), D),
            ("list", "", "secrets", None, None, None, D),
            ("get", "", "pods", Some("exec"), NS, Some("p"), D),
            ("create", "", "pods", Some("exec"), NS, Some("p"), D),
            ("create", "", "configmaps", None, NS, None, D),
            ("patch", "", "pods", None, NS, Some("p"), D),
            ("delete", "", "pods", None, NS, Some("p"), D),
        ],
    );
}

#[test]
fn viewer_deny_reason_is_specific() {
    let attrs = RequestAttributes {
        verb: "get",
        group: "",
        resource: "secrets",
        subresource: None,
        namespace: NS,
        name: Some("s"),
    };
    let Decision::Deny(reason) = authorize(&id("alice", &[VIEW_GROUP]), &attrs) else {
        panic!("viewers must not read secrets");
    };
    assert!(reason.contains("secrets"), "{reason}");
}

#[test]
fn nodes_reach_only_what_is_bound_to_them() {
    let lease_ns = Some(NODE_LEASE_NAMESPACE);
    check(
        &id("system:node:edge-1", &[NODES_GROUP]),
        &[
            // Its own Node object.
            ("get", "", "nodes", None, None, Some("edge-1"), A),
            ("get", "", "nodes", None, None, Some("edge-2"), D),
            ("list", "", "nodes", None, None, None, Own),
            ("watch", "", "nodes", None, None, None, Own),
            ("create", "", "nodes", None, None, None, Own),
            ("update", "", "nodes", None, None, Some("edge-1"), A),
            ("patch", "", "nodes", None, None, Some("edge-2"), D),
            (
                "patch",
                "",
                "nodes",
                Some("status"),
                None,
                Some("edge-1"),
                A,
            ),
            (
                "update",
                "",
                "nodes",
                Some("status"),
                None,
                Some("edge-2"),
                D,
            ),
            ("delete", "", "nodes", None, None, Some("edge-1"), D),
            ("deletecollection", "", "nodes", None, None, None, D),
            // Its heartbeat Lease.
            (
                "create",
                "coordination.k8s.io",
                "leases",
                None,
                lease_ns,
                None,
                Own,
            ),
            (
                "get",
                "coordination.k8s.io",
                "leases",
                None,
                lease_ns,
                Some("edge-1"),
                A,
            ),
            (
                "update",
                "coordination.k8s.io",
                "leases",
                None,
                lease_ns,
                Some("edge-1"),
                A,
            ),
            (
                "patch",
                "coordination.k8s.io",
                "leases",
                None,
                lease_ns,
                Some("edge-2"),
                D,
            ),
            (
                "update",
                "coordination.k8s.io",
                "leases",
                None,
                NS,
                Some("edge-1"),
                D,
            ),
            (
                "list",
                "coordination.k8s.io",
                "leases",
                None,
                lease_ns,
                None,
                D,
            ),
            (
                "delete",
                "coordination.k8s.io",
                "leases",
                None,
                lease_ns,
                Some("edge-1"),
                D,
            ),
            // Pods bound to it.
            ("get", "", "pods", None, NS, Some("p"), Pod),
            ("list", "", "pods", None, None, None, Pod),
            ("watch", "", "pods", None, NS, None, Pod),
            ("update", "", "pods", Some("status"), NS, Some("p"), Pod),
            ("patch", "", "pods", Some("status"), NS, Some("p"), Pod),
            ("update", "", "pods", None, NS, Some("p"), D),
            ("create", "", "pods", None, NS, None, D),
            ("delete", "", "pods", None, NS, Some("p"), D),
            ("create", "", "pods", Some("exec"), NS, Some("p"), D),
            ("get", "", "pods", Some("log"), NS, Some("p"), D),
            // Events.
            ("create", "", "events", None, NS, None, A),
            ("create", "events.k8s.io", "events", None, NS, None, A),
            ("delete", "", "events", None, NS, Some("e"), D),
            // What its pods reference.
            ("get", "", "secrets", None, NS, Some("s"), Ref),
            ("get", "", "configmaps", None, NS, Some("c"), Ref),
            ("watch", "", "configmaps", None, NS, Some("c"), Ref),
            (
                "get",
                "",
                "persistentvolumeclaims",
                None,
                NS,
                Some("d"),
                Ref,
            ),
            ("update", "", "secrets", None, NS, Some("s"), D),
            ("get", "", "persistentvolumes", None, None, Some("pv"), D),
            // Routing information.
            ("list", "", "services", None, None, None, A),
            ("watch", "", "endpoints", None, None, None, A),
            (
                "list",
                "discovery.k8s.io",
                "endpointslices",
                None,
                None,
                None,
                A,
            ),
            ("get", "", "namespaces", None, None, Some("default"), A),
            ("create", "", "services", None, NS, None, D),
            // Everything else.
            ("list", "apps", "deployments", None, None, None, D),
            ("get", "", "serviceaccounts", None, NS, Some("default"), D),
        ],
    );
}

#[test]
fn node_user_without_the_nodes_group_is_nobody() {
    let impostor = id("system:node:edge-1", &[]);
    assert_eq!(impostor.node_name(), None);
    check(
        &impostor,
        &[("get", "", "nodes", None, None, Some("edge-1"), D)],
    );
    assert_eq!(id("system:node:", &[NODES_GROUP]).node_name(), None);
    assert_eq!(
        id("system:node:edge-1", &[NODES_GROUP]).node_name(),
        Some("edge-1")
    );
}

#[test]
fn bootstrappers_and_strangers_are_denied() {
    let cases: &[Case] = &[
        ("get", "", "namespaces", None, None, Some("default"), D),
        ("create", "", "nodes", None, None, None, D),
        ("list", "", "pods", None, None, None, D),
    ];
    check(
        &id(
            "system:bootstrap:abcdef",
            &[BOOTSTRAP_GROUP, CONTROL_PLANE_JOINERS_GROUP],
        ),
        cases,
    );
    check(&id("bob", &[]), cases);
    check(
        &id("eve", &["system:authenticated", "edgeplane:viewers"]),
        cases,
    );
}

#[test]
fn roles_add_up() {
    // A node that is also a viewer may read everything but secrets, and still only
    // secrets its pods reference.
    check(
        &id("system:node:edge-1", &[NODES_GROUP, VIEW_GROUP]),
        &[
            ("list", "apps", "deployments", None, None, None, A),
            ("get", "", "nodes", None, None, Some("edge-2"), A),
            ("get", "", "secrets", None, NS, Some("s"), Ref),
            ("update", "", "pods", Some("status"), NS, Some("p"), Pod),
        ],
    );
}

#[test]
fn identity_comes_from_the_certificate_subject() -> Result<(), Box<dyn std::error::Error>> {
    use edge_wire::pki::{CertRequest, CertificateAuthority, first_cert};
    let ca = CertificateAuthority::generate("test-ca")?;
    let cert = ca.issue(&CertRequest {
        common_name: "system:node:edge-1".into(),
        organizations: vec![NODES_GROUP.into(), VIEW_GROUP.into()],
        client_auth: true,
        ..CertRequest::default()
    })?;
    let identity = Identity::from_certificate(&first_cert(&cert.cert_pem, "test")?)?;
    assert_eq!(
        identity,
        id("system:node:edge-1", &[NODES_GROUP, VIEW_GROUP])
    );
    assert_eq!(identity.node_name(), Some("edge-1"));
    assert!(!identity.is_admin() && !identity.is_controller());
    assert!(Identity::from_certificate(b"not a certificate").is_err());
    Ok(())
}
