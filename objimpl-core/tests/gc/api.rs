//! The `gc` module's functions, as Python's `gc` module has them.

use objimpl_core::{Py, PyAny, gc};

use crate::support::{Obj, link, scaled, start};

#[test]
fn freeze_hides_objects_from_collections_until_unfreeze() {
    let t = start();
    let a = t.log.obj(1);
    link(&a, &a);
    gc::freeze();
    assert!(gc::get_freeze_count() >= 1);
    drop(a);
    assert_eq!(gc::collect(), 0);
    assert!(t.log.dropped().is_empty());
    gc::unfreeze();
    assert_eq!(gc::get_freeze_count(), 0);
    assert_eq!(gc::collect(), 1);
    t.log.assert_dropped_once([1]);
    t.assert_nothing_leaked();
}

#[test]
fn get_referents_reports_gc_referents_only() {
    let t = start();
    let a = t.log.obj_with(1, Default::default(), Some(t.log.leaf(9)));
    let b = t.log.obj(2);
    link(&a, &b);
    link(&a, &a);
    let referents = gc::get_referents(a.as_any());
    // The edges b and a; not the leaf, a `basic` object held as a
    // `Py<Leaf>`, which no collection needs to see.
    assert_eq!(referents, [PyAny::from(b.clone()), PyAny::from(a.clone())]);
    drop(referents);
    // Held as a `PyAny`, it is visited (its type is only known at run
    // time); a `basic` object has no referents of its own.
    let leaf = t.log.leaf(10);
    link(&b, &leaf);
    let referents = gc::get_referents(b.as_any());
    assert_eq!(referents, [PyAny::from(leaf.clone())]);
    assert!(gc::get_referents(&referents[0]).is_empty());
    drop((referents, leaf));
    b.edges.borrow_mut().clear();
    a.edges.borrow_mut().clear();
    drop((a, b));
    t.log.assert_dropped_once([1, 2, 9, 10]);
    t.assert_nothing_leaked();
}

#[test]
fn counts_thresholds_and_stats_follow_cpython() {
    let t = start();
    assert_eq!(gc::get_threshold(), [700, 10, 10]);
    gc::collect();
    assert_eq!(gc::get_count(), [0, 0, 0]);
    let objects: Vec<Py<Obj>> = (0..5).map(|i| t.log.obj(i)).collect();
    assert_eq!(gc::get_count()[0], 5);
    drop(objects);
    assert_eq!(gc::get_count()[0], 0, "frees count down");
    let before = gc::get_stats();
    assert_eq!(gc::collect_generation(0), Some(0));
    assert_eq!(gc::get_count(), [0, 1, 0]);
    assert_eq!(gc::collect_generation(1), Some(0));
    assert_eq!(gc::get_count(), [0, 0, 1]);
    let after = gc::get_stats();
    assert_eq!(after[0].collections, before[0].collections + 1);
    assert_eq!(after[1].collections, before[1].collections + 1);
    assert_eq!(gc::collect_generation(3), None);
    t.assert_nothing_leaked();
}

#[test]
fn is_tracked_and_is_finalized_say_what_the_collector_knows() {
    let t = start();
    let a = t.log.obj(1);
    let leaf = t.log.leaf(2);
    assert!(gc::is_tracked(a.as_any()));
    assert!(
        !gc::is_tracked(leaf.as_any()),
        "basic objects are never tracked"
    );
    assert!(!gc::is_finalized(a.as_any()) && !gc::is_finalized(leaf.as_any()));
    drop((a, leaf));
    t.assert_nothing_leaked();
}

#[test]
fn try_unwrap_untracks_and_returns_the_payload() {
    let t = start();
    let a = t.log.obj(1);
    let obj = Py::try_unwrap(a).ok().expect("unique");
    assert_eq!(obj.id, 1);
    drop(obj);
    t.log.assert_dropped_once([1]);
    assert_eq!(gc::collect(), 0);
    t.assert_nothing_leaked();
}

#[test]
fn a_var_gc_object_resizes_while_tracked() {
    let t = start();
    let a = t.log.obj(1);
    let mut tuple = t.log.tup(2, vec![]);
    for round in 0..scaled(50, 5) {
        tuple
            .resize_with(round, || PyAny::from(a.clone()))
            .expect("memory");
        assert!(gc::is_tracked(tuple.as_any()));
        gc::collect(); // walks the moved object's links
    }
    link(&a, &tuple);
    drop((a, tuple));
    assert_eq!(gc::collect(), 2);
    t.log.assert_dropped_once([1, 2]);
    t.assert_nothing_leaked();
}

#[test]
fn an_object_sent_to_another_thread_joins_its_collector() {
    let _t = start();
    let parcel = Py::into_sendable(Py::new(objimpl_core::__doc::Unit {}).unwrap())
        .ok()
        .unwrap();
    // `Obj` is not `Send` (it holds handles); a `gc` type that is:
    let node = Py::new(Plain(7)).unwrap();
    let node = Py::into_sendable(node).ok().unwrap();
    std::thread::spawn(move || {
        let node = node.into_py();
        assert!(gc::is_tracked(node.as_any()));
        assert_eq!(node.0, 7);
        drop(parcel);
    })
    .join()
    .unwrap();
}

#[test]
fn get_count_follows_an_object_sent_to_another_thread() {
    let _t = start();
    let before = gc::get_count()[0];
    let node = Py::new(Plain(1)).unwrap();
    assert_eq!(gc::get_count()[0], before + 1);
    let parcel = Py::into_sendable(node).ok().unwrap();
    assert_eq!(gc::get_count()[0], before, "the sender no longer counts it");
    let dropped_unopened = Py::into_sendable(Py::new(Plain(2)).unwrap()).ok().unwrap();
    std::thread::spawn(move || {
        let there = gc::get_count()[0];
        let node = parcel.into_py();
        assert_eq!(gc::get_count()[0], there + 1, "the receiver counts it");
        drop(node);
        assert_eq!(gc::get_count()[0], there, "and counts its free");
        drop(dropped_unopened);
        assert_eq!(
            gc::get_count()[0],
            there,
            "a parcel dropped unopened counts nothing"
        );
    })
    .join()
    .unwrap();
    assert_eq!(gc::get_count()[0], before);
}

/// A `gc` type whose payload is `Send`.
struct Plain(u32);
static PLAIN_TYPE: objimpl_core::TypeObject = objimpl_core::TypeObject::new_gc::<Plain>(c"Plain");
// SAFETY: TYPE is a static built by `TypeObject::new_gc::<Plain>`.
unsafe impl objimpl_core::PyObjectType for Plain {
    type Header = objimpl_core::PyObject;
    type Item = ();
    const TYPE: &'static objimpl_core::TypeObject = &PLAIN_TYPE;
}
// SAFETY: holds no handles.
unsafe impl gc::Traverse for Plain {}

#[test]
fn a_gc_var_object_whose_items_iterator_lies_is_freed_uncounted() {
    struct Liar(Vec<PyAny>);
    impl Iterator for Liar {
        type Item = PyAny;
        fn next(&mut self) -> Option<PyAny> {
            self.0.pop()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.0.len() + 1, Some(self.0.len() + 1)) // one more than it has
        }
    }
    impl ExactSizeIterator for Liar {}
    let t = start();
    gc::collect();
    let count = gc::get_count()[0];
    let a = t.log.obj(1);
    let items = Liar(vec![PyAny::from(a.clone()), PyAny::from(a.clone())]);
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Py::new_var(crate::support::tup_payload(&t.log, 2), items)
    }));
    assert!(made.is_err(), "a lying length is a panic");
    assert_eq!(a.refcnt(), 1, "the items taken were dropped");
    assert_eq!(gc::get_count()[0], count + 1, "only `a` was counted");
    drop(a);
    t.log.assert_dropped_once([1, 2]);
    t.assert_nothing_leaked();
}
