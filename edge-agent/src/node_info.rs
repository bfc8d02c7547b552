//! What the agent reports about its device: architecture, OS, capacity, addresses, model.
//!
//! Read from `/proc`, `/etc/os-release`, `uname` and the device tree once at start; parsing is
//! split from reading so it is tested with fixed inputs.

use std::net::IpAddr;

use edge_wire::link::{NodeInfo, Resources};

/// Pods per node unless `--max-pods` says otherwise (the kubelet's default).
pub const DEFAULT_MAX_PODS: u64 = 110;

/// Settings that shape the node description.
pub struct NodeSettings {
    pub hostname: String,
    pub labels: Vec<(String, String)>,
    pub taints: Vec<String>,
    pub node_ip: Option<IpAddr>,
    pub max_pods: u64,
    pub runtimes: Vec<String>,
    pub metrics_port: u16,
    /// Memory kept back from pods (`--reserved-memory`), in bytes.
    pub reserved_memory: u64,
    /// The agent's data directory; its filesystem's size is the node's ephemeral storage.
    pub data_dir: std::path::PathBuf,
}

/// Describes this device.
pub fn collect(settings: &NodeSettings) -> NodeInfo {
    let (arch, arch_variant) = kube_arch(std::env::consts::ARCH);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| meminfo_total(&text))
        .unwrap_or(0);
    let storage = disk_capacity(&settings.data_dir);
    let capacity = Resources {
        cpu_millis: cpus * 1000,
        memory_bytes: memory,
        pods: settings.max_pods,
        ephemeral_storage_bytes: storage,
    };
    let allocatable = Resources {
        memory_bytes: memory.saturating_sub(settings.reserved_memory),
        ..capacity
    };
    let mut addresses = Vec::new();
    if let Some(ip) = settings.node_ip.or_else(edge_wire::host::first_ipv4) {
        addresses.push(("InternalIP".to_owned(), ip.to_string()));
    }
    addresses.push(("Hostname".to_owned(), settings.hostname.clone()));
    NodeInfo {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        hostname: settings.hostname.clone(),
        os: std::env::consts::OS.to_owned(),
        arch: arch.to_owned(),
        arch_variant: arch_variant.to_owned(),
        kernel_version: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default(),
        os_image: std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| pretty_name(&text))
            .unwrap_or_else(|| "Linux".to_owned()),
        instance_type: read_trimmed("/proc/device-tree/model")
            .map(|m| m.trim_end_matches('\0').to_owned())
            .filter(|m| !m.is_empty()),
        capacity,
        allocatable,
        labels: settings.labels.clone(),
        taints: settings.taints.clone(),
        runtimes: settings.runtimes.clone(),
        addresses,
        metrics_port: settings.metrics_port,
    }
}

/// Kubernetes' architecture name (and ARM variant) for Rust's `target_arch`.
pub fn kube_arch(rust_arch: &str) -> (&'static str, &'static str) {
    match rust_arch {
        "x86_64" => ("amd64", ""),
        "aarch64" => ("arm64", ""),
        "arm" => ("arm", "v7"),
        "riscv64" => ("riscv64", ""),
        "x86" => ("386", ""),
        "powerpc64" => ("ppc64le", ""),
        "s390x" => ("s390x", ""),
        _ => ("unknown", ""),
    }
}

fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn pretty_name(os_release: &str) -> Option<String> {
    let line = os_release.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    let value = line.trim_start_matches("PRETTY_NAME=").trim_matches('"');
    (!value.is_empty()).then(|| value.to_owned())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Size of the filesystem holding `dir`, in bytes (0 when it cannot be read).
fn disk_capacity(dir: &std::path::Path) -> u64 {
    rustix::fs::statvfs(dir)
        .map(|st| st.f_blocks.saturating_mul(st.f_frsize))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_and_os_release() {
        let meminfo = "MemTotal:        3884396 kB\nMemFree:          120000 kB\n";
        assert_eq!(meminfo_total(meminfo), Some(3_884_396 * 1024));
        assert_eq!(meminfo_total("garbage"), None);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            pretty_name(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("ID=debian"), None);
    }

    #[test]
    fn maps_rust_architectures_to_kubernetes_names() {
        assert_eq!(kube_arch("x86_64"), ("amd64", ""));
        assert_eq!(kube_arch("aarch64"), ("arm64", ""));
        assert_eq!(kube_arch("arm"), ("arm", "v7"));
    }
}
