#!/bin/sh
# The compose test (make test runs it after tests/container/run.sh; make compose-check alone):
# brings docker/docker-compose.yml up with `docker compose` or podman-compose, under its own
# project name and free ports on 127.0.0.1, then checks:
#   1. both gateway replicas reach /health/readiness 200 on PostgreSQL 15;
#   2. the compose healthchecks pass (postgres: pg_isready; gateways: readiness), run by the
#      engine (podman without systemd does not schedule them: podman healthcheck run does);
#   3. a user made through one replica is served by the other (one database);
#   4. the Kubernetes Deployment's container settings (read-only root, tmpfs /tmp, uid 1000, no
#      capabilities, the ConfigMap's config.yaml) serve on the same database and exit 0 on stop;
#   5. stop: every container exits 0; up again on the named volume: the user is still there;
#   6. down -v removes everything (anonymous volumes too).
# When postgres:15 can be neither found nor pulled (no registry), a stand-in built from Debian's
# postgresql-15 (tests/container/postgres-standin/) is tagged postgres:15: the compose file is
# tested as written, against that image. Skipped loudly like run.sh when containers cannot run.
set -eu
. "$(dirname "$0")/../../scripts/engine.sh"
cd "$ce_root"
proj=gwcompose$$
key=compose-test-master-key
t0=$(date +%s)
elog=${TMPDIR:-/tmp}/$proj.log

skip() {
    echo "#####################################################################" >&2
    echo "## COMPOSE TEST SKIPPED: $1" >&2
    echo "## docker/docker-compose.yml was NOT tested." >&2
    echo "#####################################################################" >&2
    [ "${CONTAINER_TEST:-}" = require ] && exit 1
    exit 0
}
fail() {
    echo "compose test: FAIL: $*" >&2
    compose logs 2>&1 | grep -v 'systemd' | tail -n 30 | sed 's/^/  /' >&2 || true
    exit 1
}

ce_pick || skip "$CE_WHY"
if [ "$CE" = docker ] && docker compose version >/dev/null 2>&1; then
    compose() { docker compose -p $proj -f docker/docker-compose.yml "$@"; }
else
    # podman-compose, and the CNI plugin that gives containers each other's names (Debian).
    if ! command -v podman-compose >/dev/null 2>&1 || [ ! -x /usr/lib/cni/dnsname ]; then
        [ "$(id -u)" = 0 ] || skip "podman-compose or the CNI dnsname plugin is missing (not root)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            podman-compose golang-github-containernetworking-plugin-dnsname >/dev/null 2>&1 ||
            skip "cannot install podman-compose"
    fi
    compose() { podman-compose -p $proj -f docker/docker-compose.yml "$@"; }
fi

# free_port: a port on 127.0.0.1 nothing listens on (curl exit 7: connection refused), below
# the kernel's ephemeral range (32768+): the test servers and client sockets that make test has
# open meanwhile take ports there, and one took the second replica's between this check and
# podman's bind (the replica then never started).
free_port() {
    p=$((20000 + ($$ + $1 * 7919) % 12000))
    while curl -s -o /dev/null "http://127.0.0.1:$p/" 2>/dev/null || [ $? != 7 ]; do
        p=$((p + 1))
    done
    echo $p
}
export GATEWAY_MASTER_KEY=$key GATEWAY_BIND=127.0.0.1
GATEWAY_HOST_PORT=$(free_port 1)
GATEWAY_HOST_PORT_2=$(free_port 2)
[ "$GATEWAY_HOST_PORT_2" != "$GATEWAY_HOST_PORT" ] || GATEWAY_HOST_PORT_2=$((GATEWAY_HOST_PORT + 1))
export GATEWAY_HOST_PORT GATEWAY_HOST_PORT_2

scripts/image.sh || fail "make image failed"
if ! ce image inspect postgres:15 >/dev/null 2>&1 &&
    ! timeout 120 $CE_CMD pull -q docker.io/library/postgres:15 >/dev/null 2>&1; then
    echo "compose test: postgres:15 cannot be pulled: building the stand-in from Debian's postgresql-15" >&2
    fmt=""
    [ "$CE" = podman ] && fmt="--format docker"
    # shellcheck disable=SC2086
    ce build $fmt -t docker.io/library/postgres:15 tests/container/postgres-standin \
        >build-image/postgres-standin.log 2>&1 || fail "the postgres:15 stand-in did not build"
fi

cname() { # the container of service $1
    ce ps -a --filter "label=com.docker.compose.project=$proj" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n 1
}
cleanup() {
    vols=""
    for s in gateway gateway-2 postgres; do
        c=$(cname $s)
        [ -n "$c" ] && vols="$vols $(ce inspect -f '{{range .Mounts}}{{.Name}} {{end}}' "$c")"
    done
    ce rm -f -v $proj-pod >/dev/null 2>&1 || true
    [ -n "${podcfg:-}" ] && rm -rf "$podcfg"
    compose down -v >/dev/null 2>&1 || true
    for v in $vols; do ce volume rm -f "$v" >/dev/null 2>&1 || true; done
    ce network rm -f ${proj}_default >/dev/null 2>&1 || true
    rm -f "$elog" /tmp/$proj.body
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

ready() { # ready PORT: waits up to 60 s for readiness 200
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health/readiness")" = 200 ]; do
        i=$((i + 1))
        [ $i -le 600 ] || fail "127.0.0.1:$1: /health/readiness not 200 within 60 s"
        sleep 0.1
    done
}
req() { # req STATUS METHOD PORT PATH [BODY]
    if [ -n "${5:-}" ]; then
        got=$(curl -s -o /tmp/$proj.body -w '%{http_code}' -X "$2" -H "Authorization: Bearer $key" \
            -H 'Content-Type: application/json' -d "$5" "http://127.0.0.1:$3$4")
    else
        got=$(curl -s -o /tmp/$proj.body -w '%{http_code}' -X "$2" -H "Authorization: Bearer $key" \
            "http://127.0.0.1:$3$4")
    fi
    [ "$got" = "$1" ] || fail "$2 :$3$4: status $got, expected $1: $(cat /tmp/$proj.body)"
}
healthy() { # healthy SERVICE: its compose healthcheck passes
    c=$(cname "$1")
    [ -n "$c" ] || fail "no container for service $1"
    if [ "$CE" = podman ]; then
        ce healthcheck run "$c" >/dev/null 2>>"$elog" || fail "healthcheck of $1 fails"
    else
        i=0
        until [ "$(ce inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; do
            i=$((i + 1))
            [ $i -le 60 ] || fail "$1 not healthy within 60 s"
            sleep 1
        done
    fi
}

compose up -d >"$elog" 2>&1 || fail "compose up failed: $(grep -v systemd "$elog" | tail -n 5)"
ready $GATEWAY_HOST_PORT
ready $GATEWAY_HOST_PORT_2
t_up=$(($(date +%s) - t0))
grep -q '"database":"connected"' /tmp/$proj.body 2>/dev/null ||
    curl -s "http://127.0.0.1:$GATEWAY_HOST_PORT/health/readiness" | grep -q '"database":"connected"' ||
    fail "readiness does not report the database connected"
for s in postgres gateway gateway-2; do healthy $s; done
req 200 POST $GATEWAY_HOST_PORT /v1/users '{"user_id":"compose-user","alias":"Compose"}'
i=0
until curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
    "http://127.0.0.1:$GATEWAY_HOST_PORT_2/v1/users/compose-user" | grep -q 200; do
    i=$((i + 1))
    [ $i -le 50 ] || fail "the user made on gateway is not served by gateway-2 within 5 s"
    sleep 0.1
done

# The Kubernetes container (docker/k8s/deployment.yaml) on the same database: read-only root
# filesystem with a tmpfs /tmp, uid 1000, no capabilities, the ConfigMap's config.yaml mounted
# where the Deployment's args name it.
podcfg=$(mktemp -d)
chmod 755 "$podcfg"
sed -n '/^  config.yaml: |/,$p' docker/k8s/configmap.yaml | tail -n +2 | sed 's/^    //' \
    >"$podcfg/config.yaml"
chmod 644 "$podcfg/config.yaml"
ce run -d --name $proj-pod --network ${proj}_default --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges --user 1000:1000 -e GATEWAY_MASTER_KEY=$key \
    -e DATABASE_URL=postgresql://gateway:gateway@postgres:5432/gateway -e OPENAI_API_KEY=sk-test \
    -v "$podcfg:/etc/any-llm-gateway:ro" -p 127.0.0.1::8000 any-llm-gateway:latest \
    any-llm-gateway serve --config /etc/any-llm-gateway/config.yaml >/dev/null 2>>"$elog" ||
    fail "the Kubernetes-like container did not start: $(tail -n 3 "$elog")"
podport=$(ce port $proj-pod 8000 | head -n 1 | sed 's/.*://')
ready "$podport"
req 200 GET "$podport" /v1/users/compose-user
ce stop -t 30 $proj-pod >/dev/null 2>>"$elog" || fail "stopping the Kubernetes-like container failed"
[ "$(ce inspect -f '{{.State.ExitCode}}' $proj-pod)" = 0 ] ||
    fail "the Kubernetes-like container did not exit 0: $(ce logs $proj-pod 2>&1 | tail -n 5)"
ce logs $proj-pod 2>&1 | grep -q 'shutdown_timeout\|ERROR' && fail "the pod container logged an error"
ce rm -f -v $proj-pod >/dev/null 2>&1
rm -rf "$podcfg"

compose stop >>"$elog" 2>&1 || fail "compose stop failed"
for s in gateway gateway-2 postgres; do
    code=$(ce inspect -f '{{.State.ExitCode}}' "$(cname $s)")
    [ "$code" = 0 ] || fail "$s exited with status $code on stop"
done
compose up -d >>"$elog" 2>&1 || fail "compose up (again) failed"
ready $GATEWAY_HOST_PORT
ready $GATEWAY_HOST_PORT_2
req 200 GET $GATEWAY_HOST_PORT_2 /v1/users/compose-user
grep -q '"alias":"Compose"' /tmp/$proj.body || fail "the user did not survive the restart"

echo "compose test: ok with $([ "$CE" = podman ] && echo podman-compose || echo docker compose)" \
    "(both replicas ready at ${t_up} s, total $(($(date +%s) - t0)) s)"
