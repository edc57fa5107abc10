//! Ctrl-C in the middle of a write: exit 130, one line, nothing left at the destination.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn ctrl_c_during_a_write_leaves_no_file_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.safetensors");
    // 1.6 GB of normals: far longer than the moment we wait before interrupting.
    let child = Command::new(env!("CARGO_BIN_EXE_weightgen"))
        .args([
            "generate",
            "w=20000x20000",
            "--scheme",
            "normal",
            "--seed",
            "1",
            "-o",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the temp file exists, i.e. the write is under way.
    let start = Instant::now();
    loop {
        let n = std::fs::read_dir(dir.path()).unwrap().count();
        if n > 0 || start.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("weightgen: error: interrupted"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
