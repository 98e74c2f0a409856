/* PyType_Ready refuses the types it can see will not work, with
 * SystemError set, and PyErr_Print says why (tests/c.rs reads stderr).
 * Prints "ok" and exits 0, or names the check that failed and exits 1. */
#include <stdio.h>

#include "objimpl.h"

#include "check.h"

typedef struct {
    PyObject_HEAD
    PyObject *ref;
} RefObject;

static int ref_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(((RefObject *)op)->ref);
    return 0;
}

static PyTypeObject NoTraverse = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "NoTraverse",
    .tp_basicsize = sizeof(RefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
};

static PyTypeObject GcFreedPlain = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "GcFreedPlain",
    .tp_basicsize = sizeof(RefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = ref_traverse,
    .tp_free = PyObject_Del,
};

static PyTypeObject PlainFreedGc = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "PlainFreedGc",
    .tp_basicsize = sizeof(RefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_free = PyObject_GC_Del,
};

static PyTypeObject TooSmall = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "TooSmall",
    .tp_basicsize = 8,
};

static PyTypeObject Nameless = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_basicsize = sizeof(RefObject),
};

static int refused(PyTypeObject *type)
{
    if (PyType_Ready(type) != -1 || PyErr_Occurred() != PyExc_SystemError) {
        return 0;
    }
    PyErr_Print();
    return PyErr_Occurred() == NULL && (type == NULL || !(type->tp_flags & Py_TPFLAGS_READY));
}

int main(void)
{
    CHECK(refused(&NoTraverse));
    CHECK(refused(&GcFreedPlain));
    CHECK(refused(&PlainFreedGc));
    CHECK(refused(&TooSmall));
    CHECK(refused(&Nameless));
    CHECK(refused(NULL));
    printf("ok\n");
    return 0;
}
