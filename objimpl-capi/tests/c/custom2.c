/* The extension tutorial's second type ("Adding data and methods to the
 * Basic example"), written from its text with only the include changed:
 * fields that hold references, tp_new through tp_alloc, tp_dealloc through
 * tp_free, neither of which the type sets (PyType_Ready fills them), and
 * Py_XSETREF to replace a field. The Python-level parts (members, methods,
 * tp_init's argument parsing) are left out: a setter stands for them.
 * Prints "ok" and exits 0, or names the check that failed and exits 1. */
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

static void
Custom_dealloc(CustomObject *self)
{
    Py_XDECREF(self->first);
    Py_XDECREF(self->last);
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

/* What tp_init does with its arguments, without them. */
static void
Custom_set(CustomObject *self, PyObject *first, PyObject *last, int number)
{
    if (first) {
        Py_XSETREF(self->first, Py_NewRef(first));
    }
    if (last) {
        Py_XSETREF(self->last, Py_NewRef(last));
    }
    self->number = number;
}

static PyTypeObject CustomType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "custom2.Custom",
    .tp_doc = PyDoc_STR("Custom objects"),
    .tp_basicsize = sizeof(CustomObject),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = Custom_new,
    .tp_dealloc = (destructor) Custom_dealloc,
};

int main(void)
{
    /* The module's init function. */
    if (PyType_Ready(&CustomType) < 0) {
        PyErr_Print();
        return 1;
    }
    CHECK(CustomType.tp_alloc == PyType_GenericAlloc);
    CHECK(CustomType.tp_free == PyObject_Del);
    CHECK(CustomType.tp_flags & Py_TPFLAGS_READY);
    CHECK(PyType_Ready(&CustomType) == 0); /* ready already */

    Py_ssize_t none_refs = Py_REFCNT(Py_None);
    CustomObject *a = (CustomObject *) CustomType.tp_new(&CustomType, NULL, NULL);
    CHECK(a != NULL);
    CHECK(Py_REFCNT(a) == 1 && Py_TYPE(a) == &CustomType);
    CHECK(a->first == Py_None && a->last == Py_None && a->number == 0);
    CHECK(Py_REFCNT(Py_None) == none_refs + 2);

    CustomObject *b = (CustomObject *) CustomType.tp_new(&CustomType, NULL, NULL);
    CHECK(b != NULL);
    Custom_set(a, (PyObject *) b, NULL, 7);
    CHECK(a->first == (PyObject *) b && Py_REFCNT(b) == 2 && a->number == 7);
    CHECK(Py_REFCNT(Py_None) == none_refs + 3);
    Py_DECREF(b); /* a holds the other reference */
    CHECK(deallocs == 0);

    /* tp_alloc zeroes: a fresh object's fields are NULL and 0. */
    CustomObject *z = (CustomObject *) PyType_GenericAlloc(&CustomType, 0);
    CHECK(z != NULL && z->first == NULL && z->last == NULL && z->number == 0);
    Py_DECREF(z);
    CHECK(deallocs == 1);

    Py_DECREF(a); /* and b with it */
    CHECK(deallocs == 3);
    CHECK(Py_REFCNT(Py_None) == none_refs);

    /* Py_RETURN_NONE, Py_XNewRef, Py_SETREF as the tutorial's code uses them. */
    PyObject *n = Py_XNewRef(Py_None);
    CHECK(n == Py_None && Py_XNewRef(NULL) == NULL);
    Py_SETREF(n, Py_NewRef(Py_None));
    Py_DECREF(n);
    CHECK(Py_REFCNT(Py_None) == none_refs);
    CHECK(PyErr_Occurred() == NULL);
    printf("ok\n");
    return 0;
}
