//! `inspect --verify`: exact verification by regeneration.
//!
//! Owns: rebuilding, from what a safetensors file records (`weightgen.plan`, `weightgen.seed`,
//! `weightgen.stream`), the chunk sources `generate` wrote it from — the same
//! [`ChunkSource`]s the writers use, native keyed streams or PyTorch's generator — and the
//! per-chunk comparison `pass` runs in the same parallel pass that computes the statistics
//! (so verifying costs about max(generation, reading), with flat memory). A mismatch names
//! the first differing element and both values.
//!
//! What cannot be regenerated is refused (one line, exit 2), never guessed: files without a
//! recorded plan (npy, npz, other tools' safetensors), an unknown stream version, and under
//! `--rng torch` a shard of a multi-shard checkpoint or a Hugging Face model checkpoint (their
//! tensors' places in PyTorch's one generator sequence depend on tensors or constructor draws
//! that the file does not record).

use super::check::CheckResult;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fans::Convention;
use crate::plan::{Plan, PlannedTensor};
use crate::read::ElemType;
use crate::scheme::{Distribution, Resolved, Scheme};
use crate::stream::{ChunkSource, RngKind};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// One entry of a recorded `weightgen.plan`, as much as regeneration needs.
#[derive(Deserialize)]
struct Entry {
    name: String,
    shape: Vec<u64>,
    dtype: String,
    scheme: String,
    distribution: Distribution,
    #[serde(default)]
    zeroed: Option<[u64; 2]>,
}

/// The plan a file records, rebuilt (tensors in the recorded order).
fn recorded_plan(metadata: &BTreeMap<String, String>, shown: &str, sharded: bool) -> Result<Plan> {
    let refuse = |why: String| Error::Usage(format!("{shown}: cannot verify: {why}"));
    let text = metadata.get("weightgen.plan").ok_or_else(|| {
        refuse("it records no weightgen plan (only .safetensors files written by weightgen can be regenerated)".into())
    })?;
    let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| {
        refuse(format!(
            "metadata `weightgen.plan` is not a valid plan: {e}"
        ))
    })?;
    let seed: u64 = metadata
        .get("weightgen.seed")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| refuse("metadata `weightgen.seed` is missing or not a u64".into()))?;
    let stream = metadata.get("weightgen.stream").map(String::as_str);
    let rng = [RngKind::Native, RngKind::Torch]
        .into_iter()
        .find(|r| Some(r.stream_version()) == stream)
        .ok_or_else(|| {
            refuse(format!(
                "metadata `weightgen.stream` is {}, and this weightgen regenerates {} and {}",
                stream.map_or("missing".to_string(), |s| format!("`{s}`")),
                RngKind::Native.stream_version(),
                RngKind::Torch.stream_version()
            ))
        })?;
    if rng == RngKind::Torch {
        rng.available().map_err(|e| refuse(e.to_string()))?;
        if let Some(model) = metadata.get("weightgen.model") {
            return Err(refuse(format!(
                "a Hugging Face model checkpoint ({model}) drawn with rng torch: the from_config draw schedule is not recorded; generate it again with the same config and seed and compare"
            )));
        }
        if sharded {
            return Err(refuse(
                "a shard of a multi-shard checkpoint drawn with rng torch: where its tensors start in PyTorch's sequence depends on the other shards' tensors".into(),
            ));
        }
    }
    let convention = match metadata.get("weightgen.convention") {
        Some(c) => Convention::parse(c).map_err(|e| refuse(e.to_string()))?,
        None => Convention::default(),
    };
    let mut tensors = Vec::with_capacity(entries.len());
    for e in entries {
        let bad = |what: &str, err: Error| {
            refuse(format!(
                "the plan's tensor `{}` has {what}: {}",
                e.name, err
            ))
        };
        let dtype = DType::parse(&e.dtype).map_err(|err| bad("an unknown dtype", err))?;
        let scheme = Scheme::parse(&e.scheme).map_err(|err| bad("an unknown scheme", err))?;
        let numel = e
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| refuse(format!("the plan's tensor `{}` is too large", e.name)))?;
        let t = PlannedTensor {
            bytes: numel.saturating_mul(dtype.size() as u64),
            name: e.name,
            shape: e.shape,
            dtype,
            scheme,
            params: Resolved::plain(e.distribution),
            numel,
            zeroed: e.zeroed.map(|[a, b]| (a, b)),
            torch_dtype: None,
        };
        if rng == RngKind::Torch {
            t.torch_plan().map_err(|err| refuse(err.to_string()))?;
        }
        tensors.push(t);
    }
    Ok(Plan {
        seed,
        rng,
        convention,
        metadata: BTreeMap::new(),
        tensors,
        torch_steps: None,
        model: None,
    })
}

/// What regenerates a file's tensors: its rebuilt plan, whose chunk sources are made on
/// demand.
pub(crate) struct Regenerator {
    plan: Plan,
}

impl Regenerator {
    /// From a file's metadata; `sharded`: the file is one shard of a checkpoint of several.
    pub(crate) fn new(
        metadata: &BTreeMap<String, String>,
        shown: &str,
        sharded: bool,
    ) -> Result<Regenerator> {
        Ok(Regenerator {
            plan: recorded_plan(metadata, shown, sharded)?,
        })
    }

    /// Chunk sources by tensor name, with the dtype and shape the plan gives each.
    pub(crate) fn sources(&self) -> BTreeMap<String, (ChunkSource, DType, Vec<u64>)> {
        crate::write::out_tensors(&self.plan)
            .into_iter()
            .map(|t| (t.name.to_string(), (t.source, t.dtype, t.shape.to_vec())))
            .collect()
    }
}

thread_local! {
    /// Per-thread scratch for regenerated chunks (f64 values, bytes).
    static SCRATCH: RefCell<(Vec<f64>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The first element of a tensor whose stored bytes differ from the regenerated ones:
/// (element index, stored bytes, regenerated bytes).
pub(super) type Diff = (u64, Vec<u8>, Vec<u8>);

/// Compare chunk `c` of `src` with `stored` (its little-endian bytes, a whole chunk); the
/// first differing element, its index counted from the chunk's first element `first`.
pub(super) fn compare_chunk(
    src: &ChunkSource,
    c: u64,
    first: u64,
    stored: &[u8],
    size: usize,
) -> Option<Diff> {
    SCRATCH.with_borrow_mut(|(values, bytes)| {
        bytes.resize(stored.len(), 0);
        src.fill_chunk_bytes(c, values, bytes);
        if bytes[..] == *stored {
            return None;
        }
        let at = stored
            .iter()
            .zip(bytes.iter())
            .position(|(a, b)| a != b)
            .expect("the slices differ")
            / size;
        let range = at * size..(at + 1) * size;
        Some((
            first + at as u64,
            stored[range.clone()].to_vec(),
            bytes[range].to_vec(),
        ))
    })
}

/// The `verify` check of a tensor: passed, or the first differing element and both values.
pub(super) fn result(diff: Option<Diff>, dtype: &ElemType, numel: u64) -> CheckResult {
    match diff {
        None => CheckResult::new(
            "verify",
            true,
            format!("all {numel} elements equal the regenerated ones"),
        ),
        Some((i, stored, regen)) => {
            let show = |b: &[u8]| {
                let mut xs = Vec::with_capacity(1);
                dtype.decode_le(b, &mut xs);
                let hex: String = b.iter().rev().map(|x| format!("{x:02x}")).collect();
                format!("{} (0x{hex})", xs.first().copied().unwrap_or(f64::NAN))
            };
            CheckResult::new(
                "verify",
                false,
                format!(
                    "element {i} differs: file has {}, regenerated {}",
                    show(&stored),
                    show(&regen)
                ),
            )
        }
    }
}
