"""`make test-wheel`: the `weightgen` command that `pip install` put into a fresh venv works.

Usage: check.py VENV_DIR REFERENCE_BINARY CARGO_TOML

Runs the venv's `bin/weightgen --version` (must name Cargo.toml's version) and one generate,
then checks the file: a valid safetensors header with the requested shape and dtype (read here with
the standard library only: the fresh venv has no NumPy), `weightgen inspect --check` passes,
and its bytes equal those the cargo-built REFERENCE_BINARY writes for the same command.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile


def main() -> int:
    venv, reference, cargo_toml = sys.argv[1:4]
    exe = os.path.join(venv, "bin", "weightgen")
    if not os.access(exe, os.X_OK):
        print(f"test-wheel: {exe} is missing: the wheel did not install the command")
        return 1
    with open(cargo_toml, encoding="utf-8") as f:
        version = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    if out.stdout.strip() != f"weightgen {version}":
        print(f"test-wheel: --version printed {out.stdout!r}, expected weightgen {version}")
        return 1
    print(f"test-wheel: {exe} --version: {out.stdout.strip()}")

    args = ["generate", "fc.weight=64x32", "--scheme", "kaiming_uniform", "--seed", "7", "--quiet"]
    with tempfile.TemporaryDirectory() as d:
        mine, ref = os.path.join(d, "pip.safetensors"), os.path.join(d, "cargo.safetensors")
        subprocess.run([exe, *args, "-o", mine], check=True)
        subprocess.run([reference, *args, "-o", ref], check=True)
        with open(mine, "rb") as f:
            data = f.read()
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        tensor = header.get("fc.weight", {})
        if tensor.get("dtype") != "F32" or tensor.get("shape") != [64, 32]:
            print(f"test-wheel: unexpected safetensors header {header!r}")
            return 1
        if len(data) != 8 + header_len + 64 * 32 * 4:
            print(f"test-wheel: {len(data)} bytes, expected one 64x32 f32 tensor")
            return 1
        subprocess.run([exe, "inspect", "--check", "--quiet", mine], check=True)
        with open(ref, "rb") as f:
            same = hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
        if not same:
            print("test-wheel: the pip-installed command wrote other bytes than the cargo build")
            return 1
    print("test-wheel: generate wrote a 64x32 f32 .safetensors that passes inspect --check and equals the cargo build's bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
