//! The Burn client of `make verify-clients`: loads every .safetensors case
//! `tests/clients/make_files.py` wrote (one file and sharded checkpoints; f32, f64, f16, bf16)
//! into a Burn module (tests/clients/net.json's conv2d, layer_norm, two linears, embedding) with
//! burn-store's SafetensorsStore and PyTorchToBurnAdapter, on the NdArray backend (with
//! FloatCastAdapter) and on Flex (without), and compares each loaded parameter's SHA-256 (of
//! its little-endian data, Linear weights transposed back to PyTorch's [out, in]) with the one
//! `weightgen generate --json` reported. Burn reads no .npy/.npz. It also checks the two traps
//! the guide names: NdArray without FloatCastAdapter panics on f16/bf16, and a Linear loaded
//! without PyTorchToBurnAdapter is refused (shape [out, in] where Burn wants [in, out]).
//! The blocks between `// guide: NAME` and `// guide: end` are the README's snippets, verbatim.
//!
//! usage: weightgen-client-burn FILES_DIR

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::store::{
    FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore,
    SafetensorsStoreError,
};
use burn::tensor::DType;
use serde_json::Value;
use sha2::{Digest, Sha256};

// guide: burn-module
/// tests/clients/net.json's layers, as Burn modules (field names = weightgen's layer names).
#[derive(Module, Debug)]
struct Net {
    conv: Conv2d,
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    emb: Embedding,
}

impl Net {
    fn new(device: &Device) -> Self {
        Net {
            conv: Conv2dConfig::new([3, 8], [3, 3]).init(device),
            norm: LayerNormConfig::new(72).init(device),
            fc1: LinearConfig::new(72, 32).init(device),
            fc2: LinearConfig::new(32, 10).init(device),
            emb: EmbeddingConfig::new(20, 16).init(device),
        }
    }
}
// guide: end

// guide: burn-load
/// Loads a .safetensors file, or every shard of a checkpoint (Burn does not read
/// model.safetensors.index.json: pass `outputs` of `weightgen generate --json`), into `net`.
/// PyTorchToBurnAdapter transposes Linear weights to Burn's [in, out] and maps norm
/// weight/bias to gamma/beta; FloatCastAdapter casts to the dtype the backend computes in
/// (NdArray panics on f16/bf16 tensors). Returns the loaded parameters' Burn paths.
fn load_net(
    net: &mut Net,
    files: &[PathBuf],
    float: DType,
) -> Result<Vec<String>, SafetensorsStoreError> {
    let mut applied = Vec::new();
    for file in files {
        let mut store = SafetensorsStore::from_file(file)
            .with_from_adapter(PyTorchToBurnAdapter.chain(FloatCastAdapter::to(float)))
            .allow_partial(true); // each shard holds only some of the tensors
        applied.extend(net.load_from(&mut store)?.applied);
    }
    Ok(applied)
}
// guide: end

/// Without FloatCastAdapter (Flex computes in f16/bf16 itself).
fn load_net_uncast(net: &mut Net, files: &[PathBuf]) -> Result<Vec<String>, SafetensorsStoreError> {
    let mut applied = Vec::new();
    for file in files {
        let mut store = SafetensorsStore::from_file(file)
            .with_from_adapter(PyTorchToBurnAdapter)
            .allow_partial(true);
        applied.extend(net.load_from(&mut store)?.applied);
    }
    Ok(applied)
}

fn dtype_of(name: &str) -> DType {
    match name {
        "f32" => DType::F32,
        "f64" => DType::F64,
        "f16" => DType::F16,
        "bf16" => DType::BF16,
        d => panic!("unexpected dtype {d}"),
    }
}

/// weightgen's name, and the little-endian bytes in `dtype` in PyTorch's layout, of every
/// parameter of `net`.
fn parameters(net: &Net, dtype: DType) -> Vec<(&'static str, Vec<usize>, Vec<u8>)> {
    fn entry<const D: usize>(
        name: &'static str,
        t: Tensor<D>,
        dtype: DType,
    ) -> (&'static str, Vec<usize>, Vec<u8>) {
        let shape = t.dims().to_vec();
        (name, shape, t.into_data_dtype(dtype).as_bytes().to_vec())
    }
    let bias = |b: &Option<burn::module::Param<Tensor<1>>>| b.as_ref().unwrap().val();
    vec![
        entry("conv.weight", net.conv.weight.val(), dtype),
        entry("conv.bias", bias(&net.conv.bias), dtype),
        entry("norm.weight", net.norm.gamma.val(), dtype),
        entry("norm.bias", bias(&net.norm.beta), dtype),
        // Burn's Linear weight is [in, out]: transposed back to weightgen's [out, in].
        entry("fc1.weight", net.fc1.weight.val().transpose(), dtype),
        entry("fc1.bias", bias(&net.fc1.bias), dtype),
        entry("fc2.weight", net.fc2.weight.val().transpose(), dtype),
        entry("fc2.bias", bias(&net.fc2.bias), dtype),
        entry("emb.weight", net.emb.weight.val(), dtype),
    ]
}

/// Per backend and format: files loaded, tensors matched, mismatches.
#[derive(Default)]
struct Count {
    files: usize,
    matched: usize,
    failed: usize,
}

fn compare(count: &mut Count, what: &str, net: &Net, applied: &[String], expected: &[Value]) {
    let dtype = dtype_of(expected[0]["dtype"].as_str().unwrap());
    let params = parameters(net, dtype);
    if applied.len() != params.len() || expected.len() != params.len() {
        count.failed += 1;
        eprintln!(
            "burn: {what}: applied {applied:?}, {} expected",
            expected.len()
        );
    }
    for e in expected {
        let name = e["name"].as_str().unwrap();
        let shape: Vec<usize> = serde_json::from_value(e["shape"].clone()).unwrap();
        let Some((_, dims, bytes)) = params.iter().find(|p| p.0 == name) else {
            count.failed += 1;
            eprintln!("burn: {what}: no parameter for {name}");
            continue;
        };
        let sha = hex(&Sha256::digest(bytes));
        if *dims == shape && sha == e["sha256"] {
            count.matched += 1;
        } else {
            count.failed += 1;
            eprintln!(
                "burn: MISMATCH {what} {name}: {dims:?} {sha}, expected {shape:?} {}",
                e["sha256"]
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[allow(deprecated)] // Device::ndarray: NdArray is deprecated in Burn 0.22 (Flex replaces it)
fn ndarray() -> Device {
    Device::ndarray()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--ndarray-uncast" {
        // The trap: an f16/bf16 file on NdArray without FloatCastAdapter.
        let mut net = Net::new(&ndarray());
        load_net_uncast(&mut net, &[PathBuf::from(&args[2])]).unwrap();
        let _ = parameters(&net, DType::F32);
        return;
    }
    let dir = PathBuf::from(args.get(1).expect("usage: FILES_DIR"));
    let cases = std::fs::read_to_string(dir.join("cases.txt")).unwrap();
    let mut counts: BTreeMap<String, Count> = BTreeMap::new();
    let mut traps_failed = 0;
    for case in cases.lines() {
        let (format, dtype) = case.split_once('-').unwrap();
        if format != "safetensors" && format != "sharded" {
            continue; // Burn reads no .npy/.npz
        }
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{case}.json"))).unwrap(),
        )
        .unwrap();
        let expected = summary["tensors"].as_array().unwrap();
        let files = files_of(&summary, &dir);
        // NdArray computes in f32 or f64: f64 files stay f64, the others are cast to f32
        // (lossless for f16/bf16; the comparison casts back to the file's dtype).
        let float = if dtype == "f64" {
            DType::F64
        } else {
            DType::F32
        };
        let device = ndarray();
        let mut net = Net::new(&device);
        let applied = load_net(&mut net, &files, float).unwrap();
        let count = counts.entry(format!("ndarray {format}")).or_default();
        count.files += files.len();
        compare(count, &format!("ndarray {case}"), &net, &applied, expected);

        let device = Device::flex();
        let mut net = Net::new(&device);
        let applied = load_net_uncast(&mut net, &files).unwrap();
        let count = counts.entry(format!("flex {format}")).or_default();
        count.files += files.len();
        compare(count, &format!("flex {case}"), &net, &applied, expected);

        if format == "safetensors" && (dtype == "f16" || dtype == "bf16") {
            // burn-store aborts the process on a panic inside a load: a child process tries.
            let exe = std::env::current_exe().unwrap();
            let out = std::process::Command::new(exe)
                .arg("--ndarray-uncast")
                .arg(&files[0])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let panic = stderr.lines().find(|l| l.contains("Unsupported dtype"));
            match (out.status.success(), panic) {
                (false, Some(p)) => {
                    println!(
                        "burn: trap: NdArray without FloatCastAdapter on {dtype}: panics, as the guide says ({p})"
                    )
                }
                _ => {
                    println!(
                        "burn: trap: NdArray without FloatCastAdapter on {dtype}: loads: update the guide"
                    );
                    traps_failed += 1;
                }
            }
        }
        if format == "safetensors" && dtype == "f32" {
            let mut net = Net::new(&Device::flex());
            let mut store = SafetensorsStore::from_file(&files[0]);
            let refused = match net.load_from(&mut store) {
                Err(e) => Some(e.to_string()),
                Ok(r) if !r.errors.is_empty() => Some(format!("{:?}", r.errors[0])),
                Ok(_) => None,
            };
            match refused {
                Some(e) => println!(
                    "burn: trap: without PyTorchToBurnAdapter: refused, as the guide says ({})",
                    e.lines().next().unwrap_or("")
                ),
                None => {
                    println!("burn: trap: without PyTorchToBurnAdapter: loads: update the guide");
                    traps_failed += 1;
                }
            }
        }
    }
    let mut failed = traps_failed;
    for (what, c) in &counts {
        println!(
            "burn: {what:<21} files loaded {:>2}  tensors matched {:>3}  mismatched {}",
            c.files, c.matched, c.failed
        );
        failed += c.failed;
    }
    if failed > 0 {
        eprintln!("burn: {failed} failures");
        std::process::exit(1);
    }
}

/// The .safetensors files of a case, shards in order (`outputs` minus the index).
fn files_of(summary: &Value, dir: &Path) -> Vec<PathBuf> {
    let outputs = summary["outputs"].as_array().unwrap();
    let files = outputs.iter().map(|o| dir.join(o.as_str().unwrap()));
    files
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect()
}
