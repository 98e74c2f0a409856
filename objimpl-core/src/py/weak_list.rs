//! [`WeakList`]: the field by which an object can be weakly referenced
//! (CPython's `tp_weaklistoffset`), and the cell its weak references share.

use core::cell::Cell;
use core::ptr;
use std::rc::Rc;

use crate::object::PyObject;

/// The cell that an object's weak references share: the object's address,
/// null once it is gone.
pub(super) struct Target {
    pub(super) object: Cell<*mut PyObject>,
}

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
/// use objimpl_core::{Py, WeakList, __doc::Node};
///
/// let node = Py::new(Node { value: 1, weak: WeakList::new() })?;
/// let weak = Py::downgrade(&node);
/// assert_eq!(weak.upgrade().map(|n| n.value), Some(1));
/// drop(node);
/// assert!(weak.upgrade().is_none());
/// # Ok::<(), objimpl_core::MemoryError>(())
/// ```
#[derive(Default)]
pub struct WeakList {
    target: Cell<Option<Rc<Target>>>,
}

impl WeakList {
    /// An empty slot.
    ///
    /// ```
    /// let _ = objimpl_core::WeakList::new();
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
                object: Cell::new(object),
            })
        });
        self.target.set(Some(target.clone()));
        target
    }

    /// Points the weak references at the object's new address (it moved).
    pub(crate) fn retarget(&self, object: *mut PyObject) {
        let target = self.target.take();
        if let Some(target) = &target {
            target.object.set(object);
        }
        self.target.set(target);
    }

    /// Clears the weak references: the object is going.
    pub(crate) fn clear(&self) {
        if let Some(target) = self.target.take() {
            target.object.set(ptr::null_mut());
        }
    }
}

impl Drop for WeakList {
    /// The object is being destroyed: its weak references see `None`.
    fn drop(&mut self) {
        self.clear();
    }
}

impl core::fmt::Debug for WeakList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let target = self.target.take();
        let weak = target.as_ref().map_or(0, |t| Rc::strong_count(t) - 1);
        self.target.set(target);
        write!(f, "WeakList({weak} weak references)")
    }
}
