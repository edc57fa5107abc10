//! `weightgen study` against Glorot & Bengio (2010): the linear-regime variance equations, the
//! paper's Jacobian singular values, its activation trends, and determinism.
//!
//! # Sampling tolerance of the linear case
//!
//! With `f(s) = s`, every measured variance is a ratio of quadratic forms whose expectation is
//! exactly the paper's product, and whose relative variance has two parts (leading order,
//! Gaussian approximation, ignoring the ≤ 10% effect of the weights' kurtosis):
//!
//! - **batch**: the mean over `B` examples of `xᵀMx`, with `M = PPᵀ` and `P` the product of the
//!   layers' matrices, has relative variance `2·tr(M²)/(B·tr(M)²)`; for a product of `j`
//!   random matrices `tr(M²)/tr(M)² ≈ (j+1)/r` (the Fuss–Catalan second moment over the
//!   rank `r`, the narrowest width on the way);
//! - **weights**: each further matrix `W` (`n_out` rows) multiplies `‖P‖²_F` by a sum of
//!   `n_out` quadratic forms in its rows, adding relative variance `2·(j+1)/(n_out·r)`.
//!
//! Backward, the same holds with the roles reversed: the "input" is `∂c/∂s` at the output, which
//! lives in `classes` dimensions, so `r` is at most the number of classes (the tests use as many
//! classes as units so that gradients are measured as tightly as activations). The weight
//! gradient, a mean over the batch of outer products, adds the cross-example terms
//! `Σ_{b≠b′}⟨δ_b,δ_b′⟩⟨z_b,z_b′⟩`, of relative variance `1/(r_δ·r_z)`, to the variances of
//! both factors. The tests allow 5 standard deviations of that model (`calibrate_tolerance`,
//! ignored, checks the model against 200 seeds: the largest |z| seen is printed).

use weightgen::study::{Report, Study, StudyOptions, run};

mod common;
use common::cli::run as weightgen;

fn study(o: StudyOptions) -> Report {
    run(&Study::new(&o).expect("valid options")).expect("study runs")
}

fn linear(depth: usize, width: usize, input_dim: usize, batch: usize, seed: u64) -> Report {
    study(StudyOptions {
        depth: Some(depth),
        width: Some(width),
        input_dim: Some(input_dim),
        classes: Some(width),
        activation: Some("linear".into()),
        batch: Some(batch),
        seed: Some(seed),
        jacobian_samples: Some(0),
        schemes: vec!["standard".into(), "xavier_normal".into()],
        ..Default::default()
    })
}

/// Relative variances (activation, gradient, weight gradient) per hidden layer, by the model in
/// the module doc. `dims`: input, hidden widths, classes.
fn model(dims: &[usize], batch: usize) -> Vec<(f64, f64, f64)> {
    let l = dims.len() - 1; // weight matrices
    let b = batch as f64;
    // forward: layer k (1-based) is the product of matrices 1..=k
    let fwd = |k: usize| -> (f64, usize) {
        if k == 0 {
            return (0.0, dims[0]);
        }
        let mut r = dims[0];
        let mut w = 0.0;
        for (j, &n) in dims.iter().enumerate().take(k + 1).skip(1) {
            r = r.min(n);
            w += 2.0 * (j + 1) as f64 / (n as f64 * r as f64);
        }
        (2.0 * (k + 1) as f64 / (b * r as f64) + w, r)
    };
    // backward: ∂c/∂s^k is the output gradient through matrices l, l−1, …, k+1
    let bwd = |k: usize| -> (f64, usize) {
        let mut r = dims[l];
        let mut w = 0.0;
        for (i, j) in (k + 1..=l).rev().enumerate() {
            r = r.min(dims[j - 1]);
            w += 2.0 * (i + 2) as f64 / (dims[j - 1] as f64 * r as f64);
        }
        (2.0 * (l - k + 1) as f64 / (b * r as f64) + w, r)
    };
    (1..l)
        .map(|k| {
            let (a, _) = fwd(k);
            let (g, rg) = bwd(k);
            let (a0, r0) = fwd(k - 1);
            let wg = a0 + g + 1.0 / (rg as f64 * r0 as f64);
            (a, g, wg)
        })
        .collect()
}

/// (z-scores of activation var, gradient var, weight-gradient var) of every layer and scheme.
fn z_scores(r: &Report) -> Vec<(String, f64, f64, f64)> {
    let m = model(&r.dims, r.batch);
    let mut out = Vec::new();
    for s in &r.schemes {
        for (l, &(ra, rg, rw)) in s.layers.iter().zip(&m) {
            let rel = |x: f64, t: f64| x / t - 1.0;
            let za = rel(l.act_std.powi(2), l.theory.act_std.powi(2)) / ra.sqrt();
            let zg = rel(l.grad_std.powi(2), l.theory.grad_std.powi(2)) / rg.sqrt();
            let zw = rel(l.weight_grad_var, l.theory.weight_grad_var) / rw.sqrt();
            out.push((format!("{} layer {}", s.label, l.layer), za, zg, zw));
        }
    }
    out
}

#[test]
fn linear_network_variances_match_the_papers_products() {
    for (depth, width, input_dim, batch, seed) in [
        (3, 64, 96, 128, 1),
        (6, 128, 128, 64, 2),
        (2, 256, 200, 32, 3),
    ] {
        let r = linear(depth, width, input_dim, batch, seed);
        for (what, za, zg, zw) in z_scores(&r) {
            assert!(
                za.abs() < 5.0 && zg.abs() < 5.0 && zw.abs() < 5.0,
                "{depth}×{width} (input {input_dim}, batch {batch}) {what}: z = {za:.2}, {zg:.2}, {zw:.2}"
            );
        }
        // And the theory itself is the paper's: standard shrinks activations by 1/3 per layer.
        let std_layers = &r.schemes[0].layers;
        for w in std_layers.windows(2) {
            let ratio = (w[1].theory.act_std / w[0].theory.act_std).powi(2);
            assert!((ratio - 1.0 / 3.0).abs() < 1e-12, "{ratio}");
        }
    }
}

#[test]
#[ignore = "calibration of the tolerance model (200 seeds); run with --ignored --nocapture"]
fn calibrate_tolerance() {
    let mut all: Vec<[f64; 3]> = Vec::new();
    for seed in 0..200 {
        let r = linear(4, 64, 80, 32, 1000 + seed);
        all.extend(z_scores(&r).into_iter().map(|(_, a, g, w)| [a, g, w]));
    }
    for (i, name) in ["activation", "gradient", "weight gradient"]
        .iter()
        .enumerate()
    {
        let n = all.len() as f64;
        let mean = all.iter().map(|z| z[i]).sum::<f64>() / n;
        let sd = (all.iter().map(|z| (z[i] - mean).powi(2)).sum::<f64>() / n).sqrt();
        let max = all.iter().map(|z| z[i].abs()).fold(0.0, f64::max);
        println!("{name}: z mean {mean:.3}, sd {sd:.3}, max |z| {max:.2} over {n} layers");
    }
}

/// The paper's setting (5 × 1000 tanh, 1024 inputs, 10 classes), once for the tests below; a
/// small batch is enough: the Jacobian depends on one example, and 16 × 1000 values per layer
/// pin each activation std to about 1%.
fn paper() -> &'static Report {
    static R: std::sync::OnceLock<Report> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        study(StudyOptions {
            batch: Some(16),
            jacobian_samples: Some(1),
            seed: Some(7),
            ..Default::default()
        })
    })
}

#[test]
fn paper_setting_gives_the_papers_mean_jacobian_singular_values() {
    let r = paper();
    assert_eq!(r.dims, vec![1024, 1000, 1000, 1000, 1000, 1000, 10]);
    let sv = |label: &str| {
        r.schemes
            .iter()
            .find(|s| s.label == label)
            .and_then(|s| s.jacobian_mean_sv)
            .expect("scheme studied with Jacobians")
    };
    // Glorot & Bengio (2010), §4.2.1: ≈0.5 with eq. 1, ≈0.8 with eq. 16.
    let (standard, xavier) = (sv("standard"), sv("xavier_uniform"));
    assert!((standard - 0.5).abs() <= 0.1, "standard: {standard}");
    assert!((xavier - 0.8).abs() <= 0.1, "xavier_uniform: {xavier}");
}

#[test]
fn tanh_activations_shrink_layer_by_layer_with_standard_but_not_with_xavier() {
    let r = paper();
    let stds = |i: usize| -> Vec<f64> { r.schemes[i].layers.iter().map(|l| l.act_std).collect() };
    let standard = stds(0);
    assert!(
        standard.windows(2).all(|w| w[1] < w[0]),
        "standard: {standard:?}"
    );
    let xavier = stds(1);
    let (lo, hi) = xavier
        .iter()
        .fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi / lo <= 2.0, "xavier_uniform: {xavier:?}");
}

#[test]
fn same_seed_gives_the_same_json_whatever_the_thread_count() {
    let o = StudyOptions {
        depth: Some(3),
        width: Some(48),
        input_dim: Some(40),
        batch: Some(20),
        seed: Some(11),
        activation: Some("selu".into()),
        schemes: vec![
            "standard".into(),
            "xavier_uniform".into(),
            "lecun_normal".into(),
        ],
        ..Default::default()
    };
    let json = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(|| study(o.clone()).to_json())
    };
    let one = json(1);
    assert_eq!(one, json(3));
    assert_eq!(one, study(o.clone()).to_json());
    let other = study(StudyOptions {
        seed: Some(12),
        ..o.clone()
    })
    .to_json();
    assert_ne!(one, other);
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

const SMALL: [&str; 10] = [
    "study",
    "--depth",
    "3",
    "--width",
    "32",
    "--input-dim",
    "24",
    "--batch",
    "16",
    "--seed=5",
];

#[test]
fn json_has_one_entry_per_layer_per_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = SMALL.to_vec();
    args.extend([
        "--scheme",
        "standard",
        "--scheme",
        "xavier_uniform",
        "--scheme",
        "kaiming_normal:nonlinearity=tanh,mode=fan_out",
        "--json",
    ]);
    let out = weightgen(dir.path(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let schemes = v["schemes"].as_array().unwrap();
    assert_eq!(schemes.len(), 3);
    for s in schemes {
        let layers = s["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "{}", s["label"]);
        for (i, l) in layers.iter().enumerate() {
            assert_eq!(l["layer"], i + 1);
            for k in ["act_std", "grad_std", "weight_grad_var", "jacobian_mean_sv"] {
                assert!(l[k].as_f64().is_some_and(f64::is_finite), "{k}: {}", l[k]);
            }
            assert!(l["theory"]["act_std"].as_f64().is_some());
        }
    }
    // The parameters reached the scheme: gain 5/3, fan_out 32 (layer 2) → std = gain/√32.
    let std = schemes[2]["layers"][1]["weights"]["distribution"]["std"]
        .as_f64()
        .unwrap();
    assert!((std - 5.0 / 3.0 / 32f64.sqrt()).abs() < 1e-12, "{std}");
}

#[test]
fn plot_is_a_well_formed_svg_with_a_panel_per_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = SMALL.to_vec();
    args.extend(["--plot", "s.svg"]);
    let out = weightgen(dir.path(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("standard:") && table.contains("xavier_uniform:"));
    let svg = std::fs::read_to_string(dir.path().join("s.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect();
    for want in [
        "activations z: standard",
        "activations z: xavier_uniform",
        "back-propagated gradients ∂c/∂s: standard",
        "back-propagated gradients ∂c/∂s: xavier_uniform",
        "activation std per layer",
        "gradient std per layer",
        "layer 3",
    ] {
        assert!(texts.iter().any(|t| t == want), "missing text {want:?}");
    }
    // 2 histogram rows × 2 schemes × 3 layers, plus 2 std panels × 2 schemes (solid + dashed).
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    assert!(lines >= 12 + 4, "{lines} polylines");
}

#[test]
fn a_spec_defines_the_layers() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::cli::fixture("specs/mlp.json");
    let out = weightgen(
        dir.path(),
        &[
            "study",
            "--spec",
            spec.to_str().unwrap(),
            "--batch",
            "8",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dims"], serde_json::json!([784, 256, 10]));
    assert_eq!(v["seed"], 42);
    let s = &v["schemes"][0];
    assert_eq!(s["label"], "spec");
    // The spec's per-tensor schemes are kept: kaiming_uniform (relu) then xavier_uniform.
    assert_eq!(s["layers"][0]["weights"]["scheme"], "kaiming_uniform");
    assert_eq!(s["output"]["weights"]["scheme"], "xavier_uniform");
}

#[test]
fn bad_study_input_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (
            vec!["study", "--activation", "gelu"],
            "--activation: unknown activation `gelu`",
        ),
        (
            vec!["study", "--scheme", "xavier_uniform:bogus=1"],
            "unknown parameter `bogus`",
        ),
        (vec!["study", "--scheme", "nope"], "--scheme nope"),
        (
            vec![
                "study",
                "--scheme",
                "normal:std=-1",
                "--depth",
                "1",
                "--width",
                "4",
                "--input-dim",
                "4",
            ],
            "std",
        ),
        (vec!["study", "--depth", "0"], "--depth: must be at least 1"),
        (
            vec!["study", "--batch", "4", "--jacobian-samples", "5"],
            "--jacobian-samples",
        ),
        (vec!["study", "--width", "100000"], "outside"),
        (
            vec!["study", "--spec", "missing.json"],
            "spec missing.json: cannot read it",
        ),
        (
            vec!["study", "--input", "cauchy"],
            "--input: unknown input distribution",
        ),
    ] {
        let out = weightgen(dir.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("weightgen: error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}
