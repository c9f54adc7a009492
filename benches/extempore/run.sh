#!/usr/bin/env bash
# Extempore's own core tests (tests/core/*.xtm, the two AOT files aside) run unchanged
# by `zonal test`, which gives their xtmtest-* macros Extempore's meanings. Prints, per
# file and in all, how many of their assertions pass. Errors outside any assertion
# (a form that fails to compile, say) are not assertions and are not counted; the
# assertions they break fail on their own.
#
#   EXTEMPORE=path/to/extempore benches/extempore/run.sh     # a checkout or a bare clone
#
# The figure in the README was measured at digego/extempore ef32bb90. Not part of CI:
# the suite is Extempore's, not ours.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${EXTEMPORE:?set EXTEMPORE to a checkout (or bare clone) of github.com/digego/extempore}"
REV=${REV:-HEAD}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tests"
if [ -d "$EXTEMPORE/tests/core" ]; then
  cp "$EXTEMPORE"/tests/core/*.xtm "$work/tests/"
else
  for f in $(git -C "$EXTEMPORE" ls-tree --name-only "$REV" tests/core/); do
    git -C "$EXTEMPORE" show "$REV:$f" > "$work/tests/$(basename "$f")"
  done
fi
rm -f "$work"/tests/aot-compilation*.xtm
cargo build --release -q -p zonal-engine
# each file gets a minute: a hang is a failure of that file, not of the run
for f in "$work"/tests/*.xtm; do
  timeout 60 target/release/zonal test --jobs 1 --out-dir "$work/takes" \
    --junit "$work/$(basename "$f" .xtm).junit" "$f" >/dev/null 2>&1 || true
done
python3 - "$work" <<'PY'
import glob, os, sys, xml.etree.ElementTree as ET
work = sys.argv[1]
total = passed = 0
for tests in sorted(glob.glob(os.path.join(work, "tests", "*.xtm"))):
    name = os.path.basename(tests)
    junit = os.path.join(work, name[:-4] + ".junit")
    if not os.path.exists(junit):
        print(f"{name:24} did not finish (crash or timeout)")
        continue
    cases = ET.parse(junit).getroot().iter("testcase")
    asserts = [c for c in cases
               if not any(f.get("type") == "error" for f in c.iter("failure"))]
    ok = sum(1 for c in asserts if c.find("failure") is None)
    total += len(asserts); passed += ok
    print(f"{name:24} {ok:4} of {len(asserts):4} assertions pass")
print(f"{'all':24} {passed:4} of {total:4} ({100.0 * passed / max(total, 1):.1f}%)")
PY
