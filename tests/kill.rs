//! SIGKILL in the middle of a write leaves nothing behind: no temp file beside a new file, an
//! existing file untouched under --force, nothing in a checkpoint directory. Where the
//! filesystem has no anonymous temp files (forced here with WEIGHTGEN_TEST_NAMED_TEMP=1), a
//! killed run leaves a named temp file that the next run removes, while a live run's temp file
//! is never removed.

mod common;
use common::cli::{command, ok};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Every file under `dir` (recursively) with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel.join(""), Vec::new());
                walk(root, &p, out);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// True once process `pid` holds an open file under `dir` (a named temp file, or an anonymous
/// one, which /proc shows as `DIR/#INODE (deleted)`): the write is under way.
fn writing_into(pid: u32, dir: &Path) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .any(|target| target.starts_with(dir) && target != dir)
}

fn spawn(dir: &Path, args: &[&str], named_temp: bool) -> Child {
    let mut c = command(dir, args);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    if named_temp {
        c.env("WEIGHTGEN_TEST_NAMED_TEMP", "1");
    }
    c.spawn().unwrap()
}

/// Start `args`, wait until it writes into `watch`, let it run `delay`, SIGKILL it. True when
/// the kill landed mid-write (the process was still running and died of SIGKILL).
fn kill_mid_write(dir: &Path, watch: &Path, args: &[&str], delay: Duration, named: bool) -> bool {
    let mut child = spawn(dir, args, named);
    let start = Instant::now();
    while !writing_into(child.id(), watch) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the write never started"
        );
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    running && status.signal() == Some(libc::SIGKILL)
}

/// Big enough (1 GiB, fsynced) that a kill within a second lands mid-write.
const BIG: [&str; 6] = [
    "generate",
    "w=16000x16000",
    "--scheme",
    "normal",
    "--seed",
    "1",
];

#[test]
fn sigkill_mid_write_leaves_the_directory_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fs::canonicalize(tmp.path()).unwrap();
    fs::write(dir.join("keep.txt"), b"unrelated").unwrap();
    fs::write(dir.join("old.safetensors"), b"precious").unwrap();
    fs::create_dir(dir.join("ckpt")).unwrap();
    let before = snapshot(&dir);

    let new_file: Vec<&str> = BIG
        .iter()
        .copied()
        .chain(["-o", "new.safetensors"])
        .collect();
    let replace: Vec<&str> = BIG
        .iter()
        .copied()
        .chain(["-o", "old.safetensors", "--force"])
        .collect();
    let checkpoint = [
        "generate",
        "a=8000x8000",
        "b=8000x8000",
        "c=8000x8000",
        "d=8000x8000",
        "--scheme",
        "normal",
        "--seed",
        "1",
        "--max-shard-size",
        "300MB",
        "-o",
        "ckpt/",
    ];
    let cases: [(&[&str], &Path); 3] = [
        (&new_file, &dir),
        (&replace, &dir),
        (&checkpoint, &dir.join("ckpt")),
    ];
    let delays = [0u64, 20, 80, 200, 400, 700];
    let mut killed = 0;
    for (round, &ms) in delays.iter().enumerate() {
        let (args, watch) = cases[round % cases.len()];
        if kill_mid_write(&dir, watch, args, Duration::from_millis(ms), false) {
            killed += 1;
        }
        let after = snapshot(&dir);
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>(),
            "round {round} ({args:?}, killed after {ms} ms) left files behind"
        );
        assert!(after == before, "round {round}: a file's contents changed");
    }
    assert!(killed >= 5, "only {killed} of 6 kills landed mid-write");
}

/// The name pattern of our named temp files: `.NAME.weightgen-PID-RANDOM.tmp`.
fn is_our_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.contains(".weightgen-")
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn without_anonymous_temp_files_the_next_run_removes_a_killed_runs_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fs::canonicalize(tmp.path()).unwrap();
    fs::write(dir.join("keep.txt"), b"unrelated").unwrap();
    let args: Vec<&str> = BIG
        .iter()
        .copied()
        .chain(["-o", "new.safetensors"])
        .collect();
    let mut killed = false;
    for ms in [100, 0, 300] {
        killed = kill_mid_write(&dir, &dir, &args, Duration::from_millis(ms), true);
        if killed {
            break;
        }
        let _ = fs::remove_file(dir.join("new.safetensors"));
    }
    assert!(killed, "no kill landed mid-write");
    let left = names(&dir);
    let temps: Vec<&String> = left.iter().filter(|n| is_our_temp(n)).collect();
    assert_eq!(temps.len(), 1, "the killed run's named temp file: {left:?}");
    assert_eq!(left.len(), 2, "{left:?}");

    // A live run's temp file in the same directory: a second writer that is mid-write.
    let live_args: Vec<&str> = BIG
        .iter()
        .copied()
        .chain(["-o", "live.safetensors"])
        .collect();
    let mut live = spawn(&dir, &live_args, true);
    let start = Instant::now();
    while !names(&dir)
        .iter()
        .any(|n| n.starts_with(".live.safetensors."))
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no live temp file"
        );
        assert!(
            live.try_wait().unwrap().is_none(),
            "the live run ended early"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let live_temp: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| n.starts_with(".live.safetensors."))
        .collect();

    // The next run (a small file in the same directory) removes the dead run's temp file and
    // keeps the live one.
    let o = command(
        &dir,
        &["generate", "w=4x4", "--seed", "1", "-q", "-o", "small.npy"],
    )
    .env("WEIGHTGEN_TEST_NAMED_TEMP", "1")
    .output()
    .unwrap();
    ok(&o);
    let now = names(&dir);
    assert!(!now.contains(temps[0]), "stale temp file kept: {now:?}");
    assert!(
        now.contains(&live_temp[0]),
        "a live run's temp file was removed: {now:?}"
    );
    live.kill().unwrap();
    live.wait().unwrap();
}
