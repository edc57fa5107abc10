//! Conformance: does a tensor's data follow the distribution it claims?
//!
//! Owns: the tests and their tolerances. Every test is derived from the sample size n and the
//! exact law, at a false-alarm rate of about 10⁻⁶ per test, so a CI job checking hundreds of
//! tensors with random seeds practically never fails a correct file, while real mistakes (a
//! wrong fan, gain or scheme, a scaled tensor, a normal where a uniform is claimed) fail
//! decisively once a tensor has a few thousand elements:
//!
//! - `finite`: no NaN or ±∞.
//! - `exact` (constant laws: zeros, ones, constant, degenerate ranges; eye; dirac): every
//!   value equals its expected value — the constant, or the eye/dirac pattern at its index —
//!   rounded to the file's dtype, compared element by element (`structure::Pattern`).
//! - `zeros` (sparse): each column holds exactly ⌈sparsity·rows⌉ zeros (at least, for f16),
//!   and the mean and std tests below apply to the mixture of zeros and N(0, std²).
//! - `norm` and `orthogonality` (orthogonal): Σx² = gain²·min(rows, cols), and
//!   max |G − gain²·I| for the Gram matrix G of the smaller side within a tolerance derived
//!   from the dtype's and the QR's rounding (`structure::Gram`).
//! - `bounds` (uniform, truncated normal): min and max inside the support, whose ends are first
//!   rounded to the file's dtype (a correct f32 sample can equal the rounded bound).
//! - `mean`: |x̄ − μ| ≤ 5·σ/√n, plus the largest bias rounding to the dtype can cause.
//! - `std`: |s² − σ²| ≤ 5·σ²·√((κ−1)/n) + σ²/n (κ the law's kurtosis: the standard error of a
//!   sample variance; σ²/n the bias of the population variance s² = Σ(x − x̄)²/n, the one
//!   definition of std `inspect` shows, checks and prints, as NumPy's `std`), plus rounding;
//!   reported as standard deviations.
//! - `ks`: one-sample Kolmogorov–Smirnov against the exact CDF — of the law *rounded to the
//!   file's dtype* for f16 and bf16, whose values are too coarse for a continuous CDF — at
//!   α = 10⁻⁶ with Stephens' finite-n critical value; D is computed in flat memory in the one
//!   streaming pass (`pass`): exactly for f16/bf16 (a histogram of bit patterns), within a
//!   bin's probability mass for f32/f64 (counts in fine bins, the CDF evaluated only at their
//!   edges: `stats::Grid`), and the test fails only when D's exact lower bound exceeds the
//!   critical value.
//!
//! Does not own: computing the statistics (`stats`) or reading bytes (`read`).

use super::stats::{Exact, KsBounds, Moments, ks_critical};
use crate::read::ElemType;
use crate::scheme::Distribution;
use serde::Serialize;

/// Standard errors allowed for the mean and variance (two-sided tail 5.7·10⁻⁷).
pub(crate) const Z: f64 = 5.0;
/// Significance level of the KS test.
pub(crate) const KS_ALPHA: f64 = 1e-6;

/// One test's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub test: &'static str,
    pub passed: bool,
    pub detail: String,
    /// The test was not run (e.g. a matrix over the orthogonality check's memory cap); it
    /// does not fail the tensor, and the detail says why.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

impl CheckResult {
    pub fn new(test: &'static str, passed: bool, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            test,
            passed,
            detail: detail.into(),
            skipped: false,
        }
    }

    /// A test that was not run, and why.
    pub fn skipped(test: &'static str, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            skipped: true,
            ..CheckResult::new(test, true, detail)
        }
    }
}

/// The value every element of a non-random law equals, if the law is not random.
pub(crate) fn constant_value(d: &Distribution) -> Option<f64> {
    match *d {
        Distribution::Constant { value } => Some(value),
        Distribution::Uniform { low, high } if low == high => Some(low),
        Distribution::Normal { mean, std: 0.0 } => Some(mean),
        Distribution::TruncatedNormal { low, high, .. } if low == high => Some(low),
        Distribution::TruncatedNormal {
            mean,
            std: 0.0,
            low,
            high,
        } => Some(mean.clamp(low, high)),
        _ => None,
    }
}

/// Round `x` to the stored type (through f32 for f16/bf16, as weightgen writes them).
pub(crate) fn round_to(t: &ElemType, x: f64) -> f64 {
    match t {
        ElemType::F32 => x as f32 as f64,
        ElemType::F16 => half::f16::from_f32(x as f32).to_f64(),
        ElemType::BF16 => half::bf16::from_f32(x as f32).to_f64(),
        _ => x,
    }
}

/// Unit roundoff of the stored type (the largest relative error of rounding to it).
pub(crate) fn unit_roundoff(t: &ElemType) -> f64 {
    match t {
        ElemType::F16 => f64::powi(2.0, -11),
        ElemType::BF16 => f64::powi(2.0, -8),
        ElemType::F32 => f64::powi(2.0, -24),
        _ => f64::powi(2.0, -53),
    }
}

/// The CDF of a law as seen through the stored type: G(x) and its left limit G(x−). For f16
/// and bf16 a stored value v stands for the whole rounding cell around it, so
/// G(v) = F(midpoint to the next value up) and G(v−) = F(midpoint to the next value down);
/// f32 and f64 cells are far smaller than any KS resolution, so G = F there.
pub(crate) fn rounded_cdf(law: &Distribution, t: &ElemType, x: f64) -> (f64, f64) {
    let cell = |bits: u16, to: fn(u16) -> f64| -> (f64, f64) {
        let (up, down) = match bits {
            0 | 0x8000 => (1, 0x8001),
            b if b & 0x8000 == 0 => (b + 1, b - 1),
            b => (b - 1, b + 1),
        };
        let (u, d) = (to(up), to(down));
        let hi = if u.is_finite() {
            0.5 * (x + u)
        } else {
            f64::INFINITY
        };
        let lo = if d.is_finite() {
            0.5 * (x + d)
        } else {
            f64::NEG_INFINITY
        };
        (law.cdf(hi), law.cdf(lo))
    };
    match t {
        ElemType::F16 => cell(half::f16::from_f64(x).to_bits(), |b| {
            half::f16::from_bits(b).to_f64()
        }),
        ElemType::BF16 => cell(half::bf16::from_f64(x).to_bits(), |b| {
            half::bf16::from_bits(b).to_f64()
        }),
        _ => {
            let g = law.cdf(x);
            (g, g)
        }
    }
}

/// The value tests of one tensor whose statistics are `m` (and KS bins `bins` for a random
/// law) against `law`, stored as `t`. `positional`: the results of the checks that needed
/// element positions (`structure`: `exact` for constant, eye and dirac, `orthogonality`).
pub(crate) fn value_tests(
    law: &Distribution,
    t: &ElemType,
    shape: &[u64],
    m: &Moments,
    bins: Option<&KsBounds>,
    positional: Vec<CheckResult>,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    if m.count == 0 {
        return out;
    }
    out.push(CheckResult::new(
        "finite",
        m.nan == 0 && m.inf == 0,
        if m.nan + m.inf == 0 {
            "no NaN or infinity".to_string()
        } else {
            format!("{} NaN and {} infinite values", m.nan, m.inf)
        },
    ));
    if !super::stats::is_elementwise(law) {
        out = structural_tests(law, t, shape, m, out);
        out.extend(positional);
        return out;
    }
    if !positional.is_empty() {
        // A constant, checked element by element (naming the first differing index).
        out.extend(positional);
        return out;
    }
    if let Some(v) = constant_value(law) {
        let v = round_to(t, v);
        let ok = m.finite == m.count && m.min == v && m.max == v;
        let detail = if ok {
            format!("all {} values equal {v}", m.count)
        } else {
            format!("values range over [{}, {}], expected all {v}", m.min, m.max)
        };
        out.push(CheckResult::new("exact", ok, detail));
        return out;
    }
    out.extend(bounds_test(law, t, m));
    if m.finite == 0 {
        return out;
    }
    moment_tests(law.mean(), law.var(), law.kurtosis(), t, m, &mut out);
    if let Some(b) = bins {
        let (d_lo, d_hi) = b.bounds();
        let crit = ks_critical(b.n(), KS_ALPHA);
        let ok = d_lo <= crit;
        let d = if d_hi - d_lo < 0.05 * d_lo.max(1e-300) {
            format!("D = {d_lo:.4e}")
        } else {
            format!("D in [{d_lo:.4e}, {d_hi:.4e}]")
        };
        out.push(CheckResult::new(
            "ks",
            ok,
            format!(
                "{d} {} critical {crit:.4e} (n = {}, alpha = 1e-6)",
                if ok { "<=" } else { ">" },
                b.n()
            ),
        ));
    }
    out
}

/// `mean` and `std` tests of a sample with moments `m` against a law of mean `mu`, variance
/// `var` and kurtosis `kappa`, stored as `t`.
fn moment_tests(
    mu: f64,
    var: f64,
    kappa: f64,
    t: &ElemType,
    m: &Moments,
    out: &mut Vec<CheckResult>,
) {
    let n = m.finite as f64;
    let sigma = var.sqrt();
    let u = unit_roundoff(t);
    let tol_mean = Z * sigma / n.sqrt() + u * (mu.abs() + sigma);
    let dm = m.mean - mu;
    out.push(CheckResult::new(
        "mean",
        dm.abs() <= tol_mean,
        format!(
            "{:.6e} vs {mu:.6e} (|diff| {:.2e}, tolerance {tol_mean:.2e})",
            m.mean,
            dm.abs()
        ),
    ));
    if m.finite >= 2 {
        // Population variance (ddof = 0), as shown in the table and JSON; E[s²] = σ²(1 − 1/n).
        let s2 = m.var();
        let tol_var =
            Z * var * ((kappa - 1.0) / n).sqrt() + var / n + 2.0 * u * (sigma + mu.abs()).powi(2);
        let ok = (s2 - var).abs() <= tol_var;
        out.push(CheckResult::new(
            "std",
            ok,
            format!(
                "{:.6e} vs {sigma:.6e} (allowed {:.6e} to {:.6e})",
                s2.sqrt(),
                (var - tol_var).max(0.0).sqrt(),
                (var + tol_var).sqrt()
            ),
        ));
    }
}

/// `bounds`: every finite value inside the law's support rounded to the dtype (none when the
/// support is the whole line).
fn bounds_test(law: &Distribution, t: &ElemType, m: &Moments) -> Option<CheckResult> {
    let (lo, hi) = law.support();
    if !(lo.is_finite() || hi.is_finite()) {
        return None;
    }
    let (lo, hi) = (round_to(t, lo), round_to(t, hi));
    let ok = m.finite == 0 || (m.min >= lo && m.max <= hi);
    Some(CheckResult::new(
        "bounds",
        ok,
        format!(
            "values in [{:.6e}, {:.6e}], {} [{lo:.6e}, {hi:.6e}]",
            m.min,
            m.max,
            if ok { "inside" } else { "outside" }
        ),
    ))
}

/// Tests for structural laws from streaming statistics: values inside the support, for
/// orthogonal the Frobenius norm (Σx² = gain²·min(rows, cols), up to the dtype's rounding),
/// for sparse the mean and variance of the zero/normal mixture.
/// The orthogonality residual (max |G − gain²I|) and the exact eye/dirac patterns need element
/// positions: `structure` computes them and [`value_tests`] appends them.
fn structural_tests(
    law: &Distribution,
    t: &ElemType,
    shape: &[u64],
    m: &Moments,
    mut out: Vec<CheckResult>,
) -> Vec<CheckResult> {
    out.extend(bounds_test(law, t, m));
    if let Distribution::Orthogonal { gain, rows, cols } = *law {
        let n = m.finite as f64;
        let sum_sq = m.m2 + n * m.mean * m.mean;
        let want = gain * gain * rows.min(cols) as f64;
        // Each squared value carries a relative rounding error ≤ 2u (plus summation error).
        let tol = (4.0 * unit_roundoff(t) + 1e-9) * want.max(f64::MIN_POSITIVE);
        out.push(CheckResult::new(
            "norm",
            (sum_sq - want).abs() <= tol,
            format!("sum of squares {sum_sq:.6e} vs gain²·min(rows, cols) = {want:.6e}"),
        ));
    }
    if let (
        Distribution::Sparse {
            std,
            zeros_per_column,
        },
        &[rows, _],
    ) = (*law, shape)
        && rows > 0
        && zeros_per_column < rows
        && std > 0.0
        && m.finite > 0
    {
        // A fraction p = 1 − z/rows of the values are N(0, std²), the rest 0: mean 0,
        // variance p·std², kurtosis 3/p. The i.i.d. standard errors are conservative here:
        // exactly z zeros per column (sampling without replacement) only lowers the variance
        // of x̄ and s² (var(s²) ≈ 2p·std⁴/n against the i.i.d. p(3 − p)·std⁴/n).
        let p = 1.0 - zeros_per_column as f64 / rows as f64;
        moment_tests(0.0, p * std * std, 3.0 / p, t, m, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounded_cdf_of_a_bf16_value_spans_its_rounding_cell() {
        let law = Distribution::Uniform {
            low: -1.0,
            high: 1.0,
        };
        // 0.5 in bf16: neighbours 0.5 − 2⁻⁹ and 0.5 + 2⁻⁸.
        let (g, gl) = rounded_cdf(&law, &ElemType::BF16, 0.5);
        assert!((g - law.cdf(0.5 + f64::powi(2.0, -9))).abs() < 1e-15);
        assert!((gl - law.cdf(0.5 - f64::powi(2.0, -10))).abs() < 1e-15);
        let (g, gl) = rounded_cdf(&law, &ElemType::F32, 0.5);
        assert_eq!((g, gl), (0.75, 0.75));
    }

    #[test]
    fn degenerate_laws_are_constants() {
        assert_eq!(
            constant_value(&Distribution::Uniform {
                low: 2.0,
                high: 2.0
            }),
            Some(2.0)
        );
        assert_eq!(
            constant_value(&Distribution::Normal {
                mean: 1.0,
                std: 0.5
            }),
            None
        );
    }
}
