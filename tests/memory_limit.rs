//! Memory guards (issue 15 item 1): a run whose estimate is over the memory limit stops before
//! allocating (exit 2, one line naming the need and the limit, nothing written); the limit
//! comes from --memory-limit, else WEIGHTGEN_MEMORY_LIMIT; and an allocation the machine
//! refuses below the limit (here an address-space rlimit) is the same kind of one-line error,
//! never a panic, an abort or a backtrace — before the probe (`memory_limit::probe`) and, through
//! `weightgen::exec::Allocator`, after it (this test binary installs that allocator, as the
//! `weightgen` binary does, and runs itself as the child that allocates past the limit).

mod common;

use common::cli::{PREFIX, command, ok, run, stderr};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

#[global_allocator]
static ALLOC: weightgen::exec::Allocator = weightgen::exec::Allocator;

/// The bytes in `… needs 4.4 GB; …` (decimal units, one decimal).
fn needed(err: &str) -> f64 {
    let after = err.split(" needs ").nth(1).expect("names a need");
    let mut words = after.split([' ', ';', ',']);
    let n: f64 = words.next().unwrap().parse().unwrap();
    let unit = match words.next().unwrap() {
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        u => panic!("unit {u}"),
    };
    n * unit
}

/// A one-line error with exit code 2, no panic or backtrace, and an empty directory.
#[track_caller]
fn refused(o: &Output, dir: &Path) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with(PREFIX) && err.lines().count() == 1, "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        0,
        "something was written"
    );
    assert!(o.stdout.is_empty());
    err
}

/// `weightgen ARGS` in `dir` under an address-space limit of `bytes`.
fn run_under_rlimit(dir: &Path, args: &[&str], bytes: u64) -> Output {
    under_rlimit(command(dir, args), bytes)
}

/// Run `c` under an address-space limit of `bytes`.
fn under_rlimit(mut c: Command, bytes: u64) -> Output {
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().expect("run the child")
}

const ORTHO_4096: [&str; 6] = [
    "generate",
    "w=4096x4096",
    "--scheme",
    "orthogonal",
    "--seed",
    "1",
];

#[test]
fn a_need_over_the_limit_is_refused_naming_need_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let args = [&ORTHO_4096[..], &["-o", "w.npy", "--memory-limit", "100MB"]].concat();
    let err = refused(&run(dir.path(), &args), dir.path());
    assert!(
        err.contains("orthogonal init of `w` (4096×4096 f64 QR) needs "),
        "{err}"
    );
    assert!(
        err.ends_with(
            "; the memory limit is 100.0 MB (set by --memory-limit); raise it with \
             --memory-limit/WEIGHTGEN_MEMORY_LIMIT\n"
        ),
        "{err}"
    );
    // QR holds at least the matrix and Q in f64 at once.
    assert!(needed(&err) >= 2.0 * 8.0 * 4096.0 * 4096.0, "{err}");
}

#[test]
fn the_env_var_sets_the_limit_and_the_flag_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let args = [&ORTHO_4096[..], &["-o", "w.npy"]].concat();
    let mut c = command(dir.path(), &args);
    let o = c.env("WEIGHTGEN_MEMORY_LIMIT", "100MB").output().unwrap();
    let err = refused(&o, dir.path());
    assert!(
        err.contains("the memory limit is 100.0 MB (set by WEIGHTGEN_MEMORY_LIMIT)"),
        "{err}"
    );
    // The flag over the variable, both ways.
    let low = [&args[..], &["--memory-limit", "100MB"]].concat();
    let mut c = command(dir.path(), &low);
    let err = refused(
        &c.env("WEIGHTGEN_MEMORY_LIMIT", "1TB").output().unwrap(),
        dir.path(),
    );
    assert!(err.contains("(set by --memory-limit)"), "{err}");
    let high = [&ORTHO_4096[..], &["--dry-run", "--memory-limit", "1TB"]].concat();
    let mut c = command(dir.path(), &high);
    ok(&c.env("WEIGHTGEN_MEMORY_LIMIT", "100MB").output().unwrap());
    // A bad value in either is a one-line error naming it.
    let mut c = command(dir.path(), &[&ORTHO_4096[..], &["--dry-run"]].concat());
    let err = refused(
        &c.env("WEIGHTGEN_MEMORY_LIMIT", "lots").output().unwrap(),
        dir.path(),
    );
    assert!(err.contains("WEIGHTGEN_MEMORY_LIMIT: "), "{err}");
    let bad = [&ORTHO_4096[..], &["--dry-run", "--memory-limit", "12XB"]].concat();
    let err = refused(&run(dir.path(), &bad), dir.path());
    assert!(err.contains("--memory-limit: "), "{err}");
}

#[test]
fn rng_torch_whole_tensor_inits_and_study_are_guarded_too() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "w=4096x4096",
        "--rng",
        "torch",
        "--scheme",
        "sparse",
        "--sparsity",
        "0.1",
        "--seed",
        "1",
        "-o",
        "w.npy",
        "--memory-limit",
        "100MB",
    ];
    let err = refused(&run(dir.path(), &args), dir.path());
    assert!(
        err.contains("PyTorch's sparse_ of `w` (the whole tensor in memory) needs "),
        "{err}"
    );
    // The f64 tensor alone is 134 MB.
    assert!(needed(&err) >= 8.0 * 4096.0 * 4096.0, "{err}");
    let args = ["study", "--width", "4096", "--memory-limit", "10MB"];
    let err = refused(&run(dir.path(), &args), dir.path());
    assert!(
        err.contains(
            "study of a 1024-4096-4096-4096-4096-4096-10 network (2 schemes, batch 256) needs "
        ),
        "{err}"
    );
    // At least the five 4096 × 4096 f64 weight matrices of one scheme.
    assert!(needed(&err) >= 5.0 * 8.0 * 4096.0 * 4096.0, "{err}");
}

#[test]
fn the_dry_run_shows_the_peak_estimate_in_the_table_and_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let args = [&ORTHO_4096[..], &["--dry-run", "--threads", "2"]].concat();
    let o = run(dir.path(), &args);
    ok(&o);
    let table = String::from_utf8(o.stdout).unwrap();
    let line = table
        .lines()
        .find(|l| l.starts_with("peak memory (estimate) "))
        .expect("a peak-memory line");
    assert!(
        line.contains(": chunk buffers on 2 threads ")
            && line.contains(" + orthogonal init of `w` (4096×4096 f64 QR) "),
        "{line}"
    );
    let o = run(dir.path(), &[&args[..], &["--json"]].concat());
    ok(&o);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &s["peak_memory"];
    let whole = p["whole_tensor"][0]["bytes"].as_u64().unwrap();
    assert_eq!(p["threads"], 2);
    assert_eq!(
        p["bytes"].as_u64().unwrap(),
        p["streaming_bytes"].as_u64().unwrap() + whole
    );
    assert!(whole >= 2 * 8 * 4096 * 4096);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // A written run's --json is unchanged: no estimate there.
    let o = run(
        dir.path(),
        &["generate", "a=3x4", "--seed", "1", "--json", "-o", "a.npy"],
    );
    ok(&o);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(s.get("peak_memory").is_none());
}

/// 1 GB of address space: the binary, its threads and their malloc arenas fit; the
/// allocations below do not.
const RLIMIT: u64 = 1 << 30;

#[test]
fn under_an_address_space_limit_orthogonal_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // Sanity: a small run works under the same limit (the limit does not break the binary).
    let small = [
        "generate",
        "w=64x64",
        "--scheme",
        "orthogonal",
        "--seed",
        "1",
    ];
    let o = run_under_rlimit(dir.path(), &[&small[..], &["-o", "s.npy"]].concat(), RLIMIT);
    ok(&o);
    std::fs::remove_file(dir.path().join("s.npy")).unwrap();
    // 16384 × 16384: the estimate (about 4.4 GB) is under the limit given, the address
    // space is not.
    let args = [
        "generate",
        "w=16384x16384",
        "--scheme",
        "orthogonal",
        "--seed",
        "1",
        "--memory-limit",
        "100GB",
        "-o",
        "w.npy",
    ];
    let err = refused(&run_under_rlimit(dir.path(), &args, RLIMIT), dir.path());
    assert!(err.contains("cannot allocate (out of memory)"), "{err}");
    assert!(needed(&err) > RLIMIT as f64, "{err}");
}

#[test]
fn under_an_address_space_limit_a_wide_study_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "study",
        "--width",
        "16384",
        "--depth",
        "1",
        "--memory-limit",
        "100GB",
    ];
    let err = refused(&run_under_rlimit(dir.path(), &args, RLIMIT), dir.path());
    assert!(err.contains("study of a 1024-16384-10 network"), "{err}");
    assert!(err.contains("cannot allocate (out of memory)"), "{err}");
}

#[test]
fn inspect_refuses_an_orthogonality_check_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let make = [
        "generate",
        "w=1024x512",
        "--scheme",
        "orthogonal",
        "--seed",
        "1",
    ];
    ok(&run(
        dir.path(),
        &[&make[..], &["-o", "w.safetensors"]].concat(),
    ));
    let o = run(
        dir.path(),
        &[
            "inspect",
            "--check",
            "w.safetensors",
            "--memory-limit",
            "1MB",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with(PREFIX) && err.lines().count() == 1, "{err}");
    assert!(
        err.contains("the orthogonality check of `w` (1024×512 f64 Gram matrix) needs "),
        "{err}"
    );
    assert!(
        err.contains("the memory limit is 1.0 MB (set by --memory-limit)"),
        "{err}"
    );
    // The 512 × 512 f64 Gram matrix alone is 2.1 MB.
    assert!(needed(&err) >= 8.0 * 512.0 * 512.0, "{err}");
    let mut c = command(dir.path(), &["inspect", "--check", "w.safetensors"]);
    ok(&c.env("WEIGHTGEN_MEMORY_LIMIT", "1GB").output().unwrap());
}

#[test]
fn a_whole_tensor_step_of_a_huge_shape_is_refused_not_an_overflow() {
    // The estimates overflowed u64: a panic ("attempt to multiply with overflow") in a debug
    // build, a small wrong number in a release build.
    let dir = tempfile::tempdir().unwrap();
    let max = u64::MAX.to_string();
    for (shape, rng, scheme, what) in [
        (
            "w=2147483648x2147483648",
            "native",
            "orthogonal",
            "orthogonal init of `w` (2147483648×2147483648 f64 QR)",
        ),
        (
            "w=64x72057594037927936",
            "torch",
            "truncated_normal",
            "PyTorch's trunc_normal_ of `w`",
        ),
    ] {
        let args = [
            "generate", shape, "--rng", rng, "--scheme", scheme, "--seed", "1", "--dtype", "f16",
            "-o", "w.npy",
        ];
        // Over the default limit; and, with no limit, more than the machine can allocate.
        let err = refused(&run(dir.path(), &args), dir.path());
        assert!(
            err.contains(what) && err.contains(" needs ") && err.contains("the memory limit is"),
            "{err}"
        );
        let err = refused(
            &run(dir.path(), &[&args[..], &["--memory-limit", &max]].concat()),
            dir.path(),
        );
        assert!(
            err.contains(what)
                && err.contains(" which this machine cannot allocate (out of memory)"),
            "{err}"
        );
    }
}

#[test]
fn the_binary_ends_an_unprobed_allocation_failure_with_one_line() {
    // Planning a model of 10^8 layers: no estimate covers the plan itself, so the vector of
    // its tensors grows until the address space refuses. Without `exec::Allocator` that was
    // Rust's "memory allocation of N bytes failed" and an abort (SIGABRT).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
            "num_hidden_layers": 100000000, "num_attention_heads": 2, "num_key_value_heads": 2,
            "vocab_size": 32, "torch_dtype": "float32"}"#,
    )
    .unwrap();
    let args = [
        "generate",
        "--hf-config",
        "config.json",
        "--seed",
        "1",
        "-o",
        "ckpt",
    ];
    let mut c = command(dir.path(), &args);
    c.env("RUST_BACKTRACE", "1");
    let o = under_rlimit(c, RLIMIT);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let n = (err.strip_prefix(PREFIX))
        .and_then(|e| e.strip_prefix("out of memory: could not allocate "))
        .and_then(|e| e.strip_suffix(" bytes (the system refused; free memory or ask for less)\n"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(n.parse::<u64>().is_ok_and(|n| n > 0), "{err}");
    assert!(o.stdout.is_empty());
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "something was written"
    );
}

/// Set in the child of the test below: the directory it writes to.
const CHILD_DIR: &str = "WEIGHTGEN_TEST_ALLOC_CHILD_DIR";

/// The child of `an_allocation_refused_after_the_probe_is_one_line_and_leaves_nothing`, run
/// under an address-space limit of `RLIMIT`: a fallible allocation over the limit is an error;
/// then, while a file is being written, an infallible one must end the process.
#[test]
#[ignore = "run as a child by the two tests after it"]
fn alloc_child() {
    use weightgen::dtype::DType;
    use weightgen::job::{Generate, MemoryLimit};
    use weightgen::memory::Init;
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        // Run by hand (`--ignored`): be the parent, which runs this as its child.
        return an_allocation_refused_after_the_probe_is_one_line_and_leaves_nothing();
    };
    let dir = Path::new(&dir);
    // 1 GiB of f32 under a 1 GiB address space: try_reserve gets its error back.
    let big = Init::normal().memory_limit(MemoryLimit::given(u64::MAX));
    let e = big.sample::<f32>("big", &[RLIMIT / 4], 1).unwrap_err();
    assert!(matches!(e, weightgen::Error::Memory(_)), "{e}");
    println!("fallible: {e}");
    // A 256 MiB output being written (an anonymous temp file, or a named one under
    // WEIGHTGEN_TEST_NAMED_TEMP=1).
    let spec = Init::normal().spec("w", &[1 << 26], DType::F32, 1).unwrap();
    let job = Generate::new(spec, dir.join("w.npy").to_str().unwrap());
    std::thread::spawn(move || job.run(&Default::default()));
    let t0 = std::time::Instant::now();
    let temp = loop {
        let open = std::fs::read_dir("/proc/self/fd").unwrap().flatten();
        let mut links = open.filter_map(|e| std::fs::read_link(e.path()).ok());
        if let Some(l) = links.find(|l| l.starts_with(dir)) {
            break l;
        }
        assert!(t0.elapsed().as_secs() < 10, "no output file opened");
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    println!("writing: {}", temp.display());
    // An allocation no code asked to be fallible: 2 GiB, past the limit.
    let v: Vec<u8> = Vec::with_capacity(2 * RLIMIT as usize);
    std::hint::black_box(&v);
    panic!(
        "allocated {} bytes under a {RLIMIT}-byte limit",
        v.capacity()
    );
}

/// Run `alloc_child` in `dir` under `RLIMIT`, with `env`; check its one line and exit code,
/// and return the temp file it saw being written.
fn alloc_child_in(dir: &Path, env: &[(&str, &str)]) -> String {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "alloc_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_DIR, dir)
        .env("RUST_BACKTRACE", "1")
        .envs(env.iter().copied());
    let o = under_rlimit(c, RLIMIT);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        err == format!(
            "{PREFIX}out of memory: could not allocate {} bytes (the system refused; free \
             memory or ask for less)\n",
            2 * RLIMIT
        ),
        "{err}"
    );
    assert!(
        !err.contains("panicked")
            && !err.contains("backtrace")
            && !err.contains("memory allocation of"),
        "{err}"
    );
    // The child got there: its fallible allocation was an error, and it was writing.
    assert!(out.contains("fallible: tensor `big` in memory ("), "{out}");
    (out.lines())
        .find_map(|l| l.strip_prefix("writing: "))
        .expect(&out)
        .to_string()
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    (std::fs::read_dir(dir).unwrap().flatten())
        .map(|e| e.path())
        .collect()
}

#[test]
fn an_allocation_refused_after_the_probe_is_one_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let temp = alloc_child_in(dir.path(), &[]);
    // An anonymous file (`/proc/self/fd/N` shows `DIR/#INODE (deleted)`), so nothing is left.
    assert!(temp.ends_with(" (deleted)"), "{temp}");
    assert!(
        entries(dir.path()).is_empty(),
        "left behind: {:?}",
        entries(dir.path())
    );
}

#[test]
fn without_anonymous_files_the_next_run_removes_what_the_exit_left() {
    // As on a filesystem without O_TMPFILE: the exit leaves the named temp file (no
    // destructor runs), the next run in the directory removes it (its process is dead).
    let dir = tempfile::tempdir().unwrap();
    let temp = alloc_child_in(dir.path(), &[("WEIGHTGEN_TEST_NAMED_TEMP", "1")]);
    assert_eq!(entries(dir.path()), [std::path::PathBuf::from(&temp)]);
    let name = Path::new(&temp).file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with(".w.npy.weightgen-") && name.ends_with(".tmp"),
        "{name}"
    );
    ok(&run(
        dir.path(),
        &["generate", "a=4x4", "--seed", "1", "-o", "a.npy"],
    ));
    assert_eq!(entries(dir.path()), [dir.path().join("a.npy")]);
}
