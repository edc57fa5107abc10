//! Integration tests that run the real `weightgen` binary.
//!
//! Every test works in its own temporary directory (the binary runs with it as the current
//! directory), uses small shapes, and checks what the contract promises: exit codes (0 ok,
//! 1 I/O failure, 2 invalid usage), exactly one `weightgen: error: ` line on stderr for every
//! error, no panic, nothing created or changed at the destination on error, and reproducible
//! bytes.
//!
//! Tests marked `#[ignore = "bug: …"]` show a bug in the binary; run them with
//! `cargo test --test cli -- --ignored`.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

mod common;
use common::cli::{PREFIX, command, fixture, run, run_stdin};

/// Panic text, including the one-line report of the binary's panic hook.
const PANIC_MARKERS: [&str; 4] = [
    "panicked",
    "RUST_BACKTRACE",
    "thread 'main'",
    "internal error",
];

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("create a temp dir")
}

/// Run with stdout connected to a pipe whose read end is already closed, so every write to
/// stdout fails with EPIPE (deterministically: nothing can be buffered by a reader).
fn run_with_closed_stdout(dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("create a pipe");
    drop(reader);
    command(dir, args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run weightgen")
}

/// Run with a deadline (for FIFO tests, where a mistake could block forever); stdout and
/// stderr go to files outside `dir` so `dir`'s listing is unaffected.
fn run_with_deadline(dir: &Path, args: &[&str]) -> Output {
    let logs = tempdir();
    let out_path = logs.path().join("stdout");
    let err_path = logs.path().join("stderr");
    let mut child = command(dir, args)
        .stdout(fs::File::create(&out_path).expect("stdout log"))
        .stderr(fs::File::create(&err_path).expect("stderr log"))
        .spawn()
        .expect("spawn weightgen");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll weightgen") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("weightgen {args:?} did not finish within 20 s");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: fs::read(&out_path).expect("read stdout log"),
        stderr: fs::read(&err_path).expect("read stderr log"),
    }
}

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout_text(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn assert_no_panic(o: &Output) {
    let err = stderr_of(o);
    for marker in PANIC_MARKERS {
        assert!(
            !err.contains(marker),
            "stderr contains panic text `{marker}`:\n{err}"
        );
    }
    assert_ne!(
        o.status.code(),
        Some(101),
        "exit code 101 is a panic:\n{err}"
    );
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert_no_panic(o);
    assert!(
        o.status.success(),
        "expected success, got {:?}; stderr:\n{}",
        o.status,
        stderr_of(o)
    );
}

/// Exit `code`, exactly one stderr line starting with `weightgen: error: ` that contains every
/// fragment, no panic, nothing on stdout. Returns the line.
#[track_caller]
fn assert_error(o: &Output, code: i32, fragments: &[&str]) -> String {
    assert_no_panic(o);
    let err = stderr_of(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "wrong exit code; stderr:\n{err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one stderr line, got {}:\n{err}",
        lines.len()
    );
    let line = lines[0];
    assert!(line.starts_with(PREFIX), "line lacks `{PREFIX}`: {line}");
    for f in fragments {
        assert!(line.contains(f), "error lacks `{f}`: {line}");
    }
    assert!(
        o.stdout.is_empty(),
        "stdout not empty on error: {:?}",
        String::from_utf8_lossy(&o.stdout)
    );
    line.to_string()
}

/// Names of the entries of `dir` (temp files included: they start with a dot).
fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("list dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Run in `dir`, expect a usage error (exit 2) with `fragments`, and check that the directory
/// holds exactly what it held before (no output, no temp file).
#[track_caller]
fn usage_error_in(dir: &Path, args: &[&str], fragments: &[&str]) -> String {
    let before = listing(dir);
    let o = run(dir, args);
    let line = assert_error(&o, 2, fragments);
    assert_eq!(listing(dir), before, "the directory changed after an error");
    line
}

/// [`usage_error_in`] in a fresh, empty directory.
#[track_caller]
fn usage_error(args: &[&str], fragments: &[&str]) -> String {
    let dir = tempdir();
    let line = usage_error_in(dir.path(), args, fragments);
    assert!(listing(dir.path()).is_empty());
    line
}

/// Write `spec` as `spec.json` in a fresh directory and expect a usage error from
/// `generate --spec spec.json -o out.safetensors --seed 1 EXTRA…`.
#[track_caller]
fn spec_error(spec: &str, extra: &[&str], fragments: &[&str]) -> String {
    let dir = tempdir();
    fs::write(dir.path().join("spec.json"), spec).expect("write spec");
    let mut args = vec![
        "generate",
        "--spec",
        "spec.json",
        "-o",
        "out.safetensors",
        "--seed",
        "1",
    ];
    args.extend_from_slice(extra);
    usage_error_in(dir.path(), &args, fragments)
}

/// Run `generate ARGS` in `dir` (which must succeed) and return the bytes of `dir/file`.
#[track_caller]
fn generate_file(dir: &Path, file: &str, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["generate"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", file]);
    let o = run(dir, &all);
    assert_ok(&o);
    fs::read(dir.join(file)).expect("read output")
}

/// Run `generate ARGS` with `--json` (must succeed) and parse the summary on stdout.
#[track_caller]
fn json_summary(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["generate"];
    all.extend_from_slice(args);
    all.push("--json");
    let o = run(dir, &all);
    assert_ok(&o);
    serde_json::from_slice(&o.stdout).expect("--json prints JSON on stdout")
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(st.success(), "mkfifo failed");
}

fn is_fifo(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Reading the formats
// ---------------------------------------------------------------------------------------------

/// Header length of an .npy (v1): bytes 8..10 little-endian, plus the 10-byte prefix.
fn npy_header_len(bytes: &[u8]) -> usize {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not an .npy file");
    assert_eq!(bytes[6], 1, "expected .npy version 1.0");
    u16::from_le_bytes([bytes[8], bytes[9]]) as usize + 10
}

fn npy_header(bytes: &[u8]) -> String {
    String::from_utf8(bytes[10..npy_header_len(bytes)].to_vec()).expect("ASCII header")
}

fn npy_data(bytes: &[u8]) -> &[u8] {
    &bytes[npy_header_len(bytes)..]
}

/// The JSON header of a .safetensors file and the offset where its data starts.
fn st_header(bytes: &[u8]) -> (Value, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let v = serde_json::from_slice(&bytes[8..8 + n]).expect("safetensors header is JSON");
    (v, 8 + n)
}

fn st_data<'a>(bytes: &'a [u8], name: &str) -> &'a [u8] {
    let (h, start) = st_header(bytes);
    let offs = &h[name]["data_offsets"];
    let (a, b) = (
        offs[0].as_u64().expect("offset") as usize,
        offs[1].as_u64().expect("offset") as usize,
    );
    &bytes[start + a..start + b]
}

/// The `<name>.npy` member of an .npz.
fn npz_member(path: &Path, name: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(fs::File::open(path).expect("open npz")).expect("a ZIP");
    let mut member = zip.by_name(&format!("{name}.npy")).expect("member present");
    let mut out = Vec::new();
    member.read_to_end(&mut out).expect("read member");
    out
}

fn npz_names(path: &Path) -> Vec<String> {
    let zip = zip::ZipArchive::new(fs::File::open(path).expect("open npz")).expect("a ZIP");
    zip.file_names().map(str::to_string).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn f32s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn f64s(data: &[u8]) -> Vec<f64> {
    data.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn u16s(data: &[u8]) -> Vec<u16> {
    data.chunks_exact(2)
        .map(|c| u16::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn tensor<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["tensors"]
        .as_array()
        .expect("tensors array")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tensor {name} in summary: {summary}"))
}

/// The seed from a `seed: N` line on stderr.
fn drawn_seed(o: &Output) -> u64 {
    let err = stderr_of(o);
    err.lines()
        .find_map(|l| l.strip_prefix("seed: "))
        .unwrap_or_else(|| panic!("no `seed: N` line on stderr:\n{err}"))
        .trim()
        .parse()
        .expect("seed is an integer")
}

// ---------------------------------------------------------------------------------------------
// Writing files
// ---------------------------------------------------------------------------------------------

#[test]
fn writes_a_npy_file_with_the_requested_shape_and_dtype() {
    let dir = tempdir();
    let bytes = generate_file(dir.path(), "w.npy", &["fc1.weight=3x4", "--seed", "1"]);
    let header = npy_header(&bytes);
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    assert!(header.contains("'shape': (3, 4)"), "{header}");
    assert_eq!(npy_header_len(&bytes) % 64, 0, "header is 64-byte aligned");
    assert!(header.ends_with('\n'));
    assert_eq!(npy_data(&bytes).len(), 3 * 4 * 4);
    // xavier_uniform on 3x4: bound = sqrt(6 / 7).
    let bound = (6.0f64 / 7.0).sqrt() as f32;
    let values = f32s(npy_data(&bytes));
    assert!(values.iter().all(|v| v.abs() <= bound), "{values:?}");
    assert!(values.iter().any(|v| *v != values[0]), "values vary");
}

#[test]
fn prints_what_it_wrote_on_stderr() {
    let dir = tempdir();
    let o = run(
        dir.path(),
        &["generate", "a=3x4", "--seed", "1", "-o", "a.npy"],
    );
    assert_ok(&o);
    let err = stderr_of(&o);
    assert!(err.contains("a.npy") && err.contains("48 bytes"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn bare_dims_name_the_tensor_weight() {
    let dir = tempdir();
    let bytes = generate_file(dir.path(), "w.safetensors", &["3x4", "--seed", "1"]);
    let (h, _) = st_header(&bytes);
    assert_eq!(h["weight"]["shape"], serde_json::json!([3, 4]));
    assert_eq!(h["weight"]["dtype"], "F32");
    let s = json_summary(
        dir.path(),
        &["3x4", "--seed", "1", "--dry-run", "-o", "x.npy"],
    );
    assert_eq!(s["tensors"][0]["name"], "weight");
}

#[test]
fn safetensors_records_seed_stream_and_spec_metadata() {
    let dir = tempdir();
    let spec = fixture("specs/mlp.json");
    let bytes = generate_file(
        dir.path(),
        "m.safetensors",
        &["--spec", spec.to_str().unwrap()],
    );
    let (h, start) = st_header(&bytes);
    assert_eq!(start % 8, 0, "data starts 8-byte aligned");
    let meta = &h["__metadata__"];
    assert_eq!(meta["weightgen.seed"], "42");
    assert_eq!(meta["weightgen.stream"], "weightgen-3");
    assert_eq!(meta["model"], "mlp-784-256-10");
    for (name, shape) in [
        ("0.weight", vec![256, 784]),
        ("0.bias", vec![256]),
        ("2.weight", vec![10, 256]),
        ("2.bias", vec![10]),
    ] {
        assert_eq!(h[name]["shape"], serde_json::json!(shape), "{name}");
    }
    let zeros = st_data(&bytes, "0.bias");
    assert_eq!(zeros.len(), 256 * 4);
    assert!(zeros.iter().all(|&b| b == 0), "zeros scheme gives zeros");
}

#[test]
fn npz_holds_one_npy_member_per_tensor() {
    let dir = tempdir();
    generate_file(
        dir.path(),
        "w.npz",
        &["a=2x3", "b=4", "--scheme", "normal", "--seed", "1"],
    );
    let path = dir.path().join("w.npz");
    assert_eq!(npz_names(&path), vec!["a.npy", "b.npy"]);
    let a = npz_member(&path, "a");
    assert!(npy_header(&a).contains("'shape': (2, 3)"));
    assert!(npy_header(&npz_member(&path, "b")).contains("'shape': (4,)"));
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempdir();
    let out = dir.path().join("w.npy");
    fs::write(&out, b"precious").unwrap();
    usage_error_in(
        dir.path(),
        &["generate", "a=3x4", "--seed", "1", "-o", "w.npy"],
        &["w.npy", "--force"],
    );
    assert_eq!(fs::read(&out).unwrap(), b"precious");
}

#[test]
fn replaces_an_existing_file_with_force() {
    let dir = tempdir();
    let out = dir.path().join("w.npy");
    fs::write(&out, b"precious").unwrap();
    let o = run(
        dir.path(),
        &["generate", "a=3x4", "--seed", "1", "-o", "w.npy", "--force"],
    );
    assert_ok(&o);
    let fresh = generate_file(tempdir().path(), "w.npy", &["a=3x4", "--seed", "1"]);
    assert_eq!(fs::read(&out).unwrap(), fresh);
    assert_eq!(listing(dir.path()), BTreeSet::from(["w.npy".to_string()]));
}

#[test]
fn existing_output_is_untouched_when_a_forced_run_fails() {
    let dir = tempdir();
    let out = dir.path().join("w.npy");
    fs::write(&out, b"precious").unwrap();
    // Invalid parameter (fails while planning).
    usage_error_in(
        dir.path(),
        &[
            "generate", "a=3x4", "--std", "0.1", "--seed", "1", "-o", "w.npy", "--force",
        ],
        &["--std"],
    );
    // Plan the format cannot hold (fails in the writer's check).
    usage_error_in(
        dir.path(),
        &[
            "generate", "a=3", "b=3", "--scheme", "zeros", "--seed", "1", "-o", "w.npy", "--force",
        ],
        &[".npz"],
    );
    assert_eq!(fs::read(&out).unwrap(), b"precious");
}

#[test]
fn missing_parent_directory_is_a_usage_error() {
    let dir = tempdir();
    usage_error_in(
        dir.path(),
        &["generate", "a=3x4", "--seed", "1", "-o", "nodir/w.npy"],
        &["nodir", "does not exist"],
    );
    assert!(!dir.path().join("nodir").exists());
}

#[test]
fn directory_as_output_is_a_usage_error() {
    let dir = tempdir();
    fs::create_dir(dir.path().join("d.npy")).unwrap();
    usage_error_in(
        dir.path(),
        &["generate", "a=3x4", "--seed", "1", "-o", "d.npy"],
        &["d.npy", "directory"],
    );
    usage_error_in(
        dir.path(),
        &["generate", "a=3x4", "--seed", "1", "-o", "d.npy", "--force"],
        &["d.npy", "directory"],
    );
    assert!(dir.path().join("d.npy").is_dir());
    assert!(listing(&dir.path().join("d.npy")).is_empty());
}

#[test]
fn output_without_a_known_extension_needs_format() {
    let dir = tempdir();
    usage_error_in(
        dir.path(),
        &["generate", "a=3x4", "--seed", "1", "-o", "w.bin"],
        &["w.bin", "--format"],
    );
    let with_format = generate_file(
        dir.path(),
        "w.bin",
        &["a=3x4", "--seed", "1", "--format", "npy"],
    );
    let by_extension = generate_file(dir.path(), "w.npy", &["a=3x4", "--seed", "1"]);
    assert_eq!(with_format, by_extension);
}

#[test]
fn writes_npy_and_safetensors_to_stdout() {
    let dir = tempdir();
    for (format, file) in [("npy", "w.npy"), ("safetensors", "w.safetensors")] {
        let o = run(
            dir.path(),
            &[
                "generate", "a=3x4", "--seed", "1", "-o", "-", "--format", format,
            ],
        );
        assert_ok(&o);
        assert!(o.stderr.is_empty(), "stderr: {}", stderr_of(&o));
        let file_bytes = generate_file(dir.path(), file, &["a=3x4", "--seed", "1"]);
        assert_eq!(o.stdout, file_bytes, "{format} on stdout equals the file");
    }
}

#[test]
fn stdout_without_format_is_a_usage_error() {
    usage_error(
        &["generate", "a=3x4", "--seed", "1", "-o", "-"],
        &["stdout", "--format"],
    );
}

#[test]
fn refuses_npz_on_stdout() {
    usage_error(
        &[
            "generate", "a=3x4", "--seed", "1", "-o", "-", "--format", "npz",
        ],
        &[".npz", "stdout"],
    );
}

#[test]
fn writes_into_a_fifo_instead_of_replacing_it() {
    let dir = tempdir();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let (tx, rx) = mpsc::channel();
    let reader_path = fifo.clone();
    thread::spawn(move || {
        let _ = tx.send(fs::read(&reader_path));
    });
    // No --force: a FIFO is written into, not treated as an existing file.
    let o = run_with_deadline(
        dir.path(),
        &[
            "generate", "a=3x4", "--seed", "1", "-o", "fifo", "--format", "npy",
        ],
    );
    assert_ok(&o);
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the FIFO reader finished")
        .expect("read the FIFO");
    let regular = generate_file(dir.path(), "regular.npy", &["a=3x4", "--seed", "1"]);
    assert_eq!(got, regular);
    assert!(is_fifo(&fifo), "the FIFO is still a FIFO");
    assert_eq!(
        listing(dir.path()),
        BTreeSet::from(["fifo".to_string(), "regular.npy".to_string()])
    );
}

#[test]
fn refuses_npz_into_a_fifo() {
    let dir = tempdir();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let o = run_with_deadline(
        dir.path(),
        &[
            "generate", "a=3x4", "--seed", "1", "-o", "fifo", "--format", "npz",
        ],
    );
    assert_error(&o, 2, &["fifo", ".npz"]);
    assert!(is_fifo(&fifo));
    assert_eq!(listing(dir.path()), BTreeSet::from(["fifo".to_string()]));
}

#[test]
fn write_failure_exits_with_code_1_on_one_line() {
    let dir = tempdir();
    let o = run_with_closed_stdout(
        dir.path(),
        &[
            "generate", "a=3x4", "--seed", "1", "-o", "-", "--format", "npy",
        ],
    );
    assert_error(&o, 1, &["writing <stdout>"]);
}

#[test]
fn io_error_names_the_os_error_once() {
    let dir = tempdir();
    let o = run_with_closed_stdout(
        dir.path(),
        &[
            "generate", "a=3x4", "--seed", "1", "-o", "-", "--format", "npy",
        ],
    );
    let line = assert_error(&o, 1, &["writing <stdout>"]);
    assert_eq!(line.matches("os error").count(), 1, "{line}");
}

/// A closed stdout must not make the binary panic: it either exits quietly or reports one
/// `weightgen: error:` line with exit code 1.
#[track_caller]
fn assert_survives_closed_stdout(args: &[&str]) {
    let dir = tempdir();
    let o = run_with_closed_stdout(dir.path(), args);
    assert_no_panic(&o);
    if !o.status.success() {
        assert_error(&o, 1, &[]);
    }
}

#[test]
fn text_output_to_a_closed_stdout_never_panics() {
    for args in [
        &["schemes"][..],
        &["schemes", "--json"],
        &["completions", "bash"],
        &["man"],
        &["generate", "a=3x4", "--seed", "1", "--dry-run"],
        &["generate", "a=3x4", "--seed", "1", "--dry-run", "--json"],
        &["generate", "a=3x4", "--seed", "1", "-o", "w.npy", "--json"],
    ] {
        assert_survives_closed_stdout(args);
    }
}

// ---------------------------------------------------------------------------------------------
// --json, --dry-run, seeds
// ---------------------------------------------------------------------------------------------

#[test]
fn json_summary_describes_every_tensor() {
    let dir = tempdir();
    let s = json_summary(
        dir.path(),
        &[
            "a=3x4",
            "b=5",
            "--scheme",
            "normal",
            "--std",
            "0.5",
            "--seed",
            "7",
            "-o",
            "w.safetensors",
        ],
    );
    assert_eq!(s["seed"], 7);
    assert_eq!(s["stream"], "weightgen-3");
    assert_eq!(s["format"], "safetensors");
    assert_eq!(s["convention"], "torch");
    assert_eq!(s["dry_run"], false);
    assert_eq!(s["outputs"], serde_json::json!(["w.safetensors"]));
    assert_eq!(s["total_bytes"], (12 + 5) * 4);
    assert_eq!(s["tensors"].as_array().unwrap().len(), 2);
    let a = tensor(&s, "a");
    assert_eq!(a["shape"], serde_json::json!([3, 4]));
    assert_eq!(a["dtype"], "f32");
    assert_eq!(a["scheme"], "normal");
    assert!(a["params"].is_object());
    assert_eq!(a["distribution"]["kind"], "normal");
    assert_eq!(a["distribution"]["std"], 0.5);
    assert_eq!(a["distribution"]["mean"], 0.0);
    assert_eq!(a["numel"], 12);
    assert_eq!(a["bytes"], 48);
    let b = tensor(&s, "b");
    assert_eq!(b["shape"], serde_json::json!([5]));
    assert_eq!(b["numel"], 5);
    for t in [a, b] {
        let h = t["sha256"].as_str().expect("sha256 present");
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

#[test]
fn json_sha256_matches_the_npy_data_bytes() {
    let dir = tempdir();
    for dtype in ["f32", "f64", "f16"] {
        let file = format!("w-{dtype}.npy");
        let s = json_summary(
            dir.path(),
            &["a=5x6", "--seed", "3", "--dtype", dtype, "-o", &file],
        );
        let bytes = fs::read(dir.path().join(&file)).unwrap();
        assert_eq!(
            tensor(&s, "a")["sha256"].as_str().unwrap(),
            sha256_hex(npy_data(&bytes)),
            "{dtype}"
        );
        assert_eq!(tensor(&s, "a")["dtype"], dtype);
    }
}

#[test]
fn json_sha256_matches_each_tensor_in_safetensors_and_npz() {
    let dir = tempdir();
    let args = [
        "a=5x6", "b=7", "c=2x2x3", "--scheme", "uniform", "--seed", "3",
    ];
    let mut st_args = args.to_vec();
    st_args.extend_from_slice(&["-o", "w.safetensors"]);
    let s = json_summary(dir.path(), &st_args);
    let bytes = fs::read(dir.path().join("w.safetensors")).unwrap();
    let mut npz_args = args.to_vec();
    npz_args.extend_from_slice(&["-o", "w.npz"]);
    let z = json_summary(dir.path(), &npz_args);
    for name in ["a", "b", "c"] {
        let want = sha256_hex(st_data(&bytes, name));
        assert_eq!(tensor(&s, name)["sha256"].as_str().unwrap(), want, "{name}");
        let member = npz_member(&dir.path().join("w.npz"), name);
        assert_eq!(sha256_hex(npy_data(&member)), want, "{name} in npz");
        assert_eq!(tensor(&z, name)["sha256"].as_str().unwrap(), want, "{name}");
    }
}

#[test]
fn json_summary_goes_to_stderr_when_output_is_stdout() {
    let dir = tempdir();
    let o = run(
        dir.path(),
        &[
            "generate", "a=3x4", "--seed", "1", "-o", "-", "--format", "npy", "--json",
        ],
    );
    assert_ok(&o);
    let s: Value = serde_json::from_slice(&o.stderr).expect("summary on stderr is JSON");
    assert_eq!(s["outputs"], serde_json::json!(["<stdout>"]));
    assert_eq!(
        tensor(&s, "a")["sha256"].as_str().unwrap(),
        sha256_hex(npy_data(&o.stdout))
    );
    let file = generate_file(dir.path(), "w.npy", &["a=3x4", "--seed", "1"]);
    assert_eq!(o.stdout, file, "stdout holds only the .npy bytes");
}

#[test]
fn dry_run_prints_a_table_and_writes_nothing() {
    let dir = tempdir();
    let o = run(
        dir.path(),
        &[
            "generate",
            "fc1.weight=3x4",
            "--seed",
            "9",
            "--dry-run",
            "-o",
            "w.npy",
        ],
    );
    assert_ok(&o);
    let table = stdout_text(&o);
    for word in [
        "seed 9",
        "fc1.weight",
        "[3, 4]",
        "f32",
        "xavier_uniform",
        "48",
    ] {
        assert!(table.contains(word), "table lacks `{word}`:\n{table}");
    }
    assert!(!dir.path().join("w.npy").exists());
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn dry_run_json_has_no_hashes_and_writes_nothing() {
    let dir = tempdir();
    let s = json_summary(
        dir.path(),
        &[
            "a=3x4",
            "b=2x2",
            "--seed",
            "9",
            "--dry-run",
            "-o",
            "w.safetensors",
        ],
    );
    assert_eq!(s["dry_run"], true);
    assert_eq!(s["seed"], 9);
    assert_eq!(s["outputs"], serde_json::json!(["w.safetensors"]));
    for t in s["tensors"].as_array().unwrap() {
        assert!(t.get("sha256").is_none(), "no sha256 in a dry run: {t}");
    }
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn dry_run_does_not_need_an_output() {
    let dir = tempdir();
    let s = json_summary(dir.path(), &["a=3x4", "--seed", "9", "--dry-run"]);
    assert_eq!(s["dry_run"], true);
    assert_eq!(s["outputs"], serde_json::json!([]));
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn dry_run_still_rejects_what_the_format_cannot_hold() {
    usage_error(
        &[
            "generate",
            "a=3",
            "b=3",
            "--scheme",
            "zeros",
            "--seed",
            "1",
            "--dry-run",
            "-o",
            "w.npy",
        ],
        &[".npy", ".npz", ".safetensors"],
    );
}

#[test]
fn drawn_seed_is_printed_recorded_and_reproduces_the_bytes() {
    let dir = tempdir();
    let o = run(
        dir.path(),
        &["generate", "a=4x5", "-o", "drawn.safetensors"],
    );
    assert_ok(&o);
    let seed = drawn_seed(&o);
    let drawn = fs::read(dir.path().join("drawn.safetensors")).unwrap();
    let (h, _) = st_header(&drawn);
    assert_eq!(h["__metadata__"]["weightgen.seed"], seed.to_string());
    let again = generate_file(
        dir.path(),
        "again.safetensors",
        &["a=4x5", "--seed", &seed.to_string()],
    );
    assert_eq!(drawn, again);
}

#[test]
fn drawn_seed_is_in_the_json_summary() {
    let dir = tempdir();
    let o = run(dir.path(), &["generate", "a=4x5", "-o", "a.npy", "--json"]);
    assert_ok(&o);
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["seed"].as_u64().unwrap(), drawn_seed(&o));
}

#[test]
fn quiet_prints_nothing_on_success() {
    let dir = tempdir();
    let o = run(dir.path(), &["generate", "a=4x5", "-o", "a.npy", "-q"]);
    assert_ok(&o);
    assert!(o.stderr.is_empty(), "stderr: {}", stderr_of(&o));
    assert!(o.stdout.is_empty());
    assert!(dir.path().join("a.npy").is_file());
}

#[test]
fn largest_seed_is_accepted() {
    let dir = tempdir();
    let s = json_summary(
        dir.path(),
        &["a=2x2", "--seed", "18446744073709551615", "-o", "a.npy"],
    );
    assert_eq!(s["seed"].as_u64(), Some(u64::MAX));
}

// ---------------------------------------------------------------------------------------------
// Spec files and precedence
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_from_file_and_from_stdin_give_identical_bytes() {
    let dir = tempdir();
    let spec = fixture("specs/mlp.json");
    let from_file = generate_file(
        dir.path(),
        "file.safetensors",
        &["--spec", spec.to_str().unwrap()],
    );
    let o = run_stdin(
        dir.path(),
        &["generate", "--spec", "-", "-o", "stdin.safetensors"],
        &fs::read(&spec).unwrap(),
    );
    assert_ok(&o);
    assert_eq!(
        fs::read(dir.path().join("stdin.safetensors")).unwrap(),
        from_file
    );
}

#[test]
fn flags_override_the_spec_top_level_and_tensor_values_win() {
    let dir = tempdir();
    fs::write(
        dir.path().join("spec.json"),
        r#"{"gain": 2, "tensors": [
            {"name": "a", "shape": [3, 3]},
            {"name": "b", "shape": [3, 3], "gain": 4}
        ]}"#,
    )
    .unwrap();
    let s = json_summary(
        dir.path(),
        &["--spec", "spec.json", "--seed", "1", "--dry-run"],
    );
    assert_eq!(tensor(&s, "a")["params"]["gain"], 2.0);
    assert_eq!(tensor(&s, "b")["params"]["gain"], 4.0);
    let s = json_summary(
        dir.path(),
        &[
            "--spec",
            "spec.json",
            "--gain",
            "3",
            "--seed",
            "1",
            "--dry-run",
        ],
    );
    assert_eq!(tensor(&s, "a")["params"]["gain"], 3.0);
    assert_eq!(tensor(&s, "b")["params"]["gain"], 4.0);
}

#[test]
fn flags_override_the_spec_seed_dtype_and_scheme() {
    let dir = tempdir();
    let spec = fixture("specs/mlp.json");
    let s = json_summary(
        dir.path(),
        &[
            "--spec",
            spec.to_str().unwrap(),
            "--seed",
            "7",
            "--dtype",
            "f64",
            "--scheme",
            "lecun_uniform",
            "--dry-run",
        ],
    );
    assert_eq!(s["seed"], 7);
    for t in s["tensors"].as_array().unwrap() {
        assert_eq!(t["dtype"], "f64", "{t}");
    }
    // The top-level scheme is overridden; schemes named on a tensor win.
    assert_eq!(tensor(&s, "2.weight")["scheme"], "lecun_uniform");
    assert_eq!(tensor(&s, "0.weight")["scheme"], "kaiming_uniform");
    assert_eq!(tensor(&s, "0.bias")["scheme"], "zeros");
}

#[test]
fn positional_tensors_are_added_to_the_spec_tensors() {
    let dir = tempdir();
    let spec = fixture("specs/mlp.json");
    let s = json_summary(
        dir.path(),
        &["--spec", spec.to_str().unwrap(), "extra=2x3", "--dry-run"],
    );
    let names: Vec<&str> = s["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias", "extra"]);
    assert_eq!(s["seed"], 42, "the spec's seed is used without --seed");
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn same_seed_gives_identical_bytes_in_every_format() {
    let one = tempdir();
    let two = tempdir();
    let args = [
        "a=4x5",
        "b=6",
        "--scheme",
        "truncated_normal",
        "--seed",
        "11",
    ];
    for (file, extra) in [
        ("w.safetensors", None),
        ("w.npz", None),
        ("c.npz", Some("--compress")),
    ] {
        let mut a = args.to_vec();
        a.extend(extra);
        let x = generate_file(one.path(), file, &a);
        let y = generate_file(two.path(), file, &a);
        assert_eq!(x, y, "{file}");
    }
    let x = generate_file(one.path(), "a.npy", &["a=4x5", "--seed", "11"]);
    let y = generate_file(two.path(), "a.npy", &["a=4x5", "--seed", "11"]);
    assert_eq!(x, y);
}

#[test]
fn different_seeds_give_different_values() {
    let dir = tempdir();
    let x = generate_file(dir.path(), "x.npy", &["a=4x5", "--seed", "1"]);
    let y = generate_file(dir.path(), "y.npy", &["a=4x5", "--seed", "2"]);
    assert_eq!(x.len(), y.len());
    assert_ne!(npy_data(&x), npy_data(&y));
}

#[test]
fn tensor_bytes_do_not_depend_on_other_tensors_or_their_order() {
    let dir = tempdir();
    let common = ["--scheme", "normal", "--seed", "5"];
    let with = |tensors: &[&str], file: &str| {
        let mut a = tensors.to_vec();
        a.extend_from_slice(&common);
        generate_file(dir.path(), file, &a)
    };
    let alone = with(&["a=4x5"], "alone.safetensors");
    let added = with(&["a=4x5", "b=3x3"], "added.safetensors");
    let reordered = with(&["z=2", "b=3x3", "a=4x5"], "reordered.safetensors");
    let reference = st_data(&alone, "a");
    assert_eq!(reference.len(), 80);
    assert_eq!(st_data(&added, "a"), reference);
    assert_eq!(st_data(&reordered, "a"), reference);
    assert_eq!(st_data(&added, "b"), st_data(&reordered, "b"));
}

#[test]
fn tensor_bytes_are_the_same_in_npy_npz_and_safetensors() {
    let dir = tempdir();
    let npy = generate_file(dir.path(), "a.npy", &["a=4x5", "--seed", "5"]);
    let st = generate_file(
        dir.path(),
        "w.safetensors",
        &["b=3x3", "a=4x5", "--seed", "5"],
    );
    generate_file(dir.path(), "w.npz", &["a=4x5", "b=3x3", "--seed", "5"]);
    generate_file(
        dir.path(),
        "c.npz",
        &["b=3x3", "a=4x5", "--seed", "5", "--compress"],
    );
    let data = npy_data(&npy);
    assert_eq!(st_data(&st, "a"), data);
    let member = npz_member(&dir.path().join("w.npz"), "a");
    assert_eq!(member, npy, "the npz member is the .npy file");
    let compressed = npz_member(&dir.path().join("c.npz"), "a");
    assert_eq!(compressed, npy, "compression does not change the member");
}

#[test]
fn f32_values_are_the_f64_values_rounded() {
    let dir = tempdir();
    // std 0.7: the f64 scaling of the (f32-precision) standard normals is not exact in f32.
    let args = [
        "a=8x9", "--scheme", "normal", "--std", "0.7", "--seed", "21",
    ];
    let mut a32 = args.to_vec();
    a32.extend_from_slice(&["--dtype", "f32"]);
    let mut a64 = args.to_vec();
    a64.extend_from_slice(&["--dtype", "f64"]);
    let x32 = generate_file(dir.path(), "f32.npy", &a32);
    let x64 = generate_file(dir.path(), "f64.npy", &a64);
    assert!(npy_header(&x64).contains("'<f8'"));
    let v32 = f32s(npy_data(&x32));
    let v64 = f64s(npy_data(&x64));
    assert_eq!(v32.len(), 72);
    assert_eq!(v64.len(), 72);
    assert_ne!(npy_data(&x32), npy_data(&x64));
    for (i, (a, b)) in v32.iter().zip(&v64).enumerate() {
        assert_eq!(
            a.to_bits(),
            (*b as f32).to_bits(),
            "element {i}: {a} vs {b}"
        );
    }
    // f64 values are not all exactly representable in f32 (they are not just widened f32s).
    assert!(v64.iter().any(|&b| f64::from(b as f32) != b));
}

#[test]
fn f16_and_bf16_values_are_the_f32_values_rounded() {
    let dir = tempdir();
    let args = ["a=8x9", "--scheme", "normal", "--seed", "21"];
    let x32 = generate_file(dir.path(), "f32.safetensors", &args);
    let mut a16 = args.to_vec();
    a16.extend_from_slice(&["--dtype", "f16"]);
    let x16 = generate_file(dir.path(), "f16.npy", &a16);
    assert!(npy_header(&x16).contains("'<f2'"));
    let mut abf = args.to_vec();
    abf.extend_from_slice(&["--dtype", "bf16"]);
    let xbf = generate_file(dir.path(), "bf16.safetensors", &abf);
    assert_eq!(st_header(&xbf).0["a"]["dtype"], "BF16");

    let v32 = f32s(st_data(&x32, "a"));
    let v16 = u16s(npy_data(&x16));
    let vbf = u16s(st_data(&xbf, "a"));
    assert_eq!(v32.len(), 72);
    for (i, x) in v32.iter().enumerate() {
        assert_eq!(v16[i], half::f16::from_f32(*x).to_bits(), "f16 element {i}");
        assert_eq!(
            vbf[i],
            half::bf16::from_f32(*x).to_bits(),
            "bf16 element {i}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input: one test per class
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_json_reports_line_and_column() {
    spec_error(
        "{\n  \"seed\": 1,\n}",
        &[],
        &["spec.json", "line 3", "column 1"],
    );
}

#[test]
fn malformed_json_on_stdin_reports_line_and_column() {
    let dir = tempdir();
    let o = run_stdin(
        dir.path(),
        &["generate", "--spec", "-", "-o", "w.safetensors"],
        b"{\"tensors\": [\n  {\"name\": \"a\" \"shape\": [3]}\n]}",
    );
    assert_error(&o, 2, &["stdin", "line 2", "column"]);
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn unknown_spec_key_is_named_with_its_path() {
    spec_error(
        r#"{"tensors": [{"name": "a", "shape": [1]}, {"name": "b", "shpae": [2]}]}"#,
        &[],
        &["tensors[1].shpae", "unknown key", "shape"],
    );
}

#[test]
fn unknown_top_level_spec_key_is_named() {
    spec_error(
        r#"{"sead": 1, "tensors": [{"name": "a", "shape": [1]}]}"#,
        &[],
        &["sead", "unknown key"],
    );
}

#[test]
fn shape_given_as_a_string_is_a_type_error() {
    spec_error(
        r#"{"tensors": [{"name": "a", "shape": "3x3"}]}"#,
        &[],
        &["tensors[0].shape", "array"],
    );
}

#[test]
fn std_given_as_a_string_is_a_type_error() {
    spec_error(
        r#"{"tensors": [{"name": "a", "shape": [3, 3], "scheme": "normal", "std": "big"}]}"#,
        &[],
        &["tensors[0].std", "number"],
    );
}

#[test]
fn negative_dimension_in_json_is_rejected() {
    spec_error(
        r#"{"tensors": [{"name": "a", "shape": [3, -1]}]}"#,
        &[],
        &["tensors[0].shape[1]", "-1"],
    );
}

#[test]
fn negative_dimension_on_the_command_line_is_rejected() {
    usage_error(
        &["generate", "a=3x-1", "--seed", "1", "-o", "w.npy"],
        &["a=3x-1", "-1", "negative"],
    );
}

#[test]
fn non_numeric_dimension_is_rejected() {
    usage_error(
        &["generate", "a=3xq", "--seed", "1", "-o", "w.npy"],
        &["a=3xq", "`q`"],
    );
}

#[test]
fn overflowing_dimension_is_rejected() {
    usage_error(
        &[
            "generate",
            "a=99999999999999999999999",
            "--seed",
            "1",
            "-o",
            "w.npy",
        ],
        &["99999999999999999999999", "too large"],
    );
}

#[test]
fn element_count_overflow_is_rejected() {
    usage_error(
        &[
            "generate",
            "a=4294967296x4294967296",
            "--seed",
            "1",
            "-o",
            "w.npy",
        ],
        &["a=4294967296x4294967296", "elements", "64 bits"],
    );
}

#[test]
fn byte_size_overflow_is_rejected() {
    usage_error(
        &[
            "generate",
            "a=4294967296x1073741824",
            "--seed",
            "1",
            "-o",
            "w.npy",
        ],
        &["a=4294967296x1073741824", "bytes", "f32"],
    );
}

#[test]
fn zero_dimension_gives_an_empty_tensor() {
    let dir = tempdir();
    let bytes = generate_file(
        dir.path(),
        "e.npy",
        &["a=0x5", "--scheme", "normal", "--seed", "1"],
    );
    assert!(npy_header(&bytes).contains("'shape': (0, 5)"));
    assert!(npy_data(&bytes).is_empty());
    let s = json_summary(
        dir.path(),
        &[
            "a=0x5",
            "--scheme",
            "normal",
            "--seed",
            "1",
            "-o",
            "e.safetensors",
        ],
    );
    assert_eq!(tensor(&s, "a")["numel"], 0);
    assert_eq!(tensor(&s, "a")["bytes"], 0);
}

#[test]
fn fan_based_scheme_on_a_1d_tensor_is_rejected_under_torch() {
    usage_error(
        &["generate", "b=10", "--seed", "1", "-o", "b.npy"],
        &["`b`", "fan", "fan_in", "keras"],
    );
}

#[test]
fn explicit_fans_make_a_1d_tensor_valid_under_torch() {
    let dir = tempdir();
    let s = json_summary(
        dir.path(),
        &[
            "b=10",
            "--fan-in",
            "10",
            "--fan-out",
            "10",
            "--seed",
            "1",
            "-o",
            "b.npy",
        ],
    );
    let p = &tensor(&s, "b")["params"];
    assert_eq!(
        (p["fan_in"].as_u64(), p["fan_out"].as_u64()),
        (Some(10), Some(10))
    );
    // xavier_uniform, gain 1: bound = sqrt(6 / 20).
    let bound = p["bound"].as_f64().unwrap();
    assert!((bound - (6.0f64 / 20.0).sqrt()).abs() < 1e-12, "{bound}");
    let values = f32s(npy_data(&fs::read(dir.path().join("b.npy")).unwrap()));
    assert_eq!(values.len(), 10);
    assert!(values.iter().all(|v| f64::from(v.abs()) <= bound));
}

#[test]
fn keras_convention_gives_a_1d_tensor_fans() {
    let dir = tempdir();
    let s = json_summary(
        dir.path(),
        &[
            "b=10",
            "--convention",
            "keras",
            "--seed",
            "1",
            "-o",
            "b.npy",
        ],
    );
    assert_eq!(s["convention"], "keras");
    let p = &tensor(&s, "b")["params"];
    assert_eq!(
        (p["fan_in"].as_u64(), p["fan_out"].as_u64()),
        (Some(10), Some(10))
    );
    assert!(dir.path().join("b.npy").is_file());
}

#[test]
/// A zero fan on an *empty* tensor is not an error: nothing is drawn (PyTorch's kaiming_* are a
/// no-op on zero-element tensors too). With elements it is (see the next test).
fn zero_fan_on_an_empty_tensor_writes_an_empty_tensor() {
    let dir = tempdir();
    let o = run(
        dir.path(),
        &[
            "generate",
            "a=5x0",
            "--scheme",
            "kaiming_uniform",
            "--seed",
            "1",
            "-o",
            "k.npy",
            "--json",
        ],
    );
    assert_ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tensors"][0]["numel"], 0);
    assert_eq!(v["tensors"][0]["params"]["bound"], 0.0);
    let bytes = fs::read(dir.path().join("k.npy")).unwrap();
    assert_eq!(bytes.len() % 64, 0, "header only, no data");
}

#[test]
fn explicit_zero_fan_in_is_rejected() {
    usage_error(
        &[
            "generate",
            "a=5x3",
            "--scheme",
            "kaiming_uniform",
            "--fan-in",
            "0",
            "--seed",
            "1",
            "-o",
            "k.npy",
        ],
        &["`a`", "fan_in", "0"],
    );
}

#[test]
fn nan_std_is_rejected() {
    usage_error(
        &[
            "generate", "a=3x3", "--scheme", "normal", "--std", "nan", "--seed", "1", "-o", "w.npy",
        ],
        &["--std", "finite"],
    );
}

#[test]
fn infinite_gain_is_rejected() {
    usage_error(
        &[
            "generate", "a=3x3", "--gain", "inf", "--seed", "1", "-o", "w.npy",
        ],
        &["--gain", "finite"],
    );
}

#[test]
fn negative_std_is_rejected() {
    usage_error(
        &[
            "generate", "a=3x3", "--scheme", "normal", "--std", "-1", "--seed", "1", "-o", "w.npy",
        ],
        &["--std", "-1"],
    );
}

#[test]
fn negative_gain_is_rejected() {
    usage_error(
        &[
            "generate", "a=3x3", "--gain", "-0.5", "--seed", "1", "-o", "w.npy",
        ],
        &["--gain", "-0.5"],
    );
}

#[test]
fn negative_tensor_level_std_in_json_is_named_with_its_path() {
    spec_error(
        r#"{"tensors": [{"name": "a", "shape": [3, 3], "scheme": "normal", "std": -2}]}"#,
        &[],
        &["tensors[0].std", "-2"],
    );
}

#[test]
fn low_above_high_is_rejected() {
    usage_error(
        &[
            "generate", "a=3x3", "--scheme", "uniform", "--low", "1", "--high", "0", "--seed", "1",
            "-o", "w.npy",
        ],
        &["--low", "high"],
    );
}

#[test]
fn sparsity_outside_the_unit_interval_is_rejected() {
    usage_error(
        &[
            "generate",
            "a=3x3",
            "--sparsity",
            "2",
            "--seed",
            "1",
            "-o",
            "w.npy",
        ],
        &["sparsity"],
    );
}

#[test]
fn unknown_scheme_lists_the_valid_ones() {
    usage_error(
        &[
            "generate", "a=3x3", "--scheme", "glorot", "--seed", "1", "-o", "w.npy",
        ],
        &["--scheme", "glorot", "xavier_uniform", "kaiming_normal"],
    );
}

#[test]
fn unknown_nonlinearity_lists_the_valid_ones() {
    usage_error(
        &[
            "generate",
            "a=3x3",
            "--nonlinearity",
            "gelu",
            "--seed",
            "1",
            "-o",
            "w.npy",
        ],
        &["--nonlinearity", "gelu", "leaky_relu"],
    );
}

#[test]
fn unknown_dtype_lists_the_valid_ones() {
    usage_error(
        &[
            "generate", "a=3x3", "--dtype", "f8", "--seed", "1", "-o", "w.npy",
        ],
        &["--dtype", "f8", "bf16"],
    );
}

#[test]
fn unknown_dtype_in_json_is_named_with_its_path() {
    spec_error(
        r#"{"tensors": [{"name": "a", "shape": [3, 3], "dtype": "int8"}]}"#,
        &[],
        &["tensors[0].dtype", "int8", "bf16"],
    );
}

#[test]
fn unknown_format_lists_the_valid_ones() {
    usage_error(
        &[
            "generate", "a=3x3", "--format", "h5", "--seed", "1", "-o", "w.npy",
        ],
        &["--format", "h5", "safetensors"],
    );
}

#[test]
fn unknown_convention_lists_the_valid_ones() {
    usage_error(
        &[
            "generate",
            "a=3x3",
            "--convention",
            "flax",
            "--seed",
            "1",
            "-o",
            "w.npy",
        ],
        &["--convention", "flax", "keras"],
    );
}

#[test]
fn duplicate_tensor_names_are_rejected() {
    usage_error(
        &[
            "generate",
            "a=3",
            "a=4",
            "--scheme",
            "zeros",
            "--seed",
            "1",
            "-o",
            "w.safetensors",
        ],
        &["duplicate", "`a`"],
    );
}

#[test]
fn empty_tensor_name_is_rejected() {
    usage_error(
        &["generate", "=3x3", "--seed", "1", "-o", "w.npy"],
        &["`=3x3`", "empty"],
    );
}

#[test]
fn reserved_metadata_name_is_rejected() {
    usage_error(
        &[
            "generate",
            "__metadata__=3x3",
            "--seed",
            "1",
            "-o",
            "w.safetensors",
        ],
        &["__metadata__", "reserved"],
    );
}

#[test]
fn npy_with_two_tensors_suggests_npz_or_safetensors() {
    usage_error(
        &[
            "generate", "a=3", "b=4", "--scheme", "zeros", "--seed", "1", "-o", "w.npy",
        ],
        &[".npy", ".npz", ".safetensors"],
    );
}

#[test]
fn bf16_to_npy_suggests_safetensors() {
    usage_error(
        &[
            "generate", "a=3x3", "--dtype", "bf16", "--seed", "1", "-o", "w.npy",
        ],
        &["`a`", "bf16", ".safetensors"],
    );
}

#[test]
fn bf16_to_npz_suggests_safetensors() {
    usage_error(
        &[
            "generate", "a=3x3", "--dtype", "bf16", "--seed", "1", "-o", "w.npz",
        ],
        &["`a`", "bf16", ".safetensors"],
    );
}

#[test]
fn flag_parameter_the_scheme_does_not_take_is_rejected() {
    usage_error(
        &[
            "generate", "a=3x3", "--std", "0.1", "--seed", "1", "-o", "w.npy",
        ],
        &["--std", "xavier_uniform"],
    );
}

#[test]
fn tensor_parameter_the_scheme_does_not_take_is_named_with_its_path() {
    spec_error(
        r#"{"tensors": [{"name": "a", "shape": [3, 3], "std": 0.1}]}"#,
        &[],
        &["tensors[0].std", "xavier_uniform"],
    );
}

#[test]
fn unknown_flag_is_reported_on_one_line() {
    usage_error(
        &["generate", "a=3x3", "--sedd", "1", "-o", "w.npy"],
        &["--sedd"],
    );
}

#[test]
fn non_numeric_seed_is_reported_on_one_line() {
    usage_error(
        &["generate", "a=3x3", "--seed", "lots", "-o", "w.npy"],
        &["--seed", "lots"],
    );
}

#[test]
fn missing_output_is_a_usage_error() {
    usage_error(&["generate", "a=3x3", "--seed", "1"], &["required"]);
}

#[test]
fn missing_output_error_names_the_output_flag() {
    usage_error(&["generate", "a=3x3", "--seed", "1"], &["--output"]);
}

#[test]
fn no_tensors_is_a_usage_error() {
    usage_error(&["generate", "--seed", "1", "-o", "w.npy"], &["no tensors"]);
}

#[test]
fn unreadable_spec_file_is_a_usage_error() {
    usage_error(
        &[
            "generate",
            "--spec",
            "missing.json",
            "--seed",
            "1",
            "-o",
            "w.npy",
        ],
        &["missing.json"],
    );
}

#[test]
fn errors_after_drawing_a_seed_are_still_one_line() {
    usage_error(
        &["generate", "a=3", "b=4", "--scheme", "zeros", "-o", "w.npy"],
        &[".npz"],
    );
    usage_error(
        &["generate", "a=3x3", "--dtype", "bf16", "-o", "w.npy"],
        &["bf16"],
    );
    let dir = tempdir();
    fs::write(dir.path().join("w.npy"), b"precious").unwrap();
    usage_error_in(
        dir.path(),
        &["generate", "a=3x3", "-o", "w.npy"],
        &["--force"],
    );
}

#[test]
fn empty_output_path_is_a_usage_error() {
    usage_error(
        &[
            "generate", "a=3x3", "--seed", "1", "--format", "npy", "-o", "",
        ],
        &["output"],
    );
}

// ---------------------------------------------------------------------------------------------
// Other subcommands
// ---------------------------------------------------------------------------------------------

fn scheme_names_from_json() -> Vec<String> {
    let o = run(tempdir().path(), &["schemes", "--json"]);
    assert_ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).expect("schemes --json is JSON");
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect()
}

#[test]
fn schemes_json_lists_every_scheme_with_aliases_params_and_formula() {
    let dir = tempdir();
    let o = run(dir.path(), &["schemes", "--json"]);
    assert_ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let schemes = v.as_array().expect("array");
    for s in schemes {
        assert!(s["name"].is_string(), "{s}");
        assert!(s["aliases"].is_array(), "{s}");
        assert!(s["params"].is_array(), "{s}");
        assert!(!s["formula"].as_str().expect("formula").is_empty(), "{s}");
    }
    // The list matches the one an unknown scheme's error offers.
    let line = usage_error(
        &[
            "generate", "a=3x3", "--scheme", "nope", "--seed", "1", "-o", "w.npy",
        ],
        &["valid: "],
    );
    let listed = line
        .split("valid: ")
        .nth(1)
        .unwrap()
        .split("; aliases: ")
        .next()
        .unwrap()
        .split(", ")
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert_eq!(scheme_names_from_json(), listed);
    let xavier = schemes
        .iter()
        .find(|s| s["name"] == "xavier_uniform")
        .expect("xavier_uniform");
    assert!(
        xavier["aliases"]
            .as_array()
            .unwrap()
            .contains(&Value::from("glorot_uniform"))
    );
    let params: Vec<&str> = xavier["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(params.contains(&"gain"), "{params:?}");
}

#[test]
fn scheme_aliases_are_accepted() {
    let dir = tempdir();
    let s = json_summary(
        dir.path(),
        &[
            "a=3x3",
            "--scheme",
            "glorot_uniform",
            "--seed",
            "1",
            "--dry-run",
        ],
    );
    assert_eq!(tensor(&s, "a")["scheme"], "xavier_uniform");
}

#[test]
fn schemes_text_lists_every_scheme() {
    let dir = tempdir();
    let o = run(dir.path(), &["schemes"]);
    assert_ok(&o);
    let text = stdout_text(&o);
    let names = scheme_names_from_json();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            text.lines().any(|l| l.starts_with(&name)),
            "`{name}` not listed:\n{text}"
        );
    }
}

#[test]
fn completions_mention_generate_for_bash_zsh_and_fish() {
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish"] {
        let o = run(dir.path(), &["completions", shell]);
        assert_ok(&o);
        let text = stdout_text(&o);
        assert!(!text.is_empty(), "{shell}");
        assert!(
            text.contains("generate"),
            "{shell} completion lacks generate"
        );
    }
}

#[test]
fn unknown_completion_shell_is_a_usage_error() {
    usage_error(&["completions", "tcsh"], &["tcsh"]);
}

#[test]
fn man_page_is_roff_and_mentions_generate() {
    let dir = tempdir();
    let o = run(dir.path(), &["man"]);
    assert_ok(&o);
    let text = stdout_text(&o);
    assert!(
        text.starts_with(".TH") || text.starts_with(".ie"),
        "not roff: {}",
        &text[..text.len().min(80)]
    );
    assert!(text.contains(".TH"));
    assert!(text.contains("generate"));
}

#[test]
fn help_and_version_succeed() {
    let dir = tempdir();
    let o = run(dir.path(), &["--version"]);
    assert_ok(&o);
    assert!(stdout_text(&o).contains(env!("CARGO_PKG_VERSION")));
    let o = run(dir.path(), &["generate", "--help"]);
    assert_ok(&o);
    let help = stdout_text(&o);
    assert!(
        help.contains("--output") && help.contains("--seed"),
        "{help}"
    );
}

#[test]
fn no_fsync_changes_nothing_but_durability() {
    let dir = tempdir();
    let args = &["a=300x700"][..];
    for name in ["s.safetensors", "s.npy", "s.npz"] {
        let synced = generate_file(dir.path(), name, &[args, &["--seed", "3"]].concat());
        fs::remove_file(dir.path().join(name)).unwrap();
        let fast = generate_file(
            dir.path(),
            name,
            &[args, &["--seed", "3", "--no-fsync"]].concat(),
        );
        assert!(synced == fast, "{name}: --no-fsync changed the bytes");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }
}
