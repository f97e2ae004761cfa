#!/usr/bin/env bash
# Installs what kube-net's data-plane tests need on Debian, and nothing else:
#   - `ip` (iproute2): the tests create network namespaces and veth pairs;
#   - `iptables`, `iptables-restore`, `iptables-save` (iptables 1.8, nf_tables backend):
#     the iptables backend programs kube-proxy's rules with them;
#   - `nft` (nftables): the nftables backend;
#   - `conntrack` (conntrack-tools): the kernel data planes clear UDP flows to removed
#     endpoints with it.
# Safe to run again: it skips whatever is already on the PATH. Needs root (or sudo) for
# apt-get when something is missing.
set -euo pipefail

packages=()
for pair in ip:iproute2 iptables-restore:iptables nft:nftables conntrack:conntrack; do
    tool="${pair%%:*}"
    package="${pair#*:}"
    if command -v "$tool" >/dev/null 2>&1; then
        echo "install-net-tools: $tool already present: $(command -v "$tool")"
    else
        packages+=("$package")
    fi
done

if [ "${#packages[@]}" -eq 0 ]; then
    echo "install-net-tools: nothing to install"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "install-net-tools: need root (or sudo) to install: ${packages[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-net-tools: apt-get update"
"${sudo[@]}" apt-get update -qq
echo "install-net-tools: apt-get install ${packages[*]}"
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"

# Debian selects the nf_tables backend of iptables by default; say which one is in use.
if command -v iptables >/dev/null 2>&1; then
    echo "install-net-tools: $(iptables --version)"
fi
if command -v nft >/dev/null 2>&1; then
    echo "install-net-tools: $(nft --version)"
fi
