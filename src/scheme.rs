//! The scheme catalogue: names, aliases, parameters, and the formulas that turn a scheme, its
//! parameters and a tensor's fans into a concrete [`Distribution`].
//!
//! Owns: the maths from fans and gains to bounds and standard deviations, as pure functions in
//! f64 that follow each framework's own operation order (so that f64 outputs match PyTorch or
//! Keras bit for bit, and f32 outputs are that f64 number rounded once). Does not own: drawing
//! values (`stream`), nor deciding which parameters apply to which tensor (`plan`).
//!
//! Sources: docs/init-schemes.md §1.2–1.5 (PyTorch `torch/nn/init.py`), §2 (Keras 3
//! `keras/src/initializers/random_initializers.py`), §3 (JAX `jax/_src/nn/initializers.py`),
//! §4 (where they differ), §5 (the papers), Appendix A (constants).

use crate::error::{Error, Result};
use crate::fans::{Convention, Fans};
use crate::names::Choice;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Std of a standard normal truncated to (−2, 2): √(1 − 4φ(2)/(2Φ(2) − 1)). Keras and JAX divide
/// by it so that the *truncated* distribution has the target std (keras-team/keras#8048).
#[allow(clippy::excessive_precision)] // the literal Keras and JAX write
pub const TRUNC_STD_2SIGMA: f64 = 0.879_625_661_034_239_78;

/// A concrete distribution with plain numbers: what the stream draws from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    /// Every element equals `value`.
    Constant { value: f64 },
    /// U[low, high].
    Uniform { low: f64, high: f64 },
    /// N(mean, std²), untruncated.
    Normal { mean: f64, std: f64 },
    /// N(mean, std²) conditioned on low ≤ x ≤ high (absolute bounds; `std` is the underlying
    /// normal's, not the truncated one's).
    TruncatedNormal {
        mean: f64,
        std: f64,
        low: f64,
        high: f64,
    },
    /// `gain · Q`, Q from the QR decomposition of a (rows × cols) standard Gaussian matrix with
    /// its columns multiplied by sign(diag R) (Mezzadri 2007), transposed when rows < cols;
    /// reshaped to the tensor in C order.
    Orthogonal { gain: f64, rows: u64, cols: u64 },
    /// A 2-D tensor with `gain` on the diagonal and 0 elsewhere.
    Eye { gain: f64 },
    /// PyTorch's `dirac_`: 1 at [g·(out/groups) + d, d, k₁//2, k₂//2, …] for d < min(out/groups,
    /// in), 0 elsewhere; with `channels_last` (keras layout `[*k, in, out]`) the same identity on
    /// those axes.
    Dirac { groups: u64, channels_last: bool },
    /// PyTorch's `sparse_`: N(0, std²), then `zeros_per_column` = ⌈sparsity·rows⌉ zeros in every
    /// column, at rows chosen uniformly at random.
    Sparse { std: f64, zeros_per_column: u64 },
}

impl Distribution {
    /// True when values need random draws.
    pub fn is_random(&self) -> bool {
        match *self {
            Distribution::Constant { .. } => false,
            Distribution::Uniform { low, high } => low != high,
            Distribution::Normal { std, .. } => std != 0.0,
            Distribution::TruncatedNormal { std, low, high, .. } => std != 0.0 && low != high,
            Distribution::Orthogonal { gain, .. } => gain != 0.0,
            Distribution::Eye { .. } | Distribution::Dirac { .. } => false,
            Distribution::Sparse { std, .. } => std != 0.0,
        }
    }
}

/// Every scheme in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// 0. `torch.nn.init.zeros_`; Keras `Zeros`.
    Zeros,
    /// 1. `torch.nn.init.ones_`; Keras `Ones`.
    Ones,
    /// `value`. `torch.nn.init.constant_`; Keras `Constant`.
    Constant,
    /// U[low, high], defaults 0 and 1. `torch.nn.init.uniform_`.
    Uniform,
    /// N(mean, std²), defaults 0 and 1. `torch.nn.init.normal_`.
    Normal,
    /// N(mean, std²) restricted to absolute bounds [low, high] (default mean ± 2·std), no std
    /// correction. `torch.nn.init.trunc_normal_` (whose own defaults are ±2 absolute); Keras
    /// `TruncatedNormal`. Burkardt, "The truncated normal distribution".
    TruncatedNormal,
    /// Glorot & Bengio (2010), eq. 16: U(±gain·√(6/(fan_in+fan_out))), computed as
    /// `torch.nn.init.xavier_uniform_` does (`√3 · gain·√(2/(fan_in+fan_out))`).
    XavierUniform,
    /// Glorot & Bengio (2010): N(0, gain²·2/(fan_in+fan_out)), `torch.nn.init.xavier_normal_`;
    /// under keras `GlorotNormal`, truncated at ±2σ with σ corrected by 1/0.8796….
    XavierNormal,
    /// He et al. (2015), "Delving Deep into Rectifiers": U(±√3·gain/√fan),
    /// `torch.nn.init.kaiming_uniform_`; Keras `HeUniform`.
    KaimingUniform,
    /// He et al. (2015): N(0, gain²/fan), `torch.nn.init.kaiming_normal_`; Keras `HeNormal`
    /// (truncated) under keras.
    KaimingNormal,
    /// LeCun et al. (1998), "Efficient BackProp" §4.6: U(±√(3/fan_in)); Keras `LecunUniform`.
    LecunUniform,
    /// LeCun et al. (1998); Klambauer et al. (2017): N(0, 1/fan_in); Keras `LecunNormal`
    /// (truncated) under keras.
    LecunNormal,
    /// Keras `VarianceScaling` / `jax.nn.initializers.variance_scaling`: variance scale/n with
    /// n = fan_in, fan_out, their mean, or (JAX) their geometric mean.
    VarianceScaling,
    /// Glorot & Bengio (2010), eq. 1, the "standard" heuristic U(±1/√fan_in); also PyTorch's
    /// default `nn.Linear`/`nn.Conv*` weight init, `kaiming_uniform_(a=√5)`, whose operation
    /// order it follows.
    Standard,
    /// Saxe et al. (2014): a random orthogonal matrix (Haar, via QR of a Gaussian with the
    /// sign fix of Mezzadri 2007) times `gain`; `torch.nn.init.orthogonal_`, Keras `Orthogonal`.
    Orthogonal,
    /// The identity (2-D), times `gain`; `torch.nn.init.eye_`, Keras `Identity`.
    Eye,
    /// The convolution identity; `torch.nn.init.dirac_` (centre k//2, `groups`).
    Dirac,
    /// Martens (2010) as PyTorch implements it, `torch.nn.init.sparse_`: N(0, std²) with
    /// ⌈sparsity·rows⌉ zeros per column.
    Sparse,
    /// What PyTorch modules do at construction (docs/init-schemes.md §1.5): Linear/Conv weights
    /// `kaiming_uniform_(a=√5)` = U(±1/√fan_in), biases U(±1/√fan_in) with the weight's fan_in
    /// (`weight.size(1)·k` for transposed convs), Embedding N(0, 1), norms ones/zeros.
    TorchDefault,
}

/// What a [`Param`]'s value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamValue {
    /// A real number, possibly negative.
    Real,
    /// A positive integer.
    Count,
    /// One of a [`Choice`]'s names.
    Name(Choice),
}

/// A scheme parameter, by its canonical (JSON) name. The command-line flag is the same name with
/// `-` for `_` (`negative_slope` ↔ `--negative-slope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Param {
    Gain,
    Mode,
    Nonlinearity,
    NegativeSlope,
    Scale,
    Distribution,
    Mean,
    Std,
    Low,
    High,
    Value,
    Sparsity,
    Groups,
    FanIn,
    FanOut,
}

impl Param {
    pub const ALL: [Param; 15] = [
        Param::Gain,
        Param::Mode,
        Param::Nonlinearity,
        Param::NegativeSlope,
        Param::Scale,
        Param::Distribution,
        Param::Mean,
        Param::Std,
        Param::Low,
        Param::High,
        Param::Value,
        Param::Sparsity,
        Param::Groups,
        Param::FanIn,
        Param::FanOut,
    ];

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Param::Gain => "gain",
            Param::Mode => "mode",
            Param::Nonlinearity => "nonlinearity",
            Param::NegativeSlope => "negative_slope",
            Param::Scale => "scale",
            Param::Distribution => "distribution",
            Param::Mean => "mean",
            Param::Std => "std",
            Param::Low => "low",
            Param::High => "high",
            Param::Value => "value",
            Param::Sparsity => "sparsity",
            Param::Groups => "groups",
            Param::FanIn => "fan_in",
            Param::FanOut => "fan_out",
        }
    }

    pub fn from_key(key: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.key() == key)
    }

    /// What the parameter means, in one line (a front end's help shows it).
    pub fn about(self) -> &'static str {
        match self {
            Param::Gain => "Gain, instead of the one `nonlinearity` gives (not both)",
            Param::Mode => "Fan mode [fan_in, fan_out, fan_avg, fan_geo_avg]",
            Param::Nonlinearity => {
                "Nonlinearity for the gain, as PyTorch's calculate_gain [linear, conv1d…conv_transpose3d, sigmoid, tanh, relu, leaky_relu, selu]"
            }
            Param::NegativeSlope => "Negative slope of leaky_relu",
            Param::Scale => "Scale of variance_scaling",
            Param::Distribution => {
                "Distribution of variance_scaling [truncated_normal, normal, untruncated_normal, uniform]"
            }
            Param::Mean => "Mean (normal, truncated_normal)",
            Param::Std => "Standard deviation (normal, truncated_normal)",
            Param::Low => "Lower bound (uniform; absolute bound of truncated_normal)",
            Param::High => "Upper bound (uniform; absolute bound of truncated_normal)",
            Param::Value => "Value of the constant scheme",
            Param::Sparsity => "Fraction of zeros per column (sparse schemes), in [0, 1]",
            Param::Groups => "Groups (grouped-convolution schemes)",
            Param::FanIn => "Fan-in to use instead of the one computed from the shape",
            Param::FanOut => "Fan-out to use instead of the one computed from the shape",
        }
    }

    /// What the parameter's value is, and its placeholder in usage text (`G`, `MODE`, `N`).
    pub fn value(self) -> (ParamValue, &'static str) {
        use ParamValue::{Count, Name, Real};
        match self {
            Param::Gain => (Real, "G"),
            Param::Mode => (Name(Choice::Mode), "MODE"),
            Param::Nonlinearity => (Name(Choice::Nonlinearity), "NAME"),
            Param::NegativeSlope => (Real, "A"),
            Param::Scale => (Real, "S"),
            Param::Distribution => (Name(Choice::Distribution), "NAME"),
            Param::Mean | Param::Std | Param::Low | Param::High | Param::Value => (Real, "X"),
            Param::Sparsity => (Real, "F"),
            Param::Groups | Param::FanIn | Param::FanOut => (Count, "N"),
        }
    }
}

/// A scheme's documentation: name, aliases, parameters with defaults, formula, source.
#[derive(Debug, Clone, Serialize)]
pub struct SchemeDoc {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub params: Vec<ParamDoc>,
    pub formula: &'static str,
    pub keras: &'static str,
    pub source: &'static str,
}

/// One parameter of a scheme and its default (`None` = required or derived).
#[derive(Debug, Clone, Serialize)]
pub struct ParamDoc {
    pub name: &'static str,
    pub default: Option<&'static str>,
}

const FAN_PARAMS: [(Param, Option<&str>); 2] = [(Param::FanIn, None), (Param::FanOut, None)];

impl Scheme {
    /// The catalogue `weightgen schemes` prints: each scheme's name, aliases, PyTorch and
    /// Keras formulas, parameters with defaults, and source; as JSON when `json`.
    pub fn catalogue(json: bool) -> String {
        use std::fmt::Write;
        let docs: Vec<_> = Scheme::ALL.iter().map(|s| s.doc()).collect();
        if json {
            return serde_json::to_string_pretty(&docs).expect("docs serialise") + "\n";
        }
        let mut out = String::new();
        for d in docs {
            let aliases = if d.aliases.is_empty() {
                String::new()
            } else {
                format!(" (aliases: {})", d.aliases.join(", "))
            };
            let _ = writeln!(out, "{}{aliases}", d.name);
            let _ = writeln!(out, "  torch: {}", d.formula);
            let _ = writeln!(out, "  keras: {}", d.keras);
            if !d.params.is_empty() {
                let ps: Vec<String> = d
                    .params
                    .iter()
                    .map(|p| match p.default {
                        Some(def) => format!("{}={def}", p.name),
                        None => p.name.to_string(),
                    })
                    .collect();
                let _ = writeln!(out, "  params: {}", ps.join(", "));
            }
            let _ = writeln!(out, "  source: {}", d.source);
        }
        out
    }

    pub const ALL: [Scheme; 19] = [
        Scheme::Zeros,
        Scheme::Ones,
        Scheme::Constant,
        Scheme::Uniform,
        Scheme::Normal,
        Scheme::TruncatedNormal,
        Scheme::XavierUniform,
        Scheme::XavierNormal,
        Scheme::KaimingUniform,
        Scheme::KaimingNormal,
        Scheme::LecunUniform,
        Scheme::LecunNormal,
        Scheme::VarianceScaling,
        Scheme::Standard,
        Scheme::Orthogonal,
        Scheme::Eye,
        Scheme::Dirac,
        Scheme::Sparse,
        Scheme::TorchDefault,
    ];

    /// Canonical snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Zeros => "zeros",
            Scheme::Ones => "ones",
            Scheme::Constant => "constant",
            Scheme::Uniform => "uniform",
            Scheme::Normal => "normal",
            Scheme::TruncatedNormal => "truncated_normal",
            Scheme::XavierUniform => "xavier_uniform",
            Scheme::XavierNormal => "xavier_normal",
            Scheme::KaimingUniform => "kaiming_uniform",
            Scheme::KaimingNormal => "kaiming_normal",
            Scheme::LecunUniform => "lecun_uniform",
            Scheme::LecunNormal => "lecun_normal",
            Scheme::VarianceScaling => "variance_scaling",
            Scheme::Standard => "standard",
            Scheme::Orthogonal => "orthogonal",
            Scheme::Eye => "eye",
            Scheme::Dirac => "dirac",
            Scheme::Sparse => "sparse",
            Scheme::TorchDefault => "torch_default",
        }
    }

    /// Other accepted names.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Scheme::Zeros => &["zero"],
            Scheme::Ones => &["one"],
            Scheme::TruncatedNormal => &["trunc_normal"],
            Scheme::XavierUniform => &["glorot_uniform"],
            Scheme::XavierNormal => &["glorot_normal"],
            Scheme::KaimingUniform => &["he_uniform"],
            Scheme::KaimingNormal => &["he_normal"],
            Scheme::Eye => &["identity"],
            Scheme::TorchDefault => &["pytorch_default"],
            _ => &[],
        }
    }

    /// Parse a name: canonical or alias, case-insensitive, `-` accepted for `_`, underscores
    /// optional (Keras' class names: `GlorotUniform`, `HeNormal`). An unknown name's error
    /// offers the closest names ("did you mean"; a bare family name such as `glorot` is
    /// ambiguous and gets both members) and lists every name and alias.
    pub fn parse(s: &str) -> Result<Scheme> {
        let table: Vec<(&str, Scheme)> = Scheme::ALL
            .into_iter()
            .flat_map(|sc| {
                std::iter::once(sc.name())
                    .chain(sc.aliases().iter().copied())
                    .map(move |n| (n, sc))
            })
            .collect();
        crate::names::find(s, &table).ok_or_else(|| {
            let all: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            let names: Vec<&str> = Scheme::ALL.iter().map(|s| s.name()).collect();
            let aliases: Vec<String> = Scheme::ALL
                .iter()
                .flat_map(|sc| {
                    sc.aliases()
                        .iter()
                        .map(move |a| format!("{a} = {}", sc.name()))
                })
                .collect();
            Error::invalid(
                "",
                format!(
                    "unknown scheme `{s}`{} (valid: {}; aliases: {})",
                    crate::names::did_you_mean(s, &all),
                    names.join(", "),
                    aliases.join(", ")
                ),
            )
        })
    }

    /// The parameters this scheme takes, with their defaults as shown to users.
    pub fn params(self) -> Vec<(Param, Option<&'static str>)> {
        let mut v: Vec<(Param, Option<&'static str>)> = match self {
            Scheme::Zeros | Scheme::Ones => vec![],
            Scheme::Constant => vec![(Param::Value, None)],
            Scheme::Uniform => vec![(Param::Low, Some("0")), (Param::High, Some("1"))],
            Scheme::Normal => vec![(Param::Mean, Some("0")), (Param::Std, Some("1"))],
            Scheme::TruncatedNormal => vec![
                (Param::Mean, Some("0")),
                (Param::Std, Some("1")),
                (Param::Low, Some("mean - 2·std")),
                (Param::High, Some("mean + 2·std")),
            ],
            Scheme::XavierUniform | Scheme::XavierNormal => vec![
                (Param::Gain, Some("1, or calculate_gain(nonlinearity)")),
                (Param::Nonlinearity, None),
                (Param::NegativeSlope, Some("0.01 (leaky_relu only)")),
            ],
            Scheme::KaimingUniform | Scheme::KaimingNormal => vec![
                (
                    Param::Gain,
                    Some("calculate_gain(nonlinearity, negative_slope)"),
                ),
                (Param::Mode, Some("fan_in")),
                (Param::Nonlinearity, Some("leaky_relu")),
                (Param::NegativeSlope, Some("0")),
            ],
            Scheme::LecunUniform
            | Scheme::LecunNormal
            | Scheme::Standard
            | Scheme::TorchDefault => vec![],
            Scheme::Orthogonal | Scheme::Eye => vec![(Param::Gain, Some("1"))],
            Scheme::Dirac => vec![(Param::Groups, Some("1"))],
            Scheme::Sparse => vec![(Param::Sparsity, None), (Param::Std, Some("0.01"))],
            Scheme::VarianceScaling => vec![
                (Param::Scale, Some("1")),
                (Param::Mode, Some("fan_in")),
                (Param::Distribution, Some("truncated_normal")),
            ],
        };
        if self.uses_fans() {
            v.extend(FAN_PARAMS);
        }
        v
    }

    /// Whether `p` is a parameter of this scheme.
    pub fn takes(self, p: Param) -> bool {
        self.params().iter().any(|(q, _)| *q == p)
    }

    /// Whether the scheme needs fans.
    pub fn uses_fans(self) -> bool {
        matches!(
            self,
            Scheme::XavierUniform
                | Scheme::XavierNormal
                | Scheme::KaimingUniform
                | Scheme::KaimingNormal
                | Scheme::LecunUniform
                | Scheme::LecunNormal
                | Scheme::VarianceScaling
                | Scheme::Standard
                | Scheme::TorchDefault
        )
    }

    /// Documentation for `weightgen schemes`.
    pub fn doc(self) -> SchemeDoc {
        let (formula, keras, source) = match self {
            Scheme::Zeros => ("0", "same", "torch.nn.init.zeros_; keras Zeros"),
            Scheme::Ones => ("1", "same", "torch.nn.init.ones_; keras Ones"),
            Scheme::Constant => ("value", "same", "torch.nn.init.constant_; keras Constant"),
            Scheme::Uniform => (
                "U[low, high]",
                "same",
                "torch.nn.init.uniform_; keras RandomUniform",
            ),
            Scheme::Normal => (
                "N(mean, std²)",
                "same",
                "torch.nn.init.normal_; keras RandomNormal",
            ),
            Scheme::TruncatedNormal => (
                "N(mean, std²) restricted to [low, high] (absolute bounds, no std correction)",
                "same (keras TruncatedNormal is mean ± 2·std)",
                "torch.nn.init.trunc_normal_ (whose own default bounds are ±2 absolute); keras TruncatedNormal",
            ),
            Scheme::XavierUniform => (
                "U(±gain·√3·√(2/(fan_in+fan_out))) = U(±gain·√(6/(fan_in+fan_out)))",
                "VarianceScaling(gain², fan_avg, uniform): U(±√(3·gain²/max(1, (fan_in+fan_out)/2)))",
                "Glorot & Bengio (2010), eq. 16; torch.nn.init.xavier_uniform_; keras GlorotUniform",
            ),
            Scheme::XavierNormal => (
                "N(0, (gain·√(2/(fan_in+fan_out)))²), untruncated",
                "truncated at ±2σ, σ = √(gain²/max(1, (fan_in+fan_out)/2)) / 0.87962566103423978",
                "Glorot & Bengio (2010); torch.nn.init.xavier_normal_; keras GlorotNormal",
            ),
            Scheme::KaimingUniform => (
                "U(±√3·gain/√fan), fan = fan_in or fan_out (mode)",
                "VarianceScaling(gain², mode, uniform)",
                "He et al. (2015); torch.nn.init.kaiming_uniform_; keras HeUniform",
            ),
            Scheme::KaimingNormal => (
                "N(0, (gain/√fan)²), untruncated",
                "truncated at ±2σ, σ = √(gain²/max(1, fan)) / 0.87962566103423978",
                "He et al. (2015); torch.nn.init.kaiming_normal_; keras HeNormal",
            ),
            Scheme::LecunUniform => (
                "U(±√3/√fan_in) (= kaiming_uniform with nonlinearity linear)",
                "VarianceScaling(1, fan_in, uniform)",
                "LeCun et al. (1998) §4.6; keras LecunUniform",
            ),
            Scheme::LecunNormal => (
                "N(0, 1/fan_in), untruncated (= kaiming_normal with nonlinearity linear)",
                "truncated at ±2σ, σ = √(1/max(1, fan_in)) / 0.87962566103423978",
                "LeCun et al. (1998); Klambauer et al. (2017); keras LecunNormal",
            ),
            Scheme::VarianceScaling => (
                "v = scale/n, n = fan_in | fan_out | (fan_in+fan_out)/2 | √(fan_in·fan_out); uniform: U(±√(3v)); truncated_normal: σ = √v/0.87962566103423978 cut at ±2σ; normal: N(0, v) (untruncated_normal always untruncated)",
                "n clamped to ≥ 1, and distribution `normal` means truncated_normal, as in Keras",
                "keras VarianceScaling; jax.nn.initializers.variance_scaling",
            ),
            Scheme::Standard => (
                "U(±1/√fan_in), computed as PyTorch's kaiming_uniform_(a=√5) does",
                "U(±1/√max(1, fan_in))",
                "Glorot & Bengio (2010), eq. 1 ('standard'); PyTorch's default nn.Linear/nn.Conv weight init",
            ),
            Scheme::Orthogonal => (
                "gain·Q, QR of a Gaussian (rows × cols) matrix, columns × sign(diag R), transposed when rows < cols; rows = shape[0], cols = the rest",
                "rows = prod(shape[:-1]), cols = shape[-1]",
                "Saxe et al. (2014); Mezzadri (2007); torch.nn.init.orthogonal_; keras Orthogonal",
            ),
            Scheme::Eye => (
                "gain on the diagonal of a 2-D tensor, 0 elsewhere",
                "same (keras Identity)",
                "torch.nn.init.eye_; keras Identity",
            ),
            Scheme::Dirac => (
                "1 at [g·out/groups + d, d, k//2, …] for d < min(out/groups, in); 3–5-D",
                "the same identity on the [*k, in, out] layout",
                "torch.nn.init.dirac_",
            ),
            Scheme::Sparse => (
                "N(0, std²) with ⌈sparsity·rows⌉ zeros per column, at random rows; 2-D",
                "same (on the tensor's own rows and columns)",
                "Martens (2010); torch.nn.init.sparse_",
            ),
            Scheme::TorchDefault => (
                "PyTorch module construction: weights U(±1/√fan_in) as kaiming_uniform_(a=√5), biases U(±1/√fan_in of the weight), Embedding N(0, 1), norm weights 1, biases 0",
                "the same rules with keras fans",
                "torch.nn.Linear/ConvNd/Embedding/*Norm reset_parameters",
            ),
        };
        SchemeDoc {
            name: self.name(),
            aliases: self.aliases(),
            params: self
                .params()
                .into_iter()
                .map(|(p, d)| ParamDoc {
                    name: p.key(),
                    default: d,
                })
                .collect(),
            formula,
            keras,
            source,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// PyTorch's `calculate_gain` nonlinearities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonlinearity {
    Linear,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu,
    Selu,
}

impl Nonlinearity {
    /// Every nonlinearity, in PyTorch's `calculate_gain` order.
    pub const ALL: [Nonlinearity; 12] = [
        Nonlinearity::Linear,
        Nonlinearity::Conv1d,
        Nonlinearity::Conv2d,
        Nonlinearity::Conv3d,
        Nonlinearity::ConvTranspose1d,
        Nonlinearity::ConvTranspose2d,
        Nonlinearity::ConvTranspose3d,
        Nonlinearity::Sigmoid,
        Nonlinearity::Tanh,
        Nonlinearity::Relu,
        Nonlinearity::LeakyRelu,
        Nonlinearity::Selu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Nonlinearity::Linear => "linear",
            Nonlinearity::Conv1d => "conv1d",
            Nonlinearity::Conv2d => "conv2d",
            Nonlinearity::Conv3d => "conv3d",
            Nonlinearity::ConvTranspose1d => "conv_transpose1d",
            Nonlinearity::ConvTranspose2d => "conv_transpose2d",
            Nonlinearity::ConvTranspose3d => "conv_transpose3d",
            Nonlinearity::Sigmoid => "sigmoid",
            Nonlinearity::Tanh => "tanh",
            Nonlinearity::Relu => "relu",
            Nonlinearity::LeakyRelu => "leaky_relu",
            Nonlinearity::Selu => "selu",
        }
    }

    /// Parse a name (case-insensitive, `-` for `_`, underscores optional: `LeakyReLU`).
    pub fn parse(s: &str) -> Result<Nonlinearity> {
        let table: Vec<(&str, Nonlinearity)> =
            Nonlinearity::ALL.iter().map(|&n| (n.name(), n)).collect();
        crate::names::find(s, &table).ok_or_else(|| {
            let names: Vec<&str> = Nonlinearity::ALL.iter().map(|n| n.name()).collect();
            Error::invalid(
                "",
                format!(
                    "unknown nonlinearity `{s}`{} (valid: {}; PyTorch's calculate_gain has no others, pass `gain` instead)",
                    crate::names::did_you_mean(s, &names),
                    names.join(", ")
                ),
            )
        })
    }

    /// `torch.nn.init.calculate_gain(nonlinearity, param)`, same operations in f64:
    /// linear/conv*/sigmoid → 1; tanh → 5.0/3; relu → math.sqrt(2.0);
    /// leaky_relu → math.sqrt(2.0 / (1 + negative_slope ** 2)); selu → 3.0/4.
    pub fn gain(self, negative_slope: f64) -> f64 {
        match self {
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => 2.0f64.sqrt(),
            Nonlinearity::LeakyRelu => (2.0 / (1.0 + negative_slope * negative_slope)).sqrt(),
            Nonlinearity::Selu => 3.0 / 4.0,
            _ => 1.0,
        }
    }

    /// gain², computed directly (√2² is 2.0000000000000004 in f64, so squaring `gain` would
    /// not give Keras' HeUniform scale of exactly 2.0).
    pub fn gain_squared(self, negative_slope: f64) -> f64 {
        match self {
            Nonlinearity::Tanh => 25.0 / 9.0,
            Nonlinearity::Relu => 2.0,
            Nonlinearity::LeakyRelu => 2.0 / (1.0 + negative_slope * negative_slope),
            Nonlinearity::Selu => 9.0 / 16.0,
            _ => 1.0,
        }
    }
}

/// Fan mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    FanIn,
    FanOut,
    FanAvg,
    FanGeoAvg,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::FanIn => "fan_in",
            Mode::FanOut => "fan_out",
            Mode::FanAvg => "fan_avg",
            Mode::FanGeoAvg => "fan_geo_avg",
        }
    }

    /// Every mode.
    pub const ALL: [Mode; 4] = [Mode::FanIn, Mode::FanOut, Mode::FanAvg, Mode::FanGeoAvg];

    pub fn parse(s: &str) -> Result<Mode> {
        const ALL: [Mode; 4] = Mode::ALL;
        let table: Vec<(&str, Mode)> = ALL.iter().map(|&m| (m.name(), m)).collect();
        crate::names::find(s, &table).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|m| m.name()).collect();
            Error::invalid(
                "",
                format!(
                    "unknown mode `{s}`{} (valid: {})",
                    crate::names::did_you_mean(s, &names),
                    names.join(", ")
                ),
            )
        })
    }
}

/// `variance_scaling` distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VsDistribution {
    TruncatedNormal,
    /// Truncated under keras (Keras' alias), untruncated under torch (JAX's meaning).
    Normal,
    UntruncatedNormal,
    Uniform,
}

impl VsDistribution {
    pub fn name(self) -> &'static str {
        match self {
            VsDistribution::TruncatedNormal => "truncated_normal",
            VsDistribution::Normal => "normal",
            VsDistribution::UntruncatedNormal => "untruncated_normal",
            VsDistribution::Uniform => "uniform",
        }
    }

    /// Every distribution.
    pub const ALL: [VsDistribution; 4] = [
        VsDistribution::TruncatedNormal,
        VsDistribution::Normal,
        VsDistribution::UntruncatedNormal,
        VsDistribution::Uniform,
    ];

    pub fn parse(s: &str) -> Result<VsDistribution> {
        const ALL: [VsDistribution; 4] = VsDistribution::ALL;
        let table: Vec<(&str, VsDistribution)> = ALL.iter().map(|&d| (d.name(), d)).collect();
        crate::names::find(s, &table).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|d| d.name()).collect();
            Error::invalid(
                "",
                format!(
                    "unknown distribution `{s}`{} (valid: {})",
                    crate::names::did_you_mean(s, &names),
                    names.join(", ")
                ),
            )
        })
    }
}

/// Parameter values after merging the levels of a spec, already parsed and range-checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values {
    pub gain: Option<f64>,
    pub mode: Option<Mode>,
    pub nonlinearity: Option<Nonlinearity>,
    pub negative_slope: Option<f64>,
    pub scale: Option<f64>,
    pub distribution: Option<VsDistribution>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub value: Option<f64>,
    pub sparsity: Option<f64>,
    pub groups: Option<u64>,
    pub fan_in: Option<u64>,
    pub fan_out: Option<u64>,
}

/// What a scheme resolved to for one tensor: the distribution and the intermediate numbers a
/// user wants to see (`--json`, `--dry-run`, file metadata).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gain: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    #[serde(skip)]
    pub distribution: Distribution,
}

impl Resolved {
    pub(crate) fn plain(d: Distribution) -> Resolved {
        Resolved {
            fan_in: None,
            fan_out: None,
            gain: None,
            scale: None,
            mode: None,
            bound: None,
            std: None,
            distribution: d,
        }
    }
}

fn check_finite(name: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::invalid(
            name,
            format!("must be a finite number, got {x}"),
        ))
    }
}

fn check_nonneg(name: &str, x: f64) -> Result<f64> {
    check_finite(name, x)?;
    if x < 0.0 {
        return Err(Error::invalid(name, format!("must be ≥ 0, got {x}")));
    }
    Ok(x)
}

/// Normal truncated at ±2σ with σ = √v / 0.87962566103423978, so its std is √v (Keras/JAX).
fn corrected_truncated(variance: f64) -> (f64, Distribution) {
    let std = variance.sqrt() / TRUNC_STD_2SIGMA;
    (
        std,
        Distribution::TruncatedNormal {
            mean: 0.0,
            std,
            low: -2.0 * std,
            high: 2.0 * std,
        },
    )
}

/// Resolve `scheme` with merged parameter values `v` for a tensor with `fans` (already
/// overridden by explicit `fan_in`/`fan_out`) and `numel` elements.
///
/// Errors name the parameter (`std`, `gain`, …); the caller prefixes where it was given.
pub(crate) fn resolve(
    scheme: Scheme,
    v: &Values,
    fans: Fans,
    numel: u64,
    convention: Convention,
) -> Result<Resolved> {
    check_values(v)?;
    let uniform = |low: f64, high: f64| -> Result<Resolved> {
        if low > high {
            return Err(Error::invalid(
                "low",
                format!("low ({low}) must not exceed high ({high})"),
            ));
        }
        if !(high - low).is_finite() {
            return Err(Error::invalid("high", "high - low overflows"));
        }
        Ok(Resolved::plain(Distribution::Uniform { low, high }))
    };

    match scheme {
        Scheme::Zeros => Ok(Resolved::plain(Distribution::Constant { value: 0.0 })),
        Scheme::Ones => Ok(Resolved::plain(Distribution::Constant { value: 1.0 })),
        Scheme::Constant => {
            let value = v.value.ok_or_else(|| {
                Error::invalid("value", "scheme constant needs a value (`value`)")
            })?;
            Ok(Resolved::plain(Distribution::Constant { value }))
        }
        Scheme::Uniform => uniform(v.low.unwrap_or(0.0), v.high.unwrap_or(1.0)),
        Scheme::Normal => Ok(Resolved::plain(Distribution::Normal {
            mean: v.mean.unwrap_or(0.0),
            std: v.std.unwrap_or(1.0),
        })),
        Scheme::TruncatedNormal => {
            let mean = v.mean.unwrap_or(0.0);
            let std = v.std.unwrap_or(1.0);
            let low = v.low.unwrap_or(mean - 2.0 * std);
            let high = v.high.unwrap_or(mean + 2.0 * std);
            if low > high {
                return Err(Error::invalid(
                    "low",
                    format!("low ({low}) must not exceed high ({high})"),
                ));
            }
            if !(low.is_finite() && high.is_finite()) {
                return Err(Error::invalid("std", "truncation bounds overflow"));
            }
            Ok(Resolved::plain(Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            }))
        }
        _ => resolve_fan_based(scheme, v, fans, numel, convention),
    }
}

/// What a tensor is, for schemes whose meaning depends on it (`torch_default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// A weight (or a raw tensor from the command line or `"tensors"`).
    #[default]
    Weight,
    /// A layer's bias; `weight_fan_in` is its weight's fan-in under the convention.
    Bias { weight_fan_in: Option<u64> },
    /// An embedding table.
    Embedding,
    /// A norm layer's scale (`weight`, `gamma`).
    NormWeight,
    /// A norm layer's shift (`bias`, `beta`).
    NormBias,
}

/// The tensor a scheme is resolved for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TensorCtx<'a> {
    pub shape: &'a [u64],
    pub numel: u64,
    /// Fans from the shape, already overridden by explicit `fan_in`/`fan_out`.
    pub fans: Fans,
    pub convention: Convention,
    pub role: Role,
}

/// Resolve any scheme, including the structural ones that need the tensor's shape and role.
pub(crate) fn resolve_in(scheme: Scheme, v: &Values, t: &TensorCtx) -> Result<Resolved> {
    let gain = |v: &Values| -> Result<f64> {
        match v.gain {
            Some(g) => check_nonneg("gain", g),
            None => Ok(1.0),
        }
    };
    check_values(v)?;
    let rank = t.shape.len();
    match scheme {
        Scheme::Orthogonal => {
            let g = gain(v)?;
            if rank < 2 {
                return Err(Error::invalid(
                    "",
                    format!("orthogonal needs at least 2 dimensions, the shape has {rank}"),
                ));
            }
            // torch: rows = shape[0], cols = numel / rows; keras: rows = prod(shape[:-1]).
            let (rows, cols) = match t.convention {
                Convention::Torch => (t.shape[0], t.shape[1..].iter().product::<u64>()),
                Convention::Keras => (
                    t.shape[..rank - 1].iter().product::<u64>(),
                    t.shape[rank - 1],
                ),
            };
            let mut r = Resolved::plain(Distribution::Orthogonal {
                gain: g,
                rows,
                cols,
            });
            r.gain = Some(g);
            Ok(r)
        }
        Scheme::Eye => {
            let g = gain(v)?;
            if rank != 2 {
                return Err(Error::invalid(
                    "",
                    format!("eye needs a 2-D tensor, the shape has {rank} dimensions"),
                ));
            }
            let mut r = Resolved::plain(Distribution::Eye { gain: g });
            r.gain = Some(g);
            Ok(r)
        }
        Scheme::Dirac => {
            let groups = v.groups.unwrap_or(1);
            if !(3..=5).contains(&rank) {
                return Err(Error::invalid(
                    "",
                    format!("dirac needs a 3-, 4- or 5-D tensor, the shape has {rank} dimensions"),
                ));
            }
            let channels_last = t.convention == Convention::Keras;
            let out = if channels_last {
                t.shape[rank - 1]
            } else {
                t.shape[0]
            };
            if groups == 0 || out % groups != 0 {
                return Err(Error::invalid(
                    "groups",
                    format!("must divide the output channels ({out}), got {groups}"),
                ));
            }
            Ok(Resolved::plain(Distribution::Dirac {
                groups,
                channels_last,
            }))
        }
        Scheme::Sparse => {
            let sparsity = v.sparsity.ok_or_else(|| {
                Error::invalid("sparsity", "scheme sparse needs a sparsity (`sparsity`)")
            })?;
            check_values(v)?;
            let std = match v.std {
                Some(s) => check_nonneg("std", s)?,
                None => 0.01,
            };
            if rank != 2 {
                return Err(Error::invalid(
                    "",
                    format!("sparse needs a 2-D tensor, the shape has {rank} dimensions"),
                ));
            }
            // torch.nn.init.sparse_: num_zeros = int(math.ceil(sparsity * rows))
            let zeros = (sparsity * t.shape[0] as f64).ceil() as u64;
            let mut r = Resolved::plain(Distribution::Sparse {
                std,
                zeros_per_column: zeros.min(t.shape[0]),
            });
            r.std = Some(std);
            Ok(r)
        }
        Scheme::TorchDefault => match t.role {
            Role::Embedding => Ok(Resolved::plain(Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            })),
            Role::NormWeight => Ok(Resolved::plain(Distribution::Constant { value: 1.0 })),
            Role::NormBias => Ok(Resolved::plain(Distribution::Constant { value: 0.0 })),
            Role::Bias { weight_fan_in } => torch_default_bias(v.fan_in.or(weight_fan_in), t),
            Role::Weight if rank < 2 && t.convention == Convention::Torch => {
                torch_default_bias(v.fan_in, t)
            }
            Role::Weight => resolve(Scheme::Standard, v, t.fans, t.numel, t.convention),
        },
        _ => resolve(scheme, v, t.fans, t.numel, t.convention),
    }
}

/// PyTorch's default bias: `bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0`, U(±bound),
/// with the fan-in of the layer's weight.
fn torch_default_bias(fan_in: Option<u64>, t: &TensorCtx) -> Result<Resolved> {
    let fan_in = fan_in.ok_or_else(|| {
        Error::invalid(
            "",
            "torch_default on a 1-D tensor outside a layer needs the weight's fan-in (`fan_in`)",
        )
    })?;
    let bound = if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    };
    let mut r = Resolved::plain(Distribution::Uniform {
        low: -bound,
        high: bound,
    });
    r.fan_in = Some(fan_in);
    r.bound = Some(bound);
    let _ = t.numel;
    Ok(r)
}

/// Range checks shared by every scheme: finite numbers, non-negative std and gain, positive
/// scale, sparsity in [0, 1], a slope only with leaky_relu.
fn check_values(v: &Values) -> Result<()> {
    for (name, x) in [
        ("mean", v.mean),
        ("low", v.low),
        ("high", v.high),
        ("value", v.value),
        ("negative_slope", v.negative_slope),
    ] {
        if let Some(x) = x {
            check_finite(name, x)?;
        }
    }
    for (name, x) in [("std", v.std), ("gain", v.gain)] {
        if let Some(x) = x {
            check_nonneg(name, x)?;
        }
    }
    if let Some(s) = v.scale {
        check_finite("scale", s)?;
        if s <= 0.0 {
            return Err(Error::invalid("scale", format!("must be > 0, got {s}")));
        }
    }
    if let Some(s) = v.sparsity
        && !(0.0..=1.0).contains(&s)
    {
        return Err(Error::invalid(
            "sparsity",
            format!("must be in [0, 1], got {s}"),
        ));
    }
    if v.negative_slope.is_some() && v.nonlinearity.is_some_and(|n| n != Nonlinearity::LeakyRelu) {
        return Err(Error::invalid(
            "negative_slope",
            "applies only to nonlinearity leaky_relu",
        ));
    }

    Ok(())
}

/// The fan a mode selects, as the framework computes it (f64), after checking it is defined and
/// non-zero (torch) or clamping it to ≥ 1 (keras).
fn fan_for(
    mode: Mode,
    fans: Fans,
    numel: u64,
    convention: Convention,
    scheme: Scheme,
) -> Result<Option<f64>> {
    // Only the fans the mode uses must be defined (a 1-D tensor with a given fan_in is fine
    // for mode fan_in).
    let need = |f: Option<u64>| {
        f.map(|x| x as f64).ok_or_else(|| {
            let which = match mode {
                Mode::FanIn => "fan-in",
                Mode::FanOut => "fan-out",
                Mode::FanAvg | Mode::FanGeoAvg => "fan-in and fan-out",
            };
            Error::invalid(
                "",
                format!(
                    "scheme {scheme} (mode {}) needs {which}, which the torch convention leaves undefined for tensors with fewer than 2 dimensions; give fan_in/fan_out, or use the keras convention",
                    mode.name()
                ),
            )
        })
    };
    let n = match mode {
        Mode::FanIn => need(fans.fan_in)?,
        Mode::FanOut => need(fans.fan_out)?,
        // Python: (fan_in + fan_out) / 2.0 on ints; exact below 2^53.
        Mode::FanAvg => (need(fans.fan_in)? + need(fans.fan_out)?) / 2.0,
        Mode::FanGeoAvg => (need(fans.fan_in)? * need(fans.fan_out)?).sqrt(),
    };
    match convention {
        Convention::Keras => Ok(Some(n.max(1.0))),
        Convention::Torch => {
            if n == 0.0 {
                if numel == 0 {
                    // Nothing is drawn for an empty tensor; report the scale as 0.
                    return Ok(None);
                }
                return Err(Error::invalid(
                    "",
                    format!(
                        "scheme {scheme} needs a non-zero {} but it is 0 for this shape; pass fan_in/fan_out explicitly",
                        mode.name()
                    ),
                ));
            }
            Ok(Some(n))
        }
    }
}

fn resolve_fan_based(
    scheme: Scheme,
    v: &Values,
    fans: Fans,
    numel: u64,
    convention: Convention,
) -> Result<Resolved> {
    let mut r = Resolved::plain(Distribution::Constant { value: 0.0 });
    r.fan_in = fans.fan_in;
    r.fan_out = fans.fan_out;
    let f = FanBased {
        scheme,
        v,
        fans,
        numel,
        convention,
        keras: convention == Convention::Keras,
    };
    match scheme {
        Scheme::XavierUniform | Scheme::XavierNormal => f.xavier(r),
        Scheme::KaimingUniform | Scheme::KaimingNormal => f.kaiming(r),
        Scheme::LecunUniform | Scheme::LecunNormal => f.lecun(r),
        Scheme::VarianceScaling => {
            let scale = v.scale.unwrap_or(1.0);
            let mode = v.mode.unwrap_or(Mode::FanIn);
            let dist = v.distribution.unwrap_or(VsDistribution::TruncatedNormal);
            f.variance_scaling(&mut r, scale, mode, dist)?;
            Ok(r)
        }
        Scheme::Standard => f.standard(r),
        _ => unreachable!("non-fan schemes are resolved in `resolve`"),
    }
}

/// A fan-based scheme being resolved for one tensor: the scheme, its parameters, the tensor's
/// fans and size, and the convention.
struct FanBased<'a> {
    scheme: Scheme,
    v: &'a Values,
    fans: Fans,
    numel: u64,
    convention: Convention,
    keras: bool,
}

/// U(±√3·std) for a uniform scheme, else N(0, std).
fn uniform_or_normal(r: &mut Resolved, uniform: bool, std: f64) {
    if uniform {
        let b = 3.0f64.sqrt() * std;
        r.bound = Some(b);
        r.distribution = Distribution::Uniform { low: -b, high: b };
    } else {
        r.std = Some(std);
        r.distribution = Distribution::Normal { mean: 0.0, std };
    }
}

/// Keras' distribution for the uniform or the normal variant of a scheme.
fn keras_distribution(uniform: bool) -> VsDistribution {
    if uniform {
        VsDistribution::Uniform
    } else {
        VsDistribution::TruncatedNormal
    }
}

impl FanBased<'_> {
    fn fan(&self, mode: Mode) -> Result<Option<f64>> {
        fan_for(mode, self.fans, self.numel, self.convention, self.scheme)
    }

    /// Gain (torch) and gain² (keras scale) from an explicit gain or a nonlinearity.
    fn gain(&self, default_nl: Option<Nonlinearity>) -> (f64, f64) {
        if let Some(g) = self.v.gain {
            return (g, g * g);
        }
        match self.v.nonlinearity.or(default_nl) {
            Some(nl) => {
                // calculate_gain's own default slope is 0.01; kaiming_* always pass a=0.
                let default_slope = if default_nl.is_some() { 0.0 } else { 0.01 };
                let s = self.v.negative_slope.unwrap_or(default_slope);
                (nl.gain(s), nl.gain_squared(s))
            }
            None => (1.0, 1.0),
        }
    }

    /// Keras VarianceScaling.__call__: scale /= max(1., fan); then the distribution.
    fn variance_scaling(
        &self,
        r: &mut Resolved,
        scale: f64,
        mode: Mode,
        dist: VsDistribution,
    ) -> Result<()> {
        r.scale = Some(scale);
        r.mode = Some(mode.name());
        let n = self.fan(mode)?;
        let variance = n.map_or(0.0, |n| scale / n);
        let truncated = match dist {
            VsDistribution::TruncatedNormal => true,
            VsDistribution::Normal => self.keras,
            VsDistribution::UntruncatedNormal => false,
            VsDistribution::Uniform => {
                let limit = (3.0 * variance).sqrt();
                r.bound = Some(limit);
                r.distribution = Distribution::Uniform {
                    low: -limit,
                    high: limit,
                };
                return Ok(());
            }
        };
        let std = if truncated {
            let (std, d) = corrected_truncated(variance);
            r.distribution = d;
            std
        } else {
            let std = variance.sqrt();
            r.distribution = Distribution::Normal { mean: 0.0, std };
            std
        };
        r.std = Some(std);
        Ok(())
    }

    fn xavier(&self, mut r: Resolved) -> Result<Resolved> {
        let v = self.v;
        if v.mode.is_some() {
            return Err(Error::invalid("mode", "xavier schemes always use fan_avg"));
        }
        if v.negative_slope.is_some() && v.nonlinearity.is_none() && v.gain.is_none() {
            return Err(Error::invalid(
                "negative_slope",
                "xavier schemes use it only with nonlinearity leaky_relu",
            ));
        }
        let (gain, gain_sq) = self.gain(None);
        r.gain = Some(gain);
        let uniform = self.scheme == Scheme::XavierUniform;
        if self.keras {
            self.variance_scaling(&mut r, gain_sq, Mode::FanAvg, keras_distribution(uniform))?;
            r.mode = None;
            return Ok(r);
        }
        // torch/nn/init.py: std = gain * math.sqrt(2.0 / float(fan_in + fan_out));
        // uniform: a = math.sqrt(3.0) * std
        let sum = self.fan(Mode::FanAvg)?.map(|h| 2.0 * h);
        let std = sum.map_or(0.0, |s| gain * (2.0 / s).sqrt());
        uniform_or_normal(&mut r, uniform, std);
        Ok(r)
    }

    fn kaiming(&self, mut r: Resolved) -> Result<Resolved> {
        let mode = self.v.mode.unwrap_or(Mode::FanIn);
        if !matches!(mode, Mode::FanIn | Mode::FanOut) {
            return Err(Error::invalid(
                "mode",
                format!(
                    "kaiming schemes take fan_in or fan_out, got {} (use variance_scaling)",
                    mode.name()
                ),
            ));
        }
        let (gain, gain_sq) = self.gain(Some(Nonlinearity::LeakyRelu));
        r.gain = Some(gain);
        let uniform = self.scheme == Scheme::KaimingUniform;
        if self.keras {
            self.variance_scaling(&mut r, gain_sq, mode, keras_distribution(uniform))?;
            return Ok(r);
        }
        r.mode = Some(mode.name());
        // torch/nn/init.py: std = gain / math.sqrt(fan); bound = math.sqrt(3.0) * std
        let std = self.fan(mode)?.map_or(0.0, |f| gain / f.sqrt());
        uniform_or_normal(&mut r, uniform, std);
        Ok(r)
    }

    fn lecun(&self, mut r: Resolved) -> Result<Resolved> {
        let uniform = self.scheme == Scheme::LecunUniform;
        if self.keras {
            self.variance_scaling(&mut r, 1.0, Mode::FanIn, keras_distribution(uniform))?;
            r.mode = None;
            return Ok(r);
        }
        // = kaiming_*_(t, nonlinearity='linear'): gain 1, std = 1 / math.sqrt(fan_in)
        r.gain = Some(1.0);
        let std = self.fan(Mode::FanIn)?.map_or(0.0, |f| 1.0 / f.sqrt());
        uniform_or_normal(&mut r, uniform, std);
        Ok(r)
    }

    fn standard(&self, mut r: Resolved) -> Result<Resolved> {
        let fan = self.fan(Mode::FanIn)?;
        let b = if self.keras {
            fan.map_or(0.0, |f| 1.0 / f.sqrt())
        } else {
            // PyTorch's default Linear/Conv weight init: kaiming_uniform_(w, a=math.sqrt(5)).
            // gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2)); std = gain / math.sqrt(fan);
            // bound = math.sqrt(3.0) * std. Equal to 1/√fan in exact arithmetic, but not
            // always in f64 (docs/init-schemes.md §1.5), so keep PyTorch's order.
            let s5 = 5.0f64.sqrt();
            let gain = (2.0 / (1.0 + s5 * s5)).sqrt();
            fan.map_or(0.0, |f| 3.0f64.sqrt() * (gain / f.sqrt()))
        };
        r.bound = Some(b);
        r.distribution = Distribution::Uniform { low: -b, high: b };
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_a_parameter_lists_in_its_about_line_are_its_choice_names() {
        for p in Param::ALL {
            let (value, _) = p.value();
            let about = p.about();
            let listed = about.rsplit_once('[').map(|(_, l)| l.trim_end_matches(']'));
            match (value, listed) {
                (ParamValue::Name(c), Some(listed)) => {
                    let names = c.names();
                    // `conv1d…conv_transpose3d` abbreviates a run of names: both ends are names.
                    for n in listed.split(", ").flat_map(|n| n.split('…')) {
                        assert!(names.contains(&n), "{p:?}: `{n}` is not a {c:?} name");
                    }
                }
                (ParamValue::Name(c), None) => panic!("{p:?} lists no {c:?} names: {about}"),
                (ParamValue::Real | ParamValue::Count, _) => {}
            }
            assert!(!about.ends_with('.') && about.len() < 140, "{p:?}: {about}");
        }
    }

    fn fans(fi: u64, fo: u64) -> Fans {
        Fans {
            fan_in: Some(fi),
            fan_out: Some(fo),
        }
    }

    #[test]
    fn scheme_names_accept_aliases_dashes_and_case() {
        assert_eq!(
            Scheme::parse("glorot-uniform").unwrap(),
            Scheme::XavierUniform
        );
        assert_eq!(Scheme::parse("He_Normal").unwrap(), Scheme::KaimingNormal);
        let e = Scheme::parse("xavier").unwrap_err().to_string();
        assert!(
            e.contains("xavier_uniform") && e.contains("standard"),
            "{e}"
        );
    }

    #[test]
    fn xavier_bound_matches_glorot_eq_16_within_an_ulp() {
        let r = resolve(
            Scheme::XavierUniform,
            &Values::default(),
            fans(784, 256),
            1,
            Convention::Torch,
        )
        .unwrap();
        let b = r.bound.unwrap();
        let paper = (6.0f64 / 1040.0).sqrt();
        assert!((b - paper).abs() <= f64::EPSILON * paper, "{b} vs {paper}");
        assert_eq!(b as f32, paper as f32);
    }

    #[test]
    fn keras_he_uniform_scale_is_exactly_two() {
        let r = resolve(
            Scheme::KaimingUniform,
            &Values::default(),
            fans(3 * 3 * 16, 3 * 3 * 32),
            1,
            Convention::Keras,
        )
        .unwrap();
        assert_eq!(r.scale, Some(2.0));
        assert_eq!(r.bound, Some((3.0f64 * (2.0 / 144.0)).sqrt()));
    }

    #[test]
    fn keras_normal_schemes_are_truncated_with_the_std_correction() {
        let r = resolve(
            Scheme::XavierNormal,
            &Values::default(),
            fans(784, 256),
            1,
            Convention::Keras,
        )
        .unwrap();
        let std = (1.0f64 / 520.0).sqrt() / TRUNC_STD_2SIGMA;
        assert_eq!(
            r.distribution,
            Distribution::TruncatedNormal {
                mean: 0.0,
                std,
                low: -2.0 * std,
                high: 2.0 * std
            }
        );
    }

    #[test]
    fn torch_fan_based_scheme_on_a_bias_is_an_error_unless_fans_are_given() {
        let none = Fans {
            fan_in: None,
            fan_out: None,
        };
        let e = resolve(
            Scheme::KaimingUniform,
            &Values::default(),
            none,
            10,
            Convention::Torch,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fewer than 2 dimensions"), "{e}");
    }

    #[test]
    fn zero_fan_is_an_error_for_a_non_empty_tensor_only() {
        let z = fans(0, 5);
        assert!(
            resolve(
                Scheme::KaimingNormal,
                &Values::default(),
                z,
                5,
                Convention::Torch
            )
            .is_err()
        );
        let r = resolve(
            Scheme::KaimingNormal,
            &Values::default(),
            z,
            0,
            Convention::Torch,
        )
        .unwrap();
        assert_eq!(r.std, Some(0.0));
    }

    #[test]
    fn bad_parameter_values_are_rejected_with_their_name() {
        let cases: Vec<(Scheme, Values, &str)> = vec![
            (
                Scheme::Normal,
                Values {
                    std: Some(-1.0),
                    ..Default::default()
                },
                "std",
            ),
            (
                Scheme::Normal,
                Values {
                    std: Some(f64::NAN),
                    ..Default::default()
                },
                "std",
            ),
            (
                Scheme::XavierUniform,
                Values {
                    gain: Some(f64::INFINITY),
                    ..Default::default()
                },
                "gain",
            ),
            (
                Scheme::Uniform,
                Values {
                    low: Some(2.0),
                    high: Some(1.0),
                    ..Default::default()
                },
                "low",
            ),
            (
                Scheme::Zeros,
                Values {
                    sparsity: Some(1.5),
                    ..Default::default()
                },
                "sparsity",
            ),
        ];
        for (s, v, name) in cases {
            let e = resolve(s, &v, fans(4, 4), 16, Convention::Torch)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(name), "{s}: {e}");
        }
    }
}
