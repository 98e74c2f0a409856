//! The hooks' own code, and the calls it makes: whether the hooks' own
//! code is running on this thread.
//!
//! The hooks' own code allocates (the registry's tables, the quarantine's
//! queue, stacks, reports) through the global allocator, sometimes under
//! their locks. A program's global allocator may be built on the families,
//! and so on the hooks: such an allocation comes back to them, on the same
//! thread, and would wait for a lock that thread holds. So while the hooks'
//! own code runs, a call to them passes straight to the allocator below,
//! unchecked (CPython's tracemalloc does the same for its own allocations).
//! Such blocks are the hooks' own: made and freed by their code alone, so
//! always through the same path. (Not quite always with traces on: the
//! symbol cache of `std`'s backtraces is filled by a report's stacks, in
//! the hooks' code, and by a program's own backtraces, outside it. A block
//! of it made outside and freed inside would reach the allocator below at
//! an address it never handed out; the other way round, the hooks would
//! report a pointer they never handed out. With a global allocator built on
//! the hooks, keep traces off in a program that prints backtraces.)
//!
//! What the hooks call besides their own code runs as outside them: the
//! allocator below (which may be, or call, hooks in turn: those check its
//! blocks) and the error handler (whose blocks may outlive the call).

use core::cell::Cell;
use core::ptr;

thread_local! {
    /// Whether the hooks' own code is running on this thread. A
    /// const-initialised `Cell` without destructor: reaching it never
    /// allocates, and it is there until the thread is gone.
    static IN_HOOKS: Cell<bool> = const { Cell::new(false) };
}

/// The hooks' own code running on this thread, until dropped.
pub(super) struct Own {
    /// The thread's flag, if this one set it (the outermost); else null.
    /// Kept, so that the drop does not look the thread-local up again (a
    /// call, in a library's code). A raw pointer: an `Own` stays on its
    /// thread.
    flag: *const Cell<bool>,
}

impl Own {
    /// Marks the hooks' own code as running; `None` if it already was:
    /// the call is one of the hooks' own allocations, come back.
    pub(super) fn enter() -> Option<Own> {
        IN_HOOKS.with(|flag| {
            // Not `then_some`: an `Own` made and dropped would unmark it.
            (!flag.replace(true)).then(|| Own {
                flag: ptr::from_ref(flag),
            })
        })
    }

    /// Marks it as running, whether or not it already was.
    pub(super) fn enter_any() -> Own {
        IN_HOOKS.with(|flag| Own {
            flag: if flag.replace(true) {
                ptr::null()
            } else {
                ptr::from_ref(flag)
            },
        })
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        if !self.flag.is_null() {
            // A const-initialised thread-local without destructor: there
            // until the thread is gone.
            // SAFETY: this thread's flag (an `Own` is not `Send`), still there.
            unsafe { (*self.flag).set(false) };
        }
    }
}

/// Runs `f`, a call out of the hooks' own code (the allocator below, the
/// error handler), as outside it.
pub(super) fn outside<R>(f: impl FnOnce() -> R) -> R {
    /// Marks the hooks' own code as running again (even if `f` unwinds).
    struct Back(bool);
    impl Drop for Back {
        fn drop(&mut self) {
            IN_HOOKS.set(self.0);
        }
    }
    let _back = Back(IN_HOOKS.replace(false));
    f()
}
