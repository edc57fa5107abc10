//! Parameters and tensors as a user gives them, before resolution: the values one level of a
//! spec sets ([`ParamSet`]) and one requested tensor ([`TensorSpec`]).
//!
//! Owns: parsing one parameter value (text or JSON) with the place it came from. Sits below
//! both `spec` (the JSON format) and `layers` (which expand into tensors), so neither imports
//! the other's types. Does not own: precedence between levels (`spec`) or resolution (`plan`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::scheme::{Mode, Nonlinearity, Param, Scheme, Values, VsDistribution};
use serde_json::Value;
use std::collections::BTreeMap;

/// What kind of JSON value `v` is, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Scheme and parameter values set at one level (top level, flags, or one tensor), each with
/// where it was given so errors can point at it (`--std`, `tensors[2].gain`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamSet {
    pub scheme: Option<Scheme>,
    pub scheme_origin: String,
    pub values: Values,
    pub origins: BTreeMap<Param, String>,
}

fn parse_f64_str(s: &str) -> Result<f64> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| Error::invalid("", format!("expected a number, got `{s}`")))
}

fn parse_u64_str(s: &str) -> Result<u64> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| Error::invalid("", format!("expected a non-negative integer, got `{s}`")))
}

pub(crate) fn with_where(e: Error, where_: &str) -> Error {
    match e {
        Error::Invalid { where_: w, msg } if w.is_empty() => Error::invalid(where_, msg),
        other => other,
    }
}

impl ParamSet {
    /// Set the scheme from a name.
    pub fn set_scheme(&mut self, name: &str, origin: &str) -> Result<()> {
        self.scheme = Some(Scheme::parse(name).map_err(|e| with_where(e, origin))?);
        self.scheme_origin = origin.to_string();
        Ok(())
    }

    /// Set parameter `p` from its textual form (a flag's value).
    pub fn set_str(&mut self, p: Param, s: &str, origin: &str) -> Result<()> {
        let v = &mut self.values;
        let r: Result<()> = (|| {
            match p {
                Param::Gain => v.gain = Some(parse_f64_str(s)?),
                Param::NegativeSlope => v.negative_slope = Some(parse_f64_str(s)?),
                Param::Scale => v.scale = Some(parse_f64_str(s)?),
                Param::Mean => v.mean = Some(parse_f64_str(s)?),
                Param::Std => v.std = Some(parse_f64_str(s)?),
                Param::Low => v.low = Some(parse_f64_str(s)?),
                Param::High => v.high = Some(parse_f64_str(s)?),
                Param::Value => v.value = Some(parse_f64_str(s)?),
                Param::Sparsity => v.sparsity = Some(parse_f64_str(s)?),
                Param::Groups => v.groups = Some(parse_u64_str(s)?),
                Param::FanIn => v.fan_in = Some(parse_u64_str(s)?),
                Param::FanOut => v.fan_out = Some(parse_u64_str(s)?),
                Param::Mode => v.mode = Some(Mode::parse(s)?),
                Param::Nonlinearity => v.nonlinearity = Some(Nonlinearity::parse(s)?),
                Param::Distribution => v.distribution = Some(VsDistribution::parse(s)?),
            }
            Ok(())
        })();
        r.map_err(|e| with_where(e, origin))?;
        self.origins.insert(p, origin.to_string());
        Ok(())
    }

    /// Set parameter `p` from a JSON value.
    pub(crate) fn set_json(&mut self, p: Param, value: &Value, path: &str) -> Result<()> {
        let text = match p {
            Param::Mode | Param::Nonlinearity | Param::Distribution => value
                .as_str()
                .ok_or_else(|| {
                    Error::invalid(path, format!("expected a string, got {}", kind(value)))
                })?
                .to_string(),
            Param::Groups | Param::FanIn | Param::FanOut => value
                .as_u64()
                .ok_or_else(|| {
                    Error::invalid(
                        path,
                        format!("expected a non-negative integer, got {value}"),
                    )
                })?
                .to_string(),
            _ => {
                let x = value.as_f64().ok_or_else(|| {
                    Error::invalid(path, format!("expected a number, got {}", kind(value)))
                })?;
                // Exact: Rust prints the shortest representation that parses back to x.
                format!("{x:?}")
            }
        };
        self.set_str(p, &text, path)
    }

    /// Whether parameter `p` was set at this level.
    pub fn has(&self, p: Param) -> bool {
        self.origins.contains_key(&p)
    }

    /// `self` with every value set in `over` replacing ours.
    pub fn overlaid(&self, over: &ParamSet) -> ParamSet {
        let mut out = self.clone();
        if over.scheme.is_some() {
            out.scheme = over.scheme;
            out.scheme_origin = over.scheme_origin.clone();
        }
        let (o, v) = (&mut out.values, &over.values);
        macro_rules! take {
            ($($f:ident),*) => { $( if v.$f.is_some() { o.$f = v.$f; } )* };
        }
        take!(
            gain,
            mode,
            nonlinearity,
            negative_slope,
            scale,
            distribution,
            mean,
            std,
            low,
            high,
            value,
            sparsity,
            groups,
            fan_in,
            fan_out
        );
        for (p, origin) in &over.origins {
            out.origins.insert(*p, origin.clone());
        }
        out
    }
}

/// One tensor the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<u64>,
    pub dtype: Option<DType>,
    pub params: ParamSet,
    /// Where it was given: `tensors[1]` or `argument fc1.weight=256x784`.
    pub origin: String,
    /// What the tensor is in its layer (for `torch_default`); raw tensors are weights.
    pub role: crate::scheme::Role,
    /// Whether the spec's top-level scheme and parameters apply (raw tensors and layer
    /// weights); biases, norms and embeddings have their own defaults.
    pub inherit: bool,
}
