//! The cycle collector: CPython's `gc` module and the GC half of
//! `objimpl.h`, for objects of `#[pyobject(gc)]` types.
//!
//! Reference counting frees an object when its last reference goes, but
//! objects that refer to each other keep each other's counts above zero.
//! A `gc` object carries a GC header (CPython's `PyGC_Head`, two words in
//! front of the object) that links it into one of three *generations*; the
//! collector finds the groups of objects referred to only from inside the
//! group, and destroys them. [`Traverse`] is how it sees an object's
//! references; `#[pyobject(gc)]` derives it, field by field.
//!
//! ```
//! use std::cell::RefCell;
//! use objimpl_core::{Py, gc, __doc::GcNode};
//!
//! let a = Py::new(GcNode::new("a"))?;
//! let b = Py::new(GcNode::new("b"))?;
//! a.edges.borrow_mut().push(b.clone());
//! b.edges.borrow_mut().push(a.clone()); // a <-> b
//! drop((a, b));                          // both counts stay at 1
//! assert_eq!(gc::collect(), 2);          // found, dropped and freed
//! # Ok::<(), objimpl_core::MemoryError>(())
//! ```
//!
//! # As CPython does it
//!
//! New `gc` objects join generation 0. When the objects allocated minus
//! those freed since its last collection pass its threshold (700), it is
//! collected; survivors move to generation 1, and every 10 collections of
//! a generation collect the next older one (thresholds 10 and 10). The
//! oldest is collected only once a quarter of its objects are new since
//! its last collection, so building a big structure stays linear.
//! [`set_threshold`], [`disable`], [`collect`], [`freeze`] and the others
//! are those of Python's `gc` module.
//!
//! # Threads
//!
//! Objects belong to the thread that made them (`Py` is neither `Send` nor
//! `Sync`), and so does the collector: each thread has its own
//! generations, thresholds and statistics, and every function here acts on
//! the calling thread's. When a thread ends, what it left behind is
//! collected; objects still referenced then (leaked with `mem::forget`,
//! say) are untracked and live on. An object sent to another thread with
//! [`Py::into_sendable`](crate::Py::into_sendable) leaves its collector and
//! joins the receiver's.
//!
//! # Destroying garbage
//!
//! The collector drops each unreachable object's payload (and items) in
//! turn, then frees the memory. While it does, the garbage cannot be
//! dereferenced: a `Py` to an object being collected, or already
//! collected, panics on `Deref` ([`Py::try_get`](crate::Py::try_get) says
//! `None`). So a `Drop` of a `gc` type must not look through handles to
//! objects that may share its cycle: it may only drop them (as it does by
//! default) or clone them. A `Drop` that clones one into a place that
//! outlives the collection *resurrects* it: the collector sees the new
//! reference, and keeps that object and everything it reaches that is not
//! destroyed yet, intact, in the oldest generation. Objects destroyed
//! before it stay allocated while referenced, and read as collected.
//!
//! A `Drop` that panics does not stop the collection: once it is done, the
//! first panic comes out of what started it. That is [`collect`], or, for
//! an automatic collection, the constructor whose allocation passed the
//! threshold ([`Py::new`](crate::Py::new), [`Py::new_var`](crate::Py::new_var),
//! [`new_object`]): the object it was making is dropped and freed as the
//! panic goes through (or, for `new_object`, not allocated yet), so nothing
//! leaks.

mod collect;
mod head;
pub(crate) mod object;
mod state;
mod traverse;

pub use object::{new_object, new_var_object};
pub use traverse::{Inquiry, Traverse, TraverseProc, Visit, VisitProc};

use core::ffi::{c_int, c_void};

use crate::{PyAny, PyObject};
use state::{GENERATIONS, GcState};

/// The statistics of one generation (one entry of Python's `gc.get_stats()`).
///
/// ```
/// let [young, _, _] = objimpl_core::gc::get_stats();
/// assert_eq!(young.uncollectable, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenerationStats {
    /// How many times the generation was collected.
    pub collections: usize,
    /// How many objects its collections destroyed.
    pub collected: usize,
    /// Unreachable objects that could not be destroyed. CPython counts the
    /// objects with a legacy `__del__` here; every objimpl object can be
    /// destroyed, so this stays 0. Kept for the shape of `gc.get_stats()`.
    pub uncollectable: usize,
}

/// `gc.collect()`: a full collection, of every generation. Returns the
/// number of unreachable objects destroyed (0 if a collection is already
/// running on this thread, as when called from a `Drop` it runs).
///
/// # Panics
///
/// If the `Drop` of a destroyed payload panicked: after the collection
/// has finished, the first such panic is resumed.
///
/// ```
/// # use objimpl_core::{Py, gc, __doc::GcNode};
/// let a = Py::new(GcNode::new("self-loop"))?;
/// a.edges.borrow_mut().push(a.clone());
/// drop(a);
/// assert_eq!(gc::collect(), 1);
/// assert_eq!(gc::collect(), 0);
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
pub fn collect() -> usize {
    GcState::with(|state| state.collect(GENERATIONS - 1))
}

/// `gc.collect(generation)`: collects `generation` (0, 1 or 2) and every
/// younger one. Returns the number of objects destroyed, or `None` if
/// `generation` is not 0, 1 or 2.
///
/// # Panics
///
/// As [`collect`].
///
/// ```
/// # use objimpl_core::gc;
/// assert_eq!(gc::collect_generation(0), Some(0));
/// assert_eq!(gc::collect_generation(3), None);
/// ```
pub fn collect_generation(generation: usize) -> Option<usize> {
    if generation >= GENERATIONS {
        return None;
    }
    Some(GcState::with(|state| state.collect(generation)))
}

/// `gc.enable()`: turns automatic collection on (the default).
///
/// ```
/// objimpl_core::gc::enable();
/// assert!(objimpl_core::gc::is_enabled());
/// ```
pub fn enable() {
    GcState::with(|state| state.enabled.set(true));
}

/// `gc.disable()`: turns automatic collection off; [`collect`] still works.
///
/// ```
/// use objimpl_core::gc;
/// gc::disable();
/// assert!(!gc::is_enabled());
/// gc::enable();
/// ```
pub fn disable() {
    GcState::with(|state| state.enabled.set(false));
}

/// `gc.isenabled()`.
///
/// ```
/// assert!(objimpl_core::gc::is_enabled());
/// ```
pub fn is_enabled() -> bool {
    GcState::with(|state| state.enabled.get())
}

/// `gc.get_count()`: for generation 0, the `gc` objects allocated minus
/// those freed since its last collection; for 1 and 2, the collections of
/// the next younger generation since their own last.
///
/// ```
/// # use objimpl_core::{Py, gc, __doc::GcNode};
/// gc::collect();
/// let before = gc::get_count()[0];
/// let node = Py::new(GcNode::new("n"))?;
/// assert_eq!(gc::get_count()[0], before + 1);
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
pub fn get_count() -> [usize; 3] {
    GcState::with(|state| state.generations.each_ref().map(|g| g.count.get()))
}

/// `gc.set_threshold(t0, t1, t2)`: when each generation is collected (see
/// [`get_count`]). A threshold of 0 for generation 0 turns automatic
/// collection off, as in CPython.
///
/// ```
/// use objimpl_core::gc;
/// let old = gc::get_threshold();
/// gc::set_threshold([1000, 20, 20]);
/// assert_eq!(gc::get_threshold(), [1000, 20, 20]);
/// gc::set_threshold(old);
/// ```
pub fn set_threshold(thresholds: [usize; 3]) {
    GcState::with(|state| {
        for (generation, threshold) in state.generations.iter().zip(thresholds) {
            generation.threshold.set(threshold);
        }
    });
}

/// `gc.get_threshold()`: `[700, 10, 10]` unless changed.
///
/// ```
/// assert_eq!(objimpl_core::gc::get_threshold(), [700, 10, 10]);
/// ```
pub fn get_threshold() -> [usize; 3] {
    GcState::with(|state| state.generations.each_ref().map(|g| g.threshold.get()))
}

/// `gc.get_stats()`: per generation, collections, objects collected, and
/// uncollectable objects, since the thread started.
///
/// ```
/// # use objimpl_core::gc;
/// let before = gc::get_stats()[2].collections;
/// gc::collect();
/// assert_eq!(gc::get_stats()[2].collections, before + 1);
/// ```
pub fn get_stats() -> [GenerationStats; 3] {
    GcState::with(|state| state.generations.each_ref().map(|g| g.stats.get()))
}

/// `gc.freeze()`: moves every tracked object to a permanent generation
/// that collections ignore (CPython's tool for `fork()`ed servers, whose
/// collections would otherwise touch and copy every page).
///
/// ```
/// # use objimpl_core::{Py, gc, __doc::GcNode};
/// let a = Py::new(GcNode::new("kept"))?;
/// a.edges.borrow_mut().push(a.clone());
/// gc::freeze();
/// drop(a);
/// assert_eq!(gc::collect(), 0); // frozen: not looked at
/// gc::unfreeze();
/// assert_eq!(gc::collect(), 1);
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
pub fn freeze() {
    GcState::with(GcState::freeze);
}

/// `gc.unfreeze()`: moves the permanent generation back into the oldest.
///
/// ```
/// objimpl_core::gc::unfreeze();
/// assert_eq!(objimpl_core::gc::get_freeze_count(), 0);
/// ```
pub fn unfreeze() {
    GcState::with(GcState::unfreeze);
}

/// `gc.get_freeze_count()`: the number of objects in the permanent generation.
///
/// ```
/// assert_eq!(objimpl_core::gc::get_freeze_count(), 0);
/// ```
pub fn get_freeze_count() -> usize {
    GcState::with(GcState::freeze_count)
}

/// `gc.is_tracked(obj)`: whether `obj` is a `gc` object known to the
/// collector. `basic` objects never are.
///
/// ```
/// # use objimpl_core::{Py, PyAny, gc, __doc::{GcNode, Unit}};
/// let node = Py::new(GcNode::new("n"))?;
/// let unit = Py::new(Unit {})?;
/// assert!(gc::is_tracked(node.as_any()));
/// assert!(!gc::is_tracked(unit.as_any()));
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
pub fn is_tracked(obj: &PyAny) -> bool {
    // SAFETY: `obj` keeps a live object of this thread; a `gc` one has a header.
    obj.type_object().is_gc() && unsafe { object::is_tracked(obj.as_ptr()) }
}

/// `gc.is_finalized(obj)`: whether the collector has dropped `obj`'s
/// payload (possible for a handle kept by a `Drop` that resurrected a
/// cycle's member after another was destroyed).
///
/// ```
/// # use objimpl_core::{Py, gc, __doc::GcNode};
/// let node = Py::new(GcNode::new("n"))?;
/// assert!(!gc::is_finalized(node.as_any()));
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
pub fn is_finalized(obj: &PyAny) -> bool {
    // SAFETY: as in `is_tracked`.
    obj.type_object().is_gc() && unsafe { object::is_finalized(obj.as_ptr()) }
}

/// `gc.get_referents(obj)`: the objects `obj`'s traversal reports (its
/// `gc` referents; empty for a `basic` object, which has no traversal).
///
/// ```
/// # use objimpl_core::{Py, PyAny, gc, __doc::GcNode};
/// let a = Py::new(GcNode::new("a"))?;
/// let b = Py::new(GcNode::new("b"))?;
/// a.edges.borrow_mut().push(b.clone());
/// assert_eq!(gc::get_referents(a.as_any()), vec![PyAny::from(b)]);
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
pub fn get_referents(obj: &PyAny) -> Vec<PyAny> {
    unsafe extern "C" fn push(op: *mut PyObject, out: *mut c_void) -> c_int {
        // SAFETY: `get_referents` passes its vector, unused meanwhile.
        let out = unsafe { &mut *out.cast::<Vec<*mut PyObject>>() };
        out.push(op);
        0
    }
    let mut found: Vec<*mut PyObject> = Vec::new();
    if let Some(traverse) = obj.type_object().traverse() {
        // SAFETY: `obj` is live; `push` may be called with the vector.
        unsafe { traverse(obj.as_ptr(), push, (&raw mut found).cast()) };
    }
    found
        .into_iter()
        .map(|op| {
            // SAFETY: `op` is live (`obj` refers to it); the new reference
            // is counted before it is handed out.
            unsafe {
                crate::object::incref(core::ptr::NonNull::new_unchecked(op));
                PyAny::from_raw(op)
            }
        })
        .collect()
}
