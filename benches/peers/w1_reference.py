#!/usr/bin/env python3
"""w1_reference.py — the "W1" patch in plain Python, sample by sample, to check a render against.

    python3 benches/peers/w1_reference.py FILE.wav

Computes the first second of W1 at 48 kHz (the same steps as w1.xtm, in double
precision) and compares it with every channel of FILE.wav. Prints the largest
difference; exits 1 when it is above 0.002. Wavetable oscillators and 16-bit
files stay within about 1e-4; Csound's `tone` places its pole slightly
differently and stays near 1e-3; a delay line one sample off is near 0.03.
"""

import math
import sys

from wavcheck import WavError, decode, read_chunks

RATE = 48000
FRAMES = RATE
TOLERANCE = 0.002


def w1(frames):
    twopi = 2.0 * math.pi
    incs = [twopi * 110.0 * (1.0 + 0.37 * k) / RATE for k in range(64)]
    phases = [0.0] * 64
    coef = 1.0 - math.exp(-twopi * 2000.0 / RATE)
    line = [0.0] * (RATE // 4)
    pos = 0
    lp = 0.0
    out = []
    for _ in range(frames):
        total = 0.0
        for i, inc in enumerate(incs):
            ph = phases[i]
            total += math.sin(ph)
            ph += inc
            phases[i] = ph - twopi if ph > twopi else ph
        lp += coef * (total / 64.0 - lp)
        wet = line[pos]
        line[pos] = lp + 0.5 * wet
        pos = (pos + 1) % len(line)
        out.append(0.5 * lp + 0.5 * wet)
    return out


def main(argv):
    if len(argv) != 2:
        print("usage: w1_reference.py FILE.wav", file=sys.stderr)
        return 2
    try:
        with open(argv[1], "rb") as f:
            channels, rate, samples = decode(*read_chunks(f.read()))
    except (OSError, WavError) as e:
        print(f"{argv[1]}: {e}", file=sys.stderr)
        return 1
    if rate != RATE or len(samples) < FRAMES * channels:
        print(f"{argv[1]}: needs at least 1 s at {RATE} Hz", file=sys.stderr)
        return 1
    want = w1(FRAMES)
    worst = max(
        abs(samples[n * channels + c] - want[n]) for n in range(FRAMES) for c in range(channels)
    )
    print(f"max |difference from reference| over 1 s = {worst:.6f}")
    if worst > TOLERANCE:
        print(f"{argv[1]}: differs from W1 by {worst:.4f} (more than {TOLERANCE})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
