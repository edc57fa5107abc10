//! Imports run one way: no two source files of `src/` reach each other through `crate::` or
//! `super::` paths, directly or through others. (A module's own `mod` children and their
//! `super::` uses of it are its structure, not imports between siblings.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path of each file under `src/`: `write/shard.rs` → `write::shard`, `write/mod.rs`
/// → `write`; the crate root and the binary's files are left out.
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
        if p.is_dir() {
            let mut pre = prefix.to_vec();
            pre.push(stem);
            modules(&p, &pre, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let mut m = prefix.to_vec();
            if stem != "mod" {
                m.push(stem.clone());
            }
            if m.is_empty() || (prefix.is_empty() && ["lib", "main", "cli"].contains(&&*stem)) {
                continue;
            }
            out.insert(m.join("::"), std::fs::read_to_string(&p).unwrap());
        }
    }
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `marker` in `text` (`crate::a::b`, and each item of
/// `crate::{a, b::c}`), as segments.
fn paths(text: &str, marker: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(marker) {
        let rest = &text[i + marker.len()..];
        let items: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            group[..group.find('}').unwrap_or(group.len())]
                .split(',')
                .collect()
        } else {
            vec![rest]
        };
        for item in items {
            let item = item.trim_start();
            let end = item
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(item.len());
            let segs: Vec<String> = item[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            out.push(segs);
        }
    }
    out
}

fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    modules(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut files,
    );
    let resolve = |segs: &[String]| {
        (1..=segs.len())
            .rev()
            .map(|n| segs[..n].join("::"))
            .find(|m| files.contains_key(m))
    };
    let mut out = BTreeMap::new();
    for (m, text) in &files {
        let text = code(text);
        let parent: Vec<String> = m.split("::").map(String::from).collect();
        let parent = &parent[..parent.len() - 1];
        let mut to = BTreeSet::new();
        for segs in paths(&text, "crate::") {
            to.extend(resolve(&segs));
        }
        for segs in paths(&text, "super::") {
            let mut full = parent.to_vec();
            full.extend(segs);
            to.extend(resolve(&full));
        }
        // A child naming its parent is structure, not an import between siblings.
        to.retain(|t| t != m && !m.starts_with(&format!("{t}::")));
        out.insert(m.clone(), to);
    }
    out
}

#[test]
fn no_two_source_files_import_each_other() {
    let g = edges();
    assert!(g.len() > 30, "found only {} modules", g.len());
    assert!(
        g["plan"].contains("spec"),
        "the scanner sees plan's imports"
    );
    // Depth-first search for a path back to the start.
    for start in g.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in &g[&at] {
                assert!(
                    next != start,
                    "import circle: {} -> {start}",
                    path.join(" -> ")
                );
                if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
}
