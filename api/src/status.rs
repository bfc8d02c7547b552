//! The Kubernetes `meta/v1 Status` object returned for every API error, with its HTTP code.

use serde_json::{Map, Value, json};

use crate::admission::Invalid;

/// The media types the server accepts and produces, as named in 406 and 415 messages.
const MEDIA_TYPES: &str = "application/json, application/yaml";

/// One field-level cause in `details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// `details` of a `Status`: which object the error is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusDetails {
    pub name: String,
    pub group: String,
    /// The kind for `Invalid`, the resource (plural) for most other reasons, as Kubernetes does.
    pub kind: String,
    pub uid: String,
    pub causes: Vec<StatusCause>,
}

/// A `Status` object: success, or an API error with its HTTP code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub success: bool,
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<StatusDetails>,
}

/// `plural.group` or `plural` for the core group.
fn qualified(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

fn details(group: &str, kind: &str, name: &str) -> Option<StatusDetails> {
    Some(StatusDetails {
        name: name.to_string(),
        group: group.to_string(),
        kind: kind.to_string(),
        ..StatusDetails::default()
    })
}

impl Status {
    /// A failure with the given code, reason and message and no details.
    pub fn failure(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            success: false,
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    /// 200 `Success`, as returned by some deletes.
    pub fn success() -> Self {
        Self {
            success: true,
            code: 200,
            reason: String::new(),
            message: String::new(),
            details: None,
        }
    }

    /// Sets `details` (name, group, kind) on the status.
    pub fn with_details(mut self, group: &str, kind: &str, name: &str, uid: &str) -> Self {
        self.details = Some(StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            uid: uid.to_string(),
            causes: Vec::new(),
        });
        self
    }

    /// 404: `pods "x" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let mut s = Self::failure(
            404,
            "NotFound",
            format!("{} {name:?} not found", qualified(plural, group)),
        );
        s.details = details(group, plural, name);
        s
    }

    /// 409: `pods "x" already exists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let mut s = Self::failure(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", qualified(plural, group)),
        );
        s.details = details(group, plural, name);
        s
    }

    /// 409: `Operation cannot be fulfilled on pods "x": {msg}`.
    pub fn conflict(group: &str, plural: &str, name: &str, msg: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} {name:?}: {msg}",
            qualified(plural, group)
        );
        let mut s = Self::failure(409, "Conflict", message);
        s.details = details(group, plural, name);
        s
    }

    /// The message of an optimistic-concurrency conflict, for [`Status::conflict`].
    pub const MODIFIED: &'static str = "the object has been modified; please apply your changes to the latest version and try again";

    /// 422: `Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1: ...`.
    pub fn invalid(group: &str, kind: &str, name: &str, invalid: &Invalid) -> Self {
        let message = format!(
            "{} {name:?} is invalid: {}",
            qualified(kind, group),
            invalid.message()
        );
        let mut s = Self::failure(422, "Invalid", message);
        let mut d = details(group, kind, name).unwrap_or_default();
        d.causes = invalid
            .causes
            .iter()
            .map(|c| StatusCause {
                reason: c.kind.reason().to_string(),
                message: c.body(),
                field: c.field.clone(),
            })
            .collect();
        s.details = Some(d);
        s
    }

    /// 400 `BadRequest`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::failure(400, "BadRequest", msg)
    }

    /// 401 `Unauthorized`.
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::failure(401, "Unauthorized", msg)
    }

    /// 403 with Kubernetes' RBAC wording:
    /// `pods "x" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "default"`.
    pub fn forbidden(
        user: &str,
        verb: &str,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Self {
        let subject = match name {
            Some(n) => format!("{} {n:?}", qualified(plural, group)),
            None => qualified(plural, group),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace {ns:?}"),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{subject} is forbidden: User {user:?} cannot {verb} resource {plural:?} in API group {group:?} {scope}"
        );
        let mut s = Self::failure(403, "Forbidden", message);
        s.details = details(group, plural, name.unwrap_or(""));
        s
    }

    /// 410 `Expired`, e.g. a watch from a resource version older than the window.
    pub fn gone(msg: impl Into<String>) -> Self {
        Self::failure(410, "Expired", msg)
    }

    /// 413 `RequestEntityTooLarge`.
    pub fn too_large(msg: impl Into<String>) -> Self {
        Self::failure(413, "RequestEntityTooLarge", msg)
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed() -> Self {
        Self::failure(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type() -> Self {
        Self::failure(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {MEDIA_TYPES}"
            ),
        )
    }

    /// 406 `NotAcceptable`.
    pub fn not_acceptable() -> Self {
        Self::failure(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: {MEDIA_TYPES}"),
        )
    }

    /// 429 `TooManyRequests`.
    pub fn too_many_requests(msg: impl Into<String>) -> Self {
        Self::failure(429, "TooManyRequests", msg)
    }

    /// 500 `InternalError`.
    pub fn internal(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        Self::failure(
            500,
            "InternalError",
            format!("Internal error occurred: {msg}"),
        )
    }

    /// 503 `ServiceUnavailable`.
    pub fn unavailable(msg: impl Into<String>) -> Self {
        Self::failure(503, "ServiceUnavailable", msg)
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The `Status` JSON object.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), "Status".into());
        m.insert("apiVersion".into(), "v1".into());
        m.insert("metadata".into(), json!({}));
        m.insert(
            "status".into(),
            (if self.success { "Success" } else { "Failure" }).into(),
        );
        if !self.message.is_empty() {
            m.insert("message".into(), self.message.clone().into());
        }
        if !self.reason.is_empty() {
            m.insert("reason".into(), self.reason.clone().into());
        }
        if let Some(d) = &self.details {
            let mut dm = Map::new();
            for (k, v) in [
                ("name", &d.name),
                ("group", &d.group),
                ("kind", &d.kind),
                ("uid", &d.uid),
            ] {
                if !v.is_empty() {
                    dm.insert(k.into(), v.clone().into());
                }
            }
            if !d.causes.is_empty() {
                let causes = d
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                dm.insert("causes".into(), Value::Array(causes));
            }
            m.insert("details".into(), Value::Object(dm));
        }
        m.insert("code".into(), self.code.into());
        Value::Object(m)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::FieldError;

    #[test]
    fn messages_and_codes() {
        let cases = [
            (
                Status::not_found("", "pods", "x"),
                404,
                "NotFound",
                r#"pods "x" not found"#,
            ),
            (
                Status::not_found("apps", "deployments", "d"),
                404,
                "NotFound",
                r#"deployments.apps "d" not found"#,
            ),
            (
                Status::already_exists("", "pods", "x"),
                409,
                "AlreadyExists",
                r#"pods "x" already exists"#,
            ),
            (
                Status::conflict("", "pods", "x", Status::MODIFIED),
                409,
                "Conflict",
                r#"Operation cannot be fulfilled on pods "x": the object has been modified; please apply your changes to the latest version and try again"#,
            ),
            (
                Status::forbidden("bob", "get", "", "pods", Some("default"), Some("x")),
                403,
                "Forbidden",
                r#"pods "x" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "default""#,
            ),
            (
                Status::forbidden("bob", "list", "", "nodes", None, None),
                403,
                "Forbidden",
                r#"nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope"#,
            ),
            (
                Status::gone("too old resource version: 1 (5)"),
                410,
                "Expired",
                "too old resource version: 1 (5)",
            ),
            (
                Status::too_large("too big"),
                413,
                "RequestEntityTooLarge",
                "too big",
            ),
            (
                Status::unauthorized("Unauthorized"),
                401,
                "Unauthorized",
                "Unauthorized",
            ),
            (Status::bad_request("bad"), 400, "BadRequest", "bad"),
            (
                Status::internal("boom"),
                500,
                "InternalError",
                "Internal error occurred: boom",
            ),
            (
                Status::unavailable("no leader"),
                503,
                "ServiceUnavailable",
                "no leader",
            ),
        ];
        for (s, code, reason, message) in cases {
            assert_eq!(s.code(), code, "{message}");
            let v = s.to_value();
            assert_eq!(v["reason"], reason);
            assert_eq!(v["message"], message);
            assert_eq!(v["code"], code);
            assert_eq!(v["status"], "Failure");
        }
        assert_eq!(Status::method_not_allowed().code(), 405);
        assert_eq!(Status::unsupported_media_type().code(), 415);
        assert_eq!(Status::not_acceptable().code(), 406);
    }

    #[test]
    fn invalid_has_causes() {
        let inv = Invalid {
            causes: vec![FieldError::invalid(
                "spec.replicas",
                -1,
                "must be greater than or equal to 0",
            )],
        };
        let v = Status::invalid("apps", "Deployment", "x", &inv).to_value();
        assert_eq!(
            v["message"],
            r#"Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#
        );
        assert_eq!(v["code"], 422);
        assert_eq!(v["details"]["kind"], "Deployment");
        assert_eq!(v["details"]["group"], "apps");
        assert_eq!(
            v["details"]["causes"][0],
            json!({"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0", "field": "spec.replicas"})
        );
    }

    #[test]
    fn success_shape() {
        let v = Status::success()
            .with_details("", "pods", "x", "u1")
            .to_value();
        assert_eq!(
            v,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"x","kind":"pods","uid":"u1"},"code":200})
        );
    }
}
