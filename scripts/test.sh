#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, checks formatting and lints,
# then runs every unit, integration and end-to-end test (debug build).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo build --locked -p edge-controller -p edgectl -p edge-agent
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked -- --test-threads=2 2>&1 | tee "$log"
# One closing line for the whole suite (the last cargo line is a doc-test run of zero tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' "$log"
