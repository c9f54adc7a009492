#!/usr/bin/env bash
# compare.sh — renders the same patch, "W1", in zonal, SuperCollider's scsynth
# (non-real-time mode), Csound and ChucK, times each whole process (start-up
# included), checks every output WAV, and prints one table of the ratios, by wall
# clock and by CPU time (user + system of the process and its children: the fair
# measure on a machine that runs other work).
#
# How to run, from anywhere in the checkout:
#
#   cargo build --release -p zonal-engine
#   benches/peers/compare.sh
#
# W1: 64 sines at 110 * (1 + 0.37 k) Hz (k = 0 .. 63), each at 1/64, summed; a
# one-pole lowpass at 2 kHz; a 0.25 s feedback delay (feedback 0.5) mixed 50/50
# with the filtered signal; 60 s of 48 kHz stereo written to a WAV file. The
# patch is in w1.xtm (zonal), w1_score.py (writes scsynth's OSC score), w1.csd
# (Csound), w1.ck (ChucK) and, as the yardstick, w1_reference.py (plain Python).
# zonal renders two versions: w1.xtm calls sin for every partial and sample;
# w1_rotation.xtm turns a unit vector instead (scsynth and Csound read their
# sines from wavetables), and its row is "zonal-rot"; w1_buffer.xtm is the same
# as a per-buffer (DSPMC) closure, row "zonal-buf"; w1_osc.xtm calls 64 closures
# made by the library's osc_c, as Extempore code most often is written, row
# "zonal-osc"; row "zonal-fast" is w1.xtm with the named, less exact sin_fast
# (written from w1.xtm into a temporary file).
#
# Environment:
#   ZONAL    the zonal binary (default: $CARGO_TARGET_DIR/release/zonal, else target/release/zonal)
#   RUNS     timed runs per system; the median is reported (default 3)
#   OUT_DIR  where the WAV files go (default /tmp)
#   TIMER    "bash" to time with bash's clock even when hyperfine is installed
#
# Installs nothing. Each system that is not there is named with the Debian
# package that provides it, and left out of the table:
#   apt-get install -y supercollider-server csound chuck hyperfine
# python3 is required (it writes the scsynth score and checks the WAV files).
# Timing uses hyperfine when it is installed, else bash's clock around each run.
# Before the timed runs, each system renders once untimed; that output must have
# 60 s x 48000 frames (within one 64-frame block), 2 channels, and an RMS within
# 5% of W1's, or the system is reported as failed. W1's RMS, 0.0554, is the
# steady state of the patch's transfer function summed over the 64 partials
# (lowpass a / (1 - (1 - a) z^-1) with a = 1 - exp(-2 pi 2000 / 48000), then
# 0.5 + 0.5 z^-12000 / (1 - 0.5 z^-12000)); the first echo's 0.25 s of
# build-up lowers a 60 s render's RMS by about 0.2%. Its first second must also
# match w1_reference.py within 0.002 (the "max diff" column).
#
# The machine should be otherwise idle: other processes on the same cores
# change every number here.

set -u

cd "$(dirname "$0")/../.." || exit 1
PEERS=benches/peers
SECONDS_LONG=60
RATE=48000
CHANNELS=2
W1_RMS=0.0554
RUNS=${RUNS:-3}
OUT_DIR=${OUT_DIR:-/tmp}
ZONAL=${ZONAL:-${CARGO_TARGET_DIR:-target}/release/zonal}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if ! command -v python3 >/dev/null; then
    echo "compare.sh: python3 is missing (Debian: python3); it is needed to write the scsynth score and check the WAV files" >&2
    exit 1
fi

missing=()
have() {
    if [ -x "$1" ] || command -v "$1" >/dev/null; then
        return 0
    fi
    missing+=("$1 (${2})")
    return 1
}

# name|command|output file, one line per system that is installed
systems=()
if have "$ZONAL" "cargo build --release -p zonal-engine, or set ZONAL"; then
    sed 's/(sin ph)/(sin_fast ph)/' "$PEERS/w1.xtm" >"$WORK/w1_fast.xtm"
    grep -q '(sin_fast ph)' "$WORK/w1_fast.xtm" || { echo "compare.sh: w1.xtm no longer has (sin ph)" >&2; exit 1; }
    for v in $PEERS/w1.xtm:zonal $WORK/w1_fast.xtm:zonal-fast $PEERS/w1_rotation.xtm:zonal-rot \
        $PEERS/w1_buffer.xtm:zonal-buf $PEERS/w1_osc.xtm:zonal-osc; do
        systems+=("${v#*:}|$ZONAL render ${v%%:*} -o $OUT_DIR/w1-${v#*:}.wav --seconds $SECONDS_LONG --sample-rate $RATE --channels $CHANNELS|$OUT_DIR/w1-${v#*:}.wav")
    done
fi
if have scsynth "Debian: supercollider-server"; then
    python3 "$PEERS/w1_score.py" "$WORK/w1.osc" || exit 1
    systems+=("scsynth|scsynth -D 0 -N $WORK/w1.osc _ $OUT_DIR/w1-scsynth.wav $RATE WAV float -o $CHANNELS|$OUT_DIR/w1-scsynth.wav")
fi
if have csound "Debian: csound"; then
    systems+=("csound|csound -d -m0 -W -f -o $OUT_DIR/w1-csound.wav $PEERS/w1.csd|$OUT_DIR/w1-csound.wav")
fi
if have chuck "Debian: chuck"; then
    systems+=("chuck|chuck --silent --srate:$RATE $PEERS/w1.ck:$OUT_DIR/w1-chuck.wav|$OUT_DIR/w1-chuck.wav")
fi
if [ "${TIMER:-}" = bash ]; then
    timer=bash
elif command -v hyperfine >/dev/null; then
    timer=hyperfine
else
    timer=bash
    missing+=("hyperfine (Debian: hyperfine; timing with bash's clock instead)")
fi

for m in "${missing[@]}"; do
    echo "missing: $m"
done
if [ ${#systems[@]} -eq 0 ]; then
    echo "compare.sh: nothing to run" >&2
    exit 1
fi

# median_seconds NAME COMMAND: prints the median wall-clock time of RUNS runs.
median_seconds() {
    local name=$1 cmd=$2
    if [ "$timer" = hyperfine ]; then
        hyperfine --style none --runs "$RUNS" --export-json "$WORK/$name.json" "$cmd" >/dev/null 2>"$WORK/$name.hyperfine" ||
            return 1
        python3 -c 'import json, sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$WORK/$name.json"
    else
        local times=() start end i
        for ((i = 0; i < RUNS; i++)); do
            start=$(date +%s%N)
            bash -c "$cmd" >/dev/null 2>&1 || return 1
            end=$(date +%s%N)
            times+=("$(((end - start) / 1000000))")
        done
        printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { printf "%.3f\n", t[int((NR + 1) / 2)] / 1000 }'
    fi
}

# median_cpu COMMAND: prints the median CPU time (user + system, the command's whole
# process tree) of RUNS runs.
median_cpu() {
    python3 - "$RUNS" "$1" <<'PY'
import resource, subprocess, sys
runs, cmd = int(sys.argv[1]), sys.argv[2]
times = []
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(["bash", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        sys.exit(1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
times.sort()
print("%.3f" % times[(len(times) - 1) // 2])
PY
}

echo "W1, ${SECONDS_LONG} s of ${RATE} Hz stereo; median of $RUNS runs ($timer); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A secs cpu rms diff status
order=()
for entry in "${systems[@]}"; do
    IFS='|' read -r name cmd out <<<"$entry"
    order+=("$name")
    echo "-- $name: $cmd"
    rm -f "$out"
    bash -c "$cmd" >"$WORK/$name.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        status[$name]="failed: exit status $rc, see above"
        tail -n 5 "$WORK/$name.log" | sed 's/^/   /'
        continue
    fi
    if ! check=$(python3 "$PEERS/wavcheck.py" "$out" "$SECONDS_LONG" "$RATE" "$CHANNELS" "$W1_RMS" 2>&1); then
        status[$name]="failed: bad output, see above"
        printf '%s\n' "$check" | sed 's/^/   /'
        continue
    fi
    echo "   $check"
    rms[$name]=$(printf '%s\n' "$check" | sed -n 's/.*rms=\([0-9.]*\).*/\1/p')
    if ! check=$(python3 "$PEERS/w1_reference.py" "$out" 2>&1); then
        status[$name]="failed: not W1, see above"
        printf '%s\n' "$check" | sed 's/^/   /'
        continue
    fi
    echo "   $check"
    diff[$name]=$(printf '%s\n' "$check" | sed -n 's/.*= \([0-9.]*\)$/\1/p')
    if ! secs[$name]=$(median_seconds "$name" "$cmd"); then
        status[$name]="failed while timing"
        [ -s "$WORK/$name.hyperfine" ] && tail -n 5 "$WORK/$name.hyperfine" | sed 's/^/   /'
        continue
    fi
    if ! cpu[$name]=$(median_cpu "$cmd"); then
        status[$name]="failed while timing its CPU"
        continue
    fi
    status[$name]=ok
done

echo
printf '%-9s %10s %12s %14s %8s %16s %8s %10s\n' system "median s" "x real time" "t / t(zonal)" "cpu s" "cpu / cpu(zonal)" rms "max diff"
for name in "${order[@]}"; do
    if [ "${status[$name]}" != ok ]; then
        printf '%-9s %s\n' "$name" "${status[$name]}"
        continue
    fi
    t=${secs[$name]}
    rt=$(awk -v t="$t" -v s="$SECONDS_LONG" 'BEGIN { printf "%.1f", s / t }')
    c=${cpu[$name]}
    if [ "${status[zonal]:-}" = ok ]; then
        vs=$(awk -v t="$t" -v z="${secs[zonal]}" 'BEGIN { printf "%.2f", t / z }')
        cvs=$(awk -v t="$c" -v z="${cpu[zonal]}" 'BEGIN { printf "%.2f", t / z }')
    else
        vs=-
        cvs=-
    fi
    printf '%-9s %10s %12s %14s %8s %16s %8s %10s\n' "$name" "$t" "$rt" "$vs" "$c" "$cvs" "${rms[$name]}" "${diff[$name]}"
done
echo "t / t(zonal) above 1 means zonal (w1.xtm) was faster; cpu s is user + system time"
