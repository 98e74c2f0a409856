//! `PyAny`: an owned strong reference to an object of any type.

use core::fmt;
use core::mem::ManuallyDrop;
use core::ptr::{self, NonNull};

use super::{Py, PyObjectType};
use crate::object::{PyObject, TypeObject, decref, incref, refcnt};

/// An owned strong reference to an object of any type.
///
/// ```
/// use objimpl::{Py, PyAny, PyObject, PyObjectType, TypeObject};
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
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
// `transparent`, as `Py<T>` is: a `&Py<T>` is a `&PyAny` of a known type.
#[repr(transparent)]
pub struct PyAny {
    pub(super) ptr: NonNull<PyObject>,
}

impl PyAny {
    /// The object's type (`Py_TYPE`).
    ///
    /// ```
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let any = PyAny::from(Py::new(Unit {})?);
    /// assert!(std::ptr::eq(any.type_object(), Unit::TYPE));
    /// # Ok::<(), objimpl::MemoryError>(())
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
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let any = PyAny::from(Py::new(Unit {})?);
    /// let other = any.clone();
    /// assert_eq!(any.refcnt(), 2);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn refcnt(&self) -> isize {
        // SAFETY: `self` keeps the object alive.
        unsafe { refcnt(self.ptr) }
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
    /// let p = Py::new(Unit {})?;
    /// let addr = p.as_ptr();
    /// assert_eq!(PyAny::from(p).as_ptr(), addr);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.ptr.as_ptr()
    }

    /// The typed reference, if the object's type is `T::TYPE`; else `self` back.
    ///
    /// ```
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Other {}
    ///
    /// let any = PyAny::from(Py::new(Unit {})?);
    /// let any = any.downcast::<Other>().unwrap_err(); // wrong type: handed back
    /// assert!(any.downcast::<Unit>().is_ok());
    /// # Ok::<(), objimpl::MemoryError>(())
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
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Other {}
    ///
    /// let any = PyAny::from(Py::new(Unit {})?);
    /// assert!(any.is_instance::<Unit>() && !any.is_instance::<Other>());
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn is_instance<T: PyObjectType>(&self) -> bool {
        ptr::eq(self.type_object(), T::TYPE)
    }

    /// The object as a `Py<T>`, borrowed, if it is of type `T`; `self` is
    /// kept either way.
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Counter { pub n: u32 }
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let any = PyAny::from(Py::new(Counter { n: 5 })?);
    /// assert_eq!(any.downcast_ref::<Counter>().map(|c| c.n), Some(5));
    /// assert!(any.downcast_ref::<Unit>().is_none());
    /// # Ok::<(), objimpl::MemoryError>(())
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
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let raw = PyAny::into_raw(PyAny::from(Py::new(Unit {})?));
    /// // SAFETY: `raw` owns the reference `into_raw` gave up.
    /// drop(unsafe { PyAny::from_raw(raw) });
    /// # Ok::<(), objimpl::MemoryError>(())
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
    /// # use objimpl::PyObject;
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let raw = Py::into_raw(Py::new(Unit {})?);
    /// // SAFETY: `raw` owns the reference `into_raw` gave up.
    /// let any = unsafe { PyAny::from_raw(raw) };
    /// assert_eq!(any.type_object().name(), "Unit");
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub unsafe fn from_raw(ptr: *mut PyObject) -> PyAny {
        PyAny {
            // SAFETY: the caller promises `ptr` is non-null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
        }
    }
}

impl<T: PyObjectType> Py<T> {
    /// This reference as an untyped one, borrowed: for a `HashSet<PyAny>`
    /// lookup, or code that takes objects of any type.
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let a = Py::new(Unit {})?;
    /// let any: &PyAny = a.as_any();
    /// assert_eq!(any.type_object().name(), "Unit");
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn as_any(&self) -> &PyAny {
        // SAFETY: both are `repr(transparent)` over the same pointer, and a
        // `PyAny` asks nothing of the object's type.
        unsafe { &*ptr::from_ref(self).cast::<PyAny>() }
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
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// let a = PyAny::from(Py::new(Unit {})?);
/// let b = PyAny::from(Py::new(Unit {})?);
/// assert!(a == a.clone() && a != b);
/// # Ok::<(), objimpl::MemoryError>(())
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
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// use std::collections::HashSet;
/// let a = Py::new(Unit {})?;
/// let set: HashSet<PyAny> = [PyAny::from(a.clone()), PyAny::from(a.clone())].into();
/// assert_eq!(set.len(), 1);
/// assert!(set.contains(a.as_any()));
/// # Ok::<(), objimpl::MemoryError>(())
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
