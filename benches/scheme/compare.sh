#!/usr/bin/env bash
# Times each benches/scheme/*.scm program under zonal, TinyScheme, Guile's interpreter and
# compiled Guile, checks that they all print the same result, and prints a table of wall times
# with each peer's time divided by zonal's (higher = zonal is that many times faster). The first
# row (startup) is a program that only prints, to show each system's start-up time.
#
#   benches/scheme/compare.sh [PROGRAM.scm ...]     (default: every program in benches/scheme)
#
# Environment: ZONAL (the zonal binary; default $CARGO_TARGET_DIR or target, /release/zonal),
# RUNS (runs per cell; default 3: the median is kept with hyperfine, else the fastest), LIMIT
# (seconds before a run is given up and shown as ">LIMIT"; default 120). Needs the Debian
# packages tinyscheme and guile-3.0; uses hyperfine when it is installed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
zonal=${ZONAL:-${CARGO_TARGET_DIR:-$root/target}/release/zonal}
runs=${RUNS:-3}
limit=${LIMIT:-120}

if [[ ! -x $zonal ]]; then
    echo "building $zonal (cargo build --release --bin zonal)" >&2
    (cd "$root" && cargo build --release --bin zonal >&2)
fi
for tool in tinyscheme guile; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool is not installed" >&2; exit 1; }
done


# time_cmd OUTFILE CMD... : prints a wall time in seconds, or ">LIMIT" when the program fails
# or exceeds the limit; its output goes to OUTFILE. With hyperfine installed the time is the
# median of $runs runs, measured without a shell in between (-N); without it, the fastest of
# $runs runs timed with `date` around `timeout` (which adds a few milliseconds of its own).
time_cmd() {
    local out=$1 best="" start end t
    shift
    if ! timeout "$limit" "$@" >"$out" 2>/dev/null </dev/null; then
        echo ">$limit"
        return
    fi
    if command -v hyperfine >/dev/null; then
        hyperfine -N --style none --warmup 1 --runs "$runs" --export-json "$tmp/h.json" \
            "$(printf '%q ' "$@")" >/dev/null 2>&1 </dev/null
        python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["median"])' \
            "$tmp/h.json"
        return
    fi
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s.%N)
        timeout "$limit" "$@" >/dev/null 2>&1 </dev/null
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc -l)
        if [[ -z $best ]] || (($(echo "$t < $best" | bc -l))); then best=$t; fi
    done
    printf '%.4f' "$best"
}

ratio() {
    if [[ $1 == ">"* || $2 == ">"* ]]; then echo "-"; else printf '%.1fx' "$(echo "$1 / $2" | bc -l)"; fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The first row times a program that only prints 0: each system's start-up cost, which the
# other rows include.
printf '(display 0)\n(newline)\n' >"$tmp/startup.scm"
if [[ $# -gt 0 ]]; then programs=("$tmp/startup.scm" "$@"); else programs=("$tmp/startup.scm" "$here"/*.scm); fi

printf '%-12s %9s %11s %11s %11s   %9s %9s %9s  %s\n' program zonal tinyscheme guile-interp \
    guile-comp "ts/zonal" "gi/zonal" "gc/zonal" agree
for program in "${programs[@]}"; do
    name=$(basename "$program" .scm)
    abs=$(cd "$(dirname "$program")" && pwd)/$(basename "$program")
    guile -s "$abs" >/dev/null 2>&1 || true # warm Guile's compilation cache
    z=$(time_cmd "$tmp/z" "$zonal" run "$abs")
    ts=$(time_cmd "$tmp/ts" tinyscheme "$abs")
    gi=$(time_cmd "$tmp/gi" guile --no-auto-compile -c "(primitive-load \"$abs\")")
    gc=$(time_cmd "$tmp/gc" guile -s "$abs")
    agree=yes
    for other in ts gi gc; do
        cmp -s "$tmp/z" "$tmp/$other" || agree="no($other)"
    done
    printf '%-12s %9s %11s %11s %11s   %9s %9s %9s  %s\n' "$name" "$z" "$ts" "$gi" "$gc" \
        "$(ratio "$ts" "$z")" "$(ratio "$gi" "$z")" "$(ratio "$gc" "$z")" "$agree"
done
