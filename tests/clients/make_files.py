"""Writes the files `make verify-clients` loads: every format and dtype weightgen writes, a
sharded checkpoint, and beside each case the `generate --json` summary the clients compare with.

usage: make_files.py WEIGHTGEN OUT_DIR

OUT_DIR/CASE.json is weightgen's summary (`outputs` relative to OUT_DIR, shards in order, then
the index); OUT_DIR/cases.txt lists the cases. Case names are FORMAT-DTYPE, FORMAT one of npy,
npz, npz_deflated, safetensors, sharded, hf (a sharded --hf-config checkpoint). bf16 has no .npy/.npz case: weightgen refuses it there
(NumPy has no bfloat16), which this script checks too.
"""

import json
import os
import shutil
import subprocess
import sys

DTYPES = ["f32", "f64", "f16", "bf16"]
HERE = os.path.dirname(os.path.abspath(__file__))
NET = os.path.join(HERE, "net.json")
# A tiny Llama (2 layers, hidden 64) as a Hugging Face config.json.
LLAMA = os.path.join(HERE, "..", "..", "fixtures", "hf", "llama_f32", "input_config.json")


def cases():
    for dt in DTYPES:
        if dt != "bf16":
            yield f"npy-{dt}", ["w=8x3x3x3", "--scheme", "kaiming_normal", "--mode", "fan_out"], "npy"
            yield f"npz-{dt}", ["--mlp", "40,24,8", "--scheme", "torch_default"], "npz"
        yield f"safetensors-{dt}", ["--spec", NET], "safetensors"
        # net.json is 12.6 kB in f32: 2 kB shards give several shards in every dtype.
        yield f"sharded-{dt}", ["--spec", NET, "--max-shard-size", "2000"], "sharded"
    for dt in ["f32", "bf16"]:
        # A Hugging Face checkpoint directory: config.json, generation_config.json, shards, index.
        yield f"hf-{dt}", ["--hf-config", LLAMA, "--max-shard-size", "100KB"], "hf"
    yield "npz_deflated-f32", ["--mlp", "40,24,8", "--compress"], "npz"


def main():
    weightgen, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    names = []
    for name, args, ext in cases():
        dtype = name.split("-")[1]
        target = name if ext in ("sharded", "hf") else f"{name}.{ext}"
        cmd = [weightgen, "generate", *args, "--dtype", dtype, "--seed", "17", "-o", target]
        summary = subprocess.run(cmd + ["--json", "--quiet"], cwd=out, check=True,
                                 capture_output=True, text=True).stdout
        s = json.loads(summary)
        if ext in ("sharded", "hf"):
            shards = [o for o in s["outputs"] if o.endswith(".safetensors")]
            assert len(shards) >= 3 and s["outputs"][-1].endswith(".index.json"), s["outputs"]
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            f.write(summary)
        names.append(name)
    for ext in ["npy", "npz"]:
        r = subprocess.run([weightgen, "generate", "w=4x4", "--dtype", "bf16", "-o", f"x.{ext}"],
                           cwd=out, capture_output=True, text=True)
        assert r.returncode == 2 and "bfloat16" in r.stderr and not os.path.exists(
            os.path.join(out, f"x.{ext}")), (ext, r)
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    print(f"make_files: {len(names)} cases in {out}")


main()
