//! [`ChunkSource`]: what writers consume — a tensor's bytes chunk by chunk, filled in any order
//! on any thread, whichever random stream draws them — and [`TorchSchedule`], where each
//! tensor's draws start in PyTorch's one generator sequence.
//!
//! Native tensors are their keyed chunk streams. Under `--rng torch` a tensor initialised by
//! one ATen op starts each chunk from the generator state jumped ahead to the chunk's first
//! draw ([`words_before`]): chunks run on every core and give the bytes one sequential pass
//! gives. A chunk that follows one already filled continues from the state that chunk left
//! (kept as an anchor), so only the first chunk of each run of consecutive chunks pays a jump;
//! [`ChunkSource::run_len`] tells writers how many consecutive chunks to hand one task.
//! Whole-tensor inits (sparse_, trunc_normal_, whose draws depend on the values) are drawn in
//! memory on one core on first use and kept until [`ChunkSource::release`]. The method:
//! docs/torch-rng.md §8.

use super::native::{CHUNK_ELEMS, TensorStream};
use crate::dtype::DType;

#[cfg(feature = "torch")]
mod torch;
#[cfg(feature = "torch")]
pub(crate) use torch::{TorchOpSource, TorchSchedule, TorchStart, TorchWholeSource};

#[cfg(not(feature = "torch"))]
pub(crate) use no_torch::{TorchSchedule, TorchStart};

/// Without the `torch` feature there is no PyTorch generator: no tensor has a start in its
/// sequence. (The planner refuses `RngKind::Torch` in such a build, so nothing asks for one.)
#[cfg(not(feature = "torch"))]
mod no_torch {
    use crate::stream::torch::{TorchPlan, TorchStep};

    /// Where a tensor's draws start in PyTorch's sequence: no value exists without `torch`.
    #[derive(Debug, Clone)]
    pub enum TorchStart {}

    /// The schedule of PyTorch's sequence: empty without `torch`.
    pub struct TorchSchedule;

    impl TorchSchedule {
        /// No starts: every tensor is drawn by the native streams.
        pub fn starts(
            _seed: u64,
            _steps: &[TorchStep],
            tensors: &[(u64, TorchPlan)],
        ) -> Vec<Option<TorchStart>> {
            vec![None; tensors.len()]
        }
    }
}

/// One tensor's values for a writer.
#[derive(Debug)]
pub(crate) enum ChunkSource {
    /// The native keyed chunk streams (and, under `--rng torch`, tensors drawn without random
    /// numbers: constants, eye, dirac).
    Native(TensorStream),
    /// `--rng torch`, one ATen op over the whole tensor.
    #[cfg(feature = "torch")]
    TorchOp(TorchOpSource),
    /// `--rng torch`, a whole-tensor init, drawn in memory on first use.
    #[cfg(feature = "torch")]
    TorchWhole(TorchWholeSource),
}

impl ChunkSource {
    /// The values of `stream`'s tensor drawn as `start` says from PyTorch's generator (`None`:
    /// no draws, the native stream's exact values).
    pub(crate) fn new(stream: TensorStream, start: Option<TorchStart>) -> ChunkSource {
        match start {
            None => ChunkSource::Native(stream),
            #[cfg(feature = "torch")]
            Some(start) => torch::source(stream, start),
            #[cfg(not(feature = "torch"))]
            Some(start) => match start {},
        }
    }

    /// The tensor's native stream (its element count, dtype and zeroed range).
    pub(crate) fn stream(&self) -> &TensorStream {
        match self {
            ChunkSource::Native(s) => s,
            #[cfg(feature = "torch")]
            ChunkSource::TorchOp(t) => &t.stream,
            #[cfg(feature = "torch")]
            ChunkSource::TorchWhole(t) => &t.stream,
        }
    }

    /// Number of chunks of [`CHUNK_ELEMS`] elements (the last may be short).
    pub(crate) fn num_chunks(&self) -> u64 {
        self.stream().num_chunks()
    }

    /// Elements in chunk `c`.
    pub(crate) fn chunk_len(&self, c: u64) -> usize {
        self.stream().chunk_len(c)
    }

    /// How many consecutive chunks a writer should give one task: 1 for native streams (every
    /// chunk is independent); more under `--rng torch`, where a task's first chunk jumps.
    pub(crate) fn run_len(&self) -> u64 {
        match self {
            #[cfg(feature = "torch")]
            ChunkSource::TorchOp(_) => torch::TORCH_RUN,
            _ => 1,
        }
    }

    /// Fill `out` (exactly `chunk_len(c)` elements of the dtype) with chunk `c`'s bytes;
    /// `scratch` is reused between calls.
    pub(crate) fn fill_chunk_bytes(&self, c: u64, scratch: &mut Vec<f64>, out: &mut [u8]) {
        match self {
            ChunkSource::Native(s) => s.fill_chunk_bytes(c, scratch, out),
            #[cfg(feature = "torch")]
            ChunkSource::TorchOp(t) => {
                scratch.resize(t.stream.chunk_len(c), 0.0);
                t.fill_chunk(c, scratch);
                encode(&t.stream, c, scratch, out);
            }
            #[cfg(feature = "torch")]
            ChunkSource::TorchWhole(t) => {
                let values = t.values();
                let first = (c * CHUNK_ELEMS) as usize;
                scratch.clear();
                scratch.extend_from_slice(&values[first..first + t.stream.chunk_len(c)]);
                encode(&t.stream, c, scratch, out);
            }
        }
    }

    /// Drop what was kept for the whole tensor (call when the tensor has been written).
    pub(crate) fn release(&self) {
        match self {
            ChunkSource::Native(s) => s.release(),
            #[cfg(feature = "torch")]
            ChunkSource::TorchOp(t) => t.release(),
            #[cfg(feature = "torch")]
            ChunkSource::TorchWhole(t) => t.release(),
        }
    }
}

/// Zero the stream's zeroed elements of chunk `c` and encode it in the stream's dtype.
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
fn encode(stream: &TensorStream, c: u64, vals: &mut [f64], out: &mut [u8]) {
    if let Some((lo, hi)) = stream.zeroed_within(c * CHUNK_ELEMS, vals.len()) {
        vals[lo..hi].fill(0.0);
    }
    let dtype: DType = stream.dtype();
    dtype.encode(vals, out);
}
