//! objimpl: CPython's object memory interface (`Include/objimpl.h`) and its
//! small-object allocator in Rust. See the README for a tour.
//!
//! ```
//! use objimpl::prelude::*;
//! let err: MemoryError = MemoryError;
//! assert_eq!(err.to_string(), "out of memory");
//! ```

pub use objimpl_core::*;
pub use objimpl_macros::pyobject;

/// The names most programs need: `use objimpl::prelude::*;`.
///
/// ```
/// use objimpl::prelude::*;
/// fn alloc_failed() -> MemoryError { MemoryError }
/// ```
pub mod prelude {
    pub use objimpl_core::{MemoryError, Py, PyAny, PyObjectType, TypeObject};
    pub use objimpl_macros::pyobject;
}
