#!/usr/bin/env bash
# Installs the official Kubernetes Python client (`kubernetes` on PyPI) and its
# dependencies into .tools/python (git-ignored), for kube-api's tests that drive the API
# server with it (they run python3 with PYTHONPATH=.tools/python).
# Safe to run again: an installed client of the pinned version is kept. Needs python3 with
# pip (installed from Debian's python3-pip when missing, which needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=37.0.2
dest="$PWD/.tools/python"
export PIP_ROOT_USER_ACTION=ignore

say() { echo "install-python-client: $*"; }

if PYTHONPATH="$dest" python3 -c "import kubernetes, sys; sys.exit(kubernetes.__version__ != '$VERSION')" 2>/dev/null; then
    say "kubernetes $VERSION already in $dest"
    exit 0
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    say "python3 has no pip: apt-get install python3-pip"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends python3 python3-pip
fi

say "pip install kubernetes==$VERSION into $dest"
rm -rf "$dest"
python3 -m pip install --quiet --disable-pip-version-check --target "$dest" "kubernetes==$VERSION"
say "kubernetes $(PYTHONPATH="$dest" python3 -c 'import kubernetes; print(kubernetes.__version__)')"
