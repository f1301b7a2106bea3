#!/bin/sh
# Copies the pinned npm packages the web pages use into web/vendor/<package>/ (only the files
# listed below, the package's LICENSE, and a VERSION file naming package@version). Run by hand
# when a version changes (the build embeds web/vendor as committed and needs no npm).
# Usage: scripts/vendor-web.sh            (every package)
#        scripts/vendor-web.sh uplot      (one package)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)

# One line per package: name, pinned version, then the files to copy (paths in the package).
packages='
uplot 1.6.32 dist/uPlot.iife.min.js dist/uPlot.min.css
swagger-ui-dist 5.36.0 swagger-ui-bundle.js swagger-ui.css
'

command -v npm >/dev/null 2>&1 || { echo "vendor-web: npm not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

vendor() {
    name=$1 version=$2
    shift 2
    dst="$root/web/vendor/$name"
    echo "vendor-web: $name@$version -> web/vendor/$name" >&2
    mkdir -p "$tmp/$name"
    (cd "$tmp/$name" && npm pack "$name@$version" --silent >/dev/null && tar xzf ./*.tgz)
    rm -rf "$dst"
    mkdir -p "$dst"
    for f in "$@"; do
        cp "$tmp/$name/package/$f" "$dst/"
    done
    cp "$tmp/$name/package/LICENSE"* "$dst/LICENSE"
    printf '%s@%s\n' "$name" "$version" >"$dst/VERSION"
}

echo "$packages" | while read -r name version files; do
    [ -n "$name" ] || continue
    [ $# -eq 0 ] || [ "$1" = "$name" ] || continue
    # shellcheck disable=SC2086 # the file list is split on purpose
    vendor "$name" "$version" $files
done
