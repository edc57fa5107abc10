//! A Hugging Face `config.json`, read as transformers 5.x reads it: the family from
//! `model_type` (or `architectures`), every field that changes a tensor's name, shape or initial
//! value, with the config class's default when the field is absent (or `null` where the class
//! takes `None` to mean "derive it").
//!
//! Owns: field lookup with typed errors naming the field, the per-family defaults, the
//! consistency checks (heads dividing the hidden size, `pad_token_id` inside the vocabulary).
//! Does not own: names, shapes or draws (`arch`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// A model family weightgen can lay out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Gemma,
    Gemma2,
    Phi3,
    Gpt2,
    Bert,
    T5,
}

impl Family {
    /// Every family, as `model_type` names it.
    pub const ALL: [Family; 10] = [
        Family::Llama,
        Family::Mistral,
        Family::Qwen2,
        Family::Qwen3,
        Family::Gemma,
        Family::Gemma2,
        Family::Phi3,
        Family::Gpt2,
        Family::Bert,
        Family::T5,
    ];

    /// The `model_type` string.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Gemma => "gemma",
            Family::Gemma2 => "gemma2",
            Family::Phi3 => "phi3",
            Family::Gpt2 => "gpt2",
            Family::Bert => "bert",
            Family::T5 => "t5",
        }
    }

    /// The architectures (model classes) supported for this family; the first is the default
    /// when the config names none.
    pub fn architectures(self) -> &'static [&'static str] {
        match self {
            Family::Llama => &["LlamaForCausalLM"],
            Family::Mistral => &["MistralForCausalLM"],
            Family::Qwen2 => &["Qwen2ForCausalLM"],
            Family::Qwen3 => &["Qwen3ForCausalLM"],
            Family::Gemma => &["GemmaForCausalLM"],
            Family::Gemma2 => &["Gemma2ForCausalLM"],
            Family::Phi3 => &["Phi3ForCausalLM"],
            Family::Gpt2 => &["GPT2LMHeadModel"],
            Family::Bert => &["BertModel", "BertForMaskedLM"],
            Family::T5 => &["T5ForConditionalGeneration"],
        }
    }

    fn from_model_type(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.model_type() == s)
    }

    fn from_architecture(s: &str) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|f| f.architectures().contains(&s))
    }

    /// Whether the model generates text (`save_pretrained` then writes
    /// `generation_config.json`).
    pub fn is_generative(self, architecture: &str) -> bool {
        !(self == Family::Bert && architecture.starts_with("Bert"))
    }
}

/// A parsed `config.json`: the object as given, its family and architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct HfConfig {
    /// Where it was read from (for messages).
    pub source: String,
    pub family: Family,
    pub architecture: String,
    /// The JSON object as given.
    pub raw: Map<String, Value>,
}

fn fail(field: &str, msg: impl Into<String>) -> Error {
    Error::invalid(field.to_string(), msg)
}

impl HfConfig {
    /// Parse a config's text. `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<HfConfig> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::invalid(format!("hf config {source}"), format!("invalid JSON: {e}"))
        })?;
        HfConfig::from_value(value, source).map_err(|e| match e {
            Error::Invalid { where_, msg } => {
                Error::invalid(format!("hf config {source}: {where_}"), msg)
            }
            o => o,
        })
    }

    fn from_value(value: Value, source: &str) -> Result<HfConfig> {
        let Value::Object(raw) = value else {
            return Err(fail("config", "expected a JSON object"));
        };
        let model_type = match raw.get("model_type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(v) => return Err(fail("model_type", format!("expected a string, got {v}"))),
        };
        let archs: Vec<&str> = match raw.get("architectures") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| fail("architectures", format!("expected strings, got {v}")))
                })
                .collect::<Result<_>>()?,
            Some(v) => return Err(fail("architectures", format!("expected a list, got {v}"))),
        };
        let supported = || {
            Family::ALL
                .iter()
                .map(|f| f.model_type())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let family = match model_type {
            Some(t) => Family::from_model_type(t).ok_or_else(|| {
                fail(
                    "model_type",
                    format!("unknown model_type `{t}` (supported: {})", supported()),
                )
            })?,
            None => archs
                .first()
                .and_then(|a| Family::from_architecture(a))
                .ok_or_else(|| {
                    fail(
                        "model_type",
                        format!(
                            "missing, and no supported architecture is named (model types: {})",
                            supported()
                        ),
                    )
                })?,
        };
        let architecture = match archs.as_slice() {
            [] => family.architectures()[0].to_string(),
            [a] if family.architectures().contains(a) => a.to_string(),
            [a] => {
                return Err(fail(
                    "architectures",
                    format!(
                        "`{a}` is not a supported {} architecture (supported: {})",
                        family.model_type(),
                        family.architectures().join(", ")
                    ),
                ));
            }
            _ => {
                return Err(fail(
                    "architectures",
                    format!("names {} classes; give exactly one", archs.len()),
                ));
            }
        };
        Ok(HfConfig {
            source: source.to_string(),
            family,
            architecture,
            raw,
        })
    }

    /// The raw value of `key`, `None` when absent or `null`.
    fn get(&self, key: &str) -> Option<&Value> {
        self.raw.get(key).filter(|v| !v.is_null())
    }

    /// A positive integer field, or `default` when absent.
    pub fn count(&self, key: &str, default: u64) -> Result<u64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .ok_or_else(|| fail(key, format!("expected a positive integer, got {v}"))),
        }
    }

    /// A positive integer field that may be absent or `null` (then `None`).
    pub fn count_opt(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.count(key, 0).map(Some),
        }
    }

    /// A token id: a non-negative integer, absent or `null` (then `default`).
    pub fn token_id(&self, key: &str, default: Option<u64>) -> Result<Option<u64>> {
        match self.raw.get(key) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| fail(key, format!("expected a non-negative integer, got {v}"))),
        }
    }

    /// A boolean field, or `default`.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| fail(key, format!("expected true or false, got {v}"))),
        }
    }

    /// A positive finite number, or `default`.
    pub fn number(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| fail(key, format!("expected a positive number, got {v}"))),
        }
    }

    /// A string field, or `default`.
    pub fn text<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_str()
                .ok_or_else(|| fail(key, format!("expected a string, got {v}"))),
        }
    }

    /// The dtype the config asks for: `dtype` (transformers 5.x), else `torch_dtype` (4.x);
    /// float32 when neither is given, as `from_config` builds.
    pub fn dtype(&self) -> Result<DType> {
        for key in ["dtype", "torch_dtype"] {
            if let Some(v) = self.get(key) {
                let s = v
                    .as_str()
                    .ok_or_else(|| fail(key, format!("expected a string, got {v}")))?;
                return match s.trim_start_matches("torch.") {
                    "float32" => Ok(DType::F32),
                    "bfloat16" => Ok(DType::BF16),
                    "float16" => Ok(DType::F16),
                    "float64" => Ok(DType::F64),
                    "auto" => Ok(DType::F32),
                    other => Err(fail(
                        key,
                        format!(
                            "unsupported dtype `{other}` (valid: float32, bfloat16, float16, float64)"
                        ),
                    )),
                };
            }
        }
        Ok(DType::F32)
    }

    /// `pad_token_id` checked against the vocabulary (`padding_idx` must index a row).
    pub fn pad_row(&self, default: Option<u64>, vocab: u64) -> Result<Option<u64>> {
        let pad = self.token_id("pad_token_id", default)?;
        if let Some(p) = pad
            && p >= vocab
        {
            return Err(fail(
                "pad_token_id",
                format!("{p} is not a row of the embedding (vocab_size {vocab})"),
            ));
        }
        Ok(pad)
    }

    /// The head size: `head_dim` when given, else the family's default, else
    /// hidden / heads, which must divide evenly.
    pub fn head_dim(&self, default: Option<u64>, hidden: u64, heads: u64) -> Result<u64> {
        if let Some(h) = self.count_opt("head_dim")? {
            return Ok(h);
        }
        if let Some(h) = default {
            return Ok(h);
        }
        if !hidden.is_multiple_of(heads) {
            return Err(fail(
                "num_attention_heads",
                format!(
                    "{heads} heads do not divide hidden_size {hidden} (give head_dim to set the head size)"
                ),
            ));
        }
        Ok(hidden / heads)
    }

    /// The config as `save_pretrained` would be given it: the input with `architectures`,
    /// `model_type` and the dtype of the written tensors filled in, keys sorted, indented by 2,
    /// with a final newline (as `PretrainedConfig.to_json_string` writes).
    pub fn written(&self, dtype: DType) -> Vec<u8> {
        let mut m = self.raw.clone();
        m.insert(
            "architectures".into(),
            Value::Array(vec![Value::String(self.architecture.clone())]),
        );
        m.insert(
            "model_type".into(),
            Value::String(self.family.model_type().into()),
        );
        let name = torch_dtype_name(dtype);
        m.insert("dtype".into(), Value::String(name.into()));
        if m.contains_key("torch_dtype") {
            m.insert("torch_dtype".into(), Value::String(name.into()));
        }
        pretty_sorted(&Value::Object(m))
    }

    /// `generation_config.json` as `GenerationConfig.from_model_config` writes it for a
    /// generative model: the token ids the config sets, and the defaults transformers writes.
    pub fn generation_config(&self, defaults: &[(&str, Option<u64>)]) -> Result<Option<Vec<u8>>> {
        if !self.family.is_generative(&self.architecture) {
            return Ok(None);
        }
        let mut m = Map::new();
        m.insert("_from_model_config".into(), Value::Bool(true));
        for (key, default) in defaults {
            if let Some(id) = self.token_id(key, *default)? {
                m.insert((*key).into(), Value::from(id));
            }
        }
        m.insert("output_attentions".into(), Value::Bool(false));
        m.insert("output_hidden_states".into(), Value::Bool(false));
        m.insert("use_cache".into(), Value::Bool(true));
        Ok(Some(pretty_sorted(&Value::Object(m))))
    }
}

/// The dtype's name as torch (and `config.json`) spells it.
pub(crate) fn torch_dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::I64 => "int64",
    }
}

/// JSON with sorted keys (serde_json's map is ordered by key), 2-space indent, final newline.
fn pretty_sorted(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("a JSON value serialises");
    out.push(b'\n');
    out
}

/// What a plan built from a model records about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub family: Family,
    pub architecture: String,
    /// Files written beside the weights, by name: `config.json` and, for generative models,
    /// `generation_config.json`.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Read a model config: `path` is a `config.json` or a directory holding one.
pub fn load(path: &Path) -> Result<HfConfig> {
    let file: PathBuf = if path.is_dir() {
        path.join("config.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Error::Usage(format!("cannot read hf config {}: {}", file.display(), e)))?;
    HfConfig::parse(&text, &file.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_comes_from_model_type_or_architecture() {
        let c = HfConfig::parse(r#"{"model_type": "llama"}"#, "t").unwrap();
        assert_eq!(c.family, Family::Llama);
        assert_eq!(c.architecture, "LlamaForCausalLM");
        let c = HfConfig::parse(r#"{"architectures": ["BertForMaskedLM"]}"#, "t").unwrap();
        assert_eq!(
            (c.family, c.architecture.as_str()),
            (Family::Bert, "BertForMaskedLM")
        );
    }

    #[test]
    fn unknown_model_type_names_the_field_and_the_supported_ones() {
        let e = HfConfig::parse(r#"{"model_type": "mamba"}"#, "c.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "hf config c.json: model_type: unknown model_type `mamba` (supported: llama,"
            ),
            "{e}"
        );
    }

    #[test]
    fn architecture_of_another_family_is_refused() {
        let e = HfConfig::parse(
            r#"{"model_type": "llama", "architectures": ["GPT2LMHeadModel"]}"#,
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("architectures: `GPT2LMHeadModel` is not a supported llama architecture"),
            "{e}"
        );
    }

    #[test]
    fn pad_token_outside_the_vocabulary_is_refused() {
        let c = HfConfig::parse(r#"{"model_type": "llama", "pad_token_id": 10}"#, "c").unwrap();
        let e = c.pad_row(None, 10).unwrap_err().to_string();
        assert!(e.contains("pad_token_id: 10 is not a row"), "{e}");
        assert_eq!(c.pad_row(None, 11).unwrap(), Some(10));
    }
}
