//! The slots a Rust type gives its type object: [`TypeObject::new`] and
//! [`TypeObject::new_gc`] fill `tp_basicsize`, `tp_itemsize` and
//! `tp_dealloc` from the type's layout, and for a `gc` type the
//! `tp_traverse` and `tp_clear` that reach the payload and the items
//! through their [`Traverse`] impls.

use core::ffi::{CStr, c_int, c_void};
use core::ptr::{self, NonNull};

use super::PyObjectType;
use super::dealloc::dealloc;
use super::layout::{self, items_ptr, payload_ptr, var_len};
use crate::gc::{self, Traverse, Visit, VisitProc};
use crate::object::{ObjectHeader, PyObject, PyVarObject, TypeObject};

impl TypeObject {
    /// Builds the type object of `T`: `tp_basicsize`, `tp_itemsize` and
    /// `tp_dealloc` computed from `T`'s layout, `tp_free` set to
    /// [`object_free`](crate::alloc::object_free).
    ///
    /// This is what `#[pyobject]` puts in the type's `static`. It is a `const
    /// fn`, and fails to compile (panics in const evaluation) if `T` cannot be
    /// an object: items that are zero-sized on a var type, items on a fixed
    /// type, or an alignment above the allocator's 16 bytes.
    ///
    /// ```
    /// use objimpl::{PyObjectType, PyVarObject, TypeObject};
    ///
    /// struct Bytes { hash: isize }
    /// static BYTES_TYPE: TypeObject = TypeObject::new::<Bytes>(c"bytes");
    /// // SAFETY: TYPE was built by `TypeObject::new::<Bytes>`.
    /// unsafe impl PyObjectType for Bytes {
    ///     type Header = PyVarObject;
    ///     type Item = u8;
    ///     const TYPE: &'static TypeObject = &BYTES_TYPE;
    /// }
    /// assert_eq!(Bytes::TYPE.basicsize(), 32);
    /// assert_eq!(Bytes::TYPE.itemsize(), 1);
    /// ```
    pub const fn new<T: PyObjectType>(name: &'static CStr) -> TypeObject {
        layout::check::<T>();
        let itemsize = if T::Header::IS_VAR {
            size_of::<T::Item>()
        } else {
            0
        };
        TypeObject::from_parts(
            name,
            layout::basicsize::<T>() as isize,
            itemsize as isize,
            Some(dealloc::<T>),
        )
        .with_weak_list_finder(weak_list_of::<T>)
    }

    /// Builds the type object of a `gc` type `T` (what `#[pyobject(gc)]`
    /// puts in its `static`): as [`new`](Self::new), plus
    /// `Py_TPFLAGS_HAVE_GC`, a `tp_traverse` that visits the payload and the
    /// items through their [`Traverse`](Traverse) impls, a
    /// `tp_clear` that drops them, and `tp_free` set to `PyObject_GC_Del`.
    /// Objects of the type are made with a GC header in front, and tracked
    /// by this thread's cycle collector.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use objimpl::gc::Traverse;
    /// use objimpl::{Py, PyObject, PyObjectType, TypeObject};
    ///
    /// struct Node { next: RefCell<Option<Py<Node>>> }
    /// static NODE_TYPE: TypeObject = TypeObject::new_gc::<Node>(c"Node");
    /// // SAFETY: TYPE was built by `TypeObject::new_gc::<Node>`.
    /// unsafe impl PyObjectType for Node {
    ///     type Header = PyObject;
    ///     type Item = ();
    ///     const TYPE: &'static TypeObject = &NODE_TYPE;
    /// }
    /// // SAFETY: visits the one handle `next` owns.
    /// unsafe impl Traverse for Node {
    ///     fn traverse(&self, visit: &mut objimpl::gc::Visit<'_>) {
    ///         self.next.traverse(visit);
    ///     }
    /// }
    ///
    /// let a = Py::new(Node { next: RefCell::new(None) })?;
    /// *a.next.borrow_mut() = Some(a.clone()); // a cycle of one
    /// drop(a);
    /// assert_eq!(objimpl::gc::collect(), 1);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    pub const fn new_gc<T>(name: &'static CStr) -> TypeObject
    where
        T: PyObjectType + Traverse,
        T::Item: Traverse,
    {
        TypeObject::new::<T>(name).with_gc_slots(traverse::<T>, clear::<T>, gc::alloc::free)
    }
}

/// The `tp_traverse` of a `gc` type `T`: the payload's references, then
/// the items'. An object whose payload the collector dropped has none.
///
/// `extern "C"`, so a `Traverse` impl that panics (which its contract
/// forbids) aborts instead of unwinding through the collector.
///
/// # Safety
///
/// - `op` is a live object of type `T::TYPE`; `visit` may be called with
///   `arg` and any object `op` refers to.
pub(crate) unsafe extern "C" fn traverse<T>(
    op: *mut PyObject,
    visit: VisitProc,
    arg: *mut c_void,
) -> c_int
where
    T: PyObjectType + Traverse,
    T::Item: Traverse,
{
    // SAFETY: the caller promises a live object of `T::TYPE`, a `gc` type.
    if unsafe { gc::alloc::is_finalized(op) } {
        return 0;
    }
    // SAFETY: as the caller promises.
    let mut visit = unsafe { Visit::new(visit, arg) };
    // SAFETY: the caller promises `op` is a live object of `T::TYPE`.
    let op = unsafe { NonNull::new_unchecked(op) };
    // SAFETY: the payload is initialised and not being dropped (the flag
    // would say so); only shared references to it are made.
    unsafe { (*payload_ptr::<T>(op)).traverse(&mut visit) };
    // SAFETY: the first `len` items are initialised.
    let items = unsafe { core::slice::from_raw_parts(items_ptr::<T>(op), var_len::<T>(op)) };
    items.traverse(&mut visit);
    0
}

/// The `tp_clear` of a `gc` type `T`: marks the object finalized (its
/// payload unreadable from now on), then drops the payload and the items,
/// which gives up the references they hold. The memory stays until the
/// last reference goes.
///
/// # Safety
///
/// - `op` is a live object of type `T::TYPE` whose payload was not dropped
///   yet, which no reference into its payload or items outlives.
pub(crate) unsafe extern "C-unwind" fn clear<T: PyObjectType>(op: *mut PyObject) -> c_int {
    struct ItemsOnDrop<T: PyObjectType>(NonNull<PyObject>, core::marker::PhantomData<T>);
    impl<T: PyObjectType> Drop for ItemsOnDrop<T> {
        fn drop(&mut self) {
            let op = self.0;
            // The items are forgotten (len 0) before they drop, so no later
            // dealloc drops them again.
            // SAFETY: the object is live; its first `len` items are initialised.
            unsafe {
                let len = var_len::<T>(op);
                if T::Header::IS_VAR {
                    (*op.as_ptr().cast::<PyVarObject>()).ob_size = 0;
                }
                ptr::drop_in_place(ptr::slice_from_raw_parts_mut(items_ptr::<T>(op), len));
            }
        }
    }
    // SAFETY: the caller promises a live `gc` object.
    unsafe { gc::alloc::set_finalized(op) };
    // SAFETY: as above.
    let op = unsafe { NonNull::new_unchecked(op) };
    let _items = ItemsOnDrop::<T>(op, core::marker::PhantomData);
    // SAFETY: the payload is initialised.
    unsafe { super::dealloc::clear_weak_refs::<T>(op) };
    // SAFETY: the payload is initialised and dropped once, here; the flag
    // makes every later read of it (through a handle) refuse.
    unsafe { ptr::drop_in_place(payload_ptr::<T>(op)) };
    0
}

/// The [`WeakListFinder`](crate::object::type_object::WeakListFinder) of a
/// Rust type: the payload's `WeakList`, or null for a type without one.
///
/// # Safety
///
/// - `op` is a live object of `T::TYPE` with a readable payload.
unsafe extern "C-unwind" fn weak_list_of<T: PyObjectType>(op: *mut PyObject) -> *const c_void {
    // SAFETY: as the caller promises (an object is never null).
    let payload = unsafe { &*layout::payload_ptr::<T>(NonNull::new_unchecked(op)) };
    match PyObjectType::weak_list(payload) {
        Some(list) => ptr::from_ref(list).cast(),
        None => ptr::null(),
    }
}
