//! kubectl's JSONPath templates (`-o jsonpath=...`, custom columns): a small hand-written evaluator.
//!
//! No crate fits: `serde_json_path` and `jsonpath-rust` implement JSONPath *queries* (RFC 9535),
//! while kubectl's format is a *template* language: literal text interleaved with `{...}`
//! expressions, `{range ...}{end}` loops, string literals such as `{"\n"}`, results joined by
//! spaces, escaped dots in keys, and missing keys printing nothing. The template layer is most of
//! the work and the query subset kubectl users rely on is small, so it is written here.

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Expr(Vec<Step>),
    Range(Vec<Step>, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Root,
    Field(String),
    Wildcard,
    Descend,
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Operand,
    comparison: Option<(Op, Operand)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Vec<Step>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One `{...}` or text piece before nesting `range` blocks.
enum Piece {
    Text(String),
    Expr(Vec<Step>),
    RangeStart(Vec<Step>),
    End,
}

impl JsonPath {
    pub fn parse(template: &str) -> Result<JsonPath> {
        let pieces = split_template(template)?;
        let mut stack: Vec<(Vec<Step>, Vec<Node>)> = Vec::new();
        let mut nodes = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(text) => nodes.push(Node::Text(text)),
                Piece::Expr(steps) => nodes.push(Node::Expr(steps)),
                Piece::RangeStart(steps) => stack.push((steps, std::mem::take(&mut nodes))),
                Piece::End => {
                    let (steps, outer) = stack
                        .pop()
                        .context("jsonpath: {end} without a matching {range}")?;
                    let body = std::mem::replace(&mut nodes, outer);
                    nodes.push(Node::Range(steps, body));
                }
            }
        }
        if !stack.is_empty() {
            bail!("jsonpath: {{range}} without a matching {{end}}");
        }
        Ok(JsonPath { nodes })
    }

    /// Renders the template against a document.
    pub fn render(&self, document: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, document, document, &mut out);
        Ok(out)
    }

    /// The values of the template's expressions (for custom columns).
    pub fn values<'a>(&self, document: &'a Value) -> Vec<&'a Value> {
        self.nodes
            .iter()
            .flat_map(|node| match node {
                Node::Expr(steps) => eval(steps, document, document),
                _ => Vec::new(),
            })
            .collect()
    }
}

/// How kubectl prints one result: strings raw, everything else as compact JSON.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_nodes(nodes: &[Node], current: &Value, root: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Expr(steps) => {
                let texts: Vec<String> = eval(steps, current, root)
                    .into_iter()
                    .map(to_text)
                    .collect();
                out.push_str(&texts.join(" "));
            }
            Node::Range(steps, body) => {
                let values = eval(steps, current, root);
                let items: Vec<&Value> = match values.as_slice() {
                    [Value::Array(items)] => items.iter().collect(),
                    _ => values,
                };
                for item in items {
                    render_nodes(body, item, root, out);
                }
            }
        }
    }
}

fn eval<'a>(steps: &[Step], current: &'a Value, root: &'a Value) -> Vec<&'a Value> {
    let mut values = vec![current];
    for step in steps {
        values = values
            .into_iter()
            .flat_map(|value| apply(step, value, root))
            .collect();
    }
    values
}

fn apply<'a>(step: &Step, value: &'a Value, root: &'a Value) -> Vec<&'a Value> {
    match (step, value) {
        (Step::Root, _) => vec![root],
        (Step::Field(name), Value::Object(map)) => map.get(name).into_iter().collect(),
        (Step::Wildcard, Value::Object(map)) => map.values().collect(),
        (Step::Wildcard, Value::Array(items)) => items.iter().collect(),
        (Step::Descend, _) => {
            let mut all = Vec::new();
            descendants(value, &mut all);
            all
        }
        (Step::Index(i), Value::Array(items)) => {
            let len = items.len() as i64;
            let index = if *i < 0 { len + i } else { *i };
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .into_iter()
                .collect()
        }
        (Step::Slice(start, end), Value::Array(items)) => {
            let len = items.len() as i64;
            let clamp = |i: i64| (if i < 0 { len + i } else { i }).clamp(0, len) as usize;
            let (start, end) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
            if start < end {
                items[start..end].iter().collect()
            } else {
                Vec::new()
            }
        }
        (Step::Filter(filter), Value::Array(items)) => items
            .iter()
            .filter(|item| filter.matches(item, root))
            .collect(),
        _ => Vec::new(),
    }
}

fn descendants<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(value);
    match value {
        Value::Object(map) => map.values().for_each(|v| descendants(v, out)),
        Value::Array(items) => items.iter().for_each(|v| descendants(v, out)),
        _ => {}
    }
}

impl Filter {
    fn matches(&self, item: &Value, root: &Value) -> bool {
        let resolve = |operand: &Operand| -> Option<Value> {
            match operand {
                Operand::Literal(v) => Some(v.clone()),
                Operand::Path(steps) => eval(steps, item, root).first().map(|v| (*v).clone()),
            }
        };
        let left = resolve(&self.left);
        let Some((op, right)) = &self.comparison else {
            return matches!(left, Some(v) if !v.is_null() && v != Value::Bool(false));
        };
        let (Some(left), Some(right)) = (left, resolve(right)) else {
            return false;
        };
        let ordering = match (&left, &right) {
            (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            _ => (left == right).then_some(std::cmp::Ordering::Equal),
        };
        match op {
            Op::Eq => ordering == Some(std::cmp::Ordering::Equal),
            Op::Ne => ordering != Some(std::cmp::Ordering::Equal),
            Op::Lt => ordering == Some(std::cmp::Ordering::Less),
            Op::Le => matches!(
                ordering,
                Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
            ),
            Op::Gt => ordering == Some(std::cmp::Ordering::Greater),
            Op::Ge => matches!(
                ordering,
                Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
            ),
        }
    }
}

/// Splits a template into text and `{...}` pieces, honouring quotes inside braces.
fn split_template(template: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            text.push(c);
            continue;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        let mut inner = String::new();
        let mut quote: Option<char> = None;
        let mut closed = false;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(_), '\\') => {
                    inner.push(c);
                    if let Some(next) = chars.next() {
                        inner.push(next);
                    }
                }
                (Some(q), c) if c == q => {
                    quote = None;
                    inner.push(c);
                }
                (None, '"' | '\'') => {
                    quote = Some(c);
                    inner.push(c);
                }
                (None, '}') => {
                    closed = true;
                    break;
                }
                _ => inner.push(c),
            }
        }
        if !closed {
            bail!("jsonpath: unclosed action in {template:?}");
        }
        pieces.push(parse_action(inner.trim())?);
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn parse_action(action: &str) -> Result<Piece> {
    if action == "end" {
        return Ok(Piece::End);
    }
    if let Some(path) = action.strip_prefix("range ") {
        return Ok(Piece::RangeStart(parse_path(path.trim())?));
    }
    if action.starts_with('"') {
        return Ok(Piece::Text(parse_string_literal(action)?));
    }
    Ok(Piece::Expr(parse_path(action)?))
}

/// `"\n"` → a newline; kubectl accepts the usual escapes.
fn parse_string_literal(literal: &str) -> Result<String> {
    let body = literal
        .strip_prefix(['"', '\''])
        .and_then(|s| s.strip_suffix(['"', '\'']))
        .with_context(|| format!("jsonpath: unterminated string {literal}"))?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Ok(out)
}

fn parse_path(path: &str) -> Result<Vec<Step>> {
    let chars: Vec<char> = path.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '$' => {
                steps.push(Step::Root);
                i += 1;
            }
            '@' => i += 1,
            '.' if chars.get(i + 1) == Some(&'.') => {
                steps.push(Step::Descend);
                i += 2;
                if chars.get(i).is_some_and(|c| *c != '[') {
                    let (name, next) = read_field(&chars, i);
                    steps.push(field_step(name));
                    i = next;
                }
            }
            '.' => {
                let (name, next) = read_field(&chars, i + 1);
                if !name.is_empty() {
                    steps.push(field_step(name));
                }
                i = next;
            }
            '[' => {
                let close = matching_bracket(&chars, i)
                    .with_context(|| format!("jsonpath: unclosed [ in {path:?}"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = close + 1;
            }
            c if c.is_whitespace() => i += 1,
            _ => {
                let (name, next) = read_field(&chars, i);
                steps.push(field_step(name));
                i = next;
            }
        }
    }
    Ok(steps)
}

fn field_step(name: String) -> Step {
    if name == "*" {
        Step::Wildcard
    } else {
        Step::Field(name)
    }
}

/// Reads a key up to the next unescaped `.` or `[`; `\.` is a literal dot.
fn read_field(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                name.push(chars[i + 1]);
                i += 2;
            }
            '.' | '[' => break,
            c => {
                name.push(c);
                i += 1;
            }
        }
    }
    (name.trim_end().to_string(), i)
}

fn matching_bracket(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (offset, &c) in chars[open..].iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + offset);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|s| s.strip_suffix(')')) {
        return Ok(Step::Filter(Box::new(parse_filter(filter.trim())?)));
    }
    if inner.starts_with(['\'', '"']) {
        return Ok(Step::Field(parse_string_literal(inner)?));
    }
    if let Some((start, end)) = inner.split_once(':') {
        let bound = |s: &str| -> Result<Option<i64>> {
            let s = s.split(':').next().unwrap_or("").trim();
            if s.is_empty() {
                Ok(None)
            } else {
                Ok(Some(s.parse().with_context(|| {
                    format!("jsonpath: bad slice {inner:?}")
                })?))
            }
        };
        return Ok(Step::Slice(bound(start)?, bound(end)?));
    }
    let index = inner
        .parse()
        .with_context(|| format!("jsonpath: unsupported subscript [{inner}]"))?;
    Ok(Step::Index(index))
}

fn parse_filter(filter: &str) -> Result<Filter> {
    const OPS: [(&str, Op); 6] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let mut quote: Option<char> = None;
    let chars: Vec<(usize, char)> = filter.char_indices().collect();
    for &(at, c) in &chars {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            _ => {
                if let Some((token, op)) = OPS
                    .iter()
                    .find(|(token, _)| filter[at..].starts_with(token))
                {
                    let left = parse_operand(filter[..at].trim())?;
                    let right = parse_operand(filter[at + token.len()..].trim())?;
                    return Ok(Filter {
                        left,
                        comparison: Some((*op, right)),
                    });
                }
            }
        }
    }
    Ok(Filter {
        left: parse_operand(filter)?,
        comparison: None,
    })
}

fn parse_operand(text: &str) -> Result<Operand> {
    if text.starts_with('@') || text.starts_with('$') {
        return Ok(Operand::Path(parse_path(text)?));
    }
    if text.starts_with(['\'', '"']) {
        return Ok(Operand::Literal(Value::String(parse_string_literal(text)?)));
    }
    match text {
        "true" => return Ok(Operand::Literal(Value::Bool(true))),
        "false" => return Ok(Operand::Literal(Value::Bool(false))),
        "nil" | "null" => return Ok(Operand::Literal(Value::Null)),
        _ => {}
    }
    let number: serde_json::Number = text
        .parse()
        .with_context(|| format!("jsonpath: unsupported filter operand {text:?}"))?;
    Ok(Operand::Literal(Value::Number(number)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> Value {
        json!({"kind": "List", "items": [
            {"metadata": {"name": "web-1", "labels": {"app": "web"},
                          "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
             "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "busybox"}]},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}, {"type": "Scheduled", "status": "True"}]}},
            {"metadata": {"name": "db-0", "labels": {"app": "db"}},
             "spec": {"containers": [{"name": "pg", "image": "postgres"}], "replicas": 3},
             "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}},
        ]})
    }

    #[test]
    fn templates() {
        let cases = [
            ("{.kind}", "List"),
            ("{.items[*].metadata.name}", "web-1 db-0"),
            ("{.items[0].metadata.name}", "web-1"),
            ("{.items[-1].metadata.name}", "db-0"),
            ("{.items[0:1].metadata.name}", "web-1"),
            (
                "{range .items[*]}{.metadata.name}{\"\\n\"}{end}",
                "web-1\ndb-0\n",
            ),
            (
                "{range .items[*]}{.metadata.name}{\"\\t\"}{.status.phase}{\"\\n\"}{end}",
                "web-1\tRunning\ndb-0\tPending\n",
            ),
            ("{range .items}[{.metadata.name}]{end}", "[web-1][db-0]"),
            ("{.items[0].metadata.labels.app}", "web"),
            (
                "{.items[0].metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
                "{}",
            ),
            (
                "{.items[0].metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']}",
                "{}",
            ),
            (
                "{.items[1].spec}",
                r#"{"containers":[{"name":"pg","image":"postgres"}],"replicas":3}"#,
            ),
            ("{.items[1].spec.replicas}", "3"),
            (
                "{.items[*].spec.containers[*].image}",
                "nginx:1.25 busybox postgres",
            ),
            (
                "{.items[?(@.metadata.name==\"db-0\")].status.phase}",
                "Pending",
            ),
            (
                "{.items[0].status.conditions[?(@.type=='Ready')].status}",
                "True",
            ),
            ("{.items[?(@.spec.replicas>2)].metadata.name}", "db-0"),
            ("{.items[?(@.spec.replicas)].metadata.name}", "db-0"),
            ("{..image}", "nginx:1.25 busybox postgres"),
            ("{.items[0].metadata.missing}", ""),
            ("name: {.items[0].metadata.name}!", "name: web-1!"),
            ("{$.kind}", "List"),
            ("plain text", "plain text"),
        ];
        let doc = pods();
        for (template, want) in cases {
            let path = JsonPath::parse(template).unwrap_or_else(|e| panic!("{template}: {e}"));
            assert_eq!(path.render(&doc).expect("renders"), want, "{template}");
        }
    }

    #[test]
    fn malformed_templates_are_errors() {
        for template in [
            "{.items[0}",
            "{range .items[*]}{.x}",
            "{end}",
            "{.a",
            "{.items[abc]}",
        ] {
            assert!(JsonPath::parse(template).is_err(), "{template}");
        }
    }
}
