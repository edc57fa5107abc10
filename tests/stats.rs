//! Statistical tests of the samplers (`stream`), through the public API only: each random
//! scheme's values are compared with the exact law they should follow (mean, variance,
//! Kolmogorov–Smirnov against the exact CDF, support), and the streams are checked for
//! independence between names, seeds, chunks and Box–Muller pairs.
//!
//! Tolerances. Every test uses a fixed seed, so every check is deterministic: it either always
//! passes or always fails, and a failure is never bad luck on a rerun. The thresholds are set at
//! five standard errors (z = 5, two-sided tail 6·10⁻⁷) so that a correct sampler is far from the
//! line — whichever seed was picked — while, with 10⁶ samples, a mean off by 1% of σ (z = 10)
//! fails, and so does a variance off by 1% for the uniform and normal laws (z ≈ 7–11; only ≈ 4
//! for the one-sided truncated tails, whose kurtosis makes the variance estimate noisier). The
//! KS statistic uses the asymptotic Kolmogorov critical value c(α) = √(−ln(α/2)/2) = 1.95 for
//! α = 0.001: D_n ≤ 1.95/√n.
//!
//! Values are checked as the f64 draws; the f32 output is their rounding, checked separately
//! (`f32_output_is_the_f64_draw_rounded_to_nearest`). Run with `-- --nocapture` to see the
//! measured z-scores and D_n·√n of every check.

use weightgen::dtype::DType;
use weightgen::fans::Convention;
use weightgen::plan::{Plan, PlannedTensor};
use weightgen::scheme::{Distribution, Param};
use weightgen::spec::{Spec, parse_tensor_arg};
use weightgen::testing::{CHUNK_ELEMS, TensorStream};

mod common;
use common::stat::{self, Exact, KS_C};

/// Samples per distribution.
const N: u64 = 1_000_000;
/// Tolerance in standard errors for means, variances and correlations.
const Z: f64 = 5.0;

// ---------------------------------------------------------------------------------------------
// Drawing and checking.

/// All values of a stream, chunk by chunk.
fn draw(s: &TensorStream) -> Vec<f64> {
    let mut all = Vec::with_capacity(s.numel() as usize);
    for c in 0..s.num_chunks() {
        let mut v = vec![0.0; s.chunk_len(c)];
        s.fill_chunk(c, &mut v);
        all.extend_from_slice(&v);
    }
    all
}

/// Checks 1–4 of `xs` against the exact law `law`: every value in the support, mean and
/// variance within Z standard errors, and √n·D_n ≤ 1.95.
fn check(label: &str, law: &Distribution, mut xs: Vec<f64>) {
    let n = xs.len() as f64;
    let (lo, hi) = law.support();
    if let Some(x) = xs.iter().find(|x| !(lo..=hi).contains(*x)) {
        panic!("{label}: value {x} outside [{lo}, {hi}]");
    }
    let (mean, var) = stat::mean_var(&xs);
    let (mu, sigma2, kappa) = (law.mean(), law.var(), law.kurtosis());
    // Standard error of the mean σ/√n; of the sample variance σ²·√((κ−1)/n).
    let mean_z = (mean - mu) / (sigma2 / n).sqrt();
    let var_z = (var - sigma2) / (sigma2 * ((kappa - 1.0) / n).sqrt());
    let ks = stat::ks(&mut xs, |x| law.cdf(x)) * n.sqrt();
    println!(
        "| {label:<52} | {:+.2} | {:+.2} | {kappa:.3} | {:+.1e} | {ks:.3} |",
        mean_z,
        var_z,
        var.sqrt() / sigma2.sqrt() - 1.0,
    );
    assert!(
        mean_z.abs() <= Z,
        "{label}: mean {mean} vs {mu}: z = {mean_z:.2} (|z| ≤ {Z})"
    );
    assert!(
        var_z.abs() <= Z,
        "{label}: variance {var} vs {sigma2} (std {} vs {}): z = {var_z:.2} (|z| ≤ {Z})",
        var.sqrt(),
        sigma2.sqrt()
    );
    assert!(
        ks <= KS_C,
        "{label}: KS √n·D_n = {ks:.3} > {KS_C} against {law:?}"
    );
}

/// Draw `N` values of `dist` directly and check them against `dist` itself.
fn check_direct(label: &str, seed: u64, dist: Distribution) {
    let s = TensorStream::new(seed, "stats", N, &dist);
    check(label, &dist, draw(&s));
}

/// Plan one tensor `name=dims` with `scheme` and `params` under `convention`, and draw it.
fn planned(
    arg: &str,
    scheme: &str,
    params: &[(Param, &str)],
    convention: Convention,
    seed: u64,
) -> (PlannedTensor, Vec<f64>) {
    let mut spec = Spec {
        tensors: vec![parse_tensor_arg(arg).unwrap()],
        convention: Some(convention),
        ..Default::default()
    };
    spec.defaults.set_scheme(scheme, "--scheme").unwrap();
    for (p, v) in params {
        spec.defaults.set_str(*p, v, p.key()).unwrap();
    }
    let plan = Plan::new(&spec, seed).unwrap();
    let t = plan.tensors[0].clone();
    let xs = draw(&t.stream(plan.seed));
    assert_eq!(xs.len() as u64, N, "tests use {N} elements");
    (t, xs)
}

/// The planned distribution equals the one computed here from the formulas, to 1e-12
/// relative (the statistical checks then test the sampler against the formula's law).
fn assert_resolves_to(t: &PlannedTensor, expected: Distribution) {
    fn params(d: Distribution) -> Vec<f64> {
        match d {
            Distribution::Constant { value } => vec![value],
            Distribution::Uniform { low, high } => vec![low, high],
            Distribution::Normal { mean, std } => vec![mean, std],
            Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => vec![mean, std, low, high],
            other => panic!("not an element-wise law: {other:?}"),
        }
    }
    let got = t.params.distribution;
    let same_kind = std::mem::discriminant(&got) == std::mem::discriminant(&expected);
    let close = params(got)
        .iter()
        .zip(params(expected))
        .all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs().max(1e-300));
    assert!(
        same_kind && close,
        "{}: resolved to {got:?}, expected {expected:?}",
        t.name
    );
}

/// Std of a standard normal truncated to ±2, from φ and Φ: Keras/JAX divide by it.
fn trunc_std_2sigma() -> f64 {
    stat::truncated_standard_moments(-2.0, 2.0).1.sqrt()
}

/// Keras/JAX "normal": cut at ±2σ, σ chosen so that the truncated std is `target_std`.
fn keras_truncated(target_std: f64) -> Distribution {
    let std = target_std / trunc_std_2sigma();
    let d = Distribution::TruncatedNormal {
        mean: 0.0,
        std,
        low: -2.0 * std,
        high: 2.0 * std,
    };
    let rel = (d.var().sqrt() / target_std - 1.0).abs();
    assert!(rel < 1e-12, "truncated std off the target by {rel:e}");
    d
}

fn symmetric_uniform(bound: f64) -> Distribution {
    Distribution::Uniform {
        low: -bound,
        high: bound,
    }
}

fn centred_normal(std: f64) -> Distribution {
    Distribution::Normal { mean: 0.0, std }
}

// Torch weights are [out, in]; Keras kernels are [in, out]. Both shapes below have
// fan_in = 2000 and fan_out = 500, and unequal fans catch a fan_in/fan_out mix-up.
const TORCH_W: &str = "w=500x2000";
const KERAS_W: &str = "w=2000x500";
const FAN_IN: f64 = 2000.0;
const FAN_OUT: f64 = 500.0;

fn assert_fans(t: &PlannedTensor) {
    assert_eq!((t.params.fan_in, t.params.fan_out), (Some(2000), Some(500)));
}

// ---------------------------------------------------------------------------------------------
// The helpers themselves.

#[test]
fn helper_moments_and_cdf_agree_with_numerical_integration() {
    // Simpson's rule on [a, b] for mass, mean, variance and fourth central moment.
    for (a, b) in [
        (-2.0, 2.0),
        (3.0, 10.0),
        (0.5, 0.7),
        (-0.5, 0.7),
        (-15.5, -3.0),
        (8.0, 50.0),
    ] {
        let k = 200_000;
        let h = (b - a) / k as f64;
        let integrate = |f: &dyn Fn(f64) -> f64| {
            let mut s = f(a) + f(b);
            for i in 1..k {
                let x = a + i as f64 * h;
                s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
            }
            s * h / 3.0
        };
        let z = integrate(&|x| stat::pdf(x));
        let m = integrate(&|x| x * stat::pdf(x)) / z;
        let v = integrate(&|x| (x - m).powi(2) * stat::pdf(x)) / z;
        let k4 = integrate(&|x| (x - m).powi(4) * stat::pdf(x)) / z / (v * v);
        let (m_, v_, k4_) = stat::truncated_standard_moments(a, b);
        // Relative error, absolute near 0 (the symmetric case has mean 0).
        let rel = |x: f64, y: f64| (x - y).abs() / y.abs().max(1e-3);
        assert!(rel(stat::mass(a, b), z) < 1e-9, "mass [{a}, {b}]");
        assert!(rel(m_, m) < 1e-9, "mean [{a}, {b}]: {m_} vs {m}");
        assert!(rel(v_, v) < 1e-8, "var [{a}, {b}]: {v_} vs {v}");
        assert!(rel(k4_, k4) < 1e-6, "kurtosis [{a}, {b}]: {k4_} vs {k4}");
        // The CDF at the middle of the interval is the integral up to it.
        let d = Distribution::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            low: a,
            high: b,
        };
        let mid = 0.5 * (a + b);
        let half = {
            let h2 = (mid - a) / k as f64;
            let mut s = stat::pdf(a) + stat::pdf(mid);
            for i in 1..k {
                s += if i % 2 == 1 { 4.0 } else { 2.0 } * stat::pdf(a + i as f64 * h2);
            }
            s * h2 / 3.0 / z
        };
        assert!((d.cdf(mid) - half).abs() < 1e-9, "cdf [{a}, {b}]");
    }
    // The Keras/JAX constant, recomputed from φ and Φ.
    assert!((trunc_std_2sigma() - 0.879_625_661_034_239_8).abs() < 1e-15);
    // Sanity of the critical value: √(−ln(0.0005)/2).
    assert!((((-(0.0005f64).ln()) / 2.0).sqrt() - KS_C).abs() < 0.001);
}

// ---------------------------------------------------------------------------------------------
// Plain schemes.

#[test]
fn uniform_matches_its_bounds_and_passes_ks() {
    let p = [(Param::Low, "-0.25"), (Param::High, "0.75")];
    let (t, xs) = planned("u=1000x1000", "uniform", &p, Convention::Torch, 101);
    let law = Distribution::Uniform {
        low: -0.25,
        high: 0.75,
    };
    assert_resolves_to(&t, law);
    check("uniform [-0.25, 0.75]", &law, xs);
}

#[test]
fn normal_matches_its_moments_and_passes_ks() {
    let p = [(Param::Mean, "0.5"), (Param::Std, "2")];
    let (t, xs) = planned("n=1000x1000", "normal", &p, Convention::Torch, 102);
    let law = Distribution::Normal {
        mean: 0.5,
        std: 2.0,
    };
    assert_resolves_to(&t, law);
    check("normal (0.5, 2)", &law, xs);
}

#[test]
fn truncated_normal_with_default_two_sigma_bounds_passes_ks() {
    // Default bounds mean ± 2·std (normal-rejection proposal).
    let p = [(Param::Mean, "1"), (Param::Std, "0.5")];
    let (t, xs) = planned(
        "t=1000x1000",
        "truncated_normal",
        &p,
        Convention::Torch,
        103,
    );
    let law = Distribution::TruncatedNormal {
        mean: 1.0,
        std: 0.5,
        low: 0.0,
        high: 2.0,
    };
    assert_resolves_to(&t, law);
    check("truncated_normal (1, 0.5) default [0, 2]", &law, xs);
}

#[test]
fn truncated_normal_pytorch_style_std_002_within_absolute_2_is_essentially_untruncated() {
    // torch.nn.init.trunc_normal_(std=0.02): bounds ±2 absolute = ±100σ, so nothing is cut and
    // the values are N(0, 0.02²) (the law below has mass 1 to double precision).
    let p = [(Param::Std, "0.02"), (Param::Low, "-2"), (Param::High, "2")];
    let (t, xs) = planned(
        "t=1000x1000",
        "truncated_normal",
        &p,
        Convention::Torch,
        104,
    );
    let law = Distribution::TruncatedNormal {
        mean: 0.0,
        std: 0.02,
        low: -2.0,
        high: 2.0,
    };
    assert_resolves_to(&t, law);
    assert!((law.var().sqrt() - 0.02).abs() < 1e-15);
    check(
        "truncated_normal std 0.02 in [-2, 2] (torch style)",
        &law,
        xs.clone(),
    );
    check(
        "  same values vs untruncated N(0, 0.02²)",
        &centred_normal(0.02),
        xs,
    );
}

#[test]
fn truncated_normal_far_one_sided_tail_uses_exact_tail_cdf_and_passes_ks() {
    // α = 3, β = 10: Robert's exponential proposal. κ ≈ 6.8 here, well above the
    // normal's 3 (an exponential has 9), so the variance tolerance uses the exact κ.
    let d = Distribution::TruncatedNormal {
        mean: 0.0,
        std: 1.0,
        low: 3.0,
        high: 10.0,
    };
    check_direct("truncated_normal (0, 1) [3, 10] (exponential)", 105, d);
}

#[test]
fn truncated_normal_beyond_eight_sigma_passes_ks_with_the_erfc_tail() {
    // α = 8: Φ(8) rounds to 1 in f64, so only the erfc upper-tail form of the CDF works.
    let d = Distribution::TruncatedNormal {
        mean: -1.0,
        std: 0.5,
        low: 3.0,
        high: 20.0,
    };
    check_direct("truncated_normal (-1, 0.5) [3, 20] (α = 8)", 106, d);
}

#[test]
fn truncated_normal_narrow_one_sided_interval_passes_ks() {
    // α = 0.5, β = 0.7: uniform proposal with acceptance exp((α² − z²)/2).
    let d = Distribution::TruncatedNormal {
        mean: 0.0,
        std: 1.0,
        low: 0.5,
        high: 0.7,
    };
    check_direct("truncated_normal (0, 1) [0.5, 0.7] (uniform)", 107, d);
}

#[test]
fn truncated_normal_narrow_interval_around_zero_passes_ks() {
    // α = −0.5, β = 0.7 (β − α < √(2π)): uniform proposal with acceptance exp(−z²/2).
    let d = Distribution::TruncatedNormal {
        mean: 0.0,
        std: 1.0,
        low: -0.5,
        high: 0.7,
    };
    check_direct("truncated_normal (0, 1) [-0.5, 0.7] (uniform at 0)", 108, d);
}

#[test]
fn truncated_normal_mirrored_negative_tail_passes_ks() {
    // Standardised [−15.5, −3]: mirrored to [3, 15.5], exponential proposal.
    let d = Distribution::TruncatedNormal {
        mean: 1.0,
        std: 2.0,
        low: -30.0,
        high: -5.0,
    };
    check_direct("truncated_normal (1, 2) [-30, -5] (mirrored exp.)", 109, d);
}

#[test]
fn truncated_normal_mirrored_narrow_interval_passes_ks() {
    // Standardised [−0.7, −0.5]: mirrored to [0.5, 0.7], uniform proposal.
    let d = Distribution::TruncatedNormal {
        mean: 0.0,
        std: 1.0,
        low: -0.7,
        high: -0.5,
    };
    check_direct(
        "truncated_normal (0, 1) [-0.7, -0.5] (mirrored unif.)",
        110,
        d,
    );
}

// ---------------------------------------------------------------------------------------------
// Fan-based schemes, through the scheme formulas (fan_in = 2000, fan_out = 500).

#[test]
fn xavier_uniform_matches_its_bounds_and_passes_ks() {
    let (t, xs) = planned(TORCH_W, "xavier_uniform", &[], Convention::Torch, 201);
    assert_fans(&t);
    // Glorot & Bengio eq. 16: U(±√(6/(fan_in+fan_out))).
    let law = symmetric_uniform((6.0 / (FAN_IN + FAN_OUT)).sqrt());
    assert_resolves_to(&t, law);
    check("xavier_uniform torch", &law, xs);
}

#[test]
fn xavier_normal_torch_is_untruncated_with_glorot_std() {
    let (t, xs) = planned(TORCH_W, "xavier_normal", &[], Convention::Torch, 202);
    assert_fans(&t);
    let law = centred_normal((2.0 / (FAN_IN + FAN_OUT)).sqrt());
    assert_resolves_to(&t, law);
    check("xavier_normal torch", &law, xs);
}

#[test]
fn xavier_normal_keras_is_truncated_and_its_truncated_std_is_glorot() {
    let (t, xs) = planned(KERAS_W, "xavier_normal", &[], Convention::Keras, 203);
    assert_fans(&t);
    let law = keras_truncated((2.0 / (FAN_IN + FAN_OUT)).sqrt());
    assert_resolves_to(&t, law);
    check("xavier_normal keras (truncated ±2σ)", &law, xs);
}

#[test]
fn kaiming_uniform_torch_default_has_bound_sqrt_6_over_fan_in() {
    // Default nonlinearity leaky_relu with slope 0: gain √2, bound √3·√2/√fan_in.
    let (t, xs) = planned(TORCH_W, "kaiming_uniform", &[], Convention::Torch, 204);
    assert_fans(&t);
    let law = symmetric_uniform((6.0 / FAN_IN).sqrt());
    assert_resolves_to(&t, law);
    check("kaiming_uniform torch", &law, xs);
}

#[test]
fn kaiming_uniform_keras_fan_out_with_leaky_relu_matches_its_bound() {
    // he_uniform with mode fan_out and leaky_relu(0.2): scale = 2/(1 + 0.2²).
    let p = [
        (Param::Mode, "fan_out"),
        (Param::Nonlinearity, "leaky_relu"),
        (Param::NegativeSlope, "0.2"),
    ];
    let (t, xs) = planned(KERAS_W, "kaiming_uniform", &p, Convention::Keras, 205);
    assert_fans(&t);
    let law = symmetric_uniform((3.0 * (2.0 / 1.04) / FAN_OUT).sqrt());
    assert_resolves_to(&t, law);
    check("kaiming_uniform keras fan_out leaky_relu(0.2)", &law, xs);
}

#[test]
fn kaiming_normal_torch_relu_has_std_sqrt_2_over_fan_in() {
    let p = [(Param::Nonlinearity, "relu")];
    let (t, xs) = planned(TORCH_W, "kaiming_normal", &p, Convention::Torch, 206);
    assert_fans(&t);
    let law = centred_normal((2.0 / FAN_IN).sqrt());
    assert_resolves_to(&t, law);
    check("kaiming_normal torch relu", &law, xs);
}

#[test]
fn kaiming_normal_keras_is_truncated_and_its_truncated_std_is_he() {
    let p = [(Param::Nonlinearity, "relu")];
    let (t, xs) = planned(KERAS_W, "kaiming_normal", &p, Convention::Keras, 207);
    assert_fans(&t);
    let law = keras_truncated((2.0 / FAN_IN).sqrt());
    assert_resolves_to(&t, law);
    check("kaiming_normal keras relu (truncated ±2σ)", &law, xs);
}

#[test]
fn lecun_uniform_has_bound_sqrt_3_over_fan_in() {
    let (t, xs) = planned(TORCH_W, "lecun_uniform", &[], Convention::Torch, 208);
    assert_fans(&t);
    let law = symmetric_uniform((3.0 / FAN_IN).sqrt());
    assert_resolves_to(&t, law);
    check("lecun_uniform torch", &law, xs);
}

#[test]
fn lecun_normal_torch_is_untruncated_with_std_one_over_sqrt_fan_in() {
    let (t, xs) = planned(TORCH_W, "lecun_normal", &[], Convention::Torch, 209);
    assert_fans(&t);
    let law = centred_normal((1.0 / FAN_IN).sqrt());
    assert_resolves_to(&t, law);
    check("lecun_normal torch", &law, xs);
}

#[test]
fn lecun_normal_keras_is_truncated_and_its_truncated_std_is_lecun() {
    let (t, xs) = planned(KERAS_W, "lecun_normal", &[], Convention::Keras, 210);
    assert_fans(&t);
    let law = keras_truncated((1.0 / FAN_IN).sqrt());
    assert_resolves_to(&t, law);
    check("lecun_normal keras (truncated ±2σ)", &law, xs);
}

/// variance_scaling with scale 2, mode fan_avg: v = 2 / ((2000 + 500)/2).
const VS_PARAMS: [(Param, &str); 2] = [(Param::Scale, "2"), (Param::Mode, "fan_avg")];
const VS_VARIANCE: f64 = 2.0 / ((FAN_IN + FAN_OUT) / 2.0);

fn vs_params(distribution: &'static str) -> Vec<(Param, &'static str)> {
    let mut p = VS_PARAMS.to_vec();
    p.push((Param::Distribution, distribution));
    p
}

#[test]
fn variance_scaling_uniform_has_bound_sqrt_3v() {
    let p = vs_params("uniform");
    let (t, xs) = planned(TORCH_W, "variance_scaling", &p, Convention::Torch, 211);
    assert_fans(&t);
    let law = symmetric_uniform((3.0 * VS_VARIANCE).sqrt());
    assert_resolves_to(&t, law);
    check("variance_scaling uniform fan_avg scale 2", &law, xs);
}

#[test]
fn variance_scaling_truncated_normal_has_truncated_variance_v() {
    let p = vs_params("truncated_normal");
    let (t, xs) = planned(TORCH_W, "variance_scaling", &p, Convention::Torch, 212);
    assert_fans(&t);
    let law = keras_truncated(VS_VARIANCE.sqrt());
    assert_resolves_to(&t, law);
    check(
        "variance_scaling truncated_normal fan_avg scale 2",
        &law,
        xs,
    );
}

#[test]
fn variance_scaling_untruncated_normal_has_variance_v() {
    let p = vs_params("untruncated_normal");
    let (t, xs) = planned(TORCH_W, "variance_scaling", &p, Convention::Torch, 213);
    assert_fans(&t);
    let law = centred_normal(VS_VARIANCE.sqrt());
    assert_resolves_to(&t, law);
    check(
        "variance_scaling untruncated_normal fan_avg scale 2",
        &law,
        xs,
    );
}

#[test]
fn variance_scaling_keras_normal_is_truncated_with_fan_geo_avg() {
    // Keras' "normal" is its truncated normal; fan_geo_avg = √(2000·500) = 1000.
    let p = [
        (Param::Mode, "fan_geo_avg"),
        (Param::Distribution, "normal"),
    ];
    let (t, xs) = planned(KERAS_W, "variance_scaling", &p, Convention::Keras, 214);
    assert_fans(&t);
    let law = keras_truncated((1.0 / (FAN_IN * FAN_OUT).sqrt()).sqrt());
    assert_resolves_to(&t, law);
    check("variance_scaling keras normal fan_geo_avg", &law, xs);
}

#[test]
fn standard_is_uniform_within_one_over_sqrt_fan_in() {
    let (t, xs) = planned(TORCH_W, "standard", &[], Convention::Torch, 215);
    assert_fans(&t);
    let law = symmetric_uniform(1.0 / FAN_IN.sqrt());
    assert_resolves_to(&t, law);
    check("standard torch", &law, xs);
}

// ---------------------------------------------------------------------------------------------
// Output rounding and stream structure.

/// The bytes of f32/f16/bf16 files (the writers' fast path) are each value of `fill_chunk`
/// rounded to nearest even: to f32 by IEEE conversion, to f16/bf16 from that f32 value.
#[test]
fn narrow_output_is_the_f64_draw_rounded_to_nearest() {
    let dists = [
        Distribution::Uniform {
            low: -0.3,
            high: 0.7,
        },
        centred_normal(0.05),
        keras_truncated(0.1),
        Distribution::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            low: 3.0,
            high: 10.0,
        },
    ];
    // Two full chunks and an odd short one (the normal's lone cosine value).
    let n = 2 * CHUNK_ELEMS + 777;
    let mut scratch = Vec::new();
    for d in dists {
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let s = TensorStream::new(301, "f32", n, &d).with_dtype(dtype);
            for c in 0..s.num_chunks() {
                let mut v = vec![0.0; s.chunk_len(c)];
                s.fill_chunk(c, &mut v);
                let mut bytes = vec![0u8; dtype.size() * s.chunk_len(c)];
                s.fill_chunk_bytes(c, &mut scratch, &mut bytes);
                for (i, (x, b)) in v.iter().zip(bytes.chunks_exact(dtype.size())).enumerate() {
                    let (got, want) = match dtype {
                        DType::F32 => (
                            u32::from_le_bytes(b.try_into().unwrap()),
                            (*x as f32).to_bits(),
                        ),
                        DType::F16 => (
                            u16::from_le_bytes(b.try_into().unwrap()) as u32,
                            half::f16::from_f32(*x as f32).to_bits() as u32,
                        ),
                        _ => (
                            u16::from_le_bytes(b.try_into().unwrap()) as u32,
                            half::bf16::from_f32(*x as f32).to_bits() as u32,
                        ),
                    };
                    assert_eq!(got, want, "{d:?} {dtype} chunk {c} element {i}: {x}");
                }
            }
        }
    }
}

fn assert_uncorrelated(label: &str, (r, n): (f64, f64)) {
    // Under independence √n·r is approximately N(0, 1).
    let z = r * n.sqrt();
    println!("| {label:<52} | r = {r:+.5}, √n·r = {z:+.2} (n = {n}) |");
    assert!(
        z.abs() <= Z,
        "{label}: correlation {r} over {n} pairs, √n·r = {z:.2}"
    );
}

#[test]
fn different_names_with_the_same_seed_give_uncorrelated_streams() {
    let n = 100_000;
    for d in [
        centred_normal(1.0),
        Distribution::Uniform {
            low: 0.0,
            high: 1.0,
        },
    ] {
        let a = draw(&TensorStream::new(7, "layer.0.weight", n, &d));
        let b = draw(&TensorStream::new(7, "layer.1.weight", n, &d));
        assert_uncorrelated(&format!("names differ: {d:?}"), stat::correlation(&a, &b));
        // A name that extends another must not share its stream either.
        let c = draw(&TensorStream::new(7, "layer.0.weight0", n, &d));
        assert_uncorrelated(&format!("name prefix: {d:?}"), stat::correlation(&a, &c));
    }
}

#[test]
fn different_seeds_with_the_same_name_give_uncorrelated_streams() {
    let n = 100_000;
    for d in [
        centred_normal(1.0),
        Distribution::Uniform {
            low: 0.0,
            high: 1.0,
        },
    ] {
        let a = draw(&TensorStream::new(0, "w", n, &d));
        let b = draw(&TensorStream::new(1, "w", n, &d));
        assert_uncorrelated(&format!("seeds 0, 1: {d:?}"), stat::correlation(&a, &b));
        let c = draw(&TensorStream::new(1 << 32, "w", n, &d));
        assert_uncorrelated(&format!("seeds 0, 2^32: {d:?}"), stat::correlation(&a, &c));
    }
}

#[test]
fn chunk_boundaries_are_invisible() {
    // 512 chunks (33.5 M values), streamed: keep each chunk's first 100 values, the 100 values
    // straddling each chunk edge, and correlations with the previous chunk.
    let chunks = 512;
    let law = centred_normal(1.0);
    let s = TensorStream::new(401, "chunked", chunks * CHUNK_ELEMS, &law);
    let len = CHUNK_ELEMS as usize;
    let (mut heads, mut edges, mut firsts) = (Vec::new(), Vec::new(), Vec::new());
    let mut same_index = stat::Corr::default(); // x[c][i] vs x[c+1][i]
    let mut across_edge = stat::Corr::default(); // x[c][len−1−j] vs x[c+1][j], j < 50
    let mut lag1 = stat::Corr::default(); // consecutive elements of the whole tensor
    let mut prev: Vec<f64> = Vec::new();
    for c in 0..chunks {
        let mut v = vec![0.0; len];
        s.fill_chunk(c, &mut v);
        heads.extend_from_slice(&v[..100]);
        firsts.push(v[0].to_bits());
        for w in v.windows(2) {
            lag1.add(w[0], w[1]);
        }
        if !prev.is_empty() {
            edges.extend_from_slice(&prev[len - 50..]);
            edges.extend_from_slice(&v[..50]);
            lag1.add(prev[len - 1], v[0]);
            for (a, b) in prev.iter().zip(&v) {
                same_index.add(*a, *b);
            }
            for j in 0..50 {
                across_edge.add(prev[len - 1 - j], v[j]);
            }
        }
        prev = v;
    }
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(
        firsts.len() as u64,
        chunks,
        "chunks start with repeated values"
    );
    // No chunk head is a (shifted) copy of another's: no run of 3 consecutive values occurs
    // twice among the 512 heads. Values carry f32 precision (normals since `weightgen-2`), so single
    // values do collide by chance (each f32 value near 1 has probability ≈ 0.24·2⁻²³ ≈ 3e-8,
    // about 20 expected among 51,200), but a chance repeat of a 3-run needs three such
    // coincidences in a row: expected ≈ 51,200²/2 · (3e-8)³ ≈ 4e-14.
    let mut runs = std::collections::HashSet::new();
    for head in heads.chunks(100) {
        for w in head.windows(3) {
            let key = (w[0].to_bits(), w[1].to_bits(), w[2].to_bits());
            assert!(
                runs.insert(key),
                "chunk heads repeat a run of values: {w:?}"
            );
        }
    }
    check("first 100 values of 512 chunks, pooled", &law, heads);
    check("100 values straddling each of 511 chunk edges", &law, edges);
    assert_uncorrelated(
        "chunk c vs chunk c+1, same index",
        (same_index.r(), same_index.n()),
    );
    assert_uncorrelated(
        "mirrored pairs across each edge",
        (across_edge.r(), across_edge.n()),
    );
    assert_uncorrelated("lag 1 over the whole tensor", (lag1.r(), lag1.n()));
}

#[test]
fn box_muller_pairs_are_uncorrelated_and_have_exponential_radius_and_uniform_angle() {
    let law = centred_normal(1.0);
    let xs = draw(&TensorStream::new(501, "bm", N, &law));
    // Within a pair (2k, 2k+1): cosine and sine values of the same radius.
    let (c, s): (Vec<f64>, Vec<f64>) = xs.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
    assert_uncorrelated("Box–Muller pair (x_2k, x_2k+1)", stat::correlation(&c, &s));
    let (c2, s2): (Vec<f64>, Vec<f64>) = c.iter().zip(&s).map(|(a, b)| (a * a, b * b)).unzip();
    assert_uncorrelated("Box–Muller pair squares", stat::correlation(&c2, &s2));
    // Between pairs (2k+1, 2k+2), and the plain lag-1 sequence.
    let (odd, next): (Vec<f64>, Vec<f64>) = xs[1..].chunks_exact(2).map(|p| (p[0], p[1])).unzip();
    assert_uncorrelated(
        "between pairs (x_2k+1, x_2k+2)",
        stat::correlation(&odd, &next),
    );
    assert_uncorrelated(
        "lag 1 (x_i, x_i+1)",
        stat::correlation(&xs[..xs.len() - 1], &xs[1..]),
    );
    // r² = x² + y² is exponential with mean 2, θ = atan2(y, x) uniform: the pair's joint law.
    let mut radius: Vec<f64> = c.iter().zip(&s).map(|(a, b)| a * a + b * b).collect();
    let n = radius.len() as f64;
    let d_r = stat::ks(&mut radius, |x| -libm::expm1(-x / 2.0)) * n.sqrt();
    let mut angle: Vec<f64> = c.iter().zip(&s).map(|(a, b)| b.atan2(*a)).collect();
    let pi = std::f64::consts::PI;
    let d_theta = stat::ks(&mut angle, |t| (t + pi) / (2.0 * pi)) * n.sqrt();
    println!("| Box–Muller r² ~ Exp(1/2): D√n = {d_r:.3}; θ ~ U(−π, π]: D√n = {d_theta:.3} |");
    assert!(d_r <= KS_C, "Box–Muller radius: √n·D_n = {d_r:.3}");
    assert!(d_theta <= KS_C, "Box–Muller angle: √n·D_n = {d_theta:.3}");
}
