//! The thread count never changes the bytes: multi-chunk tensors of every distribution family
//! (uniform, normal, truncated normal with each proposal, sparse, orthogonal),
//! written with 1, 2, 3 and 7 threads.

use std::process::Command;

#[test]
fn bytes_are_identical_for_1_2_3_and_7_threads() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"{"seed": 11, "tensors": [
        {"name": "u", "shape": [330001], "scheme": "uniform", "low": -1, "high": 1},
        {"name": "n", "shape": [3, 110001], "scheme": "normal", "std": 0.5},
        {"name": "t_normal", "shape": [200003], "scheme": "truncated_normal", "std": 0.02},
        {"name": "t_uniform", "shape": [200003], "scheme": "truncated_normal", "low": -0.5, "high": 0.5},
        {"name": "t_tail", "shape": [200003], "scheme": "truncated_normal", "low": 3, "high": 9},
        {"name": "k", "shape": [700, 300, 3], "scheme": "kaiming_normal"},
        {"name": "s", "shape": [600, 500], "scheme": "sparse", "sparsity": 0.3},
        {"name": "o", "shape": [300, 400], "scheme": "orthogonal"}
    ]}"#;
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec).unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2", "3", "7"] {
        for dtype in ["f32", "bf16", "f64"] {
            let out = dir.path().join(format!("t{threads}_{dtype}.safetensors"));
            let o = Command::new(env!("CARGO_BIN_EXE_weightgen"))
                .args([
                    "generate",
                    "--quiet",
                    "--threads",
                    threads,
                    "--dtype",
                    dtype,
                    "--spec",
                ])
                .arg(&spec_path)
                .arg("-o")
                .arg(&out)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            outputs.push((threads, dtype, std::fs::read(&out).unwrap()));
        }
    }
    for (threads, dtype, bytes) in &outputs {
        let (_, _, reference) = outputs
            .iter()
            .find(|(t, d, _)| *t == "1" && d == dtype)
            .unwrap();
        assert!(
            bytes == reference,
            "{threads} threads, {dtype}: bytes differ from 1 thread"
        );
    }
}

/// A regular file is filled through memory-mapped 64 MiB windows; stdout is written
/// sequentially. Over several windows, with chunks straddling every window edge (the odd-sized
/// tensors shift all offsets), both paths give the same bytes, for .safetensors and .npy.
#[test]
fn mapped_windows_give_the_bytes_of_the_sequential_path() {
    let dir = tempfile::tempdir().unwrap();
    let run = |spec: &str, format: &str, to_file: bool| -> Vec<u8> {
        let spec_path = dir.path().join("spec.json");
        std::fs::write(&spec_path, spec).unwrap();
        let out = dir.path().join(format!("w.{format}"));
        let mut c = Command::new(env!("CARGO_BIN_EXE_weightgen"));
        c.args([
            "generate", "--quiet", "--force", "--format", format, "--spec",
        ])
        .arg(&spec_path)
        .arg("-o");
        if to_file {
            c.arg(&out)
        } else {
            c.arg("-")
        };
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if to_file {
            std::fs::read(&out).unwrap()
        } else {
            o.stdout
        }
    };
    // 60 B + ~72 MB of f32 + ~72 MB of f16 + 20 B: two window edges at unaligned offsets.
    let st = r#"{"seed": 5, "tensors": [
        {"name": "a", "shape": [3, 5]},
        {"name": "big", "shape": [18000001], "scheme": "normal", "std": 0.1},
        {"name": "half", "shape": [36000007], "scheme": "uniform", "dtype": "f16"},
        {"name": "z", "shape": [5], "scheme": "truncated_normal", "std": 0.02}
    ]}"#;
    let streamed = run(st, "safetensors", false);
    assert!(streamed.len() > 140_000_000);
    assert!(
        run(st, "safetensors", true) == streamed,
        "safetensors bytes differ"
    );
    let npy =
        r#"{"seed": 5, "tensors": [{"name": "w", "shape": [9000001, 3], "scheme": "uniform"}]}"#;
    let streamed = run(npy, "npy", false);
    assert!(run(npy, "npy", true) == streamed, "npy bytes differ");
}
