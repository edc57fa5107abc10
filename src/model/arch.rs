//! Each family's modules, in the order PyTorch registers them (so tensors come out in
//! `state_dict` order, as `save_pretrained` shards them), and the order in which
//! `from_config` draws from the generator.
//!
//! A model is built in *stages*, one per `PreTrainedModel` whose `__init__` ends with
//! `post_init()`: the inner model (`LlamaModel`, `GPT2Model`, `BertModel`, a T5 stack), then the
//! head the outer class adds (`lm_head`, BERT's MLM head). In a stage every module's
//! constructor draws first (`nn.Linear`: `kaiming_uniform_(a=√5)` and, with a bias,
//! U(±1/√fan_in); `nn.Embedding`: N(0, 1); GPT-2's `Conv1D`: N(0, 0.02); norms draw nothing),
//! then the init pass (`_init_weights`) visits the modules again in the same order. Draws of
//! tensors that are not saved (tied to another) are still made, and thrown away.
//!
//! Owns: names, shapes, the init law of every tensor, the draw schedule. Does not own: reading
//! the config (`config`), or drawing (`stream::torch`).

use super::config::{Family, HfConfig};
use crate::error::Result;

/// What kind of module, with its shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// `nn.Linear(inp, out, bias)`: weight `[out, inp]`, bias `[out]`.
    Linear { out: u64, inp: u64, bias: bool },
    /// transformers' `Conv1D(nf, nx)` (GPT-2): weight `[nx, nf]`, bias `[nf]`.
    Conv1D { nx: u64, nf: u64 },
    /// `nn.Embedding(rows, cols, padding_idx=pad)`.
    Embedding {
        rows: u64,
        cols: u64,
        pad: Option<u64>,
    },
    /// A LayerNorm (with bias) or RMSNorm (without) of `dim`.
    Norm { dim: u64, bias: bool },
    /// A bare bias parameter `[dim]`, zeros (BERT's `cls.predictions.bias`).
    Bias { dim: u64 },
}

impl Kind {
    /// Elements of the module's weight (a norm's or bare bias's own vector).
    pub(crate) fn weight_numel(self) -> u64 {
        match self {
            Kind::Linear { out, inp, .. } => out.saturating_mul(inp),
            Kind::Conv1D { nx, nf } => nx.saturating_mul(nf),
            Kind::Embedding { rows, cols, .. } => rows.saturating_mul(cols),
            Kind::Norm { dim, .. } | Kind::Bias { dim } => dim,
        }
    }
}

/// One module of the model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Module {
    /// Its path in the state dict (`model.layers.0.self_attn.q_proj`).
    pub path: String,
    pub kind: Kind,
    /// The std of the init pass's `normal_(0, std)` on the weight (Linear, Conv1D, Embedding).
    pub std: f64,
    /// The value the init pass gives a norm's weight (1; Gemma 0; T5 its factor).
    pub norm_value: f64,
    /// The init pass draws the weight a second time with this std, keeping only the second
    /// draw (GPT-2's `c_proj`, scaled by 1/√(2·n_layer)).
    pub redraw: Option<f64>,
    /// False for a tied module: not saved, its draws made and discarded.
    pub saved: bool,
}

impl Module {
    fn new(path: impl Into<String>, kind: Kind, std: f64) -> Module {
        Module {
            path: path.into(),
            kind,
            std,
            norm_value: 1.0,
            redraw: None,
            saved: true,
        }
    }

    /// `nn.Linear(inp, out, bias)` whose weight the init pass draws N(0, std).
    fn linear(path: impl Into<String>, out: u64, inp: u64, bias: bool, std: f64) -> Module {
        Module::new(path, Kind::Linear { out, inp, bias }, std)
    }

    /// `nn.Embedding(rows, cols, padding_idx=pad)` drawn N(0, std) by the init pass.
    fn embedding(
        path: impl Into<String>,
        rows: u64,
        cols: u64,
        pad: Option<u64>,
        std: f64,
    ) -> Module {
        Module::new(path, Kind::Embedding { rows, cols, pad }, std)
    }

    fn norm(path: impl Into<String>, dim: u64, bias: bool, value: f64) -> Module {
        Module {
            norm_value: value,
            ..Module::new(path, Kind::Norm { dim, bias }, 0.0)
        }
    }

    fn tied(mut self) -> Module {
        self.saved = false;
        self
    }
}

/// One `normal_(0, std)` of the init pass on a module's weight (by path).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Visit {
    /// Drawn and overwritten later (transformers' generic init of a T5 leaf before T5's own;
    /// GPT-2's `c_proj` before its scaled redraw).
    Discard(String, f64),
    /// The draw the weight keeps, N(0, the module's kept std) (discarded too when the module
    /// is tied).
    Keep(String),
}

/// A stage: the modules constructed before one `post_init()`, and that init pass's draws.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Stage {
    pub modules: Vec<Module>,
    pub visits: Vec<Visit>,
}

impl Stage {
    /// The usual stage: the init pass visits the modules in order and draws each weight once
    /// (twice for a redrawn one).
    fn plain(modules: Vec<Module>) -> Stage {
        let mut visits = Vec::new();
        for m in &modules {
            if matches!(m.kind, Kind::Norm { .. } | Kind::Bias { .. }) {
                continue;
            }
            if m.redraw.is_some() {
                visits.push(Visit::Discard(m.path.clone(), m.std));
            }
            visits.push(Visit::Keep(m.path.clone()));
        }
        Stage { modules, visits }
    }
}

/// The model's stages in construction order.
pub(crate) fn stages(c: &HfConfig) -> Result<Vec<Stage>> {
    match c.family {
        Family::Gpt2 => gpt2(c),
        Family::Bert => bert(c),
        Family::T5 => t5(c),
        _ => decoder(c),
    }
}

/// Llama, Mistral, Qwen2, Qwen3, Gemma, Gemma2 and Phi-3: `*ForCausalLM` = `model.*` (embed,
/// layers, norm) then `lm_head`.
fn decoder(c: &HfConfig) -> Result<Vec<Stage>> {
    use Family::*;
    let f = c.family;
    // Config class defaults (transformers 5.x `configuration_*.py`).
    let (vocab, hidden, inter, layers, heads, kv, head_dim, tie, pad) = match f {
        Llama => (32000, 4096, 11008, 32, 32, None, None, false, None),
        Mistral => (32000, 4096, 14336, 32, 32, Some(8), None, false, None),
        Qwen2 => (151936, 4096, 22016, 32, 32, Some(32), None, false, None),
        Qwen3 => (
            151936,
            4096,
            22016,
            32,
            32,
            Some(32),
            Some(128),
            false,
            None,
        ),
        Gemma => (
            256000,
            3072,
            24576,
            28,
            16,
            Some(16),
            Some(256),
            true,
            Some(0),
        ),
        Gemma2 => (256000, 2304, 9216, 26, 8, Some(4), Some(256), true, Some(0)),
        Phi3 => (32064, 3072, 8192, 32, 32, None, None, false, Some(32000)),
        _ => unreachable!("not a decoder family"),
    };
    let v = c.count("vocab_size", vocab)?;
    let h = c.count("hidden_size", hidden)?;
    let i = c.count("intermediate_size", inter)?;
    let l = c.count("num_hidden_layers", layers)?;
    let nh = c.count("num_attention_heads", heads)?;
    let nkv = c.count("num_key_value_heads", kv.unwrap_or(nh))?;
    let hd = c.head_dim(if f == Phi3 { None } else { head_dim }, h, nh)?;
    let tie = c.flag("tie_word_embeddings", tie)?;
    let pad = c.pad_row(pad, v)?;
    let r = c.number("initializer_range", 0.02)?;
    if !nh.is_multiple_of(nkv) {
        return Err(crate::Error::invalid(
            "num_key_value_heads",
            format!("{nkv} key/value heads do not divide num_attention_heads {nh}"),
        ));
    }
    // Qwen2: q/k/v always biased, o never; Llama, Qwen3, Gemma, Gemma2: `attention_bias`
    // on all four; Mistral and Phi-3: none.
    let attn_bias = match f {
        Llama | Qwen3 | Gemma | Gemma2 => c.flag("attention_bias", false)?,
        _ => false,
    };
    let mlp_bias = match f {
        Llama => c.flag("mlp_bias", false)?,
        _ => false,
    };
    let norm1 = if matches!(f, Gemma | Gemma2) {
        0.0
    } else {
        1.0
    };
    let lin =
        |path: String, out: u64, inp: u64, bias: bool| Module::linear(path, out, inp, bias, r);
    let mut inner = vec![Module::embedding("model.embed_tokens", v, h, pad, r)];
    for k in 0..l {
        let p = format!("model.layers.{k}");
        let a = format!("{p}.self_attn");
        if f == Phi3 {
            inner.push(lin(format!("{a}.o_proj"), h, nh * hd, false));
            inner.push(lin(format!("{a}.qkv_proj"), (nh + 2 * nkv) * hd, h, false));
        } else {
            let qkv_bias = attn_bias || f == Qwen2;
            inner.push(lin(format!("{a}.q_proj"), nh * hd, h, qkv_bias));
            inner.push(lin(format!("{a}.k_proj"), nkv * hd, h, qkv_bias));
            inner.push(lin(format!("{a}.v_proj"), nkv * hd, h, qkv_bias));
            inner.push(lin(format!("{a}.o_proj"), h, nh * hd, attn_bias));
            if f == Qwen3 {
                inner.push(Module::norm(format!("{a}.q_norm"), hd, false, 1.0));
                inner.push(Module::norm(format!("{a}.k_norm"), hd, false, 1.0));
            }
        }
        let m = format!("{p}.mlp");
        if f == Phi3 {
            inner.push(lin(format!("{m}.gate_up_proj"), 2 * i, h, false));
        } else {
            inner.push(lin(format!("{m}.gate_proj"), i, h, mlp_bias));
            inner.push(lin(format!("{m}.up_proj"), i, h, mlp_bias));
        }
        inner.push(lin(format!("{m}.down_proj"), h, i, mlp_bias));
        inner.push(Module::norm(
            format!("{p}.input_layernorm"),
            h,
            false,
            norm1,
        ));
        inner.push(Module::norm(
            format!("{p}.post_attention_layernorm"),
            h,
            false,
            norm1,
        ));
        if f == Gemma2 {
            for n in ["pre_feedforward_layernorm", "post_feedforward_layernorm"] {
                inner.push(Module::norm(format!("{p}.{n}"), h, false, norm1));
            }
        }
    }
    inner.push(Module::norm("model.norm", h, false, norm1));
    let head = lin("lm_head".into(), v, h, false);
    Ok(vec![
        Stage::plain(inner),
        Stage::plain(vec![if tie { head.tied() } else { head }]),
    ])
}

/// `GPT2LMHeadModel`: `transformer.*` then the (tied) `lm_head`.
fn gpt2(c: &HfConfig) -> Result<Vec<Stage>> {
    let v = c.count("vocab_size", 50257)?;
    let pos = c.count("n_positions", 1024)?;
    let h = c.count("n_embd", 768)?;
    let l = c.count("n_layer", 12)?;
    let nh = c.count("n_head", 12)?;
    let inner_dim = c.count_opt("n_inner")?.unwrap_or(4 * h);
    let r = c.number("initializer_range", 0.02)?;
    let tie = c.flag("tie_word_embeddings", true)?;
    if !h.is_multiple_of(nh) {
        return Err(crate::Error::invalid(
            "n_head",
            format!("{nh} heads do not divide n_embd {h}"),
        ));
    }
    if c.flag("add_cross_attention", false)? {
        return Err(crate::Error::invalid(
            "add_cross_attention",
            "GPT-2 with cross-attention is not supported",
        ));
    }
    let proj_std = r / ((2 * l) as f64).sqrt();
    let conv = |path: String, nx: u64, nf: u64| Module::new(path, Kind::Conv1D { nx, nf }, r);
    let emb = |path: &str, rows: u64| Module::embedding(path, rows, h, None, r);
    let mut m = vec![emb("transformer.wte", v), emb("transformer.wpe", pos)];
    for k in 0..l {
        let p = format!("transformer.h.{k}");
        m.push(Module::norm(format!("{p}.ln_1"), h, true, 1.0));
        m.push(conv(format!("{p}.attn.c_attn"), h, 3 * h));
        let mut proj = conv(format!("{p}.attn.c_proj"), h, h);
        proj.redraw = Some(proj_std);
        m.push(proj);
        m.push(Module::norm(format!("{p}.ln_2"), h, true, 1.0));
        m.push(conv(format!("{p}.mlp.c_fc"), h, inner_dim));
        let mut proj = conv(format!("{p}.mlp.c_proj"), inner_dim, h);
        proj.redraw = Some(proj_std);
        m.push(proj);
    }
    m.push(Module::norm("transformer.ln_f", h, true, 1.0));
    let head = Module::linear("lm_head", v, h, false, r);
    Ok(vec![
        Stage::plain(m),
        Stage::plain(vec![if tie { head.tied() } else { head }]),
    ])
}

/// `BertModel` (with pooler, no prefix) or `BertForMaskedLM` (`bert.*` without pooler, then
/// the MLM head whose decoder is tied to the word embeddings).
fn bert(c: &HfConfig) -> Result<Vec<Stage>> {
    let mlm = c.architecture == "BertForMaskedLM";
    let v = c.count("vocab_size", 30522)?;
    let h = c.count("hidden_size", 768)?;
    let l = c.count("num_hidden_layers", 12)?;
    let nh = c.count("num_attention_heads", 12)?;
    let i = c.count("intermediate_size", 3072)?;
    let pos = c.count("max_position_embeddings", 512)?;
    let types = c.count("type_vocab_size", 2)?;
    let pad = c.pad_row(Some(0), v)?;
    let r = c.number("initializer_range", 0.02)?;
    if !h.is_multiple_of(nh) {
        return Err(crate::Error::invalid(
            "num_attention_heads",
            format!("{nh} heads do not divide hidden_size {h}"),
        ));
    }
    let pre = if mlm { "bert." } else { "" };
    let lin = |path: String, out: u64, inp: u64| Module::linear(path, out, inp, true, r);
    let emb = |name: &str, rows: u64, pad: Option<u64>| {
        Module::embedding(format!("{pre}embeddings.{name}"), rows, h, pad, r)
    };
    let mut m = vec![
        emb("word_embeddings", v, pad),
        emb("position_embeddings", pos, None),
        emb("token_type_embeddings", types, None),
        Module::norm(format!("{pre}embeddings.LayerNorm"), h, true, 1.0),
    ];
    for k in 0..l {
        let p = format!("{pre}encoder.layer.{k}");
        for n in ["query", "key", "value"] {
            m.push(lin(format!("{p}.attention.self.{n}"), h, h));
        }
        m.push(lin(format!("{p}.attention.output.dense"), h, h));
        m.push(Module::norm(
            format!("{p}.attention.output.LayerNorm"),
            h,
            true,
            1.0,
        ));
        m.push(lin(format!("{p}.intermediate.dense"), i, h));
        m.push(lin(format!("{p}.output.dense"), h, i));
        m.push(Module::norm(format!("{p}.output.LayerNorm"), h, true, 1.0));
    }
    if !mlm {
        m.push(lin("pooler.dense".into(), h, h));
        return Ok(vec![Stage::plain(m)]);
    }
    let head = vec![
        Module::new("cls.predictions", Kind::Bias { dim: v }, 0.0),
        lin("cls.predictions.transform.dense".into(), h, h),
        Module::norm("cls.predictions.transform.LayerNorm", h, true, 1.0),
        lin("cls.predictions.decoder".into(), v, h).tied(),
    ];
    Ok(vec![Stage::plain(m), Stage::plain(head)])
}

/// `T5ForConditionalGeneration`: `shared`, then the encoder and decoder stacks (each its own
/// `post_init`), then `lm_head` and the outer `post_init`. transformers 5.x runs its generic
/// `_init_weights` on every leaf `nn.Linear`/`nn.Embedding` (N(0, ·), values overwritten)
/// before T5's own, which draws a T5Attention's q, k, v, o and relative bias, or a feed-forward's
/// wi and wo, when the parent module is visited (children first). The outer pass draws
/// `shared` last. Located word by word against the reference checkpoint (fixtures/hf/t5).
fn t5(c: &HfConfig) -> Result<Vec<Stage>> {
    let v = c.count("vocab_size", 32128)?;
    let d = c.count("d_model", 512)?;
    let kv = c.count("d_kv", 64)?;
    let ff = c.count("d_ff", 2048)?;
    let l = c.count("num_layers", 6)?;
    let dl = c.count_opt("num_decoder_layers")?.unwrap_or(l);
    let nh = c.count("num_heads", 8)?;
    let buckets = c.count("relative_attention_num_buckets", 32)?;
    let f = c.number("initializer_factor", 1.0)?;
    // transformers 5.24's T5Config always ties the head to `shared`: an input
    // `tie_word_embeddings: false` only turns off the decoder output scaling
    // (`scale_decoder_outputs`), so lm_head is still tied and not saved.
    c.flag("tie_word_embeddings", true)?;
    let tie = true;
    let proj = c.text("feed_forward_proj", "relu")?;
    let gated = match proj.split('-').collect::<Vec<_>>().as_slice() {
        [_] => false,
        ["gated", _] => true,
        _ => {
            return Err(crate::Error::invalid(
                "feed_forward_proj",
                format!("`{proj}` is not ACT or gated-ACT"),
            ));
        }
    };
    let dm = d as f64;
    // The generic init's std: `initializer_range` if the config has one (values discarded).
    let generic = c.number("initializer_range", 0.02)?;
    let lin =
        |path: String, out: u64, inp: u64, std: f64| Module::linear(path, out, inp, false, std);
    let emb =
        |path: &str, rows: u64, cols: u64, std: f64| Module::embedding(path, rows, cols, None, std);
    // A parent module's leaves: generic draws for all of them, then T5's kept draws.
    let group = |st: &mut Stage, leaves: Vec<Module>| {
        for m in &leaves {
            st.visits.push(Visit::Discard(m.path.clone(), generic));
        }
        for m in &leaves {
            st.visits.push(Visit::Keep(m.path.clone()));
        }
        st.modules.extend(leaves);
    };
    let stack = |name: &str, layers: u64, decoder: bool| {
        let mut st = Stage::default();
        let embed = emb(&format!("{name}.embed_tokens"), v, d, f).tied();
        st.visits.push(Visit::Discard(embed.path.clone(), generic));
        st.modules.push(embed);
        for k in 0..layers {
            let p = format!("{name}.block.{k}.layer");
            let attn = |st: &mut Stage, a: String, rel: bool| {
                let mut leaves = vec![
                    lin(
                        format!("{a}.q"),
                        nh * kv,
                        d,
                        f * (dm * kv as f64).powf(-0.5),
                    ),
                    lin(format!("{a}.k"), nh * kv, d, f * dm.powf(-0.5)),
                    lin(format!("{a}.v"), nh * kv, d, f * dm.powf(-0.5)),
                    lin(
                        format!("{a}.o"),
                        d,
                        nh * kv,
                        f * ((nh * kv) as f64).powf(-0.5),
                    ),
                ];
                if rel {
                    leaves.push(emb(
                        &format!("{a}.relative_attention_bias"),
                        buckets,
                        nh,
                        f * dm.powf(-0.5),
                    ));
                }
                group(st, leaves);
            };
            attn(&mut st, format!("{p}.0.SelfAttention"), k == 0);
            st.modules
                .push(Module::norm(format!("{p}.0.layer_norm"), d, false, f));
            let mut ffi = 1;
            if decoder {
                attn(&mut st, format!("{p}.1.EncDecAttention"), false);
                st.modules
                    .push(Module::norm(format!("{p}.1.layer_norm"), d, false, f));
                ffi = 2;
            }
            let ffp = format!("{p}.{ffi}.DenseReluDense");
            let mut leaves = if gated {
                vec![
                    lin(format!("{ffp}.wi_0"), ff, d, f * dm.powf(-0.5)),
                    lin(format!("{ffp}.wi_1"), ff, d, f * dm.powf(-0.5)),
                ]
            } else {
                vec![lin(format!("{ffp}.wi"), ff, d, f * dm.powf(-0.5))]
            };
            leaves.push(lin(format!("{ffp}.wo"), d, ff, f * (ff as f64).powf(-0.5)));
            group(&mut st, leaves);
            st.modules
                .push(Module::norm(format!("{p}.{ffi}.layer_norm"), d, false, f));
        }
        st.modules.push(Module::norm(
            format!("{name}.final_layer_norm"),
            d,
            false,
            f,
        ));
        st
    };
    let shared = emb("shared", v, d, f);
    let head = lin("lm_head".into(), v, d, f);
    let head = if tie { head.tied() } else { head };
    // The outer pass: shared and lm_head (leaves, generic), then T5's draws on the outer
    // model: shared, and lm_head when untied.
    let mut visits = vec![
        Visit::Discard("shared".into(), generic),
        Visit::Discard("lm_head".into(), generic),
        Visit::Keep("shared".into()),
    ];
    if !tie {
        visits.push(Visit::Keep("lm_head".into()));
    }
    Ok(vec![
        Stage {
            modules: vec![shared],
            visits: Vec::new(),
        },
        stack("encoder", l, false),
        stack("decoder", dl, true),
        Stage {
            modules: vec![head],
            visits,
        },
    ])
}
