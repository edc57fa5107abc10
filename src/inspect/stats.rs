//! Exact laws and the statistics `inspect` computes from a tensor's bytes.
//!
//! Owns: the normal CDF Φ and its tails, truncated-normal moments, the [`Exact`] law of a
//! [`Distribution`] (mean, variance, kurtosis, CDF, support), the one-pass summary statistics of
//! a chunk of values ([`Moments`]) and the Kolmogorov–Smirnov statistic from counts — in fine
//! bins on a grid ([`Grid`], bounded within one bin's probability mass) or per distinct value
//! ([`ks_atoms`], exact) — so a test against the exact CDF runs in one streaming pass in flat
//! memory, with the CDF evaluated per bin edge rather than per element. The statistical
//! tests (`tests/stats.rs`) use the same functions. Does not own: deciding pass or fail
//! (`check`), nor reading files (`read`).

use crate::scheme::Distribution;
use std::f64::consts::{PI, SQRT_2};

/// Standard normal density φ.
pub fn pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// Φ(x) = erfc(−x/√2)/2: full relative precision in the lower tail (x < 0).
pub fn cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / SQRT_2)
}

/// 1 − Φ(x) = erfc(x/√2)/2: full relative precision in the upper tail (x > 0).
pub fn sf(x: f64) -> f64 {
    0.5 * libm::erfc(x / SQRT_2)
}

/// P(a ≤ Z ≤ b) for a standard normal Z, from the tail that keeps precision.
pub fn mass(a: f64, b: f64) -> f64 {
    if a >= 0.0 {
        sf(a) - sf(b)
    } else {
        cdf(b) - cdf(a)
    }
}

/// x^k·φ(x), taken as 0 where φ underflows (so infinite or huge bounds are fine).
fn xk_pdf(x: f64, k: i32) -> f64 {
    let p = pdf(x);
    if p == 0.0 { 0.0 } else { x.powi(k) * p }
}

/// Raw moments E[Z^k], k = 0..=4, of a standard normal truncated to [a, b], by the
/// integration-by-parts recurrence M_k = (k−1)·M_{k−2} + (a^{k−1}φ(a) − b^{k−1}φ(b)) / Z.
pub fn truncated_raw_moments(a: f64, b: f64) -> [f64; 5] {
    let z = mass(a, b);
    let mut m = [1.0, (pdf(a) - pdf(b)) / z, 0.0, 0.0, 0.0];
    for k in 2..5 {
        m[k] = (k - 1) as f64 * m[k - 2] + (xk_pdf(a, k as i32 - 1) - xk_pdf(b, k as i32 - 1)) / z;
    }
    m
}

/// (mean, variance, kurtosis) of a standard normal truncated to [a, b].
pub fn truncated_standard_moments(a: f64, b: f64) -> (f64, f64, f64) {
    let [_, m1, m2, m3, m4] = truncated_raw_moments(a, b);
    let var = m2 - m1 * m1;
    let mu4 = m4 - 4.0 * m1 * m3 + 6.0 * m1 * m1 * m2 - 3.0 * m1.powi(4);
    (m1, var, mu4 / (var * var))
}

/// The exact law of a [`Distribution`]: moments, CDF and support. A constant is the point mass
/// at its value (variance 0, kurtosis NaN, a step CDF).
pub trait Exact {
    fn mean(&self) -> f64;
    fn var(&self) -> f64;
    /// E[(X−μ)⁴]/σ⁴: 1.8 for a uniform, 3 for a normal; for a truncated normal below 3
    /// when the cut is symmetric, but up to 9 (the exponential's) for a one-sided far tail,
    /// so it is computed exactly rather than bounded by 3.
    fn kurtosis(&self) -> f64;
    fn cdf(&self, x: f64) -> f64;
    fn support(&self) -> (f64, f64);
}

fn standardised(mean: f64, std: f64, low: f64, high: f64) -> (f64, f64) {
    ((low - mean) / std, (high - mean) / std)
}

impl Exact for Distribution {
    fn mean(&self) -> f64 {
        match *self {
            Distribution::Constant { value } => value,
            Distribution::Uniform { low, high } => 0.5 * (low + high),
            Distribution::Normal { mean, .. } => mean,
            Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => {
                let (a, b) = standardised(mean, std, low, high);
                mean + std * truncated_standard_moments(a, b).0
            }
            // Structural laws are not i.i.d.; `check::value_tests` has their own tests.
            Distribution::Orthogonal { .. } | Distribution::Sparse { .. } => 0.0,
            Distribution::Eye { .. } | Distribution::Dirac { .. } => f64::NAN,
        }
    }

    fn var(&self) -> f64 {
        match *self {
            Distribution::Constant { .. } => 0.0,
            Distribution::Uniform { low, high } => (high - low).powi(2) / 12.0,
            Distribution::Normal { std, .. } => std * std,
            Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => {
                let (a, b) = standardised(mean, std, low, high);
                std * std * truncated_standard_moments(a, b).1
            }
            // Orthonormal rows/columns: the squares sum to gain²·min(r, c) over r·c entries.
            Distribution::Orthogonal { gain, rows, cols } => {
                gain * gain / rows.max(cols).max(1) as f64
            }
            _ => f64::NAN,
        }
    }

    fn kurtosis(&self) -> f64 {
        match *self {
            Distribution::Constant { .. } => f64::NAN,
            Distribution::Uniform { .. } => 1.8,
            Distribution::Normal { .. } => 3.0,
            Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => {
                let (a, b) = standardised(mean, std, low, high);
                truncated_standard_moments(a, b).2
            }
            _ => f64::NAN,
        }
    }

    fn cdf(&self, x: f64) -> f64 {
        match *self {
            Distribution::Constant { value } => {
                if x >= value {
                    1.0
                } else {
                    0.0
                }
            }
            Distribution::Uniform { low, high } => ((x - low) / (high - low)).clamp(0.0, 1.0),
            Distribution::Normal { mean, std } => cdf((x - mean) / std),
            Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => {
                let (a, b) = standardised(mean, std, low, high);
                let xi = ((x - mean) / std).clamp(a, b);
                if a >= 0.0 {
                    // Upper tail: (Q(a) − Q(ξ)) / (Q(a) − Q(b)) with Q = 1 − Φ from erfc, so
                    // a cut at 3σ or 8σ keeps full precision (Φ(8) rounds to 1).
                    (sf(a) - sf(xi)) / (sf(a) - sf(b))
                } else {
                    (cdf(xi) - cdf(a)) / (cdf(b) - cdf(a))
                }
            }
            _ => f64::NAN,
        }
    }

    fn support(&self) -> (f64, f64) {
        match *self {
            Distribution::Uniform { low, high }
            | Distribution::TruncatedNormal { low, high, .. } => (low, high),
            Distribution::Normal { .. } => (f64::NEG_INFINITY, f64::INFINITY),
            Distribution::Constant { value } => (value, value),
            Distribution::Orthogonal { gain, .. } => (-gain.abs(), gain.abs()),
            Distribution::Eye { gain } => (gain.min(0.0), gain.max(0.0)),
            Distribution::Dirac { .. } => (0.0, 1.0),
            Distribution::Sparse { .. } => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }
}

/// Whether values are i.i.d. draws from an element-wise law (moments and KS apply).
pub fn is_elementwise(d: &Distribution) -> bool {
    matches!(
        d,
        Distribution::Constant { .. }
            | Distribution::Uniform { .. }
            | Distribution::Normal { .. }
            | Distribution::TruncatedNormal { .. }
    )
}

/// One-sample Kolmogorov–Smirnov statistic D_n = sup |F_n − F| (sorts `xs`). Needs every
/// value in memory; `inspect` uses [`Grid`] and [`ks_atoms`] instead.
pub fn ks(xs: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
    xs.sort_unstable_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mut d = 0.0f64;
    for (i, &x) in xs.iter().enumerate() {
        let f = cdf(x);
        d = d.max(f - i as f64 / n).max((i + 1) as f64 / n - f);
    }
    d
}

/// Summary statistics of a set of values, mergeable (Chan et al.'s pairwise update), so chunks
/// can be summarised in parallel and combined in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Values seen, including NaN and ±∞.
    pub count: u64,
    /// Finite values (the mean and variance are over these).
    pub finite: u64,
    pub mean: f64,
    /// Sum of squared deviations from the mean (finite values).
    pub m2: f64,
    /// Smallest and largest finite value (±∞ when there is none).
    pub min: f64,
    pub max: f64,
    pub zeros: u64,
    pub nan: u64,
    pub inf: u64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            count: 0,
            finite: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zeros: 0,
            nan: 0,
            inf: 0,
        }
    }
}

impl Moments {
    /// Summary of `xs` (two passes over the slice, for accuracy).
    pub fn of(xs: &[f64]) -> Moments {
        let mut m = Moments {
            count: xs.len() as u64,
            ..Moments::default()
        };
        let mut sum = 0.0;
        for &x in xs {
            if x.is_finite() {
                m.finite += 1;
                sum += x;
                m.min = m.min.min(x);
                m.max = m.max.max(x);
                if x == 0.0 {
                    m.zeros += 1;
                }
            } else if x.is_nan() {
                m.nan += 1;
            } else {
                m.inf += 1;
            }
        }
        if m.finite > 0 {
            m.mean = sum / m.finite as f64;
            m.m2 = xs
                .iter()
                .filter(|x| x.is_finite())
                .map(|x| (x - m.mean) * (x - m.mean))
                .sum();
        }
        m
    }

    /// Summary of values given as atoms: (value, count) for distinct finite values in
    /// increasing order, plus the NaN and ±∞ counts (what a 16-bit tensor's histogram gives).
    /// Sums run in value order, so the result depends only on the counts.
    pub fn of_atoms(atoms: &[(f64, u64)], nan: u64, inf: u64) -> Moments {
        let finite: u64 = atoms.iter().map(|a| a.1).sum();
        let mut m = Moments {
            count: finite + nan + inf,
            finite,
            nan,
            inf,
            ..Moments::default()
        };
        if finite > 0 {
            // c·v is exact for a 16-bit v (≤ 11 significant bits) and c < 2⁴².
            m.mean = atoms.iter().map(|&(v, c)| c as f64 * v).sum::<f64>() / finite as f64;
            m.m2 = atoms
                .iter()
                .map(|&(v, c)| c as f64 * (v - m.mean) * (v - m.mean))
                .sum();
            m.min = atoms[0].0;
            m.max = atoms[atoms.len() - 1].0;
            m.zeros = atoms.iter().filter(|a| a.0 == 0.0).map(|a| a.1).sum();
        }
        m
    }

    /// The summary of consecutive parts, merged as a balanced binary tree (pairwise, so the
    /// rounding error grows with log₂ of the number of parts; the order depends only on it).
    pub fn merge_tree(parts: &[Moments]) -> Moments {
        match parts.len() {
            0 => Moments::default(),
            1 => parts[0],
            n => {
                let (a, b) = parts.split_at(n / 2);
                let mut m = Moments::merge_tree(a);
                m.merge(&Moments::merge_tree(b));
                m
            }
        }
    }

    /// Combine with the summary of another, disjoint set of values.
    pub fn merge(&mut self, o: &Moments) {
        if o.finite > 0 {
            if self.finite == 0 {
                self.mean = o.mean;
                self.m2 = o.m2;
            } else {
                let (na, nb) = (self.finite as f64, o.finite as f64);
                let n = na + nb;
                let delta = o.mean - self.mean;
                self.mean += delta * nb / n;
                self.m2 += o.m2 + delta * delta * na * nb / n;
            }
        }
        self.count += o.count;
        self.finite += o.finite;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.zeros += o.zeros;
        self.nan += o.nan;
        self.inf += o.inf;
    }

    /// Population standard deviation (ddof = 0, as NumPy's `std`).
    pub fn std(&self) -> f64 {
        if self.finite == 0 {
            f64::NAN
        } else {
            self.var().sqrt()
        }
    }

    /// Population variance (ddof = 0, as NumPy's `var`): the one definition `inspect` shows
    /// and checks (its square root is [`Moments::std`]).
    pub fn var(&self) -> f64 {
        if self.finite == 0 {
            f64::NAN
        } else {
            self.m2 / self.finite as f64
        }
    }
}

/// Most bins of a [`Grid`]: 2¹⁶ counts of 4 bytes (256 KiB per thread, cache-resident; a
/// 512 KiB histogram measured 30% slower, smaller ones no faster: `docs/perf-notes.md` §3).
pub const KS_BINS: usize = 1 << 16;

/// Bounds on the Kolmogorov–Smirnov statistic D_n = sup |F_n − G| of a sample against a law,
/// from one streaming pass that never evaluates the CDF per element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsBounds {
    n: u64,
    lo: f64,
    hi: f64,
}

impl KsBounds {
    /// Values tested (the finite ones).
    pub fn n(&self) -> u64 {
        self.n
    }

    /// (lower, upper) bounds on D_n. The lower one is |F_n − G| at points of the real line, so
    /// `lower > critical` proves the test fails: deciding on it keeps the test conservative
    /// (a false alarm is never more likely than α).
    pub fn bounds(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }
}

/// Fine bins on a uniform grid in x for the KS test of f32/f64 (and integer) data.
///
/// A finite value x goes to bin `index(x)` = clamp(⌊(x − a)·s⌋, 0, M − 1), computed in f64
/// (exact for an f32 or integer x; no FMA), so the same value lands in the same bin on every
/// CPU and thread count. The grid spans the bulk of the law ([`Grid::for_law`]); bins 0 and
/// M − 1 reach to −∞ and +∞. Because `index` is monotone, bin k holds exactly the values in
/// [e_k, e_{k+1}) where e_k is the smallest value *of the data's type* with index ≥ k
/// ([`Grid::edge`] finds it exactly, so rounding in `index` cannot misplace a value), and from
/// the counts alone, with C_k the values in bins below k and p_k = G(e_{k+1}) − G(e_k):
///
/// - at each edge, F_n(e_k−) = C_k/n exactly and G(e_k−) = G(e_k) (continuous law), so
///   D_lo = max_k |C_k/n − G(e_k)| ≤ D_n (a lower bound attained at real points);
/// - inside bin k both functions are monotone, so there
///   |F_n − G| ≤ max(C_{k+1}/n − G(e_k), G(e_{k+1}) − C_k/n) and D_hi is the largest of these;
/// - each of those two terms is an edge discrepancy plus either p_k or c_k/n, so
///   **D_lo ≤ D_n ≤ D_hi ≤ D_lo + max_k min(p_k, c_k/n)**: the within-bin error is at most one
///   bin's probability mass. For a uniform law p_k = 1/M; for a normal on a grid of ±5σ,
///   p_k ≤ 10/(√(2π)·M) ≈ 4/M inside (6.1·10⁻⁵ at M = 2¹⁶, against a critical value of
///   1.6·10⁻⁴ for n = 2²⁸ at α = 10⁻⁶) and Φ(−5) + 4/M for the two end bins.
///
/// Only the edges of non-empty bins need G (between two non-empty bins F_n is constant and G
/// monotone, so the extremes are at the ends), hence at most 2·min(n, M) CDF evaluations per
/// tensor instead of n.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    a: f64,
    s: f64,
    bins: usize,
}

/// A type the data can be stored as, ordered by a monotone integer key (for [`Grid::edge`]).
pub trait Keyed: Copy {
    /// A key whose order is the order of the values (finite ones).
    fn key(self) -> i64;
    fn from_key(k: i64) -> Self;
    fn value(self) -> f64;
    fn from_value(x: f64) -> Self;
    /// Keys of the most negative and most positive finite values.
    const KEYS: (i64, i64);
}

impl Keyed for f64 {
    fn key(self) -> i64 {
        let b = self.to_bits() as i64;
        if b < 0 { i64::MIN - b } else { b }
    }
    fn from_key(k: i64) -> f64 {
        f64::from_bits(if k < 0 { i64::MIN - k } else { k } as u64)
    }
    fn value(self) -> f64 {
        self
    }
    fn from_value(x: f64) -> f64 {
        x
    }
    const KEYS: (i64, i64) = (
        i64::MIN - f64::MIN.to_bits() as i64,
        f64::MAX.to_bits() as i64,
    );
}

impl Keyed for f32 {
    fn key(self) -> i64 {
        let b = self.to_bits() as i32 as i64;
        if b < 0 { i32::MIN as i64 - b } else { b }
    }
    fn from_key(k: i64) -> f32 {
        let b = if k < 0 { i32::MIN as i64 - k } else { k };
        f32::from_bits(b as i32 as u32)
    }
    fn value(self) -> f64 {
        self as f64
    }
    fn from_value(x: f64) -> f32 {
        x as f32
    }
    const KEYS: (i64, i64) = (
        i32::MIN as i64 - f32::MIN.to_bits() as i32 as i64,
        f32::MAX.to_bits() as i64,
    );
}

impl Grid {
    /// The grid for a sample of `n` values from `law`: M = n rounded up to a power of two,
    /// between 64 and [`KS_BINS`], over the law's support (uniform) or mean ± 5σ cut to the
    /// support (normal, truncated normal; beyond 5σ lies a mass of 5.7·10⁻⁷, in the end bins).
    pub fn for_law(law: &Distribution, n: u64) -> Grid {
        let bins = (n.clamp(64, KS_BINS as u64) as usize).next_power_of_two();
        let (lo, hi) = match *law {
            Distribution::Uniform { low, high } => (low, high),
            Distribution::Normal { mean, std } => (mean - 5.0 * std, mean + 5.0 * std),
            Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => ((mean - 5.0 * std).max(low), (mean + 5.0 * std).min(high)),
            _ => law.support(),
        };
        let s = bins as f64 / (hi - lo);
        if lo.is_finite() && s.is_finite() && s > 0.0 {
            Grid { a: lo, s, bins }
        } else {
            // No usable range: one bin (D_lo = 0, D_hi = 1: the test can only pass).
            Grid {
                a: 0.0,
                s: 0.0,
                bins: 1,
            }
        }
    }

    /// Number of bins M.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// The bin of a finite value.
    #[inline(always)]
    pub fn index(&self, x: f64) -> usize {
        let t = ((x - self.a) * self.s).max(0.0).min((self.bins - 1) as f64);
        // SAFETY: t is in [0, M − 1] (`max` returns 0 for a NaN t), so it fits an i32. The
        // unchecked conversion is one instruction per lane where `as` adds saturation fixups
        // that keep the loop from vectorising. Truncation after max/min: monotone in x.
        unsafe { t.to_int_unchecked::<i32>() as usize }
    }

    /// e_k: the smallest finite value of type `T` whose bin is ≥ k (1 ≤ k < M), or +∞ when no
    /// value of `T` reaches bin k. Starts at the nominal edge a + k/s and gallops, then
    /// bisects, over the type's ordered values, so it costs a few evaluations of `index`.
    pub fn edge<T: Keyed>(&self, k: usize) -> f64 {
        let (kmin, kmax) = T::KEYS;
        let at = |key: i64| self.index(T::from_key(key).value()) >= k;
        if !at(kmax) {
            return f64::INFINITY;
        }
        if at(kmin) {
            return T::from_key(kmin).value();
        }
        let nominal = T::from_value(self.a + k as f64 / self.s)
            .key()
            .clamp(kmin, kmax);
        // Find lo < hi with !at(lo) and at(hi), then bisect.
        let (mut lo, mut hi);
        if at(nominal) {
            hi = nominal;
            let mut step = 1i64;
            loop {
                lo = hi.saturating_sub(step).max(kmin);
                if !at(lo) {
                    break;
                }
                hi = lo;
                step = step.saturating_mul(2);
            }
        } else {
            lo = nominal;
            let mut step = 1i64;
            loop {
                hi = lo.saturating_add(step).min(kmax);
                if at(hi) {
                    break;
                }
                lo = hi;
                step = step.saturating_mul(2);
            }
        }
        while (hi as i128) - (lo as i128) > 1 {
            let mid = ((lo as i128 + hi as i128) / 2) as i64;
            if at(mid) { hi = mid } else { lo = mid }
        }
        T::from_key(hi).value()
    }

    /// D_lo and D_hi (see [`Grid`]) from the bin counts of a sample of values of type `T`
    /// against the continuous CDF `cdf`.
    pub fn bounds<T: Keyed>(&self, counts: &[u64], cdf: impl Fn(f64) -> f64) -> KsBounds {
        assert_eq!(counts.len(), self.bins, "one count per bin");
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return KsBounds {
                n,
                lo: 0.0,
                hi: 0.0,
            };
        }
        let nf = n as f64;
        // G(e_k), e_0 = −∞, e_M = +∞.
        let g = |k: usize| -> f64 {
            if k == 0 {
                0.0
            } else if k == self.bins {
                1.0
            } else {
                let e = self.edge::<T>(k);
                if e == f64::INFINITY { 1.0 } else { cdf(e) }
            }
        };
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        let mut before = 0u64;
        // G at the left edge of the current bin, when already known.
        let mut g_left: Option<(usize, f64)> = None;
        for (k, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let gl = match g_left {
                Some((j, v)) if j == k => v,
                _ => g(k),
            };
            let gr = g(k + 1);
            g_left = Some((k + 1, gr));
            let after = before + c;
            let (fb, fa) = (before as f64 / nf, after as f64 / nf);
            lo = lo.max((fb - gl).abs()).max((fa - gr).abs());
            hi = hi.max(fa - gl).max(gr - fb);
            before = after;
        }
        KsBounds {
            n,
            lo,
            hi: hi.max(lo),
        }
    }
}

/// The exact KS statistic of a sample given as atoms: (value, count) in increasing order of
/// value, each value distinct, with `g(v)` = (G(v), G(v−)) for a law that may itself have
/// atoms (a law rounded to f16/bf16). Between two sample values F_n is constant and G monotone,
/// so the supremum is at the sample values or just below them: D is exact (D_lo = D_hi).
pub fn ks_atoms(atoms: &[(f64, u64)], g: impl Fn(f64) -> (f64, f64)) -> KsBounds {
    let n: u64 = atoms.iter().map(|a| a.1).sum();
    let mut d = 0.0f64;
    let mut before = 0u64;
    for &(v, c) in atoms {
        let after = before + c;
        let (gv, gv_left) = g(v);
        d = d
            .max((after as f64 / n as f64 - gv).abs())
            .max((before as f64 / n as f64 - gv_left).abs());
        before = after;
    }
    KsBounds { n, lo: d, hi: d }
}

/// Critical value of the one-sample KS statistic at level `alpha`, with Stephens' (1970)
/// finite-n correction: D_crit = c(α) / (√n + 0.12 + 0.11/√n), c(α) = √(−ln(α/2)/2).
pub fn ks_critical(n: u64, alpha: f64) -> f64 {
    let c = (-(alpha / 2.0).ln() / 2.0).sqrt();
    let s = (n as f64).sqrt();
    c / (s + 0.12 + 0.11 / s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_moments_equal_those_of_the_whole() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 101) as f64 * 0.1 - 3.0)
            .collect();
        let whole = Moments::of(&xs);
        let mut m = Moments::default();
        for c in xs.chunks(77) {
            m.merge(&Moments::of(c));
        }
        assert_eq!(m.count, whole.count);
        assert!((m.mean - whole.mean).abs() < 1e-12);
        assert!((m.m2 - whole.m2).abs() < 1e-9 * whole.m2);
        assert_eq!((m.min, m.max, m.zeros), (whole.min, whole.max, whole.zeros));
    }

    #[test]
    fn nan_and_infinities_are_counted_apart_from_the_moments() {
        let m = Moments::of(&[1.0, f64::NAN, f64::INFINITY, 3.0, f64::NEG_INFINITY, 0.0]);
        assert_eq!((m.count, m.finite, m.nan, m.inf, m.zeros), (6, 3, 1, 2, 1));
        assert_eq!((m.min, m.max), (0.0, 3.0));
        assert!((m.mean - 4.0 / 3.0).abs() < 1e-15);
    }

    /// Φ⁻¹ by bisection.
    fn quantile(p: f64) -> f64 {
        let (mut a, mut b) = (-40.0, 40.0);
        for _ in 0..200 {
            let m = 0.5 * (a + b);
            if cdf(m) < p { a = m } else { b = m }
        }
        0.5 * (a + b)
    }

    /// Counts of `xs` (all finite) in the bins of `g`.
    fn counts(g: &Grid, xs: &[f64]) -> Vec<u64> {
        let mut c = vec![0u64; g.bins()];
        for &x in xs {
            c[g.index(x)] += 1;
        }
        c
    }

    #[test]
    fn grid_ks_brackets_the_exact_statistic_within_a_bin_mass() {
        let law = Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        };
        let n = 5000;
        // Deterministic samples: quantiles of N(0.05, 1) (slightly wrong), of N(0, 1) (right),
        // and of N(0, 1.6²) (wider, so values fall beyond the grid's ±5σ too).
        for (shift, scale) in [(0.05, 1.0), (0.0, 1.0), (0.0, 1.6)] {
            let xs: Vec<f64> = (0..n)
                .map(|i| shift + scale * quantile((i as f64 + 0.5) / n as f64))
                .collect();
            let xs32: Vec<f64> = xs.iter().map(|&x| x as f32 as f64).collect();
            for (data, is_f32) in [(&xs, false), (&xs32, true)] {
                let exact = ks(&mut data.clone(), |x| law.cdf(x));
                for size in [n as u64, 1 << 30] {
                    let g = Grid::for_law(&law, size);
                    let c = counts(&g, data);
                    let b = if is_f32 {
                        g.bounds::<f32>(&c, |x| law.cdf(x))
                    } else {
                        g.bounds::<f64>(&c, |x| law.cdf(x))
                    };
                    let (lo, hi) = b.bounds();
                    assert_eq!(b.n(), n as u64);
                    assert!(
                        lo <= exact + 1e-12 && exact <= hi + 1e-12,
                        "{lo} {exact} {hi}"
                    );
                    // A bin of a ±5σ grid holds at most 10·φ(0)/M of the law's mass (the end
                    // bins Φ(−5) more).
                    let mass = 10.0 / (2.0 * PI).sqrt() / g.bins() as f64 + 3e-7;
                    assert!(hi - lo <= mass + 1e-12, "{lo} {hi} {mass}");
                }
            }
        }
    }

    #[test]
    fn grid_edges_are_the_first_values_of_their_bins() {
        let law = Distribution::Uniform {
            low: -0.3,
            high: 0.7,
        };
        let g = Grid::for_law(&law, 1 << 12);
        assert_eq!(g.bins(), 1 << 12);
        for k in 1..g.bins() {
            let e = g.edge::<f32>(k);
            let below = (e as f32).next_down() as f64;
            assert!(g.index(e) >= k && g.index(below) < k, "{k} {e}");
            let e = g.edge::<f64>(k);
            assert!(g.index(e) >= k && g.index(e.next_down()) < k, "{k} {e}");
            // The nominal edge, to within rounding.
            assert!((e - (-0.3 + k as f64 / g.bins() as f64)).abs() < 1e-15);
        }
    }

    #[test]
    fn ks_of_atoms_is_exact() {
        // Values with ties, against a continuous law: the atoms' D equals the sorted sample's.
        let law = Distribution::Uniform {
            low: 0.0,
            high: 1.0,
        };
        let mut xs: Vec<f64> = (0..3000)
            .map(|i| ((i * 7919) % 101) as f64 / 100.0)
            .collect();
        let exact = ks(&mut xs.clone(), |x| law.cdf(x));
        xs.sort_by(f64::total_cmp);
        let mut atoms: Vec<(f64, u64)> = Vec::new();
        for x in xs {
            match atoms.last_mut() {
                Some((v, c)) if *v == x => *c += 1,
                _ => atoms.push((x, 1)),
            }
        }
        let b = ks_atoms(&atoms, |v| (law.cdf(v), law.cdf(v)));
        let (lo, hi) = b.bounds();
        assert_eq!((b.n(), lo), (3000, hi));
        assert!((lo - exact).abs() < 1e-12, "{lo} {exact}");
    }

    #[test]
    fn critical_value_matches_the_asymptotic_one_for_large_n() {
        let d = ks_critical(1_000_000, 0.001);
        assert!((d * 1000.0 - 1.949).abs() < 0.01, "{d}");
    }
}
