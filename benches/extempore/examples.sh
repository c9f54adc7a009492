#!/usr/bin/env bash
# Extempore's example programs (examples/core/*.xtm named below) rendered unchanged by
# `zonal render`, from an empty working directory so that every `sys:load` of
# "libs/..." resolves to zonal's embedded libraries. Prints, per program, whether it
# ran without an error (else its first error) and the render's level.
#
#   EXTEMPORE=path/to/extempore benches/extempore/examples.sh   # a checkout or a bare clone
#   ZONAL=target/debug/zonal EXTEMPORE=... benches/extempore/examples.sh   # a given binary
#
# Not part of CI: the programs are Extempore's, not ours.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${EXTEMPORE:?set EXTEMPORE to a checkout (or bare clone) of github.com/digego/extempore}"
REV=${REV:-HEAD}
EXAMPLES=${EXAMPLES:-"hello-sine hello-stereo hello-sweep audio_101 scheduler topclock_metro fmsynth"}
SECONDS_EACH=${SECONDS_EACH:-16}
if [ -n "${ZONAL:-}" ]; then
  zonal=$(realpath "$ZONAL")
else
  cargo build --release -q -p zonal-engine
  zonal=$PWD/target/release/zonal
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in $EXAMPLES; do
  src="$work/$name.xtm"
  if [ -d "$EXTEMPORE/examples/core" ]; then
    cp "$EXTEMPORE/examples/core/$name.xtm" "$src"
  else
    git -C "$EXTEMPORE" show "$REV:examples/core/$name.xtm" > "$src"
  fi
  if out=$(cd "$work" && timeout 120 "$zonal" render "$src" -o "$work/$name.wav" \
             --seconds "$SECONDS_EACH" 2>&1); then
    status="runs"
  else
    status="fails: $(grep -m1 -v '^\s*$' <<<"$out" | cut -c1-100)"
  fi
  level=$(grep -o 'peak [^,]*, RMS [^,]*' <<<"$out" | tail -1 || true)
  printf '%-16s %s%s\n' "$name" "$status" "${level:+ ($level)}"
done
