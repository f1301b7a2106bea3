#!/bin/sh
# The container end-to-end test (make test's "container test" phase, or make container-check):
# builds the image (scripts/image.sh; cached layers make a second build take seconds), then
#   1. runs it with GATEWAY_MASTER_KEY, a published port on 127.0.0.1 and a named volume on
#      /app/data, as uid 1000 with the image's defaults (SQLite in the volume);
#   2. waits for /health/readiness 200; checks /health, /health/liveness, the HEALTHCHECK command
#      and the non-root user inside the container;
#   3. finds the bootstrap key in the container's log and uses it (GET /v1/models 200);
#   4. creates a user with the admin API;
#   5. stops the container (SIGTERM to the gateway as PID 1): exit status 0 within the grace
#      period;
#   6. starts a new container on the same volume: the user is still there, and no second
#      bootstrap key was made (the database is the same one);
#   7. stops a container with a stream in flight: the stream ends normally, exit status 0.
# Containers and the volume are removed at the end, whatever happens.
# Skipped (loudly, exit 0) only when this machine cannot run containers at all: no docker
# daemon, podman not installable, or a trivial container does not start; CONTAINER_TEST=require
# turns that skip into a failure.
set -eu
. "$(dirname "$0")/../../scripts/engine.sh"
cd "$ce_root"
image=${IMAGE:-any-llm-gateway:latest}
grace=30
key=container-test-master-key
tag=gwct-$$
vol=$tag-data
# The engine's own complaints (podman without systemd cannot schedule HEALTHCHECK timers and
# says so on every run/stop) go here, shown when something fails.
elog=${TMPDIR:-/tmp}/$tag.engine.log
t0=$(date +%s)

skip() {
    echo "#####################################################################" >&2
    echo "## CONTAINER TEST SKIPPED: this machine cannot run containers:" >&2
    echo "##   $1" >&2
    echo "## The image, docker run and the volume were NOT tested." >&2
    echo "#####################################################################" >&2
    [ "${CONTAINER_TEST:-}" = require ] && exit 1
    exit 0
}
fail() {
    echo "container test: FAIL: $*" >&2
    for c in $tag-1 $tag-2 $tag-3; do
        ce logs "$c" 2>&1 | tail -n 20 | sed "s/^/  [$c] /" >&2 || true
    done
    exit 1
}
cleanup() {
    ce rm -f -v -t 0 $tag-1 $tag-2 $tag-3 >/dev/null 2>&1 ||
        ce rm -f -v $tag-1 $tag-2 $tag-3 >/dev/null 2>&1 || true
    [ -n "${fpid:-}" ] && kill "$fpid" 2>/dev/null || true
    ce volume rm -f $vol >/dev/null 2>&1 || true
    rm -f "$elog" /tmp/$tag.body /tmp/$tag.stream /tmp/$tag.fport
}

ce_pick || skip "$CE_WHY"
rc=0
scripts/image.sh || rc=$?
[ $rc = 3 ] && skip "the image cannot be built here"
[ $rc = 0 ] || fail "make image failed"
t_build=$(($(date +%s) - t0))
if ! out=$(timeout 60 $CE_CMD run --rm debian:12-slim true 2>&1); then
    skip "$CE cannot start a container: $out"
fi
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
ce volume create $vol >/dev/null || fail "cannot create volume $vol"

# start NAME: runs the image on the volume with a free port on 127.0.0.1; sets url.
start() {
    ce run -d --name "$1" -e GATEWAY_MASTER_KEY=$key -p 127.0.0.1::8000 -v $vol:/app/data \
        "$image" >/dev/null 2>>"$elog" || fail "$CE run $1 failed: $(cat "$elog")"
    port=$(ce port "$1" 8000 | head -n 1 | sed 's/.*://')
    [ -n "$port" ] || fail "no published port for $1"
    url=http://127.0.0.1:$port
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health/readiness")" = 200 ]; do
        i=$((i + 1))
        [ $i -le 300 ] || fail "$1: /health/readiness not 200 within 30 s"
        sleep 0.1
    done
}
# expect STATUS METHOD PATH [AUTH [BODY]]: one request, its status must be STATUS.
expect() {
    st=$1 m=$2 p=$3 auth=${4:-} body=${5:-}
    set -- -s -o /tmp/$tag.body -w '%{http_code}' -X "$m" "$url$p"
    [ -n "$auth" ] && set -- "$@" -H "Authorization: Bearer $auth"
    [ -n "$body" ] && set -- "$@" -H 'Content-Type: application/json' -d "$body"
    got=$(curl "$@")
    [ "$got" = "$st" ] || fail "$m $p: status $got, expected $st: $(cat /tmp/$tag.body)"
}

start $tag-1
t_ready=$(($(date +%s) - t0))
expect 200 GET /health
expect 200 GET /health/liveness
ce exec $tag-1 sh -c 'curl -fsS -o /dev/null http://127.0.0.1:8000/health' ||
    fail "the HEALTHCHECK command fails inside the container"
hc=$(ce inspect -f '{{json .Config.Healthcheck}}' "$image" 2>/dev/null ||
    ce image inspect -f '{{json .Config.Healthcheck}}' "$image")
echo "$hc" | grep -q '/health' || fail "the image has no HEALTHCHECK on /health: $hc"
[ "$(ce exec $tag-1 id -u)" = 1000 ] || fail "the gateway does not run as uid 1000"
[ "$(ce exec $tag-1 cat /proc/1/comm)" = any-llm-gateway ] || fail "the gateway is not PID 1"
ce exec $tag-1 test -s /app/data/gateway.db || fail "no SQLite database in /app/data"

boot=$(ce logs $tag-1 2>&1 | sed -n 's/.*Save this key now: \(gw-[A-Za-z0-9_-]*\).*/\1/p')
[ -n "$boot" ] || fail "no bootstrap key in the container log"
expect 200 GET /v1/models "$boot"
expect 401 GET /v1/models gw-not-a-key
expect 200 POST /v1/users $key '{"user_id":"container-user","alias":"Container"}'

t1=$(date +%s)
ce stop -t $grace $tag-1 >/dev/null 2>>"$elog" || fail "$CE stop failed"
t_stop=$(($(date +%s) - t1))
code=$(ce inspect -f '{{.State.ExitCode}}' $tag-1)
[ "$code" = 0 ] || fail "the gateway exited with status $code on SIGTERM (expected 0)"
[ $t_stop -lt $grace ] || fail "the stop took ${t_stop} s: the grace period ran out (SIGKILL)"
ce logs $tag-1 2>&1 | grep -qi 'error' && fail "the first container logged an error"

start $tag-2
expect 200 GET /v1/users/container-user $key
grep -q '"alias":"Container"' /tmp/$tag.body || fail "the user read back is not the one made"
expect 200 GET /v1/models "$boot"
ce logs $tag-2 2>&1 | grep -q 'Save this key now' && fail "a second bootstrap key: the database was not kept"
ce stop -t $grace $tag-2 >/dev/null 2>>"$elog" || fail "$CE stop failed"
[ "$(ce inspect -f '{{.State.ExitCode}}' $tag-2)" = 0 ] || fail "the second container did not exit 0"
# 7. A stream in flight when the container is stopped: the gateway (PID 1) drains it to its
#    end ([DONE]) and exits 0. The container uses the host's network to reach the fake provider
#    (build/fake-upstream, GW_FAKE) on 127.0.0.1.
fake=${GW_FAKE:-build/fake-upstream}
[ -x "$fake" ] || fail "no fake provider at $fake (make build/fake-upstream)"
"$fake" --port-file /tmp/$tag.fport >/dev/null 2>&1 &
fpid=$!
i=0
until [ -s /tmp/$tag.fport ]; do
    i=$((i + 1))
    [ $i -le 50 ] || fail "the fake provider did not start"
    sleep 0.1
done
# A free port below the kernel's ephemeral range (32768+), where the servers that make test
# starts meanwhile (port 0) cannot take it between this check and the container's bind.
gport=$((20000 + $$ % 10000))
while curl -s -o /dev/null "http://127.0.0.1:$gport/" 2>/dev/null || [ $? != 7 ]; do
    gport=$((gport + 1))
done
ce run -d --name $tag-3 --network host -e GATEWAY_HOST=127.0.0.1 -e GATEWAY_PORT=$gport \
    -e GATEWAY_MASTER_KEY=$key -e GATEWAY_DATABASE_URL=sqlite:////tmp/gateway.db \
    -e "GATEWAY_PROVIDERS={\"openai\":{\"api_key\":\"sk-test\",\"api_base\":\"http://127.0.0.1:$(cat /tmp/$tag.fport)/v1\"}}" \
    "$image" >/dev/null 2>>"$elog" || fail "$CE run $tag-3 failed: $(cat "$elog")"
url=http://127.0.0.1:$gport
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health/readiness")" = 200 ]; do
    i=$((i + 1))
    [ $i -le 300 ] || fail "$tag-3: /health/readiness not 200 within 30 s"
    sleep 0.1
done
expect 200 POST /v1/users $key '{"user_id":"streamer"}'
curl -sN -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"model":"openai:fake-slow-20-150","user":"streamer","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
    "$url/v1/chat/completions" >/tmp/$tag.stream 2>/dev/null &
cpid=$!
i=0
until grep -q 'x2 ' /tmp/$tag.stream 2>/dev/null; do
    i=$((i + 1))
    [ $i -le 200 ] || fail "the stream did not start: $(cat /tmp/$tag.stream)"
    sleep 0.05
done
t1=$(date +%s)
ce stop -t $grace $tag-3 >/dev/null 2>>"$elog" || fail "$CE stop $tag-3 failed"
t_drain=$(($(date +%s) - t1))
wait $cpid || true
kill $fpid 2>/dev/null || true
[ "$(ce inspect -f '{{.State.ExitCode}}' $tag-3)" = 0 ] || fail "$tag-3 did not exit 0 after the drain"
grep -q 'x19 ' /tmp/$tag.stream && grep -q '^data: \[DONE\]' /tmp/$tag.stream ||
    fail "the stream was cut by the stop: $(tail -c 300 /tmp/$tag.stream)"
[ $t_drain -lt $grace ] || fail "the drain took ${t_drain} s"

echo "container test: ok with $CE ($image, build ${t_build} s, first readiness at ${t_ready} s," \
    "stop ${t_stop} s, stop with a stream in flight ${t_drain} s, total $(($(date +%s) - t0)) s)"
