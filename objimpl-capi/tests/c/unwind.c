/* Reference counting from C on an object whose Rust destructor panics:
 * built as a shared library that tests/c.rs loads into a child process.
 * The panic must not unwind into these frames: the process ends inside
 * objimpl instead. */
#include "objimpl.h"

/* Py_DECREF, inlined from the header: at zero, _Py_Dealloc. */
void decref_from_c(PyObject *op)
{
    Py_DECREF(op);
}

/* The function Py_DecRef. */
void xdecref_from_c(PyObject *op)
{
    Py_DecRef(op);
}
