//! The single streaming pass `inspect` makes over each tensor's bytes.
//!
//! Owns: reading a tensor once, in fixed chunks of [`CHUNK_ELEMS`] elements summarised in
//! parallel, and computing in that one pass everything the report shows and every check needs:
//! count, mean and variance, min, max, zeros, NaN/∞ ([`Moments`]), the Kolmogorov–Smirnov
//! statistic without a CDF evaluation per element, and the element-position checks of
//! `structure` (exact patterns, Gram matrix, zeros per column). Kernels per stored type work
//! on the little-endian bytes directly:
//!
//! - **f32, f64**: moments in two sweeps over each chunk while it is in cache (a sum, then the
//!   squared deviations from the chunk's mean), in 8 independent f64 lanes; min/max in the
//!   stored type; the KS test counts values in the fine bins of a [`Grid`] (uniform in x) and
//!   evaluates the CDF only at the bin edges afterwards (`stats::Grid` documents the bound).
//! - **f16, bf16**: a 65 536-entry histogram of the bit patterns, from which the moments and
//!   the *exact* KS statistic against the law rounded to the type ([`stats::ks_atoms`]) follow
//!   (a tensor of at most [`SMALL_HALF`] elements sorts its values instead).
//! - integers and booleans: decoded to f64, then the f64 kernels.
//!
//! **Deterministic.** Chunk boundaries depend only on the tensor (batches of
//! [`crate::read::BATCH_BYTES`] are whole chunks), each chunk is summarised by the same
//! sequence of IEEE operations whatever the instruction set (the kernels are compiled for the
//! baseline and for AVX2 and chosen at run time, with explicit lanes, no FMA and no
//! reassociation), chunk summaries merge as a balanced tree in chunk order, batches in order,
//! and histograms hold integer counts. So the result is the same bits on every thread count
//! and CPU (tests: `tests/inspect.rs`, `same_report_on_every_thread_count`, and this module's
//! baseline-vs-AVX2 test).
//!
//! The per-chunk task receives the chunk's index and stream position with its bytes, so
//! `inspect --verify` regenerates the same chunk and compares it in the same task
//! (`verify::compare_chunk`), without a second read. The SHA-256 of the tensor's stored bytes
//! is computed in the same pass: SHA-256 is sequential, so one thread hashes each batch while
//! the others summarise it (`rayon::join`).
//!
//! Does not own: deciding pass or fail (`check`), the statistics' mathematics (`stats`), the
//! positional checks themselves (`structure`), reading files (`read`).

use super::check::{CheckResult, constant_value, rounded_cdf};
use super::stats::{self, Exact, Grid, KsBounds, Moments};
use super::structure::{Gram, Mismatches, Pattern, SparseColumns};
use super::verify::{Diff, compare_chunk};
use crate::dispatch::kernel;
use crate::error::Result;
use crate::read::{ByteOrder, ElemType, Parsed, TensorInfo};
use crate::scheme::Distribution;
use crate::stream::ChunkSource;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::Mutex;

/// What the pass finds besides the statistics: the SHA-256 (hex) of the tensor's stored bytes
/// and, when a regenerated source was given, the first element that differs from it.
pub(super) struct Exactly {
    /// The data's SHA-256, when asked for (it costs one core at about 1.5 GB/s).
    pub sha256: Option<String>,
    /// `None` without a source; `Some(None)` when every element matched.
    pub verified: Option<Option<Diff>>,
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

const _: () = assert!(CHUNK_ELEMS as u64 == crate::stream::CHUNK_ELEMS);

/// Elements summarised together by one task.
pub(super) const CHUNK_ELEMS: usize = 1 << 16;

/// f16/bf16 tensors up to this many elements sort their values instead of filling a
/// 65 536-entry histogram per thread.
pub(super) const SMALL_HALF: u64 = 1 << 14;

/// Independent accumulator lanes of the kernels.
const LANES: usize = 8;

/// What [`summarise`] returns: moments, KS bounds, positional checks, hash and comparison.
pub(super) type Summary = (Option<Moments>, Option<KsBounds>, Vec<CheckResult>, Exactly);

/// Statistics of tensor `i` (None for undecodable types), when a random law is claimed the
/// bounds on its KS statistic, and the results of the checks that need element positions.
#[allow(clippy::too_many_arguments)] // the pass's inputs; a struct would only rename them
pub(super) fn summarise(
    parsed: &mut Parsed,
    i: usize,
    law: Option<&Distribution>,
    qr_in_f64: bool,
    verify: Option<&ChunkSource>,
    hash: bool,
    progress: &mut dyn FnMut(u64),
    release: &mut dyn FnMut(std::ops::Range<usize>),
) -> Result<Summary> {
    use rayon::prelude::*;
    let info: TensorInfo = parsed.tensors[i].clone();
    let mut hasher = hash.then(Sha256::new);
    let Some(size) = info.dtype.decoded_size() else {
        let mut bytes = |b: &[u8]| {
            if let Some(h) = hasher.as_mut() {
                h.update(b);
            }
            progress(b.len() as u64);
            Ok(())
        };
        parsed.visit(i, &mut bytes, release)?;
        let exactly = Exactly {
            sha256: hasher.map(hex),
            verified: None,
        };
        return Ok((None, None, Vec::new(), exactly));
    };
    let dtype: &ElemType = &info.dtype;
    let random = law.filter(|l| constant_value(l).is_none() && stats::is_elementwise(l));
    let mut values = Values::new(Kernel::of(dtype), random, info.numel);
    let (mut positions, mut positional) = Positions::new(law, &info, qr_in_f64);
    let mut total = Moments::default();
    let mut mismatches = Mismatches::default();
    let mut first_diff: Option<Diff> = None;
    let mut at = 0u64; // stream position of the batch's first element
    let mut batch = |batch: &[u8]| {
        let le: Cow<[u8]> = match info.byte_order {
            ByteOrder::Little => Cow::Borrowed(batch),
            ByteOrder::Big => {
                let mut v = batch.to_vec();
                for e in v.chunks_exact_mut(size) {
                    e.reverse();
                }
                Cow::Owned(v)
            }
        };
        // Once a difference is found, later chunks are not compared.
        let compare = verify.filter(|_| first_diff.is_none());
        let (shared_values, shared_positions) = (&values, &positions);
        let (_, parts) = rayon::join(
            || {
                if let Some(h) = hasher.as_mut() {
                    h.update(batch);
                }
            },
            || -> Vec<(Moments, Mismatches, Option<Diff>)> {
                let task = |(k, chunk): (usize, &[u8])| {
                    let first = at + (k * CHUNK_ELEMS) as u64;
                    let d = compare.and_then(|src| {
                        compare_chunk(src, first / CHUNK_ELEMS as u64, first, chunk, size)
                    });
                    let mm = shared_positions.scan(first, chunk, dtype);
                    (shared_values.chunk(chunk, dtype), mm, d)
                };
                le.par_chunks(CHUNK_ELEMS * size)
                    .enumerate()
                    .map(task)
                    .collect()
            },
        );
        let ms: Vec<Moments> = parts.iter().map(|p| p.0).collect();
        total.merge(&Moments::merge_tree(&ms));
        for (_, mm, d) in parts {
            mismatches.merge(&mm);
            if first_diff.is_none() {
                first_diff = d;
            }
        }
        values.flush();
        positions.feed(&le, size, dtype);
        at += (batch.len() / size) as u64;
        progress(batch.len() as u64);
        Ok(())
    };
    parsed.visit(i, &mut batch, release)?;

    let (total, ks) = values.finish(total, random, dtype);
    positions.results(info.numel, &mismatches, &mut positional);
    if let Some(src) = verify {
        src.release();
    }
    let exactly = Exactly {
        sha256: hasher.map(hex),
        verified: verify.map(|_| first_diff),
    };
    Ok((Some(total), ks, positional, exactly))
}

/// The distribution of a tensor's values, as the pass gathers it: the kernel for its stored
/// type and, when a random law is claimed, the histogram the KS statistic comes from (the
/// bins of a [`Grid`], or for f16/bf16 every bit pattern; a small f16/bf16 tensor keeps its
/// values instead).
struct Values {
    kernel: Kernel,
    grid: Option<Grid>,
    hist: Option<Hist>,
    small: Mutex<Vec<u16>>,
}

impl Values {
    fn new(kernel: Kernel, random: Option<&Distribution>, numel: u64) -> Values {
        let grid = match kernel {
            Kernel::Half(_) => None,
            _ => random.map(|l| Grid::for_law(l, numel)),
        };
        let hist = match kernel {
            Kernel::Half(_) if numel > SMALL_HALF => Some(Hist::new(1 << 16)),
            Kernel::Half(_) => None,
            // One more bin than the grid's: non-finite values go there and are not counted.
            _ => grid.map(|g| Hist::new(g.bins() + 1)),
        };
        Values {
            kernel,
            grid,
            hist,
            small: Mutex::new(Vec::new()),
        }
    }

    /// One chunk's moments (f16/bf16: counted into the histogram, moments at the end).
    fn chunk(&self, chunk: &[u8], dtype: &ElemType) -> Moments {
        let n = (chunk.len() / dtype.decoded_size().unwrap_or(1)) as u64;
        let binned = self.grid.as_ref().zip(self.hist.as_ref());
        match self.kernel {
            Kernel::F32 => {
                if let Some((g, h)) = binned {
                    h.add(n, |c| grid_bins_f32(chunk, g, c));
                }
                moments_f32(chunk)
            }
            Kernel::F64 => {
                if let Some((g, h)) = binned {
                    h.add(n, |c| grid_bins_f64(chunk, g, c));
                }
                moments_f64(chunk)
            }
            Kernel::Half(_) => {
                match &self.hist {
                    Some(h) => h.add(n, |c| half_hist(chunk, c)),
                    None => {
                        self.small.lock().expect("not poisoned").extend(
                            (chunk.chunks_exact(2)).map(|b| u16::from_le_bytes([b[0], b[1]])),
                        )
                    }
                }
                Moments::default()
            }
            Kernel::Decoded => {
                let mut xs = Vec::with_capacity(n as usize);
                dtype.decode_le(chunk, &mut xs);
                let bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
                if let Some((g, h)) = binned {
                    h.add(n, |c| grid_bins_f64(&bytes, g, c));
                }
                moments_f64(&bytes)
            }
        }
    }

    /// After each batch: fold the per-thread counts before they can overflow.
    fn flush(&mut self) {
        if let Some(h) = self.hist.as_mut() {
            h.flush(false);
        }
    }

    /// The tensor's moments (f16/bf16: from the histogram or the kept values, replacing the
    /// chunks' empty ones) and the bounds on its KS statistic against `random`.
    fn finish(
        self,
        total: Moments,
        random: Option<&Distribution>,
        dtype: &ElemType,
    ) -> (Moments, Option<KsBounds>) {
        let Kernel::Half(half) = self.kernel else {
            let (Some(g), Some(h), Some(law)) = (self.grid, self.hist, random) else {
                return (total, None);
            };
            let mut counts = h.finish();
            counts.pop(); // the non-finite values' bin
            let cdf = |x: f64| law.cdf(x);
            let ks = match self.kernel {
                Kernel::F32 => g.bounds::<f32>(&counts, cdf),
                _ => g.bounds::<f64>(&counts, cdf),
            };
            return (total, Some(ks));
        };
        let pairs: Vec<(u16, u64)> = match self.hist {
            Some(h) => (h.finish().iter().enumerate())
                .filter(|(_, c)| **c > 0)
                .map(|(b, &c)| (b as u16, c))
                .collect(),
            None => {
                let mut v = self.small.into_inner().expect("not poisoned");
                v.sort_unstable();
                let mut pairs: Vec<(u16, u64)> = Vec::new();
                for b in v {
                    match pairs.last_mut() {
                        Some((last, c)) if *last == b => *c += 1,
                        _ => pairs.push((b, 1)),
                    }
                }
                pairs
            }
        };
        let (atoms, nan, inf) = half.atoms(&pairs);
        let ks = random.map(|law| stats::ks_atoms(&atoms, |v| rounded_cdf(law, dtype, v)));
        (Moments::of_atoms(&atoms, nan, inf), ks)
    }
}

/// A check that applies (`Some(Ok)`), cannot run (`Some(Err(note))`: the note is listed), or
/// does not apply (`None`).
fn started<T>(
    check: Option<std::result::Result<T, CheckResult>>,
    notes: &mut Vec<CheckResult>,
) -> Option<T> {
    match check? {
        Ok(c) => Some(c),
        Err(note) => {
            notes.push(note);
            None
        }
    }
}

/// The checks that need element positions (`structure`), as far as the claimed law has them:
/// an exact pattern, the Gram matrix of an orthogonal tensor, the zeros per column of a sparse
/// one.
#[derive(Default)]
struct Positions {
    pattern: Option<Pattern>,
    gram: Option<Gram>,
    sparse: Option<SparseColumns>,
}

impl Positions {
    /// The checks that apply, and the results of those that cannot run (listed as such).
    fn new(
        law: Option<&Distribution>,
        info: &TensorInfo,
        qr_in_f64: bool,
    ) -> (Positions, Vec<CheckResult>) {
        let mut notes = Vec::new();
        let (dtype, order, shape) = (&info.dtype, info.fortran_order, &info.shape[..]);
        let Some(law) = law else {
            return (Positions::default(), notes);
        };
        let positions = Positions {
            pattern: started(Pattern::for_law(law, shape, order, dtype), &mut notes),
            gram: started(
                Gram::new(law, info.numel, order, dtype, qr_in_f64),
                &mut notes,
            ),
            sparse: started(SparseColumns::new(law, shape, order, dtype), &mut notes),
        };
        (positions, notes)
    }

    /// The pattern's mismatches in one chunk (any order: chunks run in parallel).
    fn scan(&self, first: u64, chunk: &[u8], dtype: &ElemType) -> Mismatches {
        let Some(p) = &self.pattern else {
            return Mismatches::default();
        };
        let mut xs = Vec::with_capacity(chunk.len() / dtype.decoded_size().unwrap_or(1));
        dtype.decode_le(chunk, &mut xs);
        p.scan(first, &xs)
    }

    /// One batch, in order: the Gram matrix and the column counts need the values in order,
    /// so they decode the batch again.
    fn feed(&mut self, le: &[u8], size: usize, dtype: &ElemType) {
        if self.gram.is_none() && self.sparse.is_none() {
            return;
        }
        let mut xs = Vec::with_capacity(CHUNK_ELEMS);
        for chunk in le.chunks(CHUNK_ELEMS * size) {
            dtype.decode_le(chunk, &mut xs);
            if let Some(g) = self.gram.as_mut() {
                g.feed(&xs);
            }
            if let Some(s) = self.sparse.as_mut() {
                s.feed(&xs);
            }
        }
    }

    fn results(self, numel: u64, mismatches: &Mismatches, out: &mut Vec<CheckResult>) {
        if let Some(p) = &self.pattern {
            out.push(p.result(numel, mismatches));
        }
        if let Some(g) = self.gram {
            out.push(g.result());
        }
        if let Some(s) = self.sparse {
            out.push(s.result());
        }
    }
}

/// Which kernels read a stored type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    F32,
    F64,
    Half(Half),
    /// Integers and booleans: decoded to f64 first.
    Decoded,
}

impl Kernel {
    fn of(t: &ElemType) -> Kernel {
        match t {
            ElemType::F32 => Kernel::F32,
            ElemType::F64 => Kernel::F64,
            ElemType::F16 => Kernel::Half(Half::F16),
            ElemType::BF16 => Kernel::Half(Half::BF16),
            _ => Kernel::Decoded,
        }
    }
}

/// The two 16-bit float types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    F16,
    BF16,
}

impl Half {
    fn value(self, bits: u16) -> f64 {
        match self {
            Half::F16 => half::f16::from_bits(bits).to_f64(),
            Half::BF16 => half::bf16::from_bits(bits).to_f64(),
        }
    }

    /// From (bit pattern, count) pairs: the finite values as atoms (value, count) in
    /// increasing order (−0 and +0 are one atom), and the NaN and ±∞ counts.
    fn atoms(self, pairs: &[(u16, u64)]) -> (Vec<(f64, u64)>, u64, u64) {
        let (mut nan, mut inf) = (0, 0);
        let mut atoms: Vec<(f64, u64)> = Vec::with_capacity(pairs.len());
        for &(b, c) in pairs {
            let v = self.value(b);
            if v.is_nan() {
                nan += c;
            } else if v.is_infinite() {
                inf += c;
            } else {
                atoms.push((if v == 0.0 { 0.0 } else { v }, c));
            }
        }
        atoms.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, u64)> = Vec::with_capacity(atoms.len());
        for (v, c) in atoms {
            match merged.last_mut() {
                Some((w, d)) if *w == v => *d += c,
                _ => merged.push((v, c)),
            }
        }
        (merged, nan, inf)
    }
}

/// Bin counts kept per worker thread (u32, flushed into u64 totals before they could
/// overflow), so chunks running in parallel never share a counter. The totals are integers,
/// so they do not depend on which thread counted what.
struct Hist {
    bins: usize,
    slots: Vec<Mutex<Slot>>,
    total: Vec<u64>,
}

#[derive(Default)]
struct Slot {
    counts: Vec<u32>,
    /// Values counted since the last flush.
    added: u64,
}

impl Hist {
    fn new(bins: usize) -> Hist {
        Hist {
            bins,
            slots: (0..rayon::current_num_threads().max(1))
                .map(|_| Mutex::default())
                .collect(),
            total: vec![0; bins],
        }
    }

    /// Count `n` values with `f` into this thread's counters.
    fn add(&self, n: u64, f: impl FnOnce(&mut [u32])) {
        let i = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        let mut s = self.slots[i].lock().expect("not poisoned");
        if s.counts.is_empty() {
            s.counts = vec![0; self.bins];
        }
        f(&mut s.counts);
        s.added += n;
    }

    /// Move the per-thread counts into the totals (all of them, or those that could overflow
    /// within another batch of at most 2³¹ values).
    fn flush(&mut self, all: bool) {
        for s in &mut self.slots {
            let s = s.get_mut().expect("not poisoned");
            if s.added > 0 && (all || s.added >= 1 << 31) {
                for (t, c) in self.total.iter_mut().zip(s.counts.iter_mut()) {
                    *t += *c as u64;
                    *c = 0;
                }
                s.added = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u64> {
        self.flush(true);
        self.total
    }
}

/// A stored float type the moment and grid kernels read.
trait Elem: Copy + PartialOrd {
    const SIZE: usize;
    const ZERO: Self;
    const INF: Self;
    const NEG_INF: Self;
    fn load(b: &[u8]) -> Self;
    /// The [`LANES`] values of a block of `LANES · SIZE` bytes (one vector load).
    fn block(b: &[u8]) -> [Self; LANES];
    fn wide(self) -> f64;
    fn finite(self) -> bool;
}

impl Elem for f32 {
    const SIZE: usize = 4;
    const ZERO: f32 = 0.0;
    const INF: f32 = f32::INFINITY;
    const NEG_INF: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    fn load(b: &[u8]) -> f32 {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    #[inline(always)]
    fn block(b: &[u8]) -> [f32; LANES] {
        let a: &[u8; 4 * LANES] = b.try_into().expect("a block");
        std::array::from_fn(|j| {
            f32::from_le_bytes([a[4 * j], a[4 * j + 1], a[4 * j + 2], a[4 * j + 3]])
        })
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.abs() < f32::INFINITY
    }
}

impl Elem for f64 {
    const SIZE: usize = 8;
    const ZERO: f64 = 0.0;
    const INF: f64 = f64::INFINITY;
    const NEG_INF: f64 = f64::NEG_INFINITY;
    #[inline(always)]
    fn load(b: &[u8]) -> f64 {
        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    #[inline(always)]
    fn block(b: &[u8]) -> [f64; LANES] {
        let a: &[u8; 8 * LANES] = b.try_into().expect("a block");
        std::array::from_fn(|j| {
            let mut e = [0u8; 8];
            e.copy_from_slice(&a[8 * j..8 * j + 8]);
            f64::from_le_bytes(e)
        })
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.abs() < f64::INFINITY
    }
}

/// Moments of the little-endian values in `bytes` (at most 2³² of them): a sweep for the
/// count, sum, min, max and zeros, then one for the squared deviations from the mean, each
/// in [`LANES`] independent lanes (lane j takes elements j, j + LANES, …) added in a fixed
/// order at the end.
#[inline(always)]
fn moments_le<T: Elem>(bytes: &[u8]) -> Moments {
    let n = bytes.len() / T::SIZE;
    let mut sum = [0f64; LANES];
    let mut fin = [0u32; LANES];
    let mut zeros = [0u32; LANES];
    let mut lo = [T::INF; LANES];
    let mut hi = [T::NEG_INF; LANES];
    let mut step = |j: usize, x: T| {
        let f = x.finite();
        fin[j] += f as u32;
        zeros[j] += (x == T::ZERO) as u32;
        sum[j] += if f { x.wide() } else { 0.0 };
        let (a, b) = if f { (x, x) } else { (T::INF, T::NEG_INF) };
        lo[j] = if a < lo[j] { a } else { lo[j] };
        hi[j] = if b > hi[j] { b } else { hi[j] };
    };
    let blocks = bytes.chunks_exact(LANES * T::SIZE);
    let rest = blocks.remainder();
    for b in blocks {
        let xs = T::block(b);
        for (j, &x) in xs.iter().enumerate() {
            step(j, x);
        }
    }
    for (j, e) in rest.chunks_exact(T::SIZE).enumerate() {
        step(j, T::load(e));
    }
    let finite: u64 = fin.iter().map(|&c| c as u64).sum();
    let mut m = Moments {
        count: n as u64,
        finite,
        zeros: zeros.iter().map(|&c| c as u64).sum(),
        ..Moments::default()
    };
    if finite == 0 {
        m.nan = bytes
            .chunks_exact(T::SIZE)
            .filter(|e| T::load(e).wide().is_nan())
            .count() as u64;
        m.inf = m.count - m.nan;
        return m;
    }
    m.mean = lanes_sum(&sum) / finite as f64;
    m.min = lo.iter().fold(f64::INFINITY, |a, &b| a.min(b.wide()));
    m.max = hi.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b.wide()));
    let mean = m.mean;
    let mut ss = [0f64; LANES];
    let mut dev = |j: usize, x: T| {
        let d = if x.finite() { x.wide() - mean } else { 0.0 };
        ss[j] += d * d;
    };
    for b in bytes.chunks_exact(LANES * T::SIZE) {
        let xs = T::block(b);
        for (j, &x) in xs.iter().enumerate() {
            dev(j, x);
        }
    }
    for (j, e) in rest.chunks_exact(T::SIZE).enumerate() {
        dev(j, T::load(e));
    }
    m.m2 = lanes_sum(&ss);
    if finite < m.count {
        m.nan = bytes
            .chunks_exact(T::SIZE)
            .filter(|e| T::load(e).wide().is_nan())
            .count() as u64;
        m.inf = m.count - finite - m.nan;
    }
    m
}

/// The lanes added pairwise, in a fixed order.
#[inline(always)]
fn lanes_sum(l: &[f64; LANES]) -> f64 {
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

/// Count the finite values of `bytes` in the bins of `grid`; the non-finite ones go to the
/// extra last counter.
#[inline(always)]
fn grid_bins_le<T: Elem>(bytes: &[u8], grid: &Grid, counts: &mut [u32]) {
    let skip = grid.bins();
    let counts = &mut counts[..=skip];
    for b in bytes.chunks_exact(LANES * T::SIZE) {
        // The lanes' bins first (vectorised, no branch), then the counts.
        let xs = T::block(b);
        let mut idx = [0u32; LANES];
        for (k, &x) in idx.iter_mut().zip(xs.iter()) {
            let bin = grid.index(x.wide()) as u32;
            *k = if x.finite() { bin } else { skip as u32 };
        }
        for k in idx {
            counts[k as usize] += 1;
        }
    }
    for e in bytes
        .chunks_exact(LANES * T::SIZE)
        .remainder()
        .chunks_exact(T::SIZE)
    {
        let x = T::load(e);
        counts[if x.finite() {
            grid.index(x.wide())
        } else {
            skip
        }] += 1;
    }
}

kernel! {
    /// [`moments_le`] of f32 values.
    fn moments_f32(bytes: &[u8]) -> Moments {
        moments_le::<f32>(bytes)
    }
}

kernel! {
    /// [`moments_le`] of f64 values.
    fn moments_f64(bytes: &[u8]) -> Moments {
        moments_le::<f64>(bytes)
    }
}

kernel! {
    /// [`grid_bins_le`] of f32 values.
    fn grid_bins_f32(bytes: &[u8], grid: &Grid, counts: &mut [u32]) {
        grid_bins_le::<f32>(bytes, grid, counts)
    }
}

kernel! {
    /// [`grid_bins_le`] of f64 values.
    fn grid_bins_f64(bytes: &[u8], grid: &Grid, counts: &mut [u32]) {
        grid_bins_le::<f64>(bytes, grid, counts)
    }
}

/// Count 16-bit patterns.
fn half_hist(bytes: &[u8], counts: &mut [u32]) {
    let counts: &mut [u32; 1 << 16] = counts.try_into().expect("65 536 bins");
    for b in bytes.chunks_exact(2) {
        counts[u16::from_le_bytes([b[0], b[1]]) as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{CAP, Level};

    /// Deterministic awkward values: normal-ish, with exact zeros, and (when asked) NaN and ±∞.
    fn values(n: usize, special: bool) -> Vec<f64> {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                match i % 97 {
                    5 => 0.0,
                    7 if special => f64::NAN,
                    11 if special => f64::INFINITY,
                    13 if special => f64::NEG_INFINITY,
                    _ => (u - 0.5) * 3.0 + 0.25,
                }
            })
            .collect()
    }

    fn f32_bytes(xs: &[f64]) -> Vec<u8> {
        xs.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect()
    }

    fn f64_bytes(xs: &[f64]) -> Vec<u8> {
        xs.iter().flat_map(|&x| x.to_le_bytes()).collect()
    }

    /// Within rounding of the two-pass reference, and every count exact.
    fn close(a: &Moments, b: &Moments) {
        assert_eq!(
            (a.count, a.finite, a.zeros, a.nan, a.inf, a.min, a.max),
            (b.count, b.finite, b.zeros, b.nan, b.inf, b.min, b.max)
        );
        assert!(
            (a.mean - b.mean).abs() <= 1e-13 * (1.0 + b.mean.abs()),
            "{a:?} {b:?}"
        );
        assert!((a.m2 - b.m2).abs() <= 1e-12 * b.m2, "{a:?} {b:?}");
    }

    #[test]
    fn kernels_agree_with_the_reference_moments() {
        for n in [0, 1, 7, 8, 9, 1000, 65536] {
            for special in [false, true] {
                let xs = values(n, special);
                let as32: Vec<f64> = xs.iter().map(|&x| x as f32 as f64).collect();
                close(&moments_f32(&f32_bytes(&xs)), &Moments::of(&as32));
                close(&moments_f64(&f64_bytes(&xs)), &Moments::of(&xs));
            }
        }
    }

    #[test]
    fn baseline_and_avx2_builds_give_the_same_bits() {
        let xs = values(65536 + 13, true);
        let (b32, b64) = (f32_bytes(&xs), f64_bytes(&xs));
        let law = Distribution::Normal {
            mean: 0.25,
            std: 0.9,
        };
        let g = Grid::for_law(&law, xs.len() as u64);
        let run = |cap: Level| {
            CAP.set(cap);
            let mut c32 = vec![0u32; g.bins() + 1];
            let mut c64 = vec![0u32; g.bins() + 1];
            grid_bins_f32(&b32, &g, &mut c32);
            grid_bins_f64(&b64, &g, &mut c64);
            let bits = |m: Moments| (m.mean.to_bits(), m.m2.to_bits(), m.min, m.max);
            (bits(moments_f32(&b32)), bits(moments_f64(&b64)), c32, c64)
        };
        let base = run(Level::Baseline);
        let wide = run(Level::Avx2);
        CAP.set(Level::Avx2);
        assert!(base == wide, "baseline and AVX2 kernels differ");
        // The grid counts are those of the scalar index (non-finite values in the last bin).
        let mut want = vec![0u32; g.bins() + 1];
        for &x in &xs {
            let x = x as f32;
            want[if x.is_finite() {
                g.index(x as f64)
            } else {
                g.bins()
            }] += 1;
        }
        assert_eq!(base.2, want);
    }

    #[test]
    fn half_atoms_merge_signed_zeros_and_separate_nan_and_infinities() {
        let bits = |x: f32| half::bf16::from_f32(x).to_bits();
        let pairs = vec![
            (bits(0.0), 2),
            (bits(-0.0), 3),
            (bits(1.5), 1),
            (bits(-2.0), 4),
            (bits(f32::NAN), 5),
            (bits(f32::NEG_INFINITY), 6),
        ];
        let (atoms, nan, inf) = Half::BF16.atoms(&pairs);
        assert_eq!(atoms, vec![(-2.0, 4), (0.0, 5), (1.5, 1)]);
        assert_eq!((nan, inf), (5, 6));
        let m = Moments::of_atoms(&atoms, nan, inf);
        let mut xs = vec![-2.0; 4];
        xs.extend([0.0; 5]);
        xs.push(1.5);
        xs.extend([f64::NAN; 5]);
        xs.extend([f64::NEG_INFINITY; 6]);
        close(&m, &Moments::of(&xs));
    }
}
