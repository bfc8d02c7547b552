//! Parsing manifest files (YAML multi-document, JSON, `List` objects) into objects.

use serde_json::Value;

/// A manifest that cannot be turned into objects. Documents and lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("document {document}, line {line}, column {column}: invalid YAML: {message}")]
    Yaml {
        document: usize,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("line {line}, column {column}: invalid JSON: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "document {document}, line {line}: {location}expected an object (a mapping with apiVersion and kind), found {found}"
    )]
    NotAnObject {
        document: usize,
        line: usize,
        location: String,
        found: &'static str,
    },
    #[error(
        "document {document}, line {line}: {location}missing {field:?}; every object needs apiVersion and kind"
    )]
    MissingField {
        document: usize,
        line: usize,
        location: String,
        field: &'static str,
    },
}

/// Parses a manifest: a JSON object, array or stream of objects, or YAML documents separated
/// by `---`. Empty documents are skipped and `List` objects (`kind: List`, `PodList`, ...)
/// are flattened into their items. Every object must carry `apiVersion` and `kind`.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, ManifestError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match parse_json(text) {
            Ok(objects) => return Ok(objects),
            // A YAML flow mapping also starts with `{`; fall back to YAML and report the
            // JSON error only if YAML cannot read it either.
            Err(json_err) => return parse_yaml(text).map_err(|_| json_err),
        }
    }
    parse_yaml(text)
}

fn parse_json(text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut out = Vec::new();
    let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    for (i, doc) in stream.enumerate() {
        let doc = doc.map_err(|e| {
            let message = e.to_string();
            let message = strip_location(&message).to_string();
            ManifestError::Json {
                line: e.line(),
                column: e.column(),
                message,
            }
        })?;
        // JSON carries no line numbers once parsed; the document number identifies it.
        let items = match doc {
            Value::Array(items) => items,
            other => vec![other],
        };
        for item in items {
            collect(item, i + 1, 1, String::new(), &mut out)?;
        }
    }
    Ok(out)
}

/// One `---`-separated chunk of a YAML stream and the line it starts on.
struct Chunk {
    first_line: usize,
    text: String,
}

/// Splits on `---` separator lines, as kubectl's YAML reader does, so every document is
/// parsed on its own and errors can name it.
fn split_yaml(text: &str) -> Vec<Chunk> {
    let mut chunks = vec![Chunk {
        first_line: 1,
        text: String::new(),
    }];
    for (i, line) in text.lines().enumerate() {
        let is_separator = line
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace));
        if is_separator {
            let rest = &line[3..];
            let mut text = String::new();
            // Content after the marker (`--- # comment`) stays on the document's first line.
            text.push_str(rest);
            text.push('\n');
            chunks.push(Chunk {
                first_line: i + 1,
                text,
            });
        } else if let Some(last) = chunks.last_mut() {
            last.text.push_str(line);
            last.text.push('\n');
        }
    }
    // A leading `---` leaves an empty first chunk that is not a document of its own.
    if chunks.len() > 1 && chunks[0].text.trim().is_empty() {
        chunks.remove(0);
    }
    chunks
}

fn strip_location(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

fn parse_yaml(text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut out = Vec::new();
    for (i, chunk) in split_yaml(text).into_iter().enumerate() {
        let document = i + 1;
        let value: Value = serde_yaml_ng::from_str(&chunk.text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (chunk.first_line + l.line() - 1, l.column()))
                .unwrap_or((chunk.first_line, 1));
            ManifestError::Yaml {
                document,
                line,
                column,
                message: strip_location(&e.to_string()).to_string(),
            }
        })?;
        if value.is_null() {
            continue;
        }
        let line = first_content_line(&chunk.text) + chunk.first_line - 1;
        collect(value, document, line, String::new(), &mut out)?;
    }
    Ok(out)
}

/// The 1-based line of the first line that is neither blank nor a comment.
fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map_or(1, |p| p + 1)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks one object and appends it, or its items when it is a `List`.
fn collect(
    v: Value,
    document: usize,
    line: usize,
    location: String,
    out: &mut Vec<Value>,
) -> Result<(), ManifestError> {
    let Value::Object(map) = &v else {
        return Err(ManifestError::NotAnObject {
            document,
            line,
            location,
            found: type_name(&v),
        });
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind.ends_with("List")
        && let Some(Value::Array(items)) = map.get("items")
    {
        for (i, item) in items.iter().enumerate() {
            collect(
                item.clone(),
                document,
                line,
                format!("{location}{kind} item {i}: "),
                out,
            )?;
        }
        return Ok(());
    }
    for field in ["apiVersion", "kind"] {
        if map
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ManifestError::MissingField {
                document,
                line,
                location,
                field,
            });
        }
    }
    out.push(v);
    Ok(())
}

#[cfg(test)]
#[path = "manifest_test.rs"]
mod tests;
