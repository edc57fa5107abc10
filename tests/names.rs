//! Names users type: "did you mean" for unknown schemes, nonlinearities, dtypes, layer types
//! and spec keys; the common names that are accepted (and the ambiguous ones that are not);
//! aliases listed in errors and in `schemes`; shell completions that offer the values of the
//! name flags; one man page per subcommand.

mod common;
use common::cli::run;
use serde_json::Value;
use std::fs;
use std::path::Path;

fn stdout(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The one-line usage error (exit 2) of `args`, which must write nothing.
#[track_caller]
fn usage_error(dir: &Path, args: &[&str]) -> String {
    let before: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let o = run(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("weightgen: error: "), "{err}");
    let after: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after, "{args:?} wrote something");
    err
}

fn gen_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["generate", "w=8x6", "--seed", "3", "-o", "w.npy"];
    v.extend_from_slice(extra);
    v
}

#[test]
fn unknown_names_suggest_the_closest_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--scheme", "xavier_unifrom"],
            "unknown scheme `xavier_unifrom`; did you mean `xavier_uniform`?",
        ),
        (
            &["--scheme", "kaiming_uniform", "--nonlinearity", "rleu"],
            "--nonlinearity: unknown nonlinearity `rleu`; did you mean `relu`?",
        ),
        (
            &["--dtype", "flaot32"],
            "--dtype: unknown dtype `flaot32`; did you mean `float32`?",
        ),
        (
            &["--scheme", "variance_scaling", "--mode", "fan_ni"],
            "unknown mode `fan_ni`; did you mean `fan_in`?",
        ),
        (
            &["--scheme", "variance_scaling", "--distribution", "unifrom"],
            "unknown distribution `unifrom`; did you mean `uniform`?",
        ),
    ];
    for (extra, want) in cases {
        let err = usage_error(d, &gen_args(extra));
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    // Nothing close: no suggestion, but the list of valid names.
    let err = usage_error(d, &gen_args(&["--scheme", "qqqq"]));
    assert!(!err.contains("did you mean"), "{err}");
    assert!(err.contains("(valid: zeros, ones, "), "{err}");
}

#[test]
fn layer_types_and_spec_keys_suggest_the_closest_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let specs = [
        (
            r#"{"layers": [{"type": "linaer", "name": "fc", "in_features": 4, "out_features": 2}]}"#,
            "unknown layer type `linaer`; did you mean `linear`?",
        ),
        (
            r#"{"layers": [{"type": "conv", "name": "c", "in_channels": 1, "out_channels": 2, "kernel_size": 3}]}"#,
            "unknown layer type `conv`; did you mean `conv1d`, `conv2d`, `conv3d` or `conv_transpose1d`?",
        ),
        (
            r#"{"tensors": [{"name": "w", "shpae": [2, 2]}]}"#,
            "tensors[0].shpae: unknown key; did you mean `shape`?",
        ),
        (
            r#"{"sead": 1, "tensors": [{"name": "w", "shape": [2, 2]}]}"#,
            "sead: unknown key; did you mean `seed`?",
        ),
        (
            r#"{"layers": [{"type": "linear", "name": "fc", "in_feature": 4, "out_features": 2}]}"#,
            "in_feature: unknown key; did you mean `in_features`?",
        ),
    ];
    for (spec, want) in specs {
        fs::write(d.join("spec.json"), spec).unwrap();
        let err = usage_error(
            d,
            &["generate", "--spec", "spec.json", "-o", "o.safetensors"],
        );
        assert!(err.contains(want), "{spec}: {err}");
        fs::remove_file(d.join("spec.json")).unwrap();
    }
}

#[test]
fn ambiguous_family_names_are_refused_with_both_members() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (family, a, b) in [
        ("glorot", "glorot_uniform", "glorot_normal"),
        ("xavier", "xavier_uniform", "xavier_normal"),
        ("he", "he_uniform", "he_normal"),
        ("kaiming", "kaiming_uniform", "kaiming_normal"),
        ("lecun", "lecun_uniform", "lecun_normal"),
    ] {
        let err = usage_error(d, &gen_args(&["--scheme", family]));
        assert!(
            err.contains(&format!("did you mean `{a}` or `{b}`?")),
            "{family}: {err}"
        );
    }
}

/// The bytes of `generate w=8x6 --seed 3 EXTRA -o w.safetensors` (the recorded plan included).
fn bytes(d: &Path, extra: &[&str]) -> Vec<u8> {
    let _ = fs::remove_file(d.join("w.safetensors"));
    let mut args = vec![
        "generate",
        "w=8x6",
        "--seed",
        "3",
        "-q",
        "-o",
        "w.safetensors",
    ];
    args.extend_from_slice(extra);
    stdout(d, &args);
    fs::read(d.join("w.safetensors")).unwrap()
}

/// The data bytes of a one-tensor .safetensors file.
fn data_len(file: &[u8]) -> usize {
    let header = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    file.len() - 8 - header
}

#[test]
fn common_names_give_the_same_bytes_as_the_canonical_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let same = |canonical: &[&str], other: &[&str]| {
        assert_eq!(bytes(d, canonical), bytes(d, other), "{other:?}");
    };
    for (canonical, others) in [
        ("f32", &["fp32", "float32", "float", "FP32"][..]),
        ("f64", &["fp64", "float64", "double"][..]),
        ("f16", &["fp16", "float16", "half"][..]),
        ("bf16", &["bfloat16", "BFloat16"][..]),
    ] {
        for o in others {
            same(&["--dtype", canonical], &["--dtype", o]);
        }
    }
    for (canonical, other) in [
        ("kaiming_uniform", "he_uniform"),
        ("kaiming_normal", "he_normal"),
        ("kaiming_normal", "HeNormal"),
        ("xavier_uniform", "glorot_uniform"),
        ("xavier_uniform", "GlorotUniform"),
        ("xavier_normal", "glorot-normal"),
        ("truncated_normal", "TruncatedNormal"),
        ("lecun_normal", "LecunNormal"),
    ] {
        same(&["--scheme", canonical], &["--scheme", other]);
    }
    same(
        &[
            "--scheme",
            "kaiming_uniform",
            "--nonlinearity",
            "leaky_relu",
        ],
        &["--scheme", "kaiming_uniform", "--nonlinearity", "LeakyReLU"],
    );
    // And the dtype really is the one named: 8x6 f16 is 96 data bytes, f64 384.
    assert_eq!(data_len(&bytes(d, &["--dtype", "half"])), 96);
    assert_eq!(data_len(&bytes(d, &["--dtype", "bfloat16"])), 96);
    assert_eq!(data_len(&bytes(d, &["--dtype", "double"])), 384);
    assert_ne!(
        bytes(d, &["--dtype", "fp16"]),
        bytes(d, &["--dtype", "bf16"])
    );
}

#[test]
fn aliases_are_listed_in_errors_and_in_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v: Value = serde_json::from_str(&stdout(d, &["schemes", "--json"])).unwrap();
    let err = usage_error(d, &gen_args(&["--scheme", "nope"]));
    let text = stdout(d, &["schemes"]);
    let mut n = 0;
    for s in v.as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        for a in s["aliases"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            assert!(err.contains(&format!("{a} = {name}")), "{a}: {err}");
            assert!(text.contains(a), "{a} missing from `schemes`");
            n += 1;
        }
    }
    assert!(n >= 9, "{n} aliases");
    let err = usage_error(d, &gen_args(&["--dtype", "f8"]));
    assert!(
        err.contains("aliases: float32/fp32/float = f32, float64/fp64/double = f64, float16/fp16/half = f16, bfloat16 = bf16"),
        "{err}"
    );
}

#[test]
fn bash_completions_offer_the_values_of_the_name_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = stdout(d, &["completions", "bash"]);
    // Each flag's value list is one `compgen -W "…"` word list after the flag's case label.
    let values_of = |flag: &str| -> String {
        let at = script
            .find(&format!("{flag})"))
            .unwrap_or_else(|| panic!("{flag} not in the script"));
        let rest = &script[at..];
        let w = rest.find("compgen -W \"").expect("a word list") + 12;
        rest[w..w + rest[w..].find('"').unwrap()].to_string()
    };
    let v: Value = serde_json::from_str(&stdout(d, &["schemes", "--json"])).unwrap();
    let schemes = values_of("--scheme");
    for s in v.as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        assert!(
            schemes.split(' ').any(|w| w == name),
            "{name} not offered: {schemes}"
        );
    }
    assert!(schemes.split(' ').any(|w| w == "he_uniform"), "{schemes}");
    for (flag, words) in [
        (
            "--dtype",
            &["f32", "f64", "f16", "bf16", "fp16", "bfloat16"][..],
        ),
        ("--format", &["npy", "npz", "safetensors"][..]),
        ("--convention", &["torch", "keras"][..]),
        ("--rng", &["native", "torch"][..]),
        (
            "--nonlinearity",
            &[
                "linear",
                "relu",
                "leaky_relu",
                "tanh",
                "selu",
                "conv_transpose3d",
            ][..],
        ),
    ] {
        let offered = values_of(flag);
        for w in words {
            assert!(
                offered.split(' ').any(|x| x == *w),
                "{flag}: {w} not in {offered}"
            );
        }
    }
}

#[test]
fn man_dir_writes_one_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The subcommands, as `weightgen --help` lists them.
    let help = stdout(d, &["--help"]);
    let subs: Vec<String> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   ")) // a wrapped description
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "help")
        .collect();
    assert!(subs.len() >= 6, "{subs:?}");
    stdout(d, &["man", "--dir", "man"]);
    let mut want: Vec<String> = subs.iter().map(|s| format!("weightgen-{s}.1")).collect();
    want.push("weightgen.1".into());
    want.sort();
    let mut got: Vec<String> = fs::read_dir(d.join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, want);
    let page = |name: &str| fs::read_to_string(d.join("man").join(name)).unwrap();
    // Each page is the subcommand's own: its name in the title and its options (roff escapes
    // `-` as `\-`).
    for (sub, options) in [
        (
            "generate",
            &["max\\-shard\\-size", "nonlinearity", "no\\-fsync"][..],
        ),
        ("inspect", &["check", "expect"][..]),
        ("study", &["depth", "plot"][..]),
        ("schemes", &["json"][..]),
        ("man", &["dir"][..]),
    ] {
        let p = page(&format!("weightgen-{sub}.1"));
        assert!(
            p.contains(&format!("\n.TH weightgen-{sub} 1 ")),
            "{sub}: title"
        );
        assert!(
            p.contains(&format!("\n.SH NAME\nweightgen\\-{sub} \\- ")),
            "{sub}: name"
        );
        for o in options {
            assert!(p.contains(&format!("\\-\\-{o}")), "{sub}: --{o} missing");
        }
    }
    // The top page lists the subcommands; `man` alone prints that page.
    let top = page("weightgen.1");
    for s in &subs {
        assert!(
            top.contains(&format!("weightgen\\-{s}(1)")),
            "{s} not in weightgen.1"
        );
    }
    assert_eq!(stdout(d, &["man"]), top);
}

#[test]
fn the_readme_sample_error_is_what_the_command_prints() {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let sample = readme
        .lines()
        .find(|l| l.starts_with("weightgen: error: --scheme: unknown scheme `xavier_unifrom`"))
        .expect("the sample in README's Names section");
    let dir = tempfile::tempdir().unwrap();
    let err = usage_error(dir.path(), &gen_args(&["--scheme", "xavier_unifrom"]));
    // The sample elides the lists with `…`: the pieces between appear in order.
    let mut rest = err.trim_end();
    for piece in sample.split('…') {
        let at = rest
            .find(piece)
            .unwrap_or_else(|| panic!("`{piece}` not in `{rest}`"));
        rest = &rest[at + piece.len()..];
    }
    assert!(sample.ends_with(')') && err.trim_end().ends_with(')'));
}

#[test]
fn format_rng_and_convention_suggest_too() {
    for (args, want) in [
        (
            &["generate", "a=2", "--format", "npx", "-o", "x.npy"][..],
            "--format: unknown format `npx`; did you mean `npy` or `npz`?",
        ),
        (
            &["generate", "a=2", "--rng", "toch", "-o", "x.npy"][..],
            "--rng: unknown rng `toch`; did you mean `torch`?",
        ),
        (
            &["generate", "a=2", "--convention", "kera", "-o", "x.npy"][..],
            "--convention: unknown convention `kera`; did you mean `keras`?",
        ),
    ] {
        let d = tempfile::tempdir().unwrap();
        let o = run(d.path(), args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "`{want}` not in {err}");
    }
}
