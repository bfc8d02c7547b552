#!/usr/bin/env bash
# Runs the benchmarks behind BENCHMARKS.md: store throughput (Edgeplane API, 1 and 3 nodes, vs
# etcd 1 and 3 nodes, plus in-process Store::propose), API create-pod latency at a fixed rate,
# the idle footprint of one controller, and the edge agent (Wasm pod start latency, HTTP
# requests/s next to `wasmtime serve`, idle RSS and disk writes). Everything listens on
# 127.0.0.1 only; edge-bench starts and kills (by PID) every process it uses. Prints markdown
# tables on stdout and keeps a copy in $BENCH_OUT (default target/bench-results.md).
#
# Usage: bash scripts/bench.sh [all|control|agent]   (default all; control = store, api, idle)
#
# Knobs: BENCH_WORK_DIR (scratch parent, must be a real disk; default /var/tmp),
#        BENCH_STORE_SECONDS (10), BENCH_API_SECONDS (20), BENCH_AGENT_SECONDS (10),
#        BENCH_SKIP_INSTALL=1 (no apt-get of etcd, no cargo install of wasmtime-cli).
set -euo pipefail
cd "$(dirname "$0")/.."

phases=${1:-all}
case $phases in
  all | control | agent) ;;
  *)
    echo "usage: $0 [all|control|agent]" >&2
    exit 2
    ;;
esac
out=${BENCH_OUT:-target/bench-results.md}
work=${BENCH_WORK_DIR:-/var/tmp}
# `wasmtime serve` for the agent's comparison: the same wasmtime major as the workspace's.
wasmtime_version=$(awk '/^name = "wasmtime"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
wasmtime_root=target/bench-tools
wasmtime_cli=$wasmtime_root/bin/wasmtime

if [ "$phases" != agent ] && [ "${BENCH_SKIP_INSTALL:-0}" != 1 ] && ! command -v etcd >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y etcd-server etcd-client
  # The Debian package enables a system etcd on 127.0.0.1:2379; the benchmark starts its own.
  $sudo systemctl disable --now etcd >/dev/null 2>&1 || true
fi

if [ "$phases" != control ]; then
  if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ] &&
    [ "$("$wasmtime_cli" --version 2>/dev/null | awk '{print $2}')" != "$wasmtime_version" ]; then
    # A long compile (~20 min on 2 cores); niced so the machine stays usable.
    nice -n 10 cargo install wasmtime-cli --version "$wasmtime_version" --locked --root "$wasmtime_root"
  fi
  CARGO_TARGET_DIR=target/wasm-examples cargo build --release --locked --target wasm32-wasip2 \
    --manifest-path examples/wasm/Cargo.toml
fi

cargo build --release -p edge-controller -p edgectl -p edge-agent -p edge-bench

bench=target/release/edge-bench
mkdir -p "$(dirname "$out")"
{
  echo "## Run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- machine: nproc=$(nproc), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
  echo "- kernel: $(uname -r); scratch filesystem: $(df -T "$work" | awk 'NR==2 {print $2" on "$1}')"
  echo "- etcd: $(etcd --version 2>/dev/null | head -1); wasmtime CLI: $("$wasmtime_cli" --version 2>/dev/null || echo none); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  # fsync cost of the scratch disk: what every durable commit pays at least once.
  probe="$work/bench-fsync-probe.$$"
  secs=$(dd if=/dev/zero of="$probe" bs=4k count=500 oflag=dsync 2>&1 | tail -1 | awk -F', ' '{print $3}' | awk '{print $1}')
  echo "- 4 KiB write+fdatasync on the scratch disk (dd oflag=dsync, 500 writes): $(awk -v s="$secs" 'BEGIN {printf "%.3f ms each", s * 1000 / 500}')"
  rm -f "$probe"
  echo
} | tee "$out"

status=0
run() {
  local title=$1
  shift
  echo "### $title" | tee -a "$out"
  echo | tee -a "$out"
  echo "\`$bench --work-dir $work $*\`" | tee -a "$out"
  echo | tee -a "$out"
  if ! "$bench" --work-dir "$work" "$@" | tee -a "$out"; then
    echo "**$title failed; see stderr above.**" | tee -a "$out"
    status=1
  fi
  echo | tee -a "$out"
}

if [ "$phases" != agent ]; then
  run "Store: durable writes, closed loop" store --seconds "${BENCH_STORE_SECONDS:-10}"
  run "API: create pod at 500/s, open loop" api --rate 500 --seconds "${BENCH_API_SECONDS:-20}" --protocols h1,h2,etcd
  run "Idle controller" idle --settle 30 --window 60
  run "Scheduler: 5,000 nodes, 50,000 pending pods, in process" scheduler
  run "Scheduler: the same without Scheduled events" scheduler --no-events
fi
if [ "$phases" != control ]; then
  run "Edge agent: pod start, HTTP vs wasmtime serve, footprint" agent --seconds "${BENCH_AGENT_SECONDS:-10}"
fi

echo "results: $out"
exit $status
