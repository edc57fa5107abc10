"""Checks `--rng torch` and layer specs against a real PyTorch (make verify-torch).

Usage: python verify.py WEIGHTGEN_BINARY SPECS_DIR  (run in a scratch directory: it writes files there)
"""
import json, subprocess, sys, math
import numpy as np, torch, torch.nn as nn
from safetensors.torch import load_file
W = sys.argv[1]; SPECS = sys.argv[2]
def gen(args, out):
    r = subprocess.run([W, "generate", "--quiet", "--force", "-o", out] + args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out
ok = 0; bad = []
def check(name, cond):
    global ok
    if cond: ok += 1
    else: bad.append(name)
def same(a, b): return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(-1).view(torch.uint8) if a.dtype!=torch.int64 else a, b.view(-1).view(torch.uint8) if b.dtype!=torch.int64 else b)
# 1. trunc_normal_ with rejections (f32, f64) and without
for dt, flag in [(torch.float32, "f32"), (torch.float64, "f64")]:
    for seed, (mean, std, a, b), shape in [(11, (0., 1., -2., 2.), (1000, 300)), (12, (0.5, 2., -1., 3.), (64, 33)), (5, (0., .02, -2., 2.), (100, 50)), (3, (0., 1., -1., 1.), (7,))]:
        torch.manual_seed(seed); t = torch.empty(*shape, dtype=dt); nn.init.trunc_normal_(t, mean, std, a, b)
        out = gen(["w=" + "x".join(map(str, shape)), "--rng", "torch", "--seed", str(seed), "--scheme", "truncated_normal", "--mean", str(mean), "--std", str(std), "--low", str(a), "--high", str(b), "--dtype", flag], "t.safetensors")
        check(f"trunc {flag} seed{seed} {shape}", same(load_file(out)["w"], t))
# 1b. trunc_normal_ on intervals holding <= 30% of the mass (uniform rejection with MKL's log),
# followed by torch.rand from where it leaves the generator
import warnings; warnings.simplefilter("ignore")
for dt, flag in [(torch.float32, "f32"), (torch.float64, "f64")]:
    for seed, (mean, std, a, b), n in [(21, (0., 1., 2., 3.), 300000), (22, (0., 1., -.2, .5), 1200), (26, (1., .1, 1.3, 1.9), 1000), (23, (.1, .5, .6, .9), 7)]:
        torch.manual_seed(seed); t = torch.empty(n, dtype=dt); nn.init.trunc_normal_(t, mean, std, a, b); after = torch.rand(10, dtype=dt)
        spec = {"seed": seed, "rng": "torch", "tensors": [
            {"name": "w", "shape": [n], "dtype": flag, "scheme": "truncated_normal", "mean": mean, "std": std, "low": a, "high": b},
            {"name": "after", "shape": [10], "dtype": flag, "scheme": "uniform", "low": 0.0, "high": 1.0}]}
        open("r.json", "w").write(json.dumps(spec)); d = load_file(gen(["--spec", "r.json"], "r.safetensors"))
        check(f"trunc reject {flag} seed{seed} n{n}", same(d["w"], t) and same(d["after"], after))
# 2. sparse_
torch.manual_seed(5); t = torch.empty(30, 20); nn.init.sparse_(t, 0.3)
check("sparse", same(load_file(gen(["w=30x20", "--rng", "torch", "--seed", "5", "--scheme", "sparse", "--sparsity", "0.3"], "s.safetensors"))["w"], t))
# 3. kaiming leaky fan_out f64
torch.manual_seed(9); t = torch.empty(50, 40, dtype=torch.float64); nn.init.kaiming_uniform_(t, a=0.2, mode='fan_out', nonlinearity='leaky_relu')
check("kaiming f64 leaky", same(load_file(gen(["w=50x40", "--rng", "torch", "--seed", "9", "--scheme", "kaiming_uniform", "--negative-slope", "0.2", "--mode", "fan_out", "--nonlinearity", "leaky_relu", "--dtype", "f64"], "k.safetensors"))["w"], t))
# 4. bf16 / f16: init in f32 then .to(dtype)
for dt, flag in [(torch.bfloat16, "bf16"), (torch.float16, "f16")]:
    torch.manual_seed(4); t = torch.empty(64, 48); nn.init.xavier_normal_(t); t = t.to(dt)
    check(f"xavier_normal {flag}", same(load_file(gen(["w=64x48", "--rng", "torch", "--seed", "4", "--scheme", "xavier_normal", "--dtype", flag], "b.safetensors"))["w"], t))
# 5. module construction: a model with every layer type
torch.manual_seed(7)
m = nn.ModuleDict({"c1": nn.Conv2d(3, 16, 3), "bn": nn.BatchNorm2d(16), "c2": nn.Conv2d(16, 32, (3, 5), groups=4),
                   "ct": nn.ConvTranspose2d(32, 8, 3), "c3": nn.Conv3d(2, 4, 3, bias=False), "c1d": nn.Conv1d(4, 6, 5),
                   "fc": nn.Linear(200, 10), "emb": nn.Embedding(50, 12), "ln": nn.LayerNorm([4, 5]),
                   "gn": nn.GroupNorm(2, 8), "rms": nn.RMSNorm(6)})
spec = {"seed": 7, "rng": "torch", "scheme": "torch_default", "layers": [
  {"type": "conv2d", "name": "c1", "in_channels": 3, "out_channels": 16, "kernel_size": 3},
  {"type": "batch_norm2d", "name": "bn", "num_features": 16},
  {"type": "conv2d", "name": "c2", "in_channels": 16, "out_channels": 32, "kernel_size": [3, 5], "groups": 4},
  {"type": "conv_transpose2d", "name": "ct", "in_channels": 32, "out_channels": 8, "kernel_size": 3},
  {"type": "conv3d", "name": "c3", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "bias": False},
  {"type": "conv1d", "name": "c1d", "in_channels": 4, "out_channels": 6, "kernel_size": 5},
  {"type": "linear", "name": "fc", "in_features": 200, "out_features": 10},
  {"type": "embedding", "name": "emb", "num_embeddings": 50, "embedding_dim": 12},
  {"type": "layer_norm", "name": "ln", "normalized_shape": [4, 5]},
  {"type": "group_norm", "name": "gn", "num_groups": 2, "num_channels": 8},
  {"type": "rms_norm", "name": "rms", "normalized_shape": 6}]}
open("m.json", "w").write(json.dumps(spec))
d = load_file(gen(["--spec", "m.json"], "m.safetensors"))
sd = m.state_dict()
check("module names", set(d) == set(sd))
for k in sd:
    if k in d: check(f"module {k}", same(d[k], sd[k]))
m.load_state_dict(d, strict=True); ok += 1
# 6. the README's cnn spec loads strictly into its Sequential
cnn = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 32, 3, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(512, 10))
r = subprocess.run([W, "generate", "--spec", "-", "-o", "cnn.safetensors", "--force", "--quiet"], input=open(f"{SPECS}/cnn.json", "rb").read(), capture_output=True)
assert r.returncode == 0, r.stderr
cnn.load_state_dict(load_file("cnn.safetensors"), strict=True); ok += 1
blk = load_file(gen(["--spec", f"{SPECS}/transformer_block.json"], "blk.safetensors")); ok += 1
# 7. --mlp equals Sequential names, torch_default bits
torch.manual_seed(0); mlp = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
d = load_file(gen(["--mlp", "784,256,256,10", "--scheme", "torch_default", "--rng", "torch", "--seed", "0"], "mlp.safetensors"))
check("mlp 3 layers", all(same(d[k], v) for k, v in mlp.state_dict().items()) and set(d) == set(mlp.state_dict()))
# 8. negative seed
torch.manual_seed(-1); t = torch.randn(20)
check("negative seed", same(load_file(gen(["w=20", "--rng", "torch", "--seed", "-1", "--scheme", "normal"], "n.safetensors"))["w"], t))
torch.manual_seed(-12345); t = torch.randn(5)
check("negative seed 2", same(load_file(gen(["w=5", "--rng", "torch", "--seed", "-12345", "--scheme", "normal"], "n.safetensors"))["w"], t))
# 9. normal with mean, f64 path A (<16), orthogonality of torch's own orthogonal vs ours (distribution only)
torch.manual_seed(21); t = torch.empty(10, dtype=torch.float64).normal_(3.0, 0.5)
check("normal f64 n10 mean 3", same(load_file(gen(["w=10", "--rng", "torch", "--seed", "21", "--scheme", "normal", "--mean", "3", "--std", "0.5", "--dtype", "f64"], "n.safetensors"))["w"], t))
print(f"verified with torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}): {ok} ok, {len(bad)} bad: {bad}")
