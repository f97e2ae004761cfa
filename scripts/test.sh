#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (protoc, etcd,
# kubectl, the Python client), then checks formatting and lints and runs every test,
# doc tests included. Tests that need a server start their own on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

# The tests find the tools the install scripts put in place through these.
export PATH="$PWD/.tools/bin:$PATH"

# A CI run builds once from a fresh clone: incremental compilation's caches would only
# take disk (gigabytes across the workspace's test binaries) for rebuilds that never come.
if [[ "${CI:-}" == true && -z "${CARGO_INCREMENTAL:-}" ]]; then
    export CARGO_INCREMENTAL=0
fi

# What the build takes of the disk, at the start and at the end (also when a step fails),
# so a log of a run that ran out of space says how close it was.
disk_report() {
    local used
    used=$(du -sh target 2>/dev/null | cut -f1) || true
    echo "==> disk: ${used:-nothing} in target/, $(df -h --output=avail . | tail -n 1 | tr -d ' ') free"
}
trap 'disk_report || true' EXIT
disk_report

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "==> cargo test (all features)"
cargo test --workspace --all-features
