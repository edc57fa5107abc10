"""Remake the reference checkpoints of fixtures/hf/{llama_f32,llama_bf16,qwen2_tied,gemma,phi3,
gpt2,bert,t5} with real transformers + torch (the venv of `make verify-hf`), and check them:

    target/venv-hf/bin/python tests/hf_verify/make_reference.py fixtures/hf OUT_DIR

For each case: torch.manual_seed(0); <Auto class>.from_config(<its input_config.json>) and
save_pretrained(OUT_DIR/<case>); then the digest of tests/hf_verify/digest.py is compared with
the committed sha256.json (exit 1 on any difference). With --write, the digests, configs and
(for the two Llama cases) model.safetensors are written back into fixtures/hf instead.
"""
import json
import os
import shutil
import sys

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digest  # noqa: E402

CASES = {
    "llama_f32": AutoModelForCausalLM, "llama_bf16": AutoModelForCausalLM,
    "qwen2_tied": AutoModelForCausalLM, "gemma": AutoModelForCausalLM,
    "phi3": AutoModelForCausalLM, "gpt2": AutoModelForCausalLM, "bert": AutoModel,
    "t5": AutoModelForSeq2SeqLM,
}


def main(fixtures, out, write):
    bad = 0
    for case, auto in CASES.items():
        src = os.path.join(fixtures, case)
        d = os.path.join(out, case)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        shutil.copyfile(os.path.join(src, "input_config.json"), os.path.join(d, "input_config.json"))
        cfg = AutoConfig.from_pretrained(os.path.join(d, "input_config.json"))
        torch.manual_seed(0)
        auto.from_config(cfg).save_pretrained(d)
        check = os.path.join(out, case + ".digest")
        digest.main(d, check)
        new = json.load(open(os.path.join(check, "sha256.json")))
        old = json.load(open(os.path.join(src, "sha256.json")))
        same = new == old
        print(f"{case}: {len(new)} tensors, {'same' if same else 'DIFFERENT'}")
        bad += not same
        if write:
            digest.main(d, src)
            if case.startswith("llama"):
                shutil.copyfile(os.path.join(d, "model.safetensors"), os.path.join(src, "model.safetensors"))
    return 1 if bad and not write else 0


if __name__ == "__main__":
    a = [x for x in sys.argv[1:] if x != "--write"]
    sys.exit(main(a[0], a[1], "--write" in sys.argv))
