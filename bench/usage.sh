#!/usr/bin/env bash
# bench/usage.sh: how fast the usage analytics API answers on SQLite (README "Usage analytics").
#
#   bench/usage.sh [ROWS]     (default 1000000: a month of one million usage rows)
#
# Migrates a fresh SQLite database with the gateway (GW_BIN, default build/any-llm-gateway),
# inserts ROWS usage rows spread evenly over November 2026 (200 users, 400 keys, 8 models on 4
# providers, 3 % errors) in one transaction with the sqlite3 CLI, starts the gateway on a free
# loopback port and times each request with curl: best and median of 5, after one warm-up.
# Everything lives in a temporary directory, removed on exit; the gateway is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GW_BIN=${GW_BIN:-$ROOT/build/any-llm-gateway}
ROWS=${1:-1000000}
DIR=$(mktemp -d /tmp/gw-usage-bench.XXXXXX)
GW_PID=""

cleanup() {
    if [ -n "$GW_PID" ]; then
        kill "$GW_PID" 2>/dev/null || true
        wait "$GW_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

for tool in sqlite3 curl python3; do
    command -v "$tool" >/dev/null || { echo "usage.sh: needs $tool" >&2; exit 2; }
done
[ -x "$GW_BIN" ] || { echo "usage.sh: no $GW_BIN (make all first)" >&2; exit 2; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$DIR/config.yaml" <<EOF
host: 127.0.0.1
port: $PORT
master_key: bench-master-key
database_url: sqlite:///$DIR/usage.db
EOF
timeout 120 "$GW_BIN" migrate --config "$DIR/config.yaml" >"$DIR/migrate.log" 2>&1

# One row every 2.592 s / (ROWS / 1e6) over 30 days; ids time-ordered like the gateway's UUID7.
t0=$(date +%s.%N)
timeout 1800 sqlite3 "$DIR/usage.db" <<EOF
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 199)
INSERT INTO users (user_id, spend, blocked, created_at, updated_at, metadata)
SELECT 'user-' || i, 0, 0, '2026-11-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00', '{}' FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 399)
INSERT INTO api_keys (id, key_hash, user_id, created_at, is_active, metadata)
SELECT 'key-' || i, 'hash-' || i, 'user-' || (i % 200), '2026-11-01T00:00:00+00:00', 1, '{}'
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS - 1),
r AS (SELECT i, 1793491200 + i * 2592000.0 / $ROWS AS t, (i * 2654435761) % 4294967291 AS h
      FROM n)
INSERT INTO usage_logs (id, api_key_id, user_id, timestamp, model, provider, endpoint,
    prompt_tokens, completion_tokens, total_tokens, cost, status, error_message)
SELECT printf('%012x-7000-8000-%012x', i, h), 'key-' || (h % 400), 'user-' || (h % 400 % 200),
    strftime('%Y-%m-%dT%H:%M:%S', t, 'unixepoch')
        || CASE WHEN i % 3 = 0 THEN '' ELSE printf('.%06d', (i * 7919) % 1000000) END || '+00:00',
    CASE h % 10 WHEN 0 THEN 'gpt-4o' WHEN 3 THEN 'claude-sonnet-4' WHEN 4 THEN 'claude-haiku'
        WHEN 5 THEN 'gemini-2.5-pro' WHEN 6 THEN 'gemini-2.5-flash' WHEN 7 THEN 'llama3'
        WHEN 9 THEN 'o3-mini' ELSE 'gpt-4o-mini' END,
    CASE h % 10 WHEN 3 THEN 'anthropic' WHEN 4 THEN 'anthropic' WHEN 5 THEN 'gemini'
        WHEN 6 THEN 'gemini' WHEN 7 THEN 'ollama' ELSE 'openai' END,
    '/v1/chat/completions', 100 + h % 900, 10 + h % 500, 110 + h % 900 + h % 500,
    (100 + h % 900) * 0.0000025 + (10 + h % 500) * 0.00001,
    CASE WHEN h % 100 < 97 THEN 'success' WHEN h % 100 < 99 THEN 'error' ELSE 'cancelled' END,
    CASE WHEN h % 100 IN (97, 98) THEN 'upstream error 502' END
FROM r;
COMMIT;
EOF
t1=$(date +%s.%N)
size=$(du -m "$DIR/usage.db" | cut -f1)
echo "inserted $ROWS rows in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s (one transaction, every index of migration 0004 maintained); database $size MB"

"$GW_BIN" serve --config "$DIR/config.yaml" >"$DIR/gw.log" 2>&1 &
GW_PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/health/readiness" >/dev/null 2>&1 && break
    sleep 0.1
done

# Prints "best median" seconds of 5 timed requests after one warm-up, and checks the status.
timeit() {
    local url="http://127.0.0.1:$PORT$1" times=() code
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer bench-master-key" "$url")
    [ "$code" = 200 ] || { echo "usage.sh: $1 answered $code" >&2; exit 1; }
    for _ in 1 2 3 4 5; do
        times+=("$(curl -s -o /dev/null -w '%{time_total}' \
            -H "Authorization: Bearer bench-master-key" "$url")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%6.0f ms  %6.0f ms", a[1]*1000, a[3]*1000}'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-70s %9s  %9s\n' "request (month of $ROWS rows)" best median
for q in \
    "/v1/usage/summary?group_by=day" \
    "/v1/usage/summary?group_by=hour" \
    "/v1/usage/summary?group_by=model" \
    "/v1/usage/summary?group_by=user" \
    "/v1/usage/summary?group_by=provider" \
    "/v1/usage/summary?group_by=key" \
    "/v1/usage/summary?group_by=day&start_date=2026-11-08&end_date=2026-11-15" \
    "/v1/usage/summary?group_by=user&start_date=2026-11-08&end_date=2026-11-15" \
    "/v1/usage/summary?group_by=day&user_id=user-7" \
    "/v1/usage/summary?group_by=model&status=error" \
    "/v1/usage?limit=100" \
    "/v1/usage?model=gpt-4o&limit=100&skip=200" \
    "/v1/usage?user_id=user-7&start_date=2026-11-08&end_date=2026-11-15" \
    "/v1/usage?status=error&provider=anthropic&limit=50" \
    "/v1/usage?start_date=2026-11-20T12:00:00Z&end_date=2026-11-21&limit=1000"; do
    printf '%-70s %s\n' "$q" "$(timeit "$q")"
done
