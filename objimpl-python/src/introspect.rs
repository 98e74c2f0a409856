//! `sys`'s view of the allocator, made to report objimpl: CPython's
//! `sys._debugmallocstats()` prints pymalloc's pools and
//! `sys.getallocatedblocks()` counts pymalloc's blocks, which are none when
//! objimpl serves the memory. On `objimpl-python` the first prints CPython's
//! free lists and then objimpl's table, the second counts objimpl's blocks.

use core::ffi::c_char;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use objimpl_core::alloc;
use pyo3_ffi::{
    METH_NOARGS, Py_DecRef, Py_IncRef, Py_None, PyCFunction_NewEx, PyErr_Print,
    PyImport_ImportModule, PyLong_FromSsize_t, PyMethodDef, PyMethodDefPointer, PyObject,
    PyObject_CallNoArgs, PyObject_GetAttrString, PyObject_SetAttrString,
};

/// CPython's own `sys._debugmallocstats`, called first.
static CPYTHON_DEBUGMALLOCSTATS: AtomicPtr<PyObject> = AtomicPtr::new(ptr::null_mut());

/// `sys._debugmallocstats()`: CPython's report (its free lists), then
/// objimpl's pools, on stderr.
unsafe extern "C" fn debugmallocstats(_: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    let cpython = CPYTHON_DEBUGMALLOCSTATS.load(Ordering::Acquire);
    // SAFETY: called by CPython with the GIL held; `cpython` is a strong
    // reference kept for the life of the process.
    unsafe {
        let result = PyObject_CallNoArgs(cpython);
        if result.is_null() {
            return result;
        }
        Py_DecRef(result);
    }
    // CPython writes to C's stderr, which is unbuffered; so is Rust's.
    let _ = alloc::debug_malloc_stats(&mut std::io::stderr());
    // SAFETY: with the GIL held, a new reference to None.
    unsafe {
        let none = Py_None();
        Py_IncRef(none);
        none
    }
}

/// `sys.getallocatedblocks()`: the blocks objimpl's pools hold.
unsafe extern "C" fn getallocatedblocks(_: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    let blocks = alloc::stats().blocks_in_use();
    // SAFETY: called by CPython with the GIL held.
    unsafe { PyLong_FromSsize_t(blocks as isize) }
}

/// A method definition for the life of the process.
fn method(
    name: &'static core::ffi::CStr,
    meth: unsafe extern "C" fn(*mut PyObject, *mut PyObject) -> *mut PyObject,
    doc: &'static core::ffi::CStr,
) -> *mut PyMethodDef {
    Box::leak(Box::new(PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: PyMethodDefPointer { PyCFunction: meth },
        ml_flags: METH_NOARGS,
        ml_doc: doc.as_ptr(),
    }))
}

/// Replaces `sys.<name>` with `def`, returning the old value (a new
/// reference) or null.
///
/// # Safety
///
/// - The interpreter is initialised and this thread holds the GIL.
unsafe fn replace(sys: *mut PyObject, name: *const c_char, def: *mut PyMethodDef) -> *mut PyObject {
    // SAFETY: as the caller guarantees; `def` lives for ever.
    unsafe {
        let old = PyObject_GetAttrString(sys, name);
        let new = PyCFunction_NewEx(def, ptr::null_mut(), ptr::null_mut());
        if old.is_null() || new.is_null() || PyObject_SetAttrString(sys, name, new) != 0 {
            PyErr_Print();
        }
        Py_DecRef(new);
        old
    }
}

/// Points `sys._debugmallocstats` and `sys.getallocatedblocks` at objimpl.
/// Must run after the interpreter started, before the program.
pub fn install() {
    // SAFETY: `run` calls this between `Py_InitializeFromConfig` and
    // `Py_RunMain`, on the main thread, which holds the GIL then.
    unsafe {
        let sys = PyImport_ImportModule(c"sys".as_ptr());
        if sys.is_null() {
            PyErr_Print();
            return;
        }
        let stats = method(
            c"_debugmallocstats",
            debugmallocstats,
            c"Print CPython's free lists and objimpl's pools to stderr.",
        );
        let cpython = replace(sys, c"_debugmallocstats".as_ptr(), stats);
        CPYTHON_DEBUGMALLOCSTATS.store(cpython, Ordering::Release);
        let blocks = method(
            c"getallocatedblocks",
            getallocatedblocks,
            c"Return the number of blocks objimpl's pools hold.",
        );
        Py_DecRef(replace(sys, c"getallocatedblocks".as_ptr(), blocks));
        Py_DecRef(sys);
    }
}
