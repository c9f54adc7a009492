#!/usr/bin/env python3
"""interleaved.py — W1's renders in zonal and scsynth, one after the other, round after
round, each timed by the CPU time (user + system) of its process; prints the medians and
how many times faster than scsynth each one is.

    cargo build --release -p zonal-engine
    python3 benches/peers/interleaved.py [ROUNDS]      # default 11 rounds

compare.sh renders each system RUNS times in a row and times whole process trees; this
runs one render of each system per round, so that a machine whose speed drifts (other
work, frequency) weighs on all of them alike, and the ratios of medians are steadier.
Environment: ZONAL (default target/release/zonal), OUT_DIR (default /tmp). Needs
scsynth (Debian: supercollider-server) for the scsynth row; without it the zonal rows
are printed alone.

Row "zonal-fast" is w1.xtm with the named, less exact sin_fast; with FLOOR=1 a row
"zonal-nosin" is w1.xtm with (sin ph) taken out, not W1's sound: what all but the sine
costs. Both are written from w1.xtm into OUT_DIR.
"""

import os
import resource
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ZONAL = os.environ.get("ZONAL", os.path.join(ROOT, "target", "release", "zonal"))
OUT = os.environ.get("OUT_DIR", "/tmp")


def cpu_of(cmd):
    """Seconds of user + system time `cmd` took (it must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # (from the checkout's root, where w1_osc.xtm's `sys:load` finds the library)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def w1_with(sine, name):
    """w1.xtm with its `(sin ph)` replaced by `sine`, written to OUT_DIR/name; its path."""
    with open(os.path.join(HERE, "w1.xtm")) as f:
        text = f.read()
    assert text.count("(sin ph)") == 1, "w1.xtm no longer has (sin ph)"
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(text.replace("(sin ph)", sine))
    return path


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    cmds = {}
    if shutil.which("scsynth"):
        score = os.path.join(OUT, "w1-interleaved.osc")
        subprocess.run([sys.executable, os.path.join(HERE, "w1_score.py"), score], check=True)
        cmds["scsynth"] = ["scsynth", "-D", "0", "-N", score, "_",
                           os.path.join(OUT, "w1-interleaved-sc.wav"), "48000", "WAV", "float", "-o", "2"]
    xtms = [("zonal-buf", "w1_buffer.xtm"), ("zonal-rot", "w1_rotation.xtm"), ("zonal", "w1.xtm"),
            ("zonal-fast", w1_with("(sin_fast ph)", "w1-fast.xtm")), ("zonal-osc", "w1_osc.xtm")]
    if os.environ.get("FLOOR"):
        xtms.append(("zonal-nosin", w1_with("ph", "w1-nosin.xtm")))
    for name, xtm in xtms:
        # (an absolute path, as w1_with gives, is kept as it is)
        cmds[name] = [ZONAL, "render", os.path.join(HERE, xtm), "-o",
                      os.path.join(OUT, "w1-interleaved-%s.wav" % name), "--seconds", "60",
                      "--sample-rate", "48000", "--channels", "2"]
    times = {name: [] for name in cmds}
    for _ in range(rounds):
        for name, cmd in cmds.items():
            times[name].append(cpu_of(cmd))
    base = statistics.median(times["scsynth"]) if "scsynth" in times else None
    print("W1, 60 s of 48 kHz stereo; CPU time, median of %d interleaved rounds" % rounds)
    for name, ts in times.items():
        m = statistics.median(ts)
        ratio = "" if base is None else "  scsynth / this: %.2f" % (base / m)
        print("%-10s %.3f s (quartiles %.3f-%.3f)%s" % (
            name, m, sorted(ts)[len(ts) // 4], sorted(ts)[(3 * len(ts)) // 4], ratio))


if __name__ == "__main__":
    main()
