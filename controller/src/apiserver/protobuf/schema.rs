//! The decoding schema: every GA built-in message with its fields' numbers, JSON names and
//! types, read once from `schema.txt` (written by `scripts/gen-protobuf-schema.py`).

use std::collections::HashMap;
use std::sync::LazyLock;

use super::ProtobufError;

/// The schema, parsed on first use.
pub(super) static SCHEMA: LazyLock<Result<Schema, ProtobufError>> =
    LazyLock::new(|| Schema::parse(include_str!("schema.txt")));

/// Every message the decoder knows, by dotted name (`api.core.v1.Pod`).
pub(super) struct Schema {
    pub(super) messages: HashMap<&'static str, Message>,
}

pub(super) struct Message {
    pub(super) special: Option<Special>,
    pub(super) fields: HashMap<u32, Field>,
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Special {
    /// `meta.v1.Time`: RFC 3339 in whole seconds; an empty message is Go's zero time, `null`.
    Time,
    /// `meta.v1.MicroTime`: RFC 3339 with microseconds.
    MicroTime,
    /// `meta.v1.Duration`: Go's duration string (`1h0m0s`).
    Duration,
    /// `runtime.RawExtension`, `meta.v1.FieldsV1`: the JSON document held in `raw`.
    RawJson,
    /// `resource.Quantity`: its string (`100m`).
    Quantity,
    /// `intstr.IntOrString`: a number, or a string when `type` is 1.
    IntOrString,
    /// `meta.v1.Verbs`, `ExtraValue`: the list in `items`.
    Items,
}

pub(super) struct Field {
    pub(super) json: &'static str,
    pub(super) label: Label,
    pub(super) kind: Kind,
    /// Whether a zero value on the wire is kept rather than treated as omitted.
    pub(super) keep_zero: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Label {
    Optional,
    Repeated,
    /// A map field; the key's type.
    Map(Scalar),
    /// A Go struct embedded with `json:",inline"`: its fields join the parent object.
    Inline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Scalar(Scalar),
    Message(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
}

impl Scalar {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "string" => Scalar::String,
            "bytes" => Scalar::Bytes,
            "bool" => Scalar::Bool,
            "int32" => Scalar::Int32,
            "int64" => Scalar::Int64,
            "double" => Scalar::Double,
            _ => return None,
        })
    }
}

impl Kind {
    fn parse(word: &'static str) -> Self {
        Scalar::parse(word).map_or(Kind::Message(word), Kind::Scalar)
    }
}

impl Schema {
    pub(super) fn parse(text: &'static str) -> Result<Self, ProtobufError> {
        let mut messages = HashMap::new();
        let mut current: Option<(&'static str, Message)> = None;
        for (index, line) in text.lines().enumerate() {
            let broken = |reason: &str| ProtobufError::Schema {
                line: index + 1,
                reason: reason.to_string(),
            };
            let words: Vec<&'static str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                [first, ..] if first.starts_with('#') => {}
                ["message", name, rest @ ..] => {
                    let special = match rest {
                        [] => None,
                        ["time"] => Some(Special::Time),
                        ["microtime"] => Some(Special::MicroTime),
                        ["duration"] => Some(Special::Duration),
                        ["rawjson"] => Some(Special::RawJson),
                        ["quantity"] => Some(Special::Quantity),
                        ["intorstring"] => Some(Special::IntOrString),
                        ["items"] => Some(Special::Items),
                        _ => return Err(broken("unknown special form")),
                    };
                    let next = Message {
                        special,
                        fields: HashMap::new(),
                    };
                    if let Some((name, message)) = current.replace((name, next)) {
                        messages.insert(name, message);
                    }
                }
                [number, json, label, kind, rest @ ..] => {
                    let (_, message) = current
                        .as_mut()
                        .ok_or_else(|| broken("field outside a message"))?;
                    let number: u32 = number.parse().map_err(|_| broken("bad field number"))?;
                    let (label, kind) = match *label {
                        "opt" => (Label::Optional, Kind::parse(kind)),
                        "rep" => (Label::Repeated, Kind::parse(kind)),
                        "inline" => (Label::Inline, Kind::parse(kind)),
                        "map" => {
                            let (key, value) =
                                kind.split_once(':').ok_or_else(|| broken("bad map type"))?;
                            let key = Scalar::parse(key).ok_or_else(|| broken("bad map key"))?;
                            (Label::Map(key), Kind::parse(value))
                        }
                        _ => return Err(broken("unknown label")),
                    };
                    let keep_zero = match rest {
                        [] => false,
                        ["keep-zero"] => true,
                        _ => return Err(broken("unknown field flag")),
                    };
                    let field = Field {
                        json,
                        label,
                        kind,
                        keep_zero,
                    };
                    if message.fields.insert(number, field).is_some() {
                        return Err(broken("duplicate field number"));
                    }
                }
                _ => return Err(broken("unreadable line")),
            }
        }
        if let Some((name, message)) = current {
            messages.insert(name, message);
        }
        let schema = Schema { messages };
        schema.check()?;
        Ok(schema)
    }

    /// Every message a field names exists.
    fn check(&self) -> Result<(), ProtobufError> {
        for (name, message) in &self.messages {
            for field in message.fields.values() {
                if let Kind::Message(target) = field.kind
                    && !self.messages.contains_key(target)
                {
                    return Err(ProtobufError::Schema {
                        line: 0,
                        reason: format!("{name}.{} names unknown message {target}", field.json),
                    });
                }
            }
        }
        Ok(())
    }
}
