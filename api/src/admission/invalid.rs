//! Field errors collected by validation, rendered the way the Kubernetes API server words them.

use serde_json::Value;

/// What is wrong with a field, mirroring Kubernetes' `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooLong,
    /// The field has the wrong JSON type (a string where an integer belongs).
    TypeInvalid,
}

impl FieldErrorKind {
    /// The `reason` of a `Status` cause, e.g. `FieldValueRequired`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The words that start the message, e.g. `Required value`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Duplicate => "Duplicate value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
        }
    }
}

/// One problem with one field of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path with indices, e.g. `spec.template.spec.containers[0].image`.
    pub field: String,
    pub kind: FieldErrorKind,
    /// The offending value as Kubernetes prints it (strings quoted), when the message shows it.
    pub value: Option<String>,
    pub detail: String,
}

/// Renders a value as Kubernetes does in field errors: strings quoted, numbers bare.
fn render_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}

impl FieldError {
    fn new(
        field: impl Into<String>,
        kind: FieldErrorKind,
        value: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind,
            value,
            detail: detail.into(),
        }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::Required, None, detail)
    }

    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(
            field,
            FieldErrorKind::Invalid,
            Some(render_value(&value.into())),
            detail,
        )
    }

    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        let detail = format!("supported values: {}", list.join(", "));
        Self::new(
            field,
            FieldErrorKind::NotSupported,
            Some(render_value(&value.into())),
            detail,
        )
    }

    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(
            field,
            FieldErrorKind::Duplicate,
            Some(render_value(&value.into())),
            "",
        )
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::Forbidden, None, detail)
    }

    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        Self::new(
            field,
            FieldErrorKind::TooLong,
            None,
            format!("must have at most {max_bytes} bytes"),
        )
    }

    /// A wrong JSON type; `detail` is the decoder's message (`invalid type: string "x", expected i32`).
    pub fn type_invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::TypeInvalid, None, detail)
    }

    /// The message without the field: `Invalid value: -1: must be greater than or equal to 0`.
    pub fn body(&self) -> String {
        let mut s = match (self.kind, &self.value) {
            (FieldErrorKind::TypeInvalid, _) => String::new(),
            (kind, Some(value))
                if !matches!(
                    kind,
                    FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong
                ) =>
            {
                format!("{}: {value}", kind.label())
            }
            (kind, _) => kind.label().to_string(),
        };
        if !self.detail.is_empty() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&self.detail);
        }
        s
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.body())
        } else {
            write!(f, "{}: {}", self.field, self.body())
        }
    }
}

/// An object failed validation; becomes a 422 `Invalid` status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Invalid {
    pub causes: Vec<FieldError>,
}

impl Invalid {
    /// The causes as Kubernetes joins them: one error alone, several as `[a, b]`.
    pub fn message(&self) -> String {
        match &self.causes[..] {
            [one] => one.to_string(),
            many => {
                let parts: Vec<String> = many.iter().map(ToString::to_string).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }

    /// `Ok` when there are no causes.
    pub fn check(causes: Vec<FieldError>) -> Result<(), Invalid> {
        if causes.is_empty() {
            Ok(())
        } else {
            Err(Invalid { causes })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let cases = [
            (
                FieldError::invalid("spec.replicas", -1, "must be greater than or equal to 0"),
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                FieldError::required("spec.selector", ""),
                "spec.selector: Required value",
            ),
            (
                FieldError::not_supported(
                    "spec.restartPolicy",
                    "Sometimes",
                    &["Always", "OnFailure", "Never"],
                ),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ),
            (
                FieldError::duplicate("spec.containers[1].name", "app"),
                "spec.containers[1].name: Duplicate value: \"app\"",
            ),
            (
                FieldError::type_invalid(
                    "spec.replicas",
                    "invalid type: string \"x\", expected i32",
                ),
                "spec.replicas: invalid type: string \"x\", expected i32",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
        let two = Invalid {
            causes: vec![
                FieldError::required("a", ""),
                FieldError::forbidden("b", "nope"),
            ],
        };
        assert_eq!(two.message(), "[a: Required value, b: Forbidden: nope]");
    }
}
