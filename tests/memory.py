#!/usr/bin/env python3
"""`make test-memory`: peak RSS does not grow with the output size.

Writes 2 GiB outputs through every write path (memory-mapped .safetensors and .npy, sequential
.npz, stdout, bf16, --rng torch) and checks that each run's peak RSS, measured by GNU time, stays
under 128 MiB, and that a 2 GiB output costs no more than 16 MiB above a 256 MiB one. Slow (it
writes ~20 GB in all), so it is not part of `make test`.

usage: memory.py WEIGHTGEN
"""

import os
import subprocess
import sys
import tempfile

LIMIT = 128 << 20
GROWTH = 16 << 20


def peak_rss(cmd, workdir):
    tfile = os.path.join(workdir, ".time")
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", tfile, "sh", "-c", cmd],
        stderr=subprocess.PIPE,
        text=True,
    )
    if r.returncode != 0:
        sys.exit(f"failed: {cmd}\n{r.stderr}")
    return int(open(tfile).read().split()[-1]) * 1024


def main():
    wg = os.path.abspath(sys.argv[1])
    failures = 0
    with tempfile.TemporaryDirectory(dir=os.path.join(os.path.dirname(wg), "..")) as d:
        # (label, arguments for 2 GiB, arguments for 256 MiB); 2 GiB = 2^29 f32 or 2^30 bf16.
        cases = [
            ("safetensors f32 normal (mmap)", "w=16384x32768 --scheme kaiming_normal -o {d}/a.safetensors",
             "w=8192x8192 --scheme kaiming_normal -o {d}/a.safetensors"),
            ("npy f32 uniform (mmap)", "w=16384x32768 -o {d}/a.npy", "w=8192x8192 -o {d}/a.npy"),
            ("safetensors bf16 truncated normal", "w=32768x32768 --scheme truncated_normal --dtype bf16 -o {d}/a.safetensors",
             "w=8192x16384 --scheme truncated_normal --dtype bf16 -o {d}/a.safetensors"),
            ("npz f32 (sequential)", "w=16384x32768 -o {d}/a.npz", "w=8192x8192 -o {d}/a.npz"),
            ("stdout f32 (sequential)", "w=16384x32768 --format safetensors -o - > /dev/null",
             "w=8192x8192 --format safetensors -o - > /dev/null"),
            ("--rng torch f32 normal", "w=16384x32768 --scheme kaiming_normal --rng torch -o {d}/a.safetensors",
             "w=8192x8192 --scheme kaiming_normal --rng torch -o {d}/a.safetensors"),
            ("many tensors", " ".join(f"t{i}=4096x8192" for i in range(16)) + " -o {d}/a.safetensors",
             " ".join(f"t{i}=4096x1024" for i in range(16)) + " -o {d}/a.safetensors"),
        ]
        for label, big, small in cases:
            rss = {}
            for size, args in (("256 MiB", small), ("2 GiB", big)):
                for f in os.listdir(d):
                    os.remove(os.path.join(d, f))
                cmd = f"{wg} generate --seed 1 --force -q " + args.format(d=d)
                rss[size] = peak_rss(cmd, d)
            ok = rss["2 GiB"] <= LIMIT and rss["2 GiB"] - rss["256 MiB"] <= GROWTH
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {label:<36} peak RSS {rss['256 MiB'] >> 20:4d} MiB at 256 MiB, "
                  f"{rss['2 GiB'] >> 20:4d} MiB at 2 GiB")
    if failures:
        sys.exit(f"{failures} case(s) over {LIMIT >> 20} MiB or growing by more than {GROWTH >> 20} MiB")
    print("memory: ok")


if __name__ == "__main__":
    main()
