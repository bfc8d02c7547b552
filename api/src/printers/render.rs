//! Rendering `Table` objects to kubectl's column text.

use serde_json::Value;

use crate::resource::ResourceInfo;

/// How to render a table, matching `kubectl get` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// `-o wide`: also show columns with priority > 0.
    pub wide: bool,
    /// `-A`: prepend a NAMESPACE column (from each row's object metadata).
    pub with_namespace: bool,
    /// `--no-headers`.
    pub no_headers: bool,
    /// Prefix names with [`RenderOptions::kind`], as `kubectl get all` does (`deployment.apps/web`).
    pub with_kind: bool,
    /// The prefix for `with_kind`, from [`kind_prefix`].
    pub kind: String,
    /// `--show-labels`: append a LABELS column.
    pub show_labels: bool,
}

/// `deployment.apps` or `pod`: the lower-case kind, qualified by group, as kubectl prefixes names.
pub fn kind_prefix(info: &ResourceInfo) -> String {
    let kind = info.kind.to_ascii_lowercase();
    if info.group.is_empty() {
        kind
    } else {
        format!("{kind}.{}", info.group)
    }
}

/// The smallest column width, padding included, as kubectl's tab writer sets it.
const MIN_WIDTH: usize = 6;
/// Spaces between columns.
const PADDING: usize = 3;

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".to_string(),
        other => other.to_string(),
    }
}

fn labels_text(row: &Value) -> String {
    let mut parts: Vec<String> = row
        .pointer("/object/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    parts.sort();
    if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.join(",")
    }
}

/// Renders a `meta.k8s.io/v1` `Table` as kubectl prints it: upper-case headers, left-aligned
/// columns separated by three spaces. An empty table renders as `""` so the caller can print
/// kubectl's "No resources found" message.
pub fn render_table(table: &Value, opts: &RenderOptions) -> String {
    let definitions = table
        .get("columnDefinitions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let rows = table
        .get("rows")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if rows.is_empty() {
        return String::new();
    }
    let visible: Vec<usize> = definitions
        .iter()
        .enumerate()
        .filter(|(_, d)| opts.wide || d.get("priority").and_then(Value::as_i64).unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut lines: Vec<Vec<String>> = Vec::new();
    if !opts.no_headers {
        let mut header = Vec::new();
        if opts.with_namespace {
            header.push("NAMESPACE".to_string());
        }
        for &i in &visible {
            header.push(
                definitions[i]
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_uppercase(),
            );
        }
        if opts.show_labels {
            header.push("LABELS".to_string());
        }
        lines.push(header);
    }
    for row in rows {
        let cells = row
            .get("cells")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let mut line = Vec::new();
        if opts.with_namespace {
            line.push(
                row.pointer("/object/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        for &i in &visible {
            let mut text = cells.get(i).map(cell_text).unwrap_or_default();
            let is_name = definitions[i].get("format").and_then(Value::as_str) == Some("name");
            if is_name && opts.with_kind && !opts.kind.is_empty() {
                text = format!("{}/{text}", opts.kind);
            }
            line.push(text);
        }
        if opts.show_labels {
            line.push(labels_text(row));
        }
        lines.push(line);
    }
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let widest = lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0);
            (widest + PADDING).max(MIN_WIDTH)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let last = line.len().saturating_sub(1);
        for (c, text) in line.iter().enumerate() {
            out.push_str(text);
            if c < last {
                out.extend(std::iter::repeat_n(' ', widths[c] - text.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}
