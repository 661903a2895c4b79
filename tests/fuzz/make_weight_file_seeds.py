#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_torch_file (corpus/torch_file/) and fuzz_npz
(corpus/npz/) with the standard library only: the .pt and .npz fixtures that
PyTorch and NumPy wrote (tests/fixtures/weights/, see generate_weights.py), valid
and refused ones, all under fuzz.sh's 4096-byte input limit."""
import glob
import os
import shutil

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "fixtures", "weights")
for target, pattern in [("torch_file", "*.pt"), ("npz", "*.npz")]:
    out = os.path.join(here, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for source in sorted(glob.glob(os.path.join(fixtures, pattern)) + glob.glob(os.path.join(fixtures, "bad", pattern))):
        if os.path.getsize(source) <= 4096:
            prefix = "bad_" if os.path.basename(os.path.dirname(source)) == "bad" else ""
            shutil.copyfile(source, os.path.join(out, prefix + os.path.basename(source)))
