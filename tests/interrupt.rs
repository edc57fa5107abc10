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
    // Wait until the process has its temp file open (an anonymous one, which /proc shows as
    // `DIR/#INODE (deleted)`, or a named one), i.e. the write is under way.
    let start = Instant::now();
    let real_dir = std::fs::canonicalize(dir.path()).unwrap();
    let writing = || {
        std::fs::read_dir(format!("/proc/{}/fd", child.id()))
            .map(|fds| {
                fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .any(|t| t.starts_with(&real_dir) && t != real_dir)
            })
            .unwrap_or(false)
    };
    while !writing() && start.elapsed() < Duration::from_secs(20) {
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
