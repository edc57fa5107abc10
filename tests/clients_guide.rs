//! The README's "Loading the files" guide cannot drift from what `make verify-clients` runs:
//! every Rust and Python block in that section is, verbatim (dedented), a `guide: NAME` …
//! `guide: end` region of a client program under tests/clients/, every such region is shown in
//! the guide, every TOML line is in a client's Cargo.toml, and every `weightgen` command of the
//! section runs. The clients themselves (Candle, Burn, JAX, NumPy, PyTorch) run only under
//! `make verify-clients`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The text of README.md's `## Loading the files` section.
fn section() -> String {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("\n## Loading the files\n")
        .expect("README has a Loading the files section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 4);
    rest[..end].to_string()
}

/// (language, body) of every fenced block of `text`.
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.trim().to_string(), String::new())),
            (Some(_), Some("")) => out.push(current.take().unwrap()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "unclosed code block");
    out
}

/// `lines` without their common leading whitespace.
fn dedent(lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

/// (file, name, dedented body) of every `guide: NAME` … `guide: end` region of `file`.
fn regions(file: &Path) -> Vec<(String, String, String)> {
    let text = fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let marker = |l: &str| {
        let l = l.trim();
        l.strip_prefix("// guide: ")
            .or_else(|| l.strip_prefix("# guide: "))
            .map(str::to_string)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(name) = marker(lines[i]).filter(|n| n != "end") {
            let len = lines[i + 1..]
                .iter()
                .position(|l| marker(l).as_deref() == Some("end"))
                .unwrap_or_else(|| panic!("{}: region {name} has no end", file.display()));
            let body = dedent(&lines[i + 1..i + 1 + len]);
            out.push((file.display().to_string(), name, body));
            i += len + 2;
        } else {
            i += 1;
        }
    }
    out
}

fn client_programs() -> Vec<PathBuf> {
    let c = root().join("tests/clients");
    vec![
        c.join("python_client.py"),
        c.join("candle/src/main.rs"),
        c.join("burn/src/main.rs"),
    ]
}

#[test]
fn every_guide_snippet_is_client_code_and_every_region_is_shown() {
    let section = section();
    let code: Vec<(String, String)> = blocks(&section)
        .into_iter()
        .filter(|(lang, _)| lang.starts_with("rust") || lang == "python")
        .collect();
    // README.md's Rust blocks run as weightgen's doc tests (src/lib.rs), which cannot build
    // Candle or Burn code.
    for (lang, body) in &code {
        assert!(
            lang == "rust,ignore" || lang == "python",
            "```{lang} (want rust,ignore):\n{body}"
        );
    }
    let regions: Vec<_> = client_programs().iter().flat_map(|p| regions(p)).collect();
    assert!(regions.len() >= 8, "{regions:?}");
    assert!(code.len() >= 8, "{code:?}");
    for (lang, body) in &code {
        assert!(
            regions.iter().any(|(_, _, r)| r == body),
            "this {lang} block of the README's Loading the files is not, verbatim, a \
             `guide:` region of tests/clients/:\n{body}"
        );
    }
    for (file, name, body) in &regions {
        assert!(
            code.iter().any(|(_, b)| b == body),
            "{file}: region {name} is not shown in the README's Loading the files:\n{body}"
        );
    }
}

#[test]
fn every_guide_toml_line_is_in_a_client_manifest() {
    // The clients' manifests make the workaround an optional dependency; the guide shows the
    // plain line an application adds.
    let manifests: String = ["candle", "burn"]
        .iter()
        .map(|c| fs::read_to_string(root().join("tests/clients").join(c).join("Cargo.toml")))
        .map(|t| t.unwrap().replace(", optional = true", ""))
        .collect();
    let toml: Vec<String> = blocks(&section())
        .into_iter()
        .filter(|(lang, _)| lang == "toml")
        .map(|(_, b)| b)
        .collect();
    assert!(!toml.is_empty());
    for block in toml {
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                manifests.lines().any(|m| m == line),
                "README toml line not in tests/clients/*/Cargo.toml: {line}"
            );
        }
    }
}

#[test]
fn the_guide_commands_run() {
    // Every `weightgen` line of the section's sh blocks, in order, in one directory; paths
    // into the repository (tests/, fixtures/) are resolved from its root, `> FILE` captured.
    let tmp = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for (_, body) in blocks(&section()).into_iter().filter(|(l, _)| l == "sh") {
        for line in body.lines().filter(|l| l.starts_with("weightgen ")) {
            let (cmd, redirect) = match line.split_once(" > ") {
                Some((c, f)) => (c, Some(f.trim())),
                None => (line, None),
            };
            let args: Vec<String> = cmd
                .split_whitespace()
                .skip(1)
                .map(|a| {
                    if a.starts_with("tests/") || a.starts_with("fixtures/") {
                        root().join(a).display().to_string()
                    } else {
                        a.to_string()
                    }
                })
                .collect();
            let o = Command::new(env!("CARGO_BIN_EXE_weightgen"))
                .args(&args)
                .current_dir(tmp.path())
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{line}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            if let Some(f) = redirect {
                fs::write(tmp.path().join(f), &o.stdout).unwrap();
            }
            ran += 1;
        }
    }
    assert!(ran >= 2, "{ran} commands");
}

#[test]
fn json_lists_a_checkpoints_shards_in_order_before_its_index() {
    // What the guide tells Candle and Burn users to read instead of the index: `outputs` of
    // `generate --json` holds the shards in order, then the index (and the weight_map of the
    // index names the same files).
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_weightgen"))
        .args(["generate", "--spec"])
        .arg(root().join("tests/clients/net.json"))
        .args(["--max-shard-size", "2000", "-o", "ckpt", "--json", "-q"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let outputs: Vec<&str> = s["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let (index, shards) = outputs.split_last().unwrap();
    assert_eq!(*index, "ckpt/model.safetensors.index.json");
    let n = shards.len();
    assert!(n >= 3, "{outputs:?}");
    let expected: Vec<String> = (1..=n)
        .map(|k| format!("ckpt/model-{k:05}-of-{n:05}.safetensors"))
        .collect();
    assert_eq!(shards, &expected);
    let idx: serde_json::Value =
        serde_json::from_slice(&fs::read(tmp.path().join(index)).unwrap()).unwrap();
    let mut from_index: Vec<String> = idx["weight_map"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| format!("ckpt/{}", v.as_str().unwrap()))
        .collect();
    from_index.sort();
    from_index.dedup();
    assert_eq!(from_index, expected);
    for f in shards {
        assert!(tmp.path().join(f).is_file(), "{f}");
    }
}
