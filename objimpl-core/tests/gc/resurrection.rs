//! What a `Drop` run by the collector may and may not do.

use std::panic::{AssertUnwindSafe, catch_unwind};

use objimpl_core::{Py, PyAny, gc};

use crate::support::{Obj, OnDrop, SAVED, link, start, unraised};

#[test]
fn a_drop_that_resurrects_an_acyclic_child_keeps_it_whole() {
    let t = start();
    // a <-> b is garbage; a's drop saves c, which a holds and which holds d.
    let a = t.log.obj_with(1, OnDrop::Resurrect, None);
    let b = t.log.obj(2);
    let c = t.log.obj(3);
    let d = t.log.obj(4);
    link(&a, &b);
    link(&b, &a);
    link(&a, &c);
    link(&c, &d);
    drop((a, b, c, d));
    assert_eq!(gc::collect(), 2);
    t.log.assert_dropped_once([1, 2]);
    let saved: Vec<PyAny> = SAVED.with(|s| s.borrow().clone());
    // `a`'s drop saved its last edge, c, which is kept whole.
    assert_eq!(saved.len(), 1);
    let c = saved[0].downcast_ref::<Obj>().expect("an Obj").clone();
    assert_eq!(c.id, 3);
    assert_eq!(
        c.edges.borrow()[0].downcast_ref::<Obj>().unwrap().id,
        4,
        "and so does what it reaches"
    );
    assert!(gc::is_tracked(c.as_any()), "survivors rejoin a generation");
    drop(c);
    drop(saved);
    SAVED.with(|s| s.borrow_mut().clear());
    t.log.assert_dropped_once([1, 2, 3, 4]);
    t.assert_nothing_leaked();
}

#[test]
fn a_drop_that_resurrects_a_member_of_its_own_cycle_keeps_it_and_the_husks_are_safe() {
    let t = start();
    let a = t.log.obj_with(1, OnDrop::Resurrect, None);
    let b = t.log.obj(2);
    link(&a, &b);
    link(&b, &a);
    drop((a, b));
    // `a` is destroyed first (it is first on the list); its drop saves `b`,
    // which then survives, holding `a` as a husk.
    assert_eq!(gc::collect(), 1);
    t.log.assert_dropped_once([1]);
    let b = SAVED
        .with(|s| s.borrow_mut().pop())
        .unwrap()
        .downcast::<Obj>()
        .ok()
        .unwrap();
    assert_eq!(b.id, 2);
    let a = b.edges.borrow()[0].clone();
    assert!(gc::is_finalized(&a), "a's payload is gone");
    assert!(a.downcast_ref::<Obj>().unwrap().try_get().is_none());
    let read = catch_unwind(AssertUnwindSafe(|| a.downcast_ref::<Obj>().unwrap().id));
    assert!(
        read.is_err(),
        "Deref of a husk panics instead of reading freed memory"
    );
    drop(a);
    drop(b);
    t.log.assert_dropped_once([1, 2]);
    t.assert_nothing_leaked();
}

#[test]
fn a_drop_that_reads_a_garbage_object_panics_into_the_unraisable_hook() {
    let t = start();
    let a = t.log.obj_with(1, OnDrop::ReadEdges, None);
    let b = t.log.obj_with(2, OnDrop::ReadEdges, None);
    link(&a, &b);
    link(&b, &a);
    drop((a, b));
    let _ = unraised();
    assert_eq!(gc::collect(), 2, "the collection is not a panic");
    let unraised = unraised();
    assert_eq!(unraised.len(), 2, "both reads panicked: {unraised:?}");
    for message in unraised {
        assert!(
            message.starts_with("Obj: ") && message.contains("cycle collector"),
            "{message}"
        );
    }
    t.log.assert_dropped_once([1, 2]);
    assert_eq!(gc::collect(), 0, "the collector is usable after a panic");
    t.assert_nothing_leaked();
}

#[test]
fn a_panicking_drop_does_not_stop_the_collection() {
    let t = start();
    let nodes: Vec<Py<Obj>> = (0..6)
        .map(|i| {
            t.log.obj_with(
                i,
                if i % 2 == 0 {
                    OnDrop::Panic
                } else {
                    OnDrop::Nothing
                },
                None,
            )
        })
        .collect();
    for i in 0..6 {
        link(&nodes[i], &nodes[(i + 1) % 6]);
    }
    drop(nodes);
    let _ = unraised();
    assert_eq!(gc::collect(), 6);
    assert_eq!(
        unraised(),
        [
            "Obj: Obj 0 panics in drop",
            "Obj: Obj 2 panics in drop",
            "Obj: Obj 4 panics in drop"
        ]
    );
    t.log.assert_dropped_once(0..6);
    assert_eq!(gc::get_stats()[2].collected % 6, 0);
    t.assert_nothing_leaked();
}

#[test]
fn a_panicking_drop_at_thread_exit_goes_to_the_hook_instead_of_aborting() {
    let _t = start();
    // Before the hook, this aborted the process: "thread local panicked on drop".
    std::thread::spawn(|| {
        let log = crate::support::Log::default();
        let a = log.obj_with(9001, OnDrop::Panic, None);
        link(&a, &a);
        drop(a);
        // Left for the thread's last collection.
    })
    .join()
    .expect("the thread ends normally");
    let all = crate::support::UNRAISED_ANYWHERE.lock().unwrap();
    assert!(
        all.iter().any(|m| m == "Obj: Obj 9001 panics in drop"),
        "{all:?}"
    );
}
