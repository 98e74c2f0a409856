//! The `gc` module's functions, as Python's `gc` module has them
//! (CPython's `Modules/gcmodule.c`): the collector's controls and
//! statistics, and what it knows of an object given as a handle.

use core::ffi::{c_int, c_void};

use super::GenerationStats;
use super::state::{GENERATIONS, GcState};
use crate::{PyAny, PyObject};

/// `gc.collect()`: a full collection, of every generation. Returns the
/// number of unreachable objects destroyed (0 if a collection is already
/// running on this thread, as when called from a `Drop` it runs).
///
/// Never panics: a `Drop` of a destroyed payload that panics goes to the
/// unraisable hook ([`set_unraisable_hook`](super::set_unraisable_hook)).
///
/// ```
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
/// let a = Py::new(GcNode::new("self-loop"))?;
/// a.edges.borrow_mut().push(a.clone());
/// drop(a);
/// assert_eq!(gc::collect(), 1);
/// assert_eq!(gc::collect(), 0);
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
pub fn collect() -> usize {
    GcState::with(|state| state.collect(GENERATIONS - 1))
}

/// `gc.collect(generation)`: collects `generation` (0, 1 or 2) and every
/// younger one. Returns the number of objects destroyed, or `None` if
/// `generation` is not 0, 1 or 2.
///
/// ```
/// # use objimpl::gc;
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
/// objimpl::gc::enable();
/// assert!(objimpl::gc::is_enabled());
/// ```
pub fn enable() {
    GcState::with(|state| state.enabled.set(true));
}

/// `gc.disable()`: turns automatic collection off; [`collect`] still works.
///
/// ```
/// use objimpl::gc;
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
/// assert!(objimpl::gc::is_enabled());
/// ```
pub fn is_enabled() -> bool {
    GcState::with(|state| state.enabled.get())
}

/// `gc.get_count()`: for generation 0, the `gc` objects allocated minus
/// those freed since its last collection; for 1 and 2, the collections of
/// the next younger generation since their own last.
///
/// ```
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
/// gc::collect();
/// let before = gc::get_count()[0];
/// let node = Py::new(GcNode::new("n"))?;
/// assert_eq!(gc::get_count()[0], before + 1);
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
pub fn get_count() -> [usize; 3] {
    GcState::with(|state| state.generations.each_ref().map(|g| g.count.get()))
}

/// `gc.set_threshold(t0, t1, t2)`: when each generation is collected (see
/// [`get_count`]). A threshold of 0 for generation 0 turns automatic
/// collection off, as in CPython.
///
/// ```
/// use objimpl::gc;
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
/// assert_eq!(objimpl::gc::get_threshold(), [700, 10, 10]);
/// ```
pub fn get_threshold() -> [usize; 3] {
    GcState::with(|state| state.generations.each_ref().map(|g| g.threshold.get()))
}

/// `gc.get_stats()`: per generation, collections, objects collected, and
/// uncollectable objects, since the thread started.
///
/// ```
/// # use objimpl::gc;
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
/// let a = Py::new(GcNode::new("kept"))?;
/// a.edges.borrow_mut().push(a.clone());
/// gc::freeze();
/// drop(a);
/// assert_eq!(gc::collect(), 0); // frozen: not looked at
/// gc::unfreeze();
/// assert_eq!(gc::collect(), 1);
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
pub fn freeze() {
    GcState::with(GcState::freeze);
}

/// `gc.unfreeze()`: moves the permanent generation back into the oldest.
///
/// ```
/// objimpl::gc::unfreeze();
/// assert_eq!(objimpl::gc::get_freeze_count(), 0);
/// ```
pub fn unfreeze() {
    GcState::with(GcState::unfreeze);
}

/// `gc.get_freeze_count()`: the number of objects in the permanent generation.
///
/// ```
/// assert_eq!(objimpl::gc::get_freeze_count(), 0);
/// ```
pub fn get_freeze_count() -> usize {
    GcState::with(GcState::freeze_count)
}

/// `gc.is_tracked(obj)`: whether `obj` is a `gc` object known to the
/// collector. `basic` objects never are.
///
/// ```
/// use objimpl::prelude::*;
///
/// /// A node of a graph whose edges may form cycles.
/// #[pyobject(gc, new = make)]
/// #[derive(Debug)]
/// pub struct GcNode { pub name: &'static str, pub edges: std::cell::RefCell<Vec<Py<GcNode>>> }
/// impl GcNode {
///     pub fn new(name: &'static str) -> GcNode { GcNode { name, edges: Default::default() } }
/// }
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// let node = Py::new(GcNode::new("n"))?;
/// let unit = Py::new(Unit {})?;
/// assert!(gc::is_tracked(node.as_any()));
/// assert!(!gc::is_tracked(unit.as_any()));
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
pub fn is_tracked(obj: &PyAny) -> bool {
    // SAFETY: `obj` keeps a live object of this thread; a `gc` one has a header.
    obj.type_object().is_gc() && unsafe { super::alloc::is_tracked(obj.as_ptr()) }
}

/// `gc.is_finalized(obj)`: whether the collector has dropped `obj`'s
/// payload (possible for a handle kept by a `Drop` that resurrected a
/// cycle's member after another was destroyed).
///
/// ```
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
/// let node = Py::new(GcNode::new("n"))?;
/// assert!(!gc::is_finalized(node.as_any()));
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
pub fn is_finalized(obj: &PyAny) -> bool {
    // SAFETY: as in `is_tracked`.
    obj.type_object().is_gc() && unsafe { super::alloc::is_finalized(obj.as_ptr()) }
}

/// `gc.get_referents(obj)`: the objects `obj`'s traversal reports (its
/// `gc` referents; empty for a `basic` object, which has no traversal).
///
/// ```
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
/// let a = Py::new(GcNode::new("a"))?;
/// let b = Py::new(GcNode::new("b"))?;
/// a.edges.borrow_mut().push(b.clone());
/// assert_eq!(gc::get_referents(a.as_any()), vec![PyAny::from(b)]);
/// # Ok::<(), objimpl::MemoryError>(())
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
