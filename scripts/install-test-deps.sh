#!/usr/bin/env bash
# Installs everything the test suite needs and nothing else; safe to run again (it skips
# what is present). Needs root on Debian for apt-get; pip for the Python tools.
set -euo pipefail
cd "$(dirname "$0")/.."

for script in install-etcd.sh install-kubectl.sh install-python-client.sh install-net-tools.sh; do
    if [ -f "scripts/$script" ]; then
        bash "scripts/$script"
    fi
done
