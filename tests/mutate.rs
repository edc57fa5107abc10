//! A stable-Rust fuzzer for the readers: random mutations of valid files and of the malformed
//! corpus, fed to `inspect_bytes` (parse + statistics + checks, as the command does). The
//! contract is that nothing panics: any input gives a report or an error.
//!
//! In `cargo test` it runs a small fixed number of mutations (deterministic seed). `make fuzz`
//! runs it for longer with `WEIGHTGEN_FUZZ_SECS=N` (and a seed from the clock unless
//! `WEIGHTGEN_FUZZ_SEED` is set) next to, or instead of, the cargo-fuzz targets in `fuzz/`.
//! An input that panics is saved under `target/fuzz-crashes/` and the test fails naming it.

use std::path::Path;
use std::time::{Duration, Instant};
use weightgen::testing::FileFormat;
use weightgen::testing::{Expect, Options, inspect_bytes};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Valid seed files written by the library itself, and the malformed corpus.
fn seeds() -> Vec<(FileFormat, Vec<u8>)> {
    use weightgen::exec::Cancel;
    use weightgen::format::Format;
    use weightgen::job::WriteOptions;
    use weightgen::plan::Plan;
    use weightgen::spec::Spec;
    use weightgen::testing::{Target, write_plan};
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::from_json(
        r#"{"seed": 1, "tensors": [
            {"name": "w", "shape": [8, 4], "scheme": "normal", "std": 0.1},
            {"name": "b", "shape": [4], "scheme": "zeros"},
            {"name": "u", "shape": [3, 3], "scheme": "uniform"}]}"#,
        "seed",
    )
    .unwrap();
    let plan = Plan::new(&spec, 1).unwrap();
    let mut out = Vec::new();
    for (fmt, ff, compress) in [
        (Format::Safetensors, FileFormat::Safetensors, false),
        (Format::Npz, FileFormat::Npz, false),
        (Format::Npz, FileFormat::Npz, true),
    ] {
        let p = dir.path().join(format!("s.{}", fmt.name()));
        let opts = WriteOptions {
            compress,
            ..Default::default()
        };
        write_plan(
            &plan,
            fmt,
            &Target::Path(p.clone()),
            true,
            opts,
            &Cancel::new(),
        )
        .unwrap();
        out.push((ff, std::fs::read(&p).unwrap()));
    }
    let one = Spec::from_json(r#"{"tensors": [{"name": "w", "shape": [5, 3]}]}"#, "s").unwrap();
    let p = dir.path().join("s.npy");
    write_plan(
        &Plan::new(&one, 2).unwrap(),
        Format::Npy,
        &Target::Path(p.clone()),
        true,
        WriteOptions::default(),
        &Cancel::new(),
    )
    .unwrap();
    out.push((FileFormat::Npy, std::fs::read(&p).unwrap()));
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/malformed");
    for e in std::fs::read_dir(corpus).unwrap() {
        let p = e.unwrap().path();
        let f = match p.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => FileFormat::Safetensors,
            Some("npy") => FileFormat::Npy,
            Some("npz") => FileFormat::Npz,
            _ => continue,
        };
        out.push((f, std::fs::read(&p).unwrap()));
    }
    out
}

const INTERESTING: [u64; 10] = [
    0,
    1,
    0x7f,
    0xff,
    0xffff,
    0xffff_ffff,
    u64::MAX,
    1 << 32,
    1 << 63,
    100_000_001,
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())] as u8;
            }
            2 if len > 0 => v.truncate(rng.below(len)),
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(i..i, bytes);
            }
            4 if len >= 8 => {
                // Overwrite an aligned integer (a length, offset or size field) with an extreme.
                let w = [2usize, 4, 8][rng.below(3)];
                let i = rng.below(len - w + 1);
                let x = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                v[i..i + w].copy_from_slice(&x[..w]);
            }
            5 if len > 0 => {
                // Duplicate a slice (repeated keys, members, digits).
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let s = v[a..b].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, s);
            }
            6 if len > 0 => {
                // Replace an ASCII digit by another (sizes and shapes in JSON and npy headers).
                if let Some(i) = (0..32)
                    .map(|_| rng.below(len))
                    .find(|&i| v[i].is_ascii_digit())
                {
                    v[i] = b'0' + rng.below(10) as u8;
                }
            }
            _ if len > 0 => {
                let i = rng.below(len);
                v.remove(i);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn exercise(format: FileFormat, bytes: &[u8]) {
    let _ = inspect_bytes(bytes, format, "mutant", &Options::default());
    let e = Expect::from_args(&["uniform".into()], Default::default())
        .unwrap()
        .0;
    let opts = Options {
        expect: Some(e),
        ..Default::default()
    };
    let _ = inspect_bytes(bytes, format, "mutant", &opts);
}

#[test]
fn random_mutations_of_valid_and_malformed_files_never_panic() {
    let secs: Option<u64> = std::env::var("WEIGHTGEN_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed: u64 = std::env::var("WEIGHTGEN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if secs.is_some() {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        } else {
            0x5eed
        });
    let seeds = seeds();
    let mut rng = Rng(seed);
    let start = Instant::now();
    let deadline = secs.map(|s| start + Duration::from_secs(s));
    let mut execs = [0u64; 3];
    let mut i = 0u64;
    // Silence the default hook while we catch panics ourselves.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut crash = None;
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if i >= 20_000 => break,
            _ => {}
        }
        let (format, seed_bytes) = &seeds[rng.below(seeds.len())];
        let m = mutate(&mut rng, seed_bytes);
        let slot = match format {
            FileFormat::Safetensors => 0,
            FileFormat::Npy => 1,
            FileFormat::Npz => 2,
        };
        execs[slot] += 1;
        let f = *format;
        let input = m.clone();
        if std::panic::catch_unwind(move || exercise(f, &input)).is_err() {
            crash = Some((f, m));
            break;
        }
        i += 1;
    }
    std::panic::set_hook(hook);
    println!(
        "mutation fuzzing: seed {seed}, {:.1} s, execs safetensors {} npy {} npz {}",
        start.elapsed().as_secs_f64(),
        execs[0],
        execs[1],
        execs[2]
    );
    if let Some((f, m)) = crash {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("crash-{seed}.{}", f.name()));
        std::fs::write(&p, &m).unwrap();
        exercise(f, &m); // panic again, with the message this time
        panic!("input {} panicked", p.display());
    }
}
