//! Run-time choice of instruction set for the hot loops: a kernel is compiled for the baseline
//! target and with AVX2, and the widest build the CPU runs is called. Used by the generator's
//! samplers (`stream::native::simd`) and by `inspect`'s single pass (`inspect::pass`).
//!
//! Owns: [`Level`], [`level`], the tests' per-thread cap ([`CAP`]) and the [`kernel!`] macro.
//! Does not own: the kernels, which each use only operations whose results do not depend on the
//! vector width, so the choice never changes a bit (each user tests both builds).

/// Instruction sets a kernel is built for, widest last. (No AVX-512 build: the machines this
/// is tested on have no AVX-512 to check it against.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Baseline,
    Avx2,
}

#[cfg(test)]
thread_local! {
    /// Tests cap the instruction set used on this thread.
    pub(crate) static CAP: std::cell::Cell<Level> = const { std::cell::Cell::new(Level::Avx2) };
}

/// The widest build this CPU runs (and the tests allow).
#[inline(always)]
pub(crate) fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    let found = if std::arch::is_x86_feature_detected!("avx2") {
        Level::Avx2
    } else {
        Level::Baseline
    };
    #[cfg(not(target_arch = "x86_64"))]
    let found = Level::Baseline;
    #[cfg(test)]
    let found = found.min(CAP.get());
    found
}

/// Define `$vis fn $name` from a body, compiled for the baseline and for AVX2 and chosen at
/// run time by [`level`].
macro_rules! kernel {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::dispatch::level() == $crate::dispatch::Level::Avx2 {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use kernel;
