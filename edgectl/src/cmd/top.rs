//! `top nodes` and `top pods`: CPU and memory use from the resource metrics API
//! (`metrics.k8s.io/v1beta1`), in kubectl's tables and units.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use edge_api::quantity::{Quantity, parse_quantity};
use serde_json::Value;

use super::Session;
use super::get::no_resources_message;
use crate::client::ListParams;
use crate::output;
use crate::tabwriter::TabWriter;

const METRICS_PATH: &str = "/apis/metrics.k8s.io/v1beta1";
const JSON: &str = "application/json";
/// The resources `top` measures, in column order.
const MEASURED: [&str; 2] = ["cpu", "memory"];
/// What kubectl prints in place of a value it does not have.
const UNKNOWN: &str = "<unknown>";

#[derive(Debug, Subcommand)]
pub enum TopCommand {
    /// Display resource (CPU/memory) usage of nodes.
    #[command(visible_alias = "node", alias = "no")]
    Nodes(TopNodesArgs),
    /// Display resource (CPU/memory) usage of pods.
    #[command(visible_alias = "pod", alias = "po")]
    Pods(TopPodsArgs),
}

#[derive(Debug, Args)]
pub struct TopNodesArgs {
    /// Only this node.
    pub name: Option<String>,
    /// Label selector over the nodes' labels, e.g. -l node-role=edge.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Do not print headers.
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Args)]
pub struct TopPodsArgs {
    /// Only this pod.
    pub name: Option<String>,
    /// Label selector over the pods' labels, e.g. -l app=web.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector over the metrics objects, e.g. --field-selector metadata.name=web.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Print the usage of each container instead of each pod.
    #[arg(long)]
    pub containers: bool,
    /// Do not print headers.
    #[arg(long)]
    pub no_headers: bool,
}

pub async fn run(session: &mut Session, command: TopCommand) -> Result<()> {
    match command {
        TopCommand::Nodes(args) => nodes(session, args).await,
        TopCommand::Pods(args) => pods(session, args).await,
    }
}

async fn nodes(session: &Session, args: TopNodesArgs) -> Result<()> {
    let params = ListParams {
        label_selector: args.selector.clone(),
        ..Default::default()
    };
    let client = &session.client;
    let (metrics, nodes) = match &args.name {
        Some(name) => {
            let metric = client.get(&format!("{METRICS_PATH}/nodes/{name}")).await?;
            let node = client.get(&format!("/api/v1/nodes/{name}")).await?;
            (vec![metric], vec![node])
        }
        None => {
            let list = metrics_list(session, &format!("{METRICS_PATH}/nodes"), &params).await?;
            let nodes = client.list("/api/v1/nodes", &params, JSON).await?;
            (items(list), items(nodes))
        }
    };
    if metrics.is_empty() {
        bail!("metrics not available yet");
    }
    let allocatable: BTreeMap<String, Value> = nodes
        .iter()
        .map(|node| {
            (
                str_at(node, "/metadata/name").to_owned(),
                node.pointer("/status/allocatable")
                    .cloned()
                    .unwrap_or(Value::Null),
            )
        })
        .collect();
    let table = node_table(&metrics, &allocatable, !args.no_headers)?;
    output::print(&table)
}

async fn pods(session: &Session, args: TopPodsArgs) -> Result<()> {
    let params = ListParams {
        label_selector: args.selector.clone(),
        field_selector: args.field_selector.clone(),
        ..Default::default()
    };
    let all_namespaces = session.all_namespaces() && args.name.is_none();
    let metrics = match &args.name {
        Some(name) => {
            let path = format!(
                "{METRICS_PATH}/namespaces/{}/pods/{name}",
                session.namespace()
            );
            vec![session.client.get(&path).await?]
        }
        None => {
            let path = if all_namespaces {
                format!("{METRICS_PATH}/pods")
            } else {
                format!("{METRICS_PATH}/namespaces/{}/pods", session.namespace())
            };
            items(metrics_list(session, &path, &params).await?)
        }
    };
    if metrics.is_empty() {
        // As kubectl: pods without metrics are too young to have any yet; no pods is no error.
        let path = if all_namespaces {
            "/api/v1/pods".to_owned()
        } else {
            format!("/api/v1/namespaces/{}/pods", session.namespace())
        };
        let pods = session.client.list_page(&path, &params, JSON).await?;
        if !items(pods).is_empty() {
            bail!("metrics not available yet");
        }
        let namespace = (!all_namespaces).then(|| session.namespace());
        eprintln!("{}", no_resources_message(namespace));
        return Ok(());
    }
    let table = pod_table(&metrics, all_namespaces, args.containers, !args.no_headers)?;
    output::print(&table)
}

/// Lists metrics objects; a server without the metrics API answers 404 to every list.
async fn metrics_list(session: &Session, path: &str, params: &ListParams) -> Result<Value> {
    match session.client.list_page(path, params, JSON).await {
        Ok(list) => Ok(list),
        Err(err) if err.is_not_found() => Err(anyhow!("Metrics API not available")),
        Err(err) => Err(err.into()),
    }
}

fn items(list: Value) -> Vec<Value> {
    match list {
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Tables, as kubectl's `metricsutil.TopCmdPrinter` writes them

/// `NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)`, the percentages of each node's
/// allocatable resources; nodes listed without metrics come last with `<unknown>`.
fn node_table(
    metrics: &[Value],
    allocatable: &BTreeMap<String, Value>,
    headers: bool,
) -> Result<String> {
    let mut table = table();
    if headers {
        table.row(row([
            "NAME",
            "CPU(cores)",
            "CPU(%)",
            "MEMORY(bytes)",
            "MEMORY(%)",
        ]));
    }
    let mut sorted: Vec<&Value> = metrics.iter().collect();
    sorted.sort_by_key(|m| str_at(m, "/metadata/name"));
    for metric in &sorted {
        let name = str_at(metric, "/metadata/name");
        let mut cells = vec![name.to_owned()];
        for resource in MEASURED {
            let used = usage_quantity(&metric["usage"], resource)?;
            cells.push(usage_text(resource, &used));
            let available = allocatable
                .get(name)
                .and_then(|a| a.get(resource))
                .and_then(Value::as_str)
                .and_then(|q| parse_quantity(q).ok());
            // kubectl prints no percentage at all for a node it did not list.
            if allocatable.contains_key(name) {
                cells.push(match available {
                    Some(available) => percent(&used, &available),
                    None => UNKNOWN.to_owned(),
                });
            }
        }
        cells.push(String::new());
        table.row(cells);
    }
    for name in allocatable.keys() {
        if !sorted.iter().any(|m| str_at(m, "/metadata/name") == name) {
            let mut cells = vec![name.clone()];
            cells.extend([UNKNOWN; 4].map(str::to_owned));
            cells.push(String::new());
            table.row(cells);
        }
    }
    Ok(table.render())
}

/// `NAME CPU(cores) MEMORY(bytes)`, with `NAMESPACE` first across namespaces, and `POD` before
/// `NAME` (then a container's name) for `--containers`.
fn pod_table(
    metrics: &[Value],
    all_namespaces: bool,
    containers: bool,
    headers: bool,
) -> Result<String> {
    let mut table = table();
    if headers {
        let mut cells = Vec::new();
        if all_namespaces {
            cells.push("NAMESPACE");
        }
        if containers {
            cells.push("POD");
        }
        cells.extend(["NAME", "CPU(cores)", "MEMORY(bytes)", ""]);
        table.row(cells.into_iter().map(str::to_owned).collect());
    }
    let mut sorted: Vec<&Value> = metrics.iter().collect();
    sorted.sort_by_key(|m| {
        let namespace = if all_namespaces {
            str_at(m, "/metadata/namespace")
        } else {
            ""
        };
        (namespace, str_at(m, "/metadata/name"))
    });
    for metric in sorted {
        let mut prefix = Vec::new();
        if all_namespaces {
            prefix.push(str_at(metric, "/metadata/namespace").to_owned());
        }
        let pod = str_at(metric, "/metadata/name");
        let mut per_container: BTreeMap<&str, HashMap<&str, Quantity>> = BTreeMap::new();
        for container in metric["containers"].as_array().into_iter().flatten() {
            let mut usage = HashMap::new();
            for resource in MEASURED {
                usage.insert(resource, usage_quantity(&container["usage"], resource)?);
            }
            per_container.insert(str_at(container, "/name"), usage);
        }
        if containers {
            for (container, usage) in &per_container {
                let mut cells = prefix.clone();
                cells.extend([pod.to_owned(), (*container).to_owned()]);
                cells.extend(MEASURED.map(|r| usage_text(r, &usage[r])));
                cells.push(String::new());
                table.row(cells);
            }
        } else {
            let mut cells = prefix;
            cells.push(pod.to_owned());
            cells.push(format!(
                "{}m",
                sum(per_container.values(), "cpu", Quantity::milli_value)
            ));
            cells.push(format!(
                "{}Mi",
                sum(per_container.values(), "memory", Quantity::value) / (1024 * 1024)
            ));
            cells.push(String::new());
            table.row(cells);
        }
    }
    Ok(table.render())
}

/// kubectl's tab writer (`printers.GetNewTabWriter`): cells at least 6 wide, 3 apart. Every
/// line ends in a tab there, so the last column is padded too; an empty last cell does that.
fn table() -> TabWriter {
    TabWriter::new(6, 3)
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    let mut row: Vec<String> = cells.iter().map(|c| (*c).to_owned()).collect();
    row.push(String::new());
    row
}

fn sum<'a>(
    usages: impl Iterator<Item = &'a HashMap<&'a str, Quantity>>,
    resource: &str,
    unit: fn(&Quantity) -> i64,
) -> i64 {
    usages.filter_map(|u| u.get(resource)).map(unit).sum()
}

/// One resource of a `usage` object; a missing one counts as zero, as in kubectl.
fn usage_quantity(usage: &Value, resource: &str) -> Result<Quantity> {
    let text = usage.get(resource).and_then(Value::as_str).unwrap_or("0");
    parse_quantity(text).map_err(|e| anyhow!("the server sent {resource} usage {text:?}: {e}"))
}

/// A usage as kubectl prints it: CPU in millicores rounded up, memory in whole MiB.
fn usage_text(resource: &str, quantity: &Quantity) -> String {
    match resource {
        "cpu" => format!("{}m", quantity.milli_value()),
        "memory" => format!("{}Mi", quantity.value() / (1024 * 1024)),
        _ => quantity.value().to_string(),
    }
}

/// `used` as a whole percentage of `available`, truncated, as kubectl computes it.
fn percent(used: &Quantity, available: &Quantity) -> String {
    let available = available.milli_value();
    if available <= 0 {
        return UNKNOWN.to_owned();
    }
    let fraction = used.milli_value() as f64 / available as f64 * 100.0;
    format!("{}%", fraction as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(text: &str) -> Quantity {
        parse_quantity(text).expect("a quantity")
    }

    #[test]
    fn usages_print_in_kubectl_units() {
        let cases = [
            ("cpu", "250m", "250m"),
            ("cpu", "1234567n", "2m"),
            ("cpu", "2", "2000m"),
            ("cpu", "0", "0m"),
            ("memory", "12345Ki", "12Mi"),
            ("memory", "64Mi", "64Mi"),
            ("memory", "1500", "0Mi"),
            ("memory", "2Gi", "2048Mi"),
        ];
        for (resource, quantity, want) in cases {
            assert_eq!(usage_text(resource, &q(quantity)), want, "{quantity}");
        }
        let percents = [
            ("250m", "2", "12%"),
            ("2", "2", "100%"),
            ("512Mi", "2Gi", "25%"),
            ("1", "0", UNKNOWN),
        ];
        for (used, available, want) in percents {
            assert_eq!(percent(&q(used), &q(available)), want, "{used}/{available}");
        }
    }

    fn node_metric(name: &str, cpu: &str, memory: &str) -> Value {
        json!({"metadata": {"name": name}, "usage": {"cpu": cpu, "memory": memory}})
    }

    #[test]
    fn node_table_has_percentages_and_unknown_nodes() {
        let metrics = [
            node_metric("edge-b", "1500m", "1Gi"),
            node_metric("edge-a", "250m", "12345Ki"),
        ];
        let allocatable: BTreeMap<String, Value> = [
            ("edge-a", json!({"cpu": "2", "memory": "4Gi"})),
            ("edge-b", json!({"cpu": "4", "memory": "2Gi"})),
            ("edge-c", json!({"cpu": "4", "memory": "2Gi"})),
        ]
        .into_iter()
        .map(|(n, a)| (n.to_owned(), a))
        .collect();
        let table = node_table(&metrics, &allocatable, true).expect("a table");
        let lines: Vec<&str> = table.lines().map(str::trim_end).collect();
        assert_eq!(
            lines,
            [
                "NAME     CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)",
                "edge-a   250m         12%         12Mi            0%",
                "edge-b   1500m        37%         1024Mi          50%",
                "edge-c   <unknown>    <unknown>   <unknown>       <unknown>",
            ]
        );
        // kubectl pads the last column too.
        assert!(
            table
                .lines()
                .next()
                .is_some_and(|l| l.ends_with("MEMORY(%)   "))
        );
        let bare = node_table(&metrics[..1], &BTreeMap::new(), false).expect("a table");
        assert_eq!(bare.trim_end(), "edge-b   1500m   1024Mi");
    }

    fn pod_metric(namespace: &str, name: &str, containers: &[(&str, &str, &str)]) -> Value {
        let containers: Vec<Value> = containers
            .iter()
            .map(|(c, cpu, memory)| json!({"name": c, "usage": {"cpu": cpu, "memory": memory}}))
            .collect();
        json!({
            "metadata": {"name": name, "namespace": namespace},
            "containers": containers,
        })
    }

    #[test]
    fn pod_tables_sum_containers_or_list_them() {
        let metrics = [
            pod_metric(
                "default",
                "web",
                &[("app", "3m", "5Mi"), ("side", "1m", "3072Ki")],
            ),
            pod_metric("apps", "api", &[("api", "0", "1500")]),
        ];
        let render = |all: bool, containers: bool| -> Vec<String> {
            pod_table(&metrics, all, containers, true)
                .expect("a table")
                .lines()
                .map(|l| l.trim_end().to_owned())
                .collect()
        };
        assert_eq!(
            render(false, false),
            [
                "NAME   CPU(cores)   MEMORY(bytes)",
                "api    0m           0Mi",
                "web    4m           8Mi",
            ]
        );
        assert_eq!(
            render(true, false),
            [
                "NAMESPACE   NAME   CPU(cores)   MEMORY(bytes)",
                "apps        api    0m           0Mi",
                "default     web    4m           8Mi",
            ]
        );
        assert_eq!(
            render(true, true),
            [
                "NAMESPACE   POD   NAME   CPU(cores)   MEMORY(bytes)",
                "apps        api   api    0m           0Mi",
                "default     web   app    3m           5Mi",
                "default     web   side   1m           3Mi",
            ]
        );
    }

    #[test]
    fn bad_quantities_from_the_server_are_errors() {
        let metrics = [node_metric("edge-a", "lots", "1Mi")];
        let err = node_table(&metrics, &BTreeMap::new(), true).expect_err("an error");
        assert!(err.to_string().contains("cpu usage \"lots\""), "{err}");
    }

    #[test]
    fn items_of_a_list() {
        assert_eq!(items(json!({"items": [1, 2]})), vec![json!(1), json!(2)]);
        assert!(items(json!({"kind": "Status"})).is_empty());
    }
}
