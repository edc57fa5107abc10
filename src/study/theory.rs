//! The theory the study prints beside its measurements.
//!
//! Owns: pure functions of the network's widths, the weights' distributions and the activation
//! — the variance of a [`Distribution`], the forward and backward variance recursions, and the
//! mean singular value of a random layer's Jacobian. Does not own: anything measured.
//!
//! Glorot & Bengio (2010), §4.2.1 (docs/init-schemes.md §5.1), with independent zero-mean
//! weights and inputs, and He et al. (2015, §5.2) for the activation's part: a layer's
//! pre-activation `s = W z` has `Var[s] = n_in·Var[W]·E[z²]` whatever f is, and each activation
//! turns it into `E[f(s)²] = Var[s]/g²`, `g` the activation's own gain. The recursions take the
//! pre-activations as Gaussian (the wide-layer limit) and compute, per activation, `E[f(s)]`,
//! `E[f(s)²]` and `E[f′(s)²]` ([`moments`]):
//!
//! - forward: `q^k = n_in^k·Var[W^k]·E[(z^{k−1})²]`, `z^0 = x`; the activation's std is
//!   `√(E[f²] − E[f]²)` at `q^k`;
//! - backward: `Var[∂c/∂s^k] = E[f′(s^k)²]·n_out^{k+1}·Var[W^{k+1}]·Var[∂c/∂s^{k+1}]`, from the
//!   output's measured `Var[∂c/∂s]`;
//! - weight gradient: `E[(z^{k−1})²]·Var[∂c/∂s^k] / B`.
//!
//! Closed forms where they exist: linear `g = 1` (Glorot & Bengio's linear regime exactly);
//! ReLU `E[f²] = q/2`, `E[f′²] = 1/2` (He's `½ n Var[W] = 1`, gain √2); leaky ReLU of slope `a`
//! `(1+a²)/2` (gain `√(2/(1+a²))`). tanh, sigmoid, softsign and SELU are integrated numerically:
//! for small signals they follow the linear regime through `f′(0)` (tanh, softsign: 1, so the
//! paper's numbers), and for tanh at `q = 1` the implied gain `1/√E[tanh²] = 1.59` is close to
//! PyTorch's empirical 5/3.

use super::net::Activation;
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

/// Gaussian expectations of an activation at pre-activation variance `q`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Moments {
    /// `E[f(s)]`.
    pub mean: f64,
    /// `E[f(s)²]`.
    pub second: f64,
    /// `E[f′(s)²]`.
    pub slope2: f64,
    /// `P(f′(s) ≠ 0)`: the fraction of a layer's Jacobian rows that are not zero.
    pub active: f64,
}

/// `E[g(s)]` for `s ~ N(0, q)`: midpoint rule over ±12 standard deviations, 6000 points (for
/// the smooth, polynomially bounded integrands of tanh & co. far below the sampling noise of
/// any measurement; ~1e-6 relative for an integrand with a kink).
fn gaussian_mean(q: f64, g: impl Fn(f64) -> f64) -> f64 {
    let sd = q.max(0.0).sqrt();
    if sd == 0.0 {
        return g(0.0);
    }
    let n = 6000;
    let h = 24.0 / n as f64;
    let c = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    (0..n)
        .map(|i| {
            let t = -12.0 + (i as f64 + 0.5) * h;
            g(sd * t) * c * (-0.5 * t * t).exp() * h
        })
        .sum()
}

/// [`Moments`] of `act` for Gaussian pre-activations of variance `q` (closed forms for the
/// piecewise-linear activations, numerical integration for the others).
pub(crate) fn moments(act: Activation, q: f64) -> Moments {
    let half_normal = (q.max(0.0) / (2.0 * std::f64::consts::PI)).sqrt(); // E[max(s, 0)]
    match act {
        Activation::Linear => Moments {
            mean: 0.0,
            second: q,
            slope2: 1.0,
            active: 1.0,
        },
        Activation::Relu => Moments {
            mean: half_normal,
            second: q / 2.0,
            slope2: 0.5,
            active: 0.5,
        },
        Activation::LeakyRelu(a) => Moments {
            mean: (1.0 - a) * half_normal,
            second: (1.0 + a * a) * q / 2.0,
            slope2: (1.0 + a * a) / 2.0,
            active: if a == 0.0 { 0.5 } else { 1.0 },
        },
        _ => Moments {
            mean: gaussian_mean(q, |s| act.f(s)),
            second: gaussian_mean(q, |s| act.f(s).powi(2)),
            slope2: gaussian_mean(q, |s| act.df(s, act.f(s)).powi(2)),
            active: 1.0,
        },
    }
}

/// The theory of every layer of a network (weights `layers`, the last one the output layer).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Propagation {
    /// `E[(z^k)²]` of each layer's input: `E[x²]` for the first, then each hidden layer's.
    pub input_second: Vec<f64>,
    /// Pre-activation variance `q^k` of each hidden layer.
    pub pre_var: Vec<f64>,
    /// The activation's moments at each hidden layer's `q^k`.
    pub moments: Vec<Moments>,
    /// `Var[∂c/∂s^k] / Var[∂c/∂s^{out}]` for every layer (1 for the output layer).
    pub backward: Vec<f64>,
}

/// Forward and backward recursions of the module doc, for inputs with `E[x²] = input_second`.
pub(crate) fn propagate(
    layers: &[LayerWeights],
    act: Activation,
    input_second: f64,
) -> Propagation {
    let hidden = layers.len().saturating_sub(1);
    let mut second = vec![input_second];
    let mut pre_var = Vec::with_capacity(hidden);
    let mut ms = Vec::with_capacity(hidden);
    for l in &layers[..hidden] {
        let q = l.forward_factor() * second.last().expect("non-empty");
        let m = moments(act, q);
        pre_var.push(q);
        ms.push(m);
        second.push(m.second);
    }
    let mut backward = vec![1.0; layers.len()];
    for k in (0..hidden).rev() {
        backward[k] = backward[k + 1] * layers[k + 1].backward_factor() * ms[k].slope2;
    }
    Propagation {
        input_second: second,
        pre_var,
        moments: ms,
        backward,
    }
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
fn mp_mean(m: f64, n: f64, var: f64) -> f64 {
    let (lo, hi) = (m.min(n), m.max(n));
    if lo <= 0.0 {
        return 0.0;
    }
    (var * hi).sqrt() * mp_mean_sqrt(lo / hi)
}

/// Mean singular value of the Jacobian `diag(f′(s))·W` of an `m × n` (out × in) layer with
/// `Var[W] = var`, over its `min(m, n)` singular values. Where f′ is 0 or 1 (linear, ReLU) this
/// is exact in the large limit: the `active·m` rows that are not zero form an i.i.d. matrix
/// (Marchenko–Pastur), the others add zero singular values. Elsewhere the rows are scaled by
/// `√E[f′²]` (exact for small signals, where f′ ≈ f′(0)).
pub(crate) fn jacobian_mean_singular_value(m: usize, n: usize, var: f64, mo: &Moments) -> f64 {
    let (mf, nf) = (m as f64, n as f64);
    if mo.active < 1.0 {
        let rows = mo.active * mf;
        let scale = mo.slope2 / mo.active; // E[f′²] over the active rows (1 for ReLU)
        rows.min(nf) / mf.min(nf) * mp_mean(rows, nf, var * scale)
    } else {
        mp_mean(mf, nf, var * mo.slope2)
    }
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
    fn linear_recursion_is_the_papers_products() {
        // Glorot & Bengio §4.2.1 by hand: forward ∏ n_in Var, backward ∏ n_out Var.
        let l = |fi, fo, v| LayerWeights {
            fan_in: fi,
            fan_out: fo,
            var_w: v,
        };
        let layers = [l(4, 2, 0.5), l(2, 3, 0.25), l(3, 1, 1.0)];
        let p = propagate(&layers, Activation::Linear, 1.0 / 3.0);
        assert_eq!(p.pre_var, vec![2.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(p.input_second, vec![1.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0]);
        // k=1: n_out(2)·Var(2) = 1; k=0: that × n_out(1)·Var(1) = 0.75.
        assert_eq!(p.backward, vec![0.75, 1.0, 1.0]);
    }

    #[test]
    fn gaussian_integration_matches_the_relu_closed_forms() {
        // The quadrature used for tanh & co. against He et al.'s ReLU values, by integrating
        // max(s, 0) numerically: E[f] = √(q/2π), E[f²] = q/2 (the kink at 0 limits the
        // midpoint rule to ~1e-6 relative; smooth integrands are far closer).
        for q in [0.01, 1.0, 7.5] {
            let m = moments(Activation::Relu, q);
            let mean = gaussian_mean(q, |s| s.max(0.0));
            let second = gaussian_mean(q, |s| s.max(0.0).powi(2));
            assert!((mean - m.mean).abs() < 1e-6 * m.mean, "{q}: {mean}");
            assert!((second - m.second).abs() < 1e-6 * m.second, "{q}: {second}");
        }
    }

    #[test]
    fn tanh_follows_the_linear_regime_for_small_signals() {
        // tanh²(s) = s² − (2/3)s⁴ + (17/45)s⁶ − …, E[s^2k] = (2k−1)!!·q^k:
        // E[tanh²] = q − 2q² + (17/3)q³ − O(q⁴) (next term 62/315·105 q⁴ ≈ 20.7 q⁴);
        // tanh′ = 1 − tanh² = 1 − s² + (2/3)s⁴ − (17/45)s⁶: tanh′² = 1 − 2s² + (7/3)s⁴ −
        // (94/45)s⁶ …: E = 1 − 2q + 7q² − O(q³) (next term 94/45·15 q³ ≈ 31.3 q³).
        for q in [1e-4, 1e-3, 1e-2, 0.03] {
            let m = moments(Activation::Tanh, q);
            let second = q - 2.0 * q * q + 17.0 / 3.0 * q * q * q;
            let slope2 = 1.0 - 2.0 * q + 7.0 * q * q;
            assert!((m.second - second).abs() <= 25.0 * q.powi(4), "{q}: {m:?}");
            assert!((m.slope2 - slope2).abs() <= 40.0 * q.powi(3), "{q}: {m:?}");
            assert!(m.mean.abs() < 1e-12);
        }
    }

    #[test]
    fn tanh_gain_at_unit_variance_is_near_pytorchs_five_thirds() {
        // PyTorch's 5/3 is empirical (docs/init-schemes.md §1.2): the gain that keeps a tanh
        // layer's variance at q = 1 is 1/√E[tanh(s)²] = 1/√0.39429… = 1.5926.
        let g = 1.0 / moments(Activation::Tanh, 1.0).second.sqrt();
        assert!((g - 1.5926).abs() < 1e-3, "{g}");
        assert!((g - 5.0 / 3.0).abs() / (5.0 / 3.0) < 0.05, "{g}");
    }

    #[test]
    fn relu_jacobian_is_half_its_rows_of_marchenko_pastur() {
        // Square n × n, Var = 2/n (He): half the rows are zero, the other n/2 × n matrix has
        // n/2 singular values with mean √(Var·n)·E_MP(1/2)[√x]; the mean over n values halves it.
        let n = 1000;
        let m = moments(Activation::Relu, 1.0);
        let got = jacobian_mean_singular_value(n, n, 2.0 / n as f64, &m);
        let want = 0.5 * (2.0f64).sqrt() * mp_mean_sqrt(0.5);
        assert!((got - want).abs() < 1e-12, "{got} {want}");
        // Linear: plain Marchenko–Pastur.
        let lin = moments(Activation::Linear, 1.0);
        let got = jacobian_mean_singular_value(n, n, 1.0 / n as f64, &lin);
        assert!((got - mp_mean_sqrt(1.0)).abs() < 1e-12);
    }
}
