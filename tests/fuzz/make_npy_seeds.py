#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_npy (corpus/npy/) with the standard library only:
valid files of each kind load_npy accepts, and near-misses of each check it makes."""
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "npy")
os.makedirs(out, exist_ok=True)


def npy(descr, shape, data, fortran=False, version=(1, 0), pad=True):
    shape_text = "(" + "".join(f"{d}, " for d in shape)
    shape_text = shape_text[:-2] + ")" if len(shape) > 1 else (shape_text[:-1] + ")" if shape else "()")
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    prefix = 10 if version[0] == 1 else 12
    if pad:
        header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64)
    header += "\n"
    size = struct.pack("<H", len(header)) if version[0] == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes(version) + size + header.encode("latin1") + data


def floats(fmt, values):
    return b"".join(struct.pack(fmt, v) for v in values)


seeds = {
    "f32_2x3": npy("<f4", (2, 3), floats("<f", [1, 2, 3, 4, 5, 6])),
    "f64_4": npy("<f8", (4,), floats("<d", [0.5, -1, float("inf"), float("nan")])),
    "f32_scalar": npy("<f4", (), floats("<f", [7])),
    "f64_empty_0x3": npy("<f8", (0, 3), b""),
    "f32_fortran_2x2x2": npy("<f4", (2, 2, 2), floats("<f", range(8)), fortran=True),
    "f64_version2": npy("<f8", (1, 2), floats("<d", [1, 2]), version=(2, 0)),
    "f32_version3": npy("=f4", (2,), floats("<f", [1, 2]), version=(3, 0)),
    "f32_unpadded": npy("<f4", (1,), floats("<f", [3]), pad=False),
    "truncated_data": npy("<f8", (10,), floats("<d", [1, 2, 3])),
    "huge_shape": npy("<f4", (2**40, 2**40), b""),
    "overflow_shape": npy("<f4", (9223372036854775807, 2), b""),
    "big_endian": npy(">f4", (1,), struct.pack(">f", 1)),
    "int32": npy("<i4", (2,), struct.pack("<ii", 1, 2)),
    "bad_magic": b"\x93NUMPZ\x01\x00\x10\x00{'descr': '<f4'}",
    "bad_version": npy("<f4", (1,), floats("<f", [1]), version=(9, 0)),
    "header_past_end": b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f4', ",
    "no_shape": b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'fortran_order': False}",
    "short": b"\x93NUMPY\x01",
}
for name, data in seeds.items():
    with open(os.path.join(out, name + ".npy"), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
