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
//!
//! A shard of a checkpoint of several files also records where it sits in the whole plan:
//! `weightgen.plan_sha256`, the fingerprint of the whole plan ([`plan_sha256`]: SHA-256 of
//! its canonical JSON without the data hashes, which a `--shard K` run cannot know for other
//! shards; the index records it too), and `weightgen.plan_positions`, the plan positions of
//! its tensors as half-open ranges (`[[0,3],[4,5]]`; a tensor larger than the shard size gets
//! a shard of its own out of plan order). From every shard's header the whole plan is rebuilt
//! in plan order (`inspect --verify` of `--rng torch` shards). Single files and a lone shard
//! record neither: their `weightgen.plan` is the whole plan.

use crate::plan::{Plan, TensorSummary};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The key of the whole plan's fingerprint (every shard of several, and the index).
pub(crate) const PLAN_SHA256: &str = "weightgen.plan_sha256";
/// The key of a shard's tensors' positions in the whole plan.
pub(crate) const PLAN_POSITIONS: &str = "weightgen.plan_positions";

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
        FileMetadata::of(plan, &all, None)
    }

    /// The metadata of a file holding only the tensors at `indices` (one shard of a
    /// checkpoint): the same keys, with `weightgen.plan` listing just those tensors, so
    /// `inspect --check` works on each shard alone. `whole`: the whole plan's fingerprint
    /// ([`plan_sha256`]) when the file is one shard of several; it records that and its
    /// tensors' plan positions.
    pub(crate) fn of(plan: &'a Plan, indices: &[usize], whole: Option<&str>) -> FileMetadata<'a> {
        let mut keys = run_metadata(plan);
        keys.insert("format".into(), "pt".into());
        if let Some(fp) = whole {
            keys.insert(PLAN_SHA256.into(), fp.into());
            keys.insert(PLAN_POSITIONS.into(), positions_json(indices));
        }
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

/// The fingerprint of the whole plan: the SHA-256 (hex) of its canonical JSON, every tensor's
/// `weightgen.plan` entry in plan order without `sha256` (see [`fingerprint`]).
pub(crate) fn plan_sha256(plan: &Plan) -> String {
    fingerprint(
        plan.tensors
            .iter()
            .map(|t| serde_json::to_value(t.summary(None)).expect("plan serialises")),
    )
}

/// An entry of `weightgen.plan` in canonical form: without `sha256`, object keys sorted at
/// every level (numbers as serde_json writes them: shortest round trip).
pub(crate) fn canonical_entry(entry: Value) -> Value {
    fn sorted(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let m: BTreeMap<String, Value> =
                    m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(m.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
            o => o,
        }
    }
    match sorted(entry) {
        Value::Object(mut m) => {
            m.remove("sha256");
            Value::Object(m)
        }
        o => o,
    }
}

/// SHA-256 (hex) of the compact JSON array of `entries` in canonical form
/// ([`canonical_entry`]), in the order given: the same whether the entries come from a
/// [`Plan`] or are read back from the shards' `weightgen.plan`.
pub(crate) fn fingerprint(entries: impl IntoIterator<Item = Value>) -> String {
    let all = Value::Array(entries.into_iter().map(canonical_entry).collect());
    let text = serde_json::to_string(&all).expect("JSON serialises");
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Plan positions as the half-open ranges `[[a,b],…]` of consecutive runs.
fn positions_json(indices: &[usize]) -> String {
    let mut ranges: Vec<[usize; 2]> = Vec::new();
    for &i in indices {
        match ranges.last_mut() {
            Some(r) if r[1] == i => r[1] = i + 1,
            _ => ranges.push([i, i + 1]),
        }
    }
    serde_json::to_string(&ranges).expect("JSON serialises")
}

/// The plan positions a shard of `n` tensors records (`weightgen.plan_positions`), expanded;
/// `None` if absent, not increasing ranges, or not `n` positions.
pub(crate) fn recorded_positions(
    metadata: &BTreeMap<String, String>,
    n: usize,
) -> Option<Vec<usize>> {
    let ranges: Vec<[usize; 2]> = serde_json::from_str(metadata.get(PLAN_POSITIONS)?).ok()?;
    let mut out = Vec::with_capacity(n);
    for [a, b] in ranges {
        if a >= b || out.last().is_some_and(|&l| l >= a) || b - a > n - out.len() {
            return None;
        }
        out.extend(a..b);
    }
    (out.len() == n).then_some(out)
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
        // A single file records no fingerprint or positions.
        assert!(!rendered.contains_key(PLAN_SHA256) && !rendered.contains_key(PLAN_POSITIONS));
    }

    #[test]
    fn the_fingerprint_is_the_same_from_the_plan_and_from_the_shards_entries() {
        let p = plan();
        let fp = plan_sha256(&p);
        assert!(is_sha256_hex(&fp));
        // Read back from two "shards" (b first in the file order, then w), with real hashes,
        // reordered by the recorded positions.
        let shard = |i: usize| {
            let md = FileMetadata::of(&p, &[i], Some(&fp)).render(
                &[(p.tensors[i].name.clone(), "ab".repeat(32))]
                    .into_iter()
                    .collect(),
            );
            assert_eq!(md[PLAN_SHA256], fp);
            let pos = recorded_positions(&md, 1).unwrap();
            let entries: Vec<Value> = serde_json::from_str(&md["weightgen.plan"]).unwrap();
            (pos, entries)
        };
        let mut all: Vec<(usize, Value)> = Vec::new();
        for i in [1, 0] {
            let (pos, entries) = shard(i);
            all.extend(pos.into_iter().zip(entries));
        }
        all.sort_by_key(|(i, _)| *i);
        assert_eq!(fingerprint(all.into_iter().map(|(_, e)| e)), fp);
        // Another law for one tensor, or another order, is another fingerprint.
        let mut q = p.clone();
        q.tensors.swap(0, 1);
        assert_ne!(plan_sha256(&q), fp);
        let mut q = p.clone();
        q.tensors[1].scheme = crate::scheme::Scheme::Zeros;
        assert_ne!(plan_sha256(&q), fp);
    }

    #[test]
    fn positions_are_ranges_and_read_back() {
        let mut m = BTreeMap::new();
        m.insert(
            PLAN_POSITIONS.to_string(),
            positions_json(&[0, 1, 2, 4, 7, 8]),
        );
        assert_eq!(m[PLAN_POSITIONS], "[[0,3],[4,5],[7,9]]");
        assert_eq!(recorded_positions(&m, 6), Some(vec![0, 1, 2, 4, 7, 8]));
        assert_eq!(recorded_positions(&m, 5), None);
        assert_eq!(recorded_positions(&m, 7), None);
        for bad in [
            "[[3,1]]",
            "[[0,2],[1,3]]",
            "[0]",
            "x",
            "[[0,18446744073709551615]]",
        ] {
            m.insert(PLAN_POSITIONS.to_string(), bad.to_string());
            assert_eq!(recorded_positions(&m, 6), None, "{bad}");
        }
    }
}
