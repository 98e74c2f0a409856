//! `PyObjectType`: what ties a Rust type to its type object, header and items.

use super::weak_list::WeakList;
use crate::freelist::FreeList;
use crate::object::{ObjectHeader, TypeObject};

/// A Rust type whose values live in objects: it has a type object, a header,
/// and (for var-size objects) an item type.
///
/// `#[pyobject]` implements it; by hand, build `TYPE` with
/// [`TypeObject::new`] as below.
///
/// # Safety
///
/// - `TYPE` points at a `static` built by `TypeObject::new::<Self>(..)`, and
///   no other type's `TYPE` points at it (type identity is address identity).
///
/// ```
/// use objimpl::{Py, PyObjectType, PyVarObject, TypeObject};
///
/// struct Tuple { hash: isize }
/// static TUPLE_TYPE: TypeObject = TypeObject::new::<Tuple>(c"tuple");
/// // SAFETY: TYPE is a static built by `TypeObject::new::<Tuple>`, for Tuple alone.
/// unsafe impl PyObjectType for Tuple {
///     type Header = PyVarObject;
///     type Item = Py<Tuple>;
///     const TYPE: &'static TypeObject = &TUPLE_TYPE;
/// }
///
/// let empty = Py::new(Tuple { hash: 0 })?;
/// let pair = Py::new_var(Tuple { hash: 0 }, [empty.clone(), empty.clone()])?;
/// assert_eq!(pair.len(), 2);
/// assert_eq!(empty.refcnt(), 3);
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
///
/// A `TYPE` that does not describe the type's layout is caught when a
/// `Py<T>` is first made, at compile time:
///
/// ```compile_fail
/// use objimpl::{Py, PyObject, PyObjectType, TypeObject};
/// struct Small(u8);
/// struct Large([u64; 4]);
/// static SMALL_TYPE: TypeObject = TypeObject::new::<Small>(c"Small");
/// // Wrong: Large's TYPE describes Small's (smaller) objects.
/// unsafe impl PyObjectType for Large {
///     type Header = PyObject;
///     type Item = ();
///     const TYPE: &'static TypeObject = &SMALL_TYPE;
/// }
/// # unsafe impl PyObjectType for Small {
/// #     type Header = PyObject; type Item = (); const TYPE: &'static TypeObject = &SMALL_TYPE;
/// # }
/// let large = Py::new(Large([0; 4])); // error: basicsize is not the size of Large's layout
/// ```
pub unsafe trait PyObjectType: Sized + 'static {
    /// [`PyObject`](crate::PyObject) for a fixed-size object, [`PyVarObject`](crate::PyVarObject) for one with items.
    type Header: ObjectHeader;
    /// The type of the items after the payload; `()` for a fixed-size object.
    type Item;
    /// The type object (`ob_type` of every object of this type).
    const TYPE: &'static TypeObject;

    /// The type's freelist, for a type made with `#[pyobject(freelist =
    /// N)]`: per thread, the memory of its last freed objects, which
    /// `Py::new` reuses (see [`freelist`](crate::freelist)). `None`, the
    /// default, for none. Used for fixed-size types only.
    ///
    /// An implementation returns a `thread_local!` holding
    /// `FreeList::new(Self::TYPE, n)`; a list of another type is refused
    /// with a panic.
    #[inline]
    fn freelist() -> Option<&'static std::thread::LocalKey<FreeList>> {
        None
    }

    /// The payload's [`WeakList`](crate::WeakList), for a type whose
    /// objects can be weakly referenced (see [`WeakRefable`](crate::WeakRefable));
    /// `None`, the default, for the others.
    #[inline]
    fn weak_list(&self) -> Option<&WeakList> {
        None
    }
}

/// A type whose objects the cycle collector never reads: a `basic` type,
/// not a `gc` one. `#[pyobject(basic)]` implements it; a hand-written
/// [`PyObjectType`] whose `TYPE` is built by [`TypeObject::new`] may too.
///
/// Only such objects lend their payload and items mutably
/// ([`Py::get_mut`](crate::Py::get_mut), [`Py::items_mut`](crate::Py::items_mut)):
/// the collector may read a `gc` object's at any allocation, so a `gc`
/// type is mutated through `Cell` or `RefCell` fields instead. The bound
/// makes a mistake an error of `cargo check`; an impl for a `gc` type is
/// still refused when the program is built.
///
/// ```
/// use objimpl::{BasicObject, Py, PyObject, PyObjectType, TypeObject};
///
/// struct Counter { n: u64 }
/// static COUNTER_TYPE: TypeObject = TypeObject::new::<Counter>(c"Counter");
/// // SAFETY: TYPE is a static built by `TypeObject::new::<Counter>`, for Counter alone.
/// unsafe impl PyObjectType for Counter {
///     type Header = PyObject;
///     type Item = ();
///     const TYPE: &'static TypeObject = &COUNTER_TYPE;
/// }
/// impl BasicObject for Counter {}
///
/// let mut c = Py::new(Counter { n: 0 })?;
/// c.get_mut().unwrap().n += 1;
/// assert_eq!(c.n, 1);
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a basic object type: its objects may be read by the cycle collector",
    label = "a `gc` type (or one without `BasicObject`)",
    note = "the collector may read a gc object's payload and items at any allocation, so they are never lent mutably: mutate them through `Cell` or `RefCell` fields",
    note = "a `#[pyobject(basic)]` type implements `BasicObject`; a hand-written basic `PyObjectType` can too"
)]
pub trait BasicObject: PyObjectType {}
