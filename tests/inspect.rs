//! `weightgen inspect`, through the real binary: weightgen's own outputs pass `--check` for every
//! scheme, format and dtype; deliberately wrong files fail it (exit 3) naming the tensor and the
//! test; real PyTorch output passes `--expect` of the scheme that made it and fails another;
//! the statistics equal ones computed here independently; sharded checkpoints are followed.

use serde_json::Value;
use std::path::Path;
use std::process::Output;
use tempfile::TempDir;

mod common;
use common::cli::{PREFIX, fixture, run, stderr};

#[track_caller]
fn run_ok(dir: &Path, args: &[&str]) -> Output {
    let o = run(dir, args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    o
}

/// Exit status 3 and one error line naming every fragment.
#[track_caller]
fn fails_check(dir: &Path, args: &[&str], fragments: &[&str]) {
    let o = run(dir, args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{args:?}: {e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.starts_with(&format!("{PREFIX}check failed: ")), "{e}");
    for f in fragments {
        assert!(e.contains(f), "{args:?}: `{f}` not in {e}");
    }
}

/// Every scheme, with the parameters given to both `generate` and `--expect`.
const SCHEMES: &[(&str, &[&str])] = &[
    ("zeros", &[]),
    ("ones", &[]),
    ("constant", &["value=0.5"]),
    ("uniform", &["low=-0.2", "high=0.3"]),
    ("normal", &["mean=0.1", "std=0.02"]),
    ("truncated_normal", &["std=0.5"]),
    ("xavier_uniform", &[]),
    ("xavier_normal", &[]),
    ("kaiming_uniform", &["nonlinearity=relu"]),
    ("kaiming_normal", &["mode=fan_out"]),
    ("lecun_uniform", &[]),
    ("lecun_normal", &[]),
    ("variance_scaling", &["scale=2", "distribution=uniform"]),
    ("standard", &[]),
    ("orthogonal", &["gain=1.5"]),
    ("eye", &["gain=0.5"]),
    ("sparse", &["sparsity=0.25", "std=0.02"]),
];

fn flags(params: &[&str]) -> Vec<String> {
    params
        .iter()
        .flat_map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            [format!("--{}", k.replace('_', "-")), v.to_string()]
        })
        .collect()
}

#[test]
fn check_passes_on_generated_npy_of_every_scheme_dtype_and_convention() {
    let d = TempDir::new().unwrap();
    for convention in ["torch", "keras"] {
        for dtype in ["f32", "f64", "f16"] {
            for (scheme, params) in SCHEMES {
                let mut args: Vec<String> = [
                    "generate",
                    "w=64x128",
                    "--scheme",
                    scheme,
                    "--dtype",
                    dtype,
                    "--convention",
                    convention,
                    "--seed",
                    "11",
                    "-o",
                    "w.npy",
                    "--force",
                ]
                .map(String::from)
                .to_vec();
                args.extend(flags(params));
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                run_ok(d.path(), &a);
                let mut c = vec![
                    "inspect",
                    "--check",
                    "w.npy",
                    "--convention",
                    convention,
                    "--expect",
                    scheme,
                ];
                c.extend(params.iter().copied());
                run_ok(d.path(), &c);
            }
        }
    }
}

/// A spec with one tensor per scheme.
fn all_schemes_spec(dtype: &str, convention: &str) -> String {
    let tensors: Vec<Value> = SCHEMES
        .iter()
        .map(|(s, params)| {
            let mut t =
                serde_json::json!({"name": format!("t.{s}"), "shape": [64, 128], "scheme": s});
            for p in *params {
                let (k, v) = p.split_once('=').unwrap();
                t[k] = v
                    .parse::<f64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(v));
            }
            t
        })
        .collect();
    serde_json::json!({"dtype": dtype, "convention": convention, "seed": 5, "tensors": tensors})
        .to_string()
}

#[test]
fn check_passes_on_generated_safetensors_and_npz_of_every_scheme_and_dtype() {
    let d = TempDir::new().unwrap();
    for convention in ["torch", "keras"] {
        for dtype in ["f32", "f64", "f16", "bf16"] {
            std::fs::write(d.path().join("s.json"), all_schemes_spec(dtype, convention)).unwrap();
            run_ok(
                d.path(),
                &[
                    "generate",
                    "--spec",
                    "s.json",
                    "-o",
                    "m.safetensors",
                    "--force",
                ],
            );
            let o = run_ok(d.path(), &["inspect", "--check", "--json", "m.safetensors"]);
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["passed"], true);
            let ts = v["files"][0]["tensors"].as_array().unwrap();
            assert_eq!(ts.len(), SCHEMES.len());
            assert!(ts.iter().all(|t| t["claim"]["source"] == "weightgen.plan"));
        }
    }
    // npz carries no plan: check it with --expect, all tensors of one scheme, compressed or not.
    for compress in [false, true] {
        let mut args = vec![
            "generate",
            "a=300x200",
            "b=20x30x3x3",
            "--scheme",
            "kaiming_normal",
            "--nonlinearity",
            "relu",
            "-o",
            "w.npz",
            "--force",
            "--seed",
            "3",
        ];
        if compress {
            args.push("--compress");
        }
        run_ok(d.path(), &args);
        run_ok(
            d.path(),
            &[
                "inspect",
                "--check",
                "w.npz",
                "--expect",
                "kaiming_normal",
                "nonlinearity=relu",
            ],
        );
        fails_check(
            d.path(),
            &[
                "inspect",
                "--check",
                "w.npz",
                "--expect",
                "kaiming_normal",
                "mode=fan_out",
            ],
            &["tensor `a`: std, ks", "tensor `b`: std, ks"],
        );
    }
}

/// Data range of tensor `name` in a safetensors file.
fn data_range(bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let start = t.data().as_ptr() as usize - bytes.as_ptr() as usize;
    assert!(start >= 8 + n);
    start..start + t.data().len()
}

#[test]
fn a_tensor_scaled_by_1_1_fails_bounds_and_names_the_tensor() {
    let d = TempDir::new().unwrap();
    // fc1.bias is 1-D: give it a scheme without fans.
    std::fs::write(
        d.path().join("s.json"),
        r#"{"seed": 1, "scheme": "xavier_uniform", "tensors": [
            {"name": "fc1.weight", "shape": [256, 784]},
            {"name": "fc1.bias", "shape": [256], "scheme": "zeros"},
            {"name": "fc2.weight", "shape": [10, 256], "scheme": "normal", "std": 0.05}]}"#,
    )
    .unwrap();
    run_ok(
        d.path(),
        &[
            "generate",
            "--spec",
            "s.json",
            "-o",
            "m.safetensors",
            "--force",
        ],
    );
    run_ok(d.path(), &["inspect", "--check", "m.safetensors"]);
    let mut bytes = std::fs::read(d.path().join("m.safetensors")).unwrap();
    let r = data_range(&bytes, "fc1.weight");
    for c in bytes[r].chunks_exact_mut(4) {
        let x = f32::from_le_bytes(c.try_into().unwrap()) * 1.1;
        c.copy_from_slice(&x.to_le_bytes());
    }
    std::fs::write(d.path().join("scaled.safetensors"), &bytes).unwrap();
    fails_check(
        d.path(),
        &["inspect", "--check", "scaled.safetensors"],
        &["tensor `fc1.weight`: bounds, std, ks"],
    );
    // A normal tensor scaled by 1.1 has no bounds to break: the std and KS tests catch it.
    let mut bytes = std::fs::read(d.path().join("m.safetensors")).unwrap();
    let r = data_range(&bytes, "fc2.weight");
    for c in bytes[r].chunks_exact_mut(4) {
        let x = f32::from_le_bytes(c.try_into().unwrap()) * 1.1;
        c.copy_from_slice(&x.to_le_bytes());
    }
    std::fs::write(d.path().join("scaled2.safetensors"), &bytes).unwrap();
    fails_check(
        d.path(),
        &["inspect", "--check", "scaled2.safetensors"],
        &["tensor `fc2.weight`: std"],
    );
    // One non-zero bias value breaks `exact`; without --check the table still reports it, exit 0.
    let mut bytes = std::fs::read(d.path().join("m.safetensors")).unwrap();
    let r = data_range(&bytes, "fc1.bias");
    bytes[r.start..r.start + 4].copy_from_slice(&1e-3f32.to_le_bytes());
    std::fs::write(d.path().join("bias.safetensors"), &bytes).unwrap();
    fails_check(
        d.path(),
        &["inspect", "--check", "bias.safetensors"],
        &["bias.safetensors: tensor `fc1.bias`: exact"],
    );
    let o = run_ok(d.path(), &["inspect", "bias.safetensors"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("FAIL zeros: exact"), "{table}");
    assert!(table.contains("fc1.bias: exact failed"), "{table}");
}

#[test]
fn a_normal_where_a_uniform_is_claimed_fails_the_ks_test() {
    let d = TempDir::new().unwrap();
    // Same std (uniform on ±√3·0.05 has std 0.05), same shape, same layout.
    let b = (3f64.sqrt() * 0.05).to_string();
    let nb = format!("-{b}");
    run_ok(
        d.path(),
        &[
            "generate",
            "w=512x512",
            "--scheme",
            "uniform",
            "--low",
            &nb,
            "--high",
            &b,
            "--seed",
            "2",
            "-o",
            "u.safetensors",
        ],
    );
    run_ok(
        d.path(),
        &[
            "generate",
            "w=512x512",
            "--scheme",
            "normal",
            "--std",
            "0.05",
            "--seed",
            "2",
            "-o",
            "n.safetensors",
        ],
    );
    let mut u = std::fs::read(d.path().join("u.safetensors")).unwrap();
    let n = std::fs::read(d.path().join("n.safetensors")).unwrap();
    let (ru, rn) = (data_range(&u, "w"), data_range(&n, "w"));
    // Clamp the normal values into the bounds so only the shape of the law is wrong.
    let bound = b.parse::<f32>().unwrap();
    for (o, i) in u[ru].chunks_exact_mut(4).zip(n[rn].chunks_exact(4)) {
        let x = f32::from_le_bytes(i.try_into().unwrap()).clamp(-bound, bound);
        o.copy_from_slice(&x.to_le_bytes());
    }
    std::fs::write(d.path().join("relabelled.safetensors"), &u).unwrap();
    fails_check(
        d.path(),
        &["inspect", "--check", "relabelled.safetensors"],
        &["tensor `w`:", "ks"],
    );
}

#[test]
fn xavier_relabelled_as_kaiming_fails_and_truncation_is_exit_2() {
    let d = TempDir::new().unwrap();
    run_ok(
        d.path(),
        &["generate", "256x784", "--seed", "4", "-o", "x.npy"],
    );
    run_ok(
        d.path(),
        &["inspect", "--check", "x.npy", "--expect", "xavier_uniform"],
    );
    fails_check(
        d.path(),
        &["inspect", "--check", "x.npy", "--expect", "kaiming_uniform"],
        &["x.npy: tensor `array`: std, ks"],
    );
    // Kaiming with a different fan: fan_out = 256 gives a wider bound.
    fails_check(
        d.path(),
        &[
            "inspect",
            "--check",
            "x.npy",
            "--expect",
            "kaiming_uniform",
            "mode=fan_out",
        ],
        &["ks"],
    );
    let bytes = std::fs::read(d.path().join("x.npy")).unwrap();
    std::fs::write(d.path().join("t.npy"), &bytes[..bytes.len() - 1000]).unwrap();
    let o = run(
        d.path(),
        &["inspect", "--check", "t.npy", "--expect", "xavier_uniform"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
}

#[test]
fn pytorch_xavier_output_passes_expect_xavier_and_fails_expect_kaiming() {
    let f = fixture("torch/xavier_uniform_seed1_256x784.npy");
    let f = f.to_str().unwrap();
    let d = TempDir::new().unwrap();
    run_ok(
        d.path(),
        &[
            "inspect",
            "--check",
            f,
            "--expect",
            "xavier_uniform",
            "--convention",
            "torch",
        ],
    );
    // The files may also follow the expectation (`--expect SCHEME FILE`).
    run_ok(
        d.path(),
        &["inspect", "--check", "--expect", "xavier_uniform", f],
    );
    fails_check(
        d.path(),
        &["inspect", "--check", f, "--expect", "kaiming_uniform"],
        &["tensor `array`: std, ks"],
    );
}

#[test]
fn other_pytorch_outputs_pass_the_expectation_of_their_call() {
    let d = TempDir::new().unwrap();
    for (file, expect) in [
        (
            "torch/xavier_normal_seed2_64x32.npy",
            &["xavier_normal"][..],
        ),
        (
            "torch/kaiming_uniform_relu_seed3_16x3x3x3.npy",
            &["kaiming_uniform", "nonlinearity=relu"],
        ),
        (
            "torch/kaiming_normal_fanout_seed4_128x64.npy",
            &["kaiming_normal", "mode=fan_out", "nonlinearity=relu"],
        ),
        (
            "torch/xavier_uniform_f64_seed6_30x20.npy",
            &["xavier_uniform"],
        ),
        (
            "torch/trunc_normal_std002_seed5_100x50.npy",
            &["truncated_normal", "std=0.02", "low=-2", "high=2"],
        ),
    ] {
        let f = fixture(file);
        let mut args = vec!["inspect", "--check", f.to_str().unwrap(), "--expect"];
        args.extend(expect);
        run_ok(d.path(), &args);
    }
}

#[test]
fn json_statistics_equal_independently_computed_ones() {
    let d = TempDir::new().unwrap();
    let f = fixture("torch/xavier_uniform_seed1_256x784.npy");
    let o = run_ok(d.path(), &["inspect", "--json", f.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["files"][0]["tensors"][0];
    assert_eq!(t["dtype"], "f32");
    assert_eq!(t["shape"], serde_json::json!([256, 784]));
    assert_eq!(t["numel"], 200704);
    assert_eq!(t["bytes"], 802816);
    assert_eq!(v["checked"], false);
    let xs: ndarray::ArrayD<f32> = ndarray_npy::read_npy(&f).unwrap();
    let xs: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s = &t["stats"];
    assert!((s["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((s["std"].as_f64().unwrap() - std).abs() < 1e-12 * std);
    assert_eq!(s["min"].as_f64().unwrap(), min);
    assert_eq!(s["max"].as_f64().unwrap(), max);
    assert_eq!(s["nan"], 0);
    assert_eq!(s["zero_fraction"].as_f64().unwrap(), 0.0);
}

#[test]
fn nan_inf_and_zeros_are_counted() {
    let d = TempDir::new().unwrap();
    let mut b = weightgen::testing::npy_header(weightgen::dtype::DType::F32, &[6]).unwrap();
    for x in [0.0f32, f32::NAN, 1.0, f32::INFINITY, 0.0, -3.0] {
        b.extend(x.to_le_bytes());
    }
    std::fs::write(d.path().join("x.npy"), &b).unwrap();
    let o = run_ok(d.path(), &["inspect", "--json", "x.npy"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["files"][0]["tensors"][0]["stats"];
    assert_eq!((s["nan"].as_u64(), s["inf"].as_u64()), (Some(1), Some(1)));
    assert_eq!(s["zero_fraction"].as_f64(), Some(2.0 / 6.0));
    assert_eq!(
        (s["min"].as_f64(), s["max"].as_f64()),
        (Some(-3.0), Some(1.0))
    );
    fails_check(
        d.path(),
        &["inspect", "--check", "x.npy", "--expect", "zeros"],
        &["finite, exact"],
    );
}

#[test]
fn sharded_checkpoints_are_followed_through_their_index() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    run_ok(
        p,
        &[
            "generate",
            "a=64x32",
            "--seed",
            "1",
            "-o",
            "model-00001-of-00002.safetensors",
        ],
    );
    run_ok(
        p,
        &[
            "generate",
            "b=32x16",
            "--seed",
            "1",
            "-o",
            "model-00002-of-00002.safetensors",
        ],
    );
    let index = |total: u64| {
        format!(
            r#"{{"metadata":{{"total_size":{total}}},"weight_map":{{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}}}"#
        )
    };
    std::fs::write(
        p.join("model.safetensors.index.json"),
        index(64 * 32 * 4 + 32 * 16 * 4),
    )
    .unwrap();
    let o = run_ok(
        p,
        &[
            "inspect",
            "--check",
            "--json",
            "model.safetensors.index.json",
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    assert_eq!(v["passed"], true);
    std::fs::write(p.join("model.safetensors.index.json"), index(5)).unwrap();
    let o = run(p, &["inspect", "model.safetensors.index.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("total_size is 5"), "{}", stderr(&o));
}

#[test]
fn usage_errors_are_exit_2() {
    let d = TempDir::new().unwrap();
    run_ok(d.path(), &["generate", "8x8", "--seed", "1", "-o", "w.npy"]);
    for (args, fragment) in [
        (
            &["inspect", "--check", "w.npy"][..],
            "records no weightgen plan",
        ),
        (
            &["inspect", "w.npy", "--expect", "nope"],
            "unknown scheme `nope`",
        ),
        (
            &["inspect", "w.npy", "--expect", "xavier_uniform", "std=1"],
            "std",
        ),
        (
            &["inspect", "w.npy", "--expect", "normal", "bogus=1"],
            "unknown parameter `bogus`",
        ),
        (&["inspect", "missing.npy"], "cannot open missing.npy"),
        (&["inspect", "w.txt"], "cannot tell the format"),
        (&["inspect"], "no files given"),
        (
            &["inspect", "w.npy", "--convention", "keras"],
            "--convention needs --expect",
        ),
    ] {
        let o = run(d.path(), args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.starts_with(PREFIX) && e.contains(fragment),
            "{args:?}: {e}"
        );
    }
}

/// The sign bit of element `i` of little-endian data with `size`-byte elements is flipped.
fn flip_sign(data: &mut [u8], size: usize, i: usize) {
    data[i * size + size - 1] ^= 0x80;
}

fn elem_size(dtype: &str) -> usize {
    match dtype {
        "f64" => 8,
        "f32" => 4,
        _ => 2,
    }
}

/// The JSON report of `inspect --json ARGS` (exit status not checked).
fn report(dir: &Path, args: &[&str]) -> Value {
    let mut a = vec!["inspect", "--json"];
    a.extend(args);
    serde_json::from_slice(&run(dir, &a).stdout).unwrap()
}

/// The check `test` of the first tensor of the first file in a report.
fn check_of<'a>(v: &'a Value, test: &str) -> &'a Value {
    v["files"][0]["tensors"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["test"] == test)
        .unwrap_or_else(|| panic!("no `{test}` check in {v}"))
}

#[test]
fn orthogonal_passes_the_residual_check_and_a_half_sign_flipped_row_fails_it() {
    let d = TempDir::new().unwrap();
    // (shape, convention, rows × cols of the matrix the convention reshapes to)
    let shapes = [
        ("64x64", "torch", 64),    // square
        ("96x32", "torch", 32),    // tall: WᵀW streamed
        ("32x96", "torch", 96),    // wide: WWᵀ on the held matrix
        ("16x8x3x3", "torch", 72), // conv: 16 × 72, wide
        ("3x3x8x16", "keras", 16), // keras conv: 72 × 16, tall
    ];
    for dtype in ["f32", "f64", "bf16", "f16"] {
        for (shape, convention, cols) in shapes {
            let w = format!("w={shape}");
            run_ok(
                d.path(),
                &[
                    "generate",
                    &w,
                    "--scheme",
                    "orthogonal",
                    "--gain",
                    "1.5",
                    "--dtype",
                    dtype,
                    "--convention",
                    convention,
                    "--seed",
                    "8",
                    "-o",
                    "o.safetensors",
                    "--force",
                    "-q",
                ],
            );
            let v = report(d.path(), &["--check", "o.safetensors"]);
            assert_eq!(v["passed"], true, "{dtype} {shape}: {v}");
            let c = check_of(&v, "orthogonality");
            assert!(
                c["detail"].as_str().unwrap().contains("Q computed in f64"),
                "{c}"
            );
            assert_eq!(check_of(&v, "norm")["passed"], true);

            // Flip the sign of the first half of row 0: every value and Σx² stay the same,
            // so bounds and norm still pass, but row 0 is no longer orthogonal to the rest.
            let mut bytes = std::fs::read(d.path().join("o.safetensors")).unwrap();
            let r = data_range(&bytes, "w");
            for i in 0..cols / 2 {
                flip_sign(&mut bytes[r.clone()], elem_size(dtype), i);
            }
            std::fs::write(d.path().join("flipped.safetensors"), &bytes).unwrap();
            let args = ["inspect", "--check", "flipped.safetensors"];
            fails_check(d.path(), &args, &["tensor `w`: orthogonality"]);
            let e = stderr(&run(d.path(), &args));
            assert!(!e.contains("norm") && !e.contains("bounds"), "{e}");
        }
    }
    // A far smaller change: two entries of row 0 of an f32 matrix rotated by 10⁻³ rad (Σx²
    // unchanged up to rounding) moves G by about 10⁻³·|w|² ≈ 10⁻⁵, far above the f32
    // tolerance (about 2.7·10⁻⁷ at gain 1.5).
    run_ok(
        d.path(),
        &[
            "generate",
            "w=64x64",
            "--scheme",
            "orthogonal",
            "--gain",
            "1.5",
            "--seed",
            "8",
            "-o",
            "o.safetensors",
            "--force",
            "-q",
        ],
    );
    let mut bytes = std::fs::read(d.path().join("o.safetensors")).unwrap();
    let r = data_range(&bytes, "w");
    let data = &mut bytes[r];
    let get = |d: &[u8], i: usize| f32::from_le_bytes(d[4 * i..4 * i + 4].try_into().unwrap());
    let (a, b) = (get(data, 0) as f64, get(data, 1) as f64);
    let (s, c) = 1e-3f64.sin_cos();
    data[..4].copy_from_slice(&((a * c - b * s) as f32).to_le_bytes());
    data[4..8].copy_from_slice(&((a * s + b * c) as f32).to_le_bytes());
    std::fs::write(d.path().join("rotated.safetensors"), &bytes).unwrap();
    fails_check(
        d.path(),
        &["inspect", "--check", "rotated.safetensors"],
        &["tensor `w`: orthogonality"],
    );
}

#[test]
fn orthogonal_checked_with_expect_and_in_fortran_order() {
    let d = TempDir::new().unwrap();
    run_ok(
        d.path(),
        &[
            "generate",
            "w=40x24",
            "--scheme",
            "orthogonal",
            "--seed",
            "2",
            "-o",
            "o.npy",
            "-q",
        ],
    );
    let v = report(d.path(), &["--check", "o.npy", "--expect", "orthogonal"]);
    assert_eq!(v["passed"], true, "{v}");
    // Without weightgen's plan the QR may have been computed in the stored type (PyTorch's
    // orthogonal_ does): the tolerance says so.
    let c = check_of(&v, "orthogonality");
    assert!(c["detail"].as_str().unwrap().contains("stored type"), "{c}");
    fails_check(
        d.path(),
        &[
            "inspect",
            "--check",
            "o.npy",
            "--expect",
            "orthogonal",
            "gain=2",
        ],
        &["tensor `array`: norm, orthogonality"],
    );

    // The same matrix stored column-major (fortran_order: True) passes; with half of row 0's
    // signs flipped it fails.
    let bytes = std::fs::read(d.path().join("o.npy")).unwrap();
    let data = &bytes[bytes.len() - 40 * 24 * 4..];
    let mut fortran = fortran_npy("<f4", &[40, 24]);
    let fortran_data = |flip: bool| {
        let mut out = Vec::new();
        for j in 0..24 {
            for i in 0..40 {
                let mut e: [u8; 4] = data[(i * 24 + j) * 4..][..4].try_into().unwrap();
                if flip && i == 0 && j < 12 {
                    e[3] ^= 0x80;
                }
                out.extend(e);
            }
        }
        out
    };
    let header_len = fortran.len();
    fortran.extend(fortran_data(false));
    std::fs::write(d.path().join("f.npy"), &fortran).unwrap();
    run_ok(
        d.path(),
        &["inspect", "--check", "f.npy", "--expect", "orthogonal"],
    );
    fortran.truncate(header_len);
    fortran.extend(fortran_data(true));
    std::fs::write(d.path().join("f.npy"), &fortran).unwrap();
    fails_check(
        d.path(),
        &["inspect", "--check", "f.npy", "--expect", "orthogonal"],
        &["tensor `array`: orthogonality"],
    );
}

/// A `.npy` header with `fortran_order: True`.
fn fortran_npy(descr: &str, shape: &[u64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let mut h = format!(
        "{{'descr': '{descr}', 'fortran_order': True, 'shape': ({}), }}",
        dims.join(", ")
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    b
}

#[test]
fn a_plan_whose_orthogonal_rows_and_cols_do_not_fit_the_tensor_fails() {
    let d = TempDir::new().unwrap();
    run_ok(
        d.path(),
        &[
            "generate",
            "w=64x64",
            "--scheme",
            "orthogonal",
            "--seed",
            "1",
            "-o",
            "o.safetensors",
            "-q",
        ],
    );
    let bytes = std::fs::read(d.path().join("o.safetensors")).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(text.contains(r#"\"rows\":64"#));
    let edited = replace_bytes(&bytes, br#"\"rows\":64"#, br#"\"rows\":32"#);
    std::fs::write(d.path().join("bad.safetensors"), edited).unwrap();
    fails_check(
        d.path(),
        &["inspect", "--check", "bad.safetensors"],
        &["tensor `w`:", "orthogonality"],
    );
}

/// `bytes` with every occurrence of `from` replaced by `to` (same length, so a safetensors
/// header keeps its size).
fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut i = 0;
    let mut n = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
            n += 1;
        } else {
            i += 1;
        }
    }
    assert!(n > 0, "{} not found", String::from_utf8_lossy(from));
    out
}

#[test]
fn eye_is_checked_element_by_element() {
    let d = TempDir::new().unwrap();
    for dtype in ["f32", "f64", "bf16", "f16"] {
        run_ok(
            d.path(),
            &[
                "generate",
                "e=5x7",
                "--scheme",
                "eye",
                "--gain",
                "0.3",
                "--dtype",
                dtype,
                "-o",
                "e.safetensors",
                "--force",
                "-q",
            ],
        );
        let v = report(d.path(), &["--check", "e.safetensors"]);
        assert_eq!(v["passed"], true, "{v}");
        assert!(
            check_of(&v, "exact")["detail"]
                .as_str()
                .unwrap()
                .contains("identity pattern"),
            "{v}"
        );
        // One off-diagonal element, [1, 3], set to a value inside the bounds [0, 0.3]:
        // bounds still pass, exact fails and names the index.
        let size = elem_size(dtype);
        let mut bytes = std::fs::read(d.path().join("e.safetensors")).unwrap();
        let r = data_range(&bytes, "e");
        let at = r.start + (7 + 3) * size;
        let one_tenth: Vec<u8> = match dtype {
            "f64" => 0.1f64.to_le_bytes().to_vec(),
            "f32" => 0.1f32.to_le_bytes().to_vec(),
            "f16" => half::f16::from_f32(0.1).to_le_bytes().to_vec(),
            _ => half::bf16::from_f32(0.1).to_le_bytes().to_vec(),
        };
        bytes[at..at + size].copy_from_slice(&one_tenth);
        std::fs::write(d.path().join("bad.safetensors"), &bytes).unwrap();
        let args = ["inspect", "--check", "bad.safetensors"];
        fails_check(d.path(), &args, &["tensor `e`: exact"]);
        let v = report(d.path(), &args[1..]);
        let c = check_of(&v, "exact");
        let detail = c["detail"].as_str().unwrap();
        assert!(
            detail.contains("1 of 35 values differ") && detail.contains("first at index [1, 3]"),
            "{detail}"
        );
        assert_eq!(check_of(&v, "bounds")["passed"], true);
    }
}

#[test]
fn dirac_is_checked_element_by_element_and_a_relabelled_groups_fails() {
    let d = TempDir::new().unwrap();
    for (shape, groups, convention) in [
        ("6x4x3x3", "3", "torch"),
        ("4x2x5", "2", "torch"),
        ("4x6x3x3x3", "1", "torch"), // more inputs than outputs per group
        ("3x3x4x6", "2", "keras"),   // channels last: [*k, in, out]
    ] {
        for dtype in ["f32", "bf16"] {
            let t = format!("d={shape}");
            run_ok(
                d.path(),
                &[
                    "generate",
                    &t,
                    "--scheme",
                    "dirac",
                    "--groups",
                    groups,
                    "--dtype",
                    dtype,
                    "--convention",
                    convention,
                    "-o",
                    "d.safetensors",
                    "--force",
                    "-q",
                ],
            );
            let v = report(d.path(), &["--check", "d.safetensors"]);
            assert_eq!(v["passed"], true, "{shape} {dtype}: {v}");
            assert_eq!(check_of(&v, "exact")["passed"], true);
        }
        // The npy (no plan) passes --expect with its groups and fails with others.
        let t = format!("d={shape}");
        run_ok(
            d.path(),
            &[
                "generate",
                &t,
                "--scheme",
                "dirac",
                "--groups",
                groups,
                "--convention",
                convention,
                "-o",
                "d.npy",
                "--force",
                "-q",
            ],
        );
        let g = format!("groups={groups}");
        run_ok(
            d.path(),
            &[
                "inspect",
                "--check",
                "d.npy",
                "--convention",
                convention,
                "--expect",
                "dirac",
                &g,
            ],
        );
        if groups != "1" {
            fails_check(
                d.path(),
                &[
                    "inspect",
                    "--check",
                    "d.npy",
                    "--convention",
                    convention,
                    "--expect",
                    "dirac",
                ],
                &["tensor `array`: exact"],
            );
        }
    }
    // A dirac file with groups 3 relabelled as groups 1 in its plan: same values, same bounds,
    // same Frobenius norm, but ones at the wrong places for groups = 1.
    run_ok(
        d.path(),
        &[
            "generate",
            "d=6x4x3x3",
            "--scheme",
            "dirac",
            "--groups",
            "3",
            "-o",
            "d.safetensors",
            "--force",
            "-q",
        ],
    );
    let bytes = std::fs::read(d.path().join("d.safetensors")).unwrap();
    let edited = replace_bytes(&bytes, br#"\"groups\":3"#, br#"\"groups\":1"#);
    std::fs::write(d.path().join("relabelled.safetensors"), edited).unwrap();
    let args = ["inspect", "--check", "relabelled.safetensors"];
    fails_check(d.path(), &args, &["tensor `d`: exact"]);
    let v = report(d.path(), &args[1..]);
    let detail = check_of(&v, "exact")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    // groups = 3: ones at [2g + d, d, 1, 1]; the first out of place for groups = 1 is
    // [2, 0, 1, 1] (groups = 1 wants [2, 2, 1, 1]).
    assert!(
        detail.contains("first at index [2, 0, 1, 1]: 1 where 0 is expected"),
        "{detail}"
    );
}

#[test]
fn sparse_columns_hold_exactly_their_zeros() {
    let d = TempDir::new().unwrap();
    for dtype in ["f32", "f64", "bf16", "f16"] {
        for rng in ["native", "torch"] {
            run_ok(
                d.path(),
                &[
                    "generate",
                    "s=300x200",
                    "--scheme",
                    "sparse",
                    "--sparsity",
                    "0.3",
                    "--std",
                    "0.02",
                    "--dtype",
                    dtype,
                    "--rng",
                    rng,
                    "--seed",
                    "4",
                    "-o",
                    "s.safetensors",
                    "--force",
                    "-q",
                ],
            );
            let v = report(d.path(), &["--check", "s.safetensors"]);
            assert_eq!(v["passed"], true, "{dtype} {rng}: {v}");
            assert_eq!(check_of(&v, "zeros")["passed"], true);
        }
    }
    // One more zero in column 5 (row 0 if it is not already a zero, else the next row).
    run_ok(
        d.path(),
        &[
            "generate",
            "s=300x200",
            "--scheme",
            "sparse",
            "--sparsity",
            "0.3",
            "--seed",
            "4",
            "-o",
            "s.safetensors",
            "--force",
            "-q",
        ],
    );
    let mut bytes = std::fs::read(d.path().join("s.safetensors")).unwrap();
    let r = data_range(&bytes, "s");
    let data = &mut bytes[r];
    let row = (0..300)
        .find(|i| data[(i * 200 + 5) * 4..][..4] != [0; 4])
        .unwrap();
    data[(row * 200 + 5) * 4..][..4].copy_from_slice(&[0; 4]);
    std::fs::write(d.path().join("extra.safetensors"), &bytes).unwrap();
    let args = ["inspect", "--check", "extra.safetensors"];
    fails_check(d.path(), &args, &["tensor `s`: zeros"]);
    let v = report(d.path(), &args[1..]);
    let detail = check_of(&v, "zeros")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("1 of 200 columns") && detail.contains("column 5 has 91"),
        "{detail}"
    );
    // PyTorch's sparse_(t, 0.3) (std 0.01): passes its call, fails another sparsity or std.
    let f = fixture("torch/sparse_seed5_30x20.safetensors");
    let f = f.to_str().unwrap();
    run_ok(
        d.path(),
        &[
            "inspect",
            "--check",
            f,
            "--expect",
            "sparse",
            "sparsity=0.3",
        ],
    );
    fails_check(
        d.path(),
        &[
            "inspect",
            "--check",
            f,
            "--expect",
            "sparse",
            "sparsity=0.2",
        ],
        &["tensor `w`: zeros"],
    );
    fails_check(
        d.path(),
        &[
            "inspect",
            "--check",
            f,
            "--expect",
            "sparse",
            "sparsity=0.3",
            "std=0.02",
        ],
        &["tensor `w`: std"],
    );
}

/// One streaming pass per tensor, merged in a fixed order: the JSON report (every statistic
/// and every check's numbers) is byte for byte the same on 1, 2 and 3 threads, for each
/// stored float type, on tensors of several chunks and (f32) two read batches.
#[test]
fn same_report_on_every_thread_count() {
    let d = TempDir::new().unwrap();
    let files: &[(&str, &[&str])] = &[
        // 4.4 M f32 values: 17.6 MB, more than one 16 MiB batch.
        (
            "f32.safetensors",
            &["w=2100x2100", "--scheme", "kaiming_uniform"],
        ),
        (
            "f64.npy",
            &[
                "w=300x700",
                "--scheme",
                "truncated_normal",
                "--dtype",
                "f64",
            ],
        ),
        (
            "bf16.safetensors",
            &[
                "w=1000x300",
                "--scheme",
                "kaiming_normal",
                "--dtype",
                "bf16",
            ],
        ),
        (
            "f16.safetensors",
            &["w=700x300", "--scheme", "xavier_normal", "--dtype", "f16"],
        ),
        // Small enough for the sorted path of 16-bit types.
        (
            "small.safetensors",
            &["w=64x64", "--scheme", "xavier_uniform", "--dtype", "bf16"],
        ),
    ];
    for (name, args) in files {
        let mut a = vec!["generate"];
        a.extend(*args);
        a.extend(["--seed", "5", "-q", "-o", name]);
        run_ok(d.path(), &a);
        let mut want: Option<Vec<u8>> = None;
        for threads in ["1", "2", "3"] {
            let mut a = vec!["inspect", "--json", "--threads", threads, name];
            if name.ends_with(".npy") {
                a.extend(["--expect", "truncated_normal"]);
            }
            let o = run_ok(d.path(), &a);
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            let t = &v["files"][0]["tensors"][0];
            let checks: Vec<&str> = t["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["test"].as_str().unwrap())
                .collect();
            assert!(checks.contains(&"ks"), "{name}: {checks:?}");
            assert_eq!(v["passed"], true, "{name}");
            match &want {
                None => want = Some(o.stdout),
                Some(w) => assert!(*w == o.stdout, "{name}: --threads {threads} differs"),
            }
        }
    }
}

/// `std` has one definition (population, ddof = 0, as NumPy's `std`) in the table, the JSON
/// statistics and the `std` check's detail.
#[test]
fn std_is_the_population_std_in_the_statistics_and_the_check() {
    let d = TempDir::new().unwrap();
    // Eight values with mean 15 and Σ(x − x̄)² = 32: population std 2 (sample std 2.138).
    let mut b = weightgen::testing::npy_header(weightgen::dtype::DType::F32, &[8]).unwrap();
    for x in [12.0f32, 14.0, 14.0, 14.0, 15.0, 15.0, 17.0, 19.0] {
        b.extend(x.to_le_bytes());
    }
    std::fs::write(d.path().join("x.npy"), &b).unwrap();
    let o = run_ok(
        d.path(),
        &[
            "inspect", "--json", "x.npy", "--expect", "normal", "mean=15", "std=2",
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["files"][0]["tensors"][0];
    assert_eq!(t["stats"]["std"].as_f64(), Some(2.0));
    let check = t["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["test"] == "std")
        .unwrap();
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.starts_with("2.000000e0 vs 2.000000e0"), "{detail}");
    let table = run_ok(d.path(), &["inspect", "x.npy"]);
    let table = String::from_utf8(table.stdout).unwrap();
    let row: Vec<&str> = table.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[5..9],
        ["1.5000e1", "2.0000e0", "1.2000e1", "1.9000e1"],
        "{table}"
    );
}
