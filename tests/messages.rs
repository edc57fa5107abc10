//! The exact one-line messages of the checks in the code issue 14 restructured (layer expansion,
//! fan-based schemes, the study's options, inspect's per-tensor checks): the other tests look
//! for fragments, this one pins every word, so a reshaped function cannot change what a user
//! reads. The expected lines are what the code printed before it was split (the undefined-fan
//! lines as reworded on purpose since, for issue 15: only the fans the mode uses must exist).

use std::path::Path;
use weightgen::plan::Plan;
use weightgen::spec::Spec;
use weightgen::study::{Study, StudyOptions};

mod common;
use common::cli::{run, stderr};

/// The error of planning `spec` (JSON), as the CLI prints it after `weightgen: error: `.
fn plan_error(spec: &str) -> String {
    Spec::from_json(spec, "s.json")
        .and_then(|s| Plan::new(&s, 0))
        .expect_err(spec)
        .to_string()
}

fn layer(l: &str) -> String {
    plan_error(&format!(r#"{{"layers": [{l}]}}"#))
}

#[test]
fn layer_expansion_errors() {
    let cases = [
        (
            r#"{"type": "conv2d", "name": "a", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2}"#,
            "spec s.json: layers[0]: groups (2) must divide in_channels (3) and out_channels (4)",
        ),
        (
            r#"{"type": "conv2d", "name": "a", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "groups": 0}"#,
            "spec s.json: layers[0]: groups (0) must divide in_channels (4) and out_channels (4)",
        ),
        (
            r#"{"type": "conv1d", "name": "a", "in_channels": 4, "out_channels": 4, "kernel_size": 0}"#,
            "spec s.json: layers[0]: kernel_size must be ≥ 1",
        ),
        (
            r#"{"type": "conv2d", "name": "a", "in_channels": 4, "out_channels": 4, "kernel_size": [3, 3, 3]}"#,
            "spec s.json: layers[0].kernel_size: conv2d takes 2 values or one, got 3",
        ),
        (
            r#"{"type": "group_norm", "name": "a", "num_groups": 3, "num_channels": 8}"#,
            "spec s.json: layers[0]: num_groups (3) must divide num_channels (8)",
        ),
        (
            r#"{"type": "group_norm", "name": "a", "num_groups": 0, "num_channels": 8}"#,
            "spec s.json: layers[0]: num_groups (0) must divide num_channels (8)",
        ),
    ];
    for (l, want) in cases {
        let got = layer(l);
        assert_eq!(got, want, "{l}");
    }
    let keras = plan_error(
        r#"{"convention": "keras", "layers": [{"type": "conv_transpose2d", "name": "t", "in_channels": 4, "out_channels": 8, "kernel_size": 3, "groups": 2}]}"#,
    );
    assert_eq!(
        keras,
        "spec s.json: layers[0]: Keras' transposed convolutions have no groups; use `convention` torch"
    );
}

#[test]
fn fan_based_scheme_errors() {
    let cases = [
        (
            r#""scheme": "xavier_uniform", "mode": "fan_in""#,
            "spec s.json: tensors[0].mode: scheme xavier_uniform does not take mode",
        ),
        (
            r#""scheme": "xavier_normal", "negative_slope": 0.2"#,
            "spec s.json: tensors[0].negative_slope: xavier schemes use it only with nonlinearity leaky_relu",
        ),
        (
            r#""scheme": "kaiming_normal", "mode": "fan_avg""#,
            "spec s.json: tensors[0].mode: kaiming schemes take fan_in or fan_out, got fan_avg (use variance_scaling)",
        ),
        (
            r#""scheme": "lecun_normal""#,
            "spec s.json: tensors[0] (tensor `b`): scheme lecun_normal (mode fan_in) needs fan-in, which the torch convention leaves undefined for tensors with fewer than 2 dimensions; give fan_in/fan_out, or use the keras convention",
        ),
        (
            r#""scheme": "variance_scaling", "mode": "fan_out""#,
            "spec s.json: tensors[0] (tensor `b`): scheme variance_scaling (mode fan_out) needs fan-out, which the torch convention leaves undefined for tensors with fewer than 2 dimensions; give fan_in/fan_out, or use the keras convention",
        ),
        (
            r#""scheme": "standard""#,
            "spec s.json: tensors[0] (tensor `b`): scheme standard (mode fan_in) needs fan-in, which the torch convention leaves undefined for tensors with fewer than 2 dimensions; give fan_in/fan_out, or use the keras convention",
        ),
    ];
    for (params, want) in cases {
        // A 1-D tensor under torch: every fan-based scheme needs fans it does not have.
        let got = plan_error(&format!(
            r#"{{"tensors": [{{"name": "b", "shape": [5], {params}}}]}}"#
        ));
        assert_eq!(got, want, "{params}");
    }
    let zero = plan_error(
        r#"{"tensors": [{"name": "w", "shape": [4, 3], "scheme": "kaiming_uniform", "fan_in": 0}]}"#,
    );
    assert_eq!(
        zero,
        "spec s.json: tensors[0] (tensor `w`): scheme kaiming_uniform needs a non-zero fan_in but it is 0 for this shape; pass fan_in/fan_out explicitly"
    );
}

fn study_error(o: StudyOptions) -> String {
    Study::new(&o).expect_err("invalid options").to_string()
}

#[test]
fn study_option_errors() {
    let spec = |text: &str| Some(Spec::from_json(text, "n.json").unwrap());
    let chain = r#"{"tensors": [{"name": "a", "shape": [8, 4]}, {"name": "b", "shape": [3, 6]}]}"#;
    let cases = [
        StudyOptions {
            batch: Some(4),
            jacobian_samples: Some(5),
            ..Default::default()
        },
        StudyOptions {
            spec: spec(chain),
            width: Some(3),
            ..Default::default()
        },
        StudyOptions {
            spec: spec(chain),
            ..Default::default()
        },
        StudyOptions {
            spec: spec(r#"{"tensors": [{"name": "a", "shape": [8, 4]}]}"#),
            ..Default::default()
        },
        StudyOptions {
            spec: spec(
                r#"{"tensors": [{"name": "a", "shape": [8, 4, 3]}, {"name": "b", "shape": [3, 8]}]}"#,
            ),
            ..Default::default()
        },
        StudyOptions {
            classes: Some(1),
            ..Default::default()
        },
        StudyOptions {
            width: Some(100_000),
            ..Default::default()
        },
        StudyOptions {
            batch: Some(1 << 20),
            ..Default::default()
        },
        StudyOptions {
            schemes: vec!["kaiming_normal:mode=fan_avg".into()],
            depth: Some(1),
            width: Some(4),
            input_dim: Some(4),
            ..Default::default()
        },
    ];
    let want = [
        "jacobian_samples: 5 is more than the batch (4)",
        "width: cannot be used with a spec (the spec's 2-D tensors are the layers)",
        "spec n.json: tensors[1]: `b` takes 6 inputs but the layer before gives 8 (torch convention: [out, in])",
        "the spec needs at least two 2-D weight tensors (hidden layers, then the output layer)",
        "spec n.json: tensors[0]: the study takes dense layers only (2-D weights), `a` has shape [8, 4, 3]",
        "classes: must be at least 2",
        "layer size 100000 is outside 1..=16384 (each layer's Jacobian gets a full SVD)",
        "batch: batch 1048576 × 1024 units is more than 67108864 values per layer",
        "scheme kaiming_normal:mode (for tensor `fc1.weight`): kaiming schemes take fan_in or fan_out, got fan_avg (use variance_scaling)",
    ];
    for (o, want) in cases.into_iter().zip(want) {
        let got = study_error(o);
        assert_eq!(got, want);
    }
}

/// `inspect --check --json` of a file whose recorded plan and tensors disagree.
#[test]
fn inspect_plan_mismatch_details() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The plan records `a` as f32 [4, 3], `b` (which the file lacks) and `n`; the file holds `a`
    // as f64 [3, 4], an unplanned `c`, and `n` as 8-bit floats, whose values cannot be checked.
    let plan = r#"[{"name":"a","dtype":"f32","shape":[4,3],"scheme":"zeros","distribution":{"kind":"constant","value":0.0}},{"name":"b","dtype":"f32","shape":[2],"scheme":"zeros","distribution":{"kind":"constant","value":0.0}},{"name":"n","dtype":"f8_e4m3","shape":[2],"scheme":"zeros","distribution":{"kind":"constant","value":0.0}}]"#;
    write_safetensors(d, plan);
    let o = run(d, &["inspect", "--check", "--json", "m.safetensors"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stderr(&o),
        "weightgen: error: check failed: m.safetensors: tensor `a`: dtype, shape; \
         m.safetensors: tensor `c`: plan; m.safetensors: tensor `n`: dtype, values; \
         m.safetensors: tensor `b`: present\n"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let checks = |name: &str| -> Vec<String> {
        let t = v["files"][0]["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no tensor {name}"));
        t["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let text = |k: &str| c[k].as_str().unwrap().to_string();
                format!("{} {} {}", text("test"), c["passed"], text("detail"))
            })
            .collect()
    };
    assert_eq!(
        checks("a"),
        [
            "dtype false f64 (plan: f32)",
            "shape false [3, 4] (plan: [4, 3])",
            "finite true no NaN or infinity",
            "exact true all 12 values equal 0"
        ]
    );
    assert_eq!(
        checks("b"),
        ["present false in the recorded weightgen.plan but not in the file"]
    );
    assert_eq!(
        checks("c"),
        ["plan false tensor is not in the file's recorded weightgen.plan"]
    );
    assert_eq!(
        checks("n"),
        [
            "dtype false F8_E4M3 (plan: f8_e4m3)",
            "shape true [2] (plan: [2])",
            "values false cannot check values stored as F8_E4M3"
        ]
    );
}

/// `m.safetensors` in `d`: `a` f64 [3, 4], `c` f32 [2] and `n` f8_e4m3 [2], all zeros, with `plan`
/// recorded.
fn write_safetensors(d: &Path, plan: &str) {
    let header = serde_json::json!({
        "__metadata__": {"weightgen.plan": plan},
        "a": {"dtype": "F64", "shape": [3, 4], "data_offsets": [0, 96]},
        "c": {"dtype": "F32", "shape": [2], "data_offsets": [96, 104]},
        "n": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [104, 106]},
    })
    .to_string();
    let mut h = header.into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&[0u8; 106]);
    std::fs::write(d.join("m.safetensors"), bytes).unwrap();
}
