//! Weak references (CPython's `weakref`): [`WeakPy`], made by
//! [`Py::downgrade`] for types whose payload holds a [`WeakList`](crate::WeakList).
//!
//! objimpl does as CPython does, not as `Rc`: a type opts in with a field
//! (CPython's `tp_weaklistoffset` slot), and when the last strong reference
//! goes, the object is destroyed and its memory freed at once; the weak
//! references are cleared and see `None` from then on. They share one small
//! cell per object, made at the first `downgrade`. `Rc`'s way would keep the
//! whole object's memory until the last weak reference went, and put a weak
//! count in every object, weak-referenced or not.

use core::marker::PhantomData;
use core::ptr::NonNull;
use std::rc::Rc;

use super::kind;
use super::weak_list::Target;
use super::{Py, PyObjectType};
use crate::object::incref;

/// Marks a type whose payload holds its [`WeakList`](crate::WeakList), as
/// `#[pyobject(weaklist)]` on a field does: [`Py::downgrade`] needs it.
///
/// # Safety
///
/// - [`PyObjectType::weak_list`] returns `Some` of a field of the payload
///   itself, for every value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` objects cannot be weakly referenced",
    label = "`{Self}` has no `WeakList`",
    note = "give `{Self}` a field `weak: objimpl::WeakList` marked `#[pyobject(weaklist)]`, as a CPython type sets `tp_weaklistoffset`"
)]
pub unsafe trait WeakRefable: PyObjectType {}

/// A weak reference to an object (CPython's `weakref.ref`): does not keep
/// it alive; [`upgrade`](WeakPy::upgrade) gives a strong reference while it
/// is. Bound to its thread, as [`Py`] is.
pub struct WeakPy<T: WeakRefable> {
    target: Rc<Target>,
    _object: PhantomData<Py<T>>,
}

impl<T: WeakRefable> Py<T> {
    /// A weak reference to the object (`weakref.ref(obj)`).
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Node};
    /// let node = Py::new(Node::default())?;
    /// let weak = Py::downgrade(&node);
    /// assert!(weak.upgrade().is_some_and(|n| Py::ptr_eq(&n, &node)));
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    pub fn downgrade(this: &Self) -> WeakPy<T> {
        let list = PyObjectType::weak_list(&**this)
            .unwrap_or_else(|| unreachable!("WeakRefable promises a weak list"));
        WeakPy {
            target: list.target(this.as_ptr()),
            _object: PhantomData,
        }
    }
}

impl<T: WeakRefable> WeakPy<T> {
    /// A strong reference, if the object is still alive (calling a
    /// `weakref.ref`).
    ///
    /// ```
    /// # use objimpl_core::{Py, __doc::Node};
    /// let node = Py::new(Node::default())?;
    /// let weak = Py::downgrade(&node);
    /// drop(node);
    /// assert!(weak.upgrade().is_none());
    /// # Ok::<(), objimpl_core::MemoryError>(())
    /// ```
    pub fn upgrade(&self) -> Option<Py<T>> {
        let object = NonNull::new(self.target.object.get())?;
        // SAFETY: as below, `object` is live; a `gc` one has a header.
        if unsafe { kind::is_unreadable::<T>(object) } {
            // Garbage being destroyed: not to be brought back.
            return None;
        }
        // The weak list clears its target before the memory goes, and
        // retargets it when the object moves.
        // SAFETY: so a non-null target is a live object of `T::TYPE`; while
        // its count is 0 it is being destroyed and must not come back.
        unsafe {
            if (*object.as_ptr()).ob_refcnt == 0 {
                return None;
            }
            incref(object);
            Some(Py::from_raw(object.as_ptr()))
        }
    }
}

impl<T: WeakRefable> Clone for WeakPy<T> {
    fn clone(&self) -> Self {
        WeakPy {
            target: self.target.clone(),
            _object: PhantomData,
        }
    }
}

impl<T: WeakRefable> core::fmt::Debug for WeakPy<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let object = self.target.object.get();
        if object.is_null() {
            write!(f, "<weakref; dead>")
        } else {
            write!(f, "<weakref; to '{}' at {object:p}>", T::TYPE.name())
        }
    }
}
