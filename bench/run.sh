#!/usr/bin/env bash
# bench/run.sh: the benchmark of DESIGN.md §5 in one run on loopback (bench/README.md).
#
#   bench/run.sh [--quick] [--only mock,nginx,gw-sqlite,gw-anthropic,gw-postgres,portkey]
#                [--no-install]
#   bench/run.sh --profile [N]   instructions per request of the gateway (callgrind), N requests
#                                on the OpenAI relay path, then N through the Anthropic dialect
#   bench/run.sh --massif [N]    heap of the gateway (valgrind massif) with N streams held open:
#                                the allocation sites of the memory one open stream costs
#
# `make bench` builds build/any-llm-gateway and the tools (build/bench/mock, build/bench/load)
# and calls this. Results: bench/results/latest.{md,json,png} (--quick: latest-quick.*).
# Every process started here is recorded in a pidfile and stopped on exit, failure or Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
RESULTS=$BENCH/results
WORK=$RESULTS/tmp/run
GW_BIN=${GW_BIN:-$ROOT/build/any-llm-gateway}
TOOLS=${BENCH_TOOLS:-$ROOT/build/bench}
MOCK_BIN=$TOOLS/mock
LOAD_BIN=$TOOLS/load
PORTKEY_DIR=$RESULTS/tmp/portkey

QUICK=0
PROFILE=0
PROFILE_N=500
GW_WRAP=""
INSTALL=1
ONLY="mock,nginx,gw-sqlite,gw-anthropic,gw-postgres,portkey"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --no-install) INSTALL=0 ;;
    --profile)
        PROFILE=1
        INSTALL=0
        case "${2:-}" in [0-9]*) PROFILE_N=$2 && shift ;; esac
        ;;
    --massif)
        PROFILE=2
        INSTALL=0
        PROFILE_N=200
        case "${2:-}" in [0-9]*) PROFILE_N=$2 && shift ;; esac
        ;;
    --only)
        ONLY=$2
        shift
        ;;
    --only=*) ONLY=${1#--only=} ;;
    -h | --help)
        sed -n '2,8p' "$0"
        exit 0
        ;;
    *)
        echo "bench: unknown argument $1" >&2
        exit 2
        ;;
    esac
    shift
done

# Durations: full run a few minutes on 2 cores, --quick under one minute.
RATE=5000
if [ "$QUICK" = 1 ]; then
    THR_SECONDS=2 THR_WARM=0 RATE_SECONDS=2 RATE_WARM=0.5 TTFB_COUNT=60 STREAM_SETS="1000"
    HOLD_MS=200 DRAIN=2 PAUSE=0.1 TTFB_WARM=10 NAME=latest-quick
else
    THR_SECONDS=5 THR_WARM=1 RATE_SECONDS=10 RATE_WARM=2 TTFB_COUNT=500 STREAM_SETS="1000 10000"
    HOLD_MS=1000 DRAIN=5 PAUSE=0.5 TTFB_WARM=20 NAME=latest
fi
WRK_CONNS=64
RATE_CONNS=128

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac }

# ------------------------------------------------------------------------------ packages
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
install_pkgs() {
    local missing="" p
    for p in "$@"; do have_pkg "$p" || missing="$missing $p"; done
    [ -z "$missing" ] && return 0
    if [ "$INSTALL" = 0 ] || [ "$(id -u)" != 0 ]; then
        log "missing Debian packages:$missing (not installing)"
        return 1
    fi
    log "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # A package's postinst must not start a system service (nginx, postgresql) here.
    local policy=/usr/sbin/policy-rc.d created=0
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && created=1
    fi
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; } ||
        { [ $created = 1 ] && rm -f $policy; log "apt-get could not install:$missing"; return 1; }
    [ $created = 1 ] && rm -f $policy
    return 0
}

install_pkgs wrk curl python3 procps || true
for t in wrk curl python3; do
    command -v $t >/dev/null || { echo "bench: $t is required" >&2; exit 1; }
done
want nginx && { install_pkgs nginx || true; }
install_pkgs gnuplot-nox || true
if want gw-postgres && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    install_pkgs postgresql || true
fi
for b in "$GW_BIN" "$MOCK_BIN" "$LOAD_BIN"; do
    [ -x "$b" ] || { echo "bench: $b is missing: run 'make bench'" >&2; exit 1; }
done

# ---------------------------------------------------------------------- process control
rm -rf "$WORK"
mkdir -p "$WORK/pids" "$WORK/out"
PG_DIR=""
PG_CTL=""

stop_pidfile() {
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    rm -f "$f"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
stop() { stop_pidfile "$WORK/pids/$1.pid"; }
cleanup() {
    local f
    trap - EXIT INT TERM
    for f in "$WORK"/pids/*.pid; do
        [ -e "$f" ] && stop_pidfile "$f"
    done
    if [ -n "$PG_CTL" ] && [ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ]; then
        runuser -u postgres -- "$PG_CTL" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    [ -z "$PG_DIR" ] || rm -rf "$PG_DIR"
    return 0
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# spawn NAME CMD...: runs CMD in the background, output in $WORK/NAME.log, pid in a pidfile.
spawn() {
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    echo $! >"$WORK/pids/$name.pid"
}
pid_of() { cat "$WORK/pids/$1.pid"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS NAME: until URL answers (any HTTP status) or NAME's process died.
wait_http() {
    local url=$1 secs=$2 name=$3 i
    for i in $(seq 1 $((secs * 20))); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        kill -0 "$(pid_of "$name")" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# cpu_ticks PID...: user + system CPU time of the processes (all their threads) in clock ticks.
cpu_ticks() {
    local s=0 p v
    for p in "$@"; do
        v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        s=$((s + v))
    done
    echo $s
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo -1; }
rss_sum() {
    local s=0 p v
    for p in "$@"; do
        v=$(rss_kb "$p")
        s=$((s + v))
    done
    echo $s
}

# Raise the open-file limit as far as the hard limit allows (10,000 streams through one
# proxy process take ~20,000 descriptors).
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
PROXY_STREAMS_MAX=$(((NOFILE - 400) / 2))

# ------------------------------------------------------------------------- the requests
# One set per wire: TAG-body.json (JSON), TAG-sse.json (TTFB: 3 chunks 1 ms apart), TAG-long.json
# (held streams). The mock reads the stream settings from the body fields (the relay passes
# them through) or, for the translating dialects that drop unknown fields, the model's "@N/D".
write_bodies() { # write_bodies TAG MODEL SSE_MODEL LONG_MODEL
    local msg='"messages":[{"role":"user","content":"Say hello."}],"max_tokens":16'
    printf '{"model":"%s",%s}' "$2" "$msg" >"$WORK/$1-body.json"
    printf '{"model":"%s",%s,"stream":true,"mock_chunks":3,"mock_delay_ms":1}' "$3" "$msg" >"$WORK/$1-sse.json"
    printf '{"model":"%s",%s,"stream":true,"mock_chunks":1000,"mock_delay_ms":30000}' "$4" "$msg" >"$WORK/$1-long.json"
}
write_bodies openai openai:bench-model openai:bench-model openai:bench-model
write_bodies anthropic anthropic:bench-model anthropic:bench-model@3/1 anthropic:bench-model@1000/30000
BODIES=openai # the set measure() sends

# ----------------------------------------------------------------------------- the mock
log "starting the mock upstream"
spawn mock "$MOCK_BIN" --threads "$(nproc)" --port-file "$WORK/mock.port"
for i in $(seq 1 100); do [ -s "$WORK/mock.port" ] && break; sleep 0.05; done
MOCK_PORT=$(cat "$WORK/mock.port")
MOCK_BASE=http://127.0.0.1:$MOCK_PORT/v1

# ------------------------------------------------------------------------- measurements
# Mock base URL per request kind: the stream settings are in the body (mock_chunks,
# mock_delay_ms) and, for proxies that drop unknown fields, in a /p/N/D/ path prefix.
mock_base_for() {
    case "$1" in
    json) echo "$MOCK_BASE" ;;
    sse) echo "http://127.0.0.1:$MOCK_PORT/p/3/1/v1" ;;
    long) echo "http://127.0.0.1:$MOCK_PORT/p/1000/30000/v1" ;;
    esac
}

# mk_headers KIND HEADER...: fills H with -H pairs; @MOCK_BASE@ becomes the kind's mock URL.
mk_headers() {
    local kind=$1 h base
    shift
    base=$(mock_base_for "$kind")
    H=()
    for h in "$@"; do H+=(-H "${h//@MOCK_BASE@/$base}"); done
}

# measure NAME URL PIDS HEADER...: every measurement on one contender, results in out/NAME/.
measure() {
    local name=$1 url=$2 pids=$3
    shift 3
    local lua="$WORK/$name.lua" h out="$WORK/out/$name" maxs n code
    mkdir -p "$out"
    mk_headers json "$@"
    {
        echo 'wrk.method = "POST"'
        echo "wrk.body = [[$(cat "$WORK/$BODIES-body.json")]]"
        echo 'wrk.headers["Content-Type"] = "application/json"'
        for h in "$@"; do
            h=${h//@MOCK_BASE@/$MOCK_BASE}
            printf 'wrk.headers["%s"] = "%s"\n' "${h%%:*}" "$(echo "${h#*:}" | sed 's/^ *//')"
        done
    } >"$lua"
    # A sanity request first: a contender that does not answer 200 is reported, not measured.
    code=$(curl -s -o "$out/sanity.body" -w '%{http_code}' --max-time 10 -X POST "$url" \
        -H 'Content-Type: application/json' "${H[@]}" --data-binary @"$WORK/$BODIES-body.json" || true)
    if [ "$code" != 200 ]; then
        log "$name: sanity request answered $code: $(head -c 300 "$out/sanity.body")"
        echo "{\"skipped\":\"sanity request answered HTTP $code\"}" >"$out/skip.json"
        return 1
    fi
    # shellcheck disable=SC2086
    rss_sum $pids >"$out/rss_idle"
    log "$name: TTFB on streams ($TTFB_COUNT sequential SSE requests)"
    mk_headers sse "$@"
    "$LOAD_BIN" ttfb --url "$url" --body-file "$WORK/$BODIES-sse.json" "${H[@]}" \
        --count "$TTFB_COUNT" --warmup "$TTFB_WARM" >"$out/ttfb.json" 2>>"$WORK/load.log" || true
    sleep "$PAUSE"
    log "$name: open loop at $RATE req/s for ${RATE_SECONDS}s (+${RATE_WARM}s warm-up)"
    mk_headers json "$@"
    "$LOAD_BIN" rate --url "$url" --body-file "$WORK/$BODIES-body.json" "${H[@]}" --rate "$RATE" \
        --duration "$RATE_SECONDS" --warmup "$RATE_WARM" --connections "$RATE_CONNS" \
        --drain "$DRAIN" >"$out/rate.json" 2>>"$WORK/load.log" || true
    sleep "$PAUSE"
    log "$name: closed loop throughput (wrk, $WRK_CONNS connections, ${THR_SECONDS}s)"
    if [ "$THR_WARM" != 0 ]; then
        wrk -t1 -c$WRK_CONNS -d${THR_WARM}s -s "$lua" "$url" >/dev/null 2>&1 || true
    fi
    # shellcheck disable=SC2086
    cpu_ticks $pids >"$out/cpu_ticks_before"
    wrk -t2 -c$WRK_CONNS -d${THR_SECONDS}s -s "$lua" "$url" >"$out/wrk.txt" 2>&1 || true
    # shellcheck disable=SC2086
    cpu_ticks $pids >"$out/cpu_ticks_after"
    sleep "$PAUSE"
    # shellcheck disable=SC2086
    rss_sum $pids >"$out/rss_before_streams"
    maxs=10000
    [ "$name" != mock ] && [ "$PROXY_STREAMS_MAX" -lt $maxs ] && maxs=$PROXY_STREAMS_MAX
    mk_headers long "$@"
    # --quick keeps under a minute: the translated dialect's memory per stream only in full runs.
    local sets=$STREAM_SETS
    [ "$QUICK" = 1 ] && [ "$BODIES" != openai ] && sets=""
    for n in $sets; do
        local want_n=$n pidargs=() p
        [ "$n" -gt "$maxs" ] && n=$maxs
        for p in $pids; do pidargs+=(--pid "$p"); done
        log "$name: RSS with $n open streams"
        "$LOAD_BIN" streams --url "$url" --body-file "$WORK/$BODIES-long.json" "${H[@]}" \
            --streams "$n" "${pidargs[@]}" --hold-ms "$HOLD_MS" --timeout 40 \
            >"$out/streams_$want_n.json" 2>>"$WORK/load.log" || true
        sleep "$PAUSE" # let the proxy notice the closed streams
    done
    # shellcheck disable=SC2086
    rss_sum $pids >"$out/rss_after"
    return 0
}

skip() { # skip NAME REASON
    mkdir -p "$WORK/out/$1"
    python3 -c 'import json,sys; print(json.dumps({"skipped": sys.argv[1]}))' "$2" >"$WORK/out/$1/skip.json"
    log "$1: skipped: $2"
}

# ------------------------------------------------------------------------------- contenders
run_mock() {
    measure mock "$MOCK_BASE/chat/completions" "$(pid_of mock)" || true
}

run_nginx() {
    local nginx port dir
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    [ -x "$nginx" ] || { skip nginx "nginx is not installed"; return 0; }
    port=$(free_port)
    dir=$WORK/nginx
    mkdir -p "$dir"
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@MOCK_PORT@|$MOCK_PORT|g" \
        -e "s|@WORKERS@|$(nproc)|g" -e "s|@NOFILE@|$NOFILE|g" \
        -e "s|@WCONN@|$((NOFILE - 100))|g" "$BENCH/nginx.conf.in" >"$dir/nginx.conf"
    spawn nginx "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off; master_process on;'
    if ! wait_http "http://127.0.0.1:$port/" 10 nginx; then
        skip nginx "nginx did not start: $(tail -n 2 "$WORK/nginx.log" "$dir/error.log" 2>/dev/null | tr '\n' ' ')"
        stop nginx
        return 0
    fi
    local pids
    pids="$(pid_of nginx) $(pgrep -P "$(pid_of nginx)" | tr '\n' ' ')"
    measure nginx "http://127.0.0.1:$port/v1/chat/completions" "$pids" || true
    stop nginx
}

# start_gateway NAME DATABASE_URL: starts this gateway and creates a budget, user, key.
start_gateway() {
    local name=$1 db=$2 port dir key
    port=$(free_port)
    dir=$WORK/$name
    mkdir -p "$dir"
    cat >"$dir/config.yaml" <<EOF
database_url: "$db"
host: "127.0.0.1"
port: $port
master_key: "bench-master-key"
bootstrap_api_key: false
enable_metrics: true
log_level: warning
providers:
  openai:
    api_key: "sk-bench"
    api_base: "$MOCK_BASE"
  anthropic:
    api_key: "sk-ant-bench"
    api_base: "http://127.0.0.1:$MOCK_PORT"
pricing:
  "openai:bench-model":
    input_price_per_million: 0.15
    output_price_per_million: 0.6
  "anthropic:bench-model":
    input_price_per_million: 0.15
    output_price_per_million: 0.6
EOF
    (cd "$dir" && exec env -u DATABASE_URL -u GATEWAY_MASTER_KEY $GW_WRAP "$GW_BIN" serve --config "$dir/config.yaml") >"$WORK/$name.log" 2>&1 &
    echo $! >"$WORK/pids/$name.pid"
    if ! wait_http "http://127.0.0.1:$port/health" 15 "$name"; then
        echo "FAIL: $(grep -v '^ *$' "$WORK/$name.log" | tail -n 3 | tr '\n' ' ')"
        return 1
    fi
    local M="Authorization: Bearer bench-master-key" budget
    budget=$(curl -s -X POST "http://127.0.0.1:$port/v1/budgets" -H "$M" \
        -d '{"max_budget": 1000000000, "budget_duration_sec": 2592000}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["budget_id"])') || {
        echo "FAIL: could not create a budget"
        return 1
    }
    curl -s -o /dev/null -X POST "http://127.0.0.1:$port/v1/users" -H "$M" \
        -d "{\"user_id\": \"bench\", \"budget_id\": \"$budget\"}"
    key=$(curl -s -X POST "http://127.0.0.1:$port/v1/keys" -H "$M" \
        -d '{"key_name": "bench", "user_id": "bench"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])') || {
        echo "FAIL: could not create a key"
        return 1
    }
    echo "$port $key"
}

check_usage() { # check_usage NAME PORT: the usage log must have rows (logging really on)
    local n
    n=$(curl -s "http://127.0.0.1:$2/v1/users/bench/usage?limit=1000" \
        -H "Authorization: Bearer bench-master-key" |
        python3 -c 'import json,sys
d=json.load(sys.stdin)
print(len(d) if isinstance(d,list) else len(d.get("data",d.get("items",[]))))' 2>/dev/null || echo "?")
    echo "$n" >"$WORK/out/$1/usage_rows"
    curl -s "http://127.0.0.1:$2/v1/users/bench" -H "Authorization: Bearer bench-master-key" \
        >"$WORK/out/$1/user.json" || true
}

run_gateway() { # run_gateway NAME DATABASE_URL
    local name=$1 r port key
    r=$(start_gateway "$name" "$2") || true
    case "$r" in
    FAIL:* | "")
        skip "$name" "the gateway did not start with ${2%%:*}: ${r#FAIL: }"
        stop "$name"
        return 0
        ;;
    esac
    port=${r%% *}
    key=${r#* }
    if measure "$name" "http://127.0.0.1:$port/v1/chat/completions" "$(pid_of "$name")" \
        "Authorization: Bearer $key"; then
        sleep 0.3 # the usage writer flushes every 50 ms
        check_usage "$name" "$port"
    fi
    stop "$name"
}

run_gw_sqlite() {
    run_gateway gw-sqlite "sqlite:///$WORK/gw-sqlite/gw.db"
}

# The same gateway on SQLite with the requests routed to the Anthropic dialect (OpenAI chat in,
# Anthropic Messages to the mock, translated back): the cost of translation beside the relay.
run_gw_anthropic() {
    BODIES=anthropic
    run_gateway gw-anthropic "sqlite:///$WORK/gw-anthropic/gw.db"
    BODIES=openai
}

run_gw_postgres() {
    local bindir pgport
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
        skip gw-postgres "no PostgreSQL server binaries (Debian package postgresql)"
        return 0
    fi
    if ! id postgres >/dev/null 2>&1; then
        skip gw-postgres "no 'postgres' system user to run a throw-away cluster"
        return 0
    fi
    PG_DIR=$(mktemp -d /tmp/any-llm-bench-pg.XXXXXX)
    chown postgres: "$PG_DIR"
    PG_CTL=$bindir/pg_ctl
    pgport=$(free_port)
    if ! runuser -u postgres -- "$bindir/initdb" -D "$PG_DIR/data" -A trust -U postgres \
        >"$WORK/pg-initdb.log" 2>&1; then
        skip gw-postgres "initdb failed: $(tail -n 1 "$WORK/pg-initdb.log")"
        return 0
    fi
    if ! runuser -u postgres -- "$PG_CTL" -D "$PG_DIR/data" -l "$PG_DIR/pg.log" -w -t 30 \
        -o "-p $pgport -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" \
        start >"$WORK/pg-start.log" 2>&1; then
        skip gw-postgres "the PostgreSQL cluster did not start: $(tail -n 1 "$PG_DIR/pg.log" 2>/dev/null)"
        return 0
    fi
    runuser -u postgres -- "$bindir/createdb" -h 127.0.0.1 -p "$pgport" -U postgres bench \
        >>"$WORK/pg-start.log" 2>&1 || true
    run_gateway gw-postgres "postgresql://postgres@127.0.0.1:$pgport/bench"
    runuser -u postgres -- "$PG_CTL" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}

portkey_install() {
    local want have
    want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"]["@portkey-ai/gateway"])' "$BENCH/portkey-package.json")
    have=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
        "$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json" 2>/dev/null || echo none)
    [ "$have" = "$want" ] && cmp -s "$BENCH/portkey-package.json" "$PORTKEY_DIR/package.json" && return 0
    command -v npm >/dev/null || install_pkgs nodejs npm || return 1
    log "installing the Portkey gateway $want from npm into $PORTKEY_DIR"
    rm -rf "$PORTKEY_DIR"
    mkdir -p "$PORTKEY_DIR"
    cp "$BENCH/portkey-package.json" "$PORTKEY_DIR/package.json"
    (cd "$PORTKEY_DIR" && npm install --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1
}

run_portkey() {
    local port
    if [ "$INSTALL" = 1 ]; then
        portkey_install || { skip portkey "npm install failed: $(tail -n 2 "$WORK/npm.log" 2>/dev/null | tr '\n' ' ')"; return 0; }
    fi
    if [ ! -f "$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js" ] || ! command -v node >/dev/null; then
        skip portkey "the Portkey gateway is not installed (node/npm missing or --no-install)"
        return 0
    fi
    port=$(free_port)
    (cd "$PORTKEY_DIR" && NODE_ENV=production exec node --require "$BENCH/portkey-loopback.cjs" \
        node_modules/@portkey-ai/gateway/build/start-server.js --port="$port" --headless) \
        >"$WORK/portkey.log" 2>&1 &
    echo $! >"$WORK/pids/portkey.pid"
    if ! wait_http "http://127.0.0.1:$port/" 30 portkey; then
        skip portkey "the Portkey gateway did not start: $(tail -n 2 "$WORK/portkey.log" | tr '\n' ' ')"
        stop portkey
        return 0
    fi
    measure portkey "http://127.0.0.1:$port/v1/chat/completions" "$(pid_of portkey)" \
        "Authorization: Bearer sk-bench" "x-portkey-provider: openai" \
        "x-portkey-custom-host: @MOCK_BASE@" || true
    stop portkey
}

# -------------------------------------------------------------------------------- profile
# The gateway on SQLite under callgrind: PROFILE_N JSON requests at 100/s after a warm-up, then
# instructions per request for each thread (and in total). Instruction counts do not depend on
# how busy the machine is, so they compare builds where wall-clock numbers cannot.
run_profile() {
    local r port key
    command -v valgrind >/dev/null || { echo "bench: --profile needs valgrind" >&2; exit 1; }
    GW_WRAP="valgrind --tool=callgrind --separate-threads=yes --compress-strings=no --callgrind-out-file=$WORK/cg.%p"
    r=$(start_gateway gw-profile "sqlite:///$WORK/gw-profile/gw.db") || true
    case "$r" in FAIL:* | "") echo "bench: the gateway did not start: ${r#FAIL: }" >&2 && exit 1 ;; esac
    port=${r%% *}
    key=${r#* }
    profile_phase openai 1 "$port" "$key"
    profile_phase anthropic 2 "$port" "$key"
    stop gw-profile
}

# profile_phase TAG N PORT KEY: PROFILE_N requests of the TAG body set, instructions per request
# by thread, from callgrind's N-th dump ($WORK/cg.PID.N-THREAD, one file per thread).
profile_phase() {
    local tag=$1 n=$2 port=$3 key=$4 pid f ir ok name t total=0
    pid=$(pid_of gw-profile)
    set -- --url "http://127.0.0.1:$port/v1/chat/completions" --body-file "$WORK/$tag-body.json" \
        -H "Authorization: Bearer $key" --connections 16 --rate 100
    "$LOAD_BIN" rate "$@" --duration 2 >/dev/null 2>>"$WORK/load.log"
    sleep 1
    callgrind_control -z "$pid" >/dev/null 2>&1
    ok=$("$LOAD_BIN" rate "$@" --duration "$(awk "BEGIN {print $PROFILE_N / 100}")" 2>>"$WORK/load.log" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
    sleep 1.5 # the usage writer's last batch
    callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 0.5
    echo "$tag: instructions per request ($ok requests answered 200), by thread:"
    for f in "$WORK"/cg."$pid"."$n"-*; do
        ir=$(awk '/^summary:/ {print $2}' "$f")
        [ -n "$ir" ] && [ "$ir" -gt 1000000 ] || continue
        name=$(grep -o -m1 -E 'gw_worker_main|sq_thread|gu_thread|db_pg[a-z_]*|acct_sync[a-z_]*' "$f" || true)
        t=$((ir / ok))
        total=$((total + t))
        printf '  %-16s %8d  %s\n' "${name:-other}" "$t" "$f"
    done
    printf '  %-16s %8d\n' total "$total"
}

# The gateway on SQLite under massif, PROFILE_N long streams held open for 4 s (massif takes a
# snapshot at the heap's peak, which is then), then the tree of the peak snapshot's allocations.
run_massif() {
    local r port key out
    command -v valgrind >/dev/null || { echo "bench: --massif needs valgrind" >&2; exit 1; }
    GW_WRAP="valgrind --tool=massif --threshold=0.2 --peak-inaccuracy=0.5 --massif-out-file=$WORK/massif.%p"
    r=$(start_gateway gw-massif "sqlite:///$WORK/gw-massif/gw.db") || true
    case "$r" in FAIL:* | "") echo "bench: the gateway did not start: ${r#FAIL: }" >&2 && exit 1 ;; esac
    port=${r%% *}
    key=${r#* }
    "$LOAD_BIN" streams --url "http://127.0.0.1:$port/v1/chat/completions" \
        --body-file "$WORK/openai-long.json" -H "Authorization: Bearer $key" \
        --streams "$PROFILE_N" --pid "$(pid_of gw-massif)" --hold-ms 4000 --timeout 120 \
        >"$WORK/massif-streams.json" 2>>"$WORK/load.log" || true
    stop gw-massif
    out=$(ls -t "$WORK"/massif.* | head -n 1)
    echo "heap with $PROFILE_N open streams: $out (ms_print below; streams: $(cat "$WORK/massif-streams.json"))"
    # The peak snapshot's tree (ms_print marks the peak in its list of detailed snapshots).
    ms_print --threshold=0.5 "$out" | awk '
        /Detailed snapshots:/ { if (match($0, /[0-9]+ \(peak\)/)) peak = substr($0, RSTART, RLENGTH - 7) }
        peak != "" && $1 == peak && $2 ~ /^[0-9,]+$/ { on = 1 }
        on && $1 == peak + 1 && $2 ~ /^[0-9,]+$/ { exit }
        on && /^(->|\| ->|  n |[ 0-9]+ )/ { print }'
}

# ------------------------------------------------------------------------------------ run
if [ "$PROFILE" = 1 ]; then
    run_profile
    exit 0
elif [ "$PROFILE" = 2 ]; then
    run_massif
    exit 0
fi
START=$(date +%s)
# Other work on the machine skews every number: the load average goes into the results.
cut -d' ' -f1-3 /proc/loadavg >"$WORK/loadavg_start"
log "mode: $([ $QUICK = 1 ] && echo quick || echo full); contenders: $ONLY; open files: $NOFILE"
want mock && run_mock
want nginx && run_nginx
want gw-sqlite && run_gw_sqlite
want gw-anthropic && run_gw_anthropic
want gw-postgres && run_gw_postgres
want portkey && run_portkey
stop mock
cut -d' ' -f1-3 /proc/loadavg >"$WORK/loadavg_end"

python3 "$BENCH/report.py" --work "$WORK" --out "$RESULTS/$NAME" \
    --mode "$([ $QUICK = 1 ] && echo quick || echo full)" --rate "$RATE" \
    --nofile "$NOFILE" --gw-bin "$GW_BIN" --elapsed "$(($(date +%s) - START))" \
    --settings "wrk -t2 -c$WRK_CONNS ${THR_SECONDS}s; open loop $RATE req/s ${RATE_SECONDS}s over $RATE_CONNS connections; TTFB $TTFB_COUNT sequential streams; streams $STREAM_SETS"
log "done in $(($(date +%s) - START)) s: $RESULTS/$NAME.md, .json, .png"
exit 0
