//! Citations of the repository's own reference documents resolve: every `docs/FILE.md §N` in
//! the code, tests, fixtures' READMEs, the README and the Makefile names a file in `docs/` with a
//! heading numbered `N` (both ends of a range `§1.2–1.5`), the documents' citations of each
//! other (`torch-rng.md §5`) resolve the same way, and no source comment cites one of those
//! documents by bare file name (which would leave the reader guessing where it is).

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Text files under `dir` (recursively), skipping build output.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name == ".git" || name == "corpus" || name == "artifacts" {
            continue;
        }
        if p.is_dir() {
            files(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("rs" | "py" | "md" | "sh" | "toml")
        ) {
            out.push(p);
        }
    }
}

fn doc_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    names
}

/// Whether `doc` has a heading numbered `section` (`## 1. …`, `### 1.4 …`, `## Appendix A…`).
fn has_section(doc: &str, section: &str) -> bool {
    doc.lines().any(|l| {
        let h = l.trim_start_matches('#');
        if h.len() == l.len() || !h.starts_with(' ') {
            return false;
        }
        let h = h.trim_start();
        h.strip_prefix(section)
            .is_some_and(|rest| rest.starts_with(['.', ' ']) || rest.is_empty())
    })
}

/// The section token after `FILE.md` (` §1.2–1.5` → ["1.2", "1.5"]), empty if none.
fn sections_after(rest: &str) -> Vec<String> {
    let Some(s) = rest.strip_prefix(" §") else {
        return vec![];
    };
    let tok: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '–' | '-'))
        .collect();
    let tok = tok.trim_end_matches(['.', '-', '–']);
    tok.split(['–', '-']).map(str::to_string).collect()
}

/// Every `NAME.md` citation of a document in `docs/` within `text`: (document, sections, is
/// prefixed by `docs/`).
fn citations(text: &str, docs: &[String]) -> Vec<(String, Vec<String>, bool)> {
    let mut found = vec![];
    for name in docs {
        let mut from = 0;
        while let Some(i) = text[from..].find(name.as_str()) {
            let at = from + i;
            from = at + name.len();
            let before = &text[..at];
            // Part of a longer name (`my-design.md`) or of a URL: not ours.
            if before
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                || before
                    .rsplit(char::is_whitespace)
                    .next()
                    .is_some_and(|w| w.contains("://"))
            {
                continue;
            }
            let prefixed = before.ends_with("docs/");
            found.push((name.clone(), sections_after(&text[from..]), prefixed));
        }
    }
    found
}

#[test]
fn every_citation_of_docs_resolves_and_names_its_directory() {
    let root = root();
    let docs = doc_names();
    assert!(
        docs.iter().any(|d| d == "init-schemes.md"),
        "docs/ is missing"
    );
    let mut sources = vec![root.join("README.md"), root.join("Makefile")];
    for dir in ["src", "tests", "bench", "fuzz", "fixtures", "docs"] {
        files(&root.join(dir), &mut sources);
    }
    let mut problems = vec![];
    let mut checked = 0;
    for path in &sources {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        if rel == "tests/doc_citations.rs" {
            continue; // its own examples
        }
        let in_docs = rel.starts_with("docs/");
        for (doc, sections, prefixed) in citations(&text, &docs) {
            if !prefixed && !in_docs && !sections.is_empty() {
                problems.push(format!("{rel}: cites `{doc}` without `docs/`"));
            }
            let body = fs::read_to_string(root.join("docs").join(&doc)).unwrap();
            for s in &sections {
                checked += 1;
                if !has_section(&body, s) {
                    problems.push(format!("{rel}: docs/{doc} has no section {s}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 20, "only {checked} section citations found");
}

#[test]
fn section_parsing() {
    assert_eq!(sections_after(" §1.2–1.5 (PyTorch"), ["1.2", "1.5"]);
    assert_eq!(sections_after(" §5.1), assuming"), ["5.1"]);
    assert_eq!(sections_after(" §2."), ["2"]);
    assert!(sections_after("`").is_empty());
    let doc = "# T\n## 1. PyTorch\n### 1.4 Initialisers\n## Appendix A. Constants\n";
    assert!(has_section(doc, "1"));
    assert!(has_section(doc, "1.4"));
    assert!(!has_section(doc, "1.5"));
    assert!(!has_section(doc, "4"));
}
