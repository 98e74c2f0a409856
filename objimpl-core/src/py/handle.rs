//! `Py<T>`: an owned strong reference to an object holding a `T`.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::{self, NonNull};

use super::dealloc::{dealloc, destroy_rest};
use super::kind;
use super::layout::{self, items_ptr, payload_ptr, var_len};
use super::{BasicObject, PyObjectType};
use crate::object::{ObjectHeader, PyObject, TypeObject, incref, refcnt, release};
use crate::{MemoryError, init};

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
/// use objimpl::{Py, PyObject, PyObjectType, TypeObject};
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
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
#[repr(transparent)]
pub struct Py<T: PyObjectType> {
    pub(super) ptr: NonNull<PyObject>,
    /// Owns a `T` (for drop check); the raw pointer keeps `Py` `!Send + !Sync`.
    pub(super) _owns: PhantomData<T>,
}

impl<T: PyObjectType> Py<T> {
    /// Forces `T::TYPE` to be checked against `T`'s layout at compile time.
    pub(super) const CHECKED: () = layout::check_type_object::<T>();

    /// `PyObject_New`: allocates an object of type `T::TYPE` and moves
    /// `value` into it, with a reference count of 1. A var-size object gets
    /// no items.
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if the memory could not be had; `value` is dropped.
    ///
    /// For a `gc` type, counting the new object may start a collection (see
    /// [`gc`](crate::gc)); a `Drop` that panics there goes to the
    /// unraisable hook ([`gc::set_unraisable_hook`](crate::gc::set_unraisable_hook)),
    /// not out of here.
    ///
    /// ```
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Point { pub x: f64, pub y: f64 }
    ///
    /// let p = Py::new(Point { x: 1.0, y: 2.0 })?;
    /// assert_eq!(p.refcnt(), 1);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline(always)]
    pub fn new(value: T) -> Result<Py<T>, MemoryError> {
        let () = Self::CHECKED;
        let op = if let Some(op) = Self::reuse() {
            op
        } else {
            kind::alloc::<T>(0)?
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
    /// collection: should the collection unwind (it does not: a `Drop`'s
    /// panic goes to the unraisable hook), the handle destroys the new
    /// object.
    ///
    /// # Safety
    ///
    /// - `op` is a fresh, complete object of `T::TYPE`, with one reference,
    ///   which passes to the result.
    #[inline]
    pub(super) unsafe fn complete(op: NonNull<PyObject>) -> Py<T> {
        let this = Py {
            ptr: op,
            _owns: PhantomData,
        };
        // SAFETY: a complete, untracked object of this thread, made by
        // `kind::alloc` (or from the freelist), owned by `this`.
        unsafe { kind::track_new::<T>(op) };
        this
    }

    /// The payload, unless the cycle collector has dropped it or is
    /// destroying the object (then `None`; `Deref` would panic). Always
    /// `Some` for a `basic` type, and for every object outside a
    /// collection: only a `Drop` the collector runs, or a handle such a
    /// `Drop` kept, can see `None`.
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
    /// assert_eq!(node.try_get().map(|n| n.name), Some("n"));
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn try_get(&self) -> Option<&T> {
        if self.is_unreadable() {
            return None;
        }
        // SAFETY: as in `Deref`: the payload is initialised and readable.
        Some(unsafe { &*payload_ptr::<T>(self.ptr) })
    }

    /// The items of any object: none for a fixed-size one.
    #[inline]
    pub(super) fn all_items(&self) -> &[T::Item] {
        if !T::Header::IS_VAR {
            return &[];
        }
        if self.is_unreadable() {
            collected(T::TYPE);
        }
        // `items_ptr` is aligned for `T::Item`: basicsize is a multiple of its alignment.
        // SAFETY: `self` keeps the object alive; its first `len` items are
        // initialised and, while `&self` lasts, not mutated.
        unsafe { core::slice::from_raw_parts(items_ptr::<T>(self.ptr), var_len::<T>(self.ptr)) }
    }

    /// Whether the collector has made the payload unreadable.
    #[inline]
    pub(super) fn is_unreadable(&self) -> bool {
        // SAFETY: `self` keeps a live object of `T::TYPE`.
        unsafe { kind::is_unreadable::<T>(self.ptr) }
    }

    /// The reference count (`Py_REFCNT`).
    ///
    /// ```
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let a = Py::new(Unit {})?;
    /// let b = a.clone();
    /// assert_eq!(a.refcnt(), 2);
    /// drop(b);
    /// assert_eq!(a.refcnt(), 1);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn refcnt(&self) -> isize {
        // SAFETY: `self` keeps the object alive.
        unsafe { refcnt(self.ptr) }
    }

    /// The type object (`Py_TYPE`): always `T::TYPE`.
    ///
    /// ```
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let a = Py::new(Unit {})?;
    /// assert!(std::ptr::eq(a.type_object(), Unit::TYPE));
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn type_object(&self) -> &'static TypeObject {
        T::TYPE
    }

    /// The object's address, without giving up the reference.
    ///
    /// ```
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let a = Py::new(Unit {})?;
    /// assert_eq!(a.as_ptr() as usize % 16, 0);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.ptr.as_ptr()
    }

    /// The value, mutably, while this is the only reference, strong or
    /// weak (as `Rc::get_mut`: `None` while weak references exist).
    ///
    /// For `basic` types only: a `gc` type refuses to compile a call, since
    /// the cycle collector may read the payload at any allocation (mutate a
    /// `gc` object through `Cell` or `RefCell` fields).
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Counter { pub n: u32 }
    ///
    /// let mut c = Py::new(Counter { n: 0 })?;
    /// c.get_mut().unwrap().n += 1;
    /// let shared = c.clone();
    /// assert!(c.get_mut().is_none());
    /// assert_eq!(shared.n, 1);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T>
    where
        T: BasicObject,
    {
        const {
            assert!(
                !kind::is_gc::<T>(),
                "Py::get_mut is not available for gc types: the cycle collector may read \
                 the payload at any allocation; mutate a gc object through Cell or RefCell fields"
            )
        };
        if !self.is_unique() {
            return None;
        }
        // SAFETY: this is the only reference to the object, and `&mut self`
        // keeps it so for the borrow's lifetime; the payload is initialised.
        Some(unsafe { &mut *payload_ptr::<T>(self.ptr) })
    }

    /// Whether this is the only reference, strong or weak, as
    /// `Rc::get_mut` asks: the weak list then shares its cell with nobody,
    /// and may move (see `WeakList`'s `Send`).
    #[inline]
    pub(super) fn is_unique(&self) -> bool {
        self.refcnt() == 1
            && PyObjectType::weak_list(&**self).is_none_or(|list| list.weak_count() == 0)
    }

    /// Whether `this` and `other` are the same object (CPython's `is`),
    /// as `Rc::ptr_eq`.
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let a = Py::new(Unit {})?;
    /// let b = Py::new(Unit {})?;
    /// assert!(Py::ptr_eq(&a, &a.clone()) && !Py::ptr_eq(&a, &b));
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.ptr == other.ptr
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
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Counter { pub n: u32 }
    ///
    /// let c = Py::new(Counter { n: 7 })?;
    /// let shared = c.clone();
    /// let c = Py::try_unwrap(c).unwrap_err(); // shared: handed back
    /// drop(shared);
    /// assert_eq!(Py::try_unwrap(c).ok().map(|c| c.n), Some(7));
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    pub fn try_unwrap(this: Self) -> Result<T, Self> {
        if this.refcnt() != 1 || this.is_unreadable() {
            return Err(this);
        }
        // SAFETY: a live object of this thread; the collector must not read
        // the payload once it is moved out.
        unsafe { kind::untrack::<T>(this.ptr) };
        // Weak references see the object gone, as they would at its end.
        // SAFETY: a live object of `T::TYPE`, its payload initialised.
        unsafe { super::dealloc::clear_weak_refs::<T>(this.ptr) };
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
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Counter { pub n: u32 }
    ///
    /// assert_eq!(Py::into_inner(Py::new(Counter { n: 3 })?).map(|c| c.n), Some(3));
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    pub fn into_inner(this: Self) -> Option<T> {
        Py::try_unwrap(this).ok()
    }

    /// Gives up ownership without decrementing: the caller now owns the
    /// reference (see [`from_raw`](Self::from_raw)).
    ///
    /// ```
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let raw = Py::into_raw(Py::new(Unit {})?);
    /// // SAFETY: `raw` owns the reference `into_raw` gave up, and is a Unit object.
    /// let back: Py<Unit> = unsafe { Py::from_raw(raw) };
    /// assert_eq!(back.refcnt(), 1);
    /// # Ok::<(), objimpl::MemoryError>(())
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
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let raw = Py::into_raw(Py::new(Unit {})?);
    /// // SAFETY: `raw` owns the reference `into_raw` gave up, and is a Unit object.
    /// drop(unsafe { Py::<Unit>::from_raw(raw) });
    /// # Ok::<(), objimpl::MemoryError>(())
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

impl<T: PyObjectType> Deref for Py<T> {
    type Target = T;

    #[inline]
    #[track_caller]
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
pub(super) fn collected(tp: &TypeObject) -> ! {
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
/// use objimpl::prelude::*;
///
/// /// CPython's `int`: 30-bit digits are the items.
/// #[pyobject(basic, item = u32, name = "int")]
/// #[derive(Debug)]
/// pub struct Long { pub sign: i8 }
///
/// let n = Py::new_var(Long { sign: 1 }, 0..40u32)?;
/// let text = format!("{n:?}");
/// assert!(text.starts_with("Long { sign: 1 } [0, 1, 2,"));
/// assert!(text.ends_with("31, ... 8 more]"));
/// # Ok::<(), objimpl::MemoryError>(())
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
        let items = self.all_items();
        f.write_str(" ")?;
        let mut list = f.debug_list();
        list.entries(items.iter().take(DEBUG_ITEMS));
        if items.len() > DEBUG_ITEMS {
            list.entry(&format_args!("... {} more", items.len() - DEBUG_ITEMS));
        }
        list.finish()
    }
}
