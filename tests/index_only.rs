//! `--index-only` names every shard that is not in place (missing or from another
//! checkpoint), not only the first.

mod common;

use common::cli::{ok, run};

#[test]
fn index_only_lists_every_missing_or_foreign_shard() {
    let d = tempfile::tempdir().unwrap();
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "generate", "w=64x64", "v=64x64", "u=64x64", "t=64x64", "--seed", "5",
        ];
        a.extend_from_slice(&["--max-shard-size", "20000", "-o", "ck"]);
        a.extend_from_slice(extra);
        a
    };
    // Four shards of 16 KiB each; write only shard 1, and a foreign shard 3 (another seed).
    ok(&run(d.path(), &args(&["--shard", "1"])));
    let mut other = args(&["--shard", "3"]);
    let seed = other.iter().position(|a| *a == "5").unwrap();
    other[seed] = "6";
    ok(&run(d.path(), &other));
    let o = run(d.path(), &args(&["--index-only"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    for fragment in [
        "3 of 4 shards are not in place",
        "model-00002-of-00004.safetensors is missing",
        "model-00003-of-00004.safetensors is not shard 3 of this checkpoint",
        "model-00004-of-00004.safetensors is missing",
        "for K in 2, 3, 4",
    ] {
        assert!(err.contains(fragment), "`{fragment}` not in {err}");
    }
    assert!(!d.path().join("ck/model.safetensors.index.json").exists());
}
