//! Memory guards: what a run's whole-matrix steps need, the limit they must fit in, and
//! allocation that ends in an error rather than an abort.
//!
//! Owns: [`MemoryLimit`] (by default half of physical memory, or of the cgroup's `memory.max`
//! when that is lower), the estimates of every path that holds O(tensor) or O(n²) values at
//! once — an orthogonal init's QR, the `rng` torch whole-tensor inits (sparse_, both
//! trunc_normal_ branches), `study`'s network, passes and SVDs — the peak a dry run shows, and
//! [`probe`]/[`try_zeroed`], which turn an allocation the machine refuses into
//! [`Error::Memory`]; when the caller gives no limit, the environment variable
//! `WEIGHTGEN_MEMORY_LIMIT` is read here. Does not own: where the checks run (`job`, `study`)
//! nor flags (the binary maps `--memory-limit` onto [`MemoryLimit`]).
//!
//! The estimates count the buffers the code allocates (f64 matrices, faer's Householder and
//! SVD scratch, the chunk buffers of each writer thread), not the page cache of a file being
//! written (the kernel reclaims it) nor the program itself. A unit test compares each
//! whole-matrix estimate with the bytes actually allocated for a small case.

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::scheme::Distribution;
use crate::stream::RngKind;

/// The environment variable that sets the memory limit when the caller gives none.
pub(crate) const MEMORY_ENV: &str = "WEIGHTGEN_MEMORY_LIMIT";

/// The most memory a run may plan to hold, in bytes, and where that number comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimit {
    pub bytes: u64,
    /// Said after the limit in errors: `half of physical memory`, `set by `memory_limit``.
    pub why: String,
}

/// Bytes in `/proc/meminfo`'s `MemTotal` line.
fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// A cgroup's memory limit (v2 `memory.max`: a number or `max`; v1 `memory.limit_in_bytes`,
/// where "unlimited" is a huge number).
fn cgroup_limit(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok().filter(|&n| n < 1 << 60)
}

impl MemoryLimit {
    /// A limit given by the caller (`why`: "set by `memory_limit`").
    pub fn given(bytes: u64) -> MemoryLimit {
        MemoryLimit {
            bytes,
            why: "set by `memory_limit`".into(),
        }
    }

    /// The default: half of physical memory (`/proc/meminfo` `MemTotal`), or half of the
    /// cgroup's memory limit when that is lower; no limit where neither can be read. (Read
    /// once per process: the in-memory API asks for every tensor.)
    pub fn of_machine() -> MemoryLimit {
        static MACHINE: std::sync::OnceLock<MemoryLimit> = std::sync::OnceLock::new();
        MACHINE.get_or_init(MemoryLimit::read_machine).clone()
    }

    fn read_machine() -> MemoryLimit {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let total = read("/proc/meminfo").as_deref().and_then(meminfo_total);
        let cgroup = read("/sys/fs/cgroup/memory.max")
            .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
            .as_deref()
            .and_then(cgroup_limit);
        MemoryLimit::from_machine(total, cgroup)
    }

    /// A limit written as a size (`8GB`, `500MiB`, bytes) by `source` (a parameter, a flag or
    /// an environment variable), which errors and the limit's `why` name.
    pub fn parse(text: &str, source: &str) -> Result<MemoryLimit> {
        Ok(MemoryLimit {
            bytes: crate::spec::parse_size(text).map_err(|e| e.at(source))?,
            why: format!("set by {source}"),
        })
    }

    /// The limit a run uses when its caller gives none: the environment variable
    /// `WEIGHTGEN_MEMORY_LIMIT` (a size like `8GB`), else [`MemoryLimit::of_machine`].
    pub fn from_env_or_machine() -> Result<MemoryLimit> {
        match std::env::var(MEMORY_ENV) {
            Ok(text) => MemoryLimit::parse(&text, MEMORY_ENV),
            Err(std::env::VarError::NotPresent) => Ok(MemoryLimit::of_machine()),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::invalid(
                MEMORY_ENV,
                "not valid UTF-8 (write a size like 8GB)",
            )),
        }
    }

    fn from_machine(total: Option<u64>, cgroup: Option<u64>) -> MemoryLimit {
        match (total, cgroup) {
            (_, Some(c)) if total.is_none_or(|t| c < t) => MemoryLimit {
                bytes: c / 2,
                why: "half of the cgroup's memory limit".into(),
            },
            (Some(t), _) => MemoryLimit {
                bytes: t / 2,
                why: "half of physical memory".into(),
            },
            _ => MemoryLimit {
                bytes: u64::MAX,
                why: "physical memory unknown".into(),
            },
        }
    }

    /// `Err(Error::Memory)` naming `need` and this limit when `need` is over it.
    pub(crate) fn check(&self, need: &Need) -> Result<()> {
        if need.bytes <= self.bytes {
            return Ok(());
        }
        Err(Error::Memory(format!(
            "{} needs {}; the memory limit is {} ({}); raise it with `memory_limit`",
            need.what,
            human(need.bytes),
            human(self.bytes),
            self.why
        )))
    }
}

/// What a step needs at its peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
    /// "orthogonal init of `w` (4096×4096 f64 QR)".
    pub what: String,
    pub bytes: u64,
}

/// Bytes in decimal units with one decimal: `34.4 GB`, `512.0 kB`, `12 bytes`.
pub(crate) fn human(b: u64) -> String {
    const UNITS: [(&str, f64); 5] = [
        ("PB", 1e15),
        ("TB", 1e12),
        ("GB", 1e9),
        ("MB", 1e6),
        ("kB", 1e3),
    ];
    for (unit, size) in UNITS {
        if b as f64 >= size {
            return format!("{:.1} {unit}", b as f64 / size);
        }
    }
    format!("{b} bytes")
}

/// Reserve `need.bytes` of address space and give it back: an allocation the machine refuses
/// now (an address-space limit, memory the kernel will not overcommit) becomes
/// [`Error::Memory`] before a step whose buffers are allocated by a library that would abort.
pub(crate) fn probe(need: &Need) -> Result<()> {
    use std::alloc::{GlobalAlloc, Layout, System};
    let bytes = usize::try_from(need.bytes).map_err(|_| refused(need))?;
    if bytes == 0 {
        return Ok(());
    }
    let layout = Layout::from_size_align(bytes, 64).map_err(|_| refused(need))?;
    // SAFETY: `layout` has a non-zero size; the block is freed with the same layout, unread.
    // (`System` directly: the reservation is not an allocation of the run's.)
    unsafe {
        let p = System.alloc(layout);
        if p.is_null() {
            return Err(refused(need));
        }
        System.dealloc(p, layout);
    }
    Ok(())
}

fn refused(need: &Need) -> Error {
    Error::Memory(format!(
        "{} needs {}, which this machine cannot allocate (out of memory)",
        need.what,
        human(need.bytes)
    ))
}

/// `len` copies of `T::default()`, or [`Error::Memory`] naming `what` if they cannot be
/// allocated (a size over `isize::MAX` bytes included). The reservation is fallible under
/// [`crate::exec::Allocator`] too.
pub(crate) fn try_zeroed<T: Clone + Default>(len: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    crate::exec::fallible(|| v.try_reserve_exact(len)).map_err(|_| {
        refused(&Need {
            what: what.into(),
            bytes: (len as u64).saturating_mul(size_of::<T>() as u64),
        })
    })?;
    v.resize(len, T::default());
    Ok(v)
}

pub(crate) const F64: u64 = 8;

/// Bytes of a faer `Mat` of `rows × cols` elements of `size` bytes: faer pads each column to
/// a multiple of 64 bytes.
pub(crate) fn mat(rows: u64, cols: u64, size: u64) -> u64 {
    (rows * size).next_multiple_of(64).saturating_mul(cols)
}

/// The packing workspace faer's matrix products keep per thread from their first call (the
/// x86 kernels: twice the L3 cache, from `/sys`; 64 MiB where it cannot be read). Mostly
/// reserved rather than touched, but an address-space limit counts all of it.
pub(crate) fn product_workspace() -> u64 {
    let l3 = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index3/size")
        .ok()
        .and_then(|t| {
            let t = t.trim();
            let (num, mult) = match t.strip_suffix('K') {
                Some(n) => (n, 1024),
                None => match t.strip_suffix('M') {
                    Some(n) => (n, 1 << 20),
                    None => (t, 1),
                },
            };
            num.parse::<u64>().ok().map(|n| n * mult)
        });
    2 * l3.unwrap_or(32 << 20)
}

/// An orthogonal init of an `m × n` matrix (`ortho::orthogonal_from_gaussian`): the Gaussian
/// and its copy as a faer matrix, then the factored matrix and Q (thin), then Q and the
/// result — two matrices at any time — plus the Householder coefficients and faer's scratch.
pub(crate) fn orthogonal(m: u64, n: u64) -> u64 {
    use faer::Par;
    use faer::linalg::{householder, qr::no_pivoting::factor};
    let (rows, cols) = (m.max(n), m.min(n));
    let numel = rows.saturating_mul(cols);
    if numel.checked_mul(256).is_none() {
        // Exabytes: more than any machine, and more than the sums below (or faer's scratch
        // sizes) can count without overflowing.
        return u64::MAX;
    }
    let (r, c) = (rows as usize, cols as usize);
    let block = factor::recommended_block_size::<f64>(r, c);
    let qr = factor::qr_in_place_scratch::<f64>(r, c, block, Par::Seq, Default::default());
    let apply = householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
        r, block, c,
    );
    let coeff = mat(block as u64, cols, F64);
    let scratch = (qr.size_bytes().max(apply.size_bytes()) + qr.align_bytes()) as u64;
    // Largest of: Gaussian + its faer copy; factored + Q + coefficients + scratch; Q + result.
    let gauss = numel * F64 + mat(rows, cols, F64);
    let factor = 2 * mat(rows, cols, F64) + coeff + scratch + 2 * cols * F64;
    // (and, from the factoring on, R's diagonal and the signs: two f64 per column)
    let diag = 2 * cols * F64;
    let result = mat(rows, cols, F64) + numel * F64 + diag;
    gauss.max(factor).max(result)
}

/// A `rng` torch whole-tensor init of `numel` elements, as `stream::torch` draws it.
#[cfg(feature = "torch")]
pub(crate) fn torch_whole(plan: &crate::stream::torch::TorchPlan, numel: u64) -> Option<u64> {
    use crate::stream::torch::{TorchDType, TorchPlan};
    // In u128, saturated: a shape of 2^62 elements must not overflow the count.
    let (numel, f64) = (numel as u128, F64 as u128);
    // normal_ on f32 fills an f32 copy of the tensor first (as ATen's AVX2 kernel).
    let normal = |dtype: TorchDType| {
        if dtype == TorchDType::F32 {
            4 * numel
        } else {
            0
        }
    };
    let bytes: u128 = match *plan {
        // The tensor and its normal_, then one randperm of the rows per column.
        TorchPlan::Sparse { rows, dtype, .. } => numel * f64 + normal(dtype).max(rows as u128 * 8),
        // `result` and `fresh`, and normal_'s copy.
        TorchPlan::TruncRedraw { dtype, .. } => 2 * numel * f64 + normal(dtype),
        // `result`, `pending` (bool) and the candidates in the dtype; for f32, MKL's log
        // table (2 MiB, and its decoder's state) on first use.
        TorchPlan::TruncReject {
            dtype: TorchDType::F64,
            ..
        } => numel * (f64 + 1 + 8),
        TorchPlan::TruncReject { .. } => numel * (f64 + 1 + 4) + (2 << 20) + (128 << 10),
        TorchPlan::Op(..) | TorchPlan::NoDraw => return None,
    };
    Some(u64::try_from(bytes).unwrap_or(u64::MAX))
}

/// What tensor `t` of `plan` holds at once beyond its chunks, if anything.
fn whole_need(plan: &Plan, t: &crate::plan::PlannedTensor) -> Option<Need> {
    if let Distribution::Orthogonal { rows, cols, .. } = t.params.distribution {
        return Some(Need {
            what: format!("orthogonal init of `{}` ({rows}×{cols} f64 QR)", t.name),
            bytes: orthogonal(rows, cols).saturating_add(product_workspace()),
        });
    }
    #[cfg(feature = "torch")]
    if plan.rng == RngKind::Torch
        && let Ok(tp) = t.torch_plan()
        && let Some(bytes) = torch_whole(&tp, t.numel)
    {
        let op = match tp {
            crate::stream::torch::TorchPlan::Sparse { .. } => "sparse_",
            _ => "trunc_normal_",
        };
        return Some(Need {
            what: format!(
                "PyTorch's {op} of `{}` (the whole tensor in memory)",
                t.name
            ),
            bytes,
        });
    }
    let _ = (plan, RngKind::Native);
    None
}

/// Elements per chunk, and the chunks a writer's batch holds (`write`'s `BATCH_CHUNKS`, or
/// `MAX_BATCH_CHUNKS` under `rng` torch).
const CHUNK: u64 = crate::stream::CHUNK_ELEMS;
const BATCH: u64 = 32;
const TORCH_BATCH: u64 = 128;

/// A generate run's peak-memory estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// Chunk buffers of every thread, a writer's batch and output buffer, headers.
    pub streaming: u64,
    /// Whole-tensor steps, largest first.
    pub whole: Vec<Need>,
    /// Threads that may run whole-tensor steps at once.
    pub threads: u64,
}

impl Estimate {
    /// Streaming buffers plus the `threads` largest whole-tensor steps.
    pub(crate) fn peak(&self) -> u64 {
        self.streaming.saturating_add(self.concurrent_whole())
    }

    fn concurrent_whole(&self) -> u64 {
        (self.whole.iter().take(self.threads as usize))
            .map(|n| n.bytes)
            .fold(0, u64::saturating_add)
    }

    /// The step a limit check names: the largest whole-tensor step when it alone is over
    /// `limit`, else the run as a whole.
    pub(crate) fn need(&self, limit: u64) -> Need {
        match self.whole.first() {
            Some(n) if n.bytes > limit => n.clone(),
            _ => Need {
                what: "this run".into(),
                bytes: self.peak(),
            },
        }
    }
}

/// The estimate for writing `plan` on `threads` threads (0: one per core).
pub(crate) fn generate(plan: &Plan, threads: usize) -> Estimate {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    } as u64;
    let batch = if plan.rng == RngKind::Torch {
        TORCH_BATCH.max(threads * 32)
    } else {
        BATCH
    };
    let largest = plan.tensors.iter().map(|t| t.bytes).max().unwrap_or(0);
    // Per thread: f64 scratch and a chunk of bytes; shared: one batch of bytes (never more
    // than the largest tensor), the 1 MiB output buffer, and the header (JSON per tensor).
    let streaming = threads * CHUNK * (F64 + F64)
        + largest.min(batch * CHUNK * F64)
        + (1 << 20)
        + 512 * plan.tensors.len() as u64;
    let mut whole: Vec<Need> = (plan.tensors.iter())
        .filter_map(|t| whole_need(plan, t))
        .collect();
    whole.sort_by_key(|n| std::cmp::Reverse(n.bytes));
    Estimate {
        streaming,
        whole,
        threads,
    }
}

/// Check `plan`'s estimate against `limit`, then (with `probe_whole`) make sure its
/// whole-tensor steps can be allocated at all ([`probe`]): nothing has been written when this
/// fails.
pub(crate) fn guard_generate(
    plan: &Plan,
    threads: usize,
    limit: &MemoryLimit,
    probe_whole: bool,
) -> Result<Estimate> {
    let e = generate(plan, threads);
    limit.check(&e.need(limit.bytes))?;
    if probe_whole && !e.whole.is_empty() {
        probe(&Need {
            what: e.whole[0].what.clone(),
            bytes: e.concurrent_whole(),
        })?;
    }
    Ok(e)
}

/// Before tensors `which` of `plan` are drawn into memory (`Plan::to_vec`, `fill`,
/// `to_tensors`): `out` bytes of results (what `what` names; 0 when the caller gave the
/// buffer), the chunk buffers, and the largest of their whole-tensor steps (drawn one at a
/// time) must fit in `limit`; then that step is probed. The step alone over the limit is named
/// as the CLI names it.
pub(crate) fn guard_in_memory(
    plan: &Plan,
    which: &[usize],
    out: u64,
    what: impl FnOnce() -> String,
    limit: &MemoryLimit,
) -> Result<()> {
    let step = (which.iter())
        .filter_map(|&i| whole_need(plan, &plan.tensors[i]))
        .max_by_key(|n| n.bytes);
    if let Some(s) = &step {
        limit.check(s)?;
    }
    // One chunk of f64 scratch and of bytes per thread (the data path uses every core).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let streaming = threads * CHUNK * (F64 + F64) + (1 << 20);
    let bytes =
        (out.saturating_add(streaming)).saturating_add(step.as_ref().map_or(0, |s| s.bytes));
    limit.check(&Need {
        what: what(),
        bytes,
    })?;
    match step {
        Some(s) => probe(&s),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod counting {
    //! A global allocator for this crate's unit tests that counts, per thread, the bytes live
    //! and their peak: estimates are compared with what the code really allocates.
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Counting;

    thread_local! {
        static LIVE: Cell<i64> = const { Cell::new(0) };
        static PEAK: Cell<i64> = const { Cell::new(0) };
    }

    fn add(p: *mut u8, d: i64) {
        if p.is_null() {
            return;
        }
        let _ = LIVE.try_with(|l| {
            let v = l.get() + d;
            l.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
    }

    // SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            add(p, l.size() as i64);
            p
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(l) };
            add(p, l.size() as i64);
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            add(p, -(l.size() as i64));
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new) };
            add(q, new as i64 - l.size() as i64);
            q
        }
    }

    #[global_allocator]
    static A: Counting = Counting;

    /// Peak bytes allocated on this thread while `f` runs, above what was live before.
    pub(crate) fn peak_of<R>(f: impl FnOnce() -> R) -> (R, u64) {
        let base = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(base));
        let r = f();
        let peak = PEAK.with(Cell::get);
        (r, (peak - base).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::counting::peak_of;
    use super::*;

    /// Each estimate is an upper bound of what is allocated, and not loose: within this factor.
    const SLACK: f64 = 1.5;

    fn within(est: u64, actual: u64, what: &str) {
        println!("{what}: estimate {est} bytes, allocated {actual}");
        assert!(
            est >= actual && (est as f64) <= SLACK * actual as f64,
            "{what}: estimate {est} bytes, allocated {actual}"
        );
    }

    #[test]
    fn machine_limits_take_the_lower_of_memory_and_cgroup() {
        let mi = "MemFree:  10 kB\nMemTotal:       24684084 kB\n";
        assert_eq!(meminfo_total(mi), Some(24_684_084 * 1024));
        assert_eq!(cgroup_limit("max\n"), None);
        assert_eq!(cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(cgroup_limit("4294967296\n"), Some(1 << 32));
        let l = MemoryLimit::from_machine(Some(16 << 30), Some(4 << 30));
        assert_eq!(
            (l.bytes, l.why.as_str()),
            (2 << 30, "half of the cgroup's memory limit")
        );
        let l = MemoryLimit::from_machine(Some(16 << 30), Some(32 << 30));
        assert_eq!(
            (l.bytes, l.why.as_str()),
            (8 << 30, "half of physical memory")
        );
        assert_eq!(MemoryLimit::from_machine(None, None).bytes, u64::MAX);
    }

    #[test]
    fn the_error_names_the_need_the_limit_and_the_field() {
        let need = Need {
            what: "orthogonal init of `w` (65536×65536 f64 QR)".into(),
            bytes: 68_719_476_736,
        };
        let limit = MemoryLimit {
            bytes: 12_000_000_000,
            why: "half of physical memory".into(),
        };
        assert_eq!(
            limit.check(&need).unwrap_err().to_string(),
            "orthogonal init of `w` (65536×65536 f64 QR) needs 68.7 GB; the memory limit is \
             12.0 GB (half of physical memory); raise it with `memory_limit`"
        );
        assert!(MemoryLimit::given(need.bytes).check(&need).is_ok());
        assert_eq!(human(999), "999 bytes");
        assert_eq!(human(1500), "1.5 kB");
    }

    #[test]
    fn an_impossible_allocation_is_an_error_not_an_abort() {
        let e = try_zeroed::<f64>(usize::MAX / 16, "a test buffer").unwrap_err();
        assert!(matches!(e, Error::Memory(_)), "{e}");
        assert!(e.to_string().starts_with("a test buffer needs "), "{e}");
        let huge = Need {
            what: "x".into(),
            bytes: u64::MAX / 2,
        };
        assert!(matches!(probe(&huge), Err(Error::Memory(_))));
    }

    #[test]
    fn estimates_of_huge_shapes_saturate_rather_than_overflow() {
        // These overflowed u64 (a panic in a debug build, a wrong small number in release).
        assert_eq!(orthogonal(1 << 31, 1 << 31), u64::MAX);
        assert_eq!(orthogonal(1 << 62, 1), u64::MAX);
        // Just under the cut-off the estimate is a real count: at least the two f64 matrices.
        let (m, n) = (1u64 << 27, 1u64 << 26);
        assert!(orthogonal(m, n) >= 2 * 8 * m * n && orthogonal(m, n) < u64::MAX);
        #[cfg(feature = "torch")]
        {
            use crate::stream::torch::{TorchDType, TorchPlan};
            let p = TorchPlan::TruncRedraw {
                mean: 0.0,
                std: 1.0,
                a: -2.0,
                b: 2.0,
                dtype: TorchDType::F32,
            };
            assert_eq!(torch_whole(&p, 1 << 62), Some(u64::MAX));
            assert_eq!(torch_whole(&p, 1000), Some(2 * 1000 * 8 + 4 * 1000));
        }
    }

    #[test]
    fn the_orthogonal_estimate_bounds_the_bytes_the_qr_allocates() {
        for (m, n) in [(300, 200), (200, 300), (257, 257), (1000, 40)] {
            let a: Vec<f64> = (0..m * n)
                .map(|i| ((i * 7919) % 1000) as f64 - 499.5)
                .collect();
            // faer's matrix products keep a per-thread packing buffer from their first call:
            // made once, before the measured run.
            drop(crate::stream::ortho::orthogonal_from_gaussian(
                a.clone(),
                m,
                n,
                1.0,
            ));
            let ((), actual) = peak_of(|| {
                let q = crate::stream::ortho::orthogonal_from_gaussian(a.clone(), m, n, 1.0);
                assert_eq!(q.len(), m * n);
            });
            within(orthogonal(m as u64, n as u64), actual, &format!("{m}×{n}"));
        }
    }

    #[cfg(feature = "torch")]
    #[test]
    fn the_torch_whole_tensor_estimates_bound_the_bytes_allocated() {
        use crate::stream::torch::{TorchDType, TorchGenerator, TorchPlan};
        let (rows, cols) = (1000u64, 1000u64);
        let numel = rows * cols;
        let plans = [
            TorchPlan::Sparse {
                rows,
                cols,
                zeros: 60,
                std: 0.01,
                dtype: TorchDType::F32,
            },
            TorchPlan::TruncRedraw {
                mean: 0.0,
                std: 1.0,
                a: -2.0,
                b: 2.0,
                dtype: TorchDType::F32,
            },
            TorchPlan::TruncReject {
                mean: 0.0,
                std: 1.0,
                a: 1.0,
                b: 1.5,
                dtype: TorchDType::F32,
            },
            TorchPlan::TruncReject {
                mean: 0.0,
                std: 1.0,
                a: 1.0,
                b: 1.5,
                dtype: TorchDType::F64,
            },
        ];
        for p in plans {
            let (v, actual) = peak_of(|| {
                let mut g = TorchGenerator::from_u64_seed(1);
                p.whole_tensor(&mut g, numel)
            });
            assert_eq!(v.len() as u64, numel);
            within(torch_whole(&p, numel).unwrap(), actual, &format!("{p:?}"));
        }
    }

    #[test]
    fn a_plan_without_whole_tensor_steps_needs_only_chunk_buffers() {
        let spec = crate::spec::Spec::from_json(
            r#"{"scheme": "orthogonal", "tensors": [{"name": "w", "shape": [512, 256]},
                {"name": "b", "shape": [512], "scheme": "zeros"}]}"#,
            "t",
        )
        .unwrap();
        let plan = crate::plan_spec(&spec, 1).unwrap();
        let e = generate(&plan, 2);
        assert_eq!(e.whole.len(), 1);
        let qr = orthogonal(512, 256) + product_workspace();
        assert_eq!((e.whole[0].bytes, e.peak()), (qr, e.streaming + qr));
        assert!(e.whole[0].what.contains("`w` (512×256 f64 QR)"));
        let spec = crate::spec::Spec::from_json(
            r#"{"scheme": "normal", "tensors": [{"name": "w", "shape": [512, 256]}]}"#,
            "t",
        )
        .unwrap();
        let e = generate(&crate::plan_spec(&spec, 1).unwrap(), 2);
        assert!(e.whole.is_empty());
        // Streaming: flat in the tensor's size (an 8 GB tensor needs what a 1 GB one does).
        let spec = crate::spec::Spec::from_json(
            r#"{"scheme": "normal", "dtype": "float64", "tensors": [{"name": "w", "shape": [32768, 32768]}]}"#,
            "t",
        )
        .unwrap();
        let big = generate(&crate::plan_spec(&spec, 1).unwrap(), 2);
        assert!(big.peak() < 40 << 20, "{}", big.peak());
        assert!(big.peak() >= e.peak());
    }

    #[cfg(feature = "study")]
    #[test]
    fn the_study_estimate_bounds_the_bytes_allocated() {
        use crate::study::{Study, StudyOptions, run};
        // One thread: every scheme and SVD runs on the pool's one worker, whose allocations
        // the counter sees.
        let pool = crate::exec::pool(1).unwrap();
        for (width, schemes) in [(300, vec!["xavier_uniform"]), (200, vec!["orthogonal"])] {
            let study = Study::new(&StudyOptions {
                width: Some(width),
                depth: Some(2),
                input_dim: Some(150),
                batch: Some(64),
                schemes: schemes.iter().map(ToString::to_string).collect(),
                ..Default::default()
            })
            .unwrap();
            // The first run makes faer's product workspace on the worker (checked against its
            // share of the estimate); the second shows what the rest of the estimate covers.
            let (_, first) = pool.install(|| peak_of(|| run(&study).unwrap()));
            let (report, actual) = pool.install(|| peak_of(|| run(&study).unwrap()));
            assert_eq!(report.schemes.len(), 1);
            let total = crate::study::memory_need(&study, 1).bytes;
            assert!(
                first <= total,
                "estimate {total}, first run allocated {first}"
            );
            let est = total - product_workspace();
            println!("study width {width} {schemes:?}: estimate {est} bytes, allocated {actual}");
            assert!(
                est >= actual && est <= 2 * actual,
                "estimate {est}, allocated {actual}"
            );
        }
    }

    #[test]
    fn the_gram_estimate_bounds_the_bytes_the_orthogonality_check_allocates() {
        use crate::inspect::structure::Gram;
        use crate::read::ElemType;
        for (rows, cols) in [(600u64, 200u64), (200, 600), (256, 256)] {
            let law = Distribution::Orthogonal {
                gain: 1.0,
                rows,
                cols,
            };
            let numel = rows * cols;
            let xs: Vec<f64> = (0..numel).map(|i| (i % 7) as f64 - 3.0).collect();
            let check = || {
                let mut g = Gram::new(&law, numel, false, &ElemType::F64, true)
                    .unwrap()
                    .unwrap_or_else(|_| panic!("checked"));
                g.feed(&xs);
                drop(g.result());
            };
            // The first check on this thread makes faer's product workspace.
            let ((), first) = peak_of(check);
            let (est, _) = Gram::bytes(rows, cols);
            assert!(first <= est + product_workspace());
            let ((), actual) = peak_of(check);
            within(est, actual, &format!("Gram {rows}×{cols}"));
        }
    }
}
