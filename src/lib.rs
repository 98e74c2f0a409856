#![doc = include_str!("../README.md")]

// `::objimpl` names this crate inside it too (its doc tests included), as
// `#[pyobject]`'s code says.
#[allow(unused_extern_crates, reason = "for the code #[pyobject] writes")]
extern crate self as objimpl;

pub use objimpl_core::*;
pub use objimpl_macros::{pymethods, pyobject};

// With `capi`, link the crate that exports `PyObject_Malloc` & co. unmangled.
#[cfg(feature = "capi")]
use objimpl_capi as _;

/// The names most programs need: `use objimpl::prelude::*;`.
///
/// ```
/// use objimpl::prelude::*;
/// fn alloc_failed() -> MemoryError { MemoryError }
/// ```
pub mod prelude {
    pub use objimpl_core::{MemoryError, Py, PyAny, PyObjectType, TypeObject, gc};
    pub use objimpl_macros::{pymethods, pyobject};
}
