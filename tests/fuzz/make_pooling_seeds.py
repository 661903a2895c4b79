#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_pooling (corpus/pooling/): one file per interesting
configuration, in the byte layout fuzz_pooling.cpp reads (see its ByteReader calls)."""
import os
import random

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "pooling")
os.makedirs(out, exist_ok=True)
MAX = 2**63 - 1


def size(v):
    """A size_like() value: small ones directly, others as a raw little-endian u64."""
    if 0 <= v <= 255:
        return bytes([0, v])
    if -3 <= v < 0:
        return bytes([240, -v])
    return bytes([255]) + (v & (2**64 - 1)).to_bytes(8, "little")


def seed(op="max", dtype=0, batched=True, batch=2, channels=3, length=16, kernel=3, stride=None, padding=0,
         dilation=1, ceil_mode=False, count_include_pad=True, output_size=4, special=False, rng=random.Random(0)):
    b = bytes([{"max": 0, "avg": 1, "adaptive": 2}[op], dtype, 1 if batched else 0])
    b += size(batch) if batched else b""
    b += size(channels) + size(length) + size(kernel)
    b += bytes([0 if stride is None else 1]) + size(stride if stride is not None else 1)
    b += size(padding) + size(dilation)
    b += bytes([(1 if ceil_mode else 0) | (2 if count_include_pad else 0)]) + size(output_size)
    values = bytes(rng.randrange(250) for _ in range(400))
    if special:  # NaN, +Inf, -Inf scattered through the values
        values = bytes(v if i % 7 else 250 + i % 6 for i, v in enumerate(values))
    return b + values


seeds = {
    "max_basic": seed(),
    "max_f64_unbatched": seed(dtype=1, batched=False),
    "max_stride1_pad1": seed(stride=1, padding=1),
    "max_dilation2_ceil": seed(kernel=3, stride=2, dilation=2, padding=1, ceil_mode=True),
    "max_kernel2_blocks": seed(kernel=2, length=64),
    "max_kernel4_blocks_nan": seed(kernel=4, length=64, special=True),
    "max_nan_inf": seed(special=True, stride=1, padding=1),
    "max_huge_kernel_padding": seed(kernel=MAX, padding=MAX // 2),
    "max_kernel_2_40_stride1": seed(kernel=2**40, stride=1, padding=2**39),
    "max_dilation_max": seed(kernel=3, dilation=MAX),
    "max_dilation_max_k2": seed(kernel=2, dilation=MAX),
    "max_stride_max_ceil": seed(kernel=4, stride=MAX, ceil_mode=True),
    "max_negative_padding": seed(padding=-2),
    "max_padding_too_big": seed(kernel=3, padding=2),
    "avg_basic": seed(op="avg"),
    "avg_pad_no_count": seed(op="avg", kernel=5, stride=2, padding=2, count_include_pad=False),
    "avg_ceil": seed(op="avg", kernel=4, stride=3, padding=1, ceil_mode=True),
    "avg_huge": seed(op="avg", kernel=MAX, padding=MAX // 2),
    "avg_kernel_2_40": seed(op="avg", kernel=2**40, stride=1, padding=2**39),
    "avg_stride_max": seed(op="avg", kernel=2, stride=MAX, ceil_mode=True),
    "avg_nan": seed(op="avg", special=True),
    "adaptive_1": seed(op="adaptive", output_size=1),
    "adaptive_more_than_length": seed(op="adaptive", length=5, output_size=13),
    "adaptive_huge": seed(op="adaptive", output_size=MAX),
    "adaptive_2_40": seed(op="adaptive", output_size=2**40 + 1),
    "adaptive_zero": seed(op="adaptive", output_size=0),
    "empty_length": seed(length=0),
    "empty_batch": seed(batch=0),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
