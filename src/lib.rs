#![doc = include_str!("../README.md")]

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
