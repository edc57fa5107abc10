#![cfg_attr(not(feature = "torch"), allow(dead_code))]
//! PyTorch's CPU random stream (`--rng torch`): the default `CPUGeneratorImpl` and the ATen
//! fills that `torch.nn.init` uses, reproduced bit for bit as x86-64 builds of PyTorch 2.15
//! produce them. Self-contained: nothing here depends on the native `weightgen-1` streams.
//!
//! This file is the part the planner needs in every build: the ops ([`TorchOp`], [`TorchPlan`],
//! [`TorchStep`]), their element types and how many engine outputs each consumes
//! ([`words_consumed`], [`words_before`]). The generator, its jump ahead and the kernels are in
//! `generator` (cargo feature `torch`, on by default).
//!
//! Sources (read and transliterated; the recipe and its verification: docs/torch-rng.md):
//! `aten/src/ATen/core/MT19937RNGEngine.h`, `CPUGeneratorImpl.cpp`, `DistributionsHelper.h`,
//! `TransformationHelper.h`, `native/cpu/DistributionTemplates.h`, `native/cpu/avx_mathfun.h`,
//! `native/TensorFactories.cpp` (`randperm`), `torch/csrc/Generator.cpp` (seed unpacking),
//! `native/cpu/UnaryOpsKernel.cpp` with `cpu/vml.h` (`log_`) and `torch/nn/init.py`
//! (`_no_grad_trunc_normal_`, read from the installed 2.15.0 wheel).
//!
//! # The recipe
//!
//! - **Generator.** MT19937 seeded with the low 32 bits of the seed (standard
//!   `init_genrand`); `random()` is one tempered output, `random64()` is two, the first one
//!   the high word. The generator also caches the second value of a double Box–Muller pair
//!   (`next_double_normal_sample`), which survives between ops until the next seed.
//! - **`uniform_(from, to)`.** `from`, `to` are cast to the dtype first. f32: one `random()` per
//!   element, `x = (r & (2²⁴−1))·2⁻²⁴`, value `fma(x, to − from, from)` in f32. f64: one
//!   `random64()` per element, `x = (r & (2⁵³−1))·2⁻⁵³`, `fma(x, to − from, from)` in f64. The
//!   multiply-add is *fused* (docs/torch-rng.md §3, measured on PyTorch 2.15). A value that
//!   rounds to `to` is replaced by `from`, as current `uniform_kernel` does (this happens about
//!   once in 2²⁴ draws for f32, only at the top of the range).
//! - **`normal_(mean, std)`**, path chosen by the element count `n` (tensors are contiguous):
//!   - *Path A*, `n < 16`: per element, the cached double normal if there is one; otherwise
//!     `u1 = uniform64`, `u2 = uniform64`, `r = √(−2·log1p(−u2))`, `θ = 2π·u1`, cache `r·sin θ`,
//!     use `r·cos θ`. Value `fma(z, std, mean)` in f64, cast to the dtype.
//!   - *Path B*, `n ≥ 16`: fill all `n` slots with uniforms in [0, 1) of the dtype, transform
//!     blocks of 16 in place, pairs (j, j+8): `u1 = 1 − d[j]`, `u2 = d[j+8]`,
//!     `ρ = √(−2 ln u1)`, `θ = 2π·u2`, `d[j] = fma(ρ cos θ, std, mean)`,
//!     `d[j+8] = fma(ρ sin θ, std, mean)`. If `n % 16 ≠ 0`, 16 fresh uniforms are drawn into the
//!     last 16 slots and that block is transformed again, overwriting values of the last full
//!     block. f32 uses the AVX2 kernel (`normal_fill_16_AVX2`: Cephes `log256_ps` and
//!     `sincos256_ps`, transliterated lane by lane, all f32, including the multiply-adds the
//!     compiler contracts into FMAs, see `cephes`); x86 PyTorch runs this kernel on AVX2 and
//!     on AVX-512 machines (`normal_stub` is registered without an AVX-512 variant). f64 uses
//!     the scalar `normal_fill_16` with the C library's `log`, `sin`, `cos`.
//! - **bf16 / f16 tensors** ([`TorchDType::BF16`], [`TorchDType::F16`]): ATen computes in
//!   float (`at::opmath_type`) and rounds each value to the dtype (nearest even). `uniform_`:
//!   the f32 draw above, rounded, with the `to → from` replacement applied to the *rounded*
//!   value. `normal_`, `n ≥ 16`: blocks of 16 float uniforms drawn one block at a time, the
//!   f32 AVX2 transform, rounded; if `n % 16 ≠ 0` one more block of 16 fresh uniforms is
//!   written to the last 16 slots. The partial block's uniforms are never drawn, so the op
//!   consumes `16·⌈n/16⌉` words, not `n + 16`. `n < 16`: path A, cast double → float → dtype.
//!   (`normal_fill`, `NormalFill16` and `uniform_kernel` in `native/cpu/DistributionTemplates.h`
//!   after pytorch/pytorch#179834.) These variants are used only when a caller asks for them.
//! - **`trunc_normal_(mean, std, a, b)`** (2.15's `_no_grad_trunc_normal_`), chosen by
//!   `p = Φ((b−mean)/std) − Φ((a−mean)/std)` (Python floats, `math.erf`):
//!   - `p > 0.3`: [`trunc_normal_redraw`]: `normal_(mean, std)`, then while any value lies
//!     outside [a, b] (bounds cast to the dtype), a whole new `normal_` tensor is drawn and the
//!     outside values replaced from it.
//!   - `p ≤ 0.3`: [`trunc_normal_reject`]: uniform rejection in rounds. Each round draws a
//!     whole tensor `x = uniform_(a, b)` and then a whole tensor `u = uniform_()` (every element,
//!     pending or not: 2·numel uniforms a round), computes `c = ((x − mean)/std)²·(−0.5) −
//!     log_peak` in the dtype (scalars cast to the dtype, true division, `x·x`) and keeps
//!     drawing for an element while `log(u) > c`. `log_` is MKL's `vmsLn`/`vmdLn` (see
//!     [`mkl_log`]). An element takes the `x` of the round that accepted it.
//! - **`randperm(n)`** (small `n`): `r = [0, …, n−1]`; for `i` in `0..n−1`:
//!   `z = random() % (n−i)`, swap `r[i]`, `r[i+z]`.
//!
//! # The C library question
//!
//! PyTorch calls the platform libm (glibc on Linux) for the double `log`, `log1p`, `sin` and
//! `cos` of the Box–Muller transforms. The pure-Rust `libm` crate (FreeBSD msun) differs from
//! glibc in the last bit for 5.4 % of `randn(1000, dtype=float64)`, so those four come from the
//! platform through `std` (see `clib`): bit-exact on Linux/glibc, possibly 1 ulp off in f64
//! elsewhere. The f32 kernels (uniform, the AVX2 normal) need no C library (their fused
//! multiply-adds are IEEE `fma`, the same everywhere).
//!
//! # One sequence, reached anywhere
//!
//! One generator is consumed tensor after tensor, but every op's draw count is known
//! ([`words_consumed`], and [`words_before`] for the start of any block of 16 elements), and
//! any position of the sequence is reached directly by a jump ahead with the characteristic
//! polynomial (`jump`, a few milliseconds whatever the distance). So
//! [`TorchGenerator::skip`] jumps (only path A, fewer than 16 normal values, computes: it
//! leaves a cached normal behind), [`ChunkedFill::starting_at`] streams an op from any block,
//! and `stream::ChunkSource` fills the chunks of one tensor on every core.

#[cfg(feature = "torch")]
mod generator;
#[cfg(feature = "torch")]
pub use generator::*;

/// Convert a Python seed as `torch.manual_seed` accepts it to the 64-bit value the generator
/// stores: `[0, 2⁶⁴)` as is, `[−2⁶³, 0)` as its two's complement (`torch/csrc/Generator.cpp`
/// reinterprets the signed 64-bit integer; the docstring's formula `0xffff_ffff_ffff_ffff + seed`
/// is one less than what the code does). `None` outside `[−2⁶³, 2⁶⁴)`, where PyTorch raises.
pub fn torch_seed_to_u64(seed: i128) -> Option<u64> {
    if (0..=u64::MAX as i128).contains(&seed) {
        Some(seed as u64)
    } else if (i64::MIN as i128..0).contains(&seed) {
        Some(seed as i64 as u64)
    } else {
        None
    }
}

/// One step of the generator schedule of a plan under `--rng torch`. A plain spec's schedule
/// is each tensor in plan order; a model's (`model`) follows `from_config`: constructor
/// defaults drawn and thrown away, then the init pass, tied tensors' draws consumed and
/// discarded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TorchStep {
    /// Draws made and thrown away: the generator advances as `op` on `numel` elements would
    /// advance it (no values are kept, memory stays flat).
    Discard {
        op: TorchOp,
        dtype: TorchDType,
        numel: u64,
    },
    /// The draws of plan tensor `i` (its `TorchPlan`).
    Tensor(usize),
}

/// How `--rng torch` produces one tensor (docs/torch-rng.md §5 for the two `trunc_normal_`
/// branches, §8 for the order tensors consume the generator).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TorchPlan {
    /// One ATen fill of the whole tensor, computed in `dtype` (f32 for f16/bf16 outputs of a
    /// plain spec; the tensor's own dtype for a model created in bf16/f16).
    Op(TorchOp, TorchDType),
    /// `torch.nn.init.sparse_`: normal_(0, std), then per column a randperm.
    Sparse {
        rows: u64,
        cols: u64,
        zeros: u64,
        std: f64,
        dtype: TorchDType,
    },
    /// `torch.nn.init.trunc_normal_` in PyTorch 2.15 when the interval holds more than 30% of
    /// the mass: `normal_(mean, std)`, then while any value lies outside [a, b] (bounds cast to
    /// the tensor dtype), a whole new `normal_` tensor is drawn and the outside values replaced.
    TruncRedraw {
        mean: f64,
        std: f64,
        a: f64,
        b: f64,
        dtype: TorchDType,
    },
    /// `torch.nn.init.trunc_normal_` in PyTorch 2.15 when the interval holds at most 30% of
    /// the mass: uniform rejection in rounds of two whole-tensor `uniform_` draws
    /// ([`trunc_normal_reject`]).
    TruncReject {
        mean: f64,
        std: f64,
        a: f64,
        b: f64,
        dtype: TorchDType,
    },
    /// No random draws (constants, eye, dirac): the native stream's exact values.
    NoDraw,
}

impl TorchPlan {
    /// Whether the values need the whole tensor at once (sparse_, both trunc_normal_ branches):
    /// such tensors are drawn in memory, on one core.
    pub fn is_whole_tensor(&self) -> bool {
        matches!(
            self,
            TorchPlan::Sparse { .. }
                | TorchPlan::TruncRedraw { .. }
                | TorchPlan::TruncReject { .. }
        )
    }
}

/// One ATen fill of a whole contiguous tensor, as PyTorch consumes the generator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TorchOp {
    /// `Tensor.uniform_(from, to)`.
    Uniform { from: f64, to: f64 },
    /// `Tensor.normal_(mean, std)`: path A below 16 elements, path B from 16 on.
    Normal { mean: f64, std: f64 },
    /// `constant_` / `zeros_` / `ones_`: consumes nothing.
    Fill { value: f64 },
}

/// Element type of the tensor PyTorch fills.
///
/// `F32` and `F64` are PyTorch's float and double kernels. The planner (`--rng torch`) uses only
/// these two: an f16/bf16 output there is an F32 fill rounded by the caller, which is what `init`
/// on an f32 tensor followed by `.to(dtype)` gives. `BF16` and `F16` are the kernels PyTorch runs
/// on a tensor that *is* bfloat16/float16 (a Hugging Face model built with `dtype` bfloat16 or
/// float16); they are used only when a caller asks for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TorchDType {
    F32,
    F64,
    /// `torch.bfloat16`: ATen's `c10::BFloat16` kernels, whose arithmetic type
    /// (`at::opmath_type`) is float. Read from `normal_fill`, `NormalFill16`, `normal_kernel` and
    /// `uniform_kernel` in
    /// [`aten/src/ATen/native/cpu/DistributionTemplates.h`](https://github.com/pytorch/pytorch/blob/27a4844d7fb/aten/src/ATen/native/cpu/DistributionTemplates.h)
    /// at pytorch commit `27a4844d7fb` (after pytorch/pytorch#179834, "Use AVX2/VSX for
    /// bfloat16 and half in randn kernel", 2026), with `uniform_real_distribution` and
    /// `normal_distribution` from
    /// [`aten/src/ATen/core/DistributionsHelper.h`](https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/core/DistributionsHelper.h)
    /// and `uniform_real` from
    /// [`aten/src/ATen/core/TransformationHelper.h`](https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/core/TransformationHelper.h).
    /// Torch 2.15 behaves as this source (measured word counts and values, see below); older
    /// releases instantiated `uniform_real_distribution<BFloat16>` (an 8-bit mask,
    /// `std::numeric_limits<BFloat16>::digits`; 11 for Half) and did the Box–Muller in bf16,
    /// which is *not* what 2.15 does.
    ///
    /// - `uniform_kernel`: `from`/`to` are cast to float and drive
    ///   `uniform_real_distribution<float>` (one `random()` per element, 24-bit mask,
    ///   `x·(to − from) + from` in float, fused as measured for F32); each float result is cast
    ///   to bf16 (nearest even), and a result equal to `bf16(to)` is replaced by `bf16(from)`.
    ///   So the values are the F32 draw rounded, except that this replacement acts on the
    ///   *rounded* value, which lands on the top of the range far more often than in f32 (a few
    ///   per thousand draws instead of one in 2²⁴).
    /// - `normal_kernel` → `normal_fill<BFloat16>` (≥ 16 elements, contiguous): blocks of 16
    ///   float uniforms are drawn into a 16-slot stack buffer *one block at a time*, transformed
    ///   by `NormalFill16<float>` (on x86 the AVX2 specialisation, the same Cephes
    ///   `log256_ps`/`sincos256_ps` kernel as F32) and rounded into the tensor. If
    ///   `numel % 16 ≠ 0`, 16 fresh uniforms make one more block, written to the last 16
    ///   slots. Unlike F32, the uniforms of the partial block are never drawn: the op consumes
    ///   `16·⌈numel/16⌉` words (F32: `numel + 16`), and for `numel % 16 ≠ 0` the values from
    ///   slot `numel − 16` on differ from the F32 op's.
    /// - fewer than 16 elements (or non-contiguous): `normal_distribution<double>` per element
    ///   (cached pair as for F32), the double cast to float and then to bf16
    ///   (`c10::BFloat16` converts from float).
    ///
    /// Verified bit for bit against a `LlamaForCausalLM` built in bf16 by transformers 5.24 with
    /// torch 2.15 (`tests/torch_half.rs`): the `normal_` values and every op's word count. Not
    /// covered there: `uniform_` values (all overwritten by the init pass) and the
    /// `numel % 16 ≠ 0` tail (every tensor has a multiple of 16 elements); those follow the
    /// source and the unit tests pin that reading.
    BF16,
    /// `torch.float16` (`c10::Half`): the same source paths as [`BF16`](Self::BF16) (the
    /// arithmetic type is float too; values rounded to binary16, nearest even, subnormals
    /// kept, overflow to infinity).
    ///
    /// **Not verified against real PyTorch output**: no float16 reference exists. It follows the
    /// same source as BF16 and shares its self-consistency tests only.
    F16,
}

impl TorchDType {
    /// Whether this is a reduced-precision type whose ATen kernels compute in float.
    pub fn is_reduced(self) -> bool {
        matches!(self, TorchDType::BF16 | TorchDType::F16)
    }

    /// Round a float to this dtype as `static_cast<scalar_t>(float)` does (nearest even),
    /// widened to f64 (exact).
    #[inline]
    fn narrow(self, v: f32) -> f64 {
        match self {
            TorchDType::F32 | TorchDType::F64 => v as f64,
            TorchDType::BF16 => half::bf16::from_f32(v).to_f64(),
            TorchDType::F16 => half::f16::from_f32(v).to_f64(),
        }
    }

    /// A double cast to this dtype (`static_cast<scalar_t>(double)`; bf16/f16 go through float).
    #[inline]
    fn cast(self, v: f64) -> f64 {
        match self {
            TorchDType::F64 => v,
            _ => self.narrow(v as f32),
        }
    }
}

/// An op resolved for one dtype and size: constants cast once, path chosen.
// Without `torch` only the draw counts read these (the fields are for the kernels).
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
#[derive(Clone, Copy, Debug)]
enum Kernel {
    Fill(f64),
    Elementwise(Elementwise),
    NormalA {
        mean: f64,
        std: f64,
        dtype: TorchDType,
    },
    NormalB32 {
        mean: f32,
        std: f32,
    },
    NormalB64 {
        mean: f64,
        std: f64,
    },
    /// `normal_fill` for bf16/f16: float blocks drawn one at a time, no partial-block draws.
    NormalBReduced {
        mean: f32,
        std: f32,
        dtype: TorchDType,
    },
}

/// Ops that consume a fixed number of draws per element, independently of the others.
// Without `torch` only the draw counts read these (the fields are for the kernels).
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
#[derive(Clone, Copy, Debug)]
enum Elementwise {
    Uniform32 {
        from: f32,
        to: f32,
    },
    Uniform64 {
        from: f64,
        to: f64,
    },
    /// bf16/f16: the float draw rounded; a rounded value equal to `to_s` becomes `from_s`.
    UniformReduced {
        from: f32,
        to: f32,
        from_s: f64,
        to_s: f64,
        dtype: TorchDType,
    },
}

impl Kernel {
    fn normal(mean: f64, std: f64, dtype: TorchDType, numel: u64) -> Kernel {
        if numel < 16 {
            Kernel::NormalA { mean, std, dtype }
        } else {
            match dtype {
                TorchDType::F32 => Kernel::NormalB32 {
                    mean: mean as f32,
                    std: std as f32,
                },
                TorchDType::F64 => Kernel::NormalB64 { mean, std },
                TorchDType::BF16 | TorchDType::F16 => Kernel::NormalBReduced {
                    mean: mean as f32,
                    std: std as f32,
                    dtype,
                },
            }
        }
    }

    fn new(op: TorchOp, dtype: TorchDType, numel: u64) -> Kernel {
        use TorchDType::*;
        match op {
            TorchOp::Fill { value } => Kernel::Fill(dtype.cast(value)),
            TorchOp::Uniform { from, to } => Kernel::Elementwise(match dtype {
                F32 => Elementwise::Uniform32 {
                    from: from as f32,
                    to: to as f32,
                },
                F64 => Elementwise::Uniform64 { from, to },
                BF16 | F16 => Elementwise::UniformReduced {
                    from: from as f32,
                    to: to as f32,
                    from_s: dtype.cast(from),
                    to_s: dtype.cast(to),
                    dtype,
                },
            }),
            TorchOp::Normal { mean, std } => Kernel::normal(mean, std, dtype, numel),
        }
    }
}

/// From this many engine outputs on, [`TorchGenerator::advance`] jumps instead of running
/// through them. Measured (`jump::tests::jump_cost`, release build, CPU time): a jump takes
/// 0.8 ms for 2²¹ outputs, 1.2 ms for 2²⁸, 3.3 ms for 2⁶³; running through takes 0.23 ns per
/// output (0.5 ms for 2²¹).
pub const JUMP_MIN: u64 = 1 << 21;

/// Engine outputs (32-bit words) that `op` on `numel` elements of `dtype` consumes, the cached
/// double normal aside (path A, `numel < 16`, takes 4 words per fresh pair and none for a
/// cached value: this counts a start without one).
///
/// - `Fill`: 0.
/// - `uniform_`: `numel` (f32, bf16, f16: one `random()` each), `2·numel` for f64 (`random64()`).
/// - `normal_`, `numel ≥ 16`: f32 `numel + 16·[numel % 16 ≠ 0]` (all uniforms, then a fresh tail
///   block), f64 twice that, bf16/f16 `16·⌈numel/16⌉` (blocks drawn one at a time, the partial
///   block never).
/// - `normal_`, `numel < 16`: `4·⌈numel/2⌉`.
pub fn words_consumed(op: TorchOp, dtype: TorchDType, numel: u64) -> u64 {
    let tail = if numel.is_multiple_of(16) { 0 } else { 16 };
    match Kernel::new(op, dtype, numel) {
        Kernel::Fill(_) => 0,
        Kernel::Elementwise(e) => numel * if e.is_f64() { 2 } else { 1 },
        Kernel::NormalA { .. } => 4 * numel.div_ceil(2),
        Kernel::NormalB32 { .. } => numel + tail,
        Kernel::NormalB64 { .. } => 2 * (numel + tail),
        Kernel::NormalBReduced { .. } => 16 * numel.div_ceil(16),
    }
}

/// Engine outputs `op` on `numel` elements consumes before the draws of element `first`
/// (`first` a multiple of 16, below `numel`), so that a [`ChunkedFill::starting_at`] can start
/// from a generator advanced by this much. For normal path B with `numel % 16 ≠ 0`, the last
/// `numel % 16` elements past the last full block come from the refilled tail block, whose
/// draws follow all the others.
///
/// # Panics
/// If `first` is not a multiple of 16 below `numel`, or `first > 0` on path A.
pub fn words_before(op: TorchOp, dtype: TorchDType, numel: u64, first: u64) -> u64 {
    assert!(
        first.is_multiple_of(16) && (first < numel || first == 0),
        "element {first} of {numel} does not start a block"
    );
    match Kernel::new(op, dtype, numel) {
        Kernel::Fill(_) => 0,
        Kernel::Elementwise(e) => first * if e.is_f64() { 2 } else { 1 },
        Kernel::NormalA { .. } => {
            assert_eq!(first, 0, "path A has one block");
            0
        }
        Kernel::NormalB32 { .. } | Kernel::NormalB64 { .. } | Kernel::NormalBReduced { .. } => {
            let per = if matches!(dtype, TorchDType::F64) {
                2
            } else {
                1
            };
            if first / 16 == numel / 16 {
                // Past the last full block: the tail block, drawn last.
                words_consumed(op, dtype, numel) - 16 * per
            } else {
                first * per
            }
        }
    }
}

impl Elementwise {
    fn is_f64(&self) -> bool {
        matches!(self, Elementwise::Uniform64 { .. })
    }
}
