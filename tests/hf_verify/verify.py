"""Checks `weightgen generate --hf-config` against a real transformers (make verify-hf).

Usage: python verify.py WEIGHTGEN_BINARY FIXTURES_HF_DIR [--only TEXT]
       python verify.py --self-test FIXTURES_HF_DIR [--only TEXT]

For every fixtures/hf/tiny_*/input_config.json:
  1. the reference: torch.manual_seed(0); Auto*.from_config(config) (its tensors must still hash to the
     case's sha256.json, so the installed torch/transformers are the ones the fixtures came from);
  2. `BIN generate --hf-config input_config.json -o DIR --rng torch --seed 0 --force`, then:
     - the files: config.json, model.safetensors (or an index and its shards, consistent with each
       other), generation_config.json for models that can generate (causal LMs, T5);
     - the tensor names are exactly those save_pretrained writes (state dict minus tied weights);
     - Auto*.from_pretrained(DIR, output_loading_info=True) reports no missing, unexpected or
       mismatched keys and no errors, and loads the tensors as written;
     - every tensor equals the from_config one bit for bit, dtype and shape included;
     - config.json loads with AutoConfig and equals the input in every key the input gave (compared
       after transformers has read both, so e.g. rope_theta is compared as transformers keeps it);
  3. the same with the native generator (no --rng torch): all of the above but the bit-for-bit
     comparison, which is replaced by: tensors that are constant in the reference (norm weights,
     biases) are equal, and every floating tensor is finite.
One line per case and generator; exits 1 on any failure.

--self-test proves the checks without weightgen: a stand-in binary (fake_weightgen.py, which
writes what save_pretrained writes) must pass, and tampered copies of its output (a changed byte,
a missing, an extra or a reshaped tensor, a wrong dtype, a changed config value, a missing
generation_config.json, a bad shard index) must each fail.
"""
import hashlib, json, math, os, shutil, subprocess, sys, tempfile, warnings

import torch
from safetensors import safe_open
from safetensors.torch import save_file
import transformers
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM,
                          AutoModelForSeq2SeqLM)

warnings.simplefilter("ignore")
transformers.logging.set_verbosity_error()
try:
    transformers.utils.logging.disable_progress_bar()
except Exception:
    pass

HERE = os.path.dirname(os.path.abspath(__file__))


def auto_class(cfg):
    arch = (cfg.get("architectures") or [""])[0]
    if arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel"):
        return AutoModelForCausalLM
    if arch.endswith("ForMaskedLM"):
        return AutoModelForMaskedLM
    if arch.endswith("ForConditionalGeneration"):
        return AutoModelForSeq2SeqLM
    return AutoModel


def load_config_dir(cfg):
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    c = AutoConfig.from_pretrained(d)
    shutil.rmtree(d)
    return c


def reference(cfg):
    torch.manual_seed(0)
    return auto_class(cfg).from_config(load_config_dir(cfg))


def saved_keys(model):
    tied = set(getattr(model, "all_tied_weights_keys", {}) or {})
    return [k for k in model.state_dict() if k not in tied]


def raw_bytes(t):
    return t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""


def read_dir(out, problems):
    """{name: tensor} of a written checkpoint; checks the index against its shards."""
    idx = os.path.join(out, "model.safetensors.index.json")
    single = os.path.join(out, "model.safetensors")
    tensors = {}
    if os.path.exists(idx):
        index = json.load(open(idx))
        wm = index.get("weight_map", {})
        files = sorted(set(wm.values()))
        total = 0
        for fn in files:
            p = os.path.join(out, fn)
            if not os.path.exists(p):
                problems.append(f"index names a missing shard {fn}")
                continue
            with safe_open(p, "pt") as f:
                for k in f.keys():
                    if k in tensors:
                        problems.append(f"{k} is in two shards")
                    if wm.get(k) != fn:
                        problems.append(f"{k} is in {fn} but the index says {wm.get(k)}")
                    tensors[k] = f.get_tensor(k)
                    total += tensors[k].numel() * tensors[k].element_size()
        for k in wm:
            if k not in tensors:
                problems.append(f"index names {k}, which no shard holds")
        ts = (index.get("metadata") or {}).get("total_size")
        if ts is not None and int(ts) != total:
            problems.append(f"index total_size {ts} != {total} bytes of tensors")
        stray = [f for f in os.listdir(out) if f.endswith(".safetensors") and f not in files]
        if stray:
            problems.append(f"safetensors files not in the index: {stray}")
    elif os.path.exists(single):
        with safe_open(single, "pt") as f:
            for k in f.keys():
                tensors[k] = f.get_tensor(k)
    else:
        problems.append("no model.safetensors and no model.safetensors.index.json")
    return tensors


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def check_dir(out, cfg_in, ref, exact):
    """Problems (strings) with the checkpoint directory `out` for the input config dict `cfg_in`."""
    problems = []
    if not os.path.exists(os.path.join(out, "config.json")):
        return ["no config.json"], 0
    tensors = read_dir(out, problems)
    want = saved_keys(ref)
    sd = ref.state_dict()
    missing = [k for k in want if k not in tensors]
    extra = [k for k in tensors if k not in want]
    if missing:
        problems.append(f"tensors missing: {missing[:4]}{'...' if len(missing) > 4 else ''}")
    if extra:
        problems.append(f"unexpected tensors: {extra[:4]}{'...' if len(extra) > 4 else ''}")
    n_exact = 0
    for k in want:
        if k not in tensors:
            continue
        a, r = tensors[k], sd[k]
        if a.dtype != r.dtype or a.shape != r.shape:
            problems.append(f"{k}: {a.dtype} {list(a.shape)} != reference {r.dtype} {list(r.shape)}")
            continue
        if exact:
            if raw_bytes(a) != raw_bytes(r):
                problems.append(f"{k}: values differ from from_config")
            else:
                n_exact += 1
        else:
            if a.is_floating_point() and not torch.isfinite(a.float()).all():
                problems.append(f"{k}: not finite")
            rf = r.flatten()
            if r.numel() and torch.equal(rf, rf[:1].expand_as(rf)) and raw_bytes(a) != raw_bytes(r):
                problems.append(f"{k}: reference is constant {rf[0].item()}, this is not")
    # generation_config.json
    gen = os.path.join(out, "generation_config.json")
    if ref.can_generate() and not os.path.exists(gen):
        problems.append("no generation_config.json")
    if os.path.exists(gen):
        try:
            transformers.GenerationConfig.from_pretrained(out)
        except Exception as e:
            problems.append(f"generation_config.json does not load: {e}")
    # config.json: loads, and keeps every key the input gave
    try:
        c_out = AutoConfig.from_pretrained(out)
    except Exception as e:
        problems.append(f"config.json does not load: {e}")
        return problems, n_exact
    c_in = load_config_dir(cfg_in)
    d_in, d_out = c_in.to_dict(), c_out.to_dict()
    raw_out = json.load(open(os.path.join(out, "config.json")))
    # every value transformers keeps from the input (defaults filled in, e.g. rope_theta moved
    # into rope_parameters) must come back the same
    for k in sorted(d_in):
        if k in ("transformers_version", "_name_or_path") or (k == "dtype" and "dtype" not in cfg_in):
            continue
        if k not in cfg_in and d_out.get(k, "<absent>") != d_in[k]:
            problems.append(f"config {k}: {d_out.get(k, '<absent>')!r} != {d_in[k]!r} (as transformers reads the input)")
    for k, v in cfg_in.items():
        if k in d_in:
            if d_out.get(k, "<absent>") != d_in[k]:
                problems.append(f"config {k}: {d_out.get(k, '<absent>')!r} != {d_in[k]!r}")
        elif hasattr(c_in, k):
            if getattr(c_out, k, "<absent>") != getattr(c_in, k):
                problems.append(f"config {k}: {getattr(c_out, k, '<absent>')!r} != {getattr(c_in, k)!r}")
        # as written: the input's value, or what transformers makes of it (e.g. T5Config forces
        # tie_word_embeddings to true and keeps a false one as scale_decoder_outputs)
        if k in raw_out and not (_same(raw_out[k], v) or (k in d_in and _same(raw_out[k], d_in[k]))):
            problems.append(f"config.json {k}: {raw_out[k]!r} != input {v!r}")
    float_dtypes = {t.dtype for t in tensors.values() if t.is_floating_point()}
    if c_out.dtype is not None and float_dtypes and float_dtypes != {c_out.dtype}:
        problems.append(f"config dtype {c_out.dtype} but tensors are {sorted(map(str, float_dtypes))}")
    # transformers loads it cleanly, as written
    try:
        model, info = auto_class(cfg_in).from_pretrained(out, output_loading_info=True)
        for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
            if info.get(key):
                problems.append(f"from_pretrained {key}: {sorted(map(str, info[key]))[:4]}")
        if type(model) is not type(ref):
            problems.append(f"from_pretrained gives {type(model).__name__}, not {type(ref).__name__}")
        lsd = model.state_dict()
        for k, t in tensors.items():
            if k in lsd and (lsd[k].dtype != t.dtype or raw_bytes(lsd[k]) != raw_bytes(t)):
                problems.append(f"{k}: loaded as {lsd[k].dtype}, not as written")
                break
    except Exception as e:
        problems.append(f"from_pretrained fails: {type(e).__name__}: {str(e)[:200]}")
    return problems, n_exact


check = check_dir


def fixture_problems(case_dir, ref):
    want = json.load(open(os.path.join(case_dir, "sha256.json")))
    sd = ref.state_dict()
    got = {k: hashlib.sha256(raw_bytes(sd[k])).hexdigest() for k in saved_keys(ref)}
    if got != want:
        bad = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        return [f"from_config no longer matches sha256.json (torch/transformers versions?): {bad[:3]}"]
    return []


def cases(fixtures, only):
    out = []
    for name in sorted(os.listdir(fixtures)):
        d = os.path.join(fixtures, name)
        if name.startswith("tiny_") and os.path.exists(os.path.join(d, "input_config.json")):
            if not only or only in name:
                out.append((name, d))
    return out


def run(binary, args):
    r = subprocess.run([binary] + args, capture_output=True, text=True)
    return r.returncode, (r.stderr or r.stdout).strip().splitlines()[-1:] if r.returncode else []


def verify(binary, fixtures, only):
    failed = 0
    tmp = tempfile.mkdtemp(prefix="verify-hf-")
    try:
        for name, d in cases(fixtures, only):
            cfg = json.load(open(os.path.join(d, "input_config.json")))
            ref = reference(cfg)
            pre = fixture_problems(d, ref)
            for mode, extra, exact in (("torch", ["--rng", "torch"], True), ("native", [], False)):
                out = os.path.join(tmp, f"{name}-{mode}")
                probs = list(pre)
                rc, err = run(binary, ["generate", "--hf-config", os.path.join(d, "input_config.json"),
                                       "-o", out, "--seed", "0", "--force"] + extra)
                n = 0
                if rc != 0:
                    probs.append(f"exit {rc}: {' '.join(err)}")
                else:
                    p, n = check(out, cfg, ref, exact)
                    probs += p
                if probs:
                    failed += 1
                    print(f"FAIL {name} --rng {mode}: " + "; ".join(probs[:6]), flush=True)
                else:
                    what = f"{n} tensors bit-exact" if exact else f"{len(saved_keys(ref))} tensors, constants exact"
                    print(f"ok   {name} --rng {mode}: {type(ref).__name__}, {what}, loads cleanly", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return failed


# ------------------------------------------------------------------------------------------
# self-test
# ------------------------------------------------------------------------------------------
def _rewrite(out, fn):
    """Applies fn(dict of tensors) -> dict to model.safetensors in place."""
    p = os.path.join(out, "model.safetensors")
    with safe_open(p, "pt") as f:
        meta = f.metadata()
        d = {k: f.get_tensor(k) for k in f.keys()}
    save_file(fn(d), p, metadata=meta)


def _flip_byte(d):
    k = sorted(k for k in d if d[k].is_floating_point() and d[k].numel() > 1)[0]
    t = d[k].clone()
    u = t.view(torch.uint8).flatten()
    u[-1] ^= 1
    d[k] = u.view(t.dtype).reshape(t.shape)
    return d


def _flip_byte_varying(d):
    """flips a byte of a drawn (non-constant) tensor: free under the native generator"""
    k = sorted(k for k in d if d[k].dim() == 2 and d[k].numel() > 1 and not torch.equal(d[k], d[k].flatten()[0].expand_as(d[k])))[0]
    return _flip_byte({k: d[k]}) | {kk: v for kk, v in d.items() if kk != k}


def _flip_byte_constant(d):
    """flips a byte of a constant tensor (a norm weight or a bias): wrong under any generator"""
    k = sorted(k for k in d if d[k].numel() > 1 and torch.equal(d[k], d[k].flatten()[0].expand_as(d[k])))[0]
    return _flip_byte({k: d[k]}) | {kk: v for kk, v in d.items() if kk != k}


def _drop(d):
    d.pop(sorted(d)[-1])
    return d


def _add(d):
    d["extra.weight"] = torch.zeros(3)
    return d


def _reshape(d):
    k = sorted(k for k in d if d[k].dim() == 2)[0]
    d[k] = d[k].t().contiguous()
    return d


def _redtype(d):
    k = sorted(d)[0]
    d[k] = d[k].to(torch.float64)
    return d


def _config_value(out):
    p = os.path.join(out, "config.json")
    c = json.load(open(p))
    for k in ("initializer_range", "initializer_factor", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon"):
        if k in c:
            c[k] = c[k] * 2
            break
    json.dump(c, open(p, "w"))


def _config_dropped_key(out, cfg_in):
    p = os.path.join(out, "config.json")
    c = json.load(open(p))
    # drop a key the input gave whose class default differs from the input value
    for k in ("intermediate_size", "n_embd", "d_ff", "vocab_size"):
        if k in cfg_in and k in c:
            del c[k]
            break
    json.dump(c, open(p, "w"))


def _config_rope(out):
    """rope_theta back to the default, as a writer that ignored the input's rope_theta would do"""
    p = os.path.join(out, "config.json")
    c = json.load(open(p))
    if "rope_parameters" not in c:
        return False
    c["rope_parameters"]["rope_theta"] = 10000.0 if c["rope_parameters"].get("rope_theta") != 10000.0 else 20000.0
    json.dump(c, open(p, "w"))


def _no_genconfig(out):
    os.remove(os.path.join(out, "generation_config.json"))


def _bad_index(out):
    """Splits model.safetensors into two shards with an index that misplaces one tensor."""
    p = os.path.join(out, "model.safetensors")
    with safe_open(p, "pt") as f:
        d = {k: f.get_tensor(k) for k in f.keys()}
    os.remove(p)
    ks = sorted(d)
    a, b = ks[: len(ks) // 2], ks[len(ks) // 2:]
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    save_file({k: d[k] for k in a}, os.path.join(out, names[0]), metadata={"format": "pt"})
    save_file({k: d[k] for k in b}, os.path.join(out, names[1]), metadata={"format": "pt"})
    wm = {k: names[0] for k in a}
    wm.update({k: names[1] for k in b})
    wm[b[0]] = names[0]  # wrong
    total = sum(t.numel() * t.element_size() for t in d.values())
    json.dump({"metadata": {"total_size": total}, "weight_map": wm},
              open(os.path.join(out, "model.safetensors.index.json"), "w"))


def _good_shards(out):
    """A correct two-shard split: must still pass."""
    _bad_index(out)
    p = os.path.join(out, "model.safetensors.index.json")
    idx = json.load(open(p))
    for fn in sorted(set(idx["weight_map"].values())):
        with safe_open(os.path.join(out, fn), "pt") as f:
            for k in f.keys():
                idx["weight_map"][k] = fn
    json.dump(idx, open(p, "w"))


def self_test(fixtures, only):
    """Returns the number of failures of the self-test."""
    tmp = tempfile.mkdtemp(prefix="verify-hf-selftest-")
    failures = 0
    try:
        fake = os.path.join(tmp, "fake-weightgen")
        with open(fake, "w") as f:
            f.write(f"#!/bin/sh\nexec '{sys.executable}' '{os.path.join(HERE, 'fake_weightgen.py')}' \"$@\"\n")
        os.chmod(fake, 0o755)
        # 1. end to end through the CLI path with the stand-in binary: every case passes
        n = verify(fake, fixtures, only)
        print(f"self-test: stand-in binary, {n} failing case(s) (want 0)")
        failures += n != 0
        # 2. tampered outputs must fail; a correct sharded layout must pass
        tampers = [("flip one byte", True, lambda o, c: _rewrite(o, _flip_byte), True),
                   ("drop a tensor", True, lambda o, c: _rewrite(o, _drop), True),
                   ("add a tensor", True, lambda o, c: _rewrite(o, _add), True),
                   ("transpose a tensor", True, lambda o, c: _rewrite(o, _reshape), True),
                   ("float64 tensor", True, lambda o, c: _rewrite(o, _redtype), True),
                   ("change a config value", True, lambda o, c: _config_value(o), True),
                   ("drop a config key", True, lambda o, c: _config_dropped_key(o, c), True),
                   ("rope_theta lost", True, lambda o, c: _config_rope(o), True),
                   ("no generation_config.json", True, lambda o, c: _no_genconfig(o), "gen"),
                   ("bad shard index", True, lambda o, c: _bad_index(o), True),
                   ("correct two shards", True, lambda o, c: _good_shards(o), False),
                   ("flip one byte of a drawn tensor (native mode: values are free)", False, lambda o, c: _rewrite(o, _flip_byte_varying), False),
                   ("flip one byte of a constant tensor (native mode)", False, lambda o, c: _rewrite(o, _flip_byte_constant), True)]
        for name, d in cases(fixtures, only):
            cfg = json.load(open(os.path.join(d, "input_config.json")))
            ref = reference(cfg)
            base = os.path.join(tmp, name)
            ref.save_pretrained(base)
            p, _ = check(base, cfg, ref, True)
            line = [f"untouched {'ok' if not p else 'FAIL ' + str(p[:2])}"]
            failures += bool(p)
            for tname, exact, fn, must_fail in tampers:
                if must_fail == "gen":
                    if not ref.can_generate():
                        continue
                    must_fail = True
                o = os.path.join(tmp, name + "-t")
                shutil.rmtree(o, ignore_errors=True)
                shutil.copytree(base, o)
                if fn(o, cfg) is False:
                    continue  # does not apply to this family
                p, _ = check(o, cfg, ref, exact)
                good = bool(p) == must_fail
                failures += not good
                line.append(f"{tname}: {'caught [' + p[0][:70] + ']' if p else 'passes'}{'' if good else ' (WRONG)'}")
            print(f"self-test {name}:\n  " + "\n  ".join(line), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return failures


def main():
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = args[i + 1]
        del args[i:i + 2]
    if args and args[0] == "--self-test":
        f = self_test(args[1], only)
        print(f"verify.py self-test: {'passed' if f == 0 else f'{f} failure(s)'}")
        sys.exit(1 if f else 0)
    if len(args) != 2:
        sys.exit(__doc__)
    f = verify(args[0], args[1], only)
    print(f"verify-hf: {'all cases passed' if f == 0 else f'{f} failing case run(s)'}")
    sys.exit(1 if f else 0)


if __name__ == "__main__":
    main()
