//! A sharded checkpoint's `model.safetensors.index.json` (docs/file-formats.md §2):
//! `{"metadata": {"total_size": N, …}, "weight_map": {tensor: shard file}}`. Shard names must be
//! plain relative file names ending in `.safetensors` (the index can never point outside its
//! directory), every tensor is listed once, and after the shards are read `inspect` checks that
//! each shard holds exactly the tensors mapped to it and that `total_size` is their byte sum.

use super::bad;
use crate::error::Result;
use crate::json::UniqueMap;
use serde::Deserialize;

/// Largest index file read (real ones are a few hundred KB even for huge models).
pub(crate) const MAX_INDEX_BYTES: u64 = 64 << 20;

/// A validated index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShardIndex {
    pub total_size: Option<u64>,
    /// (tensor, shard file name), in the index's order.
    pub weight_map: Vec<(String, String)>,
    /// Distinct shard file names, in order of first appearance.
    pub shards: Vec<String>,
    /// The run's string-valued metadata (`weightgen.seed`, `weightgen.stream`, …, the user's
    /// keys), which each of its shards records too; not `weightgen.max_shard_size`, which
    /// only the index records.
    pub run: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    metadata: Option<UniqueMap<serde_json::Value>>,
    weight_map: UniqueMap<String>,
}

/// The prefix and shard count a shard's file name gives (`PREFIX-00002-of-00003.safetensors`:
/// `("PREFIX", 3)`; five digits or more each, as huggingface_hub names shards), if it is one.
pub(crate) fn shard_of(name: &str) -> Option<(&str, usize)> {
    let (rest, n) = name.strip_suffix(".safetensors")?.rsplit_once("-of-")?;
    let (prefix, k) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if prefix.is_empty() || !digits(k) || !digits(n) {
        return None;
    }
    Some((prefix, n.parse().ok()?))
}

/// Whether a path names an index file rather than a safetensors file.
pub(crate) fn is_index(name: &str) -> bool {
    name.ends_with(".index.json")
}

/// Parse and validate an index file's bytes.
pub(crate) fn parse(bytes: &[u8]) -> Result<ShardIndex> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("index is not UTF-8"))?;
    let raw: Raw = serde_json::from_str(text)
        .map_err(|e| bad(format!("not a valid safetensors index: {e}")))?;
    let mut total_size = None;
    let mut run = std::collections::BTreeMap::new();
    for (k, v) in raw.metadata.map(|m| m.0).unwrap_or_default() {
        if let Some(s) = v.as_str()
            && k != "weightgen.max_shard_size"
        {
            run.insert(k.clone(), s.to_string());
        }
        if k == "total_size" {
            total_size =
                Some(v.as_u64().ok_or_else(|| {
                    bad("index metadata.total_size is not a non-negative integer")
                })?);
        }
    }
    let mut shards: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (tensor, file) in &raw.weight_map.0 {
        let plain = !file.is_empty()
            && !file.contains(['/', '\\', '\0'])
            && file != ".."
            && file.as_bytes().get(1) != Some(&b':')
            && file.ends_with(".safetensors");
        if !plain {
            return Err(bad(format!(
                "index maps `{tensor}` to `{}`: shards must be .safetensors files in the index's own directory",
                file.escape_debug()
            )));
        }
        if seen.insert(file.as_str()) {
            shards.push(file.clone());
        }
    }
    if raw.weight_map.0.is_empty() {
        return Err(bad("index weight_map is empty"));
    }
    Ok(ShardIndex {
        total_size,
        weight_map: raw.weight_map.0,
        shards,
        run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_parsed_and_shard_names_are_confined() {
        let ok = br#"{"metadata":{"total_size":16},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}}"#;
        let i = parse(ok).unwrap();
        assert_eq!(i.total_size, Some(16));
        assert_eq!(i.shards.len(), 2);
        for bad_file in [
            "../x.safetensors",
            "/abs.safetensors",
            "d/x.safetensors",
            "x.bin",
        ] {
            let t = format!(r#"{{"weight_map":{{"a":"{bad_file}"}}}}"#);
            assert!(parse(t.as_bytes()).is_err(), "{bad_file}");
        }
        assert_eq!(
            shard_of("model-00002-of-00003.safetensors"),
            Some(("model", 3))
        );
        assert_eq!(
            shard_of("a-b-00001-of-00012.safetensors"),
            Some(("a-b", 12))
        );
        for no in [
            "model.safetensors",
            "model-2-of-3.safetensors",
            "-00001-of-00002.safetensors",
            "model-00001-of-00002.bin",
        ] {
            assert_eq!(shard_of(no), None, "{no}");
        }
        let dup = br#"{"weight_map":{"a":"x.safetensors","a":"y.safetensors"}}"#;
        assert!(
            parse(dup)
                .unwrap_err()
                .to_string()
                .contains("duplicate key")
        );
    }
}
