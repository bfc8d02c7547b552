#!/usr/bin/env bash
# Sets up and starts an all-in-one Edgeplane control plane on this machine and applies the
# example workload. Data lives in $EDGEPLANE_HOME (default ./.edgeplane); the controller keeps
# running in the background (its PID is in $EDGEPLANE_HOME/controller.pid).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cargo build --release -p edge-controller -p edgectl

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
target/release/edgectl get namespaces
target/release/edgectl get deployments,services,configmaps -n demo
cat <<TXT

Edgeplane is running (log: $home/controller.log).
  export KUBECONFIG=$KUBECONFIG
  target/release/edgectl get all -n demo      # or: kubectl get all -n demo
Stop it with: kill \$(cat $home/controller.pid)
TXT
