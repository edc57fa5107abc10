//! Models: a Hugging Face `config.json` turned into a [`Plan`] — every tensor
//! `save_pretrained` would write (names, shapes, dtype, `_init_weights` law) in `state_dict`
//! order, and the generator schedule of `torch.manual_seed(s); Auto….from_config(cfg)` for
//! `--rng torch`.
//!
//! A model is one more way to build a plan, beside layers and tensors: everything downstream
//! (streams, writers, sharding, `inspect`) is the same. Owns: the families (`arch`), config
//! reading (`config`), and the files written beside the weights (`config.json`,
//! `generation_config.json`). Does not own: drawing or writing bytes.
//!
//! Initial values, with r = `initializer_range` (transformers 5.x `_init_weights`):
//! Linear/Conv1D/Embedding weights N(0, r), biases 0, an embedding's `pad_token_id` row 0,
//! norm weights 1 (Gemma, Gemma2: 0, as their RMSNorm computes x·(1 + w)) and LayerNorm biases
//! 0; GPT-2's `c_proj` weights N(0, r/√(2·n_layer)); T5 with f = `initializer_factor`: q
//! N(0, f·(d_model·d_kv)^-½), k and v N(0, f·d_model^-½), o N(0, f·(heads·d_kv)^-½), wi
//! N(0, f·d_model^-½), wo N(0, f·d_ff^-½), relative attention bias N(0, f·d_model^-½), shared
//! embedding N(0, f), layer norms f.

pub(crate) mod arch;
pub(crate) mod config;

pub use config::load;
pub(crate) use config::{Family, HfConfig, ModelInfo};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fans::{Convention, Fans};
use crate::plan::{Plan, PlannedTensor};
use crate::scheme::{self, Role, Scheme, TensorCtx, Values};
use crate::spec::Spec;
use crate::stream::RngKind;
use crate::stream::torch::{TorchDType, TorchOp, TorchStep};
use arch::{Kind, Module, Stage, Visit};
use std::collections::BTreeMap;

/// Plan `spec`: its model's checkpoint when it names a Hugging Face config (`hf_config`),
/// else its layers and tensors ([`Plan::new`]).
pub fn plan_spec(spec: &Spec, seed: u64) -> Result<Plan> {
    let Some(model) = &spec.model else {
        return Plan::new(spec, seed);
    };
    let with = |what: &str| {
        Error::invalid(
            "hf_config",
            format!(
                "a model's tensors and values come from its config; {what} cannot be given with it"
            ),
        )
    };
    if !spec.layers.is_empty() {
        return Err(with("layers"));
    }
    if let Some(t) = spec.tensors.first() {
        return Err(with(&format!("tensors ({})", t.origin)));
    }
    if spec.defaults.scheme.is_some() {
        return Err(with(&format!("a scheme ({})", spec.defaults.scheme_origin)));
    }
    if let Some(origin) = spec.defaults.origins.values().next() {
        return Err(with(&format!("scheme parameters ({origin})")));
    }
    if spec.convention == Some(Convention::Keras) {
        return Err(with("the keras convention"));
    }
    let rng = spec.rng.unwrap_or_default().available()?;
    plan(model, spec.dtype, seed, rng, spec.metadata.clone())
}

/// The element type PyTorch computes a model's parameters in under `--rng torch`: they are
/// created in the config's dtype, so its kernels draw in that type.
fn torch_dtype(d: DType) -> TorchDType {
    match d {
        DType::F64 => TorchDType::F64,
        DType::BF16 => TorchDType::BF16,
        DType::F16 => TorchDType::F16,
        _ => TorchDType::F32,
    }
}

/// `kaiming_uniform_(w, a=√5)` on `[out, inp]` as `nn.Linear.reset_parameters` calls it: the
/// bound computed as torch/nn/init.py does in Python floats.
fn kaiming_a_sqrt5_bound(inp: u64) -> f64 {
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let std = gain / (inp as f64).sqrt();
    3f64.sqrt() * std
}

/// Builds the tensor list and the draw schedule.
struct Builder {
    dtype: DType,
    torch: TorchDType,
    tensors: Vec<PlannedTensor>,
    steps: Vec<TorchStep>,
    /// Tensor index of each saved module's weight, by module path.
    weight_of: BTreeMap<String, usize>,
}

impl Builder {
    fn discard(&mut self, op: TorchOp, numel: u64) {
        if numel > 0 {
            self.steps.push(TorchStep::Discard {
                op,
                dtype: self.torch,
                numel,
            });
        }
    }

    fn normal(std: f64) -> TorchOp {
        TorchOp::Normal { mean: 0.0, std }
    }

    /// The draws of a module's constructor.
    fn construct(&mut self, m: &Module) {
        match m.kind {
            Kind::Linear { out, inp, bias } => {
                let b = kaiming_a_sqrt5_bound(inp);
                self.discard(TorchOp::Uniform { from: -b, to: b }, m.kind.weight_numel());
                if bias {
                    let b = 1.0 / (inp as f64).sqrt();
                    self.discard(TorchOp::Uniform { from: -b, to: b }, out);
                }
            }
            Kind::Conv1D { .. } => self.discard(Builder::normal(0.02), m.kind.weight_numel()),
            Kind::Embedding { .. } => self.discard(Builder::normal(1.0), m.kind.weight_numel()),
            Kind::Norm { .. } | Kind::Bias { .. } => {}
        }
    }

    /// One draw of the init pass: the kept draw of a saved weight (its plan tensor), or one
    /// thrown away.
    fn visit(&mut self, m: &Module, v: &Visit) {
        let std = match v {
            Visit::Keep(_) => match self.weight_of.get(&m.path) {
                Some(&i) => return self.steps.push(TorchStep::Tensor(i)),
                None => kept_std(m),
            },
            Visit::Discard(_, std) => *std,
        };
        self.discard(Builder::normal(std), m.kind.weight_numel());
    }

    /// Add a saved tensor with its law.
    fn tensor(
        &mut self,
        name: String,
        shape: Vec<u64>,
        law: Law,
        zeroed: Option<(u64, u64)>,
    ) -> Result<()> {
        let size = self.dtype.size() as u64;
        let numel = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|n| n.checked_mul(size).is_some())
            .ok_or_else(|| {
                Error::invalid(
                    format!("tensor `{name}`"),
                    format!("shape {shape:?} has more bytes than fit in 64 bits"),
                )
            })?;
        let (scheme, values) = match law {
            Law::Normal(std) => (
                Scheme::Normal,
                Values {
                    mean: Some(0.0),
                    std: Some(std),
                    ..Values::default()
                },
            ),
            Law::Constant(0.0) => (Scheme::Zeros, Values::default()),
            Law::Constant(1.0) => (Scheme::Ones, Values::default()),
            Law::Constant(v) => (
                Scheme::Constant,
                Values {
                    value: Some(v),
                    ..Values::default()
                },
            ),
        };
        let ctx = TensorCtx {
            shape: &shape,
            numel,
            fans: Fans {
                fan_in: None,
                fan_out: None,
            },
            convention: Convention::Torch,
            role: Role::Weight,
        };
        let params = scheme::resolve_in(scheme, &values, &ctx)
            .expect("normal and constant laws resolve for any shape");
        self.tensors.push(PlannedTensor {
            name,
            bytes: numel * size,
            shape,
            dtype: self.dtype,
            scheme,
            params,
            numel,
            zeroed,
            torch_dtype: Some(self.torch),
        });
        Ok(())
    }

    /// The saved tensors of a module, in `state_dict` order.
    fn add_module(&mut self, m: &Module) -> Result<()> {
        if !m.saved {
            return Ok(());
        }
        let w = format!("{}.weight", m.path);
        let b = format!("{}.bias", m.path);
        let kept = Law::Normal(kept_std(m));
        match m.kind {
            Kind::Linear { out, inp, bias } => {
                self.weight_of.insert(m.path.clone(), self.tensors.len());
                self.tensor(w, vec![out, inp], kept, None)?;
                if bias {
                    self.tensor(b, vec![out], Law::Constant(0.0), None)?;
                }
            }
            Kind::Conv1D { nx, nf } => {
                self.weight_of.insert(m.path.clone(), self.tensors.len());
                self.tensor(w, vec![nx, nf], kept, None)?;
                self.tensor(b, vec![nf], Law::Constant(0.0), None)?;
            }
            Kind::Embedding { rows, cols, pad } => {
                self.weight_of.insert(m.path.clone(), self.tensors.len());
                let zeroed = pad.map(|p| (p * cols, (p + 1) * cols)); // p < rows: checked
                self.tensor(w, vec![rows, cols], kept, zeroed)?;
            }
            Kind::Norm { dim, bias } => {
                self.tensor(w, vec![dim], Law::Constant(m.norm_value), None)?;
                if bias {
                    self.tensor(b, vec![dim], Law::Constant(0.0), None)?;
                }
            }
            Kind::Bias { dim } => self.tensor(b, vec![dim], Law::Constant(0.0), None)?,
        }
        Ok(())
    }
}

/// The std of the draw a module's weight keeps (the redraw's, if any).
fn kept_std(m: &Module) -> f64 {
    m.redraw.unwrap_or(m.std)
}

#[derive(Debug, Clone, Copy)]
enum Law {
    Normal(f64),
    Constant(f64),
}

/// The plan of `config`'s checkpoint: tensors in `state_dict` order, in `dtype` (the config's
/// when `None`), the `from_config` draw schedule, and the files written beside the weights.
pub(crate) fn plan(
    config: &HfConfig,
    dtype: Option<DType>,
    seed: u64,
    rng: RngKind,
    metadata: BTreeMap<String, String>,
) -> Result<Plan> {
    plan_of(config, dtype, seed, rng, metadata).map_err(|e| match e {
        // Name the config file, as its parse errors do.
        Error::Invalid { where_, msg } => {
            Error::invalid(format!("hf config {}: {where_}", config.source), msg)
        }
        o => o,
    })
}

fn plan_of(
    config: &HfConfig,
    dtype: Option<DType>,
    seed: u64,
    rng: RngKind,
    metadata: BTreeMap<String, String>,
) -> Result<Plan> {
    let dtype = match dtype {
        Some(d) => d,
        None => config.dtype()?,
    };
    if !dtype.is_float() {
        return Err(Error::invalid(
            "dtype",
            format!("a model's parameters are floating point, not {dtype}"),
        ));
    }
    let stages: Vec<Stage> = arch::stages(config)?;
    let mut b = Builder {
        dtype,
        torch: torch_dtype(dtype),
        tensors: Vec::new(),
        steps: Vec::new(),
        weight_of: BTreeMap::new(),
    };
    for s in &stages {
        for m in &s.modules {
            b.add_module(m)?;
        }
    }
    check_sizes(&b.tensors)?;
    let by_path: BTreeMap<&str, &Module> = stages
        .iter()
        .flat_map(|s| &s.modules)
        .map(|m| (m.path.as_str(), m))
        .collect();
    for s in &stages {
        for m in &s.modules {
            b.construct(m);
        }
        for v in &s.visits {
            let (Visit::Discard(path, _) | Visit::Keep(path)) = v;
            b.visit(by_path[path.as_str()], v);
        }
    }
    let generation = config.generation_config(&generation_defaults(config.family))?;
    let mut files = vec![("config.json".to_string(), config.written(dtype))];
    if let Some(g) = generation {
        files.push(("generation_config.json".to_string(), g));
    }
    let mut metadata = metadata;
    metadata.insert(
        "weightgen.model".into(),
        format!("{} ({})", config.architecture, config.family.model_type()),
    );
    Ok(Plan {
        seed,
        rng,
        convention: Convention::Torch,
        metadata,
        tensors: b.tensors,
        torch_steps: Some(b.steps),
        model: Some(ModelInfo {
            family: config.family,
            architecture: config.architecture.clone(),
            files,
        }),
    })
}

/// Token ids `generation_config.json` copies from the config, with the config class's
/// defaults.
fn generation_defaults(f: Family) -> Vec<(&'static str, Option<u64>)> {
    use Family::*;
    match f {
        Llama | Mistral => vec![
            ("bos_token_id", Some(1)),
            ("eos_token_id", Some(2)),
            ("pad_token_id", None),
        ],
        Gemma | Gemma2 => vec![
            ("bos_token_id", Some(2)),
            ("eos_token_id", Some(1)),
            ("pad_token_id", Some(0)),
        ],
        Phi3 => vec![
            ("bos_token_id", Some(1)),
            ("eos_token_id", Some(32000)),
            ("pad_token_id", Some(32000)),
        ],
        Qwen2 | Qwen3 => vec![
            ("bos_token_id", None),
            ("eos_token_id", None),
            ("pad_token_id", None),
        ],
        Gpt2 => vec![
            ("bos_token_id", Some(50256)),
            ("eos_token_id", Some(50256)),
            ("pad_token_id", None),
        ],
        T5 => vec![
            ("decoder_start_token_id", Some(0)),
            ("eos_token_id", Some(1)),
            ("pad_token_id", Some(0)),
        ],
        Bert => vec![("pad_token_id", Some(0))],
    }
}

/// The model's total size must fit in 64 bits (each tensor's was checked as it was added).
fn check_sizes(tensors: &[PlannedTensor]) -> Result<()> {
    match tensors.iter().try_fold(0u64, |a, t| a.checked_add(t.bytes)) {
        Some(_) => Ok(()),
        None => Err(Error::invalid(
            "config",
            "the model's size in bytes does not fit in 64 bits",
        )),
    }
}
