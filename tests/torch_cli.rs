//! `--rng torch` end to end: the binary's output equals what real PyTorch 2.15 wrote
//! (`fixtures/torch/`, code of each file in `cases.json`), byte for byte.

use std::collections::BTreeMap;

mod common;
use common::cli::{fixture, ok, run};

/// Data bytes of a .npy file (after its header).
fn npy_data(bytes: &[u8]) -> Vec<u8> {
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    bytes[start + len..].to_vec()
}

fn safetensors_tensors(bytes: &[u8]) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.shape().to_vec(), v.data().to_vec())))
        .collect()
}

fn generate(args: &[&str], ext: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("out.{ext}"));
    let mut all = vec!["generate", "--rng", "torch", "--quiet"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", out.to_str().unwrap()]);
    ok(&run(dir.path(), &all));
    std::fs::read(&out).unwrap()
}

#[test]
fn single_tensor_inits_equal_pytorchs_bytes() {
    let cases: &[(&str, &[&str])] = &[
        (
            "uniform_f32_seed0_n1000.npy",
            &[
                "w=1000", "--scheme", "uniform", "--low", "-0.0357", "--high", "0.0357", "--seed",
                "0",
            ],
        ),
        (
            "uniform_f64_seed0_n1000.npy",
            &[
                "w=1000", "--scheme", "uniform", "--low", "-0.0357", "--high", "0.0357", "--seed",
                "0", "--dtype", "f64",
            ],
        ),
        (
            "randn_f32_seed0_n15.npy",
            &["w=15", "--scheme", "normal", "--seed", "0"],
        ),
        (
            "randn_f32_seed0_n16.npy",
            &["w=16", "--scheme", "normal", "--seed", "0"],
        ),
        (
            "randn_f32_seed0_n17.npy",
            &["w=17", "--scheme", "normal", "--seed", "0"],
        ),
        (
            "randn_f32_seed0_n1000.npy",
            &["w=1000", "--scheme", "normal", "--seed", "0"],
        ),
        (
            "randn_f64_seed0_n1000.npy",
            &[
                "w=1000", "--scheme", "normal", "--seed", "0", "--dtype", "f64",
            ],
        ),
        (
            "xavier_uniform_seed1_256x784.npy",
            &["w=256x784", "--scheme", "xavier_uniform", "--seed", "1"],
        ),
        (
            "xavier_normal_seed2_64x32.npy",
            &["w=64x32", "--scheme", "xavier_normal", "--seed", "2"],
        ),
        (
            "kaiming_uniform_relu_seed3_16x3x3x3.npy",
            &[
                "w=16x3x3x3",
                "--scheme",
                "kaiming_uniform",
                "--nonlinearity",
                "relu",
                "--seed",
                "3",
            ],
        ),
        (
            "kaiming_normal_fanout_seed4_128x64.npy",
            &[
                "w=128x64",
                "--scheme",
                "kaiming_normal",
                "--mode",
                "fan_out",
                "--nonlinearity",
                "relu",
                "--seed",
                "4",
            ],
        ),
        (
            "trunc_normal_std002_seed5_100x50.npy",
            &[
                "w=100x50",
                "--scheme",
                "truncated_normal",
                "--std",
                "0.02",
                "--low",
                "-2",
                "--high",
                "2",
                "--seed",
                "5",
            ],
        ),
        (
            "xavier_uniform_f64_seed6_30x20.npy",
            &[
                "w=30x20",
                "--scheme",
                "xavier_uniform",
                "--seed",
                "6",
                "--dtype",
                "f64",
            ],
        ),
    ];
    for (file, args) in cases {
        let want = npy_data(&std::fs::read(fixture("torch").join(file)).unwrap());
        let got = npy_data(&generate(args, "npy"));
        assert!(got == want, "{file}: bytes differ from PyTorch's");
    }
}

#[test]
fn module_state_dicts_equal_pytorchs_construction() {
    let cases: &[(&str, &str)] = &[
        (
            "linear_default_seed0.safetensors",
            r#"{"seed": 0, "layers": [{"type": "linear", "name": "", "in_features": 784, "out_features": 256}]}"#,
        ),
        (
            "conv2d_default_seed1.safetensors",
            r#"{"seed": 1, "layers": [{"type": "conv2d", "name": "", "in_channels": 3, "out_channels": 16, "kernel_size": 3}]}"#,
        ),
        (
            "embedding_seed3.safetensors",
            r#"{"seed": 3, "layers": [{"type": "embedding", "name": "", "num_embeddings": 100, "embedding_dim": 32}]}"#,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (file, spec) in cases {
        let path = dir.path().join("spec.json");
        std::fs::write(&path, spec).unwrap();
        let got = generate(
            &[
                "--scheme",
                "torch_default",
                "--spec",
                path.to_str().unwrap(),
            ],
            "safetensors",
        );
        let want = std::fs::read(fixture("torch").join(file)).unwrap();
        assert_eq!(
            safetensors_tensors(&got),
            safetensors_tensors(&want),
            "{file}"
        );
    }
    // torch.manual_seed(42); nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    let got = generate(
        &[
            "--mlp",
            "784,256,10",
            "--scheme",
            "torch_default",
            "--seed",
            "42",
        ],
        "safetensors",
    );
    let want = std::fs::read(fixture("torch/mlp_default_seed42.safetensors")).unwrap();
    assert_eq!(safetensors_tensors(&got), safetensors_tensors(&want));
}

#[test]
fn torch_rng_refuses_what_it_cannot_reproduce() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "generate",
            "--rng",
            "torch",
            "-o",
            "x.npy",
            "w=8x8",
            "--scheme",
            "orthogonal",
            "--seed",
            "0",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("weightgen: error: ") && err.contains("LAPACK"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    assert!(!dir.path().join("x.npy").exists());
    // sparse_ from 2³²/20 rows on: PyTorch's randperm switches algorithm there (it was an
    // assertion, a panic, before the planner refused it).
    let rows = (u32::MAX / 20) as u64;
    for (r, want) in [(rows - 1, Some(0)), (rows, Some(2))] {
        let shape = format!("w={r}x1");
        let args = [
            "generate",
            "--rng",
            "torch",
            "--dry-run",
            &shape,
            "--seed",
            "0",
        ];
        let o = run(
            dir.path(),
            &[&args[..], &["--scheme", "sparse", "--sparsity", "0.5"]].concat(),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), want, "{r} rows: {err}");
        if want == Some(2) {
            assert!(
                err.contains("randperm") && err.lines().count() == 1,
                "{err}"
            );
        }
    }
}

/// trunc_normal_ on intervals holding ≤ 30% of the mass (PyTorch 2.15's uniform rejection with
/// MKL's log), each followed by a second tensor drawn from where the first leaves the
/// generator (`after`: torch.rand or torch.randn). Code in fixtures/torch/extra_cases.json.
#[test]
fn trunc_normal_rejection_equals_pytorchs_bytes_and_generator_position() {
    // (file, seed, w shape, w dtype, mean, std, a, b, after: (numel, scheme, dtype))
    type After = Option<(u64, &'static str, &'static str)>;
    type Case = (
        &'static str,
        i64,
        &'static str,
        &'static str,
        f64,
        f64,
        f64,
        f64,
        After,
    );
    let cases: &[Case] = &[
        (
            "trunc_reject_f32_seed21_tail_300x250",
            21,
            "[300, 250]",
            "f32",
            0.0,
            1.0,
            2.0,
            3.0,
            Some((10, "uniform", "f32")),
        ),
        (
            "trunc_reject_f32_seed22_asym_40x30",
            22,
            "[40, 30]",
            "f32",
            0.0,
            1.0,
            -0.2,
            0.5,
            Some((10, "uniform", "f32")),
        ),
        (
            "trunc_reject_f32_seed23_n7",
            23,
            "[7]",
            "f32",
            0.1,
            0.5,
            0.6,
            0.9,
            Some((3, "uniform", "f32")),
        ),
        (
            "trunc_reject_f32_seed26_mean_outside",
            26,
            "[50, 20]",
            "f32",
            1.0,
            0.1,
            1.3,
            1.9,
            Some((20, "normal", "f32")),
        ),
        (
            "trunc_reject_f64_seed24_64x33",
            24,
            "[64, 33]",
            "f64",
            0.5,
            2.0,
            -1.0,
            -0.2,
            Some((10, "uniform", "f64")),
        ),
        (
            "trunc_reject_f64_seed25_tail_n66000",
            25,
            "[66000]",
            "f64",
            0.0,
            1.0,
            -3.0,
            -2.0,
            Some((10, "uniform", "f64")),
        ),
        (
            "trunc_reject_bf16_seed27",
            27,
            "[32, 16]",
            "bf16",
            0.0,
            0.02,
            0.03,
            0.05,
            None,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for &(file, seed, shape, dtype, mean, std, a, b, after) in cases {
        let mut tensors = format!(
            r#"{{"name": "w", "shape": {shape}, "dtype": "{dtype}", "scheme": "truncated_normal", "mean": {mean:?}, "std": {std:?}, "low": {a:?}, "high": {b:?}}}"#
        );
        if let Some((n, scheme, dt)) = after {
            let bounds = if scheme == "uniform" {
                r#", "low": 0.0, "high": 1.0"#
            } else {
                ""
            };
            tensors += &format!(
                r#", {{"name": "after", "shape": [{n}], "dtype": "{dt}", "scheme": "{scheme}"{bounds}}}"#
            );
        }
        let spec = format!(r#"{{"seed": {seed}, "tensors": [{tensors}]}}"#);
        let path = dir.path().join("spec.json");
        std::fs::write(&path, &spec).unwrap();
        let got = generate(&["--spec", path.to_str().unwrap()], "safetensors");
        let want = std::fs::read(fixture(&format!("torch/{file}.safetensors"))).unwrap();
        assert_eq!(
            safetensors_tensors(&got),
            safetensors_tensors(&want),
            "{file}"
        );
    }
}

#[test]
fn negative_seeds_are_accepted_only_with_torch() {
    let got = generate(&["w=4", "--scheme", "normal", "--seed", "-1"], "npy");
    assert_eq!(npy_data(&got).len(), 16);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &["generate", "w=4", "--seed", "-1", "--dry-run"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("negative seeds only with rng torch"));
}

/// Cases written with real PyTorch 2.15 by tests/torch_verify/make_fixtures.py (code in
/// fixtures/torch/extra_cases.json): trunc_normal_'s redraw loop, sparse_, f64 leaky kaiming,
/// bf16 after f32 init, negative seeds, and module construction for every layer type.
#[test]
fn extra_pytorch_cases_equal_our_bytes() {
    let cases: &[(&str, &[&str])] = &[
        (
            "trunc_normal_redraw_f32_seed11",
            &[
                "w=200x100",
                "--scheme",
                "truncated_normal",
                "--std",
                "1",
                "--low",
                "-2",
                "--high",
                "2",
                "--seed",
                "11",
            ],
        ),
        (
            "trunc_normal_redraw_f64_seed12",
            &[
                "w=64x33",
                "--scheme",
                "truncated_normal",
                "--mean",
                "0.5",
                "--std",
                "2",
                "--low",
                "-1",
                "--high",
                "3",
                "--seed",
                "12",
                "--dtype",
                "f64",
            ],
        ),
        (
            "trunc_normal_redraw_f32_seed3_n7",
            &[
                "w=7",
                "--scheme",
                "truncated_normal",
                "--low",
                "-1",
                "--high",
                "1",
                "--seed",
                "3",
            ],
        ),
        (
            "sparse_seed5_30x20",
            &[
                "w=30x20",
                "--scheme",
                "sparse",
                "--sparsity",
                "0.3",
                "--seed",
                "5",
            ],
        ),
        (
            "kaiming_uniform_leaky02_fanout_f64_seed9",
            &[
                "w=50x40",
                "--scheme",
                "kaiming_uniform",
                "--negative-slope",
                "0.2",
                "--mode",
                "fan_out",
                "--nonlinearity",
                "leaky_relu",
                "--seed",
                "9",
                "--dtype",
                "f64",
            ],
        ),
        (
            "xavier_normal_bf16_seed4",
            &[
                "w=64x48",
                "--scheme",
                "xavier_normal",
                "--seed",
                "4",
                "--dtype",
                "bf16",
            ],
        ),
        (
            "randn_negative_seed",
            &["w=20", "--scheme", "normal", "--seed", "-12345"],
        ),
    ];
    for (file, args) in cases {
        let want = std::fs::read(fixture(&format!("torch/{file}.safetensors"))).unwrap();
        let got = generate(args, "safetensors");
        assert_eq!(
            safetensors_tensors(&got),
            safetensors_tensors(&want),
            "{file}"
        );
    }
    let spec = r#"{"seed": 7, "scheme": "torch_default", "layers": [
      {"type": "conv2d", "name": "c1", "in_channels": 3, "out_channels": 16, "kernel_size": 3},
      {"type": "batch_norm2d", "name": "bn", "num_features": 16},
      {"type": "conv2d", "name": "c2", "in_channels": 16, "out_channels": 32, "kernel_size": [3, 5], "groups": 4},
      {"type": "conv_transpose2d", "name": "ct", "in_channels": 32, "out_channels": 8, "kernel_size": 3},
      {"type": "conv3d", "name": "c3", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "bias": false},
      {"type": "conv1d", "name": "c1d", "in_channels": 4, "out_channels": 6, "kernel_size": 5},
      {"type": "linear", "name": "fc", "in_features": 200, "out_features": 10},
      {"type": "embedding", "name": "emb", "num_embeddings": 50, "embedding_dim": 12},
      {"type": "layer_norm", "name": "ln", "normalized_shape": [4, 5]},
      {"type": "group_norm", "name": "gn", "num_groups": 2, "num_channels": 8},
      {"type": "rms_norm", "name": "rms", "normalized_shape": 6}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    std::fs::write(&path, spec).unwrap();
    let got = generate(&["--spec", path.to_str().unwrap()], "safetensors");
    let want = std::fs::read(fixture("torch/modules_seed7.safetensors")).unwrap();
    assert_eq!(safetensors_tensors(&got), safetensors_tensors(&want));
}

/// Chunks of one `--rng torch` tensor are filled on every thread, each from the generator
/// jumped ahead to its first draw, and tensors start at positions reached by jumps. Whatever
/// the thread count and write path (memory-mapped file, or stdout written in order), the bytes
/// equal one sequential pass of the library's generator through the plan, which
/// `torch_reference.rs` and the tests above prove equal to PyTorch. The sizes pass the jump
/// threshold (2²¹ draws) inside tensors and between them, with odd normal_ tails, path A, a
/// whole-tensor trunc_normal_, f64 and bf16 outputs.
#[test]
fn chunks_on_every_thread_equal_one_sequential_pass() {
    use weightgen::plan::Plan;
    use weightgen::spec::Spec;
    use weightgen::testing::torch::TorchPlan;
    use weightgen::testing::torch::{TorchGenerator, TorchStep};

    let spec_text = r#"{"seed": 2026, "rng": "torch", "tensors": [
        {"name": "a", "shape": [2100001], "scheme": "uniform", "low": -0.1, "high": 0.1},
        {"name": "b", "shape": [3], "scheme": "normal", "std": 0.5},
        {"name": "c", "shape": [1500, 1401], "scheme": "kaiming_normal"},
        {"name": "d", "shape": [7], "scheme": "zeros"},
        {"name": "e", "shape": [40, 25], "scheme": "truncated_normal", "std": 0.02},
        {"name": "f", "shape": [1050007], "dtype": "f64", "scheme": "normal", "std": 2},
        {"name": "g", "shape": [17], "scheme": "uniform", "low": 0, "high": 1},
        {"name": "h", "shape": [300, 101], "dtype": "bf16", "scheme": "xavier_uniform"}
    ]}"#;
    let spec = Spec::from_json(spec_text, "spec").unwrap();
    let plan = Plan::new(&spec, 2026).unwrap();
    let mut g = TorchGenerator::manual_seed(2026);
    let mut want = BTreeMap::new();
    for step in plan.torch_schedule().iter() {
        let TorchStep::Tensor(i) = *step else {
            panic!("a plain spec's schedule is its tensors")
        };
        let t = &plan.tensors[i];
        let values = match t.torch_plan().unwrap() {
            TorchPlan::Op(op, dtype) => {
                let mut v = vec![0.0; t.numel as usize];
                g.fill(op, dtype, &mut v);
                v
            }
            TorchPlan::NoDraw => {
                assert_eq!(t.name, "d");
                vec![0.0; t.numel as usize]
            }
            whole => whole.whole_tensor(&mut g, t.numel),
        };
        let mut bytes = vec![0u8; t.bytes as usize];
        t.dtype.encode(&values, &mut bytes);
        want.insert(
            t.name.clone(),
            (t.shape.iter().map(|&d| d as usize).collect(), bytes),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec_text).unwrap();
    for threads in ["1", "2", "3"] {
        for to_stdout in [false, true] {
            let out = dir.path().join("out.safetensors");
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_weightgen"));
            cmd.args([
                "generate",
                "--quiet",
                "--force",
                "--threads",
                threads,
                "--spec",
            ])
            .arg(&spec_path);
            if to_stdout {
                cmd.args(["--format", "safetensors", "-o", "-"]);
            } else {
                cmd.arg("-o").arg(&out);
            }
            let o = cmd.output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let bytes = if to_stdout {
                o.stdout
            } else {
                std::fs::read(&out).unwrap()
            };
            let got = safetensors_tensors(&bytes);
            assert_eq!(got.len(), want.len());
            for (name, w) in &want {
                assert!(
                    got[name] == *w,
                    "{name}: {threads} threads, stdout {to_stdout}"
                );
            }
        }
    }
}
