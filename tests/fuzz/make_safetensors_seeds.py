#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_safetensors (corpus/safetensors/) with the standard library
only: valid files of every dtype the reader accepts, and near-misses of each check it makes."""
import json
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")
os.makedirs(out, exist_ok=True)


def safetensors(header, buffer, pad=True):
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + buffer


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


f32 = struct.pack("<4f", 1.0, -2.5, float("inf"), float("nan"))
seeds = {
    "f32_2x2": safetensors({"w": entry("F32", [2, 2], 0, 16)}, f32),
    "every_dtype": safetensors({
        "__metadata__": {"format": "pt"},
        "f64": entry("F64", [1], 0, 8), "i64": entry("I64", [1], 8, 16), "f32": entry("F32", [1], 16, 20),
        "i32": entry("I32", [1], 20, 24), "f16": entry("F16", [1], 24, 26), "bf16": entry("BF16", [1], 26, 28),
        "i16": entry("I16", [1], 28, 30), "i8": entry("I8", [1], 30, 31), "u8": entry("U8", [1], 31, 32),
        "b": entry("BOOL", [1], 32, 33)},
        struct.pack("<dqfi", 0.5, -3, 2.0, -7) + struct.pack("<HHh", 0x3C00, 0x3F80, -2) + b"\x80\xff\x02"),
    "scalar_and_empty": safetensors({"s": entry("F32", [], 0, 4), "e": entry("F64", [0, 3], 4, 4)},
                                    struct.pack("<f", 3.0)),
    "empty_dict": safetensors({}, b""),
    "unpadded": safetensors({"w": entry("I64", [1], 0, 8)}, struct.pack("<q", 9), pad=False),
    "keys_out_of_order": safetensors({"b": entry("F32", [1], 4, 8), "a": entry("F32", [1], 0, 4)}, f32[:8]),
    "overlap": safetensors({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, f32[:12]),
    "gap": safetensors({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}, f32[:12]),
    "truncated": safetensors({"a": entry("F32", [4], 0, 16)}, f32[:10]),
    "size_mismatch": safetensors({"a": entry("F32", [3], 0, 16)}, f32),
    "huge_shape": safetensors({"a": entry("F32", [2**40, 2**40], 0, 16)}, f32),
    "negative_dim": safetensors({"a": entry("F32", [-4], 0, 16)}, f32),
    "unknown_dtype": safetensors({"a": entry("U64", [2], 0, 16)}, f32),
    "duplicate_key": safetensors(b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},'
                                 b'"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', f32),
    "metadata_not_string": safetensors({"__metadata__": {"k": 1}}, b""),
    "header_past_end": struct.pack("<Q", 4096) + b'{"a":',
    "not_json": struct.pack("<Q", 8) + b"XGRADCKP",
    "short": b"\x08\x00\x00",
}
for name, data in seeds.items():
    with open(os.path.join(out, name + ".safetensors"), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
