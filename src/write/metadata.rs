//! The `__metadata__` weightgen records in the safetensors files it writes, and in a
//! checkpoint's index: the user's keys, the run's `weightgen.*` keys (version, seed, stream,
//! convention) and, per file, `weightgen.plan` — each tensor's summary (name, shape, dtype,
//! scheme, parameters, distribution, sizes, zeroed range) and the SHA-256 of its data bytes.
//!
//! Owns: turning a [`Plan`] into those keys (the planner knows nothing of file formats), and
//! the hashes' place in the header. A SHA-256 is 64 hex digits whatever the data, so a header
//! rendered with [`PLACEHOLDER`] hashes has exactly the length of the final one: writers lay
//! out the file with the placeholder header, hash the data as they write it, and rewrite the
//! header in place before the file is synced and renamed (a stream, which cannot seek, is
//! hashed in a pre-pass instead; see `safetensors`). `--index-only` compares an existing
//! shard's header with the one rendered with the hashes that shard records
//! ([`recorded_hashes`]).

use crate::plan::{Plan, TensorSummary};
use std::collections::BTreeMap;

/// The hash recorded before the data is hashed: as long as every real one.
pub(crate) const PLACEHOLDER: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The metadata of one safetensors file written from a plan: the keys that do not depend on
/// the data, and the plan entries of the tensors it holds (plan order), to be rendered with
/// their hashes.
pub(crate) struct FileMetadata<'a> {
    keys: BTreeMap<String, String>,
    entries: Vec<TensorSummary<'a>>,
}

impl<'a> FileMetadata<'a> {
    /// The metadata of a file holding every tensor of `plan`.
    pub(crate) fn all(plan: &'a Plan) -> FileMetadata<'a> {
        let all: Vec<usize> = (0..plan.tensors.len()).collect();
        FileMetadata::of(plan, &all)
    }

    /// The metadata of a file holding only the tensors at `indices` (one shard of a
    /// checkpoint): the same keys, with `weightgen.plan` listing just those tensors, so
    /// `inspect --check` works on each shard alone.
    pub(crate) fn of(plan: &'a Plan, indices: &[usize]) -> FileMetadata<'a> {
        let mut keys = run_metadata(plan);
        keys.insert("format".into(), "pt".into());
        let entries = indices
            .iter()
            .map(|&i| plan.tensors[i].summary(None))
            .collect();
        FileMetadata { keys, entries }
    }

    /// The `__metadata__` map, in a fixed (sorted) key order: `format`, the user's keys, then
    /// `weightgen.*`. Each plan entry carries the hash `hashes` gives for its name, or
    /// [`PLACEHOLDER`].
    pub(crate) fn render(&self, hashes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let entries: Vec<TensorSummary> = self
            .entries
            .iter()
            .map(|e| {
                let mut e = e.clone();
                let h = hashes.get(e.name).map(String::as_str);
                e.sha256 = Some(h.filter(|h| is_sha256_hex(h)).unwrap_or(PLACEHOLDER));
                e
            })
            .collect();
        let mut m = self.keys.clone();
        m.insert(
            "weightgen.plan".into(),
            serde_json::to_string(&entries).expect("plan serialises"),
        );
        m
    }

    /// The metadata with every hash a placeholder (same length as the final one).
    pub(crate) fn placeholder(&self) -> BTreeMap<String, String> {
        self.render(&BTreeMap::new())
    }
}

/// The user's metadata plus the run's `weightgen.*` keys other than the plan (version, seed,
/// stream, convention): what a checkpoint index records too.
pub(crate) fn run_metadata(plan: &Plan) -> BTreeMap<String, String> {
    let mut m = plan.metadata.clone();
    m.insert("weightgen.version".into(), env!("CARGO_PKG_VERSION").into());
    m.insert("weightgen.seed".into(), plan.seed.to_string());
    m.insert("weightgen.stream".into(), plan.rng.stream_version().into());
    m.insert("weightgen.convention".into(), plan.convention.name().into());
    m
}

/// 64 lowercase hex digits.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The per-tensor hashes a file's `weightgen.plan` records (by name; entries without a
/// well-formed hash are left out).
pub(crate) fn recorded_hashes(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        sha256: Option<String>,
    }
    let Some(plan) = metadata.get("weightgen.plan") else {
        return BTreeMap::new();
    };
    let entries: Vec<Entry> = serde_json::from_str(plan).unwrap_or_default();
    entries
        .into_iter()
        .filter_map(|e| Some((e.name, e.sha256.filter(|h| is_sha256_hex(h))?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Spec, parse_tensor_arg};

    fn plan() -> Plan {
        let mut spec = Spec::default();
        for a in ["w=4x3", "b=3x2"] {
            spec.tensors.push(parse_tensor_arg(a).unwrap());
        }
        Plan::new(&spec, 7).unwrap()
    }

    #[test]
    fn rendered_hashes_keep_the_header_length_and_read_back() {
        let p = plan();
        let md = FileMetadata::all(&p);
        let placeholder = md.placeholder();
        let real: BTreeMap<String, String> = [("w", "ab".repeat(32)), ("b", "0f".repeat(32))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let rendered = md.render(&real);
        assert_eq!(
            placeholder["weightgen.plan"].len(),
            rendered["weightgen.plan"].len()
        );
        assert_eq!(recorded_hashes(&rendered), real);
        assert_eq!(rendered["weightgen.seed"], "7");
        assert_eq!(rendered["format"], "pt");
        // A malformed hash is never recorded: the placeholder stands in.
        let bad: BTreeMap<String, String> = [("w".to_string(), "xyz".to_string())].into();
        assert_eq!(md.render(&bad), placeholder);
    }
}
