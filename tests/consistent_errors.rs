//! Consistent errors (issue 15 item 5): the destination's filesystem named for what it is, one
//! `spec FILE: ` prefix for every spec error, one rule for a missing output directory, and the
//! same exit code for permission denied in `generate` and `inspect`.

use std::fs;
use std::path::Path;
use std::process::Output;

mod common;
use common::cli::{PREFIX, run, run_stdin};

/// The one error line of a failed run, checking its exit code.
#[track_caller]
fn error_line(o: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with(PREFIX), "{err}");
    lines[0].to_string()
}

#[test]
fn a_pseudo_filesystem_is_named_as_such_not_as_full() {
    let dir = tempfile::tempdir().unwrap();
    for out in [
        "/proc/weightgen-test.safetensors",
        "/sys/weightgen-test.npy",
        "/proc/weightgen-test.npz",
    ] {
        let e = error_line(
            &run(dir.path(), &["generate", "w=4x4", "--seed", "1", "-o", out]),
            1,
        );
        assert!(e.contains("is not a regular filesystem"), "{e}");
        assert!(!e.contains("free space"), "{e}");
        assert!(!Path::new(out).exists());
    }
    // A checkpoint directory there: refused before it is created.
    let args = [
        "generate",
        "w=4x4",
        "--seed",
        "1",
        "--max-shard-size",
        "10",
        "-o",
        "/proc/weightgen-ckpt",
    ];
    let e = error_line(&run(dir.path(), &args), 1);
    assert!(e.contains("/proc is not a regular filesystem"), "{e}");
}

/// A read-only bind mount of a fresh directory, unmounted on drop; None where mounting is not
/// allowed.
struct ReadOnly(tempfile::TempDir);

impl ReadOnly {
    fn new() -> Option<ReadOnly> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_str().unwrap().to_string();
        let ok = |args: &[&str]| {
            std::process::Command::new("mount")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["--bind", &p, &p]) {
            return None;
        }
        let r = ReadOnly(dir);
        ok(&["-o", "remount,ro,bind", &p]).then_some(r)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_read_only_filesystem_is_named_as_such() {
    let Some(ro) = ReadOnly::new() else {
        eprintln!("skipped: mount --bind is not allowed here (the /proc and /sys test still runs)");
        return;
    };
    let d = ro.0.path();
    let file = d.join("w.npy");
    let e = error_line(
        &run(
            d.parent().unwrap(),
            &[
                "generate",
                "w=4x4",
                "--seed",
                "1",
                "-o",
                file.to_str().unwrap(),
            ],
        ),
        1,
    );
    assert!(e.contains("is on a read-only file system"), "{e}");
    let ckpt = d.join("ckpt");
    let args = [
        "generate",
        "w=4x4",
        "--seed",
        "1",
        "--max-shard-size",
        "10",
        "-o",
        ckpt.to_str().unwrap(),
    ];
    let e = error_line(&run(d.parent().unwrap(), &args), 1);
    assert!(e.contains("is on a read-only file system"), "{e}");
    assert!(fs::read_dir(d).unwrap().next().is_none());
}

#[test]
fn every_spec_error_starts_with_spec_file() {
    // (what is wrong, the spec, a piece of the message after the prefix)
    let cases: &[(&str, &str, &str)] = &[
        ("parse", "{bad", "invalid JSON"),
        ("binary junk", "\u{0}\u{1}\u{2}", "invalid JSON"),
        (
            "unknown key",
            r#"{"tensors": [{"name": "a", "shape": [2, 2], "shpae": 1}]}"#,
            "tensors[0].shpae: unknown key",
        ),
        (
            "bad value on a tensor",
            r#"{"tensors": [{"name": "a", "shape": [2, 2], "scheme": "normal", "std": -1}]}"#,
            "tensors[0].std: must be ≥ 0",
        ),
        (
            "bad value at the top",
            r#"{"scheme": "normal", "std": -1, "tensors": [{"name": "a", "shape": [2, 2]}]}"#,
            "std (for tensor `a`): must be ≥ 0",
        ),
        (
            "a parameter no scheme takes",
            r#"{"std": 1, "tensors": [{"name": "a", "shape": [2, 2]}]}"#,
            "std: not used by any tensor's scheme",
        ),
        (
            "bad layer",
            r#"{"layers": [{"type": "linear", "name": "l", "in_features": 2}]}"#,
            "layers[0]: linear needs `out_features`",
        ),
        (
            "duplicate names",
            r#"{"tensors": [{"name": "a", "shape": [2, 2]}, {"name": "a", "shape": [2, 2]}]}"#,
            "tensors[1]: duplicate tensor name `a`",
        ),
        (
            "fans the shape leaves undefined",
            r#"{"tensors": [{"name": "b", "shape": [3]}]}"#,
            "tensors[0] (tensor `b`): scheme xavier_uniform (mode fan_avg) needs fan-in",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, spec, piece) in cases {
        fs::write(dir.path().join("s.json"), spec).unwrap();
        let o = run(
            dir.path(),
            &["generate", "--spec", "s.json", "--seed", "1", "-o", "x.npz"],
        );
        let e = error_line(&o, 2);
        assert!(
            e.starts_with(&format!("{PREFIX}spec s.json: {piece}")),
            "{what}: {e}"
        );
        let o = run_stdin(
            dir.path(),
            &["generate", "--spec", "-", "--seed", "1", "-o", "x.npz"],
            spec.as_bytes(),
        );
        let e = error_line(&o, 2);
        assert!(
            e.starts_with(&format!("{PREFIX}spec <stdin>: {piece}")),
            "{what} (stdin): {e}"
        );
        assert!(!dir.path().join("x.npz").exists());
    }
    // Invalid UTF-8 from a file and from stdin: the same words, exit 2.
    fs::write(dir.path().join("s.json"), b"\xff\xfe{}").unwrap();
    let e = error_line(
        &run(dir.path(), &["generate", "--spec", "s.json", "-o", "x.npz"]),
        2,
    );
    assert!(
        e.starts_with(&format!("{PREFIX}spec s.json: not a JSON text")),
        "{e}"
    );
    let o = run_stdin(
        dir.path(),
        &["generate", "--spec", "-", "-o", "x.npz"],
        b"\xff\xfe{}",
    );
    let e = error_line(&o, 2);
    assert!(
        e.starts_with(&format!("{PREFIX}spec <stdin>: not a JSON text")),
        "{e}"
    );
    // A missing spec file, in generate and study.
    let missing: [&[&str]; 2] = [
        &["generate", "--spec", "missing.json", "-o", "x.npz"],
        &["study", "--spec", "missing.json"],
    ];
    for args in missing {
        let e = error_line(&run(dir.path(), args), 2);
        assert!(
            e.starts_with(&format!("{PREFIX}spec missing.json: cannot read it")),
            "{e}"
        );
    }
    // A clash between --mlp and the spec names both.
    let layers =
        r#"{"layers": [{"type": "linear", "name": "0", "in_features": 2, "out_features": 2}]}"#;
    fs::write(dir.path().join("s.json"), layers).unwrap();
    let o = run(
        dir.path(),
        &[
            "generate", "--spec", "s.json", "--mlp", "2,2", "--seed", "1", "-o", "x.npz",
        ],
    );
    let e = error_line(&o, 2);
    assert!(
        e.contains("--mlp") && e.contains("spec s.json: layers[0]"),
        "{e}"
    );
}

#[test]
fn a_missing_output_directory_is_one_rule_for_files_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The directory holding what -o names must exist, for a file ...
    let e = error_line(
        &run(
            d,
            &["generate", "w=4x4", "--seed", "1", "-o", "missing/w.npy"],
        ),
        2,
    );
    assert!(
        e.ends_with("output directory missing does not exist"),
        "{e}"
    );
    // ... and for a checkpoint, whose own directory is the one thing created.
    let ckpt = [
        "generate",
        "a=64x64",
        "b=64x64",
        "--seed",
        "1",
        "--max-shard-size",
        "20KB",
    ];
    let e = error_line(&run(d, &[&ckpt[..], &["-o", "missing/ckpt"]].concat()), 2);
    assert!(
        e.ends_with("output directory missing does not exist"),
        "{e}"
    );
    assert!(!d.join("missing").exists());
    let o = run(d, &[&ckpt[..], &["-o", "ckpt", "-q"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.join("ckpt/model.safetensors.index.json").is_file());
}

#[test]
fn permission_denied_is_exit_1_in_generate_and_inspect() {
    // Root reads any file, except /proc/1/mem (no ptrace access to pid 1 through a read): the
    // one EACCES a root test can provoke. Skipped where even that opens.
    let denied = Path::new("/proc/1/mem");
    match fs::File::open(denied) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
        other => {
            eprintln!("skipped: opening /proc/1/mem gives {other:?}, not permission denied");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::os::unix::fs::symlink(denied, d.join("w.safetensors")).unwrap();
    std::os::unix::fs::symlink(denied, d.join("s.json")).unwrap();
    let e = error_line(&run(d, &["inspect", "w.safetensors"]), 1);
    assert!(e.contains("Permission denied"), "{e}");
    let e = error_line(&run(d, &["generate", "--spec", "s.json", "-o", "x.npy"]), 1);
    assert!(
        e.contains("spec s.json: cannot read it: Permission denied"),
        "{e}"
    );
    // A missing file stays invalid usage in both.
    error_line(&run(d, &["inspect", "nothing.safetensors"]), 2);
    error_line(
        &run(d, &["generate", "--spec", "nothing.json", "-o", "x.npy"]),
        2,
    );
}
