"""The Python clients of `make verify-clients`: NumPy, JAX (target/venv-clients) and PyTorch
with transformers (the verify-hf venv, target/venv-hf) load every case
tests/clients/make_files.py wrote and compare each tensor's SHA-256 (of its little-endian data)
with the one `weightgen generate --json` reported. They also check that each trap the README's
guide names is still there (a fixed trap fails the run, so the guide gets updated). The blocks
between `# guide: NAME` and `# guide: end` are the README's "Loading the files" snippets,
verbatim (tests/clients_guide.rs checks it).

usage: python_client.py FILES_DIR numpy|jax|torch
"""

import hashlib
import subprocess
import sys

# guide: checkpoint
import json
import os


def checkpoint_files(index_json):
    """A sharded checkpoint's files, in order, from its model.safetensors.index.json."""
    with open(index_json) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    return [os.path.join(os.path.dirname(index_json), s) for s in shards]
# guide: end

import numpy as np  # noqa: E402


def describe(a):
    """Shape, dtype and the SHA-256 of the data as little-endian bytes, row-major."""
    a = np.asarray(a)
    data = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"))).tobytes()
    return list(a.shape), str(a.dtype), hashlib.sha256(data).hexdigest()


DTYPES = {"f32": "float32", "f64": "float64", "f16": "float16", "bf16": "bfloat16"}


class Counts:
    def __init__(self, client):
        self.client, self.rows, self.failed = client, {}, 0

    def check(self, fmt, case, expected, loaded, files, describe=describe):
        row = self.rows.setdefault(fmt, [0, 0, 0])
        row[0] += files
        if sorted(loaded) != sorted(e["name"] for e in expected):
            self.fail(row, f"{case}: names {sorted(loaded)}")
        for e in expected:
            a = loaded.get(e["name"])
            if a is None:
                continue
            got = describe(a)
            if got == (e["shape"], DTYPES[e["dtype"]], e["sha256"]):
                row[1] += 1
            else:
                self.fail(row, f"MISMATCH {case} {e['name']}: {got}, expected {e['shape']} {e['dtype']} {e['sha256']}")

    def fail(self, row, msg):
        row[2] += 1
        self.failed += 1
        print(f"{self.client}: {msg}", file=sys.stderr)

    def trap(self, what, still_there):
        print(f"{self.client}: trap: {what}: {'as the guide says' if still_there else 'GONE: update the guide'}")
        self.failed += not still_there

    def report(self):
        for fmt, (files, matched, failed) in sorted(self.rows.items()):
            print(f"{self.client}: {fmt:<13} files loaded {files:>2}  tensors matched {matched:>3}  mismatched {failed}")
        if self.failed:
            sys.exit(f"{self.client}: {self.failed} failures")


def cases(dir):
    with open(os.path.join(dir, "cases.txt")) as f:
        for case in f.read().split():
            with open(os.path.join(dir, f"{case}.json")) as f:
                summary = json.load(f)
            fmt, dtype = case.split("-")
            yield case, fmt, dtype, summary


def shards_and_index(summary):
    """(shards from `outputs` of --json, in order; the index): both name the same files."""
    outputs = summary["outputs"]
    index = [o for o in outputs if o.endswith(".index.json")]
    assert len(index) == 1, outputs
    return [o for o in outputs if o.endswith(".safetensors")], index[0]


def fresh_python(code):
    """Runs `code` in a new interpreter (imports not yet done), returning (exit code, stderr)."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return r.returncode, r.stderr


def run_numpy(dir):
    # guide: numpy
    import ml_dtypes  # noqa: F401  registers bfloat16 with NumPy; safetensors.numpy needs it for bf16
    from safetensors.numpy import load_file as load_numpy

    def numpy_npy(path):
        return np.load(path)  # .npy: one array (f32, f64, f16; NumPy has no bf16)

    def numpy_npz(path):
        with np.load(path) as f:  # .npz, stored or deflated
            return dict(f)  # {name: array}

    def numpy_safetensors(path):
        return load_numpy(path)  # {name: array}, bf16 as ml_dtypes.bfloat16

    def numpy_checkpoint(index_json):
        return {k: v for f in checkpoint_files(index_json) for k, v in load_numpy(f).items()}
    # guide: end

    c = Counts("numpy")
    for case, fmt, dtype, summary in cases(dir):
        expected, first = summary["tensors"], summary["outputs"][0]
        if fmt == "npy":
            c.check(fmt, case, expected, {expected[0]["name"]: numpy_npy(first)}, 1)
        elif fmt in ("npz", "npz_deflated"):
            c.check(fmt, case, expected, numpy_npz(first), 1)
        elif fmt == "safetensors":
            c.check(fmt, case, expected, numpy_safetensors(first), 1)
        else:
            shards, index = shards_and_index(summary)
            if checkpoint_files(index) != shards:
                c.fail(c.rows.setdefault(fmt, [0, 0, 0]), f"{case}: index names {checkpoint_files(index)}")
            c.check(fmt, case, expected, numpy_checkpoint(index), len(shards))
    code, err = fresh_python(
        "from safetensors.numpy import load_file; load_file('safetensors-bf16.safetensors')")
    c.trap("safetensors.numpy reads bf16 only once ml_dtypes is imported", code != 0 and "bfloat16" in err)
    c.report()


def run_jax(dir):
    # guide: jax
    import jax

    jax.config.update("jax_enable_x64", True)  # else JAX silently makes f64 arrays f32
    import jax.numpy as jnp
    from safetensors.flax import load_file as load_jax

    def jax_npy(path):
        return jnp.load(path)  # a jax.Array

    def jax_npz(path):
        with np.load(path) as f:  # jnp.load of an .npz gives NumPy arrays: convert them
            return {k: jnp.asarray(v) for k, v in f.items()}

    def jax_safetensors(path):
        return load_jax(path)  # {name: jax.Array}, bf16 included

    def jax_checkpoint(index_json):
        return {k: v for f in checkpoint_files(index_json) for k, v in load_jax(f).items()}
    # guide: end

    c = Counts("jax")

    def check(fmt, case, expected, loaded, files):
        bad = [k for k, v in loaded.items() if not isinstance(v, jax.Array)]
        if bad:
            c.fail(c.rows.setdefault(fmt, [0, 0, 0]), f"{case}: not jax arrays: {bad}")
        c.check(fmt, case, expected, loaded, files)

    for case, fmt, dtype, summary in cases(dir):
        expected, first = summary["tensors"], summary["outputs"][0]
        if fmt == "npy":
            check(fmt, case, expected, {expected[0]["name"]: jax_npy(first)}, 1)
        elif fmt in ("npz", "npz_deflated"):
            check(fmt, case, expected, jax_npz(first), 1)
        elif fmt == "safetensors":
            check(fmt, case, expected, jax_safetensors(first), 1)
        else:
            shards, index = shards_and_index(summary)
            check(fmt, case, expected, jax_checkpoint(index), len(shards))
    c.trap("jnp.load of an .npz gives NumPy arrays",
           isinstance(jnp.load("npz-f32.npz")["0.weight"], np.ndarray))
    code, err = fresh_python(
        "import jax.numpy as jnp, sys; sys.exit(jnp.load('npy-f64.npy').dtype == jnp.float32)")
    c.trap("without jax_enable_x64 an f64 file loads as f32", code == 1)
    c.report()


def run_torch(dir):
    # guide: torch
    import torch
    import torch.nn as nn
    from safetensors.torch import load_file as load_torch

    class Net(nn.Module):  # tests/clients/net.json's layers
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.norm = nn.LayerNorm(72)
            self.fc1 = nn.Linear(72, 32)
            self.fc2 = nn.Linear(32, 10)
            self.emb = nn.Embedding(20, 16)

    def torch_safetensors(path, model):
        model.load_state_dict(load_torch(path), strict=True)  # names and [out, in] as PyTorch's

    def torch_checkpoint(index_json, model):
        state = {k: v for f in checkpoint_files(index_json) for k, v in load_torch(f).items()}
        model.load_state_dict(state, strict=True)

    def torch_npy(path):
        return torch.from_numpy(np.load(path))
    # guide: end

    # guide: transformers
    from transformers import AutoModelForCausalLM

    def hf_checkpoint(directory):  # weightgen generate --hf-config config.json -o directory
        return AutoModelForCausalLM.from_pretrained(directory)  # dtype from its config.json
    # guide: end

    c = Counts("torch")

    def describe_torch(t):  # as describe(), from the tensor's own bytes (bf16 included)
        data = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        return list(t.shape), str(t.dtype).removeprefix("torch."), hashlib.sha256(data).hexdigest()

    for case, fmt, dtype, summary in cases(dir):
        expected, first = summary["tensors"], summary["outputs"][0]
        torch_dtype = {"f32": torch.float32, "f64": torch.float64, "f16": torch.float16,
                       "bf16": torch.bfloat16}[dtype]
        if fmt == "npy":
            c.check(fmt, case, expected, {expected[0]["name"]: torch_npy(first)}, 1, describe_torch)
        elif fmt == "safetensors" or fmt == "sharded":
            model = Net().to(torch_dtype)
            if fmt == "safetensors":
                torch_safetensors(first, model)
                files = 1
            else:
                shards, index = shards_and_index(summary)
                torch_checkpoint(index, model)
                files = len(shards)
            c.check(fmt, case, expected, model.state_dict(), files, describe_torch)
        elif fmt == "hf":
            shards, index = shards_and_index(summary)
            model = hf_checkpoint(os.path.dirname(index))
            c.check(fmt, case, expected, model.state_dict(), len(shards), describe_torch)
    c.report()


def main():
    dir, client = sys.argv[1], sys.argv[2]
    os.chdir(dir)  # the summaries' outputs are relative to it
    {"numpy": run_numpy, "jax": run_jax, "torch": run_torch}[client](".")


main()
