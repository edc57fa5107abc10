//! No library message names a command-line flag: the library says which parameter or spec
//! field (`` pass `force` ``, `` `rng` torch``) and the binary renames those to its flags
//! (`Error::renamed`). Scans every string literal in `src/` outside the binary's files and the
//! unit-test modules.

use std::path::Path;

/// String literals (`"…"`, escapes skipped) in `code`.
fn literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => break,
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// A `--name` flag in `s`.
fn flag(s: &str) -> Option<&str> {
    let i = s.find("--")?;
    let rest = &s[i + 2..];
    rest.starts_with(|c: char| c.is_ascii_lowercase()).then(|| {
        &s[i..i
            + 2
            + rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
                .unwrap_or(rest.len())]
    })
}

fn scan(dir: &Path, found: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            scan(&p, found);
            continue;
        }
        let name = p.file_name().unwrap().to_str().unwrap();
        if !name.ends_with(".rs") || (dir.ends_with("src") && ["main.rs", "cli.rs"].contains(&name))
        {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        // Unit tests may pass flags as the binary would.
        let text = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") || code.starts_with("#[") {
                continue;
            }
            for lit in literals(line) {
                if let Some(f) = flag(&lit) {
                    found.push(format!("{}:{}: {f} in \"{lit}\"", p.display(), n + 1));
                }
            }
        }
    }
}

#[test]
fn no_library_string_names_a_flag() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    scan(&root.join("src"), &mut found);
    // Data, not a message: where an inspect claim came from, a value of `inspect --json`
    // (`"source": "--expect"`) kept as it was.
    found.retain(|f| !f.contains("source: \"--expect\"") && !f.contains("in \"--expect\""));
    assert!(
        found.is_empty(),
        "library strings naming flags:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_finds_a_flag_in_a_literal_and_not_elsewhere() {
    assert_eq!(
        literals(r#"a("x --force y", "b\"c")"#),
        vec!["x --force y", "bc"]
    );
    assert_eq!(flag("pass --force to replace"), Some("--force"));
    assert_eq!(flag("--max-shard-size: bad"), Some("--max-shard-size"));
    assert_eq!(flag("a -- b"), None);
    // Any `--word` counts, even inside a longer word: the scan errs on the side of reporting.
    assert_eq!(flag("weightgen--abc"), Some("--abc"));
}

mod common;

/// The binary renames the parameters library messages mention to its flags, but not the keys
/// a suggestion offers: a spec key typo is answered with the key, `rng`, not `--rng`.
#[test]
fn the_binary_renames_mentions_but_not_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.json"),
        r#"{"rgn": "torch", "tensors": []}"#,
    )
    .unwrap();
    let o = common::cli::run(dir.path(), &["generate", "--spec", "s.json", "-o", "w.npy"]);
    let err = common::cli::stderr(&o);
    assert!(err.contains("did you mean `rng`?"), "{err}");
    std::fs::write(dir.path().join("w.npy"), b"old").unwrap();
    let o = common::cli::run(dir.path(), &["generate", "w=2x2", "-o", "w.npy"]);
    let err = common::cli::stderr(&o);
    assert!(
        err.contains("already exists; pass --force to replace it"),
        "{err}"
    );
}
