//! Our safetensors writer against the reference `safetensors` crate (0.8): the crate must
//! accept every file we write, and for the same tensors and (at most one) metadata key its
//! `serialize` must produce exactly our bytes. With two or more metadata keys the reference
//! orders them randomly (a HashMap), so the full CLI files are compared structurally instead.

use safetensors::{Dtype, SafeTensors, View, serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use weightgen::dtype::DType;
use weightgen::scheme::Distribution;
use weightgen::testing::TensorStream;
use weightgen::testing::safetensors_header;

mod common;
use common::cli::{fixture, ok, run};

struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Owned {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn st_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I64 => Dtype::I64,
    }
}

/// Tensor data from the stream, as the writer would emit it.
fn data(name: &str, shape: &[u64], dtype: DType) -> Vec<u8> {
    let numel: u64 = shape.iter().product();
    let s = TensorStream::new(
        3,
        name,
        numel,
        &Distribution::Uniform {
            low: -1.0,
            high: 1.0,
        },
    )
    .with_dtype(dtype);
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for c in 0..s.num_chunks() {
        let mut b = vec![0u8; s.chunk_len(c) * dtype.size()];
        s.fill_chunk_bytes(c, &mut scratch, &mut b);
        out.extend(b);
    }
    out
}

fn ours(tensors: &[(&str, DType, Vec<u64>)], meta: &BTreeMap<String, String>) -> Vec<u8> {
    let list: Vec<(&str, DType, &[u64], u64)> = tensors
        .iter()
        .map(|(n, d, s)| {
            (
                *n,
                *d,
                s.as_slice(),
                s.iter().product::<u64>() * d.size() as u64,
            )
        })
        .collect();
    let (mut bytes, order) = safetensors_header(&list, meta).unwrap();
    for i in order {
        let (n, d, s) = &tensors[i];
        bytes.extend(data(n, s, *d));
    }
    bytes
}

fn reference(
    tensors: &[(&str, DType, Vec<u64>)],
    meta: Option<HashMap<String, String>>,
) -> Vec<u8> {
    let owned: Vec<(String, Owned)> = tensors
        .iter()
        .map(|(n, d, s)| {
            (
                n.to_string(),
                Owned {
                    dtype: st_dtype(*d),
                    shape: s.iter().map(|&x| x as usize).collect(),
                    data: data(n, s, *d),
                },
            )
        })
        .collect();
    serialize(owned.iter().map(|(n, o)| (n.clone(), o)), meta).unwrap()
}

fn mixed() -> Vec<(&'static str, DType, Vec<u64>)> {
    vec![
        ("b.weight", DType::F32, vec![7, 3]),
        ("a.weight", DType::F32, vec![5]),
        ("z", DType::F16, vec![3, 3]),
        ("h", DType::BF16, vec![11]),
        ("d", DType::F64, vec![2, 2, 2]),
        ("scalar", DType::F32, vec![]),
        ("empty", DType::F32, vec![0, 4]),
        ("ünïcode \"quoted\"", DType::F16, vec![1]),
        ("odd", DType::BF16, vec![3]),
        ("num_batches_tracked", DType::I64, vec![]),
    ]
}

#[test]
fn writer_is_byte_identical_to_the_reference_serialize() {
    let t = mixed();
    let mut meta = BTreeMap::new();
    assert_eq!(ours(&t, &meta), reference(&t, None));
    meta.insert("format".to_string(), "pt".to_string());
    let hm: HashMap<String, String> = meta.clone().into_iter().collect();
    assert_eq!(ours(&t, &meta), reference(&t, Some(hm)));
}

#[test]
fn header_reproduces_the_crates_own_golden_vector() {
    // safetensors/src/tensor.rs `test_serialization`: one F32 tensor "attn.0" [1,2,3] → N = 64.
    let (h, _) =
        safetensors_header(&[("attn.0", DType::F32, &[1, 2, 3], 24)], &BTreeMap::new()).unwrap();
    assert_eq!(&h[..8], &64u64.to_le_bytes());
    assert_eq!(
        &h[8..],
        br#"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#
    );
    // Empty file: "{}" padded with 6 spaces.
    let (h, _) = safetensors_header(&[], &BTreeMap::new()).unwrap();
    assert_eq!(h, b"\x08\0\0\0\0\0\0\0{}      ");
}

#[test]
fn cli_files_are_accepted_by_the_reference_reader_with_aligned_tensors() {
    let dir = tempfile::tempdir().unwrap();
    for dtype in ["f32", "f64", "f16", "bf16"] {
        let out = dir.path().join(format!("m_{dtype}.safetensors"));
        let spec = fixture("specs/golden.json");
        ok(&run(
            dir.path(),
            &[
                "generate",
                "--spec",
                spec.to_str().unwrap(),
                "--quiet",
                "--dtype",
                dtype,
                "-o",
                out.to_str().unwrap(),
            ],
        ));
        let bytes = std::fs::read(&out).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (n, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let m = meta.metadata().as_ref().unwrap();
        assert_eq!(m["format"], "pt");
        assert_eq!(m["weightgen.stream"], "weightgen-3");
        assert_eq!(m["weightgen.seed"], "7");
        assert_eq!(m["purpose"], "golden");
        let plan: serde_json::Value = serde_json::from_str(&m["weightgen.plan"]).unwrap();
        assert_eq!(plan.as_array().unwrap().len(), st.len());
        assert_eq!((8 + n) % 8, 0);
        for (name, view) in st.tensors() {
            let offset = view.data().as_ptr() as usize - bytes.as_ptr() as usize;
            let size = view.dtype().bitsize() / 8;
            assert_eq!(offset % size, 0, "{name} misaligned");
        }
        // Header text: starts with `{` at byte 8, padded with spaces only.
        assert_eq!(bytes[8], b'{');
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        assert!(header.trim_end_matches(' ').ends_with('}'));
    }
}
