//! The type object: CPython's `PyTypeObject`, as far as object memory needs it.

use core::ffi::{CStr, c_char, c_int, c_ulong, c_void};
use core::mem::offset_of;
use core::ptr;

use super::{PyObject, PyVarObject};
use crate::alloc;

/// `visitproc`: called by a `tp_traverse` for each object it refers to,
/// with the `arg` the traversal was given.
pub type VisitProc = unsafe extern "C" fn(op: *mut PyObject, arg: *mut c_void) -> c_int;

/// `traverseproc`: a type's `tp_traverse`.
pub type TraverseProc =
    unsafe extern "C" fn(op: *mut PyObject, visit: VisitProc, arg: *mut c_void) -> c_int;

/// `inquiry`: a type's `tp_clear`. `C-unwind`, as [`Destructor`](Destructor)
/// is: clearing a Rust payload drops it, and a `Drop` may panic, to the
/// collector. C code must not call the `tp_clear` of a Rust type itself.
pub type Inquiry = unsafe extern "C-unwind" fn(op: *mut PyObject) -> c_int;

/// `destructor`: the type's `tp_dealloc`, called when the last reference goes.
///
/// It drops what the object owns and returns its memory through the type's
/// [`FreeFunc`]. It is `C-unwind` so that a panicking `Drop` of a Rust payload
/// unwinds to a Rust caller as it would out of an `Rc`, instead of aborting.
/// C code must therefore not call the `tp_dealloc` of a Rust type itself:
/// `Py_DECREF` calls [`_Py_Dealloc`](crate::capi::_Py_Dealloc), which ends
/// the process on such a panic rather than unwind into C (see
/// [`capi`](crate::capi)).
///
/// ```
/// use objimpl::{Destructor, PyObject};
/// // A destructor for objects that own nothing: just return the memory.
/// unsafe extern "C-unwind" fn free_only(op: *mut PyObject) {
///     // SAFETY: `tp_dealloc` is called once, with an object from `object_malloc`.
///     unsafe { objimpl::alloc::object_free(op.cast()) }
/// }
/// let dealloc: Destructor = free_only;
/// ```
pub type Destructor = unsafe extern "C-unwind" fn(op: *mut PyObject);

/// `freefunc`: the type's `tp_free`, which returns an object's memory to its allocator.
///
/// ```
/// use objimpl::FreeFunc;
/// let free: FreeFunc = objimpl::capi::PyObject_Free;
/// ```
pub type FreeFunc = unsafe extern "C" fn(p: *mut c_void);

/// `allocfunc`: the type's `tp_alloc`, which makes a zeroed object of the
/// type with room for `nitems` items, its header set and its reference
/// count 1 (`PyType_GenericAlloc`); NULL, with `MemoryError` set, if the
/// memory could not be had. Set for C types by `PyType_Ready`.
pub type AllocFunc = unsafe extern "C" fn(tp: *mut TypeObject, nitems: isize) -> *mut PyObject;

/// `newfunc`: the type's `tp_new`, which makes a new object of the type
/// from a call's arguments (objimpl passes none: `args` and `kwds` are
/// whatever the C caller gives).
pub type NewFunc = unsafe extern "C" fn(
    tp: *mut TypeObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject;

/// A type object, laid out as the start of CPython's `PyTypeObject`.
///
/// The fields up to `tp_free` sit at CPython's offsets on every platform:
/// `ob_base: PyVarObject`, `tp_name` (a NUL-terminated C string),
/// `tp_basicsize`, `tp_itemsize`, `tp_dealloc`, fourteen slots objimpl does not
/// use, `tp_flags`, `tp_doc`, `tp_traverse`, `tp_clear` (set for `gc` types),
/// twelve more unused slots, `tp_init` (unused), `tp_alloc`, `tp_new`
/// (set for C types by `PyType_Ready`), then `tp_free`. A type object
/// defined in C with those fields and one built by [`TypeObject::new`] are the
/// same thing to [`new_object`](crate::new_object) and to `capi::_PyObject_New`.
///
/// Type objects are immortal: they live in `static`s, their reference count is
/// never touched, and type identity is address identity.
///
/// ```
/// use objimpl::{PyObject, PyObjectType, TypeObject};
///
/// struct Point { x: f64, y: f64 }
/// static POINT_TYPE: TypeObject = TypeObject::new::<Point>(c"Point");
/// // SAFETY: TYPE was built by `TypeObject::new::<Point>`.
/// unsafe impl PyObjectType for Point {
///     type Header = PyObject;
///     type Item = ();
///     const TYPE: &'static TypeObject = &POINT_TYPE;
/// }
///
/// assert_eq!(Point::TYPE.name(), "Point");
/// assert_eq!(Point::TYPE.basicsize(), 32); // PyObject_HEAD + two doubles
/// assert_eq!(Point::TYPE.itemsize(), 0);
/// ```
#[repr(C)]
pub struct TypeObject {
    ob_base: PyVarObject,
    pub(crate) tp_name: *const c_char,
    pub(crate) tp_basicsize: isize,
    pub(crate) tp_itemsize: isize,
    pub(crate) tp_dealloc: Option<Destructor>,
    /// `tp_vectorcall_offset` through `tp_as_buffer`.
    _slots_before_flags: [*const c_void; 14],
    pub(crate) tp_flags: c_ulong,
    tp_doc: *const c_char,
    pub(crate) tp_traverse: Option<TraverseProc>,
    pub(crate) tp_clear: Option<Inquiry>,
    tp_richcompare: *const c_void,
    /// `tp_weaklistoffset`; in a type built in Rust, how to find an
    /// object's `WeakList` (see [`WeakListSlot`]).
    pub(crate) tp_weaklistoffset: WeakListSlot,
    /// `tp_iter` through `tp_dictoffset`.
    _slots_before_init: [*const c_void; 10],
    /// `tp_init`: not used by objimpl (a C type may set it).
    tp_init: *const c_void,
    pub(crate) tp_alloc: Option<AllocFunc>,
    pub(crate) tp_new: Option<NewFunc>,
    pub(crate) tp_free: Option<FreeFunc>,
}

/// The layout of [`TypeObject`] as C expressions and their values, for the
/// test that holds `objimpl.h` (in `objimpl-capi`) to it. Not public API.
#[doc(hidden)]
pub const C_LAYOUT: [(&str, usize); 12] = [
    ("sizeof(PyTypeObject)", size_of::<TypeObject>()),
    (
        "offsetof(PyTypeObject, tp_name)",
        offset_of!(TypeObject, tp_name),
    ),
    (
        "offsetof(PyTypeObject, tp_basicsize)",
        offset_of!(TypeObject, tp_basicsize),
    ),
    (
        "offsetof(PyTypeObject, tp_itemsize)",
        offset_of!(TypeObject, tp_itemsize),
    ),
    (
        "offsetof(PyTypeObject, tp_dealloc)",
        offset_of!(TypeObject, tp_dealloc),
    ),
    (
        "offsetof(PyTypeObject, tp_flags)",
        offset_of!(TypeObject, tp_flags),
    ),
    (
        "offsetof(PyTypeObject, tp_traverse)",
        offset_of!(TypeObject, tp_traverse),
    ),
    (
        "offsetof(PyTypeObject, tp_clear)",
        offset_of!(TypeObject, tp_clear),
    ),
    (
        "offsetof(PyTypeObject, tp_alloc)",
        offset_of!(TypeObject, tp_alloc),
    ),
    (
        "offsetof(PyTypeObject, tp_new)",
        offset_of!(TypeObject, tp_new),
    ),
    (
        "offsetof(PyTypeObject, tp_free)",
        offset_of!(TypeObject, tp_free),
    ),
    (
        "sizeof(((PyTypeObject *)0)->tp_flags)",
        size_of::<c_ulong>(),
    ),
];

// SAFETY: a type object is never written once it has objects (its header's
// reference count included: type objects are immortal; `PyType_Ready`
// fills a C type's empty slots before its first object), and its pointers
// lead to `'static` data (the name) and to functions, which any thread may
// read or call.
unsafe impl Sync for TypeObject {}

/// Where an object's weak-reference list is: CPython's `tp_weaklistoffset`
/// (an offset, as a C type sets it), or, in a type built in Rust (which has
/// [`TPFLAGS_WEAK_LIST_FINDER`]), a function that finds the payload's
/// `WeakList`, which only the type's `PyObjectType` impl knows.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union WeakListSlot {
    /// A C type's `tp_weaklistoffset`: not used by objimpl.
    offset: isize,
    /// The finder of a type built in Rust.
    pub(crate) finder: WeakListFinder,
}

/// Finds an object's `WeakList`: null if its type has none.
///
/// Of a C ABI, as it lies in a C struct: so the objects and type objects
/// are FFI-safe in C declarations (a Rust fn pointer here made
/// `improper_ctypes` flag every `extern` block that takes a `PyObject`).
///
/// # Safety
///
/// - The argument is a live object of the type that holds the finder,
///   with a readable payload.
pub(crate) type WeakListFinder = unsafe extern "C-unwind" fn(*mut PyObject) -> *const c_void;

/// objimpl's own flag, in a bit CPython 3.11 leaves unused: the type was
/// built in Rust, and its `tp_weaklistoffset` holds a [`WeakListFinder`].
/// `PyType_Ready` clears it in C types.
pub(crate) const TPFLAGS_WEAK_LIST_FINDER: u64 = 1 << 2;

/// `Py_TPFLAGS_DEFAULT` as CPython 3.11 defines it for a static type.
const TPFLAGS_DEFAULT: c_ulong = 0;
/// `Py_TPFLAGS_HAVE_GC`: objects carry a GC header and may be tracked.
pub const TPFLAGS_HAVE_GC: u64 = 1 << 14;
/// `Py_TPFLAGS_READY`: `PyType_Ready` has filled the type's slots.
pub(crate) const TPFLAGS_READY: u64 = 1 << 12;

impl TypeObject {
    /// A type object with no instances, whose address alone matters: the
    /// exception types of `capi` (`PyExc_MemoryError`).
    pub(crate) const fn exception(name: &'static CStr) -> TypeObject {
        TypeObject::from_parts(name, size_of::<PyObject>() as isize, 0, None)
    }

    /// `NoneType`: instances of `PyObject`'s size, never freed; `dealloc`
    /// reports a reference count of `None` that went to 0.
    pub(crate) const fn none_type(dealloc: Destructor) -> TypeObject {
        TypeObject::from_parts(
            c"NoneType",
            size_of::<PyObject>() as isize,
            0,
            Some(dealloc),
        )
    }

    /// A static type object: immortal header, the unused slots null,
    /// `tp_free` set to `PyObject_Free`.
    pub(crate) const fn from_parts(
        name: &'static CStr,
        basicsize: isize,
        itemsize: isize,
        dealloc: Option<Destructor>,
    ) -> TypeObject {
        TypeObject {
            ob_base: PyVarObject {
                ob_base: PyObject {
                    ob_refcnt: 1,
                    ob_type: ptr::null(),
                },
                ob_size: 0,
            },
            tp_name: name.as_ptr(),
            tp_basicsize: basicsize,
            tp_itemsize: itemsize,
            tp_dealloc: dealloc,
            _slots_before_flags: [ptr::null(); 14],
            // Complete as built: `PyType_Ready` has nothing to fill, and
            // must not write to a `static` that may be read-only.
            tp_flags: TPFLAGS_DEFAULT | TPFLAGS_READY as c_ulong,
            tp_doc: ptr::null(),
            tp_traverse: None,
            tp_clear: None,
            tp_richcompare: ptr::null(),
            tp_weaklistoffset: WeakListSlot { offset: 0 },
            _slots_before_init: [ptr::null(); 10],
            tp_init: ptr::null(),
            tp_alloc: None,
            tp_new: None,
            tp_free: Some(free_object),
        }
    }

    /// This type object with the finder of its objects' weak lists.
    pub(crate) const fn with_weak_list_finder(mut self, finder: WeakListFinder) -> TypeObject {
        self.tp_flags |= TPFLAGS_WEAK_LIST_FINDER as c_ulong;
        self.tp_weaklistoffset = WeakListSlot { finder };
        self
    }

    /// The finder of its objects' weak lists, for a type built in Rust.
    pub(crate) fn weak_list_finder(&self) -> Option<WeakListFinder> {
        if self.flags() & TPFLAGS_WEAK_LIST_FINDER == 0 {
            // (A C type's offset is not read as a finder, not even eagerly.)
            return None;
        }
        // The flag is set with the finder by `with_weak_list_finder`, and
        // cleared in C types by `PyType_Ready`.
        // SAFETY: the flag says the slot holds a finder.
        let finder = unsafe { self.tp_weaklistoffset.finder };
        Some(finder)
    }

    /// This type object with `Py_TPFLAGS_HAVE_GC` and the collector's slots.
    pub(crate) const fn with_gc_slots(
        mut self,
        traverse: TraverseProc,
        clear: Inquiry,
        free: FreeFunc,
    ) -> TypeObject {
        self.tp_flags |= TPFLAGS_HAVE_GC as c_ulong;
        self.tp_traverse = Some(traverse);
        self.tp_clear = Some(clear);
        self.tp_free = Some(free);
        self
    }

    /// `tp_name`: the type's name.
    ///
    /// A name that is not UTF-8 (possible only for a type object made in C)
    /// reads as `"<non-UTF-8 type name>"`.
    ///
    /// ```
    /// # use objimpl::{PyObject, PyObjectType, TypeObject};
    /// # struct Unit;
    /// static UNIT_TYPE: TypeObject = TypeObject::new::<Unit>(c"my.Unit");
    /// assert_eq!(UNIT_TYPE.name(), "my.Unit");
    /// # // SAFETY: TYPE was built by `TypeObject::new::<Unit>`.
    /// # unsafe impl PyObjectType for Unit {
    /// #     type Header = PyObject; type Item = (); const TYPE: &'static TypeObject = &UNIT_TYPE;
    /// # }
    /// ```
    pub fn name(&self) -> &'static str {
        // `new` takes `tp_name` from a `&'static CStr`, and a type object made
        // in C comes in only through unsafe functions whose callers promise it.
        // SAFETY: so it is a NUL-terminated string that lives forever.
        let name = unsafe { CStr::from_ptr(self.tp_name) };
        name.to_str().unwrap_or("<non-UTF-8 type name>")
    }

    /// `tp_basicsize`: the size of an object with no items (`_PyObject_SIZE`).
    ///
    /// ```
    /// # use objimpl::{PyObject, PyObjectType, TypeObject};
    /// struct Float(f64);
    /// static FLOAT_TYPE: TypeObject = TypeObject::new::<Float>(c"float");
    /// assert_eq!(FLOAT_TYPE.basicsize(), 24); // as CPython's float.__basicsize__
    /// # // SAFETY: TYPE was built by `TypeObject::new::<Float>`.
    /// # unsafe impl PyObjectType for Float {
    /// #     type Header = PyObject; type Item = (); const TYPE: &'static TypeObject = &FLOAT_TYPE;
    /// # }
    /// ```
    pub const fn basicsize(&self) -> usize {
        self.tp_basicsize as usize
    }

    /// `tp_itemsize`: the size of one item of a var-size object, 0 for a fixed-size one.
    ///
    /// ```
    /// # use objimpl::{PyVarObject, PyObjectType, TypeObject};
    /// struct Long;
    /// static LONG_TYPE: TypeObject = TypeObject::new::<Long>(c"int");
    /// assert_eq!(LONG_TYPE.itemsize(), 4); // 30-bit digits in u32s, as CPython's int
    /// # // SAFETY: TYPE was built by `TypeObject::new::<Long>`.
    /// # unsafe impl PyObjectType for Long {
    /// #     type Header = PyVarObject; type Item = u32; const TYPE: &'static TypeObject = &LONG_TYPE;
    /// # }
    /// ```
    pub const fn itemsize(&self) -> usize {
        self.tp_itemsize as usize
    }

    /// `tp_flags`: `Py_TPFLAGS_READY` (1 << 12) for a type built in Rust,
    /// which is complete from the start (`PyType_Ready` leaves it as it is),
    /// and `Py_TPFLAGS_HAVE_GC` (1 << 14) for a `gc` one; objimpl's own
    /// 1 << 2 (a bit CPython 3.11 leaves unused) says that the type was built
    /// in Rust, and knows where its objects' `WeakList` is.
    ///
    /// ```
    /// # use objimpl::{PyObject, PyObjectType, TypeObject};
    /// # struct Unit;
    /// static UNIT_TYPE: TypeObject = TypeObject::new::<Unit>(c"Unit");
    /// assert_eq!(UNIT_TYPE.flags(), 1 << 12 | 1 << 2);
    /// # // SAFETY: TYPE was built by `TypeObject::new::<Unit>`.
    /// # unsafe impl PyObjectType for Unit {
    /// #     type Header = PyObject; type Item = (); const TYPE: &'static TypeObject = &UNIT_TYPE;
    /// # }
    /// ```
    #[allow(clippy::unnecessary_cast)] // `c_ulong` is `u32` on some targets
    pub const fn flags(&self) -> u64 {
        self.tp_flags as u64
    }

    /// A type object with the given sizes and no destructor, to test size
    /// arithmetic over sizes no Rust type has.
    #[cfg(test)]
    pub(crate) const fn with_sizes(basicsize: isize, itemsize: isize) -> TypeObject {
        TypeObject::from_parts(c"sizes", basicsize, itemsize, None)
    }

    /// Whether the type has `Py_TPFLAGS_HAVE_GC`: its objects carry a GC
    /// header and are tracked by the cycle collector.
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
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// # use objimpl::PyObjectType;
    /// assert!(GcNode::TYPE.is_gc() && !Unit::TYPE.is_gc());
    /// ```
    #[inline]
    pub const fn is_gc(&self) -> bool {
        self.flags() & TPFLAGS_HAVE_GC != 0
    }

    /// `tp_traverse`.
    #[inline]
    pub(crate) fn traverse(&self) -> Option<TraverseProc> {
        self.tp_traverse
    }

    /// `tp_clear`.
    #[inline]
    pub(crate) fn clear(&self) -> Option<Inquiry> {
        self.tp_clear
    }

    /// `tp_dealloc`.
    pub(crate) fn dealloc(&self) -> Option<Destructor> {
        self.tp_dealloc
    }

    /// `tp_free`.
    pub(crate) fn free(&self) -> Option<FreeFunc> {
        self.tp_free
    }
}

impl core::fmt::Debug for TypeObject {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TypeObject")
            .field("name", &self.name())
            .field("basicsize", &self.basicsize())
            .field("itemsize", &self.itemsize())
            .field("flags", &self.flags())
            .finish_non_exhaustive()
    }
}

/// The `tp_free` of every type built by [`TypeObject::new`]: `PyObject_Free`.
unsafe extern "C" fn free_object(p: *mut c_void) {
    // SAFETY: `tp_free` is called with an object's memory, which `new_object`
    // or `new_var_object` took from `object_malloc`, once.
    unsafe { alloc::object_free(p.cast()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn fields_sit_at_cpython_offsets() {
        // Offsets read off CPython 3.11's PyTypeObject on x86_64.
        assert_eq!(offset_of!(TypeObject, ob_base), 0);
        assert_eq!(offset_of!(TypeObject, tp_name), 24);
        assert_eq!(offset_of!(TypeObject, tp_basicsize), 32);
        assert_eq!(offset_of!(TypeObject, tp_itemsize), 40);
        assert_eq!(offset_of!(TypeObject, tp_dealloc), 48);
        assert_eq!(offset_of!(TypeObject, tp_flags), 168);
        assert_eq!(offset_of!(TypeObject, tp_traverse), 184);
        assert_eq!(offset_of!(TypeObject, tp_clear), 192);
        assert_eq!(offset_of!(TypeObject, tp_alloc), 304);
        assert_eq!(offset_of!(TypeObject, tp_new), 312);
        assert_eq!(offset_of!(TypeObject, tp_free), 320);
    }
}
