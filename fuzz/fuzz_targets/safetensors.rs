//! Fuzz the safetensors reader: parse, then summarise every tensor (what `weightgen inspect` does),
//! also checking each against a claimed distribution. Any panic, hang or huge allocation is a
//! bug; errors are the expected outcome for almost every input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weightgen::testing::{Expect, Options, inspect_bytes};
use weightgen::testing::FileFormat;

fuzz_target!(|data: &[u8]| {
    let _ = inspect_bytes(data, FileFormat::Safetensors, "fuzz", &Options::default());
    let expect = Expect::from_args(&["normal".into(), "std=0.1".into()], Default::default())
        .expect("valid expectation")
        .0;
    let opts = Options {
        expect: Some(expect),
        ..Default::default()
    };
    let _ = inspect_bytes(data, FileFormat::Safetensors, "fuzz", &opts);
});
