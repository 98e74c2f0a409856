//! What the pool allocator does when it finds its own state broken: a
//! block given back twice, a count gone below zero, a list that does not
//! hold what it should. It says what it found and aborts.
//!
//! Never a panic: the allocator runs inside `GlobalAlloc` (whose methods
//! must not unwind), inside `extern "C"` functions, and with its lists half
//! changed; a panic there ends in "panicked while processing panic" or
//! unwinds through frames that cannot take it. CPython's `Py_FatalError`
//! and mimalloc's `_mi_error_message` with `MI_DEBUG` do the same.
//!
//! The checks ([`invariant!`](crate::alloc::invariant)) run in builds with
//! `debug_assertions` and cost nothing in release builds, where the debug
//! hooks (`OBJIMPL_MALLOC=debug`) find the same misuse.

use core::fmt;
use std::io::Write;

/// Prints `what` and the likely cause, then aborts. Allocates nothing.
#[cold]
#[inline(never)]
pub(crate) fn abort(what: fmt::Arguments<'_>) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "objimpl: fatal error in the pool allocator: {what}\n    \
         Most likely a block was freed twice, or a pointer freed that the \
         family did not hand out, or a block was written after it was freed. \
         OBJIMPL_MALLOC=debug (with OBJIMPL_MALLOC_TRACE=1) finds where."
    );
    std::process::abort()
}

/// Checks an invariant of the allocator in builds with `debug_assertions`
/// (nothing in release builds); a broken one is reported and the process
/// aborts (see the module).
macro_rules! invariant {
    ($condition:expr, $($what:tt)+) => {
        if cfg!(debug_assertions) && !$condition {
            $crate::alloc::fatal::abort(format_args!($($what)+))
        }
    };
}
pub(crate) use invariant;
