# Sourced by scripts/image.sh, tests/container/*.sh: picks the container engine and defines
#   ce ARGS...    the engine's command line (docker, or podman with the repository's
#                 containers.conf and runc); $CE_CMD is the same for use under timeout
#   CE            "docker" or "podman" ("" when neither can be used)
#   CE_WHY        why neither can be used
# docker is used when its daemon answers; else podman, installed from Debian (podman, runc,
# mmdebstrap) when missing and we are root. CONTAINER_ENGINE=docker|podman forces one.
# The repository root: the first folder above the script that has docker/Dockerfile.
ce_root=$(cd "$(dirname "$0")" && pwd)
while [ "$ce_root" != / ] && [ ! -f "$ce_root/docker/Dockerfile" ]; do
    ce_root=$(dirname "$ce_root")
done
CE=""
CE_CMD=""
CE_WHY=""

ce() {
    $CE_CMD "$@"
}

ce_pick() {
    want=${CONTAINER_ENGINE:-}
    if [ "$want" != podman ] && command -v docker >/dev/null 2>&1 &&
        timeout 20 docker info >/dev/null 2>&1; then
        CE=docker
        CE_CMD=docker
        return 0
    fi
    if [ "$want" = docker ]; then
        CE_WHY="CONTAINER_ENGINE=docker but the docker daemon does not answer"
        return 1
    fi
    if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 ||
        ! command -v mmdebstrap >/dev/null 2>&1; then
        if [ "$(id -u)" != 0 ]; then
            CE_WHY="no docker daemon, and podman/runc/mmdebstrap are missing (not root: cannot install them)"
            return 1
        fi
        echo "engine: installing podman runc mmdebstrap" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends podman runc mmdebstrap >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 &&
                apt-get install -y -q --no-install-recommends podman runc mmdebstrap >/dev/null 2>&1; } ||
            { CE_WHY="no docker daemon, and installing podman, runc, mmdebstrap failed"; return 1; }
    fi
    CE=podman
    # PODMAN_OPTS: extra global options, e.g. --root DIR --runroot DIR for a separate store.
    CE_CMD="podman --runtime runc ${PODMAN_OPTS:-}"
    export CONTAINERS_CONF="$ce_root/docker/podman-containers.conf"
    return 0
}
