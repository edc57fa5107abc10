//! `weightgen inspect` over several files reports every one of them (issue 15 item 2): a
//! malformed, truncated or missing file, or a corrupted shard of a checkpoint, is listed as
//! failed with its one-line reason and inspection goes on; the exit code is the worst one
//! (2 malformed > 1 I/O > 3 check failed > 0). And a file whose content is another format than
//! its extension says is named for what it is (issue 15 item 4).

use serde_json::Value;
use std::path::Path;
use std::process::Output;
use tempfile::TempDir;

mod common;
use common::cli::{PREFIX, run, stderr};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
fn run_ok(dir: &Path, args: &[&str]) -> Output {
    let o = run(dir, args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    o
}

/// One error line starting with weightgen's prefix, and the exit code.
#[track_caller]
fn one_line(o: &Output, code: i32) -> String {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.starts_with(PREFIX), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

/// Where each of `needles` first occurs in `hay`, asserting each does and in this order.
#[track_caller]
fn in_order(hay: &str, needles: &[&str]) {
    let mut at = 0;
    for n in needles {
        let i = hay[at..]
            .find(n)
            .unwrap_or_else(|| panic!("`{n}` not found (in order) in:\n{hay}"));
        at += i + n.len();
    }
}

/// a.npy and b.npy (xavier_uniform 256×784, good) and t.safetensors cut in half.
fn three_files(d: &Path) {
    run_ok(
        d,
        &["generate", "256x784", "--seed", "1", "-o", "a.npy", "-q"],
    );
    run_ok(
        d,
        &["generate", "256x784", "--seed", "2", "-o", "b.npy", "-q"],
    );
    run_ok(
        d,
        &[
            "generate",
            "w=64x64",
            "--seed",
            "3",
            "-o",
            "t.safetensors",
            "-q",
        ],
    );
    let bytes = std::fs::read(d.join("t.safetensors")).unwrap();
    std::fs::write(d.join("t.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn a_truncated_file_between_two_good_ones_is_listed_and_the_others_are_read() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    three_files(p);
    let alone = run(p, &["inspect", "t.safetensors"]);
    let reason = one_line(&alone, 2);
    assert!(
        reason.contains("t.safetensors: ") && reason.contains("truncated"),
        "{reason}"
    );
    // Nothing could be read: nothing on stdout, as before.
    assert!(alone.stdout.is_empty());

    let o = run(p, &["inspect", "a.npy", "t.safetensors", "b.npy"]);
    let e = one_line(&o, 2);
    assert_eq!(
        e, reason,
        "the one failure's line is the same as when it is alone"
    );
    let table = stdout(&o);
    in_order(
        &table,
        &[
            "a.npy (npy, 1 tensor)",
            "array",
            "t.safetensors (FAILED, exit 2): ",
            "truncated",
            "b.npy (npy, 1 tensor)",
            "array",
        ],
    );

    let o = run(p, &["inspect", "--json", "a.npy", "t.safetensors", "b.npy"]);
    one_line(&o, 2);
    let v = json(&o);
    let files = v["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["a.npy", "t.safetensors", "b.npy"]);
    assert_eq!(files[0]["tensors"].as_array().unwrap().len(), 1);
    assert_eq!(files[2]["tensors"][0]["numel"], 256 * 784);
    // The failed entry's stable shape: path, error (the stderr line's text), exit.
    let failed = files[1].as_object().unwrap();
    let mut keys: Vec<&str> = failed.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["error", "exit", "path"]);
    assert_eq!(failed["exit"], 2);
    assert_eq!(
        format!("{PREFIX}{}\n", failed["error"].as_str().unwrap()),
        reason
    );
    assert_eq!(v["passed"], false);
}

#[test]
fn a_missing_file_is_listed_and_two_failures_share_one_line() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    three_files(p);
    let o = run(
        p,
        &[
            "inspect",
            "--json",
            "a.npy",
            "missing.npy",
            "t.safetensors",
            "b.npy",
        ],
    );
    let e = one_line(&o, 2);
    in_order(
        &e,
        &[
            "cannot open missing.npy",
            "; ",
            "t.safetensors: ",
            "truncated",
        ],
    );
    let v = json(&o);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    assert_eq!(files[1]["path"], "missing.npy");
    assert_eq!(files[1]["exit"], 2);
    assert!(
        files[1]["error"]
            .as_str()
            .unwrap()
            .contains("cannot open missing.npy")
    );
    assert_eq!(files[3]["path"], "b.npy");
}

/// A checkpoint of three shards (a, b, c: one tensor each) in `ckpt/`.
fn checkpoint(p: &Path) -> String {
    run_ok(
        p,
        &[
            "generate",
            "a=64x32",
            "b=32x32",
            "c=16x32",
            "--seed",
            "1",
            "-o",
            "ckpt",
            "--max-shard-size",
            "5KB",
            "-q",
        ],
    );
    "ckpt/model.safetensors.index.json".to_string()
}

#[test]
fn a_checkpoint_with_a_corrupted_shard_lists_every_shard_in_order_and_a_summary() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    let index = checkpoint(p);
    let o = run_ok(p, &["inspect", &index]);
    let table = stdout(&o);
    in_order(
        &table,
        &[
            "ckpt/model-00001-of-00003.safetensors (safetensors, 1 tensor",
            "ckpt/model-00002-of-00003.safetensors (safetensors, 1 tensor",
            "ckpt/model-00003-of-00003.safetensors (safetensors, 1 tensor",
            // a 64×32 + b 32×32 + c 16×32 f32 tensors.
            &format!(
                "{index} (index): 3 shards, 3 ok, 0 failed; 3 tensors, {} bytes",
                (64 * 32 + 32 * 32 + 16 * 32) * 4
            ),
        ],
    );

    // Corrupt the middle shard: its header length now points past the end of the file.
    let shard2 = p.join("ckpt/model-00002-of-00003.safetensors");
    let mut bytes = std::fs::read(&shard2).unwrap();
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&shard2, &bytes).unwrap();
    let o = run(p, &["inspect", &index]);
    let e = one_line(&o, 2);
    assert!(e.contains("ckpt/model-00002-of-00003.safetensors: "), "{e}");
    let table = stdout(&o);
    in_order(
        &table,
        &[
            "ckpt/model-00001-of-00003.safetensors (safetensors, 1 tensor",
            "ckpt/model-00002-of-00003.safetensors (FAILED, exit 2): ",
            "ckpt/model-00003-of-00003.safetensors (safetensors, 1 tensor",
            &format!(
                "{index} (index): 3 shards, 2 ok, 1 failed; 2 tensors, {} bytes",
                (64 * 32 + 16 * 32) * 4
            ),
        ],
    );

    let o = run(p, &["inspect", "--json", &index]);
    one_line(&o, 2);
    let v = json(&o);
    let files = v["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [1, 2, 3].map(|k| format!("ckpt/model-0000{k}-of-00003.safetensors"))
    );
    assert_eq!(files[1]["exit"], 2);
    let s = &v["indexes"][0];
    assert_eq!(s["path"], index.as_str());
    assert_eq!(
        (
            &s["shards"],
            &s["shards_ok"],
            &s["shards_failed"],
            &s["tensors"]
        ),
        (
            &Value::from(3),
            &Value::from(2),
            &Value::from(1),
            &Value::from(2)
        )
    );
    assert_eq!(s["bytes"], (64 * 32 + 16 * 32) * 4);
}

#[test]
fn a_shard_missing_from_disk_and_a_wrong_total_size_are_reported_with_the_rest() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    let index = checkpoint(p);
    std::fs::remove_file(p.join("ckpt/model-00003-of-00003.safetensors")).unwrap();
    let o = run(p, &["inspect", &index]);
    let e = one_line(&o, 2);
    assert!(
        e.contains("cannot open ckpt/model-00003-of-00003.safetensors"),
        "{e}"
    );
    in_order(
        &stdout(&o),
        &[
            "model-00001-of-00003.safetensors (safetensors",
            "model-00002-of-00003.safetensors (safetensors",
            "model-00003-of-00003.safetensors (FAILED, exit 2): cannot open",
            "3 shards, 2 ok, 1 failed",
        ],
    );
    // All shards read but total_size disagrees: the index's own problem, listed under it.
    let d = TempDir::new().unwrap();
    let p = d.path();
    let index = checkpoint(p);
    let text = std::fs::read_to_string(p.join(&index)).unwrap();
    std::fs::write(p.join(&index), text.replace("14336", "5")).unwrap();
    let o = run(p, &["inspect", &index]);
    let e = one_line(&o, 2);
    assert!(e.contains("metadata.total_size is 5"), "{e}");
    in_order(
        &stdout(&o),
        &[
            "model-00003-of-00003.safetensors (safetensors",
            "3 shards, 3 ok, 0 failed",
            "metadata.total_size is 5",
        ],
    );
    let v = json(&run(p, &["inspect", "--json", &index]));
    assert_eq!(v["files"].as_array().unwrap().len(), 3);
    assert!(
        v["indexes"][0]["errors"][0]
            .as_str()
            .unwrap()
            .contains("total_size is 5")
    );
    assert_eq!(v["passed"], false);
    // A weight_map naming the last shard first (as one sorted by tensor name may): the shards
    // are still listed in shard order.
    let text = std::fs::read_to_string(p.join(&index)).unwrap();
    let meta: Value = serde_json::from_str(&text).unwrap();
    let reversed = format!(
        r#"{{"metadata": {}, "weight_map": {{"c": "model-00003-of-00003.safetensors", "b": "model-00002-of-00003.safetensors", "a": "model-00001-of-00003.safetensors"}}}}"#,
        meta["metadata"]
    );
    std::fs::write(p.join(&index), reversed).unwrap();
    in_order(
        &stdout(&run(p, &["inspect", &index])),
        &[
            "model-00001-of-00003.safetensors (safetensors",
            "model-00002-of-00003.safetensors (safetensors",
            "model-00003-of-00003.safetensors (safetensors",
            "3 shards, 3 ok, 0 failed",
        ],
    );
}

#[test]
fn the_exit_code_is_the_worst_malformed_over_check_failed() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    three_files(p);
    // a.npy and b.npy are xavier_uniform: expecting kaiming_uniform fails their std and KS.
    let o = run(
        p,
        &[
            "inspect",
            "--check",
            "a.npy",
            "b.npy",
            "--expect",
            "kaiming_uniform",
        ],
    );
    let e = one_line(&o, 3);
    in_order(
        &e,
        &[
            "check failed: ",
            "a.npy: tensor `array`",
            "b.npy: tensor `array`",
        ],
    );
    // One passing and one failing file: still 3.
    run_ok(
        p,
        &[
            "generate",
            "256x784",
            "--scheme",
            "kaiming_uniform",
            "--seed",
            "4",
            "-o",
            "k.npy",
            "-q",
        ],
    );
    let o = run(
        p,
        &[
            "inspect",
            "--check",
            "k.npy",
            "a.npy",
            "--expect",
            "kaiming_uniform",
        ],
    );
    let e = one_line(&o, 3);
    assert!(
        e.contains("a.npy: tensor `array`") && !e.contains("k.npy"),
        "{e}"
    );
    // A check failure and a malformed file: 2, and the line names both.
    let o = run(
        p,
        &[
            "inspect",
            "--check",
            "a.npy",
            "t.safetensors",
            "k.npy",
            "--expect",
            "kaiming_uniform",
        ],
    );
    let e = one_line(&o, 2);
    in_order(
        &e,
        &[
            "t.safetensors: ",
            "truncated",
            "; check failed: a.npy: tensor `array`",
        ],
    );
    in_order(
        &stdout(&o),
        &[
            "a.npy (npy",
            "FAIL kaiming_uniform",
            "t.safetensors (FAILED, exit 2)",
            "k.npy (npy",
            "ok kaiming_uniform",
        ],
    );
    let v = json(&run(
        p,
        &[
            "inspect",
            "--json",
            "--check",
            "a.npy",
            "t.safetensors",
            "--expect",
            "kaiming_uniform",
        ],
    ));
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    assert_eq!(
        (&v["checked"], &v["passed"]),
        (&Value::from(true), &Value::from(false))
    );
}

/// Bytes of each format, made by weightgen: (extension, bytes).
fn samples(p: &Path) -> Vec<(&'static str, Vec<u8>)> {
    run_ok(
        p,
        &["generate", "w=8x8", "--seed", "1", "-o", "s.npy", "-q"],
    );
    run_ok(
        p,
        &["generate", "w=8x8", "--seed", "1", "-o", "s.npz", "-q"],
    );
    run_ok(
        p,
        &[
            "generate",
            "w=8x8",
            "--seed",
            "1",
            "-o",
            "s.safetensors",
            "-q",
        ],
    );
    ["npy", "npz", "safetensors"]
        .into_iter()
        .map(|e| (e, std::fs::read(p.join(format!("s.{e}"))).unwrap()))
        .collect()
}

#[test]
fn a_file_of_one_format_named_as_another_is_named_for_what_it_is() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    let evidence = |real: &str| match real {
        "npy" => "this is an .npy file (its content starts with \\x93NUMPY)",
        "npz" => "this is a zip archive, as an .npz file is (its content starts with PK\\x03\\x04)",
        _ => {
            "this is a .safetensors file (its content starts with an 8-byte header length and a JSON header)"
        }
    };
    for (real, bytes) in samples(p) {
        for named in ["npy", "npz", "safetensors"]
            .into_iter()
            .filter(|n| *n != real)
        {
            let file = format!("{real}-as.{named}");
            std::fs::write(p.join(&file), &bytes).unwrap();
            let o = run(p, &["inspect", &file]);
            let e = one_line(&o, 2);
            let want = format!(
                "{PREFIX}{file}: {}, not {named} data; rename it to end in .{real}\n",
                evidence(real)
            );
            assert_eq!(e, want);
        }
    }
}

#[test]
fn json_text_html_and_lfs_pointers_are_named_in_every_format() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    let cases: [(&[u8], &str); 3] = [
        (
            b"{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"hidden_size\": 64\n}\n",
            "this is JSON text (a config or an index?), not",
        ),
        (
            b"<!DOCTYPE html>\n<html><body>404</body></html>",
            "this is an HTML page, not",
        ),
        (
            b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 5\n",
            "this is a Git LFS pointer",
        ),
    ];
    for (bytes, fragment) in cases {
        for ext in ["npy", "npz", "safetensors"] {
            let file = format!("x.{ext}");
            std::fs::write(p.join(&file), bytes).unwrap();
            let o = run(p, &["inspect", &file]);
            let e = one_line(&o, 2);
            assert!(e.starts_with(&format!("{PREFIX}{file}: {fragment}")), "{e}");
        }
    }
}

/// README's "Several files" console block.
fn readme_block() -> String {
    let readme = std::fs::read_to_string(common::cli::repo("README.md")).unwrap();
    let start = readme
        .find("**Several files.**")
        .expect("README has the Several files paragraph");
    let rest = &readme[start..];
    let open = rest.find("```console\n").expect("a console block") + "```console\n".len();
    let close = rest[open..].find("```").expect("the block ends");
    rest[open..open + close].to_string()
}

#[test]
fn readme_several_files_sample_is_what_inspect_prints() {
    let d = TempDir::new().unwrap();
    let p = d.path();
    std::os::unix::fs::symlink(common::cli::repo("fixtures"), p.join("fixtures")).unwrap();
    let block = readme_block();
    let mut commands = 0;
    // Each `$ weightgen ...` line, and the lines shown after it (stdout, then stderr).
    for part in block.split("$ ").filter(|s| !s.is_empty()) {
        let (cmd, shown) = part.split_once('\n').unwrap();
        let args: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(args[0], "weightgen", "{cmd}");
        let o = run(p, &args[1..]);
        let printed = stdout(&o) + &stderr(&o);
        assert_eq!(
            printed, shown,
            "README's output of `{cmd}` differs from what it prints"
        );
        commands += 1;
    }
    assert_eq!(commands, 2);
    // The sample's last command ends with exit 2 (the truncated file).
    let last = block.lines().rfind(|l| l.starts_with("$ ")).unwrap();
    let args: Vec<&str> = last[2..].split_whitespace().skip(1).collect();
    assert_eq!(run(p, &args).status.code(), Some(2));

    // The misnamed-file example in the text that follows.
    let readme = std::fs::read_to_string(common::cli::repo("README.md")).unwrap();
    let para = &readme[readme.find("**A file named as another format.**").unwrap()..];
    let from = para.find("`w.safetensors: ").unwrap() + 1;
    let quoted = para[from..from + para[from..].find('`').unwrap()].replace('\n', " ");
    std::fs::copy(
        common::cli::repo("fixtures/golden/golden_xavier_f32.npy"),
        p.join("w.safetensors"),
    )
    .unwrap();
    let o = run(p, &["inspect", "w.safetensors"]);
    assert_eq!(one_line(&o, 2), format!("{PREFIX}{quoted}\n"));
}
