"""Writes the Hugging Face reference fixtures in fixtures/hf/ (make hf-fixtures).

Usage: python make_fixtures.py OUT_DIR   (OUT_DIR is fixtures/hf; run with target/venv-hf)

For every tiny case below: torch.manual_seed(0); Auto*.from_config(AutoConfig.from_pretrained(dir
holding input_config.json)); save_pretrained; then record the config files, the saved tensor list,
the SHA-256 of each tensor's bytes and the RNG draw order (draws.json). The draw order is recorded
by wrapping the torch ops that write parameters, and it is then proven: replaying draws.json with
torch ops on fresh tensors after torch.manual_seed(0) must give every saved tensor bit for bit and
leave the generator in the same state. For real-size configs only names, shapes and dtypes are
recorded (meta device). defaults.json holds each model_type's config class defaults.
"""
import hashlib, json, math, os, shutil, struct, sys, tempfile
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else "fixtures/hf"
# model.safetensors is kept (committed) for the 16-bit cases only, all under 200 KB; the others
# are pinned by sha256.json
def keep_safetensors(cfg, size):
    return cfg.get("dtype") in ("bfloat16", "float16") and size < 200 * 1024

# --------------------------------------------------------------------------------------------
# Instrumentation. Installed before transformers is imported, so that transformers' own copies
# of the torch.nn.init functions (transformers.initialization.TORCH_INIT_FUNCTIONS) are ours.
# --------------------------------------------------------------------------------------------
_orig_tensor = {}
_orig_init = {}
_orig_fns = {}
REC = None            # list of raw records while recording, else None
_registered = {}      # storage ptr -> list of (module, attr, tensor, kind)
_keep = []            # strong refs: storages stay alive, so pointers are never reused
_via = []             # stack of (init fn name, args) we are inside
_phase = ["construct"]
_cur_module = [None]  # module whose _init_weights is running
COMPOSITE = {"trunc_normal_", "orthogonal_", "sparse_", "eye_", "dirac_"}
RNG_METHODS = ["uniform_", "normal_", "random_", "bernoulli_", "exponential_", "geometric_",
               "log_normal_", "cauchy_"]
WRITE_METHODS = ["zero_", "fill_", "copy_"]
RNG_FUNCS = ["rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial",
             "rand_like", "randn_like", "randint_like", "poisson"]
INIT_FUNCS = ["uniform_", "normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
              "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
              "trunc_normal_", "orthogonal_", "sparse_"]


def _sptr(t):
    try:
        if t.device.type != "cpu" or t.numel() == 0:
            return None
        return t.untyped_storage().data_ptr()
    except Exception:
        return None


def _num(x):
    if isinstance(x, torch.Tensor):
        return None
    if isinstance(x, (bool, int, float)) or x is None or isinstance(x, str):
        return x
    return repr(x)


def _record(op, t, args):
    if REC is None:
        return
    if _via and _via[0][0] in COMPOSITE and op not in _via[0][0]:
        return  # inner steps of a composite init are replayed by calling the composite itself
    # the storage is identified now: a later `param.data = ...` (weight tying) can swap it
    _keep.append(t.untyped_storage())
    REC.append({"op": op, "sptr": _sptr(t), "shape": list(t.shape), "stride": list(t.stride()),
                "offset": t.storage_offset(), "dtype": t.dtype, "numel": t.numel(), "args": args,
                "via": list(_via), "phase": _phase[0], "module": _cur_module[0]})


def _wrap_method(name):
    orig = getattr(torch.Tensor, name)
    _orig_tensor[name] = orig

    def w(self, *a, **k):
        if REC is not None and (not _via or _via[0][0] not in COMPOSITE):
            if name in RNG_METHODS or _sptr(self) in _registered:
                args = {}
                if name == "uniform_":
                    args = {"from": a[0] if len(a) > 0 else k.get("from", 0.0), "to": a[1] if len(a) > 1 else k.get("to", 1.0)}
                elif name == "normal_":
                    args = {"mean": a[0] if len(a) > 0 else k.get("mean", 0.0), "std": a[1] if len(a) > 1 else k.get("std", 1.0)}
                elif name == "fill_":
                    v = a[0] if a else k.get("value")
                    args = {"value": float(v) if isinstance(v, torch.Tensor) else v}
                elif name == "copy_":
                    src = a[0] if a else k.get("src")
                    args = {"src_dtype": str(src.dtype).replace("torch.", ""), "src": src.detach().to("cpu").clone()}
                elif a or k:
                    args = {"args": [_num(x) for x in a], "kwargs": {kk: _num(v) for kk, v in k.items()}}
                if k.get("generator") is not None:
                    raise RuntimeError("explicit generator in an init draw")
                _record(name, self, args)
        return orig(self, *a, **k)
    setattr(torch.Tensor, name, w)


def _wrap_init(name):
    orig = getattr(torch.nn.init, name)
    _orig_init[name] = orig

    def w(tensor, *a, **k):
        import inspect
        try:
            bound = inspect.signature(orig).bind(tensor, *a, **k)
            bound.apply_defaults()
            args = {kk: _num(v) for kk, v in bound.arguments.items() if kk not in ("tensor", "generator")}
        except TypeError:
            args = {}
        if name in COMPOSITE and REC is not None and not _via:
            _record(name, tensor, dict(args))
        _via.append((name, args))
        try:
            return orig(tensor, *a, **k)
        finally:
            _via.pop()
    w.__name__ = name
    setattr(torch.nn.init, name, w)


def _wrap_fn(name):
    orig = getattr(torch, name)
    _orig_fns[name] = orig

    def w(*a, **k):
        if REC is not None and not _via:
            REC.append({"op": "torch." + name, "tensor": None, "args": {"args": [repr(x) for x in a]},
                        "via": [], "phase": _phase[0], "module": _cur_module[0], "free": True})
        return orig(*a, **k)
    setattr(torch, name, w)


for _n in RNG_METHODS + WRITE_METHODS:
    _wrap_method(_n)
for _n in INIT_FUNCS:
    _wrap_init(_n)
for _n in RNG_FUNCS:
    _wrap_fn(_n)


def _on_register(kind):
    def hook(module, name, t):
        if REC is not None and t is not None:
            p = _sptr(t)
            if p is not None:
                _registered.setdefault(p, []).append(
                    (module, name, kind, {"shape": list(t.shape), "stride": list(t.stride()),
                                          "offset": t.storage_offset(), "dtype": t.dtype}))
                _keep.append(t.untyped_storage()); _keep.append(module)
        return None
    return hook


torch.nn.modules.module.register_module_parameter_registration_hook(_on_register("parameter"))
torch.nn.modules.module.register_module_buffer_registration_hook(_on_register("buffer"))

import numpy  # noqa: E402
import safetensors  # noqa: E402
import transformers  # noqa: E402
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM,  # noqa: E402
                          AutoModelForMaskedLM, AutoModelForSeq2SeqLM)
from transformers.modeling_utils import PreTrainedModel  # noqa: E402

_orig_initialize_weights = PreTrainedModel.initialize_weights
_orig_initialize_one = PreTrainedModel._initialize_weights


def _initialize_weights(self):
    prev = _phase[0]
    _phase[0] = "init_weights:" + type(self).__name__
    try:
        return _orig_initialize_weights(self)
    finally:
        _phase[0] = prev


def _initialize_one(self, module, *a, **k):
    prev = _cur_module[0]
    _cur_module[0] = module
    _keep.append(module)
    try:
        return _orig_initialize_one(self, module, *a, **k)
    finally:
        _cur_module[0] = prev


_orig_adjust_bias = PreTrainedModel._adjust_bias


def _adjust_bias(self, output_embeddings, input_embeddings):
    """tie_weights pads the output bias (`bias.data = F.pad(bias.data, ...)`): a new storage holding
    a copy. Recorded as op "copy_from" so that the replay follows the saved tensor to it."""
    b = getattr(output_embeddings, "bias", None)
    before = _sptr(b) if b is not None else None
    out = _orig_adjust_bias(self, output_embeddings, input_embeddings)
    b = getattr(output_embeddings, "bias", None)
    if REC is not None and b is not None and before is not None and _sptr(b) != before:
        _keep.append(b.untyped_storage())
        REC.append({"op": "copy_from", "sptr": _sptr(b), "shape": list(b.shape), "stride": list(b.stride()),
                    "offset": b.storage_offset(), "dtype": b.dtype, "numel": b.numel(),
                    "args": {"from_sptr": before}, "via": [("tie_weights._adjust_bias", {})],
                    "phase": "tie_weights", "module": None})
    return out


PreTrainedModel._adjust_bias = _adjust_bias
PreTrainedModel.initialize_weights = _initialize_weights
PreTrainedModel._initialize_weights = _initialize_one

AUTO = {"causal": AutoModelForCausalLM, "base": AutoModel, "mlm": AutoModelForMaskedLM,
        "seq2seq": AutoModelForSeq2SeqLM}
DT = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ST_DT = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64,
         "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}

# --------------------------------------------------------------------------------------------
# Tiny cases: (name, auto class, config dict). Every one is written in float32 and bfloat16
# (name suffix _f32 / _bf16), unless its dict already names a dtype.
# --------------------------------------------------------------------------------------------
TINY = [
    ("llama", "causal", {  # untied, GQA, hidden 40 and vocab 301: numel % 16 != 0
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 301,
        "hidden_size": 40, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "rope_theta": 500000.0, "bos_token_id": 1, "eos_token_id": 2}),
    ("llama_bias", "causal", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "max_position_embeddings": 128, "attention_bias": True,
        "mlp_bias": True, "pad_token_id": 3, "tie_word_embeddings": False, "bos_token_id": 1,
        "eos_token_id": 2}),
    ("mistral", "causal", {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": 300,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 128, "sliding_window": 64,
        "tie_word_embeddings": False, "rope_theta": 1000000.0}),
    ("qwen2_tied", "causal", {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 301,
        "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 128, "tie_word_embeddings": True,
        "rope_theta": 1000000.0, "bos_token_id": 1, "eos_token_id": 2}),
    ("qwen2_untied", "causal", {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 320,
        "hidden_size": 40, "intermediate_size": 72, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 128, "tie_word_embeddings": False}),
    ("qwen3", "causal", {  # tie_word_embeddings left to the config class default
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 301,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 128}),
    ("gemma", "causal", {
        "architectures": ["GemmaForCausalLM"], "model_type": "gemma", "vocab_size": 256,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 128, "pad_token_id": 0,
        "bos_token_id": 2, "eos_token_id": 1}),
    ("gemma2", "causal", {
        "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": 301,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 128,
        "sliding_window": 64, "query_pre_attn_scalar": 16, "pad_token_id": 0}),
    ("phi3", "causal", {
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "vocab_size": 320,
        "hidden_size": 40, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "max_position_embeddings": 128, "original_max_position_embeddings": 128,
        "pad_token_id": 319, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False}),
    ("gpt2", "causal", {  # n_inner unset: 4 * n_embd
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 301, "n_embd": 40,
        "n_layer": 2, "n_head": 4, "n_positions": 64, "bos_token_id": 300, "eos_token_id": 300}),
    ("gpt2_ninner", "causal", {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 256, "n_embd": 32,
        "n_layer": 2, "n_head": 4, "n_positions": 64, "n_inner": 72, "bos_token_id": 255,
        "eos_token_id": 255}),
    ("bert", "base", {  # BertModel with pooler
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 301, "hidden_size": 40,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
        "max_position_embeddings": 64, "type_vocab_size": 2, "pad_token_id": 0}),
    ("bert_mlm", "mlm", {
        "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 256, "hidden_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
        "max_position_embeddings": 64, "type_vocab_size": 2, "pad_token_id": 0}),
    ("t5", "seq2seq", {  # relu, tied (class default)
        "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": 301,
        "d_model": 40, "d_kv": 10, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2,
        "num_heads": 4, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
        "feed_forward_proj": "relu", "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}),
    ("t5_gated", "seq2seq", {  # t5 v1.1 style (5.24 keeps lm_head tied: tie_word_embeddings false only means scale_decoder_outputs false)
        "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": 256,
        "d_model": 32, "d_kv": 8, "d_ff": 48, "num_layers": 2, "num_decoder_layers": 2,
        "num_heads": 4, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
        "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "pad_token_id": 0,
        "eos_token_id": 1, "decoder_start_token_id": 0}),
]
EXTRA = [("llama_f16", "causal", dict(TINY[0][2], dtype="float16"))]


def cases():
    out = []
    for name, auto, cfg in TINY:
        out.append((f"tiny_{name}_f32", auto, dict(cfg, dtype="float32")))
        out.append((f"tiny_{name}_bf16", auto, dict(cfg, dtype="bfloat16")))
    for name, auto, cfg in EXTRA:
        out.append((f"tiny_{name}", auto, cfg))
    return out


# --------------------------------------------------------------------------------------------
# Real-size configs (public hyperparameters), recorded on the meta device.
# --------------------------------------------------------------------------------------------
META = [
    ("llama3_8b", "causal", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256,
        "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False,
        "bos_token_id": 128000, "eos_token_id": 128001, "dtype": "bfloat16"}),
    ("llama2_70b", "causal", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
        "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
        "num_attention_heads": 64, "num_key_value_heads": 8, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
        "dtype": "float16"}),
    ("tinyllama_1_1b", "causal", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
        "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
        "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
        "dtype": "float32"}),
    ("mistral_7b", "causal", {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": 32000,
        "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 4096,
        "tie_word_embeddings": False, "dtype": "bfloat16"}),
    ("qwen2_7b", "causal", {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 152064,
        "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
        "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": False,
        "dtype": "bfloat16"}),
    ("qwen3_8b", "causal", {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 151936,
        "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
        "max_position_embeddings": 40960, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": False, "dtype": "bfloat16"}),
    ("gemma_2b", "causal", {  # the GemmaConfig defaults are gemma-7b's; gemma-2b's published values
        "architectures": ["GemmaForCausalLM"], "model_type": "gemma", "vocab_size": 256000,
        "hidden_size": 2048, "intermediate_size": 16384, "num_hidden_layers": 18,
        "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256,
        "max_position_embeddings": 8192, "dtype": "bfloat16"}),
    ("gemma_defaults", "causal", {"architectures": ["GemmaForCausalLM"], "model_type": "gemma"}),
    ("gemma2_9b", "causal", {
        "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": 256000,
        "hidden_size": 3584, "intermediate_size": 14336, "num_hidden_layers": 42,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
        "max_position_embeddings": 8192, "sliding_window": 4096, "query_pre_attn_scalar": 256,
        "dtype": "bfloat16"}),
    ("phi3_mini", "causal", {
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "vocab_size": 32064,
        "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
        "original_max_position_embeddings": 4096, "pad_token_id": 32000, "bos_token_id": 1,
        "eos_token_id": 32000, "tie_word_embeddings": False, "dtype": "bfloat16"}),
    ("gpt2_small", "causal", {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}),
    ("bert_base_uncased", "base", {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 30522,
        "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
        "pad_token_id": 0}),
    ("bert_base_uncased_mlm", "mlm", {
        "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 30522,
        "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
        "pad_token_id": 0}),
    ("t5_small", "seq2seq", {
        "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": 32128,
        "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_heads": 8,
        "relative_attention_num_buckets": 32, "feed_forward_proj": "relu", "pad_token_id": 0,
        "eos_token_id": 1, "decoder_start_token_id": 0}),
]

MODEL_TYPES = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "gpt2", "bert", "t5"]


def _compact(obj, depth):
    """JSON with one line per list item below the top levels (small diffs, readable files)."""
    pad = " " * depth
    if isinstance(obj, dict) and depth < 2 and obj:
        items = [f'{pad} {json.dumps(k)}: {_compact(v, depth + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and any(isinstance(x, (dict, list)) for x in obj):
        items = [pad + " " + json.dumps(x) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj)


def jdump(path, obj):
    with open(path, "w") as f:
        f.write(_compact(obj, 0) + "\n")


def read_safetensors(path):
    """(header dict without __metadata__, metadata, data start) of a .safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    meta = hdr.pop("__metadata__", None)
    return hdr, meta, 8 + n


def saved_tensors(d):
    """[(name, dtype, shape, file, data bytes)] of a saved checkpoint dir, in file then data order."""
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        files = sorted(set(json.load(open(idx))["weight_map"].values()))
    out = []
    for fn in files:
        hdr, _, start = read_safetensors(os.path.join(d, fn))
        raw = open(os.path.join(d, fn), "rb").read()
        for name, e in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            a, b = e["data_offsets"]
            out.append((name, e["dtype"], e["shape"], fn, raw[start + a:start + b]))
    return out


def from_bytes(dtype, shape, data):
    t = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
    return t.view(ST_DT[dtype]).reshape(shape)


def build(auto, cfg_dir):
    cfg = AutoConfig.from_pretrained(cfg_dir)
    return AUTO[auto].from_config(cfg), cfg


def tied_keys(model):
    return set(getattr(model, "all_tied_weights_keys", {}) or {})


def expected_saved_keys(model):
    """save_pretrained's keys: state_dict keys minus the tied ones (non-persistent buffers are not
    in the state dict at all)."""
    sd = model.state_dict()
    return [k for k in sd if k not in tied_keys(model)]


def record_draws(auto, cfg_dir):
    """Builds the model from seed 0 while recording; returns (model, draws json, rng state)."""
    global REC
    _registered.clear(); _keep.clear()
    REC = []
    try:
        torch.manual_seed(0)
        model, cfg = build(auto, cfg_dir)
    finally:
        raw, REC = REC, None
    state = torch.get_rng_state()
    # final names of every storage (tied parameters share one)
    final = {}
    for n, p in list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False)):
        sp = _sptr(p)
        if sp is not None:
            final.setdefault(sp, []).append(n)
    modname = {id(m): n for n, m in model.named_modules(remove_duplicate=False)}
    saved = set(expected_saved_keys(model))
    owner = dict(model.named_parameters(remove_duplicate=False))
    owner.update(dict(model.named_buffers(remove_duplicate=False)))
    tensors, tid_of, draws = [], {}, []
    for r in raw:
        if r.get("free"):
            draws.append({"i": len(draws), "op": r["op"], "args": r["args"], "phase": r["phase"], "tensor": None})
            continue
        sp = r["sptr"]
        if sp not in tid_of:
            names = final.get(sp, [])
            regs = _registered.get(sp, [])
            if names:
                t0 = owner[names[0]]
                base = {"shape": list(t0.shape), "stride": list(t0.stride()), "offset": t0.storage_offset(), "dtype": t0.dtype}
                status = "final"
            elif regs:
                base = regs[0][3]
                status = "replaced"
            else:
                base = {k: r[k] for k in ("shape", "stride", "offset", "dtype")}
                status = "unregistered"
            reg_as = None
            if regs:
                m, attr, kind, _ = regs[0]
                mn = modname.get(id(m))
                reg_as = {"name": (f"{mn}.{attr}" if mn else f"<{type(m).__name__}>.{attr}"),
                          "kind": kind, "module_class": type(m).__name__}
            tid_of[sp] = len(tensors)
            tensors.append({"id": len(tensors), "names": names,
                            "saved_as": [n for n in names if n in saved],
                            "status": status, "registered_as": reg_as,
                            "shape": base["shape"], "dtype": str(base["dtype"]).replace("torch.", ""),
                            "numel": math.prod(base["shape"]), "_base": base})
        e = tensors[tid_of[sp]]
        b = e["_base"]
        d = {"i": len(draws), "op": r["op"], "tensor": e["id"],
             "name": (e["names"][0] if e["names"] else (e["registered_as"] or {}).get("name")),
             "saved": bool(e["saved_as"]),
             "args": {k: v for k, v in r["args"].items() if k != "src"},
             "numel": r["numel"], "dtype": str(r["dtype"]).replace("torch.", ""), "phase": r["phase"]}
        if r["via"] and (r["via"][0][0] != r["op"] or r["via"][0][0] in COMPOSITE):
            d["via"] = {"fn": r["via"][0][0], **r["via"][0][1]}
        if r["module"] is not None:
            # the module whose _init_weights made this call (named only when it does not own the tensor)
            im = modname.get(id(r["module"]), "<" + type(r["module"]).__name__ + ">")
            if not (d["name"] or "").startswith(im + ".") or "." in (d["name"] or "")[len(im) + 1:]:
                d["init_module"] = im
            d["init_module_class"] = type(r["module"]).__name__
        if r["dtype"] != b["dtype"]:
            raise RuntimeError(f"op on a storage through another dtype: {d}")
        if not (r["shape"] == b["shape"] and r["stride"] == b["stride"] and r["offset"] == b["offset"]):
            d["view"] = {"shape": r["shape"], "stride": r["stride"], "offset": r["offset"] - b["offset"]}
        if r["op"] == "copy_from":
            src_id = tid_of[r["args"]["from_sptr"]]
            d["args"] = {"from_tensor": src_id, "from_name": tensors[src_id]["names"][0] if tensors[src_id]["names"]
                         else (tensors[src_id]["registered_as"] or {}).get("name")}
        if r["op"] == "copy_":
            src = r["args"]["src"]
            d["_src"] = src
            if src.numel() <= 64:
                d["args"]["values"] = src.to(torch.float64).flatten().tolist() if src.is_floating_point() else src.flatten().tolist()
        draws.append(d)
    return model, {"tensors": tensors, "draws": draws}, state


def replay(dr, saved, rng_after):
    """Applies the draws with torch ops on fresh tensors after manual_seed(0); checks every saved
    tensor's bytes and the final generator state. Returns a list of problems."""
    probs = []
    torch.manual_seed(0)
    bufs = {}
    for e in dr["tensors"]:
        t = torch.empty(e["shape"], dtype=getattr(torch, e["dtype"]))
        if t.is_floating_point():
            _orig_tensor["fill_"](t, float("nan"))
        bufs[e["id"]] = t
    for d in dr["draws"]:
        if d["tensor"] is None:
            probs.append(f"free RNG call {d['op']} cannot be replayed")
            continue
        t = bufs[d["tensor"]]
        if "view" in d:  # offsets are relative to the tensor's own start
            assert t.storage_offset() == 0
            v = d["view"]
            t = t.as_strided(v["shape"], v["stride"], v["offset"])
        a = d["args"]
        op = d["op"]
        if op == "uniform_":
            _orig_tensor["uniform_"](t, a["from"], a["to"])
        elif op == "normal_":
            _orig_tensor["normal_"](t, a["mean"], a["std"])
        elif op == "zero_":
            _orig_tensor["zero_"](t)
        elif op == "fill_":
            _orig_tensor["fill_"](t, a["value"])
        elif op == "copy_":
            _orig_tensor["copy_"](t, d["_src"])
        elif op == "copy_from":
            src = bufs[a["from_tensor"]]
            assert src.shape == t.shape, "padded bias copies are not replayed"
            _orig_tensor["copy_"](t, src)
        elif op in COMPOSITE:
            _orig_init[op](t, **a)
        else:
            probs.append(f"cannot replay {op}")
    for e in dr["tensors"]:
        for n in e["saved_as"]:
            dt, shape, data = saved[n]
            ref = from_bytes(dt, shape, data)
            got = bufs[e["id"]]
            if got.dtype != ref.dtype or list(got.shape) != list(ref.shape) or got.contiguous().view(torch.uint8).flatten().tolist() != ref.contiguous().view(torch.uint8).flatten().tolist():
                probs.append(f"replay differs: {n}")
    covered = {n for e in dr["tensors"] for n in e["saved_as"]}
    for n in saved:
        if n not in covered:
            probs.append(f"saved tensor never written by a recorded op: {n}")
    if not torch.equal(torch.get_rng_state(), rng_after):
        probs.append("generator state after replay differs")
    return probs


def clean_draws(dr):
    for e in dr["tensors"]:
        e.pop("_base", None)
    for d in dr["draws"]:
        d.pop("_src", None)
    return dr


def do_tiny(name, auto, cfg, summary):
    cdir = os.path.join(OUT, name)
    if os.path.isdir(cdir):
        shutil.rmtree(cdir)
    os.makedirs(cdir)
    jdump(os.path.join(cdir, "input_config.json"), cfg)
    tmp = tempfile.mkdtemp()
    try:
        shutil.copy(os.path.join(cdir, "input_config.json"), os.path.join(tmp, "config.json"))
        model, dr, rng_after = record_draws(auto, tmp)
        want = DT[cfg.get("dtype", "float32")]
        bad_dt = [n for n, p in model.named_parameters() if p.dtype != want]
        assert not bad_dt, f"{name}: params not created in {want}: {bad_dt[:3]}"
        # an unrecorded plain build from the same seed gives the same tensors (the recording is inert)
        torch.manual_seed(0)
        plain, _ = build(auto, tmp)
        for (k, v), (k2, v2) in zip(model.state_dict().items(), plain.state_dict().items()):
            assert k == k2 and torch.equal(v, v2), f"{name}: recording changed {k}"
        out = os.path.join(tmp, "saved")
        model.save_pretrained(out)
        files = sorted(os.listdir(out))
        st = saved_tensors(out)
        names = [s[0] for s in st]
        exp = expected_saved_keys(model)
        assert sorted(names) == sorted(exp), f"{name}: saved {sorted(set(names) ^ set(exp))}"
        sd = model.state_dict()
        for n, dt, shape, fn, data in st:
            ref = sd[n].contiguous()
            assert ST_DT[dt] == ref.dtype and list(ref.shape) == shape
            assert ref.view(torch.uint8).numpy().tobytes() == data, f"{name}: {n} bytes differ from the state dict"
        saved = {n: (dt, shape, data) for n, dt, shape, fn, data in st}
        probs = replay(dr, saved, rng_after)
        assert not probs, f"{name}: draws.json replay failed: {probs[:5]}"
        for f in ("config.json", "generation_config.json"):
            if os.path.exists(os.path.join(out, f)):
                shutil.copy(os.path.join(out, f), os.path.join(cdir, f))
        dropped = [k for k in model.state_dict(keep_vars=True) if k not in names]
        jdump(os.path.join(cdir, "keys.json"), {
            "files": [f for f in files if f.endswith(".safetensors") or f.endswith(".index.json")],
            "saved_order": [{"name": n, "shape": shape, "dtype": dt, "file": fn} for n, dt, shape, fn, _ in st],
            "sorted_names": sorted(names),
            "dropped_from_state_dict": {k: model.all_tied_weights_keys.get(k, "?") for k in dropped},
            "non_persistent_buffers": sorted(n for n, _ in model.named_buffers() if n not in sd),
            "num_params": sum(math.prod(shape) for _, _, shape, _, _ in st),
            "safetensors_metadata": read_safetensors(os.path.join(out, "model.safetensors"))[1],
        })
        jdump(os.path.join(cdir, "sha256.json"), {n: hashlib.sha256(data).hexdigest() for n, _, _, _, data in sorted(st)})
        clean_draws(dr)
        dr = {"case": name, "seed": 0, "auto_class": AUTO[auto].__name__, "model_class": type(model).__name__,
              "note": "replayed exactly by make_fixtures.py (manual_seed(0), ops in this order on fresh tensors)",
              **dr}
        jdump(os.path.join(cdir, "draws.json"), dr)
        size = os.path.getsize(os.path.join(out, "model.safetensors"))
        if keep_safetensors(cfg, size):
            shutil.copy(os.path.join(out, "model.safetensors"), os.path.join(cdir, "model.safetensors"))
        nparam = sum(math.prod(shape) for _, _, shape, _, _ in st)
        summary[name] = {"model_class": type(model).__name__, "num_params": nparam,
                         "num_tensors": len(st), "draws": len(dr["draws"]),
                         "safetensors_bytes": size, "safetensors_committed": keep_safetensors(cfg, size),
                         "replay_exact": True}
        print(f"{name}: {type(model).__name__} {nparam} params, {len(st)} tensors, {len(dr['draws'])} draws, replay exact", flush=True)
    finally:
        shutil.rmtree(tmp)


def do_meta(name, auto, cfg, summary, tiny_rule_ok):
    tmp = tempfile.mkdtemp()
    try:
        jdump(os.path.join(tmp, "config.json"), cfg)
        c = AutoConfig.from_pretrained(tmp)
        with torch.device("meta"):
            model = AUTO[auto].from_config(c)
        sd = model.state_dict()
        keys = expected_saved_keys(model)
        ts = [{"name": k, "shape": list(sd[k].shape), "dtype": str(sd[k].dtype).replace("torch.", "")} for k in keys]
        n = sum(math.prod(t["shape"]) for t in ts)
        jdump(os.path.join(OUT, "meta", name + ".json"), {
            "name": name, "input_config": cfg, "auto_class": AUTO[auto].__name__,
            "model_class": type(model).__name__, "num_params": n,
            "tied_dropped": sorted(k for k in sd if k in tied_keys(model)),
            "rule": "state_dict keys minus tied keys (checked against save_pretrained on every tiny case)",
            "tensors": ts})
        summary[name] = {"model_class": type(model).__name__, "num_params": n, "num_tensors": len(ts)}
        print(f"meta {name}: {type(model).__name__} {n:,} params, {len(ts)} tensors", flush=True)
    finally:
        shutil.rmtree(tmp)


def do_defaults():
    fields = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "head_dim", "tie_word_embeddings", "pad_token_id", "bos_token_id",
              "eos_token_id", "initializer_range", "initializer_factor", "attention_bias", "mlp_bias",
              "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "max_position_embeddings",
              "hidden_act", "rope_theta", "rope_parameters", "sliding_window", "query_pre_attn_scalar",
              "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "activation_function",
              "type_vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers",
              "num_heads", "relative_attention_num_buckets", "relative_attention_max_distance",
              "feed_forward_proj", "decoder_start_token_id", "is_encoder_decoder", "dtype"]
    out = {}
    for mt in MODEL_TYPES:
        c = AutoConfig.for_model(mt)
        d = c.to_dict()
        rec = {"config_class": type(c).__name__, "fields": {}, "attributes": {}, "attribute_map": dict(c.attribute_map)}
        for f in fields:
            if f in d:
                rec["fields"][f] = d[f]
            elif hasattr(c, f):
                v = getattr(c, f)
                rec["attributes"][f] = v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else repr(v)
        rec["to_dict"] = json.loads(c.to_json_string(use_diff=False))
        out[mt] = rec
    jdump(os.path.join(OUT, "defaults.json"), {
        "note": "AutoConfig.for_model(model_type) with no arguments; 'fields' are keys of to_dict(), "
                "'attributes' are attributes that to_dict() does not hold (aliases, derived values); "
                "to_dict is the whole serialised default config",
        "transformers": transformers.__version__, "model_types": out})


def main():
    only = os.environ.get("HF_FIXTURES_ONLY")
    os.makedirs(os.path.join(OUT, "meta"), exist_ok=True)
    summary = {"tiny": {}, "meta": {}}
    for name, auto, cfg in cases():
        if only and only not in name:
            continue
        do_tiny(name, auto, cfg, summary["tiny"])
    for name, auto, cfg in META:
        if only and only not in name:
            continue
        do_meta(name, auto, cfg, summary["meta"], True)
    if not only:
        do_defaults()
        jdump(os.path.join(OUT, "versions.json"), {
            "python": sys.version.split()[0], "torch": torch.__version__.split("+")[0],
            "torch_full": torch.__version__, "transformers": transformers.__version__,
            "safetensors": safetensors.__version__, "numpy": numpy.__version__,
            "generator": "tests/hf_verify/make_fixtures.py"})
        jdump(os.path.join(OUT, "cases.json"), summary)


if __name__ == "__main__":
    main()
