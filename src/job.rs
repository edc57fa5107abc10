//! Jobs: one run of weightgen described as a value, run, and summarised.
//!
//! Owns: what a run means beyond its [`Plan`]: building the [`Spec`] from a user's raw inputs
//! ([`SpecInput`]), the seed rule (fixed, or drawn from the OS and reported), the output's
//! format (named, or from the path's extension), the checkpoint rules (`max_shard_size`, one
//! shard or the index alone, which files a dry run lists), and `inspect` over many files on one
//! worker pool. Does not own: flags or printing (the binary maps flags onto these values and
//! prints what they return), nor any format or scheme logic.
//!
//! Errors name the job's fields (`shard`, `max_shard_size`, `format`) and spec keys, never a
//! flag: the binary says which flag set them.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::{Cancel, pool};
use crate::fans::Convention;
use crate::inspect::{self, Expect};
use crate::plan::{Plan, resolve_seed};
use crate::scheme::Param;
use crate::spec::{ParamSet, Spec, parse_tensor_arg};
use crate::stream::RngKind;
use crate::write::shard::{self, Checkpoint, Layout};
use crate::write::{self, Format, Target};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

// The types a job's fields and results are made of.
pub use crate::inspect::check::CheckResult;
pub use crate::inspect::{
    Claim, Entry, FailedFile, FileReport, IndexSummary, TensorReport, TensorStats,
};
pub use crate::memory_limit::MemoryLimit;
pub use crate::summary::{PeakMemory, Summary, WholeTensorNeed};
pub use crate::write::WriteOptions;
pub use crate::write::shard::Part;

/// `save_pretrained`'s default `max_shard_size` in transformers 5.x ("50GB"): a model is
/// always written as a checkpoint directory.
pub const MODEL_MAX_SHARD: u64 = 50_000_000_000;

/// A spec as a user gives it, before checking: a JSON file and values typed as text (the
/// command line's flags, a form's fields). Values given here override the file's top level;
/// values on a tensor in the file win over both.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    /// A JSON spec file; `-` reads standard input.
    pub spec_file: Option<String>,
    /// A Hugging Face `config.json` (or its directory).
    pub hf_config: Option<PathBuf>,
    /// Tensors as `NAME=DIMS` or `DIMS`.
    pub tensors: Vec<String>,
    /// Widths `IN,H1,…,OUT` of an `nn.Sequential` of linear layers.
    pub mlp: Option<String>,
    /// The scheme's name.
    pub scheme: Option<String>,
    /// Scheme parameters as text, e.g. `(Param::Std, "0.02")`.
    pub params: Vec<(Param, String)>,
    pub seed: Option<String>,
    pub rng: Option<String>,
    pub dtype: Option<String>,
    pub convention: Option<String>,
    /// What the caller calls each parameter in error messages (the command line: `std` →
    /// `--std`); by default its key.
    pub names: Option<fn(&str) -> String>,
}

/// The text of a spec file (`-`: standard input) and the name errors give it.
fn read_spec(path: &str) -> Result<(String, String)> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::Usage(format!("spec <stdin>: not a JSON text ({e})"))
            } else {
                Error::io("reading the spec from stdin", e)
            }
        })?;
        return Ok((s, "<stdin>".into()));
    }
    let s = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            Error::Usage(format!("spec {path}: not a JSON text ({e})"))
        } else {
            Error::opening(format!("spec {path}: cannot read it"), e)
        }
    })?;
    Ok((s, path.to_string()))
}

/// The spec in the file `path` (`-`: standard input), parsed and checked. Every error starts
/// with `spec FILE: ` (`spec <stdin>: `).
pub fn spec_from_file(path: &str) -> Result<Spec> {
    let (text, source) = read_spec(path)?;
    Spec::from_json(&text, &source)
}

impl SpecInput {
    /// The one checked [`Spec`] these inputs describe. Errors name the field (`seed`,
    /// `negative_slope`, `mlp`) or the spec file's path.
    pub fn to_spec(&self) -> Result<Spec> {
        let name = |key: &str| self.names.map_or_else(|| key.to_string(), |f| f(key));
        let mut spec = match &self.spec_file {
            None => Spec::default(),
            Some(path) => {
                let (text, source) = read_spec(path)?;
                Spec::from_json(&text, &source)?
            }
        };
        if let Some(p) = &self.hf_config {
            spec.model = Some(crate::model::load(p)?);
        }
        let mut given = ParamSet::default();
        if let Some(s) = &self.scheme {
            given.set_scheme(s, &name("scheme"))?;
        }
        for (p, v) in &self.params {
            given.set_str(*p, v, &name(p.key()))?;
        }
        if given.has(Param::Gain) && given.has(Param::Nonlinearity) {
            return Err(Error::invalid(
                name("gain"),
                format!(
                    "give either a gain or {} (whose gain calculate_gain computes), not both",
                    name("nonlinearity")
                ),
            ));
        }
        spec.defaults = spec.defaults.overlaid(&given);
        if let Some(seed) = &self.seed {
            spec.seed = Some(seed.trim().parse::<i128>().map_err(|_| {
                Error::invalid(name("seed"), format!("expected an integer, got `{seed}`"))
            })?);
        }
        if let Some(r) = &self.rng {
            spec.rng = Some(RngKind::parse(r).map_err(|e| e.at(&name("rng")))?);
        }
        if let Some(d) = &self.dtype {
            spec.dtype = Some(DType::parse(d).map_err(|e| e.at(&name("dtype")))?);
        }
        if let Some(c) = &self.convention {
            spec.convention = Some(Convention::parse(c).map_err(|e| e.at(&name("convention")))?);
        }
        if let Some(widths) = &self.mlp {
            let w = widths
                .split(',')
                .map(|x| {
                    x.trim().parse::<u64>().map_err(|_| {
                        Error::invalid(
                            name("mlp"),
                            format!("expected widths like 784,256,10, got `{widths}`"),
                        )
                    })
                })
                .collect::<Result<Vec<u64>>>()?;
            spec.layers.extend(crate::layers::mlp(&w)?);
        }
        for arg in &self.tensors {
            spec.tensors.push(parse_tensor_arg(arg)?);
        }
        Ok(spec)
    }
}

/// The run's seed: the spec's, else one drawn from the OS (second value true).
pub(crate) fn seed_for(spec: &Spec) -> Result<(u64, bool)> {
    Ok(match spec.seed {
        Some(s) => (resolve_seed(s, spec.rng.unwrap_or_default())?, false),
        None => (
            getrandom::u64()
                .map_err(|e| Error::io("drawing a seed from the OS", std::io::Error::other(e)))?,
            true,
        ),
    })
}

/// A `generate` run: what to plan, where to write it, and how.
#[derive(Debug, Clone)]
pub struct Generate {
    pub spec: Spec,
    /// A file path, `-` for standard output, or a checkpoint directory (or
    /// `DIR/PREFIX.safetensors.index.json`). `None` only for a dry run (and a checkpoint, whose
    /// default is the current directory).
    pub output: Option<String>,
    /// The format; by default the output's extension names it.
    pub format: Option<Format>,
    /// Shard the output as a Hugging Face checkpoint at this many tensor bytes per file
    /// (overrides the spec's `max_shard_size`; a model defaults to [`MODEL_MAX_SHARD`]).
    pub max_shard_size: Option<u64>,
    /// Which files of a checkpoint to write.
    pub part: Part,
    /// Replace existing outputs.
    pub force: bool,
    /// Plan and check only: nothing is drawn or written.
    pub dry_run: bool,
    pub options: WriteOptions,
    /// The most memory the run may plan to hold (orthogonal QR, `rng` torch whole-tensor
    /// inits, chunk buffers); `None`: [`MemoryLimit::from_env_or_machine`].
    pub memory_limit: Option<MemoryLimit>,
}

impl Generate {
    /// The parameters this job's error messages name in backticks (`` pass `force` ``,
    /// `` `rng` torch``): its fields and the [`SpecInput`] values set outside a spec. A front
    /// end that calls them something else renames exactly these ([`Error::renamed`]); other
    /// backticked names (spec keys, tensor names) are left alone.
    pub const PARAMS: &[&str] = &[
        "memory_limit",
        "shard",
        "index_only",
        "max_shard_size",
        "format",
        "compress",
        "mlp",
        "force",
        "rng",
        "convention",
        "gain",
        "value",
        "sparsity",
        "fan_in",
    ];

    /// A job writing `spec` to `output` with default options.
    pub fn new(spec: Spec, output: impl Into<String>) -> Generate {
        Generate {
            spec,
            output: Some(output.into()),
            format: None,
            max_shard_size: None,
            part: Part::All,
            force: false,
            dry_run: false,
            options: WriteOptions::default(),
            memory_limit: None,
        }
    }

    /// Run: plan, check, then (unless a dry run) write. Nothing is left at a destination
    /// unless this returns `Ok`; `cancel` stops it at the next chunk.
    pub fn run(&self, cancel: &Cancel) -> Result<Generated> {
        let max_shard = self.max_shard_size.or(self.spec.max_shard_size).or(self
            .spec
            .model
            .as_ref()
            .map(|_| MODEL_MAX_SHARD));
        match max_shard {
            Some(max) => self.run_checkpoint(max, cancel),
            None => self.run_file(cancel),
        }
    }

    fn run_file(&self, cancel: &Cancel) -> Result<Generated> {
        let needs =
            |field: &str| Error::needs(field, "max_shard_size", "only for a sharded checkpoint");
        match self.part {
            Part::All => {}
            Part::Shard(_) => return Err(needs("shard")),
            Part::Index => return Err(needs("index_only")),
        }
        if self.output.as_deref() == Some("") {
            return Err(Error::Usage("the output path is empty".into()));
        }
        let target = self.output.as_deref().map(Target::parse);
        let format = match (self.format, &target) {
            (Some(f), _) => f,
            (None, Some(Target::Path(p))) => Format::from_path(p).ok_or_else(|| {
                Error::needs(
                    "format",
                    "to be set",
                    format!(
                        "cannot tell the format from {}; name it .npy, .npz or .safetensors",
                        p.display()
                    ),
                )
            })?,
            (None, Some(Target::Stdout)) => {
                return Err(Error::needs(
                    "format",
                    "to be npy or safetensors",
                    "for writing to stdout",
                ));
            }
            (None, None) => Format::Safetensors,
        };
        if let (Some(f), Some(Target::Path(p))) = (self.format, &target)
            && let Some(named) = Format::from_path(p)
            && named != f
        {
            return Err(Error::invalid(
                "format",
                format!("is {f}, but the output {} is named .{named}", p.display()),
            ));
        }
        if self.options.compress && format != Format::Npz {
            return Err(Error::invalid(
                "compress",
                format!("only .npz members are compressed; this output is {format}"),
            ));
        }
        let (seed, seed_drawn) = seed_for(&self.spec)?;
        let plan = crate::model::plan_spec(&self.spec, seed)?;
        let to_stdout = target == Some(Target::Stdout);
        let outputs: Vec<String> = target.iter().map(Target::display).collect();
        let mut done = Generated {
            plan,
            seed_drawn,
            format,
            outputs,
            dry_run: self.dry_run,
            to_stdout,
            hashes: BTreeMap::new(),
            checkpoint: None,
            peak_memory: None,
        };
        if self.dry_run {
            write::check_plan(&done.plan, format, to_stdout)?;
            done.peak_memory = Some(self.memory_check(&done.plan, false)?);
            return Ok(done);
        }
        let target = target
            .ok_or_else(|| Error::Usage("an output is needed unless this is a dry run".into()))?;
        self.memory_check(&done.plan, true)?;
        cancel.check(&target.display())?;
        done.hashes = write::write_plan(
            &done.plan,
            format,
            &target,
            self.force,
            self.options,
            cancel,
        )?;
        Ok(done)
    }

    fn run_checkpoint(&self, max: u64, cancel: &Cancel) -> Result<Generated> {
        let not_sharded = |why: String| Error::invalid("max_shard_size", why);
        if let Some(f) = self.format
            && f != Format::Safetensors
        {
            return Err(not_sharded(format!(
                "checkpoints are sharded safetensors; format {f} cannot be sharded"
            )));
        }
        if let Some(o) = &self.output
            && let Some(f) = Format::from_path(Path::new(o))
            && f != Format::Safetensors
        {
            return Err(not_sharded(format!(
                "checkpoints are sharded safetensors; {o} is a .{f} file"
            )));
        }
        if self.options.compress {
            return Err(Error::invalid(
                "compress",
                "only .npz members are compressed; checkpoints are safetensors",
            ));
        }
        if self.part != Part::All && self.spec.seed.is_none() {
            let field = if self.part == Part::Index {
                "index_only"
            } else {
                "shard"
            };
            return Err(Error::needs(
                field,
                "a fixed seed",
                "the same on every machine, or the parts would not fit together",
            ));
        }
        let ckpt = match self.output.as_deref() {
            Some(o) => Checkpoint::from_output(o)?,
            None => Checkpoint {
                dir: ".".into(),
                prefix: "model".into(),
            },
        };
        let (seed, seed_drawn) = seed_for(&self.spec)?;
        let plan = crate::model::plan_spec(&self.spec, seed)?;
        let layout = shard::plan_checkpoint(&plan, &ckpt, max, self.part)?;
        let mut done = Generated {
            outputs: Vec::new(),
            plan,
            seed_drawn,
            format: Format::Safetensors,
            dry_run: self.dry_run,
            to_stdout: false,
            hashes: BTreeMap::new(),
            checkpoint: None,
            peak_memory: None,
        };
        if self.dry_run {
            done.peak_memory = Some(self.memory_check(&done.plan, false)?);
            done.outputs = planned_files(&done.plan, &ckpt, &layout, self.part);
            done.checkpoint = Some(CheckpointRun {
                ckpt,
                layout,
                part: self.part,
                removed: Vec::new(),
            });
            return Ok(done);
        }
        if self.part != Part::Index {
            self.memory_check(&done.plan, true)?;
        }
        cancel.check(&ckpt.dir.display().to_string())?;
        let written = shard::write_checkpoint(
            &done.plan,
            &ckpt,
            &layout,
            self.part,
            self.force,
            self.options,
            cancel,
        )?;
        done.outputs = written
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        done.hashes = written.hashes;
        done.checkpoint = Some(CheckpointRun {
            ckpt,
            layout,
            part: self.part,
            removed: written.removed,
        });
        Ok(done)
    }
}

impl Generate {
    /// The peak-memory estimate of writing `plan`, checked against the limit; with `probe`,
    /// its whole-tensor steps are also known to be allocatable.
    fn memory_check(&self, plan: &Plan, probe: bool) -> Result<crate::memory_limit::Estimate> {
        let limit = self
            .memory_limit
            .clone()
            .map_or_else(MemoryLimit::from_env_or_machine, Ok)?;
        crate::memory_limit::guard_generate(plan, self.options.threads, &limit, probe)
    }
}

/// The files a checkpoint run writes, in order: shards, the index, then a model's config
/// files (as a dry run lists them).
fn planned_files(plan: &Plan, ckpt: &Checkpoint, layout: &Layout, part: Part) -> Vec<String> {
    let side = plan
        .model
        .iter()
        .flat_map(|m| &m.files)
        .map(|(n, _)| n.as_str());
    let path_of = |name: &str| ckpt.dir.join(name).display().to_string();
    match part {
        Part::All => layout
            .shards
            .iter()
            .map(|s| s.file.as_str())
            .chain(layout.index.as_deref())
            .chain(side)
            .map(path_of)
            .collect(),
        Part::Shard(k) => vec![path_of(&layout.shards[k - 1].file)],
        Part::Index => layout
            .index
            .as_deref()
            .into_iter()
            .chain(side)
            .map(path_of)
            .collect(),
    }
}

/// What a checkpoint run laid out and wrote.
#[derive(Debug)]
pub(crate) struct CheckpointRun {
    pub(crate) ckpt: Checkpoint,
    pub(crate) layout: Layout,
    pub(crate) part: Part,
    /// Stale files of an earlier, larger checkpoint removed after success (with `force`).
    pub(crate) removed: Vec<PathBuf>,
}

/// What a [`Generate`] run did.
#[derive(Debug)]
pub struct Generated {
    pub plan: Plan,
    /// The seed was drawn from the OS (report it: it is the only way to reproduce the run).
    pub seed_drawn: bool,
    pub format: Format,
    /// Files written (or, for a dry run, that would be), in order.
    pub outputs: Vec<String>,
    pub dry_run: bool,
    /// The data went to standard output.
    pub to_stdout: bool,
    /// SHA-256 of each tensor's data bytes when `options.hash` was set.
    pub hashes: BTreeMap<String, String>,
    pub(crate) checkpoint: Option<CheckpointRun>,
    /// A dry run's peak-memory estimate.
    pub(crate) peak_memory: Option<crate::memory_limit::Estimate>,
}

impl Generated {
    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.plan.seed
    }

    /// The summary `--json` and `--dry-run` print.
    pub fn summary(&self) -> Summary<'_> {
        let s = Summary::new(
            &self.plan,
            self.format,
            self.outputs.clone(),
            self.dry_run,
            &self.hashes,
        );
        let s = match &self.peak_memory {
            Some(e) => s.with_peak_memory(e),
            None => s,
        };
        match &self.checkpoint {
            Some(c) => s.with_checkpoint(&c.layout),
            None => s,
        }
    }

    /// One line saying what was written (and a second naming removed stale files); `None` for
    /// a dry run or a write to standard output.
    pub fn report(&self) -> Option<String> {
        if self.dry_run || self.to_stdout {
            return None;
        }
        let tensors = self.plan.tensors.len();
        let s = |k: usize| if k == 1 { "" } else { "s" };
        let Some(c) = &self.checkpoint else {
            return Some(format!(
                "wrote {}: {tensors} tensor{}, {} bytes of data",
                self.outputs.join(", "),
                s(tensors),
                self.plan.data_bytes()
            ));
        };
        let (layout, n) = (&c.layout, c.layout.shards.len());
        let path_of = |name: &str| c.ckpt.dir.join(name).display().to_string();
        let mut line = match c.part {
            Part::All if n == 1 => format!(
                "wrote {}: one shard is enough (no index), {tensors} tensor{}, {} bytes of data",
                path_of(&layout.shards[0].file),
                s(tensors),
                layout.total_size
            ),
            Part::All => format!(
                "wrote {}: {n} shards and {}, {tensors} tensor{}, {} bytes of data",
                c.ckpt.dir.display(),
                layout.index.as_deref().unwrap_or_default(),
                s(tensors),
                layout.total_size
            ),
            Part::Shard(k) => {
                let f = &layout.shards[k - 1];
                format!(
                    "wrote {}: shard {k} of {n}, {} tensor{}, {} bytes of data",
                    path_of(&f.file),
                    f.tensors.len(),
                    s(f.tensors.len()),
                    f.bytes
                )
            }
            Part::Index => format!(
                "wrote {}: index of {n} shards, {tensors} tensors, {} bytes of data",
                path_of(layout.index.as_deref().unwrap_or_default()),
                layout.total_size
            ),
        };
        if !c.removed.is_empty() {
            let names: Vec<String> = c.removed.iter().map(|p| p.display().to_string()).collect();
            line += &format!("\nremoved stale {}", names.join(", "));
        }
        Some(line)
    }
}

/// An `inspect` run: files summarised and, when asked, checked against what they claim.
#[derive(Debug, Clone, Default)]
pub struct Inspect {
    /// `.safetensors`, `.npy`, `.npz` files or a checkpoint's index.
    pub files: Vec<String>,
    /// `SCHEME [KEY=VALUE]…` to check against instead of the recorded plan; items after the
    /// scheme without a `=` are more files.
    pub expect: Vec<String>,
    /// Convention for `expect` (default torch).
    pub convention: Option<Convention>,
    /// Every file must carry a claim (a recorded plan, or `expect`).
    pub check: bool,
    /// `check`, and regenerate every tensor from the recorded plan and compare bytes.
    pub verify: bool,
    /// Compute each tensor's SHA-256: reported (`--json`), and compared with the one the plan
    /// records. `verify` compares every byte instead. Off, reading runs at memory speed; on, one core hashes
    /// at about 1.5 GB/s.
    pub hash: bool,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// The most memory a check may hold (the orthogonality check's Gram matrix, at most 256
    /// MiB by its own cap); `None`: [`MemoryLimit::from_env_or_machine`].
    pub memory_limit: Option<MemoryLimit>,
}

/// A progress display for [`Inspect::run`] on a terminal: `NN% of M MB` on stderr, rewritten
/// in place and cleared at the end, for inputs of 64 MiB or more; nothing when stderr is not a
/// terminal or `show` is false.
pub fn stderr_progress(show: bool) -> impl Fn(u64, u64) + Sync {
    use std::io::IsTerminal;
    let show = show && std::io::stderr().is_terminal();
    move |done: u64, total: u64| {
        if show && total >= 64 << 20 {
            eprint!("\r{:>3}% of {} MB", done * 100 / total.max(1), total >> 20);
            if done >= total {
                eprint!("\r\x1b[K");
            }
        }
    }
}

impl Inspect {
    /// The fields this job's error messages name in backticks (see [`Generate::PARAMS`]).
    pub const PARAMS: &[&str] = &["expect", "convention", "check", "verify", "memory_limit"];

    /// Read and summarise every file (in parallel within each), reporting `progress(done,
    /// total)` in bytes.
    pub fn run(&self, progress: Option<&(dyn Fn(u64, u64) + Sync)>) -> Result<Inspected> {
        let mut files = self.files.clone();
        let expect = if self.expect.is_empty() {
            if self.convention.is_some() {
                return Err(Error::needs("convention", "expect", ""));
            }
            None
        } else {
            let (e, more) = Expect::from_args(&self.expect, self.convention.unwrap_or_default())?;
            files.extend(more);
            Some(e)
        };
        if files.is_empty() {
            return Err(Error::Usage("no files given".into()));
        }
        let opts = inspect::Options {
            expect,
            progress,
            memory_limit: Some(
                (self.memory_limit.clone()).map_or_else(MemoryLimit::from_env_or_machine, Ok)?,
            ),
            verify: self.verify,
            hash: self.hash,
            ..Default::default()
        };
        let pool = pool(self.threads)?;
        // One file's failure is an entry of the report; the other files are still read.
        let found: Vec<inspect::Inspection> = files
            .iter()
            .map(|f| pool.install(|| inspect::inspect_path(Path::new(f), &opts)))
            .collect();
        let check = self.check || self.verify;
        let found = Inspected { found, check };
        if check && let Some(r) = found.reports().find(|r| !r.has_claims()) {
            return Err(Error::invalid(
                "check",
                format!(
                    "{} records no weightgen plan; say what to expect (expect SCHEME)",
                    r.path
                ),
            ));
        }
        Ok(found)
    }
}

/// What an [`Inspect`] run found: every file given, read or failed (an index's shards in shard
/// order, then its summary).
#[derive(Debug)]
pub struct Inspected {
    found: Vec<inspect::Inspection>,
    check: bool,
}

impl Inspected {
    /// Every file, in the order given (an index's shards in shard order).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.found.iter().flat_map(|f| &f.entries)
    }

    /// The files read.
    pub fn reports(&self) -> impl Iterator<Item = &FileReport> {
        self.entries().filter_map(|e| match e {
            Entry::Read(r) => Some(r),
            Entry::Failed(_) => None,
        })
    }

    /// The summaries of the checkpoint indexes given.
    pub fn indexes(&self) -> impl Iterator<Item = &IndexSummary> {
        self.found.iter().filter_map(|f| f.index.as_ref())
    }

    /// Whether any file could be read (when none could, the error says all).
    pub fn any_read(&self) -> bool {
        self.reports().next().is_some()
    }

    pub fn to_json(&self) -> String {
        inspect::reports_json(&self.found)
    }

    pub fn to_table(&self) -> String {
        inspect::reports_table(&self.found)
    }

    /// Every failure as one error, whose class gives the worst exit code: a file or index that
    /// could not be read (invalid or malformed input, exit 2; an I/O failure, exit 1) ranks
    /// above a failed check (with `check`, [`Error::CheckFailed`], exit 3). One failure alone
    /// is returned as it is; several are joined with `; ` in order, check failures last.
    pub fn verdict(self) -> Result<()> {
        let failures: Vec<String> = self
            .reports()
            .flat_map(|r| {
                r.failures()
                    .into_iter()
                    .map(move |f| format!("{}: {f}", r.path))
            })
            .collect();
        let checks =
            (self.check && !failures.is_empty()).then(|| Error::CheckFailed(failures.join("; ")));
        let mut errors: Vec<Error> = self.found.into_iter().flat_map(|f| f.errors).collect();
        errors.extend(checks);
        if errors.len() <= 1 {
            return errors.pop().map_or(Ok(()), Err);
        }
        let usage = errors.iter().any(Error::is_usage);
        // An I/O failure is kept whole (its cause) and named last.
        let io = if usage {
            None
        } else {
            errors
                .iter()
                .position(|e| matches!(e, Error::Io { .. }))
                .map(|i| errors.remove(i))
        };
        let mut text: Vec<String> = errors.iter().map(Error::to_string).collect();
        Err(match io {
            Some(Error::Io {
                context,
                path,
                cause,
            }) => {
                text.push(context);
                Error::Io {
                    context: text.join("; "),
                    path,
                    cause,
                }
            }
            _ if usage => Error::Malformed(text.join("; ")),
            // Runtime failures without an I/O cause (none today): exit 1.
            _ => Error::Numerical(text.join("; ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(file: &str) -> Error {
        Error::io(
            format!("reading {file}"),
            std::io::Error::other("disk failure"),
        )
    }

    /// An inspection of `files`: each path either read (an empty report, with a failing check
    /// if its name says so) or failed with its error.
    fn inspected(files: Vec<(&str, Option<Error>)>, check: bool) -> Inspected {
        let found = files
            .into_iter()
            .map(|(path, e)| match e {
                Some(e) => inspect::Inspection {
                    entries: vec![Entry::Failed(FailedFile {
                        path: path.into(),
                        error: e.to_string(),
                        exit: if e.is_usage() { 2 } else { 1 },
                    })],
                    index: None,
                    errors: vec![e],
                },
                None => {
                    let checks = if path.contains("bad") {
                        vec![CheckResult::new("ks", false, "p = 0")]
                    } else {
                        Vec::new()
                    };
                    let t = TensorReport {
                        name: "w".into(),
                        dtype: "f32".into(),
                        shape: vec![1],
                        numel: 1,
                        bytes: 4,
                        fortran_order: false,
                        stats: None,
                        claim: None,
                        checks,
                        sha256: None,
                    };
                    inspect::Inspection {
                        entries: vec![Entry::Read(FileReport {
                            path: path.into(),
                            format: "npy",
                            metadata: Default::default(),
                            tensors: vec![t],
                        })],
                        index: None,
                        errors: Vec::new(),
                    }
                }
            })
            .collect();
        Inspected { found, check }
    }

    #[test]
    fn the_verdict_is_the_worst_failure_malformed_then_io_then_check() {
        let bad = || Some(Error::Malformed("t.npy: truncated".into()));
        // Alone, each failure is returned as it is.
        let e = inspected(vec![("a.npy", None), ("io.npy", Some(io("io.npy")))], true);
        let e = e.verdict().unwrap_err();
        assert!(matches!(&e, Error::Io { .. }) && !e.is_usage(), "{e:?}");
        assert_eq!(e.to_string(), "reading io.npy: disk failure");
        let e = inspected(vec![("bad.npy", None)], true)
            .verdict()
            .unwrap_err();
        assert_eq!(e.to_string(), "check failed: bad.npy: tensor `w`: ks");
        assert!(inspected(vec![("bad.npy", None)], false).verdict().is_ok());
        // I/O (exit 1) over a failed check (3), naming both, the I/O failure last.
        let e = inspected(
            vec![("io.npy", Some(io("io.npy"))), ("bad.npy", None)],
            true,
        );
        let e = e.verdict().unwrap_err();
        assert!(matches!(&e, Error::Io { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "check failed: bad.npy: tensor `w`: ks; reading io.npy: disk failure"
        );
        // Malformed (2) over I/O and a failed check.
        let e = inspected(
            vec![
                ("io.npy", Some(io("io.npy"))),
                ("bad.npy", None),
                ("t.npy", bad()),
            ],
            true,
        );
        let e = e.verdict().unwrap_err();
        assert!(e.is_usage(), "{e:?}");
        assert_eq!(
            e.to_string(),
            "reading io.npy: disk failure; t.npy: truncated; check failed: bad.npy: tensor `w`: ks"
        );
    }
}
