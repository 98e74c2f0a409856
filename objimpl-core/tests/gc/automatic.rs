//! Collection without `collect()`: on allocation past the threshold, and
//! at thread exit.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use objimpl_core::{Py, PyAny, PyObjectType, gc};

use crate::support::{
    Log, Obj, Tup, link, live_blocks, scaled, start, through_a_panicking_collection, tup_payload,
};

#[test]
fn allocation_past_the_threshold_collects_young_garbage() {
    let t = start();
    let threshold = gc::get_threshold();
    gc::set_threshold([scaled(700, 20), 10, 10]);
    let before = gc::get_stats()[0];
    let cycles = scaled(5_000, 50);
    for i in 0..cycles {
        let a = t.log.obj(i);
        link(&a, &a);
    }
    let after = gc::get_stats()[0];
    assert!(
        after.collections > before.collections,
        "no automatic collection ran"
    );
    assert!(after.collected > before.collected);
    gc::set_threshold(threshold);
    gc::collect();
    t.log.assert_dropped_once(0..cycles);
    t.assert_nothing_leaked();
}

#[test]
fn disable_stops_automatic_collection_and_enable_restores_it() {
    let t = start();
    gc::disable();
    let before = gc::get_stats();
    for i in 0..scaled(2_000, 30) {
        let a = t.log.obj(i);
        link(&a, &a);
    }
    assert_eq!(gc::get_stats(), before);
    gc::enable();
    assert!(gc::collect() >= scaled(2_000, 30));
    t.assert_nothing_leaked();
}

#[test]
fn what_a_thread_leaves_behind_is_collected_when_it_ends() {
    /// Hands the log to the parent thread when this thread's
    /// thread-locals go, which is after its collector's (destroyed in the
    /// reverse order of their first use).
    struct Report(Log, Arc<Mutex<Vec<usize>>>);
    impl Drop for Report {
        fn drop(&mut self) {
            *self.1.lock().unwrap() = self.0.dropped();
        }
    }
    thread_local!(static REPORT: RefCell<Option<Report>> = const { RefCell::new(None) });

    let dropped = Arc::new(Mutex::new(Vec::new()));
    let sink = dropped.clone();
    std::thread::spawn(move || {
        let log = Log::default();
        REPORT.with(|r| *r.borrow_mut() = Some(Report(log.clone(), sink)));
        let a = log.obj(1);
        let b = log.obj(2);
        link(&a, &b);
        link(&b, &a);
        drop((a, b));
        assert!(log.dropped().is_empty());
    })
    .join()
    .unwrap();
    let mut dropped = dropped.lock().unwrap().clone();
    dropped.sort_unstable();
    assert_eq!(dropped, [1, 2]);
}

#[test]
fn a_panic_in_the_collection_a_constructor_starts_leaks_nothing() {
    let t = start();
    let log = &t.log;
    // Each constructor allocates past the threshold, and so collects a
    // cycle whose `Drop` panics: the panic goes to the unraisable hook, not
    // out of the constructor, whose object (id `made`) is made as usual.
    let round = |constructor: &str, garbage: usize, made: usize, make: &dyn Fn()| {
        let live = live_blocks();
        assert!(
            !through_a_panicking_collection(log, garbage, make),
            "{constructor}: the Drop's panic came out of it"
        );
        let dropped = log.dropped();
        assert!(
            dropped.contains(&made),
            "{constructor}: the new object was never dropped (dropped: {dropped:?})"
        );
        assert_eq!(live_blocks(), live, "{constructor}: blocks leaked");
    };
    round("Py::new", 1, 2, &|| drop(log.obj(2)));
    round("Py::new of a var type", 3, 4, &|| {
        drop(Py::new(tup_payload(log, 4)));
    });
    round("Py::new_var", 5, 6, &|| {
        drop(log.tup(6, vec![PyAny::from(log.leaf(100))]));
    });
    round("Py::new_var_with", 7, 8, &|| {
        drop(Py::new_var_with(tup_payload(log, 8), 0, |_| unreachable!()));
    });
    log.assert_dropped_once([1, 2, 3, 4, 5, 6, 7, 8, 100]);
    t.assert_nothing_leaked();
}

#[test]
fn a_panic_in_the_collection_a_raw_gc_allocation_starts_leaks_nothing() {
    let t = start();
    // `gc::new_object` and `gc::new_var_object` hand out raw memory; if
    // they return one anyway, it is freed as a C caller would.
    let free = |op: *mut objimpl_core::PyObject| {
        // SAFETY: an untracked gc object just made, which nothing uses.
        unsafe { objimpl_core::capi::PyObject_GC_Del(op.cast()) }
    };
    let live = live_blocks();
    let panicked = through_a_panicking_collection(&t.log, 1, || {
        if let Ok(op) = gc::new_object(Obj::TYPE) {
            free(op.as_ptr());
        }
    });
    assert!(!panicked, "gc::new_object: the Drop's panic came out of it");
    assert_eq!(live_blocks(), live, "gc::new_object: a block leaked");
    let panicked = through_a_panicking_collection(&t.log, 2, || {
        if let Ok(op) = gc::new_var_object(Tup::TYPE, 3) {
            free(op.as_ptr().cast());
        }
    });
    assert!(
        !panicked,
        "gc::new_var_object: the Drop's panic came out of it"
    );
    assert_eq!(live_blocks(), live, "gc::new_var_object: a block leaked");
    // The count comes first; a failed allocation takes it back.
    let count = gc::get_count()[0];
    assert!(gc::new_var_object(Tup::TYPE, usize::MAX).is_err());
    assert_eq!(
        gc::get_count()[0],
        count,
        "a failed allocation is not counted"
    );
    t.log.assert_dropped_once([1, 2]);
    t.assert_nothing_leaked();
}
