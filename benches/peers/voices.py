#!/usr/bin/env python3
"""voices.py — how many synth voices one core plays in real time at 48 kHz: zonal's
`synth` (libs/core/instruments.xtm) and SuperCollider's `\\default` SynthDef
(voices_score.py), side by side, each rendered offline by its whole process.

    cargo build --release -p zonal-engine
    python3 benches/peers/voices.py [VOICES [SECONDS [RUNS]]]     # default 64 4 3

Each system renders SECONDS of 48 kHz stereo to a WAV twice over: with VOICES notes
held from the start, and with none (zonal: the same instruments, bound and summed by
the dsp; scsynth: the SynthDef received, no node). The CPU time (user + system) of
the process, the median of RUNS runs, less the silent render's, is what VOICES voices
cost; one core plays SECONDS / (that / VOICES) voices in real time. CPU time rather
than wall time, so that other work on a shared machine counts less. Each render with
voices is checked to be sound (RMS above 0.01) before it is timed.

Environment: ZONAL (the zonal binary; default target/release/zonal), SCSYNTH
(default scsynth; Debian: supercollider-server).
"""

import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RATE = 48000
PER_INSTRUMENT = 32


def zonal_source(voices, instruments):
    lines = ['(sys:load "libs/core/instruments.xtm")']
    lines += [f"(make-instrument s{i} synth)" for i in range(instruments)]
    calls = " ".join(f"(s{i} in time chan dat)" for i in range(instruments))
    lines.append(f"(bind-func dsp:DSP 100000 (lambda (in time chan dat) (+ 0.0 {calls})))")
    lines.append("(dsp:set! dsp)")
    lines += [
        f"(start-note 0 s{v // PER_INSTRUMENT} {36 + v % 36} 60)" for v in range(voices)
    ]
    return "\n".join(lines) + "\n"


def run(cmd):
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        # zonal's watchdog stops a dsp slower than real time on a loaded machine
        raise SystemExit(f"voices.py: {' '.join(cmd)} failed:\n{done.stderr.strip()}\n"
                         "(fewer voices, or a quieter machine)")


def cpu_seconds(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def wav_rms(path):
    data = open(path, "rb").read()
    at = data.find(b"data")
    n = struct.unpack("<I", data[at + 4:at + 8])[0]
    body = data[at + 8:at + 8 + n]
    fmt_at = data.find(b"fmt ")
    bits = struct.unpack("<H", data[fmt_at + 22:fmt_at + 24])[0]
    if bits == 32:
        samples = struct.unpack(f"<{len(body) // 4}f", body[: len(body) // 4 * 4])
    else:
        samples = [s / 32768.0 for s in struct.unpack(f"<{len(body) // 2}h", body[: len(body) // 2 * 2])]
    step = max(1, len(samples) // 200000)
    picked = samples[::step]
    return (sum(s * s for s in picked) / len(picked)) ** 0.5


def measure(name, command_for, voices, seconds, runs, work):
    commands = {n: command_for(n, os.path.join(work, f"{name}-{n}.wav")) for n in (0, voices)}
    run(commands[voices])
    level = wav_rms(os.path.join(work, f"{name}-{voices}.wav"))
    if level < 0.01:
        raise SystemExit(f"voices.py: {name}'s render with {voices} voices is silent (RMS {level:.4f})")
    times = {n: statistics.median(cpu_seconds(c) for _ in range(runs)) for n, c in commands.items()}
    per_voice = (times[voices] - times[0]) / voices
    return times[0], times[voices], seconds / per_voice


def main(argv):
    voices = int(argv[1]) if len(argv) > 1 else 64
    seconds = float(argv[2]) if len(argv) > 2 else 4.0
    runs = int(argv[3]) if len(argv) > 3 else 3
    zonal = os.environ.get("ZONAL", os.path.join(ROOT, "target", "release", "zonal"))
    scsynth = os.environ.get("SCSYNTH", "scsynth")
    instruments = -(-voices // PER_INSTRUMENT)
    rows = []
    with tempfile.TemporaryDirectory() as work:

        def zonal_cmd(n, out):
            src = os.path.join(work, f"voices-{n}.xtm")
            with open(src, "w") as f:
                f.write(zonal_source(n, instruments))
            return [zonal, "render", src, "-o", out, "--seconds", str(seconds),
                    "--sample-rate", str(RATE), "--channels", "2"]

        def scsynth_cmd(n, out):
            score = os.path.join(work, f"voices-{n}.osc")
            subprocess.run([sys.executable, os.path.join(HERE, "voices_score.py"), score, str(n), str(seconds)],
                           check=True)
            return [scsynth, "-D", "0", "-N", score, "_", out, str(RATE), "WAV", "float", "-o", "2"]

        for name, cmd in (("zonal synth", zonal_cmd), ("scsynth \\default", scsynth_cmd)):
            silent, loud, per_core = measure(name.split()[0], cmd, voices, seconds, runs, work)
            rows.append((name, silent, loud, per_core))
    print(f"{voices} voices, {seconds:g} s at {RATE} Hz, CPU seconds (median of {runs})")
    print(f"{'system':<18} {'silent':>8} {'voices':>8} {'voices per core':>16}")
    for name, silent, loud, per_core in rows:
        print(f"{name:<18} {silent:8.3f} {loud:8.3f} {per_core:16.0f}")
    print(f"ratio zonal / scsynth: {rows[0][3] / rows[1][3]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
