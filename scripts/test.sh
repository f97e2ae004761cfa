#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (protoc, etcd,
# kubectl, the Python client), then checks formatting and lints and runs every test,
# doc tests included. Tests that need a server start their own on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

# The tests find the tools the install scripts put in place through these.
export PATH="$PWD/.tools/bin:$PATH"

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "==> cargo test (all features)"
cargo test --workspace --all-features
