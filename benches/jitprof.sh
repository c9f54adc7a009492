#!/usr/bin/env bash
# jitprof.sh — where the time goes inside zonal's compiled DSP code: samples a long offline
# render with perf, finds the hottest function of the JIT code (perf cannot name it, nor
# show its instructions, once the process is gone), disassembles it from the live process
# with gdb, and prints each instruction with its share of all samples.
#
#   cargo build --release -p zonal-engine
#   benches/jitprof.sh benches/peers/w1_rotation.xtm            # the hottest JIT function
#   CLUSTER=2 benches/jitprof.sh benches/peers/w1_osc.xtm       # the second hottest
#
# Needs perf, gdb and python3 (Debian: linux-perf gdb python3); run as root or with
# kernel.perf_event_paranoid <= 1 and ptrace allowed. Sampling skids: the share often
# lands on the instruction after a slow one.
#
# Environment: ZONAL (the zonal binary, default target/release/zonal), RENDER_SECONDS (how
# long a render to start, default 12000: it must outlast the 1.5 s warm-up and the 4 s sample,
# which a patch rendering 2,000 times real time does not in 3000; in 16-bit samples, so the
# WAV stays below its 4 GiB limit),
# CLUSTER (1: the hottest function, 2: the next, by the address page of their samples).
set -euo pipefail
XTM=${1:?usage: jitprof.sh FILE.xtm}
ZONAL=${ZONAL:-target/release/zonal}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$ZONAL" render "$XTM" -o "$work/out.wav" --format i16 --seconds "${RENDER_SECONDS:-12000}" \
  >/dev/null 2>"$work/err" &
pid=$!
sleep 1.5
perf record -e cpu-clock -F 10000 -p "$pid" -o "$work/perf.data" -- sleep 4 >/dev/null 2>&1
perf script -i "$work/perf.data" -F ip,sym 2>/dev/null | awk '{print $1, $2}' | sort | uniq -c |
  sort -rn >"$work/ips"
# the hottest sample of the CLUSTER-th page group of unnamed (JIT) code
hot=$(awk -v n="${CLUSTER:-1}" '$3=="[unknown]" { p=substr($2,1,9); if (!(p in seen)) {
  seen[p]=1; k++; if (k==n) { print $2; exit } } }' "$work/ips")
if [ -z "$hot" ]; then
  kill "$pid" 2>/dev/null || true
  echo "jitprof: no samples in JIT code" >&2
  cat "$work/err" >&2
  exit 1
fi
# the function's first instruction: the nearest `push %rbp; mov %rsp,%rbp` before it
# (the search stays within the mapping that holds it: gdb stops at an unmapped byte)
lo=$((0x$hot - 0x8000))
while read -r range _; do
  from=$((0x${range%-*})) to=$((0x${range#*-}))
  if [ "$from" -le $((0x$hot)) ] && [ $((0x$hot)) -lt "$to" ] && [ "$lo" -lt "$from" ]; then
    lo=$from
  fi
done <"/proc/$pid/maps"
lo=$(printf "0x%x" "$lo")
start=$(gdb -p "$pid" -batch -ex "find /b $lo, 0x$hot, 0x55, 0x48, 0x89, 0xe5" 2>/dev/null |
  grep "^0x" | tail -n 1 | awk '{print $1}' || true)
if [ -n "$start" ]; then
  gdb -p "$pid" -batch -ex "x/6000i $start" 2>/dev/null | grep "0x" >"$work/dis" || true
fi
kill "$pid" 2>/dev/null || true
if [ ! -s "$work/dis" ]; then
  echo "jitprof: gdb could not read the function around 0x$hot (is ptrace allowed?); try again" >&2
  exit 1
fi
python3 - "$work/ips" "$work/dis" <<'PY'
import re, sys
ips, total = {}, 0
for line in open(sys.argv[1]):
    count, ip, sym = line.split()[:3]
    total += int(count)
    if sym == "[unknown]":
        ips[int(ip, 16)] = int(count)
print("samples: %d in all, %d in JIT code" % (total, sum(ips.values())))
shown = 0.0
for line in open(sys.argv[2]):
    m = re.search(r"0x([0-9a-f]+)", line)
    if not m:
        continue
    if "add    %al,(%rax)" in line:
        break  # zero bytes: the function's constants, or the padding after it
    share = 100.0 * ips.get(int(m.group(1), 16), 0) / total
    shown += share
    print("%6.2f%%  %s" % (share, line.strip()))
print("this function: %.1f%% of all samples" % shown)
PY
