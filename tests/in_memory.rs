//! The in-memory API gives the bytes the files hold: for every scheme, both random streams,
//! every float dtype, and a Hugging Face model, `Plan::to_tensors` / `Plan::to_vec` /
//! `Init::sample` equal what `weightgen generate` writes with the same spec and seed.

mod common;

use common::cli::{fixture, ok, run};
use weightgen::dtype::DType;
use weightgen::memory::{Init, TensorData};
use weightgen::plan::Plan;
use weightgen::scheme::Nonlinearity;
use weightgen::spec::Spec;

/// Each tensor's data bytes in a .safetensors file, by name.
fn safetensors_data(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out: Vec<(String, Vec<u8>)> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let o = &v["data_offsets"];
            let (a, b) = (o[0].as_u64().unwrap(), o[1].as_u64().unwrap());
            (k.clone(), data[a as usize..b as usize].to_vec())
        })
        .collect();
    out.sort();
    out
}

fn le_bytes(d: &TensorData) -> Vec<u8> {
    match d {
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::BF16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

/// Every tensor of `plan` in memory, as (name, little-endian bytes), sorted by name.
fn memory_data(plan: &Plan) -> Vec<(String, Vec<u8>)> {
    let mut mem: Vec<(String, Vec<u8>)> = (plan.to_tensors().unwrap().into_iter())
        .map(|t| (t.name, le_bytes(&t.data)))
        .collect();
    mem.sort();
    mem
}

/// One tensor per scheme (each with a shape it accepts), in one spec.
fn all_schemes_spec(rng: &str, dtype: &str) -> String {
    let schemes = [
        ("zeros", "[5, 7]", ""),
        ("ones", "[5, 7]", ""),
        ("constant", "[5, 7]", r#", "value": 0.3"#),
        ("uniform", "[300, 7]", r#", "low": -2, "high": 3"#),
        ("normal", "[300, 70]", r#", "std": 0.5"#),
        ("truncated_normal", "[300, 70]", r#", "std": 1.0"#),
        ("xavier_uniform", "[64, 3, 5, 5]", ""),
        ("xavier_normal", "[200, 100]", ""),
        (
            "kaiming_uniform",
            "[256, 784]",
            r#", "nonlinearity": "relu""#,
        ),
        ("kaiming_normal", "[70000]", r#", "fan_in": 10"#),
        ("lecun_uniform", "[40, 50]", ""),
        ("lecun_normal", "[40, 50]", ""),
        (
            "variance_scaling",
            "[40, 50]",
            r#", "scale": 2.0, "mode": "fan_out""#,
        ),
        ("standard", "[40, 50]", ""),
        ("eye", "[6, 9]", ""),
        ("dirac", "[8, 4, 3, 3]", ""),
        ("sparse", "[30, 20]", r#", "sparsity": 0.25"#),
        ("torch_default", "[40, 50]", ""),
        ("orthogonal", "[20, 50]", ""),
    ];
    let tensors: Vec<String> = schemes
        .iter()
        .filter(|(s, _, _)| !(rng == "torch" && *s == "orthogonal"))
        .map(|(s, shape, extra)| {
            format!(r#"{{"name": "t_{s}", "shape": {shape}, "scheme": "{s}"{extra}}}"#)
        })
        .collect();
    format!(
        r#"{{"rng": "{rng}", "dtype": "{dtype}", "seed": 7, "tensors": [{}]}}"#,
        tensors.join(", ")
    )
}

fn file_equals_memory(rng: &str, dtype: &str) {
    let d = tempfile::tempdir().unwrap();
    let text = all_schemes_spec(rng, dtype);
    std::fs::write(d.path().join("s.json"), &text).unwrap();
    ok(&run(
        d.path(),
        &["generate", "--spec", "s.json", "-o", "w.safetensors"],
    ));
    let file = safetensors_data(&std::fs::read(d.path().join("w.safetensors")).unwrap());
    let spec = Spec::from_json(&text, "s.json").unwrap();
    let plan = Plan::new(&spec, 7).unwrap();
    let mem = memory_data(&plan);
    assert_eq!(file.len(), mem.len());
    for ((fname, fbytes), (mname, mbytes)) in file.iter().zip(&mem) {
        assert_eq!(fname, mname);
        assert!(fbytes == mbytes, "{rng} {dtype}: {fname} differs");
    }
    // One tensor alone (not the whole plan) gives the same values too.
    let name = "t_kaiming_uniform";
    let one = match dtype {
        "f32" => le_bytes(&TensorData::F32(plan.to_vec::<f32>(name).unwrap())),
        "f64" => le_bytes(&TensorData::F64(plan.to_vec::<f64>(name).unwrap())),
        "bf16" => le_bytes(&TensorData::BF16(plan.to_vec::<half::bf16>(name).unwrap())),
        "f16" => le_bytes(&TensorData::F16(plan.to_vec::<half::f16>(name).unwrap())),
        _ => unreachable!(),
    };
    let fbytes = &file.iter().find(|(n, _)| n == name).unwrap().1;
    assert!(&one == fbytes, "{rng} {dtype}: to_vec differs");
}

#[test]
fn every_scheme_in_memory_equals_the_file_native_f32() {
    file_equals_memory("native", "f32");
}

#[test]
fn every_scheme_in_memory_equals_the_file_native_f64_and_f16() {
    file_equals_memory("native", "f64");
    file_equals_memory("native", "f16");
}

#[test]
fn every_scheme_in_memory_equals_the_file_torch_f32_and_bf16() {
    file_equals_memory("torch", "f32");
    file_equals_memory("torch", "bf16");
}

#[test]
fn init_sample_equals_the_cli_with_the_same_flags() {
    let d = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "fc1.weight=64x100",
        "--scheme",
        "kaiming_normal",
        "--nonlinearity",
        "relu",
        "--seed",
        "42",
        "-o",
        "w.safetensors",
    ];
    ok(&run(d.path(), &args));
    let file = safetensors_data(&std::fs::read(d.path().join("w.safetensors")).unwrap());
    let init = Init::kaiming_normal().nonlinearity(Nonlinearity::Relu);
    let w: Vec<f32> = init.sample("fc1.weight", &[64, 100], 42).unwrap();
    assert_eq!(le_bytes(&TensorData::F32(w)), file[0].1);
    let a = init
        .sample_array::<f32>("fc1.weight", &[64, 100], 42)
        .unwrap();
    assert_eq!(a.shape(), &[64, 100]);
    // The torch stream: the same bytes as the CLI's --rng torch (itself checked against
    // PyTorch's own outputs in tests/torch_reference.rs).
    let mut targs = args.to_vec();
    targs.extend(["--rng", "torch", "--force"]);
    ok(&run(d.path(), &targs));
    let file = safetensors_data(&std::fs::read(d.path().join("w.safetensors")).unwrap());
    let w: Vec<f32> = init
        .clone()
        .torch_rng()
        .sample("fc1.weight", &[64, 100], 42)
        .unwrap();
    assert_eq!(le_bytes(&TensorData::F32(w)), file[0].1);
}

/// The data bytes of an .npy file (version 1 header).
fn npy_data(bytes: &[u8]) -> &[u8] {
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    &bytes[10 + hlen..]
}

#[test]
fn torch_rng_in_memory_is_pytorchs_own_output() {
    // Files written by PyTorch 2.15 itself (fixtures/torch/cases.json has the code).
    use weightgen::scheme::Mode;
    let relu = Init::kaiming_uniform()
        .nonlinearity(Nonlinearity::Relu)
        .torch_rng();
    let fanout = Init::kaiming_normal()
        .mode(Mode::FanOut)
        .nonlinearity(Nonlinearity::Relu)
        .torch_rng();
    for (file, init, shape, seed) in [
        // torch.manual_seed(3); nn.init.kaiming_uniform_(torch.empty(16, 3, 3, 3), nonlinearity='relu')
        (
            "kaiming_uniform_relu_seed3_16x3x3x3.npy",
            relu,
            &[16u64, 3, 3, 3][..],
            3,
        ),
        // torch.manual_seed(4); nn.init.kaiming_normal_(torch.empty(128, 64), mode='fan_out', nonlinearity='relu')
        (
            "kaiming_normal_fanout_seed4_128x64.npy",
            fanout,
            &[128, 64][..],
            4,
        ),
    ] {
        let torch = std::fs::read(fixture(&format!("torch/{file}"))).unwrap();
        let w: Vec<f32> = init.sample("weight", shape, seed).unwrap();
        assert!(le_bytes(&TensorData::F32(w)) == npy_data(&torch), "{file}");
    }
}

#[test]
fn a_model_plan_in_memory_equals_the_checkpoint_under_torch() {
    let d = tempfile::tempdir().unwrap();
    let cfg = fixture("hf/tiny_llama_bf16/input_config.json");
    ok(&run(
        d.path(),
        &[
            "generate",
            "--hf-config",
            cfg.to_str().unwrap(),
            "--rng",
            "torch",
            "--seed",
            "3",
            "-o",
            "ck",
        ],
    ));
    let file = safetensors_data(&std::fs::read(d.path().join("ck/model.safetensors")).unwrap());
    let spec = Spec {
        model: Some(weightgen::testing::load(&cfg).unwrap()),
        rng: Some(weightgen::RngKind::Torch),
        ..Default::default()
    };
    let plan = weightgen::plan_spec(&spec, 3).unwrap();
    assert_eq!(plan.tensors[0].dtype, DType::BF16);
    let mem = memory_data(&plan);
    assert_eq!(file, mem);
}

/// A `Memory` error naming `what`.
#[track_caller]
fn memory_error<T: std::fmt::Debug>(r: weightgen::Result<T>, what: &str) -> String {
    let e = r.unwrap_err();
    assert!(matches!(e, weightgen::Error::Memory(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with(what), "{msg}");
    msg
}

/// A shape of 2^62 elements: in f16 (2^63 bytes, over `isize::MAX`) `vec!` panicked with
/// "capacity overflow"; 2^60 f32 elements (4 EiB) made the allocator abort. Both are
/// `Error::Memory` now, under the default limit (which refuses them) and with no limit (the
/// allocation is refused).
#[test]
fn a_huge_tensor_in_memory_is_a_memory_error_not_a_panic_or_an_abort() {
    use weightgen::job::MemoryLimit;
    let (e62, e60) = ([1u64 << 31, 1 << 31], [1u64 << 30, 1 << 30]);
    let what = "tensor `w` in memory";
    let msg = memory_error(Init::normal().sample::<half::f16>("w", &e62, 1), what);
    assert!(msg.contains("the memory limit is"), "{msg}");
    memory_error(Init::normal().sample::<f32>("w", &e60, 1), what);
    let unlimited = Init::normal().memory_limit(MemoryLimit::given(u64::MAX));
    let msg = memory_error(unlimited.sample::<half::f16>("w", &e62, 1), what);
    assert!(msg.contains("cannot allocate (out of memory)"), "{msg}");
    memory_error(unlimited.sample::<f32>("w", &e60, 1), what);
    memory_error(unlimited.sample_array::<f32>("w", &e60, 1), what);
    // The same through a plan: to_vec, to_tensors; an orthogonal's QR is named as the CLI
    // names it.
    let spec = unlimited.spec("w", &e60, DType::F32, 1).unwrap();
    let plan = Plan::new(&spec, 1).unwrap();
    let max = MemoryLimit::given(u64::MAX);
    memory_error(plan.to_vec_within::<f32>("w", &max), what);
    memory_error(plan.to_tensors_within(&max), "tensor `w` in memory");
    let ortho = Init::orthogonal().memory_limit(max.clone());
    memory_error(
        ortho.sample::<half::f16>("w", &e62, 1),
        "orthogonal init of `w` (2147483648×2147483648 f64 QR) needs ",
    );
}

/// The limit is the CLI's: a result, or an orthogonal init's QR, over it is refused before
/// anything is allocated; under it, the values come.
#[test]
fn an_explicit_memory_limit_refuses_what_is_over_it() {
    use weightgen::job::MemoryLimit;
    // 1000 × 1000 f32: the result alone is 4 MB.
    let numel = 1000u64 * 1000;
    let under = MemoryLimit::given(4 * numel - 1);
    let msg = memory_error(
        Init::normal()
            .memory_limit(under.clone())
            .sample::<f32>("w", &[1000, 1000], 1),
        "tensor `w` in memory needs ",
    );
    assert!(
        msg.contains("the memory limit is 4.0 MB (set by `memory_limit`)"),
        "{msg}"
    );
    let plan = Plan::new(
        &Init::normal()
            .spec("w", &[1000, 1000], DType::F32, 1)
            .unwrap(),
        1,
    )
    .unwrap();
    memory_error(
        plan.to_vec_within::<f32>("w", &under),
        "tensor `w` in memory needs ",
    );
    memory_error(
        plan.to_tensors_within(&under),
        "tensor `w` in memory needs ",
    );
    // A caller's buffer is not counted; the data path's chunk buffers are (a few MB).
    let mut out = vec![0f32; numel as usize];
    let enough = MemoryLimit::given(1 << 30);
    plan.fill_within("w", &mut out, &enough).unwrap();
    assert_eq!(out, plan.to_vec_within::<f32>("w", &enough).unwrap());
    // Orthogonal 512 × 512: QR holds the matrix and Q in f64 at once (4 MB), whatever the
    // result's 1 MB in f32.
    let qr = 2 * 8 * 512 * 512;
    let ortho = Init::orthogonal().memory_limit(MemoryLimit::given(qr - 1));
    memory_error(
        ortho.sample::<f32>("q", &[512, 512], 1),
        "orthogonal init of `q` (512×512 f64 QR) needs ",
    );
    let plan = Plan::new(
        &Init::orthogonal()
            .spec("q", &[512, 512], DType::F32, 1)
            .unwrap(),
        1,
    )
    .unwrap();
    let mut q = vec![0f32; 512 * 512];
    memory_error(
        plan.fill_within("q", &mut q, &MemoryLimit::given(qr - 1)),
        "orthogonal init of `q` (512×512 f64 QR) needs ",
    );
    let q = Init::orthogonal()
        .memory_limit(enough)
        .sample::<f32>("q", &[512, 512], 1)
        .unwrap();
    assert_eq!(q, plan.to_vec::<f32>("q").unwrap());
}
