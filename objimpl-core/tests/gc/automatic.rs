//! Collection without `collect()`: on allocation past the threshold, and
//! at thread exit.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use objimpl_core::gc;

use crate::support::{Log, link, scaled, start};

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
