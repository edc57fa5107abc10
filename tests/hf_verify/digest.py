"""Digest of a checkpoint directory written by real transformers (stdlib only).

    python3 tests/hf_verify/digest.py CHECKPOINT_DIR FIXTURE_DIR

Copies input_config.json, config.json and generation_config.json (when present) from
CHECKPOINT_DIR and writes FIXTURE_DIR/sha256.json: every saved tensor's name -> {shape, dtype,
file, sha256 of its raw little-endian data bytes}, in the order of the safetensors headers. The
test suite (tests/hf.rs) compares `weightgen generate --hf-config … --rng torch --seed 0` with
these digests, so the multi-megabyte checkpoints need not be committed.
"""
import hashlib
import json
import os
import shutil
import struct
import sys


def tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        yield name, t["shape"], t["dtype"], hashlib.sha256(data[base + a:base + b]).hexdigest()


def main(src, dst):
    os.makedirs(dst, exist_ok=True)
    for f in ("input_config.json", "config.json", "generation_config.json"):
        if os.path.exists(os.path.join(src, f)):
            shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
    out = {}
    for f in sorted(x for x in os.listdir(src) if x.endswith(".safetensors")):
        for name, shape, dtype, digest in tensors(os.path.join(src, f)):
            out[name] = {"shape": shape, "dtype": dtype, "file": f, "sha256": digest}
    with open(os.path.join(dst, "sha256.json"), "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
