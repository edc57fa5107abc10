//! Writers: bytes in each format's layout, fed chunk by chunk from the streams.
//!
//! Owns: the [`Format`] enum and the `FormatWriter` trait (one small module per format), the
//! shared data path that turns a tensor's chunks into bytes (and optionally their SHA-256), and
//! the entry point [`write_plan`]. Writers see names, shapes, dtypes and a source of chunks —
//! never schemes. File safety (temp file, fsync, rename, no clobber, special files, free space)
//! lives in `file`. Sharded checkpoints (`shard`) are composed from the safetensors writer and
//! sit beside the trait, not behind it (docs/design.md §4).

mod file;
mod mapped;
pub(crate) mod metadata;
mod npy;
mod npz;
mod safetensors;
pub(crate) mod shard;

pub(crate) use crate::format::Format;
pub use file::Target;
pub use npy::npy_header;
pub use safetensors::safetensors_header;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::Cancel;
use crate::plan::Plan;
use crate::stream::{CHUNK_ELEMS, ChunkSource, RngKind, TorchSchedule};
use metadata::FileMetadata;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Seek, Write};

impl Format {
    fn writer(self) -> &'static dyn FormatWriter {
        match self {
            Format::Npy => &npy::Npy,
            Format::Npz => &npz::Npz,
            Format::Safetensors => &safetensors::Safetensors,
        }
    }
}

/// One tensor as a writer sees it.
pub(crate) struct OutTensor<'a> {
    pub name: &'a str,
    pub shape: &'a [u64],
    pub dtype: DType,
    pub bytes: u64,
    /// Its values, chunk by chunk (native streams or PyTorch's generator: writers do not ask).
    pub source: ChunkSource,
}

/// The tensors of `plan` for a writer. Under `--rng torch` each tensor's start in the
/// generator sequence comes from the plan's schedule (`TorchSchedule`: counted, and reached by
/// jumps, not by running the generator through earlier tensors), so tensors can be written in
/// any order, and their chunks on any thread, with flat memory.
pub(crate) fn out_tensors(plan: &Plan) -> Vec<OutTensor<'_>> {
    let starts = if plan.rng == RngKind::Torch {
        let tensors: Vec<_> = plan
            .tensors
            .iter()
            .map(|t| (t.numel, t.torch_plan().expect("checked when planning")))
            .collect();
        TorchSchedule::starts(plan.seed, &plan.torch_schedule(), &tensors)
    } else {
        vec![None; plan.tensors.len()]
    };
    plan.tensors
        .iter()
        .zip(starts)
        .map(|(t, start)| OutTensor {
            name: &t.name,
            shape: &t.shape,
            dtype: t.dtype,
            bytes: t.bytes,
            source: ChunkSource::new(t.stream(plan.seed), start),
        })
        .collect()
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
    /// Show a progress bar on stderr when it is a terminal and the output is large.
    pub progress: bool,
    /// Skip the fsync before the atomic rename (and the early writeback it pairs with).
    pub no_fsync: bool,
}

/// Outputs at least this large get a progress bar (when stderr is a terminal).
#[cfg(feature = "cli")]
const PROGRESS_MIN_BYTES: u64 = 256 << 20;

/// A progress bar on stderr counting data bytes, or nothing (always nothing without the
/// `cli` feature, which brings the progress-bar crate).
pub(crate) struct Progress(#[cfg(feature = "cli")] Option<indicatif::ProgressBar>);

impl Progress {
    /// A bar for `total` bytes if `wanted`, stderr is a terminal and the job is large.
    #[cfg(feature = "cli")]
    fn new(wanted: bool, total: u64) -> Progress {
        if !wanted
            || total < PROGRESS_MIN_BYTES
            || !std::io::IsTerminal::is_terminal(&std::io::stderr())
        {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("valid template"),
        );
        Progress(Some(bar))
    }

    #[cfg(not(feature = "cli"))]
    fn new(_wanted: bool, _total: u64) -> Progress {
        Progress()
    }

    fn inc(&self, _bytes: u64) {
        #[cfg(feature = "cli")]
        if let Some(b) = &self.0 {
            b.inc(_bytes);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        #[cfg(feature = "cli")]
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Chunks generated together (in parallel) before being written in order: 32 × 65536
/// elements, so at most 16 MiB of f64 scratch and 16 MiB of bytes in flight.
const BATCH_CHUNKS: u64 = 32;

/// Sources that want runs of consecutive chunks per task (`--rng torch`) get a run per thread
/// in a batch, up to this many chunks (32 MiB of f32 bytes in flight).
const MAX_BATCH_CHUNKS: u64 = 128;

/// Produces tensor data bytes chunk by chunk, hashing them when asked. Chunks of a batch are
/// filled in parallel on the current rayon pool; bytes do not depend on how (see `stream`).
pub(crate) struct DataPath {
    hash: bool,
    /// The file will be fsynced: start writeback of each finished window early.
    sync: bool,
    buf: Vec<u8>,
    /// Hex SHA-256 per tensor, in the order tensors were emitted, keyed by name.
    pub hashes: BTreeMap<String, String>,
    progress: Progress,
    /// Checked before each batch of chunks: a cancelled run stops and cleans up.
    cancel: Cancel,
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl DataPath {
    /// The data path for writing `data_bytes` of tensor data with `opts`.
    fn new(opts: &WriteOptions, data_bytes: u64, cancel: &Cancel) -> DataPath {
        DataPath {
            cancel: cancel.clone(),
            hash: opts.hash,
            sync: !opts.no_fsync,
            buf: Vec::new(),
            hashes: BTreeMap::new(),
            progress: Progress::new(opts.progress, data_bytes),
        }
    }

    /// Write `header` and then the data of `tensors` back to back (the layout of .safetensors
    /// and .npy). A regular file is reserved and filled through memory-mapped windows (see
    /// `mapped`); streams and filesystems without `fallocate` go through `write`.
    fn emit_laid_out(
        &mut self,
        header: &[u8],
        tensors: &[&OutTensor],
        mut sink: Sink,
        ctx: &str,
    ) -> Result<()> {
        let w = sink.as_write();
        w.write_all(header)
            .map_err(|e| Error::io(format!("writing {ctx}"), e))?;
        if let Sink::File(f) = &mut sink {
            f.flush()
                .map_err(|e| Error::io(format!("writing {ctx}"), e))?;
            let file = f.get_ref();
            let data: u64 = tensors.iter().map(|t| t.bytes).sum();
            let start = header.len() as u64;
            if mapped::reserve(file, start + data, ctx)? {
                let mut hashers: Vec<Sha256> = if self.hash {
                    tensors.iter().map(|_| Sha256::new()).collect()
                } else {
                    Vec::new()
                };
                let hs = self.hash.then_some(&mut hashers[..]);
                mapped::fill(file, start, tensors, hs, self, ctx)?;
                for (t, h) in tensors.iter().zip(hashers) {
                    self.hashes.insert(t.name.to_string(), hex(h));
                }
                return Ok(());
            }
        }
        let w = sink.as_write();
        for t in tensors {
            self.emit(t, w, ctx)?;
        }
        Ok(())
    }

    /// Write all data bytes of `t` to `w`: batches of chunks filled on all threads (runs of
    /// [`ChunkSource::run_len`] consecutive chunks per task), then written in order.
    pub(crate) fn emit(&mut self, t: &OutTensor, w: &mut dyn Write, ctx: &str) -> Result<()> {
        use rayon::prelude::*;
        let src = &t.source;
        let mut hasher = self.hash.then(Sha256::new);
        let size = t.dtype.size();
        let chunk_bytes = CHUNK_ELEMS as usize * size;
        let chunks = src.num_chunks();
        let run = src.run_len();
        let threads = rayon::current_num_threads() as u64;
        let batch = BATCH_CHUNKS.max(run * threads).min(MAX_BATCH_CHUNKS);
        let mut first = 0;
        while first < chunks {
            self.cancel.check(ctx)?;
            let last = (first + batch).min(chunks);
            // Every chunk but the tensor's last is full, so chunk k of the batch starts at
            // byte k·chunk_bytes.
            let elems: u64 = (first..last).map(|c| src.chunk_len(c) as u64).sum();
            self.buf.resize(elems as usize * size, 0);
            self.buf
                .par_chunks_mut(chunk_bytes * run as usize)
                .enumerate()
                .for_each(|(k, outs)| {
                    for (j, out) in outs.chunks_mut(chunk_bytes).enumerate() {
                        let c = first + k as u64 * run + j as u64;
                        mapped::with_scratch(|scratch| src.fill_chunk_bytes(c, scratch, out));
                    }
                });
            if let Some(h) = hasher.as_mut() {
                h.update(&self.buf);
            }
            w.write_all(&self.buf)
                .map_err(|e| Error::io(format!("writing {ctx}"), e))?;
            self.progress.inc(self.buf.len() as u64);
            first = last;
        }
        src.release();
        if let Some(h) = hasher {
            self.hashes.insert(t.name.to_string(), hex(h));
        }
        Ok(())
    }
}

/// Where a writer puts bytes: a seekable file, or a stream (stdout, FIFO, device).
pub(crate) enum Sink<'a> {
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
    fn size(&self, tensors: &[OutTensor], metadata: &FileMetadata) -> Result<u64>;
    /// Write everything.
    fn write(
        &self,
        tensors: &[OutTensor],
        metadata: &FileMetadata,
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
    cancel: &Cancel,
) -> Result<BTreeMap<String, String>> {
    let tensors = out_tensors(plan);
    let metadata = FileMetadata::all(plan);
    let writer = format.writer();
    writer.check(&tensors, matches!(target, Target::Stdout))?;
    let size = writer.size(&tensors, &metadata)?;
    let data_bytes = tensors.iter().map(|t| t.bytes).sum();
    let mut data = DataPath::new(&opts, data_bytes, cancel);
    crate::exec::pool(opts.threads)?.install(|| {
        let npz = format == Format::Npz;
        file::commit_with(target, force, size, npz, !opts.no_fsync, |sink, ctx| {
            writer.write(&tensors, &metadata, opts, &mut data, sink, ctx)
        })
    })?;
    if !opts.hash {
        data.hashes.clear();
    }
    Ok(data.hashes)
}

/// Check that `plan` can be written in `format` (used by `--dry-run`, which writes nothing).
pub(crate) fn check_plan(plan: &Plan, format: Format, to_stdout: bool) -> Result<()> {
    let tensors: Vec<OutTensor> = plan
        .tensors
        .iter()
        .map(|t| OutTensor {
            name: &t.name,
            shape: &t.shape,
            dtype: t.dtype,
            bytes: t.bytes,
            source: ChunkSource::Native(t.stream(plan.seed)),
        })
        .collect();
    let writer = format.writer();
    writer.check(&tensors, to_stdout)?;
    writer.size(&tensors, &FileMetadata::all(plan))?;
    Ok(())
}

/// The data bytes of each listed tensor of `plan` (by index), written to its sink exactly as
/// every file format lays them out (little-endian, row-major): the in-memory API reads
/// through the same path as the writers. Under `--rng torch` the schedule runs once.
pub(crate) fn tensor_data(plan: &Plan, which: &mut [(usize, &mut dyn Write)]) -> Result<()> {
    let tensors = out_tensors(plan);
    let mut data = DataPath::new(&WriteOptions::default(), 0, &Cancel::new());
    for (i, sink) in which.iter_mut() {
        let t = &tensors[*i];
        data.emit(t, *sink, t.name)?;
    }
    Ok(())
}
