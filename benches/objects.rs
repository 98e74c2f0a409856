//! Making and dropping objects, issue 8's W6: a 32-byte object
//! (`Point::new` + drop) against `Box::new`, `Rc::new`, CPython's `float`
//! (which has a freelist) and `complex` (which has none); an object with 8
//! items (`new_var`) against `Box<[usize; 8]>` and CPython's 8-tuple.
//!
//! ```text
//! cargo bench -p objimpl-benches --features cpython --bench objects   # the whole table, CPython included
//! cargo bench -p objimpl-benches --bench objects                    # without Python: no CPython column
//! OBJIMPL_BENCH=table cargo bench -p objimpl-benches --features cpython --bench objects   # the table alone
//! ```
//!
//! `Point` is two `f64`s behind an object header: 32 bytes from the object
//! family, as `objimpl.h` lays it out. The peers hold the same two `f64`s:
//! `Box<Point>` (16 bytes from the global allocator, Rust's `System`),
//! `Rc<Point>` (32 bytes: two counts and the value) and a CPython `complex`
//! (32 bytes: `PyObject_HEAD` and two doubles, and a `tp_dealloc` that only
//! frees, with no free list in the way as `float` has).
//!
//! As in the allocator's W1, one other object of the same kind stays live
//! while each contender runs (CPython's interpreter has plenty), so that a
//! pool allocator does not give its pool back on every drop.

#[path = "common/mod.rs"]
#[allow(dead_code, reason = "shared with benches/alloc, which uses all of it")]
mod common;

use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::Criterion;
use objimpl::pyobject;

use common::{Mode, Row, Run, Table, Target, interleave, time};

/// The object: `PyObject_HEAD` + two doubles, made by the macro as a user would.
#[pyobject(basic)]
#[allow(dead_code, reason = "the payload is written and dropped, never read")]
struct Point {
    x: f64,
    y: f64,
}

/// `Point::new` + drop; the drop is `Py_DECREF` reaching zero, `tp_dealloc`, `PyObject_Free`.
fn objimpl_point(ops: u64) -> Duration {
    let _anchor = Point::new(Point { x: 0.0, y: 0.0 }).expect("the object family has memory");
    time(|| {
        for i in 0..ops {
            let p = Point::new(Point {
                x: i as f64,
                y: 1.0,
            });
            drop(black_box(p.expect("the object family has memory")));
        }
    })
}

/// The same object with a freelist of 16: its memory is reused per thread.
#[pyobject(basic, freelist = 16)]
#[allow(dead_code, reason = "the payload is written and dropped, never read")]
struct PooledPoint {
    x: f64,
    y: f64,
}

/// `PooledPoint::new` + drop: the drop keeps the memory, the next new takes it.
fn objimpl_freelist_point(ops: u64) -> Duration {
    let _anchor = PooledPoint::new(PooledPoint { x: 0.0, y: 0.0 }).expect("memory");
    time(|| {
        for i in 0..ops {
            let p = PooledPoint::new(PooledPoint {
                x: i as f64,
                y: 1.0,
            });
            drop(black_box(p.expect("the object family has memory")));
        }
    })
}

/// `Box::new` + drop.
fn box_point(ops: u64) -> Duration {
    let _anchor = black_box(Box::new(Point { x: 0.0, y: 0.0 }));
    time(|| {
        for i in 0..ops {
            drop(black_box(Box::new(Point {
                x: i as f64,
                y: 1.0,
            })));
        }
    })
}

/// `Rc::new` + drop.
fn rc_point(ops: u64) -> Duration {
    let _anchor = black_box(Rc::new(Point { x: 0.0, y: 0.0 }));
    time(|| {
        for i in 0..ops {
            drop(black_box(Rc::new(Point {
                x: i as f64,
                y: 1.0,
            })));
        }
    })
}

/// An object with 8 word-sized items, made by the macro as a user would:
/// `PyObject_VAR_HEAD` and the items, 88 bytes.
#[pyobject(basic, item = usize)]
struct Words {}

/// `Words::new_var` with 8 items + drop.
fn objimpl_words(ops: u64) -> Duration {
    let _anchor = Words::new_var(Words {}, 0..8).expect("memory");
    time(|| {
        for i in 0..ops as usize {
            let w = Words::new_var(Words {}, (0..8).map(|k| i + k));
            drop(black_box(w.expect("the object family has memory")));
        }
    })
}

/// `Box<[usize; 8]>` + drop.
fn box_words(ops: u64) -> Duration {
    let _anchor = black_box(Box::new([0usize; 8]));
    time(|| {
        for i in 0..ops as usize {
            drop(black_box(Box::new(core::array::from_fn::<usize, 8, _>(
                |k| i + k,
            ))));
        }
    })
}

/// CPython's objects, called as a C extension would.
#[cfg(feature = "cpython")]
mod cpython {
    use core::ffi::c_int;
    use std::hint::black_box;
    use std::time::Duration;

    use objimpl::PyObject;

    use crate::common::time;

    /// `PyComplexObject`: CPython's object header is objimpl's `PyObject`.
    #[repr(C)]
    struct PyComplexObject {
        ob_base: PyObject,
        real: f64,
        imag: f64,
    }

    /// A `PyTypeObject`, never read from Rust: only its address is used.
    #[repr(C)]
    struct PyTypeObject {
        _opaque: [u8; 0],
    }

    unsafe extern "C" {
        fn Py_InitializeEx(initsigs: c_int);
        fn Py_IsInitialized() -> c_int;
        fn _PyObject_New(tp: *const PyTypeObject) -> *mut PyObject;
        fn _Py_Dealloc(op: *mut PyObject);
        fn PyFloat_FromDouble(v: f64) -> *mut PyObject;
        fn PyTuple_New(len: isize) -> *mut PyObject;
        static PyComplex_Type: PyTypeObject;
        static mut _Py_NoneStruct: PyObject;
    }

    /// Starts the interpreter (without its signal handlers), once. The
    /// benchmarks then call CPython from this thread alone, which holds the GIL.
    pub fn initialize() {
        // SAFETY: Py_InitializeEx may be called before anything else of
        // CPython's; it is called once, from the main thread.
        unsafe {
            if Py_IsInitialized() == 0 {
                Py_InitializeEx(0);
            }
        }
    }

    /// `Py_DECREF` as CPython 3.11's `Include/object.h` defines it for a
    /// release build (not `Py_REF_DEBUG`, which `build.rs` refuses): the
    /// count is a plain integer, and at zero `_Py_Dealloc` calls `tp_dealloc`.
    ///
    /// # Safety
    ///
    /// - `op` is a live object that the caller owns a reference to, and
    ///   this thread holds the GIL.
    unsafe fn py_decref(op: *mut PyObject) {
        // SAFETY: `op` is live, and the GIL keeps other threads off its count.
        let refcnt = unsafe {
            (*op).ob_refcnt -= 1;
            (*op).ob_refcnt
        };
        if refcnt == 0 {
            // SAFETY: that was the last reference: the object is deallocated once.
            unsafe { _Py_Dealloc(op) };
        }
    }

    /// `PyFloat_FromDouble` and `Py_DECREF`: CPython's `float`, which keeps
    /// up to 100 freed floats on a freelist.
    pub fn float(ops: u64) -> Duration {
        initialize();
        time(|| {
            for i in 0..ops {
                // SAFETY: the interpreter is initialised; this thread holds the GIL.
                let op = unsafe { PyFloat_FromDouble(i as f64) };
                assert!(!op.is_null(), "PyFloat_FromDouble ran out of memory");
                // SAFETY: we own the only reference to `op`, and hold the GIL.
                unsafe { py_decref(black_box(op)) };
            }
        })
    }

    /// `PyTuple_New(8)`, filled with 8 new references to `None`, and
    /// `Py_DECREF`: CPython's 8-tuple (3.11 keeps freed tuples of each
    /// length up to 20 on freelists, and tracks tuples in its collector).
    pub fn tuple(ops: u64) -> Duration {
        initialize();
        time(|| {
            for _ in 0..ops {
                // SAFETY: the interpreter is initialised; this thread holds the GIL.
                let op = unsafe { PyTuple_New(8) };
                assert!(!op.is_null(), "PyTuple_New ran out of memory");
                // A fresh 8-tuple's items (`ob_item`, after the var header)
                // are null; each gets a new reference to `None`.
                // SAFETY: they are ours to set, and `None` lives forever.
                unsafe {
                    let none = &raw mut _Py_NoneStruct;
                    let items = op.cast::<u8>().add(24).cast::<*mut PyObject>();
                    for k in 0..8 {
                        (*none).ob_refcnt += 1;
                        *items.add(k) = none;
                    }
                }
                // SAFETY: we own the only reference to `op`, and hold the GIL.
                unsafe { py_decref(black_box(op)) };
            }
        })
    }

    /// `PyObject_New(PyComplexObject, &PyComplex_Type)`, its value set, and `Py_DECREF`.
    pub fn complex(ops: u64) -> Duration {
        initialize();
        time(|| {
            for i in 0..ops {
                // SAFETY: the interpreter is initialised and this thread holds
                // the GIL; `PyComplex_Type` is a static type object.
                let op = unsafe { _PyObject_New(&raw const PyComplex_Type) };
                assert!(!op.is_null(), "PyObject_New ran out of memory");
                let complex = op.cast::<PyComplexObject>();
                // SAFETY: `op` is a fresh complex object, whose body (the
                // value, left uninitialised by PyObject_New) is ours to set.
                unsafe {
                    (*complex).real = i as f64;
                    (*complex).imag = 1.0;
                }
                // SAFETY: we own the only reference to `op`, and hold the GIL.
                unsafe { py_decref(black_box(op)) };
            }
        })
    }
}

/// W6a's contenders: objimpl first (every ratio is objimpl over a peer).
fn contenders() -> Vec<(&'static str, Run)> {
    vec![
        ("objimpl", objimpl_point),
        ("freelist=16", objimpl_freelist_point),
        ("Box::new", box_point),
        ("Rc::new", rc_point),
        #[cfg(feature = "cpython")]
        ("float", cpython::float),
        #[cfg(feature = "cpython")]
        ("complex", cpython::complex),
    ]
}

/// W6b's contenders.
fn var_contenders() -> Vec<(&'static str, Run)> {
    vec![
        ("objimpl", objimpl_words),
        ("Box<[usize; 8]>", box_words),
        #[cfg(feature = "cpython")]
        ("tuple", cpython::tuple),
    ]
}

fn main() {
    let mode = Mode::from_env();
    #[cfg(feature = "cpython")]
    cpython::initialize();
    let contenders = contenders();
    if mode.criterion {
        let mut criterion = common::criterion();
        bench(&mut criterion, &contenders);
        criterion.final_summary();
    }
    if mode.table {
        table(&contenders, &mode).print();
        var_table(&mode).print();
    }
}

fn bench(c: &mut Criterion, contenders: &[(&'static str, Run)]) {
    for (group_name, contenders) in [
        ("Point-new-drop", contenders.to_vec()),
        ("Words-new_var-drop", var_contenders()),
    ] {
        let mut group = c.benchmark_group(group_name);
        for (name, run) in contenders {
            group.bench_function(name, |b| b.iter_custom(run));
        }
        group.finish();
    }
}

/// The contenders run in interleaved rounds: an empty table titled `title`
/// over them, and each one's samples.
fn interleaved(
    title: &str,
    contenders: &[(&'static str, Run)],
    mode: &Mode,
) -> (Table, Vec<Vec<f64>>) {
    let rounds = mode.rounds();
    let names = contenders.iter().map(|&(name, _)| name).collect();
    let runs: Vec<Run> = contenders.iter().map(|&(_, run)| run).collect();
    let table = Table::new(
        format!("{title}: medians of {rounds} interleaved rounds"),
        names,
    );
    (table, interleave(&runs, mode.ops(1_000_000), rounds))
}

fn table(contenders: &[(&'static str, Run)], mode: &Mode) -> Table {
    let (mut table, samples) = interleaved("W6a objects vs peers", contenders, mode);
    table.push(
        Row::from_rounds("W6a Point::new + drop (x, y: f64)", "ns", &samples).target(
            Target::RatioTo {
                peer: "float",
                at_most: 0.5,
            },
        ),
    );
    if !cfg!(feature = "cpython") {
        table.note("no CPython columns: build with `--features cpython` to link CPython's");
    }
    table.note("objimpl: a 32-byte object from object_malloc; Box: 16 bytes from System; Rc: 32");
    table.note("freelist=16: the same object with #[pyobject(basic, freelist = 16)]");
    table.note("float: PyFloat_FromDouble + Py_DECREF (a freelist of 100); complex: PyObject_New + Py_DECREF (none)");
    table.note("ratio: the median over rounds of objimpl's time / the peer's in the same round");
    if mode.quick {
        table.note("quick run (not `cargo bench`): one short round, the figures mean nothing");
    }
    table
}

fn var_table(mode: &Mode) -> Table {
    let (mut table, samples) = interleaved("W6b var objects vs peers", &var_contenders(), mode);
    let mut row = Row::from_rounds("W6b new_var with 8 usize items + drop", "ns", &samples);
    row = if cfg!(feature = "cpython") {
        row.target(Target::RatioTo {
            peer: "tuple",
            at_most: 0.5,
        })
    } else {
        row.target(Target::RatioTo {
            peer: "Box<[usize; 8]>",
            at_most: 1.0,
        })
    };
    table.push(row);
    table.note("objimpl: 88 bytes from object_malloc (PyObject_VAR_HEAD + 8 words); Box: 64 bytes from System");
    table.note("tuple: PyTuple_New(8) filled with None, Py_DECREF (3.11 keeps freelists of tuples, and tracks them in its gc)");
    table.note("target: at most 0.5x the tuple, and faster than the Box (ratio below 1)");
    if mode.quick {
        table.note("quick run (not `cargo bench`): one short round, the figures mean nothing");
    }
    table
}
