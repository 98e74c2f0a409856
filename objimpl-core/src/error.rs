//! `MemoryError`, what `PyErr_NoMemory()` raises.

use core::fmt;

/// An allocation failed, or the size asked for overflows (`PyErr_NoMemory`).
///
/// It is returned, never a panic or an abort, and means nothing was
/// allocated and nothing was lost.
///
/// ```
/// use objimpl::MemoryError;
/// assert_eq!(MemoryError.to_string(), "out of memory");
/// let err: Box<dyn std::error::Error> = Box::new(MemoryError);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MemoryError;

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("out of memory")
    }
}

impl std::error::Error for MemoryError {}
