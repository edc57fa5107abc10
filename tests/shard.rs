//! Sharded checkpoints through the real binary: `--max-shard-size`, `--shard K`,
//! `--index-only`. Shards written by separate processes are byte-identical to one run's;
//! together they hold exactly the unsharded file's tensors; existing checkpoints are not
//! replaced without `--force`; stale shards go only after success; failures and bad input
//! leave no index, no temp file and (for bad input) nothing at all.

use safetensors::SafeTensors;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::cli::{command, ok, run};

/// Eight tensors in four dtypes. At `--max-shard-size 10000` the split (huggingface_hub's) is
/// [embed], [big] (oversize: appended at once), [l0.w … head], [tail].
const SPEC: &str = r#"{
  "seed": 11,
  "metadata": {"model": "shard-test"},
  "tensors": [
    {"name": "embed", "shape": [64, 32]},
    {"name": "l0.w", "shape": [32, 32]},
    {"name": "l0.b", "shape": [32], "scheme": "zeros"},
    {"name": "big", "shape": [128, 64], "scheme": "normal", "std": 0.02},
    {"name": "l1.w", "shape": [32, 32], "dtype": "f16"},
    {"name": "l1.b", "shape": [32], "dtype": "bf16", "scheme": "constant", "value": 0.5},
    {"name": "empty", "shape": [0, 3], "scheme": "normal", "std": 0.02},
    {"name": "head", "shape": [10, 32], "dtype": "f64"},
    {"name": "tail", "shape": [40, 32]}
  ]
}"#;
const MAX: &str = "10000";
const N: usize = 4;

fn shard_name(k: usize) -> String {
    format!("model-{k:05}-of-{N:05}.safetensors")
}

/// Exit `code` and one `weightgen: error: ` line containing `fragment`.
#[track_caller]
fn fails(o: &Output, code: i32, fragment: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("weightgen: error: "), "{err}");
    assert!(err.contains(fragment), "`{fragment}` not in: {err}");
}

fn listing(dir: &Path) -> BTreeSet<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// Every file of `dir`, by name.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    listing(dir)
        .into_iter()
        .map(|n| {
            let b = fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

fn setup(spec: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("spec.json"), spec).unwrap();
    d
}

/// `generate --spec spec.json --max-shard-size MAX -o OUT EXTRA…` (without `MAX` when EXTRA
/// gives its own `--max-shard-size`).
fn gen_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["generate", "--spec", "spec.json", "-o", out];
    if !extra.contains(&"--max-shard-size") {
        a.extend_from_slice(&["--max-shard-size", MAX]);
    }
    a.extend_from_slice(extra);
    a
}

fn all_names() -> BTreeSet<String> {
    let mut s: BTreeSet<String> = (1..=N).map(shard_name).collect();
    s.insert("model.safetensors.index.json".into());
    s
}

#[test]
fn separate_processes_writing_one_shard_each_match_one_process_writing_all() {
    let d = setup(SPEC);
    ok(&run(d.path(), &gen_args("one", &[])));
    assert_eq!(listing(&d.path().join("one")), all_names());

    // N processes at once, as N machines or array jobs would, then the index.
    let children: Vec<_> = (1..=N)
        .map(|k| {
            command(d.path(), &gen_args("many", &["--shard", &k.to_string()]))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
    let shards_only: BTreeSet<String> = (1..=N).map(shard_name).collect();
    assert_eq!(listing(&d.path().join("many")), shards_only);
    ok(&run(d.path(), &gen_args("many", &["--index-only"])));
    assert_eq!(
        contents(&d.path().join("many")),
        contents(&d.path().join("one"))
    );
}

#[test]
fn the_split_follows_huggingface_hub_and_the_index_passes_transformers_checks() {
    let d = setup(SPEC);
    ok(&run(d.path(), &gen_args("ck", &[])));
    let dir = d.path().join("ck");
    let index: Value =
        serde_json::from_slice(&fs::read(dir.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    let map = index["weight_map"].as_object().unwrap();
    let want = [
        ("embed", 1),
        ("big", 2),
        ("l0.w", 3),
        ("l0.b", 3),
        ("l1.w", 3),
        ("l1.b", 3),
        ("empty", 3),
        ("head", 3),
        ("tail", 4),
    ];
    assert_eq!(map.len(), want.len());
    for (t, k) in want {
        assert_eq!(map[t], Value::from(shard_name(k)), "{t}");
    }
    // Keys sorted, as transformers writes them.
    let keys: Vec<&String> = map.keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // The files the index names are exactly the shards present; every tensor is in the shard
    // the index names and in no other; total_size is the sum of tensor bytes.
    let named: BTreeSet<String> = map
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(named, (1..=N).map(shard_name).collect());
    let mut total = 0u64;
    let mut seen = BTreeSet::new();
    for f in &named {
        let bytes = fs::read(dir.join(f)).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let md = meta.metadata().as_ref().unwrap();
        assert_eq!(md["format"], "pt");
        assert_eq!(md["model"], "shard-test");
        for (name, view) in st.tensors() {
            assert_eq!(map[&name], Value::from(f.as_str()), "{name}");
            assert!(seen.insert(name));
            total += view.data().len() as u64;
        }
    }
    assert_eq!(seen.len(), map.len());
    assert_eq!(index["metadata"]["total_size"], Value::from(total));
    assert_eq!(index["metadata"]["weightgen.seed"], "11");
}

#[test]
fn the_union_of_the_shards_equals_the_unsharded_file() {
    let d = setup(SPEC);
    ok(&run(d.path(), &gen_args("ck", &[])));
    ok(&run(
        d.path(),
        &["generate", "--spec", "spec.json", "-o", "whole.safetensors"],
    ));
    let whole = fs::read(d.path().join("whole.safetensors")).unwrap();
    let whole = SafeTensors::deserialize(&whole).unwrap();
    let mut found = 0;
    for k in 1..=N {
        let bytes = fs::read(d.path().join("ck").join(shard_name(k))).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        for (name, view) in st.tensors() {
            let w = whole.tensor(&name).unwrap();
            assert_eq!(view.dtype(), w.dtype(), "{name}");
            assert_eq!(view.shape(), w.shape(), "{name}");
            assert_eq!(view.data(), w.data(), "{name}");
            found += 1;
        }
    }
    assert_eq!(found, whole.len());
    // inspect reads the index, checks it against the shards and each shard's recorded plan.
    ok(&run(
        d.path(),
        &["inspect", "--check", "ck/model.safetensors.index.json"],
    ));
}

#[test]
fn under_rng_torch_a_shard_written_alone_equals_the_full_runs_shard() {
    let spec = SPEC.replace("\"seed\": 11,", "\"seed\": 11, \"rng\": \"torch\",");
    let d = setup(&spec);
    ok(&run(d.path(), &gen_args("one", &[])));
    for k in [3, 2, 4] {
        ok(&run(
            d.path(),
            &gen_args("alone", &["--shard", &k.to_string()]),
        ));
        assert_eq!(
            fs::read(d.path().join("alone").join(shard_name(k))).unwrap(),
            fs::read(d.path().join("one").join(shard_name(k))).unwrap(),
            "shard {k}"
        );
    }
    // And the torch values differ from the native ones (the spec's rng was honoured).
    let n = setup(SPEC);
    ok(&run(n.path(), &gen_args("one", &[])));
    assert_ne!(
        fs::read(d.path().join("one").join(shard_name(1))).unwrap(),
        fs::read(n.path().join("one").join(shard_name(1))).unwrap()
    );
}

#[test]
fn the_spec_can_carry_the_max_shard_size() {
    let d = setup(&SPEC.replace(
        "\"seed\": 11,",
        "\"seed\": 11, \"max_shard_size\": \"10KB\",",
    ));
    ok(&run(
        d.path(),
        &["generate", "--spec", "spec.json", "-o", "a"],
    ));
    ok(&run(d.path(), &gen_args("b", &[])));
    assert_eq!(contents(&d.path().join("a")), contents(&d.path().join("b")));
    // The flag overrides the spec.
    ok(&run(
        d.path(),
        &[
            "generate",
            "--spec",
            "spec.json",
            "-o",
            "c",
            "--max-shard-size",
            "1MB",
        ],
    ));
    assert_eq!(
        listing(&d.path().join("c")),
        BTreeSet::from(["model.safetensors".to_string()])
    );
}

#[test]
fn one_shard_is_a_plain_model_safetensors_equal_to_the_unsharded_file_and_no_index() {
    let d = setup(SPEC);
    ok(&run(
        d.path(),
        &gen_args("ck", &["--max-shard-size", "5GB"]),
    ));
    assert_eq!(
        listing(&d.path().join("ck")),
        BTreeSet::from(["model.safetensors".to_string()])
    );
    ok(&run(
        d.path(),
        &["generate", "--spec", "spec.json", "-o", "whole.safetensors"],
    ));
    assert_eq!(
        fs::read(d.path().join("ck/model.safetensors")).unwrap(),
        fs::read(d.path().join("whole.safetensors")).unwrap()
    );
    fails(
        &run(
            d.path(),
            &gen_args("ck", &["--max-shard-size", "5GB", "--index-only"]),
        ),
        2,
        "needs no index",
    );
}

#[test]
fn dry_run_shows_the_layout_and_writes_nothing() {
    let d = setup(SPEC);
    let o = run(d.path(), &gen_args("ck", &["--dry-run", "--json"]));
    ok(&o);
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let shards = s["checkpoint"]["shards"].as_array().unwrap();
    assert_eq!(shards.len(), N);
    assert_eq!(shards[1]["file"], Value::from(shard_name(2)));
    assert_eq!(shards[1]["tensors"], serde_json::json!(["big"]));
    assert_eq!(shards[1]["bytes"], 32768);
    assert_eq!(s["outputs"].as_array().unwrap().len(), N + 1);
    let o = run(d.path(), &gen_args("ck", &["--dry-run"]));
    ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("4 shards of at most 10000 bytes"), "{text}");
    assert!(text.contains(&shard_name(4)), "{text}");
    assert_eq!(listing(d.path()), BTreeSet::from(["spec.json".to_string()]));
    // The files written are listed by --json, with their tensors' hashes.
    let o = run(d.path(), &gen_args("ck", &["--json", "--shard", "2"]));
    ok(&o);
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        s["outputs"],
        serde_json::json!([format!("ck/{}", shard_name(2))])
    );
    let hashed: Vec<&Value> = s["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t.get("sha256").is_some())
        .collect();
    assert_eq!(hashed.len(), 1);
}

#[test]
fn an_existing_checkpoint_is_not_replaced_without_force() {
    let d = setup(SPEC);
    ok(&run(d.path(), &gen_args("ck", &[])));
    let before = contents(&d.path().join("ck"));
    let other = |extra: &[&str]| {
        let mut a = vec!["--seed", "12"];
        a.extend_from_slice(extra);
        run(d.path(), &gen_args("ck", &a))
    };
    fails(&other(&[]), 2, "pass --force");
    fails(&other(&["--shard", "2"]), 2, "already exists; pass --force");
    fails(
        &other(&["--index-only"]),
        2,
        "not shard 1 of this checkpoint",
    );
    // A different split into the same directory: refused as a whole, too.
    fails(
        &run(d.path(), &gen_args("ck", &["--max-shard-size", "1MB"])),
        2,
        "already holds a checkpoint",
    );
    assert_eq!(contents(&d.path().join("ck")), before);
    // Retrying a shard of the same checkpoint with --force keeps everything as it was.
    ok(&run(
        d.path(),
        &gen_args("ck", &["--shard", "2", "--force"]),
    ));
    assert_eq!(contents(&d.path().join("ck")), before);
    // --force on one shard of another checkpoint replaces just that shard, and removes the
    // index, which no longer describes the files.
    ok(&other(&["--shard", "2", "--force"]));
    let after = contents(&d.path().join("ck"));
    assert_ne!(after[&shard_name(2)], before[&shard_name(2)]);
    assert_eq!(after[&shard_name(1)], before[&shard_name(1)]);
    assert!(!after.contains_key("model.safetensors.index.json"));
}

#[test]
fn force_removes_stale_shards_of_a_larger_run_only_after_success() {
    let d = setup(SPEC);
    ok(&run(d.path(), &gen_args("ck", &[])));
    let dir = d.path().join("ck");
    // A failing --force run (a directory squats the new index's name): exit 1, the old
    // shards are still there, nothing new was put in place, no temp file.
    let larger = ["--max-shard-size", "40000", "--force"];
    ok(&run(
        d.path(),
        &gen_args("big", &["--max-shard-size", "40000"]),
    ));
    let new_names = listing(&d.path().join("big"));
    assert_eq!(new_names.len(), 4, "{new_names:?}");
    fs::remove_file(dir.join("model.safetensors.index.json")).unwrap();
    fs::create_dir(dir.join("model.safetensors.index.json")).unwrap();
    let before = contents_files(&dir);
    let o = run(d.path(), &gen_args("ck", &larger));
    fails(&o, 1, "model.safetensors.index.json");
    assert_eq!(contents_files(&dir), before);
    assert!(listing(&dir).iter().all(|n| !n.starts_with('.')));
    fs::remove_dir(dir.join("model.safetensors.index.json")).unwrap();

    // Success: the 2-shard checkpoint replaces the 4-shard one, whose files are gone.
    let o = run(d.path(), &gen_args("ck", &larger));
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("removed stale"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(contents(&dir), contents(&d.path().join("big")));
    // And back to one file: the index and every shard go.
    ok(&run(
        d.path(),
        &gen_args("ck", &["--max-shard-size", "1MB", "--force"]),
    ));
    assert_eq!(
        listing(&dir),
        BTreeSet::from(["model.safetensors".to_string()])
    );
}

/// Regular files of `dir` with their bytes.
fn contents_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    listing(dir)
        .into_iter()
        .filter(|n| dir.join(n).is_file())
        .map(|n| {
            let b = fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

#[test]
fn the_index_is_written_only_over_complete_shards_of_this_checkpoint() {
    let d = setup(SPEC);
    let dir = d.path().join("ck");
    for k in [1, 2, 4] {
        ok(&run(
            d.path(),
            &gen_args("ck", &["--shard", &k.to_string()]),
        ));
    }
    let index = || dir.join("model.safetensors.index.json");
    fails(
        &run(d.path(), &gen_args("ck", &["--index-only"])),
        2,
        "model-00003-of-00004.safetensors is missing",
    );
    assert!(!index().exists());
    ok(&run(d.path(), &gen_args("ck", &["--shard", "3"])));
    // A truncated shard (a copy cut short) is refused.
    let full = fs::read(dir.join(shard_name(3))).unwrap();
    fs::write(dir.join(shard_name(3)), &full[..full.len() - 8]).unwrap();
    fails(
        &run(d.path(), &gen_args("ck", &["--index-only"])),
        2,
        "its size differs",
    );
    fs::write(dir.join(shard_name(3)), &full).unwrap();
    // Files of another checkpoint in the directory: refused without --force, removed with.
    fs::write(dir.join("model.safetensors"), b"old").unwrap();
    fails(
        &run(d.path(), &gen_args("ck", &["--index-only"])),
        2,
        "files of another checkpoint (model.safetensors)",
    );
    assert!(!index().exists());
    ok(&run(
        d.path(),
        &gen_args("ck", &["--index-only", "--force"]),
    ));
    assert_eq!(listing(&dir), all_names());
    ok(&run(
        d.path(),
        &["inspect", "--check", "ck/model.safetensors.index.json"],
    ));
}

#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let d = setup(SPEC);
    let cases: &[(&[&str], &str)] = &[
        (&["--shard", "0"], "--shard: shards are numbered from 1"),
        (&["--shard", "5"], "this checkpoint has 4 shards"),
        (&["--max-shard-size", "5Gb"], "bits"),
        (&["--max-shard-size", "lots"], "--max-shard-size: no number"),
        (&["--max-shard-size", "0"], "at least one byte"),
        (&["--format", "npz"], "cannot be sharded"),
        (&["--shard", "1", "--index-only"], "cannot be used with"),
    ];
    for (extra, fragment) in cases {
        fails(&run(d.path(), &gen_args("ck", extra)), 2, fragment);
    }
    let plain: &[(&[&str], &str)] = &[
        (
            &["-o", "x.npz", "--max-shard-size", "1MB"],
            "x.npz is a .npz file",
        ),
        (
            &["-o", "x.safetensors", "--max-shard-size", "1MB"],
            "written to a directory",
        ),
        (&["-o", "-", "--max-shard-size", "1MB"], "stdout"),
        (
            &["-o", "ck", "--shard", "1"],
            "--shard needs --max-shard-size",
        ),
        (
            &["-o", "ck", "--index-only"],
            "--index-only needs --max-shard-size",
        ),
    ];
    for (extra, fragment) in plain {
        let mut a = vec!["generate", "--spec", "spec.json"];
        a.extend_from_slice(extra);
        fails(&run(d.path(), &a), 2, fragment);
    }
    // Parts need a fixed seed: every machine must draw the same values.
    fails(
        &run(
            d.path(),
            &[
                "generate",
                "w=10x10",
                "--max-shard-size",
                "100",
                "-o",
                "ck",
                "--shard",
                "1",
            ],
        ),
        2,
        "needs a fixed seed",
    );
    assert_eq!(listing(d.path()), BTreeSet::from(["spec.json".to_string()]));
}

#[test]
fn ctrl_c_during_a_sharded_write_leaves_no_temp_file_and_no_index() {
    let d = tempfile::tempdir().unwrap();
    // Two shards of 400 MB of normals: far longer than the moment we wait.
    let child = command(
        d.path(),
        &[
            "generate",
            "a=10000x10000",
            "b=10000x10000",
            "--scheme",
            "normal",
            "--seed",
            "1",
            "--max-shard-size",
            "500MB",
            "-o",
            "ck",
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let dir = d.path().join("ck");
    // Wait until the run has a temp file open in ck (anonymous ones, which /proc shows as
    // `ck/#INODE (deleted)`, never appear in the listing).
    let real_dir = std::fs::canonicalize(d.path()).unwrap().join("ck");
    let writing = || {
        std::fs::read_dir(format!("/proc/{}/fd", child.id()))
            .map(|fds| {
                fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .any(|t| t.starts_with(&real_dir) && t != real_dir)
            })
            .unwrap_or(false)
    };
    let start = Instant::now();
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
    fails(&o, 130, "interrupted");
    assert!(listing(&dir).is_empty(), "left behind: {:?}", listing(&dir));
}
