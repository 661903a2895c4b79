#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_conv1d_padding_modes (corpus/conv1d_padding_modes/): one file per
interesting configuration, in the byte layout fuzz_conv1d_padding_modes.cpp reads."""
import os
import random

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "conv1d_padding_modes")
os.makedirs(out, exist_ok=True)
MAX = 2**63 - 1
MODES = ["zeros", "reflect", "replicate", "circular", "mirror"]


def size(v):
    """A size_like() value: small ones directly, others as a raw little-endian u64."""
    if 0 <= v <= 255:
        return bytes([0, v])
    if -3 <= v < 0:
        return bytes([240, -v])
    return bytes([255]) + (v & (2**64 - 1)).to_bytes(8, "little")


def seed(mode, dtype=0, batched=True, batch=2, groups=1, cin=2, cout=3, length=12, kernel=3, stride=1, dilation=1,
         padding=1, bias=True, rng=random.Random(0)):
    b = bytes([MODES.index(mode), dtype, 1 if batched else 0])
    b += size(batch) if batched else b""
    b += size(groups) + size(cin) + size(cout) + size(length) + size(kernel) + size(stride) + size(dilation)
    if padding == "same":
        b += bytes([0])
    elif padding == "valid":
        b += bytes([1])
    else:
        b += bytes([2]) + size(padding)
    b += bytes([0 if bias else 1])
    return b + bytes(rng.randrange(256) for _ in range(400))


seeds = {}
for mode in MODES:
    seeds[f"{mode}_basic"] = seed(mode)
    seeds[f"{mode}_same_even_kernel"] = seed(mode, padding="same", kernel=4)
    seeds[f"{mode}_same_dilated"] = seed(mode, padding="same", kernel=3, dilation=3)
    seeds[f"{mode}_valid"] = seed(mode, padding="valid")
    seeds[f"{mode}_stride2_groups2"] = seed(mode, stride=2, groups=2, cin=4, cout=6, padding=2, dtype=1)
    seeds[f"{mode}_unbatched_no_bias"] = seed(mode, batched=False, bias=False)
    seeds[f"{mode}_padding_at_length"] = seed(mode, length=5, padding=5)
    seeds[f"{mode}_padding_2_40"] = seed(mode, padding=2**40)
    seeds[f"{mode}_padding_max"] = seed(mode, padding=MAX)
    seeds[f"{mode}_same_huge_dilation"] = seed(mode, padding="same", dilation=2**62)
    seeds[f"{mode}_short_input"] = seed(mode, length=2, kernel=5, padding=0)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
