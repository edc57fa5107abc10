//! Sharded Hugging Face checkpoints: `model-00001-of-0000N.safetensors` files plus
//! `model.safetensors.index.json` (docs/file-formats.md §2; docs/design.md §4).
//!
//! Owns: `--max-shard-size` values, the split into shards (huggingface_hub's
//! `split_state_dict_into_shards_factory`, greedy in plan order), file names, the index, and
//! the order of file operations for a multi-file output: every file is written and fsynced
//! under a temp name first, then the shards are renamed into place, then the index (so no
//! index ever points at missing or partial shards), and only then are stale files of an
//! earlier checkpoint removed. Writing one shard alone (`--shard K`) gives the same bytes as
//! the full run's shard K: native values are keyed by tensor, `--rng torch` values start from
//! the generator state recorded for each tensor, and a shard's metadata depends only on the
//! plan and the split.
//!
//! Does not own: the safetensors byte layout (`safetensors`), temp files and renames (`file`).

use super::file::{self, Staged};
use super::metadata::{FileMetadata, PLAN_SHA256, plan_sha256, recorded_hashes, run_metadata};
use super::{DataPath, Format, OutTensor, WriteOptions, out_tensors};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::Cancel;
use crate::plan::Plan;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The index file's name after the prefix (`model` + this).
pub(crate) const INDEX_SUFFIX: &str = ".safetensors.index.json";

/// Split tensors of the given byte sizes (in plan order) into shards of at most `max` bytes,
/// exactly as huggingface_hub's `split_state_dict_into_shards_factory`: greedy in order, no
/// bin packing; a new shard starts when the current one would exceed `max`; a tensor larger
/// than `max` gets a shard of its own, appended at once while the current shard keeps filling
/// (so with a 5 GB limit, [1 GB, 6 GB, 1 GB] gives [6 GB], [1 GB, 1 GB]). Returns each
/// shard's tensor indices.
pub(crate) fn split(sizes: &[u64], max: u64) -> Vec<Vec<usize>> {
    let mut shards = Vec::new();
    let mut current = Vec::new();
    let mut current_size = 0u64;
    for (i, &size) in sizes.iter().enumerate() {
        if size > max {
            shards.push(vec![i]);
            continue;
        }
        if current_size.saturating_add(size) > max {
            shards.push(std::mem::take(&mut current));
            current_size = 0;
        }
        current.push(i);
        current_size += size;
    }
    if !current.is_empty() {
        shards.push(current);
    }
    shards
}

/// Where a checkpoint goes: a directory and the file-name prefix (`model`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub dir: PathBuf,
    pub prefix: String,
}

impl Checkpoint {
    /// The checkpoint an output path names: a directory (`ckpt/`, created if missing; files
    /// `model-….safetensors`), or an index file `DIR/PREFIX.safetensors.index.json` (files
    /// `PREFIX-….safetensors`).
    pub(crate) fn from_output(out: &str) -> Result<Checkpoint> {
        if out == "-" {
            return Err(Error::Usage(
                "a sharded checkpoint is several files and cannot go to stdout; give -o DIRECTORY"
                    .into(),
            ));
        }
        if out.is_empty() {
            return Err(Error::Usage("the output path is empty".into()));
        }
        let path = Path::new(out);
        let name = path.file_name().and_then(|n| n.to_str());
        let dir_named = |dir: &Path| Checkpoint {
            dir: dir.to_path_buf(),
            prefix: "model".into(),
        };
        let Some(name) = name.filter(|_| !out.ends_with('/')) else {
            return Ok(dir_named(path));
        };
        if let Some(prefix) = name.strip_suffix(INDEX_SUFFIX) {
            if prefix.is_empty() {
                return Err(Error::Usage(format!(
                    "{out}: the index needs a name before {INDEX_SUFFIX}, like model{INDEX_SUFFIX}"
                )));
            }
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            return Ok(Checkpoint {
                dir,
                prefix: prefix.into(),
            });
        }
        // One look at the path: a second (is_dir, then exists) would race with a concurrent
        // `--shard K` run creating the directory in between.
        let found = fs::metadata(path).ok();
        if found.as_ref().is_some_and(fs::Metadata::is_dir) {
            return Ok(dir_named(path));
        }
        let file_like = Format::from_path(path).is_some()
            || path.extension().is_some_and(|e| e == "json")
            || found.is_some();
        if file_like {
            return Err(Error::Usage(format!(
                "{out} is a file name; a sharded checkpoint is written to a directory: give -o DIR or -o DIR/model{INDEX_SUFFIX}"
            )));
        }
        Ok(dir_named(path))
    }

    /// The index file's name.
    pub(crate) fn index_name(&self) -> String {
        format!("{}{INDEX_SUFFIX}", self.prefix)
    }

    /// Shard `k` (1-based) of `n`: `model-0000k-of-0000n.safetensors`; a lone shard is
    /// `model.safetensors`.
    pub(crate) fn shard_name(&self, k: usize, n: usize) -> String {
        if n == 1 {
            format!("{}.safetensors", self.prefix)
        } else {
            format!("{}-{k:05}-of-{n:05}.safetensors", self.prefix)
        }
    }

    /// Whether `name` belongs to some checkpoint with this prefix (`model.safetensors`,
    /// `model-\d{5,}-of-\d{5,}.safetensors`, `model.safetensors.index.json`), as
    /// huggingface_hub's cleanup pattern.
    fn is_member(&self, name: &str) -> bool {
        let p = self.prefix.as_str();
        if name.strip_prefix(p) == Some(".safetensors")
            || name.strip_prefix(p) == Some(INDEX_SUFFIX)
        {
            return true;
        }
        let Some(rest) = name
            .strip_prefix(p)
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.strip_suffix(".safetensors"))
        else {
            return false;
        };
        let digits = |s: &str| s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit());
        rest.split_once("-of-")
            .is_some_and(|(k, n)| digits(k) && digits(n))
    }

    /// Files of any checkpoint with this prefix in the directory now, sorted (none if the
    /// directory does not exist).
    fn existing(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io_at("listing", &self.dir, e)),
        };
        let mut names = Vec::new();
        for e in entries {
            let e = e.map_err(|e| Error::io_at("listing", &self.dir, e))?;
            if let Some(n) = e.file_name().to_str()
                && self.is_member(n)
            {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// One shard of a checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct ShardFile {
    pub file: String,
    /// Tensor names, in plan order.
    pub tensors: Vec<String>,
    /// Sum of the tensors' data bytes (what the split counts).
    pub bytes: u64,
    /// Exact file size, header included.
    pub file_bytes: u64,
    /// Plan positions of the tensors.
    #[serde(skip)]
    pub indices: Vec<usize>,
}

/// How a plan is split into files.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub max_shard_size: u64,
    /// Sum of all tensors' data bytes (the index's `metadata.total_size`).
    pub total_size: u64,
    /// The index file's name; none for a single shard.
    pub index: Option<String>,
    pub shards: Vec<ShardFile>,
    /// The whole plan's fingerprint, which every shard and the index record; none for a
    /// single shard.
    #[serde(skip)]
    pub plan_sha256: Option<String>,
}

/// The header (length prefix + JSON) of the shard holding the tensors at `indices`, recording
/// the data hashes `hashes` gives (placeholders for the others: the same length) and, for a
/// shard of several, the whole plan's fingerprint `whole`.
fn shard_header(
    plan: &Plan,
    indices: &[usize],
    whole: Option<&str>,
    hashes: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let list: Vec<(&str, DType, &[u64], u64)> = indices
        .iter()
        .map(|&i| {
            let t = &plan.tensors[i];
            (t.name.as_str(), t.dtype, t.shape.as_slice(), t.bytes)
        })
        .collect();
    let metadata = FileMetadata::of(plan, indices, whole).render(hashes);
    let (h, _) = super::safetensors_header(&list, &metadata)?;
    Ok(h)
}

/// Split `plan` into shards of at most `max` data bytes (see [`split`]), in plan order.
pub(crate) fn layout(plan: &Plan, ckpt: &Checkpoint, max: u64) -> Result<Layout> {
    let sizes: Vec<u64> = plan.tensors.iter().map(|t| t.bytes).collect();
    let parts = split(&sizes, max);
    let n = parts.len();
    let fp = (n > 1).then(|| plan_sha256(plan));
    let mut shards = Vec::with_capacity(n);
    for (k, indices) in parts.into_iter().enumerate() {
        let bytes: u64 = indices.iter().map(|&i| sizes[i]).sum();
        let header = shard_header(plan, &indices, fp.as_deref(), &BTreeMap::new())?.len() as u64;
        shards.push(ShardFile {
            file: ckpt.shard_name(k + 1, n),
            tensors: indices
                .iter()
                .map(|&i| plan.tensors[i].name.clone())
                .collect(),
            bytes,
            file_bytes: header + bytes,
            indices,
        });
    }
    Ok(Layout {
        max_shard_size: max,
        total_size: plan.data_bytes(),
        index: (n > 1).then(|| ckpt.index_name()),
        shards,
        plan_sha256: fp,
    })
}

/// The index file's bytes: `{"metadata": {"total_size": N, …}, "weight_map": {…}}` with keys
/// sorted (as transformers' `save_pretrained` writes it), two-space indent, final newline.
/// `metadata` also carries the user's metadata, the run's `weightgen.*` keys and the whole
/// plan's fingerprint (`weightgen.plan_sha256`), which every shard records too.
pub(crate) fn index_json(plan: &Plan, layout: &Layout) -> Vec<u8> {
    use serde_json::Value;
    let mut metadata: BTreeMap<String, Value> = run_metadata(plan)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if let Some(fp) = &layout.plan_sha256 {
        metadata.insert(PLAN_SHA256.into(), Value::String(fp.clone()));
    }
    metadata.insert(
        "weightgen.max_shard_size".into(),
        Value::String(layout.max_shard_size.to_string()),
    );
    metadata.insert("total_size".into(), Value::from(layout.total_size));
    let weight_map: BTreeMap<&str, &str> = layout
        .shards
        .iter()
        .flat_map(|s| s.tensors.iter().map(|t| (t.as_str(), s.file.as_str())))
        .collect();
    let mut out = serde_json::to_string_pretty(&serde_json::json!({
        "metadata": metadata,
        "weight_map": weight_map,
    }))
    .expect("index serialises");
    out.push('\n');
    out.into_bytes()
}

/// Which files of a checkpoint to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every shard, then the index.
    All,
    /// Only shard K (1-based).
    Shard(usize),
    /// Only the index (every shard must already be in place).
    Index,
}

impl Part {
    /// Refuse a part the layout does not have.
    pub fn check(self, layout: &Layout) -> Result<()> {
        let n = layout.shards.len();
        match self {
            Part::All => Ok(()),
            Part::Shard(0) => Err(Error::invalid("shard", "shards are numbered from 1")),
            Part::Shard(k) if k > n => Err(Error::invalid(
                "shard",
                format!(
                    "shard {k} does not exist: this checkpoint has {n} shard{} at a max shard size of {} bytes",
                    if n == 1 { "" } else { "s" },
                    layout.max_shard_size
                ),
            )),
            Part::Shard(_) => Ok(()),
            Part::Index if n == 1 => Err(Error::invalid(
                "index_only",
                format!(
                    "this checkpoint is one file, {}, which needs no index",
                    layout.shards[0].file
                ),
            )),
            Part::Index => Ok(()),
        }
    }
}

/// What a checkpoint run wrote.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// Files put in place, shards first, the index last.
    pub files: Vec<PathBuf>,
    /// Stale files of an earlier checkpoint removed after success (`--force`).
    pub removed: Vec<PathBuf>,
    /// SHA-256 of each written tensor's data, when asked.
    pub hashes: BTreeMap<String, String>,
}

/// Write `part` of the checkpoint `layout` describes into `ckpt`. Without `force` nothing that
/// exists is replaced: a full run refuses a directory that already holds a checkpoint with
/// this prefix, `--shard K` refuses an existing shard K, `--index-only` an existing index or
/// files of another checkpoint. `--index-only` first checks that every shard is in place with
/// exactly the size and header this plan gives it. On any error or Ctrl-C before the renames,
/// nothing is left behind (temp files are removed).
pub(crate) fn write_checkpoint(
    plan: &Plan,
    ckpt: &Checkpoint,
    layout: &Layout,
    part: Part,
    force: bool,
    opts: WriteOptions,
    cancel: &Cancel,
) -> Result<Written> {
    part.check(layout)?;
    let run = Run::new(plan, ckpt, layout, part)?;
    if !force {
        run.refuse_existing()?;
    }
    if part == Part::Index {
        run.check_index_part(force)?;
    }
    let index_bytes = match part {
        Part::Shard(_) => None,
        _ => layout.index.as_ref().map(|_| index_json(plan, layout)),
    };
    let needed: u64 = (run.wanted.iter())
        .map(|&i| layout.shards[i].file_bytes)
        .sum::<u64>()
        + index_bytes.as_ref().map_or(0, |b| b.len() as u64)
        + run.side.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
    if part != Part::Index {
        file::create_output_dir(&ckpt.dir)?;
    }
    file::check_space(&ckpt.dir, &ckpt.dir, needed)?;

    // 1. Every file complete and fsynced under a temp name.
    let (staged, hashes) = run.stage_shards(opts, cancel)?;
    let stage_bytes = |name: &str, bytes: &[u8]| {
        file::stage(&ckpt.dir.join(name), !opts.no_fsync, |mut sink, ctx| {
            sink.as_write()
                .write_all(bytes)
                .map_err(|e| Error::io(format!("writing {ctx}"), e))
        })
    };
    let index_staged = match (&layout.index, &index_bytes) {
        (Some(name), Some(bytes)) => Some(stage_bytes(name, bytes)?),
        _ => None,
    };
    let side_staged = (run.side.iter())
        .map(|(name, bytes)| stage_bytes(name, bytes))
        .collect::<Result<Vec<_>>>()?;
    if cancel.is_cancelled() {
        let path = match part {
            Part::Shard(k) => ckpt.dir.join(&layout.shards[k - 1].file),
            _ => ckpt.dir.clone(),
        };
        return Err(Error::Interrupted { path });
    }
    // 2. Indexes that would describe a mixture of old and new files go first.
    if force && part != Part::Index {
        run.remove_other_indexes()?;
    }
    // 3. Shards into place, then the config files and the index.
    let files = persist_all(
        staged.into_iter().chain(side_staged).chain(index_staged),
        force,
        &ckpt.dir,
    )?;
    // 4. Only now, stale files of an earlier, larger (or unsharded) checkpoint.
    let removed = if force && !matches!(part, Part::Shard(_)) {
        run.remove_stale()?
    } else {
        Vec::new()
    };
    Ok(Written {
        files,
        removed,
        hashes,
    })
}

/// One checkpoint write: what is there, what this part writes, and what would be stale.
struct Run<'a> {
    plan: &'a Plan,
    ckpt: &'a Checkpoint,
    layout: &'a Layout,
    part: Part,
    /// This checkpoint's files already in the directory.
    existing: Vec<String>,
    /// Files of this prefix that the new checkpoint does not have.
    stale: Vec<String>,
    /// Shards (0-based) this part writes.
    wanted: Vec<usize>,
    /// A model's config files, written with the index (or the lone shard): they make the
    /// directory a checkpoint `from_pretrained` loads.
    side: Vec<&'a (String, Vec<u8>)>,
}

/// Up to three names, then `…`.
fn listed(names: &[String]) -> String {
    let mut s: Vec<&str> = names.iter().take(3).map(|n| n.as_str()).collect();
    if names.len() > 3 {
        s.push("…");
    }
    s.join(", ")
}

impl<'a> Run<'a> {
    fn new(plan: &'a Plan, ckpt: &'a Checkpoint, layout: &'a Layout, part: Part) -> Result<Self> {
        let existing = ckpt.existing()?;
        let members: Vec<&str> = (layout.shards.iter())
            .map(|s| s.file.as_str())
            .chain(layout.index.as_deref())
            .collect();
        let stale = (existing.iter())
            .filter(|e| !members.contains(&e.as_str()))
            .cloned()
            .collect();
        let wanted = match part {
            Part::All => (0..layout.shards.len()).collect(),
            Part::Shard(k) => vec![k - 1],
            Part::Index => Vec::new(),
        };
        let side = match part {
            Part::Shard(_) => Vec::new(),
            _ => plan.model.iter().flat_map(|m| &m.files).collect(),
        };
        Ok(Run {
            plan,
            ckpt,
            layout,
            part,
            existing,
            stale,
            wanted,
            side,
        })
    }

    fn shown(&self, name: &str) -> String {
        self.ckpt.dir.join(name).display().to_string()
    }

    /// Without `force`, nothing that exists is replaced.
    fn refuse_existing(&self) -> Result<()> {
        let exists = |name: &str| {
            Err(Error::Usage(format!(
                "{} already exists; pass `force` to replace it",
                self.shown(name)
            )))
        };
        if let Some((name, _)) = (self.side.iter()).find(|(n, _)| self.ckpt.dir.join(n).exists()) {
            return exists(name);
        }
        match self.part {
            Part::All if !self.existing.is_empty() => Err(Error::Usage(format!(
                "{} already holds a checkpoint ({}); pass `force` to replace it",
                self.ckpt.dir.display(),
                listed(&self.existing)
            ))),
            Part::Shard(k) if self.existing.contains(&self.layout.shards[k - 1].file) => {
                exists(&self.layout.shards[k - 1].file)
            }
            _ => Ok(()),
        }
    }

    /// `--index-only`: every shard in place, and (without `force`) no index or files of
    /// another checkpoint in the way.
    fn check_index_part(&self, force: bool) -> Result<()> {
        check_shards_in_place(self.plan, self.ckpt, self.layout)?;
        let ix = (self.layout.index.as_deref()).expect("checked: more than one shard");
        if !force && self.existing.iter().any(|e| e == ix) {
            return Err(Error::Usage(format!(
                "{} already exists; pass `force` to replace it",
                self.shown(ix)
            )));
        }
        if !force && !self.stale.is_empty() {
            return Err(Error::Usage(format!(
                "{} also holds files of another checkpoint ({}); pass `force` to remove them once the index is written",
                self.ckpt.dir.display(),
                listed(&self.stale)
            )));
        }
        Ok(())
    }

    /// The wanted shards written completely under temp names, and their tensors' hashes.
    fn stage_shards(
        &self,
        opts: WriteOptions,
        cancel: &Cancel,
    ) -> Result<(Vec<Staged>, BTreeMap<String, String>)> {
        let (plan, layout) = (self.plan, self.layout);
        let data_bytes = (self.wanted.iter())
            .flat_map(|&i| &layout.shards[i].indices)
            .map(|&j| plan.tensors[j].bytes)
            .sum();
        let mut data = DataPath::new(&opts, data_bytes, cancel);
        let mut staged: Vec<Staged> = Vec::new();
        if self.wanted.is_empty() {
            return Ok((staged, data.hashes));
        }
        let mut tensors: Vec<Option<OutTensor>> = out_tensors(plan).into_iter().map(Some).collect();
        let writer = Format::Safetensors.writer();
        crate::exec::pool(opts.threads)?
            .install(|| -> Result<()> {
                for &i in &self.wanted {
                    let shard = &layout.shards[i];
                    let ts: Vec<OutTensor> = shard
                        .indices
                        .iter()
                        .map(|&j| tensors[j].take().expect("each tensor is in one shard"))
                        .collect();
                    let metadata =
                        FileMetadata::of(plan, &shard.indices, layout.plan_sha256.as_deref());
                    let dest = self.ckpt.dir.join(&shard.file);
                    staged.push(file::stage(&dest, !opts.no_fsync, |sink, ctx| {
                        writer.write(&ts, &metadata, opts, &mut data, sink, ctx)
                    })?);
                }
                Ok(())
            })
            .map_err(|e| match (e, self.part) {
                (Error::Interrupted { .. }, Part::All) => Error::Interrupted {
                    path: self.ckpt.dir.clone(),
                },
                (e, _) => e,
            })?;
        if !opts.hash {
            data.hashes.clear();
        }
        Ok((staged, data.hashes))
    }

    /// A full run replacing a checkpoint first removes the old index, so that while shards
    /// are being replaced no index describes a mixture of old and new files. `--shard K
    /// --force` does the same with an index of another checkpoint (one that is not exactly
    /// this checkpoint's index: a retried shard of the same checkpoint keeps it).
    fn remove_other_indexes(&self) -> Result<()> {
        let index_name = self.layout.index.as_ref();
        let ours = index_name.map(|_| index_json(self.plan, self.layout));
        for name in self.existing.iter().filter(|e| e.ends_with(INDEX_SUFFIX)) {
            let p = self.ckpt.dir.join(name);
            let keep = matches!(self.part, Part::Shard(_))
                && Some(name) == index_name
                && fs::read(&p).ok() == ours;
            if !keep {
                remove_if_present(&p)?;
            }
        }
        Ok(())
    }

    /// Stale files of an earlier, larger (or unsharded) checkpoint, removed.
    fn remove_stale(&self) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for name in &self.stale {
            let p = self.ckpt.dir.join(name);
            remove_if_present(&p)?;
            removed.push(p);
        }
        if !removed.is_empty() {
            file::sync_dir(&self.ckpt.dir);
        }
        Ok(removed)
    }
}

/// Staged files into place, in order. Without `force`, a failure takes back the files this
/// run put in place (nothing was there before).
fn persist_all(
    staged: impl Iterator<Item = Staged>,
    force: bool,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let mut done: Vec<PathBuf> = Vec::new();
    for s in staged {
        match s.persist(force) {
            Ok(p) => done.push(p),
            Err(e) => {
                if !force {
                    for p in &done {
                        let _ = fs::remove_file(p);
                    }
                }
                file::sync_dir(dir);
                return Err(e);
            }
        }
    }
    file::sync_dir(dir);
    Ok(done)
}

fn remove_if_present(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io_at("removing", p, e)),
    }
}

/// `--index-only`: every shard must exist with exactly the size and header this plan gives
/// it (a cheap check that it was written by the same spec, seed and max shard size, and is
/// complete).
fn check_shards_in_place(plan: &Plan, ckpt: &Checkpoint, layout: &Layout) -> Result<()> {
    let mut wrong: Vec<(usize, String)> = Vec::new();
    for (k, shard) in layout.shards.iter().enumerate() {
        let path = ckpt.dir.join(&shard.file);
        if let Some(why) = shard_problem(plan, layout, &path, k + 1, shard)? {
            wrong.push((k + 1, why));
        }
    }
    match wrong.as_slice() {
        [] => Ok(()),
        [(k, why)] => Err(Error::Usage(format!(
            "{why}; write it with `shard` {k} (add `force` to replace it)"
        ))),
        _ => {
            let ks: Vec<String> = wrong.iter().map(|(k, _)| k.to_string()).collect();
            let whys: Vec<&str> = wrong.iter().map(|(_, w)| w.as_str()).collect();
            Err(Error::Usage(format!(
                "{} of {} shards are not in place: {}; write each with `shard` K for K in {} (add `force` to replace one)",
                wrong.len(),
                layout.shards.len(),
                whys.join("; "),
                ks.join(", ")
            )))
        }
    }
}

/// Why the file at `path` is not shard `k` as this plan lays it out, if it is not.
fn shard_problem(
    plan: &Plan,
    layout: &Layout,
    path: &Path,
    k: usize,
    shard: &ShardFile,
) -> Result<Option<String>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(format!(
                "{} is missing (write every shard before the index)",
                path.display()
            )));
        }
        Err(e) => return Err(Error::io_at("checking", path, e)),
    };
    if !meta.is_file() {
        return Ok(Some(format!("{} is not a regular file", path.display())));
    }
    // The header this plan gives the shard, with the data hashes the shard records (they
    // are checked by `inspect --check`, not here: that needs the data read).
    let whole = layout.plan_sha256.as_deref();
    let len = shard_header(plan, &shard.indices, whole, &BTreeMap::new())?.len();
    let mut have = vec![0u8; len];
    let recorded = if meta.len() >= len as u64 {
        fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut have))
            .map_err(|e| Error::io_at("reading", path, e))?;
        header_metadata(&have)
    } else {
        BTreeMap::new()
    };
    let same_header = meta.len() >= len as u64
        && shard_header(plan, &shard.indices, whole, &recorded_hashes(&recorded))? == have;
    if meta.len() != shard.file_bytes || !same_header {
        // A shard of a run with the same tensors here but another plan elsewhere differs
        // only in the whole plan's fingerprint: say so.
        let what = match (whole, recorded.get(PLAN_SHA256)) {
            (Some(ours), Some(theirs)) if ours != theirs => {
                "weightgen.plan_sha256, the whole plan's fingerprint,"
            }
            _ if same_header => "size",
            _ => "header",
        };
        return Ok(Some(format!(
            "{} is not shard {k} of this checkpoint (its {what} differs from what this spec, seed and max shard size give)",
            path.display(),
        )));
    }
    Ok(None)
}

/// The `__metadata__` of a safetensors header (length prefix + JSON), if it parses.
fn header_metadata(header: &[u8]) -> BTreeMap<String, String> {
    let Some(json) = header.get(8..) else {
        return BTreeMap::new();
    };
    #[derive(serde::Deserialize)]
    struct Header {
        #[serde(rename = "__metadata__", default)]
        metadata: BTreeMap<String, String>,
    }
    let text = String::from_utf8_lossy(json);
    match serde_json::from_str::<Header>(text.trim_end()) {
        Ok(h) => h.metadata,
        Err(_) => BTreeMap::new(),
    }
}

/// The layout of a checkpoint with `part` checked: what `--dry-run` shows, without touching
/// the file system.
pub(crate) fn plan_checkpoint(
    plan: &Plan,
    ckpt: &Checkpoint,
    max: u64,
    part: Part,
) -> Result<Layout> {
    let layout = layout(plan, ckpt, max)?;
    part.check(&layout)?;
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb(x: u64) -> u64 {
        x * 1_000_000_000
    }

    #[test]
    fn the_docstring_example_splits_greedily_without_bin_packing() {
        // huggingface_hub: [6GB, 6GB, 2GB, 6GB, 2GB, 2GB] at 10GB → [6], [6+2], [6+2+2].
        let s = [6, 6, 2, 6, 2, 2].map(gb);
        assert_eq!(split(&s, gb(10)), vec![vec![0], vec![1, 2], vec![3, 4, 5]]);
    }

    #[test]
    fn a_shard_closes_exactly_at_the_limit_and_one_byte_more_starts_a_new_one() {
        assert_eq!(split(&[4, 6, 1], 10), vec![vec![0, 1], vec![2]]);
        assert_eq!(split(&[4, 7, 1], 10), vec![vec![0], vec![1, 2]]);
        // A single tensor exactly the limit is not oversize.
        assert_eq!(split(&[10, 10], 10), vec![vec![0], vec![1]]);
        assert_eq!(split(&[3, 3, 3], 9), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn everything_under_the_limit_is_one_shard() {
        assert_eq!(split(&[1, 2, 3], 100), vec![vec![0, 1, 2]]);
        assert_eq!(split(&[5], 5), vec![vec![0]]);
    }

    #[test]
    fn an_oversize_tensor_gets_its_own_shard_appended_before_the_current_one() {
        // First: its own shard, then the rest.
        assert_eq!(split(&[11, 2, 3], 10), vec![vec![0], vec![1, 2]]);
        // Middle: appended at once; the current shard keeps filling past it.
        assert_eq!(split(&[1, 6, 1].map(gb), gb(5)), vec![vec![1], vec![0, 2]]);
        assert_eq!(
            split(&[4, 20, 5, 3], 10),
            vec![vec![1], vec![0, 2], vec![3]]
        );
        // Last.
        assert_eq!(split(&[2, 3, 11], 10), vec![vec![2], vec![0, 1]]);
        // Only oversize tensors.
        assert_eq!(split(&[11, 12], 10), vec![vec![0], vec![1]]);
    }

    #[test]
    fn empty_tensors_ride_along_in_the_current_shard() {
        assert_eq!(split(&[0, 0, 0], 1), vec![vec![0, 1, 2]]);
        assert_eq!(split(&[10, 0, 1], 10), vec![vec![0, 1], vec![2]]);
        // After an oversize tensor, an empty one opens the current shard.
        assert_eq!(split(&[11, 0], 10), vec![vec![0], vec![1]]);
    }

    #[test]
    fn huge_sizes_do_not_overflow() {
        assert_eq!(
            split(&[u64::MAX, u64::MAX - 1, 1], u64::MAX - 1),
            vec![vec![0], vec![1], vec![2]]
        );
    }

    #[test]
    fn the_index_has_sorted_keys_total_size_and_a_final_newline() {
        use crate::spec::{Spec, parse_tensor_arg};
        let spec = Spec {
            tensors: ["z=10x10", "a=30x30", "m=5x5"]
                .iter()
                .map(|t| parse_tensor_arg(t).unwrap())
                .collect(),
            ..Default::default()
        };
        let plan = Plan::new(&spec, 1).unwrap();
        let ckpt = Checkpoint::from_output("ck").unwrap();
        let l = layout(&plan, &ckpt, 3600).unwrap();
        // z 400 B, a 3600 B (exactly the limit: not oversize), m 100 B.
        let files: Vec<&str> = l.shards.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "model-00001-of-00003.safetensors",
                "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors"
            ]
        );
        assert_eq!(l.total_size, 4100);
        let text = String::from_utf8(index_json(&plan, &l)).unwrap();
        assert!(text.ends_with("}\n"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["metadata"]["total_size"], 4100);
        assert_eq!(v["metadata"]["weightgen.seed"], "1");
        let keys: Vec<&String> = v["weight_map"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "m", "z"]);
        assert!(text.find("\"a\"").unwrap() < text.find("\"z\"").unwrap());
        assert_eq!(v["weight_map"]["z"], "model-00001-of-00003.safetensors");
        assert_eq!(v["weight_map"]["m"], "model-00003-of-00003.safetensors");
        // Each shard's recorded plan names only its tensors.
        let md =
            FileMetadata::of(&plan, &l.shards[1].indices, l.plan_sha256.as_deref()).placeholder();
        assert!(md["weightgen.plan"].contains("\"a\"") && !md["weightgen.plan"].contains("\"z\""));
        assert_eq!(md["format"], "pt");
        // Every shard and the index record the whole plan's fingerprint; the shard its place.
        let fp = plan_sha256(&plan);
        assert_eq!(l.plan_sha256.as_deref(), Some(fp.as_str()));
        assert_eq!(md[PLAN_SHA256], fp);
        assert_eq!(md[super::super::metadata::PLAN_POSITIONS], "[[1,2]]");
        assert_eq!(v["metadata"][PLAN_SHA256], fp.as_str());
        // Parts the layout does not have.
        assert!(Part::Shard(4).check(&l).is_err());
        assert!(Part::Shard(0).check(&l).is_err());
        assert!(Part::Shard(3).check(&l).is_ok() && Part::Index.check(&l).is_ok());
        let one = layout(&plan, &ckpt, 1 << 20).unwrap();
        assert_eq!(one.index, None);
        assert_eq!(one.plan_sha256, None);
        assert!(Part::Index.check(&one).is_err());
    }

    #[test]
    fn output_paths_name_a_directory_or_an_index() {
        let c = Checkpoint::from_output("out/ckpt").unwrap();
        assert_eq!(
            (c.dir, c.prefix.as_str()),
            (PathBuf::from("out/ckpt"), "model")
        );
        let c = Checkpoint::from_output("ckpt/").unwrap();
        assert_eq!(c.prefix, "model");
        let c =
            Checkpoint::from_output("out/diffusion_pytorch_model.safetensors.index.json").unwrap();
        assert_eq!(c.dir, PathBuf::from("out"));
        assert_eq!(c.prefix, "diffusion_pytorch_model");
        assert_eq!(
            c.shard_name(2, 12),
            "diffusion_pytorch_model-00002-of-00012.safetensors"
        );
        assert_eq!(c.shard_name(1, 1), "diffusion_pytorch_model.safetensors");
        let c = Checkpoint::from_output("model.safetensors.index.json").unwrap();
        assert_eq!(c.dir, PathBuf::from("."));
        for bad in [
            "-",
            "",
            "x.safetensors",
            "x.npz",
            "x.json",
            ".safetensors.index.json",
        ] {
            assert!(Checkpoint::from_output(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checkpoint_files_are_recognised_by_prefix_and_pattern() {
        let c = Checkpoint {
            dir: ".".into(),
            prefix: "model".into(),
        };
        for yes in [
            "model.safetensors",
            "model.safetensors.index.json",
            "model-00001-of-00003.safetensors",
            "model-123456-of-123456.safetensors",
        ] {
            assert!(c.is_member(yes), "{yes}");
        }
        for no in [
            "model-1-of-3.safetensors",
            "model-00001-of-00003.safetensors.tmp",
            ".model-00001-of-00003.safetensors.abc.tmp",
            "other-00001-of-00003.safetensors",
            "model.fp16.safetensors",
            "model-0000a-of-00003.safetensors",
            "config.json",
        ] {
            assert!(!c.is_member(no), "{no}");
        }
    }
}
