//! Golden files: small outputs for a fixed seed in every format and dtype, committed under
//! `fixtures/golden/` and compared byte for byte. They pin the `weightgen-3` stream and every
//! writer's layout. Regenerate only when that changes on purpose: `make fixtures` (runs this
//! test with `WEIGHTGEN_BLESS=1`), and bump the stream version if values changed.

use std::path::Path;

mod common;
use common::cli::{command, fixture, repo, stderr};

/// (golden file name, arguments after `generate`; `OUT` is replaced by the output path).
fn cases() -> Vec<(&'static str, Vec<&'static str>)> {
    let spec = "fixtures/specs/golden.json";
    vec![
        ("golden_f32.safetensors", vec!["--spec", spec, "-o", "OUT"]),
        (
            "golden_f64.safetensors",
            vec!["--spec", spec, "--dtype", "f64", "-o", "OUT"],
        ),
        (
            "golden_f16.safetensors",
            vec!["--spec", spec, "--dtype", "f16", "-o", "OUT"],
        ),
        (
            "golden_bf16.safetensors",
            vec!["--spec", spec, "--dtype", "bf16", "-o", "OUT"],
        ),
        (
            "golden_keras_f32.safetensors",
            vec!["--spec", spec, "--convention", "keras", "-o", "OUT"],
        ),
        ("golden_f32.npz", vec!["--spec", spec, "-o", "OUT"]),
        (
            "golden_f16_compressed.npz",
            vec!["--spec", spec, "--dtype", "f16", "--compress", "-o", "OUT"],
        ),
        (
            "golden_xavier_f32.npy",
            vec!["w=24x40", "--seed", "7", "-o", "OUT"],
        ),
        (
            "golden_xavier_f64.npy",
            vec!["w=24x40", "--seed", "7", "--dtype", "f64", "-o", "OUT"],
        ),
        (
            "golden_normal_f16.npy",
            vec![
                "w=3x5x7", "--scheme", "normal", "--seed", "7", "--dtype", "f16", "-o", "OUT",
            ],
        ),
    ]
}

/// `weightgen generate ARGS --quiet` (run from the repository root, `OUT` replaced by `out`);
/// the bytes it wrote.
fn generate(args: &[&str], out: &Path) -> Vec<u8> {
    let out_arg = out.display().to_string();
    let mut all = vec!["generate"];
    all.extend(
        args.iter()
            .map(|a| if *a == "OUT" { &out_arg[..] } else { a }),
    );
    all.push("--quiet");
    let o = command(&repo(""), &all).output().expect("run weightgen");
    assert!(o.status.success(), "{all:?}: {}", stderr(&o));
    std::fs::read(out).unwrap()
}

#[test]
fn outputs_match_the_committed_golden_files_byte_for_byte() {
    let bless = std::env::var_os("WEIGHTGEN_BLESS").is_some();
    let dir = tempfile::tempdir().unwrap();
    let mut mismatched = Vec::new();
    for (name, args) in cases() {
        let bytes = generate(&args, &dir.path().join(name));
        let golden = fixture("golden").join(name);
        if bless {
            std::fs::write(&golden, &bytes).unwrap();
            continue;
        }
        let want = std::fs::read(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (run `make fixtures`)", golden.display()));
        if want != bytes {
            mismatched.push(name);
        }
    }
    assert!(
        mismatched.is_empty(),
        "outputs differ from fixtures/golden: {mismatched:?}; if the stream changed on purpose, bump the stream version and run `make fixtures`"
    );
}
