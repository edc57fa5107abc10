"""A stand-in for `weightgen generate --hf-config` used by `verify.py --self-test`: writes what
transformers' save_pretrained writes. With --rng torch it is the reference itself
(torch.manual_seed(seed); Auto*.from_config; save_pretrained); without, a different seed stands
for the native generator (same layout, other values)."""
import json, os, shutil, sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify import auto_class, load_config_dir  # noqa: E402

transformers.logging.set_verbosity_error()


def main():
    a = sys.argv[1:]
    assert a and a[0] == "generate", a
    opt = {}
    i = 1
    while i < len(a):
        if a[i] in ("--rng", "--seed", "--hf-config", "-o", "--dtype"):
            opt[a[i]] = a[i + 1]
            i += 2
        else:
            opt[a[i]] = True
            i += 1
    cfg = json.load(open(opt["--hf-config"]))
    out = opt["-o"]
    if os.path.exists(out):
        if "--force" not in opt:
            sys.exit("exists")
        shutil.rmtree(out)
    seed = int(opt.get("--seed", 0))
    torch.manual_seed(seed if opt.get("--rng") == "torch" else seed + 1000003)
    kw = {"dtype": getattr(torch, {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[opt["--dtype"]])} if "--dtype" in opt else {}
    model = auto_class(cfg).from_config(load_config_dir(cfg), **kw)
    model.save_pretrained(out)


if __name__ == "__main__":
    main()
