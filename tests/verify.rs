//! `inspect --verify` (regeneration and byte comparison), the per-tensor SHA-256 recorded in
//! `weightgen.plan` and printed by `inspect --json`, and `inspect --check` of a checkpoint
//! whose shard comes from another run.
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
    ok(&run(
        d.path(),
        &[
            "generate",
            "--rng",
            "torch",
            "a=300x400",
            "b=300x400",
            "--max-shard-size",
            "500000",
            "-o",
            "ck",
        ],
    ));
    for (file, says) in [
        ("w.npy", "records no weightgen plan"),
        (
            "ck/model.safetensors.index.json",
            "multi-shard checkpoint drawn with rng torch",
        ),
    ] {
        let o = run(d.path(), &["inspect", "--verify", file]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{file}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(PREFIX) && err.contains(says), "{err}");
    }
    let o = run(
        d.path(),
        &["inspect", "--verify", "w.npy", "--expect", "xavier_uniform"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A Hugging Face checkpoint drawn by the native streams verifies (each tensor is keyed by its
/// name; the plan records the padding rows); one drawn with `--rng torch` is refused, exit 2.
#[test]
fn hf_checkpoints_native_verify_torch_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let config = common::cli::fixture("hf/gpt2/config.json");
    let config = config.to_str().unwrap();
    ok(&run(
        d.path(),
        &["generate", "--hf-config", config, "-o", "n", "--seed", "1"],
    ));
    let o = run(d.path(), &["inspect", "--verify", "n/model.safetensors"]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok normal"));
    ok(&run(
        d.path(),
        &[
            "generate",
            "--hf-config",
            config,
            "--rng",
            "torch",
            "-o",
            "t",
            "--seed",
            "1",
        ],
    ));
    let o = run(d.path(), &["inspect", "--verify", "t/model.safetensors"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Hugging Face model checkpoint"), "{err}");
}
