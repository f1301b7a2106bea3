#!/bin/sh
# Installs the official SDKs the end-to-end tests drive the gateway with, and puppeteer-core for
# the dashboard's browser test (it drives Debian's chromium; tests/sdk/package.json, pinned by
# tests/sdk/package-lock.json), into the git-ignored tests/npm/. Idempotent: a stamp holding the
# checksum of package.json + lock skips the install when node_modules matches them.
# Needs node and npm (`scripts/deps.sh test` installs them); only the npm registry is used.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tests/sdk"
dst="$root/tests/npm"
stamp="$dst/.sdk-deps.stamp"

for cmd in node npm; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "sdk-deps: '$cmd' not found: the SDK end-to-end tests need Node.js >= 18 and npm" >&2
        echo "sdk-deps: install them with 'scripts/deps.sh test' (as root) or your package manager" >&2
        exit 1
    fi
done
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 18 ] 2>/dev/null; then
    echo "sdk-deps: Node.js $(node --version 2>/dev/null) is too old: the SDKs need >= 18" >&2
    exit 1
fi

want=$(cat "$src/package.json" "$src/package-lock.json" | cksum)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    [ -f "$dst/node_modules/openai/package.json" ] &&
    [ -f "$dst/node_modules/@anthropic-ai/sdk/package.json" ] &&
    [ -f "$dst/node_modules/puppeteer-core/package.json" ]; then
    exit 0
fi

echo "sdk-deps: installing the SDKs of tests/sdk/package.json into tests/npm" >&2
rm -rf "$dst"
mkdir -p "$dst"
cp "$src/package.json" "$src/package-lock.json" "$dst/"
# npm ci installs exactly the lock (and fails if package.json disagrees with it).
if ! (cd "$dst" && npm ci --no-audit --no-fund --loglevel=error >&2); then
    echo "sdk-deps: 'npm ci' failed in tests/npm (is the npm registry reachable?)" >&2
    rm -f "$stamp"
    exit 1
fi
printf '%s\n' "$want" >"$stamp"
