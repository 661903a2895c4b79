#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_pad1d (corpus/pad1d/): one file per interesting
configuration, in the byte layout fuzz_pad1d.cpp reads (see its ByteReader calls)."""
import os
import random

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "pad1d")
os.makedirs(out, exist_ok=True)
MAX = 2**63 - 1
MODES = ["zeros", "constant", "reflect", "replicate", "circular", "mirror"]


def size(v):
    """A size_like() value: small ones directly, others as a raw little-endian u64."""
    if 0 <= v <= 255:
        return bytes([0, v])
    if -3 <= v < 0:
        return bytes([240, -v])
    return bytes([255]) + (v & (2**64 - 1)).to_bytes(8, "little")


def seed(mode, shape=(2, 3, 8), left=2, right=3, dtype=0, rng=random.Random(0)):
    b = bytes([MODES.index(mode), dtype, len(shape)])
    b += b"".join(size(d) for d in shape) + size(left) + size(right)
    return b + bytes(rng.randrange(256) for _ in range(300))


seeds = {}
for mode in MODES:
    seeds[f"{mode}_basic"] = seed(mode)
    seeds[f"{mode}_f64_1d"] = seed(mode, shape=(9,), dtype=1)
    seeds[f"{mode}_at_length"] = seed(mode, shape=(2, 5), left=5, right=5)
    seeds[f"{mode}_below_length"] = seed(mode, shape=(2, 5), left=4, right=4)
    seeds[f"{mode}_2_40"] = seed(mode, shape=(1, 10), left=2**40, right=0)
    seeds[f"{mode}_2_39_each"] = seed(mode, shape=(1, 10), left=2**39, right=2**39)
    seeds[f"{mode}_max"] = seed(mode, shape=(1, 10), left=MAX, right=MAX)
    seeds[f"{mode}_negative"] = seed(mode, left=-1)
    seeds[f"{mode}_empty_length"] = seed(mode, shape=(2, 0))
    seeds[f"{mode}_empty_batch_huge"] = seed(mode, shape=(0, 4), left=2**39, right=2**39)
    seeds[f"{mode}_0dim"] = seed(mode, shape=())
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
