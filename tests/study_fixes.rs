//! Regression tests of issue 15 item 8, `weightgen study`: a `--scheme` beside `--spec` draws
//! every layer (the label names what every layer uses); `--plot` names are checked before the
//! study computes anything; the theory brackets follow the activation's own gain; the SVG's
//! labels do not overlap.

mod common;
use common::cli::{fixture, ok, run as weightgen, stderr};
use serde_json::Value;

fn json(o: &std::process::Output) -> Value {
    ok(o);
    serde_json::from_slice(&o.stdout).expect("valid JSON")
}

// ---------------------------------------------------------------------------------------------
// 1. --scheme with --spec
// ---------------------------------------------------------------------------------------------

#[test]
fn a_scheme_beside_a_spec_draws_every_layer_of_the_spec() {
    // fixtures/specs/mlp.json: 0.weight is kaiming_uniform (relu) on its own, 2.weight takes
    // the top-level xavier_uniform. Before the fix `--scheme standard` only replaced the top
    // level, so the run labelled "standard" drew layer 1 with kaiming_uniform.
    let dir = tempfile::tempdir().unwrap();
    let spec = fixture("specs/mlp.json");
    let v = json(&weightgen(
        dir.path(),
        &[
            "study",
            "--spec",
            spec.to_str().unwrap(),
            "--batch",
            "8",
            "--scheme",
            "standard",
            "--scheme",
            "lecun_normal",
            "--json",
        ],
    ));
    assert_eq!(v["dims"], serde_json::json!([784, 256, 10]));
    let schemes = v["schemes"].as_array().unwrap();
    assert_eq!(schemes.len(), 2);
    for (s, want) in schemes.iter().zip(["standard", "lecun_normal"]) {
        assert_eq!(s["label"], want);
        let mut weights: Vec<&Value> = s["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| &l["weights"])
            .collect();
        weights.push(&s["output"]["weights"]);
        for w in weights {
            assert_eq!(w["scheme"], want, "{}: {}", s["label"], w["name"]);
            // The scheme's own variance, from the layer's fan-in (784, then 256), not the
            // spec's: standard U(±1/√n) has n·Var = 1/3, lecun_normal n·Var = 1.
            let n_in_var = w["n_in_var"].as_f64().unwrap();
            let expect = if want == "standard" { 1.0 / 3.0 } else { 1.0 };
            assert!((n_in_var - expect).abs() < 1e-12, "{want}: {n_in_var}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. --plot is checked before computing
// ---------------------------------------------------------------------------------------------

#[test]
fn a_bad_plot_path_is_refused_before_anything_is_computed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    std::fs::create_dir(dir.path().join("dir.svg")).unwrap();
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing();
    for (plot, needle) in [
        ("study.png", "`study.png` does not end in .svg"),
        ("study", "`study` does not end in .svg"),
        ("", "the path is empty"),
        ("missing/study.svg", "cannot use directory `missing`"),
        ("file/study.svg", "`file` is not a directory"),
        ("dir.svg", "`dir.svg` is a directory"),
        // A pseudo file system takes no new file, even for root.
        ("/proc/study.svg", "cannot write in directory `/proc`"),
    ] {
        // The paper's setting (5 × 1000 units, 3 Jacobian SVDs per layer and scheme): seconds
        // of work if it ran; and `--depth 0`, which the study's own validation refuses, shows
        // that the plot is checked before the options are even validated.
        for extra in [&[][..], &["--depth", "0"][..]] {
            let mut args = vec!["study", "--plot", plot];
            args.extend(extra);
            let out = weightgen(dir.path(), &args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(
                err.starts_with("weightgen: error: --plot: ") && err.contains(needle),
                "{args:?}: {err}"
            );
            assert!(out.stdout.is_empty(), "{args:?}: nothing is printed");
            assert_eq!(listing(), before, "{args:?}: nothing is written");
        }
    }
}

#[test]
fn a_good_plot_path_is_written_whole_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/s.SVG"), b"old").unwrap();
    let out = weightgen(
        dir.path(),
        &[
            "study",
            "--depth",
            "2",
            "--width",
            "8",
            "--input-dim",
            "6",
            "--batch",
            "4",
            "--plot",
            "out/s.SVG",
        ],
    );
    ok(&out);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["s.SVG".to_string()]);
    let svg = std::fs::read_to_string(dir.path().join("out/s.SVG")).unwrap();
    roxmltree::Document::parse(&svg).expect("well-formed SVG replaced the old file");
}

// ---------------------------------------------------------------------------------------------
// 3. Theory brackets with the activation's own gain
// ---------------------------------------------------------------------------------------------

/// `study ARGS --json` on a small network.
fn study_json(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["study", "--json"];
    all.extend(args);
    json(&weightgen(dir.path(), &all))
}

#[test]
fn relu_brackets_are_he_et_als_closed_forms() {
    // Independent derivation (He et al. 2015, docs/init-schemes.md §5.2), from the weights'
    // own n·Var[W] in the JSON: Var[s¹] = n_in·Var·E[x²]; Var[s^k] = ½·n_in·Var·Var[s^(k−1)];
    // for Gaussian s of variance q, z = max(s, 0) has mean √(q/2π) and std √(q·(½ − 1/2π));
    // backward, Var[∂c/∂s^k] = ½·n_out^(k+1)·Var^(k+1)·Var[∂c/∂s^(k+1)], from the output's
    // measured std. Before the fix the brackets were the linear regime's (no ½), off by 2^k.
    let v = study_json(&[
        "--depth",
        "4",
        "--width",
        "64",
        "--input-dim",
        "48",
        "--batch",
        "32",
        "--activation",
        "relu",
        "--input",
        "normal",
        "--scheme",
        "kaiming_normal",
        "--scheme",
        "xavier_uniform",
    ]);
    let pi = std::f64::consts::PI;
    for s in v["schemes"].as_array().unwrap() {
        let layers = s["layers"].as_array().unwrap();
        let mut q = 1.0; // E[x²] of N(0, 1) inputs
        for (k, l) in layers.iter().enumerate() {
            let w = &l["weights"];
            q *= w["n_in_var"].as_f64().unwrap() * if k == 0 { 1.0 } else { 0.5 };
            let std = (q * (0.5 - 0.5 / pi)).sqrt();
            let mean = (q / (2.0 * pi)).sqrt();
            let t = &l["theory"];
            let got = t["act_std"].as_f64().unwrap();
            assert!(
                (got - std).abs() <= 1e-12 * std,
                "{} layer {k}: {got} vs {std}",
                s["label"]
            );
            let got = t["act_mean"].as_f64().unwrap();
            assert!((got - mean).abs() <= 1e-12 * mean, "{got} vs {mean}");
        }
        let mut g = s["output"]["grad_std"].as_f64().unwrap().powi(2);
        let mut above = &s["output"]["weights"];
        for l in layers.iter().rev() {
            g *= 0.5 * above["n_out_var"].as_f64().unwrap();
            let got = l["theory"]["grad_std"].as_f64().unwrap();
            assert!(
                (got - g.sqrt()).abs() <= 1e-12 * g.sqrt(),
                "{got} vs {}",
                g.sqrt()
            );
            above = &l["weights"];
        }
        // He's init keeps the activation's second moment: the bracket does not shrink or grow.
        if s["label"] == "kaiming_normal" {
            let std = |k: usize| layers[k]["theory"]["act_std"].as_f64().unwrap();
            for k in 2..layers.len() {
                assert!((std(k) / std(1) - 1.0).abs() < 1e-12, "layer {k}");
            }
        }
    }
}

#[test]
fn tanh_brackets_follow_the_linear_regime_for_small_signals() {
    // Glorot & Bengio's setting with the standard init: the signals shrink by 1/3 per layer, so
    // the deep layers are in the linear regime. By the series E[tanh²(s)] = q − 2q² + (17/3)q³
    // − O(21q⁴) (tanh² = s² − (2/3)s⁴ + (17/45)s⁶ − …, E[s^2k] = (2k−1)!!·q^k), the bracket of
    // layer k+1 follows from layer k's: q = n_in·Var·(std_k)², std_(k+1)² = that series.
    let v = study_json(&[
        "--depth",
        "5",
        "--width",
        "64",
        "--input-dim",
        "48",
        "--batch",
        "8",
    ]);
    let s = &v["schemes"][0];
    assert_eq!(s["label"], "standard");
    let layers = s["layers"].as_array().unwrap();
    for w in layers.windows(2) {
        let prev = w[0]["theory"]["act_std"].as_f64().unwrap();
        let q = w[1]["weights"]["n_in_var"].as_f64().unwrap() * prev * prev;
        let series = q - 2.0 * q * q + 17.0 / 3.0 * q.powi(3);
        let got = w[1]["theory"]["act_std"].as_f64().unwrap().powi(2);
        assert!(
            (got - series).abs() <= 25.0 * q.powi(4),
            "q {q}: {got} vs {series}"
        );
        // and it is not the linear regime's q itself once q is not tiny
        assert!(q - got > q * q, "q {q}: {got}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. No overlapping labels in the SVG
// ---------------------------------------------------------------------------------------------

/// Bounding box (x0, y0, x1, y1) of every `<text>`, with its text. Width: 0.6 em per character
/// (more than the average sans-serif glyph); height: 1 em, from 0.76 em above the baseline. The
/// baseline is `y + dy` (`dy` in em, or ex = ½ em); `text-anchor` places the box; a
/// `rotate(270, x, y)` turns it about (x, y).
fn text_boxes(svg: &str) -> (Vec<(String, [f64; 4])>, f64, f64) {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    let root = doc.root_element();
    let size = |a: &str| root.attribute(a).unwrap().parse::<f64>().unwrap();
    let (w, h) = (size("width"), size("height"));
    let mut out = Vec::new();
    for n in doc.descendants().filter(|n| n.has_tag_name("text")) {
        let text = n.text().unwrap_or("").trim().to_string();
        if text.is_empty() {
            continue;
        }
        let num = |a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
        let (x, y, fs) = (num("x"), num("y"), num("font-size"));
        let dy = match n.attribute("dy").unwrap_or("0") {
            d if d.ends_with("em") => d[..d.len() - 2].parse::<f64>().unwrap() * fs,
            d if d.ends_with("ex") => d[..d.len() - 2].parse::<f64>().unwrap() * fs / 2.0,
            d => d.parse::<f64>().unwrap(),
        };
        let base = y + dy;
        let width = text.chars().count() as f64 * 0.6 * fs;
        let x0 = match n.attribute("text-anchor").unwrap_or("start") {
            "middle" => x - width / 2.0,
            "end" => x - width,
            _ => x,
        };
        let mut b = [x0, base - 0.76 * fs, x0 + width, base + 0.24 * fs];
        if let Some(t) = n.attribute("transform") {
            assert!(t.starts_with("rotate(270"), "{t}");
            // (x + dx, y + dy) → (x + dy, y − dx)
            let (a, c) = (b[0] - x, b[2] - x);
            let (bb, d) = (b[1] - y, b[3] - y);
            b = [x + bb, y - c, x + d, y - a];
        }
        out.push((text, b));
    }
    (out, w, h)
}

fn assert_no_label_overlaps(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["study", "--plot", "s.svg"];
    all.extend(args);
    ok(&weightgen(dir.path(), &all));
    let svg = std::fs::read_to_string(dir.path().join("s.svg")).unwrap();
    let (boxes, w, h) = text_boxes(&svg);
    assert!(boxes.len() > 50, "{} labels", boxes.len());
    for (t, b) in &boxes {
        assert!(
            b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= w && b[3] <= h,
            "{args:?}: {t:?} {b:?} leaves the {w}×{h} picture"
        );
    }
    for (i, (ta, a)) in boxes.iter().enumerate() {
        for (tb, b) in &boxes[i + 1..] {
            let apart = a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1];
            assert!(apart, "{args:?}: {ta:?} {a:?} overlaps {tb:?} {b:?}");
        }
    }
}

#[test]
fn plot_labels_do_not_overlap_in_the_default_study() {
    assert_no_label_overlaps(&["--batch", "16", "--jacobian-samples", "0"]);
}

#[test]
fn plot_labels_do_not_overlap_with_many_layers_and_schemes() {
    // Before the fix: 30 layers gave 30 legend lines that ran out of their panel into the next
    // row's, and long scheme labels ran into the next panel's caption.
    assert_no_label_overlaps(&[
        "--depth",
        "30",
        "--width",
        "16",
        "--input-dim",
        "8",
        "--batch",
        "8",
        "--jacobian-samples",
        "0",
    ]);
    assert_no_label_overlaps(&[
        "--depth",
        "14",
        "--width",
        "24",
        "--input-dim",
        "16",
        "--batch",
        "8",
        "--jacobian-samples",
        "0",
        "--scheme",
        "standard",
        "--scheme",
        "xavier_uniform",
        "--scheme",
        "kaiming_normal:nonlinearity=leaky_relu,mode=fan_out,negative_slope=0.2",
        "--scheme",
        "variance_scaling:scale=2,mode=fan_avg,distribution=truncated_normal",
        "--scheme",
        "lecun_normal",
        "--scheme",
        "orthogonal",
    ]);
}
