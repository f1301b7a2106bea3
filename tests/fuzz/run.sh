#!/bin/sh
# Runs the libFuzzer targets (built by the Makefile's fuzz section).
# Usage: tests/fuzz/run.sh check|long BUILD SECONDS TARGET...
#   check  replays each committed corpus (tests/fuzz/corpus/<target>/, never written to), then
#          fuzzes for SECONDS with new inputs in a temporary folder; stops at the first failure.
#   long   fuzzes each target for SECONDS, keeping new inputs in BUILD/corpus/<target>/.
# Crashing inputs go to BUILD/artifacts/<target>-crash-<sha1> (add one to the committed corpus
# as a regression seed once it is fixed). Exits non-zero when any target fails.
set -eu
mode=$1 build=$2 secs=$3
shift 3
mkdir -p "$build/artifacts"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in "$@"; do
    seeds=tests/fuzz/corpus/$t
    [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; exit 1; }
    if [ "$mode" = long ]; then
        work=$build/corpus/$t
    else
        work=$tmp/$t
    fi
    mkdir -p "$work"
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    printf 'fuzz %-14s %3d seeds, %s s ... ' "$t" "$(ls "$seeds" | wc -l)" "$secs"
    # -timeout: an input that takes this long is a hang; -rss_limit_mb: a runaway allocation.
    if UBSAN_OPTIONS=print_stacktrace=1 "$build/$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 $dict -artifact_prefix="$build/artifacts/$t-" \
        "$work" "$seeds" >"$tmp/$t.log" 2>&1; then
        echo "ok ($(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log") runs)"
    else
        echo FAILED
        grep -v '^#[0-9]' "$tmp/$t.log" | tail -60 >&2
        exit 1
    fi
done
