/* Two threads that hand gc objects over under the GIL, as any extension
 * does: the producer makes them (pairs that refer to each other, and plain
 * objects), the consumer drops them, and cycles made on one thread are
 * collected by the other. Between objects each thread lets the GIL go
 * (Py_BEGIN_ALLOW_THREADS). Prints "ok" and exits 0, or names the check
 * that failed and exits 1. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "objimpl.h"

#define COUNT 200000
#define RING 64

#define CHECK_FAILED ((void *)1)
#include "check.h"

typedef struct {
    PyObject_HEAD
    PyObject *other;
    long n;
} NodeObject;

static long deallocs = 0; /* under the GIL */

static int Node_traverse(NodeObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->other);
    return 0;
}

static int Node_clear(NodeObject *self)
{
    Py_CLEAR(self->other);
    return 0;
}

static void Node_dealloc(NodeObject *self)
{
    PyObject_GC_UnTrack(self);
    Node_clear(self);
    deallocs++;
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static PyTypeObject NodeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threads.Node",
    .tp_basicsize = sizeof(NodeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor) Node_dealloc,
    .tp_traverse = (traverseproc) Node_traverse,
    .tp_clear = (inquiry) Node_clear,
};

/* The hand-over ring, guarded by the GIL. */
static PyObject *ring[RING];
static long produced = 0, consumed = 0;

static void *producer(void *arg)
{
    (void)arg;
    for (long i = 0; i < COUNT; i++) {
        PyGILState_STATE g = PyGILState_Ensure();
        while (produced - consumed == RING) {
            Py_BEGIN_ALLOW_THREADS
            sched_yield();
            Py_END_ALLOW_THREADS
        }
        NodeObject *a = (NodeObject *) NodeType.tp_new(&NodeType, NULL, NULL);
        CHECK(a != NULL);
        a->n = i;
        if (i % 2 == 0) {
            /* A pair in a cycle: only the collector can free it. */
            NodeObject *b = (NodeObject *) NodeType.tp_new(&NodeType, NULL, NULL);
            CHECK(b != NULL);
            a->other = Py_NewRef(b);
            b->other = Py_NewRef(a);
            Py_DECREF(b);
        }
        ring[produced % RING] = (PyObject *) a;
        produced++;
        PyGILState_Release(g);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < COUNT; i++) {
        PyGILState_STATE g = PyGILState_Ensure();
        while (consumed == produced) {
            Py_BEGIN_ALLOW_THREADS
            sched_yield();
            Py_END_ALLOW_THREADS
        }
        NodeObject *a = (NodeObject *) ring[consumed % RING];
        CHECK(a->n == i && PyGILState_Check());
        consumed++;
        Py_DECREF(a);
        if (i % 10000 == 0) {
            PyGC_Collect();
        }
        PyGILState_Release(g);
    }
    return NULL;
}

int main(void)
{
    if (PyType_Ready(&NodeType) != 0) {
        PyErr_Print();
        return 1;
    }
    pthread_t p, c;
    void *pr, *cr;
    pthread_create(&p, NULL, producer, NULL);
    pthread_create(&c, NULL, consumer, NULL);
    pthread_join(p, &pr);
    pthread_join(c, &cr);
    if (pr != NULL || cr != NULL) {
        return 1;
    }
    PyGILState_STATE g = PyGILState_Ensure();
    PyGC_Collect();
    /* Every object went: COUNT made, and one more per even i. */
    long expected = COUNT + COUNT / 2;
    if (deallocs != expected) {
        fprintf(stderr, "deallocs %ld, expected %ld\n", deallocs, expected);
        return 1;
    }
    PyGILState_Release(g);
    printf("ok\n");
    return 0;
}
