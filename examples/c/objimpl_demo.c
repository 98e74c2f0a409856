/*
 * objimpl from C: a fixed-size and a var-size type object defined in C,
 * objects made with the functions and with the macros, a MemoryError on
 * purpose, and the allocator's statistics.
 *
 *   cargo build --release -p objimpl-capi
 *   cc -std=c11 -Wall -Wextra -Iobjimpl-capi/include examples/c/objimpl_demo.c \
 *      target/release/libobjimpl_capi.a -lpthread -ldl -lm -o objimpl_demo
 *   ./objimpl_demo
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "objimpl.h"

/* Fails the program, saying which check did not hold. */
#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,     \
                    __LINE__, #cond);                                   \
            return 1;                                                   \
        }                                                               \
    } while (0)

/* A fixed-size object: PyObject_HEAD and two doubles, as `complex`. */
typedef struct {
    PyObject_HEAD
    double real, imag;
} ComplexObject;

/* A var-size object: PyObject_VAR_HEAD, a cached hash, then ob_size bytes
 * and a trailing NUL, as `bytes`. */
typedef struct {
    PyObject_VAR_HEAD
    Py_ssize_t ob_shash;
    char ob_sval[1];
} BytesObject;

static int deallocs = 0;

/* Nothing to release but the memory itself. */
static void object_dealloc(PyObject *op)
{
    deallocs++;
    Py_TYPE(op)->tp_free(op);
}

static PyTypeObject Complex_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "complex",
    .tp_basicsize = sizeof(ComplexObject),
    .tp_dealloc = object_dealloc,
    .tp_doc = "a complex number",
    .tp_free = PyObject_Free,
};

static PyTypeObject Bytes_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bytes",
    .tp_basicsize = offsetof(BytesObject, ob_sval) + 1,
    .tp_itemsize = 1,
    .tp_dealloc = object_dealloc,
    .tp_free = PyObject_Free,
};

static BytesObject *bytes_from(const char *text, int with_macros)
{
    Py_ssize_t n = (Py_ssize_t)strlen(text);
    BytesObject *b = with_macros ? PyObject_NEW_VAR(BytesObject, &Bytes_Type, n)
                                 : PyObject_NewVar(BytesObject, &Bytes_Type, n);
    if (b == NULL) {
        return NULL;
    }
    b->ob_shash = -1;
    memcpy(b->ob_sval, text, (size_t)n + 1);
    return b;
}

int main(void)
{
    printf("_PyObject_SIZE(complex) = %zu, _PyObject_VAR_SIZE(bytes, 5) = %zu\n",
           _PyObject_SIZE(&Complex_Type), _PyObject_VAR_SIZE(&Bytes_Type, 5));
    CHECK(_PyObject_SIZE(&Complex_Type) == 32);
    CHECK(_PyObject_VAR_SIZE(&Bytes_Type, 5) == 40);

    /* The functions: _PyObject_New through its macro PyObject_New. */
    ComplexObject *z = PyObject_New(ComplexObject, &Complex_Type);
    CHECK(z != NULL);
    z->real = 1.5;
    z->imag = -2.0;
    CHECK(Py_TYPE(z) == &Complex_Type && Py_REFCNT(z) == 1);

    /* The macros: PyObject_MALLOC, then PyObject_INIT, no NULL check. */
    ComplexObject *w = (ComplexObject *)PyObject_MALLOC(_PyObject_SIZE(&Complex_Type));
    CHECK(w != NULL);
    w = (ComplexObject *)PyObject_INIT(w, &Complex_Type); /* gives back its object */
    w->real = z->real * 2;
    w->imag = 0.0;
    printf("%s(%g, %g) and %s(%g, %g)\n", Py_TYPE(z)->tp_name, z->real, z->imag,
           Py_TYPE(w)->tp_name, w->real, w->imag);

    /* PyObject_NEW: the macro that allocates and calls PyObject_Init. */
    ComplexObject *u = PyObject_NEW(ComplexObject, &Complex_Type);
    CHECK(u != NULL && Py_REFCNT(u) == 1);

    /* Var-size objects, by function and by macro. */
    BytesObject *hello = bytes_from("hello", 0);
    BytesObject *world = bytes_from("world", 1);
    CHECK(hello != NULL && world != NULL);
    CHECK(Py_SIZE(hello) == 5 && Py_SIZE(world) == 5);
    printf("%s(%zd) \"%s\" and \"%s\"\n", Py_TYPE(hello)->tp_name, Py_SIZE(hello),
           hello->ob_sval, world->ob_sval);

    /* References: the inline macros and the functions. */
    Py_INCREF(z);
    Py_IncRef((PyObject *)z);
    CHECK(Py_REFCNT(z) == 3);
    Py_DECREF(z);
    Py_DecRef((PyObject *)z);
    CHECK(Py_REFCNT(z) == 1 && deallocs == 0);
    Py_DECREF(z);
    Py_DECREF(w);
    Py_DECREF(u);
    Py_DECREF(hello);
    Py_XDECREF(world);
    Py_XDECREF(NULL);
    CHECK(deallocs == 5);
    printf("5 objects made, 5 deallocated\n");

    /* MemoryError on purpose: a size no allocator can grant. */
    CHECK(PyErr_Occurred() == NULL);
    BytesObject *huge = PyObject_NewVar(BytesObject, &Bytes_Type, PY_SSIZE_T_MAX);
    CHECK(huge == NULL && PyErr_Occurred() == PyExc_MemoryError);
    printf("PyObject_NewVar(bytes, PY_SSIZE_T_MAX): NULL, with %s set\n",
           ((PyTypeObject *)PyErr_Occurred())->tp_name);
    PyErr_Clear();
    huge = PyObject_NEW_VAR(BytesObject, &Bytes_Type, PY_SSIZE_T_MAX / 2);
    CHECK(huge == NULL && PyErr_Occurred() == PyExc_MemoryError);
    PyErr_Clear();

    /* 10,000 objects alive for the statistics. */
    static ComplexObject *many[10000];
    for (int i = 0; i < 10000; i++) {
        many[i] = PyObject_New(ComplexObject, &Complex_Type);
        CHECK(many[i] != NULL);
    }
    printf("\nWith 10,000 complex objects alive:\n");
    fflush(stdout);
    CHECK(_PyObject_DebugMallocStats(stdout) == 1);
    for (int i = 0; i < 10000; i++) {
        Py_DECREF(many[i]);
    }
    return 0;
}
