//! Options that used to be accepted and silently ignored (`--format` contradicting the
//! extension used to win over it, writing safetensors bytes into `w.npy`) are
//! one-line errors with exit 2 and nothing written; spec input that is not text is exit 2.

mod common;

use common::cli::{run, run_stdin};

fn refused(args: &[&str], fragment: &str) {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(fragment),
        "{args:?}: `{fragment}` not in {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        0,
        "{args:?} wrote"
    );
}

#[test]
fn compress_is_refused_where_nothing_would_be_compressed() {
    refused(
        &["generate", "a=4x4", "-o", "a.safetensors", "--compress"],
        "--compress: only .npz members are compressed; this output is safetensors",
    );
    refused(
        &["generate", "a=4x4", "-o", "a.npy", "--compress"],
        "this output is npy",
    );
    refused(
        &[
            "generate",
            "a=4x4",
            "-o",
            "ck/",
            "--max-shard-size",
            "1MB",
            "--compress",
        ],
        "checkpoints are safetensors",
    );
}

#[test]
fn a_format_contradicting_the_extension_is_refused() {
    refused(
        &[
            "generate",
            "a=4x4",
            "-o",
            "a.npy",
            "--format",
            "safetensors",
        ],
        "--format: is safetensors, but the output a.npy is named .npy",
    );
    // An extension naming no format still takes --format.
    let d = tempfile::tempdir().unwrap();
    let o = run(
        d.path(),
        &["generate", "a=4x4", "-o", "a.bin", "--format", "npy"],
    );
    assert!(o.status.success());
    assert!(
        std::fs::read(d.path().join("a.bin"))
            .unwrap()
            .starts_with(b"\x93NUMPY")
    );
}

#[test]
fn gain_and_nonlinearity_together_are_refused() {
    refused(
        &[
            "generate",
            "a=4x4",
            "--gain",
            "2",
            "--nonlinearity",
            "relu",
            "-o",
            "a.npy",
        ],
        "--gain: give either a gain or --nonlinearity",
    );
}

#[test]
fn a_lone_fan_on_a_1d_tensor_is_not_lent_to_the_other_fan() {
    // xavier needs both fans; a 1-D tensor has none, so fan_in alone is not enough (it used to
    // be copied into fan_out silently).
    refused(
        &[
            "generate",
            "a=4",
            "--fan-in",
            "10",
            "--scheme",
            "xavier_uniform",
            "-o",
            "a.npy",
        ],
        "needs fan-in and fan-out",
    );
    // kaiming with mode fan_in needs only fan_in: its bound is gain·√3/√10.
    let d = tempfile::tempdir().unwrap();
    let o = run(
        d.path(),
        &[
            "generate",
            "a=4",
            "--fan-in",
            "10",
            "--scheme",
            "kaiming_uniform",
            "--dry-run",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let high = j["tensors"][0]["distribution"]["high"].as_f64().unwrap();
    // kaiming_uniform_'s default a=0 with leaky_relu: gain √2, bound gain·√(3/fan_in).
    let expected = 2f64.sqrt() * (3.0f64 / 10.0).sqrt();
    assert!((high - expected).abs() < 1e-15, "{high} vs {expected}");
}

#[test]
fn a_spec_on_stdin_that_is_not_text_is_invalid_input() {
    let d = tempfile::tempdir().unwrap();
    let o = run_stdin(
        d.path(),
        &["generate", "--spec", "-", "-o", "a.npy"],
        b"\xff\xfe{\x00",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("spec <stdin>"), "{err}");
}

#[test]
fn a_name_clash_between_the_spec_and_mlp_names_both_sources() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("s.json"),
        r#"{"tensors": [{"name": "0.weight", "shape": [3, 4]}]}"#,
    )
    .unwrap();
    let o = run(
        d.path(),
        &[
            "generate", "--spec", "s.json", "--mlp", "4,3", "-o", "m.npz",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("tensors[0]: duplicate tensor name `0.weight` (also from mlp layer 0"),
        "{err}"
    );
}
