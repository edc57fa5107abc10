//! Real PyTorch 2.15 outputs (`fixtures/torch/`, written by `tests/torch_verify/make_fixtures.py`;
//! the code of each file is in `fixtures/torch/cases.json`) against the distributions weightgen
//! resolves for the same call. weightgen's native stream does not reproduce PyTorch's numbers
//! (that is `--rng torch`, a later feature), so the check is distributional: the PyTorch values
//! must lie inside our bounds, reach them, and pass a Kolmogorov–Smirnov test against our law.
//! A wrong fan, gain or operation (fan_in/fan_out swapped, √3 missing, ±2σ instead of ±2)
//! fails it.

mod common;
use common::cli::fixture;
use common::stat::{self, Exact, KS_C};
use ndarray::ArrayD;
use ndarray_npy::read_npy;
use weightgen::plan::Plan;
use weightgen::scheme::{Distribution, Param};
use weightgen::spec::{Spec, parse_tensor_arg};

fn npy_f64(name: &str) -> Vec<f64> {
    let path = fixture("torch").join(name);
    if let Ok(a) = read_npy::<_, ArrayD<f32>>(&path) {
        return a.iter().map(|&x| x as f64).collect();
    }
    let a: ArrayD<f64> = read_npy(&path).unwrap();
    a.iter().copied().collect()
}

/// Our distribution for `DIMS` with `--scheme` and flags.
fn ours(dims: &str, scheme: &str, params: &[(Param, &str)]) -> Distribution {
    let mut spec = Spec {
        tensors: vec![parse_tensor_arg(&format!("w={dims}")).unwrap()],
        ..Default::default()
    };
    spec.defaults.set_scheme(scheme, "--scheme").unwrap();
    for (p, v) in params {
        spec.defaults.set_str(*p, v, p.key()).unwrap();
    }
    Plan::new(&spec, 0).unwrap().tensors[0].params.distribution
}

#[track_caller]
fn check(values: &[f64], law: &Distribution, f32_bounds: bool) {
    let n = values.len() as f64;
    let (lo, hi) = law.support();
    let (lo, hi) = if f32_bounds {
        (lo as f32 as f64, hi as f32 as f64)
    } else {
        (lo, hi)
    };
    assert!(
        values.iter().all(|x| (lo..=hi).contains(x)),
        "a PyTorch value lies outside our bounds [{lo}, {hi}]"
    );
    if let Distribution::Uniform { high, .. } = *law {
        // P(max |x| < b(1 − 20/n)) = (1 − 20/n)^n ≈ e^-20: PyTorch's values must reach our bound,
        // so our bound is not too wide either.
        let max = values.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(
            max >= high * (1.0 - 20.0 / n),
            "max |x| {max} far below our bound {high}"
        );
    }
    let mut xs = values.to_vec();
    let d = stat::ks(&mut xs, |x| law.cdf(x));
    assert!(d * n.sqrt() <= KS_C, "KS √n·D = {} > {KS_C}", d * n.sqrt());
}

#[test]
fn pytorch_xavier_uniform_values_follow_our_xavier_uniform() {
    let v = npy_f64("xavier_uniform_seed1_256x784.npy");
    check(&v, &ours("256x784", "xavier_uniform", &[]), true);
}

#[test]
fn pytorch_xavier_uniform_f64_values_follow_our_bound_exactly() {
    let v = npy_f64("xavier_uniform_f64_seed6_30x20.npy");
    check(&v, &ours("30x20", "xavier_uniform", &[]), false);
}

#[test]
fn pytorch_xavier_normal_values_follow_our_untruncated_normal() {
    let v = npy_f64("xavier_normal_seed2_64x32.npy");
    let law = ours("64x32", "xavier_normal", &[]);
    assert!(matches!(law, Distribution::Normal { .. }));
    check(&v, &law, true);
}

#[test]
fn pytorch_kaiming_uniform_relu_conv_values_follow_ours() {
    let v = npy_f64("kaiming_uniform_relu_seed3_16x3x3x3.npy");
    check(
        &v,
        &ours(
            "16x3x3x3",
            "kaiming_uniform",
            &[(Param::Nonlinearity, "relu")],
        ),
        true,
    );
}

#[test]
fn pytorch_kaiming_normal_fan_out_values_follow_ours_and_not_fan_in() {
    let v = npy_f64("kaiming_normal_fanout_seed4_128x64.npy");
    let fan_out = ours(
        "128x64",
        "kaiming_normal",
        &[(Param::Mode, "fan_out"), (Param::Nonlinearity, "relu")],
    );
    check(&v, &fan_out, true);
    // The test can tell the modes apart: fan_in gives a √2 larger std and fails KS.
    let fan_in = ours("128x64", "kaiming_normal", &[(Param::Nonlinearity, "relu")]);
    let mut xs = v.clone();
    let d = stat::ks(&mut xs, |x| fan_in.cdf(x));
    assert!(d * (v.len() as f64).sqrt() > KS_C);
}

#[test]
fn pytorch_trunc_normal_with_absolute_bounds_follows_ours() {
    // nn.init.trunc_normal_(t, std=0.02) truncates at the absolute ±2 (PyTorch's defaults).
    let v = npy_f64("trunc_normal_std002_seed5_100x50.npy");
    let law = ours(
        "100x50",
        "truncated_normal",
        &[(Param::Std, "0.02"), (Param::Low, "-2"), (Param::High, "2")],
    );
    check(&v, &law, true);
}

#[test]
fn pytorch_default_linear_and_conv_weights_follow_our_standard_scheme() {
    for (file, dims) in [
        ("linear_default_seed0.safetensors", "256x784"),
        ("conv2d_default_seed1.safetensors", "16x3x3x3"),
    ] {
        let bytes = std::fs::read(fixture("torch").join(file)).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let w = st.tensor("weight").unwrap();
        let v: Vec<f64> = w
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect();
        check(&v, &ours(dims, "standard", &[]), true);
    }
}
