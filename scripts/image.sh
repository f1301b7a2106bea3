#!/bin/sh
# make image: builds docker/Dockerfile as any-llm-gateway:latest (IMAGE=name:tag to change it)
# with docker when its daemon answers, else podman (scripts/engine.sh). When the base image
# debian:12-slim is neither present nor pullable (no registry, as on CI machines), it is made
# locally from Debian's packages: mmdebstrap --variant=minbase bookworm, imported as
# debian:12-slim. Layers are cached by the engine: a second build with unchanged sources takes
# seconds. IMAGE_BUILD_DIR (default build-image/) keeps the base tarball and the build log.
set -eu
. "$(dirname "$0")/engine.sh"
cd "$ce_root"
image=${IMAGE:-any-llm-gateway:latest}
out=${IMAGE_BUILD_DIR:-build-image}
mkdir -p "$out"

if ! ce_pick; then
    echo "image: cannot build: $CE_WHY" >&2
    exit 3
fi
t0=$(date +%s)

# The base image: local, else pulled, else bootstrapped from Debian's mirror.
if ! ce image inspect debian:12-slim >/dev/null 2>&1 &&
    ! timeout 120 $CE_CMD pull -q docker.io/library/debian:12-slim >/dev/null 2>&1; then
    if ! command -v mmdebstrap >/dev/null 2>&1; then
        echo "image: debian:12-slim cannot be pulled and mmdebstrap is missing" >&2
        exit 1
    fi
    echo "image: debian:12-slim cannot be pulled: creating it with mmdebstrap (a few minutes, once)" >&2
    rm -f "$out/debian-12-slim.tar"
    # Like the official slim image: merged /usr without the usrmerge package (and its perl), no
    # man pages, docs (copyrights kept) or locales, bookworm + updates + security sources.
    mmdebstrap --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        bookworm "$out/debian-12-slim.tar" \
        "deb http://deb.debian.org/debian bookworm main" \
        "deb http://deb.debian.org/debian bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main" \
        >"$out/mmdebstrap.log" 2>&1 || {
        tail -n 20 "$out/mmdebstrap.log" >&2
        echo "image: mmdebstrap failed (full log: $out/mmdebstrap.log)" >&2
        exit 1
    }
    ce import --change 'CMD ["bash"]' "$out/debian-12-slim.tar" debian:12-slim >/dev/null 2>&1 ||
        { echo "image: importing debian:12-slim failed" >&2; exit 1; }
    rm -f "$out/debian-12-slim.tar"
fi

# --format docker keeps the HEALTHCHECK (podman's default OCI format drops it).
fmt=""
[ "$CE" = podman ] && fmt="--format docker"
echo "image: building $image with $CE" >&2
# shellcheck disable=SC2086
if ! ce build $fmt -f docker/Dockerfile -t "$image" . >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "image: build failed (full log: $out/build.log)" >&2
    exit 1
fi
size=$(ce image inspect -f '{{.Size}}' "$image")
echo "image: $image built with $CE in $(($(date +%s) - t0)) s, $((size / 1000000)) MB" >&2
