//! The fast path for regular files whose layout is a header followed by the tensors' data
//! back to back (`.safetensors`, `.npy`): reserve the whole file with `fallocate`, then fill
//! the data region through memory-mapped windows, the chunks of each window on all threads.
//!
//! Values go straight into page-cache pages (no copy through `write`), the page faults are
//! taken on every core, and `fallocate` turns "disk full" into an error before any work (a
//! write into a mapping the filesystem cannot back would raise SIGBUS instead). Only one
//! window is mapped at a time, so resident memory is bounded by [`WINDOW`] plus each thread's
//! chunk scratch, whatever the file size. Filesystems without `fallocate` use the sequential
//! `write` path instead.

use super::{DataPath, OutTensor};
use crate::error::{Error, Result};
use crate::stream::CHUNK_ELEMS;
use memmap2::MmapOptions;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::fs::File;
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;

/// Bytes mapped at once. 64 MiB keeps peak RSS well under 128 MiB while each window still
/// holds hundreds of f32 chunks for the threads to share.
pub(super) const WINDOW: u64 = 64 << 20;

thread_local! {
    /// Per-thread scratch (f64 values, and bytes for chunks that straddle a window edge),
    /// reused for every chunk and window.
    static SCRATCH: RefCell<(Vec<f64>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Run `f` with this thread's reusable f64 scratch.
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Vec<f64>) -> R) -> R {
    SCRATCH.with_borrow_mut(|(values, _)| f(values))
}

/// Reserve `len` bytes for `file` (extending it to `len`). `Ok(false)` when the filesystem
/// cannot (the caller then writes sequentially); a real failure such as ENOSPC is an error.
#[cfg(target_os = "linux")]
pub(super) fn reserve(file: &File, len: u64, ctx: &str) -> Result<bool> {
    let Ok(signed) = libc::off_t::try_from(len) else {
        return Ok(false);
    };
    loop {
        // SAFETY: a plain syscall on an open descriptor we own.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, signed) };
        if r == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EOPNOTSUPP | libc::ENOSYS) => return Ok(false),
            _ => return Err(Error::io(format!("reserving {len} bytes for {ctx}"), e)),
        }
    }
}

/// Elsewhere there is no `fallocate`: the sequential path is used (a write into a mapping the
/// filesystem cannot back would raise SIGBUS instead of returning ENOSPC).
#[cfg(not(target_os = "linux"))]
pub(super) fn reserve(_: &File, _: u64, _: &str) -> Result<bool> {
    Ok(false)
}

/// Ask the kernel to start writing back bytes [offset, offset + len) of `file` now, so the
/// final fsync has little left to do. Only a hint: errors are ignored.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    if let (Ok(o), Ok(l)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) {
        // SAFETY: a plain syscall on an open descriptor we own.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), o, l, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &File, _: u64, _: u64) {}

/// Bytes [from, to) of chunk `c` of tensor `t`, written at `dst` in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    t: usize,
    c: u64,
    from: usize,
    to: usize,
    dst: usize,
}

/// Walks the chunks of `tensors` (laid out back to back) window by window.
struct Cursor {
    /// (chunks, bytes, element size) of each tensor.
    sizes: Vec<(u64, u64, usize)>,
    /// Data offset of each tensor.
    starts: Vec<u64>,
    t: usize,
    c: u64,
}

impl Cursor {
    fn new(tensors: &[&OutTensor]) -> Cursor {
        let mut starts = Vec::with_capacity(tensors.len());
        let mut off = 0;
        let sizes = tensors
            .iter()
            .map(|t| {
                starts.push(off);
                off += t.bytes;
                (t.source.num_chunks(), t.bytes, t.dtype.size())
            })
            .collect();
        Cursor {
            sizes,
            starts,
            t: 0,
            c: 0,
        }
    }

    /// The pieces of the window [wstart, wend) of the data region, in order.
    fn window(&mut self, wstart: u64, wend: u64, out: &mut Vec<Piece>) {
        out.clear();
        while self.t < self.sizes.len() {
            let (chunks, bytes, size) = self.sizes[self.t];
            if self.c >= chunks || bytes == 0 {
                self.t += 1;
                self.c = 0;
                continue;
            }
            let chunk_bytes = CHUNK_ELEMS * size as u64;
            let cs = self.starts[self.t] + self.c * chunk_bytes;
            let ce = (cs + chunk_bytes).min(self.starts[self.t] + bytes);
            if cs >= wend {
                return;
            }
            let from = wstart.saturating_sub(cs);
            let to = ce.min(wend) - cs;
            out.push(Piece {
                t: self.t,
                c: self.c,
                from: from as usize,
                to: to as usize,
                dst: (cs + from - wstart) as usize,
            });
            if ce > wend {
                return;
            }
            self.c += 1;
        }
    }
}

/// Fill the data region of `file`, which starts at byte `data_start`, with the data of
/// `tensors` in order. The file must already be reserved to its full length. `hashers`, when
/// given, receive each tensor's bytes in order. When `data` will fsync the file, the kernel is
/// asked to start writing each finished window now; its token cancels between windows.
pub(super) fn fill(
    file: &File,
    data_start: u64,
    tensors: &[&OutTensor],
    mut hashers: Option<&mut [Sha256]>,
    data: &DataPath,
    ctx: &str,
) -> Result<()> {
    let (progress, writeback, cancel) = (&data.progress, data.sync, &data.cancel);
    let total: u64 = tensors.iter().map(|t| t.bytes).sum();
    let mut cursor = Cursor::new(tensors);
    let mut pieces = Vec::new();
    let mut released = 0;
    let mut wstart = 0;
    // The window filled last, hashed while the next one fills (SHA-256 is one sequential pass
    // per tensor, about as slow as generating on every core: overlapped, it costs no time).
    let mut filled: Option<Filled> = None;
    while wstart < total {
        cancel.check(ctx)?;
        let wend = (wstart + WINDOW).min(total);
        cursor.window(wstart, wend, &mut pieces);
        // SAFETY: the file is our own temp file, reserved to its full length, and nothing
        // else maps or truncates it while the window is alive.
        let mut map = unsafe {
            MmapOptions::new()
                .offset(data_start + wstart)
                .len((wend - wstart) as usize)
                .map_mut(file)
        }
        .map_err(|e| Error::io(format!("mapping {ctx}"), e))?;
        // Runs of consecutive chunks of one tensor, up to its `run_len`, are one task each.
        let mut tasks: Vec<Vec<(Piece, &mut [u8])>> = Vec::new();
        let mut rest: &mut [u8] = &mut map;
        let mut at = 0;
        for p in &pieces {
            debug_assert_eq!(p.dst, at);
            let (head, tail) = rest.split_at_mut(p.to - p.from);
            rest = tail;
            at += p.to - p.from;
            let run = tensors[p.t].source.run_len() as usize;
            match tasks.last_mut() {
                Some(task) if task.len() < run && task[0].0.t == p.t => task.push((*p, head)),
                _ => tasks.push(vec![(*p, head)]),
            }
        }
        debug_assert!(rest.is_empty());
        let fill = || {
            tasks.into_par_iter().for_each(|task| {
                for (p, out) in task {
                    if cancel.is_cancelled() {
                        return;
                    }
                    let src = &tensors[p.t].source;
                    SCRATCH.with_borrow_mut(|(values, bytes)| {
                        let full = src.chunk_len(p.c) * tensors[p.t].dtype.size();
                        if p.from == 0 && p.to == full {
                            src.fill_chunk_bytes(p.c, values, out);
                        } else {
                            bytes.resize(full, 0);
                            src.fill_chunk_bytes(p.c, values, bytes);
                            out.copy_from_slice(&bytes[p.from..p.to]);
                        }
                    });
                }
            })
        };
        match (filled.take(), hashers.as_deref_mut()) {
            (Some(prev), Some(h)) => {
                rayon::join(|| prev.hash(h), fill);
                prev.done(file, data_start, writeback);
            }
            (prev, _) => {
                fill();
                if let Some(prev) = prev {
                    prev.done(file, data_start, writeback);
                }
            }
        }
        cancel.check(ctx)?;
        filled = Some(Filled {
            map,
            pieces: pieces.clone(),
            wstart,
            wend,
        });
        // Whole-tensor caches (orthogonal, sparse) of finished tensors are dropped.
        while released < cursor.t {
            tensors[released].source.release();
            released += 1;
        }
        progress.inc(wend - wstart);
        wstart = wend;
    }
    if let Some(last) = filled {
        if let Some(h) = hashers {
            last.hash(h);
        }
        last.done(file, data_start, writeback);
    }
    for t in &tensors[released..] {
        t.source.release();
    }
    Ok(())
}

/// A window whose values are written, waiting to be hashed and handed to writeback.
struct Filled {
    map: memmap2::MmapMut,
    pieces: Vec<Piece>,
    wstart: u64,
    wend: u64,
}

impl Filled {
    /// Feed the window's bytes to each tensor's hasher, in order.
    fn hash(&self, hashers: &mut [Sha256]) {
        for p in &self.pieces {
            hashers[p.t].update(&self.map[p.dst..p.dst + (p.to - p.from)]);
        }
    }

    /// Unmap the window and (for durable writes) start writing it back.
    fn done(self, file: &File, data_start: u64, writeback: bool) {
        drop(self.map);
        if writeback {
            start_writeback(file, data_start + self.wstart, self.wend - self.wstart);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::scheme::Distribution;
    use crate::stream::{ChunkSource, TensorStream};

    fn tensor<'a>(name: &'a str, shape: &'a [u64], dtype: DType) -> OutTensor<'a> {
        let numel: u64 = shape.iter().product();
        OutTensor {
            name,
            shape,
            dtype,
            bytes: numel * dtype.size() as u64,
            source: ChunkSource::Native(
                TensorStream::new(
                    0,
                    name,
                    numel,
                    &Distribution::Uniform {
                        low: -1.0,
                        high: 1.0,
                    },
                )
                .with_dtype(dtype),
            ),
        }
    }

    #[test]
    fn pieces_tile_each_window_exactly_and_cover_every_chunk_once() {
        let shapes: [&[u64]; 4] = [&[3], &[CHUNK_ELEMS * 2 + 7], &[0], &[5, CHUNK_ELEMS + 1]];
        let ts: Vec<OutTensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| tensor(["a", "b", "c", "d"][i], s, DType::F32))
            .collect();
        let refs: Vec<&OutTensor> = ts.iter().collect();
        let total: u64 = ts.iter().map(|t| t.bytes).sum();
        // A window size that is not a multiple of the chunk size forces straddling chunks.
        let window = CHUNK_ELEMS * 4 / 3 + 11;
        let mut cursor = Cursor::new(&refs);
        let mut seen: Vec<Vec<usize>> = ts
            .iter()
            .map(|t| vec![0; t.source.num_chunks() as usize])
            .collect();
        let (mut w, mut pieces) = (0, Vec::new());
        while w < total {
            let end = (w + window).min(total);
            cursor.window(w, end, &mut pieces);
            let mut at = 0;
            for p in &pieces {
                assert_eq!(p.dst, at);
                assert!(p.from < p.to);
                at += p.to - p.from;
                seen[p.t][p.c as usize] += p.to - p.from;
            }
            assert_eq!(at as u64, end - w, "window {w}..{end} not tiled");
            w = end;
        }
        for (t, s) in ts.iter().zip(&seen) {
            for (c, n) in s.iter().enumerate() {
                assert_eq!(*n, t.source.chunk_len(c as u64) * 4, "{} chunk {c}", t.name);
            }
        }
    }
}
