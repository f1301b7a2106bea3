#!/bin/sh
# Installs the Debian packages the build and the tests need, only when some are missing.
# Usage: scripts/deps.sh build|test
set -eu
pkgs="gcc make pkg-config libevent-dev libcurl4-openssl-dev libjansson-dev libpq-dev libyaml-dev libsqlite3-dev libssl-dev zlib1g-dev"
if [ "${1:-build}" = test ]; then
    pkgs="$pkgs check libsubunit-dev curl sqlite3 clang-format postgresql clang libclang-rt-14-dev prometheus chromium"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
# The SDK tests need node and npm; a machine may have them from elsewhere (nodesource's nodejs
# bundles npm and conflicts with Debian's npm package), so the commands are checked, not packages.
if [ "${1:-build}" = test ] && ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing (run as root or install them)" >&2
    exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
