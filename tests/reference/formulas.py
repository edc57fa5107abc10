#!/usr/bin/env python3
"""Independent reference for weightgen's initialisation *parameters*.

Transcribes, operation for operation, the formulas that PyTorch, Keras 3 and
JAX use to turn a weight shape plus scheme parameters into fans and a concrete
distribution (uniform low/high, normal mean/std, truncated-normal
mean/std/low/high).  No random numbers are drawn here: only the parameters.

The results are written to fixtures/reference/formulas.json (relative to the
repository root) and are compared bit for bit, as IEEE-754 doubles, by the Rust
test-suite.  For that reason every formula keeps the framework's exact order of
float operations (e.g. xavier's ``math.sqrt(3.0) * (gain * math.sqrt(2.0 /
float(s)))`` is *not* rewritten as ``gain * math.sqrt(6.0 / s)``; they differ in
the last bit for many s).

Pure Python 3.11 standard library (math, json, os).  Run from anywhere:

    python3 tests/reference/formulas.py

Sources transcribed (read from the public-code index):
  * PyTorch  torch/nn/init.py (2.x text, ROCm/pytorch@10b22ea5, an upstream
    mirror) -- calculate_gain, _calculate_fan_in_and_fan_out,
    _calculate_correct_fan, xavier_uniform_, xavier_normal_, kaiming_uniform_,
    kaiming_normal_, trunc_normal_, uniform_, normal_;
    torch/nn/modules/linear.py + conv.py: reset_parameters
    (kaiming_uniform_(weight, a=math.sqrt(5))).
  * Keras 3  keras/src/initializers/random_initializers.py
    (keras-team/keras@107f5a80) -- compute_fans, VarianceScaling.__init__ /
    __call__, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
    LecunNormal, RandomUniform, RandomNormal, TruncatedNormal;
    keras/src/backend/numpy/random.py: truncated_normal (bounds
    mean -/+ 2 * stddev).
  * JAX      jax/_src/nn/initializers.py (jax-ml/jax HEAD) -- variance_scaling
    (including the JAX-only mode "fan_geo_avg").
"""

import json
import math
import os

# Repository root = two levels above this file (tests/reference/formulas.py).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_PATH = os.path.join(REPO_ROOT, "fixtures", "reference", "formulas.json")


class FanError(ValueError):
    """The framework raises while computing fans (e.g. torch, rank < 2)."""


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------

# torch/nn/init.py: _calculate_fan_in_and_fan_out
def torch_fans(shape):
    dimensions = len(shape)
    if dimensions < 2:
        raise FanError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    num_input_fmaps = shape[1]
    num_output_fmaps = shape[0]
    receptive_field_size = 1
    if dimensions > 2:
        for s in shape[2:]:
            receptive_field_size *= s
    fan_in = num_input_fmaps * receptive_field_size
    fan_out = num_output_fmaps * receptive_field_size
    return fan_in, fan_out


# torch/nn/init.py: _calculate_correct_fan
def torch_correct_fan(shape, mode):
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = torch_fans(shape)
    return fan_in if mode == "fan_in" else fan_out


# torch/nn/init.py: calculate_gain
def torch_calculate_gain(nonlinearity, param=None):
    linear_fns = [
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    ]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    elif nonlinearity == "tanh":
        return 5.0 / 3
    elif nonlinearity == "relu":
        return math.sqrt(2.0)
    elif nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (
            not isinstance(param, bool) and isinstance(param, int) or isinstance(param, float)
        ):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    elif nonlinearity == "selu":
        return 3.0 / 4
    else:
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


# torch/nn/init.py: xavier_uniform_
def torch_xavier_uniform(shape, gain=1.0):
    fan_in, fan_out = torch_fans(shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std  # Calculate uniform bounds from standard deviation
    return (fan_in, fan_out), uniform_dist(-a, a)


# torch/nn/init.py: xavier_normal_
def torch_xavier_normal(shape, gain=1.0):
    fan_in, fan_out = torch_fans(shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return (fan_in, fan_out), normal_dist(0.0, std)


# torch/nn/init.py: kaiming_uniform_ / kaiming_normal_ early return:
#   if 0 in tensor.shape: warnings.warn("Initializing zero-element tensors is a no-op"); return
# A no-op has no distribution, so such cases must not be generated.
def torch_kaiming_zero_check(shape):
    if 0 in shape:
        raise AssertionError(f"kaiming on zero-element shape {shape} is a torch no-op; skip it")


# torch/nn/init.py: kaiming_uniform_
def torch_kaiming_uniform(shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    torch_kaiming_zero_check(shape)
    fan = torch_correct_fan(shape, mode)
    gain = torch_calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std  # Calculate uniform bounds from standard deviation
    return torch_fans(shape), uniform_dist(-bound, bound)


# torch/nn/init.py: kaiming_normal_
def torch_kaiming_normal(shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    torch_kaiming_zero_check(shape)
    fan = torch_correct_fan(shape, mode)
    gain = torch_calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    return torch_fans(shape), normal_dist(0.0, std)  # tensor.normal_(0, std)


# torch/nn/modules/linear.py: Linear.reset_parameters and
# torch/nn/modules/conv.py: _ConvNd.reset_parameters
#   init.kaiming_uniform_(self.weight, a=math.sqrt(5))
def torch_standard(shape):
    return torch_kaiming_uniform(shape, a=math.sqrt(5))


# torch/nn/init.py: trunc_normal_ -> _no_grad_trunc_normal_
# The distribution is N(mean, std^2) restricted to the absolute interval
# [a, b]; no std correction.  (The sampling recipe -- uniform_ over
# [2l-1, 2u-1], erfinv_, mul_(std*sqrt(2)), add_(mean), clamp_ -- draws values,
# it does not change these parameters.)
def torch_trunc_normal(mean=0.0, std=1.0, a=-2.0, b=2.0):
    return truncated_normal_dist(mean, std, a, b)


# torch/nn/init.py: uniform_ -> tensor.uniform_(a, b)
def torch_uniform(a=0.0, b=1.0):
    return uniform_dist(a, b)


# torch/nn/init.py: normal_ -> tensor.normal_(mean, std)
def torch_normal(mean=0.0, std=1.0):
    return normal_dist(mean, std)


# ---------------------------------------------------------------------------
# JAX (used for weightgen's `variance_scaling` under convention torch, with
# torch fans, i.e. jax variance_scaling(..., in_axis=1, out_axis=0))
# ---------------------------------------------------------------------------

# jax/_src/nn/initializers.py: variance_scaling (inner `init`), real dtypes.
# `distribution` is weightgen's name; "untruncated_normal" is JAX's "normal".
def jax_variance_scaling(fan_in, fan_out, scale, mode, distribution):
    if mode == "fan_in":
        denominator = fan_in
    elif mode == "fan_out":
        denominator = fan_out
    elif mode == "fan_avg":
        denominator = (fan_in + fan_out) / 2
    elif mode == "fan_geo_avg":
        denominator = (fan_in * fan_out) ** 0.5
    else:
        raise ValueError(f"invalid mode for variance scaling initializer: {mode}")
    variance = scale / denominator  # jnp.array(scale / denominator, dtype=float64)

    if distribution == "truncated_normal":
        # constant is stddev of standard normal truncated to (-2, 2)
        stddev = math.sqrt(variance) / .87962566103423978
        # random.truncated_normal(key, -2, 2, shape, dtype) * stddev
        return truncated_normal_dist(0.0, stddev, -2.0 * stddev, 2.0 * stddev)
    elif distribution in ("normal", "untruncated_normal"):
        # random.normal(key, shape, dtype) * jnp.sqrt(variance)
        return normal_dist(0.0, math.sqrt(variance))
    elif distribution == "uniform":
        # random.uniform(key, shape, dtype, -1) * jnp.sqrt(3 * variance)
        limit = math.sqrt(3 * variance)
        return uniform_dist(-limit, limit)
    else:
        raise ValueError(f"invalid distribution for variance scaling initializer: {distribution}")


def torch_variance_scaling(shape, scale, mode, distribution):
    fan_in, fan_out = torch_fans(shape)
    return (fan_in, fan_out), jax_variance_scaling(fan_in, fan_out, scale, mode, distribution)


# ---------------------------------------------------------------------------
# Keras 3
# ---------------------------------------------------------------------------

# keras/src/initializers/random_initializers.py: compute_fans
def keras_compute_fans(shape):
    shape = tuple(shape)
    if len(shape) < 1:  # Just to avoid errors for constants.
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    elif len(shape) == 2:
        fan_in = shape[0]
        fan_out = shape[1]
    else:
        # Assuming convolution kernels (2D, 3D, or more).
        # kernel shape: (..., input_depth, depth)
        receptive_field_size = 1
        for dim in shape[:-2]:
            receptive_field_size *= dim
        fan_in = shape[-2] * receptive_field_size
        fan_out = shape[-1] * receptive_field_size
    return int(fan_in), int(fan_out)


# keras/src/initializers/random_initializers.py: VarianceScaling.__init__
# (validation + "normal" alias) and VarianceScaling.__call__ (formulas);
# truncated bounds from keras/src/backend/numpy/random.py: truncated_normal
# (lower_bound = mean - 2 * stddev; upper_bound = mean + 2 * stddev, mean=0.0).
def keras_variance_scaling(shape, scale=1.0, mode="fan_in", distribution="truncated_normal"):
    if scale <= 0.0:
        raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
    if mode not in {"fan_in", "fan_out", "fan_avg"}:
        raise ValueError(f"Invalid `mode` argument: {mode}.")
    distribution = distribution.lower()
    if distribution == "normal":
        distribution = "truncated_normal"
    if distribution not in {"uniform", "truncated_normal", "untruncated_normal"}:
        raise ValueError(f"Invalid `distribution` argument: {distribution}.")

    fan_in, fan_out = keras_compute_fans(shape)
    if mode == "fan_in":
        scale /= max(1.0, fan_in)
    elif mode == "fan_out":
        scale /= max(1.0, fan_out)
    else:
        scale /= max(1.0, (fan_in + fan_out) / 2.0)
    if distribution == "truncated_normal":
        stddev = math.sqrt(scale) / 0.87962566103423978
        mean = 0.0
        return (fan_in, fan_out), truncated_normal_dist(
            mean, stddev, mean - 2 * stddev, mean + 2 * stddev
        )
    elif distribution == "untruncated_normal":
        stddev = math.sqrt(scale)
        return (fan_in, fan_out), normal_dist(0.0, stddev)
    else:
        limit = math.sqrt(3.0 * scale)
        return (fan_in, fan_out), uniform_dist(-limit, limit)


# keras/src/initializers/random_initializers.py: GlorotUniform, GlorotNormal,
# HeUniform, HeNormal, LecunUniform, LecunNormal (each a VarianceScaling preset)
KERAS_PRESETS = {
    "xavier_uniform": ("GlorotUniform", 1.0, "fan_avg", "uniform"),
    "xavier_normal": ("GlorotNormal", 1.0, "fan_avg", "truncated_normal"),
    "kaiming_uniform": ("HeUniform", 2.0, "fan_in", "uniform"),
    "kaiming_normal": ("HeNormal", 2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": ("LecunUniform", 1.0, "fan_in", "uniform"),
    "lecun_normal": ("LecunNormal", 1.0, "fan_in", "truncated_normal"),
}


# keras/src/initializers/random_initializers.py: TruncatedNormal.__call__ ->
# keras/src/backend/numpy/random.py: truncated_normal
#   lower_bound = mean - 2 * stddev; upper_bound = mean + 2 * stddev
def keras_truncated_normal(mean=0.0, stddev=0.05):
    return truncated_normal_dist(mean, stddev, mean - 2 * stddev, mean + 2 * stddev)


# keras/src/initializers/random_initializers.py: RandomUniform.__call__
def keras_random_uniform(minval=-0.05, maxval=0.05):
    return uniform_dist(minval, maxval)


# keras/src/initializers/random_initializers.py: RandomNormal.__call__
def keras_random_normal(mean=0.0, stddev=0.05):
    return normal_dist(mean, stddev)


# ---------------------------------------------------------------------------
# Fixture plumbing
# ---------------------------------------------------------------------------

def uniform_dist(low, high):
    return {"kind": "uniform", "low": float(low), "high": float(high)}


def normal_dist(mean, std):
    return {"kind": "normal", "mean": float(mean), "std": float(std)}


def truncated_normal_dist(mean, std, low, high):
    return {
        "kind": "truncated_normal",
        "mean": float(mean),
        "std": float(std),
        "low": float(low),
        "high": float(high),
    }


def shape_tag(shape):
    if len(shape) == 0:
        return "scalar"
    return "x".join(str(d) for d in shape)


def torch_empty(shape):
    if len(shape) == 0:
        return "torch.empty(())"
    return "torch.empty(" + ", ".join(str(d) for d in shape) + ")"


def py_shape(shape):
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def kwargs_str(pairs):
    return ", ".join(f"{k}={v!r}" for k, v in pairs)


CASES = []


def add(case_id, framework_call, convention, shape, scheme, params, compute):
    """compute() returns (fans or None, distribution) or raises FanError."""
    try:
        fans, dist = compute()
    except FanError:
        expect = {"error": True}
    else:
        expect = {}
        if fans is not None:
            expect["fan_in"], expect["fan_out"] = fans
        expect["distribution"] = dist
    CASES.append(
        {
            "id": case_id,
            "framework_call": framework_call,
            "convention": convention,
            "shape": list(shape),
            "scheme": scheme,
            "params": params,
            "expect": expect,
        }
    )


# ----- convention: torch -----------------------------------------------------

def t_xavier(kind, shape, gain=None, tag=""):
    params = {} if gain is None else {"gain": gain}
    g = 1.0 if gain is None else gain
    fn = torch_xavier_uniform if kind == "uniform" else torch_xavier_normal
    call = f"torch.nn.init.xavier_{kind}_({torch_empty(shape)}, gain={g!r})"
    add(f"torch-xavier_{kind}-{shape_tag(shape)}{tag}", call, "torch", shape,
        f"xavier_{kind}", params, lambda: fn(shape, g))


def t_kaiming(kind, shape, negative_slope=None, mode=None, nonlinearity=None, tag=""):
    params = {}
    kw = []
    if negative_slope is not None:
        params["negative_slope"] = negative_slope
        kw.append(("a", negative_slope))
    if mode is not None:
        params["mode"] = mode
        kw.append(("mode", mode))
    if nonlinearity is not None:
        params["nonlinearity"] = nonlinearity
        kw.append(("nonlinearity", nonlinearity))
    a = 0 if negative_slope is None else negative_slope
    m = "fan_in" if mode is None else mode
    nl = "leaky_relu" if nonlinearity is None else nonlinearity
    fn = torch_kaiming_uniform if kind == "uniform" else torch_kaiming_normal
    args = torch_empty(shape) + (", " + kwargs_str(kw) if kw else "")
    call = f"torch.nn.init.kaiming_{kind}_({args})"
    add(f"torch-kaiming_{kind}-{shape_tag(shape)}{tag}", call, "torch", shape,
        f"kaiming_{kind}", params, lambda: fn(shape, a, m, nl))


def t_lecun(kind, shape, tag=""):
    fn = torch_kaiming_uniform if kind == "uniform" else torch_kaiming_normal
    call = f"torch.nn.init.kaiming_{kind}_({torch_empty(shape)}, nonlinearity='linear')"
    add(f"torch-lecun_{kind}-{shape_tag(shape)}{tag}", call, "torch", shape,
        f"lecun_{kind}", {}, lambda: fn(shape, 0, "fan_in", "linear"))


def t_standard(shape, tag=""):
    call = f"torch.nn.init.kaiming_uniform_({torch_empty(shape)}, a=math.sqrt(5))"
    add(f"torch-standard-{shape_tag(shape)}{tag}", call, "torch", shape,
        "standard", {}, lambda: torch_standard(shape))


def t_vs(shape, scale, mode, distribution, tag=""):
    jax_dist = "normal" if distribution == "untruncated_normal" else distribution
    call = (
        f"jax.nn.initializers.variance_scaling({scale!r}, {mode!r}, {jax_dist!r}, "
        f"in_axis=1, out_axis=0)(key, {py_shape(shape)}, jnp.float64)"
    )
    if distribution == "untruncated_normal":
        call += "  # weightgen 'untruncated_normal' = JAX 'normal'"
    params = {"scale": scale, "mode": mode, "distribution": distribution}
    add(f"torch-variance_scaling-{shape_tag(shape)}-{mode}-{distribution}{tag}", call, "torch",
        shape, "variance_scaling", params,
        lambda: torch_variance_scaling(shape, scale, mode, distribution))


def t_trunc(shape, mean, std, low=None, high=None, tag=""):
    params = {"mean": mean, "std": std}
    if low is not None:
        params["low"] = low
    if high is not None:
        params["high"] = high
    # weightgen's defaults (NOT torch's, which are the absolute a=-2.0, b=2.0)
    a = mean - 2.0 * std if low is None else low
    b = mean + 2.0 * std if high is None else high
    call = (f"torch.nn.init.trunc_normal_({torch_empty(shape)}, mean={mean!r}, std={std!r}, "
            f"a={a!r}, b={b!r})")
    add(f"torch-truncated_normal-{shape_tag(shape)}{tag}", call, "torch", shape,
        "truncated_normal", params, lambda: (None, torch_trunc_normal(mean, std, a, b)))


def t_uniform(shape, low, high, tag=""):
    call = f"torch.nn.init.uniform_({torch_empty(shape)}, a={low!r}, b={high!r})"
    add(f"torch-uniform-{shape_tag(shape)}{tag}", call, "torch", shape, "uniform",
        {"low": low, "high": high}, lambda: (None, torch_uniform(low, high)))


def t_normal(shape, mean, std, tag=""):
    call = f"torch.nn.init.normal_({torch_empty(shape)}, mean={mean!r}, std={std!r})"
    add(f"torch-normal-{shape_tag(shape)}{tag}", call, "torch", shape, "normal",
        {"mean": mean, "std": std}, lambda: (None, torch_normal(mean, std)))


# ----- convention: keras -----------------------------------------------------

def k_preset(scheme, shape, tag=""):
    cls, scale, mode, dist = KERAS_PRESETS[scheme]
    call = f"keras.initializers.{cls}()(shape={py_shape(shape)}, dtype='float64')"
    add(f"keras-{scheme}-{shape_tag(shape)}{tag}", call, "keras", shape, scheme, {},
        lambda: keras_variance_scaling(shape, scale, mode, dist))


def k_vs(shape, scale, mode, distribution, tag=""):
    call = (f"keras.initializers.VarianceScaling(scale={scale!r}, mode={mode!r}, "
            f"distribution={distribution!r})(shape={py_shape(shape)}, dtype='float64')")
    params = {"scale": scale, "mode": mode, "distribution": distribution}
    add(f"keras-variance_scaling-{shape_tag(shape)}-{mode}-{distribution}{tag}", call, "keras",
        shape, "variance_scaling", params,
        lambda: keras_variance_scaling(shape, scale, mode, distribution))


def k_trunc(shape, mean, std, tag=""):
    call = (f"keras.initializers.TruncatedNormal(mean={mean!r}, stddev={std!r})"
            f"(shape={py_shape(shape)}, dtype='float64')")
    add(f"keras-truncated_normal-{shape_tag(shape)}{tag}", call, "keras", shape,
        "truncated_normal", {"mean": mean, "std": std},
        lambda: (None, keras_truncated_normal(mean, std)))


def k_uniform(shape, low, high, tag=""):
    call = (f"keras.initializers.RandomUniform(minval={low!r}, maxval={high!r})"
            f"(shape={py_shape(shape)}, dtype='float64')")
    add(f"keras-uniform-{shape_tag(shape)}{tag}", call, "keras", shape, "uniform",
        {"low": low, "high": high}, lambda: (None, keras_random_uniform(low, high)))


def k_normal(shape, mean, std, tag=""):
    call = (f"keras.initializers.RandomNormal(mean={mean!r}, stddev={std!r})"
            f"(shape={py_shape(shape)}, dtype='float64')")
    add(f"keras-normal-{shape_tag(shape)}{tag}", call, "keras", shape, "normal",
        {"mean": mean, "std": std}, lambda: (None, keras_random_normal(mean, std)))


def build_cases():
    # Shapes (torch layout [out, in, *kernel])
    LIN = [256, 784]
    LIN_SMALL = [10, 256]
    CONV1D = [32, 16, 5]
    CONV2D = [64, 3, 7, 7]
    CONV2D_SMALL = [16, 3, 3, 3]
    DEPTHWISE = [32, 1, 3, 3]
    CONV3D = [8, 4, 3, 3, 3]
    VEC = [100]
    ZERO_OUT = [0, 10]
    ZERO_IN = [10, 0]
    EMBED = [50257, 768]
    MLP = [4096, 11008]
    WIDE = [1, 1048576]
    TINY = [3, 5]
    FFN = [768, 3072]
    CONV1D_B = [128, 64, 3]
    ONE = [1, 1]

    # --- torch: xavier ---
    t_xavier("uniform", LIN, 1.0)
    t_xavier("uniform", LIN_SMALL)                       # default gain
    t_xavier("uniform", CONV2D, 5.0 / 3, tag="-tanh")
    t_xavier("uniform", CONV3D, math.sqrt(2.0), tag="-relu")
    t_xavier("uniform", DEPTHWISE, 1.0)
    t_xavier("uniform", ZERO_OUT)                        # fan sum 10: fine in torch
    t_xavier("uniform", ZERO_IN)
    t_xavier("uniform", WIDE)
    t_xavier("uniform", VEC)                             # error: rank < 2
    t_xavier("normal", LIN, 1.0)
    t_xavier("normal", CONV1D, 3.0 / 4, tag="-selu")
    t_xavier("normal", MLP)
    t_xavier("normal", TINY, 0.5)
    t_xavier("normal", ZERO_OUT, 2.0)

    # --- torch: kaiming ---
    t_kaiming("uniform", LIN)                            # defaults a=0, fan_in, leaky_relu
    t_kaiming("uniform", CONV2D, mode="fan_out", nonlinearity="relu")
    t_kaiming("uniform", CONV2D_SMALL, negative_slope=0.2, nonlinearity="leaky_relu",
              tag="-leaky0.2")
    t_kaiming("uniform", LIN_SMALL, negative_slope=0.01, tag="-leaky0.01")
    t_kaiming("uniform", CONV1D, nonlinearity="tanh", tag="-tanh")
    t_kaiming("uniform", DEPTHWISE, mode="fan_out", tag="-fan_out")
    t_kaiming("uniform", EMBED, nonlinearity="sigmoid", tag="-sigmoid")
    t_kaiming("uniform", VEC)                            # error: rank < 2
    t_kaiming("normal", LIN, mode="fan_out", nonlinearity="relu")
    t_kaiming("normal", CONV3D, nonlinearity="selu", tag="-selu")
    t_kaiming("normal", CONV2D, negative_slope=0.2, mode="fan_in", tag="-leaky0.2")
    t_kaiming("normal", FFN, nonlinearity="linear", tag="-linear")
    t_kaiming("normal", WIDE, mode="fan_out", nonlinearity="relu")
    t_kaiming("normal", VEC, nonlinearity="relu")        # error: rank < 2

    # --- torch: lecun (kaiming_*_ with nonlinearity='linear') ---
    t_lecun("uniform", LIN)
    t_lecun("uniform", CONV1D_B)
    t_lecun("normal", CONV2D_SMALL)
    t_lecun("normal", MLP)
    t_lecun("normal", VEC)                               # error

    # --- torch: standard (nn.Linear / nn.ConvNd default weight init) ---
    t_standard(LIN)
    t_standard(LIN_SMALL)
    t_standard(CONV2D)
    t_standard(DEPTHWISE)
    t_standard(CONV3D)
    t_standard(MLP)
    t_standard(ONE)
    t_standard(VEC)                                      # error

    # --- torch: variance_scaling (JAX formula, torch fans) ---
    modes = ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
    dists = ["truncated_normal", "normal", "uniform", "untruncated_normal"]
    vs_shapes = [LIN, CONV2D, CONV1D, CONV3D]
    for i, mode in enumerate(modes):
        for j, dist in enumerate(dists):
            shape = vs_shapes[(i + j) % len(vs_shapes)]
            scale = [1.0, 2.0, 0.1, 1.0 / 3][(i * 3 + j) % 4]
            t_vs(shape, scale, mode, dist)
    t_vs(WIDE, 2.0, "fan_geo_avg", "uniform")
    t_vs(EMBED, 1.0, "fan_avg", "truncated_normal")
    t_vs(DEPTHWISE, 2.0, "fan_out", "truncated_normal")
    t_vs(VEC, 1.0, "fan_in", "uniform")                  # error: rank < 2

    # --- torch: trunc_normal_ / uniform_ / normal_ ---
    t_trunc(LIN, 0.0, 0.02)                              # weightgen default bounds +-2 std
    t_trunc(FFN, 0.0, 0.02, low=-0.04, high=0.04, tag="-explicit")
    t_trunc(LIN_SMALL, 0.0, 1.0, tag="-std1")             # same as torch defaults a=-2, b=2
    t_trunc(CONV2D, 0.1, 0.3, low=-0.5, high=0.6, tag="-asym")
    t_trunc(VEC, 1.0, 0.25)                              # no fans needed: rank 1 is fine
    t_trunc(EMBED, 0.0, 0.02, low=-2.0, high=2.0, tag="-torchdefault")
    t_uniform(LIN, -0.1, 0.1)
    t_uniform(VEC, 0.0, 1.0)
    t_normal(LIN, 0.0, 0.02)
    t_normal(CONV2D, 0.5, 1.5)

    # Keras layouts ([*kernel, in, out])
    K_LIN = [784, 256]
    K_CONV2D = [3, 3, 16, 32]
    K_CONV2D_B = [7, 7, 3, 64]
    K_CONV1D = [5, 16, 32]
    K_CONV3D = [3, 3, 3, 4, 8]
    K_LIN_SMALL = [256, 10]
    K_SCALAR = []

    # --- keras: named presets ---
    k_preset("xavier_uniform", K_LIN)
    k_preset("xavier_uniform", K_CONV2D)
    k_preset("xavier_uniform", VEC)                      # rank 1: fans 100, 100
    k_preset("xavier_uniform", K_SCALAR)                 # rank 0: fans 1, 1
    k_preset("xavier_uniform", ZERO_OUT)                 # fan_avg 5.0
    k_preset("xavier_uniform", ZERO_IN)
    k_preset("xavier_uniform", WIDE)
    k_preset("xavier_normal", K_LIN)
    k_preset("xavier_normal", K_CONV3D)
    k_preset("xavier_normal", MLP)
    k_preset("kaiming_uniform", K_CONV2D_B)
    k_preset("kaiming_uniform", ZERO_OUT)                # fan_in 0 -> max(1.0, 0) = 1.0
    k_preset("kaiming_uniform", ZERO_IN)
    k_preset("kaiming_uniform", K_SCALAR)
    k_preset("kaiming_normal", K_CONV2D)
    k_preset("kaiming_normal", EMBED)
    k_preset("kaiming_normal", VEC)
    k_preset("lecun_uniform", K_CONV1D)
    k_preset("lecun_uniform", K_LIN_SMALL)
    k_preset("lecun_normal", K_LIN)
    k_preset("lecun_normal", ZERO_OUT)

    # --- keras: VarianceScaling, every mode x distribution ---
    k_modes = ["fan_in", "fan_out", "fan_avg"]
    k_dists = ["truncated_normal", "normal", "untruncated_normal", "uniform"]
    k_shapes = [K_LIN, K_CONV2D, K_CONV2D_B, K_CONV1D, K_CONV3D]
    for i, mode in enumerate(k_modes):
        for j, dist in enumerate(k_dists):
            shape = k_shapes[(i + j) % len(k_shapes)]
            scale = [1.0, 2.0, 0.1, 1.0 / 3][(i * 3 + j) % 4]
            k_vs(shape, scale, mode, dist)
    k_vs(VEC, 2.0, "fan_out", "uniform")
    k_vs(K_SCALAR, 0.5, "fan_avg", "truncated_normal")
    k_vs(ZERO_IN, 1.0, "fan_out", "untruncated_normal")  # fan_out 0 -> clamp 1.0
    k_vs(WIDE, 1.0, "fan_in", "truncated_normal")

    # --- keras: TruncatedNormal / RandomUniform / RandomNormal ---
    k_trunc(K_LIN, 0.0, 0.05)
    k_trunc(K_CONV2D, 0.1, 0.3, tag="-mean0.1")
    k_trunc(K_SCALAR, -1.0, 2.0)
    k_uniform(K_LIN, -0.05, 0.05)
    k_uniform(VEC, 0.25, 0.75)
    k_normal(K_CONV1D, 0.0, 0.05)
    k_normal(K_SCALAR, 1.0, 0.5)


def main():
    build_cases()
    ids = [c["id"] for c in CASES]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise SystemExit(f"duplicate case ids: {sorted(dup)}")
    doc = {"generated_by": "tests/reference/formulas.py", "cases": CASES}
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    with open(OUT_PATH, "w", encoding="utf-8") as f:
        # json writes floats with repr(), which round-trips exactly.
        json.dump(doc, f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")
    print(f"wrote {len(CASES)} cases to {os.path.relpath(OUT_PATH, REPO_ROOT)}")


if __name__ == "__main__":
    main()
