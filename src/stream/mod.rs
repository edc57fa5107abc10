//! Streams: the only place that touches random numbers.
//!
//! Owns: the contract that makes every value reproducible — a tensor's values are a pure
//! function of (seed, tensor name, shape, dtype, resolved [`Distribution`](crate::scheme::Distribution)), produced in
//! fixed-size chunks that can be filled in any order, on any thread. Does not own: byte layout
//! of files (`write`), nor what a scheme means (`scheme`).
//!
//! # Stream `weightgen-3` (recorded as `weightgen.stream` in every safetensors file)
//!
//! 1. **Key.** `key = SHA-256("weightgen-1" ‖ 0x00 ‖ seed as 8 bytes little-endian ‖ name as
//!    UTF-8)`: 32 bytes, the key of a ChaCha8 generator (`rand_chacha::ChaCha8Rng`, the
//!    ChaCha stream cipher reduced to 8 rounds, whose output `rand_chacha` keeps value-stable).
//!    The label stayed `weightgen-1` through `weightgen-2` and `weightgen-3`.
//! 2. **Chunks.** Element `i` (C order) belongs to chunk `c = i / 65536`. Chunk `c` is drawn from
//!    `ChaCha8Rng::from_seed(key)` with `set_stream(c)`, starting at word 0. Nothing else is
//!    shared between chunks, so chunks are independent of each other and of the thread count.
//! 3. **Words to floats.** A 64-bit word is `next_u64` (two consecutive 32-bit words, the first
//!    one low, as rand_chacha defines it), a 32-bit word `next_u32`; both are drawn in bulk with
//!    `fill_bytes` (the stream's bytes read little-endian), which gives the same words.
//!    `u = (w >> 11) · 2⁻⁵³` ∈ \[0, 1) or `u' = ((w >> 11) + 1) · 2⁻⁵³` ∈ (0, 1] from a 64-bit
//!    word; `u₂₄ = (w >> 8) · 2⁻²⁴` ∈ [0, 1) from a 32-bit word.
//! 4. **Samplers** (arithmetic in f64 except the Box–Muller transform; `ln` and `exp` of the
//!    truncated-normal proposals from the pure-Rust `libm` crate, so results do not depend on
//!    the platform's C library):
//!    - constant: no draws;
//!    - uniform `[low, high]`: `min(low + (high − low)·u, high)` in f64, with one 64-bit word
//!      per element (`u`) for f64 tensors, and one 32-bit word per element (`u₂₄`) for f32,
//!      f16 and bf16 tensors, whose values are rounded to f32 anyway (new in `weightgen-3`:
//!      half the random bytes; `weightgen-1`/`-2` drew 64-bit words for every dtype);
//!    - normal: Box–Muller on element pairs (2k, 2k+1) of the chunk from ONE word `w` per pair,
//!      in f32 arithmetic: `u1 = ((lo >> 1) as i32 as f32)·2⁻³¹ + 2⁻³²` ∈ (0, 1] from the low 32
//!      bits, `k = hi >> 8` from the high 32 bits, `r = √(−2·ln u1)`, `θ = 2π·k/2²⁴` reduced
//!      exactly to a quadrant on the integer, Cephes `logf` and `sinf`/`cosf` polynomials with
//!      Rust's (unfused) IEEE operations — see `native::box_muller_word`; the standard normals
//!      `r·cos θ` and `r·sin θ` are widened to f64, values `mean + std·z` in f64; an odd last
//!      element uses the cosine value of its pair;
//!    - truncated normal: exact rejection sampling, in standard units `α = (low−mean)/std`,
//!      `β = (high−mean)/std`, choosing the proposal once per tensor (Robert 1995): if
//!      `α ≤ 0 ≤ β` and `β − α ≥ √(2π)`, standard normals from the Box–Muller sequence above
//!      (both values of each pair, cosine first) until one lies in `[α, β]`; if `α ≤ 0 ≤ β`
//!      otherwise, `z = α + (β−α)·u` accepted when `u_2 ≤ exp(−z²/2)`; one-sided intervals are
//!      mirrored to `0 < α < β` and use either that uniform proposal with acceptance
//!      `exp((α² − z²)/2)` or Robert's exponential proposal `z = α − ln(u')/λ`,
//!      `λ = (α + √(α²+4))/2`, rejected when `z > β`, accepted when `u_2 ≤ exp(−(z−λ)²/2)`;
//!      value `clamp(mean + std·z, low, high)`.
//! 5. **Rounding.** The f64 value is the f64 output. f32 is its IEEE round-to-nearest-even; f16
//!    and bf16 round *that f32 value* to nearest even (so a bf16 file is the f32 file cast). The
//!    f32/f16/bf16 hot loops (`simd`) compute the same f64 operations in vector registers
//!    (baseline and AVX2 builds, same bits).
//!
//! 6. **Structural schemes.** eye and dirac are exact functions of the element's index. sparse:
//!    the values are the normal sampler's standard normals times `std`; in each column the
//!    ⌈sparsity·rows⌉ rows with the smallest `h(r, c) = mix64(k + (c·rows + r + 1)·γ)` are
//!    zero, where `mix64` is splitmix64's finaliser, γ = 0x9e3779b97f4a7c15 and `k` the first 8
//!    bytes (little-endian) of the key of the name `NAME\0sparse`. orthogonal: the standard
//!    normals of the whole (rows × cols) matrix (C order, the normal sampler's chunks), QR in
//!    f64 by `faer` single-threaded (Householder; its bits depend on faer's version and CPU
//!    features, so orthogonal values are reproducible per faer version and CPU family, not
//!    guaranteed across them), columns of Q multiplied by the sign of R's diagonal (0 counts
//!    as +), transposed when rows < cols, times gain.
//!
//! The chunk size (65536 elements) is part of the contract: changing it, or anything above,
//! changes values and must bump the version string.

mod native;
pub(crate) mod ortho;
mod source;
pub mod torch;

pub(crate) use native::STREAM_VERSION;
pub use native::{CHUNK_ELEMS, TensorStream};
pub(crate) use source::{ChunkSource, TorchSchedule};

/// Stream name recorded for `--rng torch`: PyTorch 2.15's CPU generator as x86 builds run it.
pub(crate) const TORCH_STREAM_VERSION: &str = "torch-2.15-cpu";

/// Which random stream family draws the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RngKind {
    /// Keyed chunk streams (`weightgen-1`): order-, format- and thread-independent.
    #[default]
    Native,
    /// One mt19937 stream seeded as `torch.manual_seed`, consumed in plan order, reproducing
    /// PyTorch's CPU `torch.nn.init` results bit for bit.
    Torch,
}

impl RngKind {
    /// Both streams, the default first.
    pub const ALL: [RngKind; 2] = [RngKind::Native, RngKind::Torch];

    pub fn name(self) -> &'static str {
        match self {
            RngKind::Native => "native",
            RngKind::Torch => "torch",
        }
    }

    pub fn parse(s: &str) -> crate::Result<RngKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "native" | "weightgen" => Ok(RngKind::Native),
            "torch" | "pytorch" => RngKind::Torch.available(),
            _ => Err(crate::Error::invalid(
                "",
                format!(
                    "unknown rng `{s}`{} (valid: native, torch)",
                    crate::names::did_you_mean(s, &["native", "torch", "pytorch"])
                ),
            )),
        }
    }

    /// This stream, or an error if this build cannot draw it: `torch` needs the cargo feature
    /// `torch` (on by default).
    pub fn available(self) -> crate::Result<RngKind> {
        if self == RngKind::Torch && !cfg!(feature = "torch") {
            return Err(crate::Error::invalid(
                "rng",
                "torch: this build of weightgen has no PyTorch generator (cargo feature `torch`)",
            ));
        }
        Ok(self)
    }

    /// The stream version recorded in files.
    pub fn stream_version(self) -> &'static str {
        match self {
            RngKind::Native => STREAM_VERSION,
            RngKind::Torch => TORCH_STREAM_VERSION,
        }
    }
}
