#!/usr/bin/env python3
"""wavcheck.py — checks that a rendered W1 file is the length it should be and not silent.

    python3 benches/peers/wavcheck.py FILE.wav SECONDS RATE CHANNELS [RMS]

Reads the RIFF chunks itself (Python's `wave` module cannot read float WAV
files), accepts 16-, 24- and 32-bit integer and 32- and 64-bit float samples,
and prints one line: `frames=N channels=C rate=R rms=X peak=Y`. Exits 1 with a
reason on stderr when the rate or channel count differs, the length is off by
more than one 64-frame block, the RMS is below -60 dBFS, any channel is silent,
or, when RMS is given, the measured RMS is more than 5% away from it.
"""

import array
import math
import struct
import sys

MIN_RMS = 0.001
RMS_TOLERANCE = 0.05


class WavError(Exception):
    pass


def read_chunks(data):
    if len(data) < 12 or data[0:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    pos = 12
    fmt = None
    body = None
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        start = pos + 8
        if cid == b"fmt ":
            fmt = data[start:start + size]
        elif cid == b"data":
            # Some writers leave the size unset (0 or 0xFFFFFFFF) when they stream.
            if size == 0 or size == 0xFFFFFFFF or start + size > len(data):
                size = len(data) - start
            body = data[start:start + size]
        pos = start + size + (size & 1)
    if fmt is None or body is None:
        raise WavError("missing fmt or data chunk")
    return fmt, body


def decode(fmt, body):
    tag, channels, rate = struct.unpack_from("<HHI", fmt, 0)
    bits = struct.unpack_from("<H", fmt, 14)[0]
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]
    width = bits // 8
    usable = len(body) - len(body) % (width * channels)
    body = body[:usable]
    if tag == 3 and bits == 32:
        samples = array.array("f", body)
    elif tag == 3 and bits == 64:
        samples = array.array("d", body)
    elif tag == 1 and bits == 16:
        samples = [v / 32768.0 for v in array.array("h", body)]
    elif tag == 1 and bits == 32:
        samples = [v / 2147483648.0 for v in array.array("i", body)]
    elif tag == 1 and bits == 24:
        samples = [
            int.from_bytes(body[i:i + 3], "little", signed=True) / 8388608.0
            for i in range(0, len(body), 3)
        ]
    else:
        raise WavError(f"unsupported sample format (tag {tag}, {bits} bits)")
    return channels, rate, samples


def main(argv):
    if len(argv) not in (5, 6):
        print("usage: " + __doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    path, seconds, rate_want, channels_want = argv[1], float(argv[2]), int(argv[3]), int(argv[4])
    rms_want = float(argv[5]) if len(argv) == 6 else None
    try:
        with open(path, "rb") as f:
            channels, rate, samples = decode(*read_chunks(f.read()))
    except (OSError, WavError, struct.error) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    frames = len(samples) // channels
    total = math.fsum(v * v for v in samples)
    rms = math.sqrt(total / len(samples)) if samples else 0.0
    peak = max((abs(v) for v in samples), default=0.0)
    print(f"frames={frames} channels={channels} rate={rate} rms={rms:.4f} peak={peak:.4f}")
    problems = []
    if rate != rate_want:
        problems.append(f"sample rate is {rate}, expected {rate_want}")
    if channels != channels_want:
        problems.append(f"{channels} channels, expected {channels_want}")
    frames_want = round(seconds * rate_want)
    if abs(frames - frames_want) > 64:
        problems.append(f"{frames} frames, expected {frames_want}")
    if rms < MIN_RMS:
        problems.append(f"RMS {rms:.6f} is silence")
    elif rms_want is not None and abs(rms / rms_want - 1.0) > RMS_TOLERANCE:
        problems.append(f"RMS {rms:.4f} is not the expected {rms_want:.4f}")
    for c in range(channels):
        if not any(samples[i] != 0.0 for i in range(c, len(samples), channels * 97)):
            problems.append(f"channel {c} is silent")
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
