//! `generate --hf-config`: checkpoints from Hugging Face configs.
//!
//! The references in `fixtures/hf/<case>/` were written by real transformers 5.24 + torch 2.15
//! (`torch.manual_seed(0); Auto….from_config(cfg).save_pretrained(dir)`; see
//! `fixtures/hf/README.md`): `sha256.json` holds every saved tensor's name, shape, dtype and the
//! SHA-256 of its bytes, beside the `config.json` / `generation_config.json` transformers wrote.

mod common;

use common::cli::{fixture, ok, run, run_stdin};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The reference cases: folders of `fixtures/hf` with a `sha256.json`.
fn cases() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(fixture("hf"))
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.path()
                .join("sha256.json")
                .exists()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    assert!(v.len() >= 8, "reference cases: {v:?}");
    v
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// name → (shape, dtype, sha256) of every tensor in the checkpoint directory.
fn digests(dir: &Path) -> BTreeMap<String, (Vec<usize>, String, String)> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "safetensors") {
            continue;
        }
        let bytes = fs::read(&p).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (name, t) in st.tensors() {
            let h: String = Sha256::digest(t.data())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let dtype = format!("{:?}", t.dtype());
            out.insert(name, (t.shape().to_vec(), dtype, h));
        }
    }
    out
}

/// The reference digests of a case: `sha256.json` maps names to `{shape, dtype, sha256}`, or
/// (the tiny cases) to the hash alone, with shapes and dtypes in `keys.json`.
fn reference(case: &str) -> BTreeMap<String, (Vec<usize>, String, String)> {
    let v = json(&fixture(&format!("hf/{case}/sha256.json")));
    let keys = fixture(&format!("hf/{case}/keys.json"));
    let listed: BTreeMap<String, Value> = if keys.exists() {
        json(&keys)["saved_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
            .collect()
    } else {
        BTreeMap::new()
    };
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| {
            let (meta, hash) = match t {
                Value::String(h) => (&listed[k], h.as_str()),
                _ => (t, t["sha256"].as_str().unwrap()),
            };
            let shape = meta["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let dtype = meta["dtype"].as_str().unwrap().to_string();
            (k.clone(), (shape, dtype, hash.to_string()))
        })
        .collect()
}

/// `weightgen generate --hf-config fixtures/hf/CASE/input_config.json -o OUT -q EXTRA…`.
fn generate(case: &str, out: &Path, extra: &[&str]) {
    let cfg = fixture(&format!("hf/{case}/input_config.json"));
    let mut args = vec![
        "generate",
        "--hf-config",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    ok(&run(out.parent().unwrap(), &args));
}

#[test]
fn torch_rng_reproduces_from_config_bit_for_bit_for_every_reference_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in cases() {
        let out = tmp.path().join(&case);
        generate(&case, &out, &["--rng", "torch", "--seed", "0"]);
        let want = reference(&case);
        let got = digests(&out);
        if got.keys().ne(want.keys()) {
            failures.push(format!(
                "{case}: names {:?} != {:?}",
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>()
            ));
            continue;
        }
        for (name, w) in &want {
            if &got[name] != w {
                failures.push(format!("{case}: {name}: {:?} != {w:?}", got[name]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn written_configs_agree_with_what_transformers_writes() {
    let tmp = tempfile::tempdir().unwrap();
    for case in cases() {
        let out = tmp.path().join(&case);
        let dir = fixture(&format!("hf/{case}"));
        let cfg = dir.join("input_config.json");
        generate(&case, &out, &["--seed", "1"]);
        // config.json: the input, plus what transformers fills in that names the model.
        let input = json(&cfg);
        let theirs = json(&dir.join("config.json"));
        let ours = json(&out.join("config.json"));
        for (k, v) in input.as_object().unwrap() {
            if k == "torch_dtype" {
                continue; // transformers 5.x renames it `dtype`
            }
            assert_eq!(&ours[k], v, "{case}: config.json {k}");
        }
        for k in ["architectures", "model_type", "dtype"] {
            assert_eq!(ours[k], theirs[k], "{case}: config.json {k}");
        }
        // generation_config.json: written exactly when transformers writes one, with the same
        // values (but the version stamp).
        let gen_theirs = dir.join("generation_config.json");
        let gen_ours = out.join("generation_config.json");
        assert_eq!(gen_ours.exists(), gen_theirs.exists(), "{case}");
        if gen_theirs.exists() {
            let mut t = json(&gen_theirs);
            t.as_object_mut().unwrap().remove("transformers_version");
            assert_eq!(json(&gen_ours), t, "{case}: generation_config.json");
        }
    }
}

#[test]
fn native_checkpoints_pass_inspect_check_and_zero_the_padding_row() {
    let tmp = tempfile::tempdir().unwrap();
    for case in ["gemma", "phi3", "gpt2", "t5", "bert", "llama_bf16"] {
        let out = tmp.path().join(case);
        generate(case, &out, &["--seed", "7"]);
        let st = out.join("model.safetensors");
        ok(&run(
            tmp.path(),
            &["inspect", "--check", st.to_str().unwrap(), "-q"],
        ));
        // Same names, shapes and dtypes as transformers'.
        let want = reference(case);
        let got = digests(&out);
        for (name, (shape, dtype, _)) in &want {
            assert_eq!(
                (&got[name].0, &got[name].1),
                (shape, dtype),
                "{case}: {name}"
            );
        }
        assert_eq!(got.len(), want.len(), "{case}");
    }
    // Gemma's pad_token_id is 0: row 0 of the embedding is +0, row 1 is not.
    let bytes = fs::read(tmp.path().join("gemma/model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let e = st.tensor("model.embed_tokens.weight").unwrap();
    let row = e.shape()[1] * 4;
    assert!(e.data()[..row].iter().all(|&b| b == 0));
    assert!(e.data()[row..2 * row].iter().any(|&b| b != 0));
}

#[test]
fn shards_written_alone_equal_one_run_and_the_configs_come_with_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fixture("hf/phi3/input_config.json");
    let cfg = cfg.to_str().unwrap();
    let base = [
        "generate",
        "--hf-config",
        cfg,
        "--seed",
        "5",
        "--rng",
        "torch",
        "--max-shard-size",
        "150KB",
        "-q",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |dir: &Path, args: &[String]| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run(dir, &a)
    };
    ok(&run(tmp.path(), &with(&["-o", "one"])));
    let files: Vec<String> = {
        let mut v: Vec<String> = fs::read_dir(tmp.path().join("one"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let shards: Vec<&String> = files
        .iter()
        .filter(|f| f.ends_with("safetensors"))
        .collect();
    assert!(shards.len() >= 3, "{files:?}");
    assert!(files.contains(&"config.json".to_string()), "{files:?}");
    assert!(files.contains(&"model.safetensors.index.json".to_string()));
    for k in 1..=shards.len() {
        ok(&run(
            tmp.path(),
            &with(&["-o", "parts", "--shard", &k.to_string()]),
        ));
    }
    assert!(!tmp.path().join("parts/config.json").exists());
    ok(&run(tmp.path(), &with(&["-o", "parts", "--index-only"])));
    for f in &files {
        assert_eq!(
            fs::read(tmp.path().join("one").join(f)).unwrap(),
            fs::read(tmp.path().join("parts").join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_spec_names_the_config_relative_to_itself_or_on_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("specs")).unwrap();
    fs::copy(
        fixture("hf/gpt2/input_config.json"),
        tmp.path().join("specs/gpt2.json"),
    )
    .unwrap();
    fs::write(
        tmp.path().join("specs/model.json"),
        r#"{"hf_config": "gpt2.json", "seed": 3, "rng": "torch", "dtype": "bf16"}"#,
    )
    .unwrap();
    ok(&run(
        tmp.path(),
        &["generate", "--spec", "specs/model.json", "-o", "a", "-q"],
    ));
    let spec = r#"{"hf_config": "specs/gpt2.json", "seed": 3, "rng": "torch", "dtype": "bf16"}"#;
    ok(&run_stdin(
        tmp.path(),
        &["generate", "--spec", "-", "-o", "b", "-q"],
        spec.as_bytes(),
    ));
    assert_eq!(
        fs::read(tmp.path().join("a/model.safetensors")).unwrap(),
        fs::read(tmp.path().join("b/model.safetensors")).unwrap()
    );
    // --dtype (here the spec's) overrides the config's, and config.json says what was written.
    assert_eq!(json(&tmp.path().join("a/config.json"))["dtype"], "bfloat16");
    let d = digests(&tmp.path().join("a"));
    assert!(d.values().all(|(_, dtype, _)| dtype == "BF16"));
}

#[test]
fn bad_configs_are_one_line_errors_with_exit_2_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            r#"{"model_type": "mamba"}"#,
            "model_type: unknown model_type `mamba`",
        ),
        (r#"{"hidden_size": 64}"#, "model_type: missing"),
        (
            r#"{"model_type": "llama", "hidden_size": 100, "num_attention_heads": 3}"#,
            "num_attention_heads: 3 heads do not divide hidden_size 100",
        ),
        (
            r#"{"model_type": "llama", "vocab_size": 100, "pad_token_id": 100}"#,
            "pad_token_id: 100 is not a row of the embedding (vocab_size 100)",
        ),
        (
            r#"{"model_type": "qwen2", "num_attention_heads": 6, "num_key_value_heads": 4, "hidden_size": 48}"#,
            "num_key_value_heads: 4 key/value heads do not divide num_attention_heads 6",
        ),
        (
            r#"{"model_type": "gpt2", "n_embd": "big"}"#,
            "n_embd: expected a positive integer",
        ),
        (
            r#"{"model_type": "t5", "feed_forward_proj": "gated-gelu-x"}"#,
            "feed_forward_proj",
        ),
        (
            r#"{"model_type": "llama", "torch_dtype": "int8"}"#,
            "torch_dtype: unsupported dtype `int8`",
        ),
        (
            r#"{"model_type": "bert", "architectures": ["BertForSequenceClassification"]}"#,
            "architectures: `BertForSequenceClassification` is not a supported bert architecture",
        ),
        (r#"[1, 2]"#, "expected a JSON object"),
        (r#"{"model_type": "llama",}"#, "invalid JSON"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let cfg = tmp.path().join(format!("c{i}.json"));
        fs::write(&cfg, text).unwrap();
        let o = run(
            tmp.path(),
            &[
                "generate",
                "--hf-config",
                cfg.to_str().unwrap(),
                "-o",
                "out",
                "--seed",
                "1",
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("weightgen: error: hf config "), "{err}");
        assert!(err.contains(want), "{text}: {err}");
        assert!(!tmp.path().join("out").exists(), "{text}");
    }
    // A missing file, and a config mixed with layers or scheme flags.
    let o = run(
        tmp.path(),
        &["generate", "--hf-config", "nope", "-o", "out"],
    );
    assert_eq!(o.status.code(), Some(2));
    let cfg = fixture("hf/llama_f32/input_config.json");
    for extra in [["--mlp", "4,4"], ["--scheme", "zeros"], ["--std", "0.1"]] {
        let mut a = vec![
            "generate",
            "--hf-config",
            cfg.to_str().unwrap(),
            "-o",
            "out",
        ];
        a.extend_from_slice(&extra);
        let o = run(tmp.path(), &a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("hf_config: a model's tensors and values come from its config"));
    }
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn an_existing_config_is_kept_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fixture("hf/llama_f32/input_config.json");
    fs::create_dir(tmp.path().join("out")).unwrap();
    fs::write(tmp.path().join("out/config.json"), "mine").unwrap();
    let args = [
        "generate",
        "--hf-config",
        cfg.to_str().unwrap(),
        "-o",
        "out",
        "--seed",
        "1",
        "-q",
    ];
    let o = run(tmp.path(), &args);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("config.json already exists"));
    assert_eq!(
        fs::read(tmp.path().join("out/config.json")).unwrap(),
        b"mine"
    );
    assert!(!tmp.path().join("out/model.safetensors").exists());
    let mut forced = args.to_vec();
    forced.push("--force");
    ok(&run(tmp.path(), &forced));
    assert_eq!(
        json(&tmp.path().join("out/config.json"))["model_type"],
        "llama"
    );
}

#[test]
fn a_70b_dry_run_lists_every_tensor_with_exact_parameter_counts() {
    // Llama-2-70B's shape. Its parameter count from the architecture alone: embedding and
    // lm_head 2·32000·8192; per layer q and o 2·8192², k and v 2·1024·8192 (8 KV heads of 128),
    // gate/up/down 3·8192·28672, two norms 2·8192; 80 layers; final norm 8192:
    // 524,288,000 + 80·855,654,400 + 8,192 = 68,976,648,192.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("config.json");
    fs::write(
        &cfg,
        r#"{"model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
            "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
            "vocab_size": 32000, "torch_dtype": "bfloat16"}"#,
    )
    .unwrap();
    let v = dry_run(tmp.path(), tmp.path());
    let tensors = v["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 1 + 80 * 9 + 2);
    let params: u64 = tensors.iter().map(|t| t["numel"].as_u64().unwrap()).sum();
    assert_eq!(params, 68_976_648_192);
    assert_eq!(v["total_bytes"].as_u64().unwrap(), 2 * params);
    let outputs: Vec<&str> = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(outputs.len(), 3 + 3, "{outputs:?}"); // 3 shards of ≤ 50GB, index, 2 configs
    assert!(
        outputs
            .iter()
            .any(|o| o.ends_with("generation_config.json"))
    );
    assert!(!tmp.path().join("ckpt").exists());
}

#[test]
fn the_readme_model_commands_run() {
    // Every `weightgen generate --hf-config` line of the README's model section, run from a
    // copy of the paths it names (the Python line is checked by `make verify-hf`).
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("weightgen generate --hf-config"))
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    for line in lines {
        let args: Vec<String> = line
            .split_whitespace()
            .skip(1)
            .map(|a| {
                if a.starts_with("fixtures/") {
                    fixture(a.trim_start_matches("fixtures/"))
                        .display()
                        .to_string()
                } else {
                    a.to_string()
                }
            })
            .collect();
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(tmp.path(), &a);
        ok(&o);
        assert!(tmp.path().join("tiny-llama/config.json").exists(), "{line}");
    }
}

#[test]
fn real_size_configs_plan_the_names_shapes_and_order_of_transformers_state_dict() {
    // fixtures/hf/meta: the state dict of real-size configs built by transformers on the meta
    // device (minus tied keys), in order. A dry run must list the same tensors in the same
    // order (the order decides the shards), with the same parameter count.
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for e in fs::read_dir(fixture("hf/meta")).unwrap() {
        let p = e.unwrap().path();
        let meta = json(&p);
        let cfg = tmp.path().join("config.json");
        fs::write(&cfg, meta["input_config"].to_string()).unwrap();
        let v = dry_run(tmp.path(), &cfg);
        let ours = names_and_shapes(&v);
        let theirs = names_and_shapes(&meta);
        assert_eq!(ours, theirs, "{}", p.display());
        let params: u64 = v["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["numel"].as_u64().unwrap())
            .sum();
        assert_eq!(
            params,
            meta["num_params"].as_u64().unwrap(),
            "{}",
            p.display()
        );
        n += 1;
    }
    assert!(n >= 14, "{n} real-size configs");
}

/// The dry-run tensor list (name, shape) of a config given as JSON text.
fn planned(dir: &Path, config: &str) -> Vec<(String, Value)> {
    let cfg = dir.join("config.json");
    fs::write(&cfg, config).unwrap();
    names_and_shapes(&dry_run(dir, &cfg))
}

/// `generate --hf-config CONFIG -o ckpt --dry-run --json --seed 1` in `dir`, parsed.
fn dry_run(dir: &Path, config: &Path) -> Value {
    let o = run(
        dir,
        &[
            "generate",
            "--hf-config",
            config.to_str().unwrap(),
            "-o",
            "ckpt",
            "--dry-run",
            "--json",
            "--seed",
            "1",
        ],
    );
    ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// (name, shape) of every entry of `v["tensors"]`, in order.
fn names_and_shapes(v: &Value) -> Vec<(String, Value)> {
    v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["shape"].clone()))
        .collect()
}

#[test]
fn absent_fields_take_the_config_class_defaults_of_transformers() {
    // fixtures/hf/defaults.json: `AutoConfig.for_model(model_type)` of transformers 5.24. A
    // config naming only the model type must plan exactly what those defaults, written out,
    // plan.
    let tmp = tempfile::tempdir().unwrap();
    let d = json(&fixture("hf/defaults.json"));
    let types = d["model_types"].as_object().unwrap();
    assert!(types.len() >= 10, "{:?}", types.keys());
    for (t, c) in types {
        let bare = planned(tmp.path(), &format!(r#"{{"model_type": "{t}"}}"#));
        let mut explicit = c["fields"].as_object().unwrap().clone();
        explicit.insert("model_type".into(), Value::String(t.clone()));
        let full = planned(tmp.path(), &Value::Object(explicit).to_string());
        assert_eq!(bare, full, "{t}: defaults");
        assert!(!bare.is_empty());
    }
}
