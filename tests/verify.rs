//! `inspect --verify` (regeneration and byte comparison), the per-tensor SHA-256 recorded in
//! `weightgen.plan` and printed by `inspect --json`, and `inspect --check` of a checkpoint
//! whose shard comes from another run (another seed, or the same seed and another plan: the
//! whole plan's fingerprint `weightgen.plan_sha256`). `--rng torch` checkpoints of several
//! shards (one of them out of plan order) verify through the index and shard by shard; Hugging
//! Face checkpoints, native and torch, one file and sharded, verify, and a torch one whose
//! config.json is missing or edited is refused.
//!
//! Damaged files are made by copying a generated file and changing its data section: one
//! flipped mantissa bit, or two swapped elements (which keep every statistic the same).

mod common;

use common::cli::{PREFIX, ok, run, stderr};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// (header JSON, data section start) of a safetensors file.
fn header(bytes: &[u8]) -> (Value, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), 8 + n)
}

/// Byte range of tensor `name` in the file.
fn range(bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    let (h, start) = header(bytes);
    let o = &h[name]["data_offsets"];
    start + o[0].as_u64().unwrap() as usize..start + o[1].as_u64().unwrap() as usize
}

fn hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Run `inspect --verify FILE`, expecting exit 3 with one error line; the table's verify
/// failure line for the tensor.
#[track_caller]
fn verify_fails(dir: &Path, file: &str) -> String {
    let o = run(dir, &["inspect", "--verify", file]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(PREFIX) && err.contains("verify"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.lines()
        .find(|l| l.contains("verify failed"))
        .unwrap_or_else(|| panic!("no verify failure in {out}"))
        .to_string()
}

/// Generate `args` into `w.safetensors`; check it verifies, then that a flipped low mantissa
/// bit of element `at` of `tensor` and a swap of elements `at` and `at + 1` both fail,
/// naming element `at`.
fn damaged_copies_fail(args: &[&str], tensor: &str, at: usize) {
    let d = tempfile::tempdir().unwrap();
    let mut a = vec!["generate", "-o", "w.safetensors"];
    a.extend_from_slice(args);
    ok(&run(d.path(), &a));
    ok(&run(d.path(), &["inspect", "--verify", "w.safetensors"]));
    let good = std::fs::read(d.path().join("w.safetensors")).unwrap();
    let r = range(&good, tensor);
    let (h, _) = header(&good);
    let size = match h[tensor]["dtype"].as_str().unwrap() {
        "F64" => 8,
        "F32" => 4,
        _ => 2,
    };
    // The first pair from `at` on whose two elements differ (a sparse tensor has zeros).
    let at = (at..)
        .find(|i| {
            let e = r.start + i * size;
            good[e..e + size] != good[e + size..e + 2 * size]
        })
        .unwrap();
    let e = r.start + at * size;

    let mut flipped = good.clone();
    flipped[e] ^= 1; // the lowest mantissa bit (little-endian)
    std::fs::write(d.path().join("flip.safetensors"), &flipped).unwrap();
    let line = verify_fails(d.path(), "flip.safetensors");
    assert!(line.contains(&format!("element {at} differs")), "{line}");

    let mut swapped = good.clone();
    let (x, y) = (
        good[e..e + size].to_vec(),
        good[e + size..e + 2 * size].to_vec(),
    );
    swapped[e..e + size].copy_from_slice(&y);
    swapped[e + size..e + 2 * size].copy_from_slice(&x);
    std::fs::write(d.path().join("swap.safetensors"), &swapped).unwrap();
    let line = verify_fails(d.path(), "swap.safetensors");
    assert!(line.contains(&format!("element {at} differs")), "{line}");
    // The hash the file records catches the swap in --check when hashes are computed (--json
    // prints them); a plain --check reads at memory speed and tests the law only.
    let o = run(
        d.path(),
        &["inspect", "--check", "--json", "swap.safetensors"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("sha256"), "{}", stderr(&o));
}

#[test]
fn native_schemes_verify_and_damage_fails() {
    // Element 70 000 is in the second chunk of 65 536.
    damaged_copies_fail(&["--seed", "3", "w=300x400"], "w", 70_000);
    damaged_copies_fail(
        &["--seed", "3", "--scheme", "orthogonal", "w=200x300"],
        "w",
        1234,
    );
    damaged_copies_fail(
        &[
            "--seed",
            "3",
            "--scheme",
            "trunc_normal",
            "--dtype",
            "f64",
            "w=50x60",
        ],
        "w",
        7,
    );
    damaged_copies_fail(
        &[
            "--seed",
            "3",
            "--scheme",
            "sparse",
            "--sparsity",
            "0.1",
            "w=100x80",
        ],
        "w",
        81,
    );
    damaged_copies_fail(
        &["--seed", "9", "--dtype", "bf16", "e=700x100"],
        "e",
        66_000,
    );
}

#[test]
fn torch_streams_verify_and_damage_fails() {
    damaged_copies_fail(
        &[
            "--rng",
            "torch",
            "--seed",
            "3",
            "--scheme",
            "kaiming_normal",
            "a=30x40",
            "w=300x400",
        ],
        "w",
        70_000,
    );
    damaged_copies_fail(
        &[
            "--rng",
            "torch",
            "--seed",
            "3",
            "--scheme",
            "trunc_normal",
            "a=30x40",
            "w=20x30",
        ],
        "w",
        5,
    );
}

#[test]
fn plan_records_each_tensors_hash_and_inspect_json_prints_it() {
    let d = tempfile::tempdir().unwrap();
    ok(&run(
        d.path(),
        &[
            "generate",
            "--seed",
            "1",
            "w=300x400",
            "b=7x9",
            "-o",
            "w.safetensors",
        ],
    ));
    let bytes = std::fs::read(d.path().join("w.safetensors")).unwrap();
    let (h, _) = header(&bytes);
    let plan: Value =
        serde_json::from_str(h["__metadata__"]["weightgen.plan"].as_str().unwrap()).unwrap();
    let o = run(d.path(), &["inspect", "--json", "w.safetensors"]);
    ok(&o);
    let rep: Value = serde_json::from_slice(&o.stdout).unwrap();
    for e in plan.as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let want = hex(&bytes[range(&bytes, name)]);
        assert_eq!(e["sha256"], want.as_str(), "{name} in weightgen.plan");
        let t = rep["files"][0]["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap();
        assert_eq!(t["sha256"], want.as_str(), "{name} in inspect --json");
    }
    // stdout carries exactly the file's bytes (hashes included).
    let o = run(
        d.path(),
        &[
            "generate",
            "--seed",
            "1",
            "w=300x400",
            "b=7x9",
            "--format",
            "safetensors",
            "-o",
            "-",
        ],
    );
    ok(&o);
    assert!(o.stdout == bytes, "stdout differs from the file");
}

#[test]
fn checkpoints_verify_every_shard_and_a_foreign_shard_fails_check() {
    let d = tempfile::tempdir().unwrap();
    let gen_ = |seed: &str, out: &str| {
        ok(&run(
            d.path(),
            &[
                "generate",
                "--seed",
                seed,
                "a=300x400",
                "b=300x400",
                "c=300x400",
                "--max-shard-size",
                "500000",
                "-o",
                out,
            ],
        ))
    };
    gen_("5", "ck");
    gen_("6", "other");
    let o = run(
        d.path(),
        &["inspect", "--verify", "ck/model.safetensors.index.json"],
    );
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("ok xavier_uniform").count(), 3, "{out}");
    // A shard of another run (another seed) in its place.
    std::fs::copy(
        d.path().join("other/model-00002-of-00003.safetensors"),
        d.path().join("ck/model-00002-of-00003.safetensors"),
    )
    .unwrap();
    let o = run(
        d.path(),
        &["inspect", "--check", "ck/model.safetensors.index.json"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("model-00002-of-00003.safetensors"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("is not from the run the index records: its weightgen.seed is \"6\""),
        "{out}"
    );
    let o = run(
        d.path(),
        &["inspect", "--verify", "ck/model.safetensors.index.json"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // --index-only accepts shards whose headers record their own hashes.
    let o = run(
        d.path(),
        &[
            "generate",
            "--seed",
            "6",
            "a=300x400",
            "b=300x400",
            "c=300x400",
            "--max-shard-size",
            "500000",
            "-o",
            "other",
            "--index-only",
            "--force",
        ],
    );
    ok(&o);
}

#[test]
fn what_cannot_be_regenerated_is_refused_with_exit_2() {
    let d = tempfile::tempdir().unwrap();
    ok(&run(d.path(), &["generate", "w=30x40", "-o", "w.npy"]));
    let o = run(d.path(), &["inspect", "--verify", "w.npy"]);
    refused(&o, "records no weightgen plan");
    let o = run(
        d.path(),
        &["inspect", "--verify", "w.npy", "--expect", "xavier_uniform"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Exit 2 and one error line containing `says`.
#[track_caller]
fn refused(o: &std::process::Output, says: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(PREFIX) && err.contains(says), "{err}");
}

/// A `--rng torch` spec whose tensors split at 50 000 bytes into three shards, the first out
/// of plan order (`big` is larger than a shard, so it gets one of its own at once:
/// [big], [a, t], [s, b, x, r]); whole-tensor inits (trunc_normal redraw and rejection,
/// sparse) among them. `x_scheme` is the law of `x`, in the third shard.
fn torch_spec(x_scheme: &str) -> String {
    format!(
        r#"{{"seed": 21, "rng": "torch", "max_shard_size": "50000", "tensors": [
  {{"name": "a", "shape": [100, 80], "scheme": "kaiming_uniform"}},
  {{"name": "t", "shape": [60, 50], "scheme": "trunc_normal", "std": 0.02}},
  {{"name": "big", "shape": [200, 150], "scheme": "normal", "std": 0.02}},
  {{"name": "s", "shape": [80, 60], "scheme": "sparse", "sparsity": 0.1}},
  {{"name": "b", "shape": [80], "scheme": "zeros"}},
  {{"name": "x", "shape": [70, 40], "scheme": "{x_scheme}"}},
  {{"name": "r", "shape": [40, 30], "scheme": "trunc_normal", "mean": 0, "std": 1, "low": 0.5, "high": 2.5, "dtype": "f64"}}
]}}"#
    )
}

const SHARD1: &str = "model-00001-of-00003.safetensors";
const SHARD2: &str = "model-00002-of-00003.safetensors";
const SHARD3: &str = "model-00003-of-00003.safetensors";
const INDEX: &str = "model.safetensors.index.json";

/// Generate `spec` (a checkpoint) into `out`.
fn generate_spec(dir: &Path, spec: &str, out: &str, extra: &[&str]) {
    let file = format!("{out}.json");
    std::fs::write(dir.join(&file), spec).unwrap();
    let mut a = vec!["generate", "--spec", file.as_str(), "-o", out, "-q"];
    a.extend_from_slice(extra);
    ok(&run(dir, &a));
}

/// The safetensors file at `path` with its `__metadata__` changed by `f` (header rewritten,
/// data kept).
fn rewrite_metadata(path: &Path, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let bytes = std::fs::read(path).unwrap();
    let (mut h, start) = header(&bytes);
    f(h["__metadata__"].as_object_mut().unwrap());
    let mut text = serde_json::to_string(&h).unwrap();
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[start..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn torch_shards_verify_through_the_index_and_alone() {
    let d = tempfile::tempdir().unwrap();
    generate_spec(d.path(), &torch_spec("xavier_normal"), "ck", &[]);
    // The split the spec describes: `big` first, out of plan order.
    let (h1, _) = header(&std::fs::read(d.path().join("ck").join(SHARD1)).unwrap());
    assert!(h1.get("big").is_some() && h1.get("a").is_none(), "{h1}");
    assert_eq!(h1["__metadata__"]["weightgen.plan_positions"], "[[2,3]]");

    let o = run(d.path(), &["inspect", "--verify", &format!("ck/{INDEX}")]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    for law in [
        "ok kaiming_uniform",
        "ok truncated_normal",
        "ok normal",
        "ok sparse",
        "ok zeros",
        "ok xavier_normal",
    ] {
        assert!(out.contains(law), "{law}: {out}");
    }
    for shard in [SHARD1, SHARD2, SHARD3] {
        ok(&run(
            d.path(),
            &["inspect", "--verify", &format!("ck/{shard}")],
        ));
    }

    // One flipped bit in shard 2's `t` (a redrawn truncated normal), through the index and
    // alone: exit 3, naming the element.
    let p2 = d.path().join("ck").join(SHARD2);
    let good = std::fs::read(&p2).unwrap();
    let mut bad = good.clone();
    bad[range(&good, "t").start + 4 * 1234] ^= 1;
    std::fs::write(&p2, &bad).unwrap();
    for file in [format!("ck/{INDEX}"), format!("ck/{SHARD2}")] {
        let line = verify_fails(d.path(), &file);
        assert!(
            line.contains("t: verify failed: element 1234 differs"),
            "{line}"
        );
    }
    std::fs::write(&p2, &good).unwrap();

    // A shard given alone needs its index beside it, and siblings of the index's plan.
    let ix = d.path().join("ck").join(INDEX);
    std::fs::rename(&ix, d.path().join("index.bak")).unwrap();
    let o = run(d.path(), &["inspect", "--verify", &format!("ck/{SHARD3}")]);
    refused(&o, &format!("ck/{INDEX} cannot be read"));
    std::fs::rename(d.path().join("index.bak"), &ix).unwrap();
    std::fs::remove_file(d.path().join("ck").join(SHARD1)).unwrap();
    let o = run(d.path(), &["inspect", "--verify", &format!("ck/{SHARD3}")]);
    refused(&o, &format!("shard ck/{SHARD1}"));
    let o = run(d.path(), &["inspect", "--verify", &format!("ck/{INDEX}")]);
    refused(&o, &format!("shard ck/{SHARD1}"));
}

/// A shard of another run with the same seed, keys and tensors but a different plan (another
/// law for a tensor of another shard) is caught by the whole plan's fingerprint.
#[test]
fn a_shard_of_a_run_with_another_plan_is_not_a_member() {
    let d = tempfile::tempdir().unwrap();
    generate_spec(d.path(), &torch_spec("xavier_normal"), "ck", &[]);
    generate_spec(d.path(), &torch_spec("kaiming_normal"), "other", &[]);
    let (mine, theirs) = (
        std::fs::read(d.path().join("ck").join(SHARD1)).unwrap(),
        std::fs::read(d.path().join("other").join(SHARD1)).unwrap(),
    );
    // Shard 1 holds the same tensor, drawn from the same place: only the fingerprint differs.
    assert_eq!(mine[range(&mine, "big")], theirs[range(&theirs, "big")]);
    let fp = |b: &[u8]| header(b).0["__metadata__"]["weightgen.plan_sha256"].clone();
    assert_ne!(fp(&mine), fp(&theirs));
    std::fs::write(d.path().join("ck").join(SHARD1), &theirs).unwrap();

    let o = run(d.path(), &["inspect", "--check", &format!("ck/{INDEX}")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains(SHARD1) && !err.contains(SHARD2), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "{SHARD1} is not from the run the index records: its weightgen.plan_sha256 is"
        )),
        "{out}"
    );
    // Through the index, every shard's `verify` fails (their places in PyTorch's sequence
    // come from a plan that is no longer known); alone, a sibling is refused, naming it.
    let o = run(d.path(), &["inspect", "--verify", &format!("ck/{INDEX}")]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "x: verify failed: not regenerated: ck/{SHARD1} is not a shard of the index's plan"
        )),
        "{out}"
    );
    let o = run(d.path(), &["inspect", "--verify", &format!("ck/{SHARD3}")]);
    refused(
        &o,
        &format!("ck/{SHARD1} is not a shard of the index's plan"),
    );
    // --index-only, from the spec: the shard is not in place.
    std::fs::remove_file(d.path().join("ck").join(INDEX)).unwrap();
    std::fs::write(d.path().join("ck.json"), torch_spec("xavier_normal")).unwrap();
    let o = run(
        d.path(),
        &["generate", "--spec", "ck.json", "-o", "ck", "--index-only"],
    );
    refused(
        &o,
        "its weightgen.plan_sha256, the whole plan's fingerprint, differs",
    );
    assert!(stderr(&o).contains(SHARD1), "{}", stderr(&o));
}

/// A torch shard written before shards recorded their place in the whole plan is refused.
#[test]
fn a_torch_shard_without_its_plan_positions_is_refused() {
    let d = tempfile::tempdir().unwrap();
    generate_spec(d.path(), &torch_spec("xavier_normal"), "ck", &[]);
    rewrite_metadata(&d.path().join("ck").join(SHARD2), |m| {
        m.remove("weightgen.plan_positions");
        m.remove("weightgen.plan_sha256");
    });
    let o = run(d.path(), &["inspect", "--verify", &format!("ck/{SHARD2}")]);
    refused(&o, "did not record where its tensors are in the whole plan");
}

/// Hugging Face checkpoints verify, one file or sharded (a shard alone too), drawn natively
/// or with `--rng torch` (re-planned from the config.json beside them); a torch checkpoint
/// whose config.json is missing or gives another plan is refused, exit 2.
#[test]
fn hf_checkpoints_verify_native_and_torch() {
    let d = tempfile::tempdir().unwrap();
    let config = common::cli::fixture("hf/tiny_llama_f32/input_config.json");
    let config = config.to_str().unwrap();
    let gen_ = |out: &str, extra: &[&str]| {
        let mut a = vec!["generate", "--hf-config", config, "-o", out, "--seed", "7"];
        a.extend_from_slice(extra);
        ok(&run(d.path(), &a));
    };
    gen_("n1", &[]);
    gen_("n3", &["--max-shard-size", "20000"]);
    gen_("t1", &["--rng", "torch"]);
    gen_("t3", &["--rng", "torch", "--max-shard-size", "20000"]);
    for file in [
        "n1/model.safetensors",
        "n3/model.safetensors.index.json",
        "t1/model.safetensors",
        "t3/model.safetensors.index.json",
        "t3/model-00003-of-00010.safetensors",
    ] {
        let o = run(d.path(), &["inspect", "--verify", file]);
        ok(&o);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!out.contains("FAIL"), "{out}");
        assert!(out.contains("ok normal"), "{file}: {out}");
    }
    // The embedding (larger than a shard) has a shard of its own, out of plan order.
    let (h, _) =
        header(&std::fs::read(d.path().join("t3/model-00001-of-00010.safetensors")).unwrap());
    assert!(h.get("model.embed_tokens.weight").is_some(), "{h}");

    // A flipped bit in a shard of the torch checkpoint fails.
    let p = d.path().join("t3/model-00003-of-00010.safetensors");
    let mut bytes = std::fs::read(&p).unwrap();
    let (h, start) = header(&bytes);
    let first = h
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .min_by_key(|(_, v)| v["data_offsets"][0].as_u64().unwrap())
        .map(|(k, _)| k.clone())
        .unwrap();
    bytes[start + 4 * 5] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    let line = verify_fails(d.path(), "t3/model.safetensors.index.json");
    assert!(
        line.contains(&format!("{first}: verify failed: element 5 differs")),
        "{line}"
    );

    // config.json edited: another initializer range gives another plan.
    for dir in ["t1", "t3"] {
        let c = d.path().join(dir).join("config.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&c).unwrap()).unwrap();
        v["initializer_range"] = 0.05.into();
        std::fs::write(&c, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
    for file in [
        "t1/model.safetensors",
        "t3/model.safetensors.index.json",
        "t3/model-00002-of-00010.safetensors",
    ] {
        let o = run(d.path(), &["inspect", "--verify", file]);
        refused(
            &o,
            "config.json gives another plan than the files record: tensor `model.embed_tokens.weight`: its distribution is",
        );
    }
    std::fs::remove_file(d.path().join("t1/config.json")).unwrap();
    let o = run(d.path(), &["inspect", "--verify", "t1/model.safetensors"]);
    refused(&o, "t1/config.json is missing");
}
