//! Normal CDF, truncated-normal moments, sample moments, Kolmogorov–Smirnov and correlation,
//! shared by the statistical tests. The exact laws and the KS statistic are the library's own
//! (`weightgen::testing::stats`, which `inspect --check` uses); what is only needed by tests
//! lives here.

#[allow(unused_imports)] // each test binary uses a part
pub use weightgen::testing::stats::{
    Exact, cdf, ks, ks_critical, mass, pdf, sf, truncated_raw_moments, truncated_standard_moments,
};

/// Asymptotic Kolmogorov critical value of √n·D_n at α = 0.001 (c(α) = √(−ln(α/2)/2) =
/// 1.9495, rounded up; `tests/scipy_reference.rs` checks it against SciPy's `kstwobign`).
pub const KS_C: f64 = 1.95;

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
