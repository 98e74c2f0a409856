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
//! use objimpl::prelude::*;
//!
//! /// A node of a graph whose edges may form cycles.
//! #[pyobject(gc, new = make)]
//! #[derive(Debug)]
//! pub struct GcNode { pub name: &'static str, pub edges: std::cell::RefCell<Vec<Py<GcNode>>> }
//! impl GcNode {
//!     pub fn new(name: &'static str) -> GcNode { GcNode { name, edges: Default::default() } }
//! }
//!
//!
//! let a = Py::new(GcNode::new("a"))?;
//! let b = Py::new(GcNode::new("b"))?;
//! a.edges.borrow_mut().push(b.clone());
//! b.edges.borrow_mut().push(a.clone()); // a <-> b
//! drop((a, b));                          // both counts stay at 1
//! assert_eq!(gc::collect(), 2);          // found, dropped and freed
//! # Ok::<(), objimpl::MemoryError>(())
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
//! A `Drop` that panics does not stop the collection, and does not come out
//! of what started it: not of [`collect`], nor of the constructor whose
//! allocation started an automatic collection, nor of a thread's exit
//! (where a panic would abort the process). As CPython hands an exception
//! in a finalizer to `sys.unraisablehook`, objimpl hands the panic to the
//! hook set with [`set_unraisable_hook`], whose default prints it, and the
//! program carries on.

pub(crate) mod alloc;
mod collect;
mod head;
mod module;
pub(crate) mod state;
pub(crate) mod trash;
mod traverse;
pub(crate) mod unraisable;

pub use crate::object::{Inquiry, TraverseProc, VisitProc};
pub use alloc::{new_object, new_var_object};
pub use module::{
    collect, collect_generation, disable, enable, freeze, get_count, get_freeze_count,
    get_referents, get_stats, get_threshold, is_enabled, is_finalized, is_tracked, set_threshold,
    unfreeze,
};
/// Derives [`Traverse`](trait@Traverse) field by field, with no `unsafe`
/// (see [the trait](trait@Traverse)).
pub use objimpl_macros::Traverse;
pub use state::GenerationStats;
pub use traverse::{Traverse, Visit};
pub use unraisable::{Unraisable, UnraisableHook, set_unraisable_hook};
