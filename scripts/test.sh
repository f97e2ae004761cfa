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

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "==> cargo test (all features)"
cargo test --workspace --all-features
