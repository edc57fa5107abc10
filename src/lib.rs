//! weightgen: initialised neural-network weights, written to `.npy`, `.npz` and `.safetensors`
//! files that NumPy, PyTorch, JAX, TensorFlow, Candle and Burn load directly.
//!
//! The pipeline runs in one direction (see the README and `docs/design.md §1`):
//!
//! ```text
//! flags / JSON ─► Spec ─► Plan ─► Streams ─► Writer ─► file(s) / stdout
//! ```
//!
//! - [`spec`]: what the user asked for, validated, with error paths.
//! - [`plan`]: every tensor resolved to a name, shape, dtype and [`scheme::Distribution`].
//! - [`model`]: a Hugging Face `config.json` as one more way to build a plan (families,
//!   `state_dict` names, `_init_weights` laws, `from_config`'s draw order).
//! - [`scheme`] and [`fans`]: the formulas (PyTorch's and Keras' exactly).
//! - [`stream`]: keyed, chunked random streams (`weightgen-3`), the only code that draws numbers.
//! - [`write`]: one module per format behind one trait, and atomic file handling.
//! - [`read`] and [`inspect`]: files read back safely, summarised, and checked against the
//!   initialisation they claim.
//!
//! ```
//! use weightgen::{plan::Plan, spec::{Spec, parse_tensor_arg}};
//! let spec = Spec { tensors: vec![parse_tensor_arg("fc1.weight=256x784").unwrap()], ..Default::default() };
//! let plan = Plan::new(&spec, 42).unwrap();
//! let t = &plan.tensors[0];
//! assert_eq!(t.params.fan_in, Some(784));
//! let bound = t.params.bound.unwrap();
//! assert!((bound - (6.0f64 / 1040.0).sqrt()).abs() < 1e-15);
//! ```

pub mod dtype;
pub mod error;
pub mod exec;
pub mod fans;
pub mod inspect;
pub mod job;
pub mod layers;
pub mod memory;
pub mod model;
pub mod plan;
pub mod read;
pub mod scheme;
pub mod spec;
pub mod stream;
#[cfg(feature = "study")]
pub mod study;
pub mod summary;
pub mod table;
pub mod write;

pub use error::{Error, Result};
pub use model::plan_spec;
