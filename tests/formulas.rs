//! Fans, gains, bounds and standard deviations against an independent Python transcription of
//! PyTorch's `torch/nn/init.py`, Keras 3's `random_initializers.py` and JAX's
//! `variance_scaling` (tests/reference/formulas.py → fixtures/reference/formulas.json).
//! Compared bit for bit as f64: the schemes follow each framework's operation order.

use serde_json::Value;
use weightgen::fans::Convention;
use weightgen::plan::Plan;
use weightgen::scheme::{Distribution, Param};
use weightgen::spec::{Spec, TensorSpec};

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/reference/formulas.json"
    ))
    .expect("fixture exists");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn plan_for(case: &Value) -> weightgen::Result<Plan> {
    let mut spec = Spec {
        convention: Some(match case["convention"].as_str().unwrap() {
            "torch" => Convention::Torch,
            _ => Convention::Keras,
        }),
        ..Default::default()
    };
    let shape: Vec<u64> = case["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    let mut t = TensorSpec {
        name: "w".into(),
        shape,
        dtype: None,
        params: Default::default(),
        origin: "case".into(),
        role: Default::default(),
        inherit: true,
    };
    t.params
        .set_scheme(case["scheme"].as_str().unwrap(), "scheme")
        .unwrap();
    for (k, v) in case["params"].as_object().unwrap() {
        let p = Param::from_key(k).unwrap_or_else(|| panic!("unknown param {k}"));
        let text = match v {
            Value::String(s) => s.clone(),
            // Debug formatting of f64 round-trips exactly.
            Value::Number(n) => match n.as_u64() {
                Some(u) => u.to_string(),
                None => format!("{:?}", n.as_f64().unwrap()),
            },
            other => panic!("unexpected param value {other}"),
        };
        t.params.set_str(p, &text, k).unwrap();
    }
    spec.tensors.push(t);
    Plan::new(&spec, 0)
}

fn expected_distribution(d: &Value) -> Distribution {
    let f = |k: &str| {
        d[k].as_f64()
            .unwrap_or_else(|| panic!("missing {k} in {d}"))
    };
    match d["kind"].as_str().unwrap() {
        "uniform" => Distribution::Uniform {
            low: f("low"),
            high: f("high"),
        },
        "normal" => Distribution::Normal {
            mean: f("mean"),
            std: f("std"),
        },
        "truncated_normal" => Distribution::TruncatedNormal {
            mean: f("mean"),
            std: f("std"),
            low: f("low"),
            high: f("high"),
        },
        k => panic!("unknown kind {k}"),
    }
}

#[test]
fn every_reference_case_matches_pytorch_and_keras_bit_for_bit() {
    let cases = cases();
    assert!(cases.len() >= 30, "fixture has {} cases", cases.len());
    let mut shapes = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        shapes.insert(case["shape"].to_string());
        let expect = &case["expect"];
        let got = plan_for(case);
        if expect.get("error").is_some() {
            if let Ok(p) = got {
                failures.push(format!(
                    "{id}: expected an error, got {:?}",
                    p.tensors[0].params
                ));
            }
            continue;
        }
        let plan = match got {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{id}: unexpected error: {e}"));
                continue;
            }
        };
        let r = &plan.tensors[0].params;
        for (key, ours) in [("fan_in", r.fan_in), ("fan_out", r.fan_out)] {
            if let Some(want) = expect.get(key) {
                let want = want.as_f64().unwrap();
                if ours.map(|x| x as f64) != Some(want) {
                    failures.push(format!("{id}: {key} {ours:?} != {want}"));
                }
            }
        }
        let want = expected_distribution(&expect["distribution"]);
        if r.distribution != want {
            failures.push(format!("{id}: {:?} != {want:?}", r.distribution));
        }
    }
    assert!(shapes.len() >= 20, "only {} distinct shapes", shapes.len());
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn f32_bounds_equal_the_f64_bound_rounded_once() {
    // PyTorch computes bounds in Python floats (f64) and the kernel casts them to the tensor
    // dtype; the f32 uniform bound must be that f64 number rounded once.
    for case in cases() {
        if case["expect"].get("error").is_some() {
            continue;
        }
        let plan = plan_for(&case).unwrap();
        if let Distribution::Uniform { low, high } = plan.tensors[0].params.distribution {
            let want = expected_distribution(&case["expect"]["distribution"]);
            let Distribution::Uniform { low: wl, high: wh } = want else {
                unreachable!()
            };
            assert_eq!((low as f32, high as f32), (wl as f32, wh as f32));
        }
    }
}
