//! `weightgen::testing::torch` against real PyTorch 2.15 outputs (`fixtures/torch/`, written by
//! `tests/torch_verify/make_fixtures.py`, which holds the Python of each file; the recipe and
//! what was verified: docs/torch-rng.md).
//! Every case must match bit for bit; `exactness_table`, an ignored report that checks nothing
//! the other tests do not, prints the per-case counts
//! (`cargo test --test torch_rng exactness_table -- --ignored --nocapture`).

mod common;
use common::cli::fixture;
use ndarray::ArrayD;
use ndarray_npy::read_npy;
use weightgen::plan::Plan;
use weightgen::scheme::{Distribution, Param};
use weightgen::spec::{Spec, parse_tensor_arg};
use weightgen::testing::torch::{
    TorchDType, TorchGenerator, TorchOp, mkl_log, trunc_normal_redraw, trunc_normal_reject,
};

/// A reference tensor: values widened to f64 and its dtype.
struct Reference {
    values: Vec<f64>,
    dtype: TorchDType,
}

fn npy(name: &str) -> Reference {
    let path = fixture("torch").join(name);
    if let Ok(a) = read_npy::<_, ArrayD<f32>>(&path) {
        return Reference {
            values: a.iter().map(|&x| x as f64).collect(),
            dtype: TorchDType::F32,
        };
    }
    let a: ArrayD<f64> = read_npy(&path).unwrap();
    Reference {
        values: a.iter().copied().collect(),
        dtype: TorchDType::F64,
    }
}

/// The f32 tensors of a safetensors state dict, by name.
fn state_dict(name: &str) -> Vec<(String, Vec<f64>)> {
    let bytes = std::fs::read(fixture("torch").join(name)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f64>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            assert_eq!(v.dtype(), safetensors::Dtype::F32);
            let vals = v
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect();
            (n, vals)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The distribution weightgen's plan resolves (PyTorch's f64 operation order) for `dims`.
fn planned(dims: &str, scheme: &str, params: &[(Param, &str)]) -> Distribution {
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

fn op_of(d: Distribution) -> TorchOp {
    match d {
        Distribution::Uniform { low, high } => TorchOp::Uniform {
            from: low,
            to: high,
        },
        Distribution::Normal { mean, std } => TorchOp::Normal { mean, std },
        other => panic!("unexpected {other:?}"),
    }
}

/// `bound = 1 / math.sqrt(fan_in)`: the default bias init of Linear and Conv.
fn bias_op(fan_in: u64) -> TorchOp {
    let b = 1.0 / (fan_in as f64).sqrt();
    TorchOp::Uniform { from: -b, to: b }
}

/// Distance in units in the last place of the dtype.
fn ulps(a: f64, b: f64, dtype: TorchDType) -> u64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        return 0;
    }
    fn key32(x: f32) -> i64 {
        let b = x.to_bits() as i32;
        (if b < 0 { i32::MIN - b } else { b }) as i64
    }
    fn key64(x: f64) -> i128 {
        let b = x.to_bits() as i64;
        (if b < 0 { i64::MIN - b } else { b }) as i128
    }
    match dtype {
        TorchDType::F32 => key32(a as f32).abs_diff(key32(b as f32)),
        TorchDType::F64 => key64(a).abs_diff(key64(b)) as u64,
        TorchDType::BF16 | TorchDType::F16 => unreachable!("no bf16/f16 kernel cases here"),
    }
}

/// (bit-exact count, total, max ulp).
fn compare(ours: &[f64], theirs: &[f64], dtype: TorchDType) -> (usize, usize, u64) {
    assert_eq!(ours.len(), theirs.len());
    let mut exact = 0;
    let mut max = 0;
    for (a, b) in ours.iter().zip(theirs) {
        if a.to_bits() == b.to_bits() {
            exact += 1;
        } else {
            max = max.max(ulps(*a, *b, dtype));
        }
    }
    (exact, ours.len(), max)
}

/// Fill `ops` in order from one generator seeded with `seed`, as a module constructor does.
fn draw_in_order(seed: i128, ops: &[(TorchOp, usize)], dtype: TorchDType) -> Vec<Vec<f64>> {
    let mut g = TorchGenerator::manual_seed(seed);
    ops.iter()
        .map(|&(op, n)| {
            let mut v = vec![0.0; n];
            g.fill(op, dtype, &mut v);
            v
        })
        .collect()
}

/// One golden case: its name and (ours, theirs, dtype) per tensor.
type Case = (String, Vec<(Vec<f64>, Vec<f64>, TorchDType)>);

fn single(file: &str, seed: i128, op: TorchOp) -> Case {
    let r = npy(file);
    let ours = draw_in_order(seed, &[(op, r.values.len())], r.dtype).remove(0);
    (file.to_string(), vec![(ours, r.values, r.dtype)])
}

fn module(file: &str, seed: i128, ops: &[(&str, TorchOp)]) -> Case {
    let sd = state_dict(file);
    let find = |n: &str| sd.iter().find(|(k, _)| k == n).unwrap().1.clone();
    let sizes: Vec<(TorchOp, usize)> = ops.iter().map(|(n, op)| (*op, find(n).len())).collect();
    let ours = draw_in_order(seed, &sizes, TorchDType::F32);
    let rows = ops
        .iter()
        .zip(ours)
        .map(|((n, _), o)| (o, find(n), TorchDType::F32))
        .collect();
    (file.to_string(), rows)
}

const STD_NORMAL: TorchOp = TorchOp::Normal {
    mean: 0.0,
    std: 1.0,
};

fn bit_exact_cases() -> Vec<Case> {
    let u = TorchOp::Uniform {
        from: -0.0357,
        to: 0.0357,
    };
    let standard = |dims: &str| op_of(planned(dims, "standard", &[]));
    let relu = [(Param::Nonlinearity, "relu")];
    vec![
        single("uniform_f32_seed0_n1000.npy", 0, u),
        single("uniform_f64_seed0_n1000.npy", 0, u),
        single("randn_f32_seed0_n15.npy", 0, STD_NORMAL),
        single("randn_f32_seed0_n16.npy", 0, STD_NORMAL),
        single("randn_f32_seed0_n17.npy", 0, STD_NORMAL),
        single("randn_f32_seed0_n1000.npy", 0, STD_NORMAL),
        single("randn_f64_seed0_n1000.npy", 0, STD_NORMAL),
        single(
            "xavier_uniform_seed1_256x784.npy",
            1,
            op_of(planned("256x784", "xavier_uniform", &[])),
        ),
        single(
            "xavier_normal_seed2_64x32.npy",
            2,
            op_of(planned("64x32", "xavier_normal", &[])),
        ),
        single(
            "kaiming_uniform_relu_seed3_16x3x3x3.npy",
            3,
            op_of(planned("16x3x3x3", "kaiming_uniform", &relu)),
        ),
        single(
            "kaiming_normal_fanout_seed4_128x64.npy",
            4,
            op_of(planned(
                "128x64",
                "kaiming_normal",
                &[(Param::Mode, "fan_out"), relu[0]],
            )),
        ),
        single(
            "xavier_uniform_f64_seed6_30x20.npy",
            6,
            op_of(planned("30x20", "xavier_uniform", &[])),
        ),
        module(
            "linear_default_seed0.safetensors",
            0,
            &[("weight", standard("256x784")), ("bias", bias_op(784))],
        ),
        module(
            "mlp_default_seed42.safetensors",
            42,
            &[
                ("0.weight", standard("256x784")),
                ("0.bias", bias_op(784)),
                ("2.weight", standard("10x256")),
                ("2.bias", bias_op(256)),
            ],
        ),
        module(
            "conv2d_default_seed1.safetensors",
            1,
            &[("weight", standard("16x3x3x3")), ("bias", bias_op(27))],
        ),
        module("embedding_seed3.safetensors", 3, &[("weight", STD_NORMAL)]),
    ]
}

/// `trunc_normal_(std=0.02)` within ±2: the redraw branch with nothing to redraw, so exactly
/// `normal_(0, 0.02)`.
fn trunc_case() -> Case {
    single(
        "trunc_normal_std002_seed5_100x50.npy",
        5,
        TorchOp::Normal {
            mean: 0.0,
            std: 0.02,
        },
    )
}

fn summarize(case: &Case) -> (usize, usize, u64) {
    case.1.iter().fold((0, 0, 0), |(e, t, m), (o, r, d)| {
        let (e2, t2, m2) = compare(o, r, *d);
        (e + e2, t + t2, m.max(m2))
    })
}

#[test]
fn every_golden_case_is_bit_exact() {
    let mut bad = vec![];
    for case in bit_exact_cases() {
        let (exact, total, max) = summarize(&case);
        if exact != total {
            bad.push(format!("{}: {exact}/{total}, max {max} ulp", case.0));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn trunc_normal_within_wide_bounds_is_normal() {
    let (exact, total, max) = summarize(&trunc_case());
    assert_eq!((exact, max), (total, 0), "{exact}/{total}, max {max} ulp");
    let mut g = TorchGenerator::manual_seed(5);
    let v = trunc_normal_redraw(&mut g, 5000, 0.0, 0.02, -2.0, 2.0, TorchDType::F32);
    let (exact, total, _) = compare(&v, &trunc_case().1[0].1, TorchDType::F32);
    assert_eq!(exact, total);
}

/// A report, not a check: per-case bit-exact counts and the largest ulp distance (the checks
/// are `every_golden_case_is_bit_exact` and `trunc_normal_within_wide_bounds_is_normal`).
#[test]
#[ignore = "report: prints the per-case exactness table (--ignored --nocapture)"]
fn exactness_table() {
    println!("| case | bit-exact / total | max ulp |");
    println!("|---|---|---|");
    for case in bit_exact_cases().iter().chain([&trunc_case()]) {
        let (exact, total, max) = summarize(case);
        println!("| {} | {exact} / {total} | {max} |", case.0);
    }
}

#[test]
fn module_tensors_follow_each_other_on_one_generator() {
    // The bias of the default Linear must come from the generator state the weight leaves:
    // drawing it from a fresh seed does not match.
    let sd = state_dict("linear_default_seed0.safetensors");
    let bias = &sd.iter().find(|(k, _)| k == "bias").unwrap().1;
    let fresh = draw_in_order(0, &[(bias_op(784), 256)], TorchDType::F32).remove(0);
    assert_ne!(&fresh, bias);
}

/// The embedded MKL `log` table against PyTorch's own `log_` on every f32 `uniform_()` value
/// (needs the 64 MiB file `tests/torch_verify/mkl_logf.py` writes; with `WEIGHTGEN_BLESS=1`
/// rebuilds `src/stream/torch/mkl_logf.zlib` first, then rebuild and run again to check it):
/// `WEIGHTGEN_MKL_LOGF=FILE cargo test --test torch_rng mkl_logf -- --ignored`.
#[test]
#[ignore = "needs PyTorch's log_ output (tests/torch_verify/mkl_logf.py)"]
fn mkl_logf_table_equals_pytorch_on_every_uniform() {
    let path = std::env::var("WEIGHTGEN_MKL_LOGF").expect("WEIGHTGEN_MKL_LOGF=FILE");
    let bytes = std::fs::read(path).unwrap();
    let logs: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let bits = mkl_log::bitmap_from_reference(&logs)
        .expect("some MKL result is not one of the two floats around the logarithm");
    let ones: u32 = bits.iter().map(|b| b.count_ones()).sum();
    println!(
        "MKL differs from the nearest float on {ones} of {}",
        logs.len()
    );
    if std::env::var_os("WEIGHTGEN_BLESS").is_some() {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&bits).unwrap();
        let out =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/stream/torch/mkl_logf.zlib");
        std::fs::write(out, z.finish().unwrap()).unwrap();
        println!("wrote src/stream/torch/mkl_logf.zlib: rebuild and run again to check it");
        return;
    }
    let bad = (0..1u32 << 24)
        .filter(|&k| mkl_log::logf_of_uniform(k).to_bits() != logs[k as usize].to_bits())
        .count();
    assert_eq!(bad, 0, "{bad} of 2^24 differ from PyTorch");
}

/// The values of tensor `name` of a safetensors fixture (f32 or f64), widened to f64.
fn st_values(file: &str, name: &str) -> Vec<f64> {
    let bytes = std::fs::read(fixture("torch").join(file)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let v = st.tensor(name).unwrap();
    match v.dtype() {
        safetensors::Dtype::F32 => v
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
        safetensors::Dtype::F64 => v
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        d => panic!("{d:?}"),
    }
}

/// `trunc_normal_reject` against PyTorch 2.15 (uniform rejection: [a, b] holds ≤ 30% of the
/// mass), then `torch.rand(k)` from the generator it leaves: each round draws two whole
/// tensors of uniforms, pending elements or not.
#[test]
fn trunc_normal_rejection_is_bit_exact_and_leaves_the_generator_where_pytorch_does() {
    let cases = [
        (
            "trunc_reject_f32_seed21_tail_300x250.safetensors",
            21,
            75_000,
            (0.0, 1.0, 2.0, 3.0),
            TorchDType::F32,
        ),
        (
            "trunc_reject_f32_seed22_asym_40x30.safetensors",
            22,
            1200,
            (0.0, 1.0, -0.2, 0.5),
            TorchDType::F32,
        ),
        (
            "trunc_reject_f32_seed23_n7.safetensors",
            23,
            7,
            (0.1, 0.5, 0.6, 0.9),
            TorchDType::F32,
        ),
        (
            "trunc_reject_f64_seed24_64x33.safetensors",
            24,
            2112,
            (0.5, 2.0, -1.0, -0.2),
            TorchDType::F64,
        ),
        (
            "trunc_reject_f64_seed25_tail_n66000.safetensors",
            25,
            66_000,
            (0.0, 1.0, -3.0, -2.0),
            TorchDType::F64,
        ),
    ];
    for (file, seed, n, (mean, std, a, b), dtype) in cases {
        let mut g = TorchGenerator::manual_seed(seed);
        let w = trunc_normal_reject(&mut g, n, mean, std, a, b, dtype);
        let want = st_values(file, "w");
        let (exact, total, max) = compare(&w, &want, dtype);
        assert_eq!(
            (exact, total),
            (n as usize, n as usize),
            "{file}: max {max} ulp"
        );
        let end = g.clone();
        let after_want = st_values(file, "after");
        let mut after = vec![0.0; after_want.len()];
        g.fill(TorchOp::Uniform { from: 0.0, to: 1.0 }, dtype, &mut after);
        assert_eq!(after, after_want, "{file}: generator position");
        // Whole rounds of 2·n uniforms (one engine output per f32 uniform, two per f64).
        let per = if dtype == TorchDType::F64 { 2 } else { 1 };
        let mut h = TorchGenerator::manual_seed(seed);
        let mut rounds = 0;
        while h != end {
            for _ in 0..2 * n * per {
                h.random();
            }
            rounds += 1;
            assert!(rounds < 1000, "{file}: not a whole number of rounds");
        }
        assert!(rounds >= 1);
    }
}
