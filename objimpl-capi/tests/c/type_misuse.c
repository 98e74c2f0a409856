/* Types used the wrong way from C: each case (argv[1]) either ends the
 * process with a message naming the type and what to do, or is refused
 * with SystemError (printed with PyErr_Print), never a bare crash.
 * tests/c.rs runs each case and reads what it printed. */
#include <stdio.h>
#include <string.h>

#include "objimpl.h"

typedef struct {
    PyObject_HEAD
    PyObject *ref;
} RefObject;

static int ref_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(((RefObject *)op)->ref);
    return 0;
}

static void ref_dealloc(PyObject *op)
{
    Py_TYPE(op)->tp_free(op);
}

/* The tutorial's type with PyType_Ready forgotten: tp_free is NULL. */
static PyTypeObject Unready = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "Unready",
    .tp_basicsize = sizeof(RefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = ref_dealloc,
};

/* A gc type without tp_traverse, never readied. */
static PyTypeObject NoTraverse = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "NoTraverse",
    .tp_basicsize = sizeof(RefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = ref_dealloc,
};

static PyTypeObject Gc = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "Gc",
    .tp_basicsize = sizeof(RefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = ref_traverse,
};

static PyTypeObject Plain = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "Plain",
    .tp_basicsize = sizeof(RefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

/* No tp_dealloc, and tp_free set: nothing fills tp_dealloc. */
static PyTypeObject NoDealloc = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "NoDealloc",
    .tp_basicsize = sizeof(RefObject),
    .tp_free = PyObject_Free,
};

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    PyObject *op = NULL;
    if (strcmp(c, "unready") == 0) {
        /* Readied at its first object: works, as if PyType_Ready ran. */
        op = PyObject_New(PyObject, &Unready);
        Py_DECREF(op);
        printf("freed\n");
    } else if (strcmp(c, "no-traverse") == 0) {
        op = (PyObject *)PyObject_GC_New(RefObject, &NoTraverse);
    } else if (strcmp(c, "new-on-gc") == 0) {
        op = PyObject_New(PyObject, &Gc);
    } else if (strcmp(c, "gc-new-on-plain") == 0) {
        op = (PyObject *)PyObject_GC_New(RefObject, &Plain);
    } else if (strcmp(c, "no-dealloc") == 0) {
        /* PyObject_NEW's path (memory, then PyObject_Init) readies the
         * type, filling tp_dealloc; a program that then takes it away
         * meets _Py_Dealloc's message at the last Py_DECREF. */
        op = PyObject_Init((PyObject *)PyObject_Malloc(sizeof(RefObject)), &NoDealloc);
        if (op != NULL && NoDealloc.tp_dealloc != NULL) {
            NoDealloc.tp_dealloc = NULL;
            Py_DECREF(op);
            printf("freed\n");
        }
    } else if (strcmp(c, "mem-without-gil") == 0) {
        /* Once the GIL is in use, the hooks stop a caller without it. */
        PyMem_SetupDebugHooks();
        PyGILState_Release(PyGILState_Ensure());
        void *p = PyMem_Malloc(8);
        printf("not stopped %p\n", p);
        return 0;
    } else if (strcmp(c, "double-decref") == 0) {
        /* A Py_DECREF too many writes to the freed object; the hooks'
         * check at exit finds it. */
        PyMem_SetupDebugHooks();
        Unready.tp_free = PyObject_Free;
        op = PyObject_New(PyObject, &Unready);
        PyObject *again = op;
        Py_DECREF(op);
        Py_DECREF(again);
        printf("exiting\n");
        fflush(stdout);
        return 0;
    } else if (strcmp(c, "gc-freed-plain") == 0) {
        PyMem_SetupDebugHooks();
        op = (PyObject *)PyObject_GC_New(RefObject, &Gc);
        PyObject_Free(op);
        printf("not stopped\n");
        return 0;
    } else if (strcmp(c, "plain-freed-gc") == 0) {
        op = PyObject_New(PyObject, &Plain);
        PyObject_GC_Del(op);
        printf("not stopped\n");
        return 0;
    } else if (strcmp(c, "gc-without-gil") == 0) {
        PyGILState_Release(PyGILState_Ensure());
        op = (PyObject *)PyObject_GC_New(RefObject, &Gc);
        printf("not stopped\n");
        return 0;
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    if (op == NULL) {
        PyErr_Print();
        return 3;
    }
    printf("done\n");
    return 0;
}
