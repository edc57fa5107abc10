//! Initialised tensors in memory, with the values `weightgen generate` writes to files.
//!
//! `cargo run --example in_memory` prints a few values of each tensor. The first two are the
//! bytes of `weightgen generate fc1.weight=256x784 --scheme kaiming_normal --nonlinearity relu
//! --seed 42` (with `--rng torch` for the second: `torch.manual_seed(42);
//! nn.init.kaiming_normal_(torch.empty(256, 784), nonlinearity='relu')`); the last are the
//! bundled `fixtures/specs/mlp.json` planned as `weightgen generate --spec` plans it.

use weightgen::memory::{Init, TensorData};
use weightgen::scheme::Nonlinearity;
use weightgen::spec::Spec;

fn main() -> Result<(), weightgen::Error> {
    let he = Init::kaiming_normal().nonlinearity(Nonlinearity::Relu);
    let native: Vec<f32> = he.sample("fc1.weight", &[256, 784], 42)?;
    let torch = he
        .clone()
        .torch_rng()
        .sample_array::<f32>("fc1.weight", &[256, 784], 42)?;
    println!("native fc1.weight[0..3] = {:?}", &native[..3]);
    println!(
        "torch  fc1.weight[0, 0..3] = {:?}",
        &torch.as_slice().unwrap()[..3]
    );

    let text = include_str!("../fixtures/specs/mlp.json");
    let spec = Spec::from_json(text, "fixtures/specs/mlp.json")?;
    let plan = weightgen::plan_spec(&spec, 42)?;
    for t in plan.to_tensors()? {
        let TensorData::F32(v) = &t.data else {
            unreachable!("mlp.json is f32")
        };
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        println!("{:10} {:?} mean {mean:+.5}", t.name, t.shape);
    }
    Ok(())
}
