//! The GC half of `objimpl.h`: allocating, tracking and freeing objects of
//! types with `Py_TPFLAGS_HAVE_GC`, and `PyGC_Collect` and its friends.
//!
//! A C type takes part as in CPython: its `tp_traverse` visits its
//! references, its `tp_clear` drops them (the collector calls it on garbage
//! to break cycles), its `tp_dealloc` calls `PyObject_GC_UnTrack` and then
//! `PyObject_GC_Del`. Objects are made untracked; `PyObject_GC_Track`
//! hands a complete one to the calling thread's collector.

use core::ffi::{c_int, c_void};

use super::abort_on_panic;
use super::error::PyErr_NoMemory;
use super::gil;
use super::typeobject::ready_for;
use crate::gc::alloc as gc_alloc;
use crate::gc::state::{GENERATIONS, GcState};
use crate::{PyObject, PyVarObject, TypeObject};

/// `_PyObject_GC_New(tp)` (`PyObject_GC_New`): an object of `tp`, with a
/// GC header in front, untracked; NULL with `MemoryError` set on failure.
///
/// # Safety
///
/// - `tp` points at a type object with `Py_TPFLAGS_HAVE_GC` that outlives
///   every object made with it.
///
/// ```
/// use objimpl::capi::{_PyObject_GC_New, PyObject_GC_Del, PyObject_GC_IsTracked};
/// use objimpl::prelude::*;
///
/// /// A node of a graph whose edges may form cycles.
/// #[pyobject(gc, new = make)]
/// #[derive(Debug)]
/// pub struct GcNode { pub name: &'static str, pub edges: std::cell::RefCell<Vec<Py<GcNode>>> }
/// impl GcNode {
///     pub fn new(name: &'static str) -> GcNode { GcNode { name, edges: Default::default() } }
/// }
///
/// // SAFETY: a static gc type (objects made this way have no payload yet,
/// // so they are freed without being tracked or dropped).
/// let op = unsafe { _PyObject_GC_New(GcNode::TYPE) };
/// // SAFETY: `op` is a live gc object, untracked, freed once.
/// unsafe {
///     assert_eq!(PyObject_GC_IsTracked(op), 0);
///     PyObject_GC_Del(op.cast());
/// }
/// ```
pub unsafe extern "C" fn _PyObject_GC_New(tp: *const TypeObject) -> *mut PyObject {
    // SAFETY: the caller promises a live type object.
    if !unsafe { ready_for(tp, "PyObject_GC_New", true) } {
        return core::ptr::null_mut();
    }
    // SAFETY: the caller promises `tp` outlives the objects made with it.
    let tp = unsafe { &*tp };
    // (A collection it starts may run Rust destructors.)
    match abort_on_panic("PyObject_GC_New", || {
        with_collector("PyObject_GC_New", |state| {
            gc_alloc::new_object_in(state, tp)
        })
    }) {
        Ok(op) => op.as_ptr(),
        Err(_) => PyErr_NoMemory(),
    }
}

/// `_PyObject_GC_NewVar(tp, n)` (`PyObject_GC_NewVar`): as
/// [`_PyObject_GC_New`], with room for `n` items; NULL with `MemoryError`
/// set if `n` is negative, the size overflows, or memory is short.
///
/// # Safety
///
/// - as [`_PyObject_GC_New`].
///
/// ```
/// use objimpl::capi::{_PyObject_GC_NewVar, PyErr_Clear};
/// use objimpl::prelude::*;
///
/// /// A node of a graph whose edges may form cycles.
/// #[pyobject(gc, new = make)]
/// #[derive(Debug)]
/// pub struct GcNode { pub name: &'static str, pub edges: std::cell::RefCell<Vec<Py<GcNode>>> }
/// impl GcNode {
///     pub fn new(name: &'static str) -> GcNode { GcNode { name, edges: Default::default() } }
/// }
///
/// // SAFETY: a static gc type; a negative count is refused.
/// assert!(unsafe { _PyObject_GC_NewVar(GcNode::TYPE, -1) }.is_null());
/// PyErr_Clear();
/// ```
pub unsafe extern "C" fn _PyObject_GC_NewVar(tp: *const TypeObject, n: isize) -> *mut PyVarObject {
    let Ok(n) = usize::try_from(n) else {
        return PyErr_NoMemory().cast();
    };
    // SAFETY: the caller promises a live type object.
    if !unsafe { ready_for(tp, "PyObject_GC_NewVar", true) } {
        return core::ptr::null_mut();
    }
    // SAFETY: the caller promises `tp` outlives the objects made with it.
    let tp = unsafe { &*tp };
    match abort_on_panic("PyObject_GC_NewVar", || {
        with_collector("PyObject_GC_NewVar", |state| {
            gc_alloc::new_var_object_in(state, tp, n)
        })
    }) {
        Ok(op) => op.as_ptr(),
        Err(_) => PyErr_NoMemory().cast(),
    }
}

/// `_PyObject_GC_Resize(op, n)`: reallocates a `gc` var object for `n`
/// items (the header moves with it) and sets `ob_size`; NULL with
/// `MemoryError` set on failure, `op` then unchanged. CPython requires `op`
/// untracked; a tracked one is untracked and tracked again around the move.
///
/// # Safety
///
/// - `op` is a live `gc` var object made by `_PyObject_GC_NewVar`, of this
///   thread, with no reference into its memory held across the call.
pub unsafe extern "C" fn _PyObject_GC_Resize(op: *mut PyVarObject, n: isize) -> *mut PyVarObject {
    let Ok(n) = usize::try_from(n) else {
        return PyErr_NoMemory().cast();
    };
    // SAFETY: the caller promises a live object; its type outlives it.
    let tp = unsafe { &*(*op).ob_base.ob_type };
    let Some(size) = crate::var_size(tp, n) else {
        return PyErr_NoMemory().cast();
    };
    let op = op.cast::<PyObject>();
    // SAFETY: as the caller promises; untracked before it moves.
    unsafe {
        let tracked = gc_alloc::is_tracked(op);
        if tracked {
            gc_alloc::untrack(op);
        }
        let moved = gc_alloc::resize(op, size.max(size_of::<PyVarObject>()));
        let result = if moved.is_null() { op } else { moved };
        if tracked {
            with_collector("PyObject_GC_Resize", |state| state.track(result));
        }
        if moved.is_null() {
            return PyErr_NoMemory().cast();
        }
        (*moved.cast::<PyVarObject>()).ob_size = n as isize;
        moved.cast()
    }
}

/// `PyObject_GC_Track(op)`: hands a complete `gc` object to the calling
/// thread's collector. Tracking an object twice is a fatal error, as in
/// CPython.
///
/// # Safety
///
/// - `op` is a live object of a `gc` type, made by `_PyObject_GC_New` or
///   `_PyObject_GC_NewVar`, of this thread, whose `tp_traverse` may run
///   from now on.
pub unsafe extern "C" fn PyObject_GC_Track(op: *mut c_void) {
    let op = op.cast::<PyObject>();
    // SAFETY: the caller promises a live `gc` object of this thread.
    unsafe {
        if gc_alloc::is_tracked(op) {
            fatal(op, "object already tracked by the garbage collector");
        }
        with_collector("PyObject_GC_Track", |state| state.track(op));
    }
}

/// `PyObject_GC_UnTrack(op)`: takes `op` from its collector; nothing if it
/// is not tracked. A `tp_dealloc` calls it first.
///
/// # Safety
///
/// - `op` is a live `gc` object of this thread.
pub unsafe extern "C" fn PyObject_GC_UnTrack(op: *mut c_void) {
    // SAFETY: as the caller promises.
    unsafe { gc_alloc::untrack(op.cast()) };
}

/// `PyObject_GC_Del(op)`: frees a `gc` object's memory, header included
/// (the `tp_free` of `gc` types).
///
/// # Safety
///
/// - `op` is null, or an untracked `gc` object made by `_PyObject_GC_New`
///   or `_PyObject_GC_NewVar`, which nothing uses any more.
pub unsafe extern "C" fn PyObject_GC_Del(op: *mut c_void) {
    if op.is_null() {
        return;
    }
    // SAFETY: as the caller promises: a live object, whose type outlives it.
    let tp = unsafe { &*(*op.cast::<PyObject>()).ob_type };
    if !tp.is_gc() {
        // Its block starts at the object, not two words before: freeing it
        // as a gc object would give the pool a pointer it never handed out.
        fatal(
            op.cast(),
            &format!(
                "PyObject_GC_Del of an object of type '{}', which has no Py_TPFLAGS_HAVE_GC \
                 and so no GC header: free it with PyObject_Free (PyObject_Del)",
                tp.name()
            ),
        );
    }
    // SAFETY: as the caller promises.
    unsafe {
        if gc_alloc::is_tracked(op.cast()) {
            fatal(
                op.cast(),
                "object freed while tracked: call PyObject_GC_UnTrack first",
            );
        }
        with_collector("PyObject_GC_Del", |state| gc_alloc::free_in(state, op));
    }
}

/// `PyObject_GC_IsTracked(op)`: 1 if `op` is a tracked `gc` object, else 0.
///
/// # Safety
///
/// - `op` is a live object of this thread.
pub unsafe extern "C" fn PyObject_GC_IsTracked(op: *mut PyObject) -> c_int {
    // SAFETY: the caller promises a live object; only a `gc` one has a header.
    unsafe { ((*(*op).ob_type).is_gc() && gc_alloc::is_tracked(op)) as c_int }
}

/// `PyObject_GC_IsFinalized(op)`: 1 if the collector dropped the payload
/// of `op` (a Rust `gc` type's), else 0.
///
/// # Safety
///
/// - `op` is a live object of this thread.
pub unsafe extern "C" fn PyObject_GC_IsFinalized(op: *mut PyObject) -> c_int {
    // SAFETY: as in `PyObject_GC_IsTracked`.
    unsafe { ((*(*op).ob_type).is_gc() && gc_alloc::is_finalized(op)) as c_int }
}

/// `PyGC_Collect()`: a full collection of the calling thread's objects;
/// the number of unreachable objects destroyed. A panic of a Rust payload's
/// `Drop` cannot cross into C: it ends the process (see [the module](super)).
///
/// ```
/// assert_eq!(objimpl::capi::PyGC_Collect(), 0);
/// ```
pub extern "C" fn PyGC_Collect() -> isize {
    abort_on_panic("PyGC_Collect", || {
        with_collector("PyGC_Collect", |state| state.collect(GENERATIONS - 1))
    }) as isize
}

/// `PyGC_Enable()`: turns automatic collection on; 1 if it was on before.
///
/// ```
/// use objimpl::capi::{PyGC_Disable, PyGC_Enable, PyGC_IsEnabled};
/// assert_eq!(PyGC_Disable(), 1);
/// assert_eq!(PyGC_IsEnabled(), 0);
/// assert_eq!(PyGC_Enable(), 0);
/// ```
pub extern "C" fn PyGC_Enable() -> c_int {
    with_collector("PyGC_Enable", |state| state.enabled.replace(true)) as c_int
}

/// `PyGC_Disable()`: turns automatic collection off; 1 if it was on before.
///
/// ```
/// assert_eq!(objimpl::capi::PyGC_Disable(), 1);
/// objimpl::capi::PyGC_Enable();
/// ```
pub extern "C" fn PyGC_Disable() -> c_int {
    with_collector("PyGC_Disable", |state| state.enabled.replace(false)) as c_int
}

/// `PyGC_IsEnabled()`: 1 if automatic collection is on.
///
/// ```
/// assert_eq!(objimpl::capi::PyGC_IsEnabled(), 1);
/// ```
pub extern "C" fn PyGC_IsEnabled() -> c_int {
    with_collector("PyGC_IsEnabled", |state| state.enabled.get()) as c_int
}

/// Runs `f` on the collector of the C objects this call concerns: the
/// calling thread's, or, once a C program uses the GIL, the process's
/// (see [`gil`](super::gil)). A thread that calls without holding the GIL
/// then ends the process: the process's collector is the GIL's to guard.
fn with_collector<R>(function: &str, f: impl FnOnce(&GcState) -> R) -> R {
    if !gil::in_use() {
        return GcState::with(f);
    }
    if !gil::held() {
        fatal(
            core::ptr::null_mut(),
            &format!(
                "{function} called without holding the GIL: once a C program takes it \
                 (PyGILState_Ensure), every thread must hold it to use gc objects"
            ),
        );
    }
    // SAFETY: this thread holds the GIL for the whole call.
    f(unsafe { GcState::interpreter() })
}

/// CPython's `_PyObject_ASSERT_FAILED_MSG`: a misuse the program cannot
/// go on from.
#[cold]
pub(super) fn fatal(op: *mut PyObject, message: &str) -> ! {
    eprintln!("objimpl: fatal error: {message} (object at {op:p})");
    std::process::abort()
}
