//! Who may pull, push and delete in the registry: a pure function of the caller's identity.
//!
//! Administrators (and controllers, which are peers with every right, as in `auth::authorize`)
//! may do everything; the `view` group and node identities may only pull, so agents can fetch
//! the components they run and nothing else; everyone else is denied.

use crate::auth::{Identity, VIEW_GROUP};

use super::error::RegistryError;

/// What a request does to the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reading manifests, blobs, tags and the catalog.
    Pull,
    /// Uploading blobs and manifests, tagging.
    Push,
    /// Deleting manifests, tags and blob links.
    Delete,
}

impl Access {
    fn verb(self) -> &'static str {
        match self {
            Access::Pull => "pull from",
            Access::Push => "push to",
            Access::Delete => "delete from",
        }
    }
}

/// `Ok` when `identity` may do `access`, else `DENIED` saying which role is needed.
pub fn authorize(identity: &Identity, access: Access) -> Result<(), RegistryError> {
    if identity.is_admin() || identity.is_controller() {
        return Ok(());
    }
    let reader = identity.in_group(VIEW_GROUP) || identity.node_name().is_some();
    match (access, reader) {
        (Access::Pull, true) => Ok(()),
        (_, true) => Err(RegistryError::Denied(format!(
            "user {:?} may only pull; pushing and deleting need an admin certificate",
            identity.user
        ))),
        (_, false) => Err(RegistryError::Denied(format!(
            "user {:?} may not {} the registry: use an admin, view or node certificate",
            identity.user,
            access.verb()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{ADMIN_GROUP, BOOTSTRAP_GROUP, CONTROLLERS_GROUP, NODES_GROUP};

    fn identity(user: &str, groups: &[&str]) -> Identity {
        Identity {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn roles() {
        let admin = identity("admin", &[ADMIN_GROUP]);
        let controller = identity("system:controller:c1", &[CONTROLLERS_GROUP]);
        let view = identity("v", &[VIEW_GROUP]);
        let node = identity("system:node:pi-1", &[NODES_GROUP]);
        // A node user name without the nodes group is not a node.
        let fake_node = identity("system:node:pi-1", &[]);
        let stranger = identity("bob", &["dev"]);
        let joiner = identity("system:bootstrap:abcdef", &[BOOTSTRAP_GROUP]);
        let cases = [
            (&admin, [true, true, true]),
            (&controller, [true, true, true]),
            (&view, [true, false, false]),
            (&node, [true, false, false]),
            (&fake_node, [false, false, false]),
            (&stranger, [false, false, false]),
            (&joiner, [false, false, false]),
        ];
        for (who, allowed) in cases {
            for (access, allowed) in [Access::Pull, Access::Push, Access::Delete]
                .into_iter()
                .zip(allowed)
            {
                let result = authorize(who, access);
                assert_eq!(result.is_ok(), allowed, "{} {access:?}", who.user);
                if let Err(err) = result {
                    assert_eq!(err.code(), "DENIED");
                    assert_eq!(err.status(), 403);
                }
            }
        }
    }
}
