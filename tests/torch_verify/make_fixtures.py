"""Write PyTorch reference outputs for `--rng torch` cases that shared/golden/torch lacks.

Run with a real PyTorch (`make verify-torch` creates the venv): python make_fixtures.py OUTDIR
Each case is saved as OUTDIR/<name>.safetensors with tensor `w` (or a module's state dict), and
OUTDIR/extra_cases.json records the exact code, torch version and CPU capability.
"""
import json
import sys
import warnings

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


def main(out):
    meta = {"torch_version": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cases": []}
    for name, code in CASES:
        scope = {"torch": torch, "nn": nn}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # trunc_normal_'s "mean is more than 2 std" warning
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
