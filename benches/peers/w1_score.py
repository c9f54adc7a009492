#!/usr/bin/env python3
"""w1_score.py — writes the "W1" comparison patch as a binary OSC score for scsynth's
non-real-time mode, so that no sclang (and no display) is needed.

    python3 benches/peers/w1_score.py /tmp/w1.osc
    scsynth -N /tmp/w1.osc _ /tmp/w1-scsynth.wav 48000 WAV float -o 2

The SynthDef "w1" is encoded by hand in the SCgf version 2 format: 64 SinOsc
at 110 * (1 + 0.37 k) Hz summed with a tree of Sum4, scaled by 1/64; OnePole
with coefficient exp(-2 pi 2000 / 48000) (a one-pole lowpass at 2 kHz); CombN
with a 0.25 s delay and the decay time for which its feedback is exactly 0.5;
the lowpassed and delayed signals mixed 50/50 and sent to buses 0 and 1.
The score receives the definition and starts one node at time 0, and ends
with a no-op command at 60 s, which is where non-real-time rendering stops.
"""

import math
import struct
import sys

SECONDS = 60.0
RATE = 48000.0
AUDIO = 2

OP_ADD = 0
OP_MUL = 2


def pstring(s):
    b = s.encode("ascii")
    return struct.pack(">B", len(b)) + b


class SynthDef:
    """A UGen graph in the order scsynth will run it (inputs before users)."""

    def __init__(self, name):
        self.name = name
        self.constants = []
        self.ugens = []

    def const(self, value):
        value = struct.unpack(">f", struct.pack(">f", value))[0]
        if value not in self.constants:
            self.constants.append(value)
        return (-1, self.constants.index(value))

    def ugen(self, cls, inputs, outputs=1, special=0):
        specs = [self.const(i) if isinstance(i, (int, float)) else i for i in inputs]
        self.ugens.append((cls, specs, outputs, special))
        return (len(self.ugens) - 1, 0)

    def encode(self):
        out = pstring(self.name)
        out += struct.pack(">i", len(self.constants))
        out += b"".join(struct.pack(">f", c) for c in self.constants)
        out += struct.pack(">ii", 0, 0)
        out += struct.pack(">i", len(self.ugens))
        for cls, inputs, outputs, special in self.ugens:
            out += pstring(cls)
            out += struct.pack(">biih", AUDIO, len(inputs), outputs, special)
            out += b"".join(struct.pack(">ii", u, i) for u, i in inputs)
            out += bytes([AUDIO]) * outputs
        out += struct.pack(">h", 0)
        return b"SCgf" + struct.pack(">ih", 2, 1) + out


def w1_synthdef():
    d = SynthDef("w1")
    layer = [d.ugen("SinOsc", [110.0 * (1.0 + 0.37 * k), 0.0]) for k in range(64)]
    while len(layer) > 1:
        layer = [d.ugen("Sum4", layer[i:i + 4]) for i in range(0, len(layer), 4)]
    bank = d.ugen("BinaryOpUGen", [layer[0], 1.0 / 64.0], special=OP_MUL)
    lowpass = d.ugen("OnePole", [bank, math.exp(-2.0 * math.pi * 2000.0 / RATE)])
    delay = 0.25
    decay = delay * math.log(0.001) / math.log(0.5)
    echo = d.ugen("CombN", [lowpass, delay, delay, decay])
    both = d.ugen("BinaryOpUGen", [lowpass, echo], special=OP_ADD)
    mix = d.ugen("BinaryOpUGen", [both, 0.5], special=OP_MUL)
    d.ugen("Out", [0, mix, mix], outputs=0)
    return d.encode()


def osc_pad(b):
    return b + b"\0" * (4 - len(b) % 4)


def osc_message(address, *args):
    tags = ","
    body = b""
    for a in args:
        if isinstance(a, bytes):
            tags += "b"
            body += struct.pack(">i", len(a)) + a + b"\0" * (-len(a) % 4)
        elif isinstance(a, str):
            tags += "s"
            body += osc_pad(a.encode("ascii"))
        elif isinstance(a, int):
            tags += "i"
            body += struct.pack(">i", a)
        else:
            tags += "f"
            body += struct.pack(">f", a)
    return osc_pad(address.encode("ascii")) + osc_pad(tags.encode("ascii")) + body


def osc_bundle(seconds, *messages):
    whole = int(seconds)
    frac = int((seconds - whole) * 2**32)
    out = osc_pad(b"#bundle") + struct.pack(">II", whole, frac)
    for m in messages:
        out += struct.pack(">i", len(m)) + m
    return struct.pack(">i", len(out)) + out


def main(argv):
    if len(argv) != 2:
        print("usage: w1_score.py OUT.osc", file=sys.stderr)
        return 2
    score = osc_bundle(
        0.0,
        osc_message("/d_recv", w1_synthdef()),
        osc_message("/s_new", "w1", 1000, 0, 0),
    )
    score += osc_bundle(SECONDS, osc_message("/c_set", 0, 0))
    with open(argv[1], "wb") as f:
        f.write(score)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
