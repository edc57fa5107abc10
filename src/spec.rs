//! Spec: what the user asked for, from flags or JSON, as one checked type.
//!
//! Owns: the JSON spec format (version 1), its parsing with error paths (`tensors[1].shpae`),
//! the parameter keys shared by flags and JSON, and precedence between levels. Does not own:
//! resolving schemes to distributions (`plan`, `scheme`). Clap types never reach this module:
//! the binary converts flags with [`ParamSet::set_str`] and friends.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fans::Convention;
use crate::json::StrictValue;
use crate::layers::{BiasSpec, LayerKind, LayerSpec};
pub use crate::params::{ParamSet, TensorSpec};
use crate::params::{kind, with_where};
use crate::scheme::Param;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Everything the user asked for, from JSON and flags, before resolution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    /// As given; negative values are only valid with `rng: torch` (checked by the plan).
    pub seed: Option<i128>,
    pub rng: Option<crate::stream::RngKind>,
    pub dtype: Option<DType>,
    pub convention: Option<Convention>,
    /// Write a sharded checkpoint with shards of at most this many tensor bytes
    /// (`max_shard_size`, like `--max-shard-size`): it decides the files, so it belongs with
    /// the spec every machine of a split run shares.
    pub max_shard_size: Option<u64>,
    /// Top-level scheme and parameters: defaults for every tensor.
    pub defaults: ParamSet,
    /// User metadata for the safetensors `__metadata__`.
    pub metadata: BTreeMap<String, String>,
    pub tensors: Vec<TensorSpec>,
    /// Layers, expanded to tensors by the plan (before `tensors`).
    pub layers: Vec<LayerSpec>,
    /// A Hugging Face model config (`hf_config`): the plan is that model's checkpoint.
    pub model: Option<crate::model::config::HfConfig>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        let at = if path.is_empty() { "spec" } else { path };
        Error::invalid(at, format!("expected an object, got {}", kind(v)))
    })
}

fn as_str<'a>(v: &'a Value, path: &str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| Error::invalid(path, format!("expected a string, got {}", kind(v))))
}

const TOP_KEYS: [&str; 11] = [
    "version",
    "hf_config",
    "rng",
    "seed",
    "dtype",
    "convention",
    "max_shard_size",
    "scheme",
    "metadata",
    "tensors",
    "layers",
];
const TENSOR_KEYS: [&str; 4] = ["name", "shape", "dtype", "scheme"];

fn unknown_key(path: &str, key: &str, fixed: &[&str]) -> Error {
    let mut valid: Vec<&str> = fixed.to_vec();
    valid.extend(Param::ALL.iter().map(|p| p.key()));
    Error::invalid(
        join(path, key),
        format!(
            "unknown key{} (valid keys here: {})",
            crate::names::did_you_mean(key, &valid),
            valid.join(", ")
        ),
    )
}

/// Parse a tensor name as typed: non-empty, no control characters, not reserved.
pub(crate) fn check_name(name: &str, origin: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(origin, "tensor name is empty"));
    }
    if name == "__metadata__" {
        return Err(Error::invalid(
            origin,
            "`__metadata__` is reserved by safetensors and cannot name a tensor",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            origin,
            format!("tensor name {name:?} contains a control character"),
        ));
    }
    Ok(())
}

/// Parse `DIMS` such as `256x784` (also `256,784`, `256×784`).
pub(crate) fn parse_dims(s: &str) -> Result<Vec<u64>> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::invalid(
            "",
            "empty shape (write dimensions like 256x784)",
        ));
    }
    s.split(['x', 'X', ',', '×'])
        .map(|d| {
            let d = d.trim();
            d.parse::<u64>().map_err(|_| {
                let why = if d.starts_with('-') {
                    "is negative"
                } else if d.chars().all(|c| c.is_ascii_digit()) && !d.is_empty() {
                    "is too large"
                } else {
                    "is not a non-negative integer"
                };
                Error::invalid("", format!("dimension `{d}` in `{s}` {why}"))
            })
        })
        .collect()
}

/// Parse a positional tensor argument: `NAME=DIMS` or `DIMS` (named `weight`).
pub fn parse_tensor_arg(arg: &str) -> Result<TensorSpec> {
    let origin = format!("argument `{arg}`");
    let (name, dims) = match arg.rsplit_once('=') {
        Some((n, d)) => (n.to_string(), d),
        None => ("weight".to_string(), arg),
    };
    check_name(&name, &origin)?;
    let shape = parse_dims(dims).map_err(|e| with_where(e, &origin))?;
    Ok(TensorSpec {
        name,
        shape,
        dtype: None,
        params: ParamSet::default(),
        origin,
        role: Default::default(),
        inherit: true,
    })
}

fn parse_params_into(
    obj: &Map<String, Value>,
    path: &str,
    fixed: &[&str],
    set: &mut ParamSet,
) -> Result<()> {
    for (key, value) in obj {
        if fixed.contains(&key.as_str()) {
            if key == "scheme" {
                set.set_scheme(as_str(value, &join(path, key))?, &join(path, key))?;
            }
            continue;
        }
        match Param::from_key(key) {
            Some(p) => set.set_json(p, value, &join(path, key))?,
            None => return Err(unknown_key(path, key, fixed)),
        }
    }
    Ok(())
}

impl Spec {
    /// Parse a JSON spec (version 1). `source` names it in errors (`spec.json`, `stdin`).
    pub fn from_json(text: &str, source: &str) -> Result<Spec> {
        let StrictValue(value) = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("spec {source}"), format!("invalid JSON: {e}")))?;
        let mut spec = Spec::from_value(&value).map_err(|e| match e {
            Error::Invalid { where_, msg } => {
                Error::invalid(format!("spec {source}: {where_}"), msg)
            }
            other => other,
        })?;
        // Errors found later (by the plan: a bad value, a duplicate name) name these places
        // too, so every error about the file starts with the same `spec FILE: `.
        spec.mark_source(source);
        if let Some(v) = value.get("hf_config") {
            let p = v.as_str().filter(|p| !p.is_empty()).ok_or_else(|| {
                Error::invalid(
                    format!("spec {source}: hf_config"),
                    format!("expected the path of a config.json, got {v}"),
                )
            })?;
            // A relative path is taken from the spec file's folder (stdin: the current one).
            let mut path = std::path::PathBuf::from(p);
            if path.is_relative()
                && source != "<stdin>"
                && let Some(dir) = std::path::Path::new(source).parent()
            {
                path = dir.join(path);
            }
            spec.model = Some(crate::model::config::load(&path)?);
        }
        Ok(spec)
    }

    /// Prefix every place this spec's values came from with `spec SOURCE: `.
    fn mark_source(&mut self, source: &str) {
        let mark = |o: &mut String| {
            if !o.is_empty() {
                *o = format!("spec {source}: {o}");
            }
        };
        let mark_set = |set: &mut ParamSet| {
            if set.scheme.is_some() {
                mark(&mut set.scheme_origin);
            }
            set.origins.values_mut().for_each(mark);
        };
        mark_set(&mut self.defaults);
        for t in &mut self.tensors {
            mark(&mut t.origin);
            mark_set(&mut t.params);
        }
        for l in &mut self.layers {
            mark(&mut l.origin);
            mark_set(&mut l.weight);
            if let crate::layers::BiasSpec::With(b) = &mut l.bias {
                mark_set(b);
            }
        }
    }

    fn from_value(value: &Value) -> Result<Spec> {
        let top = as_object(value, "")?;
        let mut spec = Spec::default();
        if let Some(v) = top.get("version")
            && v.as_u64() != Some(1)
        {
            return Err(Error::invalid(
                "version",
                format!("unsupported spec version {v} (this weightgen reads version 1)"),
            ));
        }
        if let Some(v) = top.get("seed") {
            let seed = v
                .as_u64()
                .map(i128::from)
                .or_else(|| v.as_i64().map(i128::from));
            spec.seed = Some(seed.ok_or_else(|| {
                Error::invalid(
                    "seed",
                    format!("expected an integer in 0..=18446744073709551615, got {v}"),
                )
            })?);
        }
        if let Some(v) = top.get("rng") {
            spec.rng = Some(
                crate::stream::RngKind::parse(as_str(v, "rng")?)
                    .map_err(|e| with_where(e, "rng"))?,
            );
        }
        if let Some(v) = top.get("dtype") {
            spec.dtype =
                Some(DType::parse(as_str(v, "dtype")?).map_err(|e| with_where(e, "dtype"))?);
        }
        if let Some(v) = top.get("convention") {
            spec.convention = Some(
                Convention::parse(as_str(v, "convention")?)
                    .map_err(|e| with_where(e, "convention"))?,
            );
        }
        if let Some(v) = top.get("max_shard_size") {
            let size = match v {
                Value::String(s) => parse_size(s),
                Value::Number(_) => v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                    Error::invalid("", format!("expected a positive number of bytes, got {v}"))
                }),
                _ => Err(Error::invalid(
                    "",
                    format!(
                        "expected a size like \"5GB\" or a number of bytes, got {}",
                        kind(v)
                    ),
                )),
            };
            spec.max_shard_size = Some(size.map_err(|e| with_where(e, "max_shard_size"))?);
        }
        if let Some(v) = top.get("metadata") {
            for (k, val) in as_object(v, "metadata")? {
                let path = format!("metadata.{k}");
                let s = as_str(val, &path)?;
                if k == "format" || k.starts_with("weightgen.") {
                    return Err(Error::invalid(
                        path,
                        "this key is reserved (weightgen writes `format` and `weightgen.*` itself)",
                    ));
                }
                spec.metadata.insert(k.clone(), s.to_string());
            }
        }
        if let Some(v) = top.get("layers") {
            let arr = v.as_array().ok_or_else(|| {
                Error::invalid("layers", format!("expected an array, got {}", kind(v)))
            })?;
            for (i, l) in arr.iter().enumerate() {
                spec.layers.push(parse_layer(l, &format!("layers[{i}]"))?);
            }
        }
        parse_params_into(top, "", &TOP_KEYS, &mut spec.defaults)?;
        if let Some(v) = top.get("tensors") {
            let arr = v.as_array().ok_or_else(|| {
                Error::invalid("tensors", format!("expected an array, got {}", kind(v)))
            })?;
            for (i, t) in arr.iter().enumerate() {
                spec.tensors
                    .push(parse_tensor(t, &format!("tensors[{i}]"))?);
            }
        }
        Ok(spec)
    }
}

const LAYER_KEYS: [&str; 6] = ["type", "name", "dtype", "scheme", "weight", "bias"];
const LAYER_DIMS: [&str; 12] = [
    "in_features",
    "out_features",
    "in_channels",
    "out_channels",
    "kernel_size",
    "groups",
    "num_embeddings",
    "embedding_dim",
    "normalized_shape",
    "num_features",
    "num_groups",
    "num_channels",
];

fn as_dims(v: &Value, path: &str, list: bool) -> Result<Vec<u64>> {
    let one = |d: &Value, p: &str| {
        d.as_u64()
            .ok_or_else(|| Error::invalid(p, format!("expected a non-negative integer, got {d}")))
    };
    match v {
        Value::Array(items) if list => {
            if items.is_empty() {
                return Err(Error::invalid(path, "expected at least one value"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, d)| one(d, &format!("{path}[{i}]")))
                .collect()
        }
        _ => Ok(vec![one(v, path)?]),
    }
}

/// A `"weight"` or `"bias"` object: a scheme and its parameters.
fn parse_param_object(v: &Value, path: &str) -> Result<ParamSet> {
    let obj = as_object(v, path)?;
    let mut set = ParamSet::default();
    parse_params_into(obj, path, &["scheme"], &mut set)?;
    Ok(set)
}

fn parse_layer(v: &Value, path: &str) -> Result<LayerSpec> {
    let obj = as_object(v, path)?;
    let ty = obj
        .get("type")
        .ok_or_else(|| Error::invalid(path, "missing key `type`"))?;
    let tpath = join(path, "type");
    let kind = LayerKind::parse(as_str(ty, &tpath)?).map_err(|e| with_where(e, &tpath))?;
    let name = obj.get("name").ok_or_else(|| {
        Error::invalid(
            path,
            "missing key `name` (the module's name in the state dict; \"\" for a lone module)",
        )
    })?;
    let name = as_str(name, &join(path, "name"))?.to_string();
    if !name.is_empty() {
        check_name(&name, &join(path, "name"))?;
    }
    let layer_dims = kind.dims();
    let mut weight = ParamSet::default();
    let mut dims = BTreeMap::new();
    let mut bias = BiasSpec::Default;
    let mut dtype = None;
    let mut weight_obj = None;
    for (key, value) in obj {
        let kpath = join(path, key);
        match key.as_str() {
            "type" | "name" => {}
            "dtype" => {
                dtype =
                    Some(DType::parse(as_str(value, &kpath)?).map_err(|e| with_where(e, &kpath))?)
            }
            "scheme" => weight.set_scheme(as_str(value, &kpath)?, &kpath)?,
            "weight" => weight_obj = Some(parse_param_object(value, &kpath)?),
            "bias" => {
                if !kind.has_optional_bias() {
                    return Err(Error::invalid(
                        kpath,
                        format!("{kind} has no optional bias"),
                    ));
                }
                bias = match value {
                    Value::Bool(true) => BiasSpec::Default,
                    Value::Bool(false) => BiasSpec::Off,
                    Value::Object(_) => {
                        BiasSpec::With(Box::new(parse_param_object(value, &kpath)?))
                    }
                    other => {
                        return Err(Error::invalid(
                            kpath,
                            format!(
                                "expected true, false or an object with a scheme, got {}",
                                crate::params::kind(other)
                            ),
                        ));
                    }
                }
            }
            k => {
                if let Some(&(dim, _, list)) = layer_dims.iter().find(|d| d.0 == k) {
                    dims.insert(dim, as_dims(value, &kpath, list)?);
                } else if let Some(p) = Param::from_key(k) {
                    weight.set_json(p, value, &kpath)?;
                } else if LAYER_DIMS.contains(&k) {
                    return Err(Error::invalid(kpath, format!("not a parameter of {kind}")));
                } else {
                    let mut fixed: Vec<&str> = LAYER_KEYS.to_vec();
                    fixed.extend(layer_dims.iter().map(|d| d.0));
                    return Err(unknown_key(path, k, &fixed));
                }
            }
        }
    }
    for &(dim, required, _) in layer_dims {
        if required && !dims.contains_key(dim) {
            return Err(Error::invalid(path, format!("{kind} needs `{dim}`")));
        }
    }
    if let Some(w) = weight_obj {
        weight = weight.overlaid(&w);
    }
    Ok(LayerSpec {
        kind,
        name,
        dtype,
        weight,
        bias,
        dims,
        origin: path.to_string(),
    })
}

fn parse_tensor(v: &Value, path: &str) -> Result<TensorSpec> {
    let obj = as_object(v, path)?;
    // Unknown keys first: a misspelt `shape` should be reported as misspelt, not missing.
    let mut params = ParamSet::default();
    parse_params_into(obj, path, &TENSOR_KEYS, &mut params)?;
    let name = obj
        .get("name")
        .ok_or_else(|| Error::invalid(path, "missing key `name`"))?;
    let name = as_str(name, &join(path, "name"))?.to_string();
    check_name(&name, &join(path, "name"))?;
    let shape_v = obj
        .get("shape")
        .ok_or_else(|| Error::invalid(path, "missing key `shape`"))?;
    let shape_path = join(path, "shape");
    let shape = shape_v
        .as_array()
        .ok_or_else(|| {
            Error::invalid(
                &shape_path,
                format!("expected an array of dimensions, got {}", kind(shape_v)),
            )
        })?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.as_u64().ok_or_else(|| {
                Error::invalid(
                    format!("{shape_path}[{i}]"),
                    format!("expected a non-negative integer dimension, got {d}"),
                )
            })
        })
        .collect::<Result<Vec<u64>>>()?;
    let dtype = match obj.get("dtype") {
        Some(d) => {
            let p = join(path, "dtype");
            Some(DType::parse(as_str(d, &p)?).map_err(|e| with_where(e, &p))?)
        }
        None => None,
    };
    Ok(TensorSpec {
        name,
        shape,
        dtype,
        params,
        origin: path.to_string(),
        role: Default::default(),
        inherit: true,
    })
}

/// Parse a shard size as huggingface_hub's `parse_size_to_int` does: a number (fractions
/// allowed) and a decimal unit `KB`/`MB`/`GB`/`TB` (10³…10¹², any letter case, the value
/// truncated to whole bytes like Python's `int(value * unit)`); also binary units
/// `KiB`/`MiB`/`GiB`/`TiB` (2¹⁰…2⁴⁰, as transformers' `convert_file_size_to_int`), and a
/// plain integer number of bytes. A trailing lower-case `b` (`5Gb`) is refused: huggingface_hub
/// reads it as bytes, transformers as bits.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let bad = |why: &str| {
        Error::invalid(
            "",
            format!("{why} in `{s}` (write a size like 5GB, 500MB, 2GiB, or a number of bytes)"),
        )
    };
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    if num.is_empty() {
        return Err(bad("no number"));
    }
    let upper = unit.to_ascii_uppercase();
    let mult: u64 = match upper.as_str() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KIB" => 1 << 10,
        "MIB" => 1 << 20,
        "GIB" => 1 << 30,
        "TIB" => 1 << 40,
        _ => return Err(bad(&format!("unknown unit `{unit}`"))),
    };
    if mult > 1 && !upper.ends_with("IB") && unit.ends_with('b') {
        return Err(bad(
            "a lower-case `b` means bits to transformers and bytes to huggingface_hub; write B",
        ));
    }
    let bytes = if let Ok(n) = num.parse::<u64>() {
        n.checked_mul(mult)
            .ok_or_else(|| bad("more bytes than fit in 64 bits"))?
    } else {
        if mult == 1 {
            return Err(bad("a number of bytes must be a whole number"));
        }
        let x: f64 = num.parse().map_err(|_| bad("not a number"))?;
        // huggingface_hub: int(float(value) * multiplier).
        let b = (x * mult as f64).trunc();
        if b >= u64::MAX as f64 {
            return Err(bad("more bytes than fit in 64 bits"));
        }
        b as u64
    };
    if bytes == 0 {
        return Err(bad("the size must be at least one byte"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_huggingface_hub_does() {
        assert_eq!(parse_size("5GB").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("5gB").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size(" 1.5 GB ").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("10KB").unwrap(), 10_000);
        assert_eq!(parse_size("2TB").unwrap(), 2_000_000_000_000);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("3MiB").unwrap(), 3 << 20);
        assert_eq!(parse_size("1kib").unwrap(), 1024);
        assert_eq!(parse_size("12345").unwrap(), 12345);
        assert_eq!(parse_size("100B").unwrap(), 100);
        // int(0.1 * 10**9) in Python.
        assert_eq!(parse_size("0.1GB").unwrap(), 100_000_000);
        assert_eq!(parse_size("0.3KB").unwrap(), 300);
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in [
            "",
            "GB",
            "5XB",
            "5Gb",
            "5gb",
            "0",
            "0GB",
            "1.5",
            "-1GB",
            "1e3GB",
            "5 G B",
            "99999999999TB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        let e = parse_size("5Gb").unwrap_err().to_string();
        assert!(e.contains("bits"), "{e}");
    }

    fn err(json: &str) -> String {
        Spec::from_json(json, "t.json").unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let e = err(r#"{"tensors":[{"name":"a","shape":[1]},{"name":"b","shpae":[2]}]}"#);
        assert!(e.contains("tensors[1].shpae: unknown key"), "{e}");
        let e = err(r#"{"sead": 1}"#);
        assert!(e.contains("spec t.json: sead: unknown key"), "{e}");
    }

    #[test]
    fn max_shard_size_is_a_size_string_or_a_number_of_bytes() {
        let s = Spec::from_json(r#"{"max_shard_size": "2GiB"}"#, "t.json").unwrap();
        assert_eq!(s.max_shard_size, Some(2 << 30));
        let s = Spec::from_json(r#"{"max_shard_size": 5000}"#, "t.json").unwrap();
        assert_eq!(s.max_shard_size, Some(5000));
        let e = err(r#"{"max_shard_size": "5Gb"}"#);
        assert!(
            e.contains("spec t.json: max_shard_size: ") && e.contains("bits"),
            "{e}"
        );
        let e = err(r#"{"max_shard_size": 0}"#);
        assert!(e.contains("max_shard_size: expected a positive"), "{e}");
        let e = err(r#"{"max_shard_size": true}"#);
        assert!(e.contains("max_shard_size: expected a size"), "{e}");
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let e = err("{\n  \"seed\": 1,\n}");
        assert!(e.contains("line 3 column 1"), "{e}");
    }

    #[test]
    fn wrong_types_and_negative_dimensions_are_errors() {
        let e = err(r#"{"tensors":[{"name":"a","shape":[3,-1]}]}"#);
        assert!(e.contains("tensors[0].shape[1]") && e.contains("-1"), "{e}");
        let e = err(r#"{"tensors":[{"name":"a","shape":[3],"std":"big"}]}"#);
        assert!(e.contains("tensors[0].std: expected a number"), "{e}");
        let e = err(r#"{"seed": 1.5}"#);
        assert!(e.contains("seed"), "{e}");
    }

    #[test]
    fn positional_arguments_parse_names_and_dims() {
        let t = parse_tensor_arg("fc1.weight=256x784").unwrap();
        assert_eq!(
            (t.name.as_str(), t.shape.clone()),
            ("fc1.weight", vec![256, 784])
        );
        assert_eq!(parse_tensor_arg("3x3").unwrap().name, "weight");
        assert!(
            parse_tensor_arg("a=3x-3")
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(
            parse_tensor_arg("a=99999999999999999999999")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
        assert!(parse_tensor_arg("=3").is_err());
        assert!(parse_tensor_arg("__metadata__=3").is_err());
    }

    #[test]
    fn duplicate_json_keys_are_errors() {
        let e = err("{\"tensors\": [{\"name\": \"a\", \"shape\": [1],\n \"std\": 1, \"std\": 2}]}");
        assert!(
            e.contains("duplicate key `std`") && e.contains("line 2"),
            "{e}"
        );
    }

    #[test]
    fn json_numbers_are_parsed_exactly() {
        // serde_json's default float parser can be off by one ulp; `float_roundtrip` is on.
        let s = Spec::from_json(r#"{"std": 0.011507182723729041}"#, "x").unwrap();
        assert_eq!(s.defaults.values.std, Some(0.011507182723729041));
        assert_ne!(0.011507182723729041f64, 0.01150718272372904f64);
    }

    #[test]
    fn flag_values_and_json_values_parse_to_the_same_parameters() {
        let mut a = ParamSet::default();
        a.set_str(Param::NegativeSlope, "0.2", "--negative-slope")
            .unwrap();
        let s = Spec::from_json(r#"{"negative_slope": 0.2}"#, "x").unwrap();
        assert_eq!(a.values, s.defaults.values);
    }
}
