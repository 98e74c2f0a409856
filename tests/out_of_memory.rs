//! Out of memory, on purpose: an allocator under the `object` family that
//! counts its blocks and fails the Nth request, swept over N for each way
//! of making objects. Every failure is `Err(MemoryError)`, nothing leaks
//! (the allocator's balance comes back to zero), nothing half-built is
//! dropped twice or never, and the family works again afterwards.
//!
//! The allocator goes in with `set_allocator`, on top of whatever the
//! family had (the debug hooks, in debug builds), so every test takes the
//! lock: this binary's tests share the domain.

use core::ffi::c_void;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use objimpl::alloc::{self, Allocator, Domain};
use objimpl::prelude::*;

/// Counts live blocks and fails request number `fail_at` (from 0).
struct Faulty {
    below: OnceLock<Allocator>,
    requests: AtomicUsize,
    fail_at: AtomicUsize,
    live: AtomicIsize,
}

static FAULTY: Faulty = Faulty {
    below: OnceLock::new(),
    requests: AtomicUsize::new(0),
    fail_at: AtomicUsize::new(usize::MAX),
    live: AtomicIsize::new(0),
};

impl Faulty {
    fn below(&self) -> &Allocator {
        self.below.get().unwrap()
    }

    /// Whether this request is the one to fail.
    fn fails(&self) -> bool {
        self.requests.fetch_add(1, Ordering::Relaxed) == self.fail_at.load(Ordering::Relaxed)
    }

    fn counted(&self, p: *mut c_void) -> *mut c_void {
        if !p.is_null() {
            self.live.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
}

unsafe extern "C" fn faulty_malloc(_: *mut c_void, size: usize) -> *mut c_void {
    if FAULTY.fails() {
        return std::ptr::null_mut();
    }
    let below = FAULTY.below();
    // SAFETY: `below` is the allocator this one was put on top of.
    FAULTY.counted(unsafe { (below.malloc)(below.ctx, size) })
}

unsafe extern "C" fn faulty_calloc(_: *mut c_void, n: usize, size: usize) -> *mut c_void {
    if FAULTY.fails() {
        return std::ptr::null_mut();
    }
    let below = FAULTY.below();
    // SAFETY: as in `faulty_malloc`.
    FAULTY.counted(unsafe { (below.calloc)(below.ctx, n, size) })
}

unsafe extern "C" fn faulty_realloc(_: *mut c_void, p: *mut c_void, size: usize) -> *mut c_void {
    if FAULTY.fails() {
        return std::ptr::null_mut();
    }
    let below = FAULTY.below();
    // SAFETY: as in `faulty_malloc`; `p` is one of its blocks or null.
    let q = unsafe { (below.realloc)(below.ctx, p, size) };
    if p.is_null() { FAULTY.counted(q) } else { q }
}

unsafe extern "C" fn faulty_free(_: *mut c_void, p: *mut c_void) {
    if !p.is_null() {
        FAULTY.live.fetch_sub(1, Ordering::Relaxed);
    }
    let below = FAULTY.below();
    // SAFETY: as in `faulty_realloc`.
    unsafe { (below.free)(below.ctx, p) }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Puts the faulty allocator under the `object` family, once, and runs the
/// calling test alone.
fn faulty() -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    FAULTY.below.get_or_init(|| {
        let below = alloc::get_allocator(Domain::Object);
        let faulty = Allocator {
            ctx: std::ptr::null_mut(),
            malloc: faulty_malloc,
            calloc: faulty_calloc,
            realloc: faulty_realloc,
            free: faulty_free,
        };
        // SAFETY: the functions honour the contract by delegating to the
        // allocator below, which also frees any block made before.
        unsafe { alloc::set_allocator(Domain::Object, faulty) };
        below
    });
    guard
}

/// Runs `make` with request N failing, for N = 0, 1, ... until it needs
/// fewer than N requests; checks each failure is a `MemoryError` that
/// leaves no block behind. Returns how many requests `make` needs.
fn sweep<T>(mut make: impl FnMut() -> Result<T, MemoryError>) -> usize {
    for n in 0.. {
        FAULTY.requests.store(0, Ordering::Relaxed);
        FAULTY.fail_at.store(n, Ordering::Relaxed);
        let result = make();
        let requests = FAULTY.requests.load(Ordering::Relaxed);
        FAULTY.fail_at.store(usize::MAX, Ordering::Relaxed);
        let failed = result.is_err();
        drop(result);
        assert_eq!(
            FAULTY.live.load(Ordering::Relaxed),
            0,
            "blocks left after N = {n}"
        );
        if n >= requests {
            assert!(!failed, "no request failed, yet an error came back");
            return requests;
        }
        assert!(
            failed,
            "request {n} of {requests} failed, yet no error came back"
        );
    }
    unreachable!()
}

#[pyobject(basic)]
struct Point {
    x: f64,
    y: f64,
}

#[pyobject(basic, item = u32)]
struct Long {
    sign: i8,
}

#[pyobject(basic, item = PyAny, name = "tuple")]
struct Tuple;

/// Counts its drops.
#[derive(Clone, Default)]
struct Drops(Rc<Cell<usize>>);

impl Drop for Drops {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[pyobject(basic, item = Drops)]
struct Owner {
    name: String,
    drops: Drops,
}

#[test]
fn generated_constructors_fail_with_memory_error_and_leak_nothing() {
    let _faulty = faulty();
    assert_eq!(sweep(|| Point::new(Point { x: 1.0, y: 2.0 })), 1);
    assert_eq!(sweep(|| Long::new_var(Long { sign: -1 }, [1, 2, 3])), 1);
    assert_eq!(sweep(|| Long::new(Long { sign: 0 })), 1);
}

#[test]
fn py_new_and_new_var_fail_with_memory_error_and_leak_nothing() {
    let _faulty = faulty();
    assert_eq!(sweep(|| Py::new(Point { x: 0.0, y: 0.0 })), 1);
    assert_eq!(sweep(|| Py::new_var(Long { sign: 1 }, 0..100u32)), 1);
}

/// An iterator that does not know its length but says it has at least
/// `lower` items (and yields 3).
struct Boastful {
    lower: usize,
    left: u32,
}

impl Iterator for Boastful {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        self.left = self.left.checked_sub(1)?;
        Some(self.left)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.lower, None)
    }
}

#[test]
fn new_var_of_an_iterator_of_unknown_length_fails_with_memory_error_not_an_abort() {
    let _faulty = faulty();
    // `collect` would reserve `lower` items and abort ("capacity overflow").
    let huge = Boastful {
        lower: usize::MAX / 2,
        left: 3,
    };
    assert_eq!(
        Long::new_var(Long { sign: 1 }, huge).err(),
        Some(MemoryError)
    );
    // A modest lower bound is only a hint: the items are all taken.
    let modest = Boastful { lower: 1, left: 3 };
    assert_eq!(
        Long::new_var(Long { sign: 1 }, modest).unwrap().items(),
        &[2, 1, 0]
    );
}

#[test]
fn a_tuple_of_objects_fails_at_each_step_and_leaks_nothing() {
    let _faulty = faulty();
    let requests = sweep(|| {
        let a = Point::new(Point { x: 1.0, y: 1.0 })?;
        let b = Long::new_var(Long { sign: 1 }, [7])?;
        let inner = Tuple::new_var(Tuple, [PyAny::from(a.clone()), b.into()])?;
        Tuple::new_var(Tuple, [PyAny::from(inner), a.into()])
    });
    assert_eq!(requests, 4);
}

#[test]
fn a_failed_allocation_drops_the_payload_once_and_takes_no_item() {
    let _faulty = faulty();
    let drops = Drops::default();
    let taken = Cell::new(0);
    FAULTY
        .fail_at
        .store(FAULTY.requests.load(Ordering::Relaxed), Ordering::Relaxed);
    let owner = Owner {
        name: "payload".repeat(10),
        drops: drops.clone(),
    };
    let items = (0..5).map(|_| {
        taken.set(taken.get() + 1);
        drops.clone()
    });
    let result = Owner::new_var(owner, items);
    FAULTY.fail_at.store(usize::MAX, Ordering::Relaxed);
    assert!(matches!(result, Err(MemoryError)));
    assert_eq!((drops.0.get(), taken.get()), (1, 0));
    assert_eq!(FAULTY.live.load(Ordering::Relaxed), 0);
}

#[test]
fn the_family_works_again_after_failures() {
    let _faulty = faulty();
    FAULTY
        .fail_at
        .store(FAULTY.requests.load(Ordering::Relaxed), Ordering::Relaxed);
    assert!(alloc::object_malloc(32).is_null());
    let objects: Vec<Py<Point>> = (0..1000)
        .map(|i| {
            Point::new(Point {
                x: i as f64,
                y: 0.0,
            })
        })
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(objects[999].x, 999.0);
    assert_eq!(FAULTY.live.load(Ordering::Relaxed), 1000);
    drop(objects);
    assert_eq!(FAULTY.live.load(Ordering::Relaxed), 0);
}

#[test]
fn resize_fails_with_memory_error_and_leaves_the_object_whole() {
    let _faulty = faulty();
    let mut n = Long::new_var(Long { sign: 1 }, [1, 2, 3]).unwrap();
    for target in [10usize, 200, 3000] {
        FAULTY
            .fail_at
            .store(FAULTY.requests.load(Ordering::Relaxed), Ordering::Relaxed);
        let before: Vec<u32> = n.items().to_vec();
        assert!(matches!(n.resize(target, 7), Err(MemoryError)));
        FAULTY.fail_at.store(usize::MAX, Ordering::Relaxed);
        assert_eq!(n.items(), &before[..], "a failed resize changes nothing");
        n.resize(target, 7).unwrap();
        assert_eq!(n.len(), target);
        assert_eq!(&n.items()[..3], &[1, 2, 3]);
    }
    // A shrink that cannot move keeps its larger block: still fine.
    FAULTY
        .fail_at
        .store(FAULTY.requests.load(Ordering::Relaxed), Ordering::Relaxed);
    n.resize(2, 0).unwrap();
    FAULTY.fail_at.store(usize::MAX, Ordering::Relaxed);
    assert_eq!(n.items(), &[1, 2]);
    drop(n);
    assert_eq!(FAULTY.live.load(Ordering::Relaxed), 0);
}

/// A `gc` node, and a `gc` tuple, for the sweeps over cycles.
#[pyobject(gc)]
struct Node {
    edges: std::cell::RefCell<Vec<PyAny>>,
}

#[pyobject(gc, item = PyAny, name = "gc_tuple")]
struct GcTuple;

#[pyobject(basic, freelist = 2)]
struct Pooled(u64);

#[test]
fn gc_objects_fail_at_each_step_and_their_cycles_are_still_collected() {
    let _faulty = faulty();
    let build = || -> Result<(), MemoryError> {
        let a = Node::new(Node {
            edges: Default::default(),
        })?;
        let b = Node::new(Node {
            edges: Default::default(),
        })?;
        a.edges.borrow_mut().push(b.clone().into());
        b.edges.borrow_mut().push(a.clone().into());
        // A failure here leaves a <-> b behind, for the collector.
        let t = GcTuple::new_var(GcTuple, [PyAny::from(a.clone()), b.into()])?;
        a.edges.borrow_mut().push(t.into());
        Ok(())
    };
    // Whether the build failed or not, the cycles it left are garbage:
    // after a collection, no block is left.
    let requests = sweep(|| {
        let built = build();
        gc::collect();
        built
    });
    assert_eq!(requests, 3);
}

#[test]
fn a_gc_resize_that_fails_leaves_the_object_whole_and_tracked() {
    let _faulty = faulty();
    let a = Node::new(Node {
        edges: Default::default(),
    })
    .unwrap();
    let mut t = GcTuple::new_var(GcTuple, [PyAny::from(a.clone())]).unwrap();
    FAULTY
        .fail_at
        .store(FAULTY.requests.load(Ordering::Relaxed), Ordering::Relaxed);
    assert!(matches!(
        t.resize_with(100, || PyAny::from(a.clone())),
        Err(MemoryError)
    ));
    FAULTY.fail_at.store(usize::MAX, Ordering::Relaxed);
    assert_eq!(t.len(), 1);
    assert!(gc::is_tracked(t.as_any()));
    a.edges.borrow_mut().push(t.into());
    drop(a);
    assert_eq!(gc::collect(), 2);
    assert_eq!(FAULTY.live.load(Ordering::Relaxed), 0);
}

#[test]
fn a_freelist_type_fails_with_memory_error_only_when_its_list_is_empty() {
    let _faulty = faulty();
    // On a thread of its own, joined before the next test may run: the
    // block its freelist keeps goes back when that thread exits. (On the
    // test's own thread it went back whenever the harness let the thread
    // go, and a test run after this one saw a live block now and then.)
    std::thread::spawn(|| {
        // Nothing kept yet: the one request fails, as for any type.
        FAULTY.requests.store(0, Ordering::Relaxed);
        FAULTY.fail_at.store(0, Ordering::Relaxed);
        assert!(matches!(Pooled::new(Pooled(1)), Err(MemoryError)));
        FAULTY.fail_at.store(usize::MAX, Ordering::Relaxed);
        assert_eq!(FAULTY.live.load(Ordering::Relaxed), 0);
        drop(Pooled::new(Pooled(1)).unwrap());
        // The drop above left its memory in the freelist: the next object
        // needs no request at all.
        FAULTY.requests.store(0, Ordering::Relaxed);
        FAULTY.fail_at.store(0, Ordering::Relaxed);
        let p = Pooled::new(Pooled(2)).expect("memory from the freelist");
        FAULTY.fail_at.store(usize::MAX, Ordering::Relaxed);
        assert_eq!((p.0, FAULTY.requests.load(Ordering::Relaxed)), (2, 0));
        drop(p);
        // One block stays in the freelist, alive by design.
        assert_eq!(FAULTY.live.load(Ordering::Relaxed), 1);
    })
    .join()
    .unwrap();
    assert_eq!(
        FAULTY.live.load(Ordering::Relaxed),
        0,
        "the thread's exit gave its freelist's block back"
    );
}
