//! Command line: clap definitions, and their conversion into the library's job values
//! ([`Generate`], [`Inspect`], the study's options).
//!
//! Owns: flags, help text, subcommands, where summaries are printed. Does not own: any
//! validation of values (the library parses every flag value, so flags and JSON give the same
//! messages), nor any scheme or format logic.

use anyhow::{Context, Result};
use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{Arg, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsStr;
use weightgen::Choice;
use weightgen::exec::Cancel;
use weightgen::fans::Convention;
use weightgen::format::Format;
use weightgen::job::{Generate, Inspect, MemoryLimit, Part, SpecInput, WriteOptions};
use weightgen::scheme::{Param, ParamValue, Scheme};
use weightgen::spec::parse_size;

#[derive(Debug, Parser)]
#[command(
    name = "weightgen",
    version,
    about = "Write initialised neural-network weights to .npy, .npz and .safetensors files",
    long_about = include_str!("help/weightgen.txt")
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate initialised tensors and write them to a file (or stdout).
    Generate(Box<GenerateArgs>),
    /// Summarise weight files and check them against the initialisation they claim.
    Inspect(InspectArgs),
    /// List every scheme with its formula, parameters, defaults and aliases.
    Schemes {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) on stdout; with --dir, write one page per subcommand.
    Man {
        /// Write weightgen.1 and one weightgen-SUBCOMMAND.1 per subcommand (weightgen-generate.1,
        /// weightgen-inspect.1, …) into DIR, created if missing.
        #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
        dir: Option<std::path::PathBuf>,
    },
    /// Measure activations, gradients and layer Jacobians of a deep network under each scheme
    /// (Glorot & Bengio 2010).
    Study(Box<StudyArgs>),
}

#[derive(Debug, Args)]
#[command(after_help = include_str!("help/generate.txt"))]
struct GenerateArgs {
    /// Tensors as NAME=DIMS or DIMS (named `weight`), e.g. fc1.weight=256x784.
    #[arg(value_name = "TENSOR")]
    tensors: Vec<String>,

    /// Output file; `-` writes to stdout (.npy and .safetensors only).
    #[arg(short, long, value_name = "PATH", required_unless_present = "dry_run", value_hint = clap::ValueHint::FilePath)]
    output: Option<String>,

    /// JSON spec file (`-` reads stdin).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    spec: Option<String>,

    /// A Hugging Face model's config.json (or a directory holding one): write the checkpoint
    /// directory `save_pretrained` would (config.json, generation_config.json, model.safetensors
    /// or shards of at most --max-shard-size, default 50GB, and their index) with the family's
    /// _init_weights values; with --rng torch, bit for bit those of torch.manual_seed(N) then
    /// from_config. Families: llama, mistral, qwen2, qwen3, gemma, gemma2, phi3, gpt2, bert,
    /// t5. Also `hf_config` in the spec. --dtype overrides the config's dtype.
    #[arg(long, value_name = "PATH")]
    hf_config: Option<String>,

    /// Linear layers of nn.Sequential(Linear, act, Linear, …) for widths IN,H1,…,OUT, named
    /// 0, 2, 4, … as the Sequential names them (biases zeros unless the scheme is torch_default).
    #[arg(long, value_name = "WIDTHS")]
    mlp: Option<String>,

    /// Output format [npy, npz, safetensors]; default from the output's extension.
    #[arg(long, value_name = "FORMAT", value_parser = Offer(Choice::Format), hide_possible_values = true)]
    format: Option<String>,

    /// Initialisation scheme (see `weightgen schemes`) [default: xavier_uniform].
    #[arg(long, value_name = "NAME", value_parser = Offer(Choice::Scheme), hide_possible_values = true)]
    scheme: Option<String>,

    #[command(flatten)]
    params: SchemeFlags,

    /// Axis convention and meaning of "normal" schemes [torch, keras] [default: torch].
    #[arg(long, value_name = "NAME", value_parser = Offer(Choice::Convention), hide_possible_values = true)]
    convention: Option<String>,
    /// Element type [f32, f64, f16, bf16] [default: f32].
    #[arg(long, value_name = "DTYPE", value_parser = Offer(Choice::DType), hide_possible_values = true)]
    dtype: Option<String>,
    /// Seed (0 to 2^64-1; with --rng torch also negative, as torch.manual_seed). Without it a
    /// seed is drawn from the OS, printed on stderr and recorded in the file.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    seed: Option<String>,
    /// Random stream: native (keyed chunk streams, order- and thread-independent) or torch
    /// (PyTorch 2.15's CPU generator: torch.manual_seed(N), then each tensor's init in plan
    /// order, bit for bit as x86 wheels compute it, including trunc_normal_'s MKL-log rejection
    /// branch; orthogonal is refused). torch runs on every core too (jumps ahead in the one
    /// sequence); sparse and trunc_normal tensors are drawn whole, on one core.
    #[arg(long, value_name = "RNG", value_parser = Offer(Choice::Rng), hide_possible_values = true)]
    rng: Option<String>,

    /// Write a sharded Hugging Face checkpoint: model-0000K-of-0000N.safetensors files of at
    /// most SIZE tensor bytes, plus model.safetensors.index.json (one shard: model.safetensors,
    /// no index). SIZE like 5GB, 500MB (decimal, as huggingface_hub), 2GiB (binary), or bytes.
    /// -o names the directory (created if missing) or DIR/PREFIX.safetensors.index.json.
    /// Also `max_shard_size` in the spec.
    #[arg(long, value_name = "SIZE")]
    max_shard_size: Option<String>,
    /// Write only shard K (1-based) of the N shards the full run writes: the same bytes, so K
    /// can run on any machine (one array job per shard). Then write the index with
    /// --index-only. Needs a fixed seed.
    #[arg(long, value_name = "K", conflicts_with = "index_only")]
    shard: Option<usize>,
    /// Write only the checkpoint's index, once every shard is in place (each shard's size and
    /// header are checked first). With --force, also remove stale shards of an earlier run.
    #[arg(long)]
    index_only: bool,

    /// Replace an existing output file (or checkpoint: stale shards of an earlier, larger run
    /// are removed once the new checkpoint is complete).
    #[arg(long)]
    force: bool,
    /// Print a JSON summary on stdout (on stderr when the output is stdout).
    #[arg(long)]
    json: bool,
    /// Resolve and print the summary without generating or writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Deflate .npz members (like np.savez_compressed).
    #[arg(long)]
    compress: bool,
    /// Threads generating values (default: all cores). The output never depends on it.
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// Print nothing on stderr on success (not even a drawn seed; use --json to capture it).
    #[arg(short, long)]
    quiet: bool,
    /// Skip the fsync before the atomic rename: faster for big files, but a power loss soon
    /// after may leave a short file under the final name (a crash of weightgen itself still
    /// leaves nothing).
    #[arg(long)]
    no_fsync: bool,
    /// Most memory the run may plan to hold, e.g. 8GB or 500MiB [default: half of physical
    /// memory; also WEIGHTGEN_MEMORY_LIMIT]. A run whose estimate is over it stops before
    /// allocating, with exit code 2.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
}

impl GenerateArgs {
    /// The flags as the library's [`Generate`] job.
    fn to_job(&self) -> weightgen::Result<Generate> {
        let input = SpecInput {
            spec_file: self.spec.clone(),
            hf_config: self.hf_config.as_ref().map(Into::into),
            tensors: self.tensors.clone(),
            mlp: self.mlp.clone(),
            scheme: self.scheme.clone(),
            params: self.params.0.clone(),
            seed: self.seed.clone(),
            rng: self.rng.clone(),
            dtype: self.dtype.clone(),
            convention: self.convention.clone(),
            names: Some(flag),
        };
        let max = self.max_shard_size.as_deref().map(parse_size).transpose();
        Ok(Generate {
            spec: input.to_spec()?,
            output: self.output.clone(),
            format: self.format.as_deref().map(Format::parse).transpose()?,
            max_shard_size: max.map_err(|e| e.at("max_shard_size"))?,
            part: match (self.shard, self.index_only) {
                (Some(k), _) => Part::Shard(k),
                (None, true) => Part::Index,
                (None, false) => Part::All,
            },
            force: self.force,
            dry_run: self.dry_run,
            options: WriteOptions {
                compress: self.compress,
                hash: self.json,
                threads: self.threads,
                progress: !self.quiet,
                no_fsync: self.no_fsync,
            },
            memory_limit: memory_limit(self.memory_limit.as_deref())?,
        })
    }
}

/// A scheme parameter's flags (`--gain`, `--negative-slope`, …), one per [`Param`], made from
/// the library's table of parameters: its help line and what its value is.
#[derive(Debug, Default)]
struct SchemeFlags(Vec<(Param, String)>);

impl FromArgMatches for SchemeFlags {
    fn from_arg_matches(m: &ArgMatches) -> ClapResult<Self> {
        let given = |p: Param| Some((p, m.get_one::<String>(p.key())?.clone()));
        Ok(SchemeFlags(
            Param::ALL.into_iter().filter_map(given).collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> ClapResult<()> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for SchemeFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Param::ALL.into_iter().fold(cmd, |cmd, p| {
            let (value, placeholder) = p.value();
            let arg = (Arg::new(p.key()).long(p.key().replace('_', "-")))
                .value_name(placeholder)
                .help(Param::ALL.iter().fold(p.about().to_string(), |text, q| {
                    // A parameter the line names (`nonlinearity`) is a flag here.
                    text.replace(&format!("`{}`", q.key()), &flag(q.key()))
                }));
            cmd.arg(match value {
                ParamValue::Real => arg.allow_hyphen_values(true),
                ParamValue::Count => arg,
                ParamValue::Name(c) => arg.value_parser(Offer(c)).hide_possible_values(true),
            })
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// What clap's parsing calls return.
type ClapResult<T> = std::result::Result<T, clap::Error>;

/// The flag of a library parameter: `max_shard_size` → `--max-shard-size`.
fn flag(name: &str) -> String {
    format!("--{}", name.replace('_', "-"))
}

/// A flag's value parser for names: takes any string (the library parses it, so flags and JSON
/// give the same messages) but offers the names (from the function) to shell completions and
/// man pages.
#[derive(Clone)]
struct Offer(Choice);

impl TypedValueParser for Offer {
    type Value = String;

    fn parse_ref(&self, cmd: &clap::Command, a: Option<&Arg>, v: &OsStr) -> ClapResult<String> {
        StringValueParser::new().parse_ref(cmd, a, v)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.names().into_iter().map(PossibleValue::new)))
    }
}

/// The library names parameters (`max_shard_size`); on the command line they are flags
/// (`--max-shard-size`). Only names in `fields` (set by this subcommand's flags) are renamed.
/// `memory_limit` is set by a flag or an environment variable: messages name both.
fn flagged(fields: &[&str]) -> impl Fn(weightgen::Error) -> weightgen::Error {
    move |e| {
        e.renamed(fields, |name| match name {
            "memory_limit" => "--memory-limit/WEIGHTGEN_MEMORY_LIMIT".into(),
            _ => flag(name),
        })
    }
}

/// The memory limit `--memory-limit` sets (`None`: the library's default, the environment
/// variable `WEIGHTGEN_MEMORY_LIMIT` or half of physical memory).
fn memory_limit(flag: Option<&str>) -> weightgen::Result<Option<MemoryLimit>> {
    flag.map(|text| MemoryLimit::parse(text, "--memory-limit"))
        .transpose()
}

impl Cli {
    /// Run the parsed command line; `cancel` is cancelled by Ctrl-C.
    pub fn run(self, cancel: &Cancel) -> Result<()> {
        match self.command {
            Command::Generate(args) => generate(&args, cancel),
            Command::Inspect(args) => inspect(&args),
            Command::Schemes { json } => stdout(Scheme::catalogue(json)),
            Command::Study(args) => study(&args),
            Command::Completions { shell } => {
                let mut buf = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "weightgen", &mut buf);
                stdout(buf)
            }
            Command::Man { dir: None } => {
                // The same page as `--dir` writes: no weightgen-help(1), which has no page.
                let man = clap_mangen::Man::new(Cli::command().disable_help_subcommand(true));
                let mut buf = Vec::new();
                man.render(&mut buf).context("rendering the man page")?;
                stdout(buf)
            }
            Command::Man { dir: Some(dir) } => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                clap_mangen::generate_to(Cli::command(), &dir)
                    .with_context(|| format!("writing man pages into {}", dir.display()))
            }
        }
    }
}

fn generate(args: &GenerateArgs, cancel: &Cancel) -> Result<()> {
    let job = args.to_job().map_err(flagged(Generate::PARAMS))?;
    let done = job.run(cancel).map_err(flagged(Generate::PARAMS))?;
    // Printed only once the run has succeeded, so an error stays a single line.
    if done.seed_drawn && !args.quiet {
        eprintln!("seed: {}", done.seed());
    }
    let json = done.summary().to_json();
    if (args.dry_run && !args.json) || (args.json && !done.to_stdout) {
        return print(args.json, json, || done.summary().to_table());
    }
    if args.json {
        eprintln!("{json}");
    } else if let Some(line) = done.report().filter(|_| !args.quiet) {
        eprintln!("{line}");
    }
    Ok(())
}

/// A report on stdout: its JSON (one line) or its table.
fn print(json: bool, as_json: String, as_table: impl FnOnce() -> String) -> Result<()> {
    stdout(if json { as_json + "\n" } else { as_table() })
}

/// Write to stdout; a closed pipe (`weightgen schemes | head`) ends the program quietly.
fn stdout(bytes: impl AsRef<[u8]>) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes.as_ref()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

// ---------------------------------------------------------------------------------------------
// study
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Args)]
#[command(after_help = include_str!("help/study.txt"))]
struct StudyArgs {
    /// Hidden layers [default: 5].
    #[arg(long, value_name = "N")]
    depth: Option<usize>,
    /// Units per hidden layer [default: 1000].
    #[arg(long, value_name = "N")]
    width: Option<usize>,
    /// Input dimension [default: 1024].
    #[arg(long, value_name = "N")]
    input_dim: Option<usize>,
    /// Output classes (softmax + NLL on random labels) [default: 10].
    #[arg(long, value_name = "N")]
    classes: Option<usize>,
    /// Hidden activation [tanh, sigmoid, softsign, relu, leaky_relu[:SLOPE], linear, selu]
    /// [default: tanh].
    #[arg(long, value_name = "NAME")]
    activation: Option<String>,
    /// Examples in the batch [default: 256].
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
    /// Input distribution [uniform = U(-1, 1), normal = N(0, 1)] [default: uniform].
    #[arg(long, value_name = "DIST")]
    input: Option<String>,
    /// Examples whose layer Jacobians get a full SVD [default: 3].
    #[arg(long, value_name = "N")]
    jacobian_samples: Option<usize>,
    /// Seed of weights, inputs and labels [default: 0, or the spec's].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// A scheme to study, with parameters as NAME:key=value,… (repeatable); with --spec it
    /// draws every layer [default: standard and xavier_uniform, or the spec's own schemes].
    #[arg(long, value_name = "SCHEME", value_parser = Offer(Choice::Scheme), hide_possible_values = true)]
    scheme: Vec<String>,
    /// JSON spec whose 2-D tensors, in order, are the layers (the last one is the output layer).
    #[arg(long, value_name = "FILE")]
    spec: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write an SVG with per-layer histograms and std curves (overwrites FILE; its name must
    /// end in .svg and its directory be writable, checked before computing).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<String>,
    /// Most memory the run may plan to hold, e.g. 8GB or 500MiB [default: half of physical
    /// memory; also WEIGHTGEN_MEMORY_LIMIT]. A run whose estimate is over it stops before
    /// allocating, with exit code 2.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
}

fn study(args: &StudyArgs) -> Result<()> {
    use weightgen::study::{Study, StudyOptions, run, table};
    let spec = args.spec.as_deref().map(weightgen::job::spec_from_file);
    let study = Study::new(&StudyOptions {
        depth: args.depth,
        width: args.width,
        input_dim: args.input_dim,
        classes: args.classes,
        activation: args.activation.clone(),
        batch: args.batch,
        input: args.input.clone(),
        seed: args.seed,
        jacobian_samples: args.jacobian_samples,
        schemes: args.scheme.clone(),
        spec: spec.transpose()?,
        memory_limit: memory_limit(args.memory_limit.as_deref())?,
        plot: args.plot.as_ref().map(Into::into),
    })
    .map_err(flagged(Study::PARAMS))?;
    let report = run(&study).map_err(flagged(Study::PARAMS))?;
    print(args.json, report.to_json(), || table::to_table(&report))
}

// ---------------------------------------------------------------------------------------------
// inspect

#[derive(Debug, Args)]
#[command(after_help = include_str!("help/inspect.txt"))]
struct InspectArgs {
    /// Files: .safetensors, .npy, .npz, or a sharded checkpoint's model.safetensors.index.json
    /// (its shards in order, then a summary line).
    #[arg(value_name = "FILE")]
    files: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Exit with status 3 if any tensor fails a test against its claimed distribution.
    #[arg(long)]
    check: bool,
    /// --check, and also regenerate every tensor from the plan, seed and stream the file
    /// records and compare bytes (exit 3 naming the first differing element). Files written by
    /// weightgen only, not npy/npz. A checkpoint verifies through its index or shard by shard;
    /// under --rng torch a shard is regenerated from the whole plan rebuilt from the headers of
    /// the shards its index (beside it) lists, and a Hugging Face model checkpoint from the
    /// config.json beside it, which must give the plan the files record (else exit 2).
    #[arg(long)]
    verify: bool,
    /// Check against SCHEME with optional KEY=VALUE parameters (e.g. `kaiming_normal
    /// mode=fan_out nonlinearity=relu`) instead of the plan recorded in the file. Items after
    /// the scheme without a `=` are taken as files.
    #[arg(long, value_name = "SCHEME [KEY=VALUE]", num_args = 1..)]
    expect: Vec<String>,
    /// Convention for --expect [torch, keras] [default: torch].
    #[arg(long, value_name = "NAME", value_parser = Offer(Choice::Convention), hide_possible_values = true)]
    convention: Option<String>,
    /// Threads reading and summarising data (default: all cores).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// No progress display on a terminal.
    #[arg(short, long)]
    quiet: bool,
    /// Most memory a check may hold, e.g. 8GB or 500MiB [default: half of physical memory;
    /// also WEIGHTGEN_MEMORY_LIMIT]: an orthogonality check whose Gram matrix is over it stops
    /// with exit code 2.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
}

fn inspect(args: &InspectArgs) -> Result<()> {
    let progress = weightgen::job::stderr_progress(!args.quiet);
    let convention = args
        .convention
        .as_deref()
        .map(Convention::parse)
        .transpose();
    let job = Inspect {
        files: args.files.clone(),
        expect: args.expect.clone(),
        convention: convention.map_err(|e| e.at("--convention"))?,
        check: args.check,
        verify: args.verify,
        hash: args.json,
        threads: args.threads,
        memory_limit: memory_limit(args.memory_limit.as_deref())?,
    };
    let found = job.run(Some(&progress)).map_err(flagged(Inspect::PARAMS))?;
    // Every file is reported, read or failed; when none could be read the error says all.
    if found.any_read() {
        print(args.json, found.to_json(), || found.to_table())?;
    }
    Ok(found.verdict()?)
}
