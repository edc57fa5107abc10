//! `stream::torch`'s bf16 kernels against a real Hugging Face model built in bf16.
//!
//! `fixtures/hf/llama_f32/` and `fixtures/hf/llama_bf16/` hold what transformers 5.24.0 with
//! torch 2.15.0 saved for `torch.manual_seed(0); AutoModelForCausalLM.from_config(cfg)` on a tiny
//! Llama config in fp32 and in bf16 (see `fixtures/hf/README.md`). This test replays the draws of
//! `from_config` with the low-level [`TorchGenerator`] API and compares every saved tensor byte
//! for byte:
//!
//! 1. Constructors, in registration order: `embed_tokens` `normal_(0, 1)` on [V, H]; per layer
//!    `q, k, v, o, gate, up, down` `kaiming_uniform_(a=√5)` = `uniform_(−bound, bound)`,
//!    `bound = √3 · gain/√fan_in`, `gain = √(2/(1 + a²))` (Python doubles). No biases; norms
//!    draw nothing.
//! 2. The init pass: `embed_tokens` `normal_(0, r)` (no pad row here), then per layer
//!    `q … down` `normal_(0, r)`; norms filled with 1.
//! 3. `lm_head` [V, H] `kaiming_uniform_`, then `lm_head` `normal_(0, r)`.
//!
//! The saved values are those of the init pass (step 2 and the last op of step 3); the
//! constructor draws only move the generator. The fp32 replay uses [`TorchDType::F32`] and
//! proves the replay; the bf16 replay uses [`TorchDType::BF16`], i.e. ATen's bf16 kernels. Every
//! tensor of this model has a multiple of 16 elements, so the bf16 `normal_` tail rule (partial
//! block never drawn) is pinned by the unit tests in `stream::torch` instead.

mod common;
use common::cli::fixture;
use std::collections::BTreeMap;

use safetensors::{Dtype, SafeTensors};
use weightgen::testing::torch::{TorchDType, TorchGenerator, TorchOp};

struct Config {
    hidden: u64,
    intermediate: u64,
    heads: u64,
    kv_heads: u64,
    layers: u64,
    vocab: u64,
    range: f64,
}

fn config(dir: &str) -> Config {
    let text = std::fs::read_to_string(fixture(&format!("hf/{dir}/input_config.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let u = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {dir}"));
    assert!(v.get("head_dim").is_none() && v.get("pad_token_id").is_none());
    assert_eq!(v["tie_word_embeddings"], false);
    Config {
        hidden: u("hidden_size"),
        intermediate: u("intermediate_size"),
        heads: u("num_attention_heads"),
        kv_heads: u("num_key_value_heads"),
        layers: u("num_hidden_layers"),
        vocab: u("vocab_size"),
        range: v["initializer_range"].as_f64().unwrap(),
    }
}

/// `nn.init.kaiming_uniform_(w, a=math.sqrt(5))` as `nn.Linear.reset_parameters` calls it.
fn kaiming_uniform_a_sqrt5(fan_in: u64) -> TorchOp {
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let std = gain / (fan_in as f64).sqrt();
    let bound = 3f64.sqrt() * std;
    TorchOp::Uniform {
        from: -bound,
        to: bound,
    }
}

/// name → (shape, values) of every saved tensor, from one generator seeded with 0.
fn replay(c: &Config, dtype: TorchDType) -> BTreeMap<String, (Vec<u64>, Vec<f64>)> {
    let (h, i, v) = (c.hidden, c.intermediate, c.vocab);
    let hd = h / c.heads;
    let normal = TorchOp::Normal {
        mean: 0.0,
        std: c.range,
    };
    // Linear layers of one decoder layer in registration order: (name, [out, in]).
    let linears = [
        ("self_attn.q_proj", [c.heads * hd, h]),
        ("self_attn.k_proj", [c.kv_heads * hd, h]),
        ("self_attn.v_proj", [c.kv_heads * hd, h]),
        ("self_attn.o_proj", [h, c.heads * hd]),
        ("mlp.gate_proj", [i, h]),
        ("mlp.up_proj", [i, h]),
        ("mlp.down_proj", [h, i]),
    ];
    let mut g = TorchGenerator::manual_seed(0);
    let mut out = BTreeMap::new();
    let mut keep = |g: &mut TorchGenerator, name: String, shape: [u64; 2], op: TorchOp| {
        let mut vals = vec![0.0; (shape[0] * shape[1]) as usize];
        g.fill(op, dtype, &mut vals);
        out.insert(name, (shape.to_vec(), vals));
    };
    let one = |n: u64| (vec![n], vec![1.0; n as usize]);

    // 1. Constructors.
    let std_normal = TorchOp::Normal {
        mean: 0.0,
        std: 1.0,
    };
    g.skip(std_normal, dtype, v * h);
    for _ in 0..c.layers {
        for (_, [rows, cols]) in linears {
            g.skip(kaiming_uniform_a_sqrt5(cols), dtype, rows * cols);
        }
    }
    // 2. LlamaModel.post_init.
    keep(&mut g, "model.embed_tokens.weight".into(), [v, h], normal);
    for l in 0..c.layers {
        for (name, shape) in linears {
            keep(
                &mut g,
                format!("model.layers.{l}.{name}.weight"),
                shape,
                normal,
            );
        }
    }
    // 3. lm_head, then LlamaForCausalLM.post_init.
    g.skip(kaiming_uniform_a_sqrt5(h), dtype, v * h);
    keep(&mut g, "lm_head.weight".into(), [v, h], normal);

    for l in 0..c.layers {
        out.insert(format!("model.layers.{l}.input_layernorm.weight"), one(h));
        out.insert(
            format!("model.layers.{l}.post_attention_layernorm.weight"),
            one(h),
        );
    }
    out.insert("model.norm.weight".into(), one(h));
    out
}

/// Little-endian bytes of `values` in the safetensors dtype (values must be exact in it).
fn encode(values: &[f64], dtype: Dtype) -> Vec<u8> {
    let mut b = Vec::with_capacity(values.len() * 4);
    for &x in values {
        match dtype {
            Dtype::F32 => {
                assert_eq!(x as f32 as f64, x);
                b.extend((x as f32).to_le_bytes());
            }
            Dtype::BF16 => {
                let v = half::bf16::from_f32(x as f32);
                assert_eq!(v.to_f64(), x, "not a bf16 value");
                b.extend(v.to_bits().to_le_bytes());
            }
            other => panic!("unexpected dtype {other:?}"),
        }
    }
    b
}

/// (tensor name, bit-identical elements, elements) for every tensor of the golden file, and
/// whether the golden file has exactly the replayed names.
fn compare(dir: &str, dtype: TorchDType, st_dtype: Dtype) -> (Vec<(String, usize, usize)>, bool) {
    let bytes = std::fs::read(fixture(&format!("hf/{dir}/model.safetensors"))).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ours = replay(&config(dir), dtype);
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let same_names = names.iter().eq(ours.keys());
    let w = if st_dtype == Dtype::F32 { 4 } else { 2 };
    let mut rows = Vec::new();
    for name in names {
        let t = st.tensor(&name).unwrap();
        assert_eq!(t.dtype(), st_dtype, "{name}");
        let Some((shape, vals)) = ours.get(&name) else {
            rows.push((name, 0, t.data().len() / w));
            continue;
        };
        let shape_theirs: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
        assert_eq!(&shape_theirs, shape, "{name}");
        let mine = encode(vals, st_dtype);
        let same = mine
            .chunks(w)
            .zip(t.data().chunks(w))
            .filter(|(a, b)| a == b)
            .count();
        rows.push((name, same, vals.len()));
    }
    (rows, same_names)
}

fn assert_all_match(dir: &str, dtype: TorchDType, st_dtype: Dtype) {
    let (rows, same_names) = compare(dir, dtype, st_dtype);
    let mut bad = Vec::new();
    for (name, same, total) in &rows {
        println!("{dir:10} {name:45} {same:6}/{total}");
        if same != total {
            bad.push(name.clone());
        }
    }
    assert!(same_names, "{dir}: tensor names differ from the replay");
    assert!(bad.is_empty(), "{dir}: not bit-identical: {bad:?}");
}

/// The fp32 replay with the existing F32 kernels: proves the draw sequence.
#[test]
fn llama_f32_replay_matches_transformers_bit_for_bit() {
    assert_all_match("llama_f32", TorchDType::F32, Dtype::F32);
}

/// The bf16 model with the bf16 kernels.
#[test]
fn llama_bf16_replay_matches_transformers_bit_for_bit() {
    assert_all_match("llama_bf16", TorchDType::BF16, Dtype::BF16);
}

/// The same replay through [`weightgen::testing::torch::ChunkedFill`] (small chunks) gives the
/// same generator state after every kept tensor, so a streaming writer sees the same values.
#[test]
fn llama_bf16_kept_tensors_stream_in_chunks() {
    use weightgen::testing::torch::ChunkedFill;
    let c = config("llama_bf16");
    let n = c.vocab * c.hidden;
    // Constructors' draws of embed_tokens alone, then the init pass's embed_tokens.
    let mut g = TorchGenerator::manual_seed(0);
    let std_normal = TorchOp::Normal {
        mean: 0.0,
        std: 1.0,
    };
    g.skip(std_normal, TorchDType::BF16, n);
    let op = TorchOp::Normal {
        mean: 0.0,
        std: c.range,
    };
    let mut want = vec![0.0; n as usize];
    let mut after = g.clone();
    after.fill(op, TorchDType::BF16, &mut want);
    let mut cf = ChunkedFill::new(g, op, TorchDType::BF16, n);
    let mut got = Vec::new();
    let mut buf = [0.0; 37];
    loop {
        let k = cf.next_chunk(&mut buf);
        if k == 0 {
            break;
        }
        got.extend_from_slice(&buf[..k]);
    }
    assert_eq!(got, want);
    assert!(cf.into_generator() == after);
}

/// Every tensor of this model has a multiple of 16 elements, where bf16 `normal_` is the f32
/// AVX2 kernel rounded: the saved bf16 values are the saved fp32 values rounded to bf16.
#[test]
fn llama_bf16_values_are_the_fp32_values_rounded() {
    let f = std::fs::read(fixture("hf/llama_f32/model.safetensors")).unwrap();
    let b = std::fs::read(fixture("hf/llama_bf16/model.safetensors")).unwrap();
    let (f, b) = (
        SafeTensors::deserialize(&f).unwrap(),
        SafeTensors::deserialize(&b).unwrap(),
    );
    for name in b.names() {
        let tf = f.tensor(name).unwrap();
        let tb = b.tensor(name).unwrap();
        let rounded: Vec<u8> = tf
            .data()
            .chunks(4)
            .flat_map(|c| {
                let x = f32::from_le_bytes(c.try_into().unwrap());
                half::bf16::from_f32(x).to_bits().to_le_bytes()
            })
            .collect();
        assert_eq!(rounded, tb.data(), "{name}");
    }
}
