#!/usr/bin/env bash
# Installs what kube-store's `etcd` feature needs on Debian, and nothing else:
#   - `etcd` (Debian's etcd-server, 3.4): the tests and benchmarks start a private one;
#   - `protoc` (Debian's protobuf-compiler) and protobuf's well-known types (libprotobuf-dev):
#     etcd-client's build script compiles etcd's protobuf definitions with them.
# Safe to run again: it skips whatever is already on the PATH. Needs root (or sudo) for
# apt-get when something is missing.
set -euo pipefail

packages=()
if command -v etcd >/dev/null 2>&1; then
    echo "install-etcd: etcd already present: $(command -v etcd)"
else
    packages+=(etcd-server)
fi
if command -v protoc >/dev/null 2>&1; then
    echo "install-etcd: protoc already present: $(command -v protoc)"
else
    packages+=(protobuf-compiler)
fi
# etcd's protobuf files import protobuf's well-known types (descriptor.proto, ...), which
# Debian ships in libprotobuf-dev (protobuf-compiler only recommends it).
if [ -f /usr/include/google/protobuf/descriptor.proto ]; then
    echo "install-etcd: protobuf's well-known types already present"
else
    packages+=(libprotobuf-dev)
fi

if [ "${#packages[@]}" -eq 0 ]; then
    echo "install-etcd: nothing to install"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "install-etcd: need root (or sudo) to install: ${packages[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-etcd: apt-get update"
"${sudo[@]}" apt-get update -qq
echo "install-etcd: apt-get install ${packages[*]}"
# --no-install-recommends keeps the install small; the package's own service is never
# started by these tests (they run a private etcd on loopback).
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"

# Debian's etcd-server starts a system-wide etcd on 127.0.0.1:2379 where systemd runs; the
# tests do not need it, and it would only hold the default ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    echo "install-etcd: stopping the system etcd service (the tests start their own)"
    "${sudo[@]}" systemctl stop etcd || true
fi

echo "install-etcd: etcd $(etcd --version 2>/dev/null | head -n 1 || echo '(version unknown)')"
echo "install-etcd: $(protoc --version)"
