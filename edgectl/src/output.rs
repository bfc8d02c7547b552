//! Output formats (`-o json|yaml|name|wide|jsonpath=|custom-columns=`) and writing to stdout.

use std::io::Write;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::jsonpath::JsonPath;
use crate::resources::object_ref_of;
use crate::tabwriter::TabWriter;

/// What `-o` asked for.
#[derive(Debug, Clone)]
pub enum OutputFormat {
    Table,
    Wide,
    Json,
    Yaml,
    Name,
    JsonPath(JsonPath),
    CustomColumns(Vec<(String, JsonPath)>),
}

impl OutputFormat {
    pub fn parse(flag: Option<&str>) -> Result<OutputFormat> {
        let Some(flag) = flag else {
            return Ok(OutputFormat::Table);
        };
        let (name, argument) = match flag.split_once('=') {
            Some((name, argument)) => (name, Some(argument)),
            None => (flag, None),
        };
        Ok(match (name, argument) {
            ("wide", None) => OutputFormat::Wide,
            ("json", None) => OutputFormat::Json,
            ("yaml", None) => OutputFormat::Yaml,
            ("name", None) => OutputFormat::Name,
            ("jsonpath", Some(template)) => OutputFormat::JsonPath(JsonPath::parse(template)?),
            ("jsonpath", None) => bail!("template format specified but no template given"),
            ("custom-columns", Some(spec)) => {
                OutputFormat::CustomColumns(parse_custom_columns(spec)?)
            }
            _ => bail!(
                "unable to match a printer suitable for the output format \"{flag}\", allowed formats are: custom-columns,json,jsonpath,name,wide,yaml"
            ),
        })
    }

    /// Whether the server should be asked for a `Table`.
    pub fn wants_table(&self) -> bool {
        matches!(self, OutputFormat::Table | OutputFormat::Wide)
    }
}

/// `NAME:.metadata.name,IMAGE:.spec.containers[*].image`; paths may omit the braces and leading dot.
fn parse_custom_columns(spec: &str) -> Result<Vec<(String, JsonPath)>> {
    spec.split(',')
        .map(|column| {
            let (header, path) = column.split_once(':').with_context(|| {
                format!("custom-columns format expects NAME:PATH pairs, got {column:?}")
            })?;
            let path = path.trim();
            let template = if path.starts_with('{') {
                path.to_string()
            } else if path.starts_with('.') {
                format!("{{{path}}}")
            } else {
                format!("{{.{path}}}")
            };
            Ok((header.to_string(), JsonPath::parse(&template)?))
        })
        .collect()
}

/// Writes to stdout; a closed pipe surfaces as an `io::Error` that `main` treats as success.
pub fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Writes one line to stdout.
pub fn println(text: &str) -> Result<()> {
    print(&format!("{text}\n"))
}

/// JSON indented by four spaces, as kubectl prints it.
pub fn to_json(value: &Value) -> String {
    let mut buffer = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut buffer, formatter);
    // Serialising a `Value` into memory cannot fail.
    let _ = value.serialize(&mut serializer);
    String::from_utf8_lossy(&buffer).into_owned()
}

pub fn to_yaml(value: &Value) -> Result<String> {
    serde_yaml_ng::to_string(value).context("cannot encode as YAML")
}

/// The `v1 List` kubectl prints for more than one object.
pub fn list_of(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// Prints objects in a non-table format; `single` prints the lone object itself rather than a `List`.
pub fn print_objects(format: &OutputFormat, objects: Vec<Value>, single: bool) -> Result<()> {
    let document = if single && objects.len() == 1 {
        objects.into_iter().next().unwrap_or_default()
    } else {
        list_of(objects)
    };
    print(&render_document(format, &document)?)
}

/// Renders a single object or a `List` in a non-table format.
pub fn render_document(format: &OutputFormat, document: &Value) -> Result<String> {
    let items = || -> Vec<&Value> {
        match document.get("kind").and_then(Value::as_str) {
            Some("List") => document
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect(),
            _ => vec![document],
        }
    };
    Ok(match format {
        OutputFormat::Json => format!("{}\n", to_json(document)),
        OutputFormat::Yaml => to_yaml(document)?,
        OutputFormat::Name => items()
            .into_iter()
            .map(|o| format!("{}\n", object_ref_of(o)))
            .collect(),
        OutputFormat::JsonPath(path) => path.render(document)?,
        OutputFormat::CustomColumns(columns) => render_custom_columns(columns, &items(), false)?,
        OutputFormat::Table | OutputFormat::Wide => {
            bail!("a table cannot be rendered from plain objects")
        }
    })
}

/// The `custom-columns` table: one row per object, `<none>` for missing values.
pub fn render_custom_columns(
    columns: &[(String, JsonPath)],
    objects: &[&Value],
    no_headers: bool,
) -> Result<String> {
    let mut table = TabWriter::new(3, 3);
    if !no_headers {
        table.row(columns.iter().map(|(h, _)| h.clone()).collect());
    }
    for object in objects {
        let mut cells = Vec::new();
        for (_, path) in columns {
            let values = path.values(object);
            let cell = values
                .iter()
                .map(|v| crate::jsonpath::to_text(v))
                .collect::<Vec<_>>()
                .join(",");
            cells.push(if cell.is_empty() {
                "<none>".to_string()
            } else {
                cell
            });
        }
        table.row(cells);
    }
    Ok(table.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_flags() {
        assert!(matches!(
            OutputFormat::parse(None).expect("none"),
            OutputFormat::Table
        ));
        assert!(matches!(
            OutputFormat::parse(Some("wide")).expect("wide"),
            OutputFormat::Wide
        ));
        assert!(matches!(
            OutputFormat::parse(Some("jsonpath={.kind}")).expect("jsonpath"),
            OutputFormat::JsonPath(_)
        ));
        assert!(OutputFormat::parse(Some("toml")).is_err());
        assert!(OutputFormat::parse(Some("jsonpath")).is_err());
    }

    #[test]
    fn json_uses_four_spaces_and_lists_wrap() {
        let doc = list_of(vec![json!({"kind": "Pod"})]);
        let text = render_document(&OutputFormat::Json, &doc).expect("json");
        assert!(
            text.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n        {"),
            "{text}"
        );
    }

    #[test]
    fn names_and_custom_columns() {
        let doc = list_of(vec![
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        ]);
        assert_eq!(
            render_document(&OutputFormat::Name, &doc).expect("name"),
            "deployment.apps/web\npod/p\n"
        );
        let format = OutputFormat::parse(Some(
            "custom-columns=NAME:.metadata.name,REPLICAS:spec.replicas",
        ))
        .expect("columns");
        assert_eq!(
            render_document(&format, &doc).expect("columns"),
            "NAME   REPLICAS\nweb    2\np      <none>\n"
        );
    }
}
