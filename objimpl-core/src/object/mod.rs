//! What an object is, to every floor above: the headers every object starts
//! with, the type object its header points at, and the reference count that
//! decides when it goes (CPython's `Include/object.h`).
//!
//! Nothing here knows a Rust type: the collector (`gc`) and the handles
//! (`py`) both build on these raw parts, and neither is needed to use them.

mod header;
mod refcount;
pub(crate) mod type_object;

pub use header::{ObjectHeader, PyObject, PyVarObject};
pub(crate) use refcount::{dealloc_by_type, decref, incref, refcnt, release};
pub use type_object::{
    AllocFunc, Destructor, FreeFunc, Inquiry, NewFunc, TraverseProc, TypeObject, VisitProc,
};
