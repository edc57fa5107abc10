//! `inspect --verify`: exact verification by regeneration.
//!
//! Owns: rebuilding, from what a safetensors file records (`weightgen.plan`, `weightgen.seed`,
//! `weightgen.stream`), the chunk sources `generate` wrote it from — the same
//! [`ChunkSource`]s the writers use, native keyed streams or PyTorch's generator — and the
//! per-chunk comparison `pass` runs in the same parallel pass that computes the statistics
//! (so verifying costs about max(generation, reading), with flat memory). A mismatch names
//! the first differing element and both values.
//!
//! Under `--rng torch` a tensor's place in PyTorch's one generator sequence depends on every
//! tensor (and, for a Hugging Face model, every constructor draw) before it, so a file that is
//! not the whole plan is regenerated from the checkpoint's [`Whole`] plan: a shard of several
//! from every shard's header (each records its tensors' plan entries and positions, and the
//! whole plan's fingerprint, which must be the index's), found through the index (a shard
//! given alone finds `PREFIX.safetensors.index.json` beside it); a model checkpoint from the
//! `config.json` beside it, re-planned with the recorded seed by the same entry point as
//! `generate --hf-config` ([`crate::model::plan_spec`]) and compared entry by entry with what
//! the files record. The sources are then the writers' own ([`crate::write::out_tensors`] of
//! the whole plan), as `generate --shard K` starts shard K.
//!
//! What cannot be regenerated is refused (one line, exit 2), never guessed: files without a
//! recorded plan (npy, npz, other tools' safetensors), an unknown stream version, a torch shard
//! whose index or sibling shards are missing or from another plan, or written by an earlier
//! weightgen that did not record its place, and a torch model checkpoint whose `config.json`
//! is missing or gives another plan. Read through the index, a sibling from another plan
//! fails the shards' `verify` checks instead (exit 3, as the `index` check does).

use super::check::CheckResult;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fans::Convention;
use crate::plan::{Plan, PlannedTensor};
use crate::read::index::{self, ShardIndex};
use crate::read::{ElemType, FileFormat, Parsed};
use crate::scheme::{Distribution, Resolved, Scheme};
use crate::stream::{ChunkSource, RngKind};
use crate::write::metadata::{
    PLAN_POSITIONS, PLAN_SHA256, canonical_entry, fingerprint, plan_sha256, recorded_positions,
};
use serde::Deserialize;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

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

/// Chunk sources by tensor name, with the dtype and shape the plan gives each.
pub(super) type Sources = BTreeMap<String, (ChunkSource, DType, Vec<u64>)>;

/// The run a file or index records: seed, stream and convention.
fn recorded_run(
    metadata: &BTreeMap<String, String>,
    refuse: &dyn Fn(String) -> Error,
) -> Result<(u64, RngKind, Convention)> {
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
    }
    let convention = match metadata.get("weightgen.convention") {
        Some(c) => Convention::parse(c).map_err(|e| refuse(e.to_string()))?,
        None => Convention::default(),
    };
    Ok((seed, rng, convention))
}

/// A file's recorded `weightgen.plan` entries, as JSON.
fn recorded_entries(
    metadata: &BTreeMap<String, String>,
    refuse: &dyn Fn(String) -> Error,
) -> Result<Vec<Value>> {
    let text = metadata.get("weightgen.plan").ok_or_else(|| {
        refuse("it records no weightgen plan (only .safetensors files written by weightgen can be regenerated)".into())
    })?;
    serde_json::from_str(text).map_err(|e| {
        refuse(format!(
            "metadata `weightgen.plan` is not a valid plan: {e}"
        ))
    })
}

/// The plan of recorded entries (in plan order) for a run.
fn plan_of_entries(
    entries: &[Value],
    (seed, rng, convention): (u64, RngKind, Convention),
    refuse: &dyn Fn(String) -> Error,
) -> Result<Plan> {
    let mut tensors = Vec::with_capacity(entries.len());
    for v in entries {
        let e: Entry = serde_json::from_value(v.clone()).map_err(|e| {
            refuse(format!(
                "metadata `weightgen.plan` is not a valid plan: {e}"
            ))
        })?;
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

/// The chunk sources of every tensor of `plan`: the writers' own.
fn sources_of(plan: &Plan) -> Sources {
    crate::write::out_tensors(plan)
        .into_iter()
        .map(|t| (t.name.to_string(), (t.source, t.dtype, t.shape.to_vec())))
        .collect()
}

/// The plan of a Hugging Face model checkpoint, re-planned from the `config.json` in `dir`
/// with the recorded seed as `generate --hf-config DIR/config.json --seed S --rng torch` plans
/// it, and checked against `entries`, every tensor's recorded entry in plan order, and against
/// the recorded fingerprint `fp` of a checkpoint of several files.
fn replanned(
    dir: &Path,
    seed: u64,
    entries: &[Value],
    fp: Option<&str>,
    refuse: &dyn Fn(String) -> Error,
) -> Result<Plan> {
    let config = dir.join("config.json");
    let shown = config.display();
    if !config.is_file() {
        return Err(refuse(format!(
            "a Hugging Face model checkpoint drawn with rng torch is regenerated from the config.json weightgen wrote beside it, and {shown} is missing"
        )));
    }
    let spec = crate::spec::Spec {
        model: Some(crate::model::load(&config).map_err(|e| refuse(e.to_string()))?),
        rng: Some(RngKind::Torch),
        ..Default::default()
    };
    let plan = crate::model::plan_spec(&spec, seed)
        .map_err(|e| refuse(format!("{shown} cannot be planned: {e}")))?;
    let differs = |why: String| {
        refuse(format!(
            "{shown} gives another plan than the files record: {why}"
        ))
    };
    if plan.tensors.len() != entries.len() {
        return Err(differs(format!(
            "{} tensors, the files record {}",
            plan.tensors.len(),
            entries.len()
        )));
    }
    for (t, have) in plan.tensors.iter().zip(entries) {
        let want = canonical_entry(serde_json::to_value(t.summary(None)).expect("plan serialises"));
        let have = canonical_entry(have.clone());
        if want != have {
            // The first differing field, the ones a reader looks at first.
            let first = ["name", "shape", "dtype", "scheme", "distribution", "zeroed"];
            let key = match (&want, &have) {
                (Value::Object(w), Value::Object(h)) => (first.iter().map(|k| k.to_string()))
                    .chain(w.keys().chain(h.keys()).cloned())
                    .find(|k| w.get(k) != h.get(k)),
                _ => None,
            }
            .unwrap_or_else(|| "entry".into());
            let show = |v: &Value| match v.get(&key) {
                Some(x) => x.to_string(),
                None => "nothing".into(),
            };
            return Err(differs(format!(
                "tensor `{}`: its {key} is {} there, {} in the files",
                t.name,
                show(&want),
                show(&have)
            )));
        }
    }
    if let Some(fp) = fp
        && plan_sha256(&plan) != fp
    {
        return Err(differs(format!(
            "its fingerprint is not the recorded {PLAN_SHA256}"
        )));
    }
    Ok(plan)
}

/// The whole plan of a checkpoint, for regenerating files that are a part of it: each
/// tensor's recorded entry (canonical) and the writers' chunk sources, handed out to the
/// files that hold them. `unavailable`: why it could not be rebuilt although the checkpoint
/// itself is readable (a shard of another plan): the files' `verify` checks fail with it.
pub(crate) struct Whole {
    entries: BTreeMap<String, Value>,
    sources: Mutex<Sources>,
    unavailable: Option<String>,
}

/// A checkpoint's whole plan, or why `--verify` refuses (exit 2).
pub(crate) type WholeOr = std::result::Result<Whole, String>;

impl Whole {
    fn unavailable(why: String) -> Whole {
        Whole {
            entries: BTreeMap::new(),
            sources: Mutex::new(BTreeMap::new()),
            unavailable: Some(why),
        }
    }

    fn of_plan(plan: &Plan, entries: Vec<Value>) -> Whole {
        let entries = plan
            .tensors
            .iter()
            .zip(entries)
            .map(|(t, e)| (t.name.clone(), canonical_entry(e)))
            .collect();
        Whole {
            entries,
            sources: Mutex::new(sources_of(plan)),
            unavailable: None,
        }
    }

    /// The whole plan of the checkpoint `idx` describes (its index is `index_shown`, in `dir`),
    /// from its shards' headers (read only, not their data).
    pub(crate) fn of_checkpoint(dir: &Path, index_shown: &str, idx: &ShardIndex) -> WholeOr {
        let refuse = |why: String| Error::Usage(format!("{index_shown}: cannot verify: {why}"));
        Whole::rebuild(dir, idx, &refuse).map_err(|e| e.to_string())
    }

    fn rebuild(dir: &Path, idx: &ShardIndex, refuse: &dyn Fn(String) -> Error) -> Result<Whole> {
        let run = recorded_run(&idx.run, refuse)?;
        let Some(fp) = idx.run.get(PLAN_SHA256) else {
            return Err(refuse(format!(
                "a multi-shard checkpoint drawn with rng torch needs the whole plan's fingerprint ({PLAN_SHA256}), which this index (written by an earlier weightgen) does not record"
            )));
        };
        let mut shards = idx.shards.clone();
        shards.sort_unstable();
        let mut placed: Vec<(usize, Value)> = Vec::new();
        for shard in &shards {
            let path = dir.join(shard);
            let shown = path.display().to_string();
            let of_shard = |why: String| refuse(format!("shard {shown}: {why}"));
            let metadata = header_metadata(&path).map_err(|e| of_shard(e.to_string()))?;
            match metadata.get(PLAN_SHA256) {
                Some(f) if f == fp => {}
                theirs => {
                    return Ok(Whole::unavailable(format!(
                        "{shown} is not a shard of the index's plan (its {PLAN_SHA256} is {}, the index's {fp})",
                        theirs.map_or("missing", String::as_str)
                    )));
                }
            }
            let entries = recorded_entries(&metadata, &of_shard)?;
            let positions = recorded_positions(&metadata, entries.len()).ok_or_else(|| {
                    of_shard(format!(
                        "its {PLAN_POSITIONS} is missing or does not list one position per tensor of its plan"
                    ))
                })?;
            placed.extend(positions.into_iter().zip(entries));
        }
        placed.sort_by_key(|(i, _)| *i);
        if placed.iter().enumerate().any(|(k, (i, _))| k != *i) {
            return Err(refuse(format!(
                "the shards' {PLAN_POSITIONS} do not number the plan's {} tensors once each",
                placed.len()
            )));
        }
        let entries: Vec<Value> = placed.into_iter().map(|(_, e)| e).collect();
        if fingerprint(entries.iter().cloned()) != *fp {
            return Ok(Whole::unavailable(format!(
                "the shards' plans together are not the plan the index records (its {PLAN_SHA256})"
            )));
        }
        let plan = if idx.run.contains_key("weightgen.model") {
            replanned(dir, run.0, &entries, Some(fp), refuse)?
        } else {
            plan_of_entries(&entries, run, refuse)?
        };
        Ok(Whole::of_plan(&plan, entries))
    }
}

/// The `__metadata__` of the safetensors file at `path`: its header only is parsed (the file
/// is memory-mapped, its data not read).
fn header_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let map = super::open(path)?;
    let parsed = Parsed::new(map.as_deref().unwrap_or(&[]), FileFormat::Safetensors)?;
    Ok(parsed.metadata)
}

/// Where the file being verified is.
#[derive(Clone, Copy)]
pub(crate) enum Place<'a> {
    /// Bytes without a file: no siblings to read.
    Bytes,
    /// A file given alone.
    File(&'a Path),
    /// A shard read through its index: the checkpoint's whole plan when its shards need it.
    Shard {
        path: &'a Path,
        of_many: bool,
        whole: Option<&'a WholeOr>,
    },
}

/// What regenerates a file's tensors: their chunk sources, or why there are none.
pub(crate) struct Regenerator {
    pub(crate) sources: Sources,
    /// Why the tensors cannot be regenerated (each `verify` check fails with it).
    pub(crate) unavailable: Option<String>,
}

impl Regenerator {
    /// From a file's metadata and where it is.
    pub(crate) fn new(
        metadata: &BTreeMap<String, String>,
        shown: &str,
        place: Place,
    ) -> Result<Regenerator> {
        let refuse = |why: String| Error::Usage(format!("{shown}: cannot verify: {why}"));
        let entries = recorded_entries(metadata, &refuse)?;
        let run = recorded_run(metadata, &refuse)?;
        let path = match place {
            Place::Bytes => None,
            Place::File(p) | Place::Shard { path: p, .. } => Some(p),
        };
        let dir = path.and_then(Path::parent).unwrap_or(Path::new(""));
        let name = path
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        let of_many = match place {
            Place::Shard { of_many, .. } => of_many,
            _ => index::shard_of(name).is_some_and(|(_, n)| n > 1),
        };
        let part = metadata.contains_key(PLAN_POSITIONS) || metadata.contains_key(PLAN_SHA256);
        let model = metadata.get("weightgen.model");
        if run.1 != RngKind::Torch || !(part || of_many || model.is_some()) {
            let plan = plan_of_entries(&entries, run, &refuse)?;
            return Ok(Regenerator {
                sources: sources_of(&plan),
                unavailable: None,
            });
        }
        if !part && of_many {
            return Err(refuse(
                "a shard of a multi-shard checkpoint drawn with rng torch by an earlier weightgen, which did not record where its tensors are in the whole plan".into(),
            ));
        }
        if !part {
            // A one-file model checkpoint: its plan is the whole plan.
            if path.is_none() {
                return Err(refuse(
                    "a Hugging Face model checkpoint drawn with rng torch is regenerated from the config.json beside it, and these bytes are not a file".into(),
                ));
            }
            let plan = replanned(dir, run.0, &entries, None, &refuse)?;
            return Ok(Regenerator {
                sources: sources_of(&plan),
                unavailable: None,
            });
        }
        let built;
        let whole = match place {
            Place::Shard { whole: Some(w), .. } => w,
            Place::Bytes => {
                return Err(refuse(
                    "a shard of a checkpoint drawn with rng torch is regenerated from its index and sibling shards, and these bytes are not a file".into(),
                ));
            }
            _ => {
                built = sibling_whole(dir, name, shown)?;
                &built
            }
        };
        let whole = whole.as_ref().map_err(|e| Error::Usage(e.clone()))?;
        if let Some(why) = &whole.unavailable {
            if matches!(place, Place::Shard { whole: Some(_), .. }) {
                return Ok(Regenerator {
                    sources: BTreeMap::new(),
                    unavailable: Some(why.clone()),
                });
            }
            return Err(refuse(why.clone()));
        }
        let mut sources = whole.sources.lock().expect("not poisoned");
        let mut mine = BTreeMap::new();
        for e in entries {
            let name = e
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if whole.entries.get(&name) != Some(&canonical_entry(e)) {
                return Err(refuse(format!(
                    "its plan entry for `{name}` is not the whole plan's"
                )));
            }
            if let Some(s) = sources.remove(&name) {
                mine.insert(name, s);
            }
        }
        Ok(Regenerator {
            sources: mine,
            unavailable: None,
        })
    }
}

/// The whole plan of the checkpoint whose shard `name` (in `dir`) is given alone: through
/// `PREFIX.safetensors.index.json` beside it.
fn sibling_whole(dir: &Path, name: &str, shown: &str) -> Result<WholeOr> {
    let refuse = |why: String| Error::Usage(format!("{shown}: cannot verify: {why}"));
    let Some((prefix, _)) = index::shard_of(name) else {
        return Err(refuse(format!(
            "a shard of a checkpoint drawn with rng torch is regenerated from its index, found by its name (PREFIX-00001-of-0000N.safetensors beside PREFIX{}), which `{name}` is not",
            crate::write::shard::INDEX_SUFFIX
        )));
    };
    let index_path = dir.join(format!("{prefix}{}", crate::write::shard::INDEX_SUFFIX));
    let index_shown = index_path.display().to_string();
    let idx = read_index(&index_path).map_err(|e| {
        refuse(format!(
            "a shard of a checkpoint drawn with rng torch is regenerated from its index, and {index_shown} cannot be read: {e}"
        ))
    })?;
    if !idx.shards.iter().any(|s| s == name) {
        return Err(refuse(format!("{index_shown} does not list {name}")));
    }
    Ok(Whole::of_checkpoint(dir, &index_shown, &idx))
}

/// Read and parse an index file (at most [`index::MAX_INDEX_BYTES`]).
pub(crate) fn read_index(path: &Path) -> Result<ShardIndex> {
    let shown = path.display().to_string();
    let len = std::fs::metadata(path)
        .map_err(|e| Error::opening(format!("cannot open {shown}"), e))?
        .len();
    if len > index::MAX_INDEX_BYTES {
        return Err(Error::Malformed(format!(
            "{shown}: {len} bytes is too large for a safetensors index"
        )));
    }
    let text = std::fs::read(path).map_err(|e| Error::io(format!("reading {shown}"), e))?;
    index::parse(&text).map_err(|e| super::in_file(e, &shown))
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
