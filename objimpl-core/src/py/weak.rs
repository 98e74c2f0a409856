//! Weak references (CPython's `weakref`): [`WeakPy`], made by
//! [`Py::downgrade`] for types whose payload holds a [`WeakList`](crate::WeakList),
//! and [`WeakAny`], made by [`PyAny::downgrade`]; with callbacks
//! ([`Py::downgrade_with`]) and counts as `std::rc::Weak` has them.
//!
//! objimpl does as CPython does, not as `Rc`: a type opts in with a field
//! (CPython's `tp_weaklistoffset` slot), and when the last strong reference
//! goes, the object is destroyed and its memory freed at once; the weak
//! references are cleared and see `None` from then on. They share one small
//! cell per object, made at the first `downgrade`. `Rc`'s way would keep the
//! whole object's memory until the last weak reference went, and put a weak
//! count in every object, weak-referenced or not.

use core::cell::RefCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::rc::Rc;

use super::kind;
use super::weak_list::{Callback, Target, WeakList};
use super::{Py, PyAny, PyObjectType};
use crate::object::{PyObject, incref};

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

/// What every weak reference holds: the cell its object's weak references
/// share (none for [`WeakPy::new`]), and its callback, if it was made with one.
#[derive(Clone, Default)]
struct WeakRef {
    target: Option<Rc<Target>>,
    /// Shared by the clones of one weak reference, as CPython's weakref
    /// object is; the object's cell holds it weakly, so it runs only while
    /// one of them is alive.
    _callback: Option<Rc<Callback>>,
}

impl WeakRef {
    /// A weak reference to `op`, whose weak list is `list`, with `callback`.
    fn new(list: &WeakList, op: *mut PyObject, callback: Option<Box<dyn FnOnce()>>) -> WeakRef {
        let target = list.target(op);
        let callback = callback.map(|callback| {
            let callback = Rc::new(RefCell::new(Some(callback)));
            let mut callbacks = target.callbacks.borrow_mut();
            // The callbacks of weak references gone since are dropped now
            // and then, so that a long-lived object weakly referenced again
            // and again (a `WeakValueMap` entry replaced) does not gather them.
            if callbacks.len() >= 8 && callbacks.len().is_power_of_two() {
                callbacks.retain(|callback| callback.strong_count() > 0);
            }
            callbacks.push(Rc::downgrade(&callback));
            drop(callbacks);
            callback
        });
        WeakRef {
            target: Some(target),
            _callback: callback,
        }
    }

    /// The object, while it is alive and not being destroyed.
    fn object(&self) -> Option<NonNull<PyObject>> {
        NonNull::new(self.target.as_ref()?.object.get())
    }

    /// A new strong reference to the object, if `readable` says its
    /// payload can be read.
    fn upgrade(
        &self,
        readable: impl FnOnce(NonNull<PyObject>) -> bool,
    ) -> Option<NonNull<PyObject>> {
        let object = self.object()?;
        // The weak list clears its cell before the memory goes (and before
        // the payload drops), and retargets it when the object moves.
        // SAFETY: so a non-null cell holds a live object; while its count
        // is 0 it is being destroyed and must not come back.
        unsafe {
            if (*object.as_ptr()).ob_refcnt == 0 || !readable(object) {
                return None;
            }
            incref(object);
        }
        Some(object)
    }

    fn strong_count(&self) -> usize {
        // SAFETY: a non-null cell holds a live object (see `upgrade`).
        self.object()
            .map_or(0, |op| unsafe { (*op.as_ptr()).ob_refcnt }.max(0) as usize)
    }

    fn weak_count(&self) -> usize {
        match &self.target {
            // The object's list holds the cell once; the rest are weak
            // references.
            Some(target) if !target.object.get().is_null() => Rc::strong_count(target) - 1,
            _ => 0,
        }
    }

    fn ptr_eq(&self, other: &WeakRef) -> bool {
        match (&self.target, &other.target) {
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    fn fmt(
        &self,
        f: &mut core::fmt::Formatter<'_>,
        type_name: impl FnOnce(NonNull<PyObject>) -> &'static str,
    ) -> core::fmt::Result {
        match self.object() {
            None => write!(f, "<weakref; dead>"),
            Some(op) => write!(f, "<weakref; to '{}' at {:p}>", type_name(op), op),
        }
    }
}

/// A weak reference to an object (CPython's `weakref.ref`): does not keep
/// it alive; [`upgrade`](WeakPy::upgrade) gives a strong reference while it
/// is. Bound to its thread, as [`Py`] is.
///
/// As `std::rc::Weak`: [`new`](WeakPy::new) makes one that never upgrades,
/// [`ptr_eq`](WeakPy::ptr_eq), [`strong_count`](WeakPy::strong_count) and
/// [`weak_count`](WeakPy::weak_count). As Python's: a callback run when the
/// object dies ([`Py::downgrade_with`]), and [`WeakValueMap`](crate::WeakValueMap).
///
/// ```
/// use objimpl::prelude::*;
/// use objimpl::{WeakList, WeakPy};
///
/// #[pyobject(basic)]
/// pub struct Node { #[pyobject(weaklist)] weak: WeakList }
///
/// let node = Node::new(Node { weak: WeakList::new() })?;
/// let weak = Py::downgrade(&node);
/// assert_eq!((weak.strong_count(), weak.weak_count()), (1, 1));
/// assert!(weak.ptr_eq(&Py::downgrade(&node)) && !weak.ptr_eq(&WeakPy::new()));
/// drop(node);
/// assert!(weak.upgrade().is_none());
/// assert_eq!((weak.strong_count(), weak.weak_count()), (0, 0));
/// # Ok::<(), MemoryError>(())
/// ```
pub struct WeakPy<T: WeakRefable> {
    weak: WeakRef,
    _object: PhantomData<Py<T>>,
}

impl<T: WeakRefable> Py<T> {
    /// A weak reference to the object (`weakref.ref(obj)`).
    ///
    /// ```
    /// use objimpl::prelude::*;
    /// use objimpl::WeakList;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug, Default)]
    /// pub struct Node { pub value: u32, #[pyobject(weaklist)] pub weak: WeakList }
    ///
    /// let node = Py::new(Node::default())?;
    /// let weak = Py::downgrade(&node);
    /// assert!(weak.upgrade().is_some_and(|n| Py::ptr_eq(&n, &node)));
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    pub fn downgrade(this: &Self) -> WeakPy<T> {
        Py::downgrade_inner(this, None)
    }

    /// A weak reference whose `callback` runs when the object dies, once,
    /// if this weak reference (or a clone of it) is still alive then
    /// (`weakref.ref(obj, callback)`). It runs as the object is destroyed,
    /// before its payload drops, and can no longer reach the object. A
    /// callback that panics goes to the unraisable hook
    /// ([`gc::set_unraisable_hook`](crate::gc::set_unraisable_hook)).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use objimpl::prelude::*;
    /// use objimpl::WeakList;
    ///
    /// #[pyobject(basic)]
    /// pub struct Node { #[pyobject(weaklist)] weak: WeakList }
    ///
    /// let died = Rc::new(Cell::new(false));
    /// let node = Node::new(Node { weak: WeakList::new() })?;
    /// let flag = died.clone();
    /// let weak = Py::downgrade_with(&node, move || flag.set(true));
    /// drop(node);
    /// assert!(died.get() && weak.upgrade().is_none());
    /// # Ok::<(), MemoryError>(())
    /// ```
    pub fn downgrade_with(this: &Self, callback: impl FnOnce() + 'static) -> WeakPy<T> {
        Py::downgrade_inner(this, Some(Box::new(callback)))
    }

    fn downgrade_inner(this: &Self, callback: Option<Box<dyn FnOnce()>>) -> WeakPy<T> {
        let list = PyObjectType::weak_list(&**this)
            .unwrap_or_else(|| unreachable!("WeakRefable promises a weak list"));
        WeakPy {
            weak: WeakRef::new(list, this.as_ptr(), callback),
            _object: PhantomData,
        }
    }
}

impl<T: WeakRefable> WeakPy<T> {
    /// A weak reference to nothing: it never upgrades (`std::rc::Weak::new`).
    ///
    /// ```
    /// use objimpl::prelude::*;
    /// use objimpl::{WeakPy, WeakList};
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug, Default)]
    /// pub struct Node { pub value: u32, #[pyobject(weaklist)] pub weak: WeakList }
    ///
    /// assert!(WeakPy::<Node>::new().upgrade().is_none());
    /// ```
    pub fn new() -> WeakPy<T> {
        WeakPy {
            weak: WeakRef::default(),
            _object: PhantomData,
        }
    }

    /// A strong reference, if the object is still alive (calling a
    /// `weakref.ref`).
    ///
    /// ```
    /// use objimpl::prelude::*;
    /// use objimpl::WeakList;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug, Default)]
    /// pub struct Node { pub value: u32, #[pyobject(weaklist)] pub weak: WeakList }
    ///
    /// let node = Py::new(Node::default())?;
    /// let weak = Py::downgrade(&node);
    /// drop(node);
    /// assert!(weak.upgrade().is_none());
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    pub fn upgrade(&self) -> Option<Py<T>> {
        let op = self.weak.upgrade(|op| {
            // SAFETY: `upgrade` passes a live object, of `T::TYPE` as the
            // cell was made by `Py::downgrade` on one.
            !unsafe { kind::is_unreadable::<T>(op) }
        })?;
        // SAFETY: a new strong reference to an object of `T::TYPE`.
        Some(unsafe { Py::from_raw(op.as_ptr()) })
    }

    /// Whether the two are weak references to the same object, or both
    /// to none (`std::rc::Weak::ptr_eq`). Once the object is gone, its weak
    /// references stay equal to one another.
    pub fn ptr_eq(&self, other: &WeakPy<T>) -> bool {
        self.weak.ptr_eq(&other.weak)
    }

    /// The object's reference count; 0 once it is gone (or dying).
    pub fn strong_count(&self) -> usize {
        self.weak.strong_count()
    }

    /// The number of weak references to the object (this one and its
    /// clones included); 0 once it is gone.
    pub fn weak_count(&self) -> usize {
        self.weak.weak_count()
    }
}

impl<T: WeakRefable> Default for WeakPy<T> {
    /// [`WeakPy::new`].
    fn default() -> Self {
        WeakPy::new()
    }
}

impl<T: WeakRefable> Clone for WeakPy<T> {
    fn clone(&self) -> Self {
        WeakPy {
            weak: self.weak.clone(),
            _object: PhantomData,
        }
    }
}

impl<T: WeakRefable> core::fmt::Debug for WeakPy<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.weak.fmt(f, |_| T::TYPE.name())
    }
}

/// A weak reference to an object of any type ([`PyAny::downgrade`]), as
/// [`WeakPy`] is to one of a known type.
///
/// ```
/// use objimpl::prelude::*;
/// use objimpl::WeakList;
///
/// #[pyobject(basic)]
/// pub struct Node { #[pyobject(weaklist)] weak: WeakList }
///
/// let any = PyAny::from(Node::new(Node { weak: WeakList::new() })?);
/// let weak = any.downgrade().expect("Node objects can be weakly referenced");
/// assert!(weak.upgrade().is_some_and(|a| a.is_instance::<Node>()));
/// drop(any);
/// assert!(weak.upgrade().is_none());
/// # Ok::<(), MemoryError>(())
/// ```
#[derive(Clone, Default)]
pub struct WeakAny {
    weak: WeakRef,
    /// Bound to its thread, as `PyAny` is.
    _not_send: PhantomData<*mut PyObject>,
}

impl PyAny {
    /// A weak reference to the object, if its type can be weakly
    /// referenced (a Rust type with a [`WeakList`](crate::WeakList)); `None`
    /// otherwise, as CPython's `weakref.ref` raises `TypeError`.
    pub fn downgrade(&self) -> Option<WeakAny> {
        self.downgrade_inner(None)
    }

    /// As [`downgrade`](Self::downgrade), with a callback, as
    /// [`Py::downgrade_with`].
    pub fn downgrade_with(&self, callback: impl FnOnce() + 'static) -> Option<WeakAny> {
        self.downgrade_inner(Some(Box::new(callback)))
    }

    fn downgrade_inner(&self, callback: Option<Box<dyn FnOnce()>>) -> Option<WeakAny> {
        let op = self.as_ptr();
        let finder = self.type_object().weak_list_finder()?;
        // A payload the collector dropped (or is dropping) has no list.
        // SAFETY: `self` keeps the object alive.
        if unsafe { kind::is_unreadable_any(op) } {
            return None;
        }
        // SAFETY: a live object of the finder's type, readable.
        let list = unsafe { finder(op) }.cast::<WeakList>();
        // SAFETY: a non-null finder result is the payload's list, which
        // lives as long as `self` keeps the object.
        let list = unsafe { list.as_ref() }?;
        Some(WeakAny {
            weak: WeakRef::new(list, op, callback),
            _not_send: PhantomData,
        })
    }
}

impl WeakAny {
    /// A strong reference, if the object is still alive.
    pub fn upgrade(&self) -> Option<PyAny> {
        let op = self.weak.upgrade(|op| {
            // SAFETY: `upgrade` passes a live object.
            !unsafe { kind::is_unreadable_any(op.as_ptr()) }
        })?;
        // SAFETY: a new strong reference to a live object.
        Some(unsafe { PyAny::from_raw(op.as_ptr()) })
    }

    /// As [`WeakPy::ptr_eq`].
    pub fn ptr_eq(&self, other: &WeakAny) -> bool {
        self.weak.ptr_eq(&other.weak)
    }

    /// As [`WeakPy::strong_count`].
    pub fn strong_count(&self) -> usize {
        self.weak.strong_count()
    }

    /// As [`WeakPy::weak_count`].
    pub fn weak_count(&self) -> usize {
        self.weak.weak_count()
    }
}

impl<T: WeakRefable> From<WeakPy<T>> for WeakAny {
    fn from(weak: WeakPy<T>) -> WeakAny {
        WeakAny {
            weak: weak.weak,
            _not_send: PhantomData,
        }
    }
}

impl core::fmt::Debug for WeakAny {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // SAFETY: `fmt` passes a live object, whose type is immortal.
        self.weak
            .fmt(f, |op| unsafe { (*(*op.as_ptr()).ob_type).name() })
    }
}
