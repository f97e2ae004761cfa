#!/usr/bin/env bash
# Installs what kube-node's containerd tests need on Debian, and nothing else:
#   - `containerd` (with its `ctr` client and the runc shim) and `runc` (crun does not work
#     on these machines: their cgroups are in hybrid mode);
#   - `busybox-static`: the tests build a tiny OCI image from its static busybox, since
#     there is no registry to pull from.
# The tests start their own containerd with root, state and socket under a temporary
# directory; the system service is stopped if the package started one.
# Safe to run again: it skips what is already there. Needs root (or sudo) for apt-get.
set -euo pipefail

packages=()
command -v containerd >/dev/null 2>&1 || packages+=(containerd)
command -v runc >/dev/null 2>&1 || packages+=(runc)
dpkg -s busybox-static >/dev/null 2>&1 || packages+=(busybox-static)

if [ "${#packages[@]}" -eq 0 ]; then
    echo "install-containerd: nothing to install ($(containerd --version))"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "install-containerd: need root (or sudo) to install: ${packages[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-containerd: apt-get update"
"${sudo[@]}" apt-get update -qq
echo "install-containerd: apt-get install ${packages[*]}"
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"

if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet containerd 2>/dev/null; then
    echo "install-containerd: stopping the system containerd (the tests start their own)"
    "${sudo[@]}" systemctl stop containerd || true
fi
echo "install-containerd: $(containerd --version); $(runc --version | head -n 1)"
