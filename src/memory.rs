//! In memory: an initialiser you call, and any tensor of a plan as `Vec<T>`,
//! `ndarray::ArrayD<T>` or a caller's `&mut [T]` — the same values, bit for bit, that a file
//! written from the same spec and seed holds, for both random streams.
//!
//! Owns: [`Init`] (a scheme with typed parameters, as candle-nn's `Init` or burn's
//! `Initializer`), [`Element`] (the Rust types a tensor can be read into) and the `Plan`
//! methods that materialise tensors. Does not own: drawing (`stream`) nor byte layout: values
//! come from the very data path the writers use, then are decoded from little-endian bytes,
//! so memory cannot disagree with a file.
//!
//! Every buffer sized by the caller's shape is allocated fallibly, and a tensor's result plus
//! its whole-tensor step (orthogonal QR, `rng` torch sparse_/trunc_normal_) is checked against
//! a [`MemoryLimit`] first (by default [`MemoryLimit::from_env_or_machine`], as a CLI run):
//! too much is [`Error::Memory`], never a panic or an abort.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fans::Convention;
use crate::memory_limit::{MemoryLimit, guard_in_memory, human, try_zeroed};
use crate::plan::Plan;
use crate::scheme::{Mode, Nonlinearity, Param, Scheme, VsDistribution};
use crate::spec::{ParamSet, Spec, TensorSpec, check_name};
use crate::stream::RngKind;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
    impl Sealed for i64 {}
}

/// A Rust type a tensor's values can be read into: `f32`, `f64`, [`half::f16`],
/// [`half::bf16`] (and `i64` for integer buffers). A tensor is read into the type of its
/// planned dtype, never converted.
pub trait Element: Copy + Default + sealed::Sealed + 'static {
    /// The dtype whose bytes this type holds.
    const DTYPE: DType;
    /// The value stored in `bytes` (little-endian, `DTYPE.size()` bytes).
    fn from_le(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($t:ty, $d:expr, $n:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn from_le(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().expect("one element's bytes"))
            }
        }
    };
}
element!(f32, DType::F32, 4);
element!(f64, DType::F64, 8);
element!(half::f16, DType::F16, 2);
element!(half::bf16, DType::BF16, 2);
element!(i64, DType::I64, 8);

/// Decodes a stream of little-endian bytes into a slice of `T`, whatever the write sizes.
struct Decode<'a, T: Element> {
    out: &'a mut [T],
    filled: usize,
    partial: Vec<u8>,
}

impl<T: Element> std::io::Write for Decode<'_, T> {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len();
        let size = T::DTYPE.size();
        let overflow = || std::io::Error::other("more bytes than the tensor holds");
        if !self.partial.is_empty() {
            let take = (size - self.partial.len()).min(buf.len());
            self.partial.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.partial.len() == size {
                *self.out.get_mut(self.filled).ok_or_else(overflow)? = T::from_le(&self.partial);
                self.filled += 1;
                self.partial.clear();
            }
        }
        let whole = buf.len() / size;
        let dst = (self.out.get_mut(self.filled..self.filled + whole)).ok_or_else(overflow)?;
        for (d, b) in dst.iter_mut().zip(buf.chunks_exact(size)) {
            *d = T::from_le(b);
        }
        self.filled += whole;
        self.partial.extend_from_slice(&buf[whole * size..]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Plan {
    /// The position of tensor `name` in the plan.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        (self.tensors.iter().position(|t| t.name == name))
            .ok_or_else(|| Error::invalid(name, "no tensor of this name in the plan"))
    }

    /// `T` is tensor `i`'s type and, when given, `len` its element count.
    fn check_element<T: Element>(&self, i: usize, len: Option<usize>) -> Result<()> {
        let t = &self.tensors[i];
        if t.dtype != T::DTYPE {
            return Err(Error::invalid(
                &t.name,
                format!("is {}; read it as that type, not {}", t.dtype, T::DTYPE),
            ));
        }
        if let Some(len) = len
            && len as u64 != t.numel
        {
            return Err(Error::invalid(
                &t.name,
                format!("has {} elements; the buffer holds {len}", t.numel),
            ));
        }
        Ok(())
    }

    /// Fill `out` with tensor `name`'s values (row-major, as the file stores them). `T` must
    /// be the tensor's dtype and `out` exactly its size. A whole-tensor step (orthogonal QR,
    /// `rng` torch sparse_/trunc_normal_) must fit in [`MemoryLimit::from_env_or_machine`].
    pub fn fill<T: Element>(&self, name: &str, out: &mut [T]) -> Result<()> {
        self.fill_within(name, out, &MemoryLimit::from_env_or_machine()?)
    }

    /// [`Plan::fill`] with the memory limit `limit`.
    pub fn fill_within<T: Element>(
        &self,
        name: &str,
        out: &mut [T],
        limit: &MemoryLimit,
    ) -> Result<()> {
        let i = self.index_of(name)?;
        self.check_element::<T>(i, Some(out.len()))?;
        guard_in_memory(self, &[i], 0, || self.in_memory(&[i]), limit)?;
        self.fill_unchecked(i, out)
    }

    fn fill_unchecked<T: Element>(&self, i: usize, out: &mut [T]) -> Result<()> {
        let mut sink = Decode {
            out,
            filled: 0,
            partial: Vec::new(),
        };
        crate::write::tensor_data(self, &mut [(i, &mut sink)])
    }

    /// "tensor `w` in memory" / "3 tensors in memory": what an in-memory check names.
    fn in_memory(&self, which: &[usize]) -> String {
        match which {
            [i] => format!("tensor `{}` in memory", self.tensors[*i].name),
            _ => format!("{} tensors in memory", which.len()),
        }
    }

    /// Tensor `name`'s values as a `Vec<T>` (row-major). The vector and any whole-tensor step
    /// must fit in [`MemoryLimit::from_env_or_machine`]; a vector the machine cannot allocate
    /// is [`Error::Memory`] too.
    pub fn to_vec<T: Element>(&self, name: &str) -> Result<Vec<T>> {
        self.to_vec_within(name, &MemoryLimit::from_env_or_machine()?)
    }

    /// [`Plan::to_vec`] with the memory limit `limit`.
    pub fn to_vec_within<T: Element>(&self, name: &str, limit: &MemoryLimit) -> Result<Vec<T>> {
        let i = self.index_of(name)?;
        let t = &self.tensors[i];
        self.check_element::<T>(i, None)?;
        guard_in_memory(self, &[i], t.bytes, || self.in_memory(&[i]), limit)?;
        let mut v = zeroed(t)?;
        self.fill_unchecked(i, &mut v)?;
        Ok(v)
    }

    /// Tensor `name` as an `ndarray::ArrayD<T>` of its shape.
    #[cfg(feature = "ndarray")]
    pub fn to_array<T: Element>(&self, name: &str) -> Result<ndarray::ArrayD<T>> {
        self.to_array_within(name, &MemoryLimit::from_env_or_machine()?)
    }

    #[cfg(feature = "ndarray")]
    fn to_array_within<T: Element>(
        &self,
        name: &str,
        limit: &MemoryLimit,
    ) -> Result<ndarray::ArrayD<T>> {
        let v = self.to_vec_within(name, limit)?;
        // (Each dimension fits in usize: their product, the vector's length, does.)
        let shape: Vec<usize> = self.tensors[self.index_of(name)?]
            .shape
            .iter()
            .map(|&d| d as usize)
            .collect();
        Ok(ndarray::ArrayD::from_shape_vec(shape, v).expect("numel matches the shape"))
    }

    /// Every tensor of the plan in memory, in plan order, each as the type of its dtype.
    /// Under `--rng torch` the generator schedule runs once for all of them. All of them, and
    /// the largest whole-tensor step, must fit in [`MemoryLimit::from_env_or_machine`].
    pub fn to_tensors(&self) -> Result<Vec<Tensor>> {
        self.to_tensors_within(&MemoryLimit::from_env_or_machine()?)
    }

    /// [`Plan::to_tensors`] with the memory limit `limit`.
    pub fn to_tensors_within(&self, limit: &MemoryLimit) -> Result<Vec<Tensor>> {
        let all: Vec<usize> = (0..self.tensors.len()).collect();
        let out = (self.tensors.iter()).fold(0u64, |a, t| a.saturating_add(t.bytes));
        guard_in_memory(self, &all, out, || self.in_memory(&all), limit)?;
        let mut data = (self.tensors.iter())
            .map(|t| {
                Ok(match t.dtype {
                    DType::F32 => TensorData::F32(zeroed(t)?),
                    DType::F64 => TensorData::F64(zeroed(t)?),
                    DType::F16 => TensorData::F16(zeroed(t)?),
                    DType::BF16 => TensorData::BF16(zeroed(t)?),
                    DType::I64 => TensorData::I64(zeroed(t)?),
                })
            })
            .collect::<Result<Vec<TensorData>>>()?;
        {
            fn sink<T: Element>(out: &mut [T]) -> Box<dyn std::io::Write + '_> {
                Box::new(Decode {
                    out,
                    filled: 0,
                    partial: Vec::new(),
                })
            }
            let mut sinks: Vec<Box<dyn std::io::Write + '_>> = (data.iter_mut())
                .map(|d| match d {
                    TensorData::F32(v) => sink(v),
                    TensorData::F64(v) => sink(v),
                    TensorData::F16(v) => sink(v),
                    TensorData::BF16(v) => sink(v),
                    TensorData::I64(v) => sink(v),
                })
                .collect();
            let mut which: Vec<(usize, &mut dyn std::io::Write)> = (sinks.iter_mut())
                .enumerate()
                .map(|(i, s)| (i, &mut **s as &mut dyn std::io::Write))
                .collect();
            crate::write::tensor_data(self, &mut which)?;
        }
        Ok((self.tensors.iter().zip(data))
            .map(|(t, data)| Tensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                data,
            })
            .collect())
    }
}

/// A zeroed vector for tensor `t`'s values, allocated fallibly: [`Error::Memory`] when it
/// cannot be (its length over `usize` included).
fn zeroed<T: Element>(t: &crate::plan::PlannedTensor) -> Result<Vec<T>> {
    let what = || {
        format!(
            "tensor `{}` in memory ({} values of {})",
            t.name, t.numel, t.dtype
        )
    };
    match usize::try_from(t.numel) {
        Ok(n) => try_zeroed(n, &what()),
        Err(_) => Err(Error::Memory(format!(
            "{} needs {}, more than this machine can address",
            what(),
            human(t.bytes)
        ))),
    }
}

/// One tensor's values, in the type of its dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<half::f16>),
    BF16(Vec<half::bf16>),
    I64(Vec<i64>),
}

impl TensorData {
    /// The values widened to f64 (exact for every dtype but i64 beyond 2⁵³).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::F16(v) => v.iter().map(|x| x.to_f64()).collect(),
            TensorData::BF16(v) => v.iter().map(|x| x.to_f64()).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
}

/// A named tensor in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<u64>,
    pub data: TensorData,
}

/// An initialiser: a scheme with typed parameters, the random stream and the convention.
/// Call it for a tensor's values ([`Init::sample`]) or turn it into a spec entry
/// ([`Init::tensor`]).
///
/// ```
/// use weightgen::memory::Init;
/// use weightgen::scheme::Nonlinearity;
/// let w: Vec<f32> = Init::kaiming_normal()
///     .nonlinearity(Nonlinearity::Relu)
///     .sample("fc1.weight", &[256, 784], 42)
///     .unwrap();
/// assert_eq!(w.len(), 256 * 784);
/// ```
#[derive(Debug, Clone)]
pub struct Init {
    params: ParamSet,
    rng: RngKind,
    convention: Option<Convention>,
    memory_limit: Option<MemoryLimit>,
}

macro_rules! schemes {
    ($($(#[$m:meta])* $f:ident => $s:ident),* $(,)?) => {
        $( $(#[$m])* pub fn $f() -> Init { Init::new(Scheme::$s) } )*
    };
}

macro_rules! setters {
    ($($(#[$m:meta])* $f:ident: $t:ty => $p:ident),* $(,)?) => {
        $( $(#[$m])* pub fn $f(mut self, x: $t) -> Init {
            self.params.values.$f = Some(x);
            self.params.origins.insert(Param::$p, Param::$p.key().to_string());
            self
        } )*
    };
}

impl Init {
    /// `scheme` with its default parameters, the native stream and the torch convention.
    pub fn new(scheme: Scheme) -> Init {
        Init {
            params: ParamSet {
                scheme: Some(scheme),
                scheme_origin: "scheme".into(),
                ..Default::default()
            },
            rng: RngKind::Native,
            convention: None,
            memory_limit: None,
        }
    }

    schemes! {
        /// `torch.nn.init.zeros_`.
        zeros => Zeros,
        /// `torch.nn.init.ones_`.
        ones => Ones,
        /// `torch.nn.init.uniform_` (set `low`, `high`).
        uniform => Uniform,
        /// `torch.nn.init.normal_` (set `mean`, `std`).
        normal => Normal,
        /// `torch.nn.init.trunc_normal_` (set `mean`, `std`, `low`, `high`).
        truncated_normal => TruncatedNormal,
        /// Glorot & Bengio (2010), `torch.nn.init.xavier_uniform_`.
        xavier_uniform => XavierUniform,
        /// `torch.nn.init.xavier_normal_`.
        xavier_normal => XavierNormal,
        /// He et al. (2015), `torch.nn.init.kaiming_uniform_`.
        kaiming_uniform => KaimingUniform,
        /// `torch.nn.init.kaiming_normal_`.
        kaiming_normal => KaimingNormal,
        /// LeCun uniform (Keras `LecunUniform`).
        lecun_uniform => LecunUniform,
        /// LeCun normal (Keras `LecunNormal`).
        lecun_normal => LecunNormal,
        /// Keras `VarianceScaling` (set `scale`, `mode`, `distribution`).
        variance_scaling => VarianceScaling,
        /// `torch.nn.init.orthogonal_`.
        orthogonal => Orthogonal,
        /// What `torch.nn` modules do in `reset_parameters`.
        torch_default => TorchDefault,
    }

    /// `torch.nn.init.constant_(w, value)`.
    pub fn constant(value: f64) -> Init {
        Init::new(Scheme::Constant).value(value)
    }

    setters! {
        /// Gain (overrides the one from `nonlinearity`).
        gain: f64 => Gain,
        /// Fan mode.
        mode: Mode => Mode,
        /// Nonlinearity for the gain, as `torch.nn.init.calculate_gain`.
        nonlinearity: Nonlinearity => Nonlinearity,
        /// Negative slope of leaky_relu.
        negative_slope: f64 => NegativeSlope,
        /// Scale of variance_scaling.
        scale: f64 => Scale,
        /// Distribution of variance_scaling.
        distribution: VsDistribution => Distribution,
        /// Mean (normal, truncated_normal).
        mean: f64 => Mean,
        /// Standard deviation (normal, truncated_normal).
        std: f64 => Std,
        /// Lower bound (uniform; absolute bound of truncated_normal).
        low: f64 => Low,
        /// Upper bound.
        high: f64 => High,
        /// Value of the constant scheme.
        value: f64 => Value,
        /// Fraction of zeros per column (sparse).
        sparsity: f64 => Sparsity,
        /// Groups (grouped convolutions).
        groups: u64 => Groups,
        /// Fan-in instead of the shape's.
        fan_in: u64 => FanIn,
        /// Fan-out instead of the shape's.
        fan_out: u64 => FanOut,
    }

    /// Draw from PyTorch's CPU generator (`torch.manual_seed(seed)` then this init) instead
    /// of weightgen's keyed streams.
    pub fn torch_rng(mut self) -> Init {
        self.rng = RngKind::Torch;
        self
    }

    /// Axis convention and meaning of the "normal" schemes (default torch).
    pub fn convention(mut self, c: Convention) -> Init {
        self.convention = Some(c);
        self
    }

    /// The most memory [`Init::sample`] may hold: the result and any whole-tensor step
    /// (orthogonal QR, `rng` torch sparse_/trunc_normal_). Default:
    /// [`MemoryLimit::from_env_or_machine`].
    pub fn memory_limit(mut self, limit: MemoryLimit) -> Init {
        self.memory_limit = Some(limit);
        self
    }

    fn limit(&self) -> Result<MemoryLimit> {
        (self.memory_limit.clone()).map_or_else(MemoryLimit::from_env_or_machine, Ok)
    }

    /// A spec entry: tensor `name` of `shape` initialised by this.
    pub fn tensor(&self, name: &str, shape: &[u64]) -> Result<TensorSpec> {
        check_name(name, name)?;
        Ok(TensorSpec {
            name: name.to_string(),
            shape: shape.to_vec(),
            dtype: None,
            params: self.params.clone(),
            origin: format!("tensor `{name}`"),
            role: Default::default(),
            inherit: true,
        })
    }

    /// The one-tensor spec `sample` plans: what `weightgen generate NAME=SHAPE --scheme …
    /// --seed SEED --dtype T` writes.
    pub fn spec(&self, name: &str, shape: &[u64], dtype: DType, seed: u64) -> Result<Spec> {
        Ok(Spec {
            seed: Some(seed.into()),
            rng: Some(self.rng),
            dtype: Some(dtype),
            convention: self.convention,
            tensors: vec![self.tensor(name, shape)?],
            ..Default::default()
        })
    }

    /// Tensor `name` of `shape` drawn with `seed`, as `T`. The values depend on the name
    /// under the native stream (each tensor has its own keyed stream) and not under torch.
    pub fn sample<T: Element>(&self, name: &str, shape: &[u64], seed: u64) -> Result<Vec<T>> {
        let plan = Plan::new(&self.spec(name, shape, T::DTYPE, seed)?, seed)?;
        plan.to_vec_within(name, &self.limit()?)
    }

    /// [`Init::sample`] as an `ndarray::ArrayD<T>` of `shape`.
    #[cfg(feature = "ndarray")]
    pub fn sample_array<T: Element>(
        &self,
        name: &str,
        shape: &[u64],
        seed: u64,
    ) -> Result<ndarray::ArrayD<T>> {
        let plan = Plan::new(&self.spec(name, shape, T::DTYPE, seed)?, seed)?;
        plan.to_array_within(name, &self.limit()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn decoding_is_independent_of_how_bytes_arrive() {
        let vals: Vec<f32> = (0..10).map(|i| i as f32 * 0.5 - 1.0).collect();
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        for step in [1, 3, 4, 7, 40] {
            let mut out = vec![0f32; 10];
            let mut d = Decode {
                out: &mut out,
                filled: 0,
                partial: Vec::new(),
            };
            for c in bytes.chunks(step) {
                d.write_all(c).unwrap();
            }
            assert_eq!(d.filled, 10);
            assert_eq!(out, vals, "step {step}");
        }
        let mut short = vec![0f32; 2];
        let mut d = Decode {
            out: &mut short,
            filled: 0,
            partial: Vec::new(),
        };
        assert!(d.write_all(&bytes).is_err());
    }

    #[test]
    fn a_tensor_is_read_only_as_its_own_dtype_and_size() {
        let plan = Plan::new(&Init::zeros().spec("w", &[2, 3], DType::F64, 1).unwrap(), 1).unwrap();
        assert!(
            plan.to_vec::<f32>("w")
                .unwrap_err()
                .to_string()
                .contains("is f64")
        );
        let mut small = [0f64; 5];
        assert!(plan.fill("w", &mut small).is_err());
        assert!(plan.to_vec::<f64>("nope").is_err());
        assert_eq!(plan.to_vec::<f64>("w").unwrap(), vec![0.0; 6]);
    }

    #[test]
    fn typed_setters_reach_the_distribution() {
        let spec = Init::normal()
            .mean(1.5)
            .std(0.25)
            .spec("w", &[4], DType::F32, 0);
        let plan = Plan::new(&spec.unwrap(), 0).unwrap();
        assert_eq!(
            plan.tensors[0].params.distribution,
            crate::scheme::Distribution::Normal {
                mean: 1.5,
                std: 0.25
            }
        );
    }
}
