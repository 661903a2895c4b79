#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_torch_file (corpus/torch_file/) and fuzz_npz
(corpus/npz/) with the standard library only: the .pt and .npz fixtures that
PyTorch and NumPy wrote (tests/fixtures/weights/, see generate_weights.py), valid
and refused ones, all under fuzz.sh's 4096-byte input limit."""
import glob
import os
import shutil
import zipfile

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "fixtures", "weights")
for target, pattern in [("torch_file", "*.pt"), ("npz", "*.npz")]:
    out = os.path.join(here, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for source in sorted(glob.glob(os.path.join(fixtures, pattern)) + glob.glob(os.path.join(fixtures, "bad", pattern))):
        if os.path.getsize(source) <= 4096:
            prefix = "bad_" if os.path.basename(os.path.dirname(source)) == "bad" else ""
            shutil.copyfile(source, os.path.join(out, prefix + os.path.basename(source)))

# Raw pickles for fuzz_torch_file's odd-first-byte mode (it zips them with storages
# "0".."3" of 8, 16, 32 and 64 bytes): the fixtures' pickles, and one whose storages fit.
out = os.path.join(here, "corpus", "torch_file")
for source in sorted(glob.glob(os.path.join(fixtures, "*.pt"))):
    with zipfile.ZipFile(source) as z:
        pickle = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    with open(os.path.join(out, "pickle_" + os.path.basename(source)), "wb") as f:
        f.write(b"\x01" + pickle)


def tensor(key, storage, numel, size, stride):
    ints = lambda values: b"(" + b"".join(b"K" + bytes([v]) for v in values) + b"t"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n" + storage + b"\nX\x01\x00\x00\x00"
            + key + b"X\x03\x00\x00\x00cpuK" + bytes([numel]) + b"tQK\x00" + ints(size) + ints(stride)
            + b"\x89ccollections\nOrderedDict\n)RtR")


fits = (b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00a" + tensor(b"0", b"DoubleStorage", 1, [], [])
        + b"X\x01\x00\x00\x00b" + tensor(b"1", b"FloatStorage", 4, [2, 2], [1, 2])
        + b"X\x01\x00\x00\x00c" + tensor(b"2", b"HalfStorage", 16, [4], [0])
        + b"X\x01\x00\x00\x00d" + tensor(b"3", b"BoolStorage", 64, [8, 8], [8, 1]) + b"u.")
with open(os.path.join(out, "pickle_fits"), "wb") as f:
    f.write(b"\x01" + fits)
