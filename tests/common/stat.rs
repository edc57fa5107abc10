//! Normal CDF, truncated-normal moments, sample moments, Kolmogorov–Smirnov and correlation,
//! shared by the statistical tests. The exact laws and the KS statistic are the library's own
//! (`weightgen::inspect::stats`, which `inspect --check` uses); what is only needed by tests
//! lives here.

use std::f64::consts::{PI, SQRT_2};
use weightgen::scheme::Distribution;

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

/// The exact law of a [`Distribution`]: moments, CDF and support.
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
            _ => unreachable!("only element-wise random laws have an exact CDF here"),
        }
    }

    fn var(&self) -> f64 {
        match *self {
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
            _ => unreachable!("only element-wise random laws have an exact CDF here"),
        }
    }

    fn kurtosis(&self) -> f64 {
        match *self {
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
            _ => unreachable!("only element-wise random laws have an exact CDF here"),
        }
    }

    fn cdf(&self, x: f64) -> f64 {
        match *self {
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
            _ => unreachable!("only element-wise random laws have an exact CDF here"),
        }
    }

    fn support(&self) -> (f64, f64) {
        match *self {
            Distribution::Uniform { low, high }
            | Distribution::TruncatedNormal { low, high, .. } => (low, high),
            Distribution::Normal { .. } => (f64::NEG_INFINITY, f64::INFINITY),
            Distribution::Constant { value } => (value, value),
            _ => unreachable!("only element-wise laws have a support here"),
        }
    }
}
#[allow(unused_imports)] // each test binary uses a part
pub use weightgen::inspect::stats::{
    Exact, cdf, ks, mass, pdf, sf, truncated_raw_moments, truncated_standard_moments,
};

/// Sample mean and unbiased sample variance (two passes).
pub fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    (mean, ss / (n - 1.0))
}

/// Running sums for a Pearson correlation.
#[derive(Default)]
pub struct Corr {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl Corr {
    pub fn add(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.syy += y * y;
        self.sxy += x * y;
    }

    pub fn n(&self) -> f64 {
        self.n
    }

    pub fn r(&self) -> f64 {
        let n = self.n;
        let cxy = self.sxy - self.sx * self.sy / n;
        let cxx = self.sxx - self.sx * self.sx / n;
        let cyy = self.syy - self.sy * self.sy / n;
        cxy / (cxx * cyy).sqrt()
    }
}

/// Pearson correlation of paired samples.
pub fn correlation(x: &[f64], y: &[f64]) -> (f64, f64) {
    let mut c = Corr::default();
    for (&a, &b) in x.iter().zip(y) {
        c.add(a, b);
    }
    (c.r(), c.n())
}
