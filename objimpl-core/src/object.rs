//! Object headers, owned references (`Py<T>`, `PyAny`) and reference counting.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::{self, NonNull};

use crate::layout::{self, ObjectHeader};
use crate::objimpl::{init, new_object, new_var_object};
use crate::{MemoryError, TypeObject, alloc, gc};

/// `PyObject`: the header every object starts with (`PyObject_HEAD`).
///
/// `#[repr(C)]` with CPython's field order: 16 bytes on 64-bit targets.
///
/// ```
/// assert_eq!(size_of::<objimpl_core::PyObject>(), 2 * size_of::<usize>());
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct PyObject {
    /// `ob_refcnt`: the number of strong references (`Py_REFCNT`).
    pub ob_refcnt: isize,
    /// `ob_type`: the object's type (`Py_TYPE`).
    pub ob_type: *const TypeObject,
}

/// `PyVarObject`: the header of objects with a variable number of items
/// (`PyObject_VAR_HEAD`).
///
/// `#[repr(C)]` with CPython's field order: 24 bytes on 64-bit targets.
///
/// ```
/// assert_eq!(size_of::<objimpl_core::PyVarObject>(), 3 * size_of::<usize>());
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct PyVarObject {
    /// `ob_base`: the fixed header.
    pub ob_base: PyObject,
    /// `ob_size`: the number of items (`Py_SIZE`). `Py<T>` reads its
    /// magnitude, leaving the sign to the type: CPython's `int` keeps the
    /// number's sign there.
    pub ob_size: isize,
}

static_assertions::assert_eq_size!(PyObject, [usize; 2]);
static_assertions::assert_eq_size!(PyVarObject, [usize; 3]);
static_assertions::assert_eq_align!(PyVarObject, usize);
static_assertions::const_assert_eq!(core::mem::offset_of!(PyObject, ob_refcnt), 0);
static_assertions::const_assert_eq!(core::mem::offset_of!(PyObject, ob_type), size_of::<usize>());
static_assertions::const_assert_eq!(core::mem::offset_of!(PyVarObject, ob_base), 0);
static_assertions::const_assert_eq!(
    core::mem::offset_of!(PyVarObject, ob_size),
    2 * size_of::<usize>()
);

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
/// use objimpl_core::{Py, PyObjectType, PyVarObject, TypeObject};
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
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
///
/// A `TYPE` that does not describe the type's layout is caught when a
/// `Py<T>` is first made, at compile time:
///
/// ```compile_fail
/// use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};
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
    /// [`PyObject`] for a fixed-size object, [`PyVarObject`] for one with items.
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
    fn freelist() -> Option<&'static std::thread::LocalKey<crate::freelist::FreeList>> {
        None
    }

    /// The payload's [`WeakList`](crate::WeakList), for a type whose
    /// objects can be weakly referenced (see [`WeakRefable`](crate::WeakRefable));
    /// `None`, the default, for the others.
    #[inline]
    fn weak_list(&self) -> Option<&crate::WeakList> {
        None
    }
}

/// An owned strong reference to an object holding a `T` (and, for var-size
/// types, `len()` items of `T::Item`).
///
/// Like `Rc<T>`: `Clone` increments the reference count, `Drop` decrements
/// it, and the last drop calls the type's `tp_dealloc`, which drops the
/// value and the items once and returns the memory to the pool. The count is
/// not atomic, as in CPython's default build, so `Py<T>` is neither `Send`
/// nor `Sync`.
///
/// ```
/// use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};
///
/// struct Point { x: f64, y: f64 }
/// static POINT_TYPE: TypeObject = TypeObject::new::<Point>(c"Point");
/// // SAFETY: TYPE is a static built by `TypeObject::new::<Point>`, for Point alone.
/// unsafe impl PyObjectType for Point {
///     type Header = PyObject;
///     type Item = ();
///     const TYPE: &'static TypeObject = &POINT_TYPE;
/// }
///
/// let p = Py::new(Point { x: 1.0, y: 2.0 })?;
/// let q = p.clone();
/// assert_eq!(p.refcnt(), 2);
/// assert_eq!(q.x + q.y, 3.0);
/// assert_eq!(p.type_object().name(), "Point");
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
#[repr(transparent)]
pub struct Py<T: PyObjectType> {
    ptr: NonNull<PyObject>,
    /// Owns a `T` (for drop check); the raw pointer keeps `Py` `!Send + !Sync`.
    _owns: PhantomData<T>,
}

impl<T: PyObjectType> Py<T> {
    /// Forces `T::TYPE` to be checked against `T`'s layout at compile time.
    const CHECKED: () = layout::check_type_object::<T>();

    /// Whether `T` is a `gc` type: its objects have a GC header and are
    /// tracked by the cycle collector.
    pub(crate) const IS_GC: bool = T::TYPE.is_gc();

    /// `PyObject_New`: allocates an object of type `T::TYPE` and moves
    /// `value` into it, with a reference count of 1. A var-size object gets
    /// no items.
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if the memory could not be had; `value` is dropped.
    ///
    /// # Panics
    ///
    /// For a `gc` type, if the collection that counting the new object may
    /// start (see [`gc`](crate::gc)) runs a `Drop` that panics: the panic
    /// comes out of here once the collection is done, as out of
    /// [`gc::collect`](crate::gc::collect). The new object is dropped then,
    /// `value` with it, and its memory freed, as when the last handle of an
    /// object goes.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Point;
    /// let p = Py::new(Point { x: 1.0, y: 2.0 })?;
    /// assert_eq!(p.refcnt(), 1);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline(always)]
    pub fn new(value: T) -> Result<Py<T>, MemoryError> {
        let () = Self::CHECKED;
        let op = if let Some(op) = Self::reuse() {
            op
        } else {
            match (Self::IS_GC, T::Header::IS_VAR) {
                (false, false) => new_object(T::TYPE)?,
                (false, true) => new_var_object(T::TYPE, 0)?.cast::<PyObject>(),
                (true, false) => gc::object::new_object_uncounted(T::TYPE)?,
                (true, true) => {
                    gc::object::new_var_object_uncounted(T::TYPE, 0)?.cast::<PyObject>()
                }
            }
        };
        // The basicsize was checked above against `T`'s layout.
        // SAFETY: `op` is a fresh object of `T::TYPE`, whose basicsize covers
        // the payload; it is written before anyone can read it.
        unsafe { payload_ptr::<T>(op).write(value) };
        // SAFETY: the object is complete.
        Ok(unsafe { Py::complete(op) })
    }

    /// An object of `T::TYPE`, header initialised, made of memory from the
    /// type's freelist, if it has one and it holds any.
    #[inline]
    fn reuse() -> Option<NonNull<PyObject>> {
        if T::Header::IS_VAR {
            return None;
        }
        let op = T::freelist()?
            .try_with(|list| {
                assert!(
                    list.is_for(T::TYPE),
                    "PyObjectType::freelist of '{}' returned another type's freelist",
                    T::TYPE.name()
                );
                list.pop()
            })
            .ok()
            .flatten()?;
        // (A `gc` object's header is written when `complete` tracks it.)
        // SAFETY: memory for an object of `T::TYPE` (a fixed-size type),
        // aligned as the allocator aligns.
        unsafe { init(op, T::TYPE) };
        NonNull::new(op)
    }

    /// The handle of a complete new object, tracked if it is a `gc` one.
    ///
    /// The handle owns the object before tracking it may start a
    /// collection: if a `Drop` the collection runs panics, the unwinding
    /// drops the handle, which destroys the new object.
    ///
    /// # Safety
    ///
    /// - `op` is a fresh, complete object of `T::TYPE`, with one reference,
    ///   which passes to the result.
    #[inline]
    unsafe fn complete(op: NonNull<PyObject>) -> Py<T> {
        let this = Py {
            ptr: op,
            _owns: PhantomData,
        };
        if Self::IS_GC {
            // SAFETY: a complete, untracked `gc` object of this thread,
            // made uncounted (or from the freelist), owned by `this`.
            unsafe { gc::object::track_new(op.as_ptr()) };
        }
        this
    }

    /// The payload, unless the cycle collector has dropped it or is
    /// destroying the object (then `None`; `Deref` would panic). Always
    /// `Some` for a `basic` type, and for every object outside a
    /// collection: only a `Drop` the collector runs, or a handle such a
    /// `Drop` kept, can see `None`.
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::GcNode};
    /// let node = Py::new(GcNode::new("n"))?;
    /// assert_eq!(node.try_get().map(|n| n.name), Some("n"));
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn try_get(&self) -> Option<&T> {
        if self.is_unreadable() {
            return None;
        }
        // SAFETY: as in `Deref`: the payload is initialised and readable.
        Some(unsafe { &*payload_ptr::<T>(self.ptr) })
    }

    /// Whether the collector has made the payload unreadable.
    #[inline]
    fn is_unreadable(&self) -> bool {
        // SAFETY: `self` keeps a live `gc` object (when `IS_GC`) of this thread.
        Self::IS_GC && unsafe { gc::object::is_unreadable(self.ptr.as_ptr()) }
    }

    /// The reference count (`Py_REFCNT`).
    ///
    /// ```
    /// # use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let a = Py::new(Unit {})?;
    /// let b = a.clone();
    /// assert_eq!(a.refcnt(), 2);
    /// drop(b);
    /// assert_eq!(a.refcnt(), 1);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn refcnt(&self) -> isize {
        // SAFETY: `self` keeps the object alive.
        unsafe { refcnt(self.ptr) }
    }

    /// The type object (`Py_TYPE`): always `T::TYPE`.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let a = Py::new(Unit {})?;
    /// assert!(std::ptr::eq(a.type_object(), Unit::TYPE));
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn type_object(&self) -> &'static TypeObject {
        T::TYPE
    }

    /// The object's address, without giving up the reference.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let a = Py::new(Unit {})?;
    /// assert_eq!(a.as_ptr() as usize % 16, 0);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.ptr.as_ptr()
    }

    /// The value, mutably, while this is the only reference.
    ///
    /// For `basic` types only: a `gc` type refuses to compile a call, since
    /// the cycle collector may read the payload at any allocation (mutate a
    /// `gc` object through `Cell` or `RefCell` fields).
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Counter};
    /// let mut c = Py::new(Counter { n: 0 })?;
    /// c.get_mut().unwrap().n += 1;
    /// let shared = c.clone();
    /// assert!(c.get_mut().is_none());
    /// assert_eq!(shared.n, 1);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        const {
            assert!(
                !Self::IS_GC,
                "Py::get_mut is not available for gc types: the cycle collector may read \
                 the payload at any allocation; mutate a gc object through Cell or RefCell fields"
            )
        };
        if self.refcnt() != 1 {
            return None;
        }
        // SAFETY: this is the only reference to the object, and `&mut self`
        // keeps it so for the borrow's lifetime; the payload is initialised.
        Some(unsafe { &mut *payload_ptr::<T>(self.ptr) })
    }

    /// Whether `this` and `other` are the same object (CPython's `is`),
    /// as `Rc::ptr_eq`.
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Unit};
    /// let a = Py::new(Unit {})?;
    /// let b = Py::new(Unit {})?;
    /// assert!(Py::ptr_eq(&a, &a.clone()) && !Py::ptr_eq(&a, &b));
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.ptr == other.ptr
    }

    /// This reference as an untyped one, borrowed: for a `HashSet<PyAny>`
    /// lookup, or code that takes objects of any type.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, __doc::Unit};
    /// let a = Py::new(Unit {})?;
    /// let any: &PyAny = a.as_any();
    /// assert_eq!(any.type_object().name(), "Unit");
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn as_any(&self) -> &PyAny {
        // SAFETY: both are `repr(transparent)` over the same pointer, and a
        // `PyAny` asks nothing of the object's type.
        unsafe { &*ptr::from_ref(self).cast::<PyAny>() }
    }

    /// The value, if `this` is the only reference: the object's items (of
    /// a var object) are dropped and its memory freed, as `Rc::try_unwrap`.
    /// Otherwise `this` comes back.
    ///
    /// # Errors
    ///
    /// `this`, if other references exist.
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Counter};
    /// let c = Py::new(Counter { n: 7 })?;
    /// let shared = c.clone();
    /// let c = Py::try_unwrap(c).unwrap_err(); // shared: handed back
    /// drop(shared);
    /// assert_eq!(Py::try_unwrap(c).ok().map(|c| c.n), Some(7));
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    pub fn try_unwrap(this: Self) -> Result<T, Self> {
        if this.refcnt() != 1 || this.is_unreadable() {
            return Err(this);
        }
        if Self::IS_GC {
            // SAFETY: a live `gc` object of this thread; the collector must
            // not read the payload once it is moved out.
            unsafe { gc::object::untrack(this.ptr.as_ptr()) };
        }
        // Weak references see the object gone, as they would at its end.
        if let Some(list) = PyObjectType::weak_list(&*this) {
            list.clear();
        }
        let this = ManuallyDrop::new(this);
        // The payload is moved out once, and the rest of the object (items,
        // memory) is destroyed as `dealloc` does, minus the payload.
        // SAFETY: the only reference is ours.
        unsafe {
            let value = ptr::read(payload_ptr::<T>(this.ptr));
            destroy_rest::<T>(this.ptr.as_ptr());
            Ok(value)
        }
    }

    /// The value, if `this` is the only reference, as `Rc::into_inner`;
    /// otherwise the reference is dropped and `None` returned.
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Counter};
    /// assert_eq!(Py::into_inner(Py::new(Counter { n: 3 })?).map(|c| c.n), Some(3));
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    pub fn into_inner(this: Self) -> Option<T> {
        Py::try_unwrap(this).ok()
    }

    /// Gives up ownership without decrementing: the caller now owns the
    /// reference (see [`from_raw`](Self::from_raw)).
    ///
    /// ```
    /// # use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let raw = Py::into_raw(Py::new(Unit {})?);
    /// // SAFETY: `raw` owns the reference `into_raw` gave up, and is a Unit object.
    /// let back: Py<Unit> = unsafe { Py::from_raw(raw) };
    /// assert_eq!(back.refcnt(), 1);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn into_raw(this: Self) -> *mut PyObject {
        ManuallyDrop::new(this).ptr.as_ptr()
    }

    /// Takes ownership of one strong reference to an object of type `T`.
    ///
    /// # Safety
    ///
    /// - `ptr` is non-null and points at a live object whose `ob_type` is
    ///   `T::TYPE` (so it was made by `Py::<T>`, or by `new_object` with
    ///   `T::TYPE` and then had its payload and items written);
    /// - the caller owns one strong reference to it, which passes to the result.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let raw = Py::into_raw(Py::new(Unit {})?);
    /// // SAFETY: `raw` owns the reference `into_raw` gave up, and is a Unit object.
    /// drop(unsafe { Py::<Unit>::from_raw(raw) });
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub unsafe fn from_raw(ptr: *mut PyObject) -> Py<T> {
        Py {
            // SAFETY: the caller promises `ptr` is non-null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _owns: PhantomData,
        }
    }
}

impl<T: PyObjectType<Header = PyVarObject>> Py<T> {
    /// `PyObject_NewVar`: allocates an object of type `T::TYPE` with room for
    /// the items, moves `value` and the items into it, and sets `ob_size`.
    ///
    /// An iterator that knows its length (its `size_hint` is exact, as for
    /// an array, a `Vec`, a range of `usize` or a `map` over one) is read
    /// straight into the object; any other (a `filter`, a range of `u64`) is
    /// collected first.
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if the object's size overflows or exceeds `isize::MAX`,
    /// or the memory could not be had. No item is taken from an iterator
    /// that knows its length; `value` (and items collected) are dropped.
    ///
    /// # Panics
    ///
    /// If the iterator yields fewer or more items than its exact `size_hint`
    /// promised. The items already made and `value` are dropped and the
    /// memory freed.
    ///
    /// For a `gc` type, as [`new`](Self::new): if a `Drop` that the
    /// collection counting the new object may start runs panics. The new
    /// object (`value` and every item) is dropped then, and its memory freed.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyVarObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Long;
    /// let n = Py::new_var(Long { sign: 1 }, [7, 9, 11])?;
    /// assert_eq!(n.items(), &[7, 9, 11]);
    /// let odd = Py::new_var(Long { sign: 1 }, (0..10u32).filter(|d| d % 2 == 1))?;
    /// assert_eq!(odd.items(), &[1, 3, 5, 7, 9]);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn new_var<I>(value: T, items: I) -> Result<Py<T>, MemoryError>
    where
        I: IntoIterator<Item = T::Item>,
    {
        let items = items.into_iter();
        match items.size_hint() {
            (lower, Some(upper)) if lower == upper => Self::new_var_exact(value, items, lower),
            _ => {
                let items: Vec<T::Item> = items.collect();
                let len = items.len();
                Self::new_var_exact(value, items.into_iter(), len)
            }
        }
    }

    /// `new_var` from a slice, cloning each item.
    ///
    /// # Errors
    ///
    /// As [`new_var`](Self::new_var); nothing is cloned then.
    ///
    /// # Panics
    ///
    /// As [`new_var`](Self::new_var).
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Bytes};
    /// let b = Py::new_var_from_slice(Bytes { hash: -1 }, b"hello")?;
    /// assert_eq!(b.items(), b"hello");
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    pub fn new_var_from_slice(value: T, items: &[T::Item]) -> Result<Py<T>, MemoryError>
    where
        T::Item: Clone,
    {
        Self::new_var_exact(value, items.iter().cloned(), items.len())
    }

    /// `new_var` with `len` items, item `i` made by `f(i)`.
    ///
    /// # Errors
    ///
    /// As [`new_var`](Self::new_var); `f` is not called then.
    ///
    /// # Panics
    ///
    /// If `f` panics (the items made so far and `value` are dropped, the
    /// memory freed), or as [`new_var`](Self::new_var).
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Long};
    /// let squares = Py::new_var_with(Long { sign: 1 }, 5, |i| (i * i) as u32)?;
    /// assert_eq!(squares.items(), &[0, 1, 4, 9, 16]);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    pub fn new_var_with(
        value: T,
        len: usize,
        f: impl FnMut(usize) -> T::Item,
    ) -> Result<Py<T>, MemoryError> {
        Self::new_var_exact(value, (0..len).map(f), len)
    }

    /// `new_var` from an iterator that promises `len` items.
    #[inline(always)]
    fn new_var_exact(
        value: T,
        mut items: impl Iterator<Item = T::Item>,
        len: usize,
    ) -> Result<Py<T>, MemoryError> {
        let () = Self::CHECKED;
        let op = if Self::IS_GC {
            gc::object::new_var_object_uncounted(T::TYPE, len)?
        } else {
            new_var_object(T::TYPE, len)?
        }
        .cast::<PyObject>();

        // Until the object is complete, this frees it (and the items written
        // so far) if the iterator lies or panics.
        let mut partial = PartialObject::<T> {
            op,
            written: 0,
            _items: PhantomData,
        };
        let first = items_ptr::<T>(op);
        if core::mem::needs_drop::<T::Item>() {
            while partial.written < len {
                let Some(item) = items.next() else {
                    items_missing(partial.written, len)
                };
                // SAFETY: `written < len`, and the object has room for `len`
                // items from `first`; the slot is uninitialised.
                unsafe { first.add(partial.written).write(item) };
                partial.written += 1;
            }
        } else {
            // Items without drop glue: if the iterator panics, the guard has
            // only the memory to free, so `written` stays 0 and the count
            // lives in a register (the loop can be unrolled).
            for written in 0..len {
                let Some(item) = items.next() else {
                    items_missing(written, len)
                };
                // SAFETY: `written < len`, as above.
                unsafe { first.add(written).write(item) };
            }
        }
        if items.next().is_some() {
            panic!("Py::new_var: the iterator yielded more items than the {len} it promised");
        }
        core::mem::forget(partial);
        // SAFETY: the object's basicsize covers the payload, which is
        // uninitialised and written once here.
        unsafe { payload_ptr::<T>(op).write(value) };
        // SAFETY: the object is complete.
        Ok(unsafe { Py::complete(op) })
    }

    /// The number of items: the magnitude of `Py_SIZE`, whose sign a type may
    /// use for something else (CPython's `int` keeps the number's sign there).
    ///
    /// ```
    /// # use objimpl_core::{Py, PyVarObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Bytes;
    /// assert_eq!(Py::new_var(Bytes { hash: -1 }, *b"spam")?.len(), 4);
    /// assert_eq!(Py::new(Bytes { hash: -1 })?.len(), 0);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    #[allow(clippy::len_without_is_empty)] // `items().is_empty()` says it
    pub fn len(&self) -> usize {
        // SAFETY: `self` keeps the object, of type `T::TYPE`, alive.
        unsafe { var_len::<T>(self.ptr) }
    }

    /// `Py_SIZE`: `ob_size` with its sign, for a type that keeps one there
    /// (CPython's `int` keeps the number's sign, `len()` is its magnitude).
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Long};
    /// let mut n = Py::new_var(Long { sign: 0 }, [5, 1])?;
    /// assert_eq!(n.signed_size(), 2);
    /// n.set_signed_size(-2);
    /// assert_eq!((n.signed_size(), n.len()), (-2, 2));
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn signed_size(&self) -> isize {
        // SAFETY: `self` keeps the object alive; its header is a PyVarObject.
        unsafe { (*self.ptr.as_ptr().cast::<PyVarObject>()).ob_size }
    }

    /// `Py_SET_SIZE`, for the sign only: sets `ob_size` to `size`, whose
    /// magnitude is the number of items, which stay as they are.
    ///
    /// # Panics
    ///
    /// If `size.unsigned_abs() != self.len()`: changing the number of items
    /// is [`resize`](Self::resize)'s job.
    #[inline]
    pub fn set_signed_size(&mut self, size: isize) {
        assert_eq!(
            size.unsigned_abs(),
            self.len(),
            "set_signed_size changes the sign of ob_size only; use resize for the number of items"
        );
        // SAFETY: `self` keeps the object alive; its header is a PyVarObject,
        // and nothing borrows `ob_size` (readers copy it).
        unsafe { (*self.ptr.as_ptr().cast::<PyVarObject>()).ob_size = size };
    }

    /// The items, in order.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyVarObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Bytes;
    /// let b = Py::new_var(Bytes { hash: -1 }, *b"spam")?;
    /// assert_eq!(b.items(), b"spam");
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn items(&self) -> &[T::Item] {
        if self.is_unreadable() {
            collected(T::TYPE);
        }
        // `items_ptr` is aligned for `T::Item`: basicsize is a multiple of its alignment.
        // SAFETY: the object holds `len()` initialised items from there;
        // `&self` keeps them alive and unmutated.
        unsafe { core::slice::from_raw_parts(items_ptr::<T>(self.ptr), self.len()) }
    }

    /// The items, mutably, while this is the only reference. For `basic`
    /// types only, as [`get_mut`](Self::get_mut).
    ///
    /// ```
    /// # use objimpl_core::{Py, PyVarObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Bytes;
    /// let mut b = Py::new_var(Bytes { hash: -1 }, *b"spam")?;
    /// b.items_mut().unwrap()[0] = b'S';
    /// assert_eq!(b.items(), b"Spam");
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn items_mut(&mut self) -> Option<&mut [T::Item]> {
        const {
            assert!(
                !Self::IS_GC,
                "Py::items_mut is not available for gc types: the cycle collector may read \
                 the items at any allocation; make the item type a Cell or RefCell"
            )
        };
        if self.refcnt() != 1 {
            return None;
        }
        // SAFETY: as in `items`, and this is the only reference to the
        // object, kept so by `&mut self` for the borrow's lifetime.
        Some(unsafe { core::slice::from_raw_parts_mut(items_ptr::<T>(self.ptr), self.len()) })
    }

    /// Changes the number of items to `new_len`, as `Vec::resize`: drops
    /// the items past it, or appends clones of `value`. See
    /// [`resize_with`](Self::resize_with).
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if the new size overflows or the memory could not be
    /// had; the object is unchanged.
    ///
    /// # Panics
    ///
    /// If the object is shared.
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Bytes};
    /// let mut b = Py::new_var_from_slice(Bytes { hash: -1 }, b"spam")?;
    /// b.resize(6, b'!')?;
    /// assert_eq!(b.items(), b"spam!!");
    /// b.resize(2, 0)?;
    /// assert_eq!(b.items(), b"sp");
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    pub fn resize(&mut self, new_len: usize, value: T::Item) -> Result<(), MemoryError>
    where
        T::Item: Clone,
    {
        self.resize_with(new_len, || value.clone())
    }

    /// Changes the number of items to `new_len` (CPython's
    /// `_PyBytes_Resize`, `_PyObject_GC_Resize`): drops the items past it,
    /// or appends `f()` for each new one. The memory is reallocated, in
    /// place when the block's size class allows it, so the object may move;
    /// the sign of `ob_size` is kept (0 items have none to keep).
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if the new size overflows or the memory could not be
    /// had; the object is unchanged.
    ///
    /// # Panics
    ///
    /// If the object is shared: other references may be reading the items
    /// it would move (CPython refuses the same). A panic in `f` leaves the
    /// items made so far in the object.
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Long};
    /// let mut n = Py::new_var(Long { sign: 1 }, [1, 2])?;
    /// let mut next = 2;
    /// n.resize_with(5, || { next += 1; next })?;
    /// assert_eq!(n.items(), &[1, 2, 3, 4, 5]);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    pub fn resize_with(
        &mut self,
        new_len: usize,
        f: impl FnMut() -> T::Item,
    ) -> Result<(), MemoryError> {
        assert_eq!(
            self.refcnt(),
            1,
            "Py::resize of a shared object: other references may be reading its items"
        );
        if self.is_unreadable() {
            collected(T::TYPE);
        }
        if !Self::IS_GC {
            return self.resize_untracked(new_len, f);
        }
        // The object may move, and `f` may allocate (and so collect): the
        // collector must not see it until it is whole again.
        // SAFETY: `self` keeps a live `gc` object of this thread.
        unsafe { gc::object::untrack(self.ptr.as_ptr()) };
        let outcome = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            self.resize_untracked(new_len, f)
        }));
        // SAFETY: the object is complete again (its `ob_size` counts the
        // items written), untracked, of this thread.
        unsafe { gc::object::track(self.ptr.as_ptr()) };
        outcome.unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    }

    /// `resize_with` on an object the collector does not see.
    fn resize_untracked(
        &mut self,
        new_len: usize,
        mut f: impl FnMut() -> T::Item,
    ) -> Result<(), MemoryError> {
        let len = self.len();
        let size = crate::var_size(T::TYPE, new_len).ok_or(MemoryError)?;
        if new_len < len {
            // Shorter first, so that a panicking drop cannot drop twice.
            self.set_len_keeping_sign(new_len);
            let tail = ptr::slice_from_raw_parts_mut(
                items_ptr::<T>(self.ptr).wrapping_add(new_len),
                len - new_len,
            );
            // SAFETY: items `new_len..len` were initialised and are no
            // longer counted; nobody else can see them (the object is unique).
            unsafe { ptr::drop_in_place(tail) };
        }
        if new_len != len {
            // The object's memory came from the object family: its type's
            // `tp_free` is `object_free`, or `PyObject_GC_Del` for an
            // untracked `gc` object.
            // SAFETY: so it may be resized there; it is unique, and holds
            // `min(len, new_len)` initialised items, all within `size`.
            let moved = unsafe {
                if Self::IS_GC {
                    gc::object::resize(self.ptr.as_ptr(), size)
                } else {
                    alloc::object_realloc(self.ptr.as_ptr().cast(), size).cast()
                }
            };
            match NonNull::new(moved.cast::<PyObject>()) {
                Some(moved) => {
                    self.ptr = moved;
                    if let Some(list) = PyObjectType::weak_list(&**self) {
                        list.retarget(moved.as_ptr());
                    }
                }
                // A shrink that could not move keeps its larger block.
                None if new_len < len => {}
                None => return Err(MemoryError),
            }
        }
        for i in len..new_len {
            let item = f();
            // SAFETY: the block has room for `new_len` items; slot `i` is
            // uninitialised, and counted right after it is written.
            unsafe { items_ptr::<T>(self.ptr).add(i).write(item) };
            self.set_len_keeping_sign(i + 1);
        }
        Ok(())
    }

    /// Sets the magnitude of `ob_size` to `len`, keeping its sign.
    fn set_len_keeping_sign(&mut self, len: usize) {
        let len = len as isize;
        let size = if self.signed_size() < 0 { -len } else { len };
        // SAFETY: `self` keeps the object alive; its header is a PyVarObject.
        unsafe { (*self.ptr.as_ptr().cast::<PyVarObject>()).ob_size = size };
    }
}

impl<T: PyObjectType> Deref for Py<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        if self.is_unreadable() {
            collected(T::TYPE);
        }
        // The payload is not being dropped by the collector (checked above),
        // and is only mutated through `get_mut`, which needs `&mut self`.
        // SAFETY: `self` keeps the object alive; its payload is initialised.
        unsafe { &*payload_ptr::<T>(self.ptr) }
    }
}

impl<T: PyObjectType> Clone for Py<T> {
    /// `Py_INCREF`: another reference to the same object.
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: `self` keeps the object alive.
        unsafe { incref(self.ptr) };
        Py {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T: PyObjectType> Drop for Py<T> {
    /// `Py_DECREF`: the last reference deallocates the object.
    ///
    /// The type is known here, so the destructor is called directly rather
    /// than through `tp_dealloc`: `T::TYPE` was built by
    /// `TypeObject::new::<T>`, whose `tp_dealloc` is that same function.
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `self` owns one strong reference, given up here.
        if unsafe { release(self.ptr) } {
            // SAFETY: that was the last reference to an object of `T::TYPE`,
            // whose payload (and items) are initialised.
            unsafe { dealloc::<T>(self.ptr.as_ptr()) }
        }
    }
}

/// `Deref` of an object the collector is destroying, or has destroyed.
#[cold]
#[track_caller]
fn collected(tp: &TypeObject) -> ! {
    panic!(
        "dereferenced a '{}' object that the cycle collector found unreachable and has \
         destroyed or is destroying: a Drop of a gc type must not look through handles to \
         objects of its cycle (Py::try_get tells whether it may)",
        tp.name()
    )
}

/// How many items `Debug` of a var object shows before it says how many more.
const DEBUG_ITEMS: usize = 32;

/// The payload's `Debug`; for a var object, then its items (the first 32,
/// and how many more).
///
/// ```
/// # use objimpl_core::{Py, __doc::Long};
/// let n = Py::new_var(Long { sign: 1 }, 0..40u32)?;
/// let text = format!("{n:?}");
/// assert!(text.starts_with("Long { sign: 1 } [0, 1, 2,"));
/// assert!(text.ends_with("31, ... 8 more]"));
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
impl<T: PyObjectType + fmt::Debug> fmt::Debug for Py<T>
where
    T::Item: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(payload) = self.try_get() else {
            return write!(f, "<{} object, collected>", T::TYPE.name());
        };
        fmt::Debug::fmt(payload, f)?;
        if !T::Header::IS_VAR {
            return Ok(());
        }
        // SAFETY: `self` keeps the object alive; its first `len` items are
        // initialised.
        let items = unsafe {
            core::slice::from_raw_parts(items_ptr::<T>(self.ptr), var_len::<T>(self.ptr))
        };
        f.write_str(" ")?;
        let mut list = f.debug_list();
        list.entries(items.iter().take(DEBUG_ITEMS));
        if items.len() > DEBUG_ITEMS {
            list.entry(&format_args!("... {} more", items.len() - DEBUG_ITEMS));
        }
        list.finish()
    }
}

/// An owned strong reference to an object of any type.
///
/// ```
/// use objimpl_core::{Py, PyAny, PyObject, PyObjectType, TypeObject};
///
/// struct Unit;
/// static UNIT_TYPE: TypeObject = TypeObject::new::<Unit>(c"Unit");
/// // SAFETY: TYPE is a static built by `TypeObject::new::<Unit>`, for Unit alone.
/// unsafe impl PyObjectType for Unit {
///     type Header = PyObject;
///     type Item = ();
///     const TYPE: &'static TypeObject = &UNIT_TYPE;
/// }
///
/// let any = PyAny::from(Py::new(Unit {})?);
/// assert_eq!(any.type_object().name(), "Unit");
/// let unit: Py<Unit> = any.downcast().unwrap_or_else(|_| unreachable!());
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
// `transparent`, as `Py<T>` is: a `&Py<T>` is a `&PyAny` of a known type.
#[repr(transparent)]
pub struct PyAny {
    ptr: NonNull<PyObject>,
}

impl PyAny {
    /// The object's type (`Py_TYPE`).
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let any = PyAny::from(Py::new(Unit {})?);
    /// assert!(std::ptr::eq(any.type_object(), Unit::TYPE));
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn type_object(&self) -> &'static TypeObject {
        // SAFETY: `self` keeps the object alive; `ob_type` points at a type
        // object that outlives every object of its type.
        unsafe { &*(*self.ptr.as_ptr()).ob_type }
    }

    /// The reference count (`Py_REFCNT`).
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let any = PyAny::from(Py::new(Unit {})?);
    /// let other = any.clone();
    /// assert_eq!(any.refcnt(), 2);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn refcnt(&self) -> isize {
        // SAFETY: `self` keeps the object alive.
        unsafe { refcnt(self.ptr) }
    }

    /// The object's address, without giving up the reference.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let p = Py::new(Unit {})?;
    /// let addr = p.as_ptr();
    /// assert_eq!(PyAny::from(p).as_ptr(), addr);
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.ptr.as_ptr()
    }

    /// The typed reference, if the object's type is `T::TYPE`; else `self` back.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::{Unit, Other};
    /// let any = PyAny::from(Py::new(Unit {})?);
    /// let any = any.downcast::<Other>().unwrap_err(); // wrong type: handed back
    /// assert!(any.downcast::<Unit>().is_ok());
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn downcast<T: PyObjectType>(self) -> Result<Py<T>, PyAny> {
        if ptr::eq(self.type_object(), T::TYPE) {
            // SAFETY: the object's type is `T::TYPE`, and we hand over
            // `self`'s reference without decrementing it.
            Ok(unsafe { Py::from_raw(PyAny::into_raw(self)) })
        } else {
            Err(self)
        }
    }

    /// Whether the object is of type `T` (its `ob_type` is `T::TYPE`).
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, __doc::{Unit, Other}};
    /// let any = PyAny::from(Py::new(Unit {})?);
    /// assert!(any.is_instance::<Unit>() && !any.is_instance::<Other>());
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn is_instance<T: PyObjectType>(&self) -> bool {
        ptr::eq(self.type_object(), T::TYPE)
    }

    /// The object as a `Py<T>`, borrowed, if it is of type `T`; `self` is
    /// kept either way.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, __doc::{Counter, Unit}};
    /// let any = PyAny::from(Py::new(Counter { n: 5 })?);
    /// assert_eq!(any.downcast_ref::<Counter>().map(|c| c.n), Some(5));
    /// assert!(any.downcast_ref::<Unit>().is_none());
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn downcast_ref<T: PyObjectType>(&self) -> Option<&Py<T>> {
        self.is_instance::<T>()
            // SAFETY: both are `repr(transparent)` over the same pointer, and
            // the object's type is `T::TYPE`, which is what a `Py<T>` requires.
            .then(|| unsafe { &*ptr::from_ref(self).cast::<Py<T>>() })
    }

    /// Gives up ownership without decrementing (see [`from_raw`](Self::from_raw)).
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let raw = PyAny::into_raw(PyAny::from(Py::new(Unit {})?));
    /// // SAFETY: `raw` owns the reference `into_raw` gave up.
    /// drop(unsafe { PyAny::from_raw(raw) });
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub fn into_raw(this: Self) -> *mut PyObject {
        ManuallyDrop::new(this).ptr.as_ptr()
    }

    /// Takes ownership of one strong reference to an object.
    ///
    /// # Safety
    ///
    /// - `ptr` is non-null and points at a live, initialised object whose
    ///   `ob_type` is a type object that outlives it, with a `tp_dealloc`
    ///   that frees it;
    /// - the caller owns one strong reference to it, which passes to the result.
    ///
    /// ```
    /// # use objimpl_core::{Py, PyAny, PyObject, PyObjectType, TypeObject};
    /// # use objimpl_core::__doc::Unit;
    /// let raw = Py::into_raw(Py::new(Unit {})?);
    /// // SAFETY: `raw` owns the reference `into_raw` gave up.
    /// let any = unsafe { PyAny::from_raw(raw) };
    /// assert_eq!(any.type_object().name(), "Unit");
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    #[inline]
    pub unsafe fn from_raw(ptr: *mut PyObject) -> PyAny {
        PyAny {
            // SAFETY: the caller promises `ptr` is non-null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
        }
    }
}

impl<T: PyObjectType> From<Py<T>> for PyAny {
    #[inline]
    fn from(obj: Py<T>) -> PyAny {
        // The reference passes from `obj` to the `PyAny` without a count change.
        PyAny {
            ptr: ManuallyDrop::new(obj).ptr,
        }
    }
}

impl Clone for PyAny {
    /// `Py_INCREF`.
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: `self` keeps the object alive.
        unsafe { incref(self.ptr) };
        PyAny { ptr: self.ptr }
    }
}

impl Drop for PyAny {
    /// `Py_DECREF`.
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `self` owns one strong reference, given up here.
        unsafe { decref(self.ptr) }
    }
}

/// Identity, as CPython's `is` and its default `__eq__`: two `PyAny` are
/// equal when they are the same object.
///
/// ```
/// # use objimpl_core::{Py, PyAny, __doc::Unit};
/// let a = PyAny::from(Py::new(Unit {})?);
/// let b = PyAny::from(Py::new(Unit {})?);
/// assert!(a == a.clone() && a != b);
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
impl PartialEq for PyAny {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for PyAny {}

/// By identity, as CPython's default `__hash__` (the address), so a
/// `HashSet<PyAny>` is a set of distinct objects.
///
/// ```
/// # use objimpl_core::{Py, PyAny, __doc::Unit};
/// use std::collections::HashSet;
/// let a = Py::new(Unit {})?;
/// let set: HashSet<PyAny> = [PyAny::from(a.clone()), PyAny::from(a.clone())].into();
/// assert_eq!(set.len(), 1);
/// assert!(set.contains(a.as_any()));
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
impl core::hash::Hash for PyAny {
    #[inline]
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.ptr.hash(state);
    }
}

impl fmt::Debug for PyAny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{} object at {:p}>",
            self.type_object().name(),
            self.ptr
        )
    }
}

/// # Safety
///
/// - `op` is a live object.
#[inline]
unsafe fn refcnt(op: NonNull<PyObject>) -> isize {
    // SAFETY: the caller promises `op` is live.
    unsafe { (*op.as_ptr()).ob_refcnt }
}

/// `Py_INCREF`. Aborts, as `Rc` does, rather than let the count overflow.
///
/// # Safety
///
/// - `op` is a live object, and this thread holds a reference to it.
#[inline]
pub(crate) unsafe fn incref(op: NonNull<PyObject>) {
    // SAFETY: the caller promises `op` is live; the count is only touched by
    // the thread that holds the references (`Py` and `PyAny` are `!Send`).
    let count = unsafe { &mut (*op.as_ptr()).ob_refcnt };
    if *count == isize::MAX {
        std::process::abort();
    }
    *count += 1;
}

/// Gives up one reference; true if it was the last, and the object must go.
///
/// # Safety
///
/// - `op` is a live object and the caller gives up one strong reference to it.
#[inline]
unsafe fn release(op: NonNull<PyObject>) -> bool {
    // SAFETY: the caller promises `op` is live; see `incref` for why the
    // count may be written here.
    let count = unsafe { &mut (*op.as_ptr()).ob_refcnt };
    *count -= 1;
    *count == 0
}

/// `Py_DECREF`: at zero, `tp_dealloc`.
///
/// # Safety
///
/// - `op` is a live object and the caller gives up one strong reference to it.
#[inline]
pub(crate) unsafe fn decref(op: NonNull<PyObject>) {
    // SAFETY: the caller gives up one reference to the live `op`.
    if unsafe { release(op) } {
        // SAFETY: that was the last reference.
        unsafe { dealloc_by_type(op) }
    }
}

/// `_Py_Dealloc`: destroys `op` by its type's `tp_dealloc` (a type without
/// one has nothing to do).
///
/// # Safety
///
/// - `op` is a live object that nobody holds a reference to any more.
#[inline]
pub(crate) unsafe fn dealloc_by_type(op: NonNull<PyObject>) {
    // SAFETY: the caller promises a live object; `ob_type` outlives it.
    let tp = unsafe { &*(*op.as_ptr()).ob_type };
    if let Some(dealloc) = tp.dealloc() {
        // SAFETY: nobody holds a reference any more, so the type's
        // destructor may drop and free the object.
        unsafe { dealloc(op.as_ptr()) }
    }
}

/// Address of the payload of object `op`.
#[inline]
pub(crate) fn payload_ptr<T: PyObjectType>(op: NonNull<PyObject>) -> *mut T {
    op.as_ptr()
        .cast::<u8>()
        .wrapping_add(layout::payload_offset::<T>())
        .cast()
}

/// Address of the first item of object `op`.
#[inline]
pub(crate) fn items_ptr<T: PyObjectType>(op: NonNull<PyObject>) -> *mut T::Item {
    op.as_ptr()
        .cast::<u8>()
        .wrapping_add(layout::basicsize::<T>())
        .cast()
}

/// Frees a var object under construction: its first `written` items are
/// dropped; the payload has not been written.
struct PartialObject<T: PyObjectType> {
    op: NonNull<PyObject>,
    written: usize,
    _items: PhantomData<T::Item>,
}

impl<T: PyObjectType> Drop for PartialObject<T> {
    fn drop(&mut self) {
        let items = ptr::slice_from_raw_parts_mut(items_ptr::<T>(self.op), self.written);
        // SAFETY: exactly the first `written` items were initialised, and
        // nobody else can see the object yet.
        unsafe { ptr::drop_in_place(items) };
        // SAFETY: the object came from `new_var_object`, or (for a `gc`
        // type) its uncounted twin, untracked; it is freed once, here.
        unsafe {
            if Py::<T>::IS_GC {
                gc::object::free_uncounted(self.op.as_ptr());
            } else {
                alloc::object_free(self.op.as_ptr().cast());
            }
        }
    }
}

/// `new_var`'s iterator ran dry before the `len` items it promised.
#[cold]
#[inline(never)]
#[track_caller]
fn items_missing(written: usize, len: usize) -> ! {
    panic!("Py::new_var: the iterator yielded {written} items but promised {len}");
}

/// `tp_dealloc` of every type built by [`TypeObject::new::<T>`]: drops the
/// payload and the items, then returns the memory through `tp_free`. The
/// memory is freed and every item dropped even if a `Drop` panics.
///
/// # Safety
///
/// - `op` is an object of type `T::TYPE` whose payload and items are
///   initialised, and nobody holds a reference to it any more.
pub(crate) unsafe extern "C-unwind" fn dealloc<T: PyObjectType>(op: *mut PyObject) {
    if Py::<T>::IS_GC {
        // The collector must not see the object while it is torn down.
        // SAFETY: the caller promises a live object of the `gc` type `T::TYPE`.
        let was_tracked = unsafe { gc::object::untrack(op) };
        // SAFETY: an untracked `gc` object with no references, which
        // `tp_dealloc` (this function) can destroy later.
        let Some(_trash) = (unsafe { gc::object::trash_begin(op) }) else {
            return; // put aside: the stack is deep already
        };
        // A tracked object was never finalized: only untracked ones can be.
        // SAFETY: as above.
        if !was_tracked && unsafe { gc::object::is_finalized(op) } {
            // The collector dropped the payload (and the items) already.
            // SAFETY: as the caller promises, minus the payload.
            unsafe { destroy_rest::<T>(op) };
            return;
        }
        // SAFETY: as the caller promises.
        unsafe { drop_payload_and_rest::<T>(op) };
    } else {
        // SAFETY: as the caller promises.
        unsafe { drop_payload_and_rest::<T>(op) };
    }
}

/// Drops the payload, then (also on unwind) the items and the memory.
///
/// # Safety
///
/// - as [`dealloc`], and `op` is untracked if `gc`.
#[inline(always)]
unsafe fn drop_payload_and_rest<T: PyObjectType>(op: *mut PyObject) {
    struct RestOnDrop<T: PyObjectType>(*mut PyObject, PhantomData<T>);
    impl<T: PyObjectType> Drop for RestOnDrop<T> {
        fn drop(&mut self) {
            // SAFETY: the payload is gone (dropped, or its drop unwinding);
            // the rest of the object is as `dealloc`'s caller promised.
            unsafe { destroy_rest::<T>(self.0) }
        }
    }
    let _rest = RestOnDrop::<T>(op, PhantomData);
    // SAFETY: the caller promises `op` is a (non-null) object.
    let op = unsafe { NonNull::new_unchecked(op) };
    // SAFETY: the payload is initialised and dropped once, here.
    unsafe { ptr::drop_in_place(payload_ptr::<T>(op)) };
}

/// Destroys what an object holds besides its payload: drops a var object's
/// items, then returns the memory through `tp_free`, which happens even if
/// an item's `Drop` panics.
///
/// # Safety
///
/// - `op` is an object of type `T::TYPE` whose items are initialised and
///   whose payload was dropped or moved out, and nobody holds a reference
///   to it any more.
unsafe fn destroy_rest<T: PyObjectType>(op: *mut PyObject) {
    // A fixed-size object holds nothing more: its memory may go to the
    // type's freelist rather than back to the pool.
    if !T::Header::IS_VAR
        && let Some(freelist) = T::freelist()
        // SAFETY: the caller promises an object of `T::TYPE`, with nothing
        // left in it and nobody referring to it (and untracked, if `gc`).
        && freelist.try_with(|list| unsafe { list.push(op) }) == Ok(true)
    {
        if Py::<T>::IS_GC {
            gc::object::forget();
        }
        return;
    }
    struct FreeOnDrop<T: PyObjectType>(*mut PyObject, PhantomData<T>);
    impl<T: PyObjectType> Drop for FreeOnDrop<T> {
        #[inline]
        fn drop(&mut self) {
            // The `tp_free` that `TypeObject::new` or `new_gc` gave `T::TYPE`
            // is called directly.
            // SAFETY: everything the object owned has been dropped; its memory goes back once.
            unsafe {
                if Py::<T>::IS_GC {
                    gc::object::free(self.0.cast());
                } else {
                    alloc::object_free(self.0.cast());
                }
            }
        }
    }
    let _free = FreeOnDrop::<T>(op, PhantomData);
    // SAFETY: the caller promises `op` is a (non-null) object.
    let op = unsafe { NonNull::new_unchecked(op) };
    // SAFETY: the object is live until `_free` drops.
    let len = unsafe { var_len::<T>(op) };
    let items = ptr::slice_from_raw_parts_mut(items_ptr::<T>(op), len);
    // SAFETY: the items are initialised and dropped once, here.
    unsafe { ptr::drop_in_place(items) };
}

/// How many items object `op` holds: the magnitude of `ob_size` for a var
/// type (which may keep a sign there, as `int` does), 0 for a fixed one.
///
/// # Safety
///
/// - `op` is a live object of type `T::TYPE`.
#[inline]
pub(crate) unsafe fn var_len<T: PyObjectType>(op: NonNull<PyObject>) -> usize {
    if !T::Header::IS_VAR {
        return 0;
    }
    // SAFETY: the object is live, and a var object's header is a PyVarObject.
    unsafe { (*op.as_ptr().cast::<PyVarObject>()).ob_size }.unsigned_abs()
}
