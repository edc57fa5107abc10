//! `inspect`: what is in a weights file, and is it what it claims to be?
//!
//! Owns: opening files (memory-mapped, read-only), per-tensor statistics computed chunk by
//! chunk in parallel (memory stays flat whatever the file size), the claim each tensor is
//! checked against — the plan weightgen recorded in the file's `weightgen.plan` metadata, or a
//! user's `--expect SCHEME [KEY=VALUE]...` resolved through [`Plan`] exactly as `generate`
//! would — and the report (table or JSON), which covers every file given: one that cannot be
//! read is an [`Entry::Failed`] with its one-line reason, a checkpoint's shards come in shard
//! order followed by an [`IndexSummary`]. Does not own: parsing or validating files (`read`),
//! the tests and tolerances (`check`, and `structure` for those needing element positions),
//! exit codes (the binary maps [`Error::CheckFailed`] to 3).

pub(crate) mod check;
mod pass;
pub mod stats;
pub(crate) mod structure;
mod verify;

use crate::error::{Error, Result};
use crate::fans::Convention;
use crate::plan::Plan;
use crate::read::{FileFormat, Parsed, TensorInfo, index};
use crate::scheme::{Distribution, Param};
use crate::spec::{Spec, TensorSpec};
use check::{CheckResult, value_tests};
use pass::summarise;
use serde::{Deserialize, Serialize};
use stats::{KsBounds, Moments};
use std::collections::BTreeMap;
use std::path::Path;

/// The distribution a user expects every tensor of a file to follow: a scheme, its parameters,
/// and the convention that gives its fans and meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub scheme: String,
    pub params: Vec<(Param, String)>,
    pub convention: Convention,
}

impl Expect {
    /// From `--expect SCHEME [KEY=VALUE]...`: the first item is the scheme; later items with a
    /// `=` are parameters, and items without one are returned as file names (so
    /// `inspect --expect xavier_uniform w.npy` works as well as `inspect w.npy --expect …`).
    pub fn from_args(items: &[String], convention: Convention) -> Result<(Expect, Vec<String>)> {
        let (scheme, rest) = items
            .split_first()
            .ok_or_else(|| Error::invalid("expect", "needs a scheme name"))?;
        crate::scheme::Scheme::parse(scheme).map_err(|e| at_expect(e, ""))?;
        let mut params = Vec::new();
        let mut files = Vec::new();
        for item in rest {
            match item.split_once('=') {
                Some((k, v)) => {
                    let p = Param::from_key(&k.replace('-', "_")).ok_or_else(|| {
                        Error::invalid(
                            "expect",
                            format!("unknown parameter `{k}` (parameters are KEY=VALUE, e.g. nonlinearity=relu, mode=fan_out)"),
                        )
                    })?;
                    params.push((p, v.to_string()));
                }
                None => files.push(item.clone()),
            }
        }
        let e = Expect {
            scheme: scheme.clone(),
            params,
            convention,
        };
        Ok((e, files))
    }

    /// The distribution a tensor `name` of `shape` would have been drawn from.
    pub fn resolve(&self, name: &str, shape: &[u64]) -> Result<Distribution> {
        let mut t = TensorSpec {
            name: name.to_string(),
            shape: shape.to_vec(),
            dtype: None,
            params: Default::default(),
            origin: format!("tensor `{name}`"),
            role: Default::default(),
            inherit: true,
        };
        t.params.set_scheme(&self.scheme, "expect")?;
        for (p, v) in &self.params {
            t.params.set_str(*p, v, &format!("expect {}", p.key()))?;
        }
        let spec = Spec {
            tensors: vec![t],
            convention: Some(self.convention),
            ..Default::default()
        };
        let plan = Plan::new(&spec, 0).map_err(|e| at_expect(e, name))?;
        Ok(plan.tensors[0].params.distribution)
    }
}

fn at_expect(e: Error, tensor: &str) -> Error {
    let msg = match &e {
        Error::Invalid { where_, msg } if where_.is_empty() || where_.starts_with("tensor") => {
            msg.clone()
        }
        _ => e.to_string(),
    };
    if tensor.is_empty() {
        Error::invalid("expect", msg)
    } else {
        Error::invalid(format!("expect (tensor `{tensor}`)"), msg)
    }
}

/// How a run of `inspect` behaves.
#[derive(Default, Clone)]
pub struct Options<'a> {
    /// The most memory a check may hold (the orthogonality check's Gram matrix); `None`: no
    /// limit beyond the check's own cap.
    pub memory_limit: Option<crate::memory_limit::MemoryLimit>,
    /// Check every tensor against this instead of the file's recorded plan.
    pub expect: Option<Expect>,
    /// Called with (bytes done, bytes total) as data is read.
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
    /// Called with each range of the input that has been read and is not needed again
    /// (`inspect_path` drops those pages of its memory map, so memory stays flat).
    pub release: Option<&'a (dyn Fn(std::ops::Range<usize>) + Sync)>,
    /// Regenerate every tensor from the recorded plan, seed and stream and compare bytes
    /// (a `verify` check per tensor).
    pub verify: bool,
    /// Compute each tensor's SHA-256 (reported, and compared with the one the plan records).
    /// Off, a pass reads at memory speed; on, one core hashes at about 1.5 GB/s.
    pub hash: bool,
}

/// Summary statistics of one tensor (over its finite values; `std` is the population std,
/// as NumPy's `std`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorStats {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub zero_fraction: f64,
    pub nan: u64,
    pub inf: u64,
}

/// What a tensor claims to be, and where the claim comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claim {
    /// `weightgen.plan` or `--expect`.
    pub source: &'static str,
    pub scheme: String,
    pub distribution: Distribution,
}

/// One tensor's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorReport {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub numel: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fortran_order: bool,
    /// None for types without statistics (FP8, complex, opaque).
    pub stats: Option<TensorStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    /// SHA-256 (hex) of the tensor's stored data bytes, as they are in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl TensorReport {
    /// The tests this tensor failed.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

/// One file's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    pub path: String,
    pub format: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    pub tensors: Vec<TensorReport>,
}

impl FileReport {
    /// Whether any tensor carries a claim (so there is something to check).
    pub fn has_claims(&self) -> bool {
        self.tensors
            .iter()
            .any(|t| t.claim.is_some() || !t.checks.is_empty())
    }

    /// "tensor `x`: ks, bounds" for each failing tensor.
    pub fn failures(&self) -> Vec<String> {
        self.tensors
            .iter()
            .filter_map(|t| {
                let f: Vec<&str> = t.failures().map(|c| c.test).collect();
                (!f.is_empty()).then(|| format!("tensor `{}`: {}", t.name, f.join(", ")))
            })
            .collect()
    }
}

/// A plan entry as recorded in `weightgen.plan` (extra keys ignored).
#[derive(Deserialize)]
struct PlanEntry {
    name: String,
    shape: Vec<u64>,
    dtype: String,
    scheme: String,
    distribution: Distribution,
    #[serde(default)]
    sha256: Option<String>,
}

/// A file `inspect` could not read (missing, malformed, truncated, another format than its
/// name says): its JSON is `{"path": …, "error": …, "exit": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedFile {
    pub path: String,
    /// One line: what is wrong, naming the file (the error line the file alone would give).
    pub error: String,
    /// The exit code this file alone would give: 2 invalid or malformed, 1 an I/O failure.
    pub exit: u8,
}

/// One file of an `inspect` run: read and reported, or failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    Read(FileReport),
    Failed(FailedFile),
}

impl Entry {
    pub fn path(&self) -> &str {
        match self {
            Entry::Read(r) => &r.path,
            Entry::Failed(f) => &f.path,
        }
    }
}

/// A sharded checkpoint's index, after its shards: how many were read, what they hold, and the
/// checkpoint's own problems (a shard without the tensors the index maps to it, a `total_size`
/// that is not the shards' byte sum).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexSummary {
    pub path: String,
    pub shards: usize,
    pub shards_ok: usize,
    pub shards_failed: usize,
    /// Tensors in the shards read.
    pub tensors: usize,
    /// Tensor data bytes in the shards read.
    pub bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// What `inspect` found at one path given: a file's entry, or an index's shards (in shard
/// order) and its summary; and the errors behind every failure, in order.
#[derive(Debug, Default)]
pub(crate) struct Inspection {
    pub entries: Vec<Entry>,
    pub index: Option<IndexSummary>,
    pub errors: Vec<Error>,
}

impl Inspection {
    /// A path that failed as a whole.
    fn failed(path: String, e: Error) -> Inspection {
        Inspection {
            entries: vec![Entry::Failed(failed_file(path, &e))],
            index: None,
            errors: vec![e],
        }
    }
}

fn failed_file(path: String, e: &Error) -> FailedFile {
    FailedFile {
        path,
        error: e.to_string().replace(['\n', '\r'], " "),
        exit: if e.is_usage() { 2 } else { 1 },
    }
}

/// Inspect a path: an `.npy`, `.npz` or `.safetensors` file (one entry), or a sharded
/// checkpoint's `*.index.json` (an entry per shard, then the index's summary). A file that
/// cannot be read is an entry with its error; the others are still read.
pub(crate) fn inspect_path(path: &Path, opts: &Options) -> Inspection {
    let shown = path.display().to_string();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if index::is_index(name) {
        return inspect_index(path, opts).unwrap_or_else(|e| Inspection::failed(shown, e));
    }
    match inspect_file(path, opts, verify::Place::File(path)) {
        Ok(r) => Inspection {
            entries: vec![Entry::Read(r)],
            ..Default::default()
        },
        Err(e) => Inspection::failed(shown, e),
    }
}

/// Inspect one weights file on disk, at `place` (for `verify`).
fn inspect_file(path: &Path, opts: &Options, place: verify::Place) -> Result<FileReport> {
    let shown = path.display().to_string();
    let format = FileFormat::from_path(path).ok_or_else(|| {
        Error::Usage(format!(
            "{shown}: cannot tell the format; inspect reads .npy, .npz, .safetensors and model.safetensors.index.json"
        ))
    })?;
    let map = open(path)?;
    let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
    let drop_pages = |r: std::ops::Range<usize>| {
        if let Some(m) = &map {
            // SAFETY: a read-only, file-backed private mapping that is never written: after
            // MADV_DONTNEED the pages are simply read from the file again if touched, with the
            // same contents (the assumption every memory-mapped read makes). Only memory
            // residency changes; an error here is harmless and ignored.
            let _ = unsafe {
                m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, r.start, r.len())
            };
        }
    };
    let mine = Options {
        release: Some(opts.release.unwrap_or(&drop_pages)),
        ..opts.clone()
    };
    inspect_bytes_at(bytes, format, &shown, &mine, place).map_err(|e| in_file(e, &shown))
}

/// Prefix a file's validation errors with its name.
fn in_file(e: Error, shown: &str) -> Error {
    match e {
        Error::Malformed(m) => Error::Malformed(format!("{shown}: {m}")),
        other => other,
    }
}

/// Memory-map a file read-only (None for an empty file, which cannot be mapped).
fn open(path: &Path) -> Result<Option<memmap2::Mmap>> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| Error::opening(format!("cannot open {shown}"), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("reading {shown}"), e))?;
    if !meta.is_file() {
        return Err(Error::Usage(format!("{shown} is not a regular file")));
    }
    if meta.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the map is read-only and private to this process; if another process truncates
    // the file meanwhile, reads fault (SIGBUS) rather than return wrong data. That is the
    // accepted cost of memory-mapping, as with every safetensors loader.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| Error::io(format!("memory-mapping {shown}"), e))?;
    Ok(Some(map))
}

/// An index and its shards, in shard order. Err: the index itself cannot be read.
fn inspect_index(path: &Path, opts: &Options) -> Result<Inspection> {
    let shown = path.display().to_string();
    let idx = verify::read_index(path)?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut by_shard: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (t, f) in &idx.weight_map {
        by_shard.entry(f.as_str()).or_default().push(t.as_str());
    }
    let mut out = Inspection::default();
    let mut summary = IndexSummary {
        path: shown.clone(),
        shards: idx.shards.len(),
        shards_ok: 0,
        shards_failed: 0,
        tensors: 0,
        bytes: 0,
        errors: Vec::new(),
    };
    let mut problems = Vec::new();
    // Under `--rng torch`, the shards of several are regenerated from the whole plan,
    // rebuilt once from every shard's header.
    let of_many = idx.shards.len() > 1;
    let torch = idx.run.get("weightgen.stream").map(String::as_str)
        == Some(crate::stream::RngKind::Torch.stream_version());
    let whole =
        (opts.verify && torch && of_many).then(|| verify::Whole::of_checkpoint(dir, &shown, &idx));
    if let Some(Err(refused)) = &whole {
        return Err(Error::Usage(refused.clone()));
    }
    // Shard order: by name (`model-00001-of-00003…` sorts as its number), whatever order the
    // weight_map (often sorted by tensor name) names them in.
    let mut shards = idx.shards.clone();
    shards.sort_unstable();
    for shard in &shards {
        let shard_path = dir.join(shard);
        let place = verify::Place::Shard {
            path: &shard_path,
            of_many,
            whole: whole.as_ref(),
        };
        let rep = match inspect_file(&shard_path, opts, place) {
            Ok(mut rep) => {
                belongs_to_index(&mut rep, shard, &idx.run);
                rep
            }
            Err(e) => {
                summary.shards_failed += 1;
                let failed = failed_file(shard_path.display().to_string(), &e);
                out.entries.push(Entry::Failed(failed));
                out.errors.push(e);
                continue;
            }
        };
        summary.shards_ok += 1;
        let mut want = by_shard.remove(shard.as_str()).unwrap_or_default();
        let mut have: Vec<&str> = rep.tensors.iter().map(|t| t.name.as_str()).collect();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            let missing: Vec<&&str> = want
                .iter()
                .filter(|t| have.binary_search(t).is_err())
                .take(5)
                .collect();
            let extra: Vec<&&str> = have
                .iter()
                .filter(|t| want.binary_search(t).is_err())
                .take(5)
                .collect();
            problems.push(format!(
                "shard {shard} does not hold the tensors the index maps to it (missing {missing:?}, unlisted {extra:?})"
            ));
        }
        summary.tensors += rep.tensors.len();
        summary.bytes += rep.tensors.iter().map(|t| t.bytes).sum::<u64>();
        out.entries.push(Entry::Read(rep));
    }
    // The byte sum is known only when every shard was read.
    if let Some(ts) = idx.total_size
        && summary.shards_failed == 0
        && ts != summary.bytes
    {
        problems.push(format!(
            "metadata.total_size is {ts} but the shards hold {} bytes of tensor data",
            summary.bytes
        ));
    }
    for p in problems {
        out.errors.push(Error::Malformed(format!("{shown}: {p}")));
        summary.errors.push(p);
    }
    out.index = Some(summary);
    Ok(out)
}

/// A shard from another run fails the `index` check of each of its tensors: every run key
/// the index records (`weightgen.seed`, `weightgen.stream`, `weightgen.convention`,
/// `weightgen.version`, the whole plan's fingerprint `weightgen.plan_sha256`, the user's
/// metadata), the shard must record with the same value, as `generate --index-only` requires
/// of the shards it indexes.
fn belongs_to_index(rep: &mut FileReport, shard: &str, run: &BTreeMap<String, String>) {
    let differs: Vec<String> = run
        .iter()
        .filter(|(k, v)| rep.metadata.get(*k) != Some(*v))
        .map(|(k, v)| match rep.metadata.get(k) {
            Some(have) => format!("its {k} is {have:?}, the index's {v:?}"),
            None => format!("it lacks {k} ({v:?} in the index)"),
        })
        .collect();
    if run.is_empty() || rep.tensors.is_empty() {
        return;
    }
    let (passed, detail) = if differs.is_empty() {
        (true, format!("{shard} is from the index's run"))
    } else {
        (
            false,
            format!(
                "{shard} is not from the run the index records: {}",
                differs.join(", ")
            ),
        )
    };
    for t in &mut rep.tensors {
        t.checks
            .push(CheckResult::new("index", passed, detail.clone()));
    }
}

/// Each tensor's claim, with the dtype, shape and data hash the plan recorded for it.
type Recorded = Option<(String, Vec<u64>, Option<String>)>;

/// What a file's tensors are claimed to be.
struct Claims {
    /// By tensor name: `--expect` for every tensor, else the recorded plan's entry.
    by_name: BTreeMap<String, (Claim, Recorded)>,
    /// Entries of the recorded plan that name no tensor of the file.
    planned_only: Vec<PlanEntry>,
    /// Whether the claims come from a recorded plan (so an unplanned tensor fails).
    has_plan: bool,
}

/// The claims: --expect for every tensor, else the recorded plan.
fn claims(parsed: &Parsed, opts: &Options) -> Result<Claims> {
    let mut by_name = BTreeMap::new();
    let mut planned_only = Vec::new();
    if let Some(e) = &opts.expect {
        for t in &parsed.tensors {
            let d = e.resolve(&t.name, &t.shape)?;
            let claim = Claim {
                source: "--expect",
                scheme: crate::scheme::Scheme::parse(&e.scheme)?.name().to_string(),
                distribution: d,
            };
            by_name.insert(t.name.clone(), (claim, None));
        }
    } else if let Some(plan) = parsed.metadata.get("weightgen.plan") {
        let entries: Vec<PlanEntry> = serde_json::from_str(plan).map_err(|e| {
            Error::Malformed(format!(
                "metadata `weightgen.plan` is not a valid plan: {e}"
            ))
        })?;
        for p in entries {
            if parsed.tensors.iter().any(|t| t.name == p.name) {
                let claim = Claim {
                    source: "weightgen.plan",
                    scheme: p.scheme.clone(),
                    distribution: p.distribution,
                };
                let recorded = (p.dtype, p.shape, p.sha256);
                by_name.insert(p.name.clone(), (claim, Some(recorded)));
            } else {
                planned_only.push(p);
            }
        }
    }
    let has_plan = opts.expect.is_none() && parsed.metadata.contains_key("weightgen.plan");
    Ok(Claims {
        by_name,
        planned_only,
        has_plan,
    })
}

/// Inspect a file held in memory (what `inspect_path` does after mapping it; also the fuzz
/// targets' entry point). `shown` names it in the report.
pub fn inspect_bytes(
    bytes: &[u8],
    format: FileFormat,
    shown: &str,
    opts: &Options,
) -> Result<FileReport> {
    inspect_bytes_at(bytes, format, shown, opts, verify::Place::Bytes)
}

/// [`inspect_bytes`] of a file at `place` (where `verify` finds a checkpoint's other files).
fn inspect_bytes_at(
    bytes: &[u8],
    format: FileFormat,
    shown: &str,
    opts: &Options,
    place: verify::Place,
) -> Result<FileReport> {
    let mut parsed = Parsed::new(bytes, format)?;
    let Claims {
        mut by_name,
        planned_only,
        has_plan,
    } = claims(&parsed, opts)?;
    let (mut sources, unavailable) = regenerator(&parsed, shown, opts, place)?;
    let total: u64 = parsed.tensors.iter().map(|t| t.bytes).sum();
    let mut done = 0u64;
    let mut tensors = Vec::new();
    for i in 0..parsed.tensors.len() {
        let info = parsed.tensors[i].clone();
        let claim = by_name.remove(&info.name);
        let law = claim.as_ref().map(|(c, _)| c.distribution);
        // weightgen computes orthogonal matrices in f64 whatever the stored type; a file
        // checked with --expect may come from a tool that used the stored type.
        let qr_in_f64 = claim
            .as_ref()
            .is_some_and(|(c, _)| c.source == "weightgen.plan");
        check_gram_memory(opts, law, &info)?;
        // Only a tensor of the planned dtype and shape can be compared (the `dtype` and
        // `shape` checks report the others).
        let source = sources.remove(&info.name);
        let comparable = source.as_ref().filter(|(_, dtype, shape)| {
            dtype.name() == info.dtype.name() && *shape == info.shape && !info.fortran_order
        });
        let (m, bins, positional, exactly) = summarise(
            &mut parsed,
            i,
            law.as_ref(),
            qr_in_f64,
            comparable.map(|(s, _, _)| s),
            opts.hash,
            &mut |n| {
                done += n;
                if let Some(p) = opts.progress {
                    p(done, total);
                }
            },
            &mut |r| {
                if let Some(f) = opts.release {
                    f(r)
                }
            },
        )?;
        let mut checks = match &claim {
            Some((c, recorded)) => claim_checks(
                &info,
                c,
                recorded,
                m.as_ref(),
                bins.as_ref(),
                positional,
                exactly.sha256.as_deref(),
            ),
            None if has_plan => vec![CheckResult::new(
                "plan",
                false,
                "tensor is not in the file's recorded weightgen.plan",
            )],
            None => Vec::new(),
        };
        if opts.verify {
            let listed = source.is_some();
            checks.push(verify_check(exactly.verified, &unavailable, listed, &info));
        }
        let mut report = tensor_report(info, m, claim.map(|(c, _)| c), checks);
        report.sha256 = exactly.sha256;
        tensors.push(report);
    }
    tensors.extend(planned_only.into_iter().map(missing_tensor));
    Ok(FileReport {
        path: shown.to_string(),
        format: format.name(),
        metadata: parsed.metadata.clone(),
        tensors,
    })
}

/// What `verify` regenerates a file's tensors from (by name), and why none can be, if so;
/// nothing without `verify`.
fn regenerator(
    parsed: &Parsed,
    shown: &str,
    opts: &Options,
    place: verify::Place,
) -> Result<(verify::Sources, Option<String>)> {
    if !opts.verify {
        return Ok((BTreeMap::new(), None));
    }
    if opts.expect.is_some() {
        return Err(Error::invalid(
            "verify",
            "regenerates from the plan recorded in the file; it cannot be combined with expect",
        ));
    }
    let r = verify::Regenerator::new(&parsed.metadata, shown, place)?;
    Ok((r.sources, r.unavailable))
}

/// An orthogonality check holds the tensor's Gram matrix: refuse one over the memory limit
/// before reading (a matrix over `ORTHO_MAX_BYTES` is not built at all; its check says so).
fn check_gram_memory(opts: &Options, law: Option<Distribution>, info: &TensorInfo) -> Result<()> {
    if let (Some(limit), Some(Distribution::Orthogonal { rows, cols, .. })) =
        (&opts.memory_limit, law)
        && rows.checked_mul(cols) == Some(info.numel)
        && info.numel > 0
    {
        let (bytes, _) = structure::Gram::bytes(rows, cols);
        if bytes <= structure::ORTHO_MAX_BYTES {
            limit.check(&crate::memory_limit::Need {
                what: format!(
                    "the orthogonality check of `{}` ({rows}×{cols} f64 Gram matrix)",
                    info.name
                ),
                bytes: bytes + crate::memory_limit::product_workspace(),
            })?;
        }
    }
    Ok(())
}

/// The `verify` check of one tensor: the comparison's result, or why it was not regenerated
/// (`listed`: the recorded plan has it, but not with this dtype, shape or order).
fn verify_check(
    verified: Option<Option<verify::Diff>>,
    unavailable: &Option<String>,
    listed: bool,
    info: &TensorInfo,
) -> CheckResult {
    let why = match (verified, unavailable) {
        (Some(diff), _) => return verify::result(diff, &info.dtype, info.numel),
        (None, Some(why)) => format!("not regenerated: {why}"),
        (None, None) if listed => {
            "not regenerated: its dtype, shape or order differs from the recorded plan".into()
        }
        (None, None) => "not regenerated: the recorded plan does not list it".into(),
    };
    CheckResult::new("verify", false, why)
}

/// The checks of a claimed tensor: the recorded dtype and shape, then its values.
fn claim_checks(
    info: &TensorInfo,
    c: &Claim,
    recorded: &Recorded,
    m: Option<&Moments>,
    bins: Option<&KsBounds>,
    positional: Vec<CheckResult>,
    sha256: Option<&str>,
) -> Vec<CheckResult> {
    let mut checks = Vec::new();
    if let Some((dtype, shape, _)) = recorded {
        let same = *dtype == info.dtype.name();
        checks.push(CheckResult::new(
            "dtype",
            same,
            format!("{} (plan: {dtype})", info.dtype.name()),
        ));
        checks.push(CheckResult::new(
            "shape",
            *shape == info.shape,
            format!("{:?} (plan: {shape:?})", info.shape),
        ));
    }
    match m {
        Some(m) => checks.extend(value_tests(
            &c.distribution,
            &info.dtype,
            &info.shape,
            m,
            bins,
            positional,
        )),
        None => checks.push(CheckResult::new(
            "values",
            false,
            format!("cannot check values stored as {}", info.dtype.name()),
        )),
    }
    // Last: the exact test after the statistical ones.
    if let (Some((_, _, Some(want))), Some(sha256)) = (recorded, sha256) {
        checks.push(CheckResult::new(
            "sha256",
            want == sha256,
            format!("{sha256} (plan: {want})"),
        ));
    }
    checks
}

/// The report of one tensor of the file.
fn tensor_report(
    info: TensorInfo,
    m: Option<Moments>,
    claim: Option<Claim>,
    checks: Vec<CheckResult>,
) -> TensorReport {
    TensorReport {
        dtype: info.dtype.name(),
        name: info.name,
        shape: info.shape,
        numel: info.numel,
        bytes: info.bytes,
        fortran_order: info.fortran_order,
        stats: m.map(|m| tensor_stats(&m)),
        claim,
        checks,
        sha256: None,
    }
}

/// The report's statistics from a tensor's moments.
fn tensor_stats(m: &Moments) -> TensorStats {
    TensorStats {
        mean: if m.finite > 0 { m.mean } else { f64::NAN },
        std: m.std(),
        min: m.min,
        max: m.max,
        zero_fraction: if m.count > 0 {
            m.zeros as f64 / m.count as f64
        } else {
            0.0
        },
        nan: m.nan,
        inf: m.inf,
    }
}

/// A tensor the plan promises but the file lacks.
fn missing_tensor(p: PlanEntry) -> TensorReport {
    TensorReport {
        name: p.name,
        dtype: p.dtype,
        shape: p.shape,
        numel: 0,
        bytes: 0,
        fortran_order: false,
        stats: None,
        claim: None,
        checks: vec![CheckResult::new(
            "present",
            false,
            "in the recorded weightgen.plan but not in the file",
        )],
        sha256: None,
    }
}

/// Reports as pretty JSON: `{"files": [...], "indexes": [...], "checked": bool, "passed": bool}`.
/// `files` holds every file in order (an index's shards in shard order), a failed one as
/// `{"path", "error", "exit"}`; `indexes` (absent without an index) the index summaries;
/// `passed` is false if any file failed, any index has an error or any test failed.
pub(crate) fn reports_json(found: &[Inspection]) -> String {
    #[derive(Serialize)]
    struct All<'a> {
        files: Vec<&'a Entry>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        indexes: Vec<&'a IndexSummary>,
        checked: bool,
        passed: bool,
    }
    let files: Vec<&Entry> = found.iter().flat_map(|f| &f.entries).collect();
    let reports = || {
        files.iter().filter_map(|e| match e {
            Entry::Read(r) => Some(r),
            Entry::Failed(_) => None,
        })
    };
    let all = All {
        checked: reports().any(FileReport::has_claims),
        passed: found.iter().all(|f| f.errors.is_empty())
            && reports().all(|r| r.failures().is_empty()),
        indexes: found.iter().filter_map(|f| f.index.as_ref()).collect(),
        files,
    };
    serde_json::to_string_pretty(&all).expect("reports serialise")
}

fn num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.is_nan() {
        "-".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x:.4e}")
    }
}

/// Reports as readable tables, one per file, with a line per failed test under each; a failed
/// file as one line with its reason; an index's summary line after its shards.
pub(crate) fn reports_table(found: &[Inspection]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut first = true;
    for f in found {
        for e in &f.entries {
            if !first {
                out.push('\n');
            }
            first = false;
            match e {
                Entry::Read(r) => file_table(&mut out, r),
                Entry::Failed(x) => {
                    let reason = x.error.strip_prefix(&format!("{}: ", x.path));
                    let _ = writeln!(
                        out,
                        "{} (FAILED, exit {}): {}",
                        x.path,
                        x.exit,
                        reason.unwrap_or(&x.error)
                    );
                }
            }
        }
        if let Some(s) = &f.index {
            out.push('\n');
            let _ = writeln!(
                out,
                "{} (index): {} shard{}, {} ok, {} failed; {} tensor{}, {} bytes in the shards read",
                s.path,
                s.shards,
                if s.shards == 1 { "" } else { "s" },
                s.shards_ok,
                s.shards_failed,
                s.tensors,
                if s.tensors == 1 { "" } else { "s" },
                s.bytes
            );
            for e in &s.errors {
                let _ = writeln!(out, "  {e}");
            }
        }
    }
    out
}

/// One read file's table.
fn file_table(out: &mut String, r: &FileReport) {
    use std::fmt::Write;
    let claim = if r.metadata.contains_key("weightgen.plan") {
        "; weightgen plan recorded"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{} ({}, {} tensor{}{claim})",
        r.path,
        r.format,
        r.tensors.len(),
        if r.tensors.len() == 1 { "" } else { "s" }
    );
    let mut rows = vec![
        [
            "name", "dtype", "shape", "numel", "bytes", "mean", "std", "min", "max", "zeros",
            "nan/inf", "check",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for t in &r.tensors {
        let shape = crate::table::shape(&t.shape);
        let check = if t.checks.is_empty() {
            "-".to_string()
        } else {
            let f: Vec<&str> = t.failures().map(|c| c.test).collect();
            let scheme = t.claim.as_ref().map(|c| c.scheme.as_str()).unwrap_or("");
            let skipped: Vec<&str> = t
                .checks
                .iter()
                .filter(|c| c.skipped)
                .map(|c| c.test)
                .collect();
            if f.is_empty() && !skipped.is_empty() {
                format!("ok {scheme} ({} not checked)", skipped.join(", "))
            } else if f.is_empty() {
                format!("ok {scheme}")
            } else {
                format!("FAIL {scheme}: {}", f.join(", "))
            }
        };
        let mut row = vec![
            t.name.clone(),
            t.dtype.clone(),
            shape,
            t.numel.to_string(),
            t.bytes.to_string(),
        ];
        match &t.stats {
            Some(s) => row.extend([
                num(s.mean),
                num(s.std),
                num(s.min),
                num(s.max),
                format!("{:.3}", s.zero_fraction),
                format!("{}/{}", s.nan, s.inf),
            ]),
            None => row.extend(std::iter::repeat_n("-".to_string(), 6)),
        }
        row.push(check.trim_end().to_string());
        rows.push(row);
    }
    out.push_str(&crate::table::aligned(&rows));
    for t in &r.tensors {
        for c in t.failures() {
            let _ = writeln!(out, "  {}: {} failed: {}", t.name, c.test, c.detail);
        }
        for c in t.checks.iter().filter(|c| c.skipped) {
            let _ = writeln!(out, "  {}: {}: {}", t.name, c.test, c.detail);
        }
    }
}
