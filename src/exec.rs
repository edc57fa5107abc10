//! How a run executes: its cancellation token, its worker threads and its allocator.
//!
//! Owns: [`Cancel`] (a caller asks a running job to stop; writers check it between chunks and
//! leave nothing behind), the one rayon pool builder every parallel path uses, and
//! [`Allocator`], the binary's global allocator: an allocation the machine refuses, that the
//! code did not ask to be fallible, ends the process with one line (`weightgen: error: out of
//! memory: …`, exit 2) instead of Rust's abort. Fallible allocations (`fallible`: the
//! `memory_limit` probes) still get their error back. Does not own: signals (the binary's
//! Ctrl-C handler cancels the token) nor what runs on the pool.

use crate::error::{Error, Result};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cancellation token: cheap to clone, shared between a job and whoever may stop it (a
/// Ctrl-C handler, a GUI button, a test). A cancelled job returns [`Error::Interrupted`] at the
/// next chunk and removes what it had started writing.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token nobody has cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Ask every job holding this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` naming `what` once cancelled.
    pub(crate) fn check(&self, what: &str) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted { path: what.into() })
        } else {
            Ok(())
        }
    }
}

/// A rayon pool of `threads` workers (0: one per core).
pub(crate) fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::io("starting worker threads", std::io::Error::other(e)))
}

/// The system allocator, with a one-line exit where Rust would abort: install it in a binary
/// with `#[global_allocator]` to turn an allocation failure into a one-line exit.
///
/// ```
/// #[global_allocator]
/// static ALLOC: weightgen::exec::Allocator = weightgen::exec::Allocator;
/// # fn main() {}
/// ```
///
/// When an allocation returns null outside a fallible section (every allocation but the
/// `try_reserve` of weightgen's memory probes), it writes `weightgen: error: out of memory:
/// could not allocate N bytes (…)` to standard error and ends the process with exit code 2,
/// as [`Error::Memory`] does: no panic, no abort, no backtrace. It uses no heap to do so (a
/// stack buffer, `write(2)`, `_exit(2)`), and runs no destructors: an output being written is
/// an anonymous file (Linux `O_TMPFILE`), which the kernel discards, so nothing is left. (Where
/// the filesystem has no anonymous files, the named temp file is removed by the next run.)
/// Everything else is `System`'s, unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allocator;

thread_local! {
    /// Inside [`fallible`]: a failed allocation returns null to its caller. (A `const`
    /// thread-local of a type without a destructor never allocates.)
    static FALLIBLE: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with this thread's allocations fallible under [`Allocator`]: one that fails
/// returns null to its caller (`try_reserve` turns that into an error) rather than ending the
/// process. Wrap only the `try_reserve` itself, never code that allocates infallibly.
pub(crate) fn fallible<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = FALLIBLE.try_with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FALLIBLE.try_with(|c| c.replace(true)).unwrap_or(false));
    f()
}

/// `p`, or, when it is null outside [`fallible`], the one-line exit.
fn checked(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() && !FALLIBLE.try_with(Cell::get).unwrap_or(false) {
        out_of_memory(size)
    }
    p
}

/// Write `weightgen: error: out of memory: could not allocate N bytes (…)` to fd 2 and
/// `_exit(2)`, without allocating.
#[cold]
fn out_of_memory(size: usize) -> ! {
    const HEAD: &[u8] = b"weightgen: error: out of memory: could not allocate ";
    const TAIL: &[u8] = b" bytes (the system refused; free memory or ask for less)\n";
    let mut buf = [0u8; 160];
    let mut digits = [0u8; 20];
    let mut len = 0;
    for part in [HEAD, decimal(size, &mut digits), TAIL] {
        buf[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    // SAFETY: `write` reads `len` initialised bytes of `buf`; `_exit` ends the process
    // without running anything (no destructor, no atexit handler, no allocation).
    unsafe {
        libc::write(2, buf.as_ptr().cast(), len);
        libc::_exit(2)
    }
}

/// `n` in decimal: the tail of `digits`.
fn decimal(mut n: usize, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[i..];
        }
    }
}

// SAFETY: every call is forwarded to `System` unchanged; a null result either goes back to
// the caller (in a fallible section) or ends the process.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        checked(unsafe { System.alloc(l) }, l.size())
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        checked(unsafe { System.alloc_zeroed(l) }, l.size())
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        checked(unsafe { System.realloc(p, l, new) }, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_token_is_seen_by_every_clone() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(b.check("x").is_ok());
        a.cancel();
        assert!(b.is_cancelled());
        assert!(matches!(b.check("x"), Err(Error::Interrupted { .. })));
    }

    #[test]
    fn sizes_are_written_in_decimal_without_allocating() {
        let mut d = [0u8; 20];
        assert_eq!(decimal(0, &mut d), b"0");
        assert_eq!(decimal(1234567, &mut d), b"1234567");
        assert_eq!(
            decimal(usize::MAX, &mut d),
            usize::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn a_fallible_section_is_this_thread_s_and_ends_with_its_closure() {
        let now = || FALLIBLE.with(Cell::get);
        assert!(!now());
        fallible(|| {
            assert!(now());
            std::thread::scope(|s| s.spawn(|| assert!(!now())).join().unwrap());
            fallible(|| assert!(now()));
            assert!(now(), "a nested section leaves the outer one fallible");
        });
        assert!(!now());
        let r = std::panic::catch_unwind(|| fallible(|| panic!("inside")));
        assert!(r.is_err());
        assert!(!now(), "a panic inside still ends the section");
    }

    #[test]
    fn pools_have_the_threads_asked_for() {
        assert_eq!(pool(3).unwrap().current_num_threads(), 3);
        assert!(pool(0).unwrap().current_num_threads() >= 1);
    }
}
