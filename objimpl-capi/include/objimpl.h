/*
 * objimpl.h: CPython's object memory interface (Include/objimpl.h and the
 * parts of Include/pymem.h and Include/object.h it needs), implemented by
 * objimpl in Rust. Link with libobjimpl_capi.a or libobjimpl_capi.so:
 *
 *   cargo build --release -p objimpl-capi
 *   cc -std=c11 -Iobjimpl-capi/include prog.c target/release/libobjimpl_capi.a \
 *      -lpthread -ldl -lm -o prog
 *
 * As in CPython, every interface comes twice: functions, for binary
 * compatibility (an extension should call these), and macros, for speed
 * (which bake the object layout into the caller). The structs below are laid
 * out as objimpl's Rust side lays them out; a test compares them field by
 * field.
 *
 * Where objimpl differs from CPython: `_PyObject_VAR_SIZE` (and so
 * PyObject_NEW_VAR) checks for overflow instead of wrapping around, giving a
 * size no allocator grants, so the allocation fails with MemoryError.
 *
 * The Python-level parts of a type (PyMemberDef, PyMethodDef, getters and
 * setters, modules, argument parsing, tp_init's arguments) are not here:
 * objimpl is object memory, not an interpreter. A type written as CPython's
 * "Defining Extension Types: Tutorial" writes it compiles with its memory
 * slots (tp_new through tp_alloc, tp_dealloc through tp_free, tp_traverse,
 * tp_clear) and behaves as in CPython; PyType_Ready fills what it leaves
 * NULL.
 *
 * A Rust panic never unwinds into C. Objects of types defined in Rust run
 * Rust destructors, which may panic; a function here that may run one
 * (Py_DecRef, _Py_Dealloc and so Py_DECREF and Py_CLEAR, PyGC_Collect,
 * PyObject_GC_New and PyObject_GC_NewVar, which may collect) ends the
 * process if one does, printing "objimpl: fatal error: ..." and calling
 * abort(). Never call an object's tp_dealloc (or tp_clear) yourself: the
 * slots of a Rust type may unwind; let Py_DECREF call _Py_Dealloc.
 */
#ifndef OBJIMPL_H
#define OBJIMPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Objects (Include/object.h) --------------------------------------- */

typedef ptrdiff_t Py_ssize_t;
#define PY_SSIZE_T_MAX PTRDIFF_MAX

typedef struct _typeobject PyTypeObject;

/* PyObject_HEAD: every object starts with one. */
typedef struct _object {
    Py_ssize_t ob_refcnt;
    PyTypeObject *ob_type;
} PyObject;

/* PyObject_VAR_HEAD: objects with a variable number of items. */
typedef struct {
    PyObject ob_base;
    Py_ssize_t ob_size; /* number of items */
} PyVarObject;

#define PyObject_HEAD PyObject ob_base;
#define PyObject_VAR_HEAD PyVarObject ob_base;
#define PyObject_HEAD_INIT(type) { 1, (type) },
#define PyVarObject_HEAD_INIT(type, size) { PyObject_HEAD_INIT(type) (size) },

typedef void (*destructor)(PyObject *);
typedef void (*freefunc)(void *);
typedef int (*visitproc)(PyObject *, void *);
typedef int (*traverseproc)(PyObject *, visitproc, void *);
typedef int (*inquiry)(PyObject *);
typedef PyObject *(*allocfunc)(PyTypeObject *, Py_ssize_t);
typedef PyObject *(*newfunc)(PyTypeObject *, PyObject *, PyObject *);
typedef int (*initproc)(PyObject *, PyObject *, PyObject *);

/*
 * The leading fields of CPython 3.11's PyTypeObject, at its offsets. objimpl
 * reads tp_name, tp_basicsize, tp_itemsize, tp_dealloc, tp_flags,
 * tp_traverse, tp_clear, tp_alloc, tp_new and tp_free; the slots between
 * them are there to keep the offsets, and so that a type object written for
 * CPython compiles. A type object is immortal.
 */
struct _typeobject {
    PyObject_VAR_HEAD
    const char *tp_name;
    Py_ssize_t tp_basicsize, tp_itemsize;
    destructor tp_dealloc;
    /* Not used by objimpl: */
    Py_ssize_t tp_vectorcall_offset;
    void *tp_getattr, *tp_setattr, *tp_as_async, *tp_repr, *tp_as_number,
        *tp_as_sequence, *tp_as_mapping, *tp_hash, *tp_call, *tp_str,
        *tp_getattro, *tp_setattro, *tp_as_buffer;
    unsigned long tp_flags;
    const char *tp_doc; /* not used by objimpl */
    traverseproc tp_traverse; /* for types with Py_TPFLAGS_HAVE_GC */
    inquiry tp_clear;         /* likewise */
    /* Not used by objimpl: */
    void *tp_richcompare;
    Py_ssize_t tp_weaklistoffset;
    void *tp_iter, *tp_iternext, *tp_methods, *tp_members, *tp_getset,
        *tp_base, *tp_dict, *tp_descr_get, *tp_descr_set;
    Py_ssize_t tp_dictoffset;
    initproc tp_init; /* not used by objimpl */
    allocfunc tp_alloc; /* PyType_Ready: PyType_GenericAlloc if NULL */
    newfunc tp_new;
    freefunc tp_free; /* PyType_Ready: PyObject_Del, or PyObject_GC_Del, if NULL */
};

/* Type flags (tp_flags) as CPython 3.11 defines them. */
/* (1UL << 2) is objimpl's own, for types built in Rust; PyType_Ready clears it. */
#define Py_TPFLAGS_BASETYPE (1UL << 10)
#define Py_TPFLAGS_READY (1UL << 12)
#define Py_TPFLAGS_HAVE_GC (1UL << 14)
#define Py_TPFLAGS_HAVE_VERSION_TAG (1UL << 18)
#define Py_TPFLAGS_DEFAULT Py_TPFLAGS_HAVE_VERSION_TAG

#define PyDoc_STRVAR(name, str) static const char name[] = str
#define PyDoc_STR(str) str

/* Readies a type before its first object: fills tp_alloc, tp_free and
 * tp_dealloc where NULL (tp_free by Py_TPFLAGS_HAVE_GC), and refuses a type
 * that cannot work (no tp_traverse on a gc type, a tp_free of the other
 * kind, a tp_basicsize smaller than its header): 0, or -1 with SystemError
 * set (PyErr_Print shows why). A type whose first object is made with
 * tp_free or tp_dealloc still NULL is readied then (and one PyType_Ready
 * refuses ends the process, saying why); PyObject_New on a gc type, or
 * PyObject_GC_New on a plain one, is refused with SystemError; a
 * _Py_Dealloc of an object whose type has no tp_dealloc ends the process
 * with a message. None of these is a bare crash. */
int PyType_Ready(PyTypeObject *type);
/* A zeroed object of type with room for nitems items, tracked if gc; NULL
 * with MemoryError set. The tp_alloc PyType_Ready fills in. */
PyObject *PyType_GenericAlloc(PyTypeObject *type, Py_ssize_t nitems);
/* type->tp_alloc(type, 0): a tp_new for types with no arguments. */
PyObject *PyType_GenericNew(PyTypeObject *type, PyObject *args, PyObject *kwds);

#define Py_TYPE(ob) (((PyObject *)(ob))->ob_type)
#define Py_SIZE(ob) (((PyVarObject *)(ob))->ob_size)
#define Py_REFCNT(ob) (((PyObject *)(ob))->ob_refcnt)

/* Reference counts: the functions, and the macros that inline them. At
 * zero, _Py_Dealloc destroys the object with its type's tp_dealloc, as in
 * CPython 3.11 (and ends the process if a Rust destructor panics: see the
 * top of this file). The X forms accept NULL. */
void Py_IncRef(PyObject *op);
void Py_DecRef(PyObject *op);
void _Py_Dealloc(PyObject *op);

static inline void _Py_INCREF(PyObject *op) { op->ob_refcnt++; }
static inline void _Py_DECREF(PyObject *op)
{
    if (--op->ob_refcnt == 0) {
        _Py_Dealloc(op);
    }
}
static inline void _Py_XINCREF(PyObject *op)
{
    if (op != NULL) {
        _Py_INCREF(op);
    }
}
static inline void _Py_XDECREF(PyObject *op)
{
    if (op != NULL) {
        _Py_DECREF(op);
    }
}
#define Py_INCREF(op) _Py_INCREF((PyObject *)(op))
#define Py_DECREF(op) _Py_DECREF((PyObject *)(op))
#define Py_XINCREF(op) _Py_XINCREF((PyObject *)(op))
#define Py_XDECREF(op) _Py_XDECREF((PyObject *)(op))

/* A new reference to op, for `self->field = Py_NewRef(value);`. */
static inline PyObject *_Py_NewRef(PyObject *op)
{
    _Py_INCREF(op);
    return op;
}
static inline PyObject *_Py_XNewRef(PyObject *op)
{
    _Py_XINCREF(op);
    return op;
}
#define Py_NewRef(op) _Py_NewRef((PyObject *)(op))
#define Py_XNewRef(op) _Py_XNewRef((PyObject *)(op))

/* Py_SETREF(field, value): puts value (a reference it takes) in field,
 * then drops the reference field held, so that a destructor run by the
 * drop sees the new value. Py_XSETREF: field may hold NULL. */
#define Py_SETREF(op, op2)                                              \
    do {                                                                \
        PyObject *_py_tmp = (PyObject *)(op);                           \
        (op) = (op2);                                                   \
        Py_DECREF(_py_tmp);                                             \
    } while (0)
#define Py_XSETREF(op, op2)                                             \
    do {                                                                \
        PyObject *_py_tmp = (PyObject *)(op);                           \
        (op) = (op2);                                                   \
        Py_XDECREF(_py_tmp);                                            \
    } while (0)

/* None: an object that is never freed. Return it with Py_RETURN_NONE. */
extern PyObject _Py_NoneStruct;
#define Py_None (&_Py_NoneStruct)
#define Py_RETURN_NONE return Py_NewRef(Py_None)

/* ---- Errors: as much as a caller needs to see a MemoryError ----------- */

/* The exception set on this thread (a borrowed reference), or NULL. */
PyObject *PyErr_Occurred(void);
/* Sets MemoryError on this thread; returns NULL. */
PyObject *PyErr_NoMemory(void);
void PyErr_Clear(void);
/* Sets exception with a message (copied). */
void PyErr_SetString(PyObject *exception, const char *message);
/* Prints the exception set on this thread, "Type: message", to stderr,
 * and clears it. */
void PyErr_Print(void);
extern PyObject *PyExc_MemoryError;
extern PyObject *PyExc_SystemError;
extern PyObject *PyExc_TypeError;

/* ---- Raw memory (Include/pymem.h) ------------------------------------- */

/* Each family hands out blocks aligned to 16 bytes; 0 bytes gives a unique
 * pointer; a size past PY_SSIZE_T_MAX, or an overflowing calloc, gives NULL.
 * A block goes back to the family that made it: the debug hooks catch any
 * mix. */
void *PyMem_RawMalloc(size_t size);
void *PyMem_RawCalloc(size_t nelem, size_t elsize);
void *PyMem_RawRealloc(void *ptr, size_t new_size);
void PyMem_RawFree(void *ptr);

void *PyMem_Malloc(size_t size);
void *PyMem_Calloc(size_t nelem, size_t elsize);
void *PyMem_Realloc(void *ptr, size_t new_size);
void PyMem_Free(void *ptr);

typedef enum {
    PYMEM_DOMAIN_RAW, /* PyMem_RawMalloc() ... */
    PYMEM_DOMAIN_MEM, /* PyMem_Malloc() ... */
    PYMEM_DOMAIN_OBJ  /* PyObject_Malloc() ... */
} PyMemAllocatorDomain;

typedef struct {
    void *ctx; /* the first argument of every call */
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} PyMemAllocatorEx;

/* The allocator of a domain: to keep, to delegate to, to put back. */
void PyMem_GetAllocator(PyMemAllocatorDomain domain, PyMemAllocatorEx *allocator);
/* Installs an allocator. Call it before the domain allocates, or delegate
 * blocks you did not make to the allocator you replace. */
void PyMem_SetAllocator(PyMemAllocatorDomain domain, PyMemAllocatorEx *allocator);
/* Installs the debug hooks over every domain (PYTHONMALLOC=debug). */
void PyMem_SetupDebugHooks(void);

/* ---- Objects' memory (Include/objimpl.h) ------------------------------ */

void *PyObject_Malloc(size_t size);
void *PyObject_Calloc(size_t nelem, size_t elsize);
void *PyObject_Realloc(void *ptr, size_t new_size);
void PyObject_Free(void *ptr);

#define PyObject_MALLOC PyObject_Malloc
#define PyObject_REALLOC PyObject_Realloc
#define PyObject_FREE PyObject_Free
#define PyObject_Del PyObject_Free
#define PyObject_DEL PyObject_Free

/* Set the type and a first reference (and the size) of memory that holds
 * an object; NULL in gives NULL out, with MemoryError set. */
PyObject *PyObject_Init(PyObject *op, PyTypeObject *tp);
PyVarObject *PyObject_InitVar(PyVarObject *op, PyTypeObject *tp, Py_ssize_t size);
/* Allocate and initialise; NULL with MemoryError set on failure. */
PyObject *_PyObject_New(PyTypeObject *tp);
PyVarObject *_PyObject_NewVar(PyTypeObject *tp, Py_ssize_t nitems);

#define PyObject_New(type, typeobj) ((type *)_PyObject_New(typeobj))
#define PyObject_NewVar(type, typeobj, n) ((type *)_PyObject_NewVar((typeobj), (n)))

/* The sizes: of an object, and of one with n items, rounded up to a
 * pointer's size. _PyObject_VAR_SIZE gives SIZE_MAX (which no allocator
 * grants) where the size would overflow, or for a negative n. */
#define _Py_SIZE_ROUND_UP(n, a) (((size_t)(n) + (size_t)((a) - 1)) & ~(size_t)((a) - 1))
#define _PyObject_SIZE(typeobj) ((size_t)(typeobj)->tp_basicsize)

static inline size_t _PyObject_VarSize(const PyTypeObject *tp, Py_ssize_t nitems)
{
    size_t basic = (size_t)tp->tp_basicsize, item = (size_t)tp->tp_itemsize;
    if (nitems < 0 || (item != 0 && (size_t)nitems > ((size_t)PY_SSIZE_T_MAX - basic) / item)) {
        return SIZE_MAX;
    }
    return _Py_SIZE_ROUND_UP(basic + (size_t)nitems * item, sizeof(void *));
}
#define _PyObject_VAR_SIZE(typeobj, nitems) _PyObject_VarSize((typeobj), (nitems))

/* The macros: no NULL check, as the seed warns. Functions underneath, as
 * CPython 3.11's, so that either use (statement, expression) compiles
 * without a warning. */
static inline PyObject *_PyObject_INIT(PyObject *op, PyTypeObject *typeobj)
{
    Py_TYPE(op) = typeobj;
    Py_REFCNT(op) = 1;
    return op;
}
static inline PyVarObject *_PyObject_INIT_VAR(PyVarObject *op, PyTypeObject *typeobj,
                                              Py_ssize_t size)
{
    Py_SIZE(op) = size;
    _PyObject_INIT((PyObject *)op, typeobj);
    return op;
}
#define PyObject_INIT(op, typeobj) _PyObject_INIT((PyObject *)(op), (typeobj))
#define PyObject_INIT_VAR(op, typeobj, size) \
    _PyObject_INIT_VAR((PyVarObject *)(op), (typeobj), (size))

#define PyObject_NEW(type, typeobj) \
    ((type *)PyObject_Init((PyObject *)PyObject_MALLOC(_PyObject_SIZE(typeobj)), (typeobj)))
#define PyObject_NEW_VAR(type, typeobj, n) \
    ((type *)PyObject_InitVar((PyVarObject *)PyObject_MALLOC(_PyObject_VAR_SIZE((typeobj), (n))), \
                              (typeobj), (n)))

/* Prints the pool allocator's statistics, as sys._debugmallocstats(). */
int _PyObject_DebugMallocStats(FILE *out);

/* With the debug hooks on (PyMem_SetupDebugHooks, OBJIMPL_MALLOC=debug, or
 * a debug build of objimpl), checks every freed block waiting in their
 * quarantine for writes after free (a Py_DECREF too many writes to a freed
 * object), reporting each; the number found. The hooks also check at exit,
 * as CPython's debug build does. */
Py_ssize_t objimpl_check_memory(void);

/* ---- Objects that may form cycles (the GC half of objimpl.h) ---------- */

/* A type with Py_TPFLAGS_HAVE_GC gives its objects a GC header (two words
 * before the object) and a tp_traverse that visits each object it refers
 * to (with Py_VISIT); a tp_clear that drops those references breaks the
 * cycles the collector finds. Its tp_dealloc calls PyObject_GC_UnTrack
 * first, and frees with PyObject_GC_Del. Each thread has its own collector:
 * objects are collected by the thread that tracked them. */
/* Allocate (untracked; NULL with MemoryError set on failure). */
PyObject *_PyObject_GC_New(PyTypeObject *tp);
PyVarObject *_PyObject_GC_NewVar(PyTypeObject *tp, Py_ssize_t nitems);
PyVarObject *_PyObject_GC_Resize(PyVarObject *op, Py_ssize_t nitems);
#define PyObject_GC_New(type, typeobj) ((type *)_PyObject_GC_New(typeobj))
#define PyObject_GC_NewVar(type, typeobj, n) ((type *)_PyObject_GC_NewVar((typeobj), (n)))
#define PyObject_GC_Resize(type, op, n) ((type *)_PyObject_GC_Resize((PyVarObject *)(op), (n)))

/* Hand a complete object to the collector, take it back, free it. */
void PyObject_GC_Track(void *op);
void PyObject_GC_UnTrack(void *op);
void PyObject_GC_Del(void *op);
int PyObject_GC_IsTracked(PyObject *op);
int PyObject_GC_IsFinalized(PyObject *op);

/* Python's gc.collect(), gc.enable(), gc.disable(), gc.isenabled(). */
Py_ssize_t PyGC_Collect(void);
int PyGC_Enable(void);
int PyGC_Disable(void);
int PyGC_IsEnabled(void);

/* Py_VISIT(op) in a tp_traverse whose arguments are named visit and arg. */
#define Py_VISIT(op)                                                    \
    do {                                                                \
        if (op) {                                                       \
            int vret = visit((PyObject *)(op), arg);                    \
            if (vret) {                                                 \
                return vret;                                            \
            }                                                           \
        }                                                               \
    } while (0)

/* Py_CLEAR(op): drops the reference in a field and sets it to NULL first,
 * so that a destructor run by the drop never sees it. */
#define Py_CLEAR(op)                                                    \
    do {                                                                \
        PyObject *_py_tmp = (PyObject *)(op);                           \
        if (_py_tmp != NULL) {                                          \
            (op) = NULL;                                                \
            Py_DECREF(_py_tmp);                                         \
        }                                                               \
    } while (0)

/* ---- The GIL (Include/pystate.h, Include/ceval.h) -------------------- */

/* A global interpreter lock, as CPython's. objimpl has no Py_Initialize to
 * give it to the main thread: a thread holds it between PyGILState_Ensure
 * and PyGILState_Release (nested pairs count), and a program with one
 * thread that never takes it works without it.
 *
 * Once any thread has taken it, the gc objects C makes belong to one
 * collector for the whole process (CPython's interpreter's), which the
 * thread holding the GIL uses: any thread holding it may use, release and
 * collect any C object, whichever thread made it. Before that, each thread
 * has a collector of its own, which collects the objects it tracked (take
 * the GIL before objects cross threads). A gc function called without the
 * GIL once it is in use ends the process, saying so; so does, with the
 * debug hooks on, a mem or object function (CPython's "Python memory
 * allocator called without holding the GIL"). Objects made in Rust keep
 * their own thread's collector. */
typedef enum { PyGILState_LOCKED, PyGILState_UNLOCKED } PyGILState_STATE;
typedef struct _ts PyThreadState;

PyGILState_STATE PyGILState_Ensure(void);
void PyGILState_Release(PyGILState_STATE state);
/* 1 if this thread holds the GIL. */
int PyGILState_Check(void);
/* Let the GIL go around work that touches no object, and take it back. */
PyThreadState *PyEval_SaveThread(void);
void PyEval_RestoreThread(PyThreadState *state);
#define Py_BEGIN_ALLOW_THREADS { PyThreadState *_save; _save = PyEval_SaveThread();
#define Py_END_ALLOW_THREADS PyEval_RestoreThread(_save); }

#ifdef __cplusplus
}
#endif

#endif /* OBJIMPL_H */
