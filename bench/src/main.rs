//! edge-bench: control-plane benchmarks (store throughput vs etcd, API latency, idle footprint).
fn main() {}
