/* The extension tutorial's fourth type ("Supporting cyclic garbage
 * collection"), written from its text with only the include changed:
 * Py_TPFLAGS_HAVE_GC, tp_traverse with Py_VISIT, tp_clear with Py_CLEAR, a
 * tp_dealloc that untracks, clears and calls tp_free, and tp_new through
 * tp_alloc, which tracks. tp_alloc and tp_free are left to PyType_Ready.
 * Cycles made this way are collected. Prints "ok" and exits 0, or names
 * the check that failed and exits 1. */
#include <stdio.h>

#include "objimpl.h"

#include "check.h"

typedef struct {
    PyObject_HEAD
    PyObject *first; /* first name */
    PyObject *last;  /* last name */
    int number;
} CustomObject;

static int deallocs = 0;

static int
Custom_traverse(CustomObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->first);
    Py_VISIT(self->last);
    return 0;
}

static int
Custom_clear(CustomObject *self)
{
    Py_CLEAR(self->first);
    Py_CLEAR(self->last);
    return 0;
}

static void
Custom_dealloc(CustomObject *self)
{
    PyObject_GC_UnTrack(self);
    Custom_clear(self);
    deallocs++;
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static PyObject *
Custom_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    CustomObject *self;
    self = (CustomObject *) type->tp_alloc(type, 0);
    if (self != NULL) {
        self->first = Py_NewRef(Py_None);
        self->last = Py_NewRef(Py_None);
        self->number = 0;
    }
    return (PyObject *) self;
}

static PyTypeObject CustomType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "custom4.Custom",
    .tp_doc = PyDoc_STR("Custom objects"),
    .tp_basicsize = sizeof(CustomObject),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = Custom_new,
    .tp_dealloc = (destructor) Custom_dealloc,
    .tp_traverse = (traverseproc) Custom_traverse,
    .tp_clear = (inquiry) Custom_clear,
};

static CustomObject *
new_custom(void)
{
    return (CustomObject *) CustomType.tp_new(&CustomType, NULL, NULL);
}

int main(void)
{
    if (PyType_Ready(&CustomType) < 0) {
        PyErr_Print();
        return 1;
    }
    CHECK(CustomType.tp_alloc == PyType_GenericAlloc);
    CHECK(CustomType.tp_free == PyObject_GC_Del);
    PyGC_Collect();

    Py_ssize_t none_refs = Py_REFCNT(Py_None);
    CustomObject *a = new_custom();
    CustomObject *b = new_custom();
    CHECK(a != NULL && b != NULL);
    CHECK(PyObject_GC_IsTracked((PyObject *) a)); /* tp_alloc tracked it */

    /* a.first = b, b.first = a, a.last = a: cycles. */
    Py_XSETREF(a->first, Py_NewRef(b));
    Py_XSETREF(b->first, Py_NewRef(a));
    Py_XSETREF(a->last, Py_NewRef(a));
    Py_DECREF(a);
    Py_DECREF(b);
    CHECK(deallocs == 0); /* reference counting alone frees neither */
    Py_ssize_t found = PyGC_Collect();
    CHECK(found == 2);
    CHECK(deallocs == 2);
    CHECK(Py_REFCNT(Py_None) == none_refs); /* b.last's went with b */

    /* Many, in rings of three, collected as the thresholds pass. */
    for (int i = 0; i < 10000; i++) {
        CustomObject *x = new_custom(), *y = new_custom(), *z = new_custom();
        CHECK(x && y && z);
        Py_XSETREF(x->first, (PyObject *) y);
        Py_XSETREF(y->first, (PyObject *) z);
        Py_XSETREF(z->first, (PyObject *) x);
    }
    PyGC_Collect();
    CHECK(deallocs == 2 + 30000);
    CHECK(Py_REFCNT(Py_None) == none_refs);
    CHECK(PyErr_Occurred() == NULL);
    printf("ok\n");
    return 0;
}
