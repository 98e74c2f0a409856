//! [`WeakList`]: the field by which an object can be weakly referenced
//! (CPython's `tp_weaklistoffset`), and the cell its weak references share.

use core::cell::{Cell, RefCell};
use core::ptr;
use std::rc::{self, Rc};

use crate::gc::unraisable;
use crate::object::PyObject;

/// The cell that an object's weak references share: the object's address,
/// null once it is gone, and the callbacks to run then.
pub(super) struct Target {
    pub(super) object: Cell<*mut PyObject>,
    /// The callbacks of the weak references made with one
    /// ([`Py::downgrade_with`](crate::Py::downgrade_with)), in the order they
    /// were made. A callback whose weak references are all gone is gone too.
    pub(super) callbacks: RefCell<Vec<rc::Weak<Callback>>>,
}

/// A weak reference's callback, taken when it runs.
pub(super) type Callback = RefCell<Option<Box<dyn FnOnce()>>>;

/// The weak-reference slot of an object (CPython's `tp_weaklistoffset`
/// field): put one in the payload and mark it `#[pyobject(weaklist)]` to
/// make the type weak-referenceable. Empty until the first
/// [`Py::downgrade`](crate::Py::downgrade); a word of memory until then.
///
/// With the macro (`objimpl::prelude`):
///
/// ```text
/// #[pyobject(basic)]
/// struct Node {
///     value: u32,
///     #[pyobject(weaklist)]
///     weak: WeakList,
/// }
/// ```
///
/// ```
/// use objimpl::prelude::*;
/// use objimpl::WeakList;
///
/// #[pyobject(basic)]
/// #[derive(Debug, Default)]
/// pub struct Node { pub value: u32, #[pyobject(weaklist)] pub weak: WeakList }
///
///
/// let node = Py::new(Node { value: 1, weak: WeakList::new() })?;
/// let weak = Py::downgrade(&node);
/// assert_eq!(weak.upgrade().map(|n| n.value), Some(1));
/// drop(node);
/// assert!(weak.upgrade().is_none());
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
#[derive(Default)]
pub struct WeakList {
    target: Cell<Option<Rc<Target>>>,
}

impl WeakList {
    /// An empty slot.
    ///
    /// ```
    /// let _ = objimpl::WeakList::new();
    /// ```
    pub const fn new() -> WeakList {
        WeakList {
            target: Cell::new(None),
        }
    }

    /// The shared cell for the object at `object`, made if need be.
    pub(super) fn target(&self, object: *mut PyObject) -> Rc<Target> {
        let target = self.target.take().unwrap_or_else(|| {
            Rc::new(Target {
                object: Cell::new(ptr::null_mut()),
                callbacks: RefCell::new(Vec::new()),
            })
        });
        // The list is the object's: its cell points there, whatever a list
        // moved in by `get_mut` (which no weak reference shared) said.
        target.object.set(object);
        self.target.set(Some(target.clone()));
        target
    }

    /// The number of weak references to the object (clones included).
    pub(crate) fn weak_count(&self) -> usize {
        let target = self.target.take();
        let count = target.as_ref().map_or(0, |t| Rc::strong_count(t) - 1);
        self.target.set(target);
        count
    }

    /// Points the weak references at the object's new address (it moved).
    pub(crate) fn retarget(&self, object: *mut PyObject) {
        let target = self.target.take();
        if let Some(target) = &target {
            target.object.set(object);
        }
        self.target.set(target);
    }

    /// Clears the weak references: the object, of the type named `type_name`,
    /// is going. Then runs their callbacks, each panic going to the
    /// unraisable hook (CPython's `PyObject_ClearWeakRefs`).
    pub(crate) fn clear(&self, type_name: &str) {
        let Some(target) = self.target.take() else {
            return;
        };
        target.object.set(ptr::null_mut());
        let callbacks = core::mem::take(&mut *target.callbacks.borrow_mut());
        drop(target);
        for callback in callbacks {
            // A callback whose weak references are gone does not run.
            let Some(callback) = callback.upgrade() else {
                continue;
            };
            let Some(callback) = callback.borrow_mut().take() else {
                continue;
            };
            if let Err(payload) = std::panic::catch_unwind(core::panic::AssertUnwindSafe(callback))
            {
                unraisable::report("a weak reference callback", type_name, &*payload);
                unraisable::drop_payload(payload);
            }
        }
    }
}

impl Drop for WeakList {
    /// A list dropped with its payload (a value never in an object, or one
    /// whose object cleared it first) has no weak references left; should it
    /// have some, they see the object gone.
    fn drop(&mut self) {
        self.clear("<unknown>");
    }
}

// SAFETY: the list's cell is shared only with weak references of its
// object's thread (`WeakPy` is neither `Send` nor `Sync`), and a list that
// shares it never leaves its object: `Py::get_mut` and `Py::items_mut`
// refuse while weak references exist, `Py::try_unwrap` and the object's
// destruction clear the list before its payload moves or drops, and
// `Py::into_sendable` refuses while weak references exist and clears the
// list. So a list that moves to another thread owns its cell alone (or has
// none): nothing on the old thread touches the cell's counts again.
unsafe impl Send for WeakList {}

impl core::fmt::Debug for WeakList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "WeakList({} weak references)", self.weak_count())
    }
}
