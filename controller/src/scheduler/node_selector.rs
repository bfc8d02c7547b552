//! Node selector terms (`nodeSelectorTerms`, preferred node affinity) and how they match a
//! node's labels and name.

use serde_json::Value;

use super::node_info::NodeInfo;
use super::pod_info::{array, str_at, strings};

/// A node selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

/// One `matchExpressions` or `matchFields` entry of a node selector term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: NodeSelectorOperator,
    pub values: Vec<String>,
}

impl NodeSelectorRequirement {
    fn matches(&self, value: Option<&str>) -> bool {
        let in_values = || value.is_some_and(|v| self.values.iter().any(|x| x == v));
        match self.operator {
            NodeSelectorOperator::In => in_values(),
            NodeSelectorOperator::NotIn => !in_values(),
            NodeSelectorOperator::Exists => value.is_some(),
            NodeSelectorOperator::DoesNotExist => value.is_none(),
            NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                let (Some(Ok(actual)), [bound]) = (value.map(str::parse::<i64>), &self.values[..])
                else {
                    return false;
                };
                let Ok(bound) = bound.parse::<i64>() else {
                    return false;
                };
                if self.operator == NodeSelectorOperator::Gt {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

/// A node selector term: its expressions (on labels) and fields (on `metadata.name`) are ANDed.
/// A term that is empty or failed to parse matches no node, as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<NodeSelectorRequirement>,
    pub match_fields: Vec<NodeSelectorRequirement>,
    pub valid: bool,
}

impl NodeSelectorTerm {
    pub(super) fn from_value(v: &Value) -> Self {
        let parse = |field: &str| -> Option<Vec<NodeSelectorRequirement>> {
            array(v.get(field)).map(parse_node_requirement).collect()
        };
        match (parse("matchExpressions"), parse("matchFields")) {
            (Some(match_expressions), Some(match_fields)) => Self {
                valid: !(match_expressions.is_empty() && match_fields.is_empty()),
                match_expressions,
                match_fields,
            },
            _ => Self::default(),
        }
    }

    pub fn matches(&self, node: &NodeInfo) -> bool {
        self.valid
            && self
                .match_expressions
                .iter()
                .all(|r| r.matches(node.labels.get(&r.key).map(String::as_str)))
            && self
                .match_fields
                .iter()
                .all(|r| r.key == "metadata.name" && r.matches(Some(node.name.as_str())))
    }
}

fn parse_node_requirement(v: &Value) -> Option<NodeSelectorRequirement> {
    let operator = match str_at(v, "operator") {
        "In" => NodeSelectorOperator::In,
        "NotIn" => NodeSelectorOperator::NotIn,
        "Exists" => NodeSelectorOperator::Exists,
        "DoesNotExist" => NodeSelectorOperator::DoesNotExist,
        "Gt" => NodeSelectorOperator::Gt,
        "Lt" => NodeSelectorOperator::Lt,
        _ => return None,
    };
    Some(NodeSelectorRequirement {
        key: str_at(v, "key").to_string(),
        operator,
        values: strings(v.get("values")),
    })
}

/// A `preferredDuringSchedulingIgnoredDuringExecution` node affinity term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredSchedulingTerm {
    pub weight: i64,
    pub term: NodeSelectorTerm,
}
