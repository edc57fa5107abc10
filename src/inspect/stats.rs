//! Exact laws and the statistics `inspect` computes from a tensor's bytes.
//!
//! Owns: the normal CDF Φ and its tails, truncated-normal moments, the [`Exact`] law of a
//! [`Distribution`] (mean, variance, kurtosis, CDF, support), the one-pass summary statistics of
//! a chunk of values ([`Moments`]) and the binned Kolmogorov–Smirnov accumulator ([`KsBins`])
//! that lets a test against the exact CDF run chunk by chunk in flat memory. The statistical
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
/// value in memory; `inspect` uses [`KsBins`] instead.
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
            (self.m2 / self.finite as f64).sqrt()
        }
    }

    /// Unbiased sample variance (ddof = 1).
    pub fn sample_var(&self) -> f64 {
        if self.finite < 2 {
            f64::NAN
        } else {
            self.m2 / (self.finite - 1) as f64
        }
    }
}

/// Number of bins of [`KsBins`]: the KS statistic is known to within the CDF mass of one bin
/// (1/16384 for a continuous law; see [`KsBins::bounds`]).
pub const KS_BINS: usize = 1 << 14;

/// The Kolmogorov–Smirnov statistic of values against the CDF `G` of a law, in one pass and
/// flat memory. Each finite value x is put in bin ⌊G(x)·B⌋, and each bin keeps its count, the
/// extreme G(x) and G(x−) (the law's left limit at x, which differs from G(x) when the law has
/// atoms, e.g. a normal rounded to bf16). Because G is monotone, the largest value of a bin has
/// exactly F_n = (values in bins ≤ k)/n and the smallest has F_n(x−) = (values in bins < k)/n,
/// so those points give exact values of |F_n − G|; between them both functions move by at most
/// a bin, which bounds the supremum from above.
#[derive(Debug, Clone, PartialEq)]
pub struct KsBins {
    count: Vec<u64>,
    /// G(x) of the bin's largest value, G(x−) of its smallest.
    max_g: Vec<f64>,
    min_g_left: Vec<f64>,
    /// G(x) of the bin's smallest value, G(x−) of its largest (for the upper bound).
    min_g: Vec<f64>,
    max_g_left: Vec<f64>,
}

impl Default for KsBins {
    fn default() -> Self {
        KsBins::with_bins(KS_BINS)
    }
}

impl KsBins {
    /// Bins for a sample of `n` values: [`KS_BINS`], or fewer for a small sample (at least n,
    /// so a bin's CDF mass 1/bins stays below 1/n — far below any critical value).
    pub fn for_sample(n: u64) -> KsBins {
        let b = (n.max(64).min(KS_BINS as u64) as usize).next_power_of_two();
        KsBins::with_bins(b.min(KS_BINS))
    }

    fn with_bins(b: usize) -> KsBins {
        KsBins {
            count: vec![0; b],
            max_g: vec![f64::NEG_INFINITY; b],
            min_g_left: vec![f64::INFINITY; b],
            min_g: vec![f64::INFINITY; b],
            max_g_left: vec![f64::NEG_INFINITY; b],
        }
    }

    /// Add one value with G(x) = `g` and G(x−) = `g_left` (equal for a continuous law).
    pub fn add(&mut self, g: f64, g_left: f64) {
        let b = self.count.len();
        let k = ((g * b as f64) as usize).min(b - 1);
        self.count[k] += 1;
        self.max_g[k] = self.max_g[k].max(g);
        self.min_g_left[k] = self.min_g_left[k].min(g_left);
        self.min_g[k] = self.min_g[k].min(g);
        self.max_g_left[k] = self.max_g_left[k].max(g_left);
    }

    /// Combine with another set of values (order-independent: counts, maxima, minima).
    pub fn merge(&mut self, o: &KsBins) {
        assert_eq!(self.count.len(), o.count.len(), "bins of one sample");
        for k in 0..self.count.len() {
            self.count[k] += o.count[k];
            self.max_g[k] = self.max_g[k].max(o.max_g[k]);
            self.min_g_left[k] = self.min_g_left[k].min(o.min_g_left[k]);
            self.min_g[k] = self.min_g[k].min(o.min_g[k]);
            self.max_g_left[k] = self.max_g_left[k].max(o.max_g_left[k]);
        }
    }

    /// Values added.
    pub fn n(&self) -> u64 {
        self.count.iter().sum()
    }

    /// (lower, upper) bounds on D_n = sup |F_n − G|: the lower one is attained at a sample
    /// value, so `lower > critical` proves the test fails.
    pub fn bounds(&self) -> (f64, f64) {
        let n = self.n() as f64;
        if n == 0.0 {
            return (0.0, 0.0);
        }
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        let mut before = 0u64;
        for k in 0..self.count.len() {
            let c = self.count[k];
            if c == 0 {
                continue;
            }
            let after = before + c;
            let (fb, fa) = (before as f64 / n, after as f64 / n);
            lo = lo
                .max((fa - self.max_g[k]).abs())
                .max((fb - self.min_g_left[k]).abs());
            // Between the bin's smallest value v and largest w (x in [v, w)): F_n(x) lies in
            // [fb, fa] and G(x) in [G(v), G(w−)]. (For a bin holding one atom this adds
            // nothing beyond the exact points.)
            hi = hi.max(fa - self.min_g[k]).max(self.max_g_left[k] - fb);
            before = after;
        }
        (lo, hi.max(lo))
    }
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

    #[test]
    fn binned_ks_brackets_the_exact_statistic() {
        let law = Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        };
        // A deterministic, slightly wrong sample: quantiles of N(0.05, 1).
        let n = 5000;
        let mut xs: Vec<f64> = (0..n)
            .map(|i| {
                let p = (i as f64 + 0.5) / n as f64;
                // invert Φ by bisection
                let (mut a, mut b) = (-10.0, 10.0);
                for _ in 0..80 {
                    let m = 0.5 * (a + b);
                    if cdf(m) < p { a = m } else { b = m }
                }
                0.5 * (a + b) + 0.05
            })
            .collect();
        let exact = ks(&mut xs, |x| law.cdf(x));
        for (mut bins, width) in [
            (KsBins::default(), KS_BINS),
            (KsBins::for_sample(n as u64), 8192),
        ] {
            for &x in &xs {
                let g = law.cdf(x);
                bins.add(g, g);
            }
            let (lo, hi) = bins.bounds();
            assert!(
                lo <= exact + 1e-12 && exact <= hi + 1e-12,
                "{lo} {exact} {hi}"
            );
            assert!(hi - lo <= 1.0 / width as f64 + 1.0 / n as f64, "{lo} {hi}");
        }
    }

    #[test]
    fn critical_value_matches_the_asymptotic_one_for_large_n() {
        let d = ks_critical(1_000_000, 0.001);
        assert!((d * 1000.0 - 1.949).abs() < 0.01, "{d}");
    }
}
