//! Reporting a caller bug that an engine's `debug-checks` caught (a double
//! free, a foreign pointer, a write after free).
//!
//! The report is a panic, but a panic allocates (its message, its payload),
//! and an engine usually runs under the lock of a global allocator whose
//! `#[global_allocator]` the panic runtime then calls: it would spin on the
//! lock its own thread holds. So every report first raises a process-wide
//! flag, [`reported`]; a global allocator that finds its lock held while the
//! flag is up serves the panic runtime from an emergency arena instead of
//! waiting (and must not let the panic unwind out of `GlobalAlloc`: it aborts).

use core::{
    fmt,
    sync::atomic::{AtomicBool, Ordering},
};

/// What the caller was doing when an engine's check caught a bug: the word
/// its report uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `dealloc` (reported as a double free when the block was free).
    Free,
    /// `realloc`.
    Realloc,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Free => "free",
            Op::Realloc => "realloc",
        })
    }
}

static REPORTED: AtomicBool = AtomicBool::new(false);

/// Raises the flag [`reported`] reads. Engines call it through
/// [`caller_bug!`](crate::caller_bug) just before they panic.
#[cold]
pub fn raise() {
    REPORTED.store(true, Ordering::SeqCst);
}

/// Whether an engine has reported a caller bug in this process (or kernel).
#[inline]
pub fn reported() -> bool {
    REPORTED.load(Ordering::Relaxed)
}

/// Reports a caller bug: raises [`bug::reported`](crate::bug::reported), then
/// panics with the message (`format!` syntax).
#[macro_export]
macro_rules! caller_bug {
    ($($arg:tt)*) => {{
        $crate::bug::raise();
        ::core::panic!($($arg)*)
    }};
}
