#!/usr/bin/env bash
# Sets up and starts an all-in-one Edgeplane node on this machine: a controller, an edge agent
# joined to it as node `edge-1`, and the example workloads (examples/, and the Wasm services and
# job of examples/edge/, pushed to the controller's built-in registry). Data lives in
# $EDGEPLANE_HOME (default ./.edgeplane); both processes keep running in the background (PIDs in
# $EDGEPLANE_HOME/controller.pid and agent.pid).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cargo build --release -p edge-controller -p edgectl -p edge-agent
CARGO_TARGET_DIR=target/wasm-examples cargo build --release --target wasm32-wasip2 \
  --manifest-path examples/wasm/Cargo.toml

home=${EDGEPLANE_HOME:-$PWD/.edgeplane}
listen=${EDGEPLANE_LISTEN:-127.0.0.1:6443}
mkdir -p "$home"
if [ -f "$home/controller.pid" ] && kill -0 "$(cat "$home/controller.pid")" 2>/dev/null; then
  echo "controller already running (PID $(cat "$home/controller.pid"))"
else
  nohup target/release/edge-controller --data-dir "$home/controller" --listen "$listen" \
    >"$home/controller.log" 2>&1 &
  echo $! >"$home/controller.pid"
fi

export KUBECONFIG="$home/controller/admin.conf"
for _ in $(seq 1 100); do
  [ -f "$KUBECONFIG" ] && target/release/edgectl version >/dev/null 2>&1 && break
  sleep 0.2
done
target/release/edgectl apply -f examples/

# The agent: the first start joins with a bootstrap token; later starts need only --server and
# --data-dir.
if [ -f "$home/agent.pid" ] && kill -0 "$(cat "$home/agent.pid")" 2>/dev/null; then
  echo "agent already running (PID $(cat "$home/agent.pid"))"
else
  join=()
  if [ ! -f "$home/agent/pki/node.crt" ]; then
    read -r -a join <<<"$(target/release/edgectl token create --ttl 1h --print-join-command)"
    join=("${join[@]:1}" --name edge-1)
  else
    join=(--server "$listen")
  fi
  nohup target/release/edge-agent "${join[@]}" --data-dir "$home/agent" --node-ip 127.0.0.1 \
    >"$home/agent.log" 2>&1 &
  echo $! >"$home/agent.pid"
fi
for _ in $(seq 1 100); do
  target/release/edgectl get node edge-1 2>/dev/null | grep -qw Ready && break
  sleep 0.3
done

# The Wasm examples, published to the controller's registry, and the pods that run them.
wasm=target/wasm-examples/wasm32-wasip2/release
for example in hello-http kv-counter sensor-job; do
  target/release/edgectl push "$wasm/$example.wasm" "$listen/examples/$example:v1" >/dev/null
done
target/release/edgectl apply -f examples/edge/
for _ in $(seq 1 100); do
  target/release/edgectl get pod hello -n edge-demo 2>/dev/null | grep -q '1/1' && break
  sleep 0.3
done
target/release/edgectl get nodes -o wide
target/release/edgectl get pods -n edge-demo -o wide
echo
echo "curl http://127.0.0.1:8080/ -> $(curl -sS --max-time 5 http://127.0.0.1:8080/ || true)"
cat <<TXT

Edgeplane is running (logs: $home/controller.log, $home/agent.log).
  export KUBECONFIG=$KUBECONFIG
  target/release/edgectl get pods -n edge-demo        # or: kubectl get pods -n edge-demo
  curl http://127.0.0.1:8080/                         # the hello service, on its hostPort
  curl http://127.0.0.1:8081/                         # a counter kept in durable keyvalue
  target/release/edgectl logs sensor -n edge-demo     # the sensor job's output
  target/release/edgectl port-forward pod/hello -n edge-demo 9090:8080
Stop it with: kill \$(cat $home/agent.pid) \$(cat $home/controller.pid)
TXT
