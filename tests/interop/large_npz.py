"""Slow check (make test-large): an .npz member over 4 GiB is written as ZIP64 and loads.

Usage: python tests/interop/large_npz.py WEIGHTGEN_BINARY
Writes a 4.4 GB f32 member (1.1e9 elements, scheme `ones` so it is quick to verify) into a
temporary directory next to the current directory, checks the ZIP64 sizes with `zipfile`, and
loads it with `np.load`.
"""
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

N = 1_100_000_000  # 4.4e9 bytes of f32 > 2**32


def main() -> int:
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(dir=".") as d:
        out = f"{d}/big.npz"
        r = subprocess.run([binary, "generate", f"w={N}", "--scheme", "ones", "--seed", "1",
                            "-o", out, "--quiet"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with zipfile.ZipFile(out) as z:
            info = z.getinfo("w.npy")
            assert info.file_size > 2**32, info.file_size
            assert info.compress_size == info.file_size  # stored
        with np.load(out) as f:
            w = f["w"]
            assert w.dtype == np.float32 and w.shape == (N,), (w.dtype, w.shape)
            assert bool((w == 1.0).all())
        print(f"large npz: ok ({info.file_size} bytes member, ZIP64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
