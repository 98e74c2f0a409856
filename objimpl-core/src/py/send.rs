//! Handing an object to another thread: [`SendPy`].
//!
//! A [`Py<T>`] is bound to its thread: its reference count is a plain
//! integer (as in CPython's default build), so two threads must never hold
//! references to one object. A *unique* reference can move, though: nobody
//! else can touch the count, and the memory goes back to the pool from
//! whichever thread drops it last (the pool takes frees from any thread).

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use super::kind;
use super::{Py, PyObjectType};
use crate::object::PyObject;

/// A uniquely owned object on its way to another thread: `Send` when the
/// payload and the items are. Made by [`Py::into_sendable`]; turned back
/// into a [`Py`] on the other side by [`into_py`](SendPy::into_py), or
/// dropped there (which destroys the object).
///
/// ```
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Counter { pub n: u32 }
///
///
/// let c = Py::new(Counter { n: 41 })?;
/// let parcel = Py::into_sendable(c).unwrap_or_else(|_| unreachable!());
/// let n = std::thread::spawn(move || {
///     let mut c = parcel.into_py();
///     c.get_mut().unwrap().n += 1;
///     c.n
/// })
/// .join()
/// .unwrap();
/// assert_eq!(n, 42);
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
pub struct SendPy<T: PyObjectType> {
    ptr: NonNull<PyObject>,
    _owns: PhantomData<T>,
}

// SAFETY: a `SendPy` is the only reference to its object, strong or weak,
// and its weak list keeps no cell (both checked by
// `into_sendable`), so moving it moves the whole object, count included,
// which is sound when the payload and the items are `Send`.
unsafe impl<T: PyObjectType + Send> Send for SendPy<T> where T::Item: Send {}

impl<T: PyObjectType> Py<T> {
    /// Wraps the object for another thread, if `this` is its only
    /// reference; otherwise gives `this` back.
    ///
    /// # Errors
    ///
    /// `this`, if other references, strong or weak, exist: they are bound
    /// to this thread. A weak-referenceable object with no weak reference
    /// left can be sent.
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let u = Py::new(Unit {})?;
    /// let other = u.clone();
    /// let u = Py::into_sendable(u).err().unwrap(); // shared: not sendable
    /// drop(other);
    /// assert!(Py::into_sendable(u).is_ok());
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    pub fn into_sendable(this: Self) -> Result<SendPy<T>, Py<T>> {
        // A husk (its payload dropped by the collector) has nothing to send.
        if this.try_get().is_none() || !this.is_unique() {
            return Err(this);
        }
        // Its weak list keeps no cell: nothing of this thread goes along.
        if let Some(list) = PyObjectType::weak_list(&*this) {
            list.clear(T::TYPE.name());
        }
        // It leaves this thread's collector, count included (the
        // receiver's takes it).
        // SAFETY: a live object of this thread; `this` is its only reference.
        unsafe { kind::leave_thread::<T>(this.ptr) };
        Ok(SendPy {
            ptr: NonNull::new(Py::into_raw(this)).unwrap_or_else(|| unreachable!()),
            _owns: PhantomData,
        })
    }
}

impl<T: PyObjectType> SendPy<T> {
    /// The object, as a reference of the receiving thread.
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// let parcel = Py::into_sendable(Py::new(Unit {})?).ok().unwrap();
    /// assert_eq!(parcel.into_py().refcnt(), 1);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    pub fn into_py(self) -> Py<T> {
        let this = ManuallyDrop::new(self);
        // SAFETY: a complete object, taken from its thread's collector by
        // `into_sendable`, that now belongs to this thread.
        unsafe { kind::join_thread::<T>(this.ptr) };
        // SAFETY: `this` owns the only reference to an object of `T::TYPE`,
        // which passes to the result.
        unsafe { Py::from_raw(this.ptr.as_ptr()) }
    }
}

impl<T: PyObjectType> Drop for SendPy<T> {
    /// Destroys the object, on whichever thread it arrived at.
    fn drop(&mut self) {
        // It joins this thread's collector first, as in `into_py`, so that
        // its free is counted where it was counted in.
        // SAFETY: as in `into_py`.
        unsafe { kind::join_thread::<T>(self.ptr) };
        // SAFETY: as in `into_py`; the `Py` drops it at once.
        drop(unsafe { Py::<T>::from_raw(self.ptr.as_ptr()) });
    }
}

impl<T: PyObjectType> core::fmt::Debug for SendPy<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SendPy<{}>({:p})", T::TYPE.name(), self.ptr)
    }
}
