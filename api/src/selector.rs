//! Label selectors (`a=b,c!=d,e in (f),g,!h`, `metav1.LabelSelector`) and field selectors.

use std::fmt;

use serde_json::Value;

use crate::validation;

/// A label or field selector that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("unable to parse requirement: {0}")]
    Syntax(String),
    #[error("invalid label key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("invalid label value {value:?}: {reason}")]
    InvalidValue { value: String, reason: String },
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
    #[error("invalid field selector {0:?}: expected field=value, field==value or field!=value")]
    Field(String),
}

/// How a label requirement compares a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One clause of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted; one value for `=`/`!=`, none for exists/does-not-exist.
    pub values: Vec<String>,
}

impl Requirement {
    fn new(key: &str, operator: Operator, mut values: Vec<String>) -> Result<Self, SelectorError> {
        if let Some(reason) = validation::qualified_name(key).into_iter().next() {
            return Err(SelectorError::InvalidKey {
                key: key.to_string(),
                reason,
            });
        }
        for value in &values {
            if let Some(reason) = validation::label_value(value).into_iter().next() {
                return Err(SelectorError::InvalidValue {
                    value: value.clone(),
                    reason,
                });
            }
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(SelectorError::Syntax(format!(
                    "{key}: for 'in', 'notin' operators, values set can't be empty"
                )));
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(SelectorError::Syntax(format!(
                    "{key}: values set must be empty for exists and does not exist"
                )));
            }
            _ => {}
        }
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_string(),
            operator,
            values,
        })
    }

    fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let value = labels
            .and_then(|l| l.get(&self.key))
            .map(|v| v.as_str().unwrap_or_default());
        match self.operator {
            Operator::Equals | Operator::In => {
                value.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Operator::NotEquals | Operator::NotIn => {
                !value.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map(String::as_str).unwrap_or_default();
        match self.operator {
            Operator::Equals => write!(f, "{}={first}", self.key),
            Operator::NotEquals => write!(f, "{}!={first}", self.key),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

/// A conjunction of label requirements. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, SelectorError> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(SelectorError::Syntax(format!(
                "unbalanced parentheses in {s:?}"
            )));
        }
    }
    if depth != 0 {
        return Err(SelectorError::Syntax(format!(
            "unbalanced parentheses in {s:?}"
        )));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn parse_set(key: &str, rest: &str, operator: Operator) -> Result<Requirement, SelectorError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            SelectorError::Syntax(format!(
                "{key}: expected a parenthesised set of values after the operator"
            ))
        })?;
    let values = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .collect::<Vec<_>>();
    // `in ()` has one empty value after splitting; Kubernetes treats it as the empty set.
    let values = if values.len() == 1 && values[0].is_empty() {
        Vec::new()
    } else {
        values
    };
    Requirement::new(key, operator, values)
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorError> {
    let part = part.trim();
    if part.is_empty() {
        return Err(SelectorError::Syntax(
            "found an empty requirement; remove the extra ','".to_string(),
        ));
    }
    if let Some(key) = part.strip_prefix('!') {
        return Requirement::new(key.trim(), Operator::DoesNotExist, Vec::new());
    }
    for (op, operator) in [
        ("!=", Operator::NotEquals),
        ("==", Operator::Equals),
        ("=", Operator::Equals),
    ] {
        if let Some((key, value)) = part.split_once(op) {
            return Requirement::new(key.trim(), operator, vec![value.trim().to_string()]);
        }
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    match words.next().map(str::trim_start) {
        None => Requirement::new(key, Operator::Exists, Vec::new()),
        Some(rest) => {
            if let Some(r) = rest.strip_prefix("notin") {
                parse_set(key, r, Operator::NotIn)
            } else if let Some(r) = rest.strip_prefix("in") {
                parse_set(key, r, Operator::In)
            } else {
                Err(SelectorError::Syntax(format!(
                    "{part:?}: expected one of =, ==, !=, in, notin after the key"
                )))
            }
        }
    }
}

impl LabelSelector {
    /// Parses the string form: `a=b,c==d,e!=f,g in (h,i),j notin (k),l,!m`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut requirements = split_top_level(s)?
            .into_iter()
            .map(parse_requirement)
            .collect::<Result<Vec<_>, _>>()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Converts a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    /// `null` and `{}` give the empty selector, which matches everything.
    pub fn from_label_selector(v: &Value) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(labels) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in labels {
                let val = val.as_str().ok_or_else(|| SelectorError::InvalidValue {
                    value: val.to_string(),
                    reason: "label values must be strings".to_string(),
                })?;
                requirements.push(Requirement::new(
                    k,
                    Operator::Equals,
                    vec![val.to_string()],
                )?);
            }
        }
        for expr in v
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
            let op = expr
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect();
            let operator = match op {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::Operator(other.to_string())),
            };
            requirements.push(Requirement::new(key, operator, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Whether a `metadata.labels` object satisfies every requirement.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let labels = labels.and_then(Value::as_object);
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(obj.pointer("/metadata/labels"))
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// One `path=value` or `path!=value` clause of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Dotted path, e.g. `spec.nodeName`.
    pub field: String,
    pub negate: bool,
    pub value: String,
}

/// A conjunction of field equalities over any dotted path of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses `a=b,c==d,e!=f`; `\,` and `\=` escape separators inside values.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        for part in split_escaped(s) {
            let (field, negate, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(SelectorError::Field(part));
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(SelectorError::Field(part.clone()));
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                negate,
                value: unescape(value.trim()),
            });
        }
        Ok(Self { requirements })
    }

    /// Whether the object satisfies every clause; a missing field reads as `""`.
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(obj, &r.field);
            (actual == r.value) != r.negate
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if r.negate { "!=" } else { "=" };
            let value = r
                .value
                .replace('\\', "\\\\")
                .replace(',', "\\,")
                .replace('=', "\\=");
            write!(f, "{}{op}{value}", r.field)?;
        }
        Ok(())
    }
}

/// Splits on unescaped commas, keeping escapes for the value to unescape later.
fn split_escaped(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value at a dotted path as a string: strings as they are, numbers and booleans
/// printed, anything missing or structured as `""`.
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
#[path = "selector_test.rs"]
mod tests;
