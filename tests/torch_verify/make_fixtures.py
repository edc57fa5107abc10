"""Write every PyTorch reference file in fixtures/torch/, and the JSON files that describe them.

Regenerate (needs PyTorch 2.15.0; `make fixtures-torch` builds the venv of `make verify-torch`
and runs this on fixtures/torch):

    target/venv-torch/bin/python tests/torch_verify/make_fixtures.py [OUTDIR]

OUTDIR defaults to fixtures/torch. It writes, for each case below, the file named by the case:

- `CASES` -> `*.npy` (`np.save` of `t.numpy()`) or, when the code builds a module `m`,
  `*.safetensors` of `m.state_dict()`; recorded in `cases.json` (code, dtype and shape or
  seed and tensors, torch version, CPU capability).
- `EXTRA_CASES` -> `*.safetensors` with tensor `w` (or the dict `t` of tensors); recorded in
  `extra_cases.json`.
- `MODULES` -> `state_dicts.json`: names, dtypes, shapes of each module's state dict at
  construction and whether each entry is random, all ones or all zeros.

safetensors files are written with `safetensors.torch.save_file(..., metadata={"format": "pt"})`.
float32 `normal_` values depend on the CPU: x86-64 machines with AVX2 or AVX-512 run PyTorch's
AVX2 kernel (the committed files); ARM or `ATEN_CPU_CAPABILITY=default` give other values.

Check without PyTorch (part of `make lint`): the cases here, the JSON files and the committed
files agree (same code, every file described, tensor names, dtypes and shapes as recorded):

    python3 tests/torch_verify/make_fixtures.py --check [OUTDIR]
"""
import json
import os
import re
import struct
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "fixtures", "torch")

NOTE = ("normal_ on float32 contiguous tensors of >= 16 elements dispatches to the AVX2 kernel "
        "on AVX2 and AVX-512 machines")

# cases.json: single tensors (`t`) saved as .npy, modules (`m`) as .safetensors state dicts.
CASES = [
    ("uniform_f32_seed0_n1000.npy", "torch.manual_seed(0); t = torch.empty(1000).uniform_(-0.0357, 0.0357)"),
    ("uniform_f64_seed0_n1000.npy", "torch.manual_seed(0); t = torch.empty(1000, dtype=torch.float64).uniform_(-0.0357, 0.0357)"),
    ("randn_f32_seed0_n15.npy", "torch.manual_seed(0); t = torch.randn(15)"),
    ("randn_f32_seed0_n16.npy", "torch.manual_seed(0); t = torch.randn(16)"),
    ("randn_f32_seed0_n17.npy", "torch.manual_seed(0); t = torch.randn(17)"),
    ("randn_f32_seed0_n1000.npy", "torch.manual_seed(0); t = torch.randn(1000)"),
    ("randn_f64_seed0_n1000.npy", "torch.manual_seed(0); t = torch.randn(1000, dtype=torch.float64)"),
    ("xavier_uniform_seed1_256x784.npy", "torch.manual_seed(1); t = nn.init.xavier_uniform_(torch.empty(256, 784))"),
    ("xavier_normal_seed2_64x32.npy", "torch.manual_seed(2); t = nn.init.xavier_normal_(torch.empty(64, 32))"),
    ("kaiming_uniform_relu_seed3_16x3x3x3.npy", "torch.manual_seed(3); t = nn.init.kaiming_uniform_(torch.empty(16, 3, 3, 3), nonlinearity='relu')"),
    ("kaiming_normal_fanout_seed4_128x64.npy", "torch.manual_seed(4); t = nn.init.kaiming_normal_(torch.empty(128, 64), mode='fan_out', nonlinearity='relu')"),
    ("trunc_normal_std002_seed5_100x50.npy", "torch.manual_seed(5); t = nn.init.trunc_normal_(torch.empty(100, 50), std=0.02)"),
    ("xavier_uniform_f64_seed6_30x20.npy", "torch.manual_seed(6); t = nn.init.xavier_uniform_(torch.empty(30, 20, dtype=torch.float64))"),
    ("linear_default_seed0.safetensors", "torch.manual_seed(0); m = nn.Linear(784, 256); m.state_dict()"),
    ("mlp_default_seed42.safetensors", "torch.manual_seed(42); m = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)); m.state_dict()"),
    ("conv2d_default_seed1.safetensors", "torch.manual_seed(1); m = nn.Conv2d(3, 16, 3); m.state_dict()"),
    ("embedding_seed3.safetensors", "torch.manual_seed(3); m = nn.Embedding(100, 32); m.state_dict()"),
]

# extra_cases.json: `--rng torch` cases beyond the first set; `t` is a tensor (saved as `w`) or
# a dict of tensors.
EXTRA_CASES = [
    ("trunc_normal_redraw_f32_seed11", "torch.manual_seed(11); t = torch.empty(200, 100); nn.init.trunc_normal_(t, 0.0, 1.0, -2.0, 2.0)"),
    ("trunc_normal_redraw_f64_seed12", "torch.manual_seed(12); t = torch.empty(64, 33, dtype=torch.float64); nn.init.trunc_normal_(t, 0.5, 2.0, -1.0, 3.0)"),
    ("trunc_normal_redraw_f32_seed3_n7", "torch.manual_seed(3); t = torch.empty(7); nn.init.trunc_normal_(t, 0.0, 1.0, -1.0, 1.0)"),
    ("sparse_seed5_30x20", "torch.manual_seed(5); t = torch.empty(30, 20); nn.init.sparse_(t, 0.3)"),
    ("kaiming_uniform_leaky02_fanout_f64_seed9", "torch.manual_seed(9); t = torch.empty(50, 40, dtype=torch.float64); nn.init.kaiming_uniform_(t, a=0.2, mode='fan_out', nonlinearity='leaky_relu')"),
    ("xavier_normal_bf16_seed4", "torch.manual_seed(4); t = torch.empty(64, 48); nn.init.xavier_normal_(t); t = t.to(torch.bfloat16)"),
    ("randn_negative_seed", "torch.manual_seed(-12345); t = torch.randn(20)"),
    # trunc_normal_ on intervals holding <= 30% of the mass: uniform rejection; `after` checks
    # where the generator is left.
    ("trunc_reject_f32_seed21_tail_300x250", "torch.manual_seed(21); w = torch.empty(300, 250); nn.init.trunc_normal_(w, 0.0, 1.0, 2.0, 3.0); t = {'w': w, 'after': torch.rand(10)}"),
    ("trunc_reject_f32_seed22_asym_40x30", "torch.manual_seed(22); w = torch.empty(40, 30); nn.init.trunc_normal_(w, 0.0, 1.0, -0.2, 0.5); t = {'w': w, 'after': torch.rand(10)}"),
    ("trunc_reject_f32_seed23_n7", "torch.manual_seed(23); w = torch.empty(7); nn.init.trunc_normal_(w, 0.1, 0.5, 0.6, 0.9); t = {'w': w, 'after': torch.rand(3)}"),
    ("trunc_reject_f32_seed26_mean_outside", "torch.manual_seed(26); w = torch.empty(50, 20); nn.init.trunc_normal_(w, 1.0, 0.1, 1.3, 1.9); t = {'w': w, 'after': torch.randn(20)}"),
    ("trunc_reject_f64_seed24_64x33", "torch.manual_seed(24); w = torch.empty(64, 33, dtype=torch.float64); nn.init.trunc_normal_(w, 0.5, 2.0, -1.0, -0.2); t = {'w': w, 'after': torch.rand(10, dtype=torch.float64)}"),
    ("trunc_reject_f64_seed25_tail_n66000", "torch.manual_seed(25); w = torch.empty(66000, dtype=torch.float64); nn.init.trunc_normal_(w, 0.0, 1.0, -3.0, -2.0); t = {'w': w, 'after': torch.rand(10, dtype=torch.float64)}"),
    ("trunc_reject_bf16_seed27", "torch.manual_seed(27); w = torch.empty(32, 16); nn.init.trunc_normal_(w, 0.0, 0.02, 0.03, 0.05); t = w.to(torch.bfloat16)"),
    ("modules_seed7", "torch.manual_seed(7); m = nn.ModuleDict({'c1': nn.Conv2d(3, 16, 3), 'bn': nn.BatchNorm2d(16), 'c2': nn.Conv2d(16, 32, (3, 5), groups=4), 'ct': nn.ConvTranspose2d(32, 8, 3), 'c3': nn.Conv3d(2, 4, 3, bias=False), 'c1d': nn.Conv1d(4, 6, 5), 'fc': nn.Linear(200, 10), 'emb': nn.Embedding(50, 12), 'ln': nn.LayerNorm([4, 5]), 'gn': nn.GroupNorm(2, 8), 'rms': nn.RMSNorm(6)}); t = m.state_dict()"),
]

# state_dicts.json: module constructors (evaluated with `nn` in scope).
MODULES = [
    "nn.Linear(5, 3)",
    "nn.Linear(5, 3, bias=False)",
    "nn.Conv1d(4, 8, 5)",
    "nn.Conv2d(8, 16, 3, groups=4)",
    "nn.Conv2d(3, 6, (3, 5), bias=False)",
    "nn.Conv3d(2, 4, 3)",
    "nn.ConvTranspose2d(4, 8, 3)",
    "nn.Embedding(10, 4)",
    "nn.LayerNorm(16)",
    "nn.LayerNorm([4, 5])",
    "nn.LayerNorm(16, bias=False)",
    "nn.RMSNorm(16)",
    "nn.BatchNorm1d(8)",
    "nn.BatchNorm2d(8)",
    "nn.GroupNorm(2, 8)",
]

DESCRIBED = {"README.md", "cases.json", "extra_cases.json", "state_dicts.json"}


def seed_of(code):
    return int(re.match(r"torch\.manual_seed\((-?\d+)\)", code).group(1))


def dump(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)  # the committed files: indent 1, no final newline


def generate(out):
    import numpy as np
    import torch
    import torch.nn as nn
    from safetensors.torch import save_file

    env = {"torch_version": torch.__version__,
           "cpu_capability": torch.backends.cpu.get_cpu_capability()}

    def run(code):
        scope = {"torch": torch, "nn": nn}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # trunc_normal_'s "mean is more than 2 std" warning
            exec(code, scope)
        return scope

    def save_st(tensors, name):
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, name),
                  metadata={"format": "pt"})

    cases = []
    for name, code in CASES:
        scope = run(code)
        if name.endswith(".safetensors"):
            sd = scope["m"].state_dict()
            save_st(sd, name)
            cases.append({"file": name, "torch_code": code, "seed": seed_of(code),
                          "tensors": {k: [str(v.dtype), list(v.shape)] for k, v in sd.items()}})
        else:
            t = scope["t"]
            np.save(os.path.join(out, name), t.numpy())
            cases.append({"file": name, "torch_code": code, "dtype": str(t.dtype),
                          "shape": list(t.shape)})
    dump({**env, "note": NOTE, "cases": cases}, os.path.join(out, "cases.json"))

    extra = []
    for name, code in EXTRA_CASES:
        t = run(code)["t"]
        save_st(dict(t) if isinstance(t, dict) else {"w": t}, f"{name}.safetensors")
        extra.append({"file": f"{name}.safetensors", "torch_code": code})
    dump({**env, "cases": extra}, os.path.join(out, "extra_cases.json"))

    modules = {}
    for ctor in MODULES:
        torch.manual_seed(0)
        sd = eval(ctor, {"nn": nn}).state_dict()
        entries = []
        for k, v in sd.items():
            kind = ("ones" if bool((v == 1).all()) else
                    "zeros" if bool((v == 0).all()) else "random")
            entries.append({"name": k, "dtype": str(v.dtype).removeprefix("torch."),
                            "shape": list(v.shape), "values": kind})
        modules[ctor] = entries
    dump({"torch_version": torch.__version__, "modules": modules},
         os.path.join(out, "state_dicts.json"))
    print(f"wrote {len(CASES) + len(EXTRA_CASES)} files and 3 JSON files in {out} with torch "
          f"{env['torch_version']} ({env['cpu_capability']})")


# --- check (standard library only) ---------------------------------------------------------

ST_DTYPES = {"F32": "float32", "F64": "float64", "BF16": "bfloat16", "F16": "float16",
             "I64": "int64"}


def st_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    return h.pop("__metadata__", None), {k: (ST_DTYPES[v["dtype"]], v["shape"]) for k, v in h.items()}


def npy_header(path):
    from ast import literal_eval
    with open(path, "rb") as f:
        assert f.read(6) == b"\x93NUMPY", path
        major, _ = f.read(2)
        n = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        return literal_eval(f.read(n).decode("latin1"))


def check(out):
    errors = []

    def expect(cond, msg):
        if not cond:
            errors.append(msg)

    def load(name):
        with open(os.path.join(out, name)) as f:
            return json.load(f)

    cases, extra, sds = load("cases.json"), load("extra_cases.json"), load("state_dicts.json")
    expect(cases.get("note") == NOTE, "cases.json: note differs")
    recorded = [(c["file"], c["torch_code"]) for c in cases["cases"]]
    expect(recorded == CASES, "cases.json: files or code differ from CASES")
    recorded = [(c["file"], c["torch_code"]) for c in extra["cases"]]
    expect(recorded == [(f"{n}.safetensors", c) for n, c in EXTRA_CASES],
           "extra_cases.json: files or code differ from EXTRA_CASES")
    expect(list(sds["modules"]) == MODULES, "state_dicts.json: modules differ from MODULES")

    for c in cases["cases"]:
        path = os.path.join(out, c["file"])
        if c["file"].endswith(".npy"):
            h = npy_header(path)
            want = {"torch.float32": "<f4", "torch.float64": "<f8"}[c["dtype"]]
            expect(h["descr"] == want and list(h["shape"]) == c["shape"]
                   and not h["fortran_order"], f"{c['file']}: header differs from cases.json")
        else:
            meta, tensors = st_header(path)
            want = {k: (d.removeprefix("torch."), s) for k, (d, s) in c["tensors"].items()}
            expect(meta == {"format": "pt"} and tensors == want,
                   f"{c['file']}: tensors differ from cases.json")
            expect(c["seed"] == seed_of(c["torch_code"]), f"{c['file']}: seed differs from code")
    for c in extra["cases"]:
        meta, tensors = st_header(os.path.join(out, c["file"]))
        expect(meta == {"format": "pt"} and tensors, f"{c['file']}: not a `format: pt` file")

    described = DESCRIBED | {f for f, _ in CASES} | {f"{n}.safetensors" for n, _ in EXTRA_CASES}
    present = set(os.listdir(out))
    for f in sorted(present - described):
        errors.append(f"{f}: in {out} but made by no case of make_fixtures.py")
    for f in sorted(described - present):
        errors.append(f"{f}: described but missing from {out}")

    for e in errors:
        print(f"make_fixtures.py --check: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"make_fixtures.py --check: {len(present)} files in {os.path.relpath(out, ROOT)} "
          f"agree with their cases")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--check":
        check(args[1] if len(args) > 1 else DEFAULT_OUT)
    elif len(args) <= 1 and not (args and args[0].startswith("-")):
        generate(args[0] if args else DEFAULT_OUT)
    else:
        sys.exit(__doc__)
