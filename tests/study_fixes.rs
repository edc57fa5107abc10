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

#[test]
fn a_spec_without_a_scheme_keeps_its_own_schemes_under_the_label_spec() {
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
            "--json",
        ],
    ));
    let s = &v["schemes"][0];
    assert_eq!(s["label"], "spec");
    assert_eq!(s["layers"][0]["weights"]["scheme"], "kaiming_uniform");
    assert_eq!(s["output"]["weights"]["scheme"], "xavier_uniform");
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
