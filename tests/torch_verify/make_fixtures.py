"""Write PyTorch reference outputs for `--rng torch` cases that shared/golden/torch lacks.

Run with a real PyTorch (`make verify-torch` creates the venv): python make_fixtures.py OUTDIR
Each case is saved as OUTDIR/<name>.safetensors with tensor `w` (or a module's state dict), and
OUTDIR/extra_cases.json records the exact code, torch version and CPU capability.
"""
import json
import sys

import torch
import torch.nn as nn
from safetensors.torch import save_file

CASES = [
    ("trunc_normal_redraw_f32_seed11", "torch.manual_seed(11); t = torch.empty(200, 100); nn.init.trunc_normal_(t, 0.0, 1.0, -2.0, 2.0)"),
    ("trunc_normal_redraw_f64_seed12", "torch.manual_seed(12); t = torch.empty(64, 33, dtype=torch.float64); nn.init.trunc_normal_(t, 0.5, 2.0, -1.0, 3.0)"),
    ("trunc_normal_redraw_f32_seed3_n7", "torch.manual_seed(3); t = torch.empty(7); nn.init.trunc_normal_(t, 0.0, 1.0, -1.0, 1.0)"),
    ("sparse_seed5_30x20", "torch.manual_seed(5); t = torch.empty(30, 20); nn.init.sparse_(t, 0.3)"),
    ("kaiming_uniform_leaky02_fanout_f64_seed9", "torch.manual_seed(9); t = torch.empty(50, 40, dtype=torch.float64); nn.init.kaiming_uniform_(t, a=0.2, mode='fan_out', nonlinearity='leaky_relu')"),
    ("xavier_normal_bf16_seed4", "torch.manual_seed(4); t = torch.empty(64, 48); nn.init.xavier_normal_(t); t = t.to(torch.bfloat16)"),
    ("randn_negative_seed", "torch.manual_seed(-12345); t = torch.randn(20)"),
    ("modules_seed7", "torch.manual_seed(7); m = nn.ModuleDict({'c1': nn.Conv2d(3, 16, 3), 'bn': nn.BatchNorm2d(16), 'c2': nn.Conv2d(16, 32, (3, 5), groups=4), 'ct': nn.ConvTranspose2d(32, 8, 3), 'c3': nn.Conv3d(2, 4, 3, bias=False), 'c1d': nn.Conv1d(4, 6, 5), 'fc': nn.Linear(200, 10), 'emb': nn.Embedding(50, 12), 'ln': nn.LayerNorm([4, 5]), 'gn': nn.GroupNorm(2, 8), 'rms': nn.RMSNorm(6)}); t = m.state_dict()"),
]


def main(out):
    meta = {"torch_version": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cases": []}
    for name, code in CASES:
        scope = {"torch": torch, "nn": nn}
        exec(code, scope)
        t = scope["t"]
        tensors = {k: v.contiguous() for k, v in t.items()} if isinstance(t, dict) else {"w": t}
        save_file(tensors, f"{out}/{name}.safetensors", metadata={"format": "pt"})
        meta["cases"].append({"file": f"{name}.safetensors", "torch_code": code})
    with open(f"{out}/extra_cases.json", "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {len(CASES)} cases with torch {torch.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
