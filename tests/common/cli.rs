//! Running the real binary from integration tests, and finding the repository's files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_weightgen");
/// What every error line starts with.
pub const PREFIX: &str = "weightgen: error: ";

/// `weightgen ARGS` in `dir`, stdin from /dev/null and no `RUST_BACKTRACE` from the caller's
/// environment (a panic would then print more than its one line).
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    c
}

/// Run `weightgen ARGS` in `dir` with no stdin; stdout and stderr are captured.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("run weightgen")
}

/// Run `weightgen ARGS` in `dir` with `input` on stdin (fed from another thread: the binary
/// may stop reading early on an error, and a broken pipe there is fine).
pub fn run_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = command(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weightgen");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for weightgen");
    feeder.join().expect("stdin feeder");
    out
}

/// The run's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert the run succeeded, showing its stderr if not.
#[track_caller]
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(o)
    );
}

/// A file or folder of the repository (relative to the crate root).
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A file or folder under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    repo("fixtures").join(rel)
}
