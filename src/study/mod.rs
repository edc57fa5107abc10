//! `weightgen study`: Glorot & Bengio's (2010) analysis of an initialisation, on a network of the
//! user's depth, width and activation.
//!
//! For each scheme, a batch of random inputs goes forward through a dense network (biases 0,
//! weights drawn through the usual Spec → Plan → stream pipeline), the cost (softmax + negative
//! log-likelihood on random labels, as the paper's networks had) is back-propagated, and every
//! hidden layer reports: activation mean, std, percentiles and saturation; the back-propagated
//! gradient ∂c/∂s; the weight-gradient variance; the mean singular value of the layer Jacobian
//! ∂z^k/∂z^{k−1}; and beside each, the theory with the activation's own gain (`theory`: Glorot
//! & Bengio's linear regime, He et al.'s for ReLU).
//!
//! Owns: the study's options and their validation ([`StudyOptions`] → [`Study`]), drawing its
//! inputs and labels, the statistics and the report ([`Report`], as JSON, a table
//! ([`table`]) and an SVG ([`plot`])). Does not own: the arithmetic of the network (`net`), the
//! schemes' formulas (`scheme`), drawing weights (`stream`).
//!
//! Determinism: every matrix product and SVD runs with faer's `Par::Seq`; parallelism is across
//! schemes and across Jacobians only, so a seed gives the same report whatever the thread count
//! (bit-stable per CPU family: faer picks SIMD kernels at run time).

pub(crate) mod net;
pub mod plot;
pub mod table;
pub(crate) mod theory;

use crate::error::{Error, Result};
use crate::fans::Convention;
use crate::memory_limit::{self, F64, MemoryLimit, Need, mat, orthogonal, product_workspace};
use crate::plan::Plan;
use crate::scheme::{Distribution, Param};
use crate::spec::{ParamSet, Spec, TensorSpec};
use crate::stream::TensorStream;
use faer::Mat;
use net::Activation;
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use theory::LayerWeights;

/// The paper's setting (Glorot & Bengio 2010, §2.3 and §4): 5 hidden layers of 1000 units,
/// 1024 inputs (32×32 Shapeset images), 10 classes here (Shapeset has 9, the others 10), tanh.
pub const DEFAULT_DEPTH: usize = 5;
pub const DEFAULT_WIDTH: usize = 1000;
pub const DEFAULT_INPUT_DIM: usize = 1024;
pub const DEFAULT_CLASSES: usize = 10;
/// Examples in the batch (enough for smooth histograms, small enough to run in a second).
pub const DEFAULT_BATCH: usize = 256;
/// Examples whose layer Jacobians are decomposed (each is a full width × width SVD).
pub const DEFAULT_JACOBIAN_SAMPLES: usize = 3;
/// The paper's comparison: eq. 1 against eq. 16.
pub const DEFAULT_SCHEMES: [&str; 2] = ["standard", "xavier_uniform"];
/// Largest width or input dimension accepted (a width × width SVD per layer and sample).
pub(crate) const MAX_UNITS: usize = 16384;
/// Largest batch × units product accepted (f64 matrices kept for every layer).
pub(crate) const MAX_BATCH_UNITS: usize = 1 << 26;

/// Distribution of the random inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputDist {
    /// U(−1, 1): E\[x²\] = 1/3.
    Uniform,
    /// N(0, 1): E\[x²\] = 1.
    Normal,
}

impl InputDist {
    pub fn parse(s: &str) -> Result<InputDist> {
        match s.trim().to_ascii_lowercase().as_str() {
            "uniform" => Ok(InputDist::Uniform),
            "normal" | "gaussian" => Ok(InputDist::Normal),
            _ => Err(Error::invalid(
                "",
                format!("unknown input distribution `{s}` (valid: uniform, normal)"),
            )),
        }
    }

    fn distribution(self) -> Distribution {
        match self {
            InputDist::Uniform => Distribution::Uniform {
                low: -1.0,
                high: 1.0,
            },
            InputDist::Normal => Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            },
        }
    }

    /// E\[x²\] of one input.
    pub fn second_moment(self) -> f64 {
        match self {
            InputDist::Uniform => 1.0 / 3.0,
            InputDist::Normal => 1.0,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            InputDist::Uniform => "U(-1, 1)",
            InputDist::Normal => "N(0, 1)",
        }
    }
}

/// Options as given (flags), before validation. `None` means the default.
#[derive(Debug, Clone, Default)]
pub struct StudyOptions {
    pub depth: Option<usize>,
    pub width: Option<usize>,
    pub input_dim: Option<usize>,
    pub classes: Option<usize>,
    pub activation: Option<String>,
    pub batch: Option<usize>,
    pub input: Option<String>,
    pub seed: Option<u64>,
    pub jacobian_samples: Option<usize>,
    /// `NAME` or `NAME:key=value,key=value` (e.g. `kaiming_normal:nonlinearity=relu`). With a
    /// spec, each scheme replaces the spec's initialisation on every layer.
    pub schemes: Vec<String>,
    /// A spec whose 2-D tensors, in order, are the network's layers (the last is the output);
    /// without `schemes` its own per-layer schemes are studied (one run labelled `spec`).
    pub spec: Option<Spec>,
    /// The most memory the study may hold (weights, passes, SVDs); `None`:
    /// [`MemoryLimit::from_env_or_machine`].
    pub memory_limit: Option<MemoryLimit>,
    /// Where [`run`] writes the SVG plot ([`plot::to_svg`]); checked by [`Study::new`], before
    /// anything is computed ([`plot::check_path`]).
    pub plot: Option<PathBuf>,
}

/// One initialisation to study: a label and its resolved plan (one 2-D tensor per layer).
#[derive(Debug, Clone)]
pub struct Init {
    pub label: String,
    pub plan: Plan,
}

/// A checked study: everything [`run`] needs.
#[derive(Debug, Clone)]
pub struct Study {
    /// Input dimension, hidden widths, classes.
    pub dims: Vec<usize>,
    pub activation: Activation,
    pub batch: usize,
    pub input: InputDist,
    pub seed: u64,
    pub jacobian_samples: usize,
    pub inits: Vec<Init>,
    pub memory_limit: Option<MemoryLimit>,
    pub plot: Option<PathBuf>,
}

/// Parse `NAME[:key=value,…]` into a scheme and its parameters; errors name `--scheme ARG`.
pub(crate) fn parse_scheme_arg(arg: &str) -> Result<ParamSet> {
    let origin = format!("scheme {arg}");
    let (name, rest) = match arg.split_once(':') {
        Some((n, r)) => (n.trim(), Some(r)),
        None => (arg.trim(), None),
    };
    let mut set = ParamSet::default();
    set.set_scheme(name, &origin)?;
    for kv in rest.into_iter().flat_map(|r| r.split(',')) {
        let kv = kv.trim();
        if kv.is_empty() {
            continue;
        }
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Error::invalid(
                &origin,
                format!("expected key=value after `{name}:`, got `{kv}`"),
            )
        })?;
        let key = k.trim().replace('-', "_");
        let p = Param::from_key(&key).ok_or_else(|| {
            let valid: Vec<&str> = Param::ALL.iter().map(|p| p.key()).collect();
            Error::invalid(
                &origin,
                format!("unknown parameter `{k}` (valid: {})", valid.join(", ")),
            )
        })?;
        set.set_str(p, v.trim(), &format!("scheme {name}:{key}"))?;
    }
    Ok(set)
}

fn positive(name: &str, v: Option<usize>, default: usize) -> Result<usize> {
    match v {
        None => Ok(default),
        Some(0) => Err(Error::invalid(name, "must be at least 1")),
        Some(n) => Ok(n),
    }
}

/// The 2-D tensors of a spec as layers `(in, out)`, in order, checked to chain.
fn spec_layers(spec: &Spec) -> Result<Vec<TensorSpec>> {
    let layers: Vec<TensorSpec> = spec
        .tensors
        .iter()
        .filter(|t| t.shape.len() == 2)
        .cloned()
        .collect();
    if let Some(t) = spec.tensors.iter().find(|t| t.shape.len() > 2) {
        return Err(Error::invalid(
            &t.origin,
            format!(
                "the study takes dense layers only (2-D weights), `{}` has shape {:?}",
                t.name, t.shape
            ),
        ));
    }
    if layers.len() < 2 {
        return Err(Error::Usage(
            "the spec needs at least two 2-D weight tensors (hidden layers, then the output layer)"
                .into(),
        ));
    }
    Ok(layers)
}

fn in_out(shape: &[u64], convention: Convention) -> (u64, u64) {
    match convention {
        Convention::Torch => (shape[1], shape[0]),
        Convention::Keras => (shape[0], shape[1]),
    }
}

/// The network a study's options describe, before its sizes are checked: the unit counts
/// (input, hidden widths, classes), the spec of its weights and the seed.
struct Network {
    dims: Vec<u64>,
    base: Spec,
    seed: u64,
}

/// `jacobian_samples`: at most the batch.
fn jacobian_samples(v: Option<usize>, batch: usize) -> Result<usize> {
    match v {
        None => Ok(DEFAULT_JACOBIAN_SAMPLES.min(batch)),
        Some(n) if n > batch => Err(Error::invalid(
            "jacobian_samples",
            format!("{n} is more than the batch ({batch})"),
        )),
        Some(n) => Ok(n),
    }
}

/// The network of a spec: its 2-D tensors, checked to chain; no size option beside it.
fn spec_network(o: &StudyOptions, spec: &Spec) -> Result<Network> {
    for (flag, v) in [
        ("depth", o.depth),
        ("width", o.width),
        ("input_dim", o.input_dim),
        ("classes", o.classes),
    ] {
        if v.is_some() {
            return Err(Error::invalid(
                flag,
                "cannot be used with a spec (the spec's 2-D tensors are the layers)",
            ));
        }
    }
    let convention = spec.convention.unwrap_or_default();
    let layers = spec_layers(spec)?;
    let mut dims = vec![in_out(&layers[0].shape, convention).0];
    for t in &layers {
        let (i, out) = in_out(&t.shape, convention);
        let before = *dims.last().expect("non-empty");
        if i != before {
            let layout = match convention {
                Convention::Torch => "[out, in]",
                Convention::Keras => "[in, out]",
            };
            return Err(Error::invalid(
                &t.origin,
                format!(
                    "`{}` takes {i} inputs but the layer before gives {before} ({convention} convention: {layout})",
                    t.name
                ),
            ));
        }
        dims.push(out);
    }
    let mut base = spec.clone();
    base.tensors = layers;
    let seed = o.seed.or(spec.seed.and_then(|s| u64::try_from(s).ok()));
    Ok(Network {
        dims,
        base,
        seed: seed.unwrap_or(0),
    })
}

/// The network of the size flags: `--depth` hidden layers of `--width` units.
fn flag_network(o: &StudyOptions) -> Result<Network> {
    let depth = positive("depth", o.depth, DEFAULT_DEPTH)?;
    let width = positive("width", o.width, DEFAULT_WIDTH)?;
    let input_dim = positive("input_dim", o.input_dim, DEFAULT_INPUT_DIM)?;
    let classes = match o.classes {
        None => DEFAULT_CLASSES,
        Some(c) if c < 2 => {
            return Err(Error::invalid("classes", "must be at least 2"));
        }
        Some(c) => c,
    };
    let mut dims = vec![input_dim as u64];
    dims.extend(std::iter::repeat_n(width as u64, depth));
    dims.push(classes as u64);
    let tensors = dims
        .windows(2)
        .enumerate()
        .map(|(k, d)| TensorSpec {
            name: format!("fc{}.weight", k + 1),
            shape: vec![d[1], d[0]],
            dtype: None,
            params: ParamSet::default(),
            origin: format!("layer {}", k + 1),
            role: Default::default(),
            inherit: true,
        })
        .collect();
    let base = Spec {
        tensors,
        ..Default::default()
    };
    Ok(Network {
        dims,
        base,
        seed: o.seed.unwrap_or(0),
    })
}

/// The unit counts, checked: a hidden layer at least, each within 1..=MAX_UNITS, and a batch
/// of the widest layer within MAX_BATCH_UNITS.
fn unit_counts(dims: &[u64], batch: usize) -> Result<Vec<usize>> {
    if dims.len() < 3 {
        return Err(Error::Usage(
            "the network needs at least one hidden layer".into(),
        ));
    }
    let dims: Vec<usize> = dims
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .ok()
                .filter(|&d| (1..=MAX_UNITS).contains(&d))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "layer size {d} is outside 1..={MAX_UNITS} (each layer's Jacobian gets a full SVD)"
                    ))
                })
        })
        .collect::<Result<_>>()?;
    let widest = *dims.iter().max().expect("non-empty");
    if batch
        .checked_mul(widest)
        .is_none_or(|n| n > MAX_BATCH_UNITS)
    {
        return Err(Error::invalid(
            "batch",
            format!(
                "batch {batch} × {widest} units is more than {MAX_BATCH_UNITS} values per layer"
            ),
        ));
    }
    Ok(dims)
}

/// One plan per scheme (`schemes`, parsed from `o.schemes`; the defaults when none), each
/// scheme drawing every layer, or the spec's own plan (its per-layer schemes, labelled `spec`)
/// when a spec is studied without a scheme.
fn inits(o: &StudyOptions, schemes: Vec<ParamSet>, net: &Network) -> Result<Vec<Init>> {
    if schemes.is_empty() && o.spec.is_some() {
        return Ok(vec![Init {
            label: "spec".into(),
            plan: Plan::new(&net.base, net.seed)?,
        }]);
    }
    let labels: Vec<String> = if o.schemes.is_empty() {
        DEFAULT_SCHEMES.iter().map(|s| s.to_string()).collect()
    } else {
        o.schemes.iter().map(|s| s.trim().to_string()).collect()
    };
    let sets: Vec<ParamSet> = if schemes.is_empty() {
        DEFAULT_SCHEMES
            .iter()
            .map(|s| parse_scheme_arg(s))
            .collect::<Result<_>>()?
    } else {
        schemes
    };
    labels
        .into_iter()
        .zip(sets)
        .map(|(label, set)| {
            // The scheme replaces the whole initialisation of every layer (a spec's top-level
            // and per-tensor schemes and parameters alike), so that the label names what every
            // layer is drawn with; the spec keeps only the shapes, convention and seed.
            let mut spec = net.base.clone();
            spec.defaults = set;
            for t in &mut spec.tensors {
                t.params = ParamSet::default();
                t.inherit = true;
            }
            Ok(Init {
                label,
                plan: Plan::new(&spec, net.seed)?,
            })
        })
        .collect()
}

impl Study {
    /// The [`StudyOptions`] fields error messages name in backticks (see
    /// [`crate::job::Generate::PARAMS`]).
    pub const PARAMS: &[&str] = &[
        "memory_limit",
        "depth",
        "width",
        "input_dim",
        "classes",
        "activation",
        "batch",
        "input",
        "jacobian_samples",
        "scheme",
        "plot",
    ];

    /// Validate options: sizes, names, every scheme resolved against every layer.
    pub fn new(o: &StudyOptions) -> Result<Study> {
        if let Some(path) = &o.plot {
            plot::check_path(path)?;
        }
        let activation = match &o.activation {
            None => Activation::Tanh,
            Some(a) => Activation::parse(a).map_err(|e| at(e, "activation"))?,
        };
        let input = match &o.input {
            None => InputDist::Uniform,
            Some(s) => InputDist::parse(s).map_err(|e| at(e, "input"))?,
        };
        let batch = positive("batch", o.batch, DEFAULT_BATCH)?;
        let jacobian_samples = jacobian_samples(o.jacobian_samples, batch)?;
        let schemes: Vec<ParamSet> = o
            .schemes
            .iter()
            .map(|s| parse_scheme_arg(s))
            .collect::<Result<_>>()?;
        let net = match &o.spec {
            Some(spec) => spec_network(o, spec)?,
            None => flag_network(o)?,
        };
        let dims = unit_counts(&net.dims, batch)?;
        Ok(Study {
            dims,
            activation,
            batch,
            input,
            seed: net.seed,
            jacobian_samples,
            inits: inits(o, schemes, &net)?,
            memory_limit: o.memory_limit.clone(),
            plot: o.plot.clone(),
        })
    }

    /// Number of hidden layers.
    pub fn depth(&self) -> usize {
        self.dims.len() - 2
    }
}

fn at(e: Error, flag: &str) -> Error {
    match e {
        Error::Invalid { where_, msg } if where_.is_empty() => Error::invalid(flag, msg),
        o => o,
    }
}

/// One layer's weights as drawn: name, distribution, and the theory's factors.
#[derive(Debug, Clone, Serialize)]
pub struct WeightInfo {
    pub name: String,
    pub scheme: &'static str,
    pub distribution: Distribution,
    pub fan_in: usize,
    pub fan_out: usize,
    /// E\[W\] of the distribution: the theory assumes 0 (`ones`, `uniform` with its default
    /// U[0, 1), … are outside it).
    pub mean: f64,
    /// Var\[W\] of the distribution (exact, not measured).
    pub var: f64,
    /// n_in·Var\[W\], the forward factor (1/3 for "standard", 2·n_in/(n_in+n_out) for Glorot).
    pub n_in_var: f64,
    /// n_out·Var\[W\], the backward factor.
    pub n_out_var: f64,
}

/// Percentiles 2, 25, 50, 75 and 98 (the paper's Figures 2–4 plot the 98th).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p2: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p98: f64,
}

/// The theory's predictions for one layer (`theory`: Gaussian pre-activations, the activation's
/// own gain; Glorot & Bengio's linear regime for `linear`, He et al.'s for ReLU).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Theory {
    /// E\[f(s)\] at the predicted pre-activation variance (0 for odd activations).
    pub act_mean: f64,
    /// √(E\[f(s)²\] − E\[f(s)\]²), with Var\[s^k\] = n_in Var\[W^k\] · E\[(z^{k−1})²\].
    pub act_std: f64,
    /// √(Var[∂c/∂s^{out}] (measured) · ∏_{k′>k} n_out Var[W^{k′}] · E[f′(s^{k′−1})²]).
    pub grad_std: f64,
    /// (1/B) · E[(z^{k−1})²] · Var[∂c/∂s^k], both from the lines above (independent examples).
    pub weight_grad_var: f64,
    /// Mean singular value of diag(f′(s))·W for an i.i.d. out × in W with Var\[W\]
    /// (Marchenko–Pastur; exact for linear and ReLU, rows scaled by √E\[f′²\] otherwise).
    pub jacobian_mean_sv: f64,
}

/// Values kept for the plot's histograms (not in the JSON).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub act: Vec<f32>,
    pub grad: Vec<f32>,
}

/// One hidden layer, measured.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// 1-based, as in the paper.
    pub layer: usize,
    pub units: usize,
    pub weights: WeightInfo,
    pub act_mean: f64,
    pub act_std: f64,
    pub act_percentiles: Percentiles,
    /// Fraction saturated by [`Report::saturation_rule`]; null for linear.
    pub saturated: Option<f64>,
    /// Std of ∂c/∂s^k over the batch and units (c: each example's own cost).
    pub grad_std: f64,
    /// Variance of the entries of ∂C/∂W^k (C: mean cost over the batch).
    pub weight_grad_var: f64,
    /// Mean singular value of ∂z^k/∂z^{k−1}, averaged over the first examples of the batch
    /// (null with `--jacobian-samples 0`).
    pub jacobian_mean_sv: Option<f64>,
    pub theory: Theory,
    #[serde(skip)]
    pub samples: Samples,
}

/// The softmax output layer.
#[derive(Debug, Clone, Serialize)]
pub struct OutputReport {
    pub weights: WeightInfo,
    /// Std of ∂c/∂s at the output (p − onehot(y)): the anchor of the backward theory.
    pub grad_std: f64,
    pub weight_grad_var: f64,
    pub theory_weight_grad_var: f64,
}

/// One scheme's study.
#[derive(Debug, Clone, Serialize)]
pub struct SchemeReport {
    /// The `--scheme` argument as given (or `spec`).
    pub label: String,
    /// Mean negative log-likelihood of the batch (ln(classes) ≈ 2.30 for a net that knows
    /// nothing and outputs uniform probabilities).
    pub loss: f64,
    /// Mean over the hidden layers of their Jacobians' mean singular values (the paper's
    /// "average singular value": ≈0.5 for "standard", ≈0.8 for normalized init, tanh).
    pub jacobian_mean_sv: Option<f64>,
    pub layers: Vec<LayerReport>,
    pub output: OutputReport,
}

/// The whole study, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub weightgen: &'static str,
    pub seed: u64,
    /// Input dimension, hidden widths, classes.
    pub dims: Vec<usize>,
    pub activation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_slope: Option<f64>,
    pub saturation_rule: Option<&'static str>,
    pub batch: usize,
    pub input: &'static str,
    pub jacobian_samples: usize,
    pub schemes: Vec<SchemeReport>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }
}

/// What the study holds at its peak (`memory_limit`): the inputs, then per scheme (schemes run in parallel) its weights, their draw, the
/// forward and backward pass, the samples kept for the report, and the Jacobians' SVDs (also
/// in parallel), on `threads` threads.
pub(crate) fn memory_need(s: &Study, threads: usize) -> Need {
    let dims: Vec<u64> = s.dims.iter().map(|&d| d as u64).collect();
    let (b, l) = (s.batch as u64, dims.len() - 1);
    let layers = || (0..l).map(|k| (dims[k + 1], dims[k]));
    let weights: u64 = layers().map(|(o, i)| mat(o, i, F64)).sum();
    let draw = (s.inits.iter().flat_map(|init| &init.plan.tensors))
        .map(|t| {
            let ortho = match t.params.distribution {
                Distribution::Orthogonal { rows, cols, .. } => orthogonal(rows, cols),
                _ => 0,
            };
            // The drawn values and their faer copy, after the orthogonal cache (if any).
            ortho + t.numel * F64 + mat(t.shape[0], t.numel / t.shape[0].max(1), F64)
        })
        .max()
        .unwrap_or(0);
    let widest = dims.iter().copied().max().unwrap_or(0);
    // pre, act, grad per layer (b × out) and two transients; ∂C/∂W as big as the weights.
    let pass: u64 =
        layers().map(|(o, _)| 3 * mat(b, o, F64)).sum::<u64>() + 2 * mat(b, widest, F64) + weights;
    // f32 samples of activations and gradients per hidden layer, a sorted copy for percentiles.
    let samples = layers().map(|(o, _)| 8 * b * o).sum::<u64>() + b * widest * F64;
    let per_scheme = weights + draw.max(pass + samples);
    let svd = layers()
        .map(|(o, i)| {
            use faer::linalg::svd::{ComputeSvdVectors as V, svd_scratch};
            let (o, i) = (o as usize, i as usize);
            let req = svd_scratch::<f32>(o, i, V::No, V::No, faer::Par::Seq, Default::default());
            mat(o as u64, i as u64, 4) + 4 * o.min(i) as u64 + req.size_bytes() as u64
        })
        .max()
        .unwrap_or(0);
    let threads = threads.max(1) as u64;
    let schemes = (s.inits.len() as u64).min(threads);
    let inputs = 2 * b * dims[0] * F64;
    Need {
        what: format!(
            "study of a {} network ({} scheme{}, batch {})",
            s.dims
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("-"),
            s.inits.len(),
            if s.inits.len() == 1 { "" } else { "s" },
            s.batch
        ),
        // (and 256 KiB of report: names, labels, statistics)
        bytes: inputs + schemes * per_scheme + threads * (svd + product_workspace()) + (256 << 10),
    }
}

/// All values of a stream, drawn chunk by chunk.
fn draw(stream: &TensorStream) -> Result<Vec<f64>> {
    let mut out = memory_limit::try_zeroed(stream.numel() as usize, "study: drawing values")?;
    let mut start = 0;
    for c in 0..stream.num_chunks() {
        let n = stream.chunk_len(c);
        stream.fill_chunk(c, &mut out[start..start + n]);
        start += n;
    }
    Ok(out)
}

fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (mut n, mut sum) = (0usize, 0.0);
    for v in values.clone() {
        n += 1;
        sum += v;
    }
    let mean = sum / n as f64;
    let var = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

fn mat_values(m: &Mat<f64>) -> impl Iterator<Item = f64> + Clone + '_ {
    (0..m.ncols()).flat_map(move |j| (0..m.nrows()).map(move |i| m[(i, j)]))
}

fn percentiles(m: &Mat<f64>) -> Percentiles {
    let mut v: Vec<f64> = mat_values(m).collect();
    v.sort_unstable_by(f64::total_cmp);
    // Nearest rank.
    let p = |q: f64| v[((q / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Percentiles {
        p2: p(2.0),
        p25: p(25.0),
        p50: p(50.0),
        p75: p(75.0),
        p98: p(98.0),
    }
}

fn weight_info(study: &Study, plan: &Plan, k: usize) -> WeightInfo {
    let t = &plan.tensors[k];
    let var = theory::variance(&t.params.distribution);
    let (fan_in, fan_out) = (study.dims[k], study.dims[k + 1]);
    WeightInfo {
        name: t.name.clone(),
        scheme: t.scheme.name(),
        distribution: t.params.distribution,
        fan_in,
        fan_out,
        mean: theory::mean(&t.params.distribution),
        var,
        n_in_var: fan_in as f64 * var,
        n_out_var: fan_out as f64 * var,
    }
}

/// Layer k's weights as an out × in matrix, whatever the convention's layout.
fn weight_matrix(study: &Study, plan: &Plan, k: usize) -> Result<Mat<f64>> {
    let t = &plan.tensors[k];
    let v = draw(&t.stream(plan.seed))?;
    let (n_in, n_out) = (study.dims[k], study.dims[k + 1]);
    Ok(match plan.convention {
        Convention::Torch => Mat::from_fn(n_out, n_in, |o, i| v[o * n_in + i]),
        Convention::Keras => Mat::from_fn(n_out, n_in, |o, i| v[i * n_out + o]),
    })
}

fn run_one(study: &Study, init: &Init, x: &Mat<f64>, labels: &[usize]) -> Result<SchemeReport> {
    let plan = &init.plan;
    let l = study.dims.len() - 1;
    let weights: Vec<Mat<f64>> = (0..l)
        .map(|k| weight_matrix(study, plan, k))
        .collect::<Result<_>>()?;
    let infos: Vec<WeightInfo> = (0..l).map(|k| weight_info(study, plan, k)).collect();
    let act = study.activation;
    let pass = net::forward_backward(x, &weights, act, labels);

    // Jacobians of the hidden layers at the first examples: independent SVDs, in parallel.
    let jobs: Vec<(usize, usize)> = (0..l - 1)
        .flat_map(|k| (0..study.jacobian_samples).map(move |b| (k, b)))
        .collect();
    let svs: Vec<f64> = jobs
        .par_iter()
        .map(|&(k, b)| {
            let (s, z) = (&pass.pre[k], &pass.act[k]);
            let dfs: Vec<f64> = (0..s.ncols())
                .map(|o| act.df(s[(b, o)], z[(b, o)]))
                .collect();
            let sv = net::jacobian_singular_values(&weights[k], &dfs)?;
            Ok(sv.iter().sum::<f64>() / sv.len() as f64)
        })
        .collect::<Result<_>>()?;
    let jac = |k: usize| {
        let n = study.jacobian_samples;
        (n > 0).then(|| svs[k * n..(k + 1) * n].iter().sum::<f64>() / n as f64)
    };

    let lw: Vec<LayerWeights> = infos
        .iter()
        .map(|w| LayerWeights {
            fan_in: w.fan_in,
            fan_out: w.fan_out,
            var_w: w.var,
        })
        .collect();
    let th = theory::propagate(&lw, act, study.input.second_moment());
    let (_, top_grad_std) = mean_std(mat_values(&pass.grad[l - 1]));
    let top_var = top_grad_std * top_grad_std;
    let b = study.batch as f64;

    let layers: Vec<LayerReport> = (0..l - 1)
        .map(|k| {
            let z = &pass.act[k];
            let (act_mean, act_std) = mean_std(mat_values(z));
            let (_, grad_std) = mean_std(mat_values(&pass.grad[k]));
            let (_, wg_std) = mean_std(mat_values(&pass.weight_grad[k]));
            let m = &th.moments[k];
            LayerReport {
                layer: k + 1,
                units: study.dims[k + 1],
                weights: infos[k].clone(),
                act_mean,
                act_std,
                act_percentiles: percentiles(z),
                saturated: act.saturated_fraction(pass.pre[k].as_ref(), z.as_ref()),
                grad_std,
                weight_grad_var: wg_std * wg_std,
                jacobian_mean_sv: jac(k),
                theory: Theory {
                    act_mean: m.mean,
                    act_std: (m.second - m.mean * m.mean).max(0.0).sqrt(),
                    grad_std: (top_var * th.backward[k]).sqrt(),
                    weight_grad_var: th.input_second[k] * top_var * th.backward[k] / b,
                    jacobian_mean_sv: theory::jacobian_mean_singular_value(
                        study.dims[k + 1],
                        study.dims[k],
                        infos[k].var,
                        m,
                    ),
                },
                samples: Samples {
                    act: mat_values(z).map(|v| v as f32).collect(),
                    grad: mat_values(&pass.grad[k]).map(|v| v as f32).collect(),
                },
            }
        })
        .collect();
    let (_, out_wg_std) = mean_std(mat_values(&pass.weight_grad[l - 1]));
    let jacobian_mean_sv = layers
        .iter()
        .map(|r| r.jacobian_mean_sv)
        .sum::<Option<f64>>()
        .map(|s| s / layers.len() as f64);
    Ok(SchemeReport {
        label: init.label.clone(),
        loss: pass.loss,
        jacobian_mean_sv,
        layers,
        output: OutputReport {
            weights: infos[l - 1].clone(),
            grad_std: top_grad_std,
            weight_grad_var: out_wg_std * out_wg_std,
            theory_weight_grad_var: th.input_second[l - 1] * top_var / b,
        },
    })
}

/// Run the study: the same inputs and labels for every scheme.
///
/// Before anything is drawn, the study's memory estimate is checked against its limit and
/// reserved once (`memory_limit::probe`): a study too big for the machine is an error, not
/// an abort. The plot, if [`Study::plot`] names one, is written once the report is complete.
pub fn run(study: &Study) -> Result<Report> {
    let report = compute(study)?;
    if let Some(path) = &study.plot {
        plot::write(path, &plot::to_svg(&report)?)?;
    }
    Ok(report)
}

fn compute(study: &Study) -> Result<Report> {
    let need = memory_need(study, rayon::current_num_threads());
    let limit = (study.memory_limit.clone()).map_or_else(MemoryLimit::from_env_or_machine, Ok)?;
    limit.check(&need)?;
    memory_limit::probe(&need)?;
    let n0 = study.dims[0];
    let classes = *study.dims.last().expect("non-empty");
    let b = study.batch;
    let xs = draw(&TensorStream::new(
        study.seed,
        "weightgen.study.inputs",
        (b * n0) as u64,
        &study.input.distribution(),
    ))?;
    let x = Mat::from_fn(b, n0, |i, j| xs[i * n0 + j]);
    let u = draw(&TensorStream::new(
        study.seed,
        "weightgen.study.labels",
        b as u64,
        &Distribution::Uniform {
            low: 0.0,
            high: 1.0,
        },
    ))?;
    let labels: Vec<usize> = u
        .iter()
        .map(|&u| ((u * classes as f64) as usize).min(classes - 1))
        .collect();
    let schemes = study
        .inits
        .par_iter()
        .map(|init| run_one(study, init, &x, &labels))
        .collect::<Result<Vec<_>>>()?;
    Ok(Report {
        weightgen: env!("CARGO_PKG_VERSION"),
        seed: study.seed,
        dims: study.dims.clone(),
        activation: study.activation.name(),
        negative_slope: match study.activation {
            Activation::LeakyRelu(a) => Some(a),
            _ => None,
        },
        saturation_rule: study.activation.saturation_rule(),
        batch: study.batch,
        input: study.input.describe(),
        jacobian_samples: study.jacobian_samples,
        schemes,
    })
}
