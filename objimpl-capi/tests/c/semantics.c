/* CPython's semantics, from C: NULL in and NULL out, MemoryError, the
 * reference-count helpers, allocators set from C. Prints "ok" and exits 0, or
 * names the check that failed and exits 1. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "objimpl.h"

#include "check.h"

typedef struct { PyObject_VAR_HEAD double items[1]; } ArrayObject;

static int deallocs = 0;
static void counting_dealloc(PyObject *op)
{
    deallocs++;
    PyObject_Free(op);
}

static PyTypeObject Array_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "array",
    .tp_basicsize = offsetof(ArrayObject, items),
    .tp_itemsize = sizeof(double),
    .tp_dealloc = counting_dealloc,
};

/* A counting allocator over the one it replaces. */
typedef struct { PyMemAllocatorEx below; long live; } Counting;

static void *counting_malloc(void *ctx, size_t size)
{
    Counting *c = ctx;
    void *p = c->below.malloc(c->below.ctx, size);
    c->live += p != NULL;
    return p;
}
static void *counting_calloc(void *ctx, size_t n, size_t size)
{
    Counting *c = ctx;
    void *p = c->below.calloc(c->below.ctx, n, size);
    c->live += p != NULL;
    return p;
}
static void *counting_realloc(void *ctx, void *ptr, size_t size)
{
    Counting *c = ctx;
    void *p = c->below.realloc(c->below.ctx, ptr, size);
    c->live += ptr == NULL && p != NULL;
    return p;
}
static void counting_free(void *ctx, void *ptr)
{
    Counting *c = ctx;
    c->live -= ptr != NULL;
    c->below.free(c->below.ctx, ptr);
}

static int null_in_null_out(void)
{
    PyErr_Clear();
    CHECK(PyObject_Init(NULL, &Array_Type) == NULL);
    CHECK(PyErr_Occurred() == PyExc_MemoryError);
    PyErr_Clear();
    CHECK(PyErr_Occurred() == NULL);
    CHECK(PyObject_InitVar(NULL, &Array_Type, 3) == NULL);
    CHECK(PyErr_Occurred() == PyExc_MemoryError);
    PyErr_Clear();
    PyObject_Free(NULL);
    PyMem_Free(NULL);
    PyMem_RawFree(NULL);
    CHECK(PyErr_NoMemory() == NULL && PyErr_Occurred() == PyExc_MemoryError);
    PyErr_Clear();
    return 0;
}

static int overflowing_counts_are_memory_errors(void)
{
    /* CPython's _PyObject_VAR_SIZE would wrap around here. */
    CHECK(_PyObject_NewVar(&Array_Type, PY_SSIZE_T_MAX / 4) == NULL);
    CHECK(PyErr_Occurred() == PyExc_MemoryError);
    PyErr_Clear();
    CHECK(_PyObject_NewVar(&Array_Type, -1) == NULL);
    CHECK(PyErr_Occurred() == PyExc_MemoryError);
    PyErr_Clear();
    CHECK(_PyObject_VAR_SIZE(&Array_Type, PY_SSIZE_T_MAX / 4) == SIZE_MAX);
    CHECK(PyObject_NEW_VAR(ArrayObject, &Array_Type, PY_SSIZE_T_MAX / 4) == NULL);
    CHECK(PyErr_Occurred() == PyExc_MemoryError);
    PyErr_Clear();
    CHECK(PyObject_Malloc((size_t)PY_SSIZE_T_MAX + 1) == NULL);
    CHECK(PyMem_Calloc(SIZE_MAX, 2) == NULL);
    return 0;
}

static int refcounts_call_tp_dealloc_at_zero(void)
{
    ArrayObject *a = PyObject_NewVar(ArrayObject, &Array_Type, 4);
    CHECK(a != NULL && Py_SIZE(a) == 4 && Py_REFCNT(a) == 1);
    Py_IncRef((PyObject *)a);
    Py_INCREF(a);
    CHECK(Py_REFCNT(a) == 3);
    Py_DecRef((PyObject *)a);
    Py_DECREF(a);
    CHECK(deallocs == 0 && Py_REFCNT(a) == 1);
    Py_DecRef((PyObject *)a);
    CHECK(deallocs == 1);
    Py_IncRef(NULL);
    Py_DecRef(NULL);
    return 0;
}

static int blocks_are_aligned_unique_and_kept(void)
{
    void *a = PyObject_Malloc(0), *b = PyObject_Malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    CHECK((uintptr_t)a % 16 == 0 && (uintptr_t)b % 16 == 0);
    PyObject_Free(a);
    PyObject_Free(b);
    char *p = PyMem_Malloc(10);
    CHECK(p != NULL);
    memcpy(p, "0123456789", 10);
    p = PyMem_Realloc(p, 5000);
    CHECK(p != NULL && memcmp(p, "0123456789", 10) == 0);
    p = PyMem_Realloc(p, 3);
    CHECK(p != NULL && memcmp(p, "012", 3) == 0);
    PyMem_Free(p);
    unsigned char *z = PyObject_Calloc(100, 3);
    CHECK(z != NULL);
    for (int i = 0; i < 300; i++) {
        CHECK(z[i] == 0);
    }
    PyObject_Free(z);
    return 0;
}

static int an_allocator_set_from_c_sees_every_block(void)
{
    static Counting counting;
    PyMemAllocatorEx mine = {&counting, counting_malloc, counting_calloc, counting_realloc,
                             counting_free};
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &counting.below);
    CHECK(counting.below.malloc != NULL);
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &mine);

    void *p = PyMem_Malloc(100), *q = PyMem_Calloc(2, 8), *r = PyMem_Realloc(NULL, 7);
    CHECK(counting.live == 3);
    r = PyMem_Realloc(r, 700);
    CHECK(counting.live == 3);
    PyMem_Free(p);
    PyMem_Free(q);
    PyMem_Free(r);
    CHECK(counting.live == 0);

    PyMemAllocatorEx got;
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &got);
    CHECK(got.ctx == &counting && got.malloc == counting_malloc);
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &counting.below);

    /* An unknown domain: GetAllocator gives NULLs, SetAllocator ignores it. */
    PyMem_GetAllocator((PyMemAllocatorDomain)7, &got);
    CHECK(got.ctx == NULL && got.malloc == NULL && got.free == NULL);
    PyMem_SetAllocator((PyMemAllocatorDomain)7, &mine);
    p = PyMem_Malloc(8);
    PyMem_Free(p);
    CHECK(counting.live == 0);
    return 0;
}

int main(void)
{
    if (null_in_null_out() || overflowing_counts_are_memory_errors() ||
        refcounts_call_tp_dealloc_at_zero() || blocks_are_aligned_unique_and_kept() ||
        an_allocator_set_from_c_sees_every_block()) {
        return 1;
    }
    printf("ok\n");
    return 0;
}
