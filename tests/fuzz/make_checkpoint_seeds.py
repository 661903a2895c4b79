#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_checkpoint (corpus/checkpoint/) in the format of
optim/checkpoint.hpp, with the standard library only. Each seed starts with the
target's control byte (odd: the target rewrites the CRC-32 so that corruptions
reach the entry parser)."""
import os
import struct
import zlib

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "checkpoint")
os.makedirs(out, exist_ok=True)


def entry(name, dtype, shape, values=None, data_size=None):
    size = 4 if dtype == 0 else 8
    count = 1
    for d in shape:
        count *= d
    values = values if values is not None else [0.25 * i for i in range(max(count, 0))]
    data = b"".join(struct.pack("<f" if dtype == 0 else "<d", v) for v in values)
    b = struct.pack("<I", len(name.encode())) + name.encode() + bytes([dtype, len(shape)])
    b += b"".join(struct.pack("<q", d) for d in shape)
    b += struct.pack("<Q", len(data) if data_size is None else data_size) + data
    return b


def checkpoint(entries, version=1, count=None):
    b = b"XGRADCKP" + struct.pack("<II", version, len(entries) if count is None else count) + b"".join(entries)
    return b + struct.pack("<I", zlib.crc32(b) & 0xFFFFFFFF)


conv = [entry("weight", 0, (3, 2, 2)), entry("bias", 0, (3,))]
seeds = {
    "conv1d_2_3_2": (0, checkpoint(conv)),
    "conv1d_reordered": (0, checkpoint(conv[::-1])),
    "empty": (0, checkpoint([])),
    "f64_scalar_and_empty": (0, checkpoint([entry("a", 1, ()), entry("b", 1, (0, 4))])),
    "optimizer_style": (0, checkpoint([entry("model.weight", 0, (3, 2, 2)), entry("optimizer.lr", 1, ())])),
    "wrong_shape": (0, checkpoint([entry("weight", 0, (3, 2, 3)), entry("bias", 0, (3,))])),
    "wrong_dtype": (0, checkpoint([entry("weight", 1, (3, 2, 2)), entry("bias", 0, (3,))])),
    "bad_crc": (0, checkpoint(conv)[:-1] + b"\x00"),
    "truncated": (0, checkpoint(conv)[:40]),
    "version_2": (1, checkpoint(conv, version=2)),
    "count_too_big": (1, checkpoint(conv, count=1000)),
    "duplicate_name": (1, checkpoint([entry("weight", 0, (1,)), entry("weight", 0, (1,))])),
    "huge_extent": (1, checkpoint([entry("w", 0, (2**40, 2**40), values=[])])),
    "negative_extent": (1, checkpoint([entry("w", 0, (-1, 4), values=[])])),
    "lying_data_size": (1, checkpoint([entry("w", 0, (2,), data_size=2**63)])),
    "rank_17": (1, checkpoint([entry("w", 0, (1,) * 17)])),
    "dtype_7": (1, checkpoint([entry("w", 0, (1,))]).replace(b"w\x00\x01", b"w\x07\x01")),
    "not_a_checkpoint": (0, b"\x93NUMPY\x01\x00"),
}
for name, (control, data) in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([control]) + data)
print(f"wrote {len(seeds)} seeds to {out}")
