//! Docs that cannot go stale (issue 15 item 9): every shell command shown in README.md and in
//! the docs/*.md files it names, and every line of every subcommand's `--help` "Examples:",
//! is run here, and every sample output shown is compared with what the command prints.
//!
//! **What counts as a command.** Fenced blocks tagged `sh`, `shell`, `bash` or `console`.
//! In `sh` blocks every line that is not blank or a `#` comment is a command (a trailing `\`
//! joins the next line). In `console` blocks the `$ ` lines are commands and the lines up to
//! the next `$ ` are their output. A `text` (or untagged) block is either the output of a
//! command run just before it (`OUTPUT_OF`) or listed in `NOT_OUTPUT` with what it is; a new
//! one that is neither fails. Commands that cannot run here are listed in `NOT_RUN` with the
//! reason; every other command is run, and an entry of either list that matches nothing fails.
//!
//! **How a command runs.** Each block (each help example) gets a fresh temporary directory
//! holding `fixtures/` and `tests/` (links to the repository's, only read), the user files of
//! `user_files` (`spec.json` is the README's own JSON spec sample) and what `PREPARE` lists for
//! it; `HOME` is that directory and `weightgen` on `PATH` is the binary under test
//! (`cargo run --release --` is run as `weightgen`: the same program, already built). A
//! command runs in `bash -o pipefail`, stdout and stderr merged; it must exit 0, unless its
//! shown output ends with a `weightgen: error:` line, when it must fail.
//!
//! **Redaction** — the only values allowed to differ, replaced on both sides before comparing:
//! the run directory's absolute path (→ `<tmp>`) and a drawn seed (a `seed: N` line → `seed:
//! <drawn>`). Nothing else: numbers in a sample are the numbers the command prints.
//!
//! **Refreshing.** A mismatch names the file, line, block and differing line, and prints the
//! whole actual output. `WEIGHTGEN_BLESS=1 cargo test --test docs` rewrites the shown outputs
//! in place with what the commands print (check the diff before committing).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_weightgen");

/// Commands that are not run, by how they start, with the reason.
const NOT_RUN: &[(&str, &str)] = &[
    ("make test", "runs this whole suite (and a PyPI download)"),
    (
        "cargo install",
        "installs into ~/.cargo; the binary under test is that build",
    ),
    (
        "pip install",
        "needs PyPI and maturin; `make test-wheel` runs it",
    ),
    (
        "seq 1 \"$N\" | parallel",
        "needs GNU parallel; `--shard` and `--index-only` are run by the generate --help examples",
    ),
    ("jid=$(sbatch", "needs a Slurm cluster"),
    ("sbatch ", "needs a Slurm cluster"),
    (
        "python -c \"from transformers",
        "needs transformers; `make verify-hf` loads such checkpoints",
    ),
];

/// `text`/untagged blocks that are not a command's output, by their first line, and what they are.
const NOT_OUTPUT: &[(&str, &str)] = &[
    (
        "weightgen: error: --scheme: unknown scheme `xavier_unifrom`",
        "an error with its lists elided by `…`; tests/names.rs compares it piece by piece",
    ),
    ("flags ─► job", "a diagram of the code"),
    ("  flags ─┐", "a diagram of the pipeline"),
    ("offset 0    : N, u64 little-endian", "a byte layout"),
    ("\"\\x93NUMPY\"  major  minor", "a byte layout"),
];

/// `text` blocks that show the output of a command of the block before them, by first line.
const OUTPUT_OF: &[(&str, &str)] = &[("study: 1024 inputs", "weightgen study")];

/// What a block (by its first command) or a help example (by a piece of it) needs first.
const PREPARE: &[(&str, &str)] = &[
    (
        "sha256sum ckpt/model-*.safetensors",
        "weightgen generate --spec big.json -o ckpt -q",
    ),
    (
        "weightgen inspect ",
        "weightgen generate --spec model.json -o model.safetensors -q && \
         weightgen generate w=256x784 --seed 1 -o w.npy -q && \
         weightgen generate --spec big.json -o shards -q",
    ),
    (
        "seq 1 \"$N\" | parallel",
        "for k in 1 2 3 4; do weightgen generate --spec big.json -o ckpt --shard $k -q; done",
    ),
    (
        "--index-only",
        "for k in 1 2 3 4; do weightgen generate --spec big.json -o ckpt --shard $k -q; done",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bless() -> bool {
    std::env::var_os("WEIGHTGEN_BLESS").is_some_and(|v| v == "1")
}

/// A fenced block: its language tag, the line of its opening fence (1-based), its lines and
/// the heading it sits under.
struct Block {
    lang: String,
    line: usize,
    body: Vec<String>,
    heading: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut heading = String::from("(top)");
    let mut open: Option<Block> = None;
    for (i, l) in text.lines().enumerate() {
        match open.take() {
            Some(mut b) => {
                if l.trim_start().starts_with("```") {
                    out.push(b);
                } else {
                    b.body.push(l.to_string());
                    open = Some(b);
                }
            }
            None => {
                if let Some(tag) = l.trim_start().strip_prefix("```") {
                    open = Some(Block {
                        lang: tag.trim().to_string(),
                        line: i + 1,
                        body: Vec::new(),
                        heading: heading.clone(),
                    });
                } else if l.starts_with('#') {
                    heading = l.to_string();
                }
            }
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    out
}

/// One command of a block: its text (continuations joined), the block line it starts on
/// (0-based within the body), and for console blocks the shown output lines and where they are.
struct Cmd {
    text: String,
    at: usize,
    shown: Option<(usize, Vec<String>)>,
}

fn commands(b: &Block) -> Vec<Cmd> {
    let console = b.lang == "console";
    let mut out: Vec<Cmd> = Vec::new();
    let mut i = 0;
    while i < b.body.len() {
        let l = &b.body[i];
        let start = if console {
            l.strip_prefix("$ ")
        } else if l.trim().is_empty() || l.trim_start().starts_with('#') {
            None
        } else {
            Some(l.as_str())
        };
        let Some(first) = start else {
            if console {
                match out.last_mut() {
                    Some(c) => c.shown.as_mut().expect("console").1.push(l.clone()),
                    None => panic!(
                        "line {} of a console block is not after a `$ `",
                        b.line + 1 + i
                    ),
                }
            }
            i += 1;
            continue;
        };
        let at = i;
        let mut text = first.to_string();
        while text.ends_with('\\') && i + 1 < b.body.len() {
            text.pop();
            i += 1;
            text.push(' ');
            text.push_str(b.body[i].trim_start());
        }
        out.push(Cmd {
            text,
            at,
            shown: console.then(|| (i + 1, Vec::new())),
        });
        i += 1;
    }
    out
}

fn command_block(lang: &str) -> bool {
    matches!(lang, "sh" | "shell" | "bash" | "console")
}

fn output_block(lang: &str) -> bool {
    matches!(lang, "text" | "")
}

/// The user files every run directory holds.
fn user_files(readme: &str) -> Vec<(&'static str, String)> {
    let spec_sample = blocks(readme)
        .into_iter()
        .find(|b| b.lang == "json" && b.body.iter().any(|l| l.contains("\"version\": 1")))
        .expect("README's JSON spec sample")
        .body
        .join("\n");
    let mlp = fs::read_to_string(root().join("fixtures/specs/mlp.json")).unwrap();
    // A checkpoint spec small enough for the suite: 4 linear layers of 256 × 256 (+ bias), one
    // per shard at 300KB; seed and max_shard_size in the spec, as the README advises.
    let big = r#"{"version": 1, "seed": 1, "max_shard_size": "300KB",
  "layers": [
    {"type": "linear", "name": "l0", "in_features": 256, "out_features": 256},
    {"type": "linear", "name": "l1", "in_features": 256, "out_features": 256},
    {"type": "linear", "name": "l2", "in_features": 256, "out_features": 256},
    {"type": "linear", "name": "l3", "in_features": 256, "out_features": 256}
  ]}
"#;
    vec![
        ("spec.json", spec_sample),
        ("model.json", mlp.clone()),
        ("mlp.json", mlp),
        ("big.json", big.to_string()),
    ]
}

/// A fresh run directory, prepared.
fn run_dir(files: &[(&'static str, String)], prepare: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for link in ["fixtures", "tests"] {
        std::os::unix::fs::symlink(root().join(link), dir.path().join(link)).unwrap();
    }
    for (name, body) in files {
        fs::write(dir.path().join(name), body).unwrap();
    }
    if let Some(p) = prepare {
        let (ok, out) = shell(dir.path(), p);
        assert!(ok, "preparing with `{p}` failed:\n{out}");
    }
    dir
}

fn prepare_for(text: &str) -> Option<&'static str> {
    PREPARE
        .iter()
        .find(|(k, _)| text.starts_with(k) || (k.starts_with("--") && text.contains(k)))
        .map(|&(_, p)| p)
}

/// A command without its trailing `# comment` (for matching it by name).
fn bare(cmd: &str) -> &str {
    cmd.split("  #").next().unwrap_or(cmd).trim()
}

/// Run `cmd` with bash in `dir`; (exit 0?, stdout and stderr merged).
fn shell(dir: &Path, cmd: &str) -> (bool, String) {
    let cmd = cmd.replace("cargo run --release --", "weightgen");
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", &format!("{{ {cmd}\n}} 2>&1")])
        .current_dir(dir)
        .env("HOME", dir)
        .env("PATH", path)
        .env_remove("RUST_BACKTRACE")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run bash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The redaction rule of the header, applied to one side's lines.
fn redact(lines: &[String], dir: &Path) -> Vec<String> {
    let tmp = dir.display().to_string();
    let real = fs::canonicalize(dir).map(|p| p.display().to_string());
    lines
        .iter()
        .map(|l| {
            let mut l = l.replace(&tmp, "<tmp>");
            if let Ok(real) = &real {
                l = l.replace(real.as_str(), "<tmp>");
            }
            match l.strip_prefix("seed: ") {
                Some(n) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => {
                    "seed: <drawn>".to_string()
                }
                _ => l,
            }
        })
        .collect()
}

/// Compare shown with actual; None if equal, else the report.
fn compare(where_: &str, shown: &[String], actual: &str, dir: &Path) -> Option<String> {
    let actual_lines: Vec<String> = actual.lines().map(str::to_string).collect();
    let a = redact(&actual_lines, dir);
    let s = redact(shown, dir);
    if a == s {
        return None;
    }
    let n = a.len().max(s.len());
    let k = (0..n).find(|&k| a.get(k) != s.get(k)).unwrap_or(0);
    let none = String::from("(no line)");
    Some(format!(
        "{where_}: output line {} differs\n  shown:  {}\n  actual: {}\n\
         Refresh: put the command's actual output (below) in the document, or run \
         `WEIGHTGEN_BLESS=1 cargo test --test docs` and check the diff.\n----- actual output -----\n{}\n-------------------------",
        k + 1,
        s.get(k).unwrap_or(&none),
        a.get(k).unwrap_or(&none),
        a.join("\n")
    ))
}

/// A rewrite of lines [from, to) (0-based) of a file, for blessing.
struct Rewrite {
    file: PathBuf,
    from: usize,
    to: usize,
    lines: Vec<String>,
}

fn apply(rewrites: Vec<Rewrite>) {
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    for r in &rewrites {
        files.insert(r.file.clone());
    }
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut rs: Vec<&Rewrite> = rewrites.iter().filter(|r| r.file == f).collect();
        rs.sort_by_key(|r| std::cmp::Reverse(r.from));
        for r in rs {
            lines.splice(r.from..r.to, r.lines.iter().cloned());
        }
        fs::write(&f, lines.join("\n") + "\n").unwrap();
    }
}

/// README.md and the docs/*.md files it names.
fn documents() -> Vec<PathBuf> {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let mut docs = vec![root().join("README.md")];
    let mut named = BTreeSet::new();
    for (at, _) in readme.match_indices("docs/") {
        let rest = &readme[at..];
        if let Some(end) = rest.find(".md") {
            let name = &rest[..end + 3];
            if name[5..end]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            {
                named.insert(name.to_string());
            }
        }
    }
    docs.extend(named.into_iter().map(|n| root().join(n)));
    docs
}

#[test]
fn every_command_in_the_docs_runs_and_prints_what_is_shown() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let files = user_files(&readme);
    let mut failures = Vec::new();
    let mut rewrites = Vec::new();
    let mut used_not_run = BTreeSet::new();
    let mut used_not_output = BTreeSet::new();
    let mut used_output_of = BTreeSet::new();
    let mut ran = 0;
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        let rel = doc.strip_prefix(root()).unwrap().display().to_string();
        // The outputs of the last command block, for a text block after it.
        let mut last: Vec<(String, String)> = Vec::new();
        let mut last_dir: Option<tempfile::TempDir> = None;
        for b in blocks(&text) {
            let where_ = format!(
                "{rel}:{} (```{} block under `{}`)",
                b.line, b.lang, b.heading
            );
            if output_block(&b.lang) {
                let first = b.body.first().map(String::as_str).unwrap_or("");
                if let Some(i) = NOT_OUTPUT.iter().position(|(k, _)| first.starts_with(k)) {
                    used_not_output.insert(i);
                } else if let Some(i) = OUTPUT_OF.iter().position(|(k, _)| first.starts_with(k)) {
                    used_output_of.insert(i);
                    let cmd = OUTPUT_OF[i].1;
                    match (last.iter().find(|(c, _)| c == cmd), &last_dir) {
                        (Some((_, actual)), Some(dir)) => {
                            if let Some(f) =
                                compare(&format!("{where_}, output of `{cmd}`"), &b.body, actual, dir.path())
                            {
                                failures.push(f);
                                rewrites.push(Rewrite {
                                    file: doc.clone(),
                                    from: b.line,
                                    to: b.line + b.body.len(),
                                    lines: redact(&actual.lines().map(str::to_string).collect::<Vec<_>>(), dir.path()),
                                });
                            }
                        }
                        _ => failures.push(format!(
                            "{where_}: shows the output of `{cmd}`, which the block before it does not run"
                        )),
                    }
                } else {
                    failures.push(format!(
                        "{where_}: a text block that is neither a command's output (OUTPUT_OF) \
                         nor listed in NOT_OUTPUT of tests/docs.rs; starts with `{first}`"
                    ));
                }
                continue;
            }
            if !command_block(&b.lang) {
                continue;
            }
            let cmds = commands(&b);
            let prepare = cmds.first().and_then(|c| prepare_for(&c.text));
            let dir = run_dir(&files, prepare);
            last.clear();
            for c in &cmds {
                if let Some(i) = NOT_RUN.iter().position(|(k, _)| c.text.starts_with(k)) {
                    used_not_run.insert(i);
                    continue;
                }
                ran += 1;
                let (ok, out) = shell(dir.path(), &c.text);
                let cwhere = format!("{where_}, line {}: `{}`", b.line + 1 + c.at, c.text);
                let fails = c
                    .shown
                    .as_ref()
                    .and_then(|(_, s)| s.last())
                    .is_some_and(|l| l.starts_with("weightgen: error:"));
                if ok == fails {
                    failures.push(format!(
                        "{cwhere}: {} (shown output {}):\n{out}",
                        if ok { "succeeded" } else { "failed" },
                        if fails {
                            "ends with an error"
                        } else {
                            "says it succeeds"
                        }
                    ));
                }
                if let Some((from, shown)) = &c.shown
                    && let Some(f) = compare(&cwhere, shown, &out, dir.path())
                {
                    failures.push(f);
                    let from = b.line + from;
                    rewrites.push(Rewrite {
                        file: doc.clone(),
                        from,
                        to: from + shown.len(),
                        lines: redact(
                            &out.lines().map(str::to_string).collect::<Vec<_>>(),
                            dir.path(),
                        ),
                    });
                }
                last.push((bare(&c.text).to_string(), out));
            }
            last_dir = Some(dir);
        }
    }
    for (i, (k, why)) in NOT_RUN.iter().enumerate() {
        if !used_not_run.contains(&i) {
            failures.push(format!(
                "NOT_RUN entry `{k}` ({why}) matches no command: remove it"
            ));
        }
    }
    for (i, (k, _)) in NOT_OUTPUT.iter().enumerate() {
        if !used_not_output.contains(&i) {
            failures.push(format!(
                "NOT_OUTPUT entry `{k}` matches no block: remove it"
            ));
        }
    }
    for (i, (k, _)) in OUTPUT_OF.iter().enumerate() {
        if !used_output_of.contains(&i) {
            failures.push(format!("OUTPUT_OF entry `{k}` matches no block: remove it"));
        }
    }
    assert!(ran >= 30, "only {ran} commands found in the docs");
    if bless() && !rewrites.is_empty() {
        apply(rewrites);
        eprintln!("WEIGHTGEN_BLESS: rewrote the shown outputs; re-run without it");
        return;
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) in the docs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `weightgen SUB --help` at a terminal width of `cols`.
fn help(args: &[&str], cols: &str) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--help")
        .env("COLUMNS", cols)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The lines of the "Examples:" section of a help text (without their indent).
fn examples(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn every_help_example_runs_and_none_is_wrapped() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let files = user_files(&readme);
    let top = help(&[], "100");
    let subs: Vec<String> = top
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // `  NAME  description`; wrapped descriptions are indented further.
        .filter_map(|l| l.strip_prefix("  ").filter(|r| !r.starts_with(' ')))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "help")
        .collect();
    assert!(subs.len() >= 4, "{subs:?}");
    let mut failures = Vec::new();
    let mut ran = 0;
    // The top level's help too (`""`), should it gain examples.
    for sub in std::iter::once(&String::new()).chain(&subs) {
        let args: &[&str] = if sub.is_empty() { &[] } else { &[sub.as_str()] };
        // An 80-column terminal: every example must still be one line, a whole command.
        for ex in examples(&help(args, "80")) {
            if !(ex.starts_with("weightgen ")
                || ex.starts_with("cat ") && ex.contains("| weightgen "))
            {
                failures.push(format!(
                    "`weightgen {sub} --help` at 80 columns: `{ex}` is not a whole command \
                     (an example wrapped mid-command? keep each under 78 characters)"
                ));
                continue;
            }
            let dir = run_dir(&files, prepare_for(&ex));
            let (ok, out) = shell(dir.path(), &ex);
            ran += 1;
            if !ok {
                failures.push(format!(
                    "`weightgen {sub} --help` example `{ex}` failed:\n{out}"
                ));
            }
        }
    }
    assert!(ran >= 10, "only {ran} examples ran");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_block_reader_finds_commands_outputs_and_continuations() {
    let md = "# T\n\n```sh\n# a comment\nweightgen a \\\n    --b 1   # why\n\nweightgen c\n```\n\n## U\n```console\n$ weightgen d\nline 1\n\n$ weightgen e\n```\n```text\nout\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 3);
    assert_eq!(
        (b[0].lang.as_str(), b[0].line, b[0].heading.as_str()),
        ("sh", 3, "# T")
    );
    let c = commands(&b[0]);
    let texts: Vec<&str> = c.iter().map(|c| bare(&c.text)).collect();
    assert_eq!(texts, ["weightgen a  --b 1", "weightgen c"]);
    assert!(c.iter().all(|c| c.shown.is_none()));
    assert_eq!(b[1].heading, "## U");
    let c = commands(&b[1]);
    assert_eq!(c.len(), 2);
    assert_eq!(
        c[0].shown,
        Some((1, vec!["line 1".to_string(), String::new()]))
    );
    assert_eq!(c[1].shown, Some((4, Vec::new())));
    assert!(output_block(&b[2].lang) && b[2].body == ["out"]);
    let dir = Path::new("/tmp/x");
    let lines = [
        "seed: 123".to_string(),
        "at /tmp/x/w.npy".to_string(),
        "seed: 1a".to_string(),
    ];
    assert_eq!(
        redact(&lines, dir),
        ["seed: <drawn>", "at <tmp>/w.npy", "seed: 1a"]
    );
}
