//! Layer specs expand to exactly the tensors of PyTorch's `state_dict()` — names, shapes,
//! dtypes and constant values — for every module listed in `fixtures/torch/state_dicts.json`
//! (written by PyTorch 2.15), and to Keras' weight layouts and names under `keras`.

use serde_json::{Value, json};
use weightgen::dtype::DType;
use weightgen::plan::Plan;
use weightgen::scheme::Distribution;
use weightgen::spec::Spec;

/// The layer spec for each PyTorch constructor in state_dicts.json.
fn layer_for(module: &str) -> Value {
    match module {
        "nn.Linear(5, 3)" => json!({"type": "linear", "in_features": 5, "out_features": 3}),
        "nn.Linear(5, 3, bias=False)" => {
            json!({"type": "linear", "in_features": 5, "out_features": 3, "bias": false})
        }
        "nn.Conv1d(4, 8, 5)" => {
            json!({"type": "conv1d", "in_channels": 4, "out_channels": 8, "kernel_size": 5})
        }
        "nn.Conv2d(8, 16, 3, groups=4)" => json!({"type": "conv2d", "in_channels": 8,
            "out_channels": 16, "kernel_size": 3, "groups": 4}),
        "nn.Conv2d(3, 6, (3, 5), bias=False)" => json!({"type": "conv2d", "in_channels": 3,
            "out_channels": 6, "kernel_size": [3, 5], "bias": false}),
        "nn.Conv3d(2, 4, 3)" => {
            json!({"type": "conv3d", "in_channels": 2, "out_channels": 4, "kernel_size": 3})
        }
        "nn.ConvTranspose2d(4, 8, 3)" => json!({"type": "conv_transpose2d", "in_channels": 4,
            "out_channels": 8, "kernel_size": 3}),
        "nn.Embedding(10, 4)" => {
            json!({"type": "embedding", "num_embeddings": 10, "embedding_dim": 4})
        }
        "nn.LayerNorm(16)" => json!({"type": "layer_norm", "normalized_shape": 16}),
        "nn.LayerNorm([4, 5])" => json!({"type": "layer_norm", "normalized_shape": [4, 5]}),
        "nn.LayerNorm(16, bias=False)" => {
            json!({"type": "layer_norm", "normalized_shape": 16, "bias": false})
        }
        "nn.RMSNorm(16)" => json!({"type": "rms_norm", "normalized_shape": 16}),
        "nn.BatchNorm1d(8)" => json!({"type": "batch_norm1d", "num_features": 8}),
        "nn.BatchNorm2d(8)" => json!({"type": "batch_norm2d", "num_features": 8}),
        "nn.GroupNorm(2, 8)" => json!({"type": "group_norm", "num_groups": 2, "num_channels": 8}),
        other => panic!("no layer spec for {other}: add it to this table"),
    }
}

fn plan(spec: Value) -> Plan {
    Plan::new(&Spec::from_json(&spec.to_string(), "test").unwrap(), 0).unwrap()
}

fn torch_dtype(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::I64 => "int64",
        _ => "other",
    }
}

#[test]
fn every_module_in_the_pytorch_table_expands_to_its_state_dict() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/torch/state_dicts.json"
    ))
    .unwrap();
    let table: Value = serde_json::from_str(&text).unwrap();
    let modules = table["modules"].as_object().unwrap();
    assert!(modules.len() >= 15);
    for (module, entries) in modules {
        let mut layer = layer_for(module);
        layer["name"] = json!("");
        // torch_default: what PyTorch does at construction, so "random" entries are random.
        let p = plan(json!({"scheme": "torch_default", "layers": [layer]}));
        let entries = entries.as_array().unwrap();
        let got: Vec<&str> = p.tensors.iter().map(|t| t.name.as_str()).collect();
        let want: Vec<&str> = entries
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{module}: names");
        for (t, e) in p.tensors.iter().zip(entries) {
            let shape: Vec<u64> = e["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            assert_eq!(t.shape, shape, "{module} {}: shape", t.name);
            assert_eq!(
                torch_dtype(t.dtype),
                e["dtype"],
                "{module} {}: dtype",
                t.name
            );
            let d = t.params.distribution;
            match e["values"].as_str().unwrap() {
                "ones" => assert_eq!(
                    d,
                    Distribution::Constant { value: 1.0 },
                    "{module} {}",
                    t.name
                ),
                "zeros" => assert_eq!(
                    d,
                    Distribution::Constant { value: 0.0 },
                    "{module} {}",
                    t.name
                ),
                "random" => assert!(d.is_random(), "{module} {}: {d:?}", t.name),
                v => panic!("unknown values kind {v}"),
            }
        }
    }
}

#[test]
fn named_layers_prefix_their_tensors_and_default_biases_are_zeros() {
    let p = plan(json!({"layers": [
        {"type": "linear", "name": "fc1", "in_features": 784, "out_features": 256},
        {"type": "linear", "name": "fc2", "in_features": 256, "out_features": 10,
         "scheme": "kaiming_uniform", "nonlinearity": "relu", "bias": {"scheme": "normal", "std": 0.01}}
    ]}));
    let names: Vec<&str> = p.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
    assert_eq!(p.tensors[0].scheme.name(), "xavier_uniform");
    assert_eq!(
        p.tensors[1].params.distribution,
        Distribution::Constant { value: 0.0 }
    );
    assert_eq!(p.tensors[2].scheme.name(), "kaiming_uniform");
    assert_eq!(
        p.tensors[3].params.distribution,
        Distribution::Normal {
            mean: 0.0,
            std: 0.01
        }
    );
}

#[test]
fn keras_layouts_and_names() {
    let p = plan(json!({"convention": "keras", "layers": [
        {"type": "linear", "name": "d", "in_features": 5, "out_features": 3},
        {"type": "conv2d", "name": "c", "in_channels": 8, "out_channels": 16, "kernel_size": [3, 5], "groups": 4},
        {"type": "conv_transpose2d", "name": "t", "in_channels": 4, "out_channels": 8, "kernel_size": 3},
        {"type": "embedding", "name": "e", "num_embeddings": 10, "embedding_dim": 4},
        {"type": "batch_norm", "name": "bn", "num_features": 8},
        {"type": "rms_norm", "name": "r", "normalized_shape": 6}
    ]}));
    let got: Vec<(String, Vec<u64>)> = p
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    let want: Vec<(String, Vec<u64>)> = [
        ("d.kernel", vec![5, 3]),
        ("d.bias", vec![3]),
        ("c.kernel", vec![3, 5, 2, 16]),
        ("c.bias", vec![16]),
        ("t.kernel", vec![3, 3, 8, 4]),
        ("t.bias", vec![8]),
        ("e.embeddings", vec![10, 4]),
        ("bn.gamma", vec![8]),
        ("bn.beta", vec![8]),
        ("bn.moving_mean", vec![8]),
        ("bn.moving_variance", vec![8]),
        ("r.scale", vec![6]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(got, want);
    // Keras' Embedding default is RandomUniform(-0.05, 0.05).
    assert_eq!(
        p.tensors[6].params.distribution,
        Distribution::Uniform {
            low: -0.05,
            high: 0.05
        }
    );
    // Kernel fans follow the keras layout: conv [3, 5, 2, 16] → fan_in 30, fan_out 240.
    assert_eq!(
        (p.tensors[2].params.fan_in, p.tensors[2].params.fan_out),
        (Some(30), Some(240))
    );
}

#[test]
fn torch_default_biases_use_the_weights_fan_in_including_transposed_convs() {
    let p = plan(json!({"scheme": "torch_default", "layers": [
        {"type": "conv_transpose2d", "name": "t", "in_channels": 4, "out_channels": 8, "kernel_size": 3}
    ]}));
    // PyTorch: weight [4, 8, 3, 3], fan_in = size(1)·k = 8·9 = 72 for weight and bias.
    let bound = 1.0 / 72f64.sqrt();
    assert_eq!(p.tensors[1].params.fan_in, Some(72));
    assert_eq!(
        p.tensors[1].params.distribution,
        Distribution::Uniform {
            low: -bound,
            high: bound
        }
    );
}

#[test]
fn mlp_shorthand_matches_pytorchs_sequential_state_dict() {
    // fixtures/torch/mlp_default_seed42.safetensors: nn.Sequential(Linear(784, 256), ReLU(),
    // Linear(256, 10)).state_dict(), written by PyTorch.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/torch/mlp_default_seed42.safetensors"
    ))
    .unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut want: Vec<(String, Vec<u64>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().iter().map(|&d| d as u64).collect()))
        .collect();
    want.sort();
    let spec = Spec {
        layers: weightgen::testing::mlp(&[784, 256, 10]).unwrap(),
        ..Default::default()
    };
    let mut got: Vec<(String, Vec<u64>)> = Plan::new(&spec, 0)
        .unwrap()
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn bad_layers_are_errors_that_name_their_place() {
    let cases = [
        (json!({"type": "linaer", "name": "a"}), "unknown layer type"),
        (
            json!({"type": "linear", "name": "a", "in_features": 3}),
            "needs `out_features`",
        ),
        (
            json!({"type": "linear", "name": "a", "in_features": 3, "out_features": 2, "kernel_size": 3}),
            "not a parameter of linear",
        ),
        (
            json!({"type": "conv2d", "name": "a", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2}),
            "groups",
        ),
        (
            json!({"type": "conv2d", "name": "a", "in_channels": 4, "out_channels": 4, "kernel_size": [3, 3, 3]}),
            "kernel_size",
        ),
        (
            json!({"type": "group_norm", "name": "a", "num_groups": 3, "num_channels": 8}),
            "num_groups",
        ),
        (
            json!({"type": "embedding", "name": "a", "num_embeddings": 3, "embedding_dim": 2, "bias": false}),
            "no optional bias",
        ),
        (
            json!({"type": "linear", "in_features": 3, "out_features": 2}),
            "missing key `name`",
        ),
    ];
    for (layer, fragment) in cases {
        let spec = json!({"layers": [layer]}).to_string();
        let e = Spec::from_json(&spec, "t")
            .and_then(|s| Plan::new(&s, 0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("layers[0]") && e.contains(fragment), "{e}");
    }
}
