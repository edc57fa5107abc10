//! The Candle client of `make verify-clients`: loads every case `tests/clients/make_files.py`
//! wrote (.npy, stored .npz, .safetensors, sharded checkpoints; f32, f64, f16, bf16) with
//! candle-core / candle-nn and compares each tensor's SHA-256 (of its little-endian data) with
//! the one `weightgen generate --json` reported. The blocks between `// guide: NAME` and
//! `// guide: end` are the README's "Loading the files" snippets, verbatim (tests/clients_guide.rs
//! checks it). Deflated .npz: without the `deflate` feature the read must fail (the trap the
//! guide describes); with it (the guide's workaround) it must load.
//!
//! usage: weightgen-client-candle FILES_DIR

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use serde_json::Value;
use sha2::{Digest, Sha256};

// guide: candle-npy
fn load_npy(path: &Path) -> Result<Tensor> {
    Tensor::read_npy(path) // .npy: f32, f64, f16 (NumPy has no bf16)
}
// guide: end

// guide: candle-npz
fn load_npz(path: &Path) -> Result<HashMap<String, Tensor>> {
    // Stored (uncompressed) members only: weightgen's default, never pass --compress.
    Ok(Tensor::read_npz(path)?.into_iter().collect())
}
// guide: end

// guide: candle-safetensors
fn load_safetensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, &Device::Cpu) // every dtype, as written
}
// guide: end

// guide: candle-sharded
/// The shard files of a checkpoint, in order: `outputs` of `weightgen generate --json`
/// minus the index (Candle does not read model.safetensors.index.json).
fn shard_files(summary: &serde_json::Value, dir: &Path) -> Vec<PathBuf> {
    let mut shards = Vec::new();
    for output in summary["outputs"].as_array().expect("outputs") {
        let path = dir.join(output.as_str().expect("a path"));
        if path.extension().is_some_and(|e| e == "safetensors") {
            shards.push(path);
        }
    }
    shards
}

fn load_checkpoint(shards: &[PathBuf], dtype: DType) -> Result<VarBuilder<'static>> {
    // SAFETY: the shards are not modified while mapped.
    unsafe { VarBuilder::from_mmaped_safetensors(shards, dtype, &Device::Cpu) }
}
// guide: end

/// The little-endian bytes of a tensor's data, row-major, in its own dtype.
fn le_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let t = t.flatten_all()?;
    Ok(match t.dtype() {
        DType::F32 => t
            .to_vec1::<f32>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::F64 => t
            .to_vec1::<f64>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::F16 => t
            .to_vec1::<half::f16>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::BF16 => t
            .to_vec1::<half::bf16>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        d => panic!("unexpected dtype {d:?}"),
    })
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

/// Per format: files loaded, tensors matched, mismatches.
#[derive(Default)]
struct Count {
    files: usize,
    matched: usize,
    failed: usize,
}

fn check(count: &mut Count, case: &str, expected: &Value, t: &Tensor) -> Result<()> {
    let name = expected["name"].as_str().unwrap();
    let shape: Vec<usize> = serde_json::from_value(expected["shape"].clone()).unwrap();
    let sha = hex(&Sha256::digest(le_bytes(t)?));
    let dtype = dtype_of(expected["dtype"].as_str().unwrap());
    if t.dims() == shape.as_slice() && t.dtype() == dtype && sha == expected["sha256"] {
        count.matched += 1;
    } else {
        count.failed += 1;
        eprintln!(
            "candle: MISMATCH {case} {name}: {:?} {:?} {sha}, expected {shape:?} {dtype:?} {}",
            t.dims(),
            t.dtype(),
            expected["sha256"]
        );
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: FILES_DIR"));
    let cases = std::fs::read_to_string(dir.join("cases.txt"))?;
    let mut counts: BTreeMap<String, Count> = BTreeMap::new();
    for case in cases.lines() {
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{case}.json")))?)
                .unwrap();
        let expected = summary["tensors"].as_array().unwrap();
        let (format, dtype) = case.split_once('-').unwrap();
        let count = counts.entry(format.to_string()).or_default();
        let file = dir.join(summary["outputs"][0].as_str().unwrap());
        match format {
            "npy" => {
                let t = load_npy(&file)?;
                count.files += 1;
                check(count, case, &expected[0], &t)?;
            }
            "npz" | "safetensors" => {
                let tensors = if format == "npz" {
                    load_npz(&file)?
                } else {
                    load_safetensors(&file)?
                };
                count.files += 1;
                if tensors.len() != expected.len() {
                    count.failed += 1;
                    eprintln!(
                        "candle: {case}: {} tensors, expected {}",
                        tensors.len(),
                        expected.len()
                    );
                }
                for e in expected {
                    check(count, case, e, &tensors[e["name"].as_str().unwrap()])?;
                }
            }
            "npz_deflated" => match Tensor::read_npz(&file) {
                Ok(tensors) if cfg!(feature = "deflate") => {
                    let tensors: HashMap<String, Tensor> = tensors.into_iter().collect();
                    count.files += 1;
                    for e in expected {
                        check(count, case, e, &tensors[e["name"].as_str().unwrap()])?;
                    }
                }
                Ok(_) => {
                    count.failed += 1;
                    eprintln!(
                        "candle: {case} loaded without the zip deflate feature: update the guide"
                    );
                }
                Err(e) if !cfg!(feature = "deflate") => {
                    println!(
                        "candle: {case}: refused without zip's deflate feature, as the guide says ({e})"
                    );
                }
                Err(e) => return Err(e),
            },
            "sharded" => {
                let shards = shard_files(&summary, &dir);
                let vb = load_checkpoint(&shards, dtype_of(dtype))?;
                count.files += shards.len();
                // candle-nn's layers read PyTorch's names and layouts ([out, in]) as written.
                let conv = candle_nn::conv2d(3, 8, 3, Default::default(), vb.pp("conv"))?;
                let norm = candle_nn::layer_norm(72, 1e-5, vb.pp("norm"))?;
                let fc1 = candle_nn::linear(72, 32, vb.pp("fc1"))?;
                let fc2 = candle_nn::linear(32, 10, vb.pp("fc2"))?;
                let emb = candle_nn::embedding(20, 16, vb.pp("emb"))?;
                let loaded: HashMap<&str, &Tensor> = HashMap::from([
                    ("conv.weight", conv.weight()),
                    ("conv.bias", conv.bias().unwrap()),
                    ("norm.weight", norm.weight()),
                    ("norm.bias", norm.bias().unwrap()),
                    ("fc1.weight", fc1.weight()),
                    ("fc1.bias", fc1.bias().unwrap()),
                    ("fc2.weight", fc2.weight()),
                    ("fc2.bias", fc2.bias().unwrap()),
                    ("emb.weight", emb.embeddings()),
                ]);
                if loaded.len() != expected.len() {
                    count.failed += 1;
                    eprintln!(
                        "candle: {case}: {} tensors, expected {}",
                        loaded.len(),
                        expected.len()
                    );
                }
                for e in expected {
                    check(count, case, e, loaded[e["name"].as_str().unwrap()])?;
                }
            }
            "hf" => {
                // A --hf-config checkpoint: every tensor by name through the same VarBuilder.
                let shards = shard_files(&summary, &dir);
                let vb = load_checkpoint(&shards, dtype_of(dtype))?;
                count.files += shards.len();
                for e in expected {
                    let shape: Vec<usize> = serde_json::from_value(e["shape"].clone()).unwrap();
                    let t = vb.get(shape, e["name"].as_str().unwrap())?;
                    check(count, case, e, &t)?;
                }
            }
            f => panic!("unknown format {f}"),
        }
    }
    let mut failed = 0;
    for (format, c) in &counts {
        println!(
            "candle: {format:<13} files loaded {:>2}  tensors matched {:>3}  mismatched {}",
            c.files, c.matched, c.failed
        );
        failed += c.failed;
    }
    if failed > 0 {
        eprintln!("candle: {failed} mismatches");
        std::process::exit(1);
    }
    Ok(())
}
