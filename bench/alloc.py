#!/usr/bin/env python3
"""The cost of `weightgen::exec::Allocator` (the binary's global allocator, issue 15 item 1):
the same source built twice, with the allocator (as shipped) and with plain `System` (the
two `#[global_allocator]` lines of src/main.rs removed), timed on the same cases in one
interleaved session. Prints a Markdown table (median wall seconds of N runs, each a separate
process, order shuffled within each repetition, `sync` and a 1 s pause before every run).

usage: alloc.py WITH_ALLOCATOR WITHOUT_ALLOCATOR [--reps N] [--dir DIR]
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import time

CASES = {
    "1 GiB f32 xavier_uniform, file (--no-fsync)":
        "{wg} generate w=16384x16384 --scheme xavier_uniform --seed 1 --no-fsync -q -o {d}/w.npy",
    "1 GiB f32 xavier_uniform to /dev/null":
        "{wg} generate w=16384x16384 --scheme xavier_uniform --seed 1 --format npy -o - > /dev/null",
    "orthogonal 2048x2048 to /dev/null (faer QR)":
        "{wg} generate w=2048x2048 --scheme orthogonal --seed 1 --format npy -o - > /dev/null",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("with_alloc")
    ap.add_argument("without_alloc")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dir", default="target/bench-alloc/out")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    tools = {"exec::Allocator": a.with_alloc, "System": a.without_alloc}
    times = {(c, t): [] for c in CASES for t in tools}
    for _ in range(a.reps):
        for case, cmd in CASES.items():
            order = list(tools.items())
            random.shuffle(order)
            for name, wg in order:
                shutil.rmtree(a.dir)
                os.makedirs(a.dir)
                subprocess.run("sync", check=True)
                time.sleep(1)
                t0 = time.perf_counter()
                subprocess.run(cmd.format(wg=wg, d=a.dir), shell=True, check=True)
                times[(case, name)].append(time.perf_counter() - t0)
    print(f"| case | allocator | median s ({a.reps} runs) | min s | max s |")
    print("|---|---|---:|---:|---:|")
    for (case, name), ts in times.items():
        print(f"| {case} | {name} | {statistics.median(ts):.3f} | {min(ts):.3f} | {max(ts):.3f} |")
    shutil.rmtree(a.dir)


if __name__ == "__main__":
    main()
