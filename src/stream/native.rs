//! The native keyed chunk streams (`weightgen-3`); the algorithm is specified in `stream/mod.rs`.

mod simd;
use crate::dtype::DType;
use crate::scheme::Distribution;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// PyTorch's `dirac_` value at element `idx` (C order) of `shape`.
fn dirac_value(shape: &[u64], groups: u64, channels_last: bool, mut idx: u64) -> f64 {
    let rank = shape.len();
    let mut coords = [0u64; 5];
    for axis in (0..rank).rev() {
        coords[axis] = idx % shape[axis];
        idx /= shape[axis];
    }
    let (out_axis, in_axis, spatial) = if channels_last {
        (rank - 1, rank - 2, 0..rank - 2)
    } else {
        (0, 1, 2..rank)
    };
    if spatial.clone().any(|a| coords[a] != shape[a] / 2) {
        return 0.0;
    }
    let out_per_group = shape[out_axis] / groups;
    let d = coords[out_axis] % out_per_group;
    if coords[in_axis] == d && d < shape[in_axis] {
        1.0
    } else {
        0.0
    }
}

/// Version string of this stream family, recorded in every file.
pub(crate) const STREAM_VERSION: &str = "weightgen-3";

/// The label that keys tensors: unchanged since `weightgen-1` (f64 uniform values are still
/// those of `weightgen-1`).
const KEY_LABEL: &str = "weightgen-1";

/// Elements per chunk; part of the stream contract.
pub const CHUNK_ELEMS: u64 = 1 << 16;

const TWO_POW_M53: f64 = 1.0 / 9_007_199_254_740_992.0;

/// The 32-byte ChaCha8 key of a tensor: SHA-256("weightgen-1" ‖ 0 ‖ seed LE ‖ name).
pub(super) fn tensor_key(seed: u64, name: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(KEY_LABEL.as_bytes());
    h.update([0u8]);
    h.update(seed.to_le_bytes());
    h.update(name.as_bytes());
    h.finalize().into()
}

/// u ∈ [0, 1) from the 53 high bits of a word.
#[inline(always)]
fn unit_of(w: u64) -> f64 {
    (w >> 11) as f64 * TWO_POW_M53
}

/// u ∈ [0, 1) with 53 random bits.
#[inline]
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    unit_of(rng.next_u64())
}

/// u ∈ (0, 1] with 53 random bits (safe for `ln`).
#[inline]
fn unit_open0(rng: &mut ChaCha8Rng) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * TWO_POW_M53
}

/// ln x for x ∈ [2⁻³², 1] in f32 arithmetic: Cephes `logf` (exponent split, mantissa reduced
/// to [√½, √2), degree-9 polynomial). Branch-free, no libm, no FMA: the same bits on every
/// platform and instruction set, and vectorisable.
#[inline(always)]
fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    // x = m·2^e with m ∈ [½, 1).
    let e = ((bits >> 23) as i32) - 126;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < core::f32::consts::FRAC_1_SQRT_2;
    let e = (e - small as i32) as f32;
    let f = if small { m + m } else { m } - 1.0;
    let z = f * f;
    let mut y = 7.037_683_6e-2_f32;
    for c in [
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_4e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ] {
        y = y * f + c;
    }
    y = y * f * z;
    y += -2.121_944_4e-4 * e;
    y += -0.5 * z;
    (f + y) + 0.693_359_4 * e
}

/// (sin, cos) of 2π·k/2²⁴ for k ∈ [0, 2²⁴) in f32 arithmetic: exact quadrant reduction on the
/// integer, then Cephes' minimax polynomials on [−π/4, π/4] and sign/swap by quadrant.
#[inline(always)]
fn sincos_turns_f32(k: u32) -> (f32, f32) {
    let q = (k + (1 << 21)) >> 22;
    // t ∈ [−1/8, 1/8] turns, exact.
    let t = (k as i32 - (q << 22) as i32) as f32 * (1.0 / 16_777_216.0);
    let x = t * core::f32::consts::TAU;
    let z = x * x;
    let s = x + x * z * ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1);
    let c = 1.0 - 0.5 * z + z * z * ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2);
    let swap = q & 1 == 1;
    let (s, c) = if swap { (c, s) } else { (s, c) };
    let sin = f32::from_bits(s.to_bits() ^ ((q & 2) << 30));
    let cos = f32::from_bits(c.to_bits() ^ (((q + 1) & 2) << 30));
    (sin, cos)
}

/// Box–Muller's u1 from the low 32 bits of a word: `((lo >> 1) as i32 as f32)·2⁻³¹ + 2⁻³²` ∈
/// (0, 1] in f32 (tails to 6.66σ).
#[inline(always)]
fn u1_f32(lo: u32) -> f32 {
    ((lo >> 1) as i32 as f32) * (1.0 / 2_147_483_648.0) + (1.0 / 4_294_967_296.0)
}

/// One Box–Muller pair of standard normals (cosine value first) from one 64-bit word, in f32
/// arithmetic: low 32 bits → `u1 = ((lo >> 1) as i32 as f32)·2⁻³¹ + 2⁻³²` ∈ (0, 1] (tails
/// to 6.66σ), high 32 bits → angle `2π·(hi >> 8)/2²⁴`; `r = √(−2 ln u1)`.
#[inline(always)]
fn box_muller_word(w: u64) -> (f32, f32) {
    let lo = w as u32;
    let hi = (w >> 32) as u32;
    let r = (-2.0 * ln_f32(u1_f32(lo))).sqrt();
    let (s, c) = sincos_turns_f32(hi >> 8);
    (r * c, r * s)
}

/// One Box–Muller pair from the stream (cosine value first), widened exactly to f64.
#[inline]
fn box_muller(rng: &mut ChaCha8Rng) -> (f64, f64) {
    let (c, s) = box_muller_word(rng.next_u64());
    (c as f64, s as f64)
}

thread_local! {
    /// Per-thread buffer of stream words, reused for every chunk.
    static WORDS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` on the next `n` 64-bit words of `rng` (the values `next_u64` would return, drawn
/// in bulk).
fn with_words<R>(rng: &mut ChaCha8Rng, n: usize, f: impl FnOnce(&[u64]) -> R) -> R {
    WORDS.with_borrow_mut(|w| {
        w.resize(n, 0);
        // SAFETY: any byte pattern is a valid u64, and u8 has no alignment requirement.
        let bytes = unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast::<u8>(), n * 8) };
        rng.fill_bytes(bytes);
        for x in w.iter_mut() {
            *x = u64::from_le(*x);
        }
        f(w)
    })
}

/// Run `f` on the next `n` 32-bit words of `rng` (the values `next_u32` would return, drawn
/// in bulk: the stream's bytes read as little-endian u32).
fn with_words32<R>(rng: &mut ChaCha8Rng, n: usize, f: impl FnOnce(&[u32]) -> R) -> R {
    WORDS.with_borrow_mut(|w| {
        w.resize(n.div_ceil(2), 0);
        // SAFETY: any byte pattern is a valid u32, and u64 storage is aligned for u32.
        let words = unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast::<u32>(), n) };
        // SAFETY: as above, u8 has no alignment requirement.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), n * 4) };
        rng.fill_bytes(bytes);
        for x in words.iter_mut() {
            *x = u32::from_le(*x);
        }
        f(words)
    })
}

/// Box–Muller pairs per step of the bulk samplers (stack buffers).
pub(super) const BM_BLOCK: usize = 256;

/// The pairs of `words` (at most [`BM_BLOCK`]) into `cos` and `sin`, in simple fixed-length
/// passes over stack arrays so the compiler vectorises them (same operations, same bits as
/// [`box_muller_word`]).
#[inline(always)]
pub(super) fn box_muller_block(
    words: &[u64],
    cos: &mut [f32; BM_BLOCK],
    sin: &mut [f32; BM_BLOCK],
) {
    let mut lo = [0u32; BM_BLOCK];
    let mut hi = [0u32; BM_BLOCK];
    for ((w, l), h) in words.iter().zip(lo.iter_mut()).zip(hi.iter_mut()) {
        *l = *w as u32;
        *h = (*w >> 32) as u32;
    }
    let mut r = [0f32; BM_BLOCK];
    for (r, l) in r.iter_mut().zip(&lo) {
        *r = (-2.0 * ln_f32(u1_f32(*l))).sqrt();
    }
    for (((c, s), r), h) in cos.iter_mut().zip(sin.iter_mut()).zip(&r).zip(&hi) {
        let (sn, cs) = sincos_turns_f32(h >> 8);
        *c = r * cs;
        *s = r * sn;
    }
}

/// Standard normals for `out` from the stream: pair k from word k (cosine value first), an
/// odd last element takes the cosine value of its pair.
fn fill_normals(rng: &mut ChaCha8Rng, out: &mut [f64], mean: f64, std: f64) {
    let (mut cos, mut sin) = ([0f32; BM_BLOCK], [0f32; BM_BLOCK]);
    with_words(rng, out.len().div_ceil(2), |words| {
        for (block, dst) in words.chunks(BM_BLOCK).zip(out.chunks_mut(2 * BM_BLOCK)) {
            box_muller_block(block, &mut cos, &mut sin);
            let half = dst.len() / 2;
            let mut pairs = dst.chunks_exact_mut(2);
            for ((p, c), s) in (&mut pairs).zip(&cos).zip(&sin) {
                p[0] = mean + std * *c as f64;
                p[1] = mean + std * *s as f64;
            }
            if let [last] = pairs.into_remainder() {
                *last = mean + std * cos[half] as f64;
            }
        }
    });
}

/// How a truncated normal is sampled, fixed once per tensor from its standardised bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TruncMethod {
    /// Standard normals until one lies in [α, β].
    Normal,
    /// z = α + (β−α)u, accepted with probability exp((ref² − z²)/2).
    Uniform { reference: f64 },
    /// Robert's exponential proposal with rate λ, on a mirrored one-sided interval.
    Exponential { lambda: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Trunc {
    mean: f64,
    std: f64,
    low: f64,
    high: f64,
    /// Standardised bounds after mirroring (α < β; α ≥ 0 unless the interval contains 0).
    pub(super) alpha: f64,
    pub(super) beta: f64,
    /// −1 when the interval was mirrored.
    sign: f64,
    method: TruncMethod,
}

impl Trunc {
    pub(super) fn new(mean: f64, std: f64, low: f64, high: f64) -> Trunc {
        let (mut alpha, mut beta) = ((low - mean) / std, (high - mean) / std);
        let mut sign = 1.0;
        if beta < 0.0 {
            (alpha, beta, sign) = (-beta, -alpha, -1.0);
        }
        let sqrt_2pi = (2.0 * core::f64::consts::PI).sqrt();
        let method = if alpha <= 0.0 && 0.0 <= beta {
            if beta - alpha >= sqrt_2pi {
                TruncMethod::Normal
            } else {
                TruncMethod::Uniform { reference: 0.0 }
            }
        } else {
            // 0 < α < β. Robert (1995), "Simulation of truncated normal variables", §2.2: the
            // uniform proposal beats the exponential one when
            // β − α < 2√e / (α + √(α²+4)) · exp((α² − α√(α²+4)) / 4).
            let s = (alpha * alpha + 4.0).sqrt();
            let threshold = 2.0 * core::f64::consts::E.sqrt() / (alpha + s)
                * ((alpha * alpha - alpha * s) / 4.0).exp();
            if beta - alpha < threshold {
                TruncMethod::Uniform { reference: alpha }
            } else {
                TruncMethod::Exponential {
                    lambda: (alpha + s) / 2.0,
                }
            }
        };
        Trunc {
            mean,
            std,
            low,
            high,
            alpha,
            beta,
            sign,
            method,
        }
    }

    /// One standardised draw in [α, β] (before un-mirroring).
    fn draw(&self, rng: &mut ChaCha8Rng, spare: &mut Option<f64>) -> f64 {
        let (a, b) = (self.alpha, self.beta);
        match self.method {
            TruncMethod::Normal => loop {
                let z = match spare.take() {
                    Some(z) => z,
                    None => {
                        let (c, s) = box_muller(rng);
                        *spare = Some(s);
                        c
                    }
                };
                if a <= z && z <= b {
                    return z;
                }
            },
            TruncMethod::Uniform { reference } => loop {
                let z = a + (b - a) * unit(rng);
                let u = unit(rng);
                if u <= libm::exp((reference * reference - z * z) / 2.0) {
                    return z.min(b);
                }
            },
            TruncMethod::Exponential { lambda } => loop {
                let z = a - libm::log(unit_open0(rng)) / lambda;
                let u = unit(rng);
                if z <= b && u <= libm::exp(-(z - lambda) * (z - lambda) / 2.0) {
                    return z;
                }
            },
        }
    }

    #[inline(always)]
    pub(super) fn value(&self, z: f64) -> f64 {
        (self.mean + self.std * (self.sign * z)).clamp(self.low, self.high)
    }
}

/// The `Normal` proposal of [`Trunc::draw`] in bulk: the same sequence of standard normals
/// (the words' Box–Muller pairs, cosine first), the ones in [α, β] kept in order until `out`
/// is full. Words drawn past the last one needed are never used, so the values equal the
/// one-at-a-time definition.
fn trunc_by_normals(t: &Trunc, rng: &mut ChaCha8Rng, out: &mut [f64]) {
    let (mut cos, mut sin) = ([0f32; BM_BLOCK], [0f32; BM_BLOCK]);
    let (a, b) = (t.alpha, t.beta);
    trunc_normal_blocks(rng, out.len(), |block, done| {
        box_muller_block(block, &mut cos, &mut sin);
        let mut i = done;
        for (c, s) in cos.iter().zip(&sin).take(block.len()) {
            for z in [*c as f64, *s as f64] {
                if i < out.len() && a <= z && z <= b {
                    out[i] = t.value(z);
                    i += 1;
                }
            }
        }
        i - done
    });
}

/// The word blocks of the truncated normal's `Normal` proposal for `n` values: blocks of at
/// most [`BM_BLOCK`] words go to `take(block, done)`, which keeps the block's accepted values
/// (at most `n − done`) and returns how many, until `n` are kept. Words drawn past the last
/// block needed are never used.
fn trunc_normal_blocks(
    rng: &mut ChaCha8Rng,
    n: usize,
    mut take: impl FnMut(&[u64], usize) -> usize,
) {
    let mut done = 0;
    while done < n {
        // The interval holds ≥ 68% of the mass here (it contains 0 and is ≥ √(2π) wide).
        let words = ((n - done) * 3 / 4 + 8).min(1 << 14);
        with_words(rng, words, |words| {
            for block in words.chunks(BM_BLOCK) {
                if done == n {
                    return;
                }
                done += take(block, done);
            }
        });
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Sampler {
    Constant(f64),
    Uniform {
        low: f64,
        high: f64,
    },
    Normal {
        mean: f64,
        std: f64,
    },
    Trunc(Trunc),
    Eye {
        gain: f64,
        cols: u64,
    },
    Dirac {
        shape: Vec<u64>,
        groups: u64,
        channels_last: bool,
    },
    Sparse {
        std: f64,
        zeros: u64,
        rows: u64,
        cols: u64,
        mask_key: u64,
    },
    Orthogonal {
        gain: f64,
        rows: u64,
        cols: u64,
    },
}

/// Values computed for the whole tensor at once (orthogonal matrices, sparse column
/// thresholds), kept until [`TensorStream::release`].
#[derive(Debug, Default)]
struct Cache(Mutex<Option<Arc<Vec<f64>>>>);

/// The values of one tensor, chunk by chunk.
#[derive(Debug)]
pub struct TensorStream {
    key: [u8; 32],
    numel: u64,
    /// The output dtype: f32, f16 and bf16 draw uniform values from 32-bit words.
    dtype: DType,
    sampler: Sampler,
    cache: Cache,
    /// Elements `[start, end)` forced to +0 after sampling (an embedding's padding row, as
    /// `nn.Embedding(padding_idx=…)` and transformers' `_init_weights` zero it).
    zeroed: Option<(u64, u64)>,
}

/// splitmix64's finaliser (Steele, Lea & Flood 2014): a bijection on u64.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key of the hash that chooses a sparse tensor's zeros: the first 8 bytes (little-endian)
/// of the key of the name `NAME\0sparse` (tensor names cannot contain NUL).
fn sparse_mask_key(seed: u64, name: &str) -> u64 {
    let k = tensor_key(seed, &format!("{name}\0sparse"));
    u64::from_le_bytes(k[..8].try_into().expect("8 bytes"))
}

/// Rank of element (row r, column c) in its column's random order: distinct for every element.
fn sparse_hash(mask_key: u64, rows: u64, r: u64, c: u64) -> u64 {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
    mix64(mask_key.wrapping_add((c * rows + r + 1).wrapping_mul(GAMMA)))
}

impl TensorStream {
    /// The stream of the 1-D-shaped tensor `name` with `numel` elements drawn from `dist`
    /// (for element-wise distributions; structural ones need [`TensorStream::with_shape`]).
    pub fn new(seed: u64, name: &str, numel: u64, dist: &Distribution) -> TensorStream {
        TensorStream::with_shape(seed, name, &[numel], dist)
    }

    /// The stream of tensor `name` of `shape` drawn from `dist`.
    pub fn with_shape(seed: u64, name: &str, shape: &[u64], dist: &Distribution) -> TensorStream {
        let numel = shape.iter().product();
        let sampler = match *dist {
            Distribution::Constant { value } => Sampler::Constant(value),
            Distribution::Uniform { low, high } if low == high => Sampler::Constant(low),
            Distribution::Uniform { low, high } => Sampler::Uniform { low, high },
            Distribution::Normal { mean, std: 0.0 } => Sampler::Constant(mean),
            Distribution::Normal { mean, std } => Sampler::Normal { mean, std },
            Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => {
                if low == high {
                    Sampler::Constant(low)
                } else if std == 0.0 {
                    Sampler::Constant(mean.clamp(low, high))
                } else {
                    Sampler::Trunc(Trunc::new(mean, std, low, high))
                }
            }
            Distribution::Eye { gain } => Sampler::Eye {
                gain,
                cols: shape.get(1).copied().unwrap_or(1).max(1),
            },
            Distribution::Dirac {
                groups,
                channels_last,
            } => Sampler::Dirac {
                shape: shape.to_vec(),
                groups,
                channels_last,
            },
            Distribution::Sparse {
                std,
                zeros_per_column,
            } => Sampler::Sparse {
                std,
                zeros: zeros_per_column,
                rows: shape.first().copied().unwrap_or(0),
                cols: shape.get(1).copied().unwrap_or(0),
                mask_key: sparse_mask_key(seed, name),
            },
            Distribution::Orthogonal { gain, rows, cols } => {
                Sampler::Orthogonal { gain, rows, cols }
            }
        };
        TensorStream {
            key: tensor_key(seed, name),
            numel,
            dtype: DType::F64,
            sampler,
            cache: Cache::default(),
            zeroed: None,
        }
    }

    /// The same stream with elements `[start, end)` set to +0 (the other values unchanged).
    pub fn with_zeroed(mut self, range: Option<(u64, u64)>) -> TensorStream {
        self.zeroed = range.filter(|(a, b)| a < b);
        self
    }

    /// The zeroed part of elements `[start, start + len)`, as offsets from `start`.
    pub fn zeroed_within(&self, start: u64, len: usize) -> Option<(usize, usize)> {
        let (a, b) = self.zeroed?;
        let (lo, hi) = (a.max(start), b.min(start + len as u64));
        (lo < hi).then(|| ((lo - start) as usize, (hi - start) as usize))
    }

    /// The part of chunk `c` that is zeroed, as offsets into the chunk.
    fn zeroed_in_chunk(&self, c: u64) -> Option<(usize, usize)> {
        self.zeroed_within(c * CHUNK_ELEMS, self.chunk_len(c))
    }

    /// The same stream for an output of `dtype` (the default is f64). Uniform values of f32,
    /// f16 and bf16 tensors are drawn with f32 precision, from one 32-bit word each.
    pub fn with_dtype(mut self, dtype: DType) -> TensorStream {
        self.dtype = dtype;
        self
    }

    /// The output dtype (see [`TensorStream::with_dtype`]).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Drop values computed for the whole tensor (call when the tensor has been written).
    pub fn release(&self) {
        *self.cache.0.lock().expect("cache lock") = None;
    }

    /// The whole-tensor values, computed on first use.
    fn cached(&self, compute: impl FnOnce() -> Vec<f64>) -> Arc<Vec<f64>> {
        let mut guard = self.cache.0.lock().expect("cache lock");
        guard.get_or_insert_with(|| Arc::new(compute())).clone()
    }

    /// Standard normals for elements [start, start + out.len()) of the chunk stream (same
    /// pairs as the `normal` sampler), for `start` at a chunk boundary.
    fn normals(&self, c: u64, out: &mut [f64]) {
        fill_normals(&mut self.rng(c), out, 0.0, 1.0);
    }

    /// The orthogonal matrix, in C order.
    fn orthogonal(&self, gain: f64, rows: u64, cols: u64) -> Vec<f64> {
        let (m, n) = (rows as usize, cols as usize);
        let mut a = vec![0.0; m * n];
        for c in 0..self.num_chunks() {
            let start = (c * CHUNK_ELEMS) as usize;
            let len = self.chunk_len(c);
            self.normals(c, &mut a[start..start + len]);
        }
        super::ortho::orthogonal_from_gaussian(a, m, n, gain)
    }

    /// Per column, the largest hash that is zeroed. Sequential on purpose: it runs under the
    /// cache lock inside a rayon task, where nested rayon work could deadlock.
    fn sparse_thresholds(&self, zeros: u64, rows: u64, cols: u64, mask_key: u64) -> Vec<f64> {
        let mut hashes = Vec::new();
        (0..cols)
            .map(|c| {
                if zeros == 0 {
                    return f64::from_bits(0);
                }
                hashes.clear();
                hashes.extend((0..rows).map(|r| sparse_hash(mask_key, rows, r, c)));
                let k = (zeros - 1) as usize;
                let (_, t, _) = hashes.select_nth_unstable(k);
                // Stored as raw bits in an f64 slot (the cache holds f64).
                f64::from_bits(*t)
            })
            .collect()
    }

    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.numel
    }

    /// Number of chunks (the last may be short).
    pub fn num_chunks(&self) -> u64 {
        self.numel.div_ceil(CHUNK_ELEMS)
    }

    /// Elements in chunk `c`.
    pub fn chunk_len(&self, c: u64) -> usize {
        let start = c * CHUNK_ELEMS;
        (self.numel - start).min(CHUNK_ELEMS) as usize
    }

    /// Fill `out` (exactly `chunk_len(c)` long) with the f64 values of chunk `c`.
    pub fn fill_chunk(&self, c: u64, out: &mut [f64]) {
        self.fill_chunk_sampled(c, out);
        if let Some((a, b)) = self.zeroed_in_chunk(c) {
            out[a..b].fill(0.0);
        }
    }

    /// Chunk `c`'s sampled values, before any zeroed range.
    fn fill_chunk_sampled(&self, c: u64, out: &mut [f64]) {
        debug_assert_eq!(out.len(), self.chunk_len(c));
        let start = c * CHUNK_ELEMS;
        match &self.sampler {
            Sampler::Constant(v) => {
                out.fill(*v);
                return;
            }
            Sampler::Eye { gain, cols } => {
                for (i, x) in out.iter_mut().enumerate() {
                    let idx = start + i as u64;
                    *x = if idx / cols == idx % cols { *gain } else { 0.0 };
                }
                return;
            }
            Sampler::Dirac {
                shape,
                groups,
                channels_last,
            } => {
                for (i, x) in out.iter_mut().enumerate() {
                    *x = dirac_value(shape, *groups, *channels_last, start + i as u64);
                }
                return;
            }
            Sampler::Orthogonal { gain, rows, cols } => {
                let (g, r, k) = (*gain, *rows, *cols);
                let q = self.cached(|| self.orthogonal(g, r, k));
                out.copy_from_slice(&q[start as usize..start as usize + out.len()]);
                return;
            }
            Sampler::Sparse {
                std,
                zeros,
                rows,
                cols,
                mask_key,
            } => {
                let (z, r, k, mk) = (*zeros, *rows, *cols, *mask_key);
                let thresholds = self.cached(|| self.sparse_thresholds(z, r, k, mk));
                self.normals(c, out);
                for (i, x) in out.iter_mut().enumerate() {
                    let idx = start + i as u64;
                    let (row, col) = (idx / k, idx % k);
                    let zeroed =
                        z > 0 && sparse_hash(mk, r, row, col) <= thresholds[col as usize].to_bits();
                    *x = if zeroed { 0.0 } else { std * *x };
                }
                return;
            }
            _ => {}
        }
        let mut rng = self.rng(c);
        match self.sampler.clone() {
            Sampler::Constant(_)
            | Sampler::Eye { .. }
            | Sampler::Dirac { .. }
            | Sampler::Orthogonal { .. }
            | Sampler::Sparse { .. } => unreachable!("handled above"),
            Sampler::Uniform { low, high } if self.dtype.is_narrow() => {
                let width = high - low;
                with_words32(&mut rng, out.len(), |words| {
                    for (x, w) in out.iter_mut().zip(words) {
                        *x = simd::uniform24(*w, low, width, high);
                    }
                });
            }
            Sampler::Uniform { low, high } => {
                let width = high - low;
                with_words(&mut rng, out.len(), |words| {
                    for (x, w) in out.iter_mut().zip(words) {
                        *x = (low + width * unit_of(*w)).min(high);
                    }
                });
            }
            Sampler::Normal { mean, std } => fill_normals(&mut rng, out, mean, std),
            Sampler::Trunc(t) if t.method == TruncMethod::Normal => {
                trunc_by_normals(&t, &mut rng, out)
            }
            Sampler::Trunc(t) => {
                let mut spare = None;
                for x in out.iter_mut() {
                    *x = t.value(t.draw(&mut rng, &mut spare));
                }
            }
        }
    }

    /// Fill `out` with the little-endian bytes of chunk `c` in the stream's dtype (see
    /// [`TensorStream::with_dtype`]); `scratch` is reused between calls to avoid allocation.
    pub fn fill_chunk_bytes(&self, c: u64, scratch: &mut Vec<f64>, out: &mut [u8]) {
        if !(self.dtype.is_narrow() && self.fill_narrow(c, out)) {
            let n = self.chunk_len(c);
            scratch.resize(n, 0.0);
            self.fill_chunk_sampled(c, scratch);
            self.dtype.encode(scratch, out);
        }
        // +0 is all-zero bytes in every float dtype.
        if let Some((a, b)) = self.zeroed_in_chunk(c) {
            let size = self.dtype.size();
            out[a * size..b * size].fill(0);
        }
    }

    /// Chunk `c`'s generator.
    fn rng(&self, c: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(c);
        rng
    }

    /// The fast path of [`TensorStream::fill_chunk_bytes`] for f32/f16/bf16 outputs of the
    /// uniform, normal and truncated normal (`Normal` proposal) samplers: values computed in
    /// blocks straight to the dtype's bytes by the [`simd`] kernels, the same bits as
    /// [`TensorStream::fill_chunk`] followed by [`DType::encode`]. `false` for other samplers.
    fn fill_narrow(&self, c: u64, out: &mut [u8]) -> bool {
        let (dtype, n) = (self.dtype, self.chunk_len(c));
        let size = dtype.size();
        debug_assert_eq!(out.len(), n * size);
        let mut vals = [0f32; simd::VAL_BLOCK];
        let mut bm = simd::BoxMuller::new();
        let mut rng = self.rng(c);
        match self.sampler {
            Sampler::Uniform { low, high } => {
                with_words32(&mut rng, n, |words| {
                    for (ws, os) in words
                        .chunks(simd::VAL_BLOCK)
                        .zip(out.chunks_mut(simd::VAL_BLOCK * size))
                    {
                        let v = &mut vals[..ws.len()];
                        simd::uniform_f32(ws, low, high - low, high, v);
                        dtype.encode_f32(v, os);
                    }
                });
            }
            Sampler::Normal { mean, std } => {
                with_words(&mut rng, n.div_ceil(2), |words| {
                    for (ws, os) in words
                        .chunks(BM_BLOCK)
                        .zip(out.chunks_mut(simd::VAL_BLOCK * size))
                    {
                        let v = &mut vals[..os.len() / size];
                        simd::normal_f32(ws, mean, std, v, &mut bm);
                        dtype.encode_f32(v, os);
                    }
                });
            }
            Sampler::Trunc(t) if t.method == TruncMethod::Normal => {
                trunc_normal_blocks(&mut rng, n, |ws, i| {
                    let k = simd::trunc_normal_f32(ws, &t, &mut vals, &mut bm).min(n - i);
                    dtype.encode_f32(&vals[..k], &mut out[i * size..(i + k) * size]);
                    k
                });
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(dist: Distribution, n: u64) -> Vec<f64> {
        let s = TensorStream::new(1, "t", n, &dist);
        let mut all = Vec::new();
        for c in 0..s.num_chunks() {
            let mut v = vec![0.0; s.chunk_len(c)];
            s.fill_chunk(c, &mut v);
            all.extend(v);
        }
        all
    }

    #[test]
    fn key_depends_on_seed_and_name_only() {
        assert_eq!(tensor_key(1, "a"), tensor_key(1, "a"));
        assert_ne!(tensor_key(1, "a"), tensor_key(2, "a"));
        assert_ne!(tensor_key(1, "a"), tensor_key(1, "b"));
    }

    #[test]
    fn chunks_are_independent_of_fill_order() {
        let d = Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        };
        let s = TensorStream::new(9, "w", 3 * CHUNK_ELEMS + 5, &d);
        let forward: Vec<Vec<f64>> = (0..s.num_chunks())
            .map(|c| {
                let mut v = vec![0.0; s.chunk_len(c)];
                s.fill_chunk(c, &mut v);
                v
            })
            .collect();
        for c in (0..s.num_chunks()).rev() {
            let mut v = vec![0.0; s.chunk_len(c)];
            s.fill_chunk(c, &mut v);
            assert_eq!(v, forward[c as usize]);
        }
        assert_ne!(forward[0][..16], forward[1][..16]);
    }

    #[test]
    fn uniform_values_stay_inside_their_bounds() {
        let v = values(
            Distribution::Uniform {
                low: -0.25,
                high: 0.5,
            },
            100_000,
        );
        assert!(v.iter().all(|x| (-0.25..=0.5).contains(x)));
    }

    #[test]
    fn truncated_values_stay_inside_their_bounds_for_every_method() {
        // (mean, std, low, high): normal rejection, uniform around 0, far one-sided tail
        // (exponential), narrow one-sided (uniform), and a mirrored negative tail.
        let cases = [
            (0.0, 1.0, -2.0, 2.0),
            (0.0, 1.0, -0.5, 0.7),
            (0.0, 1.0, 5.0, 50.0),
            (0.0, 1.0, 3.0, 3.01),
            (1.0, 2.0, -30.0, -10.0),
        ];
        for (mean, std, low, high) in cases {
            let d = Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            };
            let v = values(d, 20_000);
            assert!(v.iter().all(|x| (low..=high).contains(x)), "{low}..{high}");
            assert!(v.iter().any(|x| *x != v[0]), "not constant");
        }
    }

    /// The f32 polynomials against f64 `std` maths: ln within 2 f32 ulps of the true value
    /// (relative 2.4e-7) on a sweep of (0, 1], sin/cos within 3e-7 absolute over every 257th
    /// angle index, and the radius of each pair within 1e-6 relative.
    #[test]
    fn f32_box_muller_is_accurate() {
        let mut worst_ln = 0.0f64;
        let mut x = 1.0f32;
        while x >= 2.0f32.powi(-32) {
            for k in 0..64 {
                let v = x * (1.0 - k as f32 / 128.0);
                let exact = (v as f64).ln();
                if exact != 0.0 {
                    let err = ((ln_f32(v) as f64 - exact) / exact).abs();
                    worst_ln = worst_ln.max(err);
                }
            }
            x /= 2.0;
        }
        assert!(worst_ln < 2.4e-7, "ln relative error {worst_ln:e}");
        assert_eq!(ln_f32(1.0), 0.0);
        let mut worst_trig = 0.0f64;
        for k in (0..1u32 << 24)
            .step_by(257)
            .chain([0, 1 << 22, 1 << 23, (1 << 24) - 1])
        {
            let a = core::f64::consts::TAU * k as f64 / 16_777_216.0;
            let (s, c) = sincos_turns_f32(k);
            worst_trig = worst_trig
                .max((s as f64 - a.sin()).abs())
                .max((c as f64 - a.cos()).abs());
        }
        assert!(worst_trig < 3e-7, "sin/cos error {worst_trig:e}");
        let mut rng = ChaCha8Rng::from_seed([7; 32]);
        for _ in 0..100_000 {
            let w = rng.next_u64();
            let (c, s) = box_muller_word(w);
            // u1 as the sampler rounds it to f32; the rest exact.
            let u1 =
                ((w as u32 >> 1) as i32 as f32) * (1.0 / 2_147_483_648.0) + (1.0 / 4_294_967_296.0);
            let r = (-2.0 * (u1 as f64).ln()).sqrt();
            let got = ((c as f64).powi(2) + (s as f64).powi(2)).sqrt();
            assert!((got - r).abs() <= 1e-6 * r.max(1e-3), "{w:x}: {got} vs {r}");
        }
    }

    /// The bulk truncated-normal path gives exactly the values of one-at-a-time `draw`.
    #[test]
    fn bulk_truncated_normal_equals_the_one_at_a_time_definition() {
        for (low, high) in [(-2.0, 2.0), (-1.3, 1.7), (-3.0, 0.5)] {
            let t = Trunc::new(0.1, 1.0, low, high);
            assert_eq!(t.method, TruncMethod::Normal);
            for n in [1, 2, 7, 1000, 65536] {
                let mut a = ChaCha8Rng::from_seed([3; 32]);
                let mut bulk = vec![0.0; n];
                trunc_by_normals(&t, &mut a, &mut bulk);
                let mut b = ChaCha8Rng::from_seed([3; 32]);
                let mut spare = None;
                let one: Vec<f64> = (0..n)
                    .map(|_| t.value(t.draw(&mut b, &mut spare)))
                    .collect();
                assert_eq!(bulk, one, "[{low}, {high}] n={n}");
            }
        }
    }

    /// Bulk words are the words `next_u64` returns.
    #[test]
    fn bulk_words_equal_next_u64() {
        let mut a = ChaCha8Rng::from_seed([9; 32]);
        a.set_stream(4);
        let bulk = with_words(&mut a, 1001, |w| w.to_vec());
        let mut b = ChaCha8Rng::from_seed([9; 32]);
        b.set_stream(4);
        let one: Vec<u64> = (0..1001).map(|_| b.next_u64()).collect();
        assert_eq!(bulk, one);
    }

    #[test]
    fn method_choice_follows_the_interval() {
        assert_eq!(Trunc::new(0.0, 1.0, -2.0, 2.0).method, TruncMethod::Normal);
        assert!(matches!(
            Trunc::new(0.0, 1.0, -0.5, 0.5).method,
            TruncMethod::Uniform { .. }
        ));
        assert!(matches!(
            Trunc::new(0.0, 1.0, 4.0, 100.0).method,
            TruncMethod::Exponential { .. }
        ));
        let m = Trunc::new(0.0, 1.0, -100.0, -4.0);
        assert_eq!(m.sign, -1.0);
        assert!(matches!(m.method, TruncMethod::Exponential { .. }));
    }
}
