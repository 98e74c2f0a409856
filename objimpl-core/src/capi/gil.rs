//! A global interpreter lock for C callers, as CPython has one
//! (`PyGILState_Ensure`, `PyEval_SaveThread` and their friends).
//!
//! objimpl has no `Py_Initialize` to hand the lock to the main thread: a
//! thread holds it between `PyGILState_Ensure` and `PyGILState_Release`,
//! and a C program with one thread that never takes it works as before.
//! Once any thread has taken it, the objects C makes with the `gc`
//! functions belong to one collector for the whole process (CPython's
//! interpreter), used by whichever thread holds the lock, rather than to
//! the collector of the thread that made them: so any thread holding the
//! lock may use, release and collect any C object. Objects made in Rust
//! keep their thread's collector (a `Py<T>` never leaves its thread).
//!
//! With the debug hooks on, a C call to the `mem` or `object` functions by
//! a thread that does not hold the lock, once it is in use, ends the
//! process with CPython's "Python memory allocator called without holding
//! the GIL". Rust callers, which have no lock to take, are not checked.

use core::cell::{Cell, RefCell};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The lock.
static GIL: Mutex<()> = Mutex::new(());

/// Whether any thread has ever taken the lock.
static IN_USE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's hold on the lock.
    static HELD: RefCell<Option<MutexGuard<'static, ()>>> = const { RefCell::new(None) };
    /// How many `PyGILState_Ensure`s of this thread are not released yet.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Whether a C program has taken the lock: from then on, C's `gc`
/// objects belong to the process's collector.
#[inline]
pub(crate) fn in_use() -> bool {
    IN_USE.load(Ordering::Relaxed)
}

/// Whether this thread holds the lock.
pub(crate) fn held() -> bool {
    HELD.try_with(|h| h.borrow().is_some()).unwrap_or(false)
}

fn acquire() {
    IN_USE.store(true, Ordering::Relaxed);
    // A thread that panicked holding it leaves nothing half-done that the
    // lock protects (the collector's state is consistent between calls).
    let guard = GIL.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = HELD.try_with(|h| *h.borrow_mut() = Some(guard));
}

fn release() {
    let _ = HELD.try_with(|h| h.borrow_mut().take());
}

/// `PyGILState_STATE`: what [`PyGILState_Ensure`] found.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types, reason = "CPython's names")]
pub enum PyGILState_STATE {
    /// The thread held the lock already.
    PyGILState_LOCKED,
    /// The thread took the lock.
    PyGILState_UNLOCKED,
}

/// `PyGILState_Ensure()`: this thread holds the lock when it returns
/// (taking it, waiting if another thread holds it, or counting one more
/// hold if this thread has it). Pair it with [`PyGILState_Release`].
///
/// ```
/// use objimpl::capi::{PyGILState_Check, PyGILState_Ensure, PyGILState_Release};
/// let state = PyGILState_Ensure();
/// assert_eq!(PyGILState_Check(), 1);
/// PyGILState_Release(state);
/// assert_eq!(PyGILState_Check(), 0);
/// ```
pub extern "C" fn PyGILState_Ensure() -> PyGILState_STATE {
    let depth = DEPTH.get();
    DEPTH.set(depth + 1);
    if held() {
        PyGILState_STATE::PyGILState_LOCKED
    } else {
        acquire();
        PyGILState_STATE::PyGILState_UNLOCKED
    }
}

/// `PyGILState_Release(state)`: undoes the [`PyGILState_Ensure`] that
/// returned `state`; the lock goes when the outermost one is undone.
pub extern "C" fn PyGILState_Release(state: PyGILState_STATE) {
    let depth = DEPTH.get().saturating_sub(1);
    DEPTH.set(depth);
    if state == PyGILState_STATE::PyGILState_UNLOCKED {
        release();
    }
}

/// `PyGILState_Check()`: 1 if this thread holds the lock, else 0.
pub extern "C" fn PyGILState_Check() -> c_int {
    c_int::from(held())
}

/// `PyThreadState`: what [`PyEval_SaveThread`] hands back, for
/// [`PyEval_RestoreThread`]. Opaque to C.
#[repr(C)]
#[derive(Debug)]
pub struct PyThreadState {
    _private: [u8; 0],
}

/// The non-null token [`PyEval_SaveThread`] returns: this thread held the
/// lock when it let it go.
static SAVED: u8 = 0;

/// `PyEval_SaveThread()`: lets the lock go for a stretch of work that
/// touches no object (`Py_BEGIN_ALLOW_THREADS`); the token it returns goes
/// to [`PyEval_RestoreThread`]. NULL if this thread did not hold it.
///
/// ```
/// use objimpl::capi::*;
/// let state = PyGILState_Ensure();
/// let saved = PyEval_SaveThread();
/// assert_eq!(PyGILState_Check(), 0);
/// // SAFETY: `saved` came from `PyEval_SaveThread` on this thread.
/// unsafe { PyEval_RestoreThread(saved) };
/// assert_eq!(PyGILState_Check(), 1);
/// PyGILState_Release(state);
/// ```
pub extern "C" fn PyEval_SaveThread() -> *mut PyThreadState {
    if !held() {
        return core::ptr::null_mut();
    }
    release();
    (&raw const SAVED).cast_mut().cast()
}

/// `PyEval_RestoreThread(state)`: takes the lock back after
/// [`PyEval_SaveThread`] (`Py_END_ALLOW_THREADS`).
///
/// # Safety
///
/// - `state` came from `PyEval_SaveThread` on this thread (NULL, from a
///   thread that did not hold the lock, restores nothing).
pub unsafe extern "C" fn PyEval_RestoreThread(state: *mut PyThreadState) {
    if !state.is_null() && state.cast::<c_void>() == (&raw const SAVED).cast_mut().cast() {
        acquire();
    }
}

/// For the C `mem` and `object` functions under the debug hooks: once the
/// lock is in use, a caller that does not hold it ends the process, as
/// CPython's hooks end it.
#[inline]
pub(crate) fn check_held(function: &str, domain: crate::alloc::Domain) {
    if in_use() && !held() && crate::alloc::debug_hooks_on(domain) {
        not_held(function);
    }
}

#[cold]
#[inline(never)]
fn not_held(function: &str) -> ! {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "Fatal Python error: {function}: Python memory allocator called without holding \
         the GIL\nobjimpl: a C program took the GIL (PyGILState_Ensure): every thread must \
         hold it to use the mem and object functions"
    );
    std::process::abort()
}
