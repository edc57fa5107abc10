//! Plan: the Spec resolved, every tensor with its final name, shape, dtype and Distribution.
//!
//! Owns: precedence (tensor values > flags > spec top level > scheme defaults), all validation
//! that can happen before a byte is drawn (names, sizes with checked arithmetic, parameters that
//! no scheme uses), and exact sizes. Does not own: drawing values or writing bytes.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fans::{Convention, Fans, fans};
use crate::scheme::{self, Param, Resolved, Scheme};
use crate::spec::{ParamSet, Spec, TensorSpec};
use crate::stream::torch::{TorchDType, TorchOp, TorchStep, torch_seed_to_u64};
use crate::stream::{RngKind, TensorStream};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The scheme used when neither the spec nor a flag names one.
pub const DEFAULT_SCHEME: Scheme = Scheme::XavierUniform;

/// One tensor, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTensor {
    pub name: String,
    pub shape: Vec<u64>,
    pub dtype: DType,
    pub scheme: Scheme,
    pub params: Resolved,
    pub numel: u64,
    pub bytes: u64,
    /// Elements `[start, end)` that are +0 whatever the law draws (an embedding's padding
    /// row); the draws are made as for the whole tensor.
    pub zeroed: Option<(u64, u64)>,
    /// Under `--rng torch`, the element type PyTorch computes in when it differs from the
    /// default (f64 for f64 tensors, else f32 then rounded): a model whose parameters are
    /// created in bf16/f16 draws through PyTorch's reduced-precision kernels.
    pub torch_dtype: Option<TorchDType>,
}

/// How a tensor appears in `--json`, `--dry-run` and the `weightgen.plan` metadata.
#[derive(Debug, Clone, Serialize)]
pub struct TensorSummary<'a> {
    pub name: &'a str,
    pub shape: &'a [u64],
    pub dtype: &'static str,
    pub scheme: &'static str,
    pub params: &'a Resolved,
    pub distribution: &'a crate::scheme::Distribution,
    pub numel: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zeroed: Option<[u64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<&'a str>,
}

impl PlannedTensor {
    /// How `--rng torch` draws this tensor, or why it cannot.
    pub fn torch_plan(&self) -> Result<TorchPlan> {
        use crate::scheme::Distribution as D;
        let dtype = self.torch_dtype.unwrap_or(match self.dtype {
            DType::F64 => TorchDType::F64,
            _ => TorchDType::F32,
        });
        let refuse = |why: &str| {
            Err(Error::invalid(
                format!("tensor `{}`", self.name),
                format!(
                    "{} cannot be reproduced with `rng` torch: {why}",
                    self.scheme
                ),
            ))
        };
        Ok(match self.params.distribution {
            D::Constant { .. } | D::Eye { .. } | D::Dirac { .. } => TorchPlan::NoDraw,
            D::Uniform { low, high } => TorchPlan::Op(
                TorchOp::Uniform {
                    from: low,
                    to: high,
                },
                dtype,
            ),
            D::Normal { mean, std } => TorchPlan::Op(TorchOp::Normal { mean, std }, dtype),
            D::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => {
                // torch/nn/init.py (2.15) _no_grad_trunc_normal_:
                // p = norm_cdf((b - mean) / std) - norm_cdf((a - mean) / std), norm_cdf(x) =
                // (1 + math.erf(x / math.sqrt(2))) / 2; p > 0.3 → normal_ and redraw, else
                // uniform rejection.
                let norm_cdf = |x: f64| (1.0 + libm::erf(x / 2f64.sqrt())) / 2.0;
                let p = norm_cdf((high - mean) / std) - norm_cdf((low - mean) / std);
                if p.is_nan() {
                    return refuse("the normal's mass in [low, high] is not a number");
                }
                let (a, b) = (low, high);
                if p > 0.3 {
                    TorchPlan::TruncRedraw {
                        mean,
                        std,
                        a,
                        b,
                        dtype,
                    }
                } else {
                    TorchPlan::TruncReject {
                        mean,
                        std,
                        a,
                        b,
                        dtype,
                    }
                }
            }
            D::Sparse { .. } if self.shape[0] >= (u32::MAX / 20) as u64 => {
                return refuse(
                    "PyTorch's randperm (sparse_ permutes each column's rows) uses another algorithm from 2³²/20 rows on, which is not reproduced",
                );
            }
            D::Sparse {
                std,
                zeros_per_column,
            } => TorchPlan::Sparse {
                rows: self.shape[0],
                cols: self.shape[1],
                zeros: zeros_per_column,
                std,
                dtype,
            },
            D::Orthogonal { .. } => {
                return refuse(
                    "PyTorch's orthogonal_ depends on its LAPACK build (QR), which no other program reproduces",
                );
            }
        })
    }

    /// The summary view, with the data hash when known.
    pub fn summary<'a>(&'a self, sha256: Option<&'a str>) -> TensorSummary<'a> {
        TensorSummary {
            name: &self.name,
            shape: &self.shape,
            dtype: self.dtype.name(),
            scheme: self.scheme.name(),
            params: &self.params,
            distribution: &self.params.distribution,
            numel: self.numel,
            bytes: self.bytes,
            zeroed: self.zeroed.map(|(a, b)| [a, b]),
            sha256,
        }
    }

    /// The stream of this tensor's values for `seed`.
    pub fn stream(&self, seed: u64) -> TensorStream {
        TensorStream::with_shape(seed, &self.name, &self.shape, &self.params.distribution)
            .with_dtype(self.dtype)
            .with_zeroed(self.zeroed)
    }
}

pub(crate) use crate::stream::torch::TorchPlan;

/// The seed as a u64: native seeds are 0..=2⁶⁴−1; torch seeds may also be negative and are
/// remapped as `torch.manual_seed` does.
pub(crate) fn resolve_seed(seed: i128, rng: RngKind) -> Result<u64> {
    match rng {
        RngKind::Native => u64::try_from(seed).map_err(|_| {
            Error::invalid(
                "seed",
                format!("must be in 0..=18446744073709551615, got {seed} (negative seeds only with rng torch)"),
            )
        }),
        RngKind::Torch => torch_seed_to_u64(seed).ok_or_else(|| {
            Error::invalid(
                "seed",
                format!("must be in -2^63..=2^64-1 as torch.manual_seed accepts, got {seed}"),
            )
        }),
    }
}

/// A resolved spec: what will be written, exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub seed: u64,
    /// Stream family: native keyed chunks, or PyTorch's generator in plan order.
    pub rng: RngKind,
    pub convention: Convention,
    pub metadata: BTreeMap<String, String>,
    pub tensors: Vec<PlannedTensor>,
    /// The generator schedule under `--rng torch` when it is not simply each tensor in plan
    /// order (a model's `from_config` sequence); `None` for plain specs.
    pub torch_steps: Option<Vec<TorchStep>>,
    /// The model this plan was built from (`hf_config`), with the files written beside the
    /// weights.
    pub model: Option<crate::model::config::ModelInfo>,
}

/// Where a tensor's own error is: its name, or for a tensor of a spec file its place there
/// (so that every error about the file starts with `spec FILE: `).
fn tensor_place(t: &TensorSpec) -> String {
    if !t.origin.starts_with("spec ") {
        format!("tensor `{}`", t.name)
    } else if t.origin.ends_with(&format!("({})", t.name)) {
        t.origin.clone()
    } else {
        format!("{} (tensor `{}`)", t.origin, t.name)
    }
}

fn prefixed(e: Error, set: &ParamSet, defaults: &ParamSet, t: &TensorSpec) -> Error {
    let tensor = &t.name;
    match e {
        Error::Invalid { where_, msg } => {
            // A parameter name: point at the level that set it.
            if let Some(p) = Param::from_key(&where_) {
                if let Some(o) = set.origins.get(&p) {
                    return Error::invalid(o.clone(), msg);
                }
                if let Some(o) = defaults.origins.get(&p) {
                    return Error::invalid(format!("{o} (for tensor `{}`)", tensor), msg);
                }
                return Error::invalid(tensor_place(t), msg);
            }
            let at = if where_.is_empty() {
                tensor_place(t)
            } else {
                where_
            };
            Error::invalid(at, msg)
        }
        other => other,
    }
}

/// The spec's tensors in plan order: layers first (the model, in order, expanded as the
/// framework's `state_dict` lists them), then raw tensors.
fn requested_tensors(spec: &Spec, convention: Convention) -> Result<Vec<TensorSpec>> {
    let mut all = Vec::new();
    for layer in &spec.layers {
        all.extend(crate::layers::expand(
            layer,
            convention,
            spec.defaults.scheme,
        )?);
    }
    all.extend(spec.tensors.iter().cloned());
    if all.is_empty() {
        return Err(Error::Usage(
            "no tensors given: the spec has no tensors, layers or model (give shapes like fc1.weight=256x784)"
                .into(),
        ));
    }
    Ok(all)
}

/// Which top-level parameters some tensor's scheme used, and the schemes seen.
#[derive(Default)]
struct DefaultsUse {
    used: HashSet<Param>,
    schemes: Vec<Scheme>,
}

impl DefaultsUse {
    /// A top-level parameter (flag or spec) that no tensor's scheme uses is almost certainly
    /// a mistake (`--std` with xavier_uniform): say so rather than ignore it.
    fn check(&self, defaults: &ParamSet) -> Result<()> {
        let Some((_, origin)) = defaults
            .origins
            .iter()
            .find(|(p, _)| !self.used.contains(p))
        else {
            return Ok(());
        };
        let names: Vec<&str> = self.schemes.iter().map(|s| s.name()).collect();
        let ps: Vec<&str> = self.schemes[0]
            .params()
            .iter()
            .map(|(p, _)| p.key())
            .collect();
        let takes = if ps.is_empty() {
            "no parameters".to_string()
        } else {
            ps.join(", ")
        };
        Err(Error::invalid(
            origin.clone(),
            format!(
                "not used by any tensor's scheme ({}); {} takes: {takes}",
                names.join(", "),
                names[0]
            ),
        ))
    }
}

/// The element count and byte size of `t` in `dtype`, checked against overflow.
fn sizes(t: &TensorSpec, dtype: DType) -> Result<(u64, u64)> {
    let numel = t
        .shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid(
                t.origin.clone(),
                format!("shape {:?} has more elements than fit in 64 bits", t.shape),
            )
        })?;
    let bytes = numel.checked_mul(dtype.size() as u64).ok_or_else(|| {
        Error::invalid(
            t.origin.clone(),
            format!(
                "shape {:?} in {dtype} is more bytes than fit in 64 bits",
                t.shape
            ),
        )
    })?;
    Ok((numel, bytes))
}

/// The fans `scheme` sees for `t`: the shape's under `convention`, overridden by explicit
/// `fan_in`/`fan_out` (one given alone keeps the other from the shape, if it has one).
fn tensor_fans(
    t: &TensorSpec,
    scheme: Scheme,
    merged: &ParamSet,
    convention: Convention,
) -> Result<Fans> {
    let mut f = if scheme.uses_fans() {
        fans(&t.shape, convention).map_err(|e| match e {
            Error::Invalid { msg, .. } => Error::invalid(t.origin.clone(), msg),
            o => o,
        })?
    } else {
        Fans {
            fan_in: None,
            fan_out: None,
        }
    };
    // A shape without fans (1-D under torch) does not lend the given one to the other: a
    // scheme that needs both says so.
    if let Some(fi) = merged.values.fan_in {
        f.fan_in = Some(fi);
    }
    if let Some(fo) = merged.values.fan_out {
        f.fan_out = Some(fo);
    }
    Ok(f)
}

/// One requested tensor resolved: its scheme (own, else the top level's), dtype, sizes, fans
/// and distribution. Records which top-level parameters its scheme used in `uses`.
fn plan_tensor(
    t: &TensorSpec,
    spec: &Spec,
    convention: Convention,
    uses: &mut DefaultsUse,
) -> Result<PlannedTensor> {
    let merged = if t.inherit {
        spec.defaults.overlaid(&t.params)
    } else {
        t.params.clone()
    };
    let scheme = merged.scheme.unwrap_or(DEFAULT_SCHEME);
    if !uses.schemes.contains(&scheme) {
        uses.schemes.push(scheme);
    }
    // Parameters given on the tensor itself must belong to its scheme.
    if let Some((p, origin)) = t.params.origins.iter().find(|(p, _)| !scheme.takes(**p)) {
        return Err(Error::invalid(
            origin.clone(),
            format!("scheme {scheme} does not take {}", p.key()),
        ));
    }
    if t.inherit {
        let used =
            (spec.defaults.origins.keys()).filter(|p| scheme.takes(**p) && !t.params.has(**p));
        uses.used.extend(used);
    }
    let dtype = t.dtype.or(spec.dtype).unwrap_or(DType::F32);
    if !dtype.is_float() && !matches!(scheme, Scheme::Zeros | Scheme::Ones | Scheme::Constant) {
        return Err(Error::invalid(
            t.origin.clone(),
            format!("{dtype} tensors take only zeros, ones or constant, not {scheme}"),
        ));
    }
    let (numel, bytes) = sizes(t, dtype)?;
    let ctx = scheme::TensorCtx {
        shape: &t.shape,
        numel,
        fans: tensor_fans(t, scheme, &merged, convention)?,
        convention,
        role: t.role,
    };
    let params = scheme::resolve_in(scheme, &merged.values, &ctx)
        .map_err(|e| prefixed(e, &t.params, &spec.defaults, t))?;
    Ok(PlannedTensor {
        name: t.name.clone(),
        shape: t.shape.clone(),
        dtype,
        scheme,
        params,
        numel,
        bytes,
        zeroed: None,
        torch_dtype: None,
    })
}

impl Plan {
    /// Resolve `spec` with `seed` (the spec's own seed, a flag, or one drawn by the caller).
    /// A spec naming a Hugging Face config is planned by [`crate::plan_spec`].
    pub fn new(spec: &Spec, seed: u64) -> Result<Plan> {
        let convention = spec.convention.unwrap_or_default();
        let rng = spec.rng.unwrap_or_default().available()?;
        if spec.model.is_some() {
            return Err(Error::invalid(
                "hf_config",
                "a model is planned by weightgen::plan_spec (or model::plan_spec), not Plan::new",
            ));
        }
        let all = requested_tensors(spec, convention)?;
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let mut uses = DefaultsUse::default();
        let mut tensors = Vec::with_capacity(all.len());
        for t in &all {
            if let Some(first) = seen.insert(&t.name, &t.origin) {
                // Say where the other one came from: a spec tensor can clash with a layer of
                // `mlp` or a positional argument.
                return Err(Error::invalid(
                    t.origin.clone(),
                    format!("duplicate tensor name `{}` (also from {first})", t.name),
                ));
            }
            tensors.push(plan_tensor(t, spec, convention, &mut uses)?);
        }
        uses.check(&spec.defaults)?;
        if rng == RngKind::Torch {
            for t in &tensors {
                t.torch_plan()?;
            }
        }
        Ok(Plan {
            seed,
            rng,
            convention,
            metadata: spec.metadata.clone(),
            tensors,
            torch_steps: None,
            model: None,
        })
    }

    /// The generator schedule under `--rng torch`: the model's, or each tensor in plan order.
    pub fn torch_schedule(&self) -> std::borrow::Cow<'_, [TorchStep]> {
        match &self.torch_steps {
            Some(steps) => steps.into(),
            None => (0..self.tensors.len())
                .map(TorchStep::Tensor)
                .collect::<Vec<_>>()
                .into(),
        }
    }

    /// Sum of tensor data bytes.
    pub fn data_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_tensor_arg;

    fn spec(args: &[&str]) -> Spec {
        Spec {
            tensors: args.iter().map(|a| parse_tensor_arg(a).unwrap()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let e = Plan::new(&spec(&["3x3", "4x4"]), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicate tensor name `weight`"), "{e}");
    }

    #[test]
    fn unused_flag_is_an_error_that_names_the_flag() {
        let mut s = spec(&["a=3x3"]);
        s.defaults.set_str(Param::Std, "0.1", "--std").unwrap();
        let e = Plan::new(&s, 0).unwrap_err().to_string();
        assert!(
            e.starts_with("--std: not used by any tensor's scheme (xavier_uniform)"),
            "{e}"
        );
    }

    #[test]
    fn element_count_overflow_is_an_error() {
        let s = spec(&["a=4294967296x4294967296"]);
        assert!(
            Plan::new(&s, 0)
                .unwrap_err()
                .to_string()
                .contains("64 bits")
        );
        let s = spec(&["a=4294967296x1073741824"]);
        assert!(Plan::new(&s, 0).unwrap_err().to_string().contains("bytes"));
    }

    #[test]
    fn explicit_fan_makes_a_bias_resolvable_under_torch() {
        let mut s = spec(&["b=256"]);
        s.defaults.set_scheme("standard", "--scheme").unwrap();
        assert!(Plan::new(&s, 0).is_err());
        s.defaults.set_str(Param::FanIn, "784", "--fan-in").unwrap();
        let p = Plan::new(&s, 0).unwrap();
        let b = p.tensors[0].params.bound.unwrap();
        assert_eq!(b as f32, (1.0 / 784f64.sqrt()) as f32);
    }
}
