//! Writers: bytes in each format's layout, fed chunk by chunk from the streams.
//!
//! Owns: the [`Format`] enum and the [`FormatWriter`] trait (one small module per format), the
//! shared data path that turns a tensor's chunks into bytes (and optionally their SHA-256), and
//! the entry point [`write_plan`]. Writers see names, shapes, dtypes and a source of chunks —
//! never schemes. File safety (temp file, fsync, rename, no clobber, special files, free space)
//! lives in `file`.

mod file;
mod npy;
mod npz;
mod safetensors;
pub mod shard;

pub use file::Target;
pub use npy::npy_header;
pub use safetensors::safetensors_header;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::plan::TorchPlan;
use crate::stream::torch::{ChunkedFill, TorchDType, TorchGenerator, TorchOp, sparse_with_zeros};
use crate::stream::{CHUNK_ELEMS, RngKind, TensorStream};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{Seek, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the binary's Ctrl-C handler; writers stop at the next chunk and clean up.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// An output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Npy,
    Npz,
    Safetensors,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Safetensors => "safetensors",
        }
    }

    pub fn parse(s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().trim_start_matches('.') {
            "npy" => Ok(Format::Npy),
            "npz" => Ok(Format::Npz),
            "safetensors" | "st" => Ok(Format::Safetensors),
            _ => Err(Error::invalid(
                "--format",
                format!("unknown format `{s}` (valid: npy, npz, safetensors)"),
            )),
        }
    }

    /// The format a path's extension names, if any.
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_str()?;
        Format::parse(ext).ok()
    }

    fn writer(self) -> &'static dyn FormatWriter {
        match self {
            Format::Npy => &npy::Npy,
            Format::Npz => &npz::Npz,
            Format::Safetensors => &safetensors::Safetensors,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor as a writer sees it.
pub struct OutTensor<'a> {
    pub name: &'a str,
    pub shape: &'a [u64],
    pub dtype: DType,
    pub bytes: u64,
    pub stream: TensorStream,
    /// Under `--rng torch`: the generator's state when this tensor's init starts (plan
    /// order), and how it draws. `None`: the native `stream` gives the values.
    pub torch: Option<(TorchGenerator, TorchPlan)>,
}

/// The tensors of `plan` for a writer. Under `--rng torch` the generator is run through the
/// plan once (skipping values) to record where each tensor's draws start, so tensors can then
/// be written in any order with flat memory.
fn out_tensors(plan: &Plan) -> Vec<OutTensor<'_>> {
    let mut rng = (plan.rng == RngKind::Torch).then(|| TorchGenerator::from_u64_seed(plan.seed));
    plan.tensors
        .iter()
        .map(|t| {
            let torch = rng.as_mut().map(|g| {
                let tp = t.torch_plan().expect("checked when planning");
                let start = g.clone();
                match tp {
                    TorchPlan::Op(op, dt) => g.skip(op, dt, t.numel),
                    TorchPlan::Sparse {
                        rows,
                        cols,
                        zeros,
                        std,
                        dtype,
                    } => {
                        sparse_with_zeros(g, rows, cols, zeros, std, dtype);
                    }
                    TorchPlan::TruncRedraw {
                        mean,
                        std,
                        a,
                        b,
                        dtype,
                    } => {
                        torch_trunc_redraw(g, t.numel, mean, std, a, b, dtype);
                    }
                    TorchPlan::NoDraw => {}
                }
                (start, tp)
            });
            OutTensor {
                name: &t.name,
                shape: &t.shape,
                dtype: t.dtype,
                bytes: t.bytes,
                stream: t.stream(plan.seed),
                torch: torch.filter(|(_, tp)| *tp != TorchPlan::NoDraw),
            }
        })
        .collect()
}

/// PyTorch 2.15's `trunc_normal_` for intervals holding > 30% of the mass: `normal_`, then
/// whole-tensor `normal_` redraws replacing the values outside [a, b] until none is left.
/// Needs the whole tensor in memory (twice).
fn torch_trunc_redraw(
    g: &mut TorchGenerator,
    numel: u64,
    mean: f64,
    std: f64,
    a: f64,
    b: f64,
    dtype: TorchDType,
) -> Vec<f64> {
    // `tensor.new_tensor(a).item()`: the bounds in the tensor's dtype.
    let (lo, hi) = match dtype {
        TorchDType::F32 => (a as f32 as f64, b as f32 as f64),
        TorchDType::F64 => (a, b),
    };
    let op = TorchOp::Normal { mean, std };
    let mut result = vec![0.0; numel as usize];
    g.fill(op, dtype, &mut result);
    let mut fresh = vec![0.0; numel as usize];
    while result.iter().any(|x| *x < lo || *x > hi) {
        g.fill(op, dtype, &mut fresh);
        for (r, f) in result.iter_mut().zip(&fresh) {
            if *r < lo || *r > hi {
                *r = *f;
            }
        }
    }
    result
}

/// Options that change bytes but not values.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Deflate npz members.
    pub compress: bool,
    /// Compute the SHA-256 of each tensor's data bytes.
    pub hash: bool,
    /// Threads that fill chunks (0 = all cores). Never changes the bytes.
    pub threads: usize,
}

/// Chunks generated together (in parallel) before being written in order: 32 × 65536
/// elements, so at most 16 MiB of f64 scratch and 16 MiB of bytes in flight.
const BATCH_CHUNKS: u64 = 32;

/// Produces tensor data bytes chunk by chunk, hashing them when asked. Chunks of a batch are
/// filled in parallel on the current rayon pool; bytes do not depend on how (see `stream`).
pub struct DataPath {
    hash: bool,
    buf: Vec<u8>,
    /// Hex SHA-256 per tensor, in the order tensors were emitted, keyed by name.
    pub hashes: BTreeMap<String, String>,
}

impl DataPath {
    fn new(hash: bool) -> DataPath {
        DataPath {
            hash,
            buf: Vec::new(),
            hashes: BTreeMap::new(),
        }
    }

    /// Write all data bytes of `t` to `w`.
    pub fn emit(&mut self, t: &OutTensor, w: &mut dyn Write, ctx: &str) -> Result<()> {
        if let Some((start, tp)) = &t.torch {
            return self.emit_torch(t, start.clone(), *tp, w, ctx);
        }
        use rayon::prelude::*;
        let mut hasher = self.hash.then(Sha256::new);
        let size = t.dtype.size();
        let chunk_bytes = CHUNK_ELEMS as usize * size;
        let chunks = t.stream.num_chunks();
        let mut first = 0;
        while first < chunks {
            if INTERRUPTED.load(Ordering::Relaxed) {
                return Err(Error::Interrupted { path: ctx.into() });
            }
            let last = (first + BATCH_CHUNKS).min(chunks);
            // Every chunk but the tensor's last is full, so chunk k of the batch starts at
            // byte k·chunk_bytes.
            let elems: u64 = (first..last).map(|c| t.stream.chunk_len(c) as u64).sum();
            self.buf.resize(elems as usize * size, 0);
            self.buf
                .par_chunks_mut(chunk_bytes)
                .enumerate()
                .for_each_init(Vec::new, |scratch, (k, out)| {
                    t.stream
                        .fill_chunk_bytes(first + k as u64, t.dtype, scratch, out);
                });
            if let Some(h) = hasher.as_mut() {
                h.update(&self.buf);
            }
            w.write_all(&self.buf)
                .map_err(|e| Error::io(format!("writing {ctx}"), e))?;
            first = last;
        }
        t.stream.release();
        if let Some(h) = hasher {
            let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            self.hashes.insert(t.name.to_string(), hex);
        }
        Ok(())
    }
}

impl DataPath {
    /// The `--rng torch` path: sequential, one chunk at a time (PyTorch's stream is one
    /// sequence), values in f64 (f32 results widened exactly) encoded like the native ones.
    fn emit_torch(
        &mut self,
        t: &OutTensor,
        start: TorchGenerator,
        tp: TorchPlan,
        w: &mut dyn Write,
        ctx: &str,
    ) -> Result<()> {
        let mut hasher = self.hash.then(Sha256::new);
        let size = t.dtype.size();
        let mut values = vec![0.0f64; CHUNK_ELEMS as usize];
        let mut write = |vals: &[f64], buf: &mut Vec<u8>| -> Result<()> {
            if INTERRUPTED.load(Ordering::Relaxed) {
                return Err(Error::Interrupted { path: ctx.into() });
            }
            buf.resize(vals.len() * size, 0);
            t.dtype.encode(vals, buf);
            if let Some(h) = hasher.as_mut() {
                h.update(&buf[..]);
            }
            w.write_all(buf)
                .map_err(|e| Error::io(format!("writing {ctx}"), e))
        };
        let numel = t.stream.numel();
        match tp {
            TorchPlan::Op(op, dt) => {
                let mut fill = ChunkedFill::new(start, op, dt, numel);
                loop {
                    let n = fill.next_chunk(&mut values);
                    if n == 0 {
                        break;
                    }
                    write(&values[..n], &mut self.buf)?;
                }
            }
            TorchPlan::Sparse { .. } | TorchPlan::TruncRedraw { .. } => {
                let mut g = start;
                let all = match tp {
                    TorchPlan::Sparse {
                        rows,
                        cols,
                        zeros,
                        std,
                        dtype,
                    } => sparse_with_zeros(&mut g, rows, cols, zeros, std, dtype),
                    TorchPlan::TruncRedraw {
                        mean,
                        std,
                        a,
                        b,
                        dtype,
                    } => torch_trunc_redraw(&mut g, numel, mean, std, a, b, dtype),
                    _ => unreachable!("matched above"),
                };
                for chunk in all.chunks(CHUNK_ELEMS as usize) {
                    write(chunk, &mut self.buf)?;
                }
            }
            TorchPlan::NoDraw => unreachable!("no-draw tensors use the native stream"),
        }
        if let Some(h) = hasher {
            let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            self.hashes.insert(t.name.to_string(), hex);
        }
        Ok(())
    }
}

/// Where a writer puts bytes: a seekable file, or a stream (stdout, FIFO, device).
pub enum Sink<'a> {
    File(&'a mut std::io::BufWriter<std::fs::File>),
    Stream(&'a mut dyn Write),
}

impl Sink<'_> {
    fn as_write(&mut self) -> &mut dyn Write {
        match self {
            Sink::File(f) => *f,
            Sink::Stream(w) => *w,
        }
    }

    fn seekable(&mut self) -> Option<&mut (impl Write + Seek)> {
        match self {
            Sink::File(f) => Some(&mut **f),
            Sink::Stream(_) => None,
        }
    }
}

/// A file format: checks what it cannot hold, sizes the output, and writes it.
trait FormatWriter: Sync {
    /// Refuse plans the format cannot represent (with a suggestion).
    fn check(&self, tensors: &[OutTensor], to_stream: bool) -> Result<()>;
    /// Exact output size in bytes (for the free-space check), if known up front.
    fn size(&self, tensors: &[OutTensor], metadata: &BTreeMap<String, String>) -> Result<u64>;
    /// Write everything.
    fn write(
        &self,
        tensors: &[OutTensor],
        metadata: &BTreeMap<String, String>,
        opts: WriteOptions,
        data: &mut DataPath,
        sink: Sink,
        ctx: &str,
    ) -> Result<()>;
}

/// Write `plan` in `format` to `target`. Returns the SHA-256 of each tensor's data when
/// `opts.hash` is set. Nothing is left at a file destination unless this returns `Ok`.
pub fn write_plan(
    plan: &Plan,
    format: Format,
    target: &Target,
    force: bool,
    opts: WriteOptions,
) -> Result<BTreeMap<String, String>> {
    let tensors = out_tensors(plan);
    let metadata = plan.safetensors_metadata();
    let writer = format.writer();
    writer.check(&tensors, matches!(target, Target::Stdout))?;
    let size = writer.size(&tensors, &metadata)?;
    let mut data = DataPath::new(opts.hash);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| Error::io("starting worker threads", std::io::Error::other(e)))?;
    pool.install(|| {
        file::commit(target, force, size, format == Format::Npz, |sink, ctx| {
            writer.write(&tensors, &metadata, opts, &mut data, sink, ctx)
        })
    })?;
    Ok(data.hashes)
}

/// Check that `plan` can be written in `format` (used by `--dry-run`, which writes nothing).
pub fn check_plan(plan: &Plan, format: Format, to_stdout: bool) -> Result<()> {
    let tensors: Vec<OutTensor> = plan
        .tensors
        .iter()
        .map(|t| OutTensor {
            name: &t.name,
            shape: &t.shape,
            dtype: t.dtype,
            bytes: t.bytes,
            stream: t.stream(plan.seed),
            torch: None,
        })
        .collect();
    let writer = format.writer();
    writer.check(&tensors, to_stdout)?;
    writer.size(&tensors, &plan.safetensors_metadata())?;
    Ok(())
}
