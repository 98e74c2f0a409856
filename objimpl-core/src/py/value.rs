//! Value traits: `Py<T>` displays, compares and hashes as its object's value,
//! as `Rc<T>` does as its `T`'s ([`PyAny`](crate::PyAny) keeps identity, as
//! CPython's `object` does).
//!
//! An object's value is its payload and its items, and only the whole object
//! sees both. So each std trait has an objimpl twin whose methods take the
//! object, `this: &Py<Self>`, and `Py<T>` implements the std trait when `T`
//! implements the twin. A payload type that implements the std trait gets the
//! twin for free, comparing (or hashing) its items after its payload; a type
//! whose value lives in its items (a string of bytes) implements the twin:
//!
//! ```
//! use std::collections::HashMap;
//! use std::fmt;
//! use objimpl::prelude::*;
//! use objimpl::value::{PyDisplay, PyEq, PyHash, PyPartialEq};
//!
//! /// A string: its bytes are the items.
//! #[pyobject(basic, item = u8)]
//! pub struct Str;
//!
//! impl PyDisplay for Str {
//!     fn fmt(this: &Py<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         f.write_str(&String::from_utf8_lossy(this.items()))
//!     }
//! }
//! impl PyPartialEq for Str {
//!     fn eq(this: &Py<Self>, other: &Py<Self>) -> bool {
//!         this.items() == other.items()
//!     }
//! }
//! impl PyEq for Str {}
//! impl PyHash for Str {
//!     fn hash<H: std::hash::Hasher>(this: &Py<Self>, state: &mut H) {
//!         this.items().hash(state)
//!     }
//! }
//! # use std::hash::Hash;
//!
//! let key = Str::new_var_from_slice(Str, b"spam")?;
//! let mut counts = HashMap::new();
//! counts.insert(key, 1);
//! let same = Str::new_var_from_slice(Str, b"spam")?; // another object, the same value
//! assert_eq!(counts[&same], 1);
//! assert_eq!(same.to_string(), "spam");
//! # Ok::<(), MemoryError>(())
//! ```
//!
//! With the std traits on the payload, nothing is written by hand:
//!
//! ```
//! use objimpl::prelude::*;
//!
//! #[pyobject(basic)]
//! #[derive(PartialEq, PartialOrd, Debug)]
//! pub struct Float { value: f64 }
//!
//! let (a, b) = (Float::new(Float { value: 1.5 })?, Float::new(Float { value: 2.5 })?);
//! assert!(a < b && a != b);
//! assert_eq!(a, Float::new(Float { value: 1.5 })?);
//! # Ok::<(), MemoryError>(())
//! ```

use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};

use super::{Py, PyObjectType};
use crate::object::ObjectHeader;

/// `Display` for an object: [`Py<T>`] is `Display` when `T` is `PyDisplay`.
/// Every `T: Display` is, showing its payload.
///
/// ```
/// use std::fmt;
/// use objimpl::prelude::*;
/// use objimpl::value::PyDisplay;
///
/// #[pyobject(basic, item = char)]
/// pub struct Word;
/// impl PyDisplay for Word {
///     fn fmt(this: &Py<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         this.items().iter().try_for_each(|c| write!(f, "{c}"))
///     }
/// }
/// assert_eq!(Word::new_var(Word, "hi".chars())?.to_string(), "hi");
/// # Ok::<(), MemoryError>(())
/// ```
pub trait PyDisplay: PyObjectType {
    /// Formats the object, as [`Display::fmt`](fmt::Display::fmt).
    fn fmt(this: &Py<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Value equality of objects: [`Py<T>`] is `PartialEq` when `T` is
/// `PyPartialEq`. Every `T: PartialEq` whose items are `PartialEq` is,
/// comparing the payloads and then the items.
///
/// ```
/// use objimpl::prelude::*;
///
/// #[pyobject(basic, item = u32)]
/// #[derive(PartialEq, Debug)]
/// pub struct Long { negative: bool }
///
/// let a = Long::new_var(Long { negative: false }, [1, 2])?;
/// assert_eq!(a, Long::new_var(Long { negative: false }, [1, 2])?);
/// assert_ne!(a, Long::new_var(Long { negative: false }, [1, 3])?);
/// assert_ne!(a, Long::new_var(Long { negative: true }, [1, 2])?);
/// # Ok::<(), MemoryError>(())
/// ```
pub trait PyPartialEq: PyObjectType {
    /// Whether the two objects have the same value, as [`PartialEq::eq`].
    fn eq(this: &Py<Self>, other: &Py<Self>) -> bool;
}

/// A [`PyPartialEq`] that is an equivalence: [`Py<T>`] is then `Eq`.
pub trait PyEq: PyPartialEq {}

/// Value order of objects: [`Py<T>`] is `PartialOrd` when `T` is
/// `PyPartialOrd`. Every `T: PartialOrd` whose items are `PartialOrd` is,
/// ordering by payload and then by items, lexicographically.
///
/// ```
/// use objimpl::prelude::*;
///
/// #[pyobject(basic, item = u8)]
/// #[derive(PartialEq, PartialOrd)]
/// pub struct Bytes;
///
/// let ab = Bytes::new_var_from_slice(Bytes, b"ab")?;
/// assert!(ab < Bytes::new_var_from_slice(Bytes, b"b")?);
/// assert!(ab > Bytes::new_var_from_slice(Bytes, b"a")?);
/// # Ok::<(), MemoryError>(())
/// ```
pub trait PyPartialOrd: PyPartialEq {
    /// Compares the two objects' values, as [`PartialOrd::partial_cmp`].
    fn partial_cmp(this: &Py<Self>, other: &Py<Self>) -> Option<Ordering>;
}

/// A total [`PyPartialOrd`]: [`Py<T>`] is then `Ord`.
pub trait PyOrd: PyEq + PyPartialOrd {
    /// Compares the two objects' values, as [`Ord::cmp`].
    fn cmp(this: &Py<Self>, other: &Py<Self>) -> Ordering;
}

/// Hashing an object's value: [`Py<T>`] is `Hash` when `T` is `PyHash`.
/// Every `T: Hash` whose items are `Hash` is, hashing the payload and then
/// the items. Objects equal by [`PyPartialEq`] must hash alike.
///
/// ```
/// use std::collections::HashSet;
/// use objimpl::prelude::*;
///
/// #[pyobject(basic, item = u8)]
/// #[derive(PartialEq, Eq, Hash)]
/// pub struct Bytes;
///
/// let set: HashSet<_> = [b"a", b"b", b"a"]
///     .into_iter()
///     .map(|s| Bytes::new_var_from_slice(Bytes, s))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(set.len(), 2);
/// # Ok::<(), MemoryError>(())
/// ```
pub trait PyHash: PyObjectType {
    /// Feeds the object's value to `state`, as [`Hash::hash`].
    fn hash<H: Hasher>(this: &Py<Self>, state: &mut H);
}

// The payload's std traits, the items after it.

impl<T: PyObjectType + fmt::Display> PyDisplay for T {
    #[inline]
    fn fmt(this: &Py<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**this, f)
    }
}

impl<T: PyObjectType + PartialEq> PyPartialEq for T
where
    T::Item: PartialEq,
{
    #[inline]
    fn eq(this: &Py<Self>, other: &Py<Self>) -> bool {
        **this == **other && this.all_items() == other.all_items()
    }
}

impl<T: PyObjectType + Eq> PyEq for T where T::Item: Eq {}

impl<T: PyObjectType + PartialOrd> PyPartialOrd for T
where
    T::Item: PartialOrd,
{
    #[inline]
    fn partial_cmp(this: &Py<Self>, other: &Py<Self>) -> Option<Ordering> {
        match (**this).partial_cmp(&**other)? {
            Ordering::Equal => this.all_items().partial_cmp(other.all_items()),
            unequal => Some(unequal),
        }
    }
}

impl<T: PyObjectType + Ord> PyOrd for T
where
    T::Item: Ord,
{
    #[inline]
    fn cmp(this: &Py<Self>, other: &Py<Self>) -> Ordering {
        (**this)
            .cmp(&**other)
            .then_with(|| this.all_items().cmp(other.all_items()))
    }
}

impl<T: PyObjectType + Hash> PyHash for T
where
    T::Item: Hash,
{
    #[inline]
    fn hash<H: Hasher>(this: &Py<Self>, state: &mut H) {
        (**this).hash(state);
        if T::Header::IS_VAR {
            this.all_items().hash(state);
        }
    }
}

// `Py<T>`'s std traits, through the twins.

impl<T: PyDisplay> fmt::Display for Py<T> {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

impl<T: PyPartialEq> PartialEq for Py<T> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        T::eq(self, other)
    }
}

impl<T: PyEq> Eq for Py<T> {}

impl<T: PyPartialOrd> PartialOrd for Py<T> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        T::partial_cmp(self, other)
    }
}

impl<T: PyOrd> Ord for Py<T> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        T::cmp(self, other)
    }
}

impl<T: PyHash> Hash for Py<T> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        T::hash(self, state)
    }
}
