//! How a run executes: its cancellation token and its worker threads.
//!
//! Owns: [`Cancel`] (a caller asks a running job to stop; writers check it between chunks and
//! leave nothing behind) and the one rayon pool builder every parallel path uses. Does not
//! own: signals (the binary's Ctrl-C handler cancels the token) nor what runs on the pool.

use crate::error::{Error, Result};
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
    fn pools_have_the_threads_asked_for() {
        assert_eq!(pool(3).unwrap().current_num_threads(), 3);
        assert!(pool(0).unwrap().current_num_threads() >= 1);
    }
}
