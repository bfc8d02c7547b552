//! Table columns of services, configuration, nodes, events and storage.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, Column, NAME, RowFn, arr_at, col, int_at, labels_string, name_cell, or_none, str_at,
    time_at, wide,
};
use crate::meta::{self, age_since};

pub(crate) fn services() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Type", "string", "The type of the service."),
        col("Cluster-IP", "string", "The cluster IP of the service."),
        col("External-IP", "string", "The external IP of the service."),
        col("Port(s)", "string", "The ports of the service."),
        AGE,
        wide(
            "Selector",
            "string",
            "Route service traffic to pods with label keys and values matching this selector.",
        ),
    ];
    (columns, |s, now| {
        let service_type = str_at(s, "/spec/type");
        let service_type = if service_type.is_empty() {
            "ClusterIP"
        } else {
            service_type
        };
        let external_ips: Vec<&str> = arr_at(s, "/spec/externalIPs")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let external = match service_type {
            "ExternalName" => str_at(s, "/spec/externalName").to_string(),
            "LoadBalancer" => {
                let mut ips: Vec<&str> = arr_at(s, "/status/loadBalancer/ingress")
                    .iter()
                    .map(|i| {
                        if str_at(i, "/ip").is_empty() {
                            str_at(i, "/hostname")
                        } else {
                            str_at(i, "/ip")
                        }
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                ips.extend(&external_ips);
                if ips.is_empty() {
                    "<pending>".to_string()
                } else {
                    ips.join(",")
                }
            }
            _ => external_ips.join(","),
        };
        let ports: Vec<String> = arr_at(s, "/spec/ports")
            .iter()
            .map(|p| {
                let protocol = if str_at(p, "/protocol").is_empty() {
                    "TCP"
                } else {
                    str_at(p, "/protocol")
                };
                match int_at(p, "/nodePort") {
                    0 => format!("{}/{protocol}", int_at(p, "/port")),
                    node => format!("{}:{node}/{protocol}", int_at(p, "/port")),
                }
            })
            .collect();
        vec![
            name_cell(s),
            json!(service_type),
            or_none(str_at(s, "/spec/clusterIP")),
            or_none(&external),
            or_none(&ports.join(",")),
            json!(meta::age(s, now)),
            labels_string(s.pointer("/spec/selector")),
        ]
    })
}

/// The first three entries joined by commas, then `+ N more...` as kubectl abbreviates.
fn abbreviate(items: &[String]) -> String {
    if items.len() > 3 {
        format!("{} + {} more...", items[..3].join(","), items.len() - 3)
    } else {
        items.join(",")
    }
}

pub(crate) fn endpoints() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Endpoints", "string", "Endpoints of the service."),
        AGE,
    ];
    (columns, |e, now| {
        let mut items = Vec::new();
        for subset in arr_at(e, "/subsets") {
            let addresses = arr_at(subset, "/addresses");
            let ports = arr_at(subset, "/ports");
            for a in addresses {
                if ports.is_empty() {
                    items.push(str_at(a, "/ip").to_string());
                }
                for p in ports {
                    items.push(format!("{}:{}", str_at(a, "/ip"), int_at(p, "/port")));
                }
            }
        }
        vec![
            name_cell(e),
            or_none(&abbreviate(&items)),
            json!(meta::age(e, now)),
        ]
    })
}

pub(crate) fn endpoint_slices() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("AddressType", "string", "The IP protocol for this slice."),
        col("Ports", "string", "The ports of the slice."),
        col("Endpoints", "string", "The endpoints of the slice."),
        AGE,
    ];
    (columns, |e, now| {
        let ports: Vec<String> = arr_at(e, "/ports")
            .iter()
            .map(|p| int_at(p, "/port").to_string())
            .collect();
        let addresses: Vec<String> = arr_at(e, "/endpoints")
            .iter()
            .flat_map(|ep| {
                arr_at(ep, "/addresses")
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let ports = if ports.is_empty() {
            "<unset>".to_string()
        } else {
            ports.join(",")
        };
        let addresses = if addresses.is_empty() {
            "<unset>".to_string()
        } else {
            abbreviate(&addresses)
        };
        vec![
            name_cell(e),
            json!(str_at(e, "/addressType")),
            json!(ports),
            json!(addresses),
            json!(meta::age(e, now)),
        ]
    })
}

pub(crate) fn config_maps() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Data", "integer", "Number of keys in the config map."),
        AGE,
    ];
    (columns, |c, now| {
        let count = |p: &str| {
            c.pointer(p)
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
        };
        vec![
            name_cell(c),
            json!(count("/data") + count("/binaryData")),
            json!(meta::age(c, now)),
        ]
    })
}

pub(crate) fn secrets() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Type", "string", "The type of the secret."),
        col("Data", "integer", "Number of keys in the secret."),
        AGE,
    ];
    (columns, |s, now| {
        let data = s
            .pointer("/data")
            .and_then(Value::as_object)
            .map_or(0, |m| m.len());
        vec![
            name_cell(s),
            json!(str_at(s, "/type")),
            json!(data),
            json!(meta::age(s, now)),
        ]
    })
}

pub(crate) fn namespaces() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Status", "string", "The status of the namespace."),
        AGE,
    ];
    (columns, |n, now| {
        vec![
            name_cell(n),
            json!(str_at(n, "/status/phase")),
            json!(meta::age(n, now)),
        ]
    })
}

pub(crate) fn nodes() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Status", "string", "The status of the node."),
        col("Roles", "string", "The roles of the node."),
        AGE,
        col("Version", "string", "Kubelet Version reported by the node."),
        wide("Internal-IP", "string", "List of internal IPs in the node."),
        wide("External-IP", "string", "List of external IPs in the node."),
        wide(
            "OS-Image",
            "string",
            "OS image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        ),
        wide(
            "Kernel-Version",
            "string",
            "Kernel version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        ),
        wide(
            "Container-Runtime",
            "string",
            "Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        ),
    ];
    (columns, |n, now| {
        let ready = arr_at(n, "/status/conditions")
            .iter()
            .find(|c| str_at(c, "/type") == "Ready")
            .map(|c| str_at(c, "/status"));
        let mut status = match ready {
            Some("True") => "Ready".to_string(),
            Some("False") => "NotReady".to_string(),
            _ => "Unknown".to_string(),
        };
        if n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
            status.push_str(",SchedulingDisabled");
        }
        let mut roles: Vec<String> = meta::labels(n)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                Some(role) if !role.is_empty() => Some(role.to_string()),
                _ if k == "kubernetes.io/role" => v.as_str().map(str::to_string),
                _ => None,
            })
            .collect();
        roles.sort();
        roles.dedup();
        let address = |kind: &str| {
            let found: Vec<&str> = arr_at(n, "/status/addresses")
                .iter()
                .filter(|a| str_at(a, "/type") == kind)
                .map(|a| str_at(a, "/address"))
                .collect();
            or_none(&found.join(","))
        };
        let info = |field: &str| {
            let v = str_at(n, &format!("/status/nodeInfo/{field}"));
            if v.is_empty() {
                json!("<unknown>")
            } else {
                json!(v)
            }
        };
        vec![
            name_cell(n),
            json!(status),
            or_none(&roles.join(",")),
            json!(meta::age(n, now)),
            json!(str_at(n, "/status/nodeInfo/kubeletVersion")),
            address("InternalIP"),
            address("ExternalIP"),
            info("osImage"),
            info("kernelVersion"),
            info("containerRuntimeVersion"),
        ]
    })
}

pub(crate) fn events() -> (Vec<Column>, RowFn) {
    let columns = vec![
        col(
            "Last Seen",
            "string",
            "Time when last event from this object was seen.",
        ),
        col(
            "Type",
            "string",
            "Type of this event (Normal, Warning), new types could be added in the future.",
        ),
        col(
            "Reason",
            "string",
            "Short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        col("Object", "string", "The object that this event is about."),
        wide("Subobject", "string", "The subobject this event is about."),
        wide("Source", "string", "The component reporting this event."),
        col(
            "Message",
            "string",
            "A human-readable description of the status of this operation.",
        ),
        wide(
            "First Seen",
            "string",
            "The first time this event was seen.",
        ),
        wide(
            "Count",
            "string",
            "The number of times this event has occurred.",
        ),
        Column {
            priority: 1,
            ..NAME
        },
    ];
    (columns, event_row)
}

/// Works for both `v1` events and `events.k8s.io/v1` events.
fn event_row(e: &Value, now: Timestamp) -> Vec<Value> {
    let last = time_at(e, "/lastTimestamp")
        .or_else(|| time_at(e, "/series/lastObservedTime"))
        .or_else(|| time_at(e, "/eventTime"))
        .or_else(|| time_at(e, "/deprecatedLastTimestamp"))
        .or_else(|| meta::creation_timestamp(e));
    let first = time_at(e, "/firstTimestamp")
        .or_else(|| time_at(e, "/deprecatedFirstTimestamp"))
        .or_else(|| time_at(e, "/eventTime"))
        .or(last);
    let count = e
        .pointer("/count")
        .or_else(|| e.pointer("/series/count"))
        .or_else(|| e.pointer("/deprecatedCount"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let last_seen = if count > 1 {
        format!(
            "{} (x{count} over {})",
            age_since(last, now),
            age_since(first, now)
        )
    } else {
        age_since(last, now)
    };
    let involved = e
        .get("involvedObject")
        .or_else(|| e.get("regarding"))
        .unwrap_or(&Value::Null);
    let object = format!(
        "{}/{}",
        str_at(involved, "/kind").to_ascii_lowercase(),
        str_at(involved, "/name")
    );
    let message = e
        .get("message")
        .or_else(|| e.get("note"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let source = {
        let component = e
            .pointer("/source/component")
            .or_else(|| e.pointer("/reportingController"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let host = str_at(e, "/source/host");
        if host.is_empty() {
            component.to_string()
        } else {
            format!("{component}, {host}")
        }
    };
    vec![
        json!(last_seen),
        json!(str_at(e, "/type")),
        json!(str_at(e, "/reason")),
        json!(object),
        json!(str_at(involved, "/fieldPath")),
        json!(source),
        json!(message.trim()),
        json!(age_since(first, now)),
        json!(count.to_string()),
        name_cell(e),
    ]
}

pub(crate) fn leases() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Holder", "string", "The holder of the lease."),
        AGE,
    ];
    (columns, |l, now| {
        vec![
            name_cell(l),
            json!(str_at(l, "/spec/holderIdentity")),
            json!(meta::age(l, now)),
        ]
    })
}

fn access_modes(obj: &Value, pointer: &str) -> String {
    let mut modes: Vec<&str> = arr_at(obj, pointer)
        .iter()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect();
    modes.dedup();
    modes.join(",")
}

pub(crate) fn pvcs() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Status", "string", "The phase of the claim."),
        col("Volume", "string", "The name of the bound volume."),
        col("Capacity", "string", "The capacity of the bound volume."),
        col(
            "Access Modes",
            "string",
            "The access modes of the bound volume.",
        ),
        col("StorageClass", "string", "The storage class of the claim."),
        col(
            "VolumeAttributesClass",
            "string",
            "The volume attributes class of the claim.",
        ),
        AGE,
        wide("VolumeMode", "string", "The volume mode of the claim."),
    ];
    (columns, |c, now| {
        let bound = !str_at(c, "/spec/volumeName").is_empty();
        let capacity = if bound {
            str_at(c, "/status/capacity/storage")
        } else {
            ""
        };
        let modes = if bound {
            access_modes(c, "/status/accessModes")
        } else {
            String::new()
        };
        let vac = str_at(c, "/spec/volumeAttributesClassName");
        vec![
            name_cell(c),
            json!(str_at(c, "/status/phase")),
            json!(str_at(c, "/spec/volumeName")),
            json!(capacity),
            json!(modes),
            json!(str_at(c, "/spec/storageClassName")),
            json!(if vac.is_empty() { "<unset>" } else { vac }),
            json!(meta::age(c, now)),
            json!(str_at(c, "/spec/volumeMode")),
        ]
    })
}

pub(crate) fn pvs() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Capacity", "string", "The capacity of the volume."),
        col("Access Modes", "string", "The access modes of the volume."),
        col(
            "Reclaim Policy",
            "string",
            "What happens to the volume when its claim is released.",
        ),
        col("Status", "string", "The phase of the volume."),
        col("Claim", "string", "The claim bound to the volume."),
        col("StorageClass", "string", "The storage class of the volume."),
        col(
            "VolumeAttributesClass",
            "string",
            "The volume attributes class of the volume.",
        ),
        col("Reason", "string", "Why the volume is in its phase."),
        AGE,
        wide("VolumeMode", "string", "The volume mode of the volume."),
    ];
    (columns, |v, now| {
        let claim = match v.pointer("/spec/claimRef") {
            Some(r) => format!("{}/{}", str_at(r, "/namespace"), str_at(r, "/name")),
            None => String::new(),
        };
        let vac = str_at(v, "/spec/volumeAttributesClassName");
        vec![
            name_cell(v),
            json!(str_at(v, "/spec/capacity/storage")),
            json!(access_modes(v, "/spec/accessModes")),
            json!(str_at(v, "/spec/persistentVolumeReclaimPolicy")),
            json!(str_at(v, "/status/phase")),
            json!(claim),
            json!(str_at(v, "/spec/storageClassName")),
            json!(if vac.is_empty() { "<unset>" } else { vac }),
            json!(str_at(v, "/status/reason")),
            json!(meta::age(v, now)),
            json!(str_at(v, "/spec/volumeMode")),
        ]
    })
}

pub(crate) fn service_accounts() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col(
            "Secrets",
            "integer",
            "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
        ),
        AGE,
    ];
    (columns, |s, now| {
        vec![
            name_cell(s),
            json!(arr_at(s, "/secrets").len()),
            json!(meta::age(s, now)),
        ]
    })
}
