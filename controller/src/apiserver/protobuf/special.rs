//! Messages whose Kubernetes JSON form is not an object of their fields: times, durations,
//! quantities, int-or-strings, embedded JSON and wrapped string lists.

use std::collections::HashMap;

use serde_json::Value;

use super::ProtobufError;
use super::schema::Special;
use super::wire::{Reader, Wire};

/// The scalar fields of a small special message, by number.
fn scalars(bytes: &[u8]) -> Result<HashMap<u32, ScalarField<'_>>, ProtobufError> {
    let mut fields = HashMap::new();
    let mut reader = Reader::new(bytes);
    while let Some((number, wire)) = reader.key()? {
        let value = match wire {
            Wire::Varint => ScalarField::Varint(reader.varint()?),
            Wire::Len => ScalarField::Bytes(reader.bytes()?),
            other => {
                reader.skip(other)?;
                continue;
            }
        };
        fields.insert(number, value);
    }
    Ok(fields)
}

/// A raw field of a special message; its meaning depends on the message.
#[derive(Clone, Copy)]
enum ScalarField<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint_of(fields: &HashMap<u32, ScalarField<'_>>, number: u32) -> u64 {
    match fields.get(&number) {
        Some(ScalarField::Varint(v)) => *v,
        _ => 0,
    }
}

fn bytes_of<'a>(fields: &HashMap<u32, ScalarField<'a>>, number: u32) -> &'a [u8] {
    match fields.get(&number) {
        Some(ScalarField::Bytes(b)) => b,
        _ => &[],
    }
}

fn string_of(fields: &HashMap<u32, ScalarField<'_>>, number: u32) -> Result<String, ProtobufError> {
    String::from_utf8(bytes_of(fields, number).to_vec())
        .map_err(|_| ProtobufError::malformed("a string is not valid UTF-8"))
}

/// The JSON form of one special message, given its encoded bytes.
pub(super) fn special_value(special: Special, bytes: &[u8]) -> Result<Value, ProtobufError> {
    let fields = scalars(bytes)?;
    Ok(match special {
        Special::Time | Special::MicroTime if bytes.is_empty() => Value::Null,
        Special::Time => Value::String(rfc3339(varint_of(&fields, 1) as i64, None)?),
        Special::MicroTime => {
            let nanos = varint_of(&fields, 2) as i32;
            Value::String(rfc3339(varint_of(&fields, 1) as i64, Some(nanos))?)
        }
        Special::Duration => Value::String(go_duration(varint_of(&fields, 1) as i64)),
        Special::Quantity => {
            let quantity = string_of(&fields, 1)?;
            Value::String(if quantity.is_empty() {
                "0".into()
            } else {
                quantity
            })
        }
        Special::IntOrString => {
            if varint_of(&fields, 1) == 1 {
                Value::String(string_of(&fields, 3)?)
            } else {
                Value::from(varint_of(&fields, 2) as i32)
            }
        }
        Special::RawJson => {
            let raw = bytes_of(&fields, 1);
            if raw.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(raw)
                    .map_err(|e| ProtobufError::malformed(format!("raw is not JSON: {e}")))?
            }
        }
        Special::Items => {
            let mut items = Vec::new();
            let mut reader = Reader::new(bytes);
            while let Some((number, wire)) = reader.key()? {
                if number == 1 && wire == Wire::Len {
                    items.push(Value::String(reader.string()?));
                } else {
                    reader.skip(wire)?;
                }
            }
            Value::Array(items)
        }
    })
}

/// `2026-01-02T03:04:05Z`, or with microseconds (`.000123Z`) for `MicroTime`.
fn rfc3339(seconds: i64, nanos: Option<i32>) -> Result<String, ProtobufError> {
    let at = jiff::Timestamp::from_second(seconds)
        .map_err(|e| ProtobufError::malformed(format!("time out of range: {e}")))?;
    let whole = at.strftime("%Y-%m-%dT%H:%M:%S");
    Ok(match nanos {
        None => format!("{whole}Z"),
        Some(nanos) => format!("{whole}.{:06}Z", nanos.clamp(0, 999_999_999) / 1000),
    })
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(super) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let body = if n < 1_000_000_000 {
        let (unit, per) = match n {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        format!("{}{unit}", decimal(n, per))
    } else {
        let hours = n / 3_600_000_000_000;
        let minutes = n % 3_600_000_000_000 / 60_000_000_000;
        let seconds = decimal(n % 60_000_000_000, 1_000_000_000);
        match (hours, minutes) {
            (0, 0) => format!("{seconds}s"),
            (0, m) => format!("{m}m{seconds}s"),
            (h, m) => format!("{h}h{m}m{seconds}s"),
        }
    };
    format!("{sign}{body}")
}

/// `value / per` with the fraction's trailing zeros left out (`1500, 1000` is `1.5`).
fn decimal(value: u64, per: u64) -> String {
    let (whole, fraction) = (value / per, value % per);
    if fraction == 0 {
        return whole.to_string();
    }
    let width = per.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}
