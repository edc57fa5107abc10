#!/usr/bin/env python3
"""Cross-framework acceptance test: files written by `weightgen generate` load in Python.

Usage:  python tests/interop/interop.py PATH_TO_WEIGHTGEN_BINARY

Checks every output format (npy, npz, npz --compress, safetensors, safetensors on stdout) and
every dtype (f32, f64, f16, bf16) the format allows, against NumPy, safetensors and ml_dtypes:
names, shapes, dtypes and sha256 agree with the `--json` summary; values respect the
distribution; safetensors metadata; bf16 refused for npy/npz; the same tensor has the same
bytes in every format; f16/bf16 are the f32 values rounded to nearest even; `--spec -` equals
`--spec FILE`; NPZ member names, compression and timestamps; two runs give identical bytes;
`weightgen inspect --json` statistics equal NumPy's on fresh outputs and on every fixture, and
`inspect --check` passes on weightgen's own files. Sharded checkpoints (`--max-shard-size`):
the split equals huggingface_hub's rules, every shard loads alone with `format: pt`, the shards
together equal the unsharded file tensor by tensor, the index passes the checks transformers
and huggingface_hub apply when loading, and one process per shard (`--shard K`, then
`--index-only`) gives the same bytes.

Prints one line per check group and a final summary line. Exit status: 0 when every check
passes, 1 when any fails, 2 on bad usage. Needs only numpy, safetensors, ml_dtypes (see
requirements.txt) and the standard library.
"""

import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import traceback
import zipfile

import ml_dtypes  # registers bfloat16 with NumPy; import before loading BF16 safetensors
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load as st_load_bytes
from safetensors.numpy import load_file as st_load_file

SEED = 7
STREAM = "weightgen-3"
USER_METADATA = {"model": "interop-test"}
RUN_TIMEOUT_S = 120

NUMPY_DTYPE = {
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "f16": np.dtype(np.float16),
    "bf16": np.dtype(ml_dtypes.bfloat16),
}
DTYPES = ["f32", "f64", "f16", "bf16"]

# The tensors of the test model. Values are a pure function of (seed, name, shape, dtype,
# distribution), so any subset written to any format must give the same bytes per tensor.
TENSORS = [
    # top-level scheme xavier_uniform; large enough (131072 values) that rounding f64 -> f16/bf16
    # directly instead of via f32 (double rounding) would show up in the cross-format checks
    {"name": "fc1.weight", "shape": [512, 256]},
    {"name": "conv1.weight", "shape": [4, 3, 3, 3], "scheme": "kaiming_uniform",
     "nonlinearity": "relu"},
    {"name": "fc1.bias", "shape": [512], "scheme": "zeros"},
    {"name": "scale", "shape": [], "scheme": "constant", "value": 0.5},
    {"name": "empty", "shape": [0, 3], "scheme": "normal", "std": 0.02},
]
NAMES = [t["name"] for t in TENSORS]

# (label, extension, extra flags, writes to stdout)
FORMATS = [
    ("npy", ".npy", [], False),
    ("npz", ".npz", [], False),
    ("npz-compress", ".npz", ["--compress"], False),
    ("safetensors", ".safetensors", [], False),
    ("safetensors-stdout", None, ["--format", "safetensors"], True),
]


def allowed(fmt, dtype):
    """bf16 has no NumPy descr: the CLI refuses it for .npy and .npz."""
    return not (dtype == "bf16" and fmt in ("npy", "npz", "npz-compress"))


def make_spec(dtype, tensors, with_metadata=True):
    spec = {"dtype": dtype, "scheme": "xavier_uniform", "tensors": tensors}
    if with_metadata:
        spec["metadata"] = dict(USER_METADATA)
    return spec


# --------------------------------------------------------------------------------------------
# Check bookkeeping


class CheckFailed(Exception):
    """Raised to abandon the rest of a group when a prerequisite check fails."""


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = []  # (group, check, detail)
        self.group = None
        self._group_passed = 0
        self._group_failed = 0

    def check(self, cond, name, detail=""):
        if cond:
            self.passed += 1
            self._group_passed += 1
        else:
            self.failed.append((self.group, name, detail))
            self._group_failed += 1
            msg = f"  FAIL [{self.group}] {name}"
            if detail:
                msg += "\n" + "\n".join("       " + line for line in str(detail).splitlines())
            print(msg, flush=True)
        return cond

    def require(self, cond, name, detail=""):
        if not self.check(cond, name, detail):
            raise CheckFailed(name)

    def run_group(self, group, fn, *args):
        self.group = group
        self._group_passed = self._group_failed = 0
        try:
            fn(*args)
        except CheckFailed as e:
            print(f"  [{group}] stopped after failed prerequisite: {e}", flush=True)
        except Exception:  # a bug in the test or an unexpected file: report, keep going
            self.check(False, "group raised an exception", traceback.format_exc())
        status = "ok" if self._group_failed == 0 else "FAILED"
        print(f"{group}: {status} ({self._group_passed} passed, {self._group_failed} failed)",
              flush=True)


C = Checker()


# --------------------------------------------------------------------------------------------
# Running the binary


class Run:
    def __init__(self, cmd, proc):
        self.cmd = cmd
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def describe(self):
        err = self.stderr.decode("utf-8", "replace").strip()
        out = self.stdout[:400].decode("utf-8", "replace").strip()
        return (f"command: {' '.join(self.cmd)}\nexit code: {self.code}\n"
                f"stderr: {err[:2000]}\nstdout (first 400 bytes): {out}")


def run(binary, args, cwd, stdin_bytes=None):
    cmd = [binary] + args
    proc = subprocess.run(cmd, cwd=cwd, input=stdin_bytes if stdin_bytes is not None else b"",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT_S)
    return Run(cmd, proc)


def parse_summary(raw, where, r):
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError as e:
        C.require(False, f"--json summary on {where} is one JSON document", f"{e}\n{r.describe()}")


def generate(binary, workdir, spec, fmt_flags, out, stdin_spec=False):
    """Write the spec to a file (or pipe it), run `generate`; return (Run, output bytes)."""
    os.makedirs(workdir, exist_ok=True)
    spec_bytes = json.dumps(spec, indent=2).encode()
    if stdin_spec:
        spec_arg, stdin = "-", spec_bytes
    else:
        spec_path = os.path.join(workdir, "spec.json")
        with open(spec_path, "wb") as f:
            f.write(spec_bytes)
        spec_arg, stdin = spec_path, None
    args = ["generate", "--spec", spec_arg, "-o", out, "--seed", str(SEED), "--json"] + fmt_flags
    return run(binary, args, workdir, stdin)


# --------------------------------------------------------------------------------------------
# Per-array checks


def le_sha256(a):
    return hashlib.sha256(
        np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    ).hexdigest()


def cast_bound(x, dtype):
    """A distribution bound as the tensor dtype: f16/bf16 are rounded from the f32 value."""
    npd = NUMPY_DTYPE[dtype]
    if dtype in ("f16", "bf16"):
        return np.asarray(np.float32(x)).astype(npd)
    return np.asarray(x).astype(npd)


def check_summary_tensor(t, dtype, expected):
    name = t.get("name")
    C.check(t.get("shape") == expected["shape"], f"summary shape of {name}",
            f"summary {t.get('shape')}, spec {expected['shape']}")
    C.check(t.get("dtype") == dtype, f"summary dtype of {name}", f"got {t.get('dtype')!r}")
    numel = math.prod(expected["shape"])
    C.check(t.get("numel") == numel, f"summary numel of {name}", f"got {t.get('numel')}")
    C.check(t.get("bytes") == numel * NUMPY_DTYPE[dtype].itemsize, f"summary bytes of {name}",
            f"got {t.get('bytes')}")
    sha = t.get("sha256")
    C.check(isinstance(sha, str) and len(sha) == 64, f"summary sha256 of {name} is hex",
            f"got {sha!r}")
    dist = t.get("distribution") or {}
    C.check(dist.get("kind") in ("constant", "uniform", "normal", "truncated_normal"),
            f"summary distribution.kind of {name}", f"got {dist!r}")


def check_array(name, a, t, dtype):
    """`a` is the loaded array, `t` its entry in the --json summary."""
    npd = NUMPY_DTYPE[dtype]
    C.check(a.dtype == npd, f"dtype of {name}", f"loaded {a.dtype}, expected {npd} ({dtype})")
    C.check(list(a.shape) == t["shape"], f"shape of {name}",
            f"loaded {a.shape}, summary {t['shape']}")
    C.check(a.flags.c_contiguous, f"{name} is C-contiguous")
    got = le_sha256(a)
    C.check(got == t.get("sha256"), f"sha256 of {name} matches summary",
            f"data sha256 {got}\nsummary    {t.get('sha256')}")
    if a.dtype != npd:
        return
    vals = a.astype(np.float64)
    C.check(bool(np.all(np.isfinite(vals))), f"{name} values are finite")
    dist = t.get("distribution") or {}
    kind = dist.get("kind")
    if kind in ("uniform", "truncated_normal"):
        lo = cast_bound(dist["low"], dtype).astype(np.float64)
        hi = cast_bound(dist["high"], dtype).astype(np.float64)
        ok = bool(np.all((vals >= lo) & (vals <= hi)))
        C.check(ok, f"{name} values within [low, high] of its {kind} distribution",
                f"low {lo}, high {hi}, min {vals.min() if vals.size else None}, "
                f"max {vals.max() if vals.size else None}")
        if kind == "uniform" and vals.size >= 64:
            distinct = len(np.unique(vals))
            C.check(distinct >= min(vals.size // 2, 64), f"{name} values are not degenerate",
                    f"{distinct} distinct of {vals.size}")
    elif kind == "constant":
        want = cast_bound(dist.get("value"), dtype).astype(np.float64)
        C.check(bool(np.all(vals == want)), f"{name} equals its constant value",
                f"value {dist.get('value')}, distinct values {np.unique(vals)[:5]}")


def check_expected_values(name, a, spec_t):
    """Scheme-specific expectations from the spec itself."""
    scheme = spec_t.get("scheme", "xavier_uniform")
    if scheme == "zeros":
        C.check(a.size > 0 and bool(np.all(a.astype(np.float64) == 0.0)), f"{name} is all zero")
    if scheme == "constant":
        want = np.asarray(spec_t["value"]).astype(a.dtype)
        C.check(bool(np.all(a == want)), f"{name} equals {spec_t['value']} rounded to {a.dtype}",
                f"got {a!r}")


def check_plan_numbers(summary_by_name, dtype):
    """Distributions in the summary follow the torch-convention formulas."""
    def close(x, y):
        return x is not None and abs(x - y) <= 1e-6 * max(1.0, abs(y))

    t = summary_by_name.get("fc1.weight")
    if t:  # xavier_uniform, [512, 256]: fan_in 256, fan_out 512, bound sqrt(6/768)
        d = t.get("distribution") or {}
        b = math.sqrt(6.0 / 768.0)
        C.check(t.get("scheme") == "xavier_uniform" and d.get("kind") == "uniform"
                and close(d.get("low"), -b) and close(d.get("high"), b),
                f"fc1.weight is xavier_uniform U(±{b:.6f})", f"summary {t}")
    t = summary_by_name.get("conv1.weight")
    if t:  # kaiming_uniform relu, [4, 3, 3, 3]: fan_in 27, bound sqrt(2) * sqrt(3/27)
        d = t.get("distribution") or {}
        b = math.sqrt(2.0) * math.sqrt(3.0 / 27.0)
        C.check(d.get("kind") == "uniform" and close(d.get("low"), -b) and close(d.get("high"), b),
                f"conv1.weight is kaiming_uniform(relu) U(±{b:.6f})", f"summary {t}")
    t = summary_by_name.get("fc1.bias")
    if t:
        d = t.get("distribution") or {}
        C.check(d.get("kind") == "constant" and d.get("value") == 0.0,
                "fc1.bias (zeros) is constant 0", f"summary {t}")
    t = summary_by_name.get("scale")
    if t:
        d = t.get("distribution") or {}
        C.check(d.get("kind") == "constant" and d.get("value") == 0.5,
                "scale is constant 0.5", f"summary {t}")
    t = summary_by_name.get("empty")
    if t:
        d = t.get("distribution") or {}
        C.check(d.get("kind") == "normal" and close(d.get("std"), 0.02)
                and close(d.get("mean"), 0.0), "empty is normal(0, 0.02)", f"summary {t}")


# --------------------------------------------------------------------------------------------
# Format groups

# RESULTS[(fmt, dtype)][name] = loaded array; used by the cross-format group.
RESULTS = {}


def check_common_summary(summary, fmt_label, dtype, expected_tensors, out_name):
    C.check(summary.get("stream") == STREAM, "summary stream", f"got {summary.get('stream')!r}")
    C.check(summary.get("seed") == SEED, "summary seed", f"got {summary.get('seed')!r}")
    C.check(isinstance(summary.get("weightgen"), str), "summary weightgen version",
            f"got {summary.get('weightgen')!r}")
    want_format = fmt_label.split("-")[0]
    C.check(summary.get("format") == want_format, "summary format",
            f"got {summary.get('format')!r}, expected {want_format!r}")
    C.check(summary.get("dry_run") is False, "summary dry_run is false",
            f"got {summary.get('dry_run')!r}")
    outs = summary.get("outputs")
    C.check(isinstance(outs, list) and len(outs) == 1, "summary lists one output", f"got {outs!r}")
    if out_name != "-" and isinstance(outs, list) and outs:
        C.check(os.path.basename(str(outs[0])) == out_name, "summary output names the file",
                f"got {outs!r}, expected .../{out_name}")
    tensors = summary.get("tensors")
    C.require(isinstance(tensors, list), "summary has a tensors list", f"got {tensors!r}")
    names = [t.get("name") for t in tensors]
    C.require(sorted(names) == sorted(t["name"] for t in expected_tensors),
              "summary tensor names match the spec", f"summary {names}")
    by_name = {t["name"]: t for t in tensors}
    for spec_t in expected_tensors:
        check_summary_tensor(by_name[spec_t["name"]], dtype, spec_t)
    check_plan_numbers(by_name, dtype)
    return by_name


def check_repeat_and_stdin(binary, base, spec, flags, out_name, first_bytes, stdout_mode):
    """A second run, and a run with the spec piped on stdin, give byte-identical output."""
    for label, stdin_spec in (("second run with the same seed", False),
                              ("--spec - (stdin)", True)):
        sub = os.path.join(base, "stdin" if stdin_spec else "repeat")
        out = "-" if stdout_mode else os.path.join(sub, out_name)
        r = generate(binary, sub, spec, flags, out, stdin_spec=stdin_spec)
        if not C.check(r.code == 0, f"{label} exits 0", r.describe()):
            continue
        data = r.stdout if stdout_mode else open(out, "rb").read()
        C.check(data == first_bytes, f"{label} gives byte-identical output",
                f"{len(data)} bytes vs {len(first_bytes)} bytes\n{r.describe()}")


def check_refusal(binary, base, spec, flags, out_name):
    os.makedirs(base, exist_ok=True)
    out = os.path.join(base, out_name)
    before = set(os.listdir(base))
    r = generate(binary, base, spec, flags, out)
    C.check(r.code == 2, "bf16 is refused with exit code 2", r.describe())
    lines = r.stderr.decode("utf-8", "replace").splitlines()
    C.check(len(lines) == 1 and lines[0].startswith("weightgen: error: "),
            "exactly one stderr line starting 'weightgen: error: '", f"stderr lines: {lines!r}")
    C.check(not os.path.exists(out), "no output file is created", f"{out} exists")
    new = set(os.listdir(base)) - before - {"spec.json"}
    C.check(not new, "no other file is left behind", f"new: {sorted(new)}")


def group_npy(binary, root, dtype):
    fmt = "npy"
    if not allowed(fmt, dtype):
        for t in TENSORS[:1]:
            spec = make_spec(dtype, [dict(t)], with_metadata=False)
            check_refusal(binary, os.path.join(root, fmt, dtype, "refuse"), spec, [], "w.npy")
        return
    RESULTS[(fmt, dtype)] = {}
    for spec_t in TENSORS:  # .npy holds exactly one tensor: one run per tensor
        name = spec_t["name"]
        base = os.path.join(root, fmt, dtype, name)
        os.makedirs(base, exist_ok=True)
        out = os.path.join(base, "w.npy")
        spec = make_spec(dtype, [dict(spec_t)], with_metadata=False)
        r = generate(binary, base, spec, [], out)
        if not C.check(r.code == 0, f"generate {name} exits 0", r.describe()):
            continue
        summary = parse_summary(r.stdout, "stdout", r)
        by_name = check_common_summary(summary, fmt, dtype, [spec_t], "w.npy")
        C.check(sorted(os.listdir(base)) == ["spec.json", "w.npy"],
                f"only w.npy written for {name}", f"dir: {sorted(os.listdir(base))}")
        raw = open(out, "rb").read()
        C.check(raw[:8] == b"\x93NUMPY\x01\x00", f"{name}: NPY magic and version 1.0",
                f"got {raw[:8]!r}")
        a = np.load(out, allow_pickle=False)
        C.check(isinstance(a, np.ndarray), f"np.load({name}) gives an ndarray", f"got {type(a)}")
        check_array(name, a, by_name[name], dtype)
        check_expected_values(name, a, spec_t)
        RESULTS[(fmt, dtype)][name] = a
        check_repeat_and_stdin(binary, base, spec, [], "w.npy", raw, False)


def group_npz(binary, root, dtype, compress):
    fmt = "npz-compress" if compress else "npz"
    flags = ["--compress"] if compress else []
    base = os.path.join(root, fmt, dtype)
    spec = make_spec(dtype, [dict(t) for t in TENSORS])
    if not allowed(fmt, dtype):
        check_refusal(binary, os.path.join(base, "refuse"), spec, flags, "w.npz")
        # a per-tensor bf16 in an otherwise f32 spec is refused too
        mixed = make_spec("f32", [dict(t) for t in TENSORS])
        mixed["tensors"][0]["dtype"] = "bf16"
        check_refusal(binary, os.path.join(base, "refuse-mixed"), mixed, flags, "w.npz")
        return
    os.makedirs(base, exist_ok=True)
    out = os.path.join(base, "w.npz")
    r = generate(binary, base, spec, flags, out)
    C.require(r.code == 0, "generate exits 0", r.describe())
    summary = parse_summary(r.stdout, "stdout", r)
    by_name = check_common_summary(summary, fmt, dtype, TENSORS, "w.npz")
    raw = open(out, "rb").read()

    with zipfile.ZipFile(out) as z:
        C.check(z.testzip() is None, "zip CRCs are valid")
        infos = z.infolist()
        members = [i.filename for i in infos]
        C.check(sorted(members) == sorted(n + ".npy" for n in NAMES),
                "members are named <name>.npy", f"members {members}")
        want = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        comp = {i.filename: i.compress_type for i in infos}
        C.check(all(c == want for c in comp.values()),
                f"members are {'DEFLATED' if compress else 'STORED'}", f"compress_type {comp}")
        dates = {i.filename: i.date_time for i in infos}
        C.check(all(d == (1980, 1, 1, 0, 0, 0) for d in dates.values()),
                "member timestamps are 1980-01-01 00:00:00", f"date_time {dates}")

    RESULTS[(fmt, dtype)] = {}
    with np.load(out, allow_pickle=False) as npz:
        C.check(sorted(npz.files) == sorted(NAMES), "np.load keys are the tensor names",
                f"keys {npz.files}")
        for spec_t in TENSORS:
            name = spec_t["name"]
            if name not in npz.files:
                continue
            a = npz[name]
            check_array(name, a, by_name[name], dtype)
            check_expected_values(name, a, spec_t)
            RESULTS[(fmt, dtype)][name] = a
    check_repeat_and_stdin(binary, base, spec, flags, "w.npz", raw, False)


def check_safetensors_metadata(md, summary, dtype):
    C.require(isinstance(md, dict), "safetensors __metadata__ present", f"got {md!r}")
    C.check(md.get("format") == "pt", "metadata format == 'pt'", f"got {md.get('format')!r}")
    C.check(md.get("weightgen.stream") == STREAM, "metadata weightgen.stream",
            f"got {md.get('weightgen.stream')!r}")
    C.check(md.get("weightgen.seed") == str(SEED), "metadata weightgen.seed == '7'",
            f"got {md.get('weightgen.seed')!r}")
    C.check(md.get("weightgen.version") == summary.get("weightgen"),
            "metadata weightgen.version matches summary",
            f"metadata {md.get('weightgen.version')!r}, summary {summary.get('weightgen')!r}")
    C.check(md.get("weightgen.convention") == summary.get("convention"),
            "metadata weightgen.convention matches summary",
            f"metadata {md.get('weightgen.convention')!r}, summary {summary.get('convention')!r}")
    for k, v in USER_METADATA.items():
        C.check(md.get(k) == v, f"user metadata {k!r} preserved", f"got {md.get(k)!r}")
    try:
        plan = json.loads(md.get("weightgen.plan", ""))
    except ValueError as e:
        C.check(False, "metadata weightgen.plan is JSON", f"{e}: {md.get('weightgen.plan')!r}")
        return
    C.require(isinstance(plan, list), "weightgen.plan is a list", f"got {type(plan)}")
    pnames = [p.get("name") for p in plan]
    C.check(sorted(pnames) == sorted(NAMES), "weightgen.plan lists the tensor names",
            f"plan names {pnames}")
    by_name = {t["name"]: t for t in summary["tensors"]}
    C.check(all(p.get("sha256") == by_name.get(p.get("name"), {}).get("sha256") for p in plan),
            "weightgen.plan entries record the summary's sha256",
            f"plan {[(p.get('name'), p.get('sha256')) for p in plan]}")
    for p in plan:
        n = p.get("name")
        if n in by_name:
            C.check(p.get("shape") == by_name[n]["shape"] and p.get("dtype") == dtype,
                    f"weightgen.plan shape/dtype of {n}", f"plan {p}")


def group_safetensors(binary, root, dtype, stdout_mode):
    fmt = "safetensors-stdout" if stdout_mode else "safetensors"
    flags = ["--format", "safetensors"] if stdout_mode else []
    base = os.path.join(root, fmt, dtype)
    os.makedirs(base, exist_ok=True)
    spec = make_spec(dtype, [dict(t) for t in TENSORS])
    out = "-" if stdout_mode else os.path.join(base, "w.safetensors")
    r = generate(binary, base, spec, flags, out)
    C.require(r.code == 0, "generate exits 0", r.describe())
    if stdout_mode:
        summary = parse_summary(r.stderr, "stderr (output is stdout)", r)
        raw = r.stdout
        C.check(sorted(os.listdir(base)) == ["spec.json"], "no file written when -o -",
                f"dir: {sorted(os.listdir(base))}")
        path = os.path.join(base, "captured.safetensors")
        with open(path, "wb") as f:
            f.write(raw)
    else:
        summary = parse_summary(r.stdout, "stdout", r)
        path = out
        raw = open(path, "rb").read()
    by_name = check_common_summary(summary, fmt, dtype, TENSORS, "-" if stdout_mode else
                                   "w.safetensors")

    n = int.from_bytes(raw[:8], "little") if len(raw) >= 8 else -1
    C.check(len(raw) >= 8 and raw[8:9] == b"{" and (8 + n) % 8 == 0,
            "header starts with '{' and data starts at a multiple of 8", f"N={n}")

    if stdout_mode and dtype != "bf16":
        tensors = st_load_bytes(raw)  # safetensors.numpy.load(bytes) has no BF16
    else:
        tensors = st_load_file(path)
    C.check(sorted(tensors) == sorted(NAMES), "loaded tensor names match", f"got {sorted(tensors)}")
    RESULTS[(fmt, dtype)] = {}
    for spec_t in TENSORS:
        name = spec_t["name"]
        if name not in tensors:
            continue
        a = tensors[name]
        check_array(name, a, by_name[name], dtype)
        check_expected_values(name, a, spec_t)
        RESULTS[(fmt, dtype)][name] = a

    with safe_open(path, framework="np") as f:
        md = f.metadata()
        keys = list(f.keys())
    C.check(sorted(keys) == sorted(NAMES), "safe_open keys match", f"got {keys}")
    check_safetensors_metadata(md, summary, dtype)

    if stdout_mode:
        file_run = RESULTS_RAW.get(("safetensors", dtype))
        if file_run is not None:
            C.check(raw == file_run, "stdout bytes equal the file written with -o PATH",
                    f"{len(raw)} bytes vs {len(file_run)} bytes")
    else:
        RESULTS_RAW[("safetensors", dtype)] = raw
    check_repeat_and_stdin(binary, base, spec, flags, "w.safetensors", raw, stdout_mode)


RESULTS_RAW = {}


def group_mixed_dtypes(binary, root):
    """Per-tensor dtypes in one safetensors file; values equal the single-dtype runs."""
    base = os.path.join(root, "mixed")
    os.makedirs(base, exist_ok=True)
    tensors = [dict(t) for t in TENSORS]
    want = {"fc1.weight": "bf16", "conv1.weight": "f16", "fc1.bias": "f64", "scale": "f32",
            "empty": "bf16"}
    for t in tensors:
        t["dtype"] = want[t["name"]]
    spec = make_spec("f32", tensors)
    out = os.path.join(base, "w.safetensors")
    r = generate(binary, base, spec, [], out)
    C.require(r.code == 0, "generate exits 0", r.describe())
    summary = parse_summary(r.stdout, "stdout", r)
    by_name = {t.get("name"): t for t in summary.get("tensors", [])}
    loaded = st_load_file(out)
    for name, dtype in want.items():
        C.check(by_name.get(name, {}).get("dtype") == dtype, f"summary dtype of {name} is {dtype}",
                f"summary {by_name.get(name)}")
        a = loaded.get(name)
        if a is None:
            C.check(False, f"{name} present", f"keys {sorted(loaded)}")
            continue
        check_array(name, a, by_name[name], dtype)
        ref = RESULTS.get(("safetensors", dtype), {}).get(name)
        if ref is not None:
            C.check(a.tobytes() == ref.tobytes(),
                    f"{name} as {dtype} equals the all-{dtype} file's {name}")


def numpy_stats(a):
    """What `inspect` reports for an array, computed by NumPy in float64."""
    x = np.asarray(a).astype(np.float64).ravel()
    finite = x[np.isfinite(x)]
    return {
        "mean": float(finite.mean()) if finite.size else None,
        "std": float(finite.std()) if finite.size else None,
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "zero_fraction": float((x == 0).sum() / x.size) if x.size else 0.0,
        "nan": int(np.isnan(x).sum()),
        "inf": int(np.isinf(x).sum()),
    }


def load_any(path):
    """name -> array for .npy (named `array`), .npz and .safetensors."""
    if path.endswith(".npy"):
        return {"array": np.load(path)}
    if path.endswith(".npz"):
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    return st_load_file(path)


def check_inspect_numbers(binary, path, cwd):
    r = run(binary, ["inspect", "--json", path], cwd)
    name = os.path.basename(path)
    C.require(r.code == 0, f"inspect --json {name} exits 0", r.describe())
    report = parse_summary(r.stdout, "stdout", r)
    arrays = load_any(path)
    tensors = {t["name"]: t for f in report["files"] for t in f["tensors"]}
    C.check(sorted(tensors) == sorted(arrays), f"{name}: inspect lists the tensors NumPy loads",
            f"inspect {sorted(tensors)}, numpy {sorted(arrays)}")
    for tname, a in arrays.items():
        t = tensors.get(tname)
        if t is None:
            continue
        C.check(t["shape"] == list(a.shape) and t["numel"] == a.size and t["bytes"] == a.nbytes,
                f"{name}:{tname} shape, numel, bytes", f"inspect {t}, numpy {a.shape} {a.nbytes}")
        want = numpy_stats(a)
        got = t["stats"]
        scale = max(abs(want["mean"] or 0.0) + (want["std"] or 0.0), 1e-300)
        ok = (
            got["nan"] == want["nan"] and got["inf"] == want["inf"]
            and got["zero_fraction"] == want["zero_fraction"]
            and (a.size == 0 or (
                got["min"] == want["min"] and got["max"] == want["max"]
                and abs(got["mean"] - want["mean"]) <= 1e-12 * scale
                and abs(got["std"] - want["std"]) <= 1e-9 * max(want["std"], 1e-300)))
        )
        C.check(ok, f"{name}:{tname} statistics equal NumPy's", f"inspect {got}\nnumpy {want}")
        # One std everywhere: the `std` check reports the same population std (printed with
        # 7 significant digits) as the statistics and NumPy's a.std().
        for c in t.get("checks", []):
            if c["test"] == "std":
                shown = float(c["detail"].split()[0])
                C.check(abs(shown - want["std"]) <= 1e-6 * want["std"],
                        f"{name}:{tname} std check shows NumPy's std",
                        f"check {c['detail']}, numpy {want['std']}")


def group_inspect(binary, root):
    """`inspect --json` statistics against NumPy, on fresh outputs and on every fixture;
    `inspect --check` passes on weightgen's own files."""
    base = os.path.join(root, "inspect")
    os.makedirs(base, exist_ok=True)
    paths = []
    for dtype in DTYPES:
        out = os.path.join(base, f"w-{dtype}.safetensors")
        r = generate(binary, base, make_spec(dtype, TENSORS), [], out)
        C.require(r.code == 0, f"generate {dtype} exits 0", r.describe())
        c = run(binary, ["inspect", "--check", out], base)
        C.check(c.code == 0, f"inspect --check passes on {dtype} safetensors", c.describe())
        paths.append(out)
    out = os.path.join(base, "w.npz")
    r = generate(binary, base, make_spec("f16", TENSORS), ["--compress"], out)
    C.require(r.code == 0, "generate npz exits 0", r.describe())
    paths.append(out)
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures")
    for sub in ("golden", "torch"):
        d = os.path.join(fixtures, sub)
        paths += sorted(os.path.join(d, f) for f in os.listdir(d)
                        if f.endswith((".npy", ".npz", ".safetensors")))
    for p in paths:
        check_inspect_numbers(binary, p, base)


def group_cross_format():
    # identical bytes for each (tensor, dtype) across all formats that hold it
    for dtype in DTYPES:
        fmts = [f for f, *_ in FORMATS if (f, dtype) in RESULTS]
        for name in NAMES:
            have = [(f, RESULTS[(f, dtype)][name]) for f in fmts if name in RESULTS[(f, dtype)]]
            if len(have) < 2:
                continue
            f0, a0 = have[0]
            for f, a in have[1:]:
                C.check(a.shape == a0.shape and a.dtype == a0.dtype and a.tobytes() == a0.tobytes(),
                        f"{dtype} {name}: {f} bytes equal {f0} bytes")
    # every format that was expected actually produced results for f32
    for f, *_ in FORMATS:
        C.check(set(RESULTS.get((f, "f32"), {})) == set(NAMES), f"{f} f32 results complete",
                f"got {sorted(RESULTS.get((f, 'f32'), {}))}")

    # f16 / bf16 are the f32 values rounded to nearest even, bit for bit
    for dtype, conv in (("f16", np.float16), ("bf16", ml_dtypes.bfloat16)):
        for f, *_ in FORMATS:
            f32 = RESULTS.get((f, "f32")) or RESULTS.get(("safetensors", "f32"), {})
            got = RESULTS.get((f, dtype))
            if not got:
                continue
            for name in NAMES:
                if name not in got or name not in f32:
                    continue
                want = f32[name].astype(conv)
                a = got[name]
                same = a.shape == want.shape and a.view(np.uint16).tobytes() == \
                    want.view(np.uint16).tobytes()
                detail = ""
                if not same and a.shape == want.shape and a.size:
                    idx = np.flatnonzero(a.view(np.uint16) != want.view(np.uint16))
                    i = idx[0] if idx.size else 0
                    detail = (f"{idx.size} of {a.size} elements differ; first at flat index {i}: "
                              f"f32 {f32[name].ravel()[i]!r}, got {a.ravel()[i]!r}, "
                              f"want {want.ravel()[i]!r}")
                C.check(same, f"{f} {dtype} {name} == f32 values rounded to {dtype}", detail)


# --------------------------------------------------------------------------------------------


# The state dict of the PyTorch model that fixtures/specs/cnn.json describes:
#   nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
#                 nn.Conv2d(16, 32, 3, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
#                 nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(512, 10))
# (names, shapes, dtypes as PyTorch's state_dict() lists them; BatchNorm entries as in
# fixtures/torch/state_dicts.json).
CNN_STATE_DICT = {
    "0.weight": ([16, 3, 3, 3], "float32"),
    "1.weight": ([16], "float32"), "1.bias": ([16], "float32"),
    "1.running_mean": ([16], "float32"), "1.running_var": ([16], "float32"),
    "1.num_batches_tracked": ([], "int64"),
    "3.weight": ([32, 16, 3, 3], "float32"),
    "4.weight": ([32], "float32"), "4.bias": ([32], "float32"),
    "4.running_mean": ([32], "float32"), "4.running_var": ([32], "float32"),
    "4.num_batches_tracked": ([], "int64"),
    "8.weight": ([10, 512], "float32"), "8.bias": ([10], "float32"),
}


def group_layer_specs(binary, root):
    """Layer specs from fixtures/specs load with the expected names, shapes and constants."""
    from safetensors.numpy import load_file
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    work = os.path.join(root, "layers")
    os.makedirs(work, exist_ok=True)
    spec = open(os.path.join(repo, "fixtures", "specs", "cnn.json"), "rb").read()
    out = os.path.join(work, "cnn.safetensors")
    r = run(binary, ["generate", "--spec", "-", "-o", out, "--json"], work, spec)
    C.require(r.code == 0, "cnn spec on stdin generates", r.describe())
    d = load_file(out)
    C.check(set(d) == set(CNN_STATE_DICT), "cnn names equal the PyTorch state dict",
            f"{sorted(d)} vs {sorted(CNN_STATE_DICT)}")
    for name, (shape, dtype) in CNN_STATE_DICT.items():
        if name in d:
            C.check(list(d[name].shape) == shape and str(d[name].dtype) == dtype,
                    f"cnn {name} is {shape} {dtype}", f"{d[name].shape} {d[name].dtype}")
    C.check(all((d[f"{b}.running_var"] == 1).all() and (d[f"{b}.running_mean"] == 0).all()
                and int(d[f"{b}.num_batches_tracked"]) == 0 for b in ("1", "4")),
            "batch norm buffers are ones/zeros/0")
    # The transformer block in bf16: names from the spec, layer norms ones/zeros.
    spec = open(os.path.join(repo, "fixtures", "specs", "transformer_block.json"), "rb").read()
    out = os.path.join(work, "block.safetensors")
    r = run(binary, ["generate", "--spec", "-", "-o", out, "--json"], work, spec)
    C.require(r.code == 0, "transformer spec generates", r.describe())
    summary = json.loads(r.stdout)
    d = load_file(out)
    C.check(sorted(d) == sorted(t["name"] for t in summary["tensors"]),
            "transformer names equal the summary")
    C.check(d["tok_emb.weight"].dtype == ml_dtypes.bfloat16 and d["tok_emb.weight"].shape == (1000, 64),
            "embedding is bf16 [1000, 64]")
    C.check((d["ln_1.weight"].astype(np.float32) == 1).all()
            and (d["ln_2.bias"].astype(np.float32) == 0).all(), "layer norms are ones/zeros")
    for t in summary["tensors"]:
        C.check(le_sha256(d[t["name"]]) == t["sha256"], f"{t['name']} sha256 matches the summary")


# --------------------------------------------------------------------------------------------
# Sharded checkpoints (--max-shard-size)

# Plan order = the spec's tensor order; sizes chosen so that at 20 KB the split has an
# oversize tensor in the middle (its own shard, appended before the shard still filling).
SHARD_TENSORS = [
    {"name": "embed.weight", "shape": [100, 40]},                       # 16000 B f32
    {"name": "layers.0.weight", "shape": [40, 40], "dtype": "bf16"},    # 3200 B
    {"name": "layers.0.bias", "shape": [40], "scheme": "zeros"},        # 160 B
    {"name": "big.weight", "shape": [100, 100]},                        # 40000 B: oversize
    {"name": "layers.1.weight", "shape": [40, 40], "dtype": "f16"},     # 3200 B
    {"name": "empty", "shape": [0, 3], "scheme": "normal", "std": 0.02},
    {"name": "layers.1.scale", "shape": [], "scheme": "constant", "value": 0.5},
    {"name": "head.weight", "shape": [40, 40], "dtype": "f64"},         # 12800 B
    {"name": "tail.weight", "shape": [10, 40]},                         # 1600 B
]
SHARD_MAX = "20KB"
SHARD_MAX_BYTES = 20_000
SHARD_RE = r"model-(\d{5})-of-(\d{5})\.safetensors"


def hf_split(sizes, limit):
    """The split rules of huggingface_hub's split_state_dict_into_shards_factory (greedy in
    order; new shard when current + size > limit; a tensor over the limit alone in a shard
    appended at once), written out independently of the Rust code."""
    shards, current, current_size = [], [], 0
    for i, size in enumerate(sizes):
        if size > limit:
            shards.append([i])
            continue
        if current_size + size > limit:
            shards.append(current)
            current, current_size = [], 0
        current.append(i)
        current_size += size
    if current:
        shards.append(current)
    return shards


def check_index_like_transformers(ckpt, index, loaded):
    """What transformers (get_checkpoint_shard_files, load_state_dict) and huggingface_hub
    (_load_sharded_checkpoint, load_state_dict_from_file) check or rely on when loading a
    sharded safetensors checkpoint from a directory, emulated. `loaded`: shard -> tensors."""
    import re
    files = sorted(os.listdir(ckpt))
    C.check("model.safetensors.index.json" in files, "index named model.safetensors.index.json")
    C.check("model.safetensors" not in files,
            "no model.safetensors beside the index (transformers would load it instead)")
    C.check(set(index) >= {"metadata", "weight_map"}, "index has metadata and weight_map",
            f"keys {sorted(index)}")
    wm = index["weight_map"]
    shard_files = sorted(set(wm.values()))
    present = sorted(f for f in files if re.fullmatch(SHARD_RE, f))
    C.check(shard_files == present, "weight_map values are exactly the shard files present",
            f"index names {shard_files}\ndirectory has {present}")
    for f in shard_files:
        ok = (not os.path.isabs(f) and ".." not in f.replace("\\", "/").split("/")
              and "/" not in f and f.endswith(".safetensors"))
        C.check(ok, f"{f} is a plain relative .safetensors name")
        m = re.fullmatch(SHARD_RE, f)
        C.check(m is not None and int(m.group(2)) == len(shard_files)
                and 1 <= int(m.group(1)) <= len(shard_files),
                f"{f} follows model-%05d-of-%05d with the real shard count")
        C.check(os.path.isfile(os.path.join(ckpt, f)), f"{f} exists")
    owners = {}
    for f, tensors in loaded.items():
        for name in tensors:
            owners.setdefault(name, []).append(f)
    C.check(all(len(v) == 1 for v in owners.values()), "every tensor is in exactly one shard",
            f"{ {k: v for k, v in owners.items() if len(v) != 1} }")
    C.check(sorted(owners) == sorted(wm), "weight_map keys are exactly the tensors in the shards",
            f"index {sorted(wm)}\nshards {sorted(owners)}")
    C.check(all(wm.get(k) == v[0] for k, v in owners.items()),
            "each tensor is in the shard the index names")
    total = sum(a.nbytes for t in loaded.values() for a in t.values())
    C.check(index["metadata"].get("total_size") == total,
            "metadata.total_size is the sum of tensor bytes",
            f"index {index['metadata'].get('total_size')}, shards {total}")


def group_sharded(binary, root):
    base = os.path.join(root, "sharded")
    os.makedirs(base, exist_ok=True)
    spec = make_spec("f32", [dict(t) for t in SHARD_TENSORS])
    r = generate(binary, base, spec, [], os.path.join(base, "whole.safetensors"))
    C.require(r.code == 0, "unsharded generate exits 0", r.describe())
    whole = st_load_file(os.path.join(base, "whole.safetensors"))
    ckpt = os.path.join(base, "ckpt")
    r = generate(binary, base, spec, ["--max-shard-size", SHARD_MAX], ckpt)
    C.require(r.code == 0, "sharded generate exits 0", r.describe())
    summary = parse_summary(r.stdout, "stdout", r)
    index = json.load(open(os.path.join(ckpt, "model.safetensors.index.json")))
    wm = index["weight_map"]

    # The split is huggingface_hub's, over the tensors in spec order.
    sizes = [int(np.prod(t["shape"], dtype=np.int64)) * NUMPY_DTYPE[t.get("dtype", "f32")].itemsize
             for t in SHARD_TENSORS]
    want = hf_split(sizes, SHARD_MAX_BYTES)
    n = len(want)
    C.check(n == 3, "the test model splits into 3 shards", f"{want}")
    C.check(want[0] == [3], "the oversize tensor (4th) has its own shard, numbered first")
    expect_wm = {SHARD_TENSORS[i]["name"]: f"model-{k + 1:05d}-of-{n:05d}.safetensors"
                 for k, idx in enumerate(want) for i in idx}
    C.check(wm == expect_wm, "weight_map equals huggingface_hub's split",
            f"got {wm}\nwant {expect_wm}")
    C.check(list(wm) == sorted(wm), "weight_map keys are sorted")
    files = [os.path.join(ckpt, f"model-{k:05d}-of-{n:05d}.safetensors") for k in range(1, n + 1)]
    C.check(summary.get("outputs") == files + [os.path.join(ckpt, "model.safetensors.index.json")],
            "--json outputs list the shards, then the index", f"{summary.get('outputs')}")

    # Every shard loads alone; together they are the unsharded file, tensor by tensor.
    loaded = {}
    for path in files:
        f = os.path.basename(path)
        loaded[f] = st_load_file(path)
        with safe_open(path, framework="np") as h:
            md = h.metadata() or {}
        C.check(md.get("format") == "pt", f"{f} metadata format is pt", f"{md.get('format')!r}")
        plan = json.loads(md.get("weightgen.plan", "[]"))
        C.check(sorted(p["name"] for p in plan) == sorted(loaded[f]),
                f"{f} weightgen.plan lists exactly its tensors")
    union = {k: v for t in loaded.values() for k, v in t.items()}
    C.check(sorted(union) == sorted(whole), "the shards hold exactly the unsharded tensors",
            f"shards {sorted(union)}\nwhole {sorted(whole)}")
    for name, a in whole.items():
        b = union.get(name)
        C.check(b is not None and b.dtype == a.dtype and b.shape == a.shape
                and le_sha256(a) == le_sha256(b) and np.array_equal(a, b, equal_nan=True),
                f"{name}: same dtype, shape and bytes in the shards as unsharded")
    check_index_like_transformers(ckpt, index, loaded)

    # One process per shard, then the index: the same files, byte for byte.
    parts = os.path.join(base, "parts")
    for k in range(1, n + 1):
        r = generate(binary, base, spec, ["--max-shard-size", SHARD_MAX, "--shard", str(k)], parts)
        C.check(r.code == 0, f"--shard {k} exits 0", r.describe())
    r = generate(binary, base, spec, ["--max-shard-size", SHARD_MAX, "--index-only"], parts)
    C.check(r.code == 0, "--index-only exits 0", r.describe())
    digest = lambda d: {f: hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
                        for f in sorted(os.listdir(d))}
    C.check(digest(parts) == digest(ckpt), "shards written one per process equal one run's")


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    binary = os.path.abspath(argv[1])
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"interop: error: {binary} is not an executable file", file=sys.stderr)
        return 2
    print(f"interop: {binary}; numpy {np.__version__}, ml_dtypes {ml_dtypes.__version__}",
          flush=True)

    with tempfile.TemporaryDirectory(prefix="weightgen-interop-") as root:
        for dtype in DTYPES:
            C.run_group(f"npy/{dtype}", group_npy, binary, root, dtype)
            C.run_group(f"npz/{dtype}", group_npz, binary, root, dtype, False)
            C.run_group(f"npz-compress/{dtype}", group_npz, binary, root, dtype, True)
            C.run_group(f"safetensors/{dtype}", group_safetensors, binary, root, dtype, False)
            C.run_group(f"safetensors-stdout/{dtype}", group_safetensors, binary, root, dtype,
                        True)
        C.run_group("safetensors/mixed-dtypes", group_mixed_dtypes, binary, root)
        C.run_group("cross-format", group_cross_format)
        C.run_group("layer-specs", group_layer_specs, binary, root)
        C.run_group("inspect", group_inspect, binary, root)
        C.run_group("sharded", group_sharded, binary, root)

    total = C.passed + len(C.failed)
    if C.failed:
        print(f"interop: FAILED: {len(C.failed)} of {total} checks failed", flush=True)
        for group, name, _ in C.failed:
            print(f"  [{group}] {name}")
        return 1
    print(f"interop: ok: all {total} checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
