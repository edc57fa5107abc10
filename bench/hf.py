#!/usr/bin/env python3
"""`make bench-hf` (also run by `make bench` when the `make verify-hf` venv exists): a
TinyLlama-1.1B-shaped checkpoint (fp32) written by weightgen from its config.json, native and
`--rng torch`, against the anchor `torch.manual_seed(0); AutoModelForCausalLM.from_config(cfg)
.save_pretrained(dir)` measured in the same session. Wall seconds and peak RSS by GNU time;
outputs removed and the page cache synced between runs; tools shuffled in every repetition;
ratios are medians of per-repetition ratios. Writes bench/results-hf.md.

usage: hf.py WEIGHTGEN HF_PYTHON [--reps N] [--out FILE]
"""

import argparse
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import timed  # noqa: E402  (GNU time: wall seconds and peak RSS, as make bench)

# TinyLlama-1.1B's published shape.
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
    "intermediate_size": 5632, "num_attention_heads": 32, "num_key_value_heads": 4,
    "num_hidden_layers": 22, "vocab_size": 32000, "tie_word_embeddings": False,
    "torch_dtype": "float32", "max_position_embeddings": 2048,
}

ANCHOR = (
    "import sys, torch; from transformers import AutoConfig, AutoModelForCausalLM; "
    "torch.manual_seed(0); m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(sys.argv[1])); "
    "m.save_pretrained(sys.argv[2])"
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weightgen")
    ap.add_argument("hf_python")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "results-hf.md"))
    args = ap.parse_args()
    wg = os.path.abspath(args.weightgen)
    work = tempfile.mkdtemp(prefix="wg-bench-hf-", dir=os.environ.get("BENCH_DIR", HERE))
    cfg = os.path.join(work, "config.json")
    json.dump(CONFIG, open(cfg, "w"))
    out = os.path.join(work, "ckpt")
    q = shlex.quote
    tools = {
        "weightgen (native)": f"{q(wg)} generate --hf-config {q(cfg)} -o {q(out)} --seed 0 -q",
        "weightgen --rng torch": f"{q(wg)} generate --hf-config {q(cfg)} -o {q(out)} --seed 0 --rng torch -q",
        "from_config + save_pretrained": f"{q(args.hf_python)} -c {q(ANCHOR)} {q(cfg)} {q(out)}",
    }
    res = {t: [] for t in tools}
    try:
        for rep in range(args.reps):
            order = list(tools)
            random.shuffle(order)
            for t in order:
                shutil.rmtree(out, ignore_errors=True)
                subprocess.run(["sync"], check=True)
                time.sleep(1)
                res[t].append(timed(tools[t], work))
                print(f"rep {rep + 1}: {t}: {res[t][-1][0]:.2f} s, {res[t][-1][1] / 2**20:.0f} MiB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    anchor = res["from_config + save_pretrained"]
    lines = [
        "# make bench-hf: a TinyLlama-1.1B-shaped fp32 checkpoint from its config.json",
        "",
        f"{args.reps} interleaved repetitions; wall time and peak RSS by GNU time; ratio = median "
        "of same-repetition ratios to the anchor.",
        "",
        "| tool | wall (median) | / from_config + save_pretrained | peak RSS (max) |",
        "|---|---:|---:|---:|",
    ]
    for t, rs in res.items():
        walls = [w for w, _ in rs]
        ratio = statistics.median(w / a for (w, _), (a, _) in zip(rs, anchor))
        rss = max(r for _, r in rs)
        lines.append(f"| {t} | {statistics.median(walls):.2f} s | {ratio:.3f}× | {rss / 2**20:.0f} MiB |")
    open(args.out, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
