//! The hot loops of the native samplers for f32/f16/bf16 outputs, compiled twice: for the
//! baseline target and with AVX2, chosen at run time (`crate::dispatch`).
//!
//! Every kernel uses only IEEE operations whose result does not depend on the vector width
//! (add, multiply, divide, square root, compare, min/max, exact integer conversions and
//! round-to-nearest narrowing; no FMA, no approximate reciprocals), so the choice never changes
//! a bit. A test runs each kernel both ways and compares.

use super::{BM_BLOCK, Trunc, box_muller_block};
use crate::dispatch::kernel;

/// Values per block (stack buffers of the callers).
pub(super) const VAL_BLOCK: usize = 2 * BM_BLOCK;

/// Scratch of the Box–Muller kernels, reused between blocks.
pub(super) struct BoxMuller {
    cos: [f32; BM_BLOCK],
    sin: [f32; BM_BLOCK],
    vals: [f32; VAL_BLOCK],
    keep: [bool; VAL_BLOCK],
}

impl BoxMuller {
    pub(super) fn new() -> BoxMuller {
        BoxMuller {
            cos: [0.0; BM_BLOCK],
            sin: [0.0; BM_BLOCK],
            vals: [0.0; VAL_BLOCK],
            keep: [false; VAL_BLOCK],
        }
    }
}

/// The uniform value of one 32-bit word, before rounding to f32:
/// `min(low + width·u, high)` in f64 with `u = (w >> 8)·2⁻²⁴` ∈ [0, 1).
#[inline(always)]
pub(super) fn uniform24(w: u32, low: f64, width: f64, high: f64) -> f64 {
    let u = (w >> 8) as i32 as f64 * (1.0 / 16_777_216.0);
    (low + width * u).min(high)
}

kernel! {
    /// Uniform values from one 32-bit word each, rounded to f32.
    pub(super) fn uniform_f32(words: &[u32], low: f64, width: f64, high: f64, out: &mut [f32]) {
        for (o, w) in out.iter_mut().zip(words) {
            *o = uniform24(*w, low, width, high) as f32;
        }
    }
}

kernel! {
    /// `mean + std·z` (f64, rounded to f32) for the Box–Muller pairs of `words` (at most
    /// [`BM_BLOCK`]), cosine value first; `out` holds 2·words or 2·words − 1 values (an odd
    /// last element takes the cosine value of its pair).
    pub(super) fn normal_f32(words: &[u64], mean: f64, std: f64, out: &mut [f32], bm: &mut BoxMuller) {
        let (cos, sin) = (&mut bm.cos, &mut bm.sin);
        box_muller_block(words, cos, sin);
        let mut pairs = out.chunks_exact_mut(2);
        for ((p, c), s) in (&mut pairs).zip(cos.iter()).zip(sin.iter()) {
            p[0] = (mean + std * *c as f64) as f32;
            p[1] = (mean + std * *s as f64) as f32;
        }
        if let [last] = pairs.into_remainder() {
            *last = (mean + std * cos[words.len() - 1] as f64) as f32;
        }
    }
}

kernel! {
    /// The truncated normal's `Normal` proposal on the Box–Muller pairs of `words` (at most
    /// [`BM_BLOCK`]): the accepted standard normals (cosine value first), as values rounded to
    /// f32, packed in order at the front of `out`. Returns how many were accepted.
    pub(super) fn trunc_normal_f32(
        words: &[u64],
        t: &Trunc,
        out: &mut [f32; VAL_BLOCK],
        bm: &mut BoxMuller,
    ) -> usize {
        let (cos, sin) = (&mut bm.cos, &mut bm.sin);
        box_muller_block(words, cos, sin);
        let (a, b) = (t.alpha, t.beta);
        let (vals, keep) = (&mut bm.vals, &mut bm.keep);
        for (((v, k), c), s) in vals
            .chunks_exact_mut(2)
            .zip(keep.chunks_exact_mut(2))
            .zip(cos.iter())
            .zip(sin.iter())
        {
            let (zc, zs) = (*c as f64, *s as f64);
            k[0] = a <= zc && zc <= b;
            k[1] = a <= zs && zs <= b;
            v[0] = t.value(zc) as f32;
            v[1] = t.value(zs) as f32;
        }
        let mut n = 0;
        for (v, k) in vals.iter().zip(keep.iter()).take(2 * words.len()) {
            out[n] = *v;
            n += *k as usize;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{CAP, Level, level};
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};

    /// Every kernel's output under the baseline build and under the build this CPU picks.
    fn both<T: PartialEq + std::fmt::Debug>(mut f: impl FnMut() -> T) -> (T, T) {
        CAP.set(Level::Baseline);
        let base = f();
        CAP.set(Level::Avx2);
        (base, f())
    }

    #[test]
    fn baseline_and_avx2_builds_give_the_same_bits() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            level() == Level::Avx2,
            std::arch::is_x86_feature_detected!("avx2")
        );
        let mut rng = ChaCha8Rng::from_seed([5; 32]);
        let mut bm = BoxMuller::new();
        for _ in 0..200 {
            let words: Vec<u64> = (0..BM_BLOCK).map(|_| rng.next_u64()).collect();
            let words32: Vec<u32> = words.iter().map(|w| *w as u32).collect();
            let (a, b) = both(|| {
                let mut v = [0f32; BM_BLOCK];
                uniform_f32(&words32, -0.3, 0.8, 0.5, &mut v);
                v.map(f32::to_bits)
            });
            assert_eq!(a, b, "uniform");
            // Odd and even lengths.
            for m in [2 * BM_BLOCK, 2 * BM_BLOCK - 1, 17] {
                let (a, b) = both(|| {
                    let mut v = [0f32; VAL_BLOCK];
                    normal_f32(&words[..m.div_ceil(2)], 0.1, 0.02, &mut v[..m], &mut bm);
                    v.map(f32::to_bits)
                });
                assert_eq!(a, b, "normal, {m} values");
            }
            for (low, high) in [(-2.0, 2.0), (-0.5, 3.0)] {
                let t = Trunc::new(0.0, 1.0, low, high);
                let (a, b) = both(|| {
                    let mut v = [0f32; VAL_BLOCK];
                    let n = trunc_normal_f32(&words, &t, &mut v, &mut bm);
                    (n, v.map(f32::to_bits))
                });
                assert_eq!(a, b, "truncated normal [{low}, {high}]");
            }
        }
    }
}
