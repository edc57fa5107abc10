//! The network the study measures: dense layers, an activation, softmax + negative
//! log-likelihood, one forward and one backward pass, and layer Jacobians.
//!
//! Owns: the arithmetic (f64, faer matrices, every product with `Par::Seq` so results do not
//! depend on the thread count). Does not own: drawing weights or inputs (`stream`), statistics
//! and reports (`study`).

use crate::error::{Error, Result};
use faer::diag::Diag;
use faer::linalg::matmul::matmul;
use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
use faer::{Accum, Mat, MatRef, Par};

/// SELU's λ and α (Klambauer et al. 2017), as PyTorch writes them.
pub(crate) const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
pub(crate) const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;

/// The hidden layers' activation function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Tanh,
    /// The logistic sigmoid 1/(1+e^{−s}).
    Sigmoid,
    /// x/(1+|x|) (Glorot & Bengio 2010, after Bergstra et al. 2009).
    Softsign,
    Relu,
    /// max(s, a·s) with slope `a` (PyTorch's default 0.01).
    LeakyRelu(f64),
    Linear,
    Selu,
}

impl Activation {
    /// Names accepted by [`Activation::parse`].
    pub const NAMES: [&'static str; 7] = [
        "tanh",
        "sigmoid",
        "softsign",
        "relu",
        "leaky_relu",
        "linear",
        "selu",
    ];

    /// Parse `tanh`, `leaky_relu`, `leaky_relu:0.2` (slope), ….
    pub fn parse(s: &str) -> Result<Activation> {
        let t = s.trim().to_ascii_lowercase().replace('-', "_");
        let (name, arg) = match t.split_once(':') {
            Some((n, a)) => (n.to_string(), Some(a.to_string())),
            None => (t, None),
        };
        let a = match name.as_str() {
            "tanh" => Activation::Tanh,
            "sigmoid" | "logistic" => Activation::Sigmoid,
            "softsign" => Activation::Softsign,
            "relu" => Activation::Relu,
            "leaky_relu" => {
                let slope = match &arg {
                    None => 0.01,
                    Some(a) => a
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| {
                            Error::invalid("", format!("leaky_relu slope `{a}` is not a number"))
                        })?,
                };
                return Ok(Activation::LeakyRelu(slope));
            }
            "linear" | "identity" => Activation::Linear,
            "selu" => Activation::Selu,
            _ => {
                return Err(Error::invalid(
                    "",
                    format!(
                        "unknown activation `{s}` (valid: {}; leaky_relu:SLOPE sets the slope)",
                        Activation::NAMES.join(", ")
                    ),
                ));
            }
        };
        if arg.is_some() {
            return Err(Error::invalid(
                "",
                format!("activation `{name}` takes no parameter (only leaky_relu:SLOPE does)"),
            ));
        }
        Ok(a)
    }

    /// The canonical name (`leaky_relu` without its slope).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Softsign => "softsign",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Linear => "linear",
            Activation::Selu => "selu",
        }
    }

    /// f(s). Transcendental functions come from `libm` (pure Rust, platform-independent).
    #[inline]
    pub fn f(self, s: f64) -> f64 {
        match self {
            Activation::Tanh => libm::tanh(s),
            Activation::Sigmoid => 1.0 / (1.0 + libm::exp(-s)),
            Activation::Softsign => s / (1.0 + s.abs()),
            Activation::Relu => s.max(0.0),
            Activation::LeakyRelu(a) => {
                if s > 0.0 {
                    s
                } else {
                    a * s
                }
            }
            Activation::Linear => s,
            Activation::Selu => {
                if s > 0.0 {
                    SELU_LAMBDA * s
                } else {
                    SELU_LAMBDA * SELU_ALPHA * libm::expm1(s)
                }
            }
        }
    }

    /// f′(s), given s and z = f(s).
    #[inline]
    pub fn df(self, s: f64, z: f64) -> f64 {
        match self {
            Activation::Tanh => 1.0 - z * z,
            Activation::Sigmoid => z * (1.0 - z),
            Activation::Softsign => {
                let d = 1.0 + s.abs();
                1.0 / (d * d)
            }
            Activation::Relu => {
                if s > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(a) => {
                if s > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            Activation::Linear => 1.0,
            Activation::Selu => {
                if s > 0.0 {
                    SELU_LAMBDA
                } else {
                    z + SELU_LAMBDA * SELU_ALPHA
                }
            }
        }
    }

    /// Whether z = f(s) counts as saturated, and what that means (None: no saturation rule).
    ///
    /// tanh, softsign: |z| > 0.9; sigmoid: z < 0.1 or z > 0.9 (Glorot & Bengio's Figure 2
    /// discussion); selu: within 10% of its floor −λα; relu and leaky relu: the *unit* is dead
    /// (s ≤ 0 on every example of the batch), counted per unit rather than per value.
    pub fn saturation_rule(self) -> Option<&'static str> {
        match self {
            Activation::Tanh | Activation::Softsign => Some("|z| > 0.9"),
            Activation::Sigmoid => Some("z < 0.1 or z > 0.9"),
            Activation::Selu => Some("z < -0.9·λα"),
            Activation::Relu | Activation::LeakyRelu(_) => {
                Some("dead units: s ≤ 0 on every example of the batch")
            }
            Activation::Linear => None,
        }
    }

    fn saturated_value(self, z: f64) -> bool {
        match self {
            Activation::Tanh | Activation::Softsign => z.abs() > 0.9,
            Activation::Sigmoid => !(0.1..=0.9).contains(&z),
            Activation::Selu => z < -0.9 * SELU_LAMBDA * SELU_ALPHA,
            _ => false,
        }
    }

    /// Fraction saturated in the activations `z` (batch × units) with pre-activations `s`.
    pub fn saturated_fraction(self, s: MatRef<f64>, z: MatRef<f64>) -> Option<f64> {
        self.saturation_rule()?;
        let (b, n) = z.shape();
        Some(match self {
            Activation::Relu | Activation::LeakyRelu(_) => {
                let dead = (0..n).filter(|&j| (0..b).all(|i| s[(i, j)] <= 0.0)).count();
                dead as f64 / n as f64
            }
            _ => {
                let mut c = 0usize;
                for j in 0..n {
                    for i in 0..b {
                        c += self.saturated_value(z[(i, j)]) as usize;
                    }
                }
                c as f64 / (b * n) as f64
            }
        })
    }
}

/// What one forward and backward pass leaves behind, per layer (0-based, the last is the
/// softmax output layer).
pub(crate) struct Pass {
    /// Pre-activations s^k (batch × out).
    pub pre: Vec<Mat<f64>>,
    /// Activations z^k = f(s^k) of the hidden layers (batch × out); the output layer has none.
    pub act: Vec<Mat<f64>>,
    /// ∂c/∂s^k of each example's own cost c (batch × out): batch-size independent.
    pub grad: Vec<Mat<f64>>,
    /// ∂C/∂W^k of the mean cost C over the batch (out × in).
    pub weight_grad: Vec<Mat<f64>>,
    /// Mean negative log-likelihood over the batch.
    pub loss: f64,
}

fn map(m: &Mat<f64>, f: impl Fn(f64) -> f64) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| f(m[(i, j)]))
}

/// Forward `x` (batch × in) through `weights` (each out × in, PyTorch's layout), `act` on every
/// layer but the last, softmax + NLL against `labels`, and back-propagate.
pub(crate) fn forward_backward(
    x: &Mat<f64>,
    weights: &[Mat<f64>],
    act: Activation,
    labels: &[usize],
) -> Pass {
    let b = x.nrows();
    let l = weights.len();
    let mut pre = Vec::with_capacity(l);
    let mut acts: Vec<Mat<f64>> = Vec::with_capacity(l - 1);
    for (k, w) in weights.iter().enumerate() {
        let input = if k == 0 { x } else { &acts[k - 1] };
        let mut s = Mat::<f64>::zeros(b, w.nrows());
        matmul(
            s.as_mut(),
            Accum::Replace,
            input.as_ref(),
            w.as_ref().transpose(),
            1.0,
            Par::Seq,
        );
        if k + 1 < l {
            acts.push(map(&s, |v| act.f(v)));
        }
        pre.push(s);
    }

    // Softmax + NLL: ∂c/∂s = p − onehot(y) for each example's own cost.
    let out = &pre[l - 1];
    let classes = out.ncols();
    let mut top = Mat::<f64>::zeros(b, classes);
    let mut loss = 0.0;
    for i in 0..b {
        let m = (0..classes)
            .map(|j| out[(i, j)])
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = (0..classes).map(|j| libm::exp(out[(i, j)] - m)).sum();
        for j in 0..classes {
            top[(i, j)] = libm::exp(out[(i, j)] - m) / sum;
        }
        loss += -(out[(i, labels[i])] - m - libm::log(sum));
        top[(i, labels[i])] -= 1.0;
    }
    loss /= b as f64;

    let mut grad: Vec<Mat<f64>> = vec![Mat::zeros(0, 0); l];
    grad[l - 1] = top;
    for k in (0..l - 1).rev() {
        let mut g = Mat::<f64>::zeros(b, weights[k].nrows());
        matmul(
            g.as_mut(),
            Accum::Replace,
            grad[k + 1].as_ref(),
            weights[k + 1].as_ref(),
            1.0,
            Par::Seq,
        );
        let (s, z) = (&pre[k], &acts[k]);
        grad[k] = Mat::from_fn(b, g.ncols(), |i, j| {
            g[(i, j)] * act.df(s[(i, j)], z[(i, j)])
        });
    }

    // ∂C/∂W^k = (1/B) Σ_b (∂c_b/∂s^k)ᵀ z^{k−1}_b.
    let weight_grad = (0..l)
        .map(|k| {
            let input = if k == 0 { x } else { &acts[k - 1] };
            let mut dw = Mat::<f64>::zeros(weights[k].nrows(), weights[k].ncols());
            matmul(
                dw.as_mut(),
                Accum::Replace,
                grad[k].as_ref().transpose(),
                input.as_ref(),
                1.0 / b as f64,
                Par::Seq,
            );
            dw
        })
        .collect();

    Pass {
        pre,
        act: acts,
        grad,
        weight_grad,
        loss,
    }
}

/// Singular values of the layer Jacobian ∂z^{k}/∂z^{k−1} = diag(f′(s^k)) · W^k at one example:
/// W (out × in) with row `o` scaled by `dfs[o]`. Full SVD without vectors, `Par::Seq`, in f32:
/// half the time of f64 (0.13 s against 0.25 s at 1000 × 1000), and the mean singular value
/// agrees with f64 to about 1e-6 relative — far below the sampling noise — while weights are
/// f32 in most files anyway.
pub(crate) fn jacobian_singular_values(w: &Mat<f64>, dfs: &[f64]) -> Result<Vec<f64>> {
    let (m, n) = w.shape();
    let j = Mat::<f32>::from_fn(m, n, |o, i| (dfs[o] * w[(o, i)]) as f32);
    let mut s = Diag::<f32>::zeros(m.min(n));
    let mut buf = faer::dyn_stack::MemBuffer::new(svd_scratch::<f32>(
        m,
        n,
        ComputeSvdVectors::No,
        ComputeSvdVectors::No,
        Par::Seq,
        Default::default(),
    ));
    svd(
        j.as_ref(),
        s.as_mut(),
        None,
        None,
        Par::Seq,
        faer::dyn_stack::MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|e| Error::Numerical(format!("the Jacobian's SVD did not converge ({e:?})")))?;
    Ok(s.column_vector().iter().map(|&x| x as f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        for a in [
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Softsign,
            Activation::LeakyRelu(0.2),
            Activation::Linear,
            Activation::Selu,
        ] {
            for s in [-2.3, -0.4, 0.7, 1.9] {
                let h = 1e-6;
                let fd = (a.f(s + h) - a.f(s - h)) / (2.0 * h);
                assert!((fd - a.df(s, a.f(s))).abs() < 1e-7, "{a:?} at {s}");
            }
        }
    }

    #[test]
    fn activation_names_parse_with_an_optional_slope() {
        assert_eq!(Activation::parse("TANH").unwrap(), Activation::Tanh);
        assert_eq!(
            Activation::parse("leaky_relu").unwrap(),
            Activation::LeakyRelu(0.01)
        );
        assert_eq!(
            Activation::parse("leaky-relu:0.2").unwrap(),
            Activation::LeakyRelu(0.2)
        );
        assert!(Activation::parse("tanh:2").is_err());
        assert!(
            Activation::parse("gelu")
                .unwrap_err()
                .to_string()
                .contains("valid")
        );
    }

    #[test]
    fn backprop_matches_finite_differences_of_the_loss() {
        // A 3-4-3 tanh net on 2 examples: perturb one weight, compare with ∂C/∂W.
        let x = Mat::from_fn(2, 3, |i, j| 0.3 * (i as f64) - 0.2 * (j as f64) + 0.1);
        let w0 = Mat::from_fn(4, 3, |i, j| ((i * 3 + j) as f64 * 0.37).sin());
        let w1 = Mat::from_fn(3, 4, |i, j| ((i * 4 + j) as f64 * 0.53).cos());
        let labels = [2, 0];
        let act = Activation::Tanh;
        let p = forward_backward(&x, &[w0.clone(), w1.clone()], act, &labels);
        let h = 1e-6;
        for (o, i) in [(0, 0), (3, 2), (1, 1)] {
            let mut wp = w0.clone();
            wp[(o, i)] += h;
            let mut wm = w0.clone();
            wm[(o, i)] -= h;
            let lp = forward_backward(&x, &[wp, w1.clone()], act, &labels).loss;
            let lm = forward_backward(&x, &[wm, w1.clone()], act, &labels).loss;
            let fd = (lp - lm) / (2.0 * h);
            assert!((fd - p.weight_grad[0][(o, i)]).abs() < 1e-8, "({o},{i})");
        }
    }

    #[test]
    fn jacobian_singular_values_of_a_scaled_identity() {
        let w = Mat::from_fn(3, 3, |i, j| if i == j { 2.0 } else { 0.0 });
        let mut s = jacobian_singular_values(&w, &[1.0, 0.5, 0.25]).unwrap();
        s.sort_by(f64::total_cmp);
        assert_eq!(s, vec![0.5, 1.0, 2.0]);
    }
}
