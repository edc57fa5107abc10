//! The linear-regime theory the study prints beside its measurements.
//!
//! Owns: pure functions of the network's widths and the weights' distributions — the variance
//! of a [`Distribution`], Glorot & Bengio's forward and backward variance products, and the
//! Marchenko–Pastur mean singular value of a random layer. Does not own: anything measured.
//!
//! Glorot & Bengio (2010), §4.2.1 (docs/init-schemes.md §5.1), assuming the
//! linear regime (f′(s) ≈ 1), independent zero-mean weights and inputs:
//!
//! - forward: `Var[z^i] = Var[x] · ∏_{i′<i} n_{i′} Var[W^{i′}]` (n = fan-in of each layer);
//! - backward: `Var[∂C/∂s^i] = Var[∂C/∂s^d] · ∏_{i′≥i} n_{i′+1} Var[W^{i′}]` (n_{i′+1} = fan-out
//!   of the layer above);
//! - weight gradient: the product of the two.

use crate::inspect::stats::Exact;
use crate::scheme::Distribution;

/// Variance of a concrete distribution: the exact laws of `inspect::stats` (truncated normal in
/// closed form); orthogonal gain²/max(rows, cols); NaN for eye/dirac/sparse, which are not
/// i.i.d. element-wise laws.
pub(crate) fn variance(d: &Distribution) -> f64 {
    match *d {
        Distribution::Constant { .. } => 0.0,
        Distribution::TruncatedNormal { std, low, high, .. } if std == 0.0 || low == high => 0.0,
        _ => d.var(),
    }
}

/// Mean of a concrete distribution (used only to warn about non-zero-mean weights).
pub(crate) fn mean(d: &Distribution) -> f64 {
    match *d {
        Distribution::TruncatedNormal {
            mean,
            std: 0.0,
            low,
            high,
        } => mean.clamp(low, high),
        _ => d.mean(),
    }
}

/// One layer's weights as the theory sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LayerWeights {
    pub fan_in: usize,
    pub fan_out: usize,
    pub var_w: f64,
}

impl LayerWeights {
    /// `n_in·Var[W]`: the forward variance factor of this layer.
    pub(crate) fn forward_factor(&self) -> f64 {
        self.fan_in as f64 * self.var_w
    }
    /// `n_out·Var[W]`: the backward variance factor of this layer.
    pub(crate) fn backward_factor(&self) -> f64 {
        self.fan_out as f64 * self.var_w
    }
}

/// Forward products: element `k` is `Var[s^{k+1}] / E[x²] = ∏_{k′≤k} n_in Var[W]` for every
/// layer `k` (0-based), i.e. the variance of layer k's pre-activation (= its activation in the
/// linear regime) per unit of input second moment.
pub(crate) fn forward_products(layers: &[LayerWeights]) -> Vec<f64> {
    let mut p = 1.0;
    layers
        .iter()
        .map(|l| {
            p *= l.forward_factor();
            p
        })
        .collect()
}

/// Backward products: element `k` is `Var[∂C/∂s^{k}] / Var[∂C/∂s^{last}] = ∏_{k′>k} n_out
/// Var[W^{k′}]` (0-based; the last element is 1).
pub(crate) fn backward_products(layers: &[LayerWeights]) -> Vec<f64> {
    let mut out = vec![1.0; layers.len()];
    for k in (0..layers.len().saturating_sub(1)).rev() {
        out[k] = out[k + 1] * layers[k + 1].backward_factor();
    }
    out
}

/// `E[√x]` under the Marchenko–Pastur law with ratio `lambda` ∈ (0, 1] (unit variance scale):
/// the density `√((b−x)(x−a)) / (2πλx)` on `[a, b] = [(1−√λ)², (1+√λ)²]`. Computed with the
/// substitution `x = a + (b−a)(1−cos θ)/2`, which removes the square-root end points, and a
/// midpoint rule (exact to ~1e-7 with 4000 points; 8/(3π) at λ = 1).
pub(crate) fn mp_mean_sqrt(lambda: f64) -> f64 {
    let lambda = lambda.clamp(1e-12, 1.0);
    let a = (1.0 - lambda.sqrt()).powi(2);
    let b = (1.0 + lambda.sqrt()).powi(2);
    let n = 4000;
    let h = std::f64::consts::PI / n as f64;
    let mut sum = 0.0;
    for i in 0..n {
        let t = (i as f64 + 0.5) * h;
        let x = a + (b - a) * (1.0 - t.cos()) / 2.0;
        let s = (b - a) * t.sin() / 2.0; // √((b−x)(x−a))
        let dx = (b - a) * t.sin() / 2.0;
        sum += x.sqrt() * s / (2.0 * std::f64::consts::PI * lambda * x) * dx * h;
    }
    sum
}

/// Mean singular value of an `m × n` matrix of i.i.d. entries with variance `var` in the large
/// limit: `σ·√max(m,n) · E_MP(min/max)[√x]`. For a square matrix `≈ 0.8488·√(n·var)`, so
/// `≈ 0.49` for the "standard" init (n·Var = 1/3) and `≈ 0.85` for Glorot's (n·Var = 1) — the
/// linear-regime counterparts of the paper's measured 0.5 and 0.8 for tanh networks, where
/// `f′ < 1` lowers them a little.
pub(crate) fn mean_singular_value(m: usize, n: usize, var: f64) -> f64 {
    let (lo, hi) = (m.min(n) as f64, m.max(n) as f64);
    (var * hi).sqrt() * mp_mean_sqrt(lo / hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marchenko_pastur_mean_sqrt_is_eight_over_three_pi_for_square_matrices() {
        let want = 8.0 / (3.0 * std::f64::consts::PI);
        assert!(
            (mp_mean_sqrt(1.0) - want).abs() < 1e-6,
            "{}",
            mp_mean_sqrt(1.0)
        );
    }

    #[test]
    fn marchenko_pastur_mean_sqrt_tends_to_one_for_thin_matrices() {
        // λ → 0: the spectrum concentrates at 1.
        assert!((mp_mean_sqrt(1e-6) - 1.0).abs() < 1e-3);
        // and E[x] = 1 for every λ, so E[√x] < 1.
        assert!(mp_mean_sqrt(0.5) < 1.0 && mp_mean_sqrt(0.5) > mp_mean_sqrt(1.0));
    }

    #[test]
    fn variances_of_the_catalogue_distributions() {
        let u = Distribution::Uniform {
            low: -0.5,
            high: 0.5,
        };
        assert!((variance(&u) - 1.0 / 12.0).abs() < 1e-15);
        let n = Distribution::Normal {
            mean: 0.0,
            std: 0.2,
        };
        assert!((variance(&n) - 0.04).abs() < 1e-15);
        // Keras' corrected truncated normal has exactly the target std.
        let std = 0.1 / crate::scheme::TRUNC_STD_2SIGMA;
        let t = Distribution::TruncatedNormal {
            mean: 0.0,
            std,
            low: -2.0 * std,
            high: 2.0 * std,
        };
        assert!((variance(&t) - 0.01).abs() < 1e-9, "{}", variance(&t));
        assert!(mean(&t).abs() < 1e-15);
    }

    #[test]
    fn products_follow_the_papers_equations() {
        let l = |fi, fo, v| LayerWeights {
            fan_in: fi,
            fan_out: fo,
            var_w: v,
        };
        let layers = [l(4, 2, 0.5), l(2, 3, 0.25), l(3, 1, 1.0)];
        assert_eq!(forward_products(&layers), vec![2.0, 1.0, 3.0]);
        // k=1: n_out(2)·Var(2) = 1; k=0: that × n_out(1)·Var(1) = 0.75.
        assert_eq!(backward_products(&layers), vec![0.75, 1.0, 1.0]);
    }
}
