//! weightgen: initialised neural-network weights — in memory, or written to `.npy`, `.npz`
//! and `.safetensors` files (and Hugging Face checkpoints) that NumPy, PyTorch, JAX,
//! TensorFlow, Candle and Burn load directly. The same seed gives the same values on any
//! machine, thread count or shard layout; `--rng torch` gives PyTorch's own.
//!
//! # In memory
//!
//! An initialiser is a value you call ([`memory::Init`]); a tensor comes back as `Vec<T>` or
//! `ndarray::ArrayD<T>` for `f32`, `f64`, `half::f16` and `half::bf16`, with exactly the values
//! `weightgen generate` would write:
//!
//! ```
//! use weightgen::memory::Init;
//! use weightgen::scheme::Nonlinearity;
//! let he = Init::kaiming_uniform().nonlinearity(Nonlinearity::Relu);
//! let w: Vec<f32> = he.sample("fc1.weight", &[256, 784], 42)?; // weightgen's keyed stream
//! let t = he.torch_rng().sample_array::<f32>("fc1.weight", &[256, 784], 42)?; // PyTorch's
//! assert_eq!((w.len(), t.shape()), (256 * 784, &[256, 784][..]));
//! # Ok::<(), weightgen::Error>(())
//! ```
//!
//! A JSON spec (the one the command line takes) or a Hugging Face config is planned with
//! [`plan_spec`]; every tensor of the [`plan::Plan`] can then be read
//! ([`plan::Plan::to_vec`], [`plan::Plan::fill`], [`plan::Plan::to_tensors`]):
//!
//! ```
//! let text = r#"{"scheme": "torch_default",
//!     "layers": [{"type": "linear", "name": "fc", "in_features": 8, "out_features": 4}]}"#;
//! let spec = weightgen::spec::Spec::from_json(text, "inline")?;
//! let plan = weightgen::plan_spec(&spec, 1)?;
//! let bound = 1.0 / 8f32.sqrt(); // nn.Linear's reset_parameters: U(±1/√in_features)
//! assert!(plan.to_vec::<f32>("fc.weight")?.iter().all(|w| w.abs() <= bound));
//! # Ok::<(), weightgen::Error>(())
//! ```
//!
//! # Files
//!
//! A [`job::Generate`] is one run of `weightgen generate` as a value: what to plan, where to
//! write (a file, stdout, a checkpoint or one of its shards), which seed; it runs with a
//! [`exec::Cancel`] token and returns what it did. The binary is a thin layer that maps flags
//! onto it.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let out = dir.path().join("w.safetensors").display().to_string();
//! use weightgen::{exec::Cancel, job::Generate, memory::Init, spec::Spec};
//! let spec = Spec {
//!     seed: Some(1),
//!     tensors: vec![Init::xavier_uniform().tensor("w", &[16, 8])?],
//!     ..Default::default()
//! };
//! let done = Generate::new(spec, out).run(&Cancel::new())?;
//! assert_eq!(done.plan.data_bytes(), 16 * 8 * 4);
//! # Ok::<(), weightgen::Error>(())
//! ```
//!
//! # The modules, in the order data flows through them
//!
//! ```text
//! flags ─► job ─┐
//! JSON  ─► spec ┼─► plan ─► stream (native keyed chunks | torch mt19937) ─┬─► memory (Vec, ndarray)
//! config.json ─► model ┘                                                  └─► write ─► files
//!                                        read ─► inspect (summaries, checks)   study (analysis)
//! ```
//!
//! Public modules (the API):
//!
//! - [`spec`]: what the user asked for (JSON, typed values), validated, with error paths.
//! - [`plan`]: every tensor resolved to a name, shape, dtype and [`scheme::Distribution`].
//! - [`scheme`] and [`fans`]: the formulas (PyTorch's and Keras' exactly); [`dtype`]: element
//!   types and rounding; [`format`](mod@format): the file formats.
//! - [`memory`]: tensors in memory ([`memory::Init`], [`plan::Plan::to_vec`]).
//! - [`job`] and [`exec`]: a run as a value ([`job::Generate`], [`job::Inspect`]), its
//!   cancellation token and worker pool, and [`exec::Allocator`], the global allocator a
//!   binary installs so that an allocation the system refuses ends in one line, not an abort.
//! - `study` (feature `study`): the Glorot & Bengio analysis.
//! - [`error`]: the one error enum, [`Error`]; [`Choice`]: the names each parameter accepts.
//!
//! Crate-private modules (their tests are unit tests; integration tests reach a few items
//! through the hidden `testing` module): `layers` (framework modules expanded to their
//! `state_dict` tensors), `model` (a Hugging Face `config.json` as one more way to build a plan),
//! `stream` (the random streams, the only code that draws numbers), `write` (the file formats
//! and atomic file handling), `read` and `inspect` (files read back safely, summarised and
//! checked), `summary` (what a run reports), `memory_limit` (what whole-matrix steps need,
//! checked against [`job::MemoryLimit`] before they allocate).
//!
//! Cargo features: `cli` (the binary: clap, progress bars, Ctrl-C), `study` (plots), `ndarray`
//! (`ArrayD` outputs); all on by default. A library user can turn off `cli` and `study`.

// Every item the crate does not export is `pub(crate)` (checked in the default build; without
// `torch` the generator's items are unreachable by design).
#![cfg_attr(feature = "torch", warn(unreachable_pub))]

mod dispatch;
pub mod dtype;
pub mod error;
pub mod exec;
pub mod fans;
pub mod format;
pub(crate) mod inspect;
pub mod job;
mod json;
pub(crate) mod layers;
pub mod memory;
pub(crate) mod memory_limit;
pub(crate) mod model;
mod names;
mod params;
pub mod plan;
pub(crate) mod read;
pub mod scheme;
pub mod spec;
pub(crate) mod stream;
#[cfg(feature = "study")]
pub mod study;
pub(crate) mod summary;
pub(crate) mod table;
pub(crate) mod write;

pub use error::{Error, Result};
pub use model::plan_spec;
pub use names::Choice;
pub use stream::RngKind;

/// Internals that the integration tests, fuzz targets and benchmarks reach: not part of the
/// API (no stability promise; hidden from the documentation). Everything else the crate does
/// not export is `pub(crate)`, and unit tests cover it where it lives.
#[doc(hidden)]
pub mod testing {
    pub use crate::inspect::{Expect, Options, inspect_bytes, stats};
    pub use crate::layers::mlp;
    pub use crate::model::load;
    pub use crate::read::FileFormat;
    pub use crate::spec::parse_tensor_arg;
    #[cfg(feature = "torch")]
    pub use crate::stream::torch;
    pub use crate::stream::{CHUNK_ELEMS, TensorStream};
    pub use crate::write::{Target, npy_header, safetensors_header, write_plan};
}

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
