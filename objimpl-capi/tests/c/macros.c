/* Every macro of objimpl.h used as a statement and, where it gives a
 * value, as an expression: tests/c.rs compiles this with -Wall -Wextra
 * -Werror as C99 and as C11 (CPython 3.11's macros compile so), and runs
 * it. Prints "ok" and exits 0, or names the check that failed. */
#include <stdio.h>

#include "objimpl.h"

#include "check.h"

typedef struct {
    PyObject_HEAD
    PyObject *ref;
} BoxObject;

typedef struct {
    PyObject_VAR_HEAD
    double items[1];
} VecObject;

PyDoc_STRVAR(box_doc, "a box");

static int box_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(((BoxObject *)op)->ref);
    return 0;
}

static PyObject *none_please(void)
{
    Py_RETURN_NONE;
}

static PyTypeObject Box_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "box",
    .tp_doc = box_doc,
    .tp_basicsize = sizeof(BoxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

static PyTypeObject GcBox_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gcbox",
    .tp_doc = PyDoc_STR("a gc box"),
    .tp_basicsize = sizeof(BoxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = box_traverse,
};

static PyTypeObject Vec_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vec",
    .tp_basicsize = offsetof(VecObject, items),
    .tp_itemsize = sizeof(double),
};

static BoxObject static_object = { PyObject_HEAD_INIT(&Box_Type) NULL };

int main(void)
{
    CHECK(PyType_Ready(&Box_Type) == 0 && PyType_Ready(&GcBox_Type) == 0 &&
          PyType_Ready(&Vec_Type) == 0);
    CHECK(Py_TYPE(&static_object) == &Box_Type && Py_REFCNT(&static_object) == 1);

    /* Allocation: statements and expressions. */
    BoxObject *a = PyObject_New(BoxObject, &Box_Type);
    CHECK(a != NULL);
    a->ref = NULL;
    VecObject *v = PyObject_NewVar(VecObject, &Vec_Type, 3);
    CHECK(v != NULL && Py_SIZE(v) == 3);
    BoxObject *b = PyObject_NEW(BoxObject, &Box_Type);
    CHECK(b != NULL);
    b->ref = NULL;
    VecObject *w = PyObject_NEW_VAR(VecObject, &Vec_Type, 2);
    CHECK(w != NULL && Py_SIZE(w) == 2);
    BoxObject *g = PyObject_GC_New(BoxObject, &GcBox_Type);
    CHECK(g != NULL);
    g->ref = NULL;
    VecObject *gv = PyObject_GC_NewVar(VecObject, &GcBox_Type, 0);
    CHECK(gv != NULL);
    gv = PyObject_GC_Resize(VecObject, gv, 0);
    CHECK(gv != NULL);
    PyObject_GC_Del(gv);

    void *raw = PyObject_MALLOC(_PyObject_SIZE(&Box_Type));
    CHECK(raw != NULL);
    raw = PyObject_REALLOC(raw, _PyObject_VAR_SIZE(&Vec_Type, 4));
    CHECK(raw != NULL);
    PyObject_INIT(raw, &Box_Type);                 /* statement */
    CHECK(PyObject_INIT(raw, &Box_Type) == raw);   /* expression */
    PyObject_INIT_VAR(raw, &Vec_Type, 4);
    CHECK((void *)PyObject_INIT_VAR(raw, &Vec_Type, 4) == raw && Py_SIZE(raw) == 4);
    PyObject_FREE(raw);

    /* Reference counts. */
    Py_INCREF(a);
    Py_DECREF(a);
    Py_XINCREF(a);
    Py_XDECREF(a);
    Py_XINCREF(NULL);
    Py_XDECREF(NULL);
    Py_NewRef(a);                                   /* statement: a reference */
    CHECK(Py_REFCNT(a) == 2);
    Py_DECREF(a);
    CHECK(Py_NewRef(a) == (PyObject *)a && Py_XNewRef(NULL) == NULL);
    Py_DECREF(a);
    a->ref = Py_XNewRef(b);
    Py_SETREF(a->ref, Py_NewRef(Py_None));
    Py_XSETREF(a->ref, NULL);
    Py_XSETREF(a->ref, Py_NewRef(b));
    Py_CLEAR(a->ref);
    CHECK(a->ref == NULL && Py_REFCNT(b) == 1);
    PyObject *n = none_please();
    CHECK(n == Py_None);
    Py_DECREF(n);
    Py_DECREF(b);
    Py_DECREF(g);
    PyObject_Del(a);
    PyObject_DEL(v);
    PyObject_Free(w);
    printf("ok\n");
    return 0;
}
