#!/usr/bin/env python3
"""`make bench`: weightgen against the physical reference (dd of zeros) and the Python idioms
it replaces (NumPy, and PyTorch + safetensors when torch is importable), on the same
filesystem, in one interleaved session. Writes bench/results.md.

Each run is a separate process timed by GNU time (wall seconds and peak RSS). Before every run
the previous output is removed and the page cache is synced (`sync`, 1 s pause), as the
measurement notes in docs/perf-notes.md §1 recommend for a noisy VM. The tools of a case run
in a shuffled order in every repetition, and ratios are medians of per-repetition ratios.

usage: run.py WEIGHTGEN PYTHON [TORCH_PYTHON] [--reps N] [--quick] [--out FILE]
"""

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GiB = 1 << 30


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def timed(cmd, workdir):
    """Run cmd (a shell string) under GNU time; return (wall s, peak RSS bytes)."""
    tfile = os.path.join(workdir, ".time")
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", "-o", tfile, "sh", "-c", cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"failed ({r.returncode}): {cmd}\n{r.stderr}")
    wall, rss_kb = open(tfile).read().split()[-2:]
    return float(wall), int(rss_kb) * 1024


def clean(workdir):
    for f in os.listdir(workdir):
        if not f.startswith(".time") and f not in ("spec_small.json", "hf_config.json"):
            path = os.path.join(workdir, f)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    sh("sync")
    time.sleep(1)


NUMPY_UNIFORM_IDIOM = (
    "import numpy as np; n, m = {n}, {m}; a = (6 / (n + m)) ** 0.5; "
    "rng = np.random.default_rng(0); w = rng.uniform(-a, a, (n, m)).astype(np.float32); "
    "np.save('{out}', w)"
)
NUMPY_UNIFORM_F32 = (
    "import numpy as np; n, m = {n}, {m}; a = (6 / (n + m)) ** 0.5; "
    "rng = np.random.default_rng(0); w = rng.random((n, m), dtype=np.float32); "
    "w *= 2 * a; w -= a; np.save('{out}', w)"
)
NUMPY_NORMAL_F32 = (
    "import numpy as np; n, m = {n}, {m}; "
    "rng = np.random.default_rng(0); w = rng.standard_normal((n, m), dtype=np.float32); "
    "w *= (2 / m) ** 0.5; np.save('{out}', w)"
)
NUMPY_SMALL = (
    "import numpy as np; rng = np.random.default_rng(0); a = (6 / 128) ** 0.5; "
    "np.savez('{out}', **{{f't{{i}}': rng.uniform(-a, a, (64, 64)).astype(np.float32) "
    "for i in range(10000)}})"
)
TORCH = (
    "import torch; from safetensors.torch import save_file; torch.manual_seed(0); "
    "w = torch.empty({n}, {m}); {init}; save_file({{'w': w{cast}}}, '{out}')"
)
TORCH_SMALL = (
    "import torch; from safetensors.torch import save_file; torch.manual_seed(0); "
    "save_file({{f't{{i}}': torch.nn.init.xavier_uniform_(torch.empty(64, 64)) "
    "for i in range(10000)}}, '{out}')"
)


# A Llama checkpoint of TinyLlama's vocabulary and head layout, smaller (8 layers of width
# 1024): 154 M parameters, 615 MB in f32.
HF_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 1024,
    "intermediate_size": 2816, "num_attention_heads": 16, "num_key_value_heads": 2,
    "num_hidden_layers": 8, "vocab_size": 32000, "tie_word_embeddings": False,
    "torch_dtype": "float32", "max_position_embeddings": 2048,
}


def cases(quick):
    sizes = [("1 GiB", 16384, 16384)] if quick else [("1 GiB", 16384, 16384), ("4 GiB", 32768, 32768)]
    out = []
    for label, n, m in sizes:
        out.append(
            {
                "name": f"{label} f32 xavier_uniform",
                "bytes": n * m * 4,
                "wg": f"generate w={n}x{m} --scheme xavier_uniform",
                "numpy idiom (f64 draw + astype)": NUMPY_UNIFORM_IDIOM,
                "numpy float32 in place": NUMPY_UNIFORM_F32,
                "torch": (TORCH, {"init": "torch.nn.init.xavier_uniform_(w)", "cast": ""}),
                "n": n,
                "m": m,
                "floors": True,
            }
        )
        out.append(
            {
                "name": f"{label} f32 kaiming_normal",
                "bytes": n * m * 4,
                "wg": f"generate w={n}x{m} --scheme kaiming_normal",
                "numpy standard_normal float32": NUMPY_NORMAL_F32,
                "torch": (TORCH, {"init": "torch.nn.init.kaiming_normal_(w)", "cast": ""}),
                "n": n,
                "m": m,
                "floors": True,
            }
        )
        out.append(
            {
                "name": f"{label} f32 truncated_normal (std 0.02, ±2σ)",
                "bytes": n * m * 4,
                "wg": f"generate w={n}x{m} --scheme truncated_normal --std 0.02",
                "torch": (TORCH, {"init": "torch.nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04)", "cast": ""}),
                "n": n,
                "m": m,
            }
        )
    if not quick:
        n, m = 32768, 65536
        out.append(
            {
                "name": "4 GiB bf16 xavier_uniform",
                "bytes": n * m * 2,
                "wg": f"generate w={n}x{m} --scheme xavier_uniform --dtype bf16",
                "torch": (TORCH, {"init": "torch.nn.init.xavier_uniform_(w)", "cast": ".to(torch.bfloat16)"}),
                "n": n,
                "m": m,
            }
        )
    # Reading: `inspect --check` of a file already in the page cache, beside `cat` and NumPy's
    # safetensors load_file + mean/std/min/max (issue 16's targets).
    for label, dtype, size in [("1 GiB f32", "f32", 4), ("0.5 GiB bf16 (same elements)", "bf16", 2)]:
        n = m = 16384
        out.append(
            {
                "name": f"inspect --check {label}",
                "bytes": n * m * size,
                "read": f"generate w={n}x{m} --scheme kaiming_uniform --dtype {dtype} --seed 1",
                "input": f"read-{dtype}.safetensors",
            }
        )
    # A 14 GB sharded checkpoint (14 tensors of 1 GB f32 in 7 shards of 2 GB), checked whole.
    out.append(
        {
            "name": "inspect --check 14 GB checkpoint (7 shards, f32)",
            "bytes": 14 * 250_000_000 * 4,
            "read": "generate --spec {spec} --scheme kaiming_uniform --seed 1 --max-shard-size 2GB",
            "spec": {"tensors": [{"name": f"w{i:02}", "shape": [250_000, 1000]} for i in range(14)]},
            "input": "ckpt-14GB",
        }
    )
    # --rng torch against native, generation alone (PyTorch's one generator sequence filled
    # on every core from jumped-ahead states), and a Hugging Face checkpoint under both.
    out.append(
        {
            "name": "1 GiB f32 kaiming_uniform to /dev/null, rng native vs torch",
            "bytes": 16384 * 16384 * 4,
            "rng": "generate w=16384x16384 --scheme kaiming_uniform --format safetensors",
            "to": "-o - > /dev/null",
        }
    )
    out.append(
        {
            "name": "HF checkpoint (llama, 615 MB f32), rng native vs torch",
            "bytes": 614_535_168,
            "rng": "generate --hf-config {cfg} --no-fsync",
            "to": "-o {ckpt}",
        }
    )
    out.append(
        {
            "name": "10,000 tensors of 64×64 f32",
            "bytes": 10000 * 64 * 64 * 4,
            "wg": "generate --spec {spec} --scheme xavier_uniform",
            "numpy idiom (f64 draw + astype)": NUMPY_SMALL,
            "torch": (TORCH_SMALL, {}),
            "small": True,
        }
    )
    return out


NUMPY_STATS = (
    "import numpy as np, ml_dtypes; from safetensors.numpy import load_file; a = load_file('{path}')['w']; "
    "x = a if a.dtype == np.float32 else a.astype(np.float32); "
    "print(x.mean(), x.std(), x.min(), x.max())"
)


def read_input(case, args):
    """The file a reading case reads (made once, kept outside the cleaned work directory)."""
    d = args.workdir + "-read"
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, case["input"])
    if not os.path.exists(path):
        spec = os.path.join(d, case["input"] + ".json")
        if "spec" in case:
            with open(spec, "w") as f:
                json.dump(case["spec"], f)
        read = case["read"].format(spec=shlex.quote(spec))
        sh(f"{shlex.quote(args.weightgen)} {read} -q -o {shlex.quote(path)}")
    return path


def read_commands(case, args):
    """tool name -> shell command, for a reading case."""
    path = read_input(case, args)
    wg = shlex.quote(args.weightgen)
    q = shlex.quote(path)
    if os.path.isdir(path):
        # A checkpoint: weightgen checks the directory (index and every shard); cat reads the
        # shards; NumPy would need the whole 14 GB in memory, so it is not run.
        shards = " ".join(shlex.quote(os.path.join(path, f)) for f in sorted(os.listdir(path))
                          if f.endswith(".safetensors"))
        q = shlex.quote(os.path.join(path, "model.safetensors.index.json"))
        return {
            "weightgen inspect --check": f"{wg} inspect --check -q {q} > /dev/null",
            "weightgen inspect --check --threads 1": f"{wg} inspect --check -q --threads 1 {q} > /dev/null",
            # Regenerate every tensor and compare bytes (issue 16 item 4: about
            # max(generation, reading)).
            "weightgen inspect --verify": f"{wg} inspect --verify -q {q} > /dev/null",
            "cat": f"cat {shards} > /dev/null",
        }
    return {
        "weightgen inspect --check": f"{wg} inspect --check -q {q} > /dev/null",
        "weightgen inspect --check --threads 1": f"{wg} inspect --check -q --threads 1 {q} > /dev/null",
        "weightgen inspect (no check)": f"{wg} inspect -q {q} > /dev/null",
        "weightgen inspect --verify": f"{wg} inspect --verify -q {q} > /dev/null",
        "cat": f"cat {q} > /dev/null",
        "numpy load_file + mean/std/min/max": (
            f"{shlex.quote(args.python)} -c {shlex.quote(NUMPY_STATS.format(path=path))} > /dev/null"
        ),
    }


def commands(case, args, workdir):
    """tool name -> shell command."""
    if "read" in case:
        return read_commands(case, args)
    if case.get("rng"):
        # Only weightgen, native vs --rng torch (2 threads, and torch on 1 thread).
        cfg = os.path.join(workdir, "hf_config.json")
        ckpt = os.path.join(workdir, "ckpt")
        args_ = case["rng"].format(cfg=cfg)
        to = case["to"].format(ckpt=ckpt)
        wg = shlex.quote(args.weightgen)
        return {
            "weightgen --rng native": f"{wg} {args_} --seed 0 -q {to}",
            "weightgen --rng torch": f"{wg} {args_} --seed 0 -q --rng torch {to}",
            "weightgen --rng torch --threads 1": f"{wg} {args_} --seed 0 -q --rng torch --threads 1 {to}",
        }
    st = os.path.join(workdir, "out.safetensors")
    npy = os.path.join(workdir, "out.npy")
    npz = os.path.join(workdir, "out.npz")
    spec = os.path.join(workdir, "spec_small.json")
    bs = "1M" if case["bytes"] % (1 << 20) == 0 else "64K"
    count = case["bytes"] // (1 << 20 if bs == "1M" else 1 << 16)
    cmds = {
        "weightgen": f"{shlex.quote(args.weightgen)} {case['wg'].format(spec=spec)} "
        f"--seed 0 -q -o {st}",
        "weightgen --no-fsync": f"{shlex.quote(args.weightgen)} {case['wg'].format(spec=spec)} "
        f"--seed 0 -q --no-fsync -o {st}",
        "dd zeros": f"dd if=/dev/zero of={st} bs={bs} count={count} status=none",
        "dd zeros + fsync": f"dd if=/dev/zero of={st} bs={bs} count={count} conv=fsync status=none",
    }
    if case.get("floors"):
        # What the write path costs without generation, and generation without the write path.
        cmds["weightgen --no-fsync, zeros (write path alone)"] = (
            f"{shlex.quote(args.weightgen)} generate w={case['n']}x{case['m']} --scheme zeros "
            f"--seed 0 -q --no-fsync -o {st}"
        )
        cmds["weightgen to /dev/null (generation alone)"] = (
            f"{shlex.quote(args.weightgen)} {case['wg'].format(spec=spec)} --seed 0 -q "
            "--format safetensors -o - > /dev/null"
        )
    if case["bytes"] % (8 << 20) == 0:
        # The device itself: no page cache, so no page allocation or zeroing in the kernel.
        cmds["dd zeros, O_DIRECT (device)"] = (
            f"dd if=/dev/zero of={st} bs=8M count={case['bytes'] >> 23} oflag=direct conv=fsync "
            "status=none"
        )
    for tool, code in case.items():
        if tool.startswith("numpy"):
            out = npz if case.get("small") else npy
            code = code.format(n=case.get("n"), m=case.get("m"), out=out)
            cmds[tool] = f"{shlex.quote(args.python)} -c {shlex.quote(code)}"
    if args.torch_python and "torch" in case:
        template, params = case["torch"]
        code = template.format(n=case.get("n"), m=case.get("m"), out=st, **params)
        cmds["torch + safetensors"] = f"{shlex.quote(args.torch_python)} -c {shlex.quote(code)}"
    return cmds


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weightgen")
    ap.add_argument("python")
    ap.add_argument("torch_python", nargs="?", default="")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 GiB cases only")
    ap.add_argument("--only", default="", help="only the cases (and the generation-alone and "
                    "start-up sections) whose name contains this")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench-tmp"))
    args = ap.parse_args()
    args.weightgen = os.path.abspath(args.weightgen)
    args.load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    torch_note = ""
    if args.torch_python:
        ok = subprocess.run(
            [args.torch_python, "-c", "import torch, safetensors"], capture_output=True
        ).returncode == 0
        if not ok:
            torch_note = f"torch not importable with {args.torch_python}: PyTorch rows skipped"
            args.torch_python = ""
    else:
        torch_note = "no PyTorch interpreter given (run `make verify-torch` once): PyTorch rows skipped"
    if torch_note:
        print(torch_note, file=sys.stderr)
    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.workdir, "spec_small.json"), "w") as f:
        json.dump({"tensors": [{"name": f"t{i}", "shape": [64, 64]} for i in range(10000)]}, f)
    with open(os.path.join(args.workdir, "hf_config.json"), "w") as f:
        json.dump(HF_CONFIG, f)
    rng = random.Random(0)
    results = []
    for case in [c for c in cases(args.quick) if args.only in c["name"]]:
        cmds = commands(case, args, args.workdir)
        runs = {t: [] for t in cmds}
        for rep in range(args.reps):
            order = list(cmds)
            rng.shuffle(order)
            for tool in order:
                clean(args.workdir)
                if "read" in case:
                    # Reading from the page cache: warm it (untimed).
                    warm = read_input(case, args)
                    files = ([os.path.join(warm, f) for f in sorted(os.listdir(warm))]
                             if os.path.isdir(warm) else [warm])
                    sh(f"cat {' '.join(shlex.quote(f) for f in files)} > /dev/null")
                wall, rss = timed(cmds[tool], args.workdir)
                runs[tool].append((wall, rss))
                print(f"{case['name']:<42} rep {rep + 1} {tool:<34} {wall:7.2f} s "
                      f"{rss / (1 << 20):8.0f} MiB", file=sys.stderr, flush=True)
        clean(args.workdir)
        results.append((case, cmds, runs))

    # Generation alone (no file): 1 GiB to a pipe into /dev/null, 1 vs 2 threads.
    scaling = []
    for scheme in ["xavier_uniform", "kaiming_normal"] if args.only in "generation alone" else []:
        walls = {1: [], 2: []}
        for _ in range(args.reps):
            for threads in rng.sample([1, 2], 2):
                cmd = (f"{shlex.quote(args.weightgen)} generate w=16384x16384 --scheme {scheme} "
                       f"--seed 0 -q --threads {threads} --format safetensors -o - > /dev/null")
                walls[threads].append(timed(cmd, args.workdir)[0])
        scaling.append((scheme, median(walls[1]), median(walls[2])))

    # Start-up: a tiny job against the bare process start.
    tiny = f"{shlex.quote(args.weightgen)} generate w=784x256 --seed 0 -q -o {args.workdir}/tiny.npy --force"
    bare = f"{shlex.quote(args.weightgen)} --version"
    start = {"tiny": [], "bare": []}
    for _ in range(20 if args.only in "start-up" else 0):
        start["tiny"].append(timed(tiny, args.workdir)[0])
        start["bare"].append(timed(bare, args.workdir)[0])

    write_report(args, results, scaling, start, torch_note)


def write_report(args, results, scaling, start, torch_note):
    lines = ["# `make bench` results", ""]
    lines.append("Produced by:")
    lines.append("")
    lines.append("```sh")
    lines.append("make bench   # = " + " ".join(
        ["bench/run.py", "target/release/weightgen", "<venv python>"]
        + (["<torch venv python>"] if args.torch_python else [])
        + [f"--reps {args.reps}"] + (["--quick"] if args.quick else [])
        + ([f"--only {shlex.quote(args.only)}"] if args.only else [])))
    lines.append("```")
    lines.append("")
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines.append(f"Machine: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Output written to "
                 "`target/bench-tmp` (same filesystem as the checkout).")
    lines.append("")
    writes = [r for r in results if "read" not in r[0]]
    if writes:
        lines.append(f"Each cell: median of {args.reps} runs, each a separate process timed by GNU "
                     "time (wall, including interpreter start and imports), tools shuffled within "
                     "every repetition, `sync` and 1 s pause before each run. `weightgen` includes "
                     "its fsync before the atomic rename (the default), `weightgen --no-fsync` does "
                     "not; `dd zeros` does not sync, `dd zeros + fsync` does; `dd zeros, O_DIRECT "
                     "(device)` writes 8 MiB blocks past the page cache, synchronously: the disk's own "
                     "speed, a floor for any synced write; NumPy and PyTorch do not sync. The "
                     "like-for-like ratios are `weightgen --no-fsync`/dd and "
                     "`weightgen`/(dd+fsync). In the xavier_uniform and kaiming_normal cases, "
                     "`weightgen --no-fsync, zeros (write path alone)` writes the same number of "
                     "zero bytes through weightgen's own write path (no random numbers: the floor "
                     "of that path), and `weightgen to /dev/null (generation alone)` makes the same "
                     "tensor into a pipe to /dev/null (the generator without a file). Ratios are "
                     "medians of per-repetition ratios; other tools are compared with `weightgen` "
                     "(synced). GB/s = 10⁹ bytes of tensor data per second.")
    if torch_note:
        lines += ["", f"Note: {torch_note}."]
    if writes:
        lines.append("")
        lines.append("| case | tool | median s | GB/s | peak RSS MiB | ratio (same repetitions) |")
        lines.append("|---|---|---:|---:|---:|---|")
    for case, cmds, runs in writes:
        if case.get("rng"):
            native = [w for w, _ in runs["weightgen --rng native"]]
            for tool in cmds:
                walls = [w for w, _ in runs[tool]]
                rss = max(r for _, r in runs[tool])
                med = median(walls)
                r = median([a / b for a, b in zip(walls, native)])
                lines.append(f"| {case['name']} | {tool} | {med:.2f} | "
                             f"{case['bytes'] / med / 1e9:.2f} | {rss / (1 << 20):.0f} | "
                             f"/native = {r:.2f}× |")
            continue
        wg = [w for w, _ in runs["weightgen"]]
        for tool in cmds:
            walls = [w for w, _ in runs[tool]]
            rss = max(r for _, r in runs[tool])
            med = median(walls)
            gbs = case["bytes"] / med / 1e9
            if tool.startswith("weightgen"):
                dd = [w for w, _ in runs["dd zeros"]]
                ddf = [w for w, _ in runs["dd zeros + fsync"]]
                r = median([a / b for a, b in zip(walls, dd)])
                rf = median([a / b for a, b in zip(walls, ddf)])
                ratio = f"/dd = {r:.2f}×, /(dd+fsync) = {rf:.2f}×"
                dev = "dd zeros, O_DIRECT (device)"
                if tool == "weightgen" and dev in runs:
                    rd = median([a / b for a, b in zip(walls, [w for w, _ in runs[dev]])])
                    ratio += f", /device = {rd:.2f}×"
            elif tool.startswith("dd"):
                ratio = ""
            else:
                r = median([a / b for a, b in zip(walls, wg)])
                ratio = f"{tool.split(' ')[0]}/weightgen = {r:.1f}×"
            lines.append(f"| {case['name']} | {tool} | {med:.2f} | {gbs:.2f} | "
                         f"{rss / (1 << 20):.0f} | {ratio} |")
    reads = [r for r in results if "read" in r[0]]
    if reads:
        lines.append("")
        lines.append(f"Reading: `inspect --check` of a file already in the page cache (warmed by "
                     "an untimed `cat` before every run; `--threads 1` and without `--check` "
                     "too), beside `cat` of the same file and NumPy's safetensors `load_file` + "
                     "`mean/std/min/max` (bf16 converted to float32 first, as NumPy has no bf16 "
                     f"arithmetic). Each cell: median of {args.reps} runs, each a separate process "
                     "timed by GNU time (wall, including interpreter start and imports), tools "
                     "shuffled within every repetition, `sync` and 1 s pause before each run. "
                     "Ratios are medians of per-repetition ratios of wall times. GB/s = 10⁹ bytes "
                     "of tensor data per second.")
        lines.append("")
        lines.append("| case | tool | median s | GB/s | peak RSS MiB | ratio (same repetitions) |")
        lines.append("|---|---|---:|---:|---:|---|")
    for case, cmds, runs in reads:
        wg = [w for w, _ in runs["weightgen inspect --check"]]
        cat = [w for w, _ in runs["cat"]]
        for tool in cmds:
            walls = [w for w, _ in runs[tool]]
            rss = max(r for _, r in runs[tool])
            med = median(walls)
            if tool.startswith("weightgen"):
                ratio = f"/cat = {median([a / b for a, b in zip(walls, cat)]):.1f}×"
            elif tool.startswith("numpy"):
                ratio = f"numpy/weightgen --check = {median([a / b for a, b in zip(walls, wg)]):.1f}×"
            else:
                ratio = ""
            lines.append(f"| {case['name']} | {tool} | {med:.2f} | {case['bytes'] / med / 1e9:.2f} | "
                         f"{rss / (1 << 20):.0f} | {ratio} |")
    if scaling:
        lines.append("")
        lines.append("Generation alone (1 GiB f32 to stdout redirected to /dev/null):")
        lines.append("")
        lines.append("| scheme | 1 thread s | 2 threads s | speed-up |")
        lines.append("|---|---:|---:|---:|")
        for scheme, one, two in scaling:
            lines.append(f"| {scheme} | {one:.2f} | {two:.2f} | {one / two:.2f}× |")
    if start["tiny"]:
        lines.append("")
        t, b = median(start["tiny"]), median(start["bare"])
        lines.append(f"Start-up: one 784×256 tensor to .npy takes {t * 1000:.0f} ms (median of 20) "
                     f"against {b * 1000:.0f} ms for `weightgen --version` (GNU time has 10 ms "
                     "resolution).")
    lines.append("")
    lines.append(f"Load average (1, 5, 15 min) at the start: {args.load_start}; at the end: "
                 f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
