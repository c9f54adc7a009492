#!/usr/bin/env python3
"""voices_score.py — writes an OSC score for scsynth's non-real-time mode that holds
N voices of SuperCollider's `\\default` SynthDef, for benches/peers/voices.sh.

    python3 benches/peers/voices_score.py /tmp/voices.osc 128 10
    scsynth -N /tmp/voices.osc _ /tmp/voices.wav 48000 WAV float -o 2

`\\default` is the SynthDef sclang defines at start-up (SynthDef.sc) and patterns
play: three VarSaws (width 0.3, each at 0.3) at freq, freq - Rand(0, 0.4) and
freq + Rand(0, 0.4), mixed; an LPF whose cutoff glides by XLine from Rand(4000,
5000) to Rand(2500, 3200) Hz over 1 s; a Linen envelope (0.01 s attack, sustain
0.7, 0.3 s release, freeing the node); Pan2 at amp; OffsetOut to the bus `out`.
There is no sclang here, so it is encoded by hand in the SCgf version 2 format;
its controls (out, freq, amp, pan, gate) are one control-rate Control UGen
(sclang makes `out` a scalar-rate one, which costs nothing per block either).
The score starts N nodes at time 0, at pitches spread over three octaves, and
holds them (gate 1) until SECONDS, where rendering stops.
"""

import struct
import sys

from w1_score import osc_bundle, osc_message, pstring

SCALAR, CONTROL, AUDIO = 0, 1, 2
OP_ADD, OP_SUB, OP_MUL = 0, 1, 2


class SynthDef:
    """A UGen graph in the order scsynth will run it, with rates and controls."""

    def __init__(self, name, params):
        self.name = name
        self.params = params
        self.constants = []
        self.ugens = []

    def const(self, value):
        value = struct.unpack(">f", struct.pack(">f", value))[0]
        if value not in self.constants:
            self.constants.append(value)
        return (-1, self.constants.index(value))

    def ugen(self, cls, rate, inputs, outputs=1, special=0):
        specs = [self.const(i) if isinstance(i, (int, float)) else i for i in inputs]
        self.ugens.append((cls, rate, specs, outputs, special))
        return [(len(self.ugens) - 1, k) for k in range(outputs)]

    def encode(self):
        out = pstring(self.name)
        out += struct.pack(">i", len(self.constants))
        out += b"".join(struct.pack(">f", c) for c in self.constants)
        out += struct.pack(">i", len(self.params))
        out += b"".join(struct.pack(">f", v) for _, v in self.params)
        out += struct.pack(">i", len(self.params))
        for i, (name, _) in enumerate(self.params):
            out += pstring(name) + struct.pack(">i", i)
        out += struct.pack(">i", len(self.ugens))
        for cls, rate, inputs, outputs, special in self.ugens:
            out += pstring(cls)
            out += struct.pack(">biih", rate, len(inputs), outputs, special)
            out += b"".join(struct.pack(">ii", u, i) for u, i in inputs)
            out += bytes([rate]) * outputs
        out += struct.pack(">h", 0)
        return b"SCgf" + struct.pack(">ih", 2, 1) + out


def default_synthdef():
    d = SynthDef("default", [("out", 0.0), ("freq", 440.0), ("amp", 0.1), ("pan", 0.0), ("gate", 1.0)])
    out, freq, amp, pan, gate = d.ugen("Control", CONTROL, [], outputs=5)
    r1 = d.ugen("Rand", SCALAR, [-0.4, 0.0])[0]
    r2 = d.ugen("Rand", SCALAR, [0.0, 0.4])[0]
    f1 = d.ugen("BinaryOpUGen", CONTROL, [freq, r1], special=OP_ADD)[0]
    f2 = d.ugen("BinaryOpUGen", CONTROL, [freq, r2], special=OP_ADD)[0]
    saws = []
    for f in (freq, f1, f2):
        saw = d.ugen("VarSaw", AUDIO, [f, 0.0, 0.3])[0]
        saws.append(d.ugen("BinaryOpUGen", AUDIO, [saw, 0.3], special=OP_MUL)[0])
    mix = d.ugen("Sum3", AUDIO, saws)[0]
    start = d.ugen("Rand", SCALAR, [4000.0, 5000.0])[0]
    end = d.ugen("Rand", SCALAR, [2500.0, 3200.0])[0]
    cutoff = d.ugen("XLine", CONTROL, [start, end, 1.0, 0.0])[0]
    lpf = d.ugen("LPF", AUDIO, [mix, cutoff])[0]
    env = d.ugen("Linen", CONTROL, [gate, 0.01, 0.7, 0.3, 2.0])[0]
    z = d.ugen("BinaryOpUGen", AUDIO, [lpf, env], special=OP_MUL)[0]
    left, right = d.ugen("Pan2", AUDIO, [z, pan, amp], outputs=2)
    d.ugen("OffsetOut", AUDIO, [out, left, right], outputs=0)
    return d.encode()


def main(argv):
    if len(argv) != 4:
        print("usage: voices_score.py OUT.osc VOICES SECONDS", file=sys.stderr)
        return 2
    voices, seconds = int(argv[2]), float(argv[3])
    notes = [
        osc_message("/s_new", "default", 1000 + v, 0, 0,
                    "freq", 440.0 * 2 ** ((36 + v % 36 - 69) / 12.0), "amp", 0.02)
        for v in range(voices)
    ]
    score = osc_bundle(0.0, osc_message("/d_recv", default_synthdef()), *notes)
    score += osc_bundle(seconds, osc_message("/c_set", 0, 0))
    with open(argv[1], "wb") as f:
        f.write(score)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
