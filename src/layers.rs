//! Layers: specs of framework modules, and their expansion into the exact tensors (names,
//! shapes, dtypes, default schemes) of PyTorch's `state_dict()` or a Keras layer's weights.
//!
//! Owns: the layer catalogue and its parameters (PyTorch constructor names), the layouts and
//! names per convention, and which scheme each tensor gets by default. Does not own: resolving
//! schemes (`plan`, `scheme`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fans::{Convention, fans};
use crate::params::{ParamSet, TensorSpec};
use crate::scheme::{Role, Scheme};
use std::collections::BTreeMap;
use std::fmt;

/// A layer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Linear,
    /// `conv{nd}d`, or `conv_transpose{nd}d` when `transposed`.
    Conv {
        nd: usize,
        transposed: bool,
    },
    Embedding,
    LayerNorm,
    RmsNorm,
    BatchNorm,
    GroupNorm,
}

impl LayerKind {
    const NAMES: [&'static str; 11] = [
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "embedding",
        "layer_norm",
        "rms_norm",
        "batch_norm",
    ];

    /// Parse a type name (`linear`, `conv2d`, `batch_norm2d`, `LayerNorm`, …).
    pub fn parse(s: &str) -> Result<LayerKind> {
        let k = s.trim().to_ascii_lowercase().replace('-', "_");
        let conv = |rest: &str, transposed| -> Option<LayerKind> {
            let nd = match rest {
                "1d" => 1,
                "2d" => 2,
                "3d" => 3,
                _ => return None,
            };
            Some(LayerKind::Conv { nd, transposed })
        };
        let kind = match k.as_str() {
            "linear" | "dense" => Some(LayerKind::Linear),
            "embedding" => Some(LayerKind::Embedding),
            "layer_norm" | "layernorm" => Some(LayerKind::LayerNorm),
            "rms_norm" | "rmsnorm" => Some(LayerKind::RmsNorm),
            "batch_norm" | "batch_norm1d" | "batch_norm2d" | "batch_norm3d" | "batchnorm1d"
            | "batchnorm2d" | "batchnorm3d" => Some(LayerKind::BatchNorm),
            "group_norm" | "groupnorm" => Some(LayerKind::GroupNorm),
            _ => k
                .strip_prefix("conv_transpose")
                .or_else(|| k.strip_prefix("convtranspose"))
                .and_then(|r| conv(r, true))
                .or_else(|| k.strip_prefix("conv").and_then(|r| conv(r, false))),
        };
        kind.ok_or_else(|| {
            let aliases = [
                "dense",
                "layernorm",
                "rmsnorm",
                "batch_norm1d",
                "batch_norm2d",
                "batch_norm3d",
                "groupnorm",
            ];
            let mut all = LayerKind::NAMES.to_vec();
            all.push("group_norm");
            all.extend(aliases);
            Error::invalid(
                "",
                format!(
                    "unknown layer type `{s}`{} (valid: {}, group_norm; also PyTorch's class names: Linear, Conv2d, ConvTranspose2d, LayerNorm, RMSNorm, BatchNorm2d, GroupNorm, …, and dense)",
                    crate::names::did_you_mean(s, &all),
                    LayerKind::NAMES.join(", ")
                ),
            )
        })
    }

    /// Integer parameters: (name, required, may be a list).
    pub fn dims(self) -> &'static [(&'static str, bool, bool)] {
        match self {
            LayerKind::Linear => &[("in_features", true, false), ("out_features", true, false)],
            LayerKind::Conv { .. } => &[
                ("in_channels", true, false),
                ("out_channels", true, false),
                ("kernel_size", true, true),
                ("groups", false, false),
            ],
            LayerKind::Embedding => &[
                ("num_embeddings", true, false),
                ("embedding_dim", true, false),
            ],
            LayerKind::LayerNorm | LayerKind::RmsNorm => &[("normalized_shape", true, true)],
            LayerKind::BatchNorm => &[("num_features", true, false)],
            LayerKind::GroupNorm => &[("num_groups", true, false), ("num_channels", true, false)],
        }
    }

    /// Whether `"bias": false` / `"bias": {…}` applies.
    pub fn has_optional_bias(self) -> bool {
        matches!(
            self,
            LayerKind::Linear | LayerKind::Conv { .. } | LayerKind::LayerNorm
        )
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerKind::Conv { nd, transposed } => {
                write!(
                    f,
                    "{}{nd}d",
                    if *transposed {
                        "conv_transpose"
                    } else {
                        "conv"
                    }
                )
            }
            LayerKind::Linear => f.write_str("linear"),
            LayerKind::Embedding => f.write_str("embedding"),
            LayerKind::LayerNorm => f.write_str("layer_norm"),
            LayerKind::RmsNorm => f.write_str("rms_norm"),
            LayerKind::BatchNorm => f.write_str("batch_norm"),
            LayerKind::GroupNorm => f.write_str("group_norm"),
        }
    }
}

/// The bias a layer asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum BiasSpec {
    /// Not said: the layer's default (present, `zeros`, or `torch_default` when the weight is).
    #[default]
    Default,
    /// `"bias": false`.
    Off,
    /// `"bias": {"scheme": …}`.
    With(Box<ParamSet>),
}

/// One layer of a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    pub kind: LayerKind,
    /// Module name; the tensors are `NAME.weight` etc., or bare `weight` when empty.
    pub name: String,
    pub dtype: Option<DType>,
    /// The weight's scheme and parameters (the layer's own keys, then `"weight": {…}`).
    pub weight: ParamSet,
    pub bias: BiasSpec,
    /// Integer parameters by name (`kernel_size` may have several values).
    pub dims: BTreeMap<&'static str, Vec<u64>>,
    /// Where it was given: `layers[2]`.
    pub origin: String,
}

impl LayerSpec {
    fn dim(&self, key: &str) -> u64 {
        self.dims.get(key).map_or(1, |v| v[0])
    }

    fn list(&self, key: &str, n: usize) -> Result<Vec<u64>> {
        let v = self.dims.get(key).cloned().unwrap_or_default();
        match v.len() {
            1 if n > 1 => Ok(vec![v[0]; n]),
            len if len == n => Ok(v),
            len => Err(Error::invalid(
                format!("{}.{key}", self.origin),
                format!("{} takes {n} values or one, got {len}", self.kind),
            )),
        }
    }

    fn error(&self, msg: String) -> Error {
        Error::invalid(self.origin.clone(), msg)
    }

    /// The layer's integer parameters, typed for its kind and checked against each other: the
    /// one place that reads [`LayerSpec::dims`] by name.
    fn config(&self) -> Result<Config> {
        match self.kind {
            LayerKind::Linear => Ok(Config::Affine(Affine {
                cin: self.dim("in_features"),
                cout: self.dim("out_features"),
                groups: self.dim("groups"),
                kernel: self.list("kernel_size", 0)?,
                transposed: false,
            })),
            LayerKind::Conv { nd, transposed } => {
                let (cin, cout) = (self.dim("in_channels"), self.dim("out_channels"));
                let groups = self.dim("groups");
                let kernel = self.list("kernel_size", nd)?;
                if groups == 0 || cin % groups != 0 || cout % groups != 0 {
                    return Err(self.error(format!(
                        "groups ({groups}) must divide in_channels ({cin}) and out_channels ({cout})"
                    )));
                }
                if kernel.contains(&0) {
                    return Err(self.error("kernel_size must be ≥ 1".into()));
                }
                Ok(Config::Affine(Affine {
                    cin,
                    cout,
                    groups,
                    kernel,
                    transposed,
                }))
            }
            LayerKind::Embedding => Ok(Config::Embedding {
                num_embeddings: self.dim("num_embeddings"),
                embedding_dim: self.dim("embedding_dim"),
            }),
            LayerKind::LayerNorm | LayerKind::RmsNorm => Ok(Config::Norm {
                shape: self.dims["normalized_shape"].clone(),
            }),
            LayerKind::BatchNorm => Ok(Config::Norm {
                shape: vec![self.dim("num_features")],
            }),
            LayerKind::GroupNorm => {
                let (g, c) = (self.dim("num_groups"), self.dim("num_channels"));
                if g == 0 || c % g != 0 {
                    return Err(
                        self.error(format!("num_groups ({g}) must divide num_channels ({c})"))
                    );
                }
                Ok(Config::Norm { shape: vec![c] })
            }
        }
    }

    /// A norm or embedding parameter: the framework default unless the layer says otherwise.
    fn own_or(&self, default: ParamSet) -> ParamSet {
        if self.weight.scheme.is_some() || !self.weight.origins.is_empty() {
            self.weight.clone()
        } else {
            default
        }
    }
}

/// A layer's integer parameters, by kind.
enum Config {
    /// `linear` and `conv*`.
    Affine(Affine),
    Embedding {
        num_embeddings: u64,
        embedding_dim: u64,
    },
    /// Every norm: the shape of its scale (and bias, and BatchNorm's running statistics).
    Norm { shape: Vec<u64> },
}

/// A linear layer (no kernel, one group) or a convolution.
struct Affine {
    cin: u64,
    cout: u64,
    groups: u64,
    /// One size per spatial dimension; empty for `linear`.
    kernel: Vec<u64>,
    transposed: bool,
}

impl Affine {
    /// The weight's layout: torch [out, in/groups, *k] (transposed: [in, out/groups, *k]);
    /// keras [in, out] / [*k, in/groups, out] (transposed: [*k, out, in]).
    fn weight_shape(&self, keras: bool, layer: &LayerSpec) -> Result<Vec<u64>> {
        let Affine {
            cin,
            cout,
            groups,
            ref kernel,
            transposed,
        } = *self;
        let k = kernel.clone();
        Ok(match (keras, kernel.is_empty(), transposed) {
            (false, true, _) => vec![cout, cin],
            (true, true, _) => vec![cin, cout],
            (false, false, false) => [vec![cout, cin / groups], k].concat(),
            (false, false, true) => [vec![cin, cout / groups], k].concat(),
            (true, false, false) => [k, vec![cin / groups, cout]].concat(),
            (true, false, true) => {
                if groups != 1 {
                    return Err(layer.error(
                        "Keras' transposed convolutions have no groups; use `convention` torch"
                            .into(),
                    ));
                }
                [k, vec![cout, cin]].concat()
            }
        })
    }
}

/// The tensors of one layer, as they are pushed.
struct Tensors<'a> {
    layer: &'a LayerSpec,
    out: Vec<TensorSpec>,
}

impl Tensors<'_> {
    fn push(&mut self, leaf: &str, shape: Vec<u64>, params: ParamSet, role: Role, inherit: bool) {
        let name = join(&self.layer.name, leaf);
        self.out.push(TensorSpec {
            origin: format!("{} ({name})", self.layer.origin),
            name,
            shape,
            dtype: self.layer.dtype,
            params,
            role,
            inherit,
        });
    }
}

fn join(name: &str, leaf: &str) -> String {
    if name.is_empty() {
        leaf.to_string()
    } else {
        format!("{name}.{leaf}")
    }
}

fn constant(scheme: Scheme) -> ParamSet {
    ParamSet {
        scheme: Some(scheme),
        scheme_origin: "layer default".into(),
        ..Default::default()
    }
}

/// The tensors of `layer` under `convention`. `default_scheme` is the scheme a layer weight
/// inherits (spec top level or flag), used to decide the default of its bias.
pub(crate) fn expand(
    layer: &LayerSpec,
    convention: Convention,
    default_scheme: Option<Scheme>,
) -> Result<Vec<TensorSpec>> {
    let keras = convention == Convention::Keras;
    let mut t = Tensors {
        layer,
        out: Vec::new(),
    };
    match layer.config()? {
        Config::Affine(a) => affine(&mut t, &a, convention, default_scheme)?,
        Config::Embedding {
            num_embeddings,
            embedding_dim,
        } => embedding(&mut t, vec![num_embeddings, embedding_dim], keras),
        Config::Norm { shape } => norm(&mut t, shape, keras),
    }
    Ok(t.out)
}

/// `linear` and `conv*`: the weight (kernel), then the bias unless it is off.
fn affine(
    t: &mut Tensors,
    a: &Affine,
    convention: Convention,
    default_scheme: Option<Scheme>,
) -> Result<()> {
    let layer = t.layer;
    let keras = convention == Convention::Keras;
    let shape = a.weight_shape(keras, layer)?;
    let weight_scheme = layer.weight.scheme.or(default_scheme);
    let mut weight = layer.weight.clone();
    // dirac on a grouped conv: the layer's groups, unless given for the weight.
    if weight_scheme == Some(Scheme::Dirac) && weight.values.groups.is_none() && a.groups != 1 {
        weight.values.groups = Some(a.groups);
    }
    let weight_fan_in = fans(&shape, convention)?.fan_in;
    let leaf = if keras { "kernel" } else { "weight" };
    t.push(leaf, shape, weight, Role::Weight, true);
    let bias = match &layer.bias {
        BiasSpec::Off => None,
        BiasSpec::With(p) => Some((**p).clone()),
        BiasSpec::Default if weight_scheme == Some(Scheme::TorchDefault) => {
            Some(constant(Scheme::TorchDefault))
        }
        BiasSpec::Default => Some(constant(Scheme::Zeros)),
    };
    if let Some(p) = bias {
        t.push("bias", vec![a.cout], p, Role::Bias { weight_fan_in }, false);
    }
    Ok(())
}

/// `embedding`: torch's nn.Embedding normal_(0, 1); keras' Embedding "uniform" = U(±0.05).
fn embedding(t: &mut Tensors, shape: Vec<u64>, keras: bool) {
    let default = if keras {
        let mut p = constant(Scheme::Uniform);
        p.values.low = Some(-0.05);
        p.values.high = Some(0.05);
        p
    } else {
        constant(Scheme::TorchDefault)
    };
    let leaf = if keras { "embeddings" } else { "weight" };
    let params = t.layer.own_or(default);
    t.push(leaf, shape, params, Role::Embedding, false);
}

/// Every norm: the scale, the bias (not RMSNorm's, not when off), BatchNorm's statistics.
fn norm(t: &mut Tensors, shape: Vec<u64>, keras: bool) {
    let layer = t.layer;
    let scale_leaf = match (keras, layer.kind) {
        (false, _) => "weight",
        (true, LayerKind::RmsNorm) => "scale",
        (true, _) => "gamma",
    };
    let scale = layer.own_or(constant(Scheme::Ones));
    t.push(scale_leaf, shape.clone(), scale, Role::NormWeight, false);
    if layer.kind != LayerKind::RmsNorm && layer.bias != BiasSpec::Off {
        let p = match &layer.bias {
            BiasSpec::With(p) => (**p).clone(),
            _ => constant(Scheme::Zeros),
        };
        let leaf = if keras { "beta" } else { "bias" };
        t.push(leaf, shape.clone(), p, Role::NormBias, false);
    }
    if layer.kind == LayerKind::BatchNorm {
        batch_norm_statistics(t, shape, keras);
    }
}

/// BatchNorm's running mean and variance, and (torch) its batch counter.
fn batch_norm_statistics(t: &mut Tensors, shape: Vec<u64>, keras: bool) {
    let (mean, var) = if keras {
        ("moving_mean", "moving_variance")
    } else {
        ("running_mean", "running_var")
    };
    let zeros = || constant(Scheme::Zeros);
    t.push(mean, shape.clone(), zeros(), Role::NormBias, false);
    t.push(var, shape, constant(Scheme::Ones), Role::NormWeight, false);
    if !keras {
        t.push(
            "num_batches_tracked",
            vec![],
            zeros(),
            Role::NormBias,
            false,
        );
        // PyTorch's BatchNorm counter is an int64 scalar whatever the layer's dtype.
        t.out.last_mut().expect("just pushed").dtype = Some(DType::I64);
    }
}

/// The linear layers of `nn.Sequential(Linear, act, Linear, act, …, Linear)` for widths
/// `a,b,c,…`: named `0`, `2`, `4`, … as that Sequential names them.
pub fn mlp(widths: &[u64]) -> Result<Vec<LayerSpec>> {
    if widths.len() < 2 {
        return Err(Error::invalid(
            "mlp",
            "needs at least two widths (input and output), e.g. 784,256,10",
        ));
    }
    Ok(widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| LayerSpec {
            kind: LayerKind::Linear,
            name: (2 * i).to_string(),
            dtype: None,
            weight: ParamSet::default(),
            bias: BiasSpec::Default,
            dims: BTreeMap::from([("in_features", vec![w[0]]), ("out_features", vec![w[1]])]),
            origin: format!("mlp layer {}", 2 * i),
        })
        .collect())
}
