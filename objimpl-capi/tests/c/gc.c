/* The GC half of objimpl.h, from C: a type with tp_traverse and tp_clear,
 * as a C extension writes one, whose cycles PyGC_Collect frees. Prints "ok"
 * and exits 0, or names the check that failed and exits 1. */
#include <stdio.h>

#include "objimpl.h"

#include "check.h"

/* A pair of references, either of which may be NULL. */
typedef struct {
    PyObject_HEAD
    PyObject *first;
    PyObject *second;
} PairObject;

static int deallocs = 0;

static int pair_traverse(PyObject *op, visitproc visit, void *arg)
{
    PairObject *self = (PairObject *)op;
    Py_VISIT(self->first);
    Py_VISIT(self->second);
    return 0;
}

static int pair_clear(PyObject *op)
{
    PairObject *self = (PairObject *)op;
    Py_CLEAR(self->first);
    Py_CLEAR(self->second);
    return 0;
}

static void pair_dealloc(PyObject *op)
{
    PyObject_GC_UnTrack(op);
    pair_clear(op);
    deallocs++;
    PyObject_GC_Del(op);
}

static PyTypeObject Pair_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pair",
    .tp_basicsize = sizeof(PairObject),
    .tp_dealloc = pair_dealloc,
    .tp_flags = Py_TPFLAGS_HAVE_GC,
    .tp_traverse = pair_traverse,
    .tp_clear = pair_clear,
    .tp_free = PyObject_GC_Del,
};

static PairObject *pair(PyObject *first, PyObject *second)
{
    PairObject *p = PyObject_GC_New(PairObject, &Pair_Type);
    if (p == NULL) {
        return NULL;
    }
    Py_XINCREF(first);
    Py_XINCREF(second);
    p->first = first;
    p->second = second;
    PyObject_GC_Track(p);
    return p;
}

/* A var type whose items are references: a tuple. */
typedef struct {
    PyObject_VAR_HEAD
    PyObject *items[1];
} TupleObject;

static int tuple_traverse(PyObject *op, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < Py_SIZE(op); i++) {
        Py_VISIT(((TupleObject *)op)->items[i]);
    }
    return 0;
}

static int tuple_clear(PyObject *op)
{
    for (Py_ssize_t i = 0; i < Py_SIZE(op); i++) {
        Py_CLEAR(((TupleObject *)op)->items[i]);
    }
    return 0;
}

static void tuple_dealloc(PyObject *op)
{
    PyObject_GC_UnTrack(op);
    tuple_clear(op);
    deallocs++;
    PyObject_GC_Del(op);
}

static PyTypeObject Tuple_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tuple",
    .tp_basicsize = offsetof(TupleObject, items),
    .tp_itemsize = sizeof(PyObject *),
    .tp_dealloc = tuple_dealloc,
    .tp_flags = Py_TPFLAGS_HAVE_GC,
    .tp_traverse = tuple_traverse,
    .tp_clear = tuple_clear,
    .tp_free = PyObject_GC_Del,
};

/* A type with tp_traverse but no tp_clear: its cycles cannot be broken, so
 * they survive, with all they reach (CPython keeps them too). */
static PyTypeObject Opaque_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "opaque",
    .tp_basicsize = sizeof(PairObject),
    .tp_dealloc = pair_dealloc,
    .tp_flags = Py_TPFLAGS_HAVE_GC,
    .tp_traverse = pair_traverse,
    .tp_free = PyObject_GC_Del,
};

int main(void)
{
    CHECK(PyGC_IsEnabled() == 1);

    /* An acyclic pair goes by reference counting alone. */
    PairObject *leaf = pair(NULL, NULL);
    CHECK(leaf != NULL && PyObject_GC_IsTracked((PyObject *)leaf));
    CHECK(PyObject_GC_IsFinalized((PyObject *)leaf) == 0);
    Py_DECREF(leaf);
    CHECK(deallocs == 1);

    /* A two-cycle a <-> b, and a self-loop c -> c. */
    PairObject *a = pair(NULL, NULL), *b = pair((PyObject *)a, NULL), *c = pair(NULL, NULL);
    CHECK(a && b && c);
    a->first = (PyObject *)b;
    Py_INCREF(b);
    c->first = (PyObject *)c;
    Py_INCREF(c);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    CHECK(deallocs == 1); /* cycles outlive their last outside reference */
    CHECK(PyGC_Collect() == 3);
    CHECK(deallocs == 4);
    CHECK(PyGC_Collect() == 0);

    /* A cycle held from outside survives; let go, it is collected. */
    PairObject *root = pair(NULL, NULL), *x = pair(NULL, NULL);
    x->first = (PyObject *)x;
    Py_INCREF(x);
    root->first = (PyObject *)x; /* root takes x's reference */
    CHECK(PyGC_Collect() == 0);
    Py_DECREF(root); /* x still holds itself */
    CHECK(deallocs == 5);
    CHECK(PyGC_Collect() == 1);
    CHECK(deallocs == 6);

    /* A cycle through a var object's items, grown with PyObject_GC_Resize
     * before it is tracked, as CPython's tuple does. */
    TupleObject *t = PyObject_GC_NewVar(TupleObject, &Tuple_Type, 1);
    CHECK(t != NULL && Py_SIZE(t) == 1);
    t = PyObject_GC_Resize(TupleObject, t, 3);
    CHECK(t != NULL && Py_SIZE(t) == 3);
    for (int i = 0; i < 3; i++) {
        t->items[i] = (PyObject *)t;
        Py_INCREF(t);
    }
    PyObject_GC_Track(t);
    Py_DECREF(t);
    CHECK(PyGC_Collect() == 1);
    CHECK(deallocs == 7);

    /* opaque <-> pair: the opaque object cannot be cleared, so neither is
     * the pair it reaches; breaking the cycle by hand frees both. */
    PairObject *o = PyObject_GC_New(PairObject, &Opaque_Type);
    CHECK(o != NULL);
    o->second = NULL;
    PairObject *p = pair((PyObject *)o, NULL);
    CHECK(p != NULL);
    o->first = (PyObject *)p; /* o takes p's reference */
    PyObject_GC_Track(o);
    Py_DECREF(o); /* p holds it */
    CHECK(PyGC_Collect() == 0);
    CHECK(deallocs == 7);
    CHECK(PyObject_GC_IsTracked((PyObject *)o) && PyObject_GC_IsTracked((PyObject *)p));
    Py_CLEAR(o->first); /* frees p, which frees o */
    CHECK(deallocs == 9);

    /* Errors: NULL with MemoryError set. */
    CHECK(PyObject_GC_NewVar(TupleObject, &Tuple_Type, -1) == NULL);
    CHECK(PyErr_Occurred() == PyExc_MemoryError);
    PyErr_Clear();

    /* Automatic collection: many cycles, no PyGC_Collect. */
    for (int i = 0; i < 5000; i++) {
        PairObject *p = pair(NULL, NULL);
        CHECK(p != NULL);
        p->first = (PyObject *)p;
        Py_INCREF(p);
        Py_DECREF(p);
    }
    CHECK(deallocs > 9 + 4000);
    CHECK(PyGC_Disable() == 1 && PyGC_IsEnabled() == 0 && PyGC_Enable() == 0);
    PyGC_Collect();
    CHECK(deallocs == 9 + 5000);

    puts("ok");
    return 0;
}
